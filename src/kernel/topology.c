// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/topology.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

int topology_parse_cpulist(const char *buf, struct idset **ret)
{
	const char *p = buf;
	while (isspace((unsigned char)*p))
		p++;
	if (strncmp(p, "(null)", 6) == 0) {
		for (p += 6; isspace((unsigned char)*p); p++)
			;
		if (*p)
			return -EINVAL;
		struct idset *s = idset_new();
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	return idset_parse(buf, ret, NULL);
}

/* The value of "KEY: N kB" anywhere in buf, in bytes. */
static int meminfo_value(const char *buf, const char *key, uint64_t *ret)
{
	size_t len = strlen(key);
	for (const char *p = buf; (p = strstr(p, key)); p += len) {
		if (p != buf && !isspace((unsigned char)p[-1]))
			continue;
		const char *v = p + len;
		while (*v == ' ' || *v == '\t')
			v++;
		char *end;
		errno = 0;
		if (!isdigit((unsigned char)*v))
			return -EINVAL;
		unsigned long long kb = strtoull(v, &end, 10);
		if (errno || kb > UINT64_MAX / 1024 || strncmp(end, " kB", 3) != 0)
			return -EINVAL;
		*ret = (uint64_t)kb * 1024;
		return 0;
	}
	return -EINVAL;
}

int topology_parse_meminfo(const char *buf, uint64_t *ret_total, uint64_t *ret_free)
{
	uint64_t total, avail;
	int r = meminfo_value(buf, "MemTotal:", &total);
	if (r == 0)
		r = meminfo_value(buf, "MemFree:", &avail);
	if (r < 0)
		return r;
	*ret_total = total;
	*ret_free = avail;
	return 0;
}

int topology_parse_distances(const char *buf, unsigned **ret, size_t *ret_n)
{
	_cleanup_free_ unsigned *v = NULL;
	size_t n = 0, cap = 0;
	const char *p = buf;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		char *end;
		errno = 0;
		unsigned long d = strtoul(p, &end, 10);
		if (errno || d > UINT_MAX || (*end && !isspace((unsigned char)*end)))
			return -EINVAL;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			unsigned *nv = realloc(v, ncap * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap = ncap;
		}
		v[n++] = (unsigned)d;
		p = end;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* A CPU list file below dirfd into *ret. optional: a missing file is the empty set. */
static int read_cpulist(int dirfd, const char *path, bool optional, struct idset **ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(dirfd, path, &buf, NULL);
	if (r == -ENOENT && optional) {
		*ret = idset_new();
		return *ret ? 0 : -ENOMEM;
	}
	return r < 0 ? r : topology_parse_cpulist(buf, ret);
}

static int read_int(int dirfd, const char *path, int *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(dirfd, path, &buf, NULL);
	if (r < 0)
		return r;
	buf[strcspn(buf, "\n")] = '\0';
	return parse_int(buf, ret);
}

void topology_done(struct topology *t)
{
	for (size_t i = 0; i < t->n_nodes; i++) {
		idset_free(t->nodes[i].cpus);
		free(t->nodes[i].distances);
	}
	free(t->nodes);
	for (size_t i = 0; i < t->n_cpus; i++) {
		idset_free(t->cpus[i].siblings);
		idset_free(t->cpus[i].l3);
	}
	free(t->cpus);
	idset_free(t->online);
	idset_free(t->isolated);
	idset_free(t->nohz_full);
	*t = (struct topology){0};
}

const struct topo_cpu *topology_cpu(const struct topology *t, unsigned cpu)
{
	for (size_t i = 0; i < t->n_cpus; i++)
		if (t->cpus[i].id == cpu)
			return &t->cpus[i];
	return NULL;
}

/* One node: its CPUs (required), memory and distances (when the files are there). */
static int read_node(int node_fd, unsigned id, struct topo_node *ret)
{
	char path[32];
	snprintf(path, sizeof(path), "node%u", id);
	_cleanup_close_ int fd = openat(node_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct topo_node n = {.id = id};
	int r = read_cpulist(fd, "cpulist", false, &n.cpus);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	r = read_file_at(fd, "meminfo", &buf, NULL);
	if (r == 0)
		r = topology_parse_meminfo(buf, &n.memory_total, &n.memory_free);
	n.memory_known = r == 0;
	if (r == -EINVAL || r == -ENOMEM)
		goto fail;
	free(buf);
	buf = NULL;
	r = read_file_at(fd, "distance", &buf, NULL);
	if (r == 0)
		r = topology_parse_distances(buf, &n.distances, &n.n_distances);
	if (r == -EINVAL || r == -ENOMEM)
		goto fail;
	*ret = n;
	return 0;
fail:
	idset_free(n.cpus);
	return r;
}

static int read_nodes(int sys_fd, struct topology *t)
{
	_cleanup_close_ int node_fd = open_dir_at(sys_fd, "devices/system/node");
	if (node_fd == -ENOENT) {
		/* CONFIG_NUMA=n: one node with every CPU, as numactl takes it */
		if (!(t->nodes = calloc(1, sizeof(*t->nodes))) || !(t->nodes[0].cpus = idset_dup(t->online)))
			return -ENOMEM;
		t->n_nodes = 1;
		return 0;
	}
	if (node_fd < 0)
		return node_fd;
	struct idset *online _cleanup_cpuset_ = NULL;
	int r = read_cpulist(node_fd, "online", false, &online);
	if (r < 0)
		return r;
	unsigned n = idset_count(online);
	if (n && !(t->nodes = calloc(n, sizeof(*t->nodes))))
		return -ENOMEM;
	for (int id = 0; id <= idset_last(online); id++) {
		if (!idset_isset(online, (unsigned)id))
			continue;
		r = read_node(node_fd, (unsigned)id, &t->nodes[t->n_nodes]);
		if (r == -ENOENT) /* went offline meanwhile */
			continue;
		if (r < 0)
			return r;
		t->n_nodes++;
	}
	return 0;
}

/* The node an offline CPU belongs to: the kernel keeps a "nodeN" link in its
 * directory (drivers/base/node.c register_cpu_under_node) while the CPU is present. */
static int node_link(int cpu_fd)
{
	DIR *d = NULL;
	if (opendir_at(cpu_fd, ".", &d) < 0)
		return -1;
	int node = -1;
	struct dirent *de;
	while ((de = readdir(d)))
		if (startswith(de->d_name, "node") && parse_int(de->d_name + 4, &node) == 0 && node >= 0)
			break;
		else
			node = -1;
	closedir(d);
	return node;
}

/* 1 and *ret when cache index `index` of cpu_fd is a level-3 data or unified
 * cache, 0 when it is another, -ENOENT when there is no such index. */
static int l3_at(int cpu_fd, int index, struct idset **ret)
{
	char path[64];
	int level;
	snprintf(path, sizeof(path), "cache/index%d/level", index);
	int r = read_int(cpu_fd, path, &level);
	if (r < 0 || level != 3)
		return r < 0 ? r : 0;
	_cleanup_free_ char *type = NULL;
	snprintf(path, sizeof(path), "cache/index%d/type", index);
	if (read_file_at(cpu_fd, path, &type, NULL) == 0 && startswith(type, "Instruction"))
		return 0;
	snprintf(path, sizeof(path), "cache/index%d/shared_cpu_list", index);
	r = read_cpulist(cpu_fd, path, false, ret);
	return r < 0 ? r : 1;
}

/* The shared_cpu_list of cpu_fd's level-3 cache into *ret, NULL when it has none.
 * *hint: the index where the last CPU had it, tried first (index3 on x86). */
static int read_l3(int cpu_fd, int *hint, struct idset **ret)
{
	*ret = NULL;
	int r = l3_at(cpu_fd, *hint, ret);
	if (r != 0 && r != -ENOENT)
		return r < 0 ? r : 0;
	for (int k = 0;; k++) {
		if (k == *hint)
			continue;
		r = l3_at(cpu_fd, k, ret);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		if (r == 1) {
			*hint = k;
			return 0;
		}
	}
}

/* The topology of one online CPU: siblings and package from the first CPU of its core
 * read so far (cores[0..*n_cores)), else from its files; its L3 group likewise. */
static int read_cpu(int cpus_fd, struct topology *t, size_t i, size_t *cores, size_t *n_cores, size_t *l3s,
		    size_t *n_l3s, int *l3_hint)
{
	struct topo_cpu *c = &t->cpus[i];
	_cleanup_close_ int fd = -1;
	char path[32];
	snprintf(path, sizeof(path), "cpu%u", c->id);
	for (size_t k = 0; k < *n_cores; k++)
		if (idset_isset(t->cpus[cores[k]].siblings, c->id)) {
			c->core = t->cpus[cores[k]].core;
			c->package = t->cpus[cores[k]].package;
			if (!(c->siblings = idset_dup(t->cpus[cores[k]].siblings)))
				return -ENOMEM;
			break;
		}
	if (!c->siblings) {
		fd = openat(cpus_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		int r = read_cpulist(fd, "topology/thread_siblings_list", false, &c->siblings);
		if (r == 0 && read_int(fd, "topology/physical_package_id", &c->package) < 0)
			c->package = -1;
		if (r == -ENOENT) /* no topology (went offline meanwhile) */
			return 0;
		if (r < 0)
			return r;
		c->core = (int)*n_cores;
		cores[(*n_cores)++] = i;
	}
	for (size_t k = 0; k < *n_l3s; k++)
		if (idset_isset(t->cpus[l3s[k]].l3, c->id))
			return (c->l3 = idset_dup(t->cpus[l3s[k]].l3)) ? 0 : -ENOMEM;
	if (fd < 0 && (fd = openat(cpus_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : -errno;
	int r = read_l3(fd, l3_hint, &c->l3);
	if (r == 0 && c->l3)
		l3s[(*n_l3s)++] = i;
	return r;
}

static int read_cpus(int sys_fd, struct topology *t)
{
	_cleanup_close_ int cpus_fd = open_dir_at(sys_fd, "devices/system/cpu");
	if (cpus_fd < 0)
		return cpus_fd;
	int r = read_cpulist(cpus_fd, "online", false, &t->online);
	struct idset *present _cleanup_cpuset_ = NULL;
	if (r == 0)
		r = read_cpulist(cpus_fd, "present", true, &present);
	if (r == 0)
		r = read_cpulist(cpus_fd, "isolated", true, &t->isolated);
	if (r == 0)
		r = read_cpulist(cpus_fd, "nohz_full", true, &t->nohz_full);
	if (r < 0)
		return r;
	if (idset_count(present) == 0) {
		idset_free(present);
		if (!(present = idset_dup(t->online)))
			return -ENOMEM;
	}
	unsigned n = idset_count(present);
	_cleanup_free_ size_t *cores = calloc(n, sizeof(*cores));
	_cleanup_free_ size_t *l3s = calloc(n, sizeof(*l3s));
	if (!(t->cpus = calloc(n, sizeof(*t->cpus))) || !cores || !l3s)
		return -ENOMEM;
	size_t n_cores = 0, n_l3s = 0;
	int l3_hint = 3;
	for (int id = 0; id <= idset_last(present); id++) {
		if (!idset_isset(present, (unsigned)id))
			continue;
		size_t i = t->n_cpus++;
		struct topo_cpu *c = &t->cpus[i];
		*c = (struct topo_cpu){.id = (unsigned)id, .node = -1, .package = -1, .core = -1};
		c->online = idset_isset(t->online, c->id);
		c->isolated = idset_isset(t->isolated, c->id);
		c->nohz_full = idset_isset(t->nohz_full, c->id);
		if (c->online && (r = read_cpu(cpus_fd, t, i, cores, &n_cores, l3s, &n_l3s, &l3_hint)) < 0)
			return r;
	}
	return 0;
}

/* Each CPU's node: the node whose cpulist has it, else (an offline CPU) its link. */
static void assign_nodes(int sys_fd, struct topology *t)
{
	for (size_t i = 0; i < t->n_cpus; i++) {
		struct topo_cpu *c = &t->cpus[i];
		for (size_t k = 0; k < t->n_nodes && c->node < 0; k++)
			if (idset_isset(t->nodes[k].cpus, c->id))
				c->node = (int)t->nodes[k].id;
		if (c->node >= 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "devices/system/cpu/cpu%u", c->id);
		_cleanup_close_ int fd = openat(sys_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			c->node = node_link(fd);
	}
}

int topology_read(int sys_fd, struct topology *ret)
{
	struct topology t = {0};
	int r = read_cpus(sys_fd, &t);
	if (r == 0)
		r = read_nodes(sys_fd, &t);
	if (r < 0) {
		topology_done(&t);
		return r;
	}
	assign_nodes(sys_fd, &t);
	*ret = t;
	return 0;
}
