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

/* io.weight, io.bfq.weight and io.max lines of the VM's domain cgroup dir (v2),
 * where d (its observed state; NULL: new) differs from t. */
int plan_iotune_files(const char *dir, const struct cgroup_dir_state *d, const struct iotune *t, struct plan *p);

/* The vCPUs' scheduling class, like libvirt's <vcpusched>: one action per vCPU
 * whose class differs. */
int plan_vcpu_sched(const struct vm *vm, const struct cputune *t, struct plan *p);

#endif
