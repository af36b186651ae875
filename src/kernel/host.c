// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/util.h"
#include "kernel/topology.h"

int host_read(int sys_fd, struct host *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct host h = {0};
	int r = read_file_at(sys_fd, "devices/system/cpu/online", &buf, NULL);
	if (r < 0)
		return r;
	r = idset_parse(buf, &h.online_cpus, NULL);
	if (r < 0)
		return r;
	free(buf);
	buf = NULL;
	r = read_file_at(sys_fd, "devices/system/node/online", &buf, NULL);
	if (r == 0)
		r = idset_parse(buf, &h.online_mems, NULL);
	else if (r == -ENOENT && (h.online_mems = idset_new()))
		r = idset_set(h.online_mems, 0);
	if (r == 0) {
		free(buf);
		buf = NULL;
		r = read_file_at(sys_fd, "devices/system/node/has_memory", &buf, NULL);
		if (r == 0)
			r = idset_parse(buf, &h.memory_mems, NULL);
		else if (r == -ENOENT)
			r = (h.memory_mems = idset_dup(h.online_mems)) ? 0 : -ENOMEM;
	}
	if (r < 0) {
		host_done(&h);
		return r;
	}
	long t = sysconf(_SC_CLK_TCK);
	h.clock_ticks = t > 0 ? (unsigned long)t : 100;
	*ret = h;
	return 0;
}

void host_done(struct host *h)
{
	idset_free(h->online_cpus);
	idset_free(h->online_mems);
	idset_free(h->memory_mems);
	h->online_cpus = h->online_mems = h->memory_mems = NULL;
}

int host_node_memory(int sys_fd, unsigned node, uint64_t huge_page_size, struct host_node_memory *ret)
{
	char path[96];
	_cleanup_free_ char *buf = NULL;
	struct host_node_memory m = {.huge_page_size = huge_page_size};
	snprintf(path, sizeof(path), "devices/system/node/node%u/meminfo", node);
	int r = read_file_at_whole(sys_fd, path, &buf, NULL);
	if (r < 0)
		return r;
	if ((r = topology_parse_meminfo(buf, &m.total, &m.free)) < 0)
		return r;
	if (huge_page_size >= 1024) {
		free(buf);
		buf = NULL;
		snprintf(path, sizeof(path), "devices/system/node/node%u/hugepages/hugepages-%llukB/free_hugepages", node,
			 (unsigned long long)(huge_page_size / 1024));
		r = read_file_at(sys_fd, path, &buf, NULL);
		if (r == 0) {
			buf[strcspn(buf, "\n")] = 0;
			r = parse_u64(buf, &m.huge_free);
		}
		if (r < 0 && r != -ENOENT)
			return r;
	}
	*ret = m;
	return 0;
}
