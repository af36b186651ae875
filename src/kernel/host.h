/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host facts from /sys, read through a dirfd so a captured tree works too. */
#ifndef KVMCG_HOST_H
#define KVMCG_HOST_H

#include <stdint.h>

#include "basic/idset.h"

struct host {
	struct idset *online_cpus;
	struct idset *online_mems; /* NUMA nodes; {0} on a kernel without NUMA */
	struct idset *memory_mems; /* the nodes with memory (N_MEMORY: node/has_memory);
				    * online_mems when the kernel does not say */
	unsigned long clock_ticks; /* sysconf(_SC_CLK_TCK): unit of /proc stat times */
};

int host_read(int sys_fd, struct host *ret);
void host_done(struct host *h);

/* One node's memory, from /sys/devices/system/node/nodeN/meminfo (drivers/base/node.c
 * node_read_meminfo(): "Node N MemTotal:  X kB") and its hugepages/ directory
 * (mm/hugetlb.c: free_hugepages per page size). Bytes. */
struct host_node_memory {
	uint64_t total, free;
	uint64_t huge_page_size; /* the size asked for, 0 when none was */
	uint64_t huge_free;      /* free huge pages of that size, in pages */
};
/* huge_page_size: bytes of the huge page size whose free pages are wanted (0: none).
 * 0, -ENOENT (no such node, or no huge pages of that size on it: huge_free 0 and no
 * error then), -EINVAL for a meminfo the kernel did not write. */
int host_node_memory(int sys_fd, unsigned node, uint64_t huge_page_size, struct host_node_memory *ret);

#endif
