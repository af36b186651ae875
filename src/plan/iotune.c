// SPDX-License-Identifier: GPL-2.0-or-later
/* I/O weights and limits (libvirt's blkiotune) on cgroup v2: io.weight, io.bfq.weight
 * and io.max of the VM's domain cgroup, one line per disk. io is a domain controller
 * (Documentation/admin-guide/cgroup-v2.rst, "Threaded"): it cannot be set on the
 * threaded children that hold the vCPUs, so its files are the VM's directory's. */
#include "plan/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "kernel/blockdev.h"
#include "plan/plan-internal.h"

const char *plan_iotune_unsupported(const struct plan_host *h)
{
	if (h->backend == BACKEND_AFFINITY)
		return "[IO] (needs a cgroup; none is used in affinity mode)";
	if (h->backend != BACKEND_CGROUP_V2)
		return "[IO] (needs the io controller on cgroup v2; blkio is a separate v1 hierarchy here)";
	if (h->vm_threaded)
		return "[IO] (the VM's domain cgroup is its launcher's, where kvmcg does not yet put io settings "
		       "back at unpin; pin it with --cgroup-root to give it a cgroup of kvmcg's)";
	return NULL;
}

int plan_merge_iotune(const struct iotune *req, struct vm_tune *tune)
{
	struct iotune *t = &tune->iotune;
	if (req->weight)
		t->weight = req->weight;
	for (size_t i = 0; i < req->n_dev; i++) {
		const struct io_device *q = &req->dev[i];
		struct io_device *d = iotune_get(t, q->major, q->minor);
		if (!d)
			return -ENOMEM;
		d->bfq = q->bfq;
		if (q->weight)
			d->weight = q->weight;
		if (q->rbps)
			d->rbps = q->rbps;
		if (q->wbps)
			d->wbps = q->wbps;
		if (q->riops)
			d->riops = q->riops;
		if (q->wiops)
			d->wiops = q->wiops;
	}
	return 0;
}

/* The line of io.max for d, as the kernel prints it (all four limits, "max" where
 * none: blockdev.h io_max_format()), or NULL when d limits nothing (*ret_r: 0) or out
 * of memory (*ret_r: -ENOMEM). */
static char *io_max_line(const struct io_device *d, int *ret_r)
{
	*ret_r = 0;
	if (!d->rbps && !d->wbps && !d->riops && !d->wiops)
		return NULL;
#define LIM(v) ((v) ? (v) : IO_LIMIT_MAX)
	const struct io_max m = {.major = d->major, .minor = d->minor, .rbps = LIM(d->rbps), .wbps = LIM(d->wbps),
				 .riops = LIM(d->riops), .wiops = LIM(d->wiops)};
#undef LIM
	char *line = io_max_format(&m);
	if (!line)
		*ret_r = -ENOMEM;
	return line;
}

/* Plans one line of a keyed file unless current already has it. */
static int plan_line(const char *dir, const char *file, const char *current, const char *line, struct plan *p)
{
	_cleanup_free_ char *key = strndup(line, strcspn(line, " ")), *have = NULL;
	if (!key)
		return -ENOMEM;
	int r = current ? cg_line_find(current, key, &have) : 0;
	if (r < 0)
		return r;
	if (have && strcmp(have, line) == 0)
		return 0;
	return plan_push(p, ACT_WRITE_LINE, dir, file, line, 0, NULL);
}

int plan_iotune_files(const char *dir, const struct cgroup_dir_state *d, const struct iotune *t, struct plan *p)
{
	const char *io_max = d ? d->io_max : NULL, *io_weight = d ? d->io_weight : NULL,
		   *bfq_weight = d ? d->io_bfq_weight : NULL;
	char line[160];
	int r = 0;
	if (t->weight) {
		snprintf(line, sizeof(line), "default %u", t->weight);
		r = plan_line(dir, "io.weight", io_weight, line, p);
		/* BFQ keeps weights of its own; its file is there when BFQ is loaded */
		if (r == 0 && bfq_weight)
			r = plan_line(dir, "io.bfq.weight", bfq_weight, line, p);
	}
	for (size_t i = 0; r == 0 && i < t->n_dev; i++) {
		const struct io_device *dev = &t->dev[i];
		if (dev->weight) {
			snprintf(line, sizeof(line), "%u:%u %u", dev->major, dev->minor, dev->weight);
			r = plan_line(dir, dev->bfq ? "io.bfq.weight" : "io.weight", dev->bfq ? bfq_weight : io_weight,
				      line, p);
		}
		_cleanup_free_ char *max = r == 0 ? io_max_line(dev, &r) : NULL;
		if (max)
			r = plan_line(dir, "io.max", io_max, max, p);
	}
	return r;
}
