// SPDX-License-Identifier: GPL-2.0-or-later
/* The v1 blkio tree (v1 and hybrid hosts): where [IO] is carried out, the plan of the
 * tree beside the cpuset one (blkio.throttle.* and blkio.bfq.weight_device lines, the
 * lines that undo them, every thread moved), beside the v1 cpu tree, its unpin, its
 * record and the checks on it. Pure: no root, no cgroupfs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "plan/plan.h"
#include "plan/record.h"
#include "state/state.h"
#include "v1tree-fixture.h"

Test(v1blkio, file_names_and_resets)
{
	cr_assert_str_eq(blkio_file_name(BLKIO_WRITE_BPS), "blkio.throttle.write_bps_device");
	cr_assert_str_eq(blkio_file_name(BLKIO_READ_IOPS), "blkio.throttle.read_iops_device");
	cr_assert_str_eq(blkio_file_name(BLKIO_BFQ_WEIGHT_DEVICE), "blkio.bfq.weight_device");
	cr_assert_null(blkio_file_name(BLKIO_FILE_N));
	cr_assert_str_eq(v1_tree_controller(V1_TREE_BLKIO), "blkio");
	cr_assert_str_eq(v1_tree_controller(V1_TREE_CPU), "cpu");
	cr_assert_null(v1_tree_controller(V1_TREE_NONE));
	_cleanup_free_ char *a = NULL, *b = NULL;
	/* no limit is 0 (tg_set_conf()); BFQ refuses 0 and takes "default" */
	cr_assert_eq(cg_line_reset("blkio.throttle.write_bps_device", "7:0", &a), 0);
	cr_assert_str_eq(a, "7:0 0");
	cr_assert_eq(cg_line_reset("blkio.bfq.weight_device", "7:0", &b), 0);
	cr_assert_str_eq(b, "7:0 default");
}

Test(v1blkio, where_io_is_carried_out)
{
	struct plan_host h = {.backend = BACKEND_CGROUP_V1};
	cr_assert_not_null(plan_iotune_unsupported(&h), "v1 without a blkio hierarchy");
	cr_assert_not_null(strstr(plan_iotune_unsupported(&h), "no v1 hierarchy carries blkio"));
	h.v1_mounted[V1_TREE_BLKIO] = true;
	cr_assert_null(plan_iotune_unsupported(&h), "v1 with one: the blkio tree");
	h.backend = BACKEND_AFFINITY;
	cr_assert_not_null(plan_iotune_unsupported(&h));
}

/* ---- the plan ------------------------------------------------------------------------------ */

TestSuite(v1blkio_plan, .fini = fx_done);

/* The cpuset tree exists as pinned; the blkio tree's kvmcg/demo exists when
 * write_bps (its blkio.throttle.write_bps_device text) is not NULL. */
static struct plan_host host(const char *write_bps, const char *bfq_weight_device)
{
	struct plan_host h = fx_host(V1_TREE_BLKIO, fx.blkio_dirs, write_bps != NULL);
	fx.blkio_dirs[2].blkio[BLKIO_WRITE_BPS] = write_bps ? strdup(write_bps) : NULL;
	fx.blkio_dirs[2].blkio[BLKIO_BFQ_WEIGHT_DEVICE] = bfq_weight_device ? strdup(bfq_weight_device) : NULL;
	return h;
}

static void assert_blkio(size_t n, enum action_kind kind, const char *dir, const char *file, const char *value,
			 const char *old, pid_t tid)
{
	v1_assert_action(&fx.plan, V1_TREE_BLKIO, n, kind, dir, file, value, old, tid);
}

/* 7:0 capped at 10 MiB/s written and 1000 reads/s, with a BFQ weight of 500; 8:16
 * with a weight that is not BFQ's (no v1 file carries it). */
static struct vm_tune tune(void)
{
	fx.dev[0] = (struct io_device){.major = 7, .minor = 0, .wbps = 10485760, .riops = 1000, .weight = 500, .bfq = true};
	fx.dev[1] = (struct io_device){.major = 8, .minor = 16, .weight = 300};
	return (struct vm_tune){.iotune = {.dev = fx.dev, .n_dev = 2}};
}

Test(v1blkio_plan, new_tree_made_written_and_every_thread_moved)
{
	vm_init("/", "/user", NULL);
	struct plan_host h = host(NULL, NULL);
	struct vm_tune t = tune();
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0, "%s", err_get() ? err_get() : "");
	cr_assert_str_eq(fx.plan.v1_vm_dir[V1_TREE_BLKIO], "kvmcg/demo");
	cr_assert_null(fx.plan.v1_vm_dir[V1_TREE_CPU]);
	assert_blkio(0, ACT_MKDIR, "kvmcg", NULL, NULL, NULL, 0);
	assert_blkio(1, ACT_MKDIR, "kvmcg/demo", NULL, NULL, NULL, 0);
	/* BFQ's scale: 500 is 100 + 400 * 900 / 9900 */
	assert_blkio(2, ACT_WRITE_LINE, "kvmcg/demo", "blkio.bfq.weight_device", "7:0 136", "7:0 default", 0);
	assert_blkio(3, ACT_WRITE_LINE, "kvmcg/demo", "blkio.throttle.write_bps_device", "7:0 10485760", "7:0 0", 0);
	assert_blkio(4, ACT_WRITE_LINE, "kvmcg/demo", "blkio.throttle.read_iops_device", "7:0 1000", "7:0 0", 0);
	assert_blkio(5, ACT_MOVE_THREAD, "kvmcg/demo", "tasks", NULL, NULL, 1000);
	assert_blkio(6, ACT_MOVE_THREAD, "kvmcg/demo", "tasks", NULL, NULL, 1001);
	assert_blkio(7, ACT_MOVE_THREAD, "kvmcg/demo", "tasks", NULL, NULL, 1002);
	cr_assert_null(v1_nth(&fx.plan, V1_TREE_BLKIO, 8), "nothing for 8:16's weight, which no v1 file carries");
	for (size_t i = 0; i < fx.plan.n_actions; i++)
		cr_assert(!fx.plan.actions[i].file || strncmp(fx.plan.actions[i].file, "io.", 3) != 0,
			  "no v2 io file on v1");
}

Test(v1blkio_plan, in_place_changes_only_what_differs)
{
	vm_init("/kvmcg/demo", "/kvmcg/demo", "/kvmcg/demo");
	struct plan_host h = host("7:0 10485760", "default 100\n7:0 200");
	struct vm_tune t = tune();
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0);
	/* the weight differs (200 there): its line, undone by the line there */
	assert_blkio(0, ACT_WRITE_LINE, "kvmcg/demo", "blkio.bfq.weight_device", "7:0 136", "7:0 200", 0);
	/* read_iops_device was not read (NULL): written */
	assert_blkio(1, ACT_WRITE_LINE, "kvmcg/demo", "blkio.throttle.read_iops_device", "7:0 1000", NULL, 0);
	cr_assert_null(v1_nth(&fx.plan, V1_TREE_BLKIO, 2), "the cap there already, and every thread");
}

Test(v1blkio_plan, beside_the_cpu_tree)
{
	vm_init("/", "/", "/");
	struct plan_host h = host(NULL, NULL);
	for (int i = 0; i < 3; i++)
		fx.cpu_dirs[i] = (struct cgroup_dir_state){.path = strdup(i == 0 ? "" : i == 1 ? "kvmcg" : "kvmcg/demo")};
	fx.cpu_dirs[0].exists = true;
	h.v1_mounted[V1_TREE_CPU] = true;
	h.v1[V1_TREE_CPU] = (struct plan_v1_host){.vm_dir = "kvmcg/demo", .dirs = fx.cpu_dirs, .n_dirs = 3,
						  .cgroups = fx.cgroups};
	struct vm_tune t = tune();
	t.cputune.weight = 200;
	cr_assert_eq(plan_pin(&h, fx.vm, &t, &fx.plan), 0);
	/* each tree its own mkdirs and a move per thread; a tree's actions name only its files */
	size_t moves[V1_TREE_N] = {0}, mkdirs[V1_TREE_N] = {0};
	for (size_t i = 0; i < fx.plan.n_actions; i++) {
		const struct action *a = &fx.plan.actions[i];
		moves[a->tree] += a->kind == ACT_MOVE_THREAD;
		mkdirs[a->tree] += a->kind == ACT_MKDIR;
		if (a->tree == V1_TREE_CPU && a->file && a->kind != ACT_MOVE_THREAD)
			cr_assert(strncmp(a->file, "cpu.", 4) == 0, "%s", a->file);
		if (a->tree == V1_TREE_BLKIO && a->file && a->kind != ACT_MOVE_THREAD)
			cr_assert(strncmp(a->file, "blkio.", 6) == 0, "%s", a->file);
	}
	cr_assert_eq(moves[V1_TREE_CPU], 3);
	cr_assert_eq(moves[V1_TREE_BLKIO], 3);
	cr_assert_eq(mkdirs[V1_TREE_CPU], 2);
	cr_assert_eq(mkdirs[V1_TREE_BLKIO], 2);
}

/* A record with both trees: thread 1000 from /home (blkio) and / (cpu), 1001 from
 * /other and /other-cpu; 1002 was born since, and goes where the main thread came from. */
static void state_init(void)
{
	const char *const origins[V1_TREE_N][2] = {[V1_TREE_CPU] = {"/", "/other-cpu"},
						   [V1_TREE_BLKIO] = {"/home", "/other"}};
	fx_state_init(origins);
}

Test(v1blkio_plan, unpin_moves_back_then_removes)
{
	vm_init("/kvmcg/demo", "/kvmcg/demo", "/kvmcg/demo");
	state_init();
	fx_assert_unpin(V1_TREE_BLKIO, "home", "other");
	cr_assert_not_null(v1_nth(&fx.plan, V1_TREE_CPU, 3), "the cpu tree's own moves and rmdir");
	cr_assert_null(v1_nth(&fx.plan, V1_TREE_CPU, 4));
}

/* ---- the record --------------------------------------------------------------------------- */

static void check_refused(const char *what, const char *needle)
{
	char *why = NULL;
	cr_assert_eq(state_check(&fx.st, &why), -EBADMSG, "%s", what);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, needle), "%s: %s", what, why);
	free(why);
}

static void replace(char **s, const char *v)
{
	free(*s);
	*s = strdup(v);
}

Test(v1blkio_plan, record_round_trip_and_checks)
{
	state_init();
	_cleanup_free_ char *text = state_format(&fx.st);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\"blkio_mount\": \"/sys/fs/cgroup/blkio\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"blkio_vm_dir\": \"kvmcg/demo\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"blkio_cgroup\": \"/other\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"cpu_vm_dir\": \"kvmcg/demo\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"cpu_cgroup\": \"/other-cpu\""), "%s", text);
	struct vm_state back = {0};
	cr_assert_eq(state_parse(text, &back, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_str_eq(back.v1[V1_TREE_BLKIO].mount, "/sys/fs/cgroup/blkio");
	cr_assert_eq(back.v1[V1_TREE_BLKIO].n_created, 1);
	cr_assert_str_eq(record_find_thread(&back, 1001)->v1_cgroup[V1_TREE_BLKIO], "/other");
	cr_assert_str_eq(back.v1[V1_TREE_CPU].mount, "/sys/fs/cgroup/cpu,cpuacct");
	cr_assert_eq(back.v1[V1_TREE_CPU].n_created, 1);
	cr_assert_str_eq(record_find_thread(&back, 1001)->v1_cgroup[V1_TREE_CPU], "/other-cpu");
	_cleanup_free_ char *again = state_format(&back);
	cr_assert_str_eq(again, text, "what is read is what was written");
	struct vm_state copy = {0};
	cr_assert_eq(vm_state_copy(&back, &copy), 0);
	_cleanup_free_ char *copied = state_format(&copy);
	cr_assert_str_eq(copied, text, "a copy has both trees");
	vm_state_done(&copy);
	vm_state_done(&back);

	char *why = NULL;
	cr_assert_eq(state_check(&fx.st, &why), 0, "%s", why ? why : "");
	struct v1_tree_record *b = &fx.st.v1[V1_TREE_BLKIO];
	replace(&b->created[0], "kvmcg");
	check_refused("kvmcg/ there is the host's", "made in the v1 blkio hierarchy that is not the VM's");
	replace(&b->created[0], "kvmcg/demo");
	replace(&b->vm_dir, "system.slice");
	check_refused("a directory that is not kvmcg/<name>", "in the v1 blkio hierarchy is not kvmcg/<name>");
	replace(&b->vm_dir, "kvmcg/demo");
	replace(&b->mount, "sys/fs/cgroup/blkio");
	check_refused("a relative mount", "its v1 blkio mount is not an absolute path");
	replace(&b->mount, "/sys/fs/cgroup/blkio");
	replace(&fx.st.threads[1].v1_cgroup[V1_TREE_BLKIO], "/kvmcg/other-vm");
	check_refused("kvmcg's own cgroups are never an origin", "v1 blkio cgroup that is not a plain path");
	replace(&fx.st.threads[1].v1_cgroup[V1_TREE_BLKIO], "/../etc");
	check_refused("an origin with ..", "v1 blkio cgroup");
	replace(&fx.st.threads[1].v1_cgroup[V1_TREE_BLKIO], "/other");
	cr_assert_eq(state_check(&fx.st, &why), 0, "%s", why ? why : "");
	/* an origin there without the tree */
	free(b->mount);
	free(b->vm_dir);
	strv_free(b->created);
	*b = (struct v1_tree_record){0};
	check_refused("a blkio origin without a blkio tree", "v1 blkio cgroup without such a tree");
	fx.st.backend = BACKEND_CGROUP_V2;
	check_refused("a v1 cpu tree in a v2 record", "a v1 cpu tree in a record that is not of the v1 mode");
}

Test(v1blkio_plan, record_keys_of_both_trees_parsed)
{
	state_init();
	_cleanup_free_ char *text = state_format(&fx.st);
	/* an unknown tree's key is an unknown key */
	char *p = strstr(text, "\"blkio_vm_dir\"");
	cr_assert_not_null(p);
	memcpy(p + 1, "blkix", 5);
	struct vm_state back = {0};
	cr_assert_lt(state_parse(text, &back, NULL), 0, "blkix_vm_dir is no key of a record");
	vm_state_done(&back);
}
