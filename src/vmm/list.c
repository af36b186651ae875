// SPDX-License-Identifier: GPL-2.0-or-later
/* Every VM on the host, their monitors asked at once. */
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

void vm_list_free(struct vm **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_free(v[i]);
	free(v);
}

/* Adds vm and its job at the end of the two arrays; frees vm on failure. */
static int push_vm(struct vm ***vms, struct qmp_job ***jobs, size_t *n, struct vm *vm,
		   const struct discover_opts *o, uint64_t deadline_ns)
{
	struct vm **nv = realloc(*vms, (*n + 1) * sizeof(**vms));
	if (nv)
		*vms = nv;
	struct qmp_job **nj = nv ? realloc(*jobs, (*n + 1) * sizeof(**jobs)) : NULL;
	if (nj)
		*jobs = nj;
	struct qmp_job *job = nj ? calloc(1, sizeof(*job)) : NULL;
	if (!job) {
		vm_free(vm);
		return -ENOMEM;
	}
	*job = (struct qmp_job){.o = o, .vm = vm, .deadline_ns = deadline_ns};
	(*vms)[*n] = vm;
	(*jobs)[*n] = job;
	(*n)++;
	return 0;
}

/* A process vm_identify() could not examine: counted when its name is QEMU's. */
static void note_unexamined(const struct discover_opts *o, pid_t pid)
{
	if (!vm_unexamined_qemu(o, pid))
		return;
	struct discover_unexamined *u = o->unexamined;
	if (u->n < ARRAY_SIZE(u->pids))
		u->pids[u->n] = pid;
	u->n++;
}

int vm_list_all(const struct discover_opts *o, struct vm ***ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	int r = proc_list_pids(o->proc_fd, &pids, &n);
	if (r < 0)
		return r;
	struct vm **vms = NULL;
	struct qmp_job **jobs = NULL; /* jobs[i] talks to the monitors of vms[i] */
	size_t nvms = 0;
	/* One deadline for every monitor, counted from here: the whole wait is one
	 * budget, and each VM's conversation runs while /proc is read. */
	uint64_t deadline = discover_qmp_deadline(o);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct vm *vm = NULL;
		if (pids[i] == o->self)
			continue;
		r = vm_identify(o, pids[i], &vm);
		if (r == -EACCES && o->unexamined)
			note_unexamined(o, pids[i]);
		if (r == -ENOENT || r == -ESRCH || r == -EACCES || r == 0) {
			r = 0;
			continue; /* gone or going, not ours to read, or not a VM */
		}
		if (r < 0)
			break;
		r = push_vm(&vms, &jobs, &nvms, vm, o, deadline);
		if (r < 0)
			break;
		struct qmp_job *job = jobs[nvms - 1];
		qmp_job_start(job);
		/* QMP's thread ids are checked against these once both are in
		 * (finish_threads) */
		r = collect_threads(o, vm);
		if (r < 0) {
			qmp_job_wait(job);
			qmp_outcome_done(&job->out);
			free(job);
			vm_free(vm);
			nvms--;
			if (r == -ENOENT) /* exited meanwhile */
				r = 0;
		}
	}

	/* Each VM is finished once its job is; every job ends by the deadline. */
	for (size_t i = 0; i < nvms; i++) {
		qmp_job_wait(jobs[i]);
		if (r >= 0)
			r = finish_threads(o, vms[i], &jobs[i]->out);
		qmp_outcome_done(&jobs[i]->out);
		free(jobs[i]);
	}
	free(jobs);
	if (r < 0) {
		vm_list_free(vms, nvms);
		return r;
	}
	*ret = vms;
	*ret_n = nvms;
	return 0;
}
