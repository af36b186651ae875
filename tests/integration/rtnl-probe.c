// SPDX-License-Identifier: GPL-2.0-or-later
/* For t-rtnl.sh: kernel/rtnl.c and vmm/taps.c against the real kernel, in the network
 * namespace of a process (through /proc/PID/ns/net; this program stays in its own).
 *   rtnl-probe taps PID               "netns own|other", then "tap KIND NAME IFINDEX NFDS"
 *                                     per interface, IFINDEX looked up in PID's netns
 *   rtnl-probe link PID IF            "link IFINDEX NAME KIND MASTER MTU"
 *   rtnl-probe features PID           "feature NAME yes|no|error:ERRNO" for each
 *   rtnl-probe root PID IF            "root KIND HANDLE PARENT operator|default OPTLEN"
 *   rtnl-probe htb PID IF RATE CEIL BURST CBURST
 *                                     HTB root 1: (default 1:10), class 1:10 (bytes/s, bytes)
 *   rtnl-probe ifb PID IF IFB RATE BURST
 *                                     IFB device IFB with HTB 1: and class 1:10 at RATE;
 *                                     ingress on IF with a u32 filter redirecting to IFB
 *   rtnl-probe police PID IF RATE BURST
 *                                     ingress on IF with a u32 filter policing at RATE
 *   rtnl-probe swap PID IF            the root qdisc saved (kind, handle, raw options),
 *                                     replaced by HTB 1:, then put back as saved
 *   rtnl-probe undo PID IF [IFB]      deletes IF's root (when not a default) and ingress
 *                                     qdiscs, and the IFB device
 *   rtnl-probe burst RATE MTU         "burst N" (rtnl_burst_min)
 * Exit 0; 77 with "skip REASON" when the kernel lacks what is asked; 1 with the
 * sentence on stderr on a failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/rtnl.h"
#include "vmm/taps.h"

static int proc_fd = -1;

static int fail(const char *what, int r)
{
	const char *why = err_get();
	fprintf(stderr, "rtnl-probe: %s: %s\n", what, why ? why : strerror(-r));
	return 1;
}

static uint64_t num(const char *s)
{
	uint64_t v;
	if (parse_u64(s, &v) < 0) {
		fprintf(stderr, "rtnl-probe: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

static int open_pid(const char *pid_s, struct rtnl **ret)
{
	pid_t pid;
	if (parse_pid(pid_s, &pid) < 0)
		return -EINVAL;
	_cleanup_close_ int ns = vm_netns_open(proc_fd, pid);
	if (ns < 0)
		return ns;
	return rtnl_open(ns, ret);
}

static int cmd_taps(const char *pid_s, struct rtnl *r)
{
	pid_t pid;
	(void)parse_pid(pid_s, &pid);
	printf("netns %s\n", rtnl_own_netns(r) ? "own" : "other");
	struct vm_tap *v = NULL;
	size_t n = 0;
	int e = vm_taps_collect(proc_fd, pid, &v, &n);
	if (e < 0)
		return fail("taps", e);
	for (size_t i = 0; i < n; i++) {
		int idx = v[i].ifindex;
		if (v[i].kind == VM_TAP_TUN && rtnl_link_index(r, v[i].ifname, &idx) < 0)
			idx = -1;
		printf("tap %s %s %d %u\n", v[i].kind == VM_TAP_TUN ? "tun" : "macvtap", v[i].ifname[0] ? v[i].ifname : "-",
		       idx, v[i].nfds);
	}
	free(v);
	return 0;
}

static int ifindex_of(struct rtnl *r, const char *name)
{
	int idx;
	int e = rtnl_link_index(r, name, &idx);
	if (e < 0) {
		fail(name, e);
		exit(1);
	}
	return idx;
}

static int cmd_features(struct rtnl *r)
{
	int f[RTNL_FEAT_N];
	int e = rtnl_probe(r, f);
	if (e < 0)
		return fail("probe", e);
	for (int i = 0; i < RTNL_FEAT_N; i++) {
		if (f[i] >= 0)
			printf("feature %s %s\n", rtnl_feature_name(i), f[i] ? "yes" : "no");
		else
			printf("feature %s error:%d\n", rtnl_feature_name(i), -f[i]);
	}
	return 0;
}

static int cmd_root(struct rtnl *r, const char *ifname)
{
	struct rtnl_qdisc q;
	int e = rtnl_root_qdisc(r, ifindex_of(r, ifname), &q);
	if (e < 0)
		return fail("root", e);
	printf("root %s %x: %x %s %zu\n", q.kind, q.handle >> 16, q.parent, e ? "operator" : "default", q.options_len);
	free(q.options);
	return 0;
}

static int cmd_htb(struct rtnl *r, const char *ifname, char **a)
{
	int idx = ifindex_of(r, ifname);
	struct rtnl_link l;
	int e = rtnl_link_get(r, idx, NULL, &l);
	struct rtnl_rate rate = {.rate = num(a[0]), .ceil = num(a[1]), .burst = (uint32_t)num(a[2]),
				 .cburst = (uint32_t)num(a[3]), .mtu = e == 0 ? l.mtu : 1500};
	if ((e = rtnl_htb_root(r, idx, 1, 0x10, 10, RTNL_PUT_REPLACE)) < 0)
		return fail("htb root", e);
	if ((e = rtnl_htb_class(r, idx, RTNL_H(1, 0), RTNL_H(1, 0x10), &rate, RTNL_PUT_CREATE)) < 0)
		return fail("htb class", e);
	if (rtnl_ext_msg(r))
		printf("warning %s\n", rtnl_ext_msg(r));
	return 0;
}

static int cmd_ifb(struct rtnl *r, const char *ifname, const char *ifb, char **a)
{
	int idx = ifindex_of(r, ifname), ifb_idx;
	int f[RTNL_FEAT_N];
	int e = rtnl_probe(r, f);
	if (e < 0)
		return fail("probe", e);
	if (f[RTNL_FEAT_IFB] == 0 || f[RTNL_FEAT_MIRRED] == 0) {
		printf("skip this kernel has no %s\n", f[RTNL_FEAT_IFB] == 0 ? "ifb" : "act_mirred");
		return 77;
	}
	struct rtnl_rate rate = {.rate = num(a[0]), .burst = (uint32_t)num(a[1]), .mtu = 1500};
	if ((e = rtnl_ifb_create(r, ifb, &ifb_idx)) < 0)
		return fail("ifb", e);
	if ((e = rtnl_htb_root(r, ifb_idx, 1, 0x10, 10, RTNL_PUT_REPLACE)) < 0 ||
	    (e = rtnl_htb_class(r, ifb_idx, RTNL_H(1, 0), RTNL_H(1, 0x10), &rate, RTNL_PUT_CREATE)) < 0)
		return fail("htb on the ifb", e);
	if ((e = rtnl_ingress(r, idx, RTNL_PUT_CREATE)) < 0)
		return fail("ingress", e);
	if ((e = rtnl_ingress_mirred(r, idx, 1, ifb_idx)) < 0)
		return fail("mirred", e);
	printf("ifb %d\n", ifb_idx);
	return 0;
}

static int cmd_police(struct rtnl *r, const char *ifname, char **a)
{
	int idx = ifindex_of(r, ifname);
	int f[RTNL_FEAT_N];
	int e = rtnl_probe(r, f);
	if (e < 0)
		return fail("probe", e);
	if (f[RTNL_FEAT_POLICE] != 1) {
		printf("skip this kernel has no act_police (or no cls_u32): probe said %d\n", f[RTNL_FEAT_POLICE]);
		return 77;
	}
	struct rtnl_rate rate = {.rate = num(a[0]), .burst = (uint32_t)num(a[1]), .mtu = 1500};
	if ((e = rtnl_ingress(r, idx, RTNL_PUT_CREATE)) < 0)
		return fail("ingress", e);
	if ((e = rtnl_ingress_police(r, idx, 1, &rate)) < 0)
		return fail("police", e);
	return 0;
}

static int cmd_swap(struct rtnl *r, const char *ifname)
{
	int idx = ifindex_of(r, ifname);
	struct rtnl_qdisc saved;
	int e = rtnl_root_qdisc(r, idx, &saved);
	if (e < 0)
		return fail("root", e);
	printf("saved %s %x: %s %zu\n", saved.kind, saved.handle >> 16, e ? "operator" : "default", saved.options_len);
	if ((e = rtnl_htb_root(r, idx, 1, 0, 10, RTNL_PUT_REPLACE)) < 0)
		return fail("htb", e);
	struct rtnl_qdisc now;
	if (rtnl_root_qdisc(r, idx, &now) >= 0) {
		printf("replaced-by %s %x:\n", now.kind, now.handle >> 16);
		free(now.options);
	}
	e = rtnl_qdisc_put(r, idx, RTNL_H_ROOT, saved.handle, saved.kind, saved.options, saved.options_len,
			   RTNL_PUT_REPLACE);
	free(saved.options);
	return e < 0 ? fail("put back", e) : 0;
}

static int cmd_undo(struct rtnl *r, const char *ifname, const char *ifb)
{
	int idx = ifindex_of(r, ifname);
	struct rtnl_qdisc q;
	int e = rtnl_root_qdisc(r, idx, &q);
	if (e == 1 && (e = rtnl_qdisc_del(r, idx, RTNL_H_ROOT, 0)) < 0)
		return fail("delete root", e);
	if (e >= 0)
		free(q.options);
	e = rtnl_qdisc_del(r, idx, RTNL_H_INGRESS, 0);
	if (e < 0 && e != -ENOENT && e != -EINVAL)
		return fail("delete ingress", e);
	if (ifb) {
		int i;
		if (rtnl_link_index(r, ifb, &i) == 0 && (e = rtnl_link_delete(r, i)) < 0)
			return fail("delete ifb", e);
	}
	return 0;
}

static int cmd_link(struct rtnl *r, const char *ifname)
{
	struct rtnl_link l;
	int e = rtnl_link_get(r, 0, ifname, &l);
	if (e < 0)
		return fail("link", e);
	char back[IF_NAMESIZE];
	if ((e = rtnl_link_name(r, l.ifindex, back)) < 0)
		return fail("link name", e);
	printf("link %d %s %s %d %u\n", l.ifindex, back, l.kind[0] ? l.kind : "-", l.master, l.mtu);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "burst") == 0) {
		printf("burst %u\n", rtnl_burst_min(num(argv[2]), (uint32_t)num(argv[3])));
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: rtnl-probe CMD PID [ARGS...]\n");
		return 2;
	}
	proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_rtnl_ struct rtnl *r = NULL;
	int e = open_pid(argv[2], &r);
	if (e < 0)
		return fail("open", e);
	const char *cmd = argv[1];
	if (strcmp(cmd, "taps") == 0)
		return cmd_taps(argv[2], r);
	if (strcmp(cmd, "features") == 0)
		return cmd_features(r);
	if (argc >= 4 && strcmp(cmd, "link") == 0)
		return cmd_link(r, argv[3]);
	if (argc >= 4 && strcmp(cmd, "root") == 0)
		return cmd_root(r, argv[3]);
	if (argc >= 8 && strcmp(cmd, "htb") == 0)
		return cmd_htb(r, argv[3], argv + 4);
	if (argc >= 7 && strcmp(cmd, "ifb") == 0)
		return cmd_ifb(r, argv[3], argv[4], argv + 5);
	if (argc >= 6 && strcmp(cmd, "police") == 0)
		return cmd_police(r, argv[3], argv + 4);
	if (argc >= 4 && strcmp(cmd, "swap") == 0)
		return cmd_swap(r, argv[3]);
	if (argc >= 4 && strcmp(cmd, "undo") == 0)
		return cmd_undo(r, argv[3], argc >= 5 ? argv[4] : NULL);
	fprintf(stderr, "rtnl-probe: unknown command or missing arguments: %s\n", cmd);
	return 2;
}
