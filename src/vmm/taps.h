/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The network interfaces a VM's process holds open as fds: tun/tap devices (an fd of
 * /dev/net/tun attached with TUNSETIFF; several for a multiqueue tap) and macvtaps (an
 * fd of the character device /dev/tapN, N the macvtap's ifindex), read from /proc
 * through a dirfd of the proc root, and the VM's network namespace. */
#ifndef KVMCG_TAPS_H
#define KVMCG_TAPS_H

#include <net/if.h>
#include <stddef.h>
#include <sys/types.h>

enum vm_tap_kind {
	VM_TAP_TUN,     /* /dev/net/tun: the name from fdinfo's iff: line */
	VM_TAP_MACVTAP, /* /dev/tapN: the ifindex from the device's name */
};

struct vm_tap {
	enum vm_tap_kind kind;
	char ifname[IF_NAMESIZE]; /* tun: the interface's name; macvtap: "" */
	int ifindex;              /* macvtap: N of /dev/tapN; tun: 0 (look it up by name) */
	unsigned nfds;            /* fds of the process on it: queues of a multiqueue tap */
	int fd;                   /* the lowest of them */
};

/* Pure: the interface of a /proc/PID/fdinfo/FD buffer of a tun fd, the "iff:\t<name>"
 * line that drivers/net/tun.c tun_chr_show_fdinfo() prints (Linux 3.14 and later; the
 * name as the device has it in its own namespace, tun_get_iff()). 1 and the name in
 * ret_ifname (IF_NAMESIZE bytes); 0 when the buffer has no iff: line (not a tun fd);
 * -ENXIO when it has one with no name (a tun fd not attached to a device yet: the
 * kernel prints an empty ifr_name); -EINVAL for a name of IF_NAMESIZE bytes or more. */
int taps_parse_fdinfo(const char *buf, char *ret_ifname);

/* Pure: N of a link target "/dev/tapN" (the macvtap character device, named by
 * drivers/net/macvtap.c after the interface's ifindex), with any prefix (a link shows
 * the path from the reader's root: a process in a chroot or another mount namespace
 * gives "/newroot/dev/tap5"): 0 and *ret_ifindex; -EINVAL for anything else. A tun fd
 * is recognised the same way, by a target ending in "/dev/net/tun". */
int taps_parse_macvtap_path(const char *target, int *ret_ifindex);

/* The taps pid holds: every fd of proc_fd/PID/fd that links to /dev/net/tun (its
 * fdinfo, opened with openat(O_NOFOLLOW|O_CLOEXEC) below proc_fd, gives the name) or
 * to /dev/tapN; one entry per interface, in the order their first fds come. *ret is
 * NULL when there are none (the caller frees it). A tun fd not attached, or one closed
 * while it is read, is left out. -ENOENT when the process is gone, -EACCES without the
 * right to read its fds (ptrace access mode, fs/proc/fd.c), -ENOMEM. */
int vm_taps_collect(int proc_fd, pid_t pid, struct vm_tap **ret, size_t *ret_n);

/* An fd (O_RDONLY|O_CLOEXEC) of the network namespace of pid, proc_fd/PID/ns/net, for
 * rtnl_open(). Without O_NOFOLLOW: ns/net is a magic link (fs/proc/namespaces.c), the
 * only way to the namespace. -ENOENT when the process is gone, -EACCES. */
int vm_netns_open(int proc_fd, pid_t pid);

#endif
