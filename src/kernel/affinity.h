/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sched_setaffinity / sched_getaffinity on growable sets (any number of CPUs). */
#ifndef KVMCG_AFFINITY_H
#define KVMCG_AFFINITY_H

#include <sys/types.h>

#include "basic/idset.h"

int affinity_get(pid_t tid, struct idset **ret);
/* EINVAL: no CPU of the set is allowed by the thread's cpuset. ESRCH: gone. */
int affinity_set(pid_t tid, const struct idset *cpus);

#endif
