// SPDX-License-Identifier: GPL-2.0-or-later
/* vmm/taps: fdinfo buffers as the kernel prints them (fs/proc/fd.c seq_show() then
 * drivers/net/tun.c tun_chr_show_fdinfo()), the macvtap device's name, and the
 * collector on a /proc tree made in a scratch directory: fd links to /dev/net/tun,
 * /dev/tapN and other files, with their fdinfo. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "scratch.h"
#include "vmm/taps.h"

Test(taps, fdinfo_tun_attached)
{
	char name[IF_NAMESIZE] = "";
	cr_assert_eq(taps_parse_fdinfo("pos:\t0\nflags:\t02004002\nmnt_id:\t26\nino:\t1063\niff:\tvnet3\n", name), 1);
	cr_assert_str_eq(name, "vnet3");
	/* the longest name an interface can have, 15 bytes, no final newline */
	cr_assert_eq(taps_parse_fdinfo("pos:\t0\niff:\tabcdefghijklmno", name), 1);
	cr_assert_str_eq(name, "abcdefghijklmno");
}

Test(taps, fdinfo_tun_not_attached)
{
	char name[IF_NAMESIZE] = "x";
	cr_assert_eq(taps_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t26\nino:\t1063\niff:\t\n", name), -ENXIO);
	cr_assert_str_eq(name, "x", "no output on failure");
}

Test(taps, fdinfo_not_tun)
{
	char name[IF_NAMESIZE] = "x";
	/* an eventfd, a regular file, an empty buffer */
	cr_assert_eq(taps_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\neventfd-count:\t0\neventfd-id: 3\n", name),
		     0);
	cr_assert_eq(taps_parse_fdinfo("pos:\t4096\nflags:\t0100002\nmnt_id:\t30\nino:\t2\n", name), 0);
	cr_assert_eq(taps_parse_fdinfo("", name), 0);
	/* "iff:" only at a line's start */
	cr_assert_eq(taps_parse_fdinfo("pos:\t0\nxiff:\tvnet0\n", name), 0);
	cr_assert_str_eq(name, "x");
}

Test(taps, fdinfo_name_too_long)
{
	char name[IF_NAMESIZE] = "x";
	cr_assert_eq(taps_parse_fdinfo("iff:\tabcdefghijklmnop\n", name), -EINVAL);
	cr_assert_str_eq(name, "x");
}

Test(taps, macvtap_path)
{
	int idx = -1;
	cr_assert_eq(taps_parse_macvtap_path("/dev/tap12", &idx), 0);
	cr_assert_eq(idx, 12);
	/* a process in another root or mount namespace, as the reader sees its link */
	cr_assert_eq(taps_parse_macvtap_path("/newroot/dev/tap7", &idx), 0);
	cr_assert_eq(idx, 7);
	idx = -1;
	const char *bad[] = {"/dev/tap", "/dev/tap0", "/dev/tap012", "/dev/tapx", "/dev/tap12 (deleted)", "/dev/tap+1",
			     "/dev/tap-1", "/dev/net/tun", "/dev/tap99999999999", "anon_inode:[eventfd]"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(taps_parse_macvtap_path(bad[i], &idx), -EINVAL, "%s", bad[i]);
	cr_assert_eq(idx, -1);
}

static void put(const char *root, const char *rel, const char *content)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	cr_assert(f, "%s", path);
	fputs(content, f);
	fclose(f);
}

static void link_to(const char *root, const char *rel, const char *target)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	cr_assert_eq(symlink(target, path), 0, "%s", path);
}

Test(taps, collect_from_a_tree)
{
	char root[256];
	scratch_make(root, sizeof(root), "taps");
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/4242", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/4242/fd", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/4242/fdinfo", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	/* two queues of vnet0, one of vnet1, one tun fd not attached, a macvtap, others */
	link_to(root, "4242/fd/7", "/dev/net/tun");
	put(root, "4242/fdinfo/7", "pos:\t0\nflags:\t02004002\nmnt_id:\t26\nino:\t1063\niff:\tvnet0\n");
	link_to(root, "4242/fd/3", "/dev/net/tun");
	put(root, "4242/fdinfo/3", "pos:\t0\nflags:\t02004002\nmnt_id:\t26\nino:\t1063\niff:\tvnet0\n");
	/* vnet1's QEMU runs under `ip netns exec` in a chroot: its link has the root's prefix */
	link_to(root, "4242/fd/9", "/newroot/dev/net/tun");
	put(root, "4242/fdinfo/9", "pos:\t0\nflags:\t02004002\nmnt_id:\t26\nino:\t1063\niff:\tvnet1\n");
	link_to(root, "4242/fd/10", "/dev/net/tun");
	put(root, "4242/fdinfo/10", "pos:\t0\nflags:\t02004002\nmnt_id:\t26\nino:\t1063\niff:\t\n");
	link_to(root, "4242/fd/11", "/newroot/dev/tap17");
	/* a file that only looks like one: its fdinfo has no iff: line */
	link_to(root, "4242/fd/13", "/srv/dev/net/tun.bak");
	put(root, "4242/fdinfo/13", "pos:\t0\nflags:\t02\n");
	link_to(root, "4242/fd/0", "/dev/null");
	link_to(root, "4242/fd/5", "anon_inode:[eventfd]");
	/* a tun fd closed between the readdir and the fdinfo read */
	link_to(root, "4242/fd/12", "/dev/net/tun");

	_cleanup_close_ int proc_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	struct vm_tap *v = NULL;
	size_t n = 0;
	cr_assert_eq(vm_taps_collect(proc_fd, 4242, &v, &n), 0);
	cr_assert_eq(n, 3);
	/* readdir order is the filesystem's: look each one up */
	bool seen0 = false, seen1 = false, seenm = false;
	for (size_t i = 0; i < n; i++) {
		if (v[i].kind == VM_TAP_TUN && strcmp(v[i].ifname, "vnet0") == 0) {
			cr_assert_eq(v[i].nfds, 2);
			cr_assert_eq(v[i].fd, 3);
			seen0 = true;
		} else if (v[i].kind == VM_TAP_TUN && strcmp(v[i].ifname, "vnet1") == 0) {
			cr_assert_eq(v[i].nfds, 1);
			cr_assert_eq(v[i].fd, 9);
			seen1 = true;
		} else if (v[i].kind == VM_TAP_MACVTAP) {
			cr_assert_eq(v[i].ifindex, 17);
			cr_assert_str_eq(v[i].ifname, "");
			seenm = true;
		}
	}
	cr_assert(seen0 && seen1 && seenm);
	free(v);

	/* a process with no taps: none, NULL */
	v = (struct vm_tap *)1;
	snprintf(dir, sizeof(dir), "%s/4243", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/4243/fd", root);
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(vm_taps_collect(proc_fd, 4243, &v, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(v);
	/* a process that is gone */
	cr_assert_eq(vm_taps_collect(proc_fd, 4244, &v, &n), -ENOENT);
	scratch_remove(root);
}

Test(taps, netns_of_self)
{
	_cleanup_close_ int proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = vm_netns_open(proc_fd, getpid());
	cr_assert_geq(fd, 0);
	struct stat a, b;
	cr_assert_eq(fstat(fd, &a), 0);
	cr_assert_eq(stat("/proc/self/ns/net", &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(vm_netns_open(proc_fd, 0x7ffffff0), -ENOENT);
}
