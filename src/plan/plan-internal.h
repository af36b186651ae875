/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the planner's files share; nothing outside src/plan/ includes it. plan.c
 * orders a pin (cgroups, moves, affinity, scheduling) and plans unpin and cleanup;
 * merge.c resolves the tuning; cgroups.c plans the tree and its cpuset; cputune.c
 * the CPU bandwidth and scheduling class; iotune.c the io files. */
#ifndef KVMCG_PLAN_INTERNAL_H
#define KVMCG_PLAN_INTERNAL_H

#include <stdbool.h>

#include "plan/plan.h"

/* Appends an action with copies of its strings and set. */
int plan_push(struct plan *p, enum action_kind kind, const char *dir, const char *file, const char *value, pid_t tid,
	const struct idset *cpus);
const struct cgroup_dir_state *plan_find_dir(const struct plan_host *h, const char *path);
bool plan_has_controller(const struct cgroup_dir_state *d, const char *name);
/* "" for an unset list: how cpuset.cpus reads when it inherits. */
char *plan_format_or_empty(const struct idset *s);
bool plan_same_text(const char *a, const char *b);
/* Whether thread t is in dir (relative). */
bool plan_in_cgroup(const struct vm_thread *t, const char *dir);

/* One child cgroup of the VM's: its name (layout.h), the CPUs it is given. */
struct child {
	char *name;
	const struct idset *cpus;
	bool written; /* its cpuset changes: on 6.1 that resets its threads' affinity */
};

/* The cgroup tree of a pin: the actions, and the VM's children (caller frees each
 * name and the array), emulator first. */
int plan_cgroups(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune, struct plan *p,
		 struct child **ret_children, size_t *ret_n);

/* cpu.weight and cpu.max of the VM's cgroup (v2), where they differ from t. */
int plan_cputune_files(const char *vm_dir, const struct cgroup_dir_state *vmd, const struct cputune *t,
		       struct plan *p);

/* A VM's tree in one v1 hierarchy (plan/v1tree.c), its actions marked with tree:
 * plan_v1tree_push: plan_push() of such an action;
 * plan_v1tree_dir: the observed state of path there (h->v1[tree].dirs), NULL when it
 *   does not exist (or was not observed);
 * plan_v1tree_write: value to file of dir unless the directory exists (d) and have
 *   reads so already;
 * plan_v1tree_begin: the plan's v1_vm_dir[tree], and each missing directory down to
 *   h->v1[tree].vm_dir made, top-down; 1 with that directory's observed state in
 *   *ret_dir (NULL: new), or 0 when there is no such tree for this pin (vm_dir NULL);
 * plan_v1tree_threads: every thread of the VM not in that directory moved there
 *   (tasks: one TID each).
 * 0, -ENOMEM. */
int plan_v1tree_push(struct plan *p, enum v1_tree tree, enum action_kind kind, const char *dir, const char *file,
		     const char *value, pid_t tid);
const struct cgroup_dir_state *plan_v1tree_dir(const struct plan_host *h, enum v1_tree tree, const char *path);
int plan_v1tree_write(struct plan *p, enum v1_tree tree, const char *dir, const struct cgroup_dir_state *d,
		      const char *have, const char *file, const char *value);
int plan_v1tree_begin(const struct plan_host *h, enum v1_tree tree, struct plan *p,
		      const struct cgroup_dir_state **ret_dir);
int plan_v1tree_threads(const struct plan_host *h, enum v1_tree tree, const struct vm *vm, struct plan *p);

/* The VM's tree in the v1 cpu hierarchy (h->v1[V1_TREE_CPU]; nothing when its vm_dir
 * is NULL): each missing directory down to it made, cpu.shares (cputune_shares of t->weight),
 * cpu.cfs_period_us and cpu.cfs_quota_us (cputune_quota_us) written where they
 * differ, every thread not in it moved there (tasks: one TID each). Actions marked
 * V1_TREE_CPU. */
int plan_v1cpu(const struct plan_host *h, const struct vm *vm, const struct cputune *t, struct plan *p);

/* One line of a keyed file (cgroupfs.h cg_line_find: io.weight, blkio.throttle.*...)
 * of dir in tree's hierarchy, unless current (the file's text; NULL: none or not
 * read) has it already; as ACT_WRITE_LINE, with the line that puts back what is there
 * (cg_line_undo). 0, -EINVAL (file not keyed), -ENOMEM. */
int plan_keyed_line(struct plan *p, enum v1_tree tree, const char *dir, const char *file, const char *current,
		    const char *line);
/* A line that takes a setting back ("MAJ:MIN default", "MAJ:MIN 0"), only when current
 * has a line of its key (the kernel lists only what is set); as plan_keyed_line. */
int plan_taken_back(struct plan *p, enum v1_tree tree, const char *dir, const char *file, const char *current,
		    const char *line);

/* The VM's tree in the v1 blkio hierarchy (h->v1[V1_TREE_BLKIO]; nothing when its
 * vm_dir is NULL): each missing directory down to it made; for each disk of t, its
 * BFQ weight (iotune_bfq_weight, 1..1000) as a line of blkio.bfq.weight_device and its
 * limits as lines of blkio.throttle.{read,write}_{bps,iops}_device, where they differ;
 * every thread not in it moved there. Actions marked V1_TREE_BLKIO. */
int plan_v1blkio(const struct plan_host *h, const struct vm *vm, const struct iotune *t, struct plan *p);

/* io.weight, io.bfq.weight and io.max lines of the VM's domain cgroup dir (v2),
 * where d (its observed state; NULL: new) differs from t. */
int plan_iotune_files(const char *dir, const struct cgroup_dir_state *d, const struct iotune *t, struct plan *p);

/* The vCPUs' scheduling class, like libvirt's <vcpusched>: one action per vCPU
 * whose class differs. */
int plan_vcpu_sched(const struct vm *vm, const struct cputune *t, struct plan *p);

#endif
