/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the tests of the v1 trees (test-v1cpu.c, test-v1blkio.c) share: a VM, the
 * observed cgroups of each tree, a plan and a record, freed after each test; a plan's
 * n-th action in one tree's hierarchy, and that action as expected. */
#ifndef KVMCG_TEST_V1TREE_FIXTURE_H
#define KVMCG_TEST_V1TREE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "plan/plan.h"
#include "plan/record.h"

static struct {
	struct vm *vm;
	struct cgroup_dir_state cpu_dirs[3], blkio_dirs[3], dirs[1];
	char *cgroups[3]; /* the threads' cgroups in the tree(s) planned, by index */
	struct io_device dev[2];
	struct plan plan;
	struct vm_state st;
	struct idset *cpus;
} fx;

static inline void fx_dirs_free(struct cgroup_dir_state *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].path);
		free(d[i].cpu_shares);
		free(d[i].cfs_quota_us);
		free(d[i].cfs_period_us);
		for (int f = 0; f < BLKIO_FILE_N; f++)
			free(d[i].blkio[f]);
	}
}

static inline void fx_done(void)
{
	vm_free(fx.vm);
	fx_dirs_free(fx.cpu_dirs, ARRAY_SIZE(fx.cpu_dirs));
	fx_dirs_free(fx.blkio_dirs, ARRAY_SIZE(fx.blkio_dirs));
	free(fx.dirs[0].path);
	for (size_t i = 0; i < ARRAY_SIZE(fx.cgroups); i++)
		free(fx.cgroups[i]);
	plan_done(&fx.plan);
	vm_state_done(&fx.st);
	idset_free(fx.cpus);
	memset(&fx, 0, sizeof(fx));
}

/* pid 1000 (emulator), vCPU 0 (1001), a worker (1002), pinned in the cpuset tree; in
 * the v1 tree planned where cg0, cg1 and cg2 say (NULL: unknown). */
static inline void vm_init(const char *cg0, const char *cg1, const char *cg2)
{
	fx.vm = calloc(1, sizeof(*fx.vm));
	cr_assert_not_null(fx.vm);
	fx.vm->pid = 1000;
	fx.vm->name = strdup("demo");
	fx.vm->n_vcpus_expected = 1;
	fx.vm->threads = calloc(3, sizeof(*fx.vm->threads));
	cr_assert_not_null(fx.vm->threads);
	const enum thread_kind kinds[] = {THREAD_EMULATOR, THREAD_VCPU, THREAD_WORKER};
	const char *cgs[] = {cg0, cg1, cg2};
	for (int i = 0; i < 3; i++) {
		fx.vm->threads[i] = (struct vm_thread){.tid = 1000 + i, .kind = kinds[i], .vcpu_index = i == 1 ? 0 : -1,
						       .cgroup = strdup(i == 1 ? "/kvmcg/demo/vcpu0" : "/kvmcg/demo/emulator"),
						       .cgroup_v1 = true};
		fx.cgroups[i] = cgs[i] ? strdup(cgs[i]) : NULL;
	}
	fx.vm->n_threads = 3;
}

static inline const struct action *v1_nth(const struct plan *p, enum v1_tree tree, size_t n)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].tree == tree && n-- == 0)
			return &p->actions[i];
	return NULL;
}

/* The n-th action of tree in p is kind on dir (file, value, old: unless NULL) for tid. */
static inline void v1_assert_action(const struct plan *p, enum v1_tree tree, size_t n, enum action_kind kind,
				    const char *dir, const char *file, const char *value, const char *old, pid_t tid)
{
	const struct action *a = v1_nth(p, tree, n);
	cr_assert_not_null(a, "v1 %s action %zu", v1_tree_controller(tree), n);
	cr_assert_eq(a->kind, kind, "action %zu: %s", n, action_kind_name(a->kind));
	cr_assert_str_eq(a->dir, dir, "action %zu", n);
	if (file)
		cr_assert_str_eq(a->file, file, "action %zu", n);
	if (value)
		cr_assert_str_eq(a->value, value, "action %zu", n);
	if (old)
		cr_assert_str_eq(a->old, old, "action %zu: the line that undoes it", n);
	cr_assert_eq(a->tid, tid, "action %zu", n);
}

/* A v1 host on which the VM's cpuset tree exists as pinned, and its tree in tree's
 * hierarchy as dirs say: the root, kvmcg and kvmcg/demo, the last two there when
 * there is true (dirs[2]'s files the caller's to fill); the threads' cgroups there are
 * fx.cgroups. */
static inline struct plan_host fx_host(enum v1_tree tree, struct cgroup_dir_state dirs[3], bool there)
{
	cr_assert_eq(idset_parse("0-1", &fx.cpus, NULL), 0);
	fx.dirs[0] = (struct cgroup_dir_state){.path = strdup("kvmcg/demo"), .exists = true};
	dirs[0] = (struct cgroup_dir_state){.path = strdup(""), .exists = true};
	dirs[1] = (struct cgroup_dir_state){.path = strdup("kvmcg"), .exists = there};
	dirs[2] = (struct cgroup_dir_state){.path = strdup("kvmcg/demo"), .exists = there};
	struct plan_host h = {.backend = BACKEND_CGROUP_V1,
			      .online_cpus = fx.cpus,
			      .online_mems = fx.cpus,
			      .effective_cpus = fx.cpus,
			      .effective_mems = fx.cpus,
			      .dirs = fx.dirs,
			      .vm_dir = "kvmcg/demo"};
	h.v1_mounted[tree] = true;
	h.v1[tree] = (struct plan_v1_host){.vm_dir = "kvmcg/demo", .dirs = dirs, .n_dirs = 3, .cgroups = fx.cgroups};
	return h;
}

/* A record of a v1 pin of the VM with the tree of each origins[t] given: threads 1000
 * and 1001 came from origins[t][0] and [1] there (1002 was born since, and goes where
 * the main thread came from). */
static inline void fx_state_init(const char *const origins[V1_TREE_N][2])
{
	static const char *const mounts[V1_TREE_N] = {NULL, "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/blkio"};
	fx.st = (struct vm_state){.pid = 1000, .starttime = 4242, .backend = BACKEND_CGROUP_V1};
	fx.st.mount = strdup("/sys/fs/cgroup/cpuset");
	fx.st.vm_dir = strdup("kvmcg/demo");
	cr_assert_eq(strv_push(&fx.st.created, &fx.st.n_created, "kvmcg/demo"), 0);
	fx.st.threads = calloc(2, sizeof(*fx.st.threads));
	cr_assert_not_null(fx.st.threads);
	fx.st.n_threads = 2;
	for (int i = 0; i < 2; i++) {
		fx.st.threads[i] = (struct thread_origin){.tid = 1000 + i, .cgroup = strdup("/")};
		cr_assert_eq(idset_parse("0-1", &fx.st.threads[i].affinity, NULL), 0);
	}
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		if (!origins[t][0])
			continue;
		fx.st.v1[t].mount = strdup(mounts[t]);
		fx.st.v1[t].vm_dir = strdup("kvmcg/demo");
		cr_assert_eq(strv_push(&fx.st.v1[t].created, &fx.st.v1[t].n_created, "kvmcg/demo"), 0);
		for (int i = 0; i < 2; i++)
			fx.st.threads[i].v1_cgroup[t] = strdup(origins[t][i]);
	}
}

/* The unpin of fx.vm (three threads in kvmcg/demo) with fx.st, as tree has it: each
 * thread back where it came from there, then the directory removed, as a cleanup step. */
static inline void fx_assert_unpin(enum v1_tree tree, const char *from0, const char *from1)
{
	cr_assert_eq(plan_unpin(&fx.st, fx.vm, &fx.plan), 0);
	v1_assert_action(&fx.plan, tree, 0, ACT_MOVE_THREAD, from0, "tasks", NULL, NULL, 1000);
	v1_assert_action(&fx.plan, tree, 1, ACT_MOVE_THREAD, from1, "tasks", NULL, NULL, 1001);
	v1_assert_action(&fx.plan, tree, 2, ACT_MOVE_THREAD, from0, "tasks", NULL, NULL, 1002);
	v1_assert_action(&fx.plan, tree, 3, ACT_RMDIR, "kvmcg/demo", NULL, NULL, NULL, 0);
	const struct action *rm = v1_nth(&fx.plan, tree, 3), *move = v1_nth(&fx.plan, tree, 2);
	cr_assert(rm && rm->cleanup);
	cr_assert(move && !move->cleanup, "moves are undone on failure");
	cr_assert_null(v1_nth(&fx.plan, tree, 4));
}

#endif
