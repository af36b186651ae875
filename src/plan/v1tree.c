// SPDX-License-Identifier: GPL-2.0-or-later
/* A VM's second tree in one v1 hierarchy (cpu, blkio), beside its cpuset tree, on a
 * v1 or hybrid host: the directories down to the VM's one cgroup there, its files,
 * and every thread of the VM moved into it. On v1 a thread may sit in a different
 * cgroup in each hierarchy (Documentation/admin-guide/cgroup-v1/cgroups.rst, 1.2),
 * so each tree takes the VM's threads by TID through its own tasks file. */
#include "plan/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "plan/layout.h"
#include "plan/plan-internal.h"

int plan_v1tree_push(struct plan *p, enum v1_tree tree, enum action_kind kind, const char *dir, const char *file,
		     const char *value, pid_t tid)
{
	int r = plan_push(p, kind, dir, file, value, tid, NULL);
	if (r == 0)
		p->actions[p->n_actions - 1].tree = tree;
	return r;
}

const struct cgroup_dir_state *plan_v1tree_dir(const struct plan_host *h, enum v1_tree tree, const char *path)
{
	const struct plan_v1_host *t = &h->v1[tree];
	for (size_t i = 0; i < t->n_dirs; i++)
		if (strcmp(t->dirs[i].path, path) == 0)
			return t->dirs[i].exists ? &t->dirs[i] : NULL;
	return NULL;
}

int plan_v1tree_write(struct plan *p, enum v1_tree tree, const char *dir, const struct cgroup_dir_state *d,
		      const char *have, const char *file, const char *value)
{
	return d && plan_same_text(have, value) ? 0 : plan_v1tree_push(p, tree, ACT_WRITE, dir, file, value, 0);
}

int plan_v1tree_begin(const struct plan_host *h, enum v1_tree tree, struct plan *p,
		      const struct cgroup_dir_state **ret_dir)
{
	const char *vm_dir = h->v1[tree].vm_dir;
	*ret_dir = NULL;
	if (!vm_dir)
		return 0;
	if (!(p->v1_vm_dir[tree] = strdup(vm_dir)))
		return -ENOMEM;
	int r = 0;
	/* top-down, each missing one made: a new v1 cgroup takes tasks at once */
	for (const char *s = vm_dir; r == 0 && s;) {
		const char *slash = strchr(s, '/');
		_cleanup_free_ char *prefix = strndup(vm_dir, slash ? (size_t)(slash - vm_dir) : strlen(vm_dir));
		if (!prefix)
			return -ENOMEM;
		if (!plan_v1tree_dir(h, tree, prefix))
			r = plan_v1tree_push(p, tree, ACT_MKDIR, prefix, NULL, NULL, 0);
		s = slash ? slash + 1 : NULL;
	}
	*ret_dir = plan_v1tree_dir(h, tree, vm_dir);
	return r < 0 ? r : 1;
}

int plan_v1tree_threads(const struct plan_host *h, enum v1_tree tree, const struct vm *vm, struct plan *p)
{
	const struct plan_v1_host *t = &h->v1[tree];
	int r = 0;
	for (size_t i = 0; r == 0 && t->vm_dir && i < vm->n_threads; i++) {
		const char *cg = t->cgroups ? t->cgroups[i] : NULL;
		if (!cg || strcmp(cg_relative(cg), t->vm_dir) != 0)
			r = plan_v1tree_push(p, tree, ACT_MOVE_THREAD, t->vm_dir, layout_move_file(BACKEND_CGROUP_V1),
					     NULL, vm->threads[i].tid);
	}
	return r;
}
