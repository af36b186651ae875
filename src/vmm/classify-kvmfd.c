// SPDX-License-Identifier: GPL-2.0-or-later
/* vCPU threads from the kvm-vcpu fds a VMM holds and the threads that sit in KVM_RUN. */
#include "vmm/discover.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/err.h"
#include "vmm/qmp.h"
#include "basic/util.h"
#include "vmm/discover-internal.h"

static int vcpu_index_of_fd(const struct vm *vm, unsigned long fd)
{
	for (unsigned i = 0; i < vm->n_kvm_vcpu_fds; i++)
		if ((unsigned long)vm->kvm_vcpu_fd_index[i * 2] == fd)
			return vm->kvm_vcpu_fd_index[i * 2 + 1];
	return -1;
}

/* Last resort: a vCPU thread blocks in ioctl(vcpu_fd, KVM_RUN). Sample every
 * unclassified thread's current syscall until each vCPU fd has been seen, or the
 * rounds run out. A thread busy in guest mode reads "running" and may stay unseen. */
int discover_kvm_fds(const struct discover_opts *o, struct vm *vm)
{
	if (vm->n_kvm_vcpu_fds == 0)
		return 0;
	unsigned found = 0;
	for (unsigned round = 0; round < o->kvm_fd_rounds && found < vm->n_kvm_vcpu_fds; round++) {
		if (round > 0) {
			struct timespec ts = {.tv_nsec = (long)o->kvm_fd_interval_us * 1000};
			nanosleep(&ts, NULL);
		}
		for (size_t i = 0; i < vm->n_threads; i++) {
			struct vm_thread *t = &vm->threads[i];
			struct proc_syscall sc;
			if (!claimable(t) ||
			    proc_read_syscall(o->proc_fd, vm->pid, t->tid, &sc) < 0 || sc.running ||
			    sc.nr != SYS_ioctl || sc.args[1] != KVM_RUN_IOCTL)
				continue;
			int idx = vcpu_index_of_fd(vm, sc.args[0]);
			if (idx < 0 || find_vcpu(vm, idx))
				continue;
			set_vcpu(t, idx);
			found++;
		}
	}
	if (found)
		vm->source = DISCOVERY_KVM_FD;
	return 0;
}
