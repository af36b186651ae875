// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/observe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "plan/layout.h"

/* path's state. Its files are read through the cache (cg_dircache_read: a child of a
 * cached directory needs no fd of its own); listed says it is known to exist (its
 * parent's listing has it), else the cache opens it to find out; io: its io files too. */
static int read_dir_state(struct cg_dircache *dirs, const char *path, bool v2, bool io, bool listed,
			  struct cgroup_dir_state *ret)
{
	struct cgroup_dir_state d = {0};
	if (!(d.path = strdup(path)))
		return -ENOMEM;
	int fd = listed ? 0 : cg_dircache_get(dirs, path);
	if (fd < 0) {
		*ret = d;
		return fd == -ENOENT ? 0 : fd;
	}
	d.exists = true;
	_cleanup_free_ char *type = NULL, *mm = NULL;
	if (v2) {
		if (cg_dircache_read(dirs, path, "cgroup.type", &type) == 0)
			d.threaded = strcmp(type, "threaded") == 0;
		(void)cg_dircache_read(dirs, path, "cgroup.subtree_control", &d.subtree_control);
	} else if (cg_dircache_read(dirs, path, "cpuset.memory_migrate", &mm) == 0) {
		d.memory_migrate = strcmp(mm, "1") == 0;
	}
	(void)cg_dircache_read(dirs, path, "cpuset.cpus", &d.cpus);
	(void)cg_dircache_read(dirs, path, "cpuset.mems", &d.mems);
	if (v2) {
		(void)cg_dircache_read(dirs, path, "cpu.weight", &d.cpu_weight);
		(void)cg_dircache_read(dirs, path, "cpu.max", &d.cpu_max);
	}
	if (v2 && io && !listed) { /* the root, the ancestors, the VM's directory: a domain may be among them */
		(void)cg_dircache_read(dirs, path, "io.max", &d.io_max);
		(void)cg_dircache_read(dirs, path, "io.weight", &d.io_weight);
		(void)cg_dircache_read(dirs, path, "io.bfq.weight", &d.io_bfq_weight);
	}
	*ret = d;
	return 0;
}

void dir_states_done(struct dir_states *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].subtree_control);
		free(s->v[i].cpus);
		free(s->v[i].mems);
		free(s->v[i].cpu_weight);
		free(s->v[i].cpu_max);
		free(s->v[i].cpu_shares);
		free(s->v[i].cfs_quota_us);
		free(s->v[i].cfs_period_us);
		for (int f = 0; f < BLKIO_FILE_N; f++)
			free(s->v[i].blkio[f]);
		free(s->v[i].io_max);
		free(s->v[i].io_weight);
		free(s->v[i].io_bfq_weight);
	}
	free(s->v);
}

/* How a directory's existence is known before its files are read. */
enum presence {
	PRESENCE_ASK,     /* open it to find out */
	PRESENCE_LISTED,  /* its parent lists it */
	PRESENCE_MISSING, /* below a directory that does not exist, or not listed in it */
};

/* path's state, read from the kernel; or, when it is known to be missing, without
 * asking. */
static int add_dir_state(struct dir_states *s, struct cg_dircache *dirs, const char *path, bool v2, bool io,
			 enum presence presence)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return 0;
	struct cgroup_dir_state *n = realloc(s->v, (s->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->v = n;
	int r = 0;
	if (presence == PRESENCE_MISSING) {
		s->v[s->n] = (struct cgroup_dir_state){.path = strdup(path)};
		r = s->v[s->n].path ? 0 : -ENOMEM;
	} else
		r = read_dir_state(dirs, path, v2, io, presence == PRESENCE_LISTED, &s->v[s->n]);
	if (r == 0)
		s->n++;
	return r;
}

static bool listed(char **names, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	for (char **p = names; p && *p; p++)
		if (strcmp(*p, base) == 0)
			return true;
	return false;
}

int observe_dirs(struct cg_dircache *dirs, const char *vm_dir, const struct vm *vm, enum pin_backend backend,
		 bool io, struct dir_states *ret)
{
	bool v2 = backend == BACKEND_CGROUP_V2;
	struct dir_states s = {0};
	int r = add_dir_state(&s, dirs, "", v2, io, PRESENCE_ASK);
	for (const char *p = vm_dir; r == 0 && p;) {
		const char *slash = strchr(p, '/');
		_cleanup_free_ char *prefix = strndup(vm_dir, slash ? (size_t)(slash - vm_dir) : strlen(vm_dir));
		r = prefix ? add_dir_state(&s, dirs, prefix, v2, io, PRESENCE_ASK) : -ENOMEM;
		p = slash ? slash + 1 : NULL;
	}
	/* No VM directory yet (a first pin): no child of it either, and nothing to ask.
	 * Else one listing of it says which children exist. */
	bool vm_dir_exists = false;
	for (size_t i = 0; r == 0 && i < s.n; i++)
		vm_dir_exists |= strcmp(s.v[i].path, vm_dir) == 0 && s.v[i].exists;
	char **children = NULL;
	size_t n_children = 0;
	if (r == 0 && vm_dir_exists) {
		int fd = cg_dircache_get(dirs, vm_dir);
		r = fd < 0 ? fd : cg_child_names(fd, &children, &n_children);
	}
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		_cleanup_free_ char *path = layout_child_path(vm_dir, &vm->threads[i]);
		r = path ? add_dir_state(&s, dirs, path, v2, io,
					 listed(children, path) ? PRESENCE_LISTED : PRESENCE_MISSING)
			 : -ENOMEM;
	}
	strv_free(children);
	if (r < 0) {
		dir_states_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

/* One cgroup of a v1 tree: its files (cpu's, or blkio's), or exists false (and, below
 * a missing one, nothing asked: *missing). */
static int add_v1_state(struct dir_states *s, struct cg_dircache *dirs, enum v1_tree tree, const char *path,
			bool *missing)
{
	struct cgroup_dir_state *n = realloc(s->v, (s->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->v = n;
	struct cgroup_dir_state d = {.path = strdup(path)};
	if (!d.path)
		return -ENOMEM;
	int fd = *missing ? -ENOENT : cg_dircache_get(dirs, path);
	if (fd >= 0 && tree == V1_TREE_BLKIO) {
		d.exists = true;
		for (int f = 0; f < BLKIO_FILE_N; f++)
			(void)cg_dircache_read(dirs, path, blkio_file_name((enum blkio_file)f), &d.blkio[f]);
	} else if (fd >= 0) {
		d.exists = true;
		(void)cg_dircache_read(dirs, path, "cpu.shares", &d.cpu_shares);
		(void)cg_dircache_read(dirs, path, "cpu.cfs_quota_us", &d.cfs_quota_us);
		(void)cg_dircache_read(dirs, path, "cpu.cfs_period_us", &d.cfs_period_us);
	}
	*missing |= !d.exists;
	s->v[s->n++] = d;
	return fd >= 0 || fd == -ENOENT ? 0 : fd;
}

int observe_v1tree_dirs(struct cg_dircache *dirs, enum v1_tree tree, const char *vm_dir, struct dir_states *ret)
{
	struct dir_states s = {0};
	bool missing = false;
	int r = add_v1_state(&s, dirs, tree, "", &missing);
	for (const char *p = vm_dir; r == 0 && p && *p;) {
		const char *slash = strchr(p, '/');
		_cleanup_free_ char *prefix = strndup(vm_dir, slash ? (size_t)(slash - vm_dir) : strlen(vm_dir));
		r = prefix ? add_v1_state(&s, dirs, tree, prefix, &missing) : -ENOMEM;
		p = slash ? slash + 1 : NULL;
	}
	if (r < 0) {
		dir_states_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}
