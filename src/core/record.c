// SPDX-License-Identifier: GPL-2.0-or-later
/* The undo record across a transaction: threads' origins, what a plan may create, what it did, what is left; a record's mount. */
#include "core/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

/* ---- the record -------------------------------------------------------------------------- */

/* Where each thread of the VM came from, for the threads st has no origin for yet:
 * all of them at a first pin, those born (or hot-plugged) since at a re-pin. A thread
 * is where it is now, unless it is inside kvmcg's own cgroups (born there since a pin,
 * or left by a pin whose record is gone) or in any kvmcg/ tree (another VM's, where
 * someone moved it): then it came from outside them, with the
 * main thread's origin when the record has one, else the cgroup above kvmcg's tree
 * and the CPUs it allows; and a real-time class found there may be kvmcg's doing, so
 * its origin is the default class. */
int txn_add_origins(struct vm_state *st, const struct vm *vm, const struct place *pl)
{
	bool cgroups = pl->host.backend != BACKEND_AFFINITY;
	bool repin = st->n_threads > 0;
	_cleanup_free_ char *outside = NULL;
	if (cgroups && asprintf(&outside, "/%s", pl->owned) >= 0) {
		char *slash = strrchr(outside, '/');
		if (slash == outside)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (cgroups && !outside)
		return -ENOMEM;
	const struct thread_origin *mo = record_find_thread(st, vm->pid);
	const char *main_cg = mo ? mo->cgroup : outside;
	const struct idset *main_aff = mo ? mo->affinity : pl->effective_cpus;
	struct thread_origin *n = realloc(st->threads, (st->n_threads + vm->n_threads + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->threads = n;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		if (record_find_thread(st, t->tid))
			continue;
		/* affinity mode owns no cgroup: there a newcomer's mask is the main thread's */
		/* this VM's own tree, or any kvmcg/ tree (another VM's): never an origin */
		bool ours = cgroups ? cg_path_within(t->cgroup ? t->cgroup : "", pl->owned) ||
					      layout_in_kvmcg_tree(t->cgroup)
				    : repin;
		struct thread_origin o = {.tid = t->tid, .sched_known = true};
		o.cgroup = strdup(!cgroups ? "" : ours && main_cg ? main_cg : t->cgroup ? t->cgroup : "");
		o.affinity = ours && main_aff ? idset_dup(main_aff) : t->affinity ? idset_dup(t->affinity) : idset_new();
		bool rt = t->stat.policy == SCHED_FIFO || t->stat.policy == SCHED_RR;
		o.sched_policy = ours && rt ? SCHED_OTHER : (int)t->stat.policy;
		o.sched_priority = ours && rt ? 0 : t->stat.rt_priority;
		if (!o.cgroup || !o.affinity) {
			free(o.cgroup);
			idset_free(o.affinity);
			return -ENOMEM;
		}
		st->threads[st->n_threads++] = o;
		mo = record_find_thread(st, vm->pid); /* st->threads may have moved */
		main_cg = mo ? mo->cgroup : outside;
		main_aff = mo ? mo->affinity : pl->effective_cpus;
	}
	return txn_v1trees_origins(st, vm, pl);
}

static bool has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

int txn_add_created(struct vm_state *st, const char *dir)
{
	return has_str(st->created, st->n_created, dir) ? 0 : strv_push(&st->created, &st->n_created, dir);
}

int txn_add_enabled(struct vm_state *st, const char *dir, const char *value)
{
	const char *ctrl = value + 1; /* "+cpuset" */
	for (size_t i = 0; i < st->n_enabled; i++)
		if (strcmp(st->enabled[i].dir, dir) == 0 && strcmp(st->enabled[i].controller, ctrl) == 0)
			return 0;
	struct enabled_controller *n = realloc(st->enabled, (st->n_enabled + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->enabled = n;
	n[st->n_enabled] = (struct enabled_controller){strdup(dir), strdup(ctrl)};
	if (!n[st->n_enabled].dir || !n[st->n_enabled].controller) {
		free(n[st->n_enabled].dir);
		free(n[st->n_enabled].controller);
		return -ENOMEM;
	}
	st->n_enabled++;
	return 0;
}


/* A directory made (made) in a v1 tree's hierarchy into st's list of that tree, when it
 * is the VM's directory there (kvmcg/ above it is the host's: state/shared.h). */
static int add_v1_created(struct vm_state *st, const struct plan *p, enum v1_tree tree, bool made, const char *dir)
{
	struct v1_tree_record *v = &st->v1[tree];
	if (!made || !p->v1_vm_dir[tree] || strcmp(dir, p->v1_vm_dir[tree]) != 0 || has_str(v->created, v->n_created, dir))
		return 0;
	return strv_push(&v->created, &v->n_created, dir);
}

static int record_plan(struct vm_state *st, const struct plan *p, const struct undo_log *log,
		       const struct place *pl, enum which which)
{
	if (!pl->vm_dir)
		return 0; /* affinity mode: no cgroups */
	_cleanup_free_ char *parent = layout_parent(pl->vm_dir);
	if (!parent)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; r == 0 && which != LEFT && i < pl->n_adopted; i++)
		r = txn_add_created(st, pl->adopted[i]);
	/* Controllers enabled in the VM's own cgroup are its launcher's to keep. */
	bool own_parent = pl->kind == LAYOUT_IN_PLACE;
	if (which == PLANNED) {
		for (size_t i = 0; r == 0 && i < p->n_actions; i++) {
			const struct action *a = &p->actions[i];
			if (a->tree != V1_TREE_NONE) /* a v1 tree: the VM's directory there */
				r = add_v1_created(st, p, a->tree, a->kind == ACT_MKDIR, a->dir);
			else if (a->kind == ACT_MKDIR && cg_path_within(a->dir, pl->vm_dir))
				r = txn_add_created(st, a->dir);
			else if (a->kind == ACT_ENABLE_CONTROLLER && own_parent && strcmp(a->dir, parent) == 0)
				r = txn_add_enabled(st, a->dir, a->value);
			else if (a->kind == ACT_WRITE_LINE && a->old && !cg_path_within(a->dir, pl->vm_dir))
				r = record_add_restore(st, a->dir, a->file, a->old);
		}
		return r;
	}
	/* DONE: what the run did; LEFT: what its rollback could not undo. */
	for (size_t i = 0; r == 0 && log && i < log->n; i++) {
		const struct undo_entry *e = &log->entries[i];
		if (which == DONE ? e->undone : !e->undo_failed)
			continue;
		if (e->tree != V1_TREE_NONE)
			r = add_v1_created(st, p, e->tree, e->kind == ACT_MKDIR && e->created, e->dir);
		else if (e->kind == ACT_MKDIR && e->created && cg_path_within(e->dir, pl->vm_dir))
			r = txn_add_created(st, e->dir);
		else if (e->kind == ACT_ENABLE_CONTROLLER && e->changed && own_parent && strcmp(e->dir, parent) == 0)
			r = txn_add_enabled(st, e->dir, e->value);
		/* a line written outside kvmcg's tree: what was there before it, as read */
		else if (e->kind == ACT_WRITE_LINE && e->old_value && !cg_path_within(e->dir, pl->vm_dir))
			r = record_add_restore(st, e->dir, e->file, e->old_value);
	}
	return r;
}

/* A copy of base (its threads' origins, what it made and enabled) with tune (none
 * when NULL) and what plan adds for which. */
int txn_record_build(const struct vm_state *base, const struct vm_tune *tune, const struct plan *plan,
			const struct undo_log *log, const struct place *pl, enum which which, struct vm_state *ret)
{
	struct vm_state tmp = *base;
	tmp.tune = tune ? *tune : (struct vm_tune){0};
	int r = vm_state_copy(&tmp, ret);
	if (r < 0)
		return r;
	r = record_plan(ret, plan, log, pl, which);
	if (r < 0)
		vm_state_done(ret);
	return r;
}

/* ---- the mount of a record ---------------------------------------------------------------- */

/* A record's mount is used only when it is the mount point of the cgroup hierarchy
 * kvmcg uses for its mode (mountinfo), reached without a symbolic link, and is a
 * cgroup filesystem (fstatfs): a forged "mount /" must not lead anywhere. */
int txn_open_record_mount(const struct txn_env *env, const struct vm_state *st, int *ret_fd)
{
	*ret_fd = -1;
	if (st->backend == BACKEND_AFFINITY)
		return 0;
	struct cgroup_host h = {0};
	int r = cgroup_host_for_path(env->proc_fd, st->mount, &h);
	bool same = r == 0 && h.backend == st->backend && strcmp(h.mount, st->mount) == 0;
	cgroup_host_done(&h);
	if (!same) {
		err_set("refusing the record %d-%llu.state: %s is not the mount point of the %s cgroup hierarchy "
			"that has cpuset",
			(int)st->pid, (unsigned long long)st->starttime, st->mount, backend_name(st->backend));
		return -EPERM;
	}
	_cleanup_free_ char *why = NULL;
	int fd = trust_open(st->mount, O_PATH | O_DIRECTORY, 0, true, &why);
	if (fd < 0) {
		err_set("refusing the record %d-%llu.state: %s", (int)st->pid, (unsigned long long)st->starttime,
			why ? why : strerror(-fd));
		return -EPERM;
	}
	r = cg_fs_check(fd, st->backend);
	if (r < 0) {
		close(fd);
		err_set("refusing the record %d-%llu.state: %s is not a cgroup%s filesystem", (int)st->pid,
			(unsigned long long)st->starttime, st->mount, st->backend == BACKEND_CGROUP_V2 ? "2" : "");
		return -EPERM;
	}
	*ret_fd = fd;
	return 0;
}
