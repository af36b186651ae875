/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host facts from /sys, read through a dirfd so a captured tree works too. */
#ifndef KVMCG_HOST_H
#define KVMCG_HOST_H

#include "basic/idset.h"

struct host {
	struct idset *online_cpus;
	struct idset *online_mems; /* NUMA nodes; {0} on a kernel without NUMA */
	unsigned long clock_ticks; /* sysconf(_SC_CLK_TCK): unit of /proc stat times */
};

int host_read(int sys_fd, struct host *ret);
void host_done(struct host *h);

#endif
