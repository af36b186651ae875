// SPDX-License-Identifier: GPL-2.0-or-later
/* One entry per action kind: how to carry it out, how to put back what it replaced,
 * and how to say why the kernel refused it. A new kind of action is one new entry
 * here (and its name in plan.c's action_kind_name), nothing else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/util.h"
#include "exec/exec-internal.h"
#include "kernel/affinity.h"
#include "kernel/cgroupfs.h"
#include "kernel/procfs.h"
#include "kernel/sched.h"
#include "plan/layout.h"

static const char *why_cgroup(const char *file, int r)
{
	return cg_strerror(r, file);
}

static const char *why_rmdir(const char *file, int r)
{
	return r == -EBUSY ? "busy: a process, or a cgroup below it, is still in it" : cg_strerror(r, file);
}

static const char *why_move(const char *file, int r)
{
	(void)file;
	return cg_strerror(r, NULL);
}

static const char *why_affinity(const char *file, int r)
{
	(void)file;
	return r == -EINVAL ? "no CPU of the set is allowed by the thread's cpuset" : strerror(-r);
}

static const char *why_sched(const char *file, int r)
{
	(void)file;
	return r == -EPERM ? "not permitted (a real-time class needs CAP_SYS_NICE and RT runtime for the cgroup)"
			   : strerror(-r);
}

static int nothing_to_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	(void)c;
	(void)e;
	return 0;
}

/* ---- directories ---------------------------------------------------------------------------- */

static int mkdir_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	const char *base;
	int parent = exec_parent_fd(c, a->dir, &base);
	if (parent < 0)
		return parent;
	if (mkdirat(parent, base, 0755) == 0)
		e->created = true;
	else if (errno != EEXIST)
		return -errno;
	return 0;
}

static int mkdir_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	return e->created ? exec_remove_dir(c, e->dir) : 0;
}

/* A cleanup step only: never undone. */
static int rmdir_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	(void)e;
	return exec_remove_dir(c, a->dir);
}

/* ---- files ---------------------------------------------------------------------------------- */

/* Enabling an enabled controller (or disabling a disabled one) changes nothing and
 * leaves nothing to undo. value is "+cpu" or "-cpu". A cleanup step that disables
 * one is -EBUSY while a cgroup below still relies on it (cg_controller_in_use). */
static int controller_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	int r = exec_read_in(c, a->dir, a->file, &e->old_value);
	if (r < 0)
		return r;
	bool want = a->value[0] == '+';
	if (cg_controller_listed(e->old_value, a->value + 1) == want)
		return 0;
	/* Taking back what kvmcg enabled: not while another cgroup below relies on it
	 * (the kernel refuses only some of those cases). */
	if (!want && a->cleanup) {
		int fd = exec_dir_fd(c, a->dir);
		r = fd < 0 ? fd : cg_controller_in_use(fd, a->value + 1);
		if (r != 0)
			return r > 0 ? -EBUSY : r;
	}
	r = exec_write_in(c, a->dir, a->file, a->value);
	e->changed = r == 0;
	return r;
}

static int controller_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	if (!e->changed)
		return 0;
	char inverse[64];
	snprintf(inverse, sizeof(inverse), "%c%s", e->value[0] == '+' ? '-' : '+', e->value + 1);
	return exec_write_in(c, e->dir, e->file, inverse);
}

static int threaded_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	int r = exec_read_in(c, a->dir, a->file, &e->old_value);
	if (r < 0 || strcmp(e->old_value, "threaded") == 0)
		return r;
	r = exec_write_in(c, a->dir, a->file, a->value);
	e->changed = r == 0;
	return r;
}

/* The kernel turns a cgroup threaded one way only (cgroup_type_write() refuses
 * anything but "threaded"): the directory goes with the ACT_MKDIR that made it. */
#define threaded_undo nothing_to_undo

/* Whether this run made dir: then its files hold the kernel's defaults, and what
 * the write replaced goes with the directory (the mkdir's undo removes it). */
static bool made_by_this_run(const struct exec_ctx *c, const char *dir)
{
	for (size_t i = 0; c->log && i < c->log->n; i++) {
		const struct undo_entry *m = &c->log->entries[i];
		if (m->kind == ACT_MKDIR && m->created && !m->undone && m->tree == c->in_tree && strcmp(m->dir, dir) == 0)
			return true;
	}
	return false;
}

static int write_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	e->in_new_dir = made_by_this_run(c, a->dir);
	int r = e->in_new_dir ? 0 : exec_read_in(c, a->dir, a->file, &e->old_value);
	return r < 0 ? r : exec_write_in(c, a->dir, a->file, a->value);
}

static int write_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	if (e->in_new_dir)
		return 0;
	/* An empty cpuset.cpus or cpuset.mems (inherit, on v2) is written as a newline. */
	return exec_write_in(c, e->dir, e->file, e->old_value && *e->old_value ? e->old_value : "\n");
}

/* A keyed file: undo writes cg_line_undo()'s line, what was there for the fields the
 * line sets (or the line that puts the kernel's default back). */
static int write_line_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	e->in_new_dir = made_by_this_run(c, a->dir);
	if (!e->in_new_dir) {
		_cleanup_free_ char *content = NULL, *key = strndup(a->value, strcspn(a->value, " "));
		if (!key)
			return -ENOMEM;
		_cleanup_free_ char *have = NULL;
		int r = exec_read_in(c, a->dir, a->file, &content);
		if (r == 0)
			r = cg_line_find(content, key, &have);
		if (r == 0)
			r = cg_line_undo(a->file, have, a->value, &e->old_value);
		if (r < 0)
			return r;
	}
	return exec_write_in(c, a->dir, a->file, a->value);
}

static int write_line_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	return e->in_new_dir ? 0 : exec_write_in(c, e->dir, e->file, e->old_value);
}

/* ---- threads -------------------------------------------------------------------------------- */

/* Whether the thread is still the VM's; a TID of a thread that exited may already be
 * another process's (see begin_action in exec.c). With the VM's task directory held
 * (exec_hold_vm), the same fstatat also says that the VM is the one held. pid 0: no
 * VM (unit tests). */
static bool still_ours(const struct exec_ctx *c, pid_t tid)
{
	if (c->pid <= 0)
		return true;
	return c->task_fd >= 0 ? proc_task_exists(c->task_fd, PROC_TASK_DIR, tid)
			       : proc_task_exists(c->proc_fd, c->pid, tid);
}

/* What a thread action returns when its thread is not the VM's: 1 (gone, nothing to
 * do) while the VM lives, -ESRCH once the VM itself has exited, as begin_action's
 * check would have said for an action that has no check of its own. */
static int thread_gone(const struct exec_ctx *c)
{
	return exec_vm_exiting(c) ? -ESRCH : 1;
}

/* Where the thread is now, as discovery read it after the VM's lock was taken,
 * unless a move-process of this run has taken it along since. */
static const char *known_cgroup(const struct exec_ctx *c, const struct vm_thread *t)
{
	if (c->in_tree != V1_TREE_NONE)
		return NULL; /* discovery reads the cpuset hierarchy's only */
	for (size_t i = 0; c->log && i < c->log->n; i++)
		if (c->log->entries[i].kind == ACT_MOVE_PROCESS)
			return NULL;
	return t ? t->cgroup : NULL;
}

/* A thread discovery did not see (a rescan's newcomer) has its mask recorded too,
 * before the move resets it (Linux 6.1, v1): the rollback gives it back. */
static int move_thread_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	const struct vm_thread *t = vm_find_thread(c->vm, a->tid);
	const char *known = known_cgroup(c, t);
	if (known) {
		if (!still_ours(c, a->tid))
			return thread_gone(c);
		if (!(e->old_value = strdup(cg_relative(known))))
			return -ENOMEM;
	} else {
		/* read from the VM's own task directory: a thread of another process
		 * is not found there */
		int r = exec_read_thread_cgroup(c, a->tid, &e->old_value);
		if (r == 0 && !t)
			r = affinity_get(a->tid, &e->old_cpus);
		if (r < 0)
			return r == -ESRCH ? thread_gone(c) : r;
	}
	return exec_write_tid(c, a->dir, a->file, a->tid);
}

static int move_thread_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	int r = exec_write_tid(c, e->old_value, layout_move_file(c->backend), e->tid);
	return r == 1 ? 0 : r;
}

/* cgroup.procs moves every thread at once; each one's cgroup is recorded first, so
 * the undo puts back threads that were not where the main thread was. */
static int move_process_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	e->moved = calloc(n ? n : 1, sizeof(*e->moved));
	if (!e->moved)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		char *cg = NULL;
		r = exec_read_thread_cgroup(c, tids[k], &cg);
		if (r == -ESRCH)
			continue;
		if (r < 0)
			return r;
		e->moved[e->n_moved++] = (struct moved_thread){.tid = tids[k], .cgroup = cg};
		if (tids[k] == a->tid && !(e->old_value = strdup(cg)))
			return -ENOMEM;
	}
	if (!e->old_value)
		return -ESRCH; /* the main thread is gone: the VM is */
	return exec_write_tid(c, a->dir, a->file, a->tid);
}

static int move_process_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	int r = exec_write_tid(c, e->old_value, "cgroup.procs", e->tid);
	if (r < 0)
		return r;
	int first = 0;
	for (size_t k = 0; k < e->n_moved; k++) {
		if (strcmp(e->moved[k].cgroup, e->old_value) == 0)
			continue;
		r = exec_write_tid(c, e->moved[k].cgroup, layout_move_file(c->backend), e->moved[k].tid);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

/* The mask to put back is the one discovery read after the VM's lock was taken:
 * exec_rollback() gives it to every touched thread last, so it is not asked again
 * here. Only a thread discovery did not see (a rescan's newcomer) has its mask read. */
static int affinity_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	if (!still_ours(c, a->tid))
		return thread_gone(c);
	const struct vm_thread *t = vm_find_thread(c->vm, a->tid);
	int r = t && t->affinity ? 0 : affinity_get(a->tid, &e->old_cpus);
	if (r < 0)
		return r == -ESRCH ? 1 : r;
	r = affinity_set(a->tid, a->cpus);
	return r == -ESRCH ? 1 : r;
}

static int affinity_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	const struct vm_thread *t = vm_find_thread(c->vm, e->tid);
	const struct idset *mask = e->old_cpus ? e->old_cpus : t ? t->affinity : NULL;
	int r = mask ? affinity_set(e->tid, mask) : 0;
	return r == -ESRCH ? 0 : r;
}

/* value is "fifo:10", as sched_format() writes it (tune/tune.h). */
static int sched_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	if (!still_ours(c, a->tid))
		return thread_gone(c);
	int policy = 0, want_policy;
	unsigned prio = 0, want_prio;
	char old[32];
	if (sched_parse(a->value, &want_policy, &want_prio) < 0)
		return -EINVAL;
	int r = sched_get(a->tid, &policy, &prio);
	if (r < 0)
		return r == -ESRCH ? 1 : r;
	sched_format(policy, prio, old, sizeof(old));
	if (!(e->old_value = strdup(old)))
		return -ENOMEM;
	r = sched_set(a->tid, want_policy, want_prio);
	return r == -ESRCH ? 1 : r;
}

static int sched_undo(struct exec_ctx *c, const struct undo_entry *e)
{
	(void)c;
	int policy;
	unsigned prio;
	if (sched_parse(e->old_value, &policy, &prio) < 0)
		return -EINVAL;
	int r = sched_set(e->tid, policy, prio);
	return r == -ESRCH ? 0 : r;
}

/* Whether tid is one the plan already places: discovery's, or moved by an action. */
static bool known_thread(const struct exec_ctx *c, pid_t tid)
{
	if (vm_find_thread(c->vm, tid))
		return true;
	for (size_t i = 0; c->plan && i < c->plan->n_actions; i++)
		if (c->plan->actions[i].kind == ACT_MOVE_THREAD && c->plan->actions[i].tid == tid)
			return true;
	for (size_t i = 0; c->log && i < c->log->n; i++)
		if (c->log->entries[i].kind == ACT_MOVE_THREAD && c->log->entries[i].tid == tid)
			return true;
	return false;
}

/* Threads born since discovery go with the emulator: a move there (they may have
 * been born anywhere in the tree), then its affinity, carried out now as actions of
 * their own, each with its entry in the undo log. The plan puts the rescan after
 * every cgroup move and cpuset write, which would reset an affinity set earlier
 * (Linux 6.1, v1). One born after this scan is caught by exec_verify. */
static int rescan_run(struct exec_ctx *c, const struct action *a, struct undo_entry *e)
{
	(void)e;
	_cleanup_free_ char *emulator = layout_child_path(a->dir, NULL);
	if (!emulator)
		return -ENOMEM;
	const struct idset *cpus = c->tune->emulator ? c->tune->emulator : c->effective_cpus;
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	for (size_t k = 0; k < n; k++) {
		if (known_thread(c, tids[k]))
			continue;
		const struct action move = {.kind = ACT_MOVE_THREAD,
					    .tid = tids[k],
					    .dir = emulator,
					    .file = (char *)layout_move_file(c->backend)};
		r = exec_run_action(c, &move, UNDO_NEWCOMER);
		if (r < 0)
			return r;
		const struct action aff = {.kind = ACT_SET_AFFINITY, .tid = tids[k], .cpus = (struct idset *)cpus};
		r = exec_run_action(c, &aff, UNDO_NEWCOMER);
		if (r < 0)
			return r;
		/* and into the VM's cgroup of each v1 tree, with every other thread */
		for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
			const struct action v1 = {.kind = ACT_MOVE_THREAD,
						  .tid = tids[k],
						  .dir = c->plan ? c->plan->v1_vm_dir[t] : NULL,
						  .file = (char *)layout_move_file(BACKEND_CGROUP_V1),
						  .tree = (enum v1_tree)t};
			r = v1.dir ? exec_run_action(c, &v1, UNDO_NEWCOMER) : 0;
			if (r < 0)
				return r;
		}
	}
	return 1; /* nothing of its own to undo */
}

static const struct action_ops ops[] = {
	[ACT_ENABLE_CONTROLLER] = {controller_run, controller_undo, why_cgroup},
	[ACT_DISABLE_CONTROLLER] = {controller_run, controller_undo, why_cgroup},
	[ACT_MKDIR] = {mkdir_run, mkdir_undo, why_cgroup},
	[ACT_RMDIR] = {rmdir_run, nothing_to_undo, why_rmdir},
	[ACT_SET_THREADED] = {threaded_run, threaded_undo, why_cgroup},
	[ACT_WRITE] = {write_run, write_undo, why_cgroup},
	[ACT_WRITE_LINE] = {write_line_run, write_line_undo, why_cgroup},
	[ACT_MOVE_PROCESS] = {move_process_run, move_process_undo, why_move},
	[ACT_MOVE_THREAD] = {move_thread_run, move_thread_undo, why_move, .checks_thread = true},
	[ACT_RESCAN] = {rescan_run, nothing_to_undo, why_move},
	[ACT_SET_AFFINITY] = {affinity_run, affinity_undo, why_affinity, .checks_thread = true},
	[ACT_SET_SCHED] = {sched_run, sched_undo, why_sched, .checks_thread = true},
};

const struct action_ops *exec_ops(enum action_kind kind)
{
	return (size_t)kind < ARRAY_SIZE(ops) && ops[kind].run ? &ops[kind] : NULL;
}
