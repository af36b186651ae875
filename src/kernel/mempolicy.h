/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Moving a process's pages between NUMA nodes, through libnuma (numa(3)).
 *
 * libnuma is loaded with dlopen(3) the first time pages are to be moved, not
 * linked: its constructor reads /proc/self/status and sysfs at every start of the
 * program that links it (1 to 2 ms of every kvmcg run on the build host), for the
 * few runs that move pages. */
#ifndef KVMCG_MEMPOLICY_H
#define KVMCG_MEMPOLICY_H

#include <sys/types.h>

#include "basic/idset.h"

/* Moves every page of process pid that is on a node of from to the nodes of to
 * (migrate_pages(2) through numa_migrate_pages(); a page keeps its position
 * relative to the sets when it can). Returns how many pages could not be moved
 * (>= 0: pinned by a device, mlocked in a way that forbids it, or with no room on
 * to), or -errno: -ESRCH no such process, -EPERM not allowed, -EINVAL a node that
 * does not exist, -ELIBACC when libnuma cannot be loaded (its name and dlerror() in
 * err_get()). */
long mempolicy_migrate_pages(pid_t pid, const struct idset *from, const struct idset *to);

#endif
