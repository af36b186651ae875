/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Observation: what is in place in cgroupfs for one VM, read for the planner
 * (struct cgroup_dir_state, plan.h). The only reads of the VM's cgroup files before
 * planning; they go through the run's directory cache, which the executor then uses. */
#ifndef KVMCG_OBSERVE_H
#define KVMCG_OBSERVE_H

#include <stddef.h>

#include "kernel/cgroupfs.h"
#include "plan/plan.h"
#include "vmm/discover.h"

struct dir_states {
	struct cgroup_dir_state *v;
	size_t n;
};
void dir_states_done(struct dir_states *s);

/* Reads the mount root, each ancestor of vm_dir, vm_dir and the child of each of vm's
 * threads (layout.h), in that order, each once; with io, also the io files of the
 * root, the ancestors and vm_dir (one of them is the VM's io domain), which a pin
 * that carries no [IO] has no use for. A missing directory is one with
 * exists false; a file that cannot be read is left NULL (the planner writes it).
 * -ENOMEM, or the errors of cg_dircache_get other than -ENOENT. */
int observe_dirs(struct cg_dircache *dirs, const char *vm_dir, const struct vm *vm, enum pin_backend backend,
		 bool io, struct dir_states *ret);

/* A v1 tree's hierarchy: each cgroup from the root of dirs' mount down to vm_dir
 * ("kvmcg/demo"), in that order, with cpu.shares, cpu.cfs_quota_us and
 * cpu.cfs_period_us (V1_TREE_CPU) or the files of enum blkio_file (V1_TREE_BLKIO).
 * Below a missing one nothing is asked. -ENOMEM, or the errors of cg_dircache_get
 * other than -ENOENT. */
int observe_v1tree_dirs(struct cg_dircache *dirs, enum v1_tree tree, const char *vm_dir, struct dir_states *ret);

#endif
