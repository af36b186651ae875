// SPDX-License-Identifier: GPL-2.0-or-later
/* plan: command-line forms, tune validation and merging, and the action lists of
 * pin and unpin. The planner is pure, so VMs, the cgroups in place and the recorded
 * states are built by hand here; every expected action is written out from the
 * inputs of its test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "plan/layout.h"
#include "plan/plan.h"
#include "state/state.h"
#include "basic/util.h"

/* ---- building blocks ------------------------------------------------------------------ */

static struct idset *set_of(const char *list)
{
	struct idset *s = NULL;
	int r = idset_parse(list, &s, NULL);
	cr_assert_eq(r, 0, "idset_parse(\"%s\") = %d", list, r);
	cr_assert_not_null(s);
	return s;
}

/* want NULL: the set must be NULL ("not pinned"). */
static void assert_set(const struct idset *s, const char *want, const char *what)
{
	if (!want) {
		cr_assert_null(s, "%s: expected no set", what);
		return;
	}
	cr_assert_not_null(s, "%s: expected %s, got no set", what, want);
	_cleanup_free_ char *f = idset_format(s);
	cr_assert_not_null(f);
	cr_assert_str_eq(f, want, "%s: got %s, expected %s", what, f, want);
}

static void assert_err_contains(const char *needle)
{
	const char *e = err_get();
	cr_assert_not_null(e, "an error sentence is set (looking for \"%s\")", needle);
	cr_assert_not_null(strstr(e, needle), "error \"%s\" mentions \"%s\"", e, needle);
}

/* Everything one test builds; freed by the suite's .fini whatever the test did. */
static struct {
	struct idset *online_cpus, *online_mems, *effective_cpus, *effective_mems;
	struct cgroup_dir_state dirs[16];
	size_t n_dirs;
	struct plan_host host;
	struct vm *vm;
	struct vm_tune tune, spec2, merged;
	struct plan plan;
	struct vm_state state;
	struct vcpu_arg args[4];
	size_t n_args;
} fx;

static void fx_done(void)
{
	idset_free(fx.online_cpus);
	idset_free(fx.online_mems);
	idset_free(fx.effective_cpus);
	idset_free(fx.effective_mems);
	for (size_t i = 0; i < fx.n_dirs; i++) {
		free(fx.dirs[i].path);
		free(fx.dirs[i].subtree_control);
		free(fx.dirs[i].cpus);
		free(fx.dirs[i].mems);
		free(fx.dirs[i].io_max);
		free(fx.dirs[i].io_weight);
		free(fx.dirs[i].io_bfq_weight);
	}
	vm_free(fx.vm);
	vm_tune_done(&fx.tune);
	vm_tune_done(&fx.spec2);
	vm_tune_done(&fx.merged);
	plan_done(&fx.plan);
	vm_state_done(&fx.state);
	for (size_t i = 0; i < fx.n_args; i++)
		idset_free(fx.args[i].cpus);
	memset(&fx, 0, sizeof(fx));
}

/* Online CPUs 0-3 and nodes 0-1; what kvmcg's cgroup may use is effective_cpus and
 * nodes 0-1. The VM's cgroup is kvmcg/demo. */
static void host_init(enum pin_backend backend, const char *effective_cpus)
{
	fx.online_cpus = set_of("0-3");
	fx.online_mems = set_of("0-1");
	fx.effective_cpus = set_of(effective_cpus);
	fx.effective_mems = set_of("0-1");
	fx.host = (struct plan_host){
		.backend = backend,
		.online_cpus = fx.online_cpus,
		.online_mems = fx.online_mems,
		.effective_cpus = fx.effective_cpus,
		.effective_mems = fx.effective_mems,
		.dirs = fx.dirs,
		.n_dirs = 0,
		.vm_dir = backend == BACKEND_AFFINITY ? NULL : "kvmcg/demo",
	};
}

/* Before a second host_init in one test. */
static void host_reset(void)
{
	idset_free(fx.online_cpus);
	idset_free(fx.online_mems);
	idset_free(fx.effective_cpus);
	idset_free(fx.effective_mems);
	fx.online_cpus = fx.online_mems = fx.effective_cpus = fx.effective_mems = NULL;
}

static void add_dir(const char *path, bool exists, bool threaded, const char *subtree, const char *cpus,
		    const char *mems, bool memory_migrate)
{
	cr_assert_lt(fx.n_dirs, ARRAY_SIZE(fx.dirs));
	fx.dirs[fx.n_dirs++] = (struct cgroup_dir_state){
		.path = strdup(path),
		.exists = exists,
		.threaded = threaded,
		.subtree_control = strdup_or_null(subtree),
		.cpus = strdup_or_null(cpus),
		.mems = strdup_or_null(mems),
		.memory_migrate = memory_migrate,
	};
	fx.host.n_dirs = fx.n_dirs;
}

static void missing_dir(const char *path)
{
	add_dir(path, false, false, NULL, NULL, NULL, false);
}

static struct vm *vm_new(pid_t pid)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	cr_assert_not_null(vm);
	vm->pid = pid;
	vm->starttime_ticks = 4242;
	vm->name = strdup("demo");
	vm->comm = strdup("qemu-system-x86");
	vm->is_qemu = true;
	vm->has_kvm = true;
	vm->source = DISCOVERY_NAMES;
	return vm;
}

/* affinity NULL: not read. */
static void add_thread(struct vm *vm, pid_t tid, enum thread_kind kind, int vcpu, const char *iothread,
		       const char *cgroup, const char *affinity)
{
	struct vm_thread *n = realloc(vm->threads, (vm->n_threads + 1) * sizeof(*n));
	cr_assert_not_null(n);
	vm->threads = n;
	struct vm_thread *t = &vm->threads[vm->n_threads++];
	*t = (struct vm_thread){.tid = tid, .kind = kind, .vcpu_index = kind == THREAD_VCPU ? vcpu : -1};
	snprintf(t->stat.comm, sizeof(t->stat.comm), "t%d", (int)tid);
	t->iothread_id = strdup_or_null(iothread);
	t->cgroup = strdup_or_null(cgroup);
	t->affinity = affinity ? set_of(affinity) : NULL;
}

#define ORIGIN "/machine.slice/demo.scope"

/* The VM of most tests: pid 1000 (main loop), vCPUs 0 and 1, iothread io1, a
 * kernel worker (vhost). Threads are in `cgroup` with affinity 0-3, unless in_place:
 * then each is in its kvmcg child with the affinity std_spec() asks for. */
static void std_vm(bool in_place, bool v1)
{
	fx.vm = vm_new(1000);
	fx.vm->n_vcpus_expected = 2;
	if (in_place) {
		add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, "/kvmcg/demo/emulator", "3");
		add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, "/kvmcg/demo/vcpu0", "0");
		add_thread(fx.vm, 1002, THREAD_VCPU, 1, NULL, "/kvmcg/demo/vcpu1", "0-3");
		add_thread(fx.vm, 1003, THREAD_IOTHREAD, -1, "io1", "/kvmcg/demo/iothread-io1", "2");
		add_thread(fx.vm, 1004, THREAD_WORKER, -1, NULL, "/kvmcg/demo/emulator", "3");
	} else {
		const char *cg = v1 ? "/" : ORIGIN;
		add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, cg, "0-3");
		add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, cg, "0-3");
		add_thread(fx.vm, 1002, THREAD_VCPU, 1, NULL, cg, "0-3");
		add_thread(fx.vm, 1003, THREAD_IOTHREAD, -1, "io1", cg, "0-3");
		add_thread(fx.vm, 1004, THREAD_WORKER, -1, NULL, cg, "0-3");
	}
	for (size_t i = 0; i < fx.vm->n_threads; i++)
		fx.vm->threads[i].cgroup_v1 = v1;
}

/* vCPU 0 on CPU 0, vCPU 1 not pinned, io1 on 2, the emulator on 3, memory on node 0. */
static void std_spec(struct vm_tune *s)
{
	s->n_vcpu = 2;
	s->vcpu = calloc(2, sizeof(*s->vcpu));
	cr_assert_not_null(s->vcpu);
	s->vcpu[0] = set_of("0");
	s->emulator = set_of("3");
	s->n_iothread = 1;
	s->iothread_ids = calloc(1, sizeof(char *));
	s->iothread = calloc(1, sizeof(*s->iothread));
	cr_assert(s->iothread_ids && s->iothread);
	s->iothread_ids[0] = strdup("io1");
	s->iothread[0] = set_of("2");
	s->mems = set_of("0");
}

/* ---- checking plans ------------------------------------------------------------------- */

struct want {
	enum action_kind kind;
	const char *dir, *file, *value;
	pid_t tid;
	const char *cpus;
};

/* The plan as text, for failure messages. Static: one dump per failing test. */
static const char *dump(const struct plan *p)
{
	static char buf[8192];
	size_t l = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < p->n_actions && l < sizeof(buf) - 1; i++) {
		const struct action *a = &p->actions[i];
		_cleanup_free_ char *c = a->cpus ? idset_format(a->cpus) : NULL;
		int n = snprintf(buf + l, sizeof(buf) - l, "\n  %2zu %-17s dir=%s file=%s value=%s tid=%d cpus=%s", i,
				 action_kind_name(a->kind), a->dir ? a->dir : "(null)", a->file ? a->file : "(null)",
				 a->value ? a->value : "(null)", (int)a->tid, c ? c : "(null)");
		if (n < 0)
			break;
		l += (size_t)n;
		if (l >= sizeof(buf))
			l = sizeof(buf) - 1;
	}
	return buf;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_action(const struct plan *p, size_t i, const struct want *w)
{
	const struct action *a = &p->actions[i];
	cr_assert_eq(a->kind, w->kind, "action %zu is %s, expected %s; plan:%s", i, action_kind_name(a->kind),
		     action_kind_name(w->kind), dump(p));
	cr_assert(same_str(a->dir, w->dir), "action %zu dir is %s, expected %s; plan:%s", i,
		  a->dir ? a->dir : "(null)", w->dir ? w->dir : "(null)", dump(p));
	cr_assert(same_str(a->file, w->file), "action %zu file is %s, expected %s; plan:%s", i,
		  a->file ? a->file : "(null)", w->file ? w->file : "(null)", dump(p));
	cr_assert(same_str(a->value, w->value), "action %zu value is %s, expected %s; plan:%s", i,
		  a->value ? a->value : "(null)", w->value ? w->value : "(null)", dump(p));
	cr_assert_eq(a->tid, w->tid, "action %zu tid is %d, expected %d; plan:%s", i, (int)a->tid, (int)w->tid,
		     dump(p));
	char what[64];
	snprintf(what, sizeof(what), "cpus of action %zu", i);
	assert_set(a->cpus, w->cpus, what);
}

static void assert_plan(const struct plan *p, const struct want *w, size_t n)
{
	cr_assert_eq(p->n_actions, n, "%zu actions, expected %zu; plan:%s", p->n_actions, n, dump(p));
	for (size_t i = 0; i < n; i++)
		assert_action(p, i, &w[i]);
}

/* Index of the first action of a kind (on dir, for file, when given), or -1. */
static long find(const struct plan *p, enum action_kind k, const char *dir, const char *file)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == k && (!dir || same_str(p->actions[i].dir, dir)) &&
		    (!file || same_str(p->actions[i].file, file)))
			return (long)i;
	return -1;
}

static long find_affinity(const struct plan *p, pid_t tid)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_SET_AFFINITY && p->actions[i].tid == tid)
			return (long)i;
	return -1;
}

static size_t count_kind(const struct plan *p, enum action_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_actions; i++)
		n += p->actions[i].kind == k;
	return n;
}

static bool is_cgroup_action(enum action_kind k)
{
	return k != ACT_SET_AFFINITY && k != ACT_RESCAN;
}

/* Ordering rules every cgroup plan obeys, whatever the starting point:
 * - every affinity comes after every cgroup action (moves and cpuset writes reset it);
 * - the rescan comes after every move, and there is one when anything moves;
 * - a directory is made before anything is done in it, and its parent before it. */
static void assert_plan_order(const struct plan *p)
{
	long last_cgroup = -1, first_affinity = -1, last_move = -1, rescan = -1;
	for (size_t i = 0; i < p->n_actions; i++) {
		enum action_kind k = p->actions[i].kind;
		if (is_cgroup_action(k))
			last_cgroup = (long)i;
		if (k == ACT_SET_AFFINITY && first_affinity < 0)
			first_affinity = (long)i;
		if (k == ACT_MOVE_PROCESS || k == ACT_MOVE_THREAD)
			last_move = (long)i;
		if (k == ACT_RESCAN) {
			cr_assert_lt(rescan, 0, "one rescan; plan:%s", dump(p));
			rescan = (long)i;
		}
	}
	if (first_affinity >= 0)
		cr_assert_gt(first_affinity, last_cgroup, "affinity after every cgroup action; plan:%s", dump(p));
	if (last_move >= 0) {
		cr_assert_gt(rescan, last_move, "a rescan after the last move; plan:%s", dump(p));
	}
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (a->kind == ACT_MKDIR) {
			/* nothing in this directory before it exists */
			for (size_t j = 0; j < i; j++)
				cr_assert(!same_str(p->actions[j].dir, a->dir) || p->actions[j].kind == ACT_RMDIR,
					  "action %zu on %s comes before its mkdir %zu; plan:%s", j, a->dir, i, dump(p));
			/* a new parent is made first */
			const char *slash = strrchr(a->dir, '/');
			if (slash) {
				_cleanup_free_ char *parent = strndup(a->dir, (size_t)(slash - a->dir));
				long pm = find(p, ACT_MKDIR, parent, NULL);
				cr_assert(pm < (long)i, "parent %s made after %s; plan:%s", parent, a->dir, dump(p));
			}
		}
	}
}

/* ---- parse_vcpu_arg / parse_iothread_arg ------------------------------------------------- */

Test(plan_args, vcpu_single)
{
	struct vcpu_arg a = {0};
	cr_assert_eq(parse_vcpu_arg("0:2", "--vcpu", &a, NULL), 0);
	cr_assert_eq(a.first, 0);
	cr_assert_eq(a.last, 0);
	assert_set(a.cpus, "2", "0:2");
	idset_free(a.cpus);

	cr_assert_eq(parse_vcpu_arg("12:3,5", "--vcpu", &a, NULL), 0);
	cr_assert_eq(a.first, 12);
	cr_assert_eq(a.last, 12);
	assert_set(a.cpus, "3,5", "12:3,5");
	idset_free(a.cpus);
}

Test(plan_args, vcpu_range)
{
	struct vcpu_arg a = {0};
	cr_assert_eq(parse_vcpu_arg("0-3:4-7", "--vcpu", &a, NULL), 0);
	cr_assert_eq(a.first, 0);
	cr_assert_eq(a.last, 3);
	assert_set(a.cpus, "4-7", "0-3:4-7");
	idset_free(a.cpus);

	cr_assert_eq(parse_vcpu_arg("2-2:1", "--vcpu", &a, NULL), 0, "a one-vCPU range");
	cr_assert_eq(a.first, 2);
	cr_assert_eq(a.last, 2);
	idset_free(a.cpus);
}

Test(plan_args, vcpu_all_with_stride)
{
	/* Only the first ':' separates: the rest is the list, stride included. */
	struct vcpu_arg a = {0};
	cr_assert_eq(parse_vcpu_arg("all:0-31:2", "--vcpu", &a, NULL), 0);
	cr_assert_eq(a.first, -1);
	cr_assert_eq(a.last, -1);
	cr_assert_eq(idset_count(a.cpus), 16);
	for (unsigned b = 0; b < 32; b++)
		cr_assert_eq(idset_isset(a.cpus, b), b % 2 == 0, "CPU %u", b);
	idset_free(a.cpus);
}

Test(plan_args, vcpu_errors)
{
	static const char *const bad[] = {"x:1", "3-1:0", "0:", "0:x", ":1", "0", "-1:0", "1-:0", "0-x:1",
					  "all", "all:", "0:3-1", "0:1,,2", "ALL:1", " 0:1", "0-3"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vcpu_arg a = {.first = 77, .last = 77, .cpus = NULL};
		err_clear();
		int r = parse_vcpu_arg(bad[i], "--vcpu", &a, NULL);
		cr_assert_eq(r, -EINVAL, "parse_vcpu_arg(\"%s\") = %d", bad[i], r);
		cr_assert_eq(a.first, 77, "\"%s\" leaves the result alone", bad[i]);
		cr_assert_null(a.cpus, "\"%s\" leaves the result alone", bad[i]);
		cr_assert_not_null(err_get(), "\"%s\" explains itself", bad[i]);
		cr_assert_not_null(strstr(err_get(), "--vcpu"), "\"%s\": %s", bad[i], err_get());
	}
}

Test(plan_args, vcpu_error_messages)
{
	struct vcpu_arg a = {0};
	err_clear();
	cr_assert_eq(parse_vcpu_arg("0:", "--vcpu", &a, NULL), -EINVAL);
	assert_err_contains("empty");
	err_clear();
	cr_assert_eq(parse_vcpu_arg("0:x", "--vcpu", &a, NULL), -EINVAL);
	assert_err_contains("not a CPU list");
	err_clear();
	cr_assert_eq(parse_vcpu_arg("x:1", "--vcpu", &a, NULL), -EINVAL);
	assert_err_contains("'x' is not a vCPU index");
	err_clear();
	cr_assert_eq(parse_vcpu_arg("0", "--vcpu", &a, NULL), -EINVAL);
	assert_err_contains("VCPU:CPUS");
}

Test(plan_args, iothread)
{
	char *id = NULL;
	struct idset *cpus = NULL;
	cr_assert_eq(parse_iothread_arg("io1:3", "--iothread", &id, &cpus, NULL), 0);
	cr_assert_str_eq(id, "io1");
	assert_set(cpus, "3", "io1:3");
	free(id);
	idset_free(cpus);

	id = NULL;
	cpus = NULL;
	cr_assert_eq(parse_iothread_arg("iothread-disk0:4-5,7", "--iothread", &id, &cpus, NULL), 0);
	cr_assert_str_eq(id, "iothread-disk0");
	assert_set(cpus, "4-5,7", "iothread-disk0:4-5,7");
	free(id);
	idset_free(cpus);
}

Test(plan_args, iothread_errors)
{
	static const char *const bad[] = {":3", "io1:", "io1", "io1:x", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *id = NULL;
		struct idset *cpus = NULL;
		err_clear();
		int r = parse_iothread_arg(bad[i], "--iothread", &id, &cpus, NULL);
		cr_assert_eq(r, -EINVAL, "parse_iothread_arg(\"%s\") = %d", bad[i], r);
		cr_assert_null(id, "\"%s\"", bad[i]);
		cr_assert_null(cpus, "\"%s\"", bad[i]);
		cr_assert_not_null(err_get(), "\"%s\" explains itself", bad[i]);
		cr_assert_not_null(strstr(err_get(), "--iothread"), "\"%s\": %s", bad[i], err_get());
	}
}

/* ---- plan_merge_spec --------------------------------------------------------------------- */

/* vCPUs 0 and 1, iothreads io1 and io2. */
static void merge_vm(void)
{
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1002, THREAD_VCPU, 1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1003, THREAD_IOTHREAD, -1, "io1", ORIGIN, "0-3");
	add_thread(fx.vm, 1005, THREAD_IOTHREAD, -1, "io2", ORIGIN, "0-3");
}

static struct vcpu_arg *arg(const char *text)
{
	cr_assert_lt(fx.n_args, ARRAY_SIZE(fx.args));
	struct vcpu_arg *a = &fx.args[fx.n_args];
	int r = parse_vcpu_arg(text, "--vcpu", a, NULL);
	cr_assert_eq(r, 0, "parse_vcpu_arg(\"%s\") = %d", text, r);
	fx.n_args++;
	return a;
}

/* Drops the --vcpu arguments given so far. */
static void args_reset(void)
{
	for (size_t i = 0; i < fx.n_args; i++) {
		idset_free(fx.args[i].cpus);
		fx.args[i].cpus = NULL;
	}
	fx.n_args = 0;
}

static int merge(const struct vm_tune *previous, const struct idset *emulator, const char *io_id,
		 const struct idset *io_cpus, const struct idset *mems)
{
	char *ids[1] = {(char *)io_id};
	struct idset *sets[1] = {(struct idset *)io_cpus};
	err_clear();
	return plan_merge_spec(&fx.host, fx.vm, previous, fx.args, fx.n_args, emulator, ids, sets,
			       io_id ? 1 : 0, mems, &fx.merged);
}

static const struct idset *merged_iothread(const struct vm_tune *s, const char *id)
{
	for (size_t i = 0; i < s->n_iothread; i++)
		if (strcmp(s->iothread_ids[i], id) == 0)
			return s->iothread[i];
	return NULL;
}

TestSuite(plan_merge, .fini = fx_done);

Test(plan_merge, everything_valid)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("0:0");
	arg("1:1");
	struct idset *emu _cleanup_cpuset_ = set_of("3");
	struct idset *io _cleanup_cpuset_ = set_of("2");
	struct idset *mems _cleanup_cpuset_ = set_of("1");
	cr_assert_eq(merge(NULL, emu, "io1", io, mems), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 2);
	assert_set(fx.merged.vcpu[0], "0", "vcpu 0");
	assert_set(fx.merged.vcpu[1], "1", "vcpu 1");
	assert_set(fx.merged.emulator, "3", "emulator");
	assert_set(fx.merged.mems, "1", "mems");
	cr_assert_eq(fx.merged.n_iothread, 1);
	assert_set(merged_iothread(&fx.merged, "io1"), "2", "io1");
	cr_assert_null(merged_iothread(&fx.merged, "io2"), "io2 was not asked for");
}

Test(plan_merge, range_applies_to_each_vcpu)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("0-1:2-3");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 2);
	assert_set(fx.merged.vcpu[0], "2-3", "vcpu 0");
	assert_set(fx.merged.vcpu[1], "2-3", "vcpu 1");
	cr_assert_neq(fx.merged.vcpu[0], fx.merged.vcpu[1], "each vCPU owns its set");
	cr_assert_null(fx.merged.emulator);
	cr_assert_null(fx.merged.mems);
	cr_assert_eq(fx.merged.n_iothread, 0);
}

/* A vCPU the VM may still gain by hot-plug (-smp 2,maxcpus=4: 2 and 3): a policy's
 * VCPUPin= leaves it for when it appears, --vcpu says how to get it pinned; past
 * maxcpus both refuse. */
Test(plan_merge, vcpus_not_plugged_in_yet)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	fx.vm->qemu.smp_maxcpus = 4;
	arg("3:2");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("--vcpu 3: this VM has no vCPU 3 yet (it has vCPUs 0-1, and up to 3 with hot-plug)");
	args_reset();
	arg("0:0")->from_policy = true;
	arg("3:2")->from_policy = true;
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 2, "only the vCPUs that exist are in the tune");
	assert_set(fx.merged.vcpu[0], "0", "vcpu 0");
	cr_assert_null(fx.merged.vcpu[1]);
	vm_tune_done(&fx.merged);
	args_reset();
	arg("4:2")->from_policy = true;
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("VCPUPin= 4: this VM has no vCPU 4 (it has vCPUs 0-1)");
}

Test(plan_merge, cpu_not_online)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("0:5");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -EINVAL);
	assert_err_contains("CPU 5 is not online");
	assert_err_contains("online CPUs: 0-3");
	cr_assert_null(fx.merged.vcpu, "no tune on error");
}

Test(plan_merge, cpus_not_online_are_listed)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("1:2-5,7");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -EINVAL);
	assert_err_contains("CPUs 4-5,7 are not online");
	assert_err_contains("0-3");
}

Test(plan_merge, emulator_and_iothread_cpus_not_online)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	struct idset *bad _cleanup_cpuset_ = set_of("8");
	cr_assert_eq(merge(NULL, bad, NULL, NULL, NULL), -EINVAL);
	assert_err_contains("--emulator");
	assert_err_contains("CPU 8 is not online");
	cr_assert_eq(merge(NULL, NULL, "io2", bad, NULL), -EINVAL);
	assert_err_contains("--iothread");
	assert_err_contains("CPU 8 is not online");
}

Test(plan_merge, cpu_outside_parent)
{
	/* online 0-3, but kvmcg's cgroup may only use 0-1 */
	host_init(BACKEND_CGROUP_V2, "0-1");
	merge_vm();
	arg("0:1-2");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -EINVAL);
	const char *e = err_get();
	cr_assert_not_null(e);
	cr_assert_null(strstr(e, "not online"), "CPU 2 is online: %s", e);
	assert_err_contains("CPU 2 is outside");
	assert_err_contains("0-1");

	struct idset *emu _cleanup_cpuset_ = set_of("3");
	args_reset();
	cr_assert_eq(merge(NULL, emu, NULL, NULL, NULL), -EINVAL);
	assert_err_contains("--emulator");
	assert_err_contains("CPU 3 is outside");
}

Test(plan_merge, vcpu_index_out_of_range)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("5:0");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("no vCPU 5");
	assert_err_contains("0-1");
}

Test(plan_merge, vcpu_range_partly_out_of_range)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	arg("1-2:0");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("no vCPU 2");
	cr_assert_null(fx.merged.vcpu, "no partial tune on error");
}

Test(plan_merge, all_covers_unidentified_vcpus)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	/* vCPUs 2 and 3 exist (the VM has 4) but their threads are not known yet */
	fx.vm->n_vcpus_expected = 4;
	fx.vm->unidentified_vcpus = calloc(2, sizeof(int));
	cr_assert_not_null(fx.vm->unidentified_vcpus);
	fx.vm->unidentified_vcpus[0] = 2;
	fx.vm->unidentified_vcpus[1] = 3;
	fx.vm->n_unidentified_vcpus = 2;
	arg("all:1-2");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 4);
	for (int i = 0; i < 4; i++) {
		char what[32];
		snprintf(what, sizeof(what), "vcpu %d", i);
		assert_set(fx.merged.vcpu[i], "1-2", what);
	}
	/* and by index, an unidentified vCPU is a vCPU too */
	args_reset();
	vm_tune_done(&fx.merged);
	arg("3:0");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	assert_set(fx.merged.vcpu[3], "0", "vcpu 3");
	assert_set(fx.merged.vcpu[0], NULL, "vcpu 0");
}

Test(plan_merge, all_skips_unplugged_vcpus)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1003, THREAD_VCPU, 2, NULL, ORIGIN, "0-3"); /* vCPU 1 unplugged */
	arg("all:3");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 3);
	assert_set(fx.merged.vcpu[0], "3", "vcpu 0");
	assert_set(fx.merged.vcpu[1], NULL, "the hole");
	assert_set(fx.merged.vcpu[2], "3", "vcpu 2");

	/* by index, the hole is an error */
	args_reset();
	vm_tune_done(&fx.merged);
	arg("1:3");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("no vCPU 1");
}

Test(plan_merge, all_without_vcpus)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	arg("all:1");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), -ERANGE);
	assert_err_contains("no vCPUs");
}

Test(plan_merge, unknown_iothread)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	struct idset *io _cleanup_cpuset_ = set_of("2");
	cr_assert_eq(merge(NULL, NULL, "io9", io, NULL), -EINVAL);
	assert_err_contains("io9");
	assert_err_contains("io1, io2");
}

Test(plan_merge, unknown_iothread_of_a_vm_without_any)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0-3");
	struct idset *io _cleanup_cpuset_ = set_of("2");
	cr_assert_eq(merge(NULL, NULL, "io1", io, NULL), -EINVAL);
	assert_err_contains("io1");
	assert_err_contains("none");
}

Test(plan_merge, mems_refused_in_affinity_mode)
{
	host_init(BACKEND_AFFINITY, "0-3");
	merge_vm();
	struct idset *mems _cleanup_cpuset_ = set_of("0");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, mems), -EINVAL);
	assert_err_contains("--mems");
	cr_assert_null(fx.merged.mems);

	/* the same request without --mems is fine in affinity mode */
	arg("0:1");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, NULL), 0, "%s", err_get() ? err_get() : "");
	assert_set(fx.merged.vcpu[0], "1", "vcpu 0");
}

Test(plan_merge, mems_not_online)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	struct idset *mems _cleanup_cpuset_ = set_of("2");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, mems), -EINVAL);
	assert_err_contains("--mems");
	assert_err_contains("node 2 is not online");
	assert_err_contains("online nodes: 0-1");

	struct idset *ok _cleanup_cpuset_ = set_of("0-1");
	host_reset();
	host_init(BACKEND_CGROUP_V1, "0-3");
	cr_assert_eq(plan_merge_spec(&fx.host, fx.vm, NULL, NULL, 0, NULL, NULL, NULL, 0, ok, &fx.merged), 0,
		     "v1 takes --mems: %s", err_get() ? err_get() : "");
	assert_set(fx.merged.mems, "0-1", "mems");
}

Test(plan_merge, mems_without_memory)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	struct idset *with _cleanup_cpuset_ = set_of("0");
	fx.host.memory_mems = with; /* node 1 is online and has only CPUs */
	struct idset *mems _cleanup_cpuset_ = set_of("0-1");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, mems), -EINVAL);
	assert_err_contains("--mems: node 1 has no memory (nodes with memory: 0)");
	struct idset *zero _cleanup_cpuset_ = set_of("0");
	cr_assert_eq(merge(NULL, NULL, NULL, NULL, zero), 0, "%s", err_get() ? err_get() : "");
}

Test(plan_merge, previous_pins_are_kept_and_overridden)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	merge_vm();
	fx.tune.n_vcpu = 2;
	fx.tune.vcpu = calloc(2, sizeof(*fx.tune.vcpu));
	cr_assert_not_null(fx.tune.vcpu);
	fx.tune.vcpu[0] = set_of("0");
	fx.tune.vcpu[1] = set_of("1");
	fx.tune.emulator = set_of("3");
	fx.tune.mems = set_of("0");
	fx.tune.n_iothread = 2;
	fx.tune.iothread_ids = calloc(2, sizeof(char *));
	fx.tune.iothread = calloc(2, sizeof(*fx.tune.iothread));
	cr_assert(fx.tune.iothread_ids && fx.tune.iothread);
	fx.tune.iothread_ids[0] = strdup("io1");
	fx.tune.iothread[0] = set_of("2");
	fx.tune.iothread_ids[1] = strdup("io-gone"); /* an iothread removed since */
	fx.tune.iothread[1] = set_of("2");

	arg("1:2-3");
	struct idset *io2 _cleanup_cpuset_ = set_of("1");
	cr_assert_eq(merge(&fx.tune, NULL, "io2", io2, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(fx.merged.n_vcpu, 2);
	assert_set(fx.merged.vcpu[0], "0", "vcpu 0 kept");
	assert_set(fx.merged.vcpu[1], "2-3", "vcpu 1 overridden");
	assert_set(fx.merged.emulator, "3", "emulator kept");
	assert_set(fx.merged.mems, "0", "mems kept");
	assert_set(merged_iothread(&fx.merged, "io1"), "2", "io1 kept");
	assert_set(merged_iothread(&fx.merged, "io2"), "1", "io2 added");
	cr_assert_null(merged_iothread(&fx.merged, "io-gone"), "a vanished iothread is dropped");
	cr_assert_eq(fx.merged.n_iothread, 2);

	/* the previous tune is left as it was and shares nothing with the result */
	assert_set(fx.tune.vcpu[1], "1", "previous vcpu 1");
	cr_assert_neq(fx.merged.vcpu[0], fx.tune.vcpu[0]);
	cr_assert_neq(fx.merged.emulator, fx.tune.emulator);

	/* overriding the emulator, an iothread and the nodes */
	vm_tune_done(&fx.merged);
	args_reset();
	struct idset *emu _cleanup_cpuset_ = set_of("1-2");
	struct idset *io1 _cleanup_cpuset_ = set_of("0");
	struct idset *mems _cleanup_cpuset_ = set_of("1");
	cr_assert_eq(merge(&fx.tune, emu, "io1", io1, mems), 0, "%s", err_get() ? err_get() : "");
	assert_set(fx.merged.vcpu[1], "1", "vcpu 1 kept");
	assert_set(fx.merged.emulator, "1-2", "emulator overridden");
	assert_set(merged_iothread(&fx.merged, "io1"), "0", "io1 overridden");
	assert_set(fx.merged.mems, "1", "mems overridden");
	cr_assert_eq(fx.merged.n_iothread, 1, "io1 once");
}

/* ---- layout_child_name ---------------------------------------------------------------------- */

Test(layout_child_name, names)
{
	struct vm_thread t = {.kind = THREAD_VCPU, .vcpu_index = 3};
	_cleanup_free_ char *a = layout_child_name(&t);
	cr_assert_str_eq(a, "vcpu3");

	t = (struct vm_thread){.kind = THREAD_IOTHREAD, .vcpu_index = -1, .iothread_id = (char *)"io.1/x"};
	_cleanup_free_ char *b = layout_child_name(&t);
	cr_assert_str_eq(b, "iothread-io_2e1_2fx"); /* '.' is 0x2e, '/' is 0x2f */

	t = (struct vm_thread){.kind = THREAD_IOTHREAD, .vcpu_index = -1, .iothread_id = (char *)"iothread0"};
	_cleanup_free_ char *c = layout_child_name(&t);
	cr_assert_str_eq(c, "iothread-iothread0");

	t = (struct vm_thread){.kind = THREAD_EMULATOR, .vcpu_index = -1};
	_cleanup_free_ char *d = layout_child_name(&t);
	cr_assert_str_eq(d, "emulator");

	t = (struct vm_thread){.kind = THREAD_WORKER, .vcpu_index = -1};
	_cleanup_free_ char *e = layout_child_name(&t);
	cr_assert_str_eq(e, "emulator");
}

Test(layout_child_name, iothread_name_never_escapes)
{
	static const char *const ids[] = {"..", "../../etc", "a/../b", ".hidden", "x\ny"};
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		struct vm_thread t = {.kind = THREAD_IOTHREAD, .vcpu_index = -1, .iothread_id = (char *)ids[i]};
		_cleanup_free_ char *n = layout_child_name(&t);
		cr_assert_not_null(n);
		cr_assert(strncmp(n, "iothread-", 9) == 0, "%s", n);
		cr_assert_null(strchr(n, '/'), "\"%s\" -> %s", ids[i], n);
		cr_assert_null(strstr(n, ".."), "\"%s\" -> %s", ids[i], n);
		cr_assert_null(strchr(n, '\n'), "\"%s\" -> %s", ids[i], n);
	}
}

Test(layout_child_name, action_kind_names)
{
	cr_assert_str_eq(action_kind_name(ACT_MOVE_PROCESS), "move-process");
	cr_assert_str_eq(action_kind_name(ACT_SET_AFFINITY), "set-affinity");
	cr_assert_str_eq(action_kind_name(ACT_RMDIR), "rmdir");
	cr_assert_str_eq(action_kind_name((enum action_kind)99), "?");
}

/* ---- plan_pin, cgroup v2 -------------------------------------------------------------------- */

TestSuite(plan_pin_v2, .fini = fx_done);

/* Nothing made yet: the mount root exists without cpuset delegated, kvmcg does not. */
static void v2_from_scratch(void)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "", "", "", false);
	missing_dir("kvmcg");
	missing_dir("kvmcg/demo");
	missing_dir("kvmcg/demo/emulator");
	missing_dir("kvmcg/demo/vcpu0");
	missing_dir("kvmcg/demo/vcpu1");
	missing_dir("kvmcg/demo/iothread-io1");
	std_vm(false, false);
	std_spec(&fx.tune);
}

/* Everything as std_spec() asks, from an earlier pin. */
static void v2_in_place(void)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "cpuset cpu io memory pids", "", "", false);
	add_dir("kvmcg", true, false, "cpuset", "", "", false);
	add_dir("kvmcg/demo", true, false, "cpuset", "", "0", false);
	add_dir("kvmcg/demo/emulator", true, true, "", "3", "", false);
	add_dir("kvmcg/demo/vcpu0", true, true, "", "0", "", false);
	add_dir("kvmcg/demo/vcpu1", true, true, "", "", "", false);
	add_dir("kvmcg/demo/iothread-io1", true, true, "", "2", "", false);
	std_vm(true, false);
	std_spec(&fx.tune);
}

Test(plan_pin_v2, from_scratch_exact_order)
{
	v2_from_scratch();
	int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
	cr_assert_eq(r, 0, "plan_pin = %d: %s", r, err_get() ? err_get() : "");
	cr_assert_eq(fx.plan.backend, BACKEND_CGROUP_V2);
	cr_assert_str_eq(fx.plan.vm_dir, "kvmcg/demo");
	static const struct want w[] = {
		/* cpuset delegated top-down before anything below uses it */
		{ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpuset", 0, NULL},
		{ACT_MKDIR, "kvmcg", NULL, NULL, 0, NULL},
		{ACT_ENABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "+cpuset", 0, NULL},
		{ACT_MKDIR, "kvmcg/demo", NULL, NULL, 0, NULL},
		{ACT_WRITE, "kvmcg/demo", "cpuset.mems", "0", 0, NULL},
		/* the emulator's cgroup first; threaded before the VM enables cpuset */
		{ACT_MKDIR, "kvmcg/demo/emulator", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/emulator", "cgroup.type", "threaded", 0, NULL},
		{ACT_ENABLE_CONTROLLER, "kvmcg/demo", "cgroup.subtree_control", "+cpuset", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/emulator", "cpuset.cpus", "3", 0, NULL},
		{ACT_MKDIR, "kvmcg/demo/vcpu0", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/vcpu0", "cgroup.type", "threaded", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/vcpu0", "cpuset.cpus", "0", 0, NULL},
		/* vCPU 1 is not pinned: a fresh cgroup inherits, nothing to write */
		{ACT_MKDIR, "kvmcg/demo/vcpu1", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/vcpu1", "cgroup.type", "threaded", 0, NULL},
		{ACT_MKDIR, "kvmcg/demo/iothread-io1", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/iothread-io1", "cgroup.type", "threaded", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/iothread-io1", "cpuset.cpus", "2", 0, NULL},
		/* the whole process (main loop, worker) into emulator/, then the others */
		{ACT_MOVE_PROCESS, "kvmcg/demo/emulator", "cgroup.procs", NULL, 1000, NULL},
		{ACT_MOVE_THREAD, "kvmcg/demo/vcpu0", "cgroup.threads", NULL, 1001, NULL},
		{ACT_MOVE_THREAD, "kvmcg/demo/vcpu1", "cgroup.threads", NULL, 1002, NULL},
		{ACT_MOVE_THREAD, "kvmcg/demo/iothread-io1", "cgroup.threads", NULL, 1003, NULL},
		{ACT_RESCAN, "kvmcg/demo", NULL, NULL, 1000, NULL},
		/* affinities last; the unpinned vCPU gets all its cgroup allows */
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1002, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1003, "2"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1004, "3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
	assert_plan_order(&fx.plan);
}

Test(plan_pin_v2, from_scratch_ordering_rules)
{
	/* The same plan checked by rule rather than by position. */
	v2_from_scratch();
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	const struct plan *p = &fx.plan;
	assert_plan_order(p);

	long en_root = find(p, ACT_ENABLE_CONTROLLER, "", NULL);
	long en_kvmcg = find(p, ACT_ENABLE_CONTROLLER, "kvmcg", NULL);
	long en_vm = find(p, ACT_ENABLE_CONTROLLER, "kvmcg/demo", NULL);
	cr_assert(en_root >= 0 && en_kvmcg > en_root && en_vm > en_kvmcg, "top-down; plan:%s", dump(p));
	cr_assert_eq(count_kind(p, ACT_ENABLE_CONTROLLER), 3);

	long thr_emu = find(p, ACT_SET_THREADED, "kvmcg/demo/emulator", NULL);
	cr_assert(thr_emu >= 0 && thr_emu < en_vm, "emulator threaded before +cpuset on the VM; plan:%s", dump(p));

	/* no cpuset file is written in a child before its parent delegates cpuset */
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_WRITE && p->actions[i].file &&
		    strncmp(p->actions[i].file, "cpuset.", 7) == 0) {
			const char *d = p->actions[i].dir;
			if (strncmp(d, "kvmcg/demo/", 11) == 0)
				cr_assert_gt((long)i, en_vm, "%s written before the VM enables cpuset", d);
			else
				cr_assert_gt((long)i, en_kvmcg, "%s written before kvmcg enables cpuset", d);
		}

	long emu_cpus = find(p, ACT_WRITE, "kvmcg/demo/emulator", "cpuset.cpus");
	long move = find(p, ACT_MOVE_PROCESS, NULL, NULL);
	cr_assert(emu_cpus >= 0 && move > emu_cpus, "emulator cpuset before the process moves in; plan:%s", dump(p));
	cr_assert_eq(count_kind(p, ACT_MOVE_PROCESS), 1);
	cr_assert_str_eq(p->actions[move].dir, "kvmcg/demo/emulator");
	cr_assert_str_eq(p->actions[move].file, "cgroup.procs");
	cr_assert_eq(p->actions[move].tid, fx.vm->pid);

	/* the emulator's threads arrive with the process; only the others are moved */
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_MOVE_THREAD) {
			pid_t tid = p->actions[i].tid;
			cr_assert(tid == 1001 || tid == 1002 || tid == 1003, "tid %d moved; plan:%s", (int)tid, dump(p));
			cr_assert_str_eq(p->actions[i].file, "cgroup.threads");
			cr_assert_gt((long)i, move);
			/* into a cgroup that was made threaded (and written, when pinned) before */
			long thr = find(p, ACT_SET_THREADED, p->actions[i].dir, NULL);
			cr_assert(thr >= 0 && thr < (long)i, "%s threaded before the move", p->actions[i].dir);
			long wr = find(p, ACT_WRITE, p->actions[i].dir, "cpuset.cpus");
			cr_assert(wr < (long)i, "%s written before the move", p->actions[i].dir);
		}
	cr_assert_eq(count_kind(p, ACT_MOVE_THREAD), 3);
	cr_assert(find(p, ACT_WRITE, "kvmcg/demo/vcpu0", "cpuset.cpus") >= 0);

	/* every thread gets an affinity, once */
	for (size_t i = 0; i < fx.vm->n_threads; i++) {
		pid_t tid = fx.vm->threads[i].tid;
		long a = find_affinity(p, tid);
		cr_assert_geq(a, 0, "affinity for %d", (int)tid);
		for (size_t j = (size_t)a + 1; j < p->n_actions; j++)
			cr_assert(!(p->actions[j].kind == ACT_SET_AFFINITY && p->actions[j].tid == tid),
				  "tid %d once", (int)tid);
	}
	assert_set(p->actions[find_affinity(p, 1002)].cpus, "0-3", "unpinned vCPU 1");
}

Test(plan_pin_v2, emulator_cgroup_first_whatever_the_thread_order)
{
	/* Threads listed with a vCPU before the main thread. */
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "cpuset", "", "", false);
	add_dir("kvmcg", true, false, "cpuset", "", "", false);
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	std_spec(&fx.tune);
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		{ACT_MKDIR, "kvmcg/demo", NULL, NULL, 0, NULL},
		{ACT_WRITE, "kvmcg/demo", "cpuset.mems", "0", 0, NULL},
		{ACT_MKDIR, "kvmcg/demo/emulator", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/emulator", "cgroup.type", "threaded", 0, NULL},
		{ACT_ENABLE_CONTROLLER, "kvmcg/demo", "cgroup.subtree_control", "+cpuset", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/emulator", "cpuset.cpus", "3", 0, NULL},
		{ACT_MKDIR, "kvmcg/demo/vcpu0", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/vcpu0", "cgroup.type", "threaded", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/vcpu0", "cpuset.cpus", "0", 0, NULL},
		{ACT_MOVE_PROCESS, "kvmcg/demo/emulator", "cgroup.procs", NULL, 1000, NULL},
		{ACT_MOVE_THREAD, "kvmcg/demo/vcpu0", "cgroup.threads", NULL, 1001, NULL},
		{ACT_RESCAN, "kvmcg/demo", NULL, NULL, 1000, NULL},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_pin_v2, in_place_is_idempotent)
{
	v2_in_place();
	int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
	cr_assert_eq(r, 0, "plan_pin = %d: %s", r, err_get() ? err_get() : "");
	cr_assert_eq(fx.plan.n_actions, 0, "nothing to do; plan:%s", dump(&fx.plan));
}

/* [IO] on the VM's own cgroup, its domain: io delegated top-down with cpuset, then
 * one line per disk, each in the file that carries it. */
Test(plan_pin_v2, iotune_from_scratch)
{
	v2_from_scratch();
	fx.tune.iotune.weight = 300;
	struct io_device *d = iotune_get(&fx.tune.iotune, 7, 0);
	cr_assert_not_null(d);
	d->wbps = 10485760;
	d->riops = 1000;
	d->weight = 500;
	d = iotune_get(&fx.tune.iotune, 8, 16);
	cr_assert_not_null(d);
	d->weight = 50;
	d->bfq = true;
	d = iotune_get(&fx.tune.iotune, 8, 32);
	cr_assert_not_null(d);
	d->weight = 10000;
	d->bfq = true;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0, "%s", err_get() ? err_get() : "");
	const struct plan *p = &fx.plan;
	long io_root = find(p, ACT_ENABLE_CONTROLLER, "", NULL), io_kvmcg = -1;
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_ENABLE_CONTROLLER && strcmp(p->actions[i].value, "+io") == 0) {
			cr_assert(strcmp(p->actions[i].dir, "") == 0 || strcmp(p->actions[i].dir, "kvmcg") == 0,
				  "+io only above the VM's cgroup, not in %s", p->actions[i].dir);
			if (*p->actions[i].dir)
				io_kvmcg = (long)i;
			else
				io_root = (long)i;
		}
	cr_assert(io_root >= 0 && io_kvmcg > io_root, "+io top-down; plan:%s", dump(p));
	static const char *const lines[][2] = {
		{"io.weight", "default 300"},
		{"io.weight", "7:0 500"},
		{"io.max", "7:0 wbps=10485760 riops=1000"},
		{"io.bfq.weight", "8:16 50"},
		/* BFQ's range is 1..1000: 10000 maps to its top (iotune_bfq_weight) */
		{"io.bfq.weight", "8:32 1000"},
	};
	size_t n = 0;
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (a->kind != ACT_WRITE_LINE)
			continue;
		cr_assert_lt(n, ARRAY_SIZE(lines), "one line too many; plan:%s", dump(p));
		cr_assert_str_eq(a->dir, "kvmcg/demo");
		cr_assert_str_eq(a->file, lines[n][0]);
		cr_assert_str_eq(a->value, lines[n][1]);
		cr_assert_gt((long)i, find(p, ACT_MKDIR, "kvmcg/demo", NULL));
		cr_assert_gt((long)i, io_kvmcg, "written after kvmcg delegates io");
		n++;
	}
	cr_assert_eq(n, ARRAY_SIZE(lines), "plan:%s", dump(p));
}

Test(plan_pin_v2, iotune_lines_in_place_are_not_written_again)
{
	v2_in_place();
	free(fx.dirs[1].subtree_control);
	fx.dirs[1].subtree_control = strdup("cpuset io");
	fx.dirs[2].io_max = strdup("7:0 rbps=max wbps=10485760 riops=max wiops=max\n8:0 rbps=1 wbps=max riops=max wiops=max");
	fx.dirs[2].io_weight = strdup("default 100\n7:0 500");
	fx.dirs[2].io_bfq_weight = strdup("default 100");
	struct io_device *d = iotune_get(&fx.tune.iotune, 7, 0);
	cr_assert_not_null(d);
	d->wbps = 10485760;
	d->weight = 500;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	cr_assert_eq(fx.plan.n_actions, 0, "nothing to do; plan:%s", dump(&fx.plan));
	/* a new default weight goes to io.weight only */
	plan_done(&fx.plan);
	fx.tune.iotune.weight = 200;
	d->wbps = 20971520;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		/* never "default" to io.bfq.weight: it would drop every disk's own BFQ weight */
		{ACT_WRITE_LINE, "kvmcg/demo", "io.weight", "default 200", 0, NULL},
		{ACT_WRITE_LINE, "kvmcg/demo", "io.max", "7:0 wbps=20971520", 0, NULL},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

/* The tree inside the VM's own cgroup (its launcher's): the io lines go to that
 * cgroup, each with the line that puts back what is there, and io is delegated above
 * it only. */
Test(plan_pin_v2, iotune_in_the_launchers_cgroup)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	fx.host.vm_dir = "machine.slice/demo.scope/kvmcg";
	fx.host.vm_threaded = true;
	add_dir("", true, false, "cpuset cpu io memory", "", "", false);
	add_dir("machine.slice", true, false, "cpuset cpu memory", "", "", false);
	add_dir("machine.slice/demo.scope", true, false, "", "", "", false);
	fx.dirs[2].io_max = strdup("7:0 rbps=5 wbps=max riops=max wiops=max");
	fx.dirs[2].io_weight = strdup("default 100");
	missing_dir("machine.slice/demo.scope/kvmcg");
	std_vm(false, false);
	std_spec(&fx.tune);
	fx.tune.iotune.weight = 300;
	struct io_device *d = iotune_get(&fx.tune.iotune, 7, 0);
	cr_assert_not_null(d);
	d->wbps = 1048576;
	d = iotune_get(&fx.tune.iotune, 8, 0);
	cr_assert_not_null(d);
	d->riops = 10;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0, "%s", err_get() ? err_get() : "");
	const struct plan *p = &fx.plan;
	size_t io_enables = 0, lines = 0;
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (a->kind == ACT_ENABLE_CONTROLLER && strcmp(a->value, "+io") == 0) {
			cr_assert_str_eq(a->dir, "machine.slice", "io only above the launcher's cgroup; plan:%s", dump(p));
			io_enables++;
		}
		if (a->kind != ACT_WRITE_LINE)
			continue;
		cr_assert_str_eq(a->dir, "machine.slice/demo.scope", "plan:%s", dump(p));
		lines++;
		if (strcmp(a->value, "default 300") == 0)
			cr_assert_str_eq(a->old, "default 100");
		else if (strncmp(a->value, "7:0 ", 4) == 0) {
			cr_assert_str_eq(a->value, "7:0 wbps=1048576", "only what the policy sets: rbps=5 stays");
			cr_assert_str_eq(a->old, "7:0 wbps=max", "what is there now, of the limit it sets");
		} else {
			cr_assert_str_eq(a->value, "8:0 riops=10");
			cr_assert_str_eq(a->old, "8:0 riops=max", "the limit as the kernel has it without a line");
		}
	}
	cr_assert_eq(io_enables, 1, "plan:%s", dump(p));
	cr_assert_eq(lines, 3, "plan:%s", dump(p));
}

Test(plan_unpin, restore_lines_are_written_back_first)
{
	fx.state = (struct vm_state){.pid = 1000, .backend = BACKEND_CGROUP_V2};
	cr_assert_eq(strv_push(&fx.state.created, &fx.state.n_created, "l/kvmcg"), 0);
	cr_assert_eq(record_add_restore(&fx.state, "l", "io.max", "7:0 rbps=5 wbps=max riops=max wiops=max"), 0);
	struct plan p = {0};
	cr_assert_eq(plan_cleanup(&fx.state, &p), 0);
	cr_assert_eq(p.n_actions, 2);
	cr_assert_eq(p.actions[0].kind, ACT_WRITE_LINE);
	cr_assert_str_eq(p.actions[0].dir, "l");
	cr_assert_str_eq(p.actions[0].file, "io.max");
	cr_assert_str_eq(p.actions[0].value, "7:0 rbps=5 wbps=max riops=max wiops=max");
	cr_assert(p.actions[0].cleanup, "its failure stops nothing and stays in the record");
	cr_assert_eq(p.actions[1].kind, ACT_RMDIR);
	plan_done(&p);
}

Test(plan_pin_v2, iotune_not_on_v1_nor_in_affinity_mode)
{
	host_init(BACKEND_CGROUP_V1, "0-3");
	cr_assert_not_null(plan_iotune_unsupported(&fx.host));
	cr_assert_not_null(strstr(plan_iotune_unsupported(&fx.host), "blkio"));
	host_reset();
	host_init(BACKEND_CGROUP_V2, "0-3");
	cr_assert_null(plan_iotune_unsupported(&fx.host));
	fx.host.vm_threaded = true;
	cr_assert_null(plan_iotune_unsupported(&fx.host), "inside a launcher's cgroup too");
	host_reset();
	host_init(BACKEND_AFFINITY, "0-3");
	cr_assert_not_null(strstr(plan_iotune_unsupported(&fx.host), "affinity"));
}

/* BFQ's weights are 1..1000: the io controller's 1..10000 mapped as systemd maps
 * IOWeight= (1..100 as they are, 100..10000 onto 100..1000). */
Test(plan_merge, bfq_weight_mapping)
{
	cr_assert_eq(iotune_bfq_weight(1), 1);
	cr_assert_eq(iotune_bfq_weight(50), 50);
	cr_assert_eq(iotune_bfq_weight(100), 100);
	cr_assert_eq(iotune_bfq_weight(5050), 550);
	cr_assert_eq(iotune_bfq_weight(10000), 1000);
}

Test(plan_merge, iotune_overlays_the_previous)
{
	struct iotune prev = {.weight = 100}, req = {0};
	struct io_device *d = iotune_get(&prev, 7, 0);
	cr_assert_not_null(d);
	d->rbps = 5;
	d->wbps = 6;
	d = iotune_get(&req, 7, 0);
	cr_assert_not_null(d);
	d->wbps = 60;
	d->weight = 9;
	d->bfq = true;
	cr_assert_not_null(iotune_get(&req, 8, 0));
	struct vm_tune t = {0};
	cr_assert_eq(iotune_copy(&prev, &t.iotune), 0);
	cr_assert_eq(plan_merge_iotune(&req, false, &t), 0);
	cr_assert_eq(t.iotune.weight, 100, "kept");
	const struct io_device *g = iotune_find(&t.iotune, 7, 0);
	cr_assert(g && g->rbps == 5 && g->wbps == 60 && g->weight == 9 && g->bfq);
	cr_assert_not_null(iotune_find(&t.iotune, 8, 0));
	cr_assert_eq(t.iotune.n_dev, 2);
	/* a later request with a limit only keeps the disk's weight where BFQ carries it */
	struct iotune caps = {0};
	d = iotune_get(&caps, 7, 0);
	cr_assert_not_null(d);
	d->riops = 77;
	cr_assert_eq(plan_merge_iotune(&caps, false, &t), 0);
	g = iotune_find(&t.iotune, 7, 0);
	cr_assert(g && g->weight == 9 && g->bfq && g->riops == 77 && g->wbps == 60);
	/* the same as an [IO] section of its own: what it no longer gives is taken back,
	 * and once planned the tune keeps only what it gives */
	cr_assert_eq(plan_merge_iotune(&caps, true, &t), 0);
	g = iotune_find(&t.iotune, 7, 0);
	cr_assert(g && g->weight == IO_WEIGHT_RESET && g->rbps == IO_LIMIT_RESET && g->wbps == IO_LIMIT_RESET &&
		  g->riops == 77);
	cr_assert_eq(t.iotune.weight, IO_WEIGHT_RESET);
	iotune_settled(&t.iotune);
	cr_assert_eq(t.iotune.weight, 0);
	cr_assert_eq(t.iotune.n_dev, 1, "8:0 had nothing left");
	g = iotune_find(&t.iotune, 7, 0);
	cr_assert(g && g->weight == 0 && g->rbps == 0 && g->wbps == 0 && g->riops == 77);
	iotune_done(&caps);
	vm_tune_done(&t);
	iotune_done(&prev);
	iotune_done(&req);
}

Test(plan_pin_v2, one_vcpu_changed)
{
	v2_in_place();
	idset_free(fx.tune.vcpu[0]);
	fx.tune.vcpu[0] = set_of("1");
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		{ACT_WRITE, "kvmcg/demo/vcpu0", "cpuset.cpus", "1", 0, NULL},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "1"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
	cr_assert_eq(count_kind(&fx.plan, ACT_MOVE_PROCESS), 0, "the process stays: vCPUs would follow it");
}

Test(plan_pin_v2, vcpu_unpinned_again_is_reset)
{
	/* vCPU 0 was on CPU 0 and is no longer asked for: its cgroup inherits again. */
	v2_in_place();
	idset_free(fx.tune.vcpu[0]);
	fx.tune.vcpu[0] = NULL;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		{ACT_WRITE, "kvmcg/demo/vcpu0", "cpuset.cpus", "\n", 0, NULL},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0-3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_pin_v2, affinity_drift_is_repaired_alone)
{
	/* cgroups in place, but someone changed vCPU 1's affinity meanwhile */
	v2_in_place();
	idset_free(fx.vm->threads[2].affinity);
	fx.vm->threads[2].affinity = set_of("2");
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1002, "0-3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_pin_v2, hotplugged_vcpu_joins_without_moving_the_process)
{
	/* A vCPU added since the pin was born in emulator/ (with the process). */
	v2_in_place();
	missing_dir("kvmcg/demo/vcpu2");
	add_thread(fx.vm, 1006, THREAD_VCPU, 2, NULL, "/kvmcg/demo/emulator", "3");
	struct idset **n = realloc(fx.tune.vcpu, 3 * sizeof(*n));
	cr_assert_not_null(n);
	fx.tune.vcpu = n;
	fx.tune.vcpu[2] = set_of("1");
	fx.tune.n_vcpu = 3;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	const struct plan *p = &fx.plan;
	assert_plan_order(p);
	cr_assert_eq(count_kind(p, ACT_MOVE_PROCESS), 0, "plan:%s", dump(p));
	static const struct want w[] = {
		{ACT_MKDIR, "kvmcg/demo/vcpu2", NULL, NULL, 0, NULL},
		{ACT_SET_THREADED, "kvmcg/demo/vcpu2", "cgroup.type", "threaded", 0, NULL},
		{ACT_WRITE, "kvmcg/demo/vcpu2", "cpuset.cpus", "1", 0, NULL},
		{ACT_MOVE_THREAD, "kvmcg/demo/vcpu2", "cgroup.threads", NULL, 1006, NULL},
		{ACT_RESCAN, "kvmcg/demo", NULL, NULL, 1000, NULL},
	};
	cr_assert_geq(p->n_actions, ARRAY_SIZE(w), "plan:%s", dump(p));
	for (size_t i = 0; i < ARRAY_SIZE(w); i++)
		assert_action(p, i, &w[i]);
	/* then affinities only, the new vCPU's among them */
	for (size_t i = ARRAY_SIZE(w); i < p->n_actions; i++)
		cr_assert_eq(p->actions[i].kind, ACT_SET_AFFINITY, "plan:%s", dump(p));
	long a = find_affinity(p, 1006);
	cr_assert_geq(a, 0);
	assert_set(p->actions[a].cpus, "1", "vCPU 2");
}

Test(plan_pin_v2, distinct_iothreads_get_distinct_cgroups)
{
	/* QEMU ids may contain '.' and '_': "io.1" and "io_1" are two iothreads. Pinned
	 * to different CPUs, they cannot share one cgroup (or the second one's pin is
	 * lost and its affinity falls outside its cpuset). */
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "cpuset", "", "", false);
	add_dir("kvmcg", true, false, "cpuset", "", "", false);
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1003, THREAD_IOTHREAD, -1, "io.1", ORIGIN, "0-3");
	add_thread(fx.vm, 1004, THREAD_IOTHREAD, -1, "io_1", ORIGIN, "0-3");
	fx.tune.n_iothread = 2;
	fx.tune.iothread_ids = calloc(2, sizeof(char *));
	fx.tune.iothread = calloc(2, sizeof(*fx.tune.iothread));
	cr_assert(fx.tune.iothread_ids && fx.tune.iothread);
	fx.tune.iothread_ids[0] = strdup("io.1");
	fx.tune.iothread[0] = set_of("2");
	fx.tune.iothread_ids[1] = strdup("io_1");
	fx.tune.iothread[1] = set_of("3");
	int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
	if (r < 0)
		return; /* refusing the request is acceptable too */
	const struct plan *p = &fx.plan;
	const char *dir3 = NULL, *dir4 = NULL;
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_MOVE_THREAD) {
			if (p->actions[i].tid == 1003)
				dir3 = p->actions[i].dir;
			if (p->actions[i].tid == 1004)
				dir4 = p->actions[i].dir;
		}
	cr_assert(dir3 && dir4, "both iothreads move; plan:%s", dump(p));
	cr_assert_str_neq(dir3, dir4, "io.1 (CPU 2) and io_1 (CPU 3) share %s; plan:%s", dir3, dump(p));
}

/* ---- plan_pin, cgroup v1 -------------------------------------------------------------------- */

TestSuite(plan_pin_v1, .fini = fx_done);

Test(plan_pin_v1, from_scratch)
{
	host_init(BACKEND_CGROUP_V1, "0-3");
	add_dir("", true, false, NULL, "0-3", "0-1", false); /* the v1 cpuset root */
	missing_dir("kvmcg");
	missing_dir("kvmcg/demo");
	missing_dir("kvmcg/demo/emulator");
	missing_dir("kvmcg/demo/vcpu0");
	missing_dir("kvmcg/demo/vcpu1");
	missing_dir("kvmcg/demo/iothread-io1");
	std_vm(false, true);
	std_spec(&fx.tune);
	int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
	cr_assert_eq(r, 0, "plan_pin = %d: %s", r, err_get() ? err_get() : "");
	const struct plan *p = &fx.plan;
	cr_assert_eq(p->backend, BACKEND_CGROUP_V1);
	assert_plan_order(p);

	cr_assert_eq(count_kind(p, ACT_MOVE_PROCESS), 0, "no cgroup.procs in v1; plan:%s", dump(p));
	cr_assert_eq(count_kind(p, ACT_SET_THREADED), 0, "plan:%s", dump(p));
	cr_assert_eq(count_kind(p, ACT_ENABLE_CONTROLLER), 0, "plan:%s", dump(p));
	cr_assert_eq(find(p, ACT_MKDIR, "", NULL), -1, "the root exists");
	cr_assert_eq(find(p, ACT_WRITE, "", NULL), -1, "the root is not written");

	/* every new cpuset, ancestors included, has cpus and mems before any task moves */
	long first_move = find(p, ACT_MOVE_THREAD, NULL, NULL);
	cr_assert_geq(first_move, 0);
	static const struct {
		const char *dir, *cpus, *mems;
	} sets[] = {
		{"kvmcg", "0-3", "0-1"},
		{"kvmcg/demo", "0-3", "0-1"},
		{"kvmcg/demo/emulator", "3", "0"},
		{"kvmcg/demo/vcpu0", "0", "0"},
		{"kvmcg/demo/vcpu1", "0-3", "0"}, /* not pinned: everything it may use */
		{"kvmcg/demo/iothread-io1", "2", "0"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		long mk = find(p, ACT_MKDIR, sets[i].dir, NULL);
		long c = find(p, ACT_WRITE, sets[i].dir, "cpuset.cpus");
		long m = find(p, ACT_WRITE, sets[i].dir, "cpuset.mems");
		cr_assert(mk >= 0 && c > mk && m > mk, "%s made, then cpus and mems; plan:%s", sets[i].dir, dump(p));
		cr_assert_lt(c, first_move, "%s cpus before any move; plan:%s", sets[i].dir, dump(p));
		cr_assert_lt(m, first_move, "%s mems before any move; plan:%s", sets[i].dir, dump(p));
		cr_assert_str_eq(p->actions[c].value, sets[i].cpus, "%s cpuset.cpus", sets[i].dir);
		cr_assert_str_eq(p->actions[m].value, sets[i].mems, "%s cpuset.mems", sets[i].dir);
		/* the VM's children move pages along */
		if (strncmp(sets[i].dir, "kvmcg/demo/", 11) == 0) {
			long mm = find(p, ACT_WRITE, sets[i].dir, "cpuset.memory_migrate");
			cr_assert(mm >= 0 && mm < first_move, "%s memory_migrate; plan:%s", sets[i].dir, dump(p));
			cr_assert_str_eq(p->actions[mm].value, "1");
		}
	}

	/* every thread moves itself, through tasks, into its own cpuset */
	static const struct {
		pid_t tid;
		const char *dir;
	} moves[] = {
		{1000, "kvmcg/demo/emulator"},    {1001, "kvmcg/demo/vcpu0"},
		{1002, "kvmcg/demo/vcpu1"},       {1003, "kvmcg/demo/iothread-io1"},
		{1004, "kvmcg/demo/emulator"},
	};
	cr_assert_eq(count_kind(p, ACT_MOVE_THREAD), ARRAY_SIZE(moves), "plan:%s", dump(p));
	for (size_t k = 0; k < ARRAY_SIZE(moves); k++) {
		bool found = false;
		for (size_t i = 0; i < p->n_actions; i++)
			if (p->actions[i].kind == ACT_MOVE_THREAD && p->actions[i].tid == moves[k].tid) {
				cr_assert_str_eq(p->actions[i].dir, moves[k].dir, "tid %d", (int)moves[k].tid);
				cr_assert_str_eq(p->actions[i].file, "tasks", "tid %d", (int)moves[k].tid);
				found = true;
			}
		cr_assert(found, "tid %d moves; plan:%s", (int)moves[k].tid, dump(p));
	}
	cr_assert_eq(count_kind(p, ACT_RESCAN), 1);
	cr_assert_eq(count_kind(p, ACT_SET_AFFINITY), fx.vm->n_threads);
	assert_set(p->actions[find_affinity(p, 1002)].cpus, "0-3", "unpinned vCPU 1");
	assert_set(p->actions[find_affinity(p, 1004)].cpus, "3", "worker with the emulator");
}

/* A v1 host where std_spec's pins are in place, with memory_migrate on. */
static void v1_pinned_tree(void)
{
	host_init(BACKEND_CGROUP_V1, "0-3");
	add_dir("", true, false, NULL, "0-3", "0-1", false);
	add_dir("kvmcg", true, false, NULL, "0-3", "0-1", false);
	add_dir("kvmcg/demo", true, false, NULL, "0-3", "0-1", false);
	add_dir("kvmcg/demo/emulator", true, false, NULL, "3", "0", true);
	add_dir("kvmcg/demo/vcpu0", true, false, NULL, "0", "0", true);
	add_dir("kvmcg/demo/vcpu1", true, false, NULL, "0-3", "0", true);
	add_dir("kvmcg/demo/iothread-io1", true, false, NULL, "2", "0", true);
	std_vm(true, true);
	std_spec(&fx.tune);
}

Test(plan_pin_v1, in_place_is_idempotent)
{
	v1_pinned_tree();
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	cr_assert_eq(fx.plan.n_actions, 0, "nothing to do; plan:%s", dump(&fx.plan));
}

/* --no-migrate: memory_migrate 0, written before cpuset.mems changes, so the change
 * moves no page; and back to 1 before the next change that should. */
Test(plan_pin_v1, no_migrate_is_asked_before_mems_change)
{
	v1_pinned_tree();
	idset_free(fx.tune.mems);
	fx.tune.mems = set_of("1");
	fx.tune.mem_no_migrate = true;
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	const struct plan *p = &fx.plan;
	static const char *const dirs[] = {"kvmcg/demo/emulator", "kvmcg/demo/vcpu0", "kvmcg/demo/vcpu1",
					   "kvmcg/demo/iothread-io1"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		long mm = find(p, ACT_WRITE, dirs[i], "cpuset.memory_migrate");
		long m = find(p, ACT_WRITE, dirs[i], "cpuset.mems");
		cr_assert(mm >= 0 && m > mm, "%s: memory_migrate, then mems; plan:%s", dirs[i], dump(p));
		cr_assert_str_eq(p->actions[mm].value, "0");
		cr_assert_str_eq(p->actions[m].value, "1");
	}
}

Test(plan_pin_v1, existing_kvmcg_root_is_left_alone)
{
	host_init(BACKEND_CGROUP_V1, "0-3");
	add_dir("", true, false, NULL, "0-3", "0-1", false);
	add_dir("kvmcg", true, false, NULL, "0-3", "0-1", false);
	std_vm(false, true);
	std_spec(&fx.tune);
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	cr_assert_eq(find(&fx.plan, ACT_MKDIR, "kvmcg", NULL), -1, "plan:%s", dump(&fx.plan));
	cr_assert_eq(find(&fx.plan, ACT_WRITE, "kvmcg", NULL), -1, "plan:%s", dump(&fx.plan));
	cr_assert_geq(find(&fx.plan, ACT_MKDIR, "kvmcg/demo", NULL), 0);
}

/* ---- plan_pin, affinity only ------------------------------------------------------------------ */

TestSuite(plan_pin_affinity, .fini = fx_done);

Test(plan_pin_affinity, only_affinities_of_pinned_threads)
{
	host_init(BACKEND_AFFINITY, "0-3");
	std_vm(false, false);
	idset_free(fx.vm->threads[2].affinity);
	fx.vm->threads[2].affinity = set_of("1"); /* vCPU 1: already where asked */
	fx.tune.n_vcpu = 2;
	fx.tune.vcpu = calloc(2, sizeof(*fx.tune.vcpu));
	cr_assert_not_null(fx.tune.vcpu);
	fx.tune.vcpu[0] = set_of("0");
	fx.tune.vcpu[1] = set_of("1");
	fx.tune.n_iothread = 1;
	fx.tune.iothread_ids = calloc(1, sizeof(char *));
	fx.tune.iothread = calloc(1, sizeof(*fx.tune.iothread));
	cr_assert(fx.tune.iothread_ids && fx.tune.iothread);
	fx.tune.iothread_ids[0] = strdup("io1");
	fx.tune.iothread[0] = set_of("2");
	/* the emulator is not pinned: the main loop and the worker are left alone */
	int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
	cr_assert_eq(r, 0, "plan_pin = %d: %s", r, err_get() ? err_get() : "");
	cr_assert_eq(fx.plan.backend, BACKEND_AFFINITY);
	static const struct want w[] = {
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1003, "2"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_pin_affinity, emulator_pin_covers_workers)
{
	host_init(BACKEND_AFFINITY, "0-3");
	std_vm(false, false);
	fx.tune.emulator = set_of("3");
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	static const struct want w[] = {
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1004, "3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_pin_affinity, nothing_asked_nothing_done)
{
	host_init(BACKEND_AFFINITY, "0-3");
	std_vm(false, false);
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), 0);
	cr_assert_eq(fx.plan.n_actions, 0, "plan:%s", dump(&fx.plan));
}

/* ---- plan_pin refuses what it cannot see -------------------------------------------------- */

TestSuite(plan_pin_refuse, .fini = fx_done);

Test(plan_pin_refuse, unidentified_vcpus)
{
	static const enum pin_backend modes[] = {BACKEND_CGROUP_V2, BACKEND_CGROUP_V1, BACKEND_AFFINITY};
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		fx_done();
		host_init(modes[m], "0-3");
		add_dir("", true, false, "", "0-3", "0-1", false);
		std_vm(false, modes[m] == BACKEND_CGROUP_V1);
		fx.vm->n_vcpus_expected = 4;
		fx.vm->unidentified_vcpus = calloc(2, sizeof(int));
		cr_assert_not_null(fx.vm->unidentified_vcpus);
		fx.vm->unidentified_vcpus[0] = 2;
		fx.vm->unidentified_vcpus[1] = 3;
		fx.vm->n_unidentified_vcpus = 2;
		std_spec(&fx.tune);
		err_clear();
		int r = plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan);
		cr_assert_eq(r, -EAGAIN, "%s mode: plan_pin = %d", backend_name(modes[m]), r);
		assert_err_contains("pid 1000");
		assert_err_contains("vCPUs 2,3");
		assert_err_contains("names"); /* how the VM was discovered */
		cr_assert_eq(fx.plan.n_actions, 0);
		cr_assert_null(fx.plan.actions);
	}
}

Test(plan_pin_refuse, unknown_thread)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "cpuset", "", "", false);
	std_vm(false, false);
	add_thread(fx.vm, 1007, THREAD_UNKNOWN, -1, NULL, ORIGIN, "0-3");
	std_spec(&fx.tune);
	err_clear();
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), -EAGAIN);
	assert_err_contains("pid 1000");
	assert_err_contains("could not be identified");
	cr_assert_eq(fx.plan.n_actions, 0);
}

Test(plan_pin_refuse, unidentified_iothread)
{
	host_init(BACKEND_CGROUP_V2, "0-3");
	add_dir("", true, false, "cpuset", "", "", false);
	std_vm(false, false);
	fx.vm->unidentified_iothreads = calloc(2, sizeof(char *));
	cr_assert_not_null(fx.vm->unidentified_iothreads);
	fx.vm->unidentified_iothreads[0] = strdup("io2");
	fx.vm->n_unidentified_iothreads = 1;
	std_spec(&fx.tune);
	err_clear();
	cr_assert_eq(plan_pin(&fx.host, fx.vm, &fx.tune, &fx.plan), -EAGAIN);
	cr_assert_not_null(err_get());
}

/* ---- plan_unpin ------------------------------------------------------------------------------- */

TestSuite(plan_unpin, .fini = fx_done);

static void state_add_thread(pid_t tid, const char *cgroup, const char *affinity)
{
	struct thread_origin *n = realloc(fx.state.threads, (fx.state.n_threads + 1) * sizeof(*n));
	cr_assert_not_null(n);
	fx.state.threads = n;
	fx.state.threads[fx.state.n_threads++] = (struct thread_origin){
		.tid = tid,
		.cgroup = strdup(cgroup),
		.affinity = set_of(affinity),
	};
}

static void state_init(enum pin_backend backend)
{
	fx.state.pid = 1000;
	fx.state.starttime = 4242;
	fx.state.name = strdup("demo");
	fx.state.backend = backend;
	if (backend != BACKEND_AFFINITY) {
		fx.state.mount = strdup(backend == BACKEND_CGROUP_V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpuset");
		fx.state.vm_dir = strdup("kvmcg/demo");
		static const char *const created[] = {"kvmcg/demo", "kvmcg/demo/emulator", "kvmcg/demo/vcpu0",
						      "kvmcg/demo/vcpu1", "kvmcg/demo/iothread-io1"};
		for (size_t i = 0; i < ARRAY_SIZE(created); i++)
			cr_assert_eq(strv_push(&fx.state.created, &fx.state.n_created, created[i]), 0);
	}
	std_spec(&fx.state.tune);
}

/* The pinned VM now, plus thread 1006 born since the pin (in emulator/). */
static void pinned_vm(bool v1)
{
	std_vm(true, v1);
	add_thread(fx.vm, 1006, THREAD_EMULATOR, -1, NULL, "/kvmcg/demo/emulator", "3");
}

Test(plan_unpin, v2)
{
	state_init(BACKEND_CGROUP_V2);
	state_add_thread(1000, ORIGIN, "0-3");
	state_add_thread(1001, ORIGIN, "0-1");
	state_add_thread(1002, ORIGIN, "2-3");
	state_add_thread(1003, ORIGIN, "1");
	state_add_thread(1004, ORIGIN, "0-3");
	pinned_vm(false);
	int r = plan_unpin(&fx.state, fx.vm, &fx.plan);
	cr_assert_eq(r, 0, "plan_unpin = %d", r);
	cr_assert_eq(fx.plan.backend, BACKEND_CGROUP_V2);
	cr_assert_str_eq(fx.plan.vm_dir, "kvmcg/demo");
	static const struct want w[] = {
		/* every thread goes with the process, back where the main thread was */
		{ACT_MOVE_PROCESS, "machine.slice/demo.scope", "cgroup.procs", NULL, 1000, NULL},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0-1"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1002, "2-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1003, "1"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1004, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1006, "0-3"}, /* born since: the main thread's */
		/* deepest first, the VM's own cgroup last */
		{ACT_RMDIR, "kvmcg/demo/iothread-io1", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/vcpu1", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/vcpu0", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/emulator", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo", NULL, NULL, 0, NULL},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

static bool is_below(const char *dir, const char *parent)
{
	size_t l = strlen(parent);
	return strncmp(dir, parent, l) == 0 && dir[l] == '/';
}

Test(plan_unpin, rmdir_children_before_parents)
{
	state_init(BACKEND_CGROUP_V2);
	state_add_thread(1000, ORIGIN, "0-3");
	pinned_vm(false);
	cr_assert_eq(plan_unpin(&fx.state, fx.vm, &fx.plan), 0);
	const struct plan *p = &fx.plan;
	long first_rmdir = find(p, ACT_RMDIR, NULL, NULL);
	cr_assert_geq(first_rmdir, 0);
	for (size_t i = 0; i < p->n_actions; i++) {
		if (p->actions[i].kind != ACT_RMDIR) {
			cr_assert_lt((long)i, first_rmdir, "every move and affinity before the first rmdir; plan:%s",
				     dump(p));
			continue;
		}
		for (size_t j = i + 1; j < p->n_actions; j++)
			cr_assert(!is_below(p->actions[j].dir, p->actions[i].dir),
				  "%s removed after its parent %s; plan:%s", p->actions[j].dir, p->actions[i].dir, dump(p));
	}
	cr_assert_eq(count_kind(p, ACT_RMDIR), fx.state.n_created);
	cr_assert_str_eq(p->actions[p->n_actions - 1].dir, "kvmcg/demo", "the VM's cgroup goes last");
}

Test(plan_unpin, v2_thread_from_another_cgroup)
{
	/* A thread that was elsewhere than the main thread goes back there by itself. */
	state_init(BACKEND_CGROUP_V2);
	state_add_thread(1000, "/machine.slice/demo.scope", "0-3");
	state_add_thread(1003, "/machine.slice/demo.scope/io", "0-3");
	pinned_vm(false);
	cr_assert_eq(plan_unpin(&fx.state, fx.vm, &fx.plan), 0);
	const struct plan *p = &fx.plan;
	assert_action(p, 0, &(struct want){ACT_MOVE_PROCESS, "machine.slice/demo.scope", "cgroup.procs", NULL, 1000, NULL});
	cr_assert_eq(count_kind(p, ACT_MOVE_THREAD), 1, "plan:%s", dump(p));
	assert_action(p, 1, &(struct want){ACT_MOVE_THREAD, "machine.slice/demo.scope/io", "cgroup.threads", NULL, 1003, NULL});
}

Test(plan_unpin, v1)
{
	state_init(BACKEND_CGROUP_V1);
	state_add_thread(1000, "/", "0-3");
	state_add_thread(1001, "/", "0-1");
	state_add_thread(1002, "/", "0-3");
	state_add_thread(1003, "/machine/io", "2");
	state_add_thread(1004, "/", "0-3");
	pinned_vm(true);
	int r = plan_unpin(&fx.state, fx.vm, &fx.plan);
	cr_assert_eq(r, 0, "plan_unpin = %d", r);
	static const struct want w[] = {
		{ACT_MOVE_THREAD, "", "tasks", NULL, 1000, NULL},
		{ACT_MOVE_THREAD, "", "tasks", NULL, 1001, NULL},
		{ACT_MOVE_THREAD, "", "tasks", NULL, 1002, NULL},
		{ACT_MOVE_THREAD, "machine/io", "tasks", NULL, 1003, NULL},
		{ACT_MOVE_THREAD, "", "tasks", NULL, 1004, NULL},
		{ACT_MOVE_THREAD, "", "tasks", NULL, 1006, NULL}, /* born since: the main thread's */
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0-1"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1002, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1003, "2"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1004, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1006, "0-3"},
		{ACT_RMDIR, "kvmcg/demo/iothread-io1", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/vcpu1", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/vcpu0", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo/emulator", NULL, NULL, 0, NULL},
		{ACT_RMDIR, "kvmcg/demo", NULL, NULL, 0, NULL},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
	cr_assert_eq(count_kind(&fx.plan, ACT_MOVE_PROCESS), 0);
}

Test(plan_unpin, affinity_mode)
{
	state_init(BACKEND_AFFINITY);
	state_add_thread(1000, "", "0-3");
	state_add_thread(1001, "", "0-1");
	state_add_thread(1002, "", "0-3");
	state_add_thread(1003, "", "2-3");
	/* 1004 has no record: it gets the main thread's affinity */
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0");
	add_thread(fx.vm, 1002, THREAD_VCPU, 1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1003, THREAD_IOTHREAD, -1, "io1", ORIGIN, "2");
	add_thread(fx.vm, 1004, THREAD_WORKER, -1, NULL, ORIGIN, "0-3");
	int r = plan_unpin(&fx.state, fx.vm, &fx.plan);
	cr_assert_eq(r, 0, "plan_unpin = %d", r);
	cr_assert_null(fx.plan.vm_dir);
	static const struct want w[] = {
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1000, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1001, "0-1"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1002, "0-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1003, "2-3"},
		{ACT_SET_AFFINITY, NULL, NULL, NULL, 1004, "0-3"},
	};
	assert_plan(&fx.plan, w, ARRAY_SIZE(w));
}

Test(plan_unpin, empty_recorded_affinity_is_not_restored)
{
	state_init(BACKEND_AFFINITY);
	state_add_thread(1000, "", "0-3");
	state_add_thread(1001, "", ""); /* not read at pin time */
	fx.vm = vm_new(1000);
	add_thread(fx.vm, 1000, THREAD_EMULATOR, -1, NULL, ORIGIN, "0-3");
	add_thread(fx.vm, 1001, THREAD_VCPU, 0, NULL, ORIGIN, "0");
	cr_assert_eq(plan_unpin(&fx.state, fx.vm, &fx.plan), 0);
	for (size_t i = 0; i < fx.plan.n_actions; i++) {
		cr_assert_eq(fx.plan.actions[i].kind, ACT_SET_AFFINITY);
		cr_assert_gt(idset_count(fx.plan.actions[i].cpus), 0, "never an empty affinity; plan:%s",
			     dump(&fx.plan));
	}
	cr_assert_geq(find_affinity(&fx.plan, 1000), 0);
}
