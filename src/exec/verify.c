// SPDX-License-Identifier: GPL-2.0-or-later
/* Read-back: after a plan ran, every thread of the VM is where its tuning says. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "exec/exec-internal.h"
#include "kernel/affinity.h"
#include "kernel/procfs.h"
#include "kernel/sched.h"
#include "plan/layout.h"

/* ---- verification ------------------------------------------------------------------ */

/* Appends "; what" to c->failed. */
__attribute__((format(printf, 2, 3))) static void add_failure(struct exec_ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	what = vformat(fmt, ap);
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

/* The v1 trees (exec_ctx.v1_vm_dir) whose VM cgroup tid is not in: a bit per tree in
 * *ret_bad. 0, -ESRCH when the thread is gone, -ENOMEM. */
static int v1_misplaced(struct exec_ctx *c, pid_t tid, unsigned *ret_bad)
{
	*ret_bad = 0;
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		if (!c->v1_vm_dir[t])
			continue;
		_cleanup_free_ char *cg = NULL;
		c->in_tree = (enum v1_tree)t;
		int r = exec_read_thread_cgroup(c, tid, &cg);
		c->in_tree = V1_TREE_NONE;
		if (r < 0)
			return r;
		if (strcmp(cg, c->v1_vm_dir[t]) != 0)
			*ret_bad |= 1u << t;
	}
	return 0;
}

/* Puts tid into the VM's cgroup of each v1 tree in bad (fix), or says it is not there. */
static void v1_put_right(struct exec_ctx *c, pid_t tid, unsigned bad, bool fix)
{
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		if (!(bad & (1u << t)))
			continue;
		if (!fix) {
			add_failure(c, "thread %d is not in /%s of the v1 %s hierarchy", (int)tid, c->v1_vm_dir[t],
				    v1_tree_controller((enum v1_tree)t));
			continue;
		}
		c->in_tree = (enum v1_tree)t;
		(void)exec_write_tid(c, c->v1_vm_dir[t], layout_move_file(BACKEND_CGROUP_V1), tid);
		c->in_tree = V1_TREE_NONE;
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
			const struct vm_thread *t = vm_find_thread(c->vm, tids[i]);
			const struct idset *want = vm_tune_cpus_for(c->tune, t);
			if (!want && c->backend == BACKEND_AFFINITY)
				continue;
			if (!want)
				want = c->effective_cpus;
			_cleanup_free_ char *dir = layout_child_path(vm_dir, t), *cg = NULL;
			unsigned v1_bad = 0; /* the v1 trees: the VM's one cgroup in each */
			if (!dir)
				return -ENOMEM;
			struct idset *have _cleanup_cpuset_ = NULL;
			r = affinity_get(tids[i], &have);
			if (r == 0 && c->backend != BACKEND_AFFINITY)
				r = exec_read_thread_cgroup(c, tids[i], &cg);
			if (r == 0)
				r = v1_misplaced(c, tids[i], &v1_bad);
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
			if (cg_ok && aff_ok && sched_ok && !v1_bad)
				continue;
			/* A thread on its way out reads as nowhere (an empty cgroup, say): that
			 * is no misplacement, and a VM on its way out is no failure of ours. */
			if (proc_task_exiting(c->proc_fd, c->pid, tids[i])) {
				if (exec_vm_exiting(c)) {
					exec_set_failed(c, "the VM (pid %d) exited", (int)c->pid);
					return -ESRCH;
				}
				continue;
			}
			bad++;
			if (attempt == 0) {
				/* Put it right once: a thread born between the rescan and now. */
				if (!cg_ok)
					(void)exec_write_tid(c, dir, layout_move_file(c->backend), tids[i]);
				v1_put_right(c, tids[i], v1_bad, true);
				(void)affinity_set(tids[i], want);
				if (!sched_ok)
					(void)sched_set(tids[i], c->tune->cputune.sched_policy,
							c->tune->cputune.sched_priority);
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
			v1_put_right(c, tids[i], v1_bad, false);
		}
		if (bad == 0)
			return 0;
		if (attempt == 1)
			return exec_vm_exiting(c) ? -ESRCH : -EIO;
	}
	return 0;
}
