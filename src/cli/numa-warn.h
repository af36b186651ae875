/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one warning about automatic NUMA balancing (kernel.numa_balancing, kernel/sysctl.h)
 * and VMs whose memory kvmcg binds to nodes. The kernel's documentation says to turn
 * balancing off for a workload that is already bound to nodes
 * (Documentation/admin-guide/sysctl/kernel.rst, "numa_balancing"): it unmaps the
 * VM's pages to sample where they are used (a fault on the next touch of each) and
 * moves pages and tasks towards the nodes that use them, within what the binding
 * allows. show, numastat and apply call these for each VM they handle; the first call
 * that finds balancing on and a bound VM warns, once per run, on stderr:
 *   kvmcg: warning: automatic NUMA balancing is on (kernel.numa_balancing = 1, normal)
 *   while VM 4242 (win7) has its memory bound strict to node 0: ...
 * Nothing is printed for a captured tree (--sysroot), when balancing is off, or when
 * it cannot be read. */
#ifndef KVMCG_NUMA_WARN_H
#define KVMCG_NUMA_WARN_H

#include "basic/idset.h"
#include "cli/cli.h"
#include "tune/tune.h"
#include "vmm/discover.h"

/* vm's memory is (or is about to be) held to tune's nodes, as apply's policy says:
 * warned when it is strict (or --mems alone, strict's cpuset.mems, or a record of a
 * kvmcg that did not keep the mode); restrictive, interleave and preferred leave the
 * kernel's balancing its use. No nodes: not bound. */
void numa_warn_bound(const struct cli *c, const struct vm *vm, const struct vm_tune *tune);

/* The same for a VM whose tune is in kvmcg's record of it. A VM kvmcg has not pinned
 * is not bound by kvmcg. */
void numa_warn_recorded(const struct cli *c, const struct vm *vm);

#endif
