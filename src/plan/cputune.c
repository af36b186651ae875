// SPDX-License-Identifier: GPL-2.0-or-later
/* CPU bandwidth and scheduling (libvirt's cputune): cpu.weight and cpu.max of the VM's cgroup, the vCPUs' scheduling class. */
#include "plan/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "plan/layout.h"
#include "plan/plan-internal.h"

int plan_merge_cputune(const struct plan_host *h, const struct cputune *req, struct vm_tune *tune,
		    char ***skipped, size_t *n_skipped)
{
	struct cputune *t = &tune->cputune;
	bool v1 = h->backend == BACKEND_CGROUP_V1;
	/* v1 with RT group scheduling: a cgroup of kvmcg's there has no real-time runtime */
	bool rt_blocked = v1 && h->v1_rt_group && ((req->sched_set && sched_policy_is_rt(req->sched_policy)) ||
						   (!req->sched_set && t->sched_set && sched_policy_is_rt(t->sched_policy)));
	if (rt_blocked && (t->weight || t->quota_set)) {
		err_set("refusing a real-time class for the vCPUs: the VM's threads are in its v1 cpu cgroup (for the "
			"CPU weight or quota of an earlier pin), where the kernel gives real-time threads no runtime "
			"(RT group scheduling, cpu.rt_runtime_us); unpin it first, or keep a class that is not real-time");
		return -EINVAL;
	}
	if (req->sched_set) {
		t->sched_set = true;
		t->sched_policy = req->sched_policy;
		t->sched_priority = req->sched_priority;
	}
	bool bandwidth = req->weight || req->quota_set || req->period_us;
	if (bandwidth && (rt_blocked || (h->backend != BACKEND_CGROUP_V2 && !(v1 && h->v1_mounted[V1_TREE_CPU])))) {
		/* On v1 the cpu controller is a hierarchy of its own, when it is mounted;
		 * without cgroups there is nothing to write at all. */
		return strv_push(skipped, n_skipped,
				 rt_blocked ? "[CPU] Weight=/Quota=/Period= (beside a real-time class for the vCPUs: "
					      "the v1 cpu hierarchy has RT group scheduling, and a cgroup of kvmcg's "
					      "there gives real-time threads no runtime)"
				 : v1 ? "[CPU] Weight=/Quota=/Period= (need the cpu controller: no v1 hierarchy carries it here)"
				      : "[CPU] Weight=/Quota=/Period= (need a cgroup; none is used in affinity mode)");
	}
	if (req->weight)
		t->weight = req->weight;
	if (req->quota_set) {
		t->quota_set = true;
		t->quota_percent = req->quota_percent;
	}
	if (req->period_us)
		t->period_us = req->period_us;
	/* the quota the merged tune gives in microseconds, say: refused before anything
	 * is written (the kernel would refuse the write) */
	return cputune_check(t) < 0 ? -EINVAL : 0;
}

int plan_cputune_files(const char *vm_dir, const struct cgroup_dir_state *vmd, const struct cputune *t, struct plan *p)
{
	int r = 0;
	if (t->weight) {
		char w[16];
		snprintf(w, sizeof(w), "%u", t->weight);
		if (!vmd || !plan_same_text(vmd->cpu_weight, w))
			r = plan_push(p, ACT_WRITE, vm_dir, "cpu.weight", w, 0, NULL);
	}
	if (r == 0 && t->quota_set) {
		char max[48];
		cputune_max(t, max, sizeof(max));
		if (!vmd || !plan_same_text(vmd->cpu_max, max))
			r = plan_push(p, ACT_WRITE, vm_dir, "cpu.max", max, 0, NULL);
	}
	return r;
}

int plan_vcpu_sched(const struct vm *vm, const struct cputune *t, struct plan *p)
{
	int r = 0;
	for (size_t i = 0; r == 0 && t->sched_set && i < vm->n_threads; i++) {
		const struct vm_thread *th = &vm->threads[i];
		if (th->kind != THREAD_VCPU)
			continue;
		if ((int)th->stat.policy == t->sched_policy && th->stat.rt_priority == t->sched_priority)
			continue;
		char v[32];
		sched_format(t->sched_policy, t->sched_priority, v, sizeof(v));
		r = plan_push(p, ACT_SET_SCHED, NULL, NULL, v, th->tid, NULL);
	}
	return r;
}

int plan_v1cpu(const struct plan_host *h, const struct vm *vm, const struct cputune *t, struct plan *p)
{
	const struct cgroup_dir_state *d;
	int r = plan_v1tree_begin(h, V1_TREE_CPU, p, &d);
	if (r <= 0)
		return r;
	const char *vm_dir = h->v1[V1_TREE_CPU].vm_dir;
	char v[32];
	r = 0;
	if (r == 0 && t->weight) {
		snprintf(v, sizeof(v), "%llu", cputune_shares(t->weight));
		r = plan_v1tree_write(p, V1_TREE_CPU, vm_dir, d, d ? d->cpu_shares : NULL, "cpu.shares", v);
	}
	/* the period first, as cpu.max writes both (tg_set_cfs_bandwidth() checks the
	 * quota against it); a period alone, without a quota, is not written (v2 neither) */
	if (r == 0 && t->quota_set) {
		snprintf(v, sizeof(v), "%u", cputune_period(t));
		r = plan_v1tree_write(p, V1_TREE_CPU, vm_dir, d, d ? d->cfs_period_us : NULL, "cpu.cfs_period_us", v);
	}
	if (r == 0 && t->quota_set) {
		snprintf(v, sizeof(v), "%lld", cputune_quota_us(t));
		r = plan_v1tree_write(p, V1_TREE_CPU, vm_dir, d, d ? d->cfs_quota_us : NULL, "cpu.cfs_quota_us", v);
	}
	return r == 0 ? plan_v1tree_threads(h, V1_TREE_CPU, vm, p) : r;
}
