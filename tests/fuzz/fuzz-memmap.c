// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for a process's memory map as kvmcg reads it to place and measure
 * a VM's memory: /proc/PID/numa_maps and /proc/PID/maps. A VM's owner chooses part
 * of both (file names it maps, how many pages it touches where). The input is the
 * numa_maps text, then optionally a NUL and the maps text; memmap_parse() reads them,
 * and on success every entry must hold what the parser promises: a NUL-terminated
 * policy that is not empty, node counts within MEMMAP_NODES_MAX, a byte count per
 * node that the page size and the pages give without overflow, and each line parsed
 * on its own (memmap_parse_numa_line()) the same. Frees everything; a failed check
 * aborts. See README.md. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/memmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-memmap: check failed at %s:%d: %s\n", __FILE__,      \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	const char *numa = buf;
	const char *nul = memchr(buf, '\0', size);
	const char *maps = nul && (size_t)(nul - buf) < size ? nul + 1 : NULL;

	struct memmap m = {0};
	size_t line = 0;
	int r = memmap_parse(numa, maps, &m, &line);
	if (r == 0) {
		const char *l = numa;
		for (size_t i = 0; i < m.n; i++) {
			const struct memmap_entry *e = &m.v[i];
			CHECK(e->policy[0] != '\0');
			CHECK(memchr(e->policy, '\0', sizeof(e->policy)) != NULL);
			CHECK(e->n_nodes <= MEMMAP_NODES_MAX);
			CHECK((e->n_nodes == 0) == (e->node_pages == NULL));
			for (unsigned k = 0; k < e->n_nodes; k++)
				CHECK(e->page_size == 0 || e->node_pages[k] <= UINT64_MAX / e->page_size);
			(void)memmap_entry_bytes(e);
			CHECK(memmap_entry_node_bytes(e, MEMMAP_NODES_MAX) == 0);
			CHECK(!e->path || strlen(e->path) < size + 1);
			CHECK(e->end == 0 || e->end >= e->start);
			/* the same line alone: the same start, policy and counts */
			while (*l == '\n')
				l++;
			struct memmap_entry one;
			CHECK(memmap_parse_numa_line(l, &one) == 0);
			CHECK(one.start == e->start);
			CHECK(strcmp(one.policy, e->policy) == 0);
			CHECK(one.n_nodes == e->n_nodes && one.page_size == e->page_size);
			for (unsigned k = 0; k < one.n_nodes; k++)
				CHECK(one.node_pages[k] == e->node_pages[k]);
			memmap_entry_done(&one);
			l += strcspn(l, "\n");
		}
		memmap_done(&m);
	} else {
		CHECK(r == -22 /* EINVAL */ || r == -12 /* ENOMEM */);
		CHECK(line >= 1);
		CHECK(m.v == NULL && m.n == 0);
	}
	free(buf);
	return 0;
}
