/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rtnetlink (NETLINK_ROUTE) over libmnl: links, qdiscs, HTB and TBF, the ingress
 * qdisc and a match-all u32 filter with a police or a mirred action, in the caller's
 * network namespace or in another one given by an fd of it (/proc/PID/ns/net).
 * Every function returns 0 (or a count) or a negative errno; where the kernel sent an
 * extended ack with a message (NLMSGERR_ATTR_MSG, include/uapi/linux/netlink.h), the
 * message is kept (rtnl_ext_msg()) and the failure's sentence, err_set(), quotes it.
 * Rates are in bytes per second, sizes and bursts in bytes, as the kernel's tc
 * structures hold them (struct tc_ratespec.rate, TCA_*_RATE64); iproute2 prints bits.
 * Handles are 32-bit tc handles, major in the high 16 bits ("1:" is 0x10000). */
#ifndef KVMCG_RTNL_H
#define KVMCG_RTNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>

struct rtnl;

/* A socket in the caller's network namespace (netns_fd < 0), or in the namespace of
 * netns_fd (an fd of /proc/PID/ns/net or of a bind mount of one). A netlink socket
 * keeps the namespace it was created in for its whole life (net/netlink/af_netlink.c
 * __netlink_create(): sock_net_set(sk, net) from current's nsproxy), so the socket is
 * made on a short-lived thread that calls setns(netns_fd, CLONE_NEWNET) and nothing
 * else (kernel/nsproxy.c: a thread may change its own network namespace); the calling
 * thread never changes namespace. NETLINK_EXT_ACK and NETLINK_CAP_ACK are set. Needs
 * CAP_SYS_ADMIN over the target namespace's user namespace for setns (-EPERM), and
 * CAP_NET_ADMIN there for every change made later. -EINVAL when netns_fd is not a
 * network namespace, -ENOMEM, or socket(2)'s and bind(2)'s errno. */
int rtnl_open(int netns_fd, struct rtnl **ret);
void rtnl_close(struct rtnl *r);
static inline void rtnl_closep(struct rtnl **r)
{
	if (*r)
		rtnl_close(*r);
}
#define _cleanup_rtnl_ __attribute__((cleanup(rtnl_closep)))

/* Whether the socket is in the caller's own network namespace (decided at open:
 * st_dev and st_ino of /proc/self/ns/net against those of netns_fd, as nsfs gives one
 * inode per namespace, fs/nsfs.c). */
bool rtnl_own_netns(const struct rtnl *r);
/* 1 when netns_fd is the caller's network namespace, 0 when another one, -errno from
 * fstat(2)/stat(2). */
int rtnl_netns_is_own(int netns_fd);
/* The kernel's extended ack message of the last request (an error's reason, or a
 * warning sent with success, as HTB's "quantum of class ... is big"), or NULL. */
const char *rtnl_ext_msg(const struct rtnl *r);

/* ---- links ---- */

struct rtnl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	int master;      /* IFLA_MASTER: the bridge (or bond) it is enslaved to; 0 for none */
	char kind[16];   /* IFLA_LINKINFO/IFLA_INFO_KIND: "bridge", "ifb", "tun", "macvtap",
			  * "veth"; "" for a device without rtnl_link_ops (a physical NIC) */
	uint32_t mtu;    /* IFLA_MTU, bytes (L3: without the 14-byte Ethernet header) */
	unsigned flags;  /* ifi_flags: IFF_UP... */
};

/* One link by ifindex (> 0) or by name (ifindex 0; at most IF_NAMESIZE - 1 bytes, else
 * -EINVAL). RTM_GETLINK with IFLA_IFNAME (net/core/rtnetlink.c rtnl_getlink()).
 * -ENODEV when there is no such link in the socket's namespace. */
int rtnl_link_get(struct rtnl *r, int ifindex, const char *name, struct rtnl_link *ret);
/* Name to ifindex and ifindex to name (ret_name: IF_NAMESIZE bytes): the same. */
int rtnl_link_index(struct rtnl *r, const char *name, int *ret_ifindex);
/* Every link of the socket's namespace (RTM_GETLINK dump). *ret NULL when there is
 * none; 0, -ENOMEM, or the kernel's error. */
int rtnl_link_list(struct rtnl *r, struct rtnl_link **ret, size_t *ret_n);
int rtnl_link_name(struct rtnl *r, int ifindex, char *ret_name);
/* Pure: one RTM_NEWLINK message as a dump or a get returns it. -EBADMSG when it is no
 * such message or lacks IFLA_IFNAME. */
int rtnl_link_parse(const void *msg, size_t len, struct rtnl_link *ret);

/* Creates an IFB device (drivers/net/ifb.c, RTM_NEWLINK with IFLA_INFO_KIND "ifb",
 * NLM_F_CREATE|NLM_F_EXCL) and sets it up; its ifindex in *ret_ifindex. -EEXIST when
 * the name is taken; -EOPNOTSUPP when this kernel has no ifb (rtnl_newlink(): no
 * rtnl_link_ops for the kind, after request_module("rtnl-link-ifb")). A device that
 * cannot be set up is deleted again. */
int rtnl_ifb_create(struct rtnl *r, const char *name, int *ret_ifindex);
/* RTM_NEWLINK with IFF_UP in ifi_change. */
int rtnl_link_set_up(struct rtnl *r, int ifindex);
/* RTM_DELLINK; -ENODEV when it is gone already; -EOPNOTSUPP for a device that cannot
 * be deleted so (a physical NIC). */
int rtnl_link_delete(struct rtnl *r, int ifindex);

/* ---- qdiscs ---- */

#define RTNL_H_ROOT 0xFFFFFFFFu    /* TC_H_ROOT */
#define RTNL_H_INGRESS 0xFFFFFFF1u /* TC_H_INGRESS: the ingress/clsact parent */
#define RTNL_H(maj, min) (((uint32_t)(maj) << 16) | ((uint32_t)(min) & 0xFFFFu))

struct rtnl_qdisc {
	int ifindex;
	char kind[16];     /* TCA_KIND */
	uint32_t handle;   /* tcm_handle; 0 for a default the kernel attached */
	uint32_t parent;   /* tcm_parent: RTNL_H_ROOT, RTNL_H_INGRESS or a class */
	void *options;     /* TCA_OPTIONS' payload, raw, as the kernel dumps it (NULL, 0 when
			    * absent), to put a replaced qdisc back with rtnl_qdisc_put() */
	size_t options_len;
};
void rtnl_qdiscs_free(struct rtnl_qdisc *q, size_t n);

/* The qdiscs of ifindex (RTM_GETQDISC dump, net/sched/sch_api.c tc_dump_qdisc(); the
 * kernel dumps every device's, those of others are dropped here), root first as the
 * kernel walks them. Invisible defaults (the children of mq) are left out by the
 * kernel unless TCA_DUMP_INVISIBLE is asked, which it is not. */
int rtnl_qdisc_list(struct rtnl *r, int ifindex, struct rtnl_qdisc **ret, size_t *ret_n);
/* Pure: one RTM_NEWQDISC message as a dump returns it; -EBADMSG without TCA_KIND,
 * -ENOMEM. */
int rtnl_qdisc_parse(const void *msg, size_t len, struct rtnl_qdisc *ret);

/* Whether a qdisc is a kernel default rather than one an operator (or a program) put
 * there: the kernel attaches defaults with handle 0 (net/sched/sch_generic.c
 * attach_one_default_qdisc() and attach_default_qdiscs(): qdisc_create_dflt() leaves
 * the handle 0; for noqueue, noop and the builtin ones it is 0 too), while a qdisc
 * created through RTM_NEWQDISC always gets a handle, the one asked or one the kernel
 * allocates (sch_api.c qdisc_create(): qdisc_alloc_handle() when tcm_handle is 0).
 * The flag TCQ_F_BUILTIN is not dumped. Pure. */
bool rtnl_qdisc_is_default(const struct rtnl_qdisc *q);

/* The root qdisc of ifindex into *ret (caller frees with rtnl_qdiscs_free(ret, 1)):
 * 1 when it is the operator's (rtnl_qdisc_is_default false), 0 when it is the
 * kernel's default, -ENOENT when the device has no root qdisc (a device that is down
 * and never had one), -ENODEV. */
int rtnl_root_qdisc(struct rtnl *r, int ifindex, struct rtnl_qdisc *ret);

enum rtnl_put_mode {
	RTNL_PUT_CREATE,  /* NLM_F_CREATE|NLM_F_EXCL: -EEXIST when one is there */
	RTNL_PUT_REPLACE, /* NLM_F_CREATE|NLM_F_REPLACE: replaces what is at parent */
};
/* Adds or replaces a qdisc of kind at parent with handle (0: the kernel picks one),
 * with options as TCA_OPTIONS' raw payload (may be NULL, 0). -ENOENT with the kernel's
 * "Specified qdisc kind is unknown" when the kind is not on this kernel
 * (sch_api.c qdisc_create()), -EINVAL for options it refuses. */
int rtnl_qdisc_put(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle, const char *kind,
		   const void *options, size_t options_len, enum rtnl_put_mode mode);
/* RTM_DELQDISC of what sits at parent (handle 0: whatever it is). Deleting a root
 * qdisc puts the kernel's default back (sch_api.c qdisc_graft() -> dev_activate()).
 * -ENOENT when there is none, and when the root is a kernel default (tc_get_qdisc():
 * "Cannot delete qdisc with handle of zero"; seen on Linux 6.18); -EINVAL when handle
 * is given and is not the one at parent. */
int rtnl_qdisc_del(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle);

/* ---- shaping ---- */

/* HTB root qdisc with handle major:0, unclassified traffic to class major:default_minor
 * (0: sent unshaped, "direct"), rate2quantum r2q (> 0: a class's quantum, when none
 * is given, is its rate / r2q; tc's default is 10). RTNL_PUT_REPLACE replaces the
 * root. */
int rtnl_htb_root(struct rtnl *r, int ifindex, uint16_t major, uint16_t default_minor, uint32_t r2q,
		  enum rtnl_put_mode mode);
/* The rate2quantum of an HTB qdisc from its dumped TCA_OPTIONS (TCA_HTB_INIT,
 * sch_htb.c htb_dump()). 0, or -EBADMSG. */
int rtnl_htb_r2q(const void *options, size_t len, uint32_t *ret);

struct rtnl_rate {
	uint64_t rate;   /* bytes per second, >= 1; above 2^32-1 through TCA_*_RATE64 */
	uint64_t ceil;   /* HTB: bytes per second the class may borrow up to (>= rate; 0: rate);
			  * TBF: the peak rate (0: none; else > rate) */
	uint32_t burst;  /* bytes at rate (0: rtnl_burst_min() of mtu) */
	uint32_t cburst; /* HTB: bytes at ceil; TBF: the peak bucket, bytes (0: mtu + 14) */
	uint32_t mtu;    /* bytes, the device's; for the defaults above */
	uint32_t limit;  /* TBF: bytes queued at most (> 0) */
	uint32_t quantum; /* HTB: bytes a class may send in one round when classes borrow
			   * from their parent, which shares what is spare in proportion to
			   * it (sch_htb.c htb_dequeue_tree()); 0: rate / r2q, the kernel's */
};

/* An HTB class (net/sched/sch_htb.c htb_change_class()). The rates' link layer is
 * TC_LINKLAYER_ETHERNET, so the kernel needs no rate table (htb_change_class() reads
 * TCA_HTB_RTAB/CTAB only when rate.linklayer is TC_LINKLAYER_UNAWARE, kept for old
 * tc binaries, and computes times from the rate: psched_ratecfg_precompute());
 * tc_htb_opt.rate.rate must be non-zero even with RATE64 (-EINVAL otherwise), so it
 * holds min(rate, 2^32-1). burst and cburst go in as PSCHED ticks (tc_xmittime()).
 * parent: the qdisc's handle (major:0) or a class of it. -EINVAL for a zero rate. */
int rtnl_htb_class(struct rtnl *r, int ifindex, uint32_t parent, uint32_t classid, const struct rtnl_rate *rate,
		   enum rtnl_put_mode mode);
/* A TBF qdisc (net/sched/sch_tbf.c tbf_change(): TCA_TBF_PARMS, TCA_TBF_RATE64 and
 * TCA_TBF_PRATE64, TCA_TBF_BURST and TCA_TBF_PBURST in bytes, so no rate table
 * either). -EINVAL when the kernel refuses (a peak rate not above the rate; a burst
 * below the device's MTU is only warned about in the kernel log, tbf_change()). */
int rtnl_tbf(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle, const struct rtnl_rate *rate,
	     enum rtnl_put_mode mode);
/* Pure: a TBF qdisc's options as the kernel dumps them (net/sched/sch_tbf.c
 * tbf_dump(): TCA_TBF_PARMS with the bucket in ticks, TCA_TBF_RATE64 and
 * TCA_TBF_PRATE64 above 2^32-1 bytes per second) into ret: rate, ceil (the peak, 0
 * for none), burst and cburst in bytes (from the ticks, as tc prints them), limit.
 * -EBADMSG when there is no TCA_TBF_PARMS. */
int rtnl_tbf_parse(const void *options, size_t len, struct rtnl_rate *ret);
/* The ingress qdisc (ffff:, parent RTNL_H_INGRESS; net/sched/sch_ingress.c).
 * -EEXIST when there is one already (RTNL_PUT_CREATE). */
int rtnl_ingress(struct rtnl *r, int ifindex, enum rtnl_put_mode mode);

/* A u32 filter on the ingress qdisc of ifindex that matches every packet of every
 * protocol (one key, mask 0, TC_U32_TERMINAL; net/sched/cls_u32.c), at priority prio
 * (1..65535), with one action:
 *  - police: packets above rate/burst are dropped (net/sched/act_police.c
 *    tcf_police_init(): TCA_POLICE_TBF with exceed action TC_ACT_SHOT, and the rate
 *    table TCA_POLICE_RATE it requires whenever the rate is set: qdisc_get_rtab()
 *    fails without one, -ENOMEM), TCA_POLICE_RATE64 above 2^32-1; rate->rate, ->burst
 *    and ->mtu are used;
 *  - mirred: every packet redirected to the egress of to_ifindex (act_mirred.c,
 *    TCA_EGRESS_REDIR, TC_ACT_STOLEN), the IFB fallback.
 * -ENOENT when the u32 classifier or the action is not on this kernel (cls_api.c
 * tcf_proto_create(): "TC classifier not found"; act_api.c tcf_action_init_1():
 * "Failed to load TC action module"). Removing the ingress qdisc removes them. */
int rtnl_ingress_police(struct rtnl *r, int ifindex, uint16_t prio, const struct rtnl_rate *rate);
/* Pure: the police action's options (the payload of TCA_ACT_OPTIONS) that
 * rtnl_ingress_police() sends, into buf: TCA_POLICE_TBF, TCA_POLICE_RATE and, above
 * 2^32-1 bytes per second, TCA_POLICE_RATE64; byte for byte what iproute2's
 * `police rate R burst B mtu M drop` sends for the same values (mtu here is the
 * device's; M = mtu + 14). The length written, or 0 for a zero rate or a buf smaller
 * than RTNL_POLICE_ATTRS_MAX bytes. */
#define RTNL_POLICE_ATTRS_MAX 1200
size_t rtnl_police_attrs(const struct rtnl_rate *rate, void *buf, size_t size);
int rtnl_ingress_mirred(struct rtnl *r, int ifindex, uint16_t prio, int to_ifindex);

/* The classes of ifindex (RTM_GETTCLASS dump, net/sched/sch_api.c tc_dump_tclass()),
 * HTB's with their rate and ceil (TCA_HTB_PARMS, TCA_HTB_RATE64/CEIL64). The
 * kernel's pseudo classes of a classless qdisc's leaves are dumped too: kind says
 * which qdisc a class is of. 0, -ENOMEM, or the kernel's error. */
struct rtnl_class {
	uint32_t classid, parent;
	char kind[16];
	uint64_t rate, ceil; /* bytes per second, HTB only (0 otherwise) */
	uint32_t quantum;    /* HTB: bytes */
};
int rtnl_class_list(struct rtnl *r, int ifindex, struct rtnl_class **ret, size_t *ret_n);
/* RTM_DELTCLASS. -ENOENT when there is none; -EBUSY while a filter still points to it
 * (sch_htb.c htb_delete(): a class in use by a filter is refused). */
int rtnl_class_del(struct rtnl *r, int ifindex, uint32_t classid);

/* ---- bridges ---- */

/* The MAC addresses the bridge learned behind port ifindex: its forwarding
 * database's entries of that port (RTM_GETNEIGH dump of AF_BRIDGE,
 * net/bridge/br_fdb.c br_fdb_dump()) that are neither permanent (the port's own
 * address, and static entries an administrator added) nor the device's own ("self"
 * entries). Each once, whatever its VLAN. *ret NULL when there is none; 0, -ENOMEM,
 * or the kernel's error. */
int rtnl_fdb_macs(struct rtnl *r, int ifindex, uint8_t (**ret)[6], size_t *ret_n);

/* ---- filters ---- */

struct rtnl_filter {
	uint16_t prio;      /* tcm_info's upper half */
	uint16_t protocol;  /* its lower half, network byte order (ETH_P_ALL: 0x0300) */
	uint32_t handle;
	char kind[16];      /* TCA_KIND: "u32", "bpf", "flower"... */
};
/* The filters at parent (the ingress qdisc's: RTNL_H(0xFFFF, 0)) of ifindex, one
 * entry per priority (RTM_GETTFILTER dump, net/sched/cls_api.c tc_dump_tfilter(): a
 * classifier dumps its head, then each filter it holds). 0, -ENOMEM, or the kernel's
 * error (-EINVAL when there is no such qdisc). */
int rtnl_filter_list(struct rtnl *r, int ifindex, uint32_t parent, struct rtnl_filter **ret, size_t *ret_n);
/* RTM_DELTFILTER of every filter at priority prio of parent (cls_api.c tc_del_tfilter()
 * with no handle: the whole classifier instance). -ENOENT when there is none. */
int rtnl_filter_del(struct rtnl *r, int ifindex, uint32_t parent, uint16_t prio);
/* The u32 filters at parent of ifindex that rtnl_u32_dst_mac() makes: each filter
 * whose selector is exactly its two keys on the destination MAC, with its priority,
 * MAC and class (TCA_U32_SEL, TCA_U32_CLASSID). *ret NULL when there is none; 0,
 * -ENOMEM, or the kernel's error. */
struct rtnl_mac_filter {
	uint16_t prio;
	uint8_t mac[6];
	uint32_t classid;
};
int rtnl_u32_mac_filters(struct rtnl *r, int ifindex, uint32_t parent, struct rtnl_mac_filter **ret,
			 size_t *ret_n);
/* A u32 filter at parent of ifindex, priority prio (> 0), all protocols, that sends
 * frames to the destination mac to class classid: the keys tc's "match ether dst"
 * gives, 16 and 12 bytes before the network header (net/sched/cls_u32.c
 * u32_classify() reads at skb_network_offset() plus a key's offset). -EEXIST when
 * that priority holds a filter already. */
int rtnl_u32_dst_mac(struct rtnl *r, int ifindex, uint32_t parent, uint16_t prio, const uint8_t mac[6],
		     uint32_t classid);

/* ---- what this kernel has ---- */

enum rtnl_feature {
	RTNL_FEAT_HTB,
	RTNL_FEAT_TBF,
	RTNL_FEAT_INGRESS,
	RTNL_FEAT_POLICE, /* act_police through a u32 filter (needs cls_u32 too) */
	RTNL_FEAT_MIRRED, /* act_mirred through a u32 filter */
	RTNL_FEAT_IFB,
	RTNL_FEAT_N,
};
const char *rtnl_feature_name(enum rtnl_feature f);

#define RTNL_PROBE_PREFIX "kvmcgp"
/* Tries each feature in a throwaway place: an IFB device named like "kvmcgp<pid>"
 * created in the socket's namespace and deleted before returning (on a kernel without
 * ifb, nothing but RTNL_FEAT_IFB can be tried: the others are -EOPNOTSUPP). Such
 * devices of pids no process has (a probe killed midway; the pid as kill(2) sees it
 * from the caller's pid namespace) are deleted first.
 * ret[f]: 1 on this kernel; 0 not on this kernel (the kernel said the kind, classifier
 * or action is unknown: -ENOENT, or -EOPNOTSUPP for a link kind); a negative errno
 * when trying failed otherwise (-EPERM without CAP_NET_ADMIN). 0, or the negative
 * errno when even the throwaway device could not be made for another reason. Clears
 * the sentence of err_get(): a kind found missing is a result, not an error. */
int rtnl_probe(struct rtnl *r, int ret[RTNL_FEAT_N]);

/* ---- pure helpers (iproute2's tc/tc_core.c arithmetic) ---- */

/* PSCHED ticks: the kernel's tc time unit, 64 ns (PSCHED_SHIFT 6,
 * include/net/pkt_sched.h), as /proc/net/psched says (net/sched/sch_api.c
 * psched_show(): 1000 ns per us, 64 ns per tick, clock 1000000), so tc's
 * tick_in_usec is 1000/64 = 15.625. */
#define RTNL_TICKS_PER_USEC 15.625

/* The time to send size bytes at rate bytes per second, in ticks, as iproute2's
 * tc_calc_xmittime() computes it (microseconds truncated first, then ticks truncated).
 * rate 0 gives 0. */
uint32_t tc_xmittime(uint64_t rate, uint32_t size);
/* The inverse (tc_calc_xmitsize()): bytes sent in ticks at rate. */
uint32_t tc_xmitsize(uint64_t rate, uint32_t ticks);
/* The rate table of the police action (tc_calc_rtable(): cell_log from the MTU, 0
 * meaning 2047, each of the 256 cells the time of (i+1) << cell_log bytes, Ethernet
 * link layer, mpu 0). Returns the cell_log. */
int tc_calc_rtable(uint64_t rate, uint32_t mtu, uint32_t rtab[256]);
/* The smallest burst, in bytes, that lets one packet of an MTU-sized frame (mtu + 14
 * bytes of Ethernet header, the length qdiscs see on a tap) pass at rate: a bucket
 * smaller than that never holds enough tokens and the packet waits forever (HTB) or is
 * dropped (police, TBF refuses it). Rounding of the burst to whole microseconds and
 * ticks taken into account. rate 0 or mtu 0 gives 0. */
uint32_t rtnl_burst_min(uint64_t rate, uint32_t mtu);

#endif
