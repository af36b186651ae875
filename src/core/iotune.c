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
#include "kernel/procfs.h"

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
		r = asprintf(ret_why, "a weight takes no effect on %u:%u: scheduler %s, %s; to make it count: %s",
			     dev->major, dev->minor, w.scheduler ? w.scheduler : "?",
			     cgroup_root_fd >= 0 ? "io.cost not enabled for it" : "and cgroup v1 has no iocost",
			     w.advice ? w.advice : "?") < 0
			    ? -ENOMEM
			    : 0;
	}
	blockdev_weight_done(&w);
	return r;
}

/* The path to stat for a disk as the VM's command line names it: itself when absolute;
 * a relative one was opened from QEMU's working directory at the time, which may have
 * changed since (-daemonize goes to /), so it is the file QEMU holds open whose path
 * ends in it, as /proc/PID/fd/N (0), or none (-ENOENT). -ENOMEM. */
struct fd_match {
	const char *suffix;
	int fd;
};
static int match_fd(int fd, const char *target, void *userdata)
{
	struct fd_match *m = userdata;
	size_t tl = strlen(target), sl = strlen(m->suffix);
	if (m->fd < 0 && tl > sl && target[tl - sl - 1] == '/' && strcmp(target + tl - sl, m->suffix) == 0)
		m->fd = fd;
	return 0;
}
static int disk_path(const struct txn_env *env, const struct vm *vm, const char *path, char **ret)
{
	if (path[0] == '/')
		return (*ret = strdup(path)) ? 0 : -ENOMEM;
	struct fd_match m = {.suffix = path + (strncmp(path, "./", 2) == 0 ? 2 : 0), .fd = -1};
	int r = proc_foreach_fd(env->proc_fd, vm->pid, match_fd, &m);
	if (r < 0 || m.fd < 0)
		return r == -ENOMEM ? r : -ENOENT;
	return asprintf(ret, "/proc/%d/fd/%d", (int)vm->pid, m.fd) < 0 ? -ENOMEM : 0;
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

/* Which setting gave each field of each disk, so that two that give one disk two
 * values are refused rather than the last one winning. */
struct given {
	unsigned major, minor;
	enum io_limit_kind kind;
	const struct io_request *by;
};

/* Sets one field of t's entry for b from q, unless another setting gave it another
 * value: then -EINVAL with both named. */
static int io_set(struct iotune *t, struct given **given, size_t *n_given, const struct blockdev *b,
		  const struct io_request *q, bool bfq)
{
	for (size_t i = 0; i < *n_given; i++) {
		const struct given *g = &(*given)[i];
		if (g->major != b->major || g->minor != b->minor || g->kind != q->kind)
			continue;
		if (g->by->value == q->value)
			return 0;
		err_set("[IO] %s=%s (line %u) and %s=%s (line %u) give disk %u:%u (%s) two values, %llu and %llu; a "
			"disk takes one",
			io_limit_key(g->by->kind), g->by->path, g->by->line, io_limit_key(q->kind), q->path, q->line,
			b->major, b->minor, b->name ? b->name : "?", (unsigned long long)g->by->value,
			(unsigned long long)q->value);
		return -EINVAL;
	}
	struct given *n = realloc(*given, (*n_given + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	*given = n;
	n[(*n_given)++] = (struct given){b->major, b->minor, q->kind, q};
	struct io_device *d = iotune_get(t, b->major, b->minor);
	if (!d)
		return -ENOMEM;
	if (q->kind == IO_DEVICE_WEIGHT) {
		d->weight = (unsigned)q->value;
		d->bfq = bfq;
	} else if (q->kind == IO_READ_BPS)
		d->rbps = q->value;
	else if (q->kind == IO_WRITE_BPS)
		d->wbps = q->value;
	else if (q->kind == IO_READ_IOPS)
		d->riops = q->value;
	else
		d->wiops = q->value;
	return 0;
}

/* One path of one setting: resolved, checked, set. */
static int io_one(const struct txn_env *env, const struct vm *vm, int cgroup_root_fd, const struct io_request *q,
		  const char *path, struct iotune *t, struct given **given, size_t *n_given, struct pin_result *res)
{
	_cleanup_free_ char *at = NULL;
	int r = disk_path(env, vm, path, &at);
	if (r == -ENOENT)
		return io_skip(res, q, path, "a relative path, and QEMU holds no file open by that name");
	if (r < 0)
		return r;
	struct blockdev b = {0};
	err_clear();
	r = blockdev_resolve_path(env->sys_fd, at, &b);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return io_skip(res, q, path, err_get() ? err_get() : strerror(-r));
	struct io_device probe = {.major = b.major, .minor = b.minor};
	if (q->kind == IO_DEVICE_WEIGHT) {
		char what[512];
		_cleanup_free_ char *why = NULL;
		snprintf(what, sizeof(what), "[IO] DeviceWeight=%s (%s)", path, b.chain ? b.chain : "");
		r = io_weight_route(env, cgroup_root_fd, what, &probe, &why, res);
		if (r == 0)
			r = io_skip(res, q, path, why);
		if (r <= 0) {
			blockdev_done(&b);
			return r;
		}
	}
	r = io_set(t, given, n_given, &b, q, probe.bfq);
	blockdev_done(&b);
	return r;
}

/* Weight= is every disk's default, io.weight's "default" line. A BFQ disk takes it as
 * a line of its own in io.bfq.weight (plan/iotune.c says why), unless a DeviceWeight=
 * gave it one; where a disk of the VM would feel neither, say so. */
static int io_default_weight(const struct txn_env *env, const struct vm *vm, int cgroup_root_fd,
			     const struct tune_request *req, struct iotune *t, struct pin_result *res)
{
	int r = 0;
	for (size_t i = 0; r == 0 && req->io_weight && i < vm->n_disks; i++) {
		_cleanup_free_ char *at = NULL;
		struct blockdev b = {0};
		if (!vm->disks[i].local || disk_path(env, vm, vm->disks[i].path, &at) < 0 ||
		    blockdev_resolve_path(env->sys_fd, at, &b) < 0)
			continue;
		struct io_device probe = {.major = b.major, .minor = b.minor};
		char what[512];
		snprintf(what, sizeof(what), "[IO] Weight= on the VM's disk %s", b.chain ? b.chain : vm->disks[i].path);
		_cleanup_free_ char *why = NULL;
		r = io_weight_route(env, cgroup_root_fd, what, &probe, &why, res);
		if (r == 0)
			txn_warn(res, "%s: %s", what, why);
		struct io_device *d = r > 0 && probe.bfq ? iotune_get(t, b.major, b.minor) : NULL;
		if (r > 0 && probe.bfq && !d)
			r = -ENOMEM;
		if (d && !d->weight) {
			d->weight = req->io_weight;
			d->bfq = true;
		}
		r = r < 0 ? r : 0;
		blockdev_done(&b);
	}
	return r;
}

int txn_iotune_resolve(const struct txn_env *env, const struct vm *vm, int cgroup_root_fd,
		       const struct tune_request *req, struct iotune *ret, struct pin_result *res)
{
	struct iotune t = {.weight = req->io_weight};
	_cleanup_free_ struct given *given = NULL;
	size_t n_given = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < req->n_io; i++) {
		const struct io_request *q = &req->io[i];
		_cleanup_free_ const char **paths = NULL;
		size_t n = 0;
		r = io_paths(vm, q, &paths, &n);
		if (r == 0 && n == 0)
			r = io_skip(res, q, q->path, "the VM's command line names no local disk");
		for (size_t k = 0; r == 0 && k < n; k++)
			r = io_one(env, vm, cgroup_root_fd, q, paths[k], &t, &given, &n_given, res);
	}
	if (r == 0)
		r = io_default_weight(env, vm, cgroup_root_fd, req, &t, res);
	if (r < 0) {
		iotune_done(&t);
		return r;
	}
	*ret = t;
	return 0;
}

int txn_iotune_v1_default(struct iotune *t, struct pin_result *res)
{
	unsigned weight = t->weight;
	t->weight = 0;
	for (size_t i = 0; weight && i < t->n_dev; i++)
		if (t->dev[i].bfq && t->dev[i].weight)
			return 0;
	return !weight ? 0
		       : strv_push(&res->skipped, &res->n_skipped,
				   "[IO] Weight= (on cgroup v1 only BFQ carries a weight, and none of the VM's disks "
				   "has BFQ as its scheduler; blkio.bfq.weight, BFQ's default, is not written: the "
				   "kernel drops every disk's own weight with it)");
}
