// SPDX-License-Identifier: GPL-2.0-or-later
/* Where a VM's cgroups go: the mount, the directory (layout.h decides among the candidates), what it may use. */
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
#include "kernel/procfs.h"
#include "plan/observe.h"
#include "state/state.h"

/* ---- where the VM's cgroups go ---------------------------------------------------------------- */


void txn_place_done(struct place *p)
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
	txn_v1trees_done(p->v1);
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
/* The hierarchy: the caller's (env->cgroup_host), else read now. */
static int host_detect(const struct txn_env *env, struct cgroup_host *ret)
{
	return env->cgroup_host ? cgroup_host_copy(env->cgroup_host, ret) : cgroup_host_detect(env->proc_fd, ret);
}

static int read_allowed_affinity(const struct txn_env *env, const struct vm *vm, struct place *p)
{
	struct cgroup_host h = {0};
	if (host_detect(env, &h) < 0 || h.backend == BACKEND_AFFINITY) {
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
		if (read_set(mfd, cg_relative(cg), v2 ? "cpuset.cpus.effective" : "cpuset.cpus", &s) < 0)
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
			if (states[i].vm_dir && cg_path_within(rel, states[i].vm_dir))
				vm_dir = strdup(states[i].vm_dir);
	vm_states_free(states, n);
	if (inside || vm_dir) {
		err_set("--cgroup-root %s: it is inside %s; a VM's cgroups go in a cgroup of their own", given,
			vm_dir ? "another VM's cgroups" : "a tree of cgroups kvmcg made for a VM");
		return -EINVAL;
	}
	return 0;
}

/* The processes that do not count as other tenants of a VM's cgroup: the VM, and for
 * a VM kvmcg run holds before exec, run itself and the processes that started it
 * (a wrapper script, timeout(1), a service manager's helper), ending at pid 1. */
#define PLACE_EXCEPT_MAX 16
struct except {
	pid_t pid[PLACE_EXCEPT_MAX];
	size_t n;
};
static bool excepted(const struct except *e, pid_t pid)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->pid[i] == pid)
			return true;
	return false;
}
static void except_launchers(int proc_fd, struct except *e)
{
	pid_t p = getpid();
	while (p > 1 && e->n < PLACE_EXCEPT_MAX) {
		e->pid[e->n++] = p;
		struct proc_stat st;
		if (proc_read_stat(proc_fd, p, 0, &st) < 0)
			break;
		p = st.ppid;
	}
}

/* Processes in a cgroup: a cgroup.procs file's pids but those excepted, up to max of
 * them into others (a short list for a message); the count of all. */
static size_t other_procs(int dirfd, const struct except *except, pid_t *others, size_t max)
{
	_cleanup_free_ char *buf = NULL;
	if (cg_read(dirfd, "cgroup.procs", &buf) < 0)
		return 0;
	size_t n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		pid_t pid;
		if (parse_pid(tok, &pid) < 0 || excepted(except, pid))
			continue;
		if (n < max)
			others[n] = pid;
		n++;
	}
	return n;
}

/* Processes anywhere below dirfd, skipping a child named skip (kvmcg's own tree). */
static size_t procs_below(int dirfd, const char *skip, const struct except *except, pid_t *others, size_t max,
			  int depth)
{
	DIR *d;
	if (opendir_at(dirfd, ".", &d) < 0)
		return 0;
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
 * child)? For a VM kvmcg run holds before exec (launched), run and the processes that
 * started it do not count: they are the VM's launcher (a systemd service's
 * ExecStart=, a wrapper script), not other tenants. When not alone, a short list of
 * the others for the message. */
static bool alone_in(int mount_fd, int proc_fd, const char *home, pid_t pid, bool launched, char **ret_others)
{
	_cleanup_close_ int fd = cg_open_path(mount_fd, home);
	if (fd < 0)
		return false;
	struct except except = {.pid = {pid}, .n = 1};
	if (launched)
		except_launchers(proc_fd, &except);
	pid_t others[5];
	size_t n = other_procs(fd, &except, others, ARRAY_SIZE(others));
	n += procs_below(fd, LAYOUT_ROOT, &except, others + (n < 5 ? n : 5), n < 5 ? 5 - n : 0, 0);
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
	DIR *d;
	int r = opendir_at(pfd, ".", &d);
	if (r < 0)
		return r;
	struct dirent *de;
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
	const struct vm_thread *mt = txn_main_thread(vm);
	const char *cg = cg_relative(mt ? mt->cgroup : NULL);
	_cleanup_free_ char *name = NULL, *dir = NULL;
	if (p->kind == LAYOUT_IN_PLACE)
		name = strdup(LAYOUT_ROOT);
	else if (!(name = layout_vm_name(vm->name)) && asprintf(&name, "%d", (int)vm->pid) < 0)
		name = NULL;
	if (!name || asprintf(&dir, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		return -ENOMEM;

	/* The child of parent the main thread is in, if any. */
	size_t pl = strlen(parent);
	if (cg_path_within(cg, parent) && strlen(cg) > pl) {
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
			txn_warn(res, "adopting /%s, left by an earlier pin of pid %d whose record is gone", mine,
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
	while (common && *common && !cg_path_within(parent, common)) {
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
	char *s = txn_joined(limits, n, ", ");
	strv_free(limits);
	return s;
}

/* Where the VM's cgroups are or go, and what they may use. Errors: -EINVAL (exit 2),
 * -EPERM (the record cannot be used), others; a sentence in err_get(). */
int txn_find_place(const struct txn_env *env, const struct vm *vm, const struct pin_args *a, const struct vm_state *prev,
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
		r = host_detect(env, &p->host);
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

	const struct vm_thread *mt = txn_main_thread(vm);
	_cleanup_free_ char *home = layout_home(mt ? mt->cgroup : NULL), *parent = NULL, *others = NULL;
	if (!home)
		return -ENOMEM;
	struct layout_facts facts = {
		.recorded_vm_dir = prev ? prev->vm_dir : NULL,
		.cgroup_root = p->cgroup_root,
		.home = home,
		.alone = !prev && !p->cgroup_root && *home &&
			 alone_in(p->mount_fd, env->proc_fd, home, vm->pid, a->launch == PIN_HELD, &others),
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
	if (p->kind == LAYOUT_GIVEN && !cg_path_within(p->vm_dir, home)) {
		_cleanup_free_ char *limits = lost_limits(p, home, p->vm_dir);
		if (limits)
			txn_warn(res, "pid %d leaves /%s for /%s, where these limits no longer apply: %s", (int)vm->pid, home,
			     p->vm_dir, limits);
	}
	return read_allowed(p);
}
