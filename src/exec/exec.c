// SPDX-License-Identifier: GPL-2.0-or-later
#include "exec/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/util.h"
#include "exec/exec-internal.h"
#include "kernel/affinity.h"
#include "kernel/cgroupfs.h"
#include "kernel/procfs.h"
#include "plan/layout.h"

void exec_set_failed(struct exec_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(c->failed);
	c->failed = vformat(fmt, ap);
	va_end(ap);
}

/* ---- directories ------------------------------------------------------------------------ */

static struct cg_dircache *dirs(struct exec_ctx *c)
{
	if (c->in_tree != V1_TREE_NONE)
		return c->v1_dirs[c->in_tree];
	if (c->dirs)
		return c->dirs;
	c->own_dirs.mount_fd = c->mount_fd;
	return &c->own_dirs;
}

int exec_dir_fd(struct exec_ctx *c, const char *path)
{
	return cg_dircache_get(dirs(c), path);
}

void exec_done(struct exec_ctx *c)
{
	cg_dircache_done(&c->own_dirs);
	free(c->failed);
	c->failed = NULL;
}

/* Splits "a/b/c" into the parent's (cached) fd and "c". */
int exec_parent_fd(struct exec_ctx *c, const char *path, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_base = path;
		return exec_dir_fd(c, "");
	}
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	*ret_base = slash + 1;
	return exec_dir_fd(c, parent);
}

/* rmdir (EBUSY retried for a moment), then forget the fds of what is gone. */
int exec_remove_dir(struct exec_ctx *c, const char *path)
{
	const char *base;
	int parent = exec_parent_fd(c, path, &base);
	if (parent < 0)
		return parent == -ENOENT ? 0 : parent;
	int r = cg_rmdir(parent, base);
	if (r == 0)
		cg_dircache_forget(dirs(c), path);
	return r;
}

/* A file in a cgroup the run made (a vCPU's cpuset, its tasks) is opened from its
 * parent's fd: no fd of its own for each of a VM's children (cg_dircache_write). */
int exec_write_in(struct exec_ctx *c, const char *dir, const char *file, const char *value)
{
	return cg_dircache_write(dirs(c), dir, file, value);
}

int exec_read_in(struct exec_ctx *c, const char *dir, const char *file, char **ret)
{
	return cg_dircache_read(dirs(c), dir, file, ret);
}

int exec_write_tid(struct exec_ctx *c, const char *dir, const char *file, pid_t tid)
{
	char num[32];
	snprintf(num, sizeof(num), "%d", (int)tid);
	int r = exec_write_in(c, dir, file, num);
	return r == -ESRCH ? 1 : r;
}

/* ---- the VM and its threads -------------------------------------------------------------- */

/* A pidfd polls readable once the process has exited (pidfd_poll(), kernel/pid.c). */
static bool pidfd_exited(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	return poll(&p, 1, 0) != 0;
}

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
	/* The task directory, then one more look at the pidfd: a VM still alive after
	 * the open was the process at that pid during it. */
	char path[32];
	snprintf(path, sizeof(path), "%d/task", (int)c->pid);
	int task_fd = openat(c->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (task_fd < 0 || pidfd_exited(fd)) {
		if (task_fd >= 0)
			close(task_fd);
		close(fd);
		return -ESRCH;
	}
	c->pidfd = fd;
	c->task_fd = task_fd;
	return 0;
}

void exec_release_vm(struct exec_ctx *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->task_fd >= 0)
		close(c->task_fd);
	c->pidfd = c->task_fd = -1;
}

bool exec_vm_exiting(const struct exec_ctx *c)
{
	if (c->pidfd >= 0 && pidfd_exited(c->pidfd))
		return true;
	return proc_task_exiting(c->proc_fd, c->pid, 0);
}

int exec_read_thread_cgroup(const struct exec_ctx *c, pid_t tid, char **ret)
{
	bool v1;
	_cleanup_free_ char *path = NULL;
	int fd = c->task_fd >= 0 ? c->task_fd : c->proc_fd;
	pid_t pid = c->task_fd >= 0 ? PROC_TASK_DIR : c->pid;
	int r = c->in_tree != V1_TREE_NONE ? proc_read_cgroup_v1(fd, pid, tid, v1_tree_controller(c->in_tree), &path)
			  : proc_read_cgroup(fd, pid, tid, &path, &v1);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	/* "/kvmcg/demo/vcpu0" -> "kvmcg/demo/vcpu0", our relative form */
	*ret = strdup(cg_relative(path));
	return *ret ? 0 : -ENOMEM;
}

/* ---- the undo log ------------------------------------------------------------------------- */

static void entry_done(struct undo_entry *e)
{
	free(e->dir);
	free(e->file);
	free(e->value);
	free(e->old_value);
	idset_free(e->old_cpus);
	for (size_t k = 0; k < e->n_moved; k++)
		free(e->moved[k].cgroup);
	free(e->moved);
	*e = (struct undo_entry){0};
}

void undo_log_done(struct undo_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		entry_done(&l->entries[i]);
	free(l->entries);
	*l = (struct undo_log){0};
}

const struct undo_entry *undo_log_find(const struct undo_log *l, size_t action)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->entries[i].action == action)
			return &l->entries[i];
	return NULL;
}

static int entry_init(struct undo_entry *e, const struct action *a, size_t index)
{
	*e = (struct undo_entry){
		.action = index, .kind = a->kind, .tid = a->tid, .cleanup = a->cleanup, .tree = a->tree};
	if ((a->dir && !(e->dir = strdup(a->dir))) || (a->file && !(e->file = strdup(a->file))) ||
	    (a->value && !(e->value = strdup(a->value)))) {
		entry_done(e);
		return -ENOMEM;
	}
	return 0;
}

/* Takes e over. */
static int log_append(struct undo_log *l, struct undo_entry *e)
{
	struct undo_entry *n = realloc(l->entries, (l->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->entries = n;
	l->entries[l->n++] = *e;
	*e = (struct undo_entry){0};
	return 0;
}

/* ---- execution ------------------------------------------------------------------------------- */

static void describe(struct exec_ctx *c, const struct action *a, int r)
{
	const struct action_ops *o = exec_ops(a->kind);
	const char *why = o ? o->why(a->file, r) : strerror(-r);
	char tree[48] = "";
	if (a->tree != V1_TREE_NONE)
		snprintf(tree, sizeof(tree), " of the v1 %s hierarchy", v1_tree_controller(a->tree));
	if (a->tid)
		exec_set_failed(c, "%s %d%s%s%s: %s", action_kind_name(a->kind), (int)a->tid, a->dir ? " to /" : "",
				a->dir ? a->dir : "", a->dir ? tree : "", why);
	else
		exec_set_failed(c, "%s /%s%s%s%s: %s", action_kind_name(a->kind), a->dir ? a->dir : "",
				a->file ? "/" : "", a->file ? a->file : "", tree, why);
}

/* For the kill_at hook: the VM dies, as it may at any moment, and we wait for it. */
static void kill_vm(struct exec_ctx *c)
{
	kill(c->pid, SIGKILL);
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	poll(&p, 1, 5000);
}

/* Every action, the rescan's newcomers included, starts here, and the test hooks
 * count actions in the order they run.
 *
 * Only an action that names a task (a thread move or affinity or class, the
 * process move, the rescan: a->tid set) asks whether the VM still lives. What a
 * write must not reach is a task of another process: one that took over the VM's
 * pid after the VM exited, or the TID of an exited thread of a living VM, which
 * v1's tasks file, taking any TID, would accept. So each action on a thread looks
 * its TID up just before it acts (ops.c still_ours), under the VM's task directory
 * held since exec_hold_vm: that one fstatat finds only a thread of the process held,
 * so it answers both questions (procfs.h PROC_TASK_DIR), and begin_action asks
 * nothing more for it. The process move and the rescan, which name the VM itself,
 * poll the pidfd (one poll(2)): while it says the VM lives, /proc/PID is the VM's.
 * (Without a held task directory, as in unit tests, every task action polls and the
 * thread's check goes through /proc/PID.) The other actions (mkdir, a cpuset write)
 * change kvmcg's own cgroups, which a VM that has exited does not make unsafe: the
 * next task action, or the read-back, notices, and the rollback takes them away.
 * The fuller test (a zombie main thread, SIGKILL pending) is asked only when an
 * action failed, to tell a refusal from a VM on its way out (exec_run_action). */
static int begin_action(struct exec_ctx *c, const struct action *a)
{
	unsigned next = c->executed + 1;
	if (c->hooks.run_at == next && c->hooks.run && system(c->hooks.run) != 0)
		exec_set_failed(c, "test hook command failed");
	if (c->hooks.kill_at == next)
		kill_vm(c);
	const struct action_ops *o = exec_ops(a->kind);
	bool checked_by_run = o && o->checks_thread && c->task_fd >= 0;
	if (c->pid > 0 && a->tid && !checked_by_run &&
	    (c->pidfd >= 0 ? pidfd_exited(c->pidfd) : exec_vm_exiting(c))) {
		exec_set_failed(c, "the VM (pid %d) exited", (int)c->pid);
		return -ESRCH;
	}
	c->executed++;
	if (c->hooks.fail_at == c->executed) {
		exec_set_failed(c, "injected failure at action %u (%s)", c->hooks.fail_at, action_kind_name(a->kind));
		return -EIO;
	}
	return 0;
}

/* Runs (undo false) or undoes what e recorded in the hierarchy of its action. */
static int in_tree(struct exec_ctx *c, const struct action *a, struct undo_entry *e, bool undo)
{
	const struct action_ops *o = exec_ops(e->kind);
	if (!o)
		return -EINVAL;
	if (e->tree != V1_TREE_NONE && !c->v1_dirs[e->tree])
		return -EBADF;
	enum v1_tree saved = c->in_tree;
	c->in_tree = e->tree;
	int r = undo ? o->undo(c, e) : o->run(c, a, e);
	c->in_tree = saved;
	return r;
}

int exec_run_action(struct exec_ctx *c, const struct action *a, size_t index)
{
	int r = begin_action(c, a);
	if (r < 0)
		return r;
	const struct action_ops *o = exec_ops(a->kind);
	unsigned begun = c->executed;
	struct undo_entry e;
	r = entry_init(&e, a, index);
	if (r == 0)
		r = in_tree(c, a, &e, false);
	/* A cleanup step whose cgroup is gone already has nothing left to do; nor has a
	 * line to put back for a disk that is gone (blkg_conf_open_bdev(): ENODEV). */
	if (a->cleanup && (r == -ENOENT || (r == -ENODEV && a->kind == ACT_WRITE_LINE)))
		r = 0;
	if (r == 0 && (r = log_append(c->log, &e)) < 0 && o)
		(void)in_tree(c, a, &e, true); /* done but not recordable: put back at once */
	entry_done(&e);
	if (r < 0) {
		/* Whatever the kernel said, a VM on its way out is the reason. */
		if (c->pid > 0 && exec_vm_exiting(c)) {
			exec_set_failed(c, "the VM (pid %d) exited", (int)c->pid);
			return -ESRCH;
		}
		/* An action that began actions of its own (a rescan's newcomers) failed
		 * through one of them, which said why. */
		if (c->executed == begun)
			describe(c, a, r);
		return r;
	}
	return 0;
}

int exec_cleanup_step(struct exec_ctx *c, const struct action *a)
{
	if (!a->cleanup || (a->kind != ACT_RMDIR && a->kind != ACT_DISABLE_CONTROLLER && a->kind != ACT_WRITE_LINE))
		return -EINVAL;
	struct undo_log log = {0};
	struct undo_log *saved = c->log;
	c->log = &log;
	int r = exec_run_action(c, a, 0);
	c->log = saved;
	undo_log_done(&log);
	return r;
}

int exec_plan(struct exec_ctx *c, const struct plan *p, struct undo_log *log)
{
	int r = 0;
	free(c->failed);
	c->failed = NULL;
	c->cleanup_failed = 0;
	c->plan = p;
	c->log = log;
	for (size_t i = 0; i < p->n_actions && r == 0; i++) {
		if (!p->actions[i].cleanup) {
			r = exec_run_action(c, &p->actions[i], i);
			continue;
		}
		/* Every thread is back where it was: a step that fails here is left for
		 * the next run, and the rest is still tried. The first reason is kept. */
		_cleanup_free_ char *first = TAKE_PTR(c->failed);
		if (exec_run_action(c, &p->actions[i], i) < 0)
			c->cleanup_failed++;
		if (first) {
			free(c->failed);
			c->failed = TAKE_PTR(first);
		}
	}
	if (r < 0)
		exec_rollback(c, log);
	c->plan = NULL;
	c->log = NULL;
	return r;
}

/* The mask the log recorded first for tid: the one it had before this run touched it. */
static const struct idset *first_mask(const struct undo_log *log, pid_t tid)
{
	for (size_t i = 0; i < log->n; i++)
		if (log->entries[i].tid == tid && log->entries[i].old_cpus)
			return log->entries[i].old_cpus;
	return NULL;
}

int exec_rollback(struct exec_ctx *c, struct undo_log *log)
{
	int first = 0;
	for (size_t i = log->n; i-- > 0;) {
		struct undo_entry *e = &log->entries[i];
		if (e->cleanup || e->undone || e->undo_failed)
			continue;
		int r = exec_ops(e->kind) ? in_tree(c, NULL, e, true) : 0;
		e->undone = r == 0;
		e->undo_failed = r < 0;
		if (r < 0 && first == 0)
			first = r;
	}
	/* Moving a thread back (and cpuset writes) reset its affinity on Linux 6.1 and
	 * in v1, and the mask an ACT_SET_AFFINITY recorded may already have been such a
	 * reset one. So every touched thread gets, last, the mask discovery read before
	 * the plan began; a thread born since gets the one it had before its first move
	 * (a rescan's newcomer), else the main thread's. */
	const struct vm_thread *main_thread = vm_find_thread(c->vm, c->pid);
	for (size_t i = 0; i < log->n; i++) {
		const struct undo_entry *e = &log->entries[i];
		if (!e->tid || e->cleanup)
			continue;
		const struct vm_thread *t = vm_find_thread(c->vm, e->tid);
		const struct idset *mask = t && t->affinity ? t->affinity : first_mask(log, e->tid);
		if (!mask && main_thread)
			mask = main_thread->affinity;
		int r = mask ? affinity_set(e->tid, mask) : 0;
		if (r < 0 && r != -ESRCH && first == 0)
			first = r;
	}
	return first;
}
