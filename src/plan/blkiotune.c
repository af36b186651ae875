// SPDX-License-Identifier: GPL-2.0-or-later
/* I/O weights and limits (libvirt's blkiotune) on a v1 or hybrid host: the VM's tree
 * in the v1 blkio hierarchy, beside its cpuset tree, one cgroup holding every thread
 * of the VM (plan/v1tree.c), whatever the cpuset tree's place.
 *
 * The throttle's files take "MAJ:MIN VALUE", bytes or I/Os per second, 0 meaning no
 * limit (block/blk-throttle.c tg_set_conf(): U64_MAX, or UINT_MAX for I/Os, which the
 * kernel keeps in an unsigned int), and show only the devices that have a limit
 * (tg_prfill_conf_u64()). BFQ's blkio.bfq.weight_device takes "MAJ:MIN WEIGHT", 1 to
 * 1000, or "MAJ:MIN default" (block/bfq-cgroup.c bfq_io_set_device_weight(); BFQ_MIN_WEIGHT,
 * BFQ_MAX_WEIGHT in bfq-iosched.h), and shows "default N" then one line per disk
 * (bfq_io_show_weight()). BFQ's default, blkio.bfq.weight, is never written: the kernel
 * drops every disk's own weight with it (bfq_io_set_weight_legacy() sets each group's
 * weight with dev_weight 0), so a Weight= reaches the VM's BFQ disks as lines of their
 * own (core/iotune.c), as on v2. CFQ's blkio.weight_device went with CFQ in Linux 5.0
 * (block/cfq-iosched.c, removed by "block: remove legacy IO schedulers"). */
#include "plan/plan.h"

#include <inttypes.h>
#include <stdio.h>

#include "basic/util.h"
#include "plan/plan-internal.h"

const char *blkio_file_name(enum blkio_file f)
{
	static const char *const names[BLKIO_FILE_N] = {
		[BLKIO_READ_BPS] = "blkio.throttle.read_bps_device",
		[BLKIO_WRITE_BPS] = "blkio.throttle.write_bps_device",
		[BLKIO_READ_IOPS] = "blkio.throttle.read_iops_device",
		[BLKIO_WRITE_IOPS] = "blkio.throttle.write_iops_device",
		[BLKIO_BFQ_WEIGHT] = "blkio.bfq.weight",
		[BLKIO_BFQ_WEIGHT_DEVICE] = "blkio.bfq.weight_device",
		[BLKIO_WEIGHT] = "blkio.weight",
		[BLKIO_WEIGHT_DEVICE] = "blkio.weight_device",
	};
	return (unsigned)f < BLKIO_FILE_N ? names[f] : NULL;
}

int plan_v1blkio(const struct plan_host *h, const struct vm *vm, const struct iotune *t, struct plan *p)
{
	const struct cgroup_dir_state *d;
	int r = plan_v1tree_begin(h, V1_TREE_BLKIO, p, &d);
	if (r <= 0)
		return r;
	const char *vm_dir = h->v1[V1_TREE_BLKIO].vm_dir;
	char line[64];
	r = 0;
	for (size_t i = 0; r == 0 && i < t->n_dev; i++) {
		const struct io_device *dev = &t->dev[i];
		const struct {
			enum blkio_file file;
			uint64_t value;
		} lines[] = {
			/* a weight that is not BFQ's has no v1 file: core/iotune.c names it */
			{BLKIO_BFQ_WEIGHT_DEVICE, dev->bfq && dev->weight == IO_WEIGHT_RESET ? IO_LIMIT_RESET
						  : dev->bfq && dev->weight ? iotune_bfq_weight(dev->weight)
									    : 0},
			{BLKIO_READ_BPS, dev->rbps},
			{BLKIO_WRITE_BPS, dev->wbps},
			{BLKIO_READ_IOPS, dev->riops},
			{BLKIO_WRITE_IOPS, dev->wiops},
		};
		for (size_t k = 0; r == 0 && k < ARRAY_SIZE(lines); k++) {
			if (!lines[k].value)
				continue;
			const char *cur = d ? d->blkio[lines[k].file] : NULL;
			if (lines[k].value == IO_LIMIT_RESET) { /* taken back, where the file has it */
				snprintf(line, sizeof(line), "%u:%u %s", dev->major, dev->minor,
					 lines[k].file == BLKIO_BFQ_WEIGHT_DEVICE ? "default" : "0");
				r = plan_taken_back(p, V1_TREE_BLKIO, vm_dir, blkio_file_name(lines[k].file), cur, line);
				continue;
			}
			snprintf(line, sizeof(line), "%u:%u %" PRIu64, dev->major, dev->minor, lines[k].value);
			r = plan_keyed_line(p, V1_TREE_BLKIO, vm_dir, blkio_file_name(lines[k].file), cur, line);
		}
	}
	return r == 0 ? plan_v1tree_threads(h, V1_TREE_BLKIO, vm, p) : r;
}
