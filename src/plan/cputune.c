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
	if (req->sched_set) {
		t->sched_set = true;
		t->sched_policy = req->sched_policy;
		t->sched_priority = req->sched_priority;
	}
	bool bandwidth = req->weight || req->quota_set || req->period_us;
	if (bandwidth && h->backend != BACKEND_CGROUP_V2) {
		/* On v1 the cpu controller is a hierarchy of its own; without cgroups
		 * there is nothing to write at all. */
		return strv_push(skipped, n_skipped,
				 h->backend == BACKEND_CGROUP_V1
					 ? "[CPU] Weight=/Quota=/Period= (need the cpu controller on cgroup v2; cpu is a separate v1 hierarchy here)"
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
	return 0;
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
