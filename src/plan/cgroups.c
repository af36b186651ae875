// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM's cgroup tree and its cpuset: ancestors, the VM's cgroup, one child per thread role (layout.h). */
#include "plan/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "plan/layout.h"
#include "plan/plan-internal.h"

/* Ancestors, top-down, from the mount root to the VM's parent: made where missing,
 * with cpuset (and cpu, for bandwidth, and io) enabled below them on v2; on v1 a new cpuset
 * is empty and takes no task until it has cpus and mems. */
static int plan_ancestors(const struct plan_host *h, bool bandwidth, const char *io_domain, const char *effective_cpus,
			  const char *effective_mems, struct plan *p)
{
	bool v2 = h->backend == BACKEND_CGROUP_V2;
	int r = 0;
	size_t vm_len = strlen(h->vm_dir), io_len = io_domain ? strlen(io_domain) : 0;
	for (size_t i = 0; r == 0 && i < h->n_dirs; i++) {
		const char *path = h->dirs[i].path;
		size_t l = strlen(path);
		if (l >= vm_len || strncmp(h->vm_dir, path, l) != 0 || (l && h->vm_dir[l] != '/'))
			continue;
		const struct cgroup_dir_state *d = h->dirs[i].exists ? &h->dirs[i] : NULL;
		if (!d)
			r = plan_push(p, ACT_MKDIR, path, NULL, NULL, 0, NULL);
		if (r == 0 && v2 && !plan_has_controller(d, "cpuset"))
			r = plan_push(p, ACT_ENABLE_CONTROLLER, path, "cgroup.subtree_control", "+cpuset", 0, NULL);
		/* cpu.weight and cpu.max of the VM's cgroup exist once its parent enables cpu */
		if (r == 0 && v2 && bandwidth && !plan_has_controller(d, "cpu"))
			r = plan_push(p, ACT_ENABLE_CONTROLLER, path, "cgroup.subtree_control", "+cpu", 0, NULL);
		/* io.* of the VM's domain cgroup (iotune.c), likewise, above it */
		bool above_domain = io_domain && l < io_len && cg_path_within(io_domain, path);
		if (r == 0 && v2 && above_domain && !plan_has_controller(d, "io"))
			r = plan_push(p, ACT_ENABLE_CONTROLLER, path, "cgroup.subtree_control", "+io", 0, NULL);
		if (r == 0 && !v2 && l > 0 && (!d || !d->cpus || !*d->cpus))
			r = plan_push(p, ACT_WRITE, path, "cpuset.cpus", effective_cpus, 0, NULL);
		if (r == 0 && !v2 && l > 0 && (!d || !d->mems || !*d->mems))
			r = plan_push(p, ACT_WRITE, path, "cpuset.mems", effective_mems, 0, NULL);
	}
	return r;
}

/* The VM's own cgroup: made, threaded from the top when it is inside the VM's own
 * cgroup (which then stays the VM's resource domain, with its limits), its memory
 * nodes and CPU bandwidth (v2), or its cpuset (v1). */
static int plan_vm_cgroup(const struct plan_host *h, const struct cgroup_dir_state *vmd, const struct vm_tune *tune,
			  const char *mems, const char *effective_cpus, const char *effective_mems, struct plan *p)
{
	bool v2 = h->backend == BACKEND_CGROUP_V2;
	int r = 0;
	if (!vmd)
		r = plan_push(p, ACT_MKDIR, h->vm_dir, NULL, NULL, 0, NULL);
	if (r == 0 && v2 && h->vm_threaded && (!vmd || !vmd->threaded))
		r = plan_push(p, ACT_SET_THREADED, h->vm_dir, "cgroup.type", "threaded", 0, NULL);
	if (r == 0 && v2 && mems && !plan_same_text(vmd ? vmd->mems : NULL, mems))
		r = plan_push(p, ACT_WRITE, h->vm_dir, "cpuset.mems", mems, 0, NULL);
	if (r == 0 && v2)
		r = plan_cputune_files(h->vm_dir, vmd, &tune->cputune, p);
	if (r == 0 && !v2 && (!vmd || !plan_same_text(vmd->cpus, effective_cpus)))
		r = plan_push(p, ACT_WRITE, h->vm_dir, "cpuset.cpus", effective_cpus, 0, NULL);
	if (r == 0 && !v2 && (!vmd || !plan_same_text(vmd->mems, effective_mems)))
		r = plan_push(p, ACT_WRITE, h->vm_dir, "cpuset.mems", effective_mems, 0, NULL);
	return r;
}

static void children_free(struct child *children, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(children[k].name);
	free(children);
}

/* The VM's child cgroups, one per name layout.h gives its threads, the emulator's
 * first (the whole process goes there). Refuses two iothreads whose long ids were
 * cut to the same name plus the same hash: they would share a cgroup, and one be
 * pinned with the other's CPUs. */
static int collect_children(const struct vm *vm, const struct vm_tune *tune, struct child **ret, size_t *ret_n)
{
	size_t n = 0;
	int r = 0;
	struct child *children = calloc(vm->n_threads + 1, sizeof(*children));
	if (!children)
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		_cleanup_free_ char *name = layout_child_name(t);
		if (!name) {
			r = -ENOMEM;
			break;
		}
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= strcmp(children[k].name, name) == 0;
		for (size_t j = 0; seen && t->kind == THREAD_IOTHREAD && j < i; j++)
			if (vm->threads[j].kind == THREAD_IOTHREAD &&
			    strcmp(vm->threads[j].iothread_id, t->iothread_id) != 0) {
				_cleanup_free_ char *other = layout_child_name(&vm->threads[j]);
				if (other && strcmp(other, name) == 0) {
					err_set("iothreads '%s' and '%s' would share the cgroup %s; rename one",
						vm->threads[j].iothread_id, t->iothread_id, name);
					r = -EINVAL;
				}
			}
		if (seen)
			continue;
		struct child c = {.name = TAKE_PTR(name), .cpus = vm_tune_cpus_for(tune, t)};
		if (strcmp(c.name, LAYOUT_EMULATOR) == 0 && n > 0) {
			memmove(children + 1, children, n * sizeof(*children));
			children[0] = c;
		} else
			children[n] = c;
		n++;
	}
	if (r < 0) {
		children_free(children, n);
		return r;
	}
	*ret = children;
	*ret_n = n;
	return 0;
}

/* Each child: made, threaded (v2), its cpuset. */
static int plan_children(const struct plan_host *h, const struct cgroup_dir_state *vmd, const char *mems,
			 bool migrate, const char *effective_cpus, const char *effective_mems, struct child *children, size_t n,
			 struct plan *p)
{
	bool v2 = h->backend == BACKEND_CGROUP_V2;
	bool vm_enabled = plan_has_controller(vmd, "cpuset");
	int r = 0;
	for (size_t k = 0; r == 0 && k < n; k++) {
		_cleanup_free_ char *path = NULL, *cpus = plan_format_or_empty(children[k].cpus);
		if (asprintf(&path, "%s/%s", h->vm_dir, children[k].name) < 0 || !cpus)
			return -ENOMEM;
		const struct cgroup_dir_state *d = plan_find_dir(h, path);
		if (!d)
			r = plan_push(p, ACT_MKDIR, path, NULL, NULL, 0, NULL);
		if (r == 0 && v2 && (!d || !d->threaded))
			r = plan_push(p, ACT_SET_THREADED, path, "cgroup.type", "threaded", 0, NULL);
		/* cpuset files appear in the children once the VM's cgroup enables cpuset:
		 * after the first child is threaded, so the VM becomes a threaded domain. */
		if (r == 0 && v2 && !vm_enabled) {
			r = plan_push(p, ACT_ENABLE_CONTROLLER, h->vm_dir, "cgroup.subtree_control", "+cpuset", 0, NULL);
			vm_enabled = true;
		}
		if (r == 0 && !v2) {
			const char *want_cpus = children[k].cpus ? cpus : effective_cpus;
			const char *want_mems = mems ? mems : effective_mems;
			/* v1 moves a task's pages with it, and when cpuset.mems changes, only
			 * when asked to: asked (or not) before mems change. */
			if (!d || d->memory_migrate != migrate)
				r = plan_push(p, ACT_WRITE, path, "cpuset.memory_migrate", migrate ? "1" : "0", 0, NULL);
			if (r == 0 && (!d || !plan_same_text(d->cpus, want_cpus))) {
				r = plan_push(p, ACT_WRITE, path, "cpuset.cpus", want_cpus, 0, NULL);
				children[k].written = true;
			}
			if (r == 0 && (!d || !plan_same_text(d->mems, want_mems))) {
				r = plan_push(p, ACT_WRITE, path, "cpuset.mems", want_mems, 0, NULL);
				children[k].written = true;
			}
		} else if (r == 0 && (!d || !plan_same_text(d->cpus, cpus))) {
			/* A fresh v2 cgroup inherits: nothing to write for an unpinned one. */
			if (d || children[k].cpus) {
				r = plan_push(p, ACT_WRITE, path, "cpuset.cpus", *cpus ? cpus : "\n", 0, NULL);
				children[k].written = true;
			}
		}
	}
	return r;
}

int plan_cgroups(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune,
			struct plan *p, struct child **ret_children, size_t *ret_n)
{
	_cleanup_free_ char *effective_cpus = idset_format(h->effective_cpus);
	_cleanup_free_ char *effective_mems = idset_format(h->effective_mems);
	_cleanup_free_ char *mems = tune->mems ? idset_format(tune->mems) : NULL;
	if (!effective_cpus || !effective_mems || (tune->mems && !mems))
		return -ENOMEM;
	bool bandwidth = tune->cputune.weight || tune->cputune.quota_set;
	const struct cgroup_dir_state *vmd = plan_find_dir(h, h->vm_dir);
	/* the io files' cgroup: the VM's own, or, its tree being threaded inside it, the
	 * launcher's cgroup that holds it */
	_cleanup_free_ char *io_domain = NULL;
	if (h->backend == BACKEND_CGROUP_V2 && iotune_any(&tune->iotune) &&
	    !(io_domain = h->vm_threaded ? layout_parent(h->vm_dir) : strdup(h->vm_dir)))
		return -ENOMEM;
	int r = plan_ancestors(h, bandwidth, io_domain, effective_cpus, effective_mems, p);
	if (r == 0)
		r = plan_vm_cgroup(h, vmd, tune, mems, effective_cpus, effective_mems, p);
	if (r == 0 && io_domain)
		r = plan_iotune_files(io_domain, plan_find_dir(h, io_domain), &tune->iotune, p);
	struct child *children = NULL;
	size_t n = 0;
	if (r == 0)
		r = collect_children(vm, tune, &children, &n);
	if (r == 0)
		r = plan_children(h, vmd, mems, !tune->mem_no_migrate, effective_cpus, effective_mems, children, n, p);
	if (r < 0) {
		children_free(children, n);
		return r;
	}
	*ret_children = children;
	*ret_n = n;
	return 0;
}
