// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/vmsel.h"

#include <errno.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "vmm/pidfile.h"
#include "vmm/qmp.h"
#include "basic/util.h"

int vmsel_count(const struct vm_selector *s)
{
	return (s->pid > 0) + !!s->pidfile + !!s->name + !!s->qmp;
}

static int pid_from_pidfile(const char *path, pid_t *ret)
{
	pid_t holder = 0;
	int r = pidfile_read_locked(path, ret, &holder);
	switch (r) {
	case 0:
		return 0;
	case -ESTALE:
		err_set("pidfile %s is stale: no process holds its lock (QEMU keeps its -pidfile "
			"locked while it runs)", path);
		break;
	case -EBADMSG:
		err_set("pidfile %s does not hold a pid", path);
		break;
	case -EUCLEAN:
		err_set("pidfile %s names a pid but is locked by pid %d; refusing to guess", path,
			(int)holder);
		break;
	default:
		err_set("cannot read pidfile %s: %s", path, strerror(-r));
	}
	return r;
}

static int pid_from_name(const struct discover_opts *o, const char *name, pid_t *ret)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n, found = 0;
	char others[128] = "";
	int r = proc_list_pids(o->proc_fd, &pids, &n);
	if (r < 0) {
		err_set("cannot list processes: %s", strerror(-r));
		return r;
	}
	size_t unexamined = 0;
	for (size_t i = 0; i < n; i++) {
		struct vm *vm _cleanup_vm_ = NULL;
		int k = vm_identify(o, pids[i], &vm);
		/* another user's, not root: its name cannot be trusted nor its kind told */
		unexamined += k == -EACCES && vm_unexamined_qemu(o, pids[i]);
		if (k <= 0 || !vm->name || strcmp(vm->name, name) != 0)
			continue;
		if (found++ == 0)
			*ret = vm->pid;
		else {
			size_t l = strlen(others);
			snprintf(others + l, sizeof(others) - l, " %d", (int)vm->pid);
		}
	}
	if (found == 0 && unexamined) {
		err_set("no VM kvmcg can examine is named '%s'; %zu process%s named like QEMU %s another user's, and "
			"telling whether %s needs root",
			name, unexamined, unexamined == 1 ? "" : "es", unexamined == 1 ? "is" : "are",
			unexamined == 1 ? "it is that VM" : "one of them is");
		return -ESRCH;
	}
	if (found == 0) {
		err_set("no running VM is named '%s'", name);
		return -ESRCH;
	}
	if (found > 1) {
		err_set("%zu VMs are named '%s': pids %d%s; select one with --pid", found, name,
			(int)*ret, others);
		return -ENOTUNIQ;
	}
	return 0;
}

static int pid_from_qmp(const struct discover_opts *o, const char *path, pid_t *ret)
{
	struct qmp *q _cleanup_qmp_ = NULL;
	int r = qmp_connect(path, discover_qmp_deadline(o), &q);
	if (r < 0) {
		const char *why = qmp_strerror(r, NULL);
		_cleanup_free_ char *p = str_escape(path);
		err_set("QMP socket %s: %s", p ? p : path, why);
		return r;
	}
	if (qmp_peer_pid(q) <= 0) {
		err_set("QMP socket %s: cannot tell which process listens on it", path);
		return -ESRCH;
	}
	*ret = qmp_peer_pid(q);
	return 0;
}

int vmsel_identify(const struct discover_opts *o, const struct vm_selector *s, struct vm **ret,
		   struct discover_opts *ret_opts)
{
	pid_t pid = s->pid;
	int r = 0;
	err_clear();
	/* One budget for the whole conversation: --qmp's connection that finds the pid
	 * and the one that asks the VM its threads. */
	struct discover_opts local = *o;
	local.qmp_deadline_ns = discover_qmp_deadline(o);
	if (s->pidfile)
		r = pid_from_pidfile(s->pidfile, &pid);
	else if (s->name)
		r = pid_from_name(o, s->name, &pid);
	else if (s->qmp)
		r = pid_from_qmp(&local, s->qmp, &pid);
	if (r < 0)
		return r;

	/* A thread's id reads like a process's in /proc: refuse it, naming the process. */
	pid_t tgid;
	if (proc_read_tgid(o->proc_fd, pid, &tgid) == 0 && tgid != pid) {
		err_set("pid %d is a thread of process %d, not a process: select the VM by the process's id", (int)pid,
			(int)tgid);
		return -ENXIO;
	}
	struct vm *vm _cleanup_vm_ = NULL;
	_cleanup_free_ char *why = NULL;
	r = vm_identify_why(o, pid, &vm, &why);
	if (r == -ENOENT) {
		err_set("pid %d: no such process", (int)pid);
		return -ESRCH;
	}
	if (r == -ESRCH) {
		err_set("pid %d has exited (a zombie, or on its way out)", (int)pid);
		return -EOWNERDEAD;
	}
	if (r == -EACCES) {
		err_set("pid %d is another user's: whether it is a VM cannot be told without root (its /proc/%d/exe "
			"and file descriptors need it)",
			(int)pid, (int)pid);
		return r;
	}
	if (r < 0) {
		err_set("pid %d: %s", (int)pid, strerror(-r));
		return r;
	}
	if (r == 0) {
		err_set("pid %d is not a VM: %s", (int)pid,
			why ? why : "neither QEMU nor a holder of a KVM VM");
		return -ENXIO;
	}
	if (s->qmp)
		local.qmp_socket = s->qmp;
	else
		local.qmp_deadline_ns = o->qmp_deadline_ns; /* nothing begun: its own budget */
	*ret = TAKE_PTR(vm);
	*ret_opts = local;
	return 0;
}

int vmsel_read_threads(const struct discover_opts *o, struct vm *vm)
{
	err_clear();
	int r = vm_discover_threads(o, vm);
	if (r == -ENOENT) {
		err_set("pid %d exited while it was being read", (int)vm->pid);
		return -EOWNERDEAD;
	}
	if (r < 0) {
		if (!err_get())
			err_set("pid %d: %s", (int)vm->pid, strerror(-r));
		return r;
	}
	/* Discovery took a while (a monitor may have used its whole budget): the pid
	 * must still be the process that was judged a VM. */
	if (vm_check_identity(o, vm) < 0) {
		err_set("pid %d exited or executed another program while it was being read", (int)vm->pid);
		return -EOWNERDEAD;
	}
	return 0;
}

int vmsel_resolve(const struct discover_opts *o, const struct vm_selector *s, struct vm **ret)
{
	struct vm *vm _cleanup_vm_ = NULL;
	struct discover_opts one = *o, local;
	one.qmp_deadline_ns = discover_qmp_deadline(o); /* every conversation, one budget */
	int r = vmsel_identify(&one, s, &vm, &local);
	if (r < 0)
		return r;
	r = vmsel_read_threads(&local, vm);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vm);
	return 0;
}

/* ---- waiting for a VM that is starting ---- */

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* A watch on the directory of path, for the file appearing or being written there. */
static void watch_dir_of(int fd, const char *path)
{
	if (fd < 0 || !path)
		return;
	_cleanup_free_ char *dir = strdup(path);
	if (!dir)
		return;
	char *slash = strrchr(dir, '/');
	const char *d = !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
	(void)inotify_add_watch(fd, d, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR);
}

/* What is missing of a VM that resolved: "vCPUs 0,1 have no thread yet (discovery:
 * names)". */
static void say_unidentified(const struct vm *vm)
{
	_cleanup_free_ char *list = vm_unidentified_vcpu_list(vm);
	if (vm->n_unidentified_vcpus)
		err_set("pid %d: vCPU%s %s %s no thread yet (discovery: %s)", (int)vm->pid,
			vm->n_unidentified_vcpus == 1 ? "" : "s", list ? list : "?",
			vm->n_unidentified_vcpus == 1 ? "has" : "have", discovery_source_name(vm->source));
	else if (vm->n_unidentified_iothreads)
		err_set("pid %d: iothread %s has no thread yet (discovery: %s)", (int)vm->pid, vm->unidentified_iothreads[0],
			discovery_source_name(vm->source));
	else
		err_set("pid %d: some threads are not identified yet (discovery: %s)", (int)vm->pid,
			discovery_source_name(vm->source));
}

int vmsel_wait(const struct discover_opts *o, const struct vm_selector *s, unsigned timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	_cleanup_close_ int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	watch_dir_of(in, s->pidfile);
	watch_dir_of(in, s->qmp);
	_cleanup_close_ int pidfd = s->pid > 0 ? (int)syscall(SYS_pidfd_open, s->pid, 0) : -1;
	unsigned step = 10;
	_cleanup_free_ char *missing = NULL;
	for (;;) {
		struct vm *vm _cleanup_vm_ = NULL;
		err_clear();
		int r = vmsel_resolve(o, s, &vm);
		if (r == 0 && vm_identified(vm))
			return 0;
		if (r == -ENOMEM || (s->pid > 0 && (r == -ESRCH || r == -EOWNERDEAD)) || r == -EACCES || r == -EPERM)
			return r; /* waiting mends none of these */
		/* nor a VM nothing will ever identify: the command says why, at once */
		if (r == 0 && !vm_vcpus_knowable(vm, discover_qmp_possible(o, vm)))
			return 0;
		if (r == 0)
			say_unidentified(vm);
		free(missing);
		missing = strdup(err_get() ? err_get() : r < 0 ? strerror(-r) : "not identified");
		uint64_t now = mono_ms();
		if (now >= deadline) {
			err_set("not ready after %u.%03u s: %s", timeout_ms / 1000, timeout_ms % 1000,
				missing ? missing : "?");
			return -ETIMEDOUT;
		}
		struct pollfd p[2] = {{.fd = in, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
		uint64_t left = deadline - now;
		int k = poll(p, 2, (int)(left < step ? left : step));
		if (k > 0 && p[0].revents) {
			char buf[4096];
			while (read(in, buf, sizeof(buf)) > 0) /* drained: the next look is now */
				;
		}
		step = step * 2 > 250 ? 250 : step * 2;
	}
}
