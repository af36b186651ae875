/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Kernel settings under /proc/sys, read and written through a dirfd of the proc root
 * (so --sysroot and the unit tests' scratch trees read like the live one). For now one:
 * kernel.numa_balancing, automatic NUMA balancing (Documentation/admin-guide/sysctl/
 * kernel.rst "numa_balancing"; kernel/sched/core.c sysctl_numa_balancing()). */
#ifndef KVMCG_SYSCTL_H
#define KVMCG_SYSCTL_H

/* The value is a bit mask (include/linux/sched/sysctl.h): */
#define NUMA_BALANCING_DISABLED 0x0       /* off */
#define NUMA_BALANCING_NORMAL 0x1         /* pages and tasks moved towards the node that
					   * uses them (the only mode before Linux 5.18) */
#define NUMA_BALANCING_MEMORY_TIERING 0x2 /* hot pages promoted from slow memory nodes
					   * (PMEM, CXL) to fast ones, since Linux 5.18 */
/* Every mode a kernel defines: 3 is both, normal | memory-tiering. Linux 6.x accepts 4
 * as well (the sysctl's bound is SYSCTL_FOUR), a bit nothing reads. */
#define NUMA_BALANCING_MODES 0x3

#define NUMA_BALANCING_PATH "sys/kernel/numa_balancing" /* below the proc root */

/* The mode's name in JSON: "off", "normal", "memory-tiering", "normal+memory-tiering";
 * "unknown" for a value no kernel defines (negative, 4 and up). */
const char *numa_balancing_mode(int value);
/* The same for people: "off", "on (normal)", "memory-tiering",
 * "on (normal) + memory-tiering"; "unknown" for any other value. */
const char *numa_balancing_text(int value);

/* What a user may ask for: "off" or "0"; "on", "normal" or "1"; "memory-tiering" or
 * "2"; "normal+memory-tiering" or "3". Case matters, as in the kernel's own names.
 * 0, or -EINVAL for anything else (4, which 6.x would take, too: it is no mode). */
int numa_balancing_parse(const char *s, int *ret);

/* kernel.numa_balancing, opened O_NOFOLLOW|O_CLOEXEC relative to proc_fd. 0 and the
 * value (0..4 on Linux 6.x, 0..1 before 5.18); -ENOENT when the kernel has no such
 * file (built without CONFIG_NUMA_BALANCING: kernel/sched/core.c registers it only
 * then); -EBADMSG when it holds no number; other -errno from open or read. */
int numa_balancing_read(int proc_fd, int *ret);

/* Writes value (0..NUMA_BALANCING_MODES) with one write(2). -ENOENT as for reading;
 * -EACCES when the caller may not open the file for writing (mode 0644, owned by
 * root) and -EPERM without CAP_SYS_ADMIN (sysctl_numa_balancing() asks for it, in the
 * user namespace the sysctl table belongs to); -EINVAL when the kernel does not take
 * the value (before Linux 5.18 its bound is 1: no memory tiering) or value is out of
 * range. */
int numa_balancing_write(int proc_fd, int value);

#endif
