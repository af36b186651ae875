// SPDX-License-Identifier: GPL-2.0-or-later
/* For t-blockdev.sh: resolves each path given through kernel/blockdev.c against the
 * live /sys, and prints, per path, lines that start with the path's index:
 *   N dev MAJ:MIN          the device the io controller takes
 *   N name NAME            its kernel name
 *   N chain TEXT           how the path reaches it
 *   N scheduler NAME       its active scheduler
 *   N weight bfq|iocost|nothing [FILE]   how a weight takes effect
 *   N advice TEXT          what would make one take effect (nothing)
 *   N io.max LINE          an io.max line for it (rbps=1048576), as io_max_format() writes it
 *   N blkio LINE           a v1 blkio.throttle.read_bps_device line (1048576)
 *   N error ERRNO TEXT     when it does not resolve: the errno's name and the sentence
 * The v2 root cgroup for io.cost.qos: /sys/fs/cgroup, or /sys/fs/cgroup/unified, when
 * it is a cgroup2 mount that offers io; none (v1 rules) otherwise. Exit 0; 2 on bad
 * usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/blockdev.h"
#include "kernel/cgroupfs.h"

static int v2_root_with_io(void)
{
	static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		int fd = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		_cleanup_free_ char *ctl = NULL;
		if (cg_fs_check(fd, BACKEND_CGROUP_V2) == 0 && read_file_at(fd, "cgroup.controllers", &ctl, NULL) == 0 &&
		    cg_controller_listed(ctl, "io"))
			return fd;
		close(fd);
	}
	return -1;
}

static const char *errno_name(int e)
{
	switch (e) {
	case ENODEV: return "ENODEV";
	case ENOENT: return "ENOENT";
	case ENOTBLK: return "ENOTBLK";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	default: return "other";
	}
}

static void probe(int idx, int sysfs_fd, int cg_fd, const char *path)
{
	struct blockdev b;
	err_clear();
	int r = blockdev_resolve_path(sysfs_fd, path, &b);
	if (r < 0) {
		printf("%d error %s %s\n", idx, errno_name(-r), err_get() ? err_get() : strerror(-r));
		return;
	}
	printf("%d dev %u:%u\n%d name %s\n%d chain %s\n", idx, b.major, b.minor, idx, b.name, idx, b.chain);
	struct io_max m = {.major = b.major, .minor = b.minor, .rbps = 1048576, .wbps = IO_LIMIT_MAX,
			   .riops = IO_LIMIT_MAX, .wiops = IO_LIMIT_MAX};
	struct io_dev_value v = {.major = b.major, .minor = b.minor, .value = 1048576};
	_cleanup_free_ char *line = io_max_format(&m), *v1 = io_dev_value_format(&v);
	printf("%d io.max %s\n%d blkio %s\n", idx, line ? line : "?", idx, v1 ? v1 : "?");
	struct blockdev_weight w;
	err_clear();
	r = blockdev_weight_check(sysfs_fd, cg_fd, b.major, b.minor, &w);
	if (r < 0) {
		printf("%d error %s %s\n", idx, errno_name(-r), err_get() ? err_get() : strerror(-r));
	} else {
		static const char *const via[] = {"bfq", "iocost", "nothing"};
		printf("%d scheduler %s\n%d weight %s%s%s\n", idx, w.scheduler, idx, via[w.via], w.file ? " " : "",
		       w.file ? w.file : "");
		if (w.advice)
			printf("%d advice %s\n", idx, w.advice);
		blockdev_weight_done(&w);
	}
	blockdev_done(&b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH...\n", argv[0]);
		return 2;
	}
	_cleanup_close_ int sysfs_fd = open("/sys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sysfs_fd < 0) {
		perror("/sys");
		return 1;
	}
	_cleanup_close_ int cg_fd = v2_root_with_io();
	printf("cgroup2-io %s\n", cg_fd >= 0 ? "yes" : "no");
	for (int i = 1; i < argc; i++)
		probe(i, sysfs_fd, cg_fd, argv[i]);
	return 0;
}
