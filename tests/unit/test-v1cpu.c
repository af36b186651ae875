// SPDX-License-Identifier: GPL-2.0-or-later
/* The v1 cpu tree (v1 and hybrid hosts): the conversions to cpu.shares and
 * cpu.cfs_quota_us, where [CPU] bandwidth is carried out, the plan of the tree beside
 * the cpuset one, its undo, its record and the checks on it, and the per-controller
 * line of /proc/PID/task/TID/cgroup. Pure: no root, no cgroupfs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/procfs.h"
#include "plan/layout.h"
#include "plan/plan.h"
#include "plan/record.h"
#include "state/state.h"
#include "v1tree-fixture.h"

/* ---- conversions -------------------------------------------------------------------------- */

Test(v1cpu, shares_as_libvirt_converts)
{
	cr_assert_eq(cputune_shares(100), 1024, "the defaults match");
	cr_assert_eq(cputune_shares(300), 3072);
	cr_assert_eq(cputune_shares(1), 10);
	cr_assert_eq(cputune_shares(10000), 102400);
	cr_assert_eq(cputune_shares(0), CPU_SHARES_MIN, "clamped to MIN_SHARES");
	cr_assert_eq(cputune_shares(30000), CPU_SHARES_MAX, "clamped to MAX_SHARES");
}

Test(v1cpu, quota_shared_with_cpu_max)
{
	struct cputune t = {.quota_set = true, .quota_percent = 50};
	char max[48];
	cr_assert_eq(cputune_period(&t), 100000, "the kernel's default period");
	cr_assert_eq(cputune_quota_us(&t), 50000);
	cputune_max(&t, max, sizeof(max));
	cr_assert_str_eq(max, "50000 100000");
	t = (struct cputune){.quota_set = true, .quota_percent = 250, .period_us = 200000};
	cr_assert_eq(cputune_quota_us(&t), 500000, "2.5 CPUs over 200 ms");
	t.quota_percent = 0;
	cr_assert_eq(cputune_quota_us(&t), -1, "max is v1's -1");
	cputune_max(&t, max, sizeof(max));
	cr_assert_str_eq(max, "max 200000");
}

/* ---- where bandwidth is carried out -------------------------------------------------------- */

static size_t merge_skipped(enum pin_backend backend, bool v1_cpu, struct vm_tune *tune, char ***skipped)
{
	struct plan_host h = {.backend = backend, .v1_mounted[V1_TREE_CPU] = v1_cpu};
	struct cputune req = {.weight = 300, .quota_set = true, .quota_percent = 50};
	size_t n = 0;
	cr_assert_eq(plan_merge_cputune(&h, &req, tune, skipped, &n), 0);
	return n;
}

Test(v1cpu, merge_on_v1_with_and_without_the_hierarchy)
{
	struct vm_tune t = {0};
	char **skipped = NULL;
	cr_assert_eq(merge_skipped(BACKEND_CGROUP_V1, true, &t, &skipped), 0, "carried out");
	cr_assert_eq(t.cputune.weight, 300);
	cr_assert(t.cputune.quota_set && t.cputune.quota_percent == 50);
	struct vm_tune u = {0};
	cr_assert_eq(merge_skipped(BACKEND_CGROUP_V1, false, &u, &skipped), 1, "not carried out");
	cr_assert_not_null(strstr(skipped[0], "[CPU] Weight=/Quota=/Period="), "%s", skipped[0]);
	cr_assert_not_null(strstr(skipped[0], "no v1 hierarchy carries it"), "says why: %s", skipped[0]);
	cr_assert_eq(u.cputune.weight, 0, "named, not half done");
	strv_free(skipped);
	skipped = NULL;
	struct vm_tune w = {0};
	cr_assert_eq(merge_skipped(BACKEND_AFFINITY, true, &w, &skipped), 1, "no cgroup in affinity mode");
	strv_free(skipped);
}

/* RT group scheduling: a v1 cpu cgroup of kvmcg's has no real-time runtime */
Test(v1cpu, real_time_vcpus_beside_rt_group_scheduling)
{
	struct plan_host h = {.backend = BACKEND_CGROUP_V1, .v1_mounted[V1_TREE_CPU] = true, .v1_rt_group = true};
	struct cputune req = {.weight = 300, .sched_set = true, .sched_policy = SCHED_FIFO, .sched_priority = 3};
	struct vm_tune t = {0};
	char **skipped = NULL;
	size_t n = 0;
	cr_assert_eq(plan_merge_cputune(&h, &req, &t, &skipped, &n), 0);
	cr_assert_eq(n, 1, "the weight is not carried out");
	cr_assert_not_null(strstr(skipped[0], "real-time"), "says why: %s", skipped[0]);
	cr_assert(t.cputune.sched_set && t.cputune.sched_policy == SCHED_FIFO, "the class is");
	cr_assert_eq(t.cputune.weight, 0);
	strv_free(skipped);
	skipped = NULL;
	n = 0;
	/* a weight an earlier pin carried out: its threads are in the cgroup already */
	struct vm_tune prev = {.cputune = {.weight = 300}};
	struct cputune fifo = {.sched_set = true, .sched_policy = SCHED_RR, .sched_priority = 1};
	err_clear();
	cr_assert_eq(plan_merge_cputune(&h, &fifo, &prev, &skipped, &n), -EINVAL);
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), "unpin it first"), "%s", err_get());
	cr_assert(!prev.cputune.sched_set, "nothing merged");
	/* without RT group scheduling both are carried out */
	h.v1_rt_group = false;
	struct vm_tune u = {0};
	cr_assert_eq(plan_merge_cputune(&h, &req, &u, &skipped, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert(u.cputune.weight == 300 && u.cputune.sched_set);
	/* nor does it matter to a class that is not real-time */
	h.v1_rt_group = true;
	struct cputune batch = {.weight = 200, .sched_set = true, .sched_policy = SCHED_BATCH};
	cr_assert_eq(plan_merge_cputune(&h, &batch, &u, &skipped, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(u.cputune.weight, 200);
}

/* ---- the plan ------------------------------------------------------------------------------ */

TestSuite(v1cpu_plan, .fini = fx_done);

/* The cpuset tree exists as pinned; the cpu tree's root, kvmcg and kvmcg/demo are
 * as given (shares NULL: missing). */
static struct plan_host host(const char *shares, const char *quota, const char *period)
{
	struct plan_host h = fx_host(V1_TREE_CPU, fx.cpu_dirs, shares != NULL);
	fx.cpu_dirs[2].cpu_shares = strdup_or_null(shares);
	fx.cpu_dirs[2].cfs_quota_us = strdup_or_null(quota);
	fx.cpu_dirs[2].cfs_period_us = strdup_or_null(period);
	return h;
}

static const struct action *nth_cpu_action(const struct plan *p, size_t n)
{
	return v1_nth(p, V1_TREE_CPU, n);
}

static void assert_cpu_action(size_t n, enum action_kind kind, const char *dir, const char *file, const char *value,
			      pid_t tid)
{
	v1_assert_action(&fx.plan, V1_TREE_CPU, n, kind, dir, file, value, NULL, tid);
}

Test(v1cpu_plan, new_tree_made_written_and_every_thread_moved)
{
	vm_init("/", "/", "/user");
	struct plan_host h = host(NULL, NULL, NULL);
	struct vm_tune t = {.cputune = {.weight = 300, .quota_set = true, .quota_percent = 250, .period_us = 200000}};
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0, "%s", err_get() ? err_get() : "");
	cr_assert_str_eq(fx.plan.v1_vm_dir[V1_TREE_CPU], "kvmcg/demo");
	assert_cpu_action(0, ACT_MKDIR, "kvmcg", NULL, NULL, 0);
	assert_cpu_action(1, ACT_MKDIR, "kvmcg/demo", NULL, NULL, 0);
	assert_cpu_action(2, ACT_WRITE, "kvmcg/demo", "cpu.shares", "3072", 0);
	assert_cpu_action(3, ACT_WRITE, "kvmcg/demo", "cpu.cfs_period_us", "200000", 0);
	assert_cpu_action(4, ACT_WRITE, "kvmcg/demo", "cpu.cfs_quota_us", "500000", 0);
	for (int i = 0; i < 3; i++)
		assert_cpu_action(5 + (size_t)i, ACT_MOVE_THREAD, "kvmcg/demo", "tasks", NULL, 1000 + i);
	cr_assert_null(nth_cpu_action(&fx.plan, 8), "nothing else in the cpu tree");
	/* the cpuset tree's actions are none of them */
	for (size_t i = 0; i < fx.plan.n_actions; i++)
		if (fx.plan.actions[i].file && strncmp(fx.plan.actions[i].file, "cpuset.", 7) == 0)
			cr_assert(fx.plan.actions[i].tree != V1_TREE_CPU);
}

Test(v1cpu_plan, in_place_changes_nothing)
{
	vm_init("/kvmcg/demo", "/kvmcg/demo", "/kvmcg/demo");
	struct plan_host h = host("3072", "500000", "200000");
	struct vm_tune t = {.cputune = {.weight = 300, .quota_set = true, .quota_percent = 250, .period_us = 200000}};
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0);
	cr_assert_null(nth_cpu_action(&fx.plan, 0), "an identical pin changes nothing there");
}

Test(v1cpu_plan, only_what_differs_and_threads_not_there)
{
	vm_init("/kvmcg/demo", NULL, "/kvmcg/demo");
	struct plan_host h = host("3072", "-1", "100000");
	struct vm_tune t = {.cputune = {.weight = 100, .quota_set = true, .quota_percent = 0}};
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0);
	assert_cpu_action(0, ACT_WRITE, "kvmcg/demo", "cpu.shares", "1024", 0);
	assert_cpu_action(1, ACT_MOVE_THREAD, "kvmcg/demo", "tasks", NULL, 1001);
	cr_assert_null(nth_cpu_action(&fx.plan, 2), "quota max (-1) and the period are there already");
}

Test(v1cpu_plan, no_tree_no_action)
{
	vm_init("/", "/", "/");
	struct plan_host h = host(NULL, NULL, NULL);
	h.v1[V1_TREE_CPU].vm_dir = NULL;
	struct vm_tune t = {0};
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0);
	cr_assert_null(nth_cpu_action(&fx.plan, 0));
	cr_assert_null(fx.plan.v1_vm_dir[V1_TREE_CPU]);
}

/* A record with the tree: threads 1000 (from /home) and 1001 (from /other); 1002 was
 * born since, and goes where the main thread came from. */
static void state_init(void)
{
	const char *const origins[V1_TREE_N][2] = {[V1_TREE_CPU] = {"/home", "/other"}};
	fx_state_init(origins);
}

Test(v1cpu_plan, unpin_moves_back_then_removes)
{
	vm_init("/kvmcg/demo", "/kvmcg/demo", "/kvmcg/demo");
	state_init();
	fx_assert_unpin(V1_TREE_CPU, "home", "other");
	/* and the cpuset tree's rmdir is not the cpu tree's */
	size_t rmdirs = 0;
	for (size_t i = 0; i < fx.plan.n_actions; i++)
		rmdirs += fx.plan.actions[i].kind == ACT_RMDIR && fx.plan.actions[i].tree != V1_TREE_CPU;
	cr_assert_eq(rmdirs, 1);
}

/* ---- the record --------------------------------------------------------------------------- */

/* The round trip of a record with this tree (and the blkio one): test-v1blkio.c. */
Test(v1cpu_plan, record_checks)
{
	state_init();
	char *why = NULL;
	cr_assert_eq(state_check(&fx.st, &why), 0, "%s", why ? why : "");
	free(fx.st.v1[V1_TREE_CPU].created[0]);
	fx.st.v1[V1_TREE_CPU].created[0] = strdup("kvmcg");
	cr_assert_eq(state_check(&fx.st, &why), -EBADMSG, "kvmcg/ there is the host's, never a VM's to remove");
	free(why);
	free(fx.st.v1[V1_TREE_CPU].created[0]);
	fx.st.v1[V1_TREE_CPU].created[0] = strdup("kvmcg/demo");
	free(fx.st.v1[V1_TREE_CPU].vm_dir);
	fx.st.v1[V1_TREE_CPU].vm_dir = strdup("system.slice");
	cr_assert_eq(state_check(&fx.st, &why), -EBADMSG, "a directory that is not kvmcg/<name>");
	free(why);
	free(fx.st.v1[V1_TREE_CPU].vm_dir);
	fx.st.v1[V1_TREE_CPU].vm_dir = strdup("kvmcg/demo");
	free(fx.st.threads[1].v1_cgroup[V1_TREE_CPU]);
	fx.st.threads[1].v1_cgroup[V1_TREE_CPU] = strdup("/kvmcg/other-vm");
	cr_assert_eq(state_check(&fx.st, &why), -EBADMSG, "kvmcg's own cgroups are never an origin");
	free(why);
	free(fx.st.threads[1].v1_cgroup[V1_TREE_CPU]);
	fx.st.threads[1].v1_cgroup[V1_TREE_CPU] = strdup("/other");
	fx.st.backend = BACKEND_CGROUP_V2;
	cr_assert_eq(state_check(&fx.st, &why), -EBADMSG, "a v1 cpu tree in a v2 record");
	free(why);
}

/* ---- names and /proc ------------------------------------------------------------------------- */

Test(v1cpu, directory_names)
{
	_cleanup_free_ char *a = layout_v1tree_dir("kvmcg/demo", "demo", 42), *b = layout_v1tree_dir("l/kvmcg", "vm", 42),
			    *c = layout_v1tree_dir("l/kvmcg", NULL, 42), *d = layout_v1tree_dir("mine/vm-1", "x", 7),
			    *e = layout_v1tree_dir("l/kvmcg", "a b/../c", 9);
	cr_assert_str_eq(a, "kvmcg/demo", "the same name in both hierarchies");
	cr_assert_str_eq(b, "kvmcg/vm.42", "built in place: name and pid");
	cr_assert_str_eq(c, "kvmcg/42");
	cr_assert_str_eq(d, "kvmcg/x.7", "below a --cgroup-root: name and pid (another root may have a vm-1)");
	cr_assert_null(strstr(e + strlen("kvmcg/"), "/"), "one component: %s", e);
	cr_assert_null(strstr(e, ".."), "%s", e);
}

Test(v1cpu, proc_cgroup_line_of_a_controller)
{
	const char *buf = "12:cpuset:/kvmcg/demo/vcpu0\n4:cpu,cpuacct:/kvmcg/demo\n0::/user.slice\n";
	_cleanup_free_ char *cpu = NULL, *acct = NULL, *cpuset = NULL, *none = NULL;
	cr_assert_eq(proc_cgroup_parse_v1(buf, "cpu", &cpu), 0);
	cr_assert_str_eq(cpu, "/kvmcg/demo", "cpu in a combined hierarchy, not cpuset's line");
	cr_assert_eq(proc_cgroup_parse_v1(buf, "cpuacct", &acct), 0);
	cr_assert_str_eq(acct, "/kvmcg/demo");
	cr_assert_eq(proc_cgroup_parse_v1(buf, "cpuset", &cpuset), 0);
	cr_assert_str_eq(cpuset, "/kvmcg/demo/vcpu0");
	cr_assert_eq(proc_cgroup_parse_v1(buf, "blkio", &none), -ENODATA);
	cr_assert_eq(proc_cgroup_parse_v1("0::/x\n", "cpu", &none), -ENODATA, "a unified host has none");
	cr_assert_eq(proc_cgroup_parse_v1("3:cpuset:/a:b\n2:cpu:/with:colon\n", "cpu", &none), 0);
	cr_assert_str_eq(none, "/with:colon");
}
