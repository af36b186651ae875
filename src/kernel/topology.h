/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's CPU and memory topology from sysfs, as numactl --hardware, lscpu -e and
 * lstopo show it: NUMA nodes with their CPUs, memory and distances; CPUs with their
 * node, package, core, SMT siblings and L3 group; which CPUs are online, isolated
 * (isolcpus=) and nohz_full. Every file is read through a dirfd of the sysfs root, so
 * --sysroot reads a captured tree the same way. The kernel writes these files in
 * drivers/base/node.c (nodeN/), drivers/base/topology.c (cpuN/topology/),
 * drivers/base/cacheinfo.c (cpuN/cache/) and drivers/base/cpu.c (online, present,
 * isolated, nohz_full). */
#ifndef KVMCG_TOPOLOGY_H
#define KVMCG_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/idset.h"

struct topo_node {
	unsigned id;
	struct idset *cpus;           /* nodeN/cpulist: its online CPUs */
	bool memory_known;            /* nodeN/meminfo was read */
	uint64_t memory_total;        /* bytes: MemTotal */
	uint64_t memory_free;         /* bytes: MemFree */
	unsigned *distances;          /* nodeN/distance: [i] to the i-th online node, which
				       * is nodes[i] (the kernel lists online nodes only, in
				       * order); NULL when the file is missing */
	size_t n_distances;
};

struct topo_cpu {
	unsigned id;
	int node;               /* -1 when no node claims it */
	bool online;
	bool isolated;          /* in devices/system/cpu/isolated (isolcpus=, domain) */
	bool nohz_full;         /* in devices/system/cpu/nohz_full */
	/* The rest is -1 or NULL for an offline CPU: the kernel removes its topology and
	 * cache directories when it goes offline (topology_remove_dev, cacheinfo_cpu_pre_down). */
	int package;            /* topology/physical_package_id */
	int core;               /* logical core: 0, 1, ... in the order of each core's
				 * lowest CPU (lscpu's logical CORE); a core is a set of
				 * thread_siblings */
	struct idset *siblings; /* topology/thread_siblings_list: this CPU's core */
	struct idset *l3;       /* shared_cpu_list of its level-3 data or unified cache;
				 * NULL when it has none (or the kernel shows no caches) */
};

struct topology {
	struct topo_node *nodes; /* online nodes, ascending; a kernel without NUMA
				  * gives node 0 with every online CPU and memory not known */
	size_t n_nodes;
	struct topo_cpu *cpus;   /* present CPUs (online or not), ascending */
	size_t n_cpus;
	struct idset *online, *isolated, *nohz_full;
};
void topology_done(struct topology *t);

/* Reads the whole topology below sys_fd (the sysfs root: "devices/system/..."). One
 * file per node and per core (siblings, package and L3 are read once per core and
 * once per L3 group, not per CPU); no process is spawned. -ENOENT when
 * devices/system/cpu/online is missing, -EINVAL for a file that does not parse
 * (a list, a number), -ENOMEM. A missing isolated or nohz_full file (kernels before
 * 4.x, no CONFIG_NO_HZ_FULL) is an empty set. */
int topology_read(int sys_fd, struct topology *ret);

/* Pure parsers, for the unit tests and the fuzzers.
 * topology_parse_meminfo: a nodeN/meminfo buffer ("Node 0 MemTotal:  7825184 kB");
 * bytes of MemTotal and MemFree, -EINVAL when either is missing or malformed.
 * topology_parse_distances: "10 20\n"; *ret (malloc'ed, caller frees) and *ret_n;
 * -EINVAL, -ENOMEM.
 * topology_parse_cpulist: a CPU list file; the kernel writes "(null)" for nohz_full
 * when the boot line gave none (the mask was never allocated: drivers/base/cpu.c
 * print_cpus_nohz_full), which is the empty set. */
int topology_parse_meminfo(const char *buf, uint64_t *ret_total, uint64_t *ret_free);
int topology_parse_distances(const char *buf, unsigned **ret, size_t *ret_n);
int topology_parse_cpulist(const char *buf, struct idset **ret);

/* The node of cpu in t, or NULL. */
const struct topo_cpu *topology_cpu(const struct topology *t, unsigned cpu);

#endif
