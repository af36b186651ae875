// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/numa-warn.h"

#include <unistd.h>

#include "basic/err.h"
#include "basic/log.h"
#include "basic/util.h"
#include "kernel/sysctl.h"
#include "state/state.h"

/* One run, one warning: the sysctl is read once, at the first VM. */
static struct {
	bool read;
	int value; /* 0 when off or unknown */
	bool warned;
} numa_warn;

/* Whether a warning may still be due: balancing is on and none was printed yet. */
static bool warn_due(const struct cli *c)
{
	if (numa_warn.warned || c->sysroot || c->proc_fd < 0)
		return false;
	if (!numa_warn.read) {
		numa_warn.read = true;
		if (numa_balancing_read(c->proc_fd, &numa_warn.value) < 0)
			numa_warn.value = 0;
	}
	return numa_warn.value != NUMA_BALANCING_DISABLED;
}

void numa_warn_bound(const struct cli *c, const struct vm *vm, const struct vm_tune *tune)
{
	const struct idset *mems = tune->mems;
	/* strict, or --mems alone (strict's cpuset.mems): the VM is to stay on its nodes */
	bool strict = tune->mem_policy == MEM_POLICY_STRICT || tune->mem_policy == MEM_POLICY_UNSET;
	if (!mems || idset_count(mems) == 0 || !strict || !warn_due(c))
		return;
	numa_warn.warned = true;
	_cleanup_free_ char *nodes = idset_format(mems);
	char who[320];
	if (vm->name)
		snprintf(who, sizeof(who), "VM %d (%s)", (int)vm->pid, vm->name);
	else
		snprintf(who, sizeof(who), "VM %d", (int)vm->pid);
	log_warning("automatic NUMA balancing is on (kernel.numa_balancing = %d, %s) while %s has its memory "
		    "bound strict to node%s %s: the kernel unmaps the VM's pages to sample their use and moves pages "
		    "and threads on its own; its documentation says to disable it for workloads bound to "
		    "nodes: 'kvmcg numa-balancing off'",
		    numa_warn.value, numa_balancing_mode(numa_warn.value), who,
		    idset_count(mems) == 1 ? "" : "s", nodes ? nodes : "?");
}

void numa_warn_recorded(const struct cli *c, const struct vm *vm)
{
	/* The sysctl first: with balancing off no record is opened. */
	if (!warn_due(c))
		return;
	/* A record that cannot be read is the command's to report (show does), not this
	 * warning's: its sentence is not left behind for the command's next error. */
	int state_fd = state_dir_open(false);
	if (state_fd < 0) {
		err_clear();
		return;
	}
	struct vm_state st;
	if (state_load(state_fd, vm->pid, vm->starttime_ticks, &st) == 0) {
		numa_warn_bound(c, vm, &st.tune);
		vm_state_done(&st);
	} else {
		err_clear();
	}
	close(state_fd);
}
