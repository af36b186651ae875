// SPDX-License-Identifier: GPL-2.0-or-later
/* Thread roles from the VM's monitor: query-cpus-fast, query-iothreads. */
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

int vm_socket_path(const struct vm *vm, const char *path, char **ret)
{
	int n;
	if (path[0] == '@' || !vm)
		n = asprintf(ret, "%s", path);
	else if (path[0] == '/')
		n = asprintf(ret, "/proc/%d/root%s", (int)vm->pid, path);
	else
		n = asprintf(ret, "/proc/%d/cwd/%s", (int)vm->pid, path);
	return n < 0 ? -ENOMEM : 0;
}

/* One monitor conversation, ending by deadline_ns. Thread-safe: no err_set(), no
 * strerror(); *ret_error is a sentence with the socket's path and QEMU's words
 * escaped. */
static int try_qmp_socket(const struct discover_opts *o, const struct vm *vm, const char *display,
			  const char *path, uint64_t deadline_ns, struct qmp_meanwhile *m, struct qmp_vm_info *info,
			  char **ret_error)
{
	struct qmp *q = NULL;
	int r = qmp_open(path, deadline_ns, &q);
	if (r == 0 && qmp_peer_pid(q) > 0 && qmp_peer_pid(q) != vm->pid)
		r = -EXDEV;
	/* The name from -name is the one kept (apply_qmp): then the monitor is not
	 * asked it. */
	unsigned ask = (vm->name ? 0 : QMP_ASK_NAME) | (o->want_memdevs ? QMP_ASK_MEMDEVS : 0);
	if (r == 0)
		r = qmp_query_vm_while(q, ask, m ? qmp_meanwhile_run : NULL, m, info);
	/* a monitor that refuses query-memdev still tells the threads */
	if (r == -EREMOTEIO && (ask & QMP_ASK_MEMDEVS))
		r = qmp_query_vm_while(q, ask & ~QMP_ASK_MEMDEVS, NULL, NULL, info);
	if (r < 0) {
		_cleanup_free_ char *d = str_escape(display);
		_cleanup_free_ char *why =
			str_escape(r == -EXDEV ? "it belongs to another process" : qmp_strerror(r, q));
		if (!d || !why || asprintf(ret_error, "QMP socket %s: %s", d, why) < 0)
			*ret_error = NULL;
	}
	if (q)
		qmp_close(q);
	return r;
}


void qmp_outcome_done(struct qmp_outcome *out)
{
	qmp_vm_info_done(&out->info);
	free(out->socket);
	free(out->error);
	*out = (struct qmp_outcome){0};
}

void qmp_meanwhile_run(void *arg)
{
	struct qmp_meanwhile *m = arg;
	if (m && !m->done) {
		m->done = true;
		m->fn(m->arg);
	}
}

/* Reads only o and vm->pid, vm->name, vm->qemu: safe while other VMs are worked on,
 * and while m's work (the VM's threads) goes on. */
void qmp_converse(const struct discover_opts *o, const struct vm *vm, uint64_t deadline_ns,
		  struct qmp_meanwhile *m, struct qmp_outcome *out)
{
	*out = (struct qmp_outcome){.r = -ENOENT};
	if (o->qmp_socket) {
		out->tried = true;
		out->socket = strdup(o->qmp_socket);
		out->r = out->socket ? try_qmp_socket(o, vm, o->qmp_socket, o->qmp_socket, deadline_ns, m,
						      &out->info, &out->error)
				     : -ENOMEM;
		return;
	}
	if (o->no_qmp)
		return;
	/* The next socket gets what is left of the same deadline. */
	for (size_t i = 0; i < vm->qemu.n_qmp_paths && out->r < 0 && out->r != -ENOMEM; i++) {
		const char *p = vm->qemu.qmp_paths[i];
		_cleanup_free_ char *path = NULL, *error = NULL;
		out->tried = true;
		if (vm_socket_path(vm, p, &path) < 0) {
			out->r = -ENOMEM;
			break;
		}
		out->r = try_qmp_socket(o, vm, p, path, deadline_ns, m, &out->info, &error);
		if (out->r < 0 && !out->error)
			out->error = TAKE_PTR(error);
		if (out->r == 0 || i == 0) {
			free(out->socket);
			if (!(out->socket = strdup(p)))
				out->r = -ENOMEM;
		}
	}
}

static void *qmp_job_run(void *arg)
{
	struct qmp_job *j = arg;
	qmp_converse(j->o, j->vm, j->deadline_ns, NULL, &j->out);
	return NULL;
}

bool discover_qmp_possible(const struct discover_opts *o, const struct vm *vm)
{
	return o->qmp_socket || (!o->no_qmp && vm->qemu.n_qmp_paths > 0);
}

static bool wants_qmp(const struct discover_opts *o, const struct vm *vm)
{
	if (o->qmp_wanted && !o->qmp_wanted(vm, o->qmp_wanted_data))
		return false;
	return discover_qmp_possible(o, vm);
}

/* Starts the VM's conversation; without a thread (none to be had), has it here,
 * still bounded by the shared deadline. */
void qmp_job_start(struct qmp_job *j)
{
	if (!wants_qmp(j->o, j->vm)) {
		j->out = (struct qmp_outcome){.r = -ENOENT};
		return;
	}
	j->threaded = pthread_create(&j->thread, NULL, qmp_job_run, j) == 0;
	if (!j->threaded)
		qmp_job_run(j);
}

void qmp_job_wait(struct qmp_job *j)
{
	if (j->threaded)
		pthread_join(j->thread, NULL);
	j->threaded = false;
}

static int apply_qmp(struct vm *vm, const struct qmp_vm_info *info)
{
	for (size_t i = 0; i < info->n_vcpus; i++) {
		struct vm_thread *t = find_thread(vm, info->vcpus[i].tid);
		/* Single-threaded TCG runs every vCPU on one thread: the first index names
		 * it. A tid that is not ours (exited, or a lie) is ignored. */
		if (claimable(t))
			set_vcpu(t, info->vcpus[i].index);
	}
	for (size_t i = 0; i < info->n_iothreads; i++) {
		struct vm_thread *t = find_thread(vm, info->iothreads[i].tid);
		if (claimable(t)) {
			int r = set_iothread(t, info->iothreads[i].id);
			if (r < 0)
				return r;
		}
	}
	if (!vm->name && info->name && !(vm->name = strdup(info->name)))
		return -ENOMEM;
	if (info->memdevs_asked) {
		free(vm->memdev_sizes);
		vm->memdev_sizes = info->n_memdevs ? calloc(info->n_memdevs, sizeof(*vm->memdev_sizes)) : NULL;
		if (info->n_memdevs && !vm->memdev_sizes)
			return -ENOMEM;
		for (size_t i = 0; i < info->n_memdevs; i++)
			vm->memdev_sizes[i] = info->memdevs[i].size;
		vm->n_memdev_sizes = info->n_memdevs;
		vm->memdevs_known = true;
	}
	/* QMP's indexes are the truth, sparse after hot-plug; one whose thread is not
	 * among ours is unidentified. */
	vm->n_vcpus_expected = (unsigned)info->n_vcpus;
	for (size_t i = 0; i < info->n_vcpus; i++) {
		int r = note_missing_vcpu(vm, info->vcpus[i].index);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Takes what the monitors said into the VM. Only the user's own socket
 * (o->qmp_socket) makes a failure an error, with its sentence in err_set(); any other
 * failure leaves qmp_error and the fallbacks. Main thread only. */
int use_qmp_outcome(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out)
{
	if (out->r == -ENOMEM)
		return -ENOMEM;
	if (!out->tried)
		return 0;
	if (o->qmp_socket && out->r < 0) {
		err_set("%s", out->error ? out->error : "QMP failed");
		return out->r;
	}
	free(vm->qmp_socket);
	vm->qmp_socket = TAKE_PTR(out->socket);
	if (out->r < 0) {
		free(vm->qmp_error);
		vm->qmp_error = TAKE_PTR(out->error);
		return 0; /* fall back to names and fds; qmp_error says why */
	}
	int r = apply_qmp(vm, &out->info);
	if (r == 0)
		vm->source = DISCOVERY_QMP;
	return r;
}
