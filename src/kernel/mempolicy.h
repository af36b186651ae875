/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Moving a process's pages between NUMA nodes, through libnuma (numa(3)).
 *
 * libnuma is loaded with dlopen(3) the first time pages are to be moved, not
 * linked: its constructor reads /proc/self/status and sysfs at every start of the
 * program that links it (1 to 2 ms of every kvmcg run on the build host), for the
 * few runs that move pages. */
#ifndef KVMCG_MEMPOLICY_H
#define KVMCG_MEMPOLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/idset.h"

/* Moves every page of process pid that is on a node of from to the nodes of to
 * (migrate_pages(2) through numa_migrate_pages(); a page keeps its position
 * relative to the sets when it can). Returns how many pages could not be moved
 * (>= 0: pinned by a device, mlocked in a way that forbids it, or with no room on
 * to), or -errno: -ESRCH no such process, -EPERM not allowed, -EINVAL a node that
 * does not exist, -ELIBACC when libnuma cannot be loaded (its name and dlerror() in
 * err_get()). */
long mempolicy_migrate_pages(pid_t pid, const struct idset *from, const struct idset *to);

/* A run of a process's address space whose resident pages may be moved. */
struct mem_range {
	uint64_t start, end; /* [start, end), bytes, page-aligned */
	uint64_t page_size;  /* bytes: the kernel's page size for it (a hugetlb one's) */
};

/* What a spread did, in pages of the ranges' own sizes, and bytes. */
struct mem_spread_stats {
	uint64_t resident;        /* pages found resident */
	uint64_t moved;           /* pages the kernel moved */
	uint64_t moved_bytes;
	uint64_t failed;          /* pages it would not move; by why: */
	uint64_t busy;            /* -EBUSY: the kernel could not take it (pinned by a
				   * device, locked, or in use at that moment) */
	uint64_t no_room;         /* -ENOMEM: no free memory on the target node (after
				   * the first such page no other is tried) */
	uint64_t shared;          /* -EACCES: mapped by other processes as well */
	uint64_t other;           /* any other status */
	uint64_t gone;            /* -EFAULT/-ENOENT after the move: no longer resident,
				   * not counted as failed. The kernel freed it, or (Linux
				   * 6.12+, mm/huge_memory.c try_to_map_unused_to_zeropage())
				   * splitting a transparent huge page to move it mapped its
				   * zero-filled parts to the shared zero page. */
};

/* Moves the resident pages of pid in ranges over nodes in proportion to weights (one
 * weight per node, > 0): in address order, each 2 MiB granule that has resident
 * pages (or each huge page) to the node a smooth weighted round-robin gives next
 * (equal weights: node after node, as MPOL_INTERLEAVE places by address, in units
 * that never split a transparent huge page), with move_pages(2) through numa_move_pages()
 * and MPOL_MF_MOVE_ALL (MPOL_MF_MOVE without CAP_SYS_NICE). A page already on its
 * node stays. Which node a page is on is asked of the kernel first (move_pages with
 * no nodes; mm/migrate.c do_pages_stat()), so pages not resident are neither counted
 * nor faulted in. MEM_SPREAD_ONTO leaves a page that is on one of the nodes where it
 * is (and out of the round-robin). 0 and *ret, or -errno: -ESRCH no such process, -EPERM, -EINVAL,
 * -ELIBACC (libnuma cannot be loaded; err_get() says why), -ENOMEM. */
enum mem_spread_mode {
	MEM_SPREAD_ALL,   /* every resident page to its node by the round-robin */
	MEM_SPREAD_ONTO,  /* only pages on none of the nodes; those already on one stay */
};
int mempolicy_spread(pid_t pid, const struct mem_range *ranges, size_t n_ranges, const unsigned *nodes,
		     const unsigned *weights, size_t n_nodes, enum mem_spread_mode mode, struct mem_spread_stats *ret);

/* The memory policy a process sets for itself before it executes QEMU (kvmcg run):
 * set_mempolicy(2) through libnuma's wrapper (numaif.h). The policy is kept across
 * execve(2) and inherited by every thread QEMU creates (mm/mempolicy.c; man
 * set_mempolicy(2)), so QEMU's first page obeys it. Prepared in the parent, so
 * that the child, between fork and exec, makes one system call and nothing else. */
enum mempolicy_self_mode {
	MEMPOLICY_SELF_BIND,       /* MPOL_BIND: only these nodes (kvmcg's strict) */
	MEMPOLICY_SELF_PREFERRED,  /* MPOL_PREFERRED (one node) or MPOL_PREFERRED_MANY */
	MEMPOLICY_SELF_INTERLEAVE, /* MPOL_INTERLEAVE: page by page over the nodes */
};
#define MEMPOLICY_SELF_MAX_NODES 1024
struct mempolicy_self {
	int mode;     /* MPOL_BIND, MPOL_PREFERRED, MPOL_PREFERRED_MANY, MPOL_INTERLEAVE */
	unsigned long mask[MEMPOLICY_SELF_MAX_NODES / (8 * sizeof(unsigned long))];
	long (*set_mempolicy)(int mode, const unsigned long *mask, unsigned long maxnode);
};
/* "bind", "preferred", "preferred-many", "interleave": the kernel's name of p->mode. */
const char *mempolicy_self_name(const struct mempolicy_self *p);
/* Loads libnuma and prepares *ret for nodes (non-empty, each below
 * MEMPOLICY_SELF_MAX_NODES). Preferred with several nodes needs MPOL_PREFERRED_MANY
 * (Linux 5.15; libnuma's numa_has_preferred_many() asks the kernel): -EOPNOTSUPP
 * without it. -ELIBACC (libnuma cannot be loaded), -ENOSYS (no NUMA in the kernel),
 * -EINVAL (no node, or one too high); err_get() says which. */
int mempolicy_self_prepare(enum mempolicy_self_mode m, const struct idset *nodes, struct mempolicy_self *ret);
/* In the process itself: set_mempolicy(2), with MPOL_F_STATIC_NODES (the nodes stay
 * these nodes when cpuset.mems changes later; numa_maps then writes "bind=static:1").
 * 0 or -errno. Async-signal-safe: one system call, no allocation (a child between
 * fork and exec may call it). */
int mempolicy_self_apply(const struct mempolicy_self *p);

#endif
