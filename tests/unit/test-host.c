// SPDX-License-Identifier: GPL-2.0-or-later
/* kernel/host: the host's nodes from a /sys tree written here, as the kernel writes
 * them (drivers/base/node.c, mm/hugetlb.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/host.h"
#include "scratch.h"

static char root[PATH_MAX];
static int sys_fd = -1;

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2], dir[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - path), path);
		mkdir(dir, 0755);
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	scratch_make(root, sizeof(root), "host");
	put("devices/system/cpu/online", "0-3\n");
	put("devices/system/node/online", "0-2\n");
	put("devices/system/node/has_memory", "0,2\n");
	put("devices/system/node/node0/meminfo", "Node 0 MemTotal:        1004360 kB\n"
						 "Node 0 MemFree:          662688 kB\n"
						 "Node 0 MemUsed:          341672 kB\n");
	put("devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "7\n");
	put("devices/system/node/node2/meminfo", "Node 2 MemTotal: 10 kB\nNode 2 MemUsed: 1 kB\n");
	sys_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(sys_fd, 0);
}

static void teardown(void)
{
	close(sys_fd);
	scratch_remove(root);
}

TestSuite(host, .init = setup, .fini = teardown);

Test(host, nodes_with_memory)
{
	struct host h;
	cr_assert_eq(host_read(sys_fd, &h), 0);
	cr_assert(idset_isset(h.online_mems, 1));
	cr_assert(!idset_isset(h.memory_mems, 1), "node 1 is online without memory");
	cr_assert(idset_isset(h.memory_mems, 2));
	host_done(&h);
}

Test(host, nodes_with_memory_unsaid_are_the_online_ones)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/devices/system/node/has_memory", root);
	cr_assert_eq(unlink(path), 0);
	struct host h;
	cr_assert_eq(host_read(sys_fd, &h), 0);
	cr_assert(idset_equal(h.memory_mems, h.online_mems));
	host_done(&h);
}

Test(host, node_memory_in_bytes)
{
	struct host_node_memory m;
	cr_assert_eq(host_node_memory(sys_fd, 0, 2 << 20, &m), 0);
	cr_assert_eq(m.total, 1004360ULL * 1024);
	cr_assert_eq(m.free, 662688ULL * 1024);
	cr_assert_eq(m.huge_free, 7);
	cr_assert_eq(host_node_memory(sys_fd, 0, 1 << 30, &m), 0, "no 1 GiB pages: none free, no error");
	cr_assert_eq(m.huge_free, 0);
	cr_assert_eq(host_node_memory(sys_fd, 1, 0, &m), -ENOENT, "node 1 has no meminfo");
	cr_assert_eq(host_node_memory(sys_fd, 2, 0, &m), -EINVAL, "a meminfo without MemFree");
}
