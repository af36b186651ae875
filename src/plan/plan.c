// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/plan.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "plan/layout.h"
#include "plan/record.h"
#include "basic/util.h"
#include "plan/plan-internal.h"

const char *action_kind_name(enum action_kind k)
{
	static const char *const names[] = {
		[ACT_ENABLE_CONTROLLER] = "enable-controller",
		[ACT_MKDIR] = "mkdir",
		[ACT_SET_THREADED] = "set-threaded",
		[ACT_WRITE] = "write",
		[ACT_MOVE_PROCESS] = "move-process",
		[ACT_MOVE_THREAD] = "move-thread",
		[ACT_RESCAN] = "rescan",
		[ACT_SET_AFFINITY] = "set-affinity",
		[ACT_RMDIR] = "rmdir",
		[ACT_SET_SCHED] = "set-scheduler",
		[ACT_DISABLE_CONTROLLER] = "disable-controller",
		[ACT_WRITE_LINE] = "write-line",
	};
	return k < ARRAY_SIZE(names) && names[k] ? names[k] : "?";
}

/* ---- plans -------------------------------------------------------------------------- */

void plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++) {
		struct action *a = &p->actions[i];
		free(a->dir);
		free(a->file);
		free(a->value);
		free(a->old);
		idset_free(a->cpus);
	}
	free(p->actions);
	free(p->vm_dir);
	for (int t = 0; t < V1_TREE_N; t++)
		free(p->v1_vm_dir[t]);
	*p = (struct plan){0};
}

int plan_add(struct plan *p, const struct action *a)
{
	struct action *n = realloc(p->actions, (p->n_actions + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->actions = n;
	p->actions[p->n_actions++] = *a;
	return 0;
}

/* Shorthands that copy their strings; they return -ENOMEM or 0. */
int plan_push(struct plan *p, enum action_kind kind, const char *dir, const char *file,
	       const char *value, pid_t tid, const struct idset *cpus)
{
	struct action a = {.kind = kind, .tid = tid};
	a.dir = strdup_or_null(dir);
	a.file = strdup_or_null(file);
	a.value = strdup_or_null(value);
	a.cpus = idset_dup(cpus);
	if ((dir && !a.dir) || (file && !a.file) || (value && !a.value) || (cpus && !a.cpus) ||
	    plan_add(p, &a) < 0) {
		free(a.dir);
		free(a.file);
		free(a.value);
		idset_free(a.cpus);
		return -ENOMEM;
	}
	return 0;
}

const struct cgroup_dir_state *plan_find_dir(const struct plan_host *h, const char *path)
{
	for (size_t i = 0; i < h->n_dirs; i++)
		if (strcmp(h->dirs[i].path, path) == 0)
			return h->dirs[i].exists ? &h->dirs[i] : NULL;
	return NULL;
}

bool plan_has_controller(const struct cgroup_dir_state *d, const char *name)
{
	return d && cg_controller_listed(d->subtree_control, name);
}

/* "" for an unset list: how cpuset.cpus reads when it inherits. */
char *plan_format_or_empty(const struct idset *s)
{
	return s ? idset_format(s) : strdup("");
}

bool plan_same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The cgroup path of a thread as /proc shows it ("/kvmcg/demo/vcpu0"), against ours
 * ("kvmcg/demo/vcpu0"). */
bool plan_in_cgroup(const struct vm_thread *t, const char *dir)
{
	return strcmp(cg_relative(t->cgroup), dir) == 0;
}

/* Each child cgroup of the VM the plan needs, once. */

static int refuse_unidentified(const struct vm *vm)
{
	if (vm_identified(vm))
		return 0;
	_cleanup_free_ char *list = vm_unidentified_vcpu_list(vm);
	/* the hint names what was tried: a monitor that answered names every vCPU that
	 * exists, so what it did not name is not made yet */
	bool qmp = vm->source == DISCOVERY_QMP;
	bool never = !vm_vcpus_knowable(vm, qmp || vm->qemu.n_qmp_paths > 0);
	err_set("refusing to pin pid %d: %s%s could not be identified (discovery: %s), and an "
		"unknown thread may be a vCPU; %s",
		(int)vm->pid,
		vm->n_unidentified_vcpus > 1 ? "vCPUs " : vm->n_unidentified_vcpus ? "vCPU " : "some threads",
		vm->n_unidentified_vcpus && list ? list : "", discovery_source_name(vm->source),
		qmp     ? "its monitor did not name them: if the VM is still starting, --wait waits for it"
		: never ? "under TCG, with no monitor and no thread names, its vCPUs cannot be told apart: give "
			  "kvmcg a QMP socket (--qmp) or run QEMU with -name debug-threads=on"
			: "give kvmcg a QMP socket (--qmp), run QEMU with -name debug-threads=on, or, if the VM is "
			  "still starting, --wait");
	return -EAGAIN;
}

int plan_pin(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune,
	     struct plan *ret)
{
	int r = h->held ? 0 : refuse_unidentified(vm);
	if (r < 0)
		return r;
	struct plan p = {.backend = h->backend};
	if (h->vm_dir && !(p.vm_dir = strdup(h->vm_dir)))
		return -ENOMEM;

	struct child *children = NULL;
	size_t n_children = 0;
	bool moved_any = false;
	if (h->backend != BACKEND_AFFINITY) {
		r = plan_cgroups(h, vm, tune, &p, &children, &n_children);
		if (r == 0)
			r = plan_v1cpu(h, vm, &tune->cputune, &p);
		if (r == 0)
			r = plan_v1blkio(h, vm, &tune->iotune, &p);
		if (r < 0)
			goto fail;

		_cleanup_free_ char *emulator_dir = layout_child_path(h->vm_dir, NULL);
		if (!emulator_dir) {
			r = -ENOMEM;
			goto fail;
		}
		/* v2: the whole process into emulator/ first, so threads born meanwhile
		 * are born there. Never again once it is inside the VM's tree: that would
		 * pull the vCPUs back out of their cgroups. */
		bool process_moves = false;
		if (h->backend == BACKEND_CGROUP_V2) {
			for (size_t i = 0; i < vm->n_threads; i++)
				if (vm->threads[i].tid == vm->pid && !cg_path_within(vm->threads[i].cgroup, h->vm_dir))
					process_moves = true;
			if (process_moves)
				r = plan_push(&p, ACT_MOVE_PROCESS, emulator_dir, "cgroup.procs", NULL, vm->pid, NULL);
		}
		for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
			const struct vm_thread *t = &vm->threads[i];
			_cleanup_free_ char *name = layout_child_name(t), *dir = layout_child_path(h->vm_dir, t);
			if (!name || !dir) {
				r = -ENOMEM;
				break;
			}
			bool there = process_moves ? strcmp(name, LAYOUT_EMULATOR) == 0 : plan_in_cgroup(t, dir);
			if (!there) {
				r = plan_push(&p, ACT_MOVE_THREAD, dir, layout_move_file(h->backend), NULL, t->tid, NULL);
				moved_any = true;
			}
		}
		moved_any |= process_moves;
		if (r == 0 && moved_any)
			r = plan_push(&p, ACT_RESCAN, h->vm_dir, NULL, NULL, vm->pid, NULL);
		if (r < 0)
			goto fail;
	}

	/* Affinity last: cgroup moves and cpuset writes reset it on Linux 6.1. */
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct idset *want = vm_tune_cpus_for(tune, t);
		if (h->backend == BACKEND_AFFINITY && !want)
			continue; /* nothing asked for this thread */
		if (!want)
			want = h->effective_cpus; /* unpinned: all that its cgroup allows */
		bool reset = moved_any && h->backend != BACKEND_AFFINITY;
		_cleanup_free_ char *name = layout_child_name(t);
		for (size_t k = 0; name && k < n_children; k++)
			if (strcmp(children[k].name, name) == 0)
				reset |= children[k].written;
		if (reset || !t->affinity || !idset_equal(t->affinity, want))
			r = plan_push(&p, ACT_SET_AFFINITY, NULL, NULL, NULL, t->tid, want);
	}
	if (r == 0)
		r = plan_vcpu_sched(vm, &tune->cputune, &p);
	if (r < 0)
		goto fail;
	for (size_t k = 0; k < n_children; k++)
		free(children[k].name);
	free(children);
	*ret = p;
	return 0;
fail:
	for (size_t k = 0; k < n_children; k++)
		free(children[k].name);
	free(children);
	plan_done(&p);
	return r;
}

int plan_unpin(const struct vm_state *st, const struct vm *vm, struct plan *ret)
{
	struct plan p = {.backend = st->backend};
	int r = 0;
	if (st->vm_dir && !(p.vm_dir = strdup(st->vm_dir)))
		return -ENOMEM;
	const struct thread_origin *main_origin = record_find_thread(st, vm->pid);
	const char *main_cg = cg_relative(main_origin ? main_origin->cgroup : NULL);
	const char *move = layout_move_file(st->backend);

	/* v2: cgroup.procs takes every thread along; the VM's own cgroup accepts them
	 * back while kvmcg's tree in it is threaded (cgroup_migrate_vet_dst()). */
	if (st->backend == BACKEND_CGROUP_V2)
		r = plan_push(&p, ACT_MOVE_PROCESS, main_cg, "cgroup.procs", NULL, vm->pid, NULL);
	for (size_t i = 0; r == 0 && st->backend != BACKEND_AFFINITY && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		const char *cg = cg_relative(o && o->cgroup ? o->cgroup : main_cg);
		if (st->backend == BACKEND_CGROUP_V2 && strcmp(cg, main_cg) == 0)
			continue;
		r = plan_push(&p, ACT_MOVE_THREAD, cg, move, NULL, vm->threads[i].tid, NULL);
	}
	/* the v1 trees: each thread back to its cgroup there (one born since: the main
	 * thread's), before the tree goes */
	for (int t = V1_TREE_NONE + 1; r == 0 && t < V1_TREE_N; t++) {
		const char *main_v1 = main_origin && main_origin->v1_cgroup[t] ? main_origin->v1_cgroup[t] : "";
		for (size_t i = 0; r == 0 && st->v1[t].vm_dir && i < vm->n_threads; i++) {
			const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
			r = plan_v1tree_push(&p, (enum v1_tree)t, ACT_MOVE_THREAD,
					     cg_relative(o && o->v1_cgroup[t] ? o->v1_cgroup[t] : main_v1),
					     layout_move_file(BACKEND_CGROUP_V1), NULL, vm->threads[i].tid);
		}
	}
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		if (!o)
			o = main_origin;
		if (o && o->affinity && idset_count(o->affinity))
			r = plan_push(&p, ACT_SET_AFFINITY, NULL, NULL, NULL, vm->threads[i].tid, o->affinity);
	}
	/* Scheduling classes kvmcg changed go back to what they were. */
	for (size_t i = 0; r == 0 && st->tune.cputune.sched_set && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		if (!o || !o->sched_known)
			continue;
		if ((int)vm->threads[i].stat.policy == o->sched_policy &&
		    vm->threads[i].stat.rt_priority == o->sched_priority)
			continue;
		char v[32];
		sched_format(o->sched_policy, o->sched_priority, v, sizeof(v));
		r = plan_push(&p, ACT_SET_SCHED, NULL, NULL, v, vm->threads[i].tid, NULL);
	}
	if (r == 0)
		r = plan_cleanup(st, &p);
	if (r < 0) {
		plan_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

int plan_cleanup(const struct vm_state *st, struct plan *p)
{
	int r = 0;
	size_t first = p->n_actions;
	/* what kvmcg wrote in cgroups not its own goes back as it was */
	for (size_t i = 0; r == 0 && i < st->n_restore; i++)
		r = plan_push(p, ACT_WRITE_LINE, st->restore[i].dir, st->restore[i].file, st->restore[i].line, 0, NULL);
	/* deepest first: children were recorded after their parents */
	for (size_t i = st->n_created; r == 0 && i-- > 0;)
		r = plan_push(p, ACT_RMDIR, st->created[i], NULL, NULL, 0, NULL);
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++)
		for (size_t i = st->v1[t].n_created; r == 0 && i-- > 0;)
			r = plan_v1tree_push(p, (enum v1_tree)t, ACT_RMDIR, st->v1[t].created[i], NULL, NULL, 0);
	/* a controller can be disabled once no child uses it */
	for (size_t i = st->n_enabled; r == 0 && i-- > 0;) {
		char value[64];
		snprintf(value, sizeof(value), "-%s", st->enabled[i].controller);
		r = plan_push(p, ACT_DISABLE_CONTROLLER, st->enabled[i].dir, "cgroup.subtree_control", value, 0, NULL);
	}
	for (size_t i = first; i < p->n_actions; i++)
		p->actions[i].cleanup = true;
	return r;
}
