// SPDX-License-Identifier: GPL-2.0-or-later
/* cgroupfs: mountinfo of real-world host layouts, controller lists, names made from
 * untrusted text, error sentences, and the dirfd helpers on a scratch directory
 * (regular files stand in for cgroup files there). */
#include <criterion/criterion.h>

#include "scratch.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include "kernel/cgroupfs.h"
#include "basic/util.h"

/* ---- cgroup_parse_mountinfo ------------------------------------------------------------- */

/* A unified host (Fedora, Debian 11+, Ubuntu 21.10+). */
static const char mountinfo_v2[] =
	"22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw\n"
	"23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
	"25 24 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:3 - securityfs securityfs rw\n"
	"26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
	"rw,nsdelegate,memory_recursiveprot\n"
	"27 24 0:24 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw\n"
	"30 22 0:26 / /run rw,nosuid,nodev shared:13 - tmpfs tmpfs rw,size=3263072k,mode=755\n";

/* A hybrid host (Ubuntu 20.04, RHEL 8): v1 controllers, cgroup2 at unified/. */
static const char mountinfo_hybrid[] =
	"24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"25 30 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"30 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro\n"
	"33 24 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
	"34 33 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
	"rw,nsdelegate\n"
	"35 33 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
	"rw,xattr,name=systemd\n"
	"38 33 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
	"rw,cpu,cpuacct\n"
	"39 33 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup "
	"rw,cpuset\n"
	"40 33 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup "
	"cgroup rw,net_cls,net_prio\n"
	"41 33 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup "
	"rw,memory\n"
	"42 33 0:36 / /sys/fs/cgroup/cpuacct_only rw,relatime shared:19 - cgroup cgroup rw,cpuacct\n";

/* A legacy host (CentOS 7): no cgroup2 at all, no optional fields on some lines. */
static const char mountinfo_legacy[] =
	"18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw\n"
	"24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755\n"
	"25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup "
	"rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
	"28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup "
	"rw,cpuacct,cpu\n"
	"29 24 0:25 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:10 master:3 - cgroup "
	"cgroup rw,cpuset,clone_children\n"
	"30 24 0:26 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,blkio";

static struct cgroup_mount *mounts;
static size_t n_mounts;

static void mounts_done(void)
{
	cgroup_mounts_free(mounts, n_mounts);
	mounts = NULL;
	n_mounts = 0;
}

static void parse(const char *text)
{
	mounts_done();
	int r = cgroup_parse_mountinfo(text, &mounts, &n_mounts);
	cr_assert_eq(r, 0, "cgroup_parse_mountinfo = %d", r);
}

static void assert_mount(size_t i, const char *path, bool v2, bool cpuset, bool cpu)
{
	cr_assert_lt(i, n_mounts);
	cr_assert_str_eq(mounts[i].path, path, "mount %zu", i);
	cr_assert_eq(mounts[i].v2, v2, "%s: v2", path);
	cr_assert_eq(mounts[i].has_cpuset, cpuset, "%s: has_cpuset", path);
	cr_assert_eq(mounts[i].has_cpu, cpu, "%s: has_cpu", path);
}

TestSuite(cgroupfs_mountinfo, .fini = mounts_done);

Test(cgroupfs_mountinfo, unified_host)
{
	parse(mountinfo_v2);
	cr_assert_eq(n_mounts, 1);
	/* controllers of a v2 mount come from cgroup.controllers, later */
	assert_mount(0, "/sys/fs/cgroup", true, false, false);
}

Test(cgroupfs_mountinfo, hybrid_host)
{
	parse(mountinfo_hybrid);
	cr_assert_eq(n_mounts, 7, "the tmpfs is not a cgroup mount");
	assert_mount(0, "/sys/fs/cgroup/unified", true, false, false);
	assert_mount(1, "/sys/fs/cgroup/systemd", false, false, false);
	assert_mount(2, "/sys/fs/cgroup/cpu,cpuacct", false, false, true);
	assert_mount(3, "/sys/fs/cgroup/cpuset", false, true, false);
	assert_mount(4, "/sys/fs/cgroup/net_cls,net_prio", false, false, false);
	assert_mount(5, "/sys/fs/cgroup/memory", false, false, false);
	assert_mount(6, "/sys/fs/cgroup/cpuacct_only", false, false, false); /* cpuacct is not cpu */
}

Test(cgroupfs_mountinfo, legacy_host)
{
	parse(mountinfo_legacy);
	cr_assert_eq(n_mounts, 4);
	for (size_t i = 0; i < n_mounts; i++)
		cr_assert(!mounts[i].v2, "%s", mounts[i].path);
	assert_mount(0, "/sys/fs/cgroup/systemd", false, false, false);
	assert_mount(1, "/sys/fs/cgroup/cpu,cpuacct", false, false, true);
	assert_mount(2, "/sys/fs/cgroup/cpuset", false, true, false);
	assert_mount(3, "/sys/fs/cgroup/blkio", false, false, false); /* last line, no newline */
}

Test(cgroupfs_mountinfo, escaped_mount_point)
{
	parse("40 33 0:40 / /mnt/my\\040cgroups rw,relatime shared:30 - cgroup cgroup rw,cpuset,cpu\n"
	      "41 33 0:41 / /mnt/tab\\011and\\134backslash rw,relatime - cgroup2 cgroup2 rw\n");
	cr_assert_eq(n_mounts, 2);
	assert_mount(0, "/mnt/my cgroups", false, true, true);
	assert_mount(1, "/mnt/tab\tand\\backslash", true, false, false);
}

Test(cgroupfs_mountinfo, nothing_to_find)
{
	parse("");
	cr_assert_eq(n_mounts, 0);
	parse("22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw\n"
	      "garbage line\n"
	      "\n"
	      "26 24 0:23 / /sys/fs/cgroup rw shared:4 - cgroup2fs x rw\n");
	cr_assert_eq(n_mounts, 0, "cgroup2fs is not cgroup2, a short line is skipped");
}

Test(cgroupfs_mountinfo, cgroup_named_source_is_not_a_type)
{
	/* A tmpfs whose source is called "cgroup" stays a tmpfs. */
	parse("33 24 0:27 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs cgroup ro,mode=755\n");
	cr_assert_eq(n_mounts, 0);
}

/* ---- cgroup_parse_controllers -------------------------------------------------------------- */

Test(cgroupfs_controllers, lists)
{
	static const struct {
		const char *text;
		bool cpuset, cpu;
	} cases[] = {
		{"cpuset cpu io memory hugetlb pids rdma misc\n", true, true},
		{"cpu io memory pids\n", false, true},
		{"cpuset io memory\n", true, false},
		{"io memory pids", false, false},
		{"", false, false},
		{"\n", false, false},
		{"cpuacct cpusets cpux\n", false, false},
		{"memory cpu", false, true},
		{"  cpuset  ", true, false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cgroup_mount m = {.v2 = true};
		cgroup_parse_controllers(cases[i].text, &m);
		cr_assert_eq(m.has_cpuset, cases[i].cpuset, "\"%s\": cpuset", cases[i].text);
		cr_assert_eq(m.has_cpu, cases[i].cpu, "\"%s\": cpu", cases[i].text);
	}
}

/* ---- cg_strerror ----------------------------------------------------------------------------- */

static void sentence(int r, const char *file, const char *needle)
{
	const char *s = cg_strerror(r, file);
	cr_assert_not_null(s);
	cr_assert_gt(strlen(s), 20, "a sentence for %d on %s: \"%s\"", r, file ? file : "-", s);
	cr_assert_not_null(strstr(s, needle), "%d on %s: \"%s\" mentions \"%s\"", r, file ? file : "-", s, needle);
	cr_assert_str_neq(s, strerror(-r), "%d on %s: more than strerror", r, file ? file : "-");
}

Test(cgroupfs_strerror, sentences)
{
	sentence(-EBUSY, "cgroup.subtree_control", "busy");
	sentence(-EOPNOTSUPP, "cgroup.type", "threaded");
	sentence(-ENOENT, "cgroup.subtree_control", "not available");
	sentence(-ENOENT, "cpuset.cpus", "no such");
	sentence(-ENOENT, NULL, "no such");
	sentence(-EINVAL, "cpuset.cpus", "invalid");
	sentence(-ENOSPC, "cgroup.procs", "no cpus or mems");
	sentence(-EACCES, "cgroup.procs", "permission");
	sentence(-EPERM, "cgroup.procs", "permission");
	/* one errno, several causes: the file tells them apart (the kernel's cpuset.c
	 * validate_change() on v1; cgroup.c cgroup_subtree_control_write()) */
	sentence(-EACCES, "cpuset.cpus", "inside the parent cpuset's");
	sentence(-EACCES, "cpuset.mems", "inside the parent cpuset's");
	sentence(-EBUSY, "cpuset.cpus", "a cpuset below still uses");
	sentence(-EBUSY, "cgroup.subtree_control", "processes of its own");
	/* something it has no sentence for: the C library's */
	cr_assert_str_eq(cg_strerror(-EXDEV, NULL), strerror(EXDEV));
}

/* ---- cg_write, cg_read ------------------------------------------------------------ */

static char tmpdir[96];
static int tmpfd = -1;

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void fs_setup(void)
{
	scratch_make(tmpdir, sizeof(tmpdir), "cgroupfs");
	tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tmpfd, 0);
}

static void fs_teardown(void)
{
	if (tmpfd >= 0)
		close(tmpfd);
	tmpfd = -1;
	if (tmpdir[0])
		scratch_remove(tmpdir);
	tmpdir[0] = '\0';
}

/* A stand-in for a cgroup file: exists, empty or with content. */
static void put_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "create %s", name);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void file_is(int dirfd, const char *name, const char *want)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s", name);
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, want, "content of %s", name);
}

TestSuite(cgroupfs_files, .init = fs_setup, .fini = fs_teardown);

Test(cgroupfs_files, write_and_read)
{
	cr_assert_eq(mkdirat(tmpfd, "cg", 0755), 0);
	int fd = cg_open_path(tmpfd, "cg");
	cr_assert_geq(fd, 0);
	put_file(fd, "cgroup.subtree_control", "");
	put_file(fd, "cpuset.cpus", "");
	cr_assert_eq(cg_write(fd, "cgroup.subtree_control", "+cpuset"), 0);
	file_is(fd, "cgroup.subtree_control", "+cpuset");
	cr_assert_eq(cg_write(fd, "cpuset.cpus", "0-3,8\n"), 0);
	file_is(fd, "cpuset.cpus", "0-3,8\n");

	char *v = NULL;
	cr_assert_eq(cg_read(fd, "cpuset.cpus", &v), 0);
	cr_assert_str_eq(v, "0-3,8", "trailing newline removed");
	free(v);
	cr_assert_eq(cg_read(fd, "cgroup.subtree_control", &v), 0);
	cr_assert_str_eq(v, "+cpuset");
	free(v);

	/* how the kernel prints lists: trailing blank and newline */
	put_file(fd, "cgroup.controllers", "cpuset cpu io memory pids \n");
	cr_assert_eq(cg_read(fd, "cgroup.controllers", &v), 0);
	cr_assert_str_eq(v, "cpuset cpu io memory pids");
	free(v);
	put_file(fd, "cpuset.mems", "\n");
	cr_assert_eq(cg_read(fd, "cpuset.mems", &v), 0);
	cr_assert_str_eq(v, "", "an empty list reads as \"\"");
	free(v);
	close(fd);
}

/* A tree a/b/c with a cgroup file in c, and a/link -> b. */
static void dircache_tree(struct cg_dircache *c)
{
	cr_assert_eq(mkdirat(tmpfd, "a", 0755), 0);
	cr_assert_eq(mkdirat(tmpfd, "a/b", 0755), 0);
	cr_assert_eq(mkdirat(tmpfd, "a/b/c", 0755), 0);
	put_file(tmpfd, "a/b/c/cpuset.cpus", "0-1\n");
	cr_assert_eq(symlinkat("b", tmpfd, "a/link"), 0);
	*c = (struct cg_dircache){.mount_fd = tmpfd};
}

/* Files of a directory the cache does not hold are reached from its nearest cached
 * ancestor, never through a symbolic link, and written as cg_write() writes. */
static void dircache_files(bool fallback)
{
	struct cg_dircache c;
	dircache_tree(&c);
	cr_assert_geq(cg_dircache_get(&c, "a"), 0);
	size_t held = c.n;
	char *v = NULL;
	cr_assert_eq(cg_dircache_read(&c, "a/b/c", "cpuset.cpus", &v), 0);
	cr_assert_str_eq(v, "0-1");
	free(v);
	cr_assert_eq(cg_dircache_write(&c, "a/b/c", "cpuset.cpus", "2"), 0);
	file_is(tmpfd, "a/b/c/cpuset.cpus", "2");
	if (!fallback)
		cr_assert_eq(c.n, held, "no fd of its own for a/b/c");
	else
		cr_assert_gt(c.n, held, "without openat2, through a/b/c's own fd");
	int r = cg_dircache_read(&c, "a/link/c", "cpuset.cpus", &v);
	cr_assert(r == -ELOOP || r == -ENOTDIR, "a symbolic link on the way: %d", r);
	cr_assert_eq(cg_dircache_write(&c, "a/b/none", "cpuset.cpus", "1"), -ENOENT);
	cr_assert_eq(faccessat(tmpfd, "a/b/none", F_OK, 0), -1, "never made");
	cg_dircache_done(&c);
}

Test(cgroupfs_files, dircache_files_below_a_cached_directory)
{
	dircache_files(false);
}

/* The same where openat2 is not to be had (a kernel before 5.6, a seccomp filter
 * that does not know it): a filter on this test process makes it ENOSYS. */
Test(cgroupfs_files, dircache_files_without_openat2)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0, "%s", strerror(errno));
	struct open_how how = {.flags = O_RDONLY};
	cr_assert_eq(syscall(SYS_openat2, tmpfd, ".", &how, sizeof(how)), -1);
	cr_assert_eq(errno, ENOSYS, "the filter is in place");
	dircache_files(true);
}

Test(cgroupfs_files, write_never_creates_nor_follows)
{
	cr_assert_eq(cg_write(tmpfd, "cgroup.procs", "1"), -ENOENT, "cgroup files are never made");
	cr_assert_eq(faccessat(tmpfd, "cgroup.procs", F_OK, 0), -1);

	put_file(tmpfd, "target", "");
	cr_assert_eq(symlinkat("target", tmpfd, "cpuset.cpus"), 0);
	cr_assert_eq(cg_write(tmpfd, "cpuset.cpus", "0"), -ELOOP);
	file_is(tmpfd, "target", "");
	char *v = (char *)"untouched";
	cr_assert_eq(cg_read(tmpfd, "cpuset.cpus", &v), -ELOOP);
	cr_assert_str_eq(v, "untouched");
	cr_assert_eq(cg_read(tmpfd, "missing", &v), -ENOENT);
}

/* What undoes a line of a keyed file: for io.max only the limits it sets, each as it
 * was, so that an admin's other limits stay; for weights, the key's line. */
Test(cgroupfs_lines, undo_of_a_line)
{
	char *u = NULL;
	cr_assert_eq(cg_line_undo("io.max", "7:0 rbps=5 wbps=max riops=500 wiops=max", "7:0 wbps=10485760 riops=9", &u), 0);
	cr_assert_str_eq(u, "7:0 wbps=max riops=500");
	free(u);
	cr_assert_eq(cg_line_undo("io.max", NULL, "8:16 rbps=1", &u), 0);
	cr_assert_str_eq(u, "8:16 rbps=max");
	free(u);
	cr_assert_eq(cg_line_undo("io.weight", "7:0 50", "7:0 500", &u), 0);
	cr_assert_str_eq(u, "7:0 50");
	free(u);
	cr_assert_eq(cg_line_undo("io.bfq.weight", NULL, "7:0 500", &u), 0);
	cr_assert_str_eq(u, "7:0 default");
	free(u);
	cr_assert_eq(cg_line_undo("cpu.max", NULL, "max 100000", &u), -EINVAL);
	char *l = NULL;
	cr_assert_eq(cg_line_find("default 100\n7:0 50\n70:1 9", "7:0", &l), 0);
	cr_assert_str_eq(l, "7:0 50");
	free(l);
	cr_assert_eq(cg_line_find("default 100\n70:1 9", "7:0", &l), 0);
	cr_assert_null(l, "70:1 is not 7:0");
}
