// SPDX-License-Identifier: GPL-2.0-or-later
/* The memory step of a pin: the VM's pages measured before and after, and, for
 * strict, moved to the nodes asked. cpuset.mems itself is the plan's (the cgroups
 * hold the VM's allocations to the nodes from then on; v1's memory_migrate and v2
 * move what they move); this step makes sure of the pages already there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "kernel/mempolicy.h"

void mem_report_done(struct mem_report *m)
{
	idset_free(m->nodes);
	vm_memory_done(&m->before);
	vm_memory_done(&m->after);
	*m = (struct mem_report){0};
}

static bool wanted(const struct tune_request *req)
{
	return req->mems && (req->mem_policy == MEM_POLICY_STRICT || req->mem_policy == MEM_POLICY_RESTRICTIVE);
}

int txn_memory_before(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		      struct pin_result *res)
{
	if (!wanted(req))
		return 0;
	struct mem_report *m = &res->memory;
	m->policy = req->mem_policy;
	m->not_moved = -1;
	if (!(m->nodes = idset_dup(req->mems)))
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	int r = vm_memory_measure(env->discover, vm, &m->before);
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "pid %d: cannot read its memory map: %s; nothing was changed",
				(int)vm->pid, strerror(-r));
	return 0;
}

/* Bytes on a node that is not one of nodes. */
static uint64_t elsewhere(const struct vm_memory *m, const struct idset *nodes)
{
	return vm_memory_counted(m, NULL) - vm_memory_counted(m, nodes);
}

static double share_of(const struct vm_memory *m, const struct idset *nodes)
{
	uint64_t all = vm_memory_counted(m, NULL);
	return all ? (double)vm_memory_counted(m, nodes) / (double)all : 1.0;
}

/* Every node a page is on that is not one of nodes. */
static struct idset *other_nodes(const struct vm_memory *m, const struct idset *nodes)
{
	struct idset *s = idset_new();
	for (unsigned k = 0; s && k < m->n_nodes; k++)
		if (!idset_isset(nodes, k) && m->nodes[k].guest_ram + m->nodes[k].other > 0 && idset_set(s, k) < 0) {
			idset_free(s);
			s = NULL;
		}
	return s;
}

static int append(struct pin_result *res, const char *sentence)
{
	char *joined = NULL;
	if (asprintf(&joined, "%s; %s", res->message ? res->message : "", sentence) < 0)
		return -ENOMEM;
	free(res->message);
	res->message = joined;
	return 0;
}

int txn_memory_place(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		     struct pin_result *res, int rc)
{
	struct mem_report *m = &res->memory;
	/* after a pin that was carried out (exit 3: a setting it could not carry out) */
	if (!wanted(req) || m->policy == MEM_POLICY_UNSET || (rc != EXIT_OK && rc != EXIT_PARTIAL))
		return rc;
	int r = vm_memory_measure(env->discover, vm, &m->after);
	if (r < 0)
		return txn_fail(res, r == -ENOENT ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
				"pid %d: pinned, but its memory map cannot be read: %s", (int)vm->pid, strerror(-r));
	if (m->policy == MEM_POLICY_STRICT && elsewhere(&m->after, m->nodes) > 0) {
		struct idset *from _cleanup_cpuset_ = other_nodes(&m->after, m->nodes);
		if (!from)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
		err_clear();
		m->not_moved = mempolicy_migrate_pages(vm->pid, from, m->nodes);
		if (m->not_moved < 0) {
			long e = m->not_moved;
			m->not_moved = -1;
			return txn_fail(res, e == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
					"pid %d: pinned, but its pages could not be moved: %s", (int)vm->pid,
					err_get() ? err_get() : strerror((int)-e));
		}
		vm_memory_done(&m->after);
		r = vm_memory_measure(env->discover, vm, &m->after);
		if (r < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "pid %d: its memory map cannot be read: %s",
					(int)vm->pid, strerror(-r));
	}
	m->share = share_of(&m->after, m->nodes);
	_cleanup_free_ char *nodes = idset_format(m->nodes);
	uint64_t all = vm_memory_counted(&m->after, NULL);
	uint64_t before_on = vm_memory_counted(&m->before, m->nodes), after_on = vm_memory_counted(&m->after, m->nodes);
	uint64_t resident = vm_memory_guest_resident(&m->after);
	uint64_t missing = m->after.guest_ram_size > resident ? m->after.guest_ram_size - resident : 0;
	_cleanup_free_ char *sentence = NULL;
	if (asprintf(&sentence,
		     "memory (%s): %.2f%% of %.1f MiB on node%s %s, %.1f MiB moved there%s; %.1f MiB of guest RAM "
		     "not resident",
		     mem_policy_name(m->policy), m->share * 100.0, (double)all / 1048576.0,
		     idset_count(m->nodes) == 1 ? "" : "s", nodes ? nodes : "?",
		     after_on > before_on ? (double)(after_on - before_on) / 1048576.0 : 0.0,
		     m->not_moved > 0 ? " (some pages would not move)" : "", (double)missing / 1048576.0) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	if (m->policy == MEM_POLICY_STRICT && m->share < MEM_STRICT_SHARE)
		return txn_fail(res, EXIT_FAILURE_RUNTIME,
				"pid %d: strict memory placement not reached: %s; the pin stays (%ld pages would not "
				"move)",
				(int)vm->pid, sentence, m->not_moved > 0 ? m->not_moved : 0);
	if (append(res, sentence) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	return rc;
}
