// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "vmm/qmp.h"

const char *vm_ram_source_name(enum vm_ram_source s)
{
	switch (s) {
	case VM_RAM_MEMDEV:
		return "query-memdev";
	case VM_RAM_ARGV:
		return "-m";
	case VM_RAM_UNKNOWN:
		break;
	}
	return "unknown";
}

void vm_memory_done(struct vm_memory *m)
{
	free(m->nodes);
	free(m->ranges);
	*m = (struct vm_memory){0};
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Whether a mapping is file-backed for placement (its pages are the page cache's,
 * shared with every other user of the file): a path, except the heap and the stacks
 * ("[stack]"; a thread's is "[stack:TID]" on old kernels), memory QEMU made for
 * itself under a name (memfd, "/memfd:NAME (deleted)") and hugetlb pages. */
static bool is_file(const struct memmap_entry *e)
{
	return e->path && strcmp(e->path, "[heap]") != 0 && strncmp(e->path, "[stack", 6) != 0 && !e->heap &&
	       !e->stack && !e->huge && strncmp(e->path, "/memfd:", 7) != 0;
}

int vm_memory_classify(const struct memmap *map, const uint64_t *ram_sizes, size_t n_sizes, enum vm_ram_source source,
		       struct vm_memory *ret)
{
	struct vm_memory m = {.source = source};
	_cleanup_free_ uint64_t *sizes = n_sizes ? malloc(n_sizes * sizeof(*sizes)) : NULL;
	_cleanup_free_ bool *ram = map->n ? calloc(map->n, sizeof(*ram)) : NULL;
	if ((n_sizes && !sizes) || (map->n && !ram))
		return -ENOMEM;
	for (size_t i = 0; i < n_sizes; i++)
		sizes[i] = ram_sizes[i];
	if (n_sizes)
		qsort(sizes, n_sizes, sizeof(*sizes), cmp_desc);
	for (size_t s = 0; s < n_sizes; s++)
		for (size_t i = 0; i < map->n; i++) {
			const struct memmap_entry *e = &map->v[i];
			if (!ram[i] && e->end && e->end - e->start == sizes[s]) {
				ram[i] = true;
				m.guest_ram_mappings++;
				/* only what is found: a size no mapping has would count as not
				 * resident memory that is in fact "other" */
				m.guest_ram_size += sizes[s];
				break;
			}
		}
	for (size_t i = 0; i < map->n; i++)
		if (map->v[i].n_nodes > m.n_nodes)
			m.n_nodes = map->v[i].n_nodes;
	if ((m.n_nodes && !(m.nodes = calloc(m.n_nodes, sizeof(*m.nodes)))) ||
	    (map->n && !(m.ranges = calloc(map->n, sizeof(*m.ranges))))) {
		vm_memory_done(&m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct memmap_entry *e = &map->v[i];
		if (ram[i] && !m.guest_ram_policy[0])
			snprintf(m.guest_ram_policy, sizeof(m.guest_ram_policy), "%s", e->policy);
		else if (ram[i] && strcmp(m.guest_ram_policy, e->policy) != 0)
			snprintf(m.guest_ram_policy, sizeof(m.guest_ram_policy), "mixed");
		if (e->huge && e->page_size > m.huge_page_size)
			m.huge_page_size = e->page_size;
		/* guest RAM moves even when a file backs it (memory-backend-file share=on) */
		if (e->end && (ram[i] || (!is_file(e) && (e->anon_pages || e->huge))))
			m.ranges[m.n_ranges++] = (struct mem_range){e->start, e->end, e->page_size};
		for (unsigned k = 0; k < e->n_nodes; k++) {
			uint64_t b = memmap_entry_node_bytes(e, k);
			struct vm_memory_node *n = &m.nodes[k];
			if (ram[i])
				n->guest_ram += b;
			else if (is_file(e))
				n->file += b;
			else
				n->other += b;
			if (e->huge)
				n->huge += b;
		}
	}
	*ret = m;
	return 0;
}

/* The sizes of the VM's memory backends, from its monitor: the socket discovery
 * used, else the user's, else the command line's first. */
static int memdev_sizes(const struct discover_opts *o, const struct vm *vm, uint64_t **ret, size_t *ret_n)
{
	if (vm->memdevs_known) { /* asked with its threads */
		uint64_t *sizes = vm->n_memdev_sizes ? calloc(vm->n_memdev_sizes, sizeof(*sizes)) : NULL;
		if (vm->n_memdev_sizes && !sizes)
			return -ENOMEM;
		if (sizes)
			memcpy(sizes, vm->memdev_sizes, vm->n_memdev_sizes * sizeof(*sizes));
		*ret = sizes;
		*ret_n = vm->n_memdev_sizes;
		return vm->n_memdev_sizes ? 0 : -ENOENT;
	}
	const char *given = vm->qmp_socket ? vm->qmp_socket : o->qmp_socket;
	if (o->no_qmp || (!given && vm->qemu.n_qmp_paths == 0))
		return -ENOENT;
	_cleanup_free_ char *path = NULL;
	if (vm_socket_path(vm, given ? given : vm->qemu.qmp_paths[0], &path) < 0)
		return -ENOMEM;
	struct qmp *q _cleanup_qmp_ = NULL;
	int r = qmp_connect(path, discover_qmp_deadline(o), &q);
	if (r == 0 && qmp_peer_pid(q) > 0 && qmp_peer_pid(q) != vm->pid)
		r = -EXDEV; /* a socket another process holds says nothing of this VM */
	struct qmp_memdev *md = NULL;
	size_t n = 0;
	if (r == 0)
		r = qmp_query_memdevs(q, &md, &n);
	if (r < 0)
		return r;
	uint64_t *sizes = n ? calloc(n, sizeof(*sizes)) : NULL;
	if (n && !sizes) {
		qmp_memdevs_free(md, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		sizes[i] = md[i].size;
	qmp_memdevs_free(md, n);
	*ret = sizes;
	*ret_n = n;
	return n ? 0 : -ENOENT;
}

int vm_memory_measure(const struct discover_opts *o, const struct vm *vm, struct vm_memory *ret)
{
	struct memmap map = {0};
	int r = memmap_read(o->proc_fd, vm->pid, &map);
	if (r < 0)
		return r;
	_cleanup_free_ uint64_t *sizes = NULL;
	size_t n = 0;
	enum vm_ram_source source = VM_RAM_MEMDEV;
	int asked = memdev_sizes(o, vm, &sizes, &n);
	if (asked < 0) {
		free(sizes);
		sizes = NULL;
		n = 0;
		source = VM_RAM_UNKNOWN;
		/* the command line's backends, else -m */
		const uint64_t *given = vm->qemu.n_backend_bytes ? vm->qemu.backend_bytes : &vm->qemu.ram_bytes;
		size_t n_given = vm->qemu.n_backend_bytes ? vm->qemu.n_backend_bytes : vm->qemu.ram_bytes ? 1 : 0;
		if (n_given) {
			if (!(sizes = malloc(n_given * sizeof(*sizes)))) {
				memmap_done(&map);
				return -ENOMEM;
			}
			memcpy(sizes, given, n_given * sizeof(*sizes));
			n = n_given;
			source = VM_RAM_ARGV;
		}
	}
	r = vm_memory_classify(&map, sizes, n, source, ret);
	memmap_done(&map);
	if (r == 0 && asked < 0 && asked != -ENOENT) /* -ENOENT: no monitor, or no backend */
		ret->monitor_error = asked;
	return r;
}

uint64_t vm_memory_counted(const struct vm_memory *m, const struct idset *set)
{
	uint64_t sum = 0;
	for (unsigned k = 0; k < m->n_nodes; k++)
		if (!set || idset_isset(set, k))
			sum += m->nodes[k].guest_ram + m->nodes[k].other;
	return sum;
}

uint64_t vm_memory_guest_resident(const struct vm_memory *m)
{
	uint64_t sum = 0;
	for (unsigned k = 0; k < m->n_nodes; k++)
		sum += m->nodes[k].guest_ram;
	return sum;
}
