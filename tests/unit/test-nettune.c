// SPDX-License-Identifier: GPL-2.0-or-later
/* plan/nettune: the tc steps from what a pin observed of a VM's taps and the shaping
 * asked, on made-up observations (no kernel): a fresh tap, police or an IFB by what
 * the kernel has, an operator's qdiscs refused or replaced, a re-pin that changes
 * nothing, removal, a burst raised to one frame, and the record after a run. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "plan/nettune.h"

static struct net_tap_obs tap(const char *name, int ifindex)
{
	struct net_tap_obs t = {.ifindex = ifindex, .mtu = 1500, .has_root = true};
	snprintf(t.ifname, sizeof(t.ifname), "%s", name);
	snprintf(t.root.kind, sizeof(t.root.kind), "pfifo_fast");
	t.root.parent = RTNL_H_ROOT; /* handle 0: the kernel's default */
	net_ifb_name(42, 4242, name, t.ifb);
	return t;
}

static void features(struct net_obs *o, int police, int ifb)
{
	for (int f = 0; f < RTNL_FEAT_N; f++)
		o->feat[f] = 1;
	o->feat[RTNL_FEAT_POLICE] = police;
	o->feat[RTNL_FEAT_IFB] = ifb;
	o->netns_dev = 4;
	o->netns_ino = 4026531840u;
}

static char star[] = "*";
static char *glob_all[] = {star};
static struct nettune tune(uint64_t in, uint64_t out)
{
	return (struct nettune){.in = {.average = in}, .out = {.average = out}, .interfaces = glob_all, .n_interfaces = 1};
}

struct result {
	struct net_plan plan;
	char **warnings, **skipped;
	size_t n_warnings, n_skipped;
	int r;
};

static void run(const struct nettune *want, const struct nettune *had, struct net_obs *o, const struct vm_state *st,
		bool force, struct result *x)
{
	*x = (struct result){0};
	err_clear();
	x->r = plan_nettune(want, had, o, st, force, &x->plan, &x->warnings, &x->n_warnings, &x->skipped,
			    &x->n_skipped);
}

static void done(struct result *x)
{
	net_plan_done(&x->plan);
	strv_free(x->warnings);
	strv_free(x->skipped);
}

/* "tbf ingress police": the steps' names in order */
static void steps_are(const struct net_plan *p, const char *want)
{
	char got[256] = "";
	for (size_t i = 0; i < p->n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "", net_act_name(p->v[i].act));
	cr_assert_str_eq(got, want);
}

Test(nettune, fresh_tap_police)
{
	struct net_tap_obs t = tap("vnet0", 7);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	struct nettune w = tune(2500000, 1250000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0, "%s", err_get() ? err_get() : "");
	steps_are(&x.plan, "tbf ingress police");
	const struct net_action *a = &x.plan.v[0];
	cr_assert_eq(a->mode, RTNL_PUT_CREATE);
	cr_assert_eq(a->rate.rate, 2500000);
	cr_assert_eq(a->rate.burst, 25000, "10 ms at the average");
	cr_assert_eq(a->rate.limit, 2500000 / 20 + 25000, "50 ms of queue and the burst");
	cr_assert(a->records && a->change.what == NET_ADDED_ROOT && a->change.ifindex == 7 && a->change.handle == NET_HANDLE);
	cr_assert_str_eq(a->change.kind, "tbf");
	cr_assert_eq(x.plan.v[2].rate.rate, 1250000);
	cr_assert_eq(x.n_warnings + x.n_skipped, 0);
	/* the record before the run lists both additions, after it the same */
	struct vm_state st = {0};
	cr_assert_eq(net_record_apply(NULL, 0, &x.plan, 0, true, &st), 0);
	cr_assert_eq(st.n_net, 2);
	cr_assert_eq(st.net[1].what, NET_ADDED_INGRESS);
	cr_assert_eq(st.net[1].netns_ino, 4026531840u);
	vm_state_done(&st);
	/* a run that stopped after the first step records only that one */
	cr_assert_eq(net_record_apply(NULL, 0, &x.plan, 1, false, &st), 0);
	cr_assert_eq(st.n_net, 1);
	vm_state_done(&st);
	done(&x);
}

Test(nettune, no_police_goes_through_an_ifb)
{
	struct net_tap_obs t = tap("vnet0", 7);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 0, 1);
	struct nettune w = tune(0, 1250000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	steps_are(&x.plan, "ifb tbf ingress mirred");
	cr_assert_str_eq(x.plan.v[0].dev, t.ifb);
	cr_assert_eq(strncmp(t.ifb, "kvmcg", 5), 0);
	cr_assert_eq(strlen(t.ifb), 13);
	cr_assert_str_eq(x.plan.v[1].dev, t.ifb, "the TBF sits on the IFB");
	cr_assert_str_eq(x.plan.v[3].to, t.ifb);
	done(&x);
	/* a peak: police has none here, so the IFB is used even where police exists */
	features(&o, 1, 1);
	w.out.peak = 2500000;
	run(&w, NULL, &o, NULL, false, &x);
	steps_are(&x.plan, "ifb tbf ingress mirred");
	cr_assert_eq(x.plan.v[1].rate.ceil, 2500000);
	done(&x);
}

Test(nettune, neither_police_nor_ifb_is_said)
{
	struct net_tap_obs t = tap("vnet0", 7);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 0, 0);
	struct nettune w = tune(2500000, 1250000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	steps_are(&x.plan, "tbf");
	cr_assert_eq(x.n_skipped, 1);
	cr_assert(strstr(x.skipped[0], "OutboundAverage= on vnet0 (this kernel has neither act_police nor ifb"), "%s",
		  x.skipped[0]);
	done(&x);
}

Test(nettune, operator_root_refused_or_replaced_and_recorded)
{
	struct net_tap_obs t = tap("vnet0", 7);
	snprintf(t.root.kind, sizeof(t.root.kind), "fq_codel");
	t.root.handle = RTNL_H(1, 0);
	unsigned char opts[] = {1, 2, 3, 4};
	t.root.options = opts;
	t.root.options_len = sizeof(opts);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	struct nettune w = tune(2500000, 0);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, -EBUSY);
	cr_assert(strstr(err_get(), "vnet0 has a root qdisc kvmcg did not put there (fq_codel, handle 1:)"), "%s", err_get());
	cr_assert_eq(x.plan.n, 0);
	done(&x);
	run(&w, NULL, &o, NULL, true, &x);
	cr_assert_eq(x.r, 0);
	steps_are(&x.plan, "tbf");
	const struct net_change *c = &x.plan.v[0].change;
	cr_assert_eq(x.plan.v[0].mode, RTNL_PUT_REPLACE);
	cr_assert_str_eq(c->was_kind, "fq_codel");
	cr_assert_eq(c->was_handle, RTNL_H(1, 0));
	cr_assert_eq(c->was_len, 4);
	cr_assert_eq(memcmp(c->was_options, opts, 4), 0);
	cr_assert_eq(x.n_warnings, 1);
	cr_assert(strstr(x.warnings[0], "root qdisc fq_codel 1: is replaced (--force); unpin puts it back"));
	done(&x);
	/* a classful one: kvmcg could not put its classes back, so not even --force */
	snprintf(t.root.kind, sizeof(t.root.kind), "htb");
	run(&w, NULL, &o, NULL, true, &x);
	cr_assert_eq(x.r, -EBUSY);
	cr_assert(strstr(err_get(), "(htb, handle 1:), which kvmcg could not put back as it was"), "%s", err_get());
	cr_assert_eq(x.plan.n, 0);
	done(&x);
	/* an ingress qdisc of the operator's, the same */
	t = tap("vnet0", 7);
	t.ingress = true;
	snprintf(t.ingress_kind, sizeof(t.ingress_kind), "clsact");
	w = tune(0, 1250000);
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, -EBUSY);
	cr_assert(strstr(err_get(), "vnet0 has an ingress-side qdisc kvmcg did not put there (clsact)"), "%s", err_get());
	done(&x);
	run(&w, NULL, &o, NULL, true, &x);
	steps_are(&x.plan, "del-ingress ingress police");
	cr_assert_str_eq(x.plan.v[1].change.was_kind, "clsact", "unpin puts back an empty clsact");
	done(&x);
}

/* A record of an earlier pin: root and ingress on vnet0 (police). */
static void earlier(struct vm_state *st, struct net_obs *o)
{
	char tbf[] = "tbf";
	struct net_change c = {.what = NET_ADDED_ROOT, .netns_dev = o->netns_dev, .netns_ino = o->netns_ino,
			       .ifindex = 7, .kind = tbf, .handle = NET_HANDLE};
	snprintf(c.dev, sizeof(c.dev), "vnet0");
	cr_assert_eq(record_add_net(st, &c), 0);
	c.what = NET_ADDED_INGRESS;
	c.kind = NULL;
	c.handle = 0;
	cr_assert_eq(record_add_net(st, &c), 0);
}

Test(nettune, repin_as_recorded_changes_nothing_then_removal)
{
	struct net_tap_obs t = tap("vnet0", 7);
	snprintf(t.root.kind, sizeof(t.root.kind), "tbf");
	t.root.handle = NET_HANDLE;
	t.root_ours = true;
	t.ingress = t.ingress_ours = true;
	snprintf(t.ingress_kind, sizeof(t.ingress_kind), "ingress");
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, -EOPNOTSUPP, -EOPNOTSUPP); /* not probed: nothing to make */
	struct vm_state st = {0};
	earlier(&st, &o);
	struct nettune w = tune(2500000, 1250000);
	struct result x;
	run(&w, &w, &o, &st, false, &x);
	cr_assert_eq(x.r, 0);
	cr_assert_eq(x.plan.n, 0, "%zu steps", x.plan.n);
	done(&x);
	/* the tap renamed since: still kvmcg's, by its index */
	snprintf(t.ifname, sizeof(t.ifname), "renamed0");
	cr_assert_not_null(record_find_net(&st, NET_ADDED_ROOT, "renamed0", 7));
	run(&w, &w, &o, &st, false, &x);
	cr_assert_eq(x.plan.n, 0, "%zu steps", x.plan.n);
	done(&x);
	snprintf(t.ifname, sizeof(t.ifname), "vnet0");
	/* a new inbound rate: the TBF is replaced, and a rollback puts its options back */
	struct nettune w2 = tune(5000000, 1250000);
	run(&w2, &w, &o, &st, false, &x);
	steps_are(&x.plan, "tbf");
	cr_assert_eq(x.plan.v[0].mode, RTNL_PUT_REPLACE);
	cr_assert(x.plan.v[0].has_before && !x.plan.v[0].records);
	done(&x);
	/* no shaping asked for vnet0 any more: both go, and the record loses them */
	char vnet9[] = "vnet9", *other[] = {vnet9};
	struct nettune w3 = tune(2500000, 1250000);
	w3.interfaces = other;
	run(&w3, &w, &o, &st, false, &x);
	steps_are(&x.plan, "del-root del-ingress");
	cr_assert(x.plan.v[0].undo_known && x.plan.v[0].undo_rate.rate == 2500000, "a rollback makes it again");
	cr_assert(x.plan.v[1].undo_known && x.plan.v[1].undo_method == 'p' && x.plan.v[1].undo_rate.rate == 1250000);
	struct vm_state after = {0};
	cr_assert_eq(net_record_apply(st.net, st.n_net, &x.plan, x.plan.n, false, &after), 0);
	cr_assert_eq(after.n_net, 0);
	vm_state_done(&after);
	/* planned: nothing is dropped before it is done */
	cr_assert_eq(net_record_apply(st.net, st.n_net, &x.plan, 0, true, &after), 0);
	cr_assert_eq(after.n_net, 2);
	vm_state_done(&after);
	done(&x);
	vm_state_done(&st);
}

Test(nettune, burst_below_a_frame_is_raised_with_both_figures)
{
	struct net_tap_obs t = tap("vnet0", 7);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	struct nettune w = tune(2500000, 0);
	w.in.burst = 100;
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	uint32_t min = rtnl_burst_min(2500000, 1500);
	cr_assert_geq(min, 1514);
	cr_assert_eq(x.plan.v[0].rate.burst, min);
	cr_assert_eq(x.n_warnings, 1);
	char want[200];
	snprintf(want, sizeof(want), "vnet0: InboundBurst=100 bytes is less than one 1514-byte frame needs at 2500000 "
				     "bytes/s; %u bytes are used", min);
	cr_assert_str_eq(x.warnings[0], want);
	done(&x);
}

Test(nettune, interfaces_filter_the_taps)
{
	struct net_tap_obs t[2] = {tap("vnet0", 7), tap("mgmt0", 8)};
	struct net_obs o = {.taps = t, .n_taps = 2};
	features(&o, 1, 1);
	char vnetg[] = "vnet*", *globs[] = {vnetg};
	struct nettune w = tune(2500000, 0);
	w.interfaces = globs;
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	steps_are(&x.plan, "tbf");
	cr_assert_str_eq(x.plan.v[0].dev, "vnet0");
	done(&x);
}

Test(nettune, describe)
{
	struct net_action a = {.act = NA_ROOT, .mode = RTNL_PUT_CREATE,
			       .rate = {.rate = 2500000, .burst = 25000, .limit = 150000}};
	snprintf(a.dev, sizeof(a.dev), "vnet0");
	char *s = net_action_describe(&a);
	cr_assert_str_eq(s, "vnet0: add tbf root 6b76: rate 2500000 bytes/s burst 25000 bytes limit 150000 bytes");
	free(s);
}

Test(nettune, rates_tc_cannot_hold)
{
	struct net_tap_obs t = tap("vnet0", 7);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	/* 5 bytes/s (40 bit/s): one 1514-byte frame takes 303 s, beyond 2^32 ticks of 64 ns */
	struct nettune w = tune(5, 0);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, -EINVAL);
	cr_assert(strstr(err_get(), "InboundAverage= of 5 bytes/s is too low for vnet0"), "%s", err_get());
	done(&x);
	/* 100 MiB of burst at 1 Mbit/s is 839 s: cut to what a bucket holds, said */
	w = tune(125000, 0);
	w.in.burst = 100u << 20;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	uint64_t max = net_burst_max(125000);
	cr_assert(max > 125000ull * 274 && max < 125000ull * 275, "%llu", (unsigned long long)max);
	cr_assert_eq(x.plan.v[0].rate.burst, max);
	cr_assert_eq(tc_xmitsize(125000, tc_xmittime(125000, (uint32_t)max)), max, "the ticks hold it exactly");
	cr_assert_eq(x.n_warnings, 1);
	cr_assert(strstr(x.warnings[0], "InboundBurst=104857600 bytes is more than a tc bucket holds"), "%s",
		  x.warnings[0]);
	done(&x);
}

Test(nettune, a_dead_runs_ifb_is_removed_first)
{
	struct net_tap_obs t = tap("vnet0", 7);
	t.ifb_stale = true;
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 0, 1);
	struct nettune w = tune(0, 1250000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	steps_are(&x.plan, "del-ifb ifb tbf ingress mirred");
	cr_assert_not(x.plan.v[0].records, "not in the record: nothing to drop from it");
	done(&x);
	/* police here: the leftover goes, nothing takes its place */
	features(&o, 1, 1);
	run(&w, NULL, &o, NULL, false, &x);
	steps_are(&x.plan, "del-ifb ingress police");
	done(&x);
}

Test(nettune, ifb_names_and_restorable_kinds)
{
	char n[IF_NAMESIZE];
	net_ifb_name(1234, 99, "vnet0", n);
	cr_assert(net_ifb_name_valid(n));
	cr_assert_not(net_ifb_name_valid("ifb0"));
	cr_assert_not(net_ifb_name_valid("kvmcg0123abcZ"));
	cr_assert_not(net_ifb_name_valid("kvmcg0123abc"));
	cr_assert_not(net_ifb_name_valid("kvmcgp1234"), "the probe's throwaway device is not one");
	cr_assert(net_qdisc_restorable("fq_codel"));
	cr_assert(net_qdisc_restorable("tbf"));
	cr_assert_not(net_qdisc_restorable("htb"));
	cr_assert_not(net_qdisc_restorable("mq"));
	cr_assert_not(net_qdisc_restorable("prio"));
}

/* ---- Weight=: a share of the tap's bridge ---- */

static uint8_t mac1[1][6] = {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01}};

/* vnet0 (7) on bridge br0 (3), with the guest's MAC known; root: 0 default, 1 kvmcg's
 * HTB at total, -1 the operator's */
static struct net_tap_obs bridged(int root, uint64_t total)
{
	struct net_tap_obs t = tap("vnet0", 7);
	t.bridge = 3;
	t.bridge_mtu = 1500;
	snprintf(t.bridge_name, sizeof(t.bridge_name), "br0");
	t.bridge_root = root;
	t.bridge_total = total;
	if (root < 0)
		snprintf(t.bridge_root_kind, sizeof(t.bridge_root_kind), "fq_codel 1:");
	t.macs = mac1;
	t.n_macs = 1;
	return t;
}

static struct nettune weighted(unsigned weight, uint64_t total)
{
	struct nettune w = tune(0, 0);
	w.weight = weight;
	w.bridge_total = total;
	return w;
}

Test(nettune, weight_rates_are_in_proportion)
{
	struct rtnl_rate a, b;
	/* weights 100 and 300 on one bridge: a quarter and three quarters of the total */
	net_weight_rate(100, 300, 2500000, 1500, &a);
	net_weight_rate(300, 100, 2500000, 1500, &b);
	cr_assert_eq(a.rate, 625000);
	cr_assert_eq(b.rate, 1875000);
	cr_assert_eq(a.rate + b.rate, 2500000, "the rates add up to the total");
	cr_assert_eq(a.ceil, 2500000);
	cr_assert_eq(a.quantum, 2000, "the weight, in the quantum");
	cr_assert_eq(net_class_weight(b.quantum), 300);
	cr_assert_eq(a.burst, 31250, "50 ms of the rate");
	cr_assert_eq(a.cburst, 125000, "50 ms of the total");
	/* alone on it: all of it */
	net_weight_rate(7, 0, 2500000, 1500, &a);
	cr_assert_eq(a.rate, 2500000);
	/* the extremes: a rate of at least 1, a quantum HTB takes, no overflow */
	net_weight_rate(1, 9999 * 100, 1000, 1500, &a);
	cr_assert_eq(a.rate, 1);
	cr_assert_eq(a.quantum, 20);
	cr_assert_geq(a.burst, rtnl_burst_min(1, 1500) < net_burst_max(1) ? rtnl_burst_min(1, 1500) : 0);
	net_weight_rate(10000, 10000, UINT64_MAX, 1500, &b);
	cr_assert_eq(b.rate, UINT64_MAX / 2, "half of the largest total, without overflow");
	cr_assert_eq(b.quantum, 200000, "the largest quantum HTB takes without a warning");
	cr_assert_eq(net_class_weight(0), 1);
}

Test(nettune, weight_on_a_fresh_bridge_makes_root_class_and_records_the_class)
{
	struct net_tap_obs t = bridged(0, 0);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	struct nettune w = weighted(300, 2500000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0, "%s", err_get() ? err_get() : "");
	steps_are(&x.plan, "bridge class");
	cr_assert_eq(x.plan.v[0].ifindex, 3, "on the bridge");
	cr_assert_eq(x.plan.v[0].rate.rate, 2500000);
	const struct net_action *c = &x.plan.v[1];
	cr_assert_eq(c->classid, RTNL_H(NET_HANDLE_MAJOR, 2), "the lowest free minor");
	cr_assert_eq(c->rate.rate, 2500000, "alone on the bridge: all of it");
	cr_assert_eq(c->n_macs, 1);
	cr_assert(c->records && c->change.what == NET_ADDED_CLASS && c->change.port == 7 && c->change.ifindex == 3 &&
		  c->change.handle == c->classid);
	_cleanup_free_ char *d = net_action_describe(c);
	cr_assert_not_null(strstr(d, "u32 filter on ether dst 52:54:00:aa:bb:01"), "%s", d);
	struct vm_state st = {0};
	cr_assert_eq(net_record_apply(NULL, 0, &x.plan, x.plan.n, false, &st), 0);
	cr_assert_eq(st.n_net, 1, "only the tap's class: the root is every VM's");
	done(&x);

	/* a second VM's tap on the same bridge, kvmcg's HTB there with minor 2 taken */
	struct net_tap_obs t2 = bridged(1, 2500000);
	uint16_t used[] = {1, 2};
	t2.used = used;
	t2.n_used = 2;
	t2.bridge_classes = 1;
	t2.bridge_weights = 100;
	o.taps = &t2;
	run(&w, NULL, &o, NULL, false, &x);
	steps_are(&x.plan, "class");
	cr_assert_eq(x.plan.v[0].classid, RTNL_H(NET_HANDLE_MAJOR, 3));
	cr_assert_eq(x.plan.v[0].rate.rate, 1875000, "300 of the 400 weights there");
	done(&x);
	/* the guest behind it sends from the MAC another VM's class filters: not taken */
	struct rtnl_mac_filter other = {.prio = 2, .classid = RTNL_H(NET_HANDLE_MAJOR, 2)};
	memcpy(other.mac, mac1[0], 6);
	t2.mac_filters = &other;
	t2.n_mac_filters = 1;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	cr_assert_eq(x.plan.n, 0);
	cr_assert_eq(x.n_warnings, 1);
	cr_assert_not_null(strstr(x.warnings[0], "52:54:00:aa:bb:01 behind it is another VM's class's on br0 (6b76:2)"),
			   "%s", x.warnings[0]);
	cr_assert_eq(x.n_skipped, 1);
	cr_assert_not_null(strstr(x.skipped[0], "every MAC behind it is another VM's class's"), "%s", x.skipped[0]);
	done(&x);
	t2.mac_filters = NULL;
	t2.n_mac_filters = 0;
	/* ... which gives another total: refused, naming both */
	struct nettune w2 = weighted(100, 1250000);
	run(&w2, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, -EBUSY);
	cr_assert_not_null(strstr(err_get(), "shared at 20000000 bit/s by 1 other"), "%s", err_get());
	cr_assert_not_null(strstr(err_get(), "10000000 bit/s"), "%s", err_get());
	done(&x);
	o.taps = &t;
	/* the same again, recorded and there: nothing to do */
	t.bridge_root = 1;
	t.bridge_total = 2500000;
	t.class_ours = true;
	t.bridge_classes = 1;
	t.class = (struct rtnl_class){.classid = RTNL_H(NET_HANDLE_MAJOR, 2), .rate = 2500000, .ceil = 2500000, .quantum = 6000};
	struct rtnl_mac_filter mine = {.prio = 2, .classid = RTNL_H(NET_HANDLE_MAJOR, 2)};
	memcpy(mine.mac, mac1[0], 6);
	t.mac_filters = &mine;
	t.n_mac_filters = 1;
	run(&w, &w, &o, &st, false, &x);
	cr_assert_eq(x.r, 0);
	cr_assert_eq(x.plan.n, 0, "%zu steps", x.plan.n);
	done(&x);
	/* the guest behind it has another MAC now: the filters are made again */
	mine.mac[5] = 0x99;
	run(&w, &w, &o, &st, false, &x);
	steps_are(&x.plan, "class");
	cr_assert(x.plan.v[0].refilter && x.plan.v[0].n_before_macs == 1 && x.plan.v[0].before_macs[0][5] == 0x99);
	cr_assert_eq(x.plan.v[0].macs[0][5], 0x01);
	done(&x);
	mine.mac[5] = 0x01;
	/* its only VM gives another total: the total changes, then its class */
	run(&w2, &w, &o, &st, false, &x);
	cr_assert_eq(x.r, 0, "%s", err_get() ? err_get() : "");
	steps_are(&x.plan, "total class");
	cr_assert_eq(x.plan.v[0].before_rate.rate, 2500000, "a rollback puts the old total back");
	cr_assert_eq(x.plan.v[1].mode, RTNL_PUT_REPLACE);
	done(&x);
	/* no weight any more: the class goes, and a rollback could make it again */
	struct nettune none = tune(2500000, 0);
	run(&none, &w, &o, &st, false, &x);
	steps_are(&x.plan, "tbf del-class");
	cr_assert(x.plan.v[1].undo_known && x.plan.v[1].undo_rate.rate == 2500000 && x.plan.v[1].n_macs == 1);
	struct vm_state after = {0};
	cr_assert_eq(net_record_apply(st.net, st.n_net, &x.plan, x.plan.n, false, &after), 0);
	cr_assert_eq(after.n_net, 1, "the TBF's root only");
	cr_assert_eq(after.net[0].what, NET_ADDED_ROOT);
	vm_state_done(&after);
	done(&x);
	vm_state_done(&st);
}

Test(nettune, weight_refused_or_said_where_it_cannot_be)
{
	struct nettune w = weighted(100, 2500000);
	struct result x;
	/* the operator's qdisc on the bridge: refused even with --force */
	struct net_tap_obs t = bridged(-1, 0);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	run(&w, NULL, &o, NULL, true, &x);
	cr_assert_eq(x.r, -EBUSY);
	cr_assert_not_null(strstr(err_get(), "br0 has a root qdisc kvmcg did not put there (fq_codel 1:)"), "%s",
			   err_get());
	cr_assert_not_null(strstr(err_get(), "not even --force"));
	done(&x);
	/* on no bridge; no MAC known: said, nothing planned */
	struct net_tap_obs lone = tap("vnet0", 7), nomac = bridged(0, 0);
	nomac.macs = NULL;
	nomac.n_macs = 0;
	struct net_tap_obs nohtb = bridged(0, 0);
	struct net_tap_obs *cases[] = {&lone, &nomac, &nohtb};
	const char *why[] = {"enslaved to no bridge", "no MAC of the guest behind it is known",
			     "this kernel has no htb qdisc, sch_htb, to share br0 with"};
	for (size_t i = 0; i < 3; i++) {
		o.taps = cases[i];
		o.feat[RTNL_FEAT_HTB] = cases[i] == &nohtb ? 0 : 1;
		run(&w, NULL, &o, NULL, false, &x);
		cr_assert_eq(x.r, 0);
		cr_assert_eq(x.plan.n, 0);
		cr_assert_eq(x.n_skipped, 1);
		cr_assert_not_null(strstr(x.skipped[0], why[i]), "%s", x.skipped[0]);
		done(&x);
	}
}

/* kvmcg's TBF replaced by the operator's pfifo since; a pin with --force replaces it
 * again, and the record then says the pfifo is what unpin puts back. */
Test(nettune, forced_over_an_operator_qdisc_that_took_kvmcgs_place)
{
	struct net_tap_obs t = tap("vnet0", 7);
	snprintf(t.root.kind, sizeof(t.root.kind), "pfifo");
	t.root.handle = RTNL_H(1, 0);
	struct net_obs o = {.taps = &t, .n_taps = 1};
	features(&o, 1, 1);
	struct vm_state st = {0};
	earlier(&st, &o);
	struct nettune w = tune(2500000, 0);
	struct result x;
	run(&w, &w, &o, &st, false, &x);
	cr_assert_eq(x.r, -EBUSY, "without --force: refused");
	done(&x);
	run(&w, &w, &o, &st, true, &x);
	cr_assert_eq(x.r, 0, "%s", err_get() ? err_get() : "");
	cr_assert_str_eq(net_act_name(x.plan.v[0].act), "tbf");
	struct vm_state after = {0};
	cr_assert_eq(net_record_apply(st.net, st.n_net, &x.plan, x.plan.n, false, &after), 0);
	const struct net_change *root = record_find_net(&after, NET_ADDED_ROOT, "vnet0", 7);
	cr_assert_not_null(root);
	cr_assert_not_null(root->was_kind, "the record now says what to put back");
	cr_assert_str_eq(root->was_kind, "pfifo");
	cr_assert_eq(root->was_handle, RTNL_H(1, 0));
	size_t roots = 0;
	for (size_t i = 0; i < after.n_net; i++)
		roots += after.net[i].what == NET_ADDED_ROOT;
	cr_assert_eq(roots, 1, "one entry for the tap's root, not two");
	vm_state_done(&after);
	done(&x);
	vm_state_done(&st);
}

/* Weight= with the default Interface=*: a VM's tap on no bridge beside one on a
 * bridge is no setting left undone; alone, it is. */
Test(nettune, weight_skips_unbridged_taps_beside_bridged_ones)
{
	struct net_tap_obs v[2] = {bridged(0, 0), tap("vnet1", 8)};
	struct net_obs o = {.taps = v, .n_taps = 2};
	features(&o, 1, 1);
	struct nettune w = weighted(100, 2500000);
	struct result x;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.r, 0);
	steps_are(&x.plan, "bridge class");
	cr_assert_eq(x.n_skipped, 0, "%s", x.n_skipped ? x.skipped[0] : "");
	done(&x);
	o.taps = &v[1];
	o.n_taps = 1;
	run(&w, NULL, &o, NULL, false, &x);
	cr_assert_eq(x.n_skipped, 1);
	done(&x);
}
