/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A VM's memory per NUMA node, from its memory map (kernel/memmap.h): which mappings
 * are guest RAM (QEMU's memory backends, by their size), QEMU's other anonymous
 * memory (heap, stacks, its own allocations), hugetlb pages, and file-backed pages
 * (its binary, libraries, the vDSO), which a VM's placement does not move and the
 * share on allowed nodes does not count. */
#ifndef KVMCG_VMM_MEMORY_H
#define KVMCG_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/idset.h"
#include "kernel/memmap.h"
#include "kernel/mempolicy.h"
#include "vmm/discover.h"

/* How the guest RAM's size was known. */
enum vm_ram_source {
	VM_RAM_UNKNOWN, /* neither: nothing is guest RAM */
	VM_RAM_MEMDEV,  /* QMP query-memdev: every backend's size */
	VM_RAM_ARGV,    /* -m on the command line (the monitor did not answer) */
};
const char *vm_ram_source_name(enum vm_ram_source s); /* "unknown", "query-memdev", "-m" */

/* Bytes on one node. */
struct vm_memory_node {
	uint64_t guest_ram; /* pages of guest RAM mappings */
	uint64_t other;     /* QEMU's other anonymous pages */
	uint64_t huge;      /* hugetlb pages, guest RAM or not (also in guest_ram/other) */
	uint64_t file;      /* pages of file-backed mappings that are not guest RAM */
};

struct vm_memory {
	struct vm_memory_node *nodes; /* [n_nodes] */
	unsigned n_nodes;
	enum vm_ram_source source;
	uint64_t guest_ram_size;      /* bytes of the guest RAM mappings found (0: none) */
	int monitor_error;            /* -errno when its monitor was asked the backends
				       * and did not tell them (qmp.h qmp_strerror()) */
	size_t guest_ram_mappings;    /* mappings found to be guest RAM */
	uint64_t huge_page_size;      /* bytes of the hugetlb pages it has (the largest
				       * size when several), 0 when none */
	/* The memory policy numa_maps gives the guest RAM's mappings ("bind:1",
	 * "interleave:0-1", "default"; "mixed" when they differ, e.g. NUMA cells
	 * bound apart); "" when none was found. */
	char guest_ram_policy[40];
	/* The mappings whose pages count (guest RAM and other), as ranges to move. */
	struct mem_range *ranges;
	size_t n_ranges;
};
void vm_memory_done(struct vm_memory *m);

/* Classifies map's entries: a mapping whose length is one of ram_sizes (each used
 * once, largest first; QEMU maps each backend as one mapping of exactly its size,
 * util/mmap-alloc.c qemu_ram_mmap()) is guest RAM; else a file-backed one (a path
 * that is not "[heap]" or "[stack]", nor a memfd's, nor hugetlb) is file; the rest
 * is other. 0 or -ENOMEM. */
int vm_memory_classify(const struct memmap *map, const uint64_t *ram_sizes, size_t n_sizes, enum vm_ram_source source,
		       struct vm_memory *ret);

/* Reads the VM's memory map (proc_fd, the VM's pid) and classifies it, with the
 * sizes of its memory backends from its monitor (those discovery asked with the
 * threads, vm->memdev_sizes; else asked now, with o's QMP options: the socket
 * discovery used, else the command line's) or, when that fails, its -m. Errors as
 * memmap_read(); a monitor that does not answer is no error (source says it). */
int vm_memory_measure(const struct discover_opts *o, const struct vm *vm, struct vm_memory *ret);

/* The bytes that count for placement (guest RAM and QEMU's other anonymous memory):
 * on the nodes of set (NULL: on every node). */
uint64_t vm_memory_counted(const struct vm_memory *m, const struct idset *set);
/* Guest RAM that is resident, on every node. */
uint64_t vm_memory_guest_resident(const struct vm_memory *m);

#endif
