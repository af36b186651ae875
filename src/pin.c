// SPDX-License-Identifier: GPL-2.0-or-later
/* The pin transaction for one VM: where its cgroups go, what is in place, the plan,
 * the record, execution and read-back. Prints nothing: pin and apply report. */
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs.h"
#include "err.h"
#include "exec.h"
#include "state.h"
#include "util.h"

#define DEFAULT_ROOT "kvmcg"

void pin_args_done(struct pin_args *a)
{
	for (size_t i = 0; i < a->n_vcpus; i++)
		cpuset_free(a->vcpus[i].cpus);
	free(a->vcpus);
	cpuset_free(a->emulator);
	for (size_t i = 0; i < a->n_iothreads; i++) {
		free(a->iothread_ids[i]);
		cpuset_free(a->iothreads[i]);
	}
	free(a->iothread_ids);
	free(a->iothreads);
	cpuset_free(a->mems);
	*a = (struct pin_args){0};
}

int pin_args_add_vcpu(struct pin_args *a, const struct vcpu_arg *v)
{
	struct vcpu_arg *n = realloc(a->vcpus, (a->n_vcpus + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	a->vcpus = n;
	n[a->n_vcpus] = *v;
	if (!(n[a->n_vcpus].cpus = cpuset_dup(v->cpus)))
		return -ENOMEM;
	a->n_vcpus++;
	return 0;
}

int pin_args_add_iothread(struct pin_args *a, const char *id, const struct cpuset *cpus)
{
	char **ids = realloc(a->iothread_ids, (a->n_iothreads + 1) * sizeof(char *));
	if (ids)
		a->iothread_ids = ids;
	struct cpuset **sets = realloc(a->iothreads, (a->n_iothreads + 1) * sizeof(*sets));
	if (sets)
		a->iothreads = sets;
	if (!ids || !sets)
		return -ENOMEM;
	ids[a->n_iothreads] = strdup(id);
	sets[a->n_iothreads] = cpuset_dup(cpus);
	if (!ids[a->n_iothreads] || !sets[a->n_iothreads]) {
		free(ids[a->n_iothreads]);
		cpuset_free(sets[a->n_iothreads]);
		return -ENOMEM;
	}
	a->n_iothreads++;
	return 0;
}

void pin_result_done(struct pin_result *r)
{
	strv_free(r->skipped);
	free(r->message);
	free(r->mount);
	free(r->vm_dir);
	plan_done(&r->plan);
	pin_spec_done(&r->spec);
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
	res->result = "failed";
	return code;
}

/* ---- the host's cgroups ------------------------------------------------------------- */

struct cgroup_place {
	struct cgroup_host host;
	char *root;      /* relative to the mount */
	int mount_fd;
	struct cpuset *parent_cpus, *parent_mems;
};

static void cgroup_place_done(struct cgroup_place *p)
{
	cgroup_host_done(&p->host);
	free(p->root);
	if (p->mount_fd >= 0)
		close(p->mount_fd);
	cpuset_free(p->parent_cpus);
	cpuset_free(p->parent_mems);
}

static int read_set(int mount_fd, const char *dir, const char *file, struct cpuset **ret)
{
	_cleanup_close_ int fd = cg_open_path(mount_fd, dir);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *v = NULL;
	int r = cg_read(fd, file, &v);
	if (r < 0)
		return r;
	return cpuset_parse(v, ret, NULL);
}

static int find_place(struct cli *c, const char *cgroup_root, bool affinity_only,
		      struct cgroup_place *ret)
{
	struct cgroup_place p = {.mount_fd = -1};
	int r;
	if (affinity_only) {
		p.host.mode = CGROUP_MODE_AFFINITY;
		p.host.why_not_v2 = strdup("--affinity-only: no cgroups");
		p.root = strdup(DEFAULT_ROOT);
		if (!p.host.why_not_v2 || !p.root) {
			cgroup_place_done(&p);
			return -ENOMEM;
		}
		*ret = p;
		return 0;
	}
	if (cgroup_root) {
		if (cgroup_root[0] != '/') {
			err_set("--cgroup-root %s: give an absolute path", cgroup_root);
			return -EINVAL;
		}
		r = cgroup_host_for_path(c->proc_fd, cgroup_root, &p.host);
		if (r < 0) {
			err_set("--cgroup-root %s: not inside a cgroup hierarchy that has the cpuset controller",
				cgroup_root);
			return -EINVAL;
		}
		const char *rel = cgroup_root + strlen(p.host.mount);
		while (*rel == '/')
			rel++;
		p.root = strdup(rel);
		if (p.root && !*p.root) {
			err_set("--cgroup-root %s: kvmcg needs a cgroup of its own, not the hierarchy's root",
				cgroup_root);
			cgroup_place_done(&p);
			return -EINVAL;
		}
		/* trailing slashes */
		for (size_t l = p.root ? strlen(p.root) : 0; l > 0 && p.root[l - 1] == '/'; l--)
			p.root[l - 1] = '\0';
	} else {
		r = cgroup_host_detect(c->proc_fd, &p.host);
		if (r < 0) {
			err_set("cannot read the cgroup mounts: %s", strerror(-r));
			return r;
		}
		p.root = strdup(DEFAULT_ROOT);
	}
	if (!p.root) {
		cgroup_place_done(&p);
		return -ENOMEM;
	}
	if (p.host.mode == CGROUP_MODE_AFFINITY) {
		*ret = p;
		return 0;
	}
	p.mount_fd = open(p.host.mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p.mount_fd < 0) {
		r = -errno;
		err_set("cannot open the cgroup mount %s: %s", p.host.mount, strerror(-r));
		cgroup_place_done(&p);
		return r;
	}
	/* What our cgroups may use is what the root's parent has. */
	_cleanup_free_ char *parent = strdup(p.root);
	if (!parent) {
		cgroup_place_done(&p);
		return -ENOMEM;
	}
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	else
		parent[0] = '\0';
	bool v2 = p.host.mode == CGROUP_MODE_V2;
	/* The root may not exist yet, nor its parents: the nearest existing ancestor
	 * is what the ones kvmcg creates will inherit from. */
	for (;;) {
		r = read_set(p.mount_fd, parent, v2 ? "cpuset.cpus.effective" : "cpuset.cpus",
			     &p.parent_cpus);
		if (r != -ENOENT || !*parent)
			break;
		slash = strrchr(parent, '/');
		if (slash)
			*slash = '\0';
		else
			parent[0] = '\0';
	}
	if (r == 0)
		r = read_set(p.mount_fd, parent, v2 ? "cpuset.mems.effective" : "cpuset.mems",
			     &p.parent_mems);
	if (r < 0) {
		err_set("cannot read the cpus and mems of cgroup '/%s' in %s: %s", parent, p.host.mount,
			cg_strerror(r, NULL));
		cgroup_place_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

/* ---- state housekeeping --------------------------------------------------------------- */

static bool state_vm_alive(int proc_fd, const struct vm_state *s)
{
	struct proc_stat st;
	/* A zombie has left its cgroups already; only its parent has not reaped it. */
	return proc_read_stat(proc_fd, s->pid, 0, &st) == 0 && st.starttime_ticks == s->starttime &&
	       st.state != 'Z' && st.state != 'X';
}

/* Removes the directories a pin made, deepest first. 0 when all are gone. A VM that
 * was just killed may still have threads on their way out (the leader turns zombie
 * first): EBUSY is retried for a moment. */
static int remove_created(const struct vm_state *s)
{
	if (!s->mount || s->n_created == 0)
		return 0;
	_cleanup_close_ int mount_fd = open(s->mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mount_fd < 0)
		return -errno;
	int r = 0;
	for (size_t i = s->n_created; i-- > 0;) {
		const char *path = s->created[i], *slash = strrchr(path, '/');
		_cleanup_free_ char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
		if (!parent)
			return -ENOMEM;
		_cleanup_close_ int pfd = cg_open_path(mount_fd, parent);
		if (pfd < 0) {
			if (pfd != -ENOENT)
				r = pfd;
			continue;
		}
		for (int tries = 0;; tries++) {
			if (unlinkat(pfd, slash ? slash + 1 : path, AT_REMOVEDIR) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY || tries == 40) {
				r = -errno;
				break;
			}
			usleep(25000);
		}
	}
	return r;
}

int cli_collect_stale(struct cli *c, int state_fd)
{
	struct vm_state *states = NULL;
	size_t n = 0;
	int r = state_load_all(state_fd, &states, &n);
	if (r < 0)
		return r;
	int removed = 0;
	for (size_t i = 0; i < n; i++) {
		if (state_vm_alive(c->proc_fd, &states[i]))
			continue;
		/* The VM is gone: its cgroups hold nobody and can go too. The record stays
		 * until they are gone, so the next run tries again. */
		if (remove_created(&states[i]) == 0 &&
		    state_remove(state_fd, states[i].pid, states[i].starttime) == 0)
			removed++;
	}
	vm_states_free(states, n);
	return removed;
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
		_cleanup_free_ char *name = plan_child_name(&vm->threads[i]), *path = NULL;
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

/* The VM's directory: kept from an earlier pin, else its sanitised name, else its
 * pid; "-PID" is appended when another VM (or someone else) has the name. */
static int choose_vm_dir(struct cgroup_place *pl, const struct vm *vm, int state_fd, char **ret)
{
	_cleanup_free_ char *base = cg_sanitize_name(vm->name);
	_cleanup_free_ char *dir = NULL;
	if (!base && asprintf(&base, "%d", (int)vm->pid) < 0)
		return -ENOMEM;
	if (asprintf(&dir, "%s/%s", pl->root, base) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = cg_open_path(pl->mount_fd, dir);
	bool taken = fd >= 0;
	struct vm_state *states = NULL;
	size_t n = 0;
	if (!taken && state_fd >= 0 && state_load_all(state_fd, &states, &n) == 0)
		for (size_t i = 0; i < n; i++)
			taken |= states[i].vm_dir && strcmp(states[i].vm_dir, dir) == 0;
	vm_states_free(states, n);
	if (taken) {
		free(dir);
		dir = NULL;
		if (asprintf(&dir, "%s/%s-%d", pl->root, base, (int)vm->pid) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(dir);
	return 0;
}


static int origins_from_vm(const struct vm *vm, enum cgroup_mode mode, struct vm_state *st)
{
	st->threads = calloc(vm->n_threads ? vm->n_threads : 1, sizeof(*st->threads));
	if (!st->threads)
		return -ENOMEM;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		struct thread_origin *o = &st->threads[st->n_threads++];
		o->tid = t->tid;
		o->cgroup = strdup(mode == CGROUP_MODE_AFFINITY || !t->cgroup ? "" : t->cgroup);
		/* The kernel's mask, read just now by discovery: what the thread runs with. */
		o->affinity = t->affinity ? cpuset_dup(t->affinity) : cpuset_new();
		if (!o->cgroup || !o->affinity)
			return -ENOMEM;
		o->sched_known = true;
		o->sched_policy = (int)t->stat.policy;
		o->sched_priority = t->stat.rt_priority;
	}
	return 0;
}

static int spec_copy(const struct pin_spec *from, struct pin_spec *to)
{
	/* Through the text form: one place knows how specs are written. */
	struct vm_state tmp = {.pid = 1, .starttime = 1, .spec = *from};
	_cleanup_free_ char *text = state_format(&tmp);
	struct vm_state parsed;
	if (!text || state_parse(text, &parsed, NULL) < 0)
		return -ENOMEM;
	*to = parsed.spec;
	parsed.spec = (struct pin_spec){0};
	vm_state_done(&parsed);
	return 0;
}

/* Test hooks (tests/README.md): KVMCG_TEST_FAIL_AT=N makes the Nth action fail as if
 * the kernel had refused it; KVMCG_TEST_KILL_AT=N kills the VM just before it. They
 * prove rollback against the real kernel. */
unsigned pin_test_hook(const char *name)
{
	const char *s = getenv(name);
	int n;
	return s && parse_int(s, &n) == 0 && n > 0 ? (unsigned)n : 0;
}

/* The part of a record that outlives re-pins: where each thread came from and
 * which directories kvmcg made. Moved to the new record, and back on rollback. */
static void move_history(struct vm_state *from, struct vm_state *to)
{
	to->threads = TAKE_PTR(from->threads);
	to->n_threads = from->n_threads;
	from->n_threads = 0;
	to->created = TAKE_PTR(from->created);
	to->n_created = from->n_created;
	from->n_created = 0;
}

/* Hands what a successful run computed over to the result. */
static int done(struct pin_result *res, const char *result, char **msg, struct plan *plan,
		struct pin_spec *spec, struct cgroup_place *pl, char **vm_dir)
{
	res->result = result;
	res->message = TAKE_PTR(*msg);
	res->plan = *plan;
	*plan = (struct plan){0};
	res->spec = *spec;
	*spec = (struct pin_spec){0};
	res->mode = pl->host.mode;
	res->mount = strdup_or_null(pl->host.mount);
	res->vm_dir = TAKE_PTR(*vm_dir);
	return EXIT_OK;
}

int pin_vm(struct cli *c, const struct vm *vm, const struct pin_args *a, struct pin_result *res)
{
	int state_fd = -1;
	struct cgroup_place pl = {.mount_fd = -1};
	struct vm_state prev = {0}, st = {0};
	bool have_prev = false;
	struct pin_spec spec = {0};
	struct plan plan = {0};
	struct dir_states dirs = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .proc_fd = c->proc_fd};
	/* Every variable the exit path touches is set before the first goto. */
	char *vm_dir = NULL, *msg = NULL;
	const struct cpuset *all_cpus;
	const char *mode_note;
	struct plan_host ph;
	int rc = EXIT_FAILURE_RUNTIME, r;

	*res = (struct pin_result){.result = "failed", .exit_code = EXIT_FAILURE_RUNTIME};
	r = find_place(c, a->cgroup_root, a->affinity_only, &pl);
	if (r < 0) {
		rc = fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s",
			  err_get() ? err_get() : strerror(-r));
		goto out;
	}
	state_fd = state_dir_open(!a->dry_run);
	if (state_fd >= 0) {
		if (!a->dry_run)
			cli_collect_stale(c, state_fd);
		r = state_load(state_fd, vm->pid, vm->starttime_ticks, &prev);
		have_prev = r == 0;
	} else if (!a->dry_run) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "cannot open the state directory: %s", strerror(-state_fd));
		goto out;
	}
	if (have_prev && prev.mode != pl.host.mode) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "pid %d was pinned in %s mode, this host now offers %s; unpin it first",
			  (int)vm->pid, cgroup_mode_name(prev.mode), cgroup_mode_name(pl.host.mode));
		goto out;
	}

	all_cpus = pl.parent_cpus ? pl.parent_cpus : c->host.online_cpus;
	if (pl.host.mode != CGROUP_MODE_AFFINITY) {
		if (have_prev && prev.vm_dir)
			vm_dir = strdup(prev.vm_dir);
		else
			r = choose_vm_dir(&pl, vm, state_fd, &vm_dir);
		if (r < 0 || !vm_dir) {
			rc = fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
			goto out;
		}
		r = read_dir_states(pl.mount_fd, vm_dir, vm, pl.host.mode == CGROUP_MODE_V2, &dirs);
		if (r < 0) {
			rc = fail(res, EXIT_FAILURE_RUNTIME, "cannot read the VM's cgroups under %s: %s",
				  pl.host.mount, cg_strerror(r, NULL));
			goto out;
		}
	}
	ph = (struct plan_host){
		.mode = pl.host.mode,
		.online_cpus = c->host.online_cpus,
		.online_mems = c->host.online_mems,
		.parent_cpus = all_cpus,
		.parent_mems = pl.parent_mems ? pl.parent_mems : c->host.online_mems,
		.dirs = dirs.v,
		.n_dirs = dirs.n,
		.root = pl.root,
		.vm_dir = vm_dir,
	};
	err_clear();
	r = plan_merge_spec(&ph, vm, have_prev ? &prev.spec : NULL, a->vcpus, a->n_vcpus, a->emulator,
			    a->iothread_ids, a->iothreads, a->n_iothreads, a->mems, &spec);
	if (r < 0) {
		rc = fail(res, r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE, "%s",
			  err_get() ? err_get() : strerror(-r));
		goto out;
	}
	r = plan_merge_tune(&ph, &a->tune, &spec, &res->skipped, &res->n_skipped);
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
		goto out;
	}
	r = plan_pin(&ph, vm, &spec, &plan);
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "%s", err_get() ? err_get() : strerror(-r));
		goto out;
	}
	mode_note = pl.host.mode == CGROUP_MODE_AFFINITY ? pl.host.why_not_v2 : NULL;
	if (a->dry_run) {
		if (asprintf(&msg, "dry run: %zu action%s planned for pid %d (%s mode%s%s); nothing was changed",
			     plan.n_actions, plan.n_actions == 1 ? "" : "s", (int)vm->pid,
			     cgroup_mode_name(pl.host.mode), mode_note ? ": " : "", mode_note ? mode_note : "") < 0)
			msg = NULL;
		rc = done(res, "dry-run", &msg, &plan, &spec, &pl, &vm_dir);
		goto out;
	}
	if (plan.n_actions == 0) {
		if (asprintf(&msg, "pid %d is already pinned as asked: nothing changed", (int)vm->pid) < 0)
			msg = NULL;
		rc = done(res, "unchanged", &msg, &plan, &spec, &pl, &vm_dir);
		goto out;
	}

	/* Record before touching anything: the threads' origins (kept from the first
	 * pin), the resulting spec, and later the directories made. */
	st.pid = vm->pid;
	st.starttime = vm->starttime_ticks;
	st.mode = pl.host.mode;
	st.name = strdup_or_null(vm->name);
	st.mount = strdup_or_null(pl.host.mount);
	st.vm_dir = strdup_or_null(vm_dir);
	if (have_prev)
		move_history(&prev, &st);
	else if (origins_from_vm(vm, pl.host.mode, &st) < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
		goto out;
	}
	r = spec_copy(&spec, &st.spec);
	if (r == 0)
		r = state_save(state_fd, &st);
	if (r < 0) {
		rc = fail(res, EXIT_FAILURE_RUNTIME, "cannot write the state file: %s", strerror(-r));
		goto out;
	}

	ex.mount_fd = pl.mount_fd;
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.mode = pl.host.mode;
	ex.vm = vm;
	ex.spec = &spec;
	ex.all_cpus = all_cpus;
	ex.fail_at = pin_test_hook("KVMCG_TEST_FAIL_AT");
	ex.kill_at = pin_test_hook("KVMCG_TEST_KILL_AT");

	r = exec_hold_vm(&ex);
	if (r == 0)
		r = exec_plan(&ex, &plan);
	if (r == 0) {
		r = exec_verify(&ex, vm_dir);
		if (r < 0)
			exec_rollback(&ex, &plan);
	}
	if (r < 0) {
		/* Rolled back: the record goes back to what it was. */
		if (have_prev) {
			move_history(&st, &prev);
			(void)state_save(state_fd, &prev);
		} else {
			(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
		}
		if (r == -ESRCH)
			rc = fail(res, EXIT_PARTIAL, "pid %d exited during the pin; everything done was undone",
				  (int)vm->pid);
		else
			rc = fail(res, EXIT_FAILURE_RUNTIME, "pin failed, everything done was undone: %s",
				  ex.failed[0] ? ex.failed : strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < plan.n_actions; i++)
		if (plan.actions[i].kind == ACT_MKDIR && plan.actions[i].created &&
		    startswith(plan.actions[i].dir, vm_dir))
			(void)strv_push(&st.created, &st.n_created, plan.actions[i].dir);
	r = state_save(state_fd, &st);
	if (r < 0)
		res->warning = strerror(-r); /* pinned, but unpin may not undo all of it */

	if (asprintf(&msg, "pinned pid %d: %zu action%s in %s mode%s%s%s%s", (int)vm->pid, plan.n_actions,
		     plan.n_actions == 1 ? "" : "s", cgroup_mode_name(pl.host.mode), vm_dir ? ", cgroup /" : "",
		     vm_dir ? vm_dir : "", mode_note ? "; " : "", mode_note ? mode_note : "") < 0)
		msg = NULL;
	rc = done(res, "applied", &msg, &plan, &spec, &pl, &vm_dir);
out:
	free(vm_dir);
	free(msg);
	exec_done(&ex);
	if (ex.pidfd >= 0)
		close(ex.pidfd);
	plan_done(&plan);
	pin_spec_done(&spec);
	dir_states_done(&dirs);
	vm_state_done(&prev);
	vm_state_done(&st);
	cgroup_place_done(&pl);
	if (state_fd >= 0)
		close(state_fd);
	res->exit_code = rc;
	return rc;
}

