// SPDX-License-Identifier: GPL-2.0-or-later
/* Records and cgroups of VMs that have exited. */
#include "core/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "exec/exec.h"
#include "kernel/cgroupfs.h"
#include "plan/observe.h"
#include "state/state.h"

/* ---- exited VMs ------------------------------------------------------------------------------- */

/* After a plan ran: the record lists only what its cleanup steps could not remove. */
int txn_keep_remaining(struct vm_state *st, const struct plan *p, const struct undo_log *log)
{
	struct vm_state left = {0};
	int r = 0;
	/* the plan lists them deepest first; the record, in creation order */
	for (size_t i = p->n_actions; r == 0 && i-- > 0;) {
		const struct action *a = &p->actions[i];
		if (!a->cleanup || undo_log_find(log, i))
			continue;
		if (a->kind == ACT_RMDIR && a->tree != V1_TREE_NONE)
			r = strv_push(&left.v1[a->tree].created, &left.v1[a->tree].n_created, a->dir);
		else if (a->kind == ACT_RMDIR)
			r = txn_add_created(&left, a->dir);
		else if (a->kind == ACT_DISABLE_CONTROLLER)
			r = txn_add_enabled(&left, a->dir, a->value);
		else if (a->kind == ACT_WRITE_LINE)
			r = record_add_restore(&left, a->dir, a->file, a->value);
	}
	if (r < 0) {
		vm_state_done(&left);
		return r;
	}
	strv_free(st->created);
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		strv_free(st->v1[t].created);
		st->v1[t].created = TAKE_PTR(left.v1[t].created);
		st->v1[t].n_created = left.v1[t].n_created;
	}
	for (size_t i = 0; i < st->n_enabled; i++) {
		free(st->enabled[i].dir);
		free(st->enabled[i].controller);
	}
	free(st->enabled);
	record_restore_free(st->restore, st->n_restore);
	st->created = TAKE_PTR(left.created);
	st->n_created = left.n_created;
	st->enabled = TAKE_PTR(left.enabled);
	st->n_enabled = left.n_enabled;
	st->restore = TAKE_PTR(left.restore);
	st->n_restore = left.n_restore;
	return 0;
}

/* Runs a record's cleanup steps (nobody's threads to move any more); the record then
 * lists only what is left. 0 when nothing is, -EBUSY when something is. */
int txn_cleanup_record(const struct txn_env *env, int mount_fd, struct vm_state *st)
{
	struct plan p = {.backend = st->backend};
	struct vm none = {0};
	struct vm_tune nospec = {0};
	struct exec_ctx ex = {.mount_fd = mount_fd, .pidfd = -1, .task_fd = -1, .proc_fd = env->proc_fd, .backend = st->backend,
			      .vm = &none, .tune = &nospec};
	struct undo_log log = {0};
	struct v1_tree_run v1[V1_TREE_N] = {0};
	/* a v1 tree's directories stay recorded while its mount cannot be used */
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++)
		(void)txn_v1tree_open_record(env, st, (enum v1_tree)t, &v1[t]);
	txn_v1trees_exec(&ex, v1, false);
	int r = plan_cleanup(st, &p);
	if (r == 0)
		r = exec_plan(&ex, &p, &log);
	if (r == 0)
		r = txn_keep_remaining(st, &p, &log);
	if (r == 0 && st->n_net) {
		_cleanup_free_ char *failed = NULL;
		int k = txn_net_undo(env, 0, st, NULL, NULL, &failed);
		if (k == -ENOMEM)
			r = k;
		else if (k < 0 && !ex.failed)
			ex.failed = TAKE_PTR(failed);
	}
	const struct v1_tree_record *v1_left = record_v1_left(st);
	if (r == 0 && (st->n_created || v1_left || st->n_enabled || st->n_restore || st->n_net)) {
		_cleanup_free_ char *left = st->n_created ? txn_joined(st->created, st->n_created, ", /")
				      : v1_left	      ? txn_joined(v1_left->created, v1_left->n_created, ", /")
							      : NULL;
		if (st->n_created || v1_left)
			err_set("pid %d has exited, and kvmcg could not remove /%s yet (%s); its record keeps %s for the "
				"next kvmcg run",
				(int)st->pid, left ? left : "?", ex.failed ? ex.failed : "?",
				st->n_created == 1 ? "it" : "them");
		else if (st->n_restore)
			err_set("pid %d has exited, and kvmcg could not put back %zu line%s it wrote in /%s yet (%s); its "
				"record keeps them for the next kvmcg run",
				(int)st->pid, st->n_restore, st->n_restore == 1 ? "" : "s", st->restore[0].dir,
				ex.failed ? ex.failed : "?");
		else
			err_set("pid %d has exited, and kvmcg could not remove the %s it added to %s yet (%s); its record "
				"keeps %s for the next kvmcg run",
				(int)st->pid, net_added_name(st->net[0].what), st->net[0].dev, ex.failed ? ex.failed : "?",
				st->n_net == 1 ? "it" : "them");
		r = -EBUSY;
	}
	undo_log_done(&log);
	exec_done(&ex);
	txn_v1trees_done(v1);
	plan_done(&p);
	return r;
}

/* A record of a VM kvmcg run started whose pid has exited while processes remain in
 * its cgroups: a -daemonize launch whose run died (SIGKILL) between QEMU's daemon
 * starting and its record being handed to the daemon (core/launch.c). That QEMU was
 * never placed and is paused (-S): nobody but run could resume it. It is killed,
 * said in *problems, so that nothing of the launch is left. */
static void kill_unplaced(int mount_fd, const struct vm_state *st, char ***problems, size_t *n_problems)
{
	if (!st->launched)
		return;
	for (int round = 0; round < 50; round++) {
		size_t found = 0;
		for (size_t i = 0; i < st->n_created; i++) {
			_cleanup_close_ int fd = cg_open_path(mount_fd, st->created[i]);
			_cleanup_free_ char *procs = NULL;
			if (fd < 0 || cg_read(fd, st->backend == BACKEND_CGROUP_V2 ? "cgroup.procs" : "tasks", &procs) < 0)
				continue;
			for (char *save = NULL, *tok = strtok_r(procs, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
				pid_t pid;
				if (parse_pid(tok, &pid) < 0)
					continue;
				found++;
				if (round == 0 && problems) {
					_cleanup_free_ char *s = NULL;
					if (asprintf(&s, "pid %d has exited before kvmcg run placed the QEMU it started; "
							 "killed pid %d, left paused in /%s", (int)st->pid, (int)pid,
						     st->created[i]) >= 0)
						(void)strv_push(problems, n_problems, s);
				}
				kill(pid, SIGKILL);
			}
		}
		if (!found)
			return;
		usleep(20000);
	}
}

/* A record is collected only once its VM has exited. */
static bool exited(pid_t pid, uint64_t starttime, void *arg)
{
	const struct txn_env *env = arg;
	return !proc_process_alive(env->proc_fd, pid, starttime);
}

int pin_collect_stale(const struct txn_env *env, int state_fd, char ***ret_problems)
{
	err_clear();
	struct vm_state *states = NULL;
	size_t n = 0, n_problems = 0;
	/* Records named for a live VM are not read: every run would otherwise parse
	 * every VM's record on the host. Their VM's own runs read and judge them. */
	int r = state_load_some(state_fd, exited, (void *)env, &states, &n, ret_problems);
	if (r < 0)
		return r;
	if (ret_problems)
		for (char **p = *ret_problems; p && *p; p++)
			n_problems++;
	int removed = 0;
	state_collect_files(state_fd, env->proc_fd);
	for (size_t i = 0; i < n; i++) {
		struct vm_state *s = &states[i];
		if (proc_process_alive(env->proc_fd, s->pid, s->starttime))
			continue;
		int lock = -1;
		if (state_lock(state_fd, s->pid, s->starttime, 0, "collect", &lock, NULL) < 0)
			continue; /* another run is at it */
		struct vm_state again;
		int mount_fd = -1;
		/* read again under the lock: it may have changed or gone */
		if (state_load(state_fd, s->pid, s->starttime, &again) == 0) {
			if (txn_open_record_mount(env, &again, &mount_fd) < 0) {
				if (ret_problems && err_get())
					(void)strv_push(ret_problems, &n_problems, err_get());
			} else {
				/* The VM is gone: its cgroups hold nobody and can go too. The
				 * record stays while some cannot, so the next run tries again. */
				kill_unplaced(mount_fd, &again, ret_problems, &n_problems);
				int k = txn_cleanup_record(env, mount_fd, &again);
				if (k == 0 && state_remove(state_fd, again.pid, again.starttime) == 0) {
					removed++;
					_cleanup_free_ char *warning = NULL;
					(void)txn_shared_release(env, state_fd, again.mount, mount_fd, again.vm_dir,
								 PIN_LOCK_TIMEOUT_MS, &warning);
					if (warning && ret_problems)
						(void)strv_push(ret_problems, &n_problems, warning);
					free(warning);
					(void)txn_v1trees_release(env, state_fd, &again, &warning);
					if (warning && ret_problems)
						(void)strv_push(ret_problems, &n_problems, warning);
				}
				else if (k == -EBUSY) {
					(void)state_save(state_fd, &again);
					if (ret_problems && err_get())
						(void)strv_push(ret_problems, &n_problems, err_get());
				}
			}
			if (mount_fd >= 0)
				close(mount_fd);
			vm_state_done(&again);
		}
		state_unlock(state_fd, s->pid, s->starttime, lock);
	}
	vm_states_free(states, n);
	/* and the private monitors' directories kvmcg run left (state.h) */
	state_launch_dirs_sweep();
	return removed;
}

/* Records of exited VMs go; those kvmcg refuses are said, not acted on. */
void txn_collect_and_warn(const struct txn_env *env, int state_fd, const struct vm *vm, struct pin_result *res)
{
	char **problems = NULL, own[64];
	/* this VM's own record, if refused, is the run's error, not a warning */
	snprintf(own, sizeof(own), " %d-%llu.state:", (int)vm->pid, (unsigned long long)vm->starttime_ticks);
	(void)pin_collect_stale(env, state_fd, &problems);
	for (char **p = problems; p && *p; p++)
		if (!strstr(*p, own))
			txn_warn(res, "%s", *p);
	strv_free(problems);
}
