// SPDX-License-Identifier: GPL-2.0-or-later
/* Thread roles from the names QEMU gives its threads (debug-threads=on). */
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

enum thread_kind classify_thread_name(const char *comm, bool is_qemu, int *ret_index,
				      const char **ret_id)
{
	int idx, n = 0;
	if (is_qemu) {
		/* "CPU 0/KVM", "CPU 12/TCG" (hvf, whpx, ... alike) */
		if (sscanf(comm, "CPU %d/%n", &idx, &n) == 1 && n > 0 && idx >= 0) {
			*ret_index = idx;
			return THREAD_VCPU;
		}
		/* "IO <iothread id>"; QEMU's monitor thread is QEMU's own. QEMU leaves a
		 * thread unnamed when the name exceeds 15 bytes, so long ids never show. */
		if (startswith(comm, "IO ") && comm[3] && strcmp(comm + 3, "mon_iothread") != 0) {
			*ret_id = comm + 3;
			return THREAD_IOTHREAD;
		}
		return THREAD_UNKNOWN;
	}
	/* Other VMMs name their vCPU threads too: a fixed prefix, then the index. */
	static const char *const prefixes[] = {
		"fc_vcpu ",    /* Firecracker */
		"crosvm_vcpu", /* crosvm */
		"vcpu",        /* Cloud Hypervisor */
	};
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (startswith(comm, prefixes[i]) &&
		    parse_int(comm + strlen(prefixes[i]), &idx) == 0 && idx >= 0) {
			*ret_index = idx;
			return THREAD_VCPU;
		}
	return THREAD_UNKNOWN;
}

int discover_names(struct vm *vm)
{
	bool any = false;
	for (size_t i = 0; i < vm->n_threads; i++) {
		struct vm_thread *t = &vm->threads[i];
		if (!claimable(t))
			continue;
		int idx;
		const char *id = NULL;
		enum thread_kind k = classify_thread_name(t->stat.comm, vm->is_qemu, &idx, &id);
		if (k == THREAD_VCPU && !find_vcpu(vm, idx)) {
			set_vcpu(t, idx);
			any = true;
		} else if (k == THREAD_IOTHREAD) {
			int r = set_iothread(t, id);
			if (r < 0)
				return r;
		}
	}
	if (any)
		vm->source = DISCOVERY_NAMES;
	return 0;
}
