// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/mempolicy.h"

#include <dlfcn.h>
#include <errno.h>
#include <numa.h>
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
	if (!numa.available || !numa.allocate_nodemask || !numa.bitmask_free || !numa.bitmask_setbit ||
	    !numa.migrate_pages) {
		err_set("libnuma.so.1 lacks a function kvmcg calls: %s", dlerror());
		dlclose(h);
		numa = (struct numa_calls){0};
		return -ELIBACC;
	}
	numa.handle = h;
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
	int r = numa_load();
	if (r < 0)
		return r;
	if (numa.available() < 0) {
		err_set("libnuma says this kernel has no NUMA support");
		return -ENOSYS;
	}
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
