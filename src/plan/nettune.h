/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The network planner (libvirt's domiftune on a VM's taps): from what one pin observed
 * of the VM's taps (core/nettune.c reads it) and the shaping asked to an ordered list
 * of tc steps and the record's changes, without touching anything.
 *
 *   inbound  (host to guest, the tap's egress): a TBF root qdisc on the tap, with the
 *            average as its rate, the burst as its bucket and the peak as its peak
 *            rate (net/sched/sch_tbf.c); a tap needs no more than that
 *   outbound (guest to host, the tap's ingress): an ingress qdisc with a match-all
 *            u32 filter and a police action (act_police) when the kernel has it and no
 *            peak is asked; else every packet redirected (act_mirred) to an IFB device
 *            kvmcg makes for the tap, shaped there by TBF as inbound is
 *
 *   weight   (Weight=, a share of the bridge the tap is enslaved to): VMs on one
 *            bridge share a queue only for what the host sends through the bridge
 *            device (frames from port to port never pass its qdisc), so on the
 *            bridge's egress: an HTB root (NET_HANDLE, rate2quantum NET_R2Q: kvmcg's
 *            mark, no default class: other traffic passes unshaped), its class :1
 *            at the total every VM there gives (BridgeInboundAverage=), and per tap
 *            a class :N (N >= 2) with quantum NET_QUANTUM_PER_WEIGHT * weight (the
 *            weight, kept where every pin can read it), ceil total and rate total *
 *            weight / the sum of the weights of all the classes there, fed by a u32
 *            filter of priority N on the guest's MAC. The rates add up to the
 *            total, so under contention each class gets its rate: the weights'
 *            proportion, for TCP too (sharing by quantum alone does not hold it:
 *            measured 50/50 for 1:3). Every class's rate is set again whenever one
 *            comes or goes (exec/net.c rebalance). The last class's removal takes
 *            the root and :1 with it.
 *
 * kvmcg's root qdiscs have the handle NET_HANDLE ("6b76:"). A root qdisc someone else
 * put on a tap (any with a handle: rtnl_qdisc_is_default()) and an ingress qdisc kvmcg
 * did not add are refused, or with force replaced and recorded to be put back. A
 * bridge's root qdisc that is not kvmcg's HTB is refused even with force: it is every
 * port's. */
#ifndef KVMCG_PLAN_NETTUNE_H
#define KVMCG_PLAN_NETTUNE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/rtnl.h"
#include "plan/record.h"
#include "tune/tune.h"

#define NET_HANDLE_MAJOR 0x6b76u /* "kv" */
#define NET_HANDLE RTNL_H(NET_HANDLE_MAJOR, 0)
#define NET_FILTER_PRIO 1
/* A class's quantum is NET_QUANTUM_PER_WEIGHT * weight bytes: 20 to 200000 for
 * Weight= 1 to 10000, 200000 the largest HTB takes without a warning (sch_htb.c
 * htb_change_class()); the weight is read back from it. Buckets hold NET_HTB_BURST_MS
 * at the rate (a guest under TCG measured 97 to 101% of the total with 50 ms, 76 to
 * 95% with 10 ms). kvmcg's HTB on a bridge has rate2quantum NET_R2Q, which kvmcg
 * never uses (every quantum is given): an HTB of handle 6b76: without it is someone
 * else's. */
#define NET_QUANTUM_PER_WEIGHT 20u
#define NET_FRAME_QUANTUM 1514u
#define NET_HTB_BURST_MS 50
#define NET_R2Q NET_HANDLE_MAJOR
/* The queue a TBF keeps, as tc's "latency": bytes that wait at most this long. */
#define NET_TBF_LATENCY_MS 50
/* The default burst when none is asked: this long at the average rate, at least the
 * frame rtnl_burst_min() needs. */
#define NET_BURST_DEFAULT_MS 10

/* One tap of the VM as a pin found it, in the VM's network namespace. */
struct net_tap_obs {
	char ifname[IF_NAMESIZE];
	int ifindex;
	uint32_t mtu;                /* bytes, L3 */
	bool has_root;               /* a root qdisc is dumped (a tap that is down has none) */
	struct rtnl_qdisc root;      /* it (kind, handle, options) */
	bool root_ours;              /* the record's, with NET_HANDLE */
	bool ingress;                /* an ingress or clsact qdisc is there */
	char ingress_kind[16];
	bool ingress_ours;           /* the record says kvmcg added it */
	char ifb[IF_NAMESIZE];       /* the IFB device kvmcg uses for it (net_ifb_name) */
	bool ifb_ours;               /* recorded, and there */
	bool ifb_stale;              /* there, of its name, not recorded: a killed run's */
	bool ifb_root_ours;          /* its root qdisc is kvmcg's TBF */
	char ifb_foreign[16];        /* the kind of a device of ifb's name that is no IFB
				      * device (not kvmcg's: in the way); "" for none */
	/* Weight=: the bridge the tap is enslaved to (read when a weight is asked or
	 * recorded) */
	int bridge;                  /* its ifindex; 0: none (or the master is no bridge) */
	char bridge_name[IF_NAMESIZE];
	uint32_t bridge_mtu;
	int bridge_root;             /* 1: kvmcg's HTB (NET_HANDLE); 0: the default; -1: another */
	char bridge_root_kind[32];  /* "KIND HANDLE:" of another root qdisc */
	uint64_t bridge_total;       /* kvmcg's HTB: its class :1's rate, bytes/s (0: no :1) */
	uint16_t *used;              /* minors of classes below NET_HANDLE_MAJOR, and priorities
				      * of filters on it: taken */
	size_t n_used;
	size_t bridge_classes;       /* kvmcg's classes :N (N >= 2) on the bridge */
	uint64_t bridge_weights;     /* the sum of their weights, this tap's own class's not */
	bool class_ours;             /* the record's class for this tap is on the bridge */
	struct rtnl_class class;     /* it, as the kernel has it */
	uint8_t (*macs)[6];          /* the guest's MACs behind the tap: its NIC's mac= on
				      * QEMU's command line, else the bridge's learned ones */
	size_t n_macs;
	struct rtnl_mac_filter *mac_filters; /* the MAC filters on kvmcg's HTB there */
	size_t n_mac_filters;
};

struct net_obs {
	uint64_t netns_dev, netns_ino;
	struct net_tap_obs *taps;
	size_t n_taps;
	int feat[RTNL_FEAT_N]; /* rtnl_probe(): 1 on this kernel, 0 not, < 0 not known */
};
void net_obs_done(struct net_obs *o);

enum net_act {
	NA_ROOT,        /* TBF at the root of dev (a tap, or an IFB) */
	NA_DEL_ROOT,    /* kvmcg's root qdisc of dev removed, or the operator's put back */
	NA_INGRESS,     /* the ingress qdisc of a tap */
	NA_DEL_INGRESS, /* the ingress qdisc of a tap removed (kvmcg's; or, forced, the operator's) */
	NA_POLICE,      /* the u32 filter with a police action on the tap's ingress */
	NA_IFB,         /* the IFB device made and set up */
	NA_DEL_IFB,     /* kvmcg's IFB device deleted */
	NA_MIRRED,      /* the u32 filter redirecting the tap's ingress to its IFB */
	NA_BRIDGE,      /* kvmcg's HTB root and its class :1 at the total on a bridge */
	NA_TOTAL,       /* the class :1 of kvmcg's HTB on a bridge set to another total */
	NA_CLASS,       /* a tap's class on the bridge, and its u32 filters on the MACs */
	NA_DEL_CLASS,   /* a tap's class and filters removed, and the root with the last */
};
const char *net_act_name(enum net_act a);

struct net_action {
	enum net_act act;
	char dev[IF_NAMESIZE];   /* the device acted on */
	int ifindex;             /* its index; 0 for an IFB (known by name) */
	struct rtnl_rate rate;   /* NA_ROOT (TBF), NA_POLICE, NA_CLASS; NA_BRIDGE, NA_TOTAL and
				  * NA_DEL_CLASS: the bridge's total (for DEL_CLASS, its undo) */
	enum rtnl_put_mode mode; /* NA_ROOT */
	char to[IF_NAMESIZE];    /* NA_MIRRED: the IFB; NA_CLASS: the tap */
	uint32_t classid;        /* NA_CLASS, NA_DEL_CLASS */
	int port;                /* NA_CLASS: the tap's ifindex */
	uint8_t (*macs)[6];      /* NA_CLASS: the filters' MACs (owned) */
	size_t n_macs;
	/* NA_CLASS replacing a class: its filters are made again on macs, and a rollback
	 * makes them again on before_macs (owned) */
	bool refilter;
	uint8_t (*before_macs)[6];
	size_t n_before_macs;
	/* What the record gains (NA_ROOT with RTNL_PUT_CREATE or over the operator's,
	 * NA_INGRESS, NA_IFB) or loses (NA_DEL_*); what: -1 for neither. */
	bool records;
	struct net_change change;
	/* NA_DEL_ROOT, NA_DEL_INGRESS: the operator's qdisc change.was_* is put back */
	bool put_back;
	/* NA_ROOT replacing kvmcg's own: the options it had, to roll back to. */
	struct rtnl_qdisc before;
	bool has_before;
	/* NA_TOTAL, NA_CLASS replacing a class: the rate it had (rate 0: made here) */
	struct rtnl_rate before_rate;
	/* A removal of kvmcg's own (NA_DEL_ROOT, NA_DEL_INGRESS, NA_DEL_IFB) or a TBF
	 * replaced on kvmcg's IFB, as the record's shaping made it, so that a rollback
	 * makes it again: its rate, and for an ingress its filter ('p' police, 'i' mirred
	 * to undo_to). undo_known false: a rollback cannot. */
	bool undo_known;
	struct rtnl_rate undo_rate;
	char undo_method;
	char undo_to[IF_NAMESIZE];
};

struct net_plan {
	struct net_action *v;
	size_t n;
};
void net_plan_done(struct net_plan *p);

/* One line for a step, as --dry-run and --verbose print it: "tap0: add tbf root
 * 6b76: rate 2500000 bytes/s burst 25000 bytes". NULL when out of memory. */
char *net_action_describe(const struct net_action *a);


/* Whether kvmcg can put a root qdisc of this kind back as it was from its dumped
 * options: the classless ones (pfifo, tbf, fq_codel, sfq, cake, netem...). A classful
 * one (htb, hfsc, prio, mq...) has classes and filters a dump of the qdisc does not
 * hold, and htb's own dump is refused as input (its TCA_HTB_INIT carries the full
 * HTB_VER, htb_init() wants its major only): --force does not replace those. */
bool net_qdisc_restorable(const char *kind);


/* The largest bucket, in bytes, tc can hold at rate bytes per second: UINT32_MAX
 * ticks of 64 ns (TCA_TBF_PARMS' buffer and act_police's burst are such ticks; the
 * kernel dumps a TBF's bucket so), about 274.9 s of the rate. */
uint64_t net_burst_max(uint64_t rate);

/* The TBF (or police) parameters of r on a device of mtu bytes: the rate; the burst
 * asked, or NET_BURST_DEFAULT_MS of the rate, raised to rtnl_burst_min() (the ruling:
 * a burst smaller than one MTU-sized frame needs is raised, and *ret_raised says
 * from what; 0 when it was not) and cut to net_burst_max() (*ret_capped says from
 * what); the peak (> rate; a peak equal to the average is no peak) with a bucket of
 * one frame at it; a queue of NET_TBF_LATENCY_MS. Pure. */
void net_tbf_rate(const struct net_rate *r, uint32_t mtu, struct rtnl_rate *ret, uint64_t *ret_raised,
		  uint64_t *ret_capped);

/* Whether a bridge's root qdisc q is kvmcg's HTB: handle NET_HANDLE, kind htb,
 * rate2quantum NET_R2Q. Pure. */
bool net_bridge_htb_ours(const struct rtnl_qdisc *q);

/* The HTB class of a tap with weight (1..10000) beside classes whose weights add up to
 * others, sharing total bytes/s on a device of mtu bytes: rate total * weight /
 * (others + weight) (at least 1), ceil total, quantum NET_QUANTUM_PER_WEIGHT *
 * weight, buckets of NET_HTB_BURST_MS at rate and ceil (at least a frame). Pure. */
void net_weight_rate(unsigned weight, uint64_t others, uint64_t total, uint32_t mtu, struct rtnl_rate *ret);
/* The weight a class of kvmcg's carries in its quantum (1 at least). Pure. */
unsigned net_class_weight(uint32_t quantum);

/* Pure. The steps from obs to want for every tap obs lists (the VM's own), given the
 * shaping the record had (had; NULL or empty for none) and its changes (st: which
 * qdiscs and devices are kvmcg's). A tap want's interfaces do not match loses what
 * kvmcg added to it. Warnings (a burst raised) go to warnings; settings that cannot
 * be carried out on this kernel (outbound without police and ifb; a peak the police
 * fallback cannot give) to skipped, each a sentence. -EBUSY with err_set() naming the
 * qdisc when an operator's is in the way and force is false; -EINVAL with err_set()
 * for a rate too low for tc (one frame takes longer than net_burst_max() holds);
 * -ENOMEM. */
int plan_nettune(const struct nettune *want, const struct nettune *had, const struct net_obs *obs,
		 const struct vm_state *st, bool force, struct net_plan *ret, char ***warnings, size_t *n_warnings,
		 char ***skipped, size_t *n_skipped);
/* Pure. Whether tap t's outbound is as asked already: kvmcg's ingress is there and
 * the record's rates (had) are want's. Nothing is planned for it then, and the kernel
 * need not be probed (it was when it was made). */
bool net_outbound_as_recorded(const struct net_tap_obs *t, const struct net_rate *want, const struct net_rate *had);

/* Pure. Into ret->net (empty before): the record's network changes prev, less those
 * the first done steps of plan removed, plus those they added; planned: before the
 * run, every addition of the plan and no removal (a crash midway leaves nothing
 * unrecorded). 0 or -ENOMEM. */
int net_record_apply(const struct net_change *prev, size_t n_prev, const struct net_plan *plan, size_t done,
		     bool planned, struct vm_state *ret);

#endif
