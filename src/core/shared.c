// SPDX-License-Identifier: GPL-2.0-or-later
/* The changes a pin makes to cgroups that are no single VM's (state/shared.h): noted
 * before the run, settled after it, taken back by the last VM to need them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "state/shared.h"

bool txn_action_shared(const struct action *a, const struct place *pl)
{
	/* a v1 tree: kvmcg/ above the VM's directory there */
	if (a->tree != V1_TREE_NONE)
		return pl->v1[a->tree].vm_dir && a->kind == ACT_MKDIR && !cg_path_within(a->dir, pl->v1[a->tree].vm_dir);
	if (!pl->vm_dir || (a->kind != ACT_MKDIR && a->kind != ACT_ENABLE_CONTROLLER))
		return false;
	if (cg_path_within(a->dir, pl->vm_dir))
		return false;
	/* In place, the VM's own cgroup is the VM's: its record holds what was enabled there. */
	if (a->kind == ACT_ENABLE_CONTROLLER && pl->kind == LAYOUT_IN_PLACE) {
		_cleanup_free_ char *parent = layout_parent(pl->vm_dir);
		if (!parent || strcmp(parent, a->dir) == 0)
			return false;
	}
	return true;
}

/* The mount of a's hierarchy, and its fd. */
static const char *mount_of(const struct action *a, const struct place *pl)
{
	return a->tree != V1_TREE_NONE ? pl->v1[a->tree].mount : pl->host.mount;
}

static int mount_fd_of(const struct action *a, const struct place *pl)
{
	return a->tree != V1_TREE_NONE ? pl->v1[a->tree].dirs.mount_fd : pl->mount_fd;
}

/* "+cpuset" -> "cpuset"; NULL for a directory. */
static const char *controller_of(const struct action *a)
{
	return a->kind == ACT_ENABLE_CONTROLLER ? a->value + 1 : NULL;
}

static bool plan_has_shared(const struct plan *p, const struct place *pl)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (txn_action_shared(&p->actions[i], pl))
			return true;
	return false;
}

int txn_shared_note(int state_fd, const struct plan *p, const struct place *pl)
{
	if (!plan_has_shared(p, pl))
		return 0; /* the common case: not a file touched */
	struct shared_state s;
	int r = shared_load(state_fd, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (!txn_action_shared(a, pl))
			continue;
		r = shared_add(&s, mount_of(a, pl), a->dir, controller_of(a));
		/* listed done, yet to be made again: someone took it back meanwhile; this
		 * run's is planned until it settles */
		ssize_t k = r == 0 ? shared_find(&s, mount_of(a, pl), a->dir, controller_of(a)) : -1;
		if (k >= 0) {
			s.v[k].done = false;
			s.v[k].inode = 0;
		}
	}
	if (r == 0)
		r = shared_save(state_fd, &s);
	shared_state_done(&s);
	return r;
}

int txn_shared_settle(int state_fd, const struct plan *p, const struct undo_log *log, const struct place *pl)
{
	if (!plan_has_shared(p, pl))
		return 0;
	struct shared_state s;
	int r = shared_load(state_fd, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (!txn_action_shared(a, pl))
			continue;
		ssize_t k = shared_find(&s, mount_of(a, pl), a->dir, controller_of(a));
		if (k < 0)
			continue;
		/* in effect: carried out, by this run, and not undone */
		const struct undo_entry *e = undo_log_find(log, i);
		struct shared_change *c = &s.v[k];
		struct stat st;
		int fd = -1;
		if (e && (e->created || e->changed) && !e->undone && a->kind == ACT_MKDIR &&
		    (fd = cg_open_path(mount_fd_of(a, pl), a->dir)) >= 0 && fstat(fd, &st) == 0) {
			c->done = true;
			c->inode = (unsigned long long)st.st_ino;
		} else if (e && e->changed && !e->undone && a->kind == ACT_ENABLE_CONTROLLER)
			c->done = true;
		else
			shared_drop(&s, (size_t)k); /* not kvmcg's doing after all */
		if (fd >= 0)
			close(fd);
	}
	r = shared_save(state_fd, &s);
	shared_state_done(&s);
	return r;
}

static size_t depth_of(const char *dir)
{
	size_t n = *dir ? 1 : 0;
	for (const char *p = dir; *p; p++)
		n += *p == '/';
	return n;
}

/* Deepest first; in one directory its controllers before the directory itself. */
static int deeper_first(const void *x, const void *y)
{
	const struct shared_change *a = x, *b = y;
	size_t da = depth_of(a->dir), db = depth_of(b->dir);
	if (da != db)
		return da > db ? -1 : 1;
	int c = strcmp(a->dir, b->dir);
	if (c != 0)
		return c;
	return (a->controller ? 0 : 1) - (b->controller ? 0 : 1);
}

/* One change taken back if nothing needs it: 1 when it is no longer in effect (taken
 * back, or undone by someone else) or no longer kvmcg's to take back, 0 when
 * something still needs it, or a negative errno (ex->failed says why). */
static int release_one(struct exec_ctx *ex, const struct shared_change *c)
{
	/* a run killed before it settled: whether it made this is not known */
	if (!c->done)
		return 1;
	char value[64];
	struct action a = {.dir = c->dir, .cleanup = true};
	if (c->controller) {
		snprintf(value, sizeof(value), "-%s", c->controller);
		a.kind = ACT_DISABLE_CONTROLLER;
		a.file = (char *)"cgroup.subtree_control";
		a.value = value;
	} else {
		/* a directory with cgroups below it is another VM's way down: kept, without
		 * waiting on the kernel's EBUSY */
		int fd = cg_open_path(ex->mount_fd, c->dir);
		struct stat st;
		/* removed and made again since, by someone else: theirs */
		if (fd >= 0 && (fstat(fd, &st) < 0 || (unsigned long long)st.st_ino != c->inode)) {
			close(fd);
			return 1;
		}
		int k = fd < 0 ? fd : cg_has_children(fd);
		if (fd >= 0)
			close(fd);
		if (k == -ENOENT)
			return 1;
		if (k != 0)
			return k > 0 ? 0 : k;
		a.kind = ACT_RMDIR;
	}
	int r = exec_cleanup_step(ex, &a);
	if (r == -EBUSY || r == -ENOTEMPTY)
		return 0;
	return r < 0 ? r : 1;
}

int txn_shared_release(const struct txn_env *env, int state_fd, const char *mount, int mount_fd, const char *vm_dir,
		       int timeout_ms, char **ret_warning)
{
	*ret_warning = NULL;
	if (!mount || mount_fd < 0 || !vm_dir)
		return 0;
	int lock_fd = -1;
	_cleanup_free_ char *holder = NULL;
	err_clear();
	int r = shared_lock(state_fd, timeout_ms, "release", &lock_fd, &holder);
	if (r < 0) {
		if (asprintf(ret_warning, "cgroups other VMs may share were not looked at: %s",
			     r == -ETIMEDOUT ? (holder ? holder : "another kvmcg run") : err_get() ? err_get() : strerror(-r)) < 0)
			*ret_warning = NULL;
		return r;
	}
	struct shared_state s;
	r = shared_load(state_fd, &s);
	if (r < 0) {
		*ret_warning = strdup(err_get() ? err_get() : strerror(-r));
		shared_unlock(state_fd, lock_fd);
		return r;
	}
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), deeper_first);
	struct vm none = {0};
	struct exec_ctx ex = {.mount_fd = mount_fd, .pidfd = -1, .task_fd = -1, .proc_fd = env->proc_fd, .vm = &none};
	bool changed = false;
	for (size_t i = 0; i < s.n;) {
		/* only on the way down to this VM's directory: what a record kvmcg
		 * checked leads to (a list that names other cgroups moves nothing) */
		if (strcmp(s.v[i].mount, mount) != 0 || !cg_path_within(vm_dir, s.v[i].dir) ||
		    strcmp(vm_dir, s.v[i].dir) == 0) {
			i++;
			continue;
		}
		int k = release_one(&ex, &s.v[i]);
		if (k > 0) {
			shared_drop(&s, i);
			changed = true;
			continue;
		}
		if (k < 0 && !*ret_warning &&
		    asprintf(ret_warning, "could not take back a change kvmcg made for VMs (%s); kept for the next run",
			     ex.failed ? ex.failed : strerror(-k)) < 0)
			*ret_warning = NULL;
		if (k < 0 && r == 0)
			r = k;
		i++;
	}
	if (changed) {
		int k = shared_save(state_fd, &s);
		if (k < 0 && r == 0)
			r = k;
	}
	exec_done(&ex);
	shared_state_done(&s);
	shared_unlock(state_fd, lock_fd);
	return r;
}
