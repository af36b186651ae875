// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/mempolicy.h"

#include <dlfcn.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdlib.h>
#include <stddef.h>

#include "basic/err.h"
#include "basic/util.h"

/* The libnuma calls kvmcg makes, resolved once. */
struct numa_calls {
	void *handle;
	int (*available)(void);
	struct bitmask *(*allocate_nodemask)(void);
	void (*bitmask_free)(struct bitmask *);
	struct bitmask *(*bitmask_setbit)(struct bitmask *, unsigned int);
	int (*migrate_pages)(int, struct bitmask *, struct bitmask *);
	int (*move_pages)(int, unsigned long, void **, const int *, int *, int);
};
static struct numa_calls numa;

static int numa_load(void)
{
	if (numa.handle)
		return 0;
	void *h = dlopen("libnuma.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		err_set("cannot load libnuma (libnuma.so.1, Debian's libnuma1): %s", dlerror());
		return -ELIBACC;
	}
	*(void **)&numa.available = dlsym(h, "numa_available");
	*(void **)&numa.allocate_nodemask = dlsym(h, "numa_allocate_nodemask");
	*(void **)&numa.bitmask_free = dlsym(h, "numa_bitmask_free");
	*(void **)&numa.bitmask_setbit = dlsym(h, "numa_bitmask_setbit");
	*(void **)&numa.migrate_pages = dlsym(h, "numa_migrate_pages");
	*(void **)&numa.move_pages = dlsym(h, "numa_move_pages");
	if (!numa.available || !numa.allocate_nodemask || !numa.bitmask_free || !numa.bitmask_setbit ||
	    !numa.migrate_pages || !numa.move_pages) {
		err_set("libnuma.so.1 lacks a function kvmcg calls: %s", dlerror());
		dlclose(h);
		numa = (struct numa_calls){0};
		return -ELIBACC;
	}
	numa.handle = h;
	return 0;
}

/* libnuma loaded, and the kernel has NUMA. */
static int numa_ready(void)
{
	int r = numa_load();
	if (r < 0)
		return r;
	if (numa.available() < 0) {
		err_set("libnuma says this kernel has no NUMA support");
		return -ENOSYS;
	}
	return 0;
}

/* A node mask of libnuma's size with the nodes of s; NULL when out of memory. */
static struct bitmask *nodemask_of(const struct idset *s)
{
	struct bitmask *b = numa.allocate_nodemask();
	if (!b)
		return NULL;
	int n = idset_last(s);
	for (int i = 0; i <= n; i++)
		if (idset_isset(s, (unsigned)i))
			numa.bitmask_setbit(b, (unsigned)i);
	return b;
}

long mempolicy_migrate_pages(pid_t pid, const struct idset *from, const struct idset *to)
{
	int r = numa_ready();
	if (r < 0)
		return r;
	struct bitmask *f = nodemask_of(from), *t = nodemask_of(to);
	long left = -ENOMEM;
	if (f && t) {
		errno = 0;
		left = numa.migrate_pages((int)pid, f, t);
		if (left < 0)
			left = errno ? -errno : -EIO;
	}
	if (f)
		numa.bitmask_free(f);
	if (t)
		numa.bitmask_free(t);
	return left;
}

/* Pages asked of the kernel per move_pages(2) call: the kernel itself works in
 * batches of 16 (DO_PAGES_STAT_CHUNK_NR) for the stat; this bounds kvmcg's arrays. */
#define SPREAD_BATCH 4096

/* The unit pages are spread in: a PMD (x86-64, arm64 with 4 KiB pages), so that a
 * transparent huge page (numa_maps shows it as 4 KiB pages) is never split between
 * nodes, which move_pages(2) would do page by page. */
#define SPREAD_GRANULE (UINT64_C(2) << 20)

struct spread {
	pid_t pid;
	int flags;
	const unsigned *nodes, *weights;
	size_t n_nodes;
	enum mem_spread_mode mode;
	long long *credit; /* smooth weighted round-robin (nginx's): per node */
	long long total;
	bool full;       /* a move failed for room: nothing more is tried */
	uint64_t chunk;  /* the granule the last resident page was in, +1 (0: none) */
	int chunk_node;
	void *pages[SPREAD_BATCH];
	int where[SPREAD_BATCH], status[SPREAD_BATCH];
	size_t n;
	struct mem_spread_stats st;
};

static bool is_target(const struct spread *s, int node)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if ((int)s->nodes[i] == node)
			return true;
	return false;
}

/* The node the next resident page goes to. */
static int next_node(struct spread *s)
{
	size_t best = 0;
	for (size_t i = 0; i < s->n_nodes; i++) {
		s->credit[i] += s->weights[i];
		if (s->credit[i] > s->credit[best])
			best = i;
	}
	s->credit[best] -= s->total;
	return (int)s->nodes[best];
}

static long move(struct spread *s, unsigned long n, const int *nodes)
{
	errno = 0;
	long r = numa.move_pages((int)s->pid, n, s->pages, nodes, s->status, s->flags);
	if (r < 0 && errno == EPERM && s->flags == MPOL_MF_MOVE_ALL) {
		s->flags = MPOL_MF_MOVE; /* without CAP_SYS_NICE: the pages only it maps */
		errno = 0;
		r = numa.move_pages((int)s->pid, n, s->pages, nodes, s->status, s->flags);
	}
	return r < 0 ? (errno ? -errno : -EIO) : 0;
}

/* The batch in s->pages: where each is, then each resident one to its node. */
static int flush(struct spread *s, uint64_t page_size)
{
	if (!s->n)
		return 0;
	long r = move(s, s->n, NULL);
	if (r < 0)
		return (int)r;
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->status[i] < 0)
			continue; /* not resident (-ENOENT), or not a page to count (-EFAULT) */
		s->st.resident++;
		if (s->mode == MEM_SPREAD_ONTO && is_target(s, s->status[i]))
			continue;
		/* a granule's pages go together: a transparent huge page moves whole */
		uint64_t chunk = (uint64_t)(uintptr_t)s->pages[i] / SPREAD_GRANULE + 1;
		if (chunk != s->chunk || page_size >= SPREAD_GRANULE) {
			s->chunk = chunk;
			s->chunk_node = next_node(s);
		}
		int to = s->chunk_node;
		if (s->status[i] == to)
			continue;
		s->pages[k] = s->pages[i];
		s->where[k++] = to;
	}
	s->n = 0;
	if (!k)
		return 0;
	if (!s->full && (r = move(s, k, s->where)) == -ENOMEM) {
		/* migrate_pages() gives up on the whole batch when a target page cannot be
		 * had (mm/migrate.c): ask where each page ended, and try no more */
		s->full = true;
		if ((r = move(s, k, NULL)) < 0)
			return (int)r;
		for (size_t i = 0; i < k; i++)
			if (s->status[i] >= 0 && s->status[i] != s->where[i])
				s->status[i] = -ENOMEM;
	} else if (s->full) {
		for (size_t i = 0; i < k; i++)
			s->status[i] = -ENOMEM;
	} else if (r < 0) {
		return (int)r;
	}
	for (size_t i = 0; i < k; i++) {
		int st = s->status[i];
		if (st == s->where[i]) {
			s->st.moved++;
			s->st.moved_bytes += page_size;
			continue;
		}
		if (st == -EFAULT || st == -ENOENT) { /* move_pages(2): a zero page, or not present */
			s->st.gone++;
			continue;
		}
		s->st.failed++;
		if (st == -EBUSY)
			s->st.busy++;
		else if (st == -ENOMEM)
			s->st.no_room++;
		else if (st == -EACCES)
			s->st.shared++;
		else
			s->st.other++;
	}
	return 0;
}

int mempolicy_spread(pid_t pid, const struct mem_range *ranges, size_t n_ranges, const unsigned *nodes,
		     const unsigned *weights, size_t n_nodes, enum mem_spread_mode mode, struct mem_spread_stats *ret)
{
	if (!n_nodes)
		return -EINVAL;
	int r = numa_ready();
	if (r < 0)
		return r;
	struct spread *s = calloc(1, sizeof(*s));
	long long *credit = calloc(n_nodes, sizeof(*credit));
	if (!s || !credit) {
		free(s);
		free(credit);
		return -ENOMEM;
	}
	*s = (struct spread){.pid = pid, .flags = MPOL_MF_MOVE_ALL, .nodes = nodes, .weights = weights,
			     .n_nodes = n_nodes, .mode = mode, .credit = credit};
	for (size_t i = 0; i < n_nodes; i++)
		s->total += weights[i];
	for (size_t i = 0; r == 0 && i < n_ranges; i++) {
		uint64_t ps = ranges[i].page_size ? ranges[i].page_size : 4096;
		for (uint64_t a = ranges[i].start; r == 0 && a < ranges[i].end; a += ps) {
			s->pages[s->n++] = (void *)(uintptr_t)a;
			if (s->n == SPREAD_BATCH)
				r = flush(s, ps);
		}
		if (r == 0)
			r = flush(s, ps); /* a batch holds pages of one size */
	}
	if (r == 0)
		*ret = s->st;
	free(credit);
	free(s);
	return r;
}

/* ---- the policy of the process itself --------------------------------------------------------- */

#ifndef MPOL_F_STATIC_NODES
#define MPOL_F_STATIC_NODES (1 << 15) /* include/uapi/linux/mempolicy.h; numaif.h lacks it */
#endif

const char *mempolicy_self_name(const struct mempolicy_self *p)
{
	switch (p->mode) {
	case MPOL_BIND:
		return "bind";
	case MPOL_PREFERRED:
		return "preferred";
	case MPOL_PREFERRED_MANY:
		return "preferred-many";
	case MPOL_INTERLEAVE:
		return "interleave";
	}
	return "default";
}

int mempolicy_self_prepare(enum mempolicy_self_mode m, const struct idset *nodes, struct mempolicy_self *ret)
{
	int last = nodes ? idset_last(nodes) : -1;
	if (last < 0 || last >= MEMPOLICY_SELF_MAX_NODES) {
		err_set(last < 0 ? "no memory node given" : "node %d is beyond the %d nodes kvmcg handles", last,
			MEMPOLICY_SELF_MAX_NODES);
		return -EINVAL;
	}
	int r = numa_ready();
	if (r < 0)
		return r;
	struct mempolicy_self p = {0};
	*(void **)&p.set_mempolicy = dlsym(numa.handle, "set_mempolicy");
	if (!p.set_mempolicy) {
		err_set("libnuma.so.1 lacks set_mempolicy: %s", dlerror());
		return -ELIBACC;
	}
	const size_t bits = 8 * sizeof(unsigned long);
	for (int i = 0; i <= last; i++)
		if (idset_isset(nodes, (unsigned)i))
			p.mask[(unsigned)i / bits] |= 1UL << ((unsigned)i % bits);
	switch (m) {
	case MEMPOLICY_SELF_BIND:
		p.mode = MPOL_BIND;
		break;
	case MEMPOLICY_SELF_INTERLEAVE:
		p.mode = MPOL_INTERLEAVE;
		break;
	case MEMPOLICY_SELF_PREFERRED:
		p.mode = MPOL_PREFERRED;
		if (idset_count(nodes) > 1) {
			int (*has_many)(void) = NULL;
			*(void **)&has_many = dlsym(numa.handle, "numa_has_preferred_many");
			if (!has_many || has_many() <= 0) {
				err_set("preferring several nodes needs MPOL_PREFERRED_MANY (Linux 5.15 and libnuma "
					"2.0.15); this %s lacks it: prefer one node",
					has_many ? "kernel" : "libnuma");
				return -EOPNOTSUPP;
			}
			p.mode = MPOL_PREFERRED_MANY;
		}
		break;
	}
	*ret = p;
	return 0;
}

int mempolicy_self_apply(const struct mempolicy_self *p)
{
	/* MPOL_F_STATIC_NODES: the nodes are these nodes, whatever cpuset.mems becomes
	 * later. Without it the kernel remaps the mask relative to the cpuset when
	 * cpuset.mems changes (mm/mempolicy.c mpol_rebind_nodemask()): bind:1 under mems 1
	 * would become bind:0 once unpin gives the VM nodes 0-1 again. */
	if (p->set_mempolicy(p->mode | MPOL_F_STATIC_NODES, p->mask, MEMPOLICY_SELF_MAX_NODES + 1) < 0)
		return -errno;
	return 0;
}
