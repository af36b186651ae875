// SPDX-License-Identifier: GPL-2.0-or-later
/* kernel/memmap.c: /proc/PID/numa_maps and maps, on a captured pair (a bash on a
 * one-node host, tests/fixtures/memmap) and on lines written as the kernel writes
 * them (fs/proc/task_mmu.c show_numa_map(), mm/mempolicy.c mpol_to_str()) for what a
 * one-node host cannot show: other nodes, policies, hugetlb, escaped paths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "kernel/memmap.h"
#include "vmm/memory.h"

#define MEMMAP_DIR FIXTURES "/memmap"

static char *slurp(const char *path)
{
	char *buf = NULL;
	cr_assert_eq(read_file_at_whole(AT_FDCWD, path, &buf, NULL), 0, "read %s", path);
	return buf;
}

static void entry(const char *line, struct memmap_entry *e)
{
	int r = memmap_parse_numa_line(line, e);
	cr_assert_eq(r, 0, "%s: %d", line, r);
}

Test(memmap, captured_pair_is_read_as_it_is)
{
	_cleanup_free_ char *numa = slurp(MEMMAP_DIR "/bash.numa_maps");
	_cleanup_free_ char *maps = slurp(MEMMAP_DIR "/bash.maps");
	struct memmap m = {0};
	size_t bad = 0;
	cr_assert_eq(memmap_parse(numa, maps, &m, &bad), 0, "line %zu", bad);
	/* one entry per numa_maps line (maps has one more: the vsyscall page, which
	 * numa_maps leaves out) */
	size_t lines = 0;
	for (const char *p = numa; *p; p++)
		lines += *p == '\n';
	cr_assert_eq(m.n, lines);
	/* each entry against the files, read by hand */
	const char *nl = numa;
	for (size_t i = 0; i < m.n; i++, nl = strchr(nl, '\n') + 1) {
		unsigned long long start;
		cr_assert_eq(sscanf(nl, "%llx", &start), 1);
		cr_assert_eq(m.v[i].start, start);
		unsigned long long n0 = 0, kb = 0;
		const char *t = strstr(nl, " N0=");
		if (t && t < strchr(nl, '\n'))
			cr_assert_eq(sscanf(t, " N0=%llu", &n0), 1);
		t = strstr(nl, "kernelpagesize_kB=");
		if (t && t < strchr(nl, '\n'))
			cr_assert_eq(sscanf(t, "kernelpagesize_kB=%llu", &kb), 1);
		cr_assert_eq(memmap_entry_node_bytes(&m.v[i], 0), n0 * kb * 1024, "line %zu", i + 1);
		cr_assert_eq(memmap_entry_bytes(&m.v[i]), n0 * kb * 1024, "one node");
		/* maps gave it its end and its path */
		char want[64];
		snprintf(want, sizeof(want), "%llx-", start);
		const char *ml = strstr(maps, want);
		cr_assert_not_null(ml, "%s in maps", want);
		unsigned long long end;
		cr_assert_eq(sscanf(ml + strlen(want), "%llx", &end), 1);
		cr_assert_eq(m.v[i].end, end);
		const char *eol = strchr(ml, '\n');
		const char *path = eol;
		while (path > ml && path[-1] != ' ')
			path--;
		if (path < eol && (*path == '/' || *path == '['))
			cr_assert(m.v[i].path && strncmp(m.v[i].path, path, (size_t)(eol - path)) == 0,
				  "line %zu: %s", i + 1, m.v[i].path ? m.v[i].path : "(null)");
		else
			cr_assert_null(m.v[i].path, "anonymous");
		cr_assert_str_eq(m.v[i].policy, "default");
	}
	memmap_done(&m);
}

Test(memmap, hugetlb_on_another_node)
{
	struct memmap_entry e;
	entry("7f4e00000000 default file=/dev/hugepages/qemu_back_mem.pc.ram.VslPzj\\040(deleted) huge "
	      "dirty=512 N1=512 kernelpagesize_kB=2048",
	      &e);
	cr_assert(e.huge);
	cr_assert_str_eq(e.path, "/dev/hugepages/qemu_back_mem.pc.ram.VslPzj (deleted)");
	cr_assert_eq(e.n_nodes, 2);
	cr_assert_eq(e.node_pages[0], 0);
	cr_assert_eq(e.node_pages[1], 512);
	cr_assert_eq(e.page_size, 2u << 20);
	cr_assert_eq(memmap_entry_bytes(&e), 1ull << 30);
	cr_assert_eq(memmap_entry_node_bytes(&e, 7), 0, "a node it does not name");
	memmap_entry_done(&e);
}

/* mpol_to_str() writes modes with blanks in them, flags after '=', nodes after ':'. */
Test(memmap, policies_with_blanks_flags_and_nodes)
{
	static const struct {
		const char *line, *policy;
	} cases[] = {
		{"7f00 prefer (many)=static:0-1 anon=3 dirty=3 N0=1 N1=2 kernelpagesize_kB=4", "prefer (many)=static:0-1"},
		{"7f00 weighted interleave:0-1 anon=2 N0=1 N1=1 kernelpagesize_kB=4", "weighted interleave:0-1"},
		{"7f00 bind=relative:1 heap anon=9 N1=9 kernelpagesize_kB=4", "bind=relative:1"},
		{"7f00 interleave:0-3 stack anon=4 N0=1 N1=1 N2=1 N3=1 kernelpagesize_kB=4", "interleave:0-3"},
		{"7f00 local", "local"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct memmap_entry e;
		entry(cases[i].line, &e);
		cr_assert_str_eq(e.policy, cases[i].policy);
		memmap_entry_done(&e);
	}
	struct memmap_entry e;
	entry("7f00 bind=relative:1 heap anon=9 N1=9 kernelpagesize_kB=4", &e);
	cr_assert(e.heap);
	cr_assert_not(e.stack);
	cr_assert_eq(e.anon_pages, 9);
	memmap_entry_done(&e);
	entry("7f00 interleave:0-3 stack anon=4 N0=1 N1=1 N2=1 N3=1 kernelpagesize_kB=4", &e);
	cr_assert(e.stack);
	cr_assert_eq(e.n_nodes, 4);
	cr_assert_eq(memmap_entry_bytes(&e), 4 * 4096);
	memmap_entry_done(&e);
	entry("7f00 local", &e);
	cr_assert_eq(e.n_nodes, 0, "nothing resident");
	cr_assert_eq(e.page_size, 0);
	cr_assert_eq(memmap_entry_bytes(&e), 0);
	memmap_entry_done(&e);
}

Test(memmap, escaped_paths_sparse_nodes_and_unknown_fields)
{
	struct memmap_entry e;
	entry("7f00 default file=/var/lib/my\\040vm/disk\\075x\\011y.img mapped=2 future=7 N0=5 N3=7 "
	      "kernelpagesize_kB=4 writeback=1",
	      &e);
	cr_assert_str_eq(e.path, "/var/lib/my vm/disk=x\ty.img");
	cr_assert_eq(e.mapped_pages, 2);
	cr_assert_eq(e.n_nodes, 4);
	cr_assert_eq(e.node_pages[1], 0);
	cr_assert_eq(e.node_pages[2], 0);
	cr_assert_eq(e.node_pages[3], 7);
	cr_assert_eq(memmap_entry_bytes(&e), 12 * 4096);
	memmap_entry_done(&e);
	/* a backslash that is not an escape stays */
	entry("7f00 default file=/a\\b\\0\\99 N0=1 kernelpagesize_kB=4", &e);
	cr_assert_str_eq(e.path, "/a\\b\\0\\99");
	memmap_entry_done(&e);
}

Test(memmap, lines_that_are_not_refused)
{
	static const char *const bad[] = {
		"",
		"default anon=1",
		"zz default",
		"7f00",
		"7f00 default N1024=1 kernelpagesize_kB=4",
		"7f00 default N0=x",
		"7f00 default anon=12a",
		"7f00 default N0=1 kernelpagesize_kB=18446744073709551615",
		"7f00 default N0=18446744073709551615 kernelpagesize_kB=4",
		"7f00 default anon=99999999999999999999999",
		"11112222333344445 default",
		"7f00 a-policy-name-longer-than-the-forty-bytes-kept-for-it N0=1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct memmap_entry e = {0};
		cr_assert_eq(memmap_parse_numa_line(bad[i], &e), -EINVAL, "\"%s\"", bad[i]);
		cr_assert_null(e.node_pages);
	}
	struct memmap m = {0};
	size_t at = 0;
	cr_assert_eq(memmap_parse("7f00 default N0=1 kernelpagesize_kB=4\n7f01 default N0=z\n", NULL, &m, &at),
		     -EINVAL);
	cr_assert_eq(at, 2, "the line is named");
	cr_assert_eq(memmap_parse("7f00 default N0=1 kernelpagesize_kB=4\n", "7f00-7e00 rw-p 0 0:0 0\n", &m, &at),
		     -EINVAL, "a maps line ending before it starts");
}

/* maps' path has blanks as they are; (deleted) and shared mappings; an entry maps no
 * longer has keeps end 0. */
Test(memmap, joined_with_maps)
{
	const char *numa = "1000 default anon=1 N0=1 kernelpagesize_kB=4\n"
			   "2000 default file=/memfd:pc.ram\\040(deleted) N1=4 kernelpagesize_kB=4\n"
			   "9000 default file=/gone N0=1 kernelpagesize_kB=4\n";
	const char *maps = "1000-2000 rw-p 00000000 00:00 0 \n"
			   "2000-6000 rw-s 00000000 00:01 1234                       /memfd:pc.ram (deleted)\n"
			   "6000-7000 r--p 00000000 fe:00 99                         /usr/lib/my lib.so\n";
	struct memmap m = {0};
	cr_assert_eq(memmap_parse(numa, maps, &m, NULL), 0);
	cr_assert_eq(m.n, 3);
	cr_assert_eq(m.v[0].end, 0x2000);
	cr_assert_null(m.v[0].path);
	cr_assert_not(m.v[0].shared);
	cr_assert_eq(m.v[1].end, 0x6000);
	cr_assert(m.v[1].shared);
	cr_assert_str_eq(m.v[1].path, "/memfd:pc.ram (deleted)");
	cr_assert_eq(memmap_entry_node_bytes(&m.v[1], 1), 4 * 4096);
	cr_assert_eq(m.v[2].end, 0, "not in maps any more");
	cr_assert_str_eq(m.v[2].path, "/gone");
	memmap_done(&m);
}

/* vm_memory_classify: a mapping of a backend's exact size is guest RAM (each size
 * once), a file-backed one is file, the heap, stacks and anonymous ones are other. */
Test(memmap, a_vms_memory_by_kind)
{
	const char *numa = "1000 default file=/usr/bin/qemu-system-x86_64 mapped=10 N0=10 kernelpagesize_kB=4\n"
			   "100000 default heap anon=5 dirty=5 N0=3 N1=2 kernelpagesize_kB=4\n"
			   "7f0000000000 bind:1 anon=300 dirty=300 N0=100 N1=200 kernelpagesize_kB=4\n"
			   "7f0040000000 default anon=2 dirty=2 N0=2 kernelpagesize_kB=4\n"
			   "7f1000000000 default file=/dev/hugepages/m2\\040(deleted) huge dirty=3 N1=3 kernelpagesize_kB=2048\n"
			   "7ffd00000000 default stack anon=4 dirty=4 N0=4 kernelpagesize_kB=4\n";
	const char *maps = "1000-2000 r-xp 00000000 fe:00 9 /usr/bin/qemu-system-x86_64\n"
			   "100000-200000 rw-p 00000000 00:00 0 [heap]\n"
			   "7f0000000000-7f0040000000 rw-p 00000000 00:00 0 \n"
			   "7f0040000000-7f0080000000 rw-p 00000000 00:00 0 \n"
			   "7f1000000000-7f1000800000 rw-s 00000000 00:20 7 /dev/hugepages/m2 (deleted)\n"
			   "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";
	struct memmap map = {0};
	cr_assert_eq(memmap_parse(numa, maps, &map, NULL), 0);
	/* two backends of 1 GiB (the first anonymous mapping, then the second) and one
	 * of 8 MiB (hugetlb) */
	const uint64_t sizes[] = {1ull << 30, 8ull << 20, 1ull << 30};
	struct vm_memory m = {0};
	cr_assert_eq(vm_memory_classify(&map, sizes, 3, VM_RAM_MEMDEV, &m), 0);
	cr_assert_eq(m.guest_ram_mappings, 3);
	cr_assert_eq(m.guest_ram_size, (2ull << 30) + (8ull << 20));
	cr_assert_eq(m.n_nodes, 2);
	cr_assert_eq(m.nodes[0].guest_ram, (100 + 2) * 4096ull);
	cr_assert_eq(m.nodes[1].guest_ram, 200 * 4096ull + 3 * (2ull << 20));
	cr_assert_eq(m.nodes[1].huge, 3 * (2ull << 20));
	cr_assert_eq(m.nodes[0].file, 10 * 4096ull, "the binary");
	cr_assert_eq(m.nodes[0].other, (3 + 4) * 4096ull, "heap and stack");
	cr_assert_eq(m.nodes[1].other, 2 * 4096ull);
	struct idset *one = NULL;
	cr_assert_eq(idset_parse("1", &one, NULL), 0);
	cr_assert_eq(vm_memory_counted(&m, one), 200 * 4096ull + 3 * (2ull << 20) + 2 * 4096ull);
	cr_assert_eq(vm_memory_counted(&m, NULL), vm_memory_guest_resident(&m) + (3 + 4 + 2) * 4096ull,
		     "file pages do not count");
	idset_free(one);
	vm_memory_done(&m);
	/* unknown sizes: nothing is guest RAM; the hugetlb backend still counts (other),
	 * the binary does not */
	cr_assert_eq(vm_memory_classify(&map, NULL, 0, VM_RAM_UNKNOWN, &m), 0);
	cr_assert_eq(m.guest_ram_mappings, 0);
	cr_assert_eq(vm_memory_guest_resident(&m), 0);
	cr_assert_eq(m.nodes[1].other, 200 * 4096ull + 3 * (2ull << 20) + 2 * 4096ull);
	cr_assert_eq(m.nodes[0].file, 10 * 4096ull);
	vm_memory_done(&m);
	memmap_done(&map);
}

/* Guest RAM in a memfd (memory-backend-memfd, or -m with share=on) whose size is not
 * known still counts for placement: memory QEMU made for itself is not a file's page
 * cache. */
Test(memmap, memfd_counts_as_the_vms_own)
{
	const char *numa = "2000 default file=/memfd:pc.ram\\040(deleted) dirty=4 N1=4 kernelpagesize_kB=4\n";
	const char *maps = "2000-6000 rw-s 00000000 00:01 1234 /memfd:pc.ram (deleted)\n";
	struct memmap map = {0};
	cr_assert_eq(memmap_parse(numa, maps, &map, NULL), 0);
	struct vm_memory m = {0};
	cr_assert_eq(vm_memory_classify(&map, NULL, 0, VM_RAM_UNKNOWN, &m), 0);
	cr_assert_eq(m.nodes[1].other, 4 * 4096ull);
	cr_assert_eq(m.nodes[1].file, 0);
	vm_memory_done(&m);
	const uint64_t size = 0x4000;
	cr_assert_eq(vm_memory_classify(&map, &size, 1, VM_RAM_MEMDEV, &m), 0);
	cr_assert_eq(m.nodes[1].guest_ram, 4 * 4096ull, "and as guest RAM when its size is known");
	vm_memory_done(&m);
	memmap_done(&map);
}
