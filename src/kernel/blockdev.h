/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Block devices as the cgroup io controller names them: a path (a device node, a
 * disk image) resolved to the MAJ:MIN of the whole disk, device-mapper or loop
 * device that carries it, through sysfs; the device's I/O scheduler and whether an
 * I/O weight can take effect on it; and the text of the io controller's files
 * (io.max, io.weight, v1 blkio.throttle.* and blkio.weight_device), pure.
 *
 * Every sysfs read is relative to a dirfd of the sysfs root (/sys, or a captured
 * tree), each file opened with O_NOFOLLOW|O_CLOEXEC. sysfs names a device by links
 * (/sys/dev/block/M:m and /sys/class/block/NAME point into /sys/devices); those are
 * read with readlinkat(2) and never followed: the target must be "../../devices/"
 * and components other than ".", ".." and "", and the directory is then opened one
 * component at a time from the root's dirfd with O_NOFOLLOW, so no link can lead
 * outside the tree. */
#ifndef KVMCG_BLOCKDEV_H
#define KVMCG_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blockdev {
	unsigned major, minor; /* the device io.max and io.weight take: a whole disk
				* (sda, nvme0n1, vda), a device-mapper device (dm-0) or a
				* loop device (loop0); never a partition */
	char *name;            /* its kernel name: "sda", "dm-0", "loop0" */
	char *chain;           /* how the path reaches it, for the user:
				* "/var/lib/vm.qcow2 (ext4) on /dev/dm-0 (vg-root) on
				* /dev/sda2, partition of /dev/sda" */
};
void blockdev_done(struct blockdev *b);

/* The device a path's I/O goes to, as the io controller takes it.
 *  - A block device node: its st_rdev. A partition resolves to its whole disk
 *    (/sys/dev/block/M:m/partition exists: the directory above is the disk's), since
 *    the io controller refuses partitions: block/blk-cgroup.c blkg_conf_open_bdev()
 *    returns -ENODEV when bdev_is_partition(bdev) (its older forms,
 *    blkcg_conf_open_bdev() and before it blkcg_conf_get_disk() with its
 *    "if (part) return ERR_PTR(-ENODEV)", did the same), for io.max, io.weight,
 *    io.cost.qos and v1 blkio.throttle.* alike. t-blockdev.sh sees the kernel
 *    refuse a partition's line.
 *  - Any other file (a disk image, a directory): the device its filesystem is on
 *    (st_dev), a partition resolved to its disk likewise.
 * The device written is the top one: the disk, dm or loop device the filesystem sits
 * on, not the disks below a dm or loop device. blk-throttle hooks every bio in
 * block/blk-core.c submit_bio_noacct() (blk_throtl_bio()), before the queue's kind
 * matters, so bio-based dm and loop devices are throttled as any gendisk, and the
 * top device sees the VM's I/O once, before dm splits or remaps it. (What dm sends
 * on stays the VM's cgroup's: block/bio.c __bio_clone() calls
 * bio_clone_blkg_association(); a limit on a disk below would count it again,
 * shared with everything else on that disk.) What lies below a dm (slaves/,
 * dm/name) or loop device (loop/backing_file) is only described in chain.
 * 0 and *ret (blockdev_done); -ENODEV with a sentence (err_set) for a file on a
 * filesystem without a block device (st_dev major 0: tmpfs, overlay, NFS, 9p, fuse,
 * btrfs's anonymous device; btrfs names its devices from
 * /sys/fs/btrfs/UUID/devices); -ENOTBLK for a character device or socket; stat's
 * errno (-ENOENT); -ENOENT also when sysfs has no such device; -EINVAL for a sysfs
 * link of an unexpected shape; -ENOMEM.
 * path itself is followed as the user names it (/dev/disk/by-id/... and
 * /dev/mapper/NAME are links); only the links inside sysfs are held to the shape
 * the file's header says. */
int blockdev_resolve_path(int sysfs_fd, const char *path, struct blockdev *ret);

/* The same from a device number: a partition to its disk, the chain written as
 * "[what ][(fs) ]on /dev/NAME..." (what: the path the number came from, or NULL;
 * fs: its filesystem type, or NULL). For the tests over captured trees, and for
 * callers that hold a number. Errors as above (-ENOENT: no /sys/dev/block/M:m). */
int blockdev_resolve_devnum(int sysfs_fd, unsigned major, unsigned minor, const char *what, const char *fs,
			    struct blockdev *ret);

/* statfs(2)'s f_type as a name: "tmpfs", "overlay", "nfs", "9p", "fuse", "btrfs",
 * "ext4" (ext2/3/4 share the magic), "xfs", ...; NULL for one not known here.
 * Magics from include/uapi/linux/magic.h. */
const char *blockdev_fs_name(long f_type);

/* The kernel names of a btrfs filesystem's devices: the entries of
 * /sys/fs/btrfs/UUID/devices (fs/btrfs/sysfs.c btrfs_sysfs_add_device(): one link
 * per device, named as the device), uuid as "xxxxxxxx-xxxx-...". *ret
 * NULL-terminated, sorted. 0, -EINVAL (uuid not hex digits and dashes), -ENOENT (no
 * such filesystem), opendir's errno, -ENOMEM. */
int blockdev_btrfs_devices(int sysfs_fd, const char *uuid, char ***ret, size_t *ret_n);

/* The active scheduler in a queue/scheduler text: the bracketed word of
 * "mq-deadline kyber [bfq] none"; "none" for "none" alone or "[none] ..."
 * (block/elevator.c elv_iosched_show()). A copy in *ret. 0, -EINVAL when no word
 * is bracketed and the text is not "none", -ENOMEM. */
int blockdev_scheduler_parse(const char *buf, char **ret);

/* Whether an io.cost.qos text (the v2 root cgroup's, one line per configured
 * device: "8:16 enable=1 ctrl=auto rpct=..." from block/blk-iocost.c
 * ioc_qos_prfill()) has iocost enabled for major:minor. */
bool blockdev_iocost_enabled(const char *io_cost_qos, unsigned major, unsigned minor);

enum blockdev_weight_via {
	BLOCKDEV_WEIGHT_BFQ,     /* the BFQ scheduler: io.bfq.weight (v2), blkio.bfq.weight (v1) */
	BLOCKDEV_WEIGHT_IOCOST,  /* v2 io.weight, with iocost enabled for the device */
	BLOCKDEV_WEIGHT_NOTHING, /* a weight written would be accepted and do nothing */
};

struct blockdev_weight {
	char *scheduler;               /* the active one: "bfq", "mq-deadline", "none" */
	enum blockdev_weight_via via;
	const char *file;              /* the cgroup file that carries the weight, NULL for NOTHING */
	char *advice;                  /* NOTHING: what would make a weight take effect, as
					* commands; NULL otherwise */
};
void blockdev_weight_done(struct blockdev_weight *w);

/* How an I/O weight can take effect on a device (a whole disk, dm or loop device as
 * blockdev_resolve_* gives it): its active scheduler from
 * /sys/dev/block/M:m/queue/scheduler; BFQ carries weights itself (block/bfq-cgroup.c
 * registers io.bfq.weight, and blkio.bfq.weight on v1); otherwise only iocost does,
 * on v2 (block/blk-iocost.c registers io.weight), and only for a device whose line
 * in the root cgroup's io.cost.qos says enable=1. cgroup_root_fd: a dirfd of the v2
 * hierarchy's root, or -1 on v1 (iocost has no v1 file). A device-mapper device is
 * bio-based and has no scheduler, and ioc_qos_write() refuses it (EOPNOTSUPP when
 * !queue_is_mq()): the advice names the devices below it instead.
 * 0 and *ret (blockdev_weight_done); -ENOENT when sysfs has no such device or queue;
 * the read's errno; -EINVAL for a scheduler text not understood; -ENOMEM. A missing
 * io.cost.qos (a kernel without CONFIG_BLK_CGROUP_IOCOST) reads as not enabled. */
int blockdev_weight_check(int sysfs_fd, int cgroup_root_fd, unsigned major, unsigned minor,
			  struct blockdev_weight *ret);

/* io.max: one line per device, "8:16 rbps=10485760 wbps=max riops=max wiops=max"
 * (block/blk-throttle.c tg_prfill_limit(), tg_set_limit()). Bytes per second and
 * I/Os per second; IO_LIMIT_MAX is "max", no limit. */
#define IO_LIMIT_MAX UINT64_MAX
struct io_max {
	unsigned major, minor;
	uint64_t rbps, wbps, riops, wiops;
};
/* The line as io.max shows it and takes it, without a newline. NULL when out of memory. */
char *io_max_format(const struct io_max *m);
/* One line; keys may come in any order and any may be missing (then max), as
 * tg_set_limit() takes them. 0, -EINVAL (not MAJ:MIN, an unknown key, a value not a
 * number or "max"). */
int io_max_parse_line(const char *line, struct io_max *ret);
/* A cgroup's whole io.max text: what is set, for restoring it later. A device the
 * kernel lists has at least one limit. *ret NULL when the text is empty. 0, -EINVAL
 * with the line in a sentence (err_set), -ENOMEM. */
int io_max_parse(const char *buf, struct io_max **ret, size_t *ret_n);

/* io.weight (iocost, v2) and io.bfq.weight: "default 100" and "8:16 200", weights
 * 1..10000 (block/blk-iocost.c ioc_weight_write(), CGROUP_WEIGHT_MIN/MAX). */
struct io_weight {
	bool is_default;       /* the "default" line; major and minor unused */
	unsigned major, minor;
	unsigned weight;
};
char *io_weight_format(const struct io_weight *w);
/* 0, -EINVAL (no "default" or MAJ:MIN, a weight out of 1..10000). */
int io_weight_parse_line(const char *line, struct io_weight *ret);
/* A whole io.weight text; "default 100\n8:16 200\n". 0, -EINVAL with a sentence, -ENOMEM. */
int io_weight_parse(const char *buf, struct io_weight **ret, size_t *ret_n);

/* v1: blkio.throttle.{read,write}_{bps,iops}_device and blkio.weight_device /
 * blkio.bfq.weight_device, one "8:16 10485760" per device (bytes or I/Os per second,
 * or a weight). Writing 0 removes a throttle limit (block/blk-throttle.c
 * tg_set_conf(): 0 means "no limit"). */
struct io_dev_value {
	unsigned major, minor;
	uint64_t value;
};
char *io_dev_value_format(const struct io_dev_value *v);
/* 0, -EINVAL. */
int io_dev_value_parse_line(const char *line, struct io_dev_value *ret);
/* A whole file's text; *ret NULL when empty. 0, -EINVAL with a sentence, -ENOMEM. */
int io_dev_value_parse(const char *buf, struct io_dev_value **ret, size_t *ret_n);

#endif
