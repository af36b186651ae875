/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A process's memory map as /proc shows it: /proc/PID/maps (where each mapping is
 * and what backs it) and /proc/PID/numa_maps (how many of its pages are on each
 * NUMA node), joined by start address. The kernel writes both in
 * fs/proc/task_mmu.c: show_map_vma() and show_numa_map(). */
#ifndef KVMCG_MEMMAP_H
#define KVMCG_MEMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* MAX_NUMNODES at its largest (CONFIG_NODES_SHIFT 10): "N1023=" is the last node a
 * line can name. */
#define MEMMAP_NODES_MAX 1024

struct memmap_entry {
	uint64_t start, end;   /* [start, end), bytes; end 0 when maps did not say */
	char *path;            /* what maps or numa_maps names, unescaped ("[heap]",
				* "/memfd:pc.ram (deleted)"); NULL when anonymous */
	char policy[40];       /* numa_maps' policy word: "default", "bind:1",
				* "interleave:0-1", "prefer:0", "prefer (many):0-1"... */
	bool heap, stack, huge; /* numa_maps' words: [heap], [stack], hugetlb */
	bool shared;           /* maps' permissions say 's' */
	uint64_t page_size;    /* bytes (kernelpagesize_kB); 0 when no page is resident */
	uint64_t anon_pages, dirty_pages, mapped_pages;
	uint64_t *node_pages;  /* pages on each node, [0, n_nodes) */
	unsigned n_nodes;      /* 1 + the highest node numa_maps named; 0 when none */
};

struct memmap {
	struct memmap_entry *v;
	size_t n;
};
void memmap_done(struct memmap *m);

/* One line of numa_maps into *ret (caller: memmap_entry_done()). The address and
 * the policy come first, then words and key=value pairs in any order; unknown ones
 * are skipped (newer kernels add some), "file=" is unescaped (seq_file_path()
 * writes "\040" for a blank, "\011" a tab, "\012" a newline, "\075" an '='). -EINVAL
 * for a line that is not one (no address, a count that is not a number, a node past
 * MEMMAP_NODES_MAX, a count or size whose bytes overflow 64 bits), -ENOMEM. */
int memmap_parse_numa_line(const char *line, struct memmap_entry *ret);
void memmap_entry_done(struct memmap_entry *e);

/* A whole numa_maps buffer, then a maps buffer (maps may be NULL): each numa_maps
 * entry gets its end, path and 's' flag from the maps line of the same start. An
 * entry maps does not have keeps end 0 (the mapping changed between the reads).
 * -EINVAL names the line in *ret_line (1-based) when given. */
int memmap_parse(const char *numa_maps, const char *maps, struct memmap *ret, size_t *ret_line);

/* Reads /proc/PID/numa_maps and /proc/PID/maps below proc_fd and parses them.
 * -ENOENT when the process is gone; -EACCES or -EPERM when not ours to read. */
int memmap_read(int proc_fd, pid_t pid, struct memmap *ret);

/* Bytes of e on node (0 when out of range); and of e on every node. */
uint64_t memmap_entry_node_bytes(const struct memmap_entry *e, unsigned node);
uint64_t memmap_entry_bytes(const struct memmap_entry *e);

#endif
