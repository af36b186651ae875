// SPDX-License-Identifier: GPL-2.0-or-later
/* One VM's transaction: lock, place, plan, record, execute, verify, record. */
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

#include "kernel/cgroupfs.h"
#include "basic/err.h"
#include "exec/exec.h"
#include "state/state.h"
#include "basic/trust.h"
#include "basic/util.h"

void pin_args_done(struct pin_args *a)
{
	tune_request_done(&a->req);
	*a = (struct pin_args){0};
}

void pin_result_done(struct pin_result *r)
{
	strv_free(r->skipped);
	strv_free(r->warnings);
	free(r->message);
	free(r->problem);
	free(r->mount);
	free(r->vm_dir);
	plan_done(&r->plan);
	vm_tune_done(&r->tune);
	*r = (struct pin_result){0};
}

__attribute__((format(printf, 3, 4))) static int fail(struct pin_result *res, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(res->message);
	if (vasprintf(&res->message, fmt, ap) < 0)
		res->message = NULL;
	va_end(ap);
	res->result = TXN_FAILED;
	return code;
}

__attribute__((format(printf, 2, 3))) static void warn(struct pin_result *res, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s)
		(void)strv_push(&res->warnings, &res->n_warnings, s);
}

/* "a, b, c" of a list, or NULL when out of memory. */
static char *joined(char *const *v, size_t n, const char *sep)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? sep : "", v[i]);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the VM's threads, again ---------------------------------------------------------------- */

static const struct vm_thread *main_thread(const struct vm *vm)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == vm->pid)
			return &vm->threads[i];
	return NULL;
}

/* ---- where the VM's cgroups go ---------------------------------------------------------------- */

struct place {
	struct cgroup_host host;
	int mount_fd;
	enum layout_kind kind;
	char *cgroup_root;   /* --cgroup-root relative to the mount */
	char *vm_dir;        /* relative to the mount */
	char *owned;         /* kvmcg's own cgroups a thread may be found in (layout_owned_root) */
	char **adopted;      /* directories of an earlier pin whose record is gone, now ours */
	size_t n_adopted;
	struct idset *effective_cpus, *effective_mems; /* what the VM's cgroups may use */
};

static void place_done(struct place *p)
{
	cgroup_host_done(&p->host);
	if (p->mount_fd >= 0)
		close(p->mount_fd);
	free(p->cgroup_root);
	free(p->vm_dir);
	free(p->owned);
	strv_free(p->adopted);
	idset_free(p->effective_cpus);
	idset_free(p->effective_mems);
}

static int read_set(int mount_fd, const char *dir, const char *file, struct idset **ret)
{
	_cleanup_close_ int fd = cg_open_path(mount_fd, dir);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *v = NULL;
	int r = cg_read(fd, file, &v);
	if (r < 0)
		return r;
	return idset_parse(v, ret, NULL);
}

/* What the VM's cgroups may use: the cpus and mems of the nearest existing cgroup
 * above its directory (effective ones on v2; v1 cpusets hold them explicitly). The
 * VM's directory and the ones above it may not exist yet: they will inherit that. */
static int read_allowed(struct place *p)
{
	bool v2 = p->host.backend == BACKEND_CGROUP_V2;
	_cleanup_free_ char *dir = layout_parent(p->vm_dir);
	if (!dir)
		return -ENOMEM;
	int r;
	for (;;) {
		r = read_set(p->mount_fd, dir, v2 ? "cpuset.cpus.effective" : "cpuset.cpus", &p->effective_cpus);
		if (r != -ENOENT || !*dir)
			break;
		char *up = layout_parent(dir);
		if (!up)
			return -ENOMEM;
		free(dir);
		dir = up;
	}
	if (r == 0)
		r = read_set(p->mount_fd, dir, v2 ? "cpuset.mems.effective" : "cpuset.mems", &p->effective_mems);
	if (r < 0)
		err_set("cannot read the cpus and mems of cgroup /%s in %s: %s", dir, p->host.mount,
			cg_strerror(r, NULL));
	return r;
}

/* In affinity mode sched_setaffinity is bounded by each thread's cpuset: what all the
 * VM's threads' cpusets allow, where a cpuset hierarchy can be read; else online. */
static int read_allowed_affinity(const struct txn_env *env, const struct vm *vm, struct place *p)
{
	struct cgroup_host h = {0};
	if (cgroup_host_detect(env->proc_fd, &h) < 0 || h.backend == BACKEND_AFFINITY) {
		cgroup_host_done(&h);
		return 0;
	}
	_cleanup_close_ int mfd = open(h.mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
	bool v2 = h.backend == BACKEND_CGROUP_V2;
	for (size_t i = 0; mfd >= 0 && i < vm->n_threads; i++) {
		const char *cg = vm->threads[i].cgroup;
		if (!cg || vm->threads[i].cgroup_v1 == v2)
			continue;
		struct idset *s _cleanup_cpuset_ = NULL;
		if (read_set(mfd, *cg == '/' ? cg + 1 : cg, v2 ? "cpuset.cpus.effective" : "cpuset.cpus", &s) < 0)
			continue;
		if (!p->effective_cpus) {
			p->effective_cpus = TAKE_PTR(s);
			continue;
		}
		for (int b = 0; b <= idset_last(p->effective_cpus); b++)
			if (!idset_isset(s, (unsigned)b) && idset_isset(p->effective_cpus, (unsigned)b)) {
				struct idset *n = idset_new();
				for (int k = 0; n && k <= idset_last(p->effective_cpus); k++)
					if (idset_isset(p->effective_cpus, (unsigned)k) && idset_isset(s, (unsigned)k))
						idset_set(n, (unsigned)k);
				idset_free(p->effective_cpus);
				p->effective_cpus = n;
				break;
			}
	}
	cgroup_host_done(&h);
	return 0;
}

/* --cgroup-root: absolute, inside a hierarchy with cpuset, not its root, no "." or
 * "..", each component a possible cgroup name. Returns it relative to the mount. */
static int resolve_cgroup_root(const struct txn_env *env, const char *root, struct place *p)
{
	if (root[0] != '/') {
		err_set("--cgroup-root %s: give an absolute path", root);
		return -EINVAL;
	}
	if (cgroup_host_for_path(env->proc_fd, root, &p->host) < 0) {
		err_set("--cgroup-root %s: not inside a cgroup hierarchy that has the cpuset controller", root);
		return -EINVAL;
	}
	const char *rel = root + strlen(p->host.mount);
	while (*rel == '/')
		rel++;
	_cleanup_free_ char *copy = strdup(rel), *why = NULL;
	if (!copy)
		return -ENOMEM;
	for (size_t l = strlen(copy); l > 0 && copy[l - 1] == '/'; l--)
		copy[l - 1] = '\0';
	if (!*copy) {
		err_set("--cgroup-root %s: kvmcg needs a cgroup of its own, not the hierarchy's root", root);
		return -EINVAL;
	}
	if (cg_path_check(copy, &why) < 0) {
		err_set("--cgroup-root %s: %s", root, why ? why : "not a plain path");
		return -EINVAL;
	}
	p->cgroup_root = TAKE_PTR(copy);
	return 0;
}

/* A --cgroup-root inside a VM's tree would put one VM's cgroups among another's: not
 * inside a kvmcg/ tree (but kvmcg/ itself), nor inside any recorded VM's directory. */
static int root_outside_vms(const char *rel, const char *given, int state_fd)
{
	_cleanup_free_ char *home = layout_home(rel);
	if (!home)
		return -ENOMEM;
	const char *inside = strcmp(home, rel) != 0 && strcmp(rel, LAYOUT_ROOT) != 0 ? rel : NULL;
	struct vm_state *states = NULL;
	size_t n = 0;
	_cleanup_free_ char *vm_dir = NULL;
	if (!inside && state_fd >= 0 && state_load_all(state_fd, &states, &n) == 0)
		for (size_t i = 0; i < n && !vm_dir; i++)
			if (states[i].vm_dir && layout_within(rel, states[i].vm_dir))
				vm_dir = strdup(states[i].vm_dir);
	vm_states_free(states, n);
	if (inside || vm_dir) {
		err_set("--cgroup-root %s: it is inside %s; a VM's cgroups go in a cgroup of their own", given,
			vm_dir ? "another VM's cgroups" : "a tree of cgroups kvmcg made for a VM");
		return -EINVAL;
	}
	return 0;
}

/* Processes in a cgroup: a cgroup.procs file's pids other than `except`, up to max
 * of them into others (a short list for a message); the count of all. */
static size_t other_procs(int dirfd, pid_t except, pid_t *others, size_t max)
{
	_cleanup_free_ char *buf = NULL;
	if (cg_read(dirfd, "cgroup.procs", &buf) < 0)
		return 0;
	size_t n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		pid_t pid;
		if (parse_pid(tok, &pid) < 0 || pid == except)
			continue;
		if (n < max)
			others[n] = pid;
		n++;
	}
	return n;
}

/* Processes anywhere below dirfd, skipping a child named skip (kvmcg's own tree). */
static size_t procs_below(int dirfd, const char *skip, pid_t except, pid_t *others, size_t max, int depth)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.' || (skip && strcmp(de->d_name, skip) == 0))
			continue;
		_cleanup_close_ int sub = openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		size_t k = other_procs(sub, except, others + (n < max ? n : max), n < max ? max - n : 0);
		n += k;
		if (depth < 16)
			n += procs_below(sub, NULL, except, others + (n < max ? n : max), n < max ? max - n : 0,
					 depth + 1);
	}
	closedir(d);
	return n;
}

/* Is the VM alone in home (no other process in it, nor below it outside kvmcg's own
 * child)? When not, a short list of the others for the message. */
static bool alone_in(int mount_fd, const char *home, pid_t pid, char **ret_others)
{
	_cleanup_close_ int fd = cg_open_path(mount_fd, home);
	if (fd < 0)
		return false;
	pid_t others[5];
	size_t n = other_procs(fd, pid, others, ARRAY_SIZE(others));
	n += procs_below(fd, LAYOUT_ROOT, pid, others + (n < 5 ? n : 5), n < 5 ? 5 - n : 0, 0);
	if (n == 0)
		return true;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	for (size_t i = 0; f && i < n && i < ARRAY_SIZE(others); i++)
		fprintf(f, "%s%d", i ? ", " : "", (int)others[i]);
	if (f && n > ARRAY_SIZE(others))
		fprintf(f, " and %zu more", n - ARRAY_SIZE(others));
	if (f)
		fclose(f);
	*ret_others = s;
	return false;
}

/* kvmcg's children below dir (one level, layout_child_shaped), each "dir/name". */
static int list_children(int mount_fd, const char *dir, char ***ret, size_t *ret_n)
{
	_cleanup_close_ int pfd = cg_open_path(mount_fd, dir);
	if (pfd < 0)
		return pfd;
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		/* only what kvmcg names its children: anything else is not ours to remove */
		if (de->d_type != DT_DIR || !layout_child_shaped(de->d_name))
			continue;
		_cleanup_free_ char *path = NULL;
		r = asprintf(&path, "%s/%s", dir, de->d_name) < 0 ? -ENOMEM : strv_push(ret, ret_n, path);
	}
	closedir(d);
	return r;
}

/* A directory no record names and that holds the VM's main thread is what a pin left
 * when its record was lost: adopting it (and what it holds) makes it ours again. */
static bool claimed_by_record(int state_fd, const char *dir)
{
	struct vm_state *states = NULL;
	size_t n = 0;
	bool claimed = false;
	if (state_fd >= 0 && state_load_all(state_fd, &states, &n) == 0)
		for (size_t i = 0; i < n; i++)
			claimed |= states[i].vm_dir && strcmp(states[i].vm_dir, dir) == 0;
	vm_states_free(states, n);
	return claimed;
}

/* The VM's directory in parent: adopted when the main thread is inside one of
 * parent's children that no record claims; else name (LAYOUT_ROOT in place; the VM's
 * sanitised name, or its pid, elsewhere), with "-PID" when that is taken. */
static int choose_vm_dir(struct place *p, const struct vm *vm, const char *parent, int state_fd,
			 struct pin_result *res)
{
	const struct vm_thread *mt = main_thread(vm);
	const char *cg = mt && mt->cgroup ? mt->cgroup + (mt->cgroup[0] == '/') : "";
	_cleanup_free_ char *name = NULL, *dir = NULL;
	if (p->kind == LAYOUT_IN_PLACE)
		name = strdup(LAYOUT_ROOT);
	else if (!(name = layout_vm_name(vm->name)) && asprintf(&name, "%d", (int)vm->pid) < 0)
		name = NULL;
	if (!name || asprintf(&dir, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		return -ENOMEM;

	/* The child of parent the main thread is in, if any. */
	size_t pl = strlen(parent);
	if (layout_within(cg, parent) && strlen(cg) > pl) {
		const char *child = cg + pl + (pl ? 1 : 0);
		_cleanup_free_ char *mine = NULL;
		if (asprintf(&mine, "%.*s%s%.*s", (int)pl, parent, pl ? "/" : "", (int)strcspn(child, "/"), child) < 0)
			return -ENOMEM;
		bool named_so = p->kind != LAYOUT_IN_PLACE || strcmp(mine, dir) == 0;
		if (named_so && !claimed_by_record(state_fd, mine)) {
			int r = strv_push(&p->adopted, &p->n_adopted, mine);
			if (r == 0)
				r = list_children(p->mount_fd, mine, &p->adopted, &p->n_adopted);
			if (r < 0)
				return r;
			warn(res, "adopting /%s, left by an earlier pin of pid %d whose record is gone", mine,
			     (int)vm->pid);
			p->vm_dir = TAKE_PTR(mine);
			return 0;
		}
	}
	_cleanup_close_ int fd = cg_open_path(p->mount_fd, dir);
	bool taken = fd >= 0 || claimed_by_record(state_fd, dir);
	if (taken && p->kind == LAYOUT_IN_PLACE) {
		err_set("cgroup /%s already has a child named %s that does not hold this VM; give --cgroup-root to "
			"choose where its cgroups go",
			parent, LAYOUT_ROOT);
		return -EEXIST;
	}
	if (taken) {
		/* "-PID" joins the name before it is bounded: still at most 64 bytes */
		_cleanup_free_ char *raw = NULL, *with_pid = NULL, *usable = layout_vm_name(vm->name);
		if (asprintf(&raw, "%s-%d", usable ? vm->name : name, (int)vm->pid) < 0)
			return -ENOMEM;
		with_pid = layout_vm_name(raw);
		free(dir);
		dir = NULL;
		if (!with_pid || asprintf(&dir, "%s%s%s", parent, *parent ? "/" : "", with_pid) < 0)
			return -ENOMEM;
	}
	p->vm_dir = TAKE_PTR(dir);
	return 0;
}

/* The limits a VM leaves behind in its cgroup home when its tree goes to parent. */
static char *lost_limits(const struct place *p, const char *home, const char *parent)
{
	/* the deepest common ancestor keeps applying */
	_cleanup_free_ char *common = strdup(home);
	while (common && *common && !layout_within(parent, common)) {
		char *up = layout_parent(common);
		free(common);
		common = up;
	}
	char **limits = NULL;
	size_t n = 0;
	if (!common || cg_read_limits(p->mount_fd, p->host.backend, home, common, &limits, &n) < 0 || n == 0) {
		strv_free(limits);
		return NULL;
	}
	char *s = joined(limits, n, ", ");
	strv_free(limits);
	return s;
}

/* Where the VM's cgroups are or go, and what they may use. Errors: -EINVAL (exit 2),
 * -EPERM (the record cannot be used), others; a sentence in err_get(). */
static int find_place(const struct txn_env *env, const struct vm *vm, const struct pin_args *a, const struct vm_state *prev,
		      int state_fd, struct place *p, struct pin_result *res)
{
	int r;
	if (a->affinity_only) {
		p->host.backend = BACKEND_AFFINITY;
		if (!(p->host.why_not_v2 = strdup("--affinity-only: no cgroups")))
			return -ENOMEM;
	} else if (a->cgroup_root) {
		r = resolve_cgroup_root(env, a->cgroup_root, p);
		if (r < 0)
			return r;
		r = root_outside_vms(p->cgroup_root, a->cgroup_root, state_fd);
		if (r < 0)
			return r;
	} else {
		r = cgroup_host_detect(env->proc_fd, &p->host);
		if (r < 0) {
			err_set("cannot read the cgroup mounts: %s", strerror(-r));
			return r;
		}
	}
	if (prev && prev->backend != p->host.backend) {
		err_set("pid %d was pinned in %s mode and this request means %s mode; unpin it first",
			(int)vm->pid, backend_name(prev->backend), backend_name(p->host.backend));
		return -EINVAL;
	}
	if (p->host.backend == BACKEND_AFFINITY)
		return read_allowed_affinity(env, vm, p);
	if (prev && strcmp(prev->mount, p->host.mount) != 0) {
		err_set("pid %d was pinned in the hierarchy at %s and kvmcg now uses %s; unpin it first", (int)vm->pid,
			prev->mount, p->host.mount);
		return -EINVAL;
	}
	p->mount_fd = open(p->host.mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->mount_fd < 0) {
		r = -errno;
		err_set("cannot open the cgroup mount %s: %s", p->host.mount, strerror(-r));
		return r;
	}

	const struct vm_thread *mt = main_thread(vm);
	_cleanup_free_ char *home = layout_home(mt ? mt->cgroup : NULL), *parent = NULL, *others = NULL;
	if (!home)
		return -ENOMEM;
	struct layout_facts facts = {
		.recorded_vm_dir = prev ? prev->vm_dir : NULL,
		.cgroup_root = p->cgroup_root,
		.home = home,
		.alone = !prev && !p->cgroup_root && *home && alone_in(p->mount_fd, home, vm->pid, &others),
	};
	r = layout_choose(&facts, &p->kind, &parent);
	if (r == -EEXIST) {
		_cleanup_free_ char *was = layout_parent(prev->vm_dir);
		err_set("pid %d is pinned under /%s (its cgroup /%s), not under --cgroup-root %s; unpin it first to "
			"move it",
			(int)vm->pid, was ? was : "?", prev->vm_dir, a->cgroup_root);
		return -EINVAL;
	}
	if (r == -EBUSY) {
		_cleanup_free_ char *top = NULL;
		if (asprintf(&top, "%s/%s", LAYOUT_ROOT, "x") < 0)
			return -ENOMEM;
		_cleanup_free_ char *limits = lost_limits(p, home, top);
		err_set("pid %d shares its cgroup /%s with other processes (pids %s), so kvmcg cannot build its tree "
			"there, and a tree under /%s would leave %s; give --cgroup-root DIR to choose where its "
			"cgroups go",
			(int)vm->pid, home, others ? others : "?", LAYOUT_ROOT,
			limits ? limits : "the cgroup its launcher chose (it sets no limits)");
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (p->kind == LAYOUT_KEPT)
		p->vm_dir = strdup(prev->vm_dir);
	else {
		r = choose_vm_dir(p, vm, parent, state_fd, res);
		if (r == -EEXIST)
			return -EINVAL;
		if (r < 0)
			return r;
	}
	if (!p->vm_dir)
		return -ENOMEM;
	const char *owned = layout_owned_root(p->kind, p->vm_dir, p->cgroup_root);
	if (!(p->owned = strdup(owned)))
		return -ENOMEM;
	if (p->kind == LAYOUT_GIVEN && !layout_within(p->vm_dir, home)) {
		_cleanup_free_ char *limits = lost_limits(p, home, p->vm_dir);
		if (limits)
			warn(res, "pid %d leaves /%s for /%s, where these limits no longer apply: %s", (int)vm->pid, home,
			     p->vm_dir, limits);
	}
	return read_allowed(p);
}

/* ---- what is in place ------------------------------------------------------------------ */

static int read_dir_state(int mount_fd, const char *path, bool v2, struct cgroup_dir_state *ret)
{
	struct cgroup_dir_state d = {0};
	if (!(d.path = strdup(path)))
		return -ENOMEM;
	_cleanup_close_ int fd = cg_open_path(mount_fd, path);
	if (fd < 0) {
		*ret = d;
		return fd == -ENOENT ? 0 : fd;
	}
	d.exists = true;
	_cleanup_free_ char *type = NULL, *mm = NULL;
	if (v2) {
		if (cg_read(fd, "cgroup.type", &type) == 0)
			d.threaded = strcmp(type, "threaded") == 0;
		(void)cg_read(fd, "cgroup.subtree_control", &d.subtree_control);
	} else if (cg_read(fd, "cpuset.memory_migrate", &mm) == 0) {
		d.memory_migrate = strcmp(mm, "1") == 0;
	}
	(void)cg_read(fd, "cpuset.cpus", &d.cpus);
	(void)cg_read(fd, "cpuset.mems", &d.mems);
	if (v2) {
		(void)cg_read(fd, "cpu.weight", &d.cpu_weight);
		(void)cg_read(fd, "cpu.max", &d.cpu_max);
	}
	*ret = d;
	return 0;
}

struct dir_states {
	struct cgroup_dir_state *v;
	size_t n;
};

static void dir_states_done(struct dir_states *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].subtree_control);
		free(s->v[i].cpus);
		free(s->v[i].mems);
		free(s->v[i].cpu_weight);
		free(s->v[i].cpu_max);
	}
	free(s->v);
}

static int add_dir_state(struct dir_states *s, int mount_fd, const char *path, bool v2)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return 0;
	struct cgroup_dir_state *n = realloc(s->v, (s->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->v = n;
	int r = read_dir_state(mount_fd, path, v2, &s->v[s->n]);
	if (r == 0)
		s->n++;
	return r;
}

/* The mount root, each ancestor of the VM's cgroup, the VM's cgroup, its children. */
static int read_dir_states(int mount_fd, const char *vm_dir, const struct vm *vm, bool v2,
			   struct dir_states *ret)
{
	struct dir_states s = {0};
	int r = add_dir_state(&s, mount_fd, "", v2);
	for (const char *p = vm_dir; r == 0 && p;) {
		const char *slash = strchr(p, '/');
		_cleanup_free_ char *prefix = strndup(vm_dir, slash ? (size_t)(slash - vm_dir) : strlen(vm_dir));
		r = prefix ? add_dir_state(&s, mount_fd, prefix, v2) : -ENOMEM;
		p = slash ? slash + 1 : NULL;
	}
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		_cleanup_free_ char *name = layout_child_name(&vm->threads[i]), *path = NULL;
		if (!name || asprintf(&path, "%s/%s", vm_dir, name) < 0)
			r = -ENOMEM;
		else
			r = add_dir_state(&s, mount_fd, path, v2);
	}
	if (r < 0) {
		dir_states_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

/* ---- the record -------------------------------------------------------------------------- */

/* Where each thread of the VM came from, for the threads st has no origin for yet:
 * all of them at a first pin, those born (or hot-plugged) since at a re-pin. A thread
 * is where it is now, unless it is inside kvmcg's own cgroups (born there since a pin,
 * or left by a pin whose record is gone): then it came from outside them, with the
 * main thread's origin when the record has one, else the cgroup above kvmcg's tree
 * and the CPUs it allows; and a real-time class found there may be kvmcg's doing, so
 * its origin is the default class. */
static int add_origins(struct vm_state *st, const struct vm *vm, const struct place *pl)
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
		bool ours = cgroups ? layout_within(t->cgroup ? t->cgroup : "", pl->owned) : repin;
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
	return 0;
}

static bool has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int add_created(struct vm_state *st, const char *dir)
{
	return has_str(st->created, st->n_created, dir) ? 0 : strv_push(&st->created, &st->n_created, dir);
}

static int add_enabled(struct vm_state *st, const char *dir, const char *value)
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

/* What of this run's plan the record must list, so that unpin (or the collection
 * after the VM exits) removes it:
 *   PLANNED   everything the plan may create, before it runs (a crash of kvmcg
 *             midway leaves nothing unrecorded)
 *   DONE      what it created, after a successful run
 *   LEFT      what a rollback could not remove */
enum which { PLANNED, DONE, LEFT };

static int record_plan(struct vm_state *st, const struct plan *p, const struct place *pl, enum which which)
{
	if (!pl->vm_dir)
		return 0; /* affinity mode: no cgroups */
	_cleanup_free_ char *parent = layout_parent(pl->vm_dir);
	if (!parent)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; r == 0 && which != LEFT && i < pl->n_adopted; i++)
		r = add_created(st, pl->adopted[i]);
	for (size_t i = 0; r == 0 && i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		bool keep = which == PLANNED ? true : which == DONE ? a->done : a->done && a->undo_failed;
		if (a->kind == ACT_MKDIR && layout_within(a->dir, pl->vm_dir) &&
		    (which == PLANNED || (keep && a->created)))
			r = add_created(st, a->dir);
		/* Controllers enabled in the VM's own cgroup are its launcher's to keep. */
		else if (a->kind == ACT_ENABLE_CONTROLLER && pl->kind == LAYOUT_IN_PLACE &&
			 strcmp(a->dir, parent) == 0 && (which == PLANNED || (keep && a->changed)))
			r = add_enabled(st, a->dir, a->value);
	}
	return r;
}

/* A copy of base (its threads' origins, what it made and enabled) with tune (none
 * when NULL) and what plan adds for which. */
static int record_build(const struct vm_state *base, const struct vm_tune *tune, const struct plan *plan,
			const struct place *pl, enum which which, struct vm_state *ret)
{
	struct vm_state tmp = *base;
	tmp.tune = tune ? *tune : (struct vm_tune){0};
	int r = vm_state_copy(&tmp, ret);
	if (r < 0)
		return r;
	r = record_plan(ret, plan, pl, which);
	if (r < 0)
		vm_state_done(ret);
	return r;
}

/* ---- the mount of a record ---------------------------------------------------------------- */

/* A record's mount is used only when it is the mount point of the cgroup hierarchy
 * kvmcg uses for its mode (mountinfo), reached without a symbolic link, and is a
 * cgroup filesystem (fstatfs): a forged "mount /" must not lead anywhere. */
static int open_record_mount(const struct txn_env *env, const struct vm_state *st, int *ret_fd)
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

/* ---- exited VMs ------------------------------------------------------------------------------- */

/* After a plan ran: the record lists only what its cleanup steps could not remove. */
static int keep_remaining(struct vm_state *st, const struct plan *p)
{
	struct vm_state left = {0};
	int r = 0;
	/* the plan lists them deepest first; the record, in creation order */
	for (size_t i = p->n_actions; r == 0 && i-- > 0;) {
		const struct action *a = &p->actions[i];
		if (!a->cleanup || a->done)
			continue;
		if (a->kind == ACT_RMDIR)
			r = add_created(&left, a->dir);
		else if (a->kind == ACT_DISABLE_CONTROLLER)
			r = add_enabled(&left, a->dir, a->value);
	}
	if (r < 0) {
		vm_state_done(&left);
		return r;
	}
	strv_free(st->created);
	for (size_t i = 0; i < st->n_enabled; i++) {
		free(st->enabled[i].dir);
		free(st->enabled[i].controller);
	}
	free(st->enabled);
	st->created = TAKE_PTR(left.created);
	st->n_created = left.n_created;
	st->enabled = TAKE_PTR(left.enabled);
	st->n_enabled = left.n_enabled;
	return 0;
}

/* Runs a record's cleanup steps (nobody's threads to move any more); the record then
 * lists only what is left. 0 when nothing is, -EBUSY when something is. */
static int cleanup_record(const struct txn_env *env, int mount_fd, struct vm_state *st)
{
	struct plan p = {.backend = st->backend};
	struct vm none = {0};
	struct vm_tune nospec = {0};
	struct exec_ctx ex = {.mount_fd = mount_fd, .pidfd = -1, .proc_fd = env->proc_fd, .backend = st->backend,
			      .vm = &none, .tune = &nospec};
	int r = plan_cleanup(st, &p);
	if (r == 0)
		r = exec_plan(&ex, &p);
	if (r == 0)
		r = keep_remaining(st, &p);
	if (r == 0 && (st->n_created || st->n_enabled)) {
		_cleanup_free_ char *left = joined(st->created, st->n_created, ", /");
		err_set("pid %d has exited, and kvmcg could not remove /%s yet (%s); its record keeps %s for the next "
			"kvmcg run",
			(int)st->pid, left ? left : "?", ex.failed ? ex.failed : "?",
			st->n_created == 1 ? "it" : "them");
		r = -EBUSY;
	}
	exec_done(&ex);
	plan_done(&p);
	return r;
}

int pin_collect_stale(const struct txn_env *env, int state_fd, char ***ret_problems)
{
	err_clear();
	struct vm_state *states = NULL;
	size_t n = 0, n_problems = 0;
	int r = state_load_all_checked(state_fd, &states, &n, ret_problems);
	if (r < 0)
		return r;
	if (ret_problems)
		for (char **p = *ret_problems; p && *p; p++)
			n_problems++;
	int removed = 0;
	state_collect_locks(state_fd);
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
			if (open_record_mount(env, &again, &mount_fd) < 0) {
				if (ret_problems && err_get())
					(void)strv_push(ret_problems, &n_problems, err_get());
			} else {
				/* The VM is gone: its cgroups hold nobody and can go too. The
				 * record stays while some cannot, so the next run tries again. */
				int k = cleanup_record(env, mount_fd, &again);
				if (k == 0 && state_remove(state_fd, again.pid, again.starttime) == 0)
					removed++;
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
	return removed;
}

/* Records of exited VMs go; those kvmcg refuses are said, not acted on. */
static void collect_and_warn(const struct txn_env *env, int state_fd, const struct vm *vm, struct pin_result *res)
{
	char **problems = NULL, own[64];
	/* this VM's own record, if refused, is the run's error, not a warning */
	snprintf(own, sizeof(own), " %d-%llu.state:", (int)vm->pid, (unsigned long long)vm->starttime_ticks);
	(void)pin_collect_stale(env, state_fd, &problems);
	for (char **p = problems; p && *p; p++)
		if (!strstr(*p, own))
			warn(res, "%s", *p);
	strv_free(problems);
}


/* ---- pin ----------------------------------------------------------------------------------------- */

const char *txn_result_name(enum txn_result r)
{
	static const char *const names[] = {
		[TXN_NONE] = "none",         [TXN_APPLIED] = "applied", [TXN_UNCHANGED] = "unchanged",
		[TXN_DRY_RUN] = "dry-run",   [TXN_PARTIAL] = "partial", [TXN_FAILED] = "failed",
		[TXN_PLANNED] = "planned",   [TXN_CONFLICT] = "conflict",
	};
	return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "none";
}

bool txn_result_ok(enum txn_result r)
{
	return r == TXN_APPLIED || r == TXN_UNCHANGED || r == TXN_DRY_RUN || r == TXN_PARTIAL;
}

/* Hands what a successful run computed over to the result. */
static void done(struct pin_result *res, enum txn_result result, char **msg, struct plan *plan,
		 struct vm_tune *tune)
{
	res->result = result;
	res->message = TAKE_PTR(*msg);
	res->plan = *plan;
	*plan = (struct plan){0};
	res->tune = *tune;
	*tune = (struct vm_tune){0};
}

/* Settings not carried out make a run that did the rest "partial", exit 3. */
static int finish(struct pin_result *res, enum txn_result result, int rc)
{
	if (rc == EXIT_OK && res->n_skipped) {
		rc = EXIT_PARTIAL;
		if (result != TXN_DRY_RUN)
			result = TXN_PARTIAL;
	}
	res->result = result;
	return rc;
}

/* A run that failed while the VM was exiting failed because of it: whatever was read
 * of a dying VM (no vCPUs left, threads nowhere) says nothing about the request.
 * That is the VM exiting during the run, exit 3. */
static int exit_if_gone(const struct txn_env *env, const struct vm *vm, struct pin_result *res, int rc)
{
	if (rc == EXIT_OK || rc == EXIT_PARTIAL || res->result != TXN_FAILED)
		return rc;
	if (proc_process_alive(env->proc_fd, vm->pid, vm->starttime_ticks))
		return rc;
	free(res->message);
	if (asprintf(&res->message, "pid %d exited during the run; nothing of it was left changed", (int)vm->pid) < 0)
		res->message = NULL;
	return EXIT_PARTIAL;
}

/* The VM held by a pidfd for the executor, and still the process discovery judged a
 * VM: the same start time and the same executable (it may have exec'd meanwhile). */
static int hold_vm(const struct txn_env *env, struct exec_ctx *ex, const struct vm *vm)
{
	int r = exec_hold_vm(ex);
	if (r == 0 && vm_check_identity(env->discover, vm) < 0)
		r = -ESRCH;
	return r;
}

static int lock_vm(int state_fd, const struct vm *vm, int timeout_ms, const char *command, int *ret_fd,
		   struct pin_result *res)
{
	_cleanup_free_ char *holder = NULL;
	int ms = timeout_ms > 0 ? timeout_ms : timeout_ms < 0 ? 0 : PIN_LOCK_TIMEOUT_MS;
	int r = state_lock(state_fd, vm->pid, vm->starttime_ticks, ms, command ? command : "pin", ret_fd, &holder);
	if (r == -ETIMEDOUT)
		return fail(res, EXIT_FAILURE_RUNTIME,
			    "pid %d is being changed by %s; still so after %d.%d s, so nothing was done (--lock-timeout "
			    "waits longer)",
			    (int)vm->pid, holder ? holder : "another kvmcg run", ms / 1000, ms % 1000 / 100);
	if (r == -EPERM || r == -ELOOP)
		return fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
	if (r < 0)
		return fail(res, EXIT_FAILURE_RUNTIME, "cannot lock the record of pid %d: %s", (int)vm->pid,
			    strerror(-r));
	return EXIT_OK;
}

int pin_vm(const struct txn_env *env, struct vm *vm, const struct pin_args *a, struct pin_result *res)
{
	int state_fd = -1, lock_fd = -1;
	struct place pl = {.mount_fd = -1};
	struct vm_state prev = {0}, st = {0};
	bool have_prev = false;
	struct vm_tune tune = {0};
	struct plan plan = {0};
	struct dir_states dirs = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .proc_fd = env->proc_fd};
	/* Every variable the exit path touches is set before the first goto. */
	char *msg = NULL;
	const struct idset *effective_cpus;
	const char *mode_note;
	struct plan_host ph;
	int rc = EXIT_FAILURE_RUNTIME, r;

	*res = (struct pin_result){.result = TXN_FAILED, .exit_code = EXIT_FAILURE_RUNTIME};
	for (size_t i = 0; i < a->req.n_skipped; i++)
		if (strv_push(&res->skipped, &res->n_skipped, a->req.skipped[i]) < 0)
			goto oom;
	err_clear();
	state_fd = state_dir_open(!a->dry_run);
	if (state_fd < 0 && !(a->dry_run && state_fd == -ENOENT)) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "%s", err_get() ? err_get() : strerror(-state_fd));
		goto out;
	}
	if (!a->dry_run) {
		rc = lock_vm(state_fd, vm, a->lock_timeout_ms, a->command, &lock_fd, res);
		if (rc != EXIT_OK)
			goto out;
		rc = EXIT_FAILURE_RUNTIME;
		collect_and_warn(env, state_fd, vm, res);
	}
	if (state_fd >= 0) {
		err_clear();
		r = state_load(state_fd, vm->pid, vm->starttime_ticks, &prev);
		have_prev = r == 0;
		if (r < 0 && r != -ENOENT) {
			rc = fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed",
				  err_get() ? err_get() : strerror(-r));
			goto out;
		}
	}
	r = vm_refresh_threads(env->discover, vm);
	if (r < 0) {
		rc = fail(res, r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME, "pid %d: %s", (int)vm->pid,
			  r == -ESRCH ? "exited before anything was done" : strerror(-r));
		goto out;
	}
	err_clear();
	r = find_place(env, vm, a, have_prev ? &prev : NULL, state_fd, &pl, res);
	if (r < 0) {
		rc = fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s",
			  err_get() ? err_get() : strerror(-r));
		goto out;
	}
	if (have_prev && prev.backend != BACKEND_AFFINITY) {
		int mfd;
		r = open_record_mount(env, &prev, &mfd);
		if (mfd >= 0)
			close(mfd);
		if (r < 0) {
			rc = fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get());
			goto out;
		}
	}
	res->backend = pl.host.backend;
	res->layout = pl.kind;

	effective_cpus = pl.effective_cpus ? pl.effective_cpus : env->host->online_cpus;
	if (pl.host.backend != BACKEND_AFFINITY) {
		r = read_dir_states(pl.mount_fd, pl.vm_dir, vm, pl.host.backend == BACKEND_CGROUP_V2, &dirs);
		if (r < 0) {
			rc = fail(res, r == -ENAMETOOLONG ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
				  "cannot read the VM's cgroups under %s: %s", pl.host.mount, cg_strerror(r, NULL));
			goto out;
		}
	}
	ph = (struct plan_host){
		.backend = pl.host.backend,
		.online_cpus = env->host->online_cpus,
		.online_mems = env->host->online_mems,
		.effective_cpus = effective_cpus,
		.effective_mems = pl.effective_mems ? pl.effective_mems : env->host->online_mems,
		.dirs = dirs.v,
		.n_dirs = dirs.n,
		.vm_dir = pl.vm_dir,
		.vm_threaded = pl.kind == LAYOUT_IN_PLACE ||
			       (pl.kind == LAYOUT_KEPT && prev.n_enabled > 0),
	};
	err_clear();
	r = plan_merge_spec(&ph, vm, have_prev ? &prev.tune : NULL, a->req.vcpus, a->req.n_vcpus, a->req.emulator,
			    a->req.iothread_ids, a->req.iothreads, a->req.n_iothreads, a->req.mems, &tune);
	if (r < 0) {
		rc = fail(res, r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE, "%s",
			  err_get() ? err_get() : strerror(-r));
		goto out;
	}
	r = plan_merge_cputune(&ph, &a->req.cputune, &tune, &res->skipped, &res->n_skipped);
	if (r < 0)
		goto oom;
	err_clear();
	r = plan_pin(&ph, vm, &tune, &plan);
	if (r < 0) {
		rc = fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s",
			  err_get() ? err_get() : strerror(-r));
		goto out;
	}
	res->mount = strdup_or_null(pl.host.mount);
	res->vm_dir = strdup_or_null(pl.vm_dir);
	mode_note = pl.host.backend == BACKEND_AFFINITY ? pl.host.why_not_v2 : NULL;
	if (a->dry_run) {
		if (asprintf(&msg, "dry run: %zu action%s planned for pid %d (%s mode%s%s); nothing was changed",
			     plan.n_actions, plan.n_actions == 1 ? "" : "s", (int)vm->pid,
			     backend_name(pl.host.backend), mode_note ? ": " : "", mode_note ? mode_note : "") < 0)
			msg = NULL;
		done(res, TXN_DRY_RUN, &msg, &plan, &tune);
		rc = finish(res, TXN_DRY_RUN, EXIT_OK);
		goto out;
	}
	if (plan.n_actions == 0 && pl.n_adopted == 0) {
		if ((res->n_skipped ? asprintf(&msg, "pid %d: nothing changed; %zu setting%s of the request cannot be "
						      "carried out here (said on stderr)",
						(int)vm->pid, res->n_skipped, res->n_skipped == 1 ? "" : "s")
				    : asprintf(&msg, "pid %d is already pinned as asked: nothing changed", (int)vm->pid)) < 0)
			msg = NULL;
		done(res, TXN_UNCHANGED, &msg, &plan, &tune);
		rc = finish(res, TXN_UNCHANGED, EXIT_OK);
		goto out;
	}

	/* The record's base: the previous one, or where each thread is now. */
	if (!have_prev) {
		prev = (struct vm_state){.pid = vm->pid, .starttime = vm->starttime_ticks, .backend = pl.host.backend};
		prev.name = strdup_or_null(vm->name);
		prev.mount = strdup_or_null(pl.host.mount);
		prev.vm_dir = strdup_or_null(pl.vm_dir);
		/* below a --cgroup-root: the record names it, so that a check can tell */
		prev.root = pl.kind == LAYOUT_GIVEN ? strdup_or_null(pl.cgroup_root) : NULL;
		if ((vm->name && !prev.name) || (pl.host.mount && !prev.mount) || (pl.vm_dir && !prev.vm_dir) ||
		    (pl.kind == LAYOUT_GIVEN && !prev.root))
			goto oom;
	}
	/* every thread's origin: all at a first pin, newcomers at a re-pin */
	if (add_origins(&prev, vm, &pl) < 0)
		goto oom;
	/* Recorded before anything is touched: the resulting tune, and everything the
	 * plan may create. */
	r = record_build(&prev, &tune, &plan, &pl, PLANNED, &st);
	if (r == 0)
		r = state_save(state_fd, &st);
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "cannot write the record: %s; nothing was changed", strerror(-r));
		goto out;
	}

	ex.mount_fd = pl.mount_fd;
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.backend = pl.host.backend;
	ex.vm = vm;
	ex.tune = &tune;
	ex.effective_cpus = effective_cpus;
	exec_hooks_from_env(&ex.hooks);

	r = hold_vm(env, &ex, vm);
	if (r == 0)
		r = exec_plan(&ex, &plan);
	if (r == 0) {
		r = exec_verify(&ex, pl.vm_dir);
		if (r < 0)
			exec_rollback(&ex, &plan);
	}
	vm_state_done(&st);
	if (r < 0) {
		/* Rolled back. The record is the previous one again, plus whatever could
		 * not be undone, for the next run to remove. */
		bool left = false;
		for (size_t i = 0; i < plan.n_actions; i++)
			left |= plan.actions[i].undo_failed;
		int k = record_build(&prev, have_prev ? &prev.tune : NULL, &plan, &pl, LEFT, &st);
		if (k == 0 && (have_prev || left))
			k = state_save(state_fd, &st);
		else if (k == 0)
			k = state_remove(state_fd, vm->pid, vm->starttime_ticks);
		if (k < 0)
			warn(res, "the record of pid %d could not be put back: %s", (int)vm->pid, strerror(-k));
		const char *why = ex.failed ? ex.failed : strerror(-r);
		if (left)
			rc = fail(res, EXIT_PARTIAL,
				  "pin failed (%s), and not everything could be undone; the record keeps what is left "
				  "for the next kvmcg unpin, or for kvmcg list once the VM has exited",
				  why);
		else if (r == -ESRCH)
			rc = fail(res, EXIT_PARTIAL, "pid %d exited during the pin; everything done was undone",
				  (int)vm->pid);
		else
			rc = fail(res, EXIT_FAILURE_RUNTIME, "pin failed, everything done was undone: %s", why);
		goto out;
	}
	/* What this run made joins what earlier pins made. */
	r = record_build(&prev, &tune, &plan, &pl, DONE, &st);
	if (r == 0)
		r = state_save(state_fd, &st);
	if (r < 0)
		warn(res, "pinned, but the record could not be updated (%s): unpin may not undo all of it",
		     strerror(-r));

	if (asprintf(&msg, "pinned pid %d: %zu action%s in %s mode%s%s%s%s", (int)vm->pid, plan.n_actions,
		     plan.n_actions == 1 ? "" : "s", backend_name(pl.host.backend), pl.vm_dir ? ", cgroup /" : "",
		     pl.vm_dir ? pl.vm_dir : "", mode_note ? "; " : "", mode_note ? mode_note : "") < 0)
		msg = NULL;
	done(res, TXN_APPLIED, &msg, &plan, &tune);
	rc = finish(res, TXN_APPLIED, EXIT_OK);
	goto out;
oom:
	rc = fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
out:
	free(msg);
	exec_done(&ex);
	if (ex.pidfd >= 0)
		close(ex.pidfd);
	plan_done(&plan);
	vm_tune_done(&tune);
	dir_states_done(&dirs);
	vm_state_done(&prev);
	vm_state_done(&st);
	place_done(&pl);
	if (state_fd >= 0) {
		state_unlock(state_fd, vm->pid, vm->starttime_ticks, lock_fd);
		close(state_fd);
	}
	rc = exit_if_gone(env, vm, res, rc);
	res->exit_code = rc;
	return rc;
}

/* ---- unpin ------------------------------------------------------------------------------------ */

int unpin_vm(const struct txn_env *env, struct vm *vm, int lock_timeout_ms, struct pin_result *res)
{
	int state_fd, lock_fd = -1, mount_fd = -1, rc = EXIT_FAILURE_RUNTIME, r;
	struct vm_state st = {0};
	struct plan plan = {0};
	struct vm_tune none = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .proc_fd = env->proc_fd};

	*res = (struct pin_result){.result = TXN_FAILED, .exit_code = EXIT_FAILURE_RUNTIME};
	err_clear();
	state_fd = state_dir_open(false);
	if (state_fd == -ENOENT) {
		res->message = strdup("kvmcg has not pinned this VM: nothing to undo");
		res->result = TXN_UNCHANGED;
		res->exit_code = EXIT_OK;
		return EXIT_OK;
	}
	if (state_fd < 0)
		return res->exit_code = fail(res, EXIT_FAILURE_RUNTIME, "%s", err_get() ? err_get() : strerror(-state_fd));
	rc = lock_vm(state_fd, vm, lock_timeout_ms, "unpin", &lock_fd, res);
	if (rc != EXIT_OK)
		goto out;
	rc = EXIT_FAILURE_RUNTIME;
	collect_and_warn(env, state_fd, vm, res);
	err_clear();
	r = state_load(state_fd, vm->pid, vm->starttime_ticks, &st);
	if (r == -ENOENT) {
		res->message = strdup("kvmcg has not pinned this VM: nothing to undo");
		res->result = TXN_UNCHANGED;
		rc = EXIT_OK;
		goto out;
	}
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
		goto out;
	}
	res->backend = st.backend;
	res->mount = strdup_or_null(st.mount);
	res->vm_dir = strdup_or_null(st.vm_dir);
	r = vm_refresh_threads(env->discover, vm);
	if (r < 0 && r != -ESRCH) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "pid %d: %s", (int)vm->pid, strerror(-r));
		goto out;
	}
	if (open_record_mount(env, &st, &mount_fd) < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get());
		goto out;
	}
	r = plan_unpin(&st, vm, &plan);
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "cannot plan the unpin: %s", strerror(-r));
		goto out;
	}
	ex.mount_fd = mount_fd;
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.backend = st.backend;
	ex.vm = vm;
	ex.tune = &none;
	ex.effective_cpus = env->host->online_cpus;
	exec_hooks_from_env(&ex.hooks);
	r = hold_vm(env, &ex, vm);
	if (r == 0)
		r = exec_plan(&ex, &plan);
	if (r == -ESRCH) {
		/* Gone meanwhile: nothing of it to restore; its cgroups can go now. */
		err_clear();
		int k = cleanup_record(env, mount_fd, &st);
		if (k == 0)
			(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
		else if (k == -EBUSY)
			(void)state_save(state_fd, &st);
		rc = fail(res, EXIT_PARTIAL, "pid %d exited during the unpin; %s", (int)vm->pid,
			  k == 0 ? "its cgroups were removed" : "its record keeps the cgroups left for the next run");
		goto out;
	}
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "unpin failed, the pin was left as it was: %s",
			  ex.failed ? ex.failed : strerror(-r));
		goto out;
	}
	if (ex.cleanup_failed == 0) {
		r = state_remove(state_fd, vm->pid, vm->starttime_ticks);
		if (r < 0)
			warn(res, "unpinned, but the record could not be removed: %s", strerror(-r));
		if (asprintf(&res->message, "unpinned pid %d: every thread is back in its cgroup and affinity",
			     (int)vm->pid) < 0)
			res->message = NULL;
		res->result = TXN_APPLIED;
		rc = EXIT_OK;
	} else {
		/* Every thread is back; what could not be removed stays recorded, with no
		 * pin, for the next unpin (or list, once the VM has exited). */
		vm_tune_done(&st.tune);
		r = keep_remaining(&st, &plan);
		if (r == 0)
			r = state_save(state_fd, &st);
		if (r < 0)
			warn(res, "the record could not be updated: %s", strerror(-r));
		_cleanup_free_ char *left = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&left, &len);
		for (size_t i = 0; f && i < st.n_created; i++)
			fprintf(f, "%s/%s", i ? ", " : "", st.created[i]);
		for (size_t i = 0; f && i < st.n_enabled; i++)
			fprintf(f, "%s%s in /%s", i || st.n_created ? ", " : "", st.enabled[i].controller,
				st.enabled[i].dir);
		if (f)
			fclose(f);
		if (asprintf(&res->message, "unpinned pid %d: every thread is back in its cgroup and affinity",
			     (int)vm->pid) < 0)
			res->message = NULL;
		if (asprintf(&res->problem,
			     "pid %d: could not remove %s yet (%s); the record keeps %s for the next kvmcg unpin",
			     (int)vm->pid, left ? left : "?", ex.failed ? ex.failed : "?",
			     st.n_created + st.n_enabled == 1 ? "it" : "them") < 0)
			res->problem = NULL;
		res->result = TXN_PARTIAL;
		rc = EXIT_PARTIAL;
	}
	res->plan = plan;
	plan = (struct plan){0};
out:
	exec_done(&ex);
	if (ex.pidfd >= 0)
		close(ex.pidfd);
	if (mount_fd >= 0)
		close(mount_fd);
	plan_done(&plan);
	vm_state_done(&st);
	state_unlock(state_fd, vm->pid, vm->starttime_ticks, lock_fd);
	close(state_fd);
	rc = exit_if_gone(env, vm, res, rc);
	res->exit_code = rc;
	return rc;
}
