// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM's trees in the v1 cpu and blkio hierarchies, beside its cpuset tree (v1 and
 * hybrid hosts): where each goes, what is there, the threads' origins in it, its mount
 * in a record. The planner plans them (plan/v1tree.c; cputune.c plan_v1cpu,
 * blkiotune.c plan_v1blkio), the executor runs their actions with the others (exec.h
 * v1_dirs): one transaction, one record, one undo. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "kernel/procfs.h"
#include "state/shared.h"

void txn_v1tree_done(struct v1_tree_run *t)
{
	cg_dircache_done(&t->dirs);
	if (t->mount && t->dirs.mount_fd >= 0)
		close(t->dirs.mount_fd);
	dir_states_done(&t->states);
	for (size_t i = 0; i < t->n_threads; i++)
		free(t->thread_cgroups[i]);
	free(t->thread_cgroups);
	free(t->mount);
	free(t->vm_dir);
	*t = (struct v1_tree_run){0};
}

void txn_v1trees_done(struct v1_tree_run t[V1_TREE_N])
{
	for (int i = 0; i < V1_TREE_N; i++)
		txn_v1tree_done(&t[i]);
}

bool txn_v1tree_mounted(const struct txn_env *env, enum pin_backend backend, enum v1_tree tree, bool *ret_rt_group)
{
	_cleanup_free_ char *mount = NULL;
	if (ret_rt_group)
		*ret_rt_group = false;
	if (backend != BACKEND_CGROUP_V1 || cgroup_v1_mount(env->proc_fd, tree, &mount) < 0)
		return false;
	if (!ret_rt_group)
		return true;
	/* CONFIG_RT_GROUP_SCHED: the root has cpu.rt_runtime_us (kernel/sched/core.c
	 * cpu_legacy_files[]) */
	_cleanup_close_ int fd = open(mount, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	*ret_rt_group = fd >= 0 && faccessat(fd, "cpu.rt_runtime_us", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	return true;
}

/* mount, checked as a record's cpuset mount is (core/record.c txn_open_record_mount):
 * the mount point of the v1 hierarchy that has tree's controller, reached without a
 * symbolic link, a cgroup filesystem. The fd into t->dirs, mount into t->mount. */
static int open_mount(const struct txn_env *env, enum v1_tree tree, const char *mount, const struct vm_state *st,
		      struct v1_tree_run *t)
{
	_cleanup_free_ char *found = NULL, *why = NULL;
	const char *ctrl = v1_tree_controller(tree);
	int r = cgroup_v1_mount(env->proc_fd, tree, &found);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || strcmp(found, mount) != 0) {
		if (st)
			err_set("refusing the record %d-%llu.state: %s is not the mount point of the v1 cgroup hierarchy "
				"that has %s",
				(int)st->pid, (unsigned long long)st->starttime, mount, ctrl);
		else
			err_set("%s is not the mount point of the v1 cgroup hierarchy that has %s", mount, ctrl);
		return -EPERM;
	}
	int fd = trust_open(mount, O_PATH | O_DIRECTORY, 0, true, &why);
	if (fd >= 0 && cg_fs_check(fd, BACKEND_CGROUP_V1) < 0) {
		close(fd);
		fd = -EXDEV;
		free(why);
		why = strdup("not a cgroup filesystem");
	}
	if (fd < 0) {
		err_set("the v1 %s hierarchy at %s: %s", ctrl, mount, why ? why : strerror(-fd));
		return -EPERM;
	}
	if (!(t->mount = strdup(mount))) {
		close(fd);
		return -ENOMEM;
	}
	t->dirs = (struct cg_dircache){.mount_fd = fd};
	return 0;
}

int txn_v1tree_open_record(const struct txn_env *env, const struct vm_state *st, enum v1_tree tree,
			   struct v1_tree_run *t)
{
	*t = (struct v1_tree_run){0};
	if (!st->v1[tree].mount)
		return 0;
	int r = open_mount(env, tree, st->v1[tree].mount, st, t);
	if (r == 0 && !(t->vm_dir = strdup(st->v1[tree].vm_dir)))
		r = -ENOMEM;
	if (r < 0)
		txn_v1tree_done(t);
	return r;
}

int txn_v1trees_open_record(const struct txn_env *env, const struct vm_state *st, struct v1_tree_run t[V1_TREE_N])
{
	int r = 0;
	for (int i = 0; i < V1_TREE_N; i++)
		t[i] = (struct v1_tree_run){0};
	for (int i = V1_TREE_NONE + 1; r == 0 && i < V1_TREE_N; i++)
		r = txn_v1tree_open_record(env, st, (enum v1_tree)i, &t[i]);
	if (r < 0)
		txn_v1trees_done(t);
	return r;
}

void txn_v1trees_exec(struct exec_ctx *ex, struct v1_tree_run t[V1_TREE_N], bool verify)
{
	for (int i = V1_TREE_NONE + 1; i < V1_TREE_N; i++) {
		ex->v1_dirs[i] = t[i].mount ? &t[i].dirs : NULL;
		ex->v1_vm_dir[i] = verify && t[i].mount ? t[i].vm_dir : NULL;
	}
}

/* Whether the tune asks anything of tree: as v2's cgroups.c, a Period= alone writes
 * nothing; the tune keeps what earlier pins set, so a VM whose record has a tree wants
 * it still. */
static bool tree_wanted(enum v1_tree tree, const struct vm_tune *tune)
{
	if (tree == V1_TREE_CPU)
		return tune->cputune.weight || tune->cputune.quota_set;
	return tune->iotune.weight || tune->iotune.n_dev;
}

/* One tree of txn_v1trees_prepare. */
static int prepare_one(const struct txn_env *env, const struct vm *vm, struct place *pl, const struct vm_state *prev,
		       enum v1_tree tree, struct plan_host *h)
{
	struct v1_tree_run *t = &pl->v1[tree];
	const char *ctrl = v1_tree_controller(tree);
	bool recorded = prev && prev->v1[tree].vm_dir;
	_cleanup_free_ char *mount = NULL;
	int r = recorded ? 0 : cgroup_v1_mount(env->proc_fd, tree, &mount);
	if (r < 0) {
		err_set("cannot find the v1 %s hierarchy: %s", ctrl, strerror(-r));
		return r;
	}
	r = open_mount(env, tree, recorded ? prev->v1[tree].mount : mount, recorded ? prev : NULL, t);
	if (r == 0 && !(t->vm_dir = recorded ? strdup(prev->v1[tree].vm_dir)
					     : layout_v1tree_dir(pl->vm_dir, vm->name, vm->pid)))
		r = -ENOMEM;
	if (r == 0 && (r = observe_v1tree_dirs(&t->dirs, tree, t->vm_dir, &t->states)) < 0)
		err_set("cannot read the VM's cgroups under %s: %s", t->mount, cg_strerror(r, NULL));
	if (r == 0 && vm->n_threads && !(t->thread_cgroups = calloc(vm->n_threads, sizeof(*t->thread_cgroups))))
		r = -ENOMEM;
	/* a thread gone meanwhile has NULL: it is moved, and its move finds it gone */
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++, t->n_threads++) {
		int k = proc_read_cgroup_v1(env->proc_fd, vm->pid, vm->threads[i].tid, ctrl, &t->thread_cgroups[i]);
		if (k == -ENOMEM)
			r = k;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			err_set("out of memory");
		txn_v1tree_done(t);
		return r;
	}
	h->v1[tree] = (struct plan_v1_host){
		.vm_dir = t->vm_dir, .dirs = t->states.v, .n_dirs = t->states.n, .cgroups = t->thread_cgroups};
	return 0;
}

int txn_v1trees_prepare(const struct txn_env *env, const struct vm *vm, struct place *pl, const struct vm_state *prev,
			const struct vm_tune *tune, struct plan_host *h)
{
	int r = 0;
	for (int i = V1_TREE_NONE + 1; r == 0 && i < V1_TREE_N; i++) {
		enum v1_tree tree = (enum v1_tree)i;
		bool recorded = prev && prev->v1[tree].vm_dir;
		if (pl->host.backend == BACKEND_CGROUP_V1 && pl->vm_dir && tree_wanted(tree, tune) &&
		    (recorded || h->v1_mounted[tree]))
			r = prepare_one(env, vm, pl, prev, tree, h);
	}
	return r;
}

/* One tree of txn_v1trees_origins. */
static int origins_one(struct vm_state *st, const struct vm *vm, const struct v1_tree_run *t, enum v1_tree tree)
{
	struct v1_tree_record *rec = &st->v1[tree];
	if (!rec->vm_dir) {
		if (!(rec->mount = strdup(t->mount)) || !(rec->vm_dir = strdup(t->vm_dir)))
			return -ENOMEM;
		/* there already, and no record of this VM's had it: left by a pin of this
		 * VM whose record is gone (its name is this VM's: layout_v1tree_dir), now ours */
		const struct cgroup_dir_state *d = t->states.n ? &t->states.v[t->states.n - 1] : NULL;
		if (d && d->exists && strcmp(d->path, t->vm_dir) == 0 &&
		    strv_push(&rec->created, &rec->n_created, t->vm_dir) < 0)
			return -ENOMEM;
	}
	/* the main thread first: a thread found in a kvmcg/ tree came from where it did */
	const struct thread_origin *mo = record_find_thread(st, vm->pid);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < vm->n_threads && i < t->n_threads; i++) {
			const struct vm_thread *th = &vm->threads[i];
			struct thread_origin *o = (struct thread_origin *)record_find_thread(st, th->tid);
			if (!o || o->v1_cgroup[tree] || (pass == 0) != (th->tid == vm->pid))
				continue;
			const char *cg = t->thread_cgroups[i];
			if (!cg || layout_in_kvmcg_tree(cg))
				cg = mo && mo->v1_cgroup[tree] && o != mo ? mo->v1_cgroup[tree] : "/";
			if (!(o->v1_cgroup[tree] = strdup(cg)))
				return -ENOMEM;
		}
	return 0;
}

int txn_v1trees_origins(struct vm_state *st, const struct vm *vm, const struct place *pl)
{
	int r = 0;
	for (int i = V1_TREE_NONE + 1; r == 0 && i < V1_TREE_N; i++)
		if (pl->v1[i].mount)
			r = origins_one(st, vm, &pl->v1[i], (enum v1_tree)i);
	return r;
}

int txn_v1trees_release(const struct txn_env *env, int state_fd, const struct vm_state *st, char **ret_warning)
{
	*ret_warning = NULL;
	int first = 0;
	for (int i = V1_TREE_NONE + 1; i < V1_TREE_N; i++) {
		struct v1_tree_run t;
		_cleanup_free_ char *warning = NULL;
		int r = txn_v1tree_open_record(env, st, (enum v1_tree)i, &t);
		if (r < 0)
			warning = strdup(err_get() ? err_get() : strerror(-r));
		else if (t.mount)
			r = txn_shared_release(env, state_fd, t.mount, t.dirs.mount_fd, t.vm_dir, PIN_LOCK_TIMEOUT_MS,
					       &warning);
		txn_v1tree_done(&t);
		if (warning && !*ret_warning)
			*ret_warning = TAKE_PTR(warning);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}
