// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg pin / kvmcg unpin: discovery -> plan -> state -> execute -> verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs.h"
#include "cli.h"
#include "err.h"
#include "exec.h"
#include "output.h"
#include "plan.h"
#include "state.h"
#include "util.h"

#define DEFAULT_ROOT "kvmcg"

enum {
	OPT_VCPU = 0x200,
	OPT_EMULATOR,
	OPT_IOTHREAD,
	OPT_MEMS,
	OPT_DRY_RUN,
	OPT_CGROUP_ROOT,
	OPT_AFFINITY_ONLY,
};

static void pin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg pin VMSEL [--vcpu N:CPUS]... [--emulator CPUS] [--iothread ID:CPUS]...\n"
	      "                 [--mems NODES] [--dry-run] [--json]\n"
	      "\n"
	      "Pin a VM's threads, like virsh vcpupin, emulatorpin and iothreadpin: each vCPU,\n"
	      "the emulator and each iothread get a cgroup under <cgroup-root>/<vm>/ with its\n"
	      "cpuset, then their affinity is set and everything is read back. What was pinned\n"
	      "before stays pinned unless named again; an identical second pin changes nothing.\n"
	      "\n"
	      "VMSEL (exactly one): --pid PID, --pidfile FILE, --name NAME, --qmp SOCKET\n"
	      "\n"
	      "Options:\n"
	      "     --vcpu <N|A-B|all>:<cpus>  pin vCPU N (or a range, or all) to CPUs\n"
	      "     --emulator <cpus>          pin the emulator's threads (QEMU's own, workers)\n"
	      "     --iothread <id>:<cpus>     pin an iothread\n"
	      "     --mems <nodes>             allow memory only on these NUMA nodes (cpuset.mems)\n"
	      "     --dry-run                  print the plan; change nothing\n"
	      "     --cgroup-root <dir>        the cgroup kvmcg owns (default: kvmcg/ at the top\n"
	      "                                of the hierarchy that has cpuset)\n"
	      "     --affinity-only            no cgroups: sched_setaffinity alone (also what\n"
	      "                                kvmcg does when no cpuset controller is usable)\n"
	      "     --json                     print JSON\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help                     display this help\n"
	      "\n"
	      "CPU lists: 2, 18-23, 0-31:2 (every 2nd), 1,3,5.\n"
	      "Exit status: 0 done or nothing to do, 1 failed (rolled back), 2 bad request\n"
	      "(nothing written), 3 the VM exited during the run (rolled back).\n"
	      "See kvmcg(8).\n",
	      stdout);
}

static void unpin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg unpin VMSEL [--json]\n"
	      "\n"
	      "Undo kvmcg pin: put every thread back in the cgroup and affinity it had before\n"
	      "kvmcg first pinned it, and remove the VM's cgroups. A VM that has exited leaves\n"
	      "only its cgroups, which are removed.\n"
	      "\n"
	      "VMSEL (exactly one): --pid PID, --pidfile FILE, --name NAME, --qmp SOCKET\n"
	      "See kvmcg(8).\n",
	      stdout);
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

/* ---- output ------------------------------------------------------------------------------- */

/* Cgroup paths as /proc/PID/cgroup shows them: from the hierarchy's root, "/" first. */
static json_object *cgroup_json(const char *rel)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "/%s", rel);
	return json_object_new_string(buf);
}

static json_object *action_to_json(const struct action *a)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "action", json_object_new_string(action_kind_name(a->kind)));
	if (a->dir)
		json_object_object_add(o, "cgroup", cgroup_json(a->dir));
	if (a->file)
		json_object_object_add(o, "file", json_object_new_string(a->file));
	if (a->value)
		json_object_object_add(o, "value", json_object_new_string(
							 strcmp(a->value, "\n") == 0 ? "" : a->value));
	if (a->tid)
		json_object_object_add(o, "tid", json_object_new_int(a->tid));
	if (a->cpus) {
		_cleanup_free_ char *l = cpuset_format(a->cpus);
		json_object_object_add(o, "cpus", json_object_new_string(l ? l : ""));
	}
	return o;
}

static json_object *plan_to_json(const struct plan *p)
{
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < p->n_actions; i++)
		json_object_array_add(arr, action_to_json(&p->actions[i]));
	return arr;
}

static void print_plan_text(const struct plan *p)
{
	static const struct column cols[] = {
		{"ACTION", "action", COL_TEXT}, {"CGROUP", "cgroup", COL_TEXT},
		{"FILE", "file", COL_TEXT},     {"VALUE", "value|cpus", COL_TEXT},
		{"TID", "tid", COL_TEXT},
	};
	json_object *rows = plan_to_json(p);
	print_table(stdout, cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);
}

static void print_result(const struct cli *c, const char *result, const struct vm *vm,
			 const struct plan *p, enum cgroup_mode mode, const char *mount,
			 const char *vm_dir, const char *message)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", vm->name ? json_object_new_string(vm->name) : NULL);
	json_object_object_add(o, "result", json_object_new_string(result));
	json_object_object_add(o, "mode", json_object_new_string(cgroup_mode_name(mode)));
	json_object_object_add(o, "cgroup_mount", mount ? json_object_new_string(mount) : NULL);
	json_object_object_add(o, "vm_cgroup", vm_dir ? cgroup_json(vm_dir) : NULL);
	json_object_object_add(o, "actions", p ? plan_to_json(p) : json_object_new_array());
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	if (c->json) {
		print_json(stdout, o);
	} else {
		if (p && p->n_actions) {
			print_plan_text(p);
			putchar('\n');
		}
		printf("%s\n", message);
	}
	json_object_put(o);
}

/* ---- pin ---------------------------------------------------------------------------------- */

struct pin_args {
	struct vcpu_arg *vcpus;
	size_t n_vcpus;
	struct cpuset *emulator;
	char **iothread_ids;
	struct cpuset **iothreads;
	size_t n_iothreads;
	struct cpuset *mems;
	bool dry_run;
	bool affinity_only;
	const char *cgroup_root;
};

static void pin_args_done(struct pin_args *a)
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
}

static int parse_pin_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct pin_args *a = userdata;
	size_t off = 0;
	switch (opt) {
	case OPT_VCPU: {
		struct vcpu_arg v;
		if (parse_vcpu_arg(arg, &v) < 0)
			return -cli_usage_error(c, "%s", err_get());
		struct vcpu_arg *n = realloc(a->vcpus, (a->n_vcpus + 1) * sizeof(*n));
		if (!n) {
			cpuset_free(v.cpus);
			return -EXIT_FAILURE_RUNTIME;
		}
		a->vcpus = n;
		a->vcpus[a->n_vcpus++] = v;
		return 1;
	}
	case OPT_EMULATOR:
		cpuset_free(a->emulator);
		a->emulator = NULL;
		if (cpuset_parse(arg, &a->emulator, &off) < 0 || cpuset_count(a->emulator) == 0)
			return -cli_usage_error(c, "--emulator '%s': not a non-empty CPU list", arg);
		return 1;
	case OPT_IOTHREAD: {
		char *id;
		struct cpuset *cpus;
		if (parse_iothread_arg(arg, &id, &cpus) < 0)
			return -cli_usage_error(c, "%s", err_get());
		char **ids = realloc(a->iothread_ids, (a->n_iothreads + 1) * sizeof(char *));
		if (ids)
			a->iothread_ids = ids;
		struct cpuset **sets = realloc(a->iothreads, (a->n_iothreads + 1) * sizeof(*sets));
		if (sets)
			a->iothreads = sets;
		if (!ids || !sets) {
			free(id);
			cpuset_free(cpus);
			return -EXIT_FAILURE_RUNTIME;
		}
		a->iothread_ids[a->n_iothreads] = id;
		a->iothreads[a->n_iothreads++] = cpus;
		return 1;
	}
	case OPT_MEMS:
		cpuset_free(a->mems);
		a->mems = NULL;
		if (cpuset_parse(arg, &a->mems, &off) < 0 || cpuset_count(a->mems) == 0)
			return -cli_usage_error(c, "--mems '%s': not a non-empty node list", arg);
		return 1;
	case OPT_DRY_RUN:
		a->dry_run = true;
		return 1;
	case OPT_CGROUP_ROOT:
		a->cgroup_root = arg;
		return 1;
	case OPT_AFFINITY_ONLY:
		a->affinity_only = true;
		return 1;
	}
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
		o->affinity = cpuset_new();
		if (!o->cgroup || !o->affinity)
			return -ENOMEM;
		/* The kernel's mask, read just now by discovery: what the thread runs with. */
		for (int b = 0; t->affinity && b <= cpuset_last(t->affinity); b++)
			if (cpuset_isset(t->affinity, (unsigned)b) && cpuset_set(o->affinity, (unsigned)b) < 0)
				return -ENOMEM;
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
static unsigned test_hook(const char *name)
{
	const char *s = getenv(name);
	int n;
	return s && parse_int(s, &n) == 0 && n > 0 ? (unsigned)n : 0;
}

static int run_pin(struct cli *c, struct pin_args *a)
{
	int state_fd = -1;
	struct vm *vm = NULL;
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

	r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) {
		rc = cli_runtime_error(r, "cannot select the VM");
		goto out;
	}
	r = find_place(c, a->cgroup_root, a->affinity_only, &pl);
	if (r < 0) {
		rc = r == -EINVAL ? (fprintf(stderr, "kvmcg: %s\n", err_get()), EXIT_USAGE)
				  : cli_runtime_error(r, "cgroups");
		goto out;
	}
	state_fd = state_dir_open(!a->dry_run);
	if (state_fd >= 0) {
		if (!a->dry_run)
			cli_collect_stale(c, state_fd);
		r = state_load(state_fd, vm->pid, vm->starttime_ticks, &prev);
		have_prev = r == 0;
	} else if (!a->dry_run) {
		fprintf(stderr, "kvmcg: cannot open the state directory: %s\n", strerror(-state_fd));
		goto out;
	}
	if (have_prev && prev.mode != pl.host.mode) {
		fprintf(stderr, "kvmcg: pid %d was pinned in %s mode, this host now offers %s; unpin it first\n",
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
			rc = cli_runtime_error(-ENOMEM, "out of memory");
			goto out;
		}
		r = read_dir_states(pl.mount_fd, vm_dir, vm, pl.host.mode == CGROUP_MODE_V2, &dirs);
		if (r < 0) {
			fprintf(stderr, "kvmcg: cannot read the VM's cgroups under %s: %s\n", pl.host.mount,
				cg_strerror(r, NULL));
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
		fprintf(stderr, "kvmcg: %s\n", err_get() ? err_get() : strerror(-r));
		rc = r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
		goto out;
	}
	r = plan_pin(&ph, vm, &spec, &plan);
	if (r < 0) {
		rc = cli_runtime_error(r, "cannot plan");
		goto out;
	}
	mode_note = pl.host.mode == CGROUP_MODE_AFFINITY ? pl.host.why_not_v2 : NULL;
	if (a->dry_run) {
		if (asprintf(&msg, "dry run: %zu action%s planned for pid %d (%s mode%s%s); nothing was changed",
			     plan.n_actions, plan.n_actions == 1 ? "" : "s", (int)vm->pid,
			     cgroup_mode_name(pl.host.mode), mode_note ? ": " : "", mode_note ? mode_note : "") < 0)
			msg = NULL;
		print_result(c, "dry-run", vm, &plan, pl.host.mode, pl.host.mount, vm_dir, msg);
		rc = EXIT_OK;
		goto out;
	}
	if (plan.n_actions == 0) {
		if (asprintf(&msg, "pid %d is already pinned as asked: nothing changed", (int)vm->pid) < 0)
			msg = NULL;
		print_result(c, "unchanged", vm, &plan, pl.host.mode, pl.host.mount, vm_dir, msg);
		rc = EXIT_OK;
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
	if (have_prev) {
		st.threads = prev.threads;
		st.n_threads = prev.n_threads;
		prev.threads = NULL;
		prev.n_threads = 0;
		st.created = prev.created;
		st.n_created = prev.n_created;
		prev.created = NULL;
		prev.n_created = 0;
	} else if (origins_from_vm(vm, pl.host.mode, &st) < 0) {
		rc = cli_runtime_error(-ENOMEM, "out of memory");
		goto out;
	}
	r = spec_copy(&spec, &st.spec);
	if (r == 0)
		r = state_save(state_fd, &st);
	if (r < 0) {
		fprintf(stderr, "kvmcg: cannot write the state file: %s\n", strerror(-r));
		goto out;
	}

	ex.mount_fd = pl.mount_fd;
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.mode = pl.host.mode;
	ex.vm = vm;
	ex.spec = &spec;
	ex.all_cpus = all_cpus;
	ex.fail_at = test_hook("KVMCG_TEST_FAIL_AT");
	ex.kill_at = test_hook("KVMCG_TEST_KILL_AT");

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
			prev.threads = st.threads;
			prev.n_threads = st.n_threads;
			st.threads = NULL;
			st.n_threads = 0;
			prev.created = st.created;
			prev.n_created = st.n_created;
			st.created = NULL;
			st.n_created = 0;
			(void)state_save(state_fd, &prev);
		} else {
			(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
		}
		if (r == -ESRCH) {
			fprintf(stderr, "kvmcg: pid %d exited during the pin; everything done was undone\n",
				(int)vm->pid);
			rc = EXIT_PARTIAL;
		} else {
			fprintf(stderr, "kvmcg: pin failed, everything done was undone: %s\n",
				ex.failed[0] ? ex.failed : strerror(-r));
		}
		goto out;
	}
	for (size_t i = 0; i < plan.n_actions; i++)
		if (plan.actions[i].kind == ACT_MKDIR && plan.actions[i].created &&
		    startswith(plan.actions[i].dir, vm_dir))
			(void)strv_push(&st.created, &st.n_created, plan.actions[i].dir);
	r = state_save(state_fd, &st);
	if (r < 0)
		fprintf(stderr, "kvmcg: warning: pinned, but the state file could not be updated: %s\n",
			strerror(-r));

	if (asprintf(&msg, "pinned pid %d: %zu action%s in %s mode%s%s%s%s", (int)vm->pid, plan.n_actions,
		     plan.n_actions == 1 ? "" : "s", cgroup_mode_name(pl.host.mode), vm_dir ? ", cgroup /" : "",
		     vm_dir ? vm_dir : "", mode_note ? "; " : "", mode_note ? mode_note : "") < 0)
		msg = NULL;
	print_result(c, "applied", vm, &plan, pl.host.mode, pl.host.mount, vm_dir, msg);
	rc = EXIT_OK;
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
	vm_free(vm);
	if (state_fd >= 0)
		close(state_fd);
	return rc;
}

int cmd_pin(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CLI_VMSEL_OPTIONS,
		{"vcpu", required_argument, NULL, OPT_VCPU},
		{"emulator", required_argument, NULL, OPT_EMULATOR},
		{"iothread", required_argument, NULL, OPT_IOTHREAD},
		{"mems", required_argument, NULL, OPT_MEMS},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
		{"affinity-only", no_argument, NULL, OPT_AFFINITY_ONLY},
		{0},
	};
	struct cli c = {.command = "pin", .proc_fd = -1, .sys_fd = -1};
	struct pin_args a = {0};
	const struct cli_command cmd = {
		.options = options, .help = pin_help, .vmsel = true, .extra = parse_pin_option, .userdata = &a,
	};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc == CLI_RUN) {
		if (c.sysroot)
			rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to pin there");
		else if (a.affinity_only && a.cgroup_root)
			rc = cli_usage_error(&c, "--affinity-only and --cgroup-root exclude each other");
		else if (a.affinity_only && a.mems)
			rc = cli_usage_error(&c, "--mems needs a cpuset cgroup; --affinity-only has none");
		else if ((rc = cli_open_roots(&c)) == 0)
			rc = run_pin(&c, &a);
	}
	cli_done(&c);
	pin_args_done(&a);
	return rc;
}

/* ---- unpin -------------------------------------------------------------------------------- */

static int run_unpin(struct cli *c)
{
	int state_fd = state_dir_open(false);
	struct vm *vm = NULL;
	struct vm_state st = {0};
	struct plan plan = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .proc_fd = c->proc_fd};
	struct pin_spec none = {0};
	char msg[160];
	int rc = EXIT_FAILURE_RUNTIME;

	int r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) {
		/* A VM that is gone may have left cgroups behind: clean those up. */
		int removed = state_fd >= 0 ? cli_collect_stale(c, state_fd) : 0;
		if (r == -ESRCH && c->sel.pid > 0 && removed > 0) {
			printf("pid %d is gone; removed the cgroups kvmcg had made for it\n", (int)c->sel.pid);
			rc = EXIT_OK;
		} else {
			rc = cli_runtime_error(r, "cannot select the VM");
		}
		goto out;
	}
	if (state_fd >= 0)
		cli_collect_stale(c, state_fd);
	r = state_fd >= 0 ? state_load(state_fd, vm->pid, vm->starttime_ticks, &st) : state_fd;
	if (r == -ENOENT) {
		print_result(c, "unchanged", vm, NULL, CGROUP_MODE_AFFINITY, NULL, NULL,
			     "kvmcg has not pinned this VM: nothing to undo");
		rc = EXIT_OK;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "kvmcg: cannot read the state of pid %d: %s\n", (int)vm->pid,
			r == -EBADMSG ? "the state file is damaged" : strerror(-r));
		goto out;
	}
	r = plan_unpin(&st, vm, &plan);
	if (r < 0) {
		rc = cli_runtime_error(r, "cannot plan");
		goto out;
	}
	if (st.mount) {
		ex.mount_fd = open(st.mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (ex.mount_fd < 0) {
			fprintf(stderr, "kvmcg: cannot open %s: %s\n", st.mount, strerror(errno));
			goto out;
		}
	}
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.mode = st.mode;
	ex.vm = vm;
	ex.spec = &none;
	ex.all_cpus = c->host.online_cpus;
	ex.fail_at = test_hook("KVMCG_TEST_FAIL_AT");
	ex.kill_at = test_hook("KVMCG_TEST_KILL_AT");
	r = exec_hold_vm(&ex);
	if (r == 0)
		r = exec_plan(&ex, &plan);
	if (r < 0) {
		fprintf(stderr, "kvmcg: unpin failed, the pin was left as it was: %s\n",
			ex.failed[0] ? ex.failed : strerror(-r));
		rc = r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME;
		goto out;
	}
	(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
	snprintf(msg, sizeof(msg), "unpinned pid %d: every thread is back in its cgroup and affinity", (int)vm->pid);
	print_result(c, "applied", vm, &plan, st.mode, st.mount, st.vm_dir, msg);
	rc = EXIT_OK;
out:
	exec_done(&ex);
	if (ex.pidfd >= 0)
		close(ex.pidfd);
	if (ex.mount_fd >= 0)
		close(ex.mount_fd);
	plan_done(&plan);
	vm_state_done(&st);
	vm_free(vm);
	if (state_fd >= 0)
		close(state_fd);
	return rc;
}

int cmd_unpin(int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, CLI_VMSEL_OPTIONS, {0}};
	static const struct cli_command cmd = {.options = options, .help = unpin_help, .vmsel = true};
	struct cli c = {.command = "unpin", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if ((rc = cli_open_roots(&c)) == 0)
		rc = run_unpin(&c);
	cli_done(&c);
	return rc;
}
