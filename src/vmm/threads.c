// SPDX-License-Identifier: GPL-2.0-or-later
/* A VM's threads as /proc shows them, and the roles discovery gives them. */
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
#include "kernel/affinity.h"
#include "vmm/qmp.h"
#include "basic/util.h"
#include "vmm/discover-internal.h"

/* ---- threads --------------------------------------------------------------- */

/* A thread's stat (name, state, scheduling) and, with placement, its affinity and
 * cgroup, read into t (whose old values are freed). -ENOENT when it has exited: simply
 * not part of the VM any more. */
static int read_thread(const struct discover_opts *o, pid_t pid, bool placement, struct vm_thread *t)
{
	struct proc_stat st;
	struct idset *aff = NULL;
	char *cg = NULL;
	bool v1 = false;
	int r = proc_read_stat(o->proc_fd, pid, t->tid, &st);
	if (r == 0 && !placement) {
		t->stat = st;
		return 0;
	}
	/* Live, the affinity is asked by TID before the cgroup is read through
	 * /proc/PID/task/TID: when that read finds the thread, the TID was this VM's
	 * thread at the time of both (for the mask to be another task's, the TID would
	 * have to leave the VM, go to another task and come back into the VM between
	 * the two calls: two trips around pid_max). */
	if (r == 0)
		r = o->live ? affinity_get(t->tid, &aff) : proc_read_affinity(o->proc_fd, pid, t->tid, &aff);
	if (r == -ESRCH)
		r = -ENOENT;
	if (r == 0) {
		r = proc_read_cgroup(o->proc_fd, pid, t->tid, &cg, &v1);
		if (r == -ENOENT && proc_read_stat(o->proc_fd, pid, t->tid, &st) == 0)
			r = 0; /* a kernel without cgroups: still a thread */
	}
	if (r < 0) {
		idset_free(aff);
		free(cg);
		return r;
	}
	t->stat = st;
	idset_free(t->affinity);
	t->affinity = aff;
	free(t->cgroup);
	t->cgroup = cg;
	t->cgroup_v1 = v1;
	return 0;
}

int collect_threads(const struct discover_opts *o, struct vm *vm)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(o->proc_fd, vm->pid, &tids, &n);
	if (r < 0)
		return r;
	vm->threads = calloc(n ? n : 1, sizeof(struct vm_thread));
	if (!vm->threads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct vm_thread t = {.tid = tids[i], .vcpu_index = -1};
		r = read_thread(o, vm->pid, !o->placement_later, &t);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (t.tid == vm->pid)
			t.kind = THREAD_EMULATOR; /* QEMU never runs a vCPU on its main thread */
		else if (t.stat.flags & PF_USER_WORKER_FLAG)
			t.kind = THREAD_WORKER;
		vm->threads[vm->n_threads++] = t;
	}
	if (vm->n_threads == 0)
		return -ENOENT;
	return 0;
}

int vm_refresh_threads(const struct discover_opts *o, struct vm *vm)
{
	size_t kept = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		int r = read_thread(o, vm->pid, true, &vm->threads[i]);
		if (r == -ENOENT) {
			thread_done(&vm->threads[i]);
			continue;
		}
		if (r < 0)
			return r;
		vm->threads[kept++] = vm->threads[i];
	}
	vm->n_threads = kept;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == vm->pid)
			return 0;
	return -ESRCH;
}

const struct vm_thread *vm_find_thread(const struct vm *vm, pid_t tid)
{
	for (size_t i = 0; vm && i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	return NULL;
}

char *vm_thread_label(const struct vm *vm, pid_t tid)
{
	const struct vm_thread *t = vm_find_thread(vm, tid);
	char *s = NULL;
	int r;
	if (t && t->kind == THREAD_VCPU)
		r = asprintf(&s, "vCPU %d (tid %d)", t->vcpu_index, (int)tid);
	else if (t && t->kind == THREAD_IOTHREAD)
		r = asprintf(&s, "iothread %s (tid %d)", t->iothread_id ? t->iothread_id : "?", (int)tid);
	else
		r = asprintf(&s, "%s thread %d", t ? thread_kind_name(t->kind) : "a", (int)tid);
	return r < 0 ? NULL : s;
}

struct vm_thread *find_thread(struct vm *vm, pid_t tid)
{
	return (struct vm_thread *)vm_find_thread(vm, tid);
}

const struct vm_thread *vm_find_vcpu(const struct vm *vm, int index)
{
	for (size_t i = 0; vm && i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU && vm->threads[i].vcpu_index == index)
			return &vm->threads[i];
	return NULL;
}

struct vm_thread *find_vcpu(struct vm *vm, int index)
{
	return (struct vm_thread *)vm_find_vcpu(vm, index);
}

bool iothread_found(const struct vm *vm, const char *id)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_IOTHREAD && strcmp(vm->threads[i].iothread_id, id) == 0)
			return true;
	return false;
}

/* Only a thread still unclassified may take a role: QMP's word never turns the main
 * thread or a kernel worker into a vCPU. */
bool claimable(const struct vm_thread *t)
{
	return t && t->kind == THREAD_UNKNOWN;
}

int set_vcpu(struct vm_thread *t, int index)
{
	t->kind = THREAD_VCPU;
	t->vcpu_index = index;
	return 0;
}

int set_iothread(struct vm_thread *t, const char *id)
{
	char *s = strdup(id);
	if (!s)
		return -ENOMEM;
	free(t->iothread_id);
	t->iothread_id = s;
	t->kind = THREAD_IOTHREAD;
	return 0;
}


int note_missing_vcpu(struct vm *vm, int index)
{
	if (find_vcpu(vm, index))
		return 0;
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		if (vm->unidentified_vcpus[i] == index)
			return 0;
	int *n = realloc(vm->unidentified_vcpus, (vm->n_unidentified_vcpus + 1) * sizeof(int));
	if (!n)
		return -ENOMEM;
	vm->unidentified_vcpus = n;
	vm->unidentified_vcpus[vm->n_unidentified_vcpus++] = index;
	return 0;
}

static int note_unidentified(struct vm *vm)
{
	if (vm->source != DISCOVERY_QMP) {
		/* The vCPUs that should exist: -smp's count, those QEMU starts with, and
		 * one per KVM vcpu fd (hot-plugged ones included); plus any a thread name
		 * revealed. The fds alone are not enough: QEMU's KVM vCPU thread makes
		 * its own fd as it starts (kvm_init_vcpu(), KVM_CREATE_VCPU), one thread
		 * after the other, so a VM still starting has fewer. */
		int r = 0;
		for (unsigned i = 0; i < vm->n_kvm_vcpu_fds && r == 0; i++)
			r = note_missing_vcpu(vm, vm->kvm_vcpu_fd_index[i * 2 + 1]);
		if (vm->is_qemu)
			for (int i = 0; i < vm->qemu.smp_cpus && r == 0; i++)
				r = note_missing_vcpu(vm, i);
		if (r < 0)
			return r;
		size_t vcpus = 0;
		for (size_t i = 0; i < vm->n_threads; i++)
			vcpus += vm->threads[i].kind == THREAD_VCPU;
		vm->n_vcpus_expected = (unsigned)(vcpus + vm->n_unidentified_vcpus);
	}
	/* QMP lists the iothreads that exist; the command line only what was asked for. */
	if (vm->source != DISCOVERY_QMP)
		for (size_t i = 0; i < vm->qemu.n_iothread_ids; i++)
			if (!iothread_found(vm, vm->qemu.iothread_ids[i])) {
				int r = strv_push(&vm->unidentified_iothreads,
						  &vm->n_unidentified_iothreads, vm->qemu.iothread_ids[i]);
				if (r < 0)
					return r;
			}

	/* The rest is the emulator only when nothing is missing: otherwise an unknown
	 * thread may well be a vCPU, and pinning it as the emulator would be wrong. */
	if (vm->n_unidentified_vcpus == 0 && vm->n_unidentified_iothreads == 0)
		for (size_t i = 0; i < vm->n_threads; i++)
			if (vm->threads[i].kind == THREAD_UNKNOWN)
				vm->threads[i].kind = THREAD_EMULATOR;
	return 0;
}

uint64_t discover_qmp_deadline(const struct discover_opts *o)
{
	if (o->qmp_deadline_ns)
		return o->qmp_deadline_ns;
	return qmp_deadline_after_ms(o->qmp_timeout_ms > 0 ? (unsigned)o->qmp_timeout_ms : 0);
}

/* After the monitors: names, then kvm fds, then what is missing. */
int finish_threads(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out)
{
	int r = use_qmp_outcome(o, vm, out);
	if (r < 0)
		return r;
	if (vm->source == DISCOVERY_NONE)
		r = discover_names(vm);
	if (r == 0 && vm->source == DISCOVERY_NONE)
		r = discover_kvm_fds(o, vm);
	if (r == 0)
		r = note_unidentified(vm);
	return r;
}

struct collect_job {
	const struct discover_opts *o;
	struct vm *vm;
	int r;
};

static void collect_job_run(void *arg)
{
	struct collect_job *j = arg;
	j->r = collect_threads(j->o, j->vm);
}

int vm_discover_threads(const struct discover_opts *o, struct vm *vm)
{
	/* /proc is read while the monitor works on the questions (the wait for a
	 * QEMU's main loop is most of a conversation), on this thread: a thread of
	 * its own would cost more (its malloc arena and stack, freshly faulted in).
	 * QMP's thread ids are checked against these threads once both are in
	 * (finish_threads). */
	uint64_t deadline = discover_qmp_deadline(o);
	clear_threads(vm);
	struct collect_job job = {.o = o, .vm = vm};
	struct qmp_meanwhile m = {.fn = collect_job_run, .arg = &job};
	struct qmp_outcome out;
	qmp_converse(o, vm, deadline, &m, &out);
	qmp_meanwhile_run(&m);
	int r = job.r;
	if (r == 0)
		r = finish_threads(o, vm, &out);
	qmp_outcome_done(&out);
	return r;
}
