// SPDX-License-Identifier: GPL-2.0-or-later
#include "exec/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/affinity.h"
#include "kernel/cgroupfs.h"
#include "plan/layout.h"
#include "kernel/procfs.h"
#include "basic/util.h"

__attribute__((format(printf, 2, 3))) static void set_failed(struct exec_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(c->failed);
	if (vasprintf(&c->failed, fmt, ap) < 0)
		c->failed = NULL;
	va_end(ap);
}

/* ---- directories ------------------------------------------------------------------------ */

/* The cached fd of a cgroup directory; the cache owns it. */
static int dir_fd(struct exec_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_dirs; i++)
		if (strcmp(c->dirs[i].path, path) == 0)
			return c->dirs[i].fd;
	int fd = cg_open_path(c->mount_fd, path);
	if (fd < 0)
		return fd;
	struct exec_dir *n = realloc(c->dirs, (c->n_dirs + 1) * sizeof(*n));
	char *copy = strdup(path);
	if (!n || !copy) {
		if (n)
			c->dirs = n;
		free(copy);
		close(fd);
		return -ENOMEM;
	}
	c->dirs = n;
	c->dirs[c->n_dirs++] = (struct exec_dir){.path = copy, .fd = fd};
	return fd;
}

/* A directory we removed: its fd, and those below it, must not be used again. */
static void dir_forget(struct exec_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_dirs;) {
		if (layout_within(c->dirs[i].path, path)) {
			close(c->dirs[i].fd);
			free(c->dirs[i].path);
			c->dirs[i] = c->dirs[--c->n_dirs];
		} else {
			i++;
		}
	}
}

void exec_done(struct exec_ctx *c)
{
	for (size_t i = 0; i < c->n_dirs; i++) {
		close(c->dirs[i].fd);
		free(c->dirs[i].path);
	}
	free(c->dirs);
	c->dirs = NULL;
	c->n_dirs = 0;
	free(c->failed);
	c->failed = NULL;
}

/* Splits "a/b/c" into the parent's (cached) fd and "c". */
static int parent_fd(struct exec_ctx *c, const char *path, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_base = path;
		return dir_fd(c, "");
	}
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	*ret_base = slash + 1;
	return dir_fd(c, parent);
}

/* rmdir (EBUSY retried for a moment), then forget the fds of what is gone. */
static int remove_dir(struct exec_ctx *c, const char *path)
{
	const char *base;
	int parent = parent_fd(c, path, &base);
	if (parent < 0)
		return parent == -ENOENT ? 0 : parent;
	int r = cg_rmdir(parent, base);
	if (r == 0)
		dir_forget(c, path);
	return r;
}

static int write_in(struct exec_ctx *c, const char *dir, const char *file, const char *value)
{
	int fd = dir_fd(c, dir);
	return fd < 0 ? fd : cg_write(fd, file, value);
}

static int read_in(struct exec_ctx *c, const char *dir, const char *file, char **ret)
{
	int fd = dir_fd(c, dir);
	return fd < 0 ? fd : cg_read(fd, file, ret);
}

static int write_tid(struct exec_ctx *c, const char *dir, const char *file, pid_t tid)
{
	char num[32];
	snprintf(num, sizeof(num), "%d", (int)tid);
	int r = write_in(c, dir, file, num);
	return r == -ESRCH ? 1 : r;
}

/* ---- the VM and its threads -------------------------------------------------------------- */

int exec_hold_vm(struct exec_ctx *c)
{
	int fd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* The pidfd names a process; the start time says it is still the VM that
	 * discovery read, not a newcomer with a reused pid. */
	struct proc_stat st;
	int r = proc_read_stat(c->proc_fd, c->pid, 0, &st);
	if (r < 0 || st.starttime_ticks != c->starttime) {
		close(fd);
		return -ESRCH;
	}
	c->pidfd = fd;
	return 0;
}

bool exec_vm_exiting(const struct exec_ctx *c)
{
	if (c->pidfd >= 0) {
		/* A pidfd polls readable once the process has exited. */
		struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
		if (poll(&p, 1, 0) != 0)
			return true;
	}
	return proc_task_exiting(c->proc_fd, c->pid, 0);
}

static int read_thread_cgroup(const struct exec_ctx *c, pid_t tid, char **ret)
{
	bool v1;
	_cleanup_free_ char *path = NULL;
	int r = proc_read_cgroup(c->proc_fd, c->pid, tid, &path, &v1);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	/* "/kvmcg/demo/vcpu0" -> "kvmcg/demo/vcpu0", our relative form */
	*ret = strdup(path[0] == '/' ? path + 1 : path);
	return *ret ? 0 : -ENOMEM;
}

static int sched_get(pid_t tid, int *policy, unsigned *prio)
{
	struct sched_param sp;
	int pol = sched_getscheduler(tid);
	if (pol < 0 || sched_getparam(tid, &sp) < 0)
		return -errno;
	*policy = pol & ~SCHED_RESET_ON_FORK;
	*prio = (unsigned)sp.sched_priority;
	return 0;
}

static int sched_set(pid_t tid, const char *value)
{
	int policy;
	unsigned prio;
	if (sched_parse(value, &policy, &prio) < 0)
		return -EINVAL;
	struct sched_param sp = {.sched_priority = (int)prio};
	return sched_setscheduler(tid, policy, &sp) < 0 ? -errno : 0;
}

/* ---- one entry per action kind ------------------------------------------------------------ */

/* run: carries out the action and records in it what it replaced; 0 done, 1 nothing
 * done because its thread is gone (not an error), <0 error.
 * undo: puts back exactly what run replaced; a thread that is gone is no error.
 * why: a sentence for an error of run. */
struct action_ops {
	int (*run)(struct exec_ctx *c, struct plan *p, size_t i);
	int (*undo)(struct exec_ctx *c, struct action *a);
	const char *(*why)(const struct action *a, int r);
};

static const char *why_cgroup(const struct action *a, int r)
{
	return cg_strerror(r, a->file);
}

static const char *why_rmdir(const struct action *a, int r)
{
	return r == -EBUSY ? "busy: a process, or a cgroup below it, is still in it" : cg_strerror(r, a->file);
}

static int mkdir_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	const char *base;
	int parent = parent_fd(c, a->dir, &base);
	if (parent < 0)
		return parent;
	if (mkdirat(parent, base, 0755) == 0)
		a->created = true;
	else if (errno != EEXIST)
		return -errno;
	return 0;
}

static int mkdir_undo(struct exec_ctx *c, struct action *a)
{
	return a->created ? remove_dir(c, a->dir) : 0;
}

static int rmdir_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	return remove_dir(c, p->actions[i].dir);
}

/* Enabling an enabled controller (or disabling a disabled one) changes nothing and
 * leaves nothing to undo. */
static int controller_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	int r = read_in(c, a->dir, a->file, &a->old_value);
	if (r < 0)
		return r;
	bool want = a->value[0] == '+';
	/* value is "+cpu" or "-cpu" */
	if (cg_controller_listed(a->old_value, a->value + 1) == want)
		return 0;
	r = write_in(c, a->dir, a->file, a->value);
	a->changed = r == 0;
	return r;
}

static int controller_undo(struct exec_ctx *c, struct action *a)
{
	if (!a->changed)
		return 0;
	char inverse[64];
	snprintf(inverse, sizeof(inverse), "%c%s", a->value[0] == '+' ? '-' : '+', a->value + 1);
	return write_in(c, a->dir, a->file, inverse);
}

static int threaded_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	int r = read_in(c, a->dir, a->file, &a->old_value);
	if (r < 0 || strcmp(a->old_value, "threaded") == 0)
		return r;
	r = write_in(c, a->dir, a->file, a->value);
	a->changed = r == 0;
	return r;
}

/* The kernel turns a cgroup threaded one way only (cgroup_type_write() refuses
 * anything but "threaded"): the directory goes with the ACT_MKDIR that made it. */
static int threaded_undo(struct exec_ctx *c, struct action *a)
{
	(void)c;
	(void)a;
	return 0;
}

static int write_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	int r = read_in(c, a->dir, a->file, &a->old_value);
	return r < 0 ? r : write_in(c, a->dir, a->file, a->value);
}

static int write_undo(struct exec_ctx *c, struct action *a)
{
	/* An empty cpuset.cpus or cpuset.mems (inherit, on v2) is written as a newline. */
	return write_in(c, a->dir, a->file, a->old_value && *a->old_value ? a->old_value : "\n");
}

static int move_thread_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	int r = read_thread_cgroup(c, a->tid, &a->old_value);
	if (r < 0)
		return r == -ESRCH ? 1 : r;
	return write_tid(c, a->dir, a->file, a->tid);
}

static int move_thread_undo(struct exec_ctx *c, struct action *a)
{
	int r = write_tid(c, a->old_value, layout_move_file(c->backend), a->tid);
	return r == 1 ? 0 : r;
}

/* cgroup.procs moves every thread at once; each one's cgroup is recorded first, so
 * the undo puts back threads that were not where the main thread was. */
static int move_process_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	struct action *a = &p->actions[i];
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	a->moved = calloc(n ? n : 1, sizeof(*a->moved));
	if (!a->moved)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		char *cg = NULL;
		r = read_thread_cgroup(c, tids[k], &cg);
		if (r == -ESRCH)
			continue;
		if (r < 0)
			return r;
		a->moved[a->n_moved++] = (struct moved_thread){.tid = tids[k], .cgroup = cg};
		if (tids[k] == a->tid && !(a->old_value = strdup(cg)))
			return -ENOMEM;
	}
	if (!a->old_value)
		return -ESRCH; /* the main thread is gone: the VM is */
	return write_tid(c, a->dir, a->file, a->tid);
}

static int move_process_undo(struct exec_ctx *c, struct action *a)
{
	int r = write_tid(c, a->old_value, "cgroup.procs", a->tid);
	if (r < 0)
		return r;
	int first = 0;
	for (size_t k = 0; k < a->n_moved; k++) {
		if (strcmp(a->moved[k].cgroup, a->old_value) == 0)
			continue;
		r = write_tid(c, a->moved[k].cgroup, layout_move_file(c->backend), a->moved[k].tid);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static const char *why_move(const struct action *a, int r)
{
	(void)a;
	return cg_strerror(r, NULL);
}

static int affinity_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	(void)c;
	struct action *a = &p->actions[i];
	int r = affinity_get(a->tid, &a->old_cpus);
	if (r < 0)
		return r == -ESRCH ? 1 : r;
	r = affinity_set(a->tid, a->cpus);
	return r == -ESRCH ? 1 : r;
}

static int affinity_undo(struct exec_ctx *c, struct action *a)
{
	(void)c;
	int r = affinity_set(a->tid, a->old_cpus);
	return r == -ESRCH ? 0 : r;
}

static const char *why_affinity(const struct action *a, int r)
{
	(void)a;
	return r == -EINVAL ? "no CPU of the set is allowed by the thread's cpuset" : strerror(-r);
}

static int sched_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	(void)c;
	struct action *a = &p->actions[i];
	int policy = 0;
	unsigned prio = 0;
	char old[32];
	int r = sched_get(a->tid, &policy, &prio);
	if (r < 0)
		return r == -ESRCH ? 1 : r;
	sched_format(policy, prio, old, sizeof(old));
	if (!(a->old_value = strdup(old)))
		return -ENOMEM;
	r = sched_set(a->tid, a->value);
	return r == -ESRCH ? 1 : r;
}

static int sched_undo(struct exec_ctx *c, struct action *a)
{
	(void)c;
	int r = sched_set(a->tid, a->old_value);
	return r == -ESRCH ? 0 : r;
}

static const char *why_sched(const struct action *a, int r)
{
	(void)a;
	return r == -EPERM ? "not permitted (a real-time class needs CAP_SYS_NICE and RT runtime for the cgroup)"
			   : strerror(-r);
}

static bool known_thread(const struct exec_ctx *c, const struct plan *p, pid_t tid)
{
	for (size_t i = 0; i < c->vm->n_threads; i++)
		if (c->vm->threads[i].tid == tid)
			return true;
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_MOVE_THREAD && p->actions[i].tid == tid)
			return true;
	return false;
}

/* Threads born since discovery go with the emulator: a move there (they may have
 * been born anywhere in the tree) and its affinity, appended to the plan so they
 * run after everyone's cgroup moves and are undone like the rest. One that is born
 * after this scan is caught by exec_verify. */
static int rescan_run(struct exec_ctx *c, struct plan *p, size_t i)
{
	_cleanup_free_ char *emulator = NULL;
	if (asprintf(&emulator, "%s/emulator", p->actions[i].dir) < 0)
		return -ENOMEM;
	const struct idset *cpus = c->tune->emulator ? c->tune->emulator : c->effective_cpus;
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	for (size_t k = 0; k < n; k++) {
		if (known_thread(c, p, tids[k]))
			continue;
		struct action move = {.kind = ACT_MOVE_THREAD, .tid = tids[k]};
		move.dir = strdup(emulator);
		move.file = strdup(layout_move_file(c->backend));
		if (!move.dir || !move.file || plan_add(p, &move) < 0) {
			free(move.dir);
			free(move.file);
			return -ENOMEM;
		}
		struct action aff = {.kind = ACT_SET_AFFINITY, .tid = tids[k], .cpus = idset_dup(cpus)};
		if (!aff.cpus || plan_add(p, &aff) < 0) {
			idset_free(aff.cpus);
			return -ENOMEM;
		}
	}
	return 0;
}

static int nothing_to_undo(struct exec_ctx *c, struct action *a)
{
	(void)c;
	(void)a;
	return 0;
}

static const struct action_ops ops[] = {
	[ACT_ENABLE_CONTROLLER] = {controller_run, controller_undo, why_cgroup},
	[ACT_DISABLE_CONTROLLER] = {controller_run, controller_undo, why_cgroup},
	[ACT_MKDIR] = {mkdir_run, mkdir_undo, why_cgroup},
	[ACT_RMDIR] = {rmdir_run, nothing_to_undo, why_rmdir}, /* a cleanup step only */
	[ACT_SET_THREADED] = {threaded_run, threaded_undo, why_cgroup},
	[ACT_WRITE] = {write_run, write_undo, why_cgroup},
	[ACT_MOVE_PROCESS] = {move_process_run, move_process_undo, why_move},
	[ACT_MOVE_THREAD] = {move_thread_run, move_thread_undo, why_move},
	[ACT_RESCAN] = {rescan_run, nothing_to_undo, why_move},
	[ACT_SET_AFFINITY] = {affinity_run, affinity_undo, why_affinity},
	[ACT_SET_SCHED] = {sched_run, sched_undo, why_sched},
};

static const struct action_ops *ops_of(const struct action *a)
{
	return (size_t)a->kind < ARRAY_SIZE(ops) && ops[a->kind].run ? &ops[a->kind] : NULL;
}

static void describe(struct exec_ctx *c, const struct action *a, int r)
{
	const struct action_ops *o = ops_of(a);
	const char *why = o ? o->why(a, r) : strerror(-r);
	if (a->tid)
		set_failed(c, "%s %d%s%s: %s", action_kind_name(a->kind), (int)a->tid, a->dir ? " to /" : "",
			   a->dir ? a->dir : "", why);
	else
		set_failed(c, "%s /%s%s%s: %s", action_kind_name(a->kind), a->dir ? a->dir : "",
			   a->file ? "/" : "", a->file ? a->file : "", why);
}

/* ---- execution ------------------------------------------------------------------------------- */

/* For the kill_at hook: the VM dies, as it may at any moment, and we wait for it. */
static void kill_vm(struct exec_ctx *c)
{
	kill(c->pid, SIGKILL);
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	poll(&p, 1, 5000);
}

/* Every action, the rescan included, starts here: the VM must still be the one we
 * hold, and the test hooks count actions in plan order. */
static int begin_action(struct exec_ctx *c, const struct action *a)
{
	unsigned next = c->executed + 1;
	if (c->hooks.run_at == next && c->hooks.run && system(c->hooks.run) != 0)
		set_failed(c, "test hook command failed");
	if (c->hooks.kill_at == next)
		kill_vm(c);
	if (c->pid > 0 && exec_vm_exiting(c)) {
		set_failed(c, "the VM (pid %d) exited", (int)c->pid);
		return -ESRCH;
	}
	c->executed++;
	if (c->hooks.fail_at == c->executed) {
		set_failed(c, "injected failure at action %u (%s)", c->hooks.fail_at, action_kind_name(a->kind));
		return -EIO;
	}
	return 0;
}

static int run_one(struct exec_ctx *c, struct plan *p, size_t i)
{
	int r = begin_action(c, &p->actions[i]);
	if (r < 0)
		return r;
	const struct action_ops *o = ops_of(&p->actions[i]);
	r = o ? o->run(c, p, i) : -EINVAL;
	/* p->actions may have moved: a rescan grows the plan */
	struct action *a = &p->actions[i];
	/* A cleanup step whose cgroup is gone already has nothing left to do. */
	if (r == -ENOENT && a->cleanup)
		r = 0;
	if (r < 0) {
		/* Whatever the kernel said, a VM on its way out is the reason. */
		if (c->pid > 0 && exec_vm_exiting(c)) {
			set_failed(c, "the VM (pid %d) exited", (int)c->pid);
			return -ESRCH;
		}
		describe(c, a, r);
		return r;
	}
	a->done = r == 0 && a->kind != ACT_RESCAN;
	return 0;
}

int exec_plan(struct exec_ctx *c, struct plan *p)
{
	int r = 0;
	free(c->failed);
	c->failed = NULL;
	c->cleanup_failed = 0;
	for (size_t i = 0; i < p->n_actions && r == 0; i++) {
		if (!p->actions[i].cleanup) {
			r = run_one(c, p, i);
			continue;
		}
		/* Every thread is back where it was: a step that fails here is left for
		 * the next run, and the rest is still tried. The first reason is kept. */
		_cleanup_free_ char *first = TAKE_PTR(c->failed);
		if (run_one(c, p, i) < 0) {
			p->actions[i].done = false;
			c->cleanup_failed++;
		}
		if (first) {
			free(c->failed);
			c->failed = TAKE_PTR(first);
		}
	}
	if (r < 0)
		exec_rollback(c, p);
	return r;
}

static const struct vm_thread *vm_thread_of(const struct vm *vm, pid_t tid)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	return NULL;
}

int exec_rollback(struct exec_ctx *c, struct plan *p)
{
	int first = 0;
	for (size_t i = p->n_actions; i-- > 0;) {
		struct action *a = &p->actions[i];
		if (!a->done || a->cleanup)
			continue;
		const struct action_ops *o = ops_of(a);
		int r = o ? o->undo(c, a) : 0;
		a->undo_failed = r < 0;
		if (r < 0 && first == 0)
			first = r;
	}
	/* Moving a thread back (and cpuset writes) reset its affinity on Linux 6.1 and
	 * in v1, and the mask an ACT_SET_AFFINITY recorded may already have been such a
	 * reset one. So every touched thread gets, last, the mask discovery read before
	 * the plan began; a thread born since gets the main thread's. */
	const struct vm_thread *main_thread = vm_thread_of(c->vm, c->pid);
	for (size_t i = 0; i < p->n_actions; i++) {
		struct action *a = &p->actions[i];
		bool touched = a->done && a->tid && !a->cleanup;
		if (!a->undo_failed)
			a->done = false;
		if (!touched)
			continue;
		const struct vm_thread *t = vm_thread_of(c->vm, a->tid);
		const struct idset *mask = t && t->affinity ? t->affinity
					    : main_thread ? main_thread->affinity
							  : NULL;
		int r = mask ? affinity_set(a->tid, mask) : 0;
		if (r < 0 && r != -ESRCH && first == 0)
			first = r;
	}
	return first;
}

/* ---- verification ------------------------------------------------------------------ */

static const struct idset *wanted_cpus(const struct exec_ctx *c, const struct vm_thread *t)
{
	const struct vm_tune *s = c->tune;
	const struct idset *want = NULL;
	if (t && t->kind == THREAD_VCPU && (size_t)t->vcpu_index < s->n_vcpu)
		want = s->vcpu[t->vcpu_index];
	else if (t && t->kind == THREAD_IOTHREAD) {
		for (size_t i = 0; i < s->n_iothread; i++)
			if (strcmp(s->iothread_ids[i], t->iothread_id) == 0)
				want = s->iothread[i];
	} else if (!t || t->kind != THREAD_VCPU)
		want = s->emulator;
	return want;
}

/* Appends "; what" to c->failed. */
__attribute__((format(printf, 2, 3))) static void add_failure(struct exec_ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	if (!what)
		return;
	if (!c->failed) {
		c->failed = TAKE_PTR(what);
		return;
	}
	char *joined = NULL;
	if (asprintf(&joined, "%s; %s", c->failed, what) >= 0) {
		free(c->failed);
		c->failed = joined;
	}
}

int exec_verify(struct exec_ctx *c, const char *vm_dir)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		_cleanup_free_ pid_t *tids = NULL;
		size_t n;
		int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
		if (r < 0)
			return r == -ENOENT ? -ESRCH : r;
		size_t bad = 0;
		free(c->failed);
		c->failed = NULL;
		for (size_t i = 0; i < n; i++) {
			const struct vm_thread *t = vm_thread_of(c->vm, tids[i]);
			const struct idset *want = wanted_cpus(c, t);
			if (!want && c->backend == BACKEND_AFFINITY)
				continue;
			if (!want)
				want = c->effective_cpus;
			_cleanup_free_ char *name = t ? layout_child_name(t) : strdup("emulator");
			_cleanup_free_ char *dir = NULL, *cg = NULL;
			if (!name || asprintf(&dir, "%s/%s", vm_dir ? vm_dir : "", name) < 0)
				return -ENOMEM;
			struct idset *have _cleanup_cpuset_ = NULL;
			r = affinity_get(tids[i], &have);
			if (r == 0 && c->backend != BACKEND_AFFINITY)
				r = read_thread_cgroup(c, tids[i], &cg);
			if (r == -ESRCH)
				continue; /* exited: not ours to verify */
			if (r < 0)
				return r;
			bool cg_ok = c->backend == BACKEND_AFFINITY || strcmp(cg, dir) == 0;
			bool aff_ok = idset_equal(have, want);
			bool sched_ok = true;
			if (t && t->kind == THREAD_VCPU && c->tune->cputune.sched_set) {
				int pol = 0;
				unsigned prio = 0;
				sched_ok = sched_get(tids[i], &pol, &prio) != 0 ||
					   (pol == c->tune->cputune.sched_policy && prio == c->tune->cputune.sched_priority);
			}
			if (cg_ok && aff_ok && sched_ok)
				continue;
			/* A thread on its way out reads as nowhere (an empty cgroup, say): that
			 * is no misplacement, and a VM on its way out is no failure of ours. */
			if (proc_task_exiting(c->proc_fd, c->pid, tids[i])) {
				if (exec_vm_exiting(c)) {
					set_failed(c, "the VM (pid %d) exited", (int)c->pid);
					return -ESRCH;
				}
				continue;
			}
			bad++;
			if (attempt == 0) {
				/* Put it right once: a thread born between the rescan and now. */
				if (!cg_ok)
					(void)write_tid(c, dir, layout_move_file(c->backend), tids[i]);
				(void)affinity_set(tids[i], want);
				if (!sched_ok) {
					char v[32];
					sched_format(c->tune->cputune.sched_policy, c->tune->cputune.sched_priority, v,
						     sizeof(v));
					(void)sched_set(tids[i], v);
				}
				continue;
			}
			_cleanup_free_ char *h = idset_format(have), *w = idset_format(want);
			if (!cg_ok)
				add_failure(c, "thread %d is in /%s, not /%s", (int)tids[i], cg, dir);
			if (!aff_ok)
				add_failure(c, "thread %d has affinity %s, not %s", (int)tids[i], h ? h : "?",
					    w ? w : "?");
			if (!sched_ok)
				add_failure(c, "thread %d has another scheduling class than asked", (int)tids[i]);
		}
		if (bad == 0)
			return 0;
		if (attempt == 1)
			return exec_vm_exiting(c) ? -ESRCH : -EIO;
	}
	return 0;
}
