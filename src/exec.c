// SPDX-License-Identifier: GPL-2.0-or-later
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "affinity.h"
#include "cgroupfs.h"
#include "procfs.h"
#include "util.h"

int cg_open_path(int mount_fd, const char *path)
{
	int fd = openat(mount_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char comp[256];
	for (const char *p = path; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 0) {
			p++;
			continue;
		}
		if (l >= sizeof(comp) || (l == 2 && strncmp(p, "..", 2) == 0) ||
		    (l == 1 && p[0] == '.')) {
			close(fd);
			return -EINVAL;
		}
		memcpy(comp, p, l);
		comp[l] = '\0';
		int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(fd);
		if (next < 0)
			return -saved;
		fd = next;
		p += l;
	}
	return fd;
}

/* The cached fd of a cgroup directory; the cache owns it. */
static int dir_fd(struct exec_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_dirs; i++)
		if (strcmp(c->dirs[i].path, path) == 0)
			return c->dirs[i].fd;
	int fd = cg_open_path(c->mount_fd, path);
	if (fd < 0)
		return fd;
	struct exec_dir *n = realloc(c->dirs, (c->n_dirs + 1) * sizeof(*n));
	char *copy = strdup(path);
	if (!n || !copy) {
		if (n)
			c->dirs = n;
		free(copy);
		close(fd);
		return -ENOMEM;
	}
	c->dirs = n;
	c->dirs[c->n_dirs++] = (struct exec_dir){.path = copy, .fd = fd};
	return fd;
}

/* A directory we removed: its fd, and those below it, must not be used again. */
static void dir_forget(struct exec_ctx *c, const char *path)
{
	size_t l = strlen(path);
	for (size_t i = 0; i < c->n_dirs;) {
		const char *p = c->dirs[i].path;
		if (strncmp(p, path, l) == 0 && (p[l] == '\0' || p[l] == '/')) {
			close(c->dirs[i].fd);
			free(c->dirs[i].path);
			c->dirs[i] = c->dirs[--c->n_dirs];
		} else {
			i++;
		}
	}
}

void exec_done(struct exec_ctx *c)
{
	for (size_t i = 0; i < c->n_dirs; i++) {
		close(c->dirs[i].fd);
		free(c->dirs[i].path);
	}
	free(c->dirs);
	c->dirs = NULL;
	c->n_dirs = 0;
}

/* Splits "a/b/c" into the parent's (cached) fd and "c". */
static int parent_fd(struct exec_ctx *c, const char *path, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_base = path;
		return dir_fd(c, "");
	}
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	*ret_base = slash + 1;
	return dir_fd(c, parent);
}

/* rmdir, then forget the fds of what is gone. */
static int remove_dir(struct exec_ctx *c, const char *path)
{
	const char *base;
	int parent = parent_fd(c, path, &base);
	if (parent < 0)
		return parent == -ENOENT ? 0 : parent;
	int r = unlinkat(parent, base, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
	if (r == 0)
		dir_forget(c, path);
	return r;
}

int exec_hold_vm(struct exec_ctx *c)
{
	int fd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* The pidfd names a process; the start time says it is still the VM that
	 * discovery read, not a newcomer with a reused pid. */
	struct proc_stat st;
	int r = proc_read_stat(c->proc_fd, c->pid, 0, &st);
	if (r < 0 || st.starttime_ticks != c->starttime) {
		close(fd);
		return -ESRCH;
	}
	c->pidfd = fd;
	return 0;
}

bool exec_vm_alive(const struct exec_ctx *c)
{
	if (c->pidfd < 0)
		return true;
	/* A pidfd polls readable once the process has exited. */
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

static int read_thread_cgroup(const struct exec_ctx *c, pid_t tid, char **ret)
{
	bool v1;
	_cleanup_free_ char *path = NULL;
	int r = proc_read_cgroup(c->proc_fd, c->pid, tid, &path, &v1);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	/* "/kvmcg/demo/vcpu0" -> "kvmcg/demo/vcpu0", our relative form */
	*ret = strdup(path[0] == '/' ? path + 1 : path);
	return *ret ? 0 : -ENOMEM;
}

static int write_in(struct exec_ctx *c, const char *dir, const char *file, const char *value)
{
	int fd = dir_fd(c, dir);
	return fd < 0 ? fd : cg_write(fd, file, value);
}

static int read_in(struct exec_ctx *c, const char *dir, const char *file, char **ret)
{
	int fd = dir_fd(c, dir);
	return fd < 0 ? fd : cg_read(fd, file, ret);
}

static const char *move_file(enum cgroup_mode mode)
{
	return mode == CGROUP_MODE_V2 ? "cgroup.threads" : "tasks";
}

static void describe(struct exec_ctx *c, const struct action *a, int r)
{
	const char *why = a->kind == ACT_SET_AFFINITY && r == -EINVAL
				  ? "no CPU of the set is allowed by the thread's cpuset"
			  : a->kind == ACT_SET_SCHED && r == -EPERM
				  ? "not permitted (a real-time class needs CAP_SYS_NICE and RT runtime for the cgroup)"
			  : a->kind == ACT_SET_SCHED ? strerror(-r)
						     : cg_strerror(r, a->file);
	switch (a->kind) {
	case ACT_SET_AFFINITY:
	case ACT_SET_SCHED:
	case ACT_MOVE_THREAD:
	case ACT_MOVE_PROCESS:
		snprintf(c->failed, sizeof(c->failed), "%s %d%s%s: %s", action_kind_name(a->kind),
			 (int)a->tid, a->dir ? " to " : "", a->dir ? a->dir : "", why);
		break;
	default:
		snprintf(c->failed, sizeof(c->failed), "%s %s%s%s: %s", action_kind_name(a->kind),
			 a->dir ? a->dir : "", a->file ? "/" : "", a->file ? a->file : "", why);
	}
}

static int sched_get(pid_t tid, int *policy, unsigned *prio)
{
	struct sched_param sp;
	int pol = sched_getscheduler(tid);
	if (pol < 0 || sched_getparam(tid, &sp) < 0)
		return -errno;
	*policy = pol & ~SCHED_RESET_ON_FORK;
	*prio = (unsigned)sp.sched_priority;
	return 0;
}

static int sched_set(pid_t tid, const char *value)
{
	int policy;
	unsigned prio;
	if (sched_parse(value, &policy, &prio) < 0)
		return -EINVAL;
	struct sched_param sp = {.sched_priority = (int)prio};
	return sched_setscheduler(tid, policy, &sp) < 0 ? -errno : 0;
}

/* Performs one action and records what it replaced. 1 means "skipped: the thread
 * is gone", which is not an error. */
static int do_action(struct exec_ctx *c, struct action *a)
{
	char num[32];
	int r = 0;
	switch (a->kind) {
	case ACT_MKDIR: {
		const char *base;
		int parent = parent_fd(c, a->dir, &base);
		if (parent < 0)
			return parent;
		if (mkdirat(parent, base, 0755) == 0)
			a->created = true;
		else if (errno != EEXIST)
			return -errno;
		return 0;
	}
	case ACT_RMDIR:
		return remove_dir(c, a->dir);
	case ACT_ENABLE_CONTROLLER:
	case ACT_SET_THREADED:
	case ACT_WRITE:
		r = read_in(c, a->dir, a->file, &a->old_value);
		if (r < 0)
			return r;
		return write_in(c, a->dir, a->file, a->value);
	case ACT_MOVE_PROCESS:
	case ACT_MOVE_THREAD:
		r = read_thread_cgroup(c, a->tid, &a->old_value);
		if (r == -ESRCH)
			return 1;
		if (r < 0)
			return r;
		snprintf(num, sizeof(num), "%d", (int)a->tid);
		r = write_in(c, a->dir, a->file, num);
		return r == -ESRCH ? 1 : r;
	case ACT_SET_AFFINITY:
		r = affinity_get(a->tid, &a->old_cpus);
		if (r == -ESRCH)
			return 1;
		if (r < 0)
			return r;
		r = affinity_set(a->tid, a->cpus);
		return r == -ESRCH ? 1 : r;
	case ACT_RESCAN:
		return 0; /* handled by exec_plan, which can grow the plan */
	case ACT_SET_SCHED: {
		int policy = 0;
		unsigned prio = 0;
		char old[32];
		r = sched_get(a->tid, &policy, &prio);
		if (r == -ESRCH)
			return 1;
		if (r < 0)
			return r;
		sched_format(policy, prio, old, sizeof(old));
		if (!(a->old_value = strdup(old)))
			return -ENOMEM;
		r = sched_set(a->tid, a->value);
		return r == -ESRCH ? 1 : r;
	}
	}
	return -EINVAL;
}

static bool known_thread(const struct exec_ctx *c, const struct plan *p, pid_t tid)
{
	for (size_t i = 0; i < c->vm->n_threads; i++)
		if (c->vm->threads[i].tid == tid)
			return true;
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_MOVE_THREAD && p->actions[i].tid == tid)
			return true;
	return false;
}

/* For the kill_at hook: the VM dies, as it may at any moment, and we wait for it. */
static void kill_vm(struct exec_ctx *c)
{
	kill(c->pid, SIGKILL);
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	poll(&p, 1, 5000);
}

/* Every action, the rescan included, starts here: the VM must still be the one we
 * hold, and the test hooks count actions in plan order. */
static int begin_action(struct exec_ctx *c, const struct action *a)
{
	if (c->kill_at && c->executed + 1 == c->kill_at)
		kill_vm(c);
	if (!exec_vm_alive(c)) {
		snprintf(c->failed, sizeof(c->failed), "the VM (pid %d) exited", (int)c->pid);
		return -ESRCH;
	}
	c->executed++;
	if (c->fail_at && c->executed == c->fail_at) {
		snprintf(c->failed, sizeof(c->failed), "injected failure at action %u (%s)",
			 c->fail_at, action_kind_name(a->kind));
		return -EIO;
	}
	return 0;
}

static int run_one(struct exec_ctx *c, struct plan *p, size_t i)
{
	int r = begin_action(c, &p->actions[i]);
	if (r < 0)
		return r;
	r = do_action(c, &p->actions[i]);
	if (r < 0) {
		describe(c, &p->actions[i], r);
		return r;
	}
	p->actions[i].done = r == 0;
	return 0;
}

/* Threads born since discovery go with the emulator: a move there (they may have
 * been born anywhere in the tree) and its affinity, appended to the plan so they
 * run after everyone's cgroup moves and are undone like the rest. One that is born
 * after this scan is caught by exec_verify. */
static int rescan(struct exec_ctx *c, struct plan *p, const char *vm_dir)
{
	_cleanup_free_ char *emulator = NULL;
	if (asprintf(&emulator, "%s/emulator", vm_dir) < 0)
		return -ENOMEM;
	const struct cpuset *cpus = c->spec->emulator ? c->spec->emulator : c->all_cpus;
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	for (size_t i = 0; i < n; i++) {
		if (known_thread(c, p, tids[i]))
			continue;
		struct action move = {.kind = ACT_MOVE_THREAD, .tid = tids[i]};
		move.dir = strdup(emulator);
		move.file = strdup(move_file(c->mode));
		if (!move.dir || !move.file || plan_add(p, &move) < 0) {
			free(move.dir);
			free(move.file);
			return -ENOMEM;
		}
		struct action aff = {.kind = ACT_SET_AFFINITY, .tid = tids[i], .cpus = cpuset_dup(cpus)};
		if (!aff.cpus || plan_add(p, &aff) < 0) {
			cpuset_free(aff.cpus);
			return -ENOMEM;
		}
	}
	return 0;
}

int exec_plan(struct exec_ctx *c, struct plan *p)
{
	int r = 0;
	c->failed[0] = '\0';
	for (size_t i = 0; i < p->n_actions && r == 0; i++) {
		if (p->actions[i].kind == ACT_RESCAN) {
			r = begin_action(c, &p->actions[i]);
			if (r == 0)
				r = rescan(c, p, p->actions[i].dir);
			continue;
		}
		r = run_one(c, p, i);
	}
	if (r < 0)
		exec_rollback(c, p);
	return r;
}

static int undo(struct exec_ctx *c, struct action *a)
{
	char num[32];
	switch (a->kind) {
	case ACT_MKDIR:
		return a->created ? remove_dir(c, a->dir) : 0;
	case ACT_ENABLE_CONTROLLER:
		/* Disable only what we enabled. */
		if (a->old_value && !strstr(a->old_value, "cpuset"))
			return write_in(c, a->dir, a->file, "-cpuset");
		return 0;
	case ACT_SET_THREADED:
		return 0; /* one way; the directory goes with its ACT_MKDIR */
	case ACT_WRITE:
		return write_in(c, a->dir, a->file,
				a->old_value && *a->old_value ? a->old_value : "\n");
	case ACT_MOVE_PROCESS:
	case ACT_MOVE_THREAD: {
		snprintf(num, sizeof(num), "%d", (int)a->tid);
		const char *file = a->kind == ACT_MOVE_PROCESS ? "cgroup.procs" : move_file(c->mode);
		int r = write_in(c, a->old_value, file, num);
		return r == -ESRCH ? 0 : r;
	}
	case ACT_SET_AFFINITY: {
		int r = affinity_set(a->tid, a->old_cpus);
		return r == -ESRCH ? 0 : r;
	}
	case ACT_SET_SCHED: {
		int r = a->old_value ? sched_set(a->tid, a->old_value) : 0;
		return r == -ESRCH ? 0 : r;
	}
	case ACT_RESCAN:
	case ACT_RMDIR:
		return 0;
	}
	return 0;
}

static const struct vm_thread *vm_thread_of(const struct vm *vm, pid_t tid)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	return NULL;
}

int exec_rollback(struct exec_ctx *c, struct plan *p)
{
	int first = 0;
	for (size_t i = p->n_actions; i-- > 0;) {
		struct action *a = &p->actions[i];
		if (!a->done)
			continue;
		int r = undo(c, a);
		if (r < 0 && first == 0)
			first = r;
	}
	/* Moving a thread back (and cpuset writes) reset its affinity on Linux 6.1 and
	 * in v1, and the mask an ACT_SET_AFFINITY recorded may already have been such a
	 * reset one. So every touched thread gets, last, the mask discovery read before
	 * the plan began; a thread born since gets the main thread's. */
	const struct vm_thread *main_thread = vm_thread_of(c->vm, c->pid);
	for (size_t i = 0; i < p->n_actions; i++) {
		struct action *a = &p->actions[i];
		bool touched = a->done && a->tid && a->kind != ACT_RESCAN;
		a->done = false;
		if (!touched)
			continue;
		const struct vm_thread *t = vm_thread_of(c->vm, a->tid);
		const struct cpuset *mask = t && t->affinity ? t->affinity
					    : main_thread ? main_thread->affinity
							  : NULL;
		int r = mask ? affinity_set(a->tid, mask) : 0;
		if (r < 0 && r != -ESRCH && first == 0)
			first = r;
	}
	return first;
}

/* ---- verification ------------------------------------------------------------------ */

static const struct cpuset *wanted_cpus(const struct exec_ctx *c, const struct vm_thread *t)
{
	const struct pin_spec *s = c->spec;
	const struct cpuset *want = NULL;
	if (t && t->kind == THREAD_VCPU && (size_t)t->vcpu_index < s->n_vcpu)
		want = s->vcpu[t->vcpu_index];
	else if (t && t->kind == THREAD_IOTHREAD) {
		for (size_t i = 0; i < s->n_iothread; i++)
			if (strcmp(s->iothread_ids[i], t->iothread_id) == 0)
				want = s->iothread[i];
	} else if (!t || t->kind != THREAD_VCPU)
		want = s->emulator;
	return want;
}

int exec_verify(struct exec_ctx *c, const char *vm_dir)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		_cleanup_free_ pid_t *tids = NULL;
		size_t n;
		int r = proc_list_tasks(c->proc_fd, c->pid, &tids, &n);
		if (r < 0)
			return r == -ENOENT ? -ESRCH : r;
		size_t bad = 0;
		c->failed[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			const struct vm_thread *t = vm_thread_of(c->vm, tids[i]);
			const struct cpuset *want = wanted_cpus(c, t);
			if (!want && c->mode == CGROUP_MODE_AFFINITY)
				continue;
			if (!want)
				want = c->all_cpus;
			_cleanup_free_ char *name = t ? plan_child_name(t) : strdup("emulator");
			_cleanup_free_ char *dir = NULL, *cg = NULL;
			if (!name || asprintf(&dir, "%s/%s", vm_dir ? vm_dir : "", name) < 0)
				return -ENOMEM;
			struct cpuset *have _cleanup_cpuset_ = NULL;
			r = affinity_get(tids[i], &have);
			if (r == 0 && c->mode != CGROUP_MODE_AFFINITY)
				r = read_thread_cgroup(c, tids[i], &cg);
			if (r == -ESRCH)
				continue; /* exited: not ours to verify */
			if (r < 0)
				return r;
			bool cg_ok = c->mode == CGROUP_MODE_AFFINITY || strcmp(cg, dir) == 0;
			bool aff_ok = cpuset_equal(have, want);
			if (t && t->kind == THREAD_VCPU && c->spec->tune.sched_set) {
				int pol = 0;
				unsigned prio = 0;
				if (sched_get(tids[i], &pol, &prio) == 0 &&
				    (pol != c->spec->tune.sched_policy || prio != c->spec->tune.sched_priority)) {
					size_t l = strlen(c->failed);
					snprintf(c->failed + l, sizeof(c->failed) - l,
						 "%sthread %d has another scheduling class than asked", bad ? "; " : "",
						 (int)tids[i]);
					bad++;
					if (attempt == 1)
						continue;
				}
			}
			if (cg_ok && aff_ok)
				continue;
			if (attempt == 0) {
				/* Put it right once: a thread born between the rescan and now. */
				char num[32];
				snprintf(num, sizeof(num), "%d", (int)tids[i]);
				if (!cg_ok)
					(void)write_in(c, dir, move_file(c->mode), num);
				(void)affinity_set(tids[i], want);
				bad++;
				continue;
			}
			_cleanup_free_ char *h = cpuset_format(have), *w = cpuset_format(want);
			size_t l = strlen(c->failed);
			if (!cg_ok)
				l += (size_t)snprintf(c->failed + l, sizeof(c->failed) - l,
						      "%sthread %d is in %s, not %s", bad ? "; " : "",
						      (int)tids[i], cg, dir);
			if (!aff_ok && l < sizeof(c->failed))
				snprintf(c->failed + l, sizeof(c->failed) - l,
					 "%sthread %d has affinity %s, not %s", bad || !cg_ok ? "; " : "",
					 (int)tids[i], h ? h : "?", w ? w : "?");
			bad++;
		}
		if (bad == 0)
			return 0;
		if (attempt == 1)
			return -EIO;
	}
	return 0;
}
