// SPDX-License-Identifier: GPL-2.0-or-later
/* The memory step of a pin: the VM's pages measured before and after, checked
 * against the room on the nodes asked before anything is written, and moved: strict,
 * the pages left on other nodes, to the nodes; interleave, spread over them;
 * preferred, to them where there is room. cpuset.mems itself is the plan's (the
 * cgroups hold the VM's allocations to the nodes from then on; v1's memory_migrate
 * and v2 move what they move); this step makes sure of the pages already there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "kernel/host.h"
#include "kernel/mempolicy.h"

#define MIB(b) ((double)(b) / 1048576.0)

void mem_report_done(struct mem_report *m)
{
	idset_free(m->nodes);
	vm_memory_done(&m->before);
	vm_memory_done(&m->after);
	*m = (struct mem_report){0};
}

uint64_t mem_report_moved(const struct mem_report *m)
{
	uint64_t sum = 0;
	for (unsigned k = 0; k < m->after.n_nodes; k++) {
		uint64_t a = m->after.nodes[k].guest_ram + m->after.nodes[k].other;
		uint64_t b = k < m->before.n_nodes ? m->before.nodes[k].guest_ram + m->before.nodes[k].other : 0;
		sum += a > b ? a - b : 0;
	}
	return sum;
}

static bool wanted(const struct tune_request *req)
{
	return req->mems && req->mem_policy != MEM_POLICY_UNSET;
}

/* Bytes on a node that is not one of nodes. */
static uint64_t elsewhere(const struct vm_memory *m, const struct idset *nodes)
{
	return vm_memory_counted(m, NULL) - vm_memory_counted(m, nodes);
}

/* Guest RAM QEMU has that no page backs yet: it comes from the nodes when touched. */
static uint64_t not_resident(const struct vm_memory *m)
{
	uint64_t resident = vm_memory_guest_resident(m);
	return m->guest_ram_size > resident ? m->guest_ram_size - resident : 0;
}

/* Hugetlb bytes on a node that is not one of nodes. */
static uint64_t huge_elsewhere(const struct vm_memory *m, const struct idset *nodes)
{
	uint64_t sum = 0;
	for (unsigned k = 0; k < m->n_nodes; k++)
		if (!idset_isset(nodes, k))
			sum += m->nodes[k].huge;
	return sum;
}

/* "node 1" or "nodes 0-1", for sentences. */
static char *nodes_phrase(const struct idset *nodes)
{
	_cleanup_free_ char *s = idset_format(nodes);
	char *p = NULL;
	if (!s || asprintf(&p, "node%s %s", idset_count(nodes) == 1 ? "" : "s", s) < 0)
		return NULL;
	return p;
}

/* Whether the nodes have room for what the pin puts there: the VM's pages that move
 * (none with --no-migrate) and its guest RAM not resident yet, against their free
 * memory; its hugetlb pages that move against their free huge pages of that size.
 * EXIT_OK, or the refusal (exit 2, nothing written). */
static int check_room(const struct txn_env *env, const struct vm *vm, const struct tune_request *req, bool force,
		      struct mem_report *m, struct pin_result *res)
{
	const struct vm_memory *b = &m->before;
	uint64_t move = req->no_migrate ? 0 : elsewhere(b, m->nodes), later = not_resident(b);
	uint64_t huge = req->no_migrate ? 0 : huge_elsewhere(b, m->nodes);
	uint64_t free_bytes = 0, free_huge = 0;
	for (int k = 0; k <= idset_last(m->nodes); k++) {
		if (!idset_isset(m->nodes, (unsigned)k))
			continue;
		struct host_node_memory nm;
		int r = host_node_memory(env->sys_fd, (unsigned)k, b->huge_page_size, &nm);
		if (r < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME,
					"cannot read node %d's free memory (/sys/devices/system/node/node%d): %s; "
					"nothing was changed",
					k, k, strerror(-r));
		free_bytes += nm.free;
		free_huge += nm.huge_free * b->huge_page_size;
	}
	_cleanup_free_ char *where = nodes_phrase(m->nodes);
	if (!where)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	if (move + later > free_bytes && !force)
		return txn_fail(res, EXIT_USAGE,
				"pid %d needs %.1f MiB on %s (%.1f MiB of its memory to move there, %.1f MiB of guest "
				"RAM not resident yet) and %s %.1f MiB free; nothing was changed (--force goes on)",
				(int)vm->pid, MIB(move + later), where, MIB(move), MIB(later),
				idset_count(m->nodes) == 1 ? "it has" : "they have", MIB(free_bytes));
	if (huge > free_huge && !force)
		return txn_fail(res, EXIT_USAGE,
				"pid %d has %.1f MiB of hugetlb pages (%llu kB) to move to %s, which %s %.1f MiB of free "
				"huge pages of that size; nothing was changed (--force goes on)",
				(int)vm->pid, MIB(huge), (unsigned long long)(b->huge_page_size / 1024), where,
				idset_count(m->nodes) == 1 ? "has" : "have", MIB(free_huge));
	return EXIT_OK;
}

int txn_memory_before(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		      struct pin_result *res)
{
	if (!wanted(req))
		return 0;
	struct mem_report *m = &res->memory;
	m->policy = req->mem_policy;
	m->no_migrate = req->no_migrate;
	m->not_moved = -1;
	if (!(m->nodes = idset_dup(req->mems)))
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	int r = vm_memory_measure(env->discover, vm, &m->before);
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "pid %d: cannot read its memory map: %s; nothing was changed",
				(int)vm->pid, strerror(-r));
	/* A process kvmcg run holds before it executes QEMU has none of its guest RAM
	 * yet: all of what the command line gives is still to come, on the nodes. */
	if (vm->evidence & VM_EVIDENCE_LAUNCHED) {
		uint64_t ram = 0;
		for (size_t i = 0; i < vm->qemu.n_backend_bytes; i++)
			ram += vm->qemu.backend_bytes[i];
		m->before.guest_ram_size = ram ? ram : vm->qemu.ram_bytes;
	}
	return 0;
}

int txn_memory_check(const struct txn_env *env, const struct vm *vm, const struct tune_request *req, bool force,
		     struct pin_result *res)
{
	struct mem_report *m = &res->memory;
	/* preferred moves what fits: there is nothing to refuse */
	if (!wanted(req) || m->policy == MEM_POLICY_UNSET || m->policy == MEM_POLICY_PREFERRED)
		return EXIT_OK;
	return check_room(env, vm, req, force, m, res);
}

int txn_memory_origin(struct vm_state *st, const struct mem_report *m)
{
	bool moves = m->policy == MEM_POLICY_STRICT || m->policy == MEM_POLICY_INTERLEAVE ||
		     m->policy == MEM_POLICY_PREFERRED || (m->policy == MEM_POLICY_RESTRICTIVE && !m->no_migrate);
	if (st->n_mem_origin || !moves || !m->before.n_nodes)
		return 0;
	if (!(st->mem_origin = calloc(m->before.n_nodes, sizeof(*st->mem_origin))))
		return -ENOMEM;
	st->n_mem_origin = m->before.n_nodes;
	for (unsigned k = 0; k < m->before.n_nodes; k++)
		st->mem_origin[k] = m->before.nodes[k].guest_ram + m->before.nodes[k].other;
	return 0;
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

/* move_pages over the VM's counted mappings, to nodes (equal weights). */
static int spread(const struct vm *vm, struct mem_report *m, enum mem_spread_mode mode)
{
	size_t n = (size_t)idset_count(m->nodes), i = 0;
	_cleanup_free_ unsigned *nodes = calloc(n, sizeof(*nodes)), *weights = calloc(n, sizeof(*weights));
	if (!nodes || !weights)
		return -ENOMEM;
	for (int k = 0; k <= idset_last(m->nodes) && i < n; k++)
		if (idset_isset(m->nodes, (unsigned)k)) {
			nodes[i] = (unsigned)k;
			weights[i++] = 1;
		}
	struct mem_spread_stats st;
	err_clear();
	int r = mempolicy_spread(vm->pid, m->after.ranges, m->after.n_ranges, nodes, weights, n, mode, &st);
	if (r < 0)
		return r;
	if (m->spread_done) { /* a second pass: its failures are the pages that stayed */
		m->spread.moved += st.moved;
		m->spread.moved_bytes += st.moved_bytes;
		st.gone += m->spread.gone;
		st.moved = m->spread.moved;
		st.moved_bytes = m->spread.moved_bytes;
	}
	m->spread = st;
	m->spread_done = true;
	return 0;
}

/* Why pages stayed, from move_pages's statuses: "12 pinned, 3 no room". */
static char *why_stayed(const struct mem_spread_stats *s)
{
	char *p = NULL;
	if (asprintf(&p, "%llu busy (pinned, locked or in use when asked), %llu with no room on the nodes, %llu mapped "
			 "by other processes too, %llu for another reason",
		     (unsigned long long)s->busy, (unsigned long long)s->no_room, (unsigned long long)s->shared,
		     (unsigned long long)s->other) < 0)
		return NULL;
	return p;
}

/* strict: migrate_pages(2) from every other node; what stays is asked again page by
 * page, for the kernel's reason. */
static int place_strict(const struct txn_env *env, const struct vm *vm, struct mem_report *m, struct pin_result *res)
{
	struct idset *from _cleanup_cpuset_ = other_nodes(&m->after, m->nodes);
	if (!from)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	err_clear();
	long left = mempolicy_migrate_pages(vm->pid, from, m->nodes);
	/* -ENOMEM: the nodes are full; what moved is measured, the rest asked page by
	 * page below for the count */
	m->not_moved = left == -ENOMEM ? -1 : left;
	if (left < 0 && left != -ENOMEM) {
		long e = left;
		m->not_moved = -1;
		return txn_fail(res, e == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
				"pid %d: pinned, but its pages could not be moved: %s", (int)vm->pid,
				err_get() ? err_get() : strerror((int)-e));
	}
	vm_memory_done(&m->after);
	int r = vm_memory_measure(env->discover, vm, &m->after);
	if (r == 0 && elsewhere(&m->after, m->nodes) > 0) {
		r = spread(vm, m, MEM_SPREAD_ONTO);
		vm_memory_done(&m->after);
		if (r == 0)
			r = vm_memory_measure(env->discover, vm, &m->after);
	}
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "pid %d: its pages cannot be moved or measured: %s",
				(int)vm->pid, err_get() ? err_get() : strerror(-r));
	return EXIT_OK;
}

/* interleave, preferred: move_pages(2), then measured again. */
static int place_spread(const struct txn_env *env, const struct vm *vm, struct mem_report *m,
			struct pin_result *res)
{
	int r = spread(vm, m, m->policy == MEM_POLICY_INTERLEAVE ? MEM_SPREAD_ALL : MEM_SPREAD_ONTO);
	if (r == 0) {
		vm_memory_done(&m->after);
		r = vm_memory_measure(env->discover, vm, &m->after);
	}
	if (r < 0)
		return txn_fail(res, r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
				"pid %d: pinned, but its pages could not be moved: %s", (int)vm->pid,
				err_get() ? err_get() : strerror(-r));
	_cleanup_free_ char *n = idset_format(m->nodes);
	txn_warn(res,
		 "pid %d: only the pages it has now were moved; what QEMU allocates from now on follows its own "
		 "memory policy (Linux cannot change another process's), so the full effect of %s needs QEMU "
		 "started under it (numactl --%s=%s qemu-system-...)",
		 (int)vm->pid, mem_policy_name(m->policy),
		 m->policy == MEM_POLICY_INTERLEAVE      ? "interleave"
		 : idset_count(m->nodes) == 1 ? "preferred"
					      : "preferred-many", /* numactl 2.0.16: one node for --preferred */
		 n ? n : "?");
	return EXIT_OK;
}

/* "node 0 49.8%, node 1 50.2%": how the counted memory is split over nodes. */
static char *split_of(const struct vm_memory *m)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	uint64_t all = vm_memory_counted(m, NULL);
	const char *sep = "";
	for (unsigned k = 0; k < m->n_nodes; k++) {
		uint64_t b = m->nodes[k].guest_ram + m->nodes[k].other;
		if (b) {
			fprintf(f, "%snode %u %.1f%%", sep, k, all ? 100.0 * (double)b / (double)all : 0.0);
			sep = ", ";
		}
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

int txn_memory_place(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		     enum pin_launch launch, struct pin_result *res, int rc)
{
	struct mem_report *m = &res->memory;
	/* after a pin that was carried out (exit 3: a setting it could not carry out) */
	if (!wanted(req) || m->policy == MEM_POLICY_UNSET || (rc != EXIT_OK && rc != EXIT_PARTIAL))
		return rc;
	int r = vm_memory_measure(env->discover, vm, &m->after);
	if (r < 0)
		return txn_fail(res, r == -ENOENT ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
				"pid %d: pinned, but its memory map cannot be read: %s", (int)vm->pid, strerror(-r));
	int e = EXIT_OK;
	if (m->policy == MEM_POLICY_STRICT && elsewhere(&m->after, m->nodes) > 0)
		e = place_strict(env, vm, m, res);
	else if ((m->policy == MEM_POLICY_INTERLEAVE || m->policy == MEM_POLICY_PREFERRED) && launch == PIN_RUNNING)
		e = place_spread(env, vm, m, res);
	if (e != EXIT_OK)
		return e;
	m->share = share_of(&m->after, m->nodes);
	_cleanup_free_ char *where = nodes_phrase(m->nodes), *split = split_of(&m->after);
	_cleanup_free_ char *why = m->spread_done && m->spread.failed ? why_stayed(&m->spread) : NULL;
	uint64_t all = vm_memory_counted(&m->after, NULL);
	/* A VM run started had nothing moved unless strict found pages elsewhere: what
	 * differs between the two measures is QEMU's own allocations meanwhile */
	char moved[96];
	if (launch != PIN_RUNNING && m->not_moved < 0 && !m->spread_done)
		snprintf(moved, sizeof(moved), "nothing moved: placed from QEMU's first page");
	else
		snprintf(moved, sizeof(moved), "%.1f MiB moved", MIB(mem_report_moved(m)));
	_cleanup_free_ char *sentence = NULL, *gone = NULL;
	if (m->spread_done && m->spread.gone &&
	    asprintf(&gone, "; %llu pages left memory during the move (freed, or zero-filled and now the shared zero "
			    "page)", (unsigned long long)m->spread.gone) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	if (!where || !split ||
	    asprintf(&sentence, "memory (%s): %.2f%% of %.1f MiB on %s (%s), %s%s%s%s; %.1f MiB of guest RAM "
				"not resident",
		     mem_policy_name(m->policy), m->share * 100.0, MIB(all), where, split, moved,
		     why ? "; pages that stayed: " : (m->not_moved > 0 ? " (some pages would not move)" : ""),
		     why ? why : "", gone ? gone : "", MIB(not_resident(&m->after))) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	if (m->policy == MEM_POLICY_STRICT && m->share < MEM_STRICT_SHARE)
		return txn_fail(res, EXIT_FAILURE_RUNTIME,
				"pid %d: strict memory placement not reached (%.0f%% needed): %s; the pin stays",
				(int)vm->pid, MEM_STRICT_SHARE * 100.0, sentence);
	if (append(res, sentence) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	return rc;
}

/* "node 0" or "nodes 0-1": the nodes the record's origin has memory on. */
static struct idset *origin_nodes(const struct vm_state *st)
{
	struct idset *s = idset_new();
	for (unsigned k = 0; s && k < st->n_mem_origin; k++)
		if (st->mem_origin[k] && idset_set(s, k) < 0) {
			idset_free(s);
			s = NULL;
		}
	return s;
}

int txn_memory_unpin(const struct txn_env *env, const struct vm *vm, const struct vm_state *st, bool migrate_back,
		     struct pin_result *res, int rc)
{
	if (!st->tune.mems && !st->n_mem_origin) {
		if (migrate_back)
			txn_warn(res, "pid %d: --migrate-back: kvmcg never placed its memory; nothing to move back",
				 (int)vm->pid);
		return rc;
	}
	struct idset *home _cleanup_cpuset_ = origin_nodes(st);
	_cleanup_free_ char *home_s = home && idset_count(home) ? nodes_phrase(home) : NULL;
	if (!home)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	struct mem_report *m = &res->memory;
	m->policy = st->tune.mem_policy ? st->tune.mem_policy : MEM_POLICY_STRICT;
	m->not_moved = -1;
	if (!(m->nodes = idset_dup(migrate_back && idset_count(home) ? home : st->tune.mems ? st->tune.mems : home)))
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	int r = vm_memory_measure(env->discover, vm, &m->before);
	if (r < 0) /* gone, or not ours to read: the unpin itself is done */
		return rc;
	const char *what = "its pages stay where they are";
	if (migrate_back && home_s) {
		size_t n = 0;
		_cleanup_free_ unsigned *nodes = calloc(st->n_mem_origin, sizeof(*nodes));
		_cleanup_free_ unsigned *weights = calloc(st->n_mem_origin, sizeof(*weights));
		if (!nodes || !weights)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
		for (unsigned k = 0; k < st->n_mem_origin; k++)
			if (st->mem_origin[k]) {
				uint64_t pages = st->mem_origin[k] / 4096;
				nodes[n] = k;
				weights[n++] = pages > UINT32_MAX ? UINT32_MAX : pages ? (unsigned)pages : 1;
			}
		err_clear();
		r = mempolicy_spread(vm->pid, m->before.ranges, m->before.n_ranges, nodes, weights, n,
				     n == 1 ? MEM_SPREAD_ONTO : MEM_SPREAD_ALL, &m->spread);
		if (r < 0)
			return txn_fail(res, r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME,
					"unpinned pid %d, but its pages could not be moved back to %s: %s", (int)vm->pid,
					home_s, err_get() ? err_get() : strerror(-r));
		m->spread_done = true;
		what = "its pages moved back";
	} else if (migrate_back) {
		txn_warn(res, "pid %d: --migrate-back: kvmcg never moved its pages; nothing to move back", (int)vm->pid);
	}
	if ((r = vm_memory_measure(env->discover, vm, &m->after)) < 0)
		return rc;
	m->share = share_of(&m->after, m->nodes);
	/* where they were, when they are not all there now and were not asked back */
	bool away = !migrate_back && home_s && share_of(&m->after, home) < MEM_STRICT_SHARE;
	_cleanup_free_ char *split = split_of(&m->after), *why = NULL, *sentence = NULL;
	if (m->spread_done && m->spread.failed)
		why = why_stayed(&m->spread);
	if (!split ||
	    asprintf(&sentence, "memory: %s (%s%s%.1f MiB moved)%s%s%s%s%s", what, split, *split ? "; " : "",
		     MIB(mem_report_moved(m)), why ? "; pages that stayed: " : "", why ? why : "",
		     away ? "; before kvmcg moved them they were on " : "", away ? home_s : "",
		     away ? " (unpin --migrate-back would have returned them)" : "") < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	if (append(res, sentence) < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	/* kvmcg run set QEMU's own policy before it started; that one no unpin can undo */
	if (st->launched && (st->tune.mem_policy == MEM_POLICY_STRICT || st->tune.mem_policy == MEM_POLICY_PREFERRED ||
			     st->tune.mem_policy == MEM_POLICY_INTERLEAVE) &&
	    append(res, "QEMU's own memory policy, set before it started (kvmcg run), stays: Linux cannot change "
			"another process's") < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	return rc;
}
