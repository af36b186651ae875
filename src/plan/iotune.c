// SPDX-License-Identifier: GPL-2.0-or-later
/* I/O weights and limits (libvirt's blkiotune) on cgroup v2: io.weight, io.bfq.weight
 * and io.max of the VM's domain cgroup, one line per disk. io is a domain controller
 * (Documentation/admin-guide/cgroup-v2.rst, "Threaded"): it cannot be set on the
 * threaded children that hold the vCPUs, so its files are those of the VM's directory
 * (kvmcg/<vm>), or, when that is a threaded tree inside the VM's own cgroup (its
 * launcher's), of that cgroup: then each line written carries the line that puts back
 * what was there, for the record. */
#include "plan/plan.h"

#include <errno.h>
#include <inttypes.h>
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
	if (h->backend != BACKEND_CGROUP_V2 && !h->v1_mounted[V1_TREE_BLKIO])
		return "[IO] (needs the io controller: no v1 hierarchy carries blkio here, and cpuset is not on cgroup v2)";
	return NULL;
}

/* What t has and req no longer gives, marked to be taken back. */
static void take_back(const struct iotune *req, struct iotune *t)
{
	if (t->weight && !req->weight)
		t->weight = IO_WEIGHT_RESET;
	for (size_t i = 0; i < t->n_dev; i++) {
		struct io_device *d = &t->dev[i];
		const struct io_device *q = iotune_find(req, d->major, d->minor);
		if (d->weight && !(q && q->weight))
			d->weight = IO_WEIGHT_RESET;
		if (d->rbps && !(q && q->rbps))
			d->rbps = IO_LIMIT_RESET;
		if (d->wbps && !(q && q->wbps))
			d->wbps = IO_LIMIT_RESET;
		if (d->riops && !(q && q->riops))
			d->riops = IO_LIMIT_RESET;
		if (d->wiops && !(q && q->wiops))
			d->wiops = IO_LIMIT_RESET;
	}
}

int plan_merge_iotune(const struct iotune *req, bool replace, struct vm_tune *tune)
{
	struct iotune *t = &tune->iotune;
	if (replace)
		take_back(req, t);
	if (req->weight)
		t->weight = req->weight;
	for (size_t i = 0; i < req->n_dev; i++) {
		const struct io_device *q = &req->dev[i];
		struct io_device *d = iotune_get(t, q->major, q->minor);
		if (!d)
			return -ENOMEM;
		/* where a weight goes is decided with the weight: a request that sets only
		 * limits says nothing of the disk's scheduler */
		if (q->weight) {
			d->weight = q->weight;
			d->bfq = q->bfq;
		}
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

/* Plans writing line to a keyed file, with what puts back what is there (have: the
 * key's line now, or NULL): cg_line_undo()'s line. */
static int push_line(enum v1_tree tree, const char *dir, const char *file, const char *line, const char *have,
		     struct plan *p)
{
	char *old = NULL;
	int r = cg_line_undo(file, have, line, &old);
	if (r == 0)
		r = plan_v1tree_push(p, tree, ACT_WRITE_LINE, dir, file, line, 0);
	if (r < 0) {
		free(old);
		return r;
	}
	p->actions[p->n_actions - 1].old = old;
	return 0;
}

/* A line of a keyed file unless current has it already; taken_back: only where
 * current has a line of its key (the kernel lists only what is set). */
static int keyed(struct plan *p, enum v1_tree tree, const char *dir, const char *file, const char *current,
		 const char *line, bool taken_back)
{
	_cleanup_free_ char *key = strndup(line, strcspn(line, " ")), *have = NULL;
	if (!key)
		return -ENOMEM;
	int r = current ? cg_line_find(current, key, &have) : 0;
	if (r < 0)
		return r;
	if ((have && strcmp(have, line) == 0) || (taken_back && !have))
		return 0;
	return push_line(tree, dir, file, line, have, p);
}

int plan_taken_back(struct plan *p, enum v1_tree tree, const char *dir, const char *file, const char *current,
		    const char *line)
{
	return keyed(p, tree, dir, file, current, line, true);
}

int plan_keyed_line(struct plan *p, enum v1_tree tree, const char *dir, const char *file, const char *current,
		    const char *line)
{
	return keyed(p, tree, dir, file, current, line, false);
}

/* io.max: only the limits dev sets, so that one a policy does not name stays as it is
 * (block/blk-throttle.c tg_set_limit() changes the keys a line gives); nothing when
 * current has them already. */
static int plan_io_max(const char *dir, const char *current, const struct io_device *dev, struct plan *p)
{
	if (!dev->rbps && !dev->wbps && !dev->riops && !dev->wiops)
		return 0;
	char key[32];
	snprintf(key, sizeof(key), "%u:%u", dev->major, dev->minor);
	_cleanup_free_ char *have_line = NULL;
	int r = current ? cg_line_find(current, key, &have_line) : 0;
	struct io_max have = {.rbps = IO_LIMIT_MAX, .wbps = IO_LIMIT_MAX, .riops = IO_LIMIT_MAX, .wiops = IO_LIMIT_MAX};
	if (r == 0 && have_line && io_max_parse_line(have_line, &have) < 0)
		have = (struct io_max){0}; /* not understood: written whatever it says */
	if (r < 0)
		return r;
	const struct {
		const char *name;
		uint64_t want, have;
	} lim[] = {{"rbps", dev->rbps, have.rbps}, {"wbps", dev->wbps, have.wbps},
		   {"riops", dev->riops, have.riops}, {"wiops", dev->wiops, have.wiops}};
	char line[160];
	size_t len = (size_t)snprintf(line, sizeof(line), "%s", key);
	bool same = true;
	for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
		if (!lim[i].want)
			continue;
		same &= lim[i].want == lim[i].have;
		if (lim[i].want == IO_LIMIT_RESET) /* taken back: IO_LIMIT_MAX, "max" */
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=max", lim[i].name);
		else
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%" PRIu64, lim[i].name, lim[i].want);
	}
	if (same)
		return 0;
	return push_line(V1_TREE_NONE, dir, "io.max", line, have_line, p);
}

int plan_iotune_files(const char *dir, const struct cgroup_dir_state *d, const struct iotune *t, struct plan *p)
{
	const char *io_max = d ? d->io_max : NULL, *io_weight = d ? d->io_weight : NULL,
		   *bfq_weight = d ? d->io_bfq_weight : NULL;
	char line[160];
	int r = 0;
	/* The default goes to io.weight only: "default N" written to io.bfq.weight drops
	 * every disk's own BFQ weight there (block/bfq-cgroup.c bfq_io_set_weight_legacy()
	 * resets them), so a BFQ disk gets its weight as a line of its own (core/iotune.c
	 * gives the VM's BFQ disks one). */
	if (t->weight) { /* taken back: the kernel's default, CGROUP_WEIGHT_DFL */
		snprintf(line, sizeof(line), "default %u", t->weight == IO_WEIGHT_RESET ? 100u : t->weight);
		r = plan_keyed_line(p, V1_TREE_NONE, dir, "io.weight", io_weight, line);
	}
	for (size_t i = 0; r == 0 && i < t->n_dev; i++) {
		const struct io_device *dev = &t->dev[i];
		if (dev->weight == IO_WEIGHT_RESET) {
			/* "MAJ:MIN default" (blk-iocost.c ioc_weight_write(), bfq-cgroup.c
			 * bfq_io_set_device_weight()), where the file has a line for it */
			snprintf(line, sizeof(line), "%u:%u default", dev->major, dev->minor);
			r = plan_taken_back(p, V1_TREE_NONE, dir, dev->bfq ? "io.bfq.weight" : "io.weight",
					    dev->bfq ? bfq_weight : io_weight, line);
		} else if (dev->weight) {
			snprintf(line, sizeof(line), "%u:%u %u", dev->major, dev->minor,
				 dev->bfq ? iotune_bfq_weight(dev->weight) : dev->weight);
			r = plan_keyed_line(p, V1_TREE_NONE, dir, dev->bfq ? "io.bfq.weight" : "io.weight",
					    dev->bfq ? bfq_weight : io_weight, line);
		}
		if (r == 0)
			r = plan_io_max(dir, io_max, dev, p);
	}
	return r;
}
