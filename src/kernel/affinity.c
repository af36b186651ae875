// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/affinity.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "basic/util.h"

int affinity_get(pid_t tid, struct idset **ret)
{
	/* The kernel wants a buffer at least as large as its own mask: grow until it fits. */
	for (size_t ncpus = 1024; ncpus <= CPUSET_MAX_BITS * 8; ncpus *= 2) {
		cpu_set_t *mask = CPU_ALLOC(ncpus);
		if (!mask)
			return -ENOMEM;
		size_t size = CPU_ALLOC_SIZE(ncpus);
		if (sched_getaffinity(tid, size, mask) < 0) {
			int r = -errno;
			CPU_FREE(mask);
			if (r == -EINVAL)
				continue;
			return r;
		}
		struct idset *s = idset_new();
		int r = s ? 0 : -ENOMEM;
		for (size_t c = 0; r == 0 && c < ncpus && c < CPUSET_MAX_BITS; c++)
			if (CPU_ISSET_S(c, size, mask))
				r = idset_set(s, (unsigned)c);
		CPU_FREE(mask);
		if (r < 0) {
			idset_free(s);
			return r;
		}
		*ret = s;
		return 0;
	}
	return -EINVAL;
}

int affinity_set(pid_t tid, const struct idset *cpus)
{
	int last = idset_last(cpus);
	if (last < 0)
		return -EINVAL;
	size_t ncpus = (size_t)last + 1;
	cpu_set_t *mask = CPU_ALLOC(ncpus);
	if (!mask)
		return -ENOMEM;
	size_t size = CPU_ALLOC_SIZE(ncpus);
	CPU_ZERO_S(size, mask);
	for (size_t c = 0; c < ncpus; c++)
		if (idset_isset(cpus, (unsigned)c))
			CPU_SET_S(c, size, mask);
	int r = sched_setaffinity(tid, size, mask) < 0 ? -errno : 0;
	CPU_FREE(mask);
	return r;
}
