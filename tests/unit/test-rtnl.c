// SPDX-License-Identifier: GPL-2.0-or-later
/* kernel/rtnl: tc_core's arithmetic (ticks, the police rate table, the burst an
 * MTU-sized frame needs), and the parsers on messages the kernel sent
 * (tests/fixtures/rtnl/, captured by its capture.sh), cut and altered. Each message is
 * read into a buffer of its exact length, so that ASan sees a read past it. The real
 * kernel is tests/integration/t-rtnl.sh's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "kernel/rtnl.h"

static void *fixture(const char *name, size_t *ret_len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/rtnl/%s", FIXTURES, name);
	char *buf;
	size_t len;
	cr_assert_eq(read_file_at_whole(AT_FDCWD, path, &buf, &len), 0, "%s", path);
	void *exact = malloc(len);
	cr_assert(exact);
	memcpy(exact, buf, len);
	free(buf);
	*ret_len = len;
	return exact;
}

Test(rtnl, xmittime_as_tc_computes_it)
{
	/* 16000 bytes at 1000000 B/s: 16000 us, 250000 ticks of 64 ns, and back */
	cr_assert_eq(tc_xmittime(1000000, 16000), 250000);
	cr_assert_eq(tc_xmitsize(1000000, 250000), 16000);
	/* 1514 bytes at 1 Mbit: 12112 us, 189250 ticks */
	cr_assert_eq(tc_xmittime(125000, 1514), 189250);
	/* microseconds are truncated before ticks: 1514 bytes at 10 GB/s is 0.15 us */
	cr_assert_eq(tc_xmittime(10000000000ull, 1514), 0);
	cr_assert_eq(tc_xmittime(0, 1514), 0);
	/* a 64-bit rate */
	cr_assert_eq(tc_xmittime(5000000000ull, 1000000), 3125);
	/* clamped, not wrapped */
	cr_assert_eq(tc_xmittime(1, UINT32_MAX), UINT32_MAX);
}

Test(rtnl, rate_table_as_tc_calc_rtable)
{
	uint32_t rtab[256];
	/* mtu 0 means 2047: cell_log 3, cells of 8 bytes */
	cr_assert_eq(tc_calc_rtable(125000, 0, rtab), 3);
	cr_assert_eq(rtab[0], tc_xmittime(125000, 8));
	cr_assert_eq(rtab[0], 1000); /* 64 us */
	cr_assert_eq(rtab[255], 256000); /* 2048 bytes, 16384 us */
	for (int i = 1; i < 256; i++)
		cr_assert_geq(rtab[i], rtab[i - 1]);
	cr_assert_eq(tc_calc_rtable(125000, 1514, rtab), 3);
	cr_assert_eq(tc_calc_rtable(125000, 255, rtab), 0);
	cr_assert_eq(rtab[0], tc_xmittime(125000, 1));
	cr_assert_eq(tc_calc_rtable(125000, 256, rtab), 1);
	cr_assert_eq(tc_calc_rtable(125000, 9014, rtab), 6);
}

Test(rtnl, burst_minimum)
{
	/* one 1514-byte frame at 1 Mbit: exactly its time, no rounding lost */
	cr_assert_eq(rtnl_burst_min(125000, 1500), 1514);
	/* at 10 GB/s the frame takes 152 ns, and a burst below 1 us is 0 ticks: 10000 bytes */
	cr_assert_eq(rtnl_burst_min(10000000000ull, 1500), 10000);
	uint32_t b = rtnl_burst_min(10000000000ull, 1500);
	cr_assert_geq((uint64_t)tc_xmittime(10000000000ull, b) * 64, 152);
	cr_assert_lt((uint64_t)tc_xmittime(10000000000ull, b - 1) * 64, 152);
	/* a jumbo frame */
	cr_assert_geq(rtnl_burst_min(1000000, 9000), 9014);
	/* every result holds the frame's time, and one byte less does not (odd rates) */
	const uint64_t rates[] = {1000, 3333, 125000, 1234567, 99999999, 1000000000, 40000000000ull};
	for (size_t i = 0; i < ARRAY_SIZE(rates); i++) {
		uint64_t need = (1514ull * 1000000000ull + rates[i] - 1) / rates[i];
		uint32_t m = rtnl_burst_min(rates[i], 1500);
		cr_assert_geq((uint64_t)tc_xmittime(rates[i], m) * 64, need, "rate %llu", (unsigned long long)rates[i]);
		cr_assert(m == 1514 || (uint64_t)tc_xmittime(rates[i], m - 1) * 64 < need, "rate %llu: %u",
			  (unsigned long long)rates[i], m);
	}
	cr_assert_eq(rtnl_burst_min(0, 1500), 0);
	cr_assert_eq(rtnl_burst_min(125000, 0), 0);
}

Test(rtnl, link_of_a_tap_on_a_bridge)
{
	size_t len;
	void *m = fixture("link-tap0.bin", &len);
	struct rtnl_link l;
	cr_assert_eq(rtnl_link_parse(m, len, &l), 0);
	cr_assert_eq(l.ifindex, 3);
	cr_assert_str_eq(l.name, "tap0");
	cr_assert_str_eq(l.kind, "tun");
	cr_assert_eq(l.master, 2);
	cr_assert_eq(l.mtu, 1500);
	cr_assert(l.flags & IFF_UP);
	free(m);
}

Test(rtnl, link_kinds)
{
	const struct {
		const char *file, *name, *kind;
		int ifindex;
		uint32_t mtu;
	} want[] = {
		{"link-lo.bin", "lo", "", 1, 65536},
		{"link-br0.bin", "br0", "bridge", 2, 1500},
		{"link-ifb0.bin", "ifb0", "ifb", 4, 1500},
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		size_t len;
		void *m = fixture(want[i].file, &len);
		struct rtnl_link l;
		cr_assert_eq(rtnl_link_parse(m, len, &l), 0, "%s", want[i].file);
		cr_assert_str_eq(l.name, want[i].name);
		cr_assert_str_eq(l.kind, want[i].kind);
		cr_assert_eq(l.ifindex, want[i].ifindex);
		cr_assert_eq(l.mtu, want[i].mtu);
		cr_assert_eq(l.master, 0);
		free(m);
	}
}

Test(rtnl, link_cut_or_altered)
{
	size_t len;
	uint8_t *m = fixture("link-tap0.bin", &len);
	struct rtnl_link l = {.ifindex = 77};
	/* shorter than its nlmsg_len */
	cr_assert_eq(rtnl_link_parse(m, len - 1, &l), -EBADMSG);
	cr_assert_eq(rtnl_link_parse(m, 10, &l), -EBADMSG);
	cr_assert_eq(l.ifindex, 77, "no output on failure");
	/* another message type */
	struct nlmsghdr *h = (struct nlmsghdr *)m;
	h->nlmsg_type = RTM_NEWQDISC;
	cr_assert_eq(rtnl_link_parse(m, len, &l), -EBADMSG);
	h->nlmsg_type = RTM_NEWLINK;
	/* cut to the header and ifinfomsg: no name */
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	cr_assert_eq(rtnl_link_parse(m, h->nlmsg_len, &l), -EBADMSG);
	free(m);
}

Test(rtnl, qdisc_operator_tbf_with_options)
{
	size_t len;
	void *m = fixture("qdisc-ifb0-tbf.bin", &len);
	struct rtnl_qdisc q;
	cr_assert_eq(rtnl_qdisc_parse(m, len, &q), 0);
	cr_assert_str_eq(q.kind, "tbf");
	cr_assert_eq(q.ifindex, 4);
	cr_assert_eq(q.handle, RTNL_H(5, 0));
	cr_assert_eq(q.parent, RTNL_H_ROOT);
	cr_assert_not(rtnl_qdisc_is_default(&q));
	/* TCA_OPTIONS' payload: TCA_TBF_PARMS first, rate 125000 B/s, Ethernet */
	cr_assert_geq(q.options_len, 4 + sizeof(struct tc_tbf_qopt));
	const struct nlattr *a = q.options;
	cr_assert_eq(a->nla_type, TCA_TBF_PARMS);
	struct tc_tbf_qopt o;
	memcpy(&o, (const char *)q.options + 4, sizeof(o));
	cr_assert_eq(o.rate.rate, 125000);
	cr_assert_eq(o.rate.linklayer, TC_LINKLAYER_ETHERNET);
	/* 10 kb at 1 Mbit: 81920 us */
	cr_assert_eq(o.buffer, tc_xmittime(125000, 10240));
	/* read back as tc show reads it: the bucket from its ticks */
	struct rtnl_rate rate;
	cr_assert_eq(rtnl_tbf_parse(q.options, q.options_len, &rate), 0);
	cr_assert_eq(rate.rate, 125000);
	cr_assert_eq(rate.ceil, 0);
	cr_assert_eq(rate.burst, 10240);
	cr_assert_eq(rate.limit, o.limit);
	cr_assert_eq(rtnl_tbf_parse(q.options, 3, &rate), -EBADMSG, "cut short");
	cr_assert_eq(rtnl_tbf_parse(NULL, 0, &rate), -EBADMSG);
	free(q.options);
	free(m);
}

Test(rtnl, qdisc_kernel_defaults)
{
	const char *files[] = {"qdisc-tap0-pfifo_fast.bin", "qdisc-lo-noqueue.bin", "qdisc-br0-noqueue.bin"};
	const char *kinds[] = {"pfifo_fast", "noqueue", "noqueue"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		size_t len;
		void *m = fixture(files[i], &len);
		struct rtnl_qdisc q;
		cr_assert_eq(rtnl_qdisc_parse(m, len, &q), 0, "%s", files[i]);
		cr_assert_str_eq(q.kind, kinds[i]);
		cr_assert_eq(q.handle, 0);
		cr_assert_eq(q.parent, RTNL_H_ROOT);
		cr_assert(rtnl_qdisc_is_default(&q));
		free(q.options);
		free(m);
	}
}

Test(rtnl, qdisc_cut_or_altered)
{
	size_t len;
	uint8_t *m = fixture("qdisc-ifb0-tbf.bin", &len);
	struct rtnl_qdisc q;
	cr_assert_eq(rtnl_qdisc_parse(m, len - 4, &q), -EBADMSG);
	struct nlmsghdr *h = (struct nlmsghdr *)m;
	h->nlmsg_type = RTM_NEWLINK;
	cr_assert_eq(rtnl_qdisc_parse(m, len, &q), -EBADMSG);
	h->nlmsg_type = RTM_NEWQDISC;
	/* no TCA_KIND */
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
	cr_assert_eq(rtnl_qdisc_parse(m, h->nlmsg_len, &q), -EBADMSG);
	free(m);
}

Test(rtnl, feature_names)
{
	cr_assert_str_eq(rtnl_feature_name(RTNL_FEAT_HTB), "htb");
	cr_assert_str_eq(rtnl_feature_name(RTNL_FEAT_POLICE), "police");
	cr_assert_str_eq(rtnl_feature_name(RTNL_FEAT_IFB), "ifb");
	cr_assert_str_eq(rtnl_feature_name(RTNL_FEAT_N), "?");
}

Test(rtnl, police_options_as_tc_sends_them)
{
	/* what `tc filter add ... u32 match u32 0 0 police rate 1mbit burst 10k mtu 1514
	 * drop` (iproute2 6.1) sent as the police options, captured with strace */
	size_t len;
	void *want = fixture("police-1mbit-10k-mtu1514.bin", &len);
	uint8_t buf[RTNL_POLICE_ATTRS_MAX];
	struct rtnl_rate rate = {.rate = 125000, .burst = 10240, .mtu = 1500};
	size_t n = rtnl_police_attrs(&rate, buf, sizeof(buf));
	cr_assert_eq(n, len);
	cr_assert_eq(memcmp(buf, want, len), 0);
	free(want);
	/* above 2^32-1 B/s: RATE64 follows, the 32-bit rate saturated */
	rate.rate = 5000000000ull;
	n = rtnl_police_attrs(&rate, buf, sizeof(buf));
	cr_assert_eq(n, len + NLA_HDRLEN + 8);
	uint64_t r64;
	memcpy(&r64, buf + len + NLA_HDRLEN, sizeof(r64));
	cr_assert_eq(r64, 5000000000ull);
	struct tc_police p;
	memcpy(&p, buf + NLA_HDRLEN, sizeof(p));
	cr_assert_eq(p.rate.rate, UINT32_MAX);
	cr_assert_eq(p.action, TC_ACT_SHOT);
	rate.rate = 0;
	cr_assert_eq(rtnl_police_attrs(&rate, buf, sizeof(buf)), 0);
	rate.rate = 1;
	cr_assert_eq(rtnl_police_attrs(&rate, buf, 100), 0);
}

/* The live kernel, read only: a NETLINK_ROUTE socket that only asks needs no
 * privilege, and every network namespace has lo. */
Test(rtnl, live_lo_in_own_namespace)
{
	struct rtnl *r = NULL;
	int e = rtnl_open(-1, &r);
	if (e == -EAFNOSUPPORT || e == -EPROTONOSUPPORT)
		cr_skip_test("no NETLINK_ROUTE here: %s", strerror(-e));
	cr_assert_eq(e, 0);
	cr_assert(rtnl_own_netns(r));
	int idx = 0;
	cr_assert_eq(rtnl_link_index(r, "lo", &idx), 0);
	cr_assert_gt(idx, 0);
	char name[IF_NAMESIZE];
	cr_assert_eq(rtnl_link_name(r, idx, name), 0);
	cr_assert_str_eq(name, "lo");
	struct rtnl_link l;
	cr_assert_eq(rtnl_link_get(r, 0, "lo", &l), 0);
	cr_assert_eq(l.ifindex, idx);
	cr_assert_str_eq(l.kind, "");
	cr_assert_eq(rtnl_link_get(r, 0, "no-such-link-x", &l), -ENODEV);
	cr_assert_eq(rtnl_link_get(r, 0, "name-of-sixteen1", &l), -EINVAL);
	struct rtnl_qdisc *q = NULL;
	size_t n = 0;
	cr_assert_eq(rtnl_qdisc_list(r, idx, &q, &n), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(q[i].ifindex, idx);
	rtnl_qdiscs_free(q, n);
	rtnl_close(r);
}

/* The thread that enters a namespace, with this process's own: root only (setns needs
 * CAP_SYS_ADMIN even into one's own namespace). */
Test(rtnl, open_through_a_namespace_fd)
{
	_cleanup_close_ int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ns, 0);
	cr_assert_eq(rtnl_netns_is_own(ns), 1);
	struct rtnl *r = NULL;
	int e = rtnl_open(ns, &r);
	if (e == -EPERM)
		cr_skip_test("setns needs CAP_SYS_ADMIN");
	cr_assert_eq(e, 0);
	cr_assert(rtnl_own_netns(r));
	int idx;
	cr_assert_eq(rtnl_link_index(r, "lo", &idx), 0);
	rtnl_close(r);
	/* not a namespace */
	_cleanup_close_ int notns = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(rtnl_netns_is_own(notns), 0);
	cr_assert_eq(rtnl_open(notns, &r), -EINVAL);
}
