// SPDX-License-Identifier: GPL-2.0-or-later
/* blockdev: resolution and schedulers over a made-up sysfs tree
 * (tests/fixtures/sysfs-block-host/make.sh: a SATA disk with two partitions, LVM and
 * dm-crypt on it, an NVMe disk, a loop device with a partition, a btrfs filesystem),
 * the paths of this host that need nothing (tmpfs, /dev/null), and the io
 * controller's file formats. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/blockdev.h"

#define TREE FIXTURES "/sysfs-block-host"

static int sysfs_fd = -1, cgroup_fd = -1;

static void open_tree(void)
{
	sysfs_fd = open(TREE "/sys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cgroup_fd = open(TREE "/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(sysfs_fd, 0);
	cr_assert_geq(cgroup_fd, 0);
	err_clear();
}

static void close_tree(void)
{
	close(sysfs_fd);
	close(cgroup_fd);
}

TestSuite(blockdev, .init = open_tree, .fini = close_tree);

static void expect(unsigned ma, unsigned mi, const char *what, const char *fs, unsigned want_ma, unsigned want_mi,
		   const char *want_name, const char *want_chain)
{
	struct blockdev b;
	int r = blockdev_resolve_devnum(sysfs_fd, ma, mi, what, fs, &b);
	cr_assert_eq(r, 0, "%u:%u: %d (%s)", ma, mi, r, err_get() ? err_get() : "");
	cr_expect_eq(b.major, want_ma, "%u:%u major %u", ma, mi, b.major);
	cr_expect_eq(b.minor, want_mi, "%u:%u minor %u", ma, mi, b.minor);
	cr_expect_str_eq(b.name, want_name);
	cr_expect_str_eq(b.chain, want_chain);
	blockdev_done(&b);
}

Test(blockdev, whole_disk_is_itself)
{
	expect(8, 0, NULL, NULL, 8, 0, "sda", "/dev/sda");
	expect(259, 0, NULL, NULL, 259, 0, "nvme0n1", "/dev/nvme0n1");
}

Test(blockdev, partition_resolves_to_its_disk)
{
	expect(8, 2, NULL, NULL, 8, 0, "sda", "/dev/sda2, partition of /dev/sda");
	expect(259, 1, NULL, NULL, 259, 0, "nvme0n1", "/dev/nvme0n1p1, partition of /dev/nvme0n1");
}

Test(blockdev, image_on_a_partition)
{
	expect(8, 1, "/var/lib/vm/disk.qcow2", "ext4", 8, 0, "sda",
	       "/var/lib/vm/disk.qcow2 (ext4) on /dev/sda1, partition of /dev/sda");
}

Test(blockdev, dm_is_written_and_its_slaves_described)
{
	expect(253, 0, "/srv/vm.img", "xfs", 253, 0, "dm-0",
	       "/srv/vm.img (xfs) on /dev/dm-0 (vg-root) on /dev/sda2, partition of /dev/sda");
	expect(253, 1, NULL, NULL, 253, 1, "dm-1",
	       "/dev/dm-1 (luks-data) on /dev/dm-0 (vg-root) on /dev/sda2, partition of /dev/sda");
}

Test(blockdev, loop_and_its_partition)
{
	expect(7, 0, NULL, NULL, 7, 0, "loop0", "/dev/loop0 (backing file /var/lib/images/disk.img)");
	expect(259, 2, "/mnt/x", NULL, 7, 0, "loop0",
	       "/mnt/x on /dev/loop0p1, partition of /dev/loop0 (backing file /var/lib/images/disk.img)");
}

Test(blockdev, unknown_device_and_bad_links)
{
	struct blockdev b;
	cr_expect_eq(blockdev_resolve_devnum(sysfs_fd, 8, 64, NULL, NULL, &b), -ENOENT);
	cr_expect(err_get() && strstr(err_get(), "8:64"), "%s", err_get() ? err_get() : "(none)");
	cr_expect_eq(blockdev_resolve_devnum(sysfs_fd, 1, 99, NULL, NULL, &b), -EINVAL);
	cr_expect_eq(blockdev_resolve_devnum(sysfs_fd, 1, 98, NULL, NULL, &b), -EINVAL);
}

Test(blockdev, path_of_a_block_node_and_of_tmpfs)
{
	/* /dev/null: a character device */
	struct blockdev b;
	cr_expect_eq(blockdev_resolve_path(sysfs_fd, "/dev/null", &b), -ENOTBLK);
	cr_expect_eq(blockdev_resolve_path(sysfs_fd, "/nonexistent/kvmcg", &b), -ENOENT);
	/* /dev/shm is tmpfs on every Linux with glibc's shm_open; skip where it is not */
	err_clear();
	int r = blockdev_resolve_path(sysfs_fd, "/dev/shm", &b);
	if (r == 0) {
		blockdev_done(&b);
		cr_skip_test("/dev/shm has a block device here");
	}
	cr_expect_eq(r, -ENODEV);
	cr_expect(err_get() && strstr(err_get(), "tmpfs") && strstr(err_get(), "no io setting"), "%s",
		  err_get() ? err_get() : "(none)");
}

Test(blockdev, fs_names)
{
	cr_expect_str_eq(blockdev_fs_name(0x01021994), "tmpfs");
	cr_expect_str_eq(blockdev_fs_name(0x794c7630), "overlay");
	cr_expect_str_eq(blockdev_fs_name(0x6969), "nfs");
	cr_expect_str_eq(blockdev_fs_name(0x01021997), "9p");
	cr_expect_str_eq(blockdev_fs_name(0x9123683E), "btrfs");
	cr_expect_str_eq(blockdev_fs_name((long)(int)0x9123683E), "btrfs"); /* a 32-bit f_type, sign-extended */
	cr_expect_str_eq(blockdev_fs_name(0x65735546), "fuse");
	cr_expect_null(blockdev_fs_name(0x12345678));
}

Test(blockdev, btrfs_devices)
{
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	cr_assert_eq(blockdev_btrfs_devices(sysfs_fd, "0c2b7f5e-3a1d-4e8b-9f6a-2d4c8e1b7a90", &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0], "nvme0n1p1");
	cr_expect_str_eq(v[1], "sda1");
	cr_expect_eq(blockdev_btrfs_devices(sysfs_fd, "00000000-0000-0000-0000-000000000000", &v, &n), -ENOENT);
	cr_expect_eq(blockdev_btrfs_devices(sysfs_fd, "../../etc", &v, &n), -EINVAL);
	cr_expect_eq(blockdev_btrfs_devices(sysfs_fd, "..", &v, &n), -EINVAL);
	cr_expect_eq(blockdev_btrfs_devices(sysfs_fd, "", &v, &n), -EINVAL);
}

Test(blockdev, scheduler_parse)
{
	char *s;
	cr_assert_eq(blockdev_scheduler_parse("mq-deadline kyber [bfq] none\n", &s), 0);
	cr_expect_str_eq(s, "bfq");
	free(s);
	cr_assert_eq(blockdev_scheduler_parse("[none] mq-deadline kyber bfq \n", &s), 0);
	cr_expect_str_eq(s, "none");
	free(s);
	cr_assert_eq(blockdev_scheduler_parse("none\n", &s), 0);
	cr_expect_str_eq(s, "none");
	free(s);
	cr_expect_eq(blockdev_scheduler_parse("mq-deadline kyber\n", &s), -EINVAL);
	cr_expect_eq(blockdev_scheduler_parse("[] x", &s), -EINVAL);
	cr_expect_eq(blockdev_scheduler_parse("", &s), -EINVAL);
}

Test(blockdev, iocost_enabled)
{
	const char *qos = "259:0 enable=1 ctrl=auto rpct=0.00\n8:0 enable=0 ctrl=auto\n8:16 ctrl=user enable=1\n";
	cr_expect(blockdev_iocost_enabled(qos, 259, 0));
	cr_expect_not(blockdev_iocost_enabled(qos, 8, 0));
	cr_expect(blockdev_iocost_enabled(qos, 8, 16));
	cr_expect_not(blockdev_iocost_enabled(qos, 8, 1));
	cr_expect_not(blockdev_iocost_enabled(qos, 25, 90)); /* not "259:0" */
	cr_expect_not(blockdev_iocost_enabled("", 8, 0));
}

static void expect_weight(int cg, unsigned ma, unsigned mi, const char *sched, enum blockdev_weight_via via,
			  const char *file, const char *advice)
{
	struct blockdev_weight w;
	int r = blockdev_weight_check(sysfs_fd, cg, ma, mi, &w);
	cr_assert_eq(r, 0, "%u:%u: %d (%s)", ma, mi, r, err_get() ? err_get() : "");
	cr_expect_str_eq(w.scheduler, sched);
	cr_expect_eq(w.via, via, "%u:%u via %d", ma, mi, (int)w.via);
	if (file)
		cr_expect_str_eq(w.file, file);
	else
		cr_expect_null(w.file);
	if (advice)
		cr_expect_str_eq(w.advice, advice);
	else
		cr_expect_null(w.advice);
	blockdev_weight_done(&w);
}

Test(blockdev, weights)
{
	expect_weight(cgroup_fd, 8, 0, "bfq", BLOCKDEV_WEIGHT_BFQ, "io.bfq.weight", NULL);
	expect_weight(-1, 8, 0, "bfq", BLOCKDEV_WEIGHT_BFQ, "blkio.bfq.weight", NULL);
	expect_weight(cgroup_fd, 259, 0, "none", BLOCKDEV_WEIGHT_IOCOST, "io.weight", NULL);
	expect_weight(cgroup_fd, 7, 0, "none", BLOCKDEV_WEIGHT_NOTHING, NULL,
		      "echo \"7:0 enable=1\" > /sys/fs/cgroup/io.cost.qos (iocost), or "
		      "echo bfq > /sys/block/loop0/queue/scheduler");
	expect_weight(-1, 259, 0, "none", BLOCKDEV_WEIGHT_NOTHING, NULL,
		      "echo bfq > /sys/block/nvme0n1/queue/scheduler");
	expect_weight(cgroup_fd, 253, 0, "none", BLOCKDEV_WEIGHT_NOTHING, NULL,
		      "/dev/dm-0 is a device-mapper device: it has no I/O scheduler and iocost refuses it; "
		      "set the weight on the disks below it (/sys/block/dm-0/slaves/)");
	struct blockdev_weight w;
	cr_expect_eq(blockdev_weight_check(sysfs_fd, cgroup_fd, 8, 2, &w), -ENOENT); /* a partition has no queue */
	cr_expect_eq(blockdev_weight_check(sysfs_fd, cgroup_fd, 9, 9, &w), -ENOENT);
}

Test(io_files, io_max_format_and_parse)
{
	struct io_max m = {.major = 8, .minor = 16, .rbps = 10485760, .wbps = IO_LIMIT_MAX, .riops = IO_LIMIT_MAX,
			   .wiops = 200};
	_cleanup_free_ char *s = io_max_format(&m);
	cr_assert_str_eq(s, "8:16 rbps=10485760 wbps=max riops=max wiops=200");
	struct io_max back;
	cr_assert_eq(io_max_parse_line(s, &back), 0);
	cr_expect_eq(memcmp(&m, &back, sizeof(m)), 0);
	/* any subset, any order */
	cr_assert_eq(io_max_parse_line("259:0 wiops=5 rbps=1", &back), 0);
	cr_expect_eq(back.rbps, 1);
	cr_expect_eq(back.wiops, 5);
	cr_expect_eq(back.wbps, IO_LIMIT_MAX);
	cr_expect_eq(back.riops, IO_LIMIT_MAX);
	cr_expect_eq(io_max_parse_line("8:16 rbps=x", &back), -EINVAL);
	cr_expect_eq(io_max_parse_line("8:16 latency=10", &back), -EINVAL);
	cr_expect_eq(io_max_parse_line("8:16 rbps=-1", &back), -EINVAL);
	cr_expect_eq(io_max_parse_line("sda rbps=1", &back), -EINVAL);
	cr_expect_eq(io_max_parse_line("8:16", &back), -EINVAL);
	cr_expect_eq(io_max_parse_line("8: rbps=1", &back), -EINVAL);
}

Test(io_files, io_max_whole_file)
{
	_cleanup_free_ struct io_max *v = NULL;
	size_t n = 9;
	cr_assert_eq(io_max_parse("", &v, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_null(v);
	cr_assert_eq(io_max_parse("8:0 rbps=1048576 wbps=max riops=max wiops=max\n"
				  "253:0 rbps=max wbps=2097152 riops=max wiops=100\n",
				  &v, &n),
		     0);
	cr_assert_eq(n, 2);
	cr_expect_eq(v[0].major, 8);
	cr_expect_eq(v[0].rbps, 1048576);
	cr_expect_eq(v[1].major, 253);
	cr_expect_eq(v[1].wbps, 2097152);
	cr_expect_eq(v[1].wiops, 100);
	struct io_max *bad = NULL;
	err_clear();
	cr_expect_eq(io_max_parse("8:0 rbps=1\nnonsense\n", &bad, &n), -EINVAL);
	cr_expect(err_get() && strstr(err_get(), "nonsense"));
}

Test(io_files, io_weight)
{
	struct io_weight d = {.is_default = true, .weight = 100}, w = {.major = 8, .minor = 16, .weight = 200};
	_cleanup_free_ char *a = io_weight_format(&d), *b = io_weight_format(&w);
	cr_expect_str_eq(a, "default 100");
	cr_expect_str_eq(b, "8:16 200");
	_cleanup_free_ struct io_weight *v = NULL;
	size_t n;
	cr_assert_eq(io_weight_parse("default 100\n8:16 200\n", &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect(v[0].is_default);
	cr_expect_eq(v[0].weight, 100);
	cr_expect_not(v[1].is_default);
	cr_expect_eq(v[1].major, 8);
	cr_expect_eq(v[1].minor, 16);
	cr_expect_eq(v[1].weight, 200);
	struct io_weight x;
	cr_expect_eq(io_weight_parse_line("8:16 0", &x), -EINVAL);
	cr_expect_eq(io_weight_parse_line("8:16 10001", &x), -EINVAL);
	cr_expect_eq(io_weight_parse_line("defaults 100", &x), -EINVAL);
	cr_expect_eq(io_weight_parse_line("8:16 100 7", &x), -EINVAL);
	cr_expect_eq(io_weight_parse_line("default 10000", &x), 0);
}

Test(io_files, v1_device_values)
{
	struct io_dev_value t = {.major = 8, .minor = 16, .value = 10485760};
	_cleanup_free_ char *s = io_dev_value_format(&t);
	cr_expect_str_eq(s, "8:16 10485760");
	_cleanup_free_ struct io_dev_value *v = NULL;
	size_t n;
	cr_assert_eq(io_dev_value_parse("8:16 10485760\n8:0 500\n", &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_eq(v[0].value, 10485760);
	cr_expect_eq(v[1].minor, 0);
	cr_expect_eq(v[1].value, 500);
	struct io_dev_value x;
	cr_expect_eq(io_dev_value_parse_line("8:16", &x), -EINVAL);
	cr_expect_eq(io_dev_value_parse_line("8:16 max", &x), -EINVAL);
}
