// SPDX-License-Identifier: GPL-2.0-or-later
/* The I/O step of a pin, before planning: a request's [IO] paths resolved to the whole
 * disks the io controller takes (kernel/blockdev.h), "auto" to the VM's own local
 * disks (its command line, vmm/disks.h), and, for each disk given a weight, whether
 * a weight takes effect there: BFQ carries it in io.bfq.weight, otherwise only
 * iocost does, for a disk it is enabled on. A path that has no block device under it
 * is a setting not carried out, said with the reason; so is a disk's own weight where
 * nothing would carry it (the kernel refuses it); a default weight (Weight=), which the
 * kernel takes, is written and warned about where the VM's disks would not feel it,
 * each with how to make it count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "kernel/blockdev.h"

/* "[IO] WriteBandwidthMax=/srv/vm.img (REASON)" into the request's settings not carried
 * out. 0 or -ENOMEM. */
static int io_skip(struct pin_result *res, const struct io_request *q, const char *path, const char *reason)
{
	_cleanup_free_ char *s = NULL;
	if (asprintf(&s, "[IO] %s=%s%s%s (%s)", io_limit_key(q->kind), q->path,
		     strcmp(q->path, path) != 0 ? ": " : "", strcmp(q->path, path) != 0 ? path : "", reason) < 0)
		return -ENOMEM;
	return strv_push(&res->skipped, &res->n_skipped, s);
}

/* How a weight reaches dev: 1 and dev->bfq set when BFQ carries it, 1 for iocost; 0
 * when nothing would (the kernel refuses a per-disk weight there: block/blk-cgroup.c
 * blkg_conf_prep() returns EOPNOTSUPP for a policy the disk's queue does not run),
 * with the sentence and the commands that would make it count in *ret_why; -ENOMEM. A
 * disk whose route cannot be read is tried as iocost, with a warning. */
static int io_weight_route(const struct txn_env *env, int cgroup_root_fd, const char *what, struct io_device *dev,
			   char **ret_why, struct pin_result *res)
{
	*ret_why = NULL;
	struct blockdev_weight w = {0};
	int r = blockdev_weight_check(env->sys_fd, cgroup_root_fd, dev->major, dev->minor, &w);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		txn_warn(res, "%s: cannot tell whether a weight takes effect on %u:%u: %s", what, dev->major,
			 dev->minor, strerror(-r));
		return 1;
	}
	dev->bfq = w.via == BLOCKDEV_WEIGHT_BFQ;
	r = 1;
	if (w.via == BLOCKDEV_WEIGHT_NOTHING) {
		r = asprintf(ret_why, "a weight takes no effect on %u:%u: scheduler %s, io.cost not enabled for it; to "
				      "make it count: %s",
			     dev->major, dev->minor, w.scheduler ? w.scheduler : "?", w.advice ? w.advice : "?") < 0
			    ? -ENOMEM
			    : 0;
	}
	blockdev_weight_done(&w);
	return r;
}

/* The paths one setting names: itself, or for "auto" the VM's local disks. */
static int io_paths(const struct vm *vm, const struct io_request *q, const char ***ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	size_t n = strcmp(q->path, IO_PATH_AUTO) == 0 ? vm->n_disks : 1;
	const char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	if (strcmp(q->path, IO_PATH_AUTO) != 0)
		v[k++] = q->path;
	else
		for (size_t i = 0; i < vm->n_disks; i++)
			if (vm->disks[i].local)
				v[k++] = vm->disks[i].path;
	*ret = v;
	*ret_n = k;
	return 0;
}

int txn_iotune_resolve(const struct txn_env *env, const struct vm *vm, int cgroup_root_fd,
		       const struct tune_request *req, struct iotune *ret, struct pin_result *res)
{
	struct iotune t = {.weight = req->io_weight};
	int r = 0;
	for (size_t i = 0; r == 0 && i < req->n_io; i++) {
		const struct io_request *q = &req->io[i];
		_cleanup_free_ const char **paths = NULL;
		size_t n = 0;
		r = io_paths(vm, q, &paths, &n);
		if (r == 0 && n == 0)
			r = io_skip(res, q, q->path, "the VM's command line names no local disk");
		for (size_t k = 0; r == 0 && k < n; k++) {
			struct blockdev b = {0};
			err_clear();
			int b_r = blockdev_resolve_path(env->sys_fd, paths[k], &b);
			if (b_r == -ENOMEM)
				r = b_r;
			else if (b_r < 0)
				r = io_skip(res, q, paths[k], err_get() ? err_get() : strerror(-b_r));
			if (b_r < 0)
				continue;
			struct io_device probe = {.major = b.major, .minor = b.minor};
			_cleanup_free_ char *why = NULL;
			if (q->kind == IO_DEVICE_WEIGHT) {
				char what[512];
				snprintf(what, sizeof(what), "[IO] DeviceWeight=%s (%s)", paths[k], b.chain ? b.chain : "");
				r = io_weight_route(env, cgroup_root_fd, what, &probe, &why, res);
				if (r == 0)
					r = io_skip(res, q, paths[k], why);
				if (r <= 0) {
					blockdev_done(&b);
					continue;
				}
				r = 0;
			}
			struct io_device *d = iotune_get(&t, b.major, b.minor);
			if (!d)
				r = -ENOMEM;
			else if (q->kind == IO_DEVICE_WEIGHT) {
				d->weight = (unsigned)q->value;
				d->bfq = probe.bfq;
			} else if (q->kind == IO_READ_BPS)
				d->rbps = q->value;
			else if (q->kind == IO_WRITE_BPS)
				d->wbps = q->value;
			else if (q->kind == IO_READ_IOPS)
				d->riops = q->value;
			else
				d->wiops = q->value;
			blockdev_done(&b);
		}
	}
	/* Weight= is every disk's default: where the VM's own disks would not feel it, say so */
	for (size_t i = 0; r == 0 && req->io_weight && i < vm->n_disks; i++) {
		struct blockdev b = {0};
		if (!vm->disks[i].local || blockdev_resolve_path(env->sys_fd, vm->disks[i].path, &b) < 0)
			continue;
		struct io_device probe = {.major = b.major, .minor = b.minor};
		char what[512];
		snprintf(what, sizeof(what), "[IO] Weight= on the VM's disk %s", b.chain ? b.chain : vm->disks[i].path);
		_cleanup_free_ char *why = NULL;
		r = io_weight_route(env, cgroup_root_fd, what, &probe, &why, res);
		if (r == 0)
			txn_warn(res, "%s: %s", what, why);
		r = r < 0 ? r : 0;
		blockdev_done(&b);
	}
	if (r < 0) {
		iotune_done(&t);
		return r;
	}
	*ret = t;
	return 0;
}
