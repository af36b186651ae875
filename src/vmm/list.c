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

/* One VM's monitor conversation on a thread of its own. */
struct qmp_job {
	const struct discover_opts *o;
	const struct vm *vm;
	uint64_t deadline_ns;
	struct qmp_outcome out;
	pthread_t thread;
	bool threaded;
};

static void *qmp_job_run(void *arg)
{
	struct qmp_job *j = arg;
	qmp_converse(j->o, j->vm, j->deadline_ns, &j->out);
	return NULL;
}

static bool wants_qmp(const struct discover_opts *o, const struct vm *vm)
{
	if (o->qmp_wanted && !o->qmp_wanted(vm, o->qmp_wanted_data))
		return false;
	return o->qmp_socket || (!o->no_qmp && vm->qemu.n_qmp_paths > 0);
}

/* Starts the VM's conversation; without a thread (none to be had), has it here,
 * still bounded by the shared deadline. */
static void qmp_job_start(struct qmp_job *j)
{
	if (!wants_qmp(j->o, j->vm)) {
		j->out = (struct qmp_outcome){.r = -ENOENT};
		return;
	}
	j->threaded = pthread_create(&j->thread, NULL, qmp_job_run, j) == 0;
	if (!j->threaded)
		qmp_job_run(j);
}

static void qmp_job_wait(struct qmp_job *j)
{
	if (j->threaded)
		pthread_join(j->thread, NULL);
	j->threaded = false;
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
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct vm *vm = NULL;
		if (pids[i] == o->self)
			continue;
		r = vm_identify(o, pids[i], &vm);
		if (r == -ENOENT || r == -ESRCH || r == -EACCES || r == 0) {
			r = 0;
			continue; /* gone or going, not ours to read, or not a VM */
		}
		if (r < 0)
			break;
		/* Threads first: QMP's thread ids are checked against them. */
		r = collect_threads(o, vm);
		if (r < 0) {
			vm_free(vm);
			if (r == -ENOENT) /* exited meanwhile */
				r = 0;
			continue;
		}
		r = push_vm(&vms, &jobs, &nvms, vm, o, 0);
	}

	/* All monitors at once, under one deadline counted from here: each gets the same
	 * budget however long /proc took to read, and the whole wait is one budget. */
	uint64_t deadline = discover_qmp_deadline(o);
	for (size_t i = 0; i < nvms && r >= 0; i++) {
		jobs[i]->deadline_ns = deadline;
		qmp_job_start(jobs[i]);
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
