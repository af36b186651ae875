// SPDX-License-Identifier: GPL-2.0-or-later
/* The executor of the network plan (plan/nettune.h): each tc step through
 * kernel/rtnl.h, its inverse for a rollback, and the removal of one recorded change
 * at unpin or after the VM exited. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "kernel/rtnl.h"
#include "plan/nettune.h"

/* The index of a device by name (an IFB's), 0 when there is none. */
static int index_of(struct rtnl *r, const char *name)
{
	int i = 0;
	return rtnl_link_index(r, name, &i) == 0 ? i : 0;
}

static int put_back(struct rtnl *r, int ifindex, uint32_t parent, const struct net_change *c)
{
	return rtnl_qdisc_put(r, ifindex, parent, c->was_handle, c->was_kind, c->was_options, c->was_len,
			      RTNL_PUT_REPLACE);
}

/* A qdisc, filter or device already gone counts as removed. */
static int gone_ok(int r)
{
	return r == -ENOENT || r == -ENODEV || r == -EINVAL ? 0 : r;
}

/* ---- a bridge's shares (Weight=) ---- */

/* Whether the root qdisc of ifindex is kvmcg's HTB: 1, 0 (another, or the default),
 * -errno. */
static int bridge_htb(struct rtnl *r, int ifindex)
{
	struct rtnl_qdisc q = {0};
	int k = rtnl_root_qdisc(r, ifindex, &q);
	bool ours = k == 1 && net_bridge_htb_ours(&q);
	free(q.options);
	return k == -ENOENT ? 0 : k < 0 ? k : ours;
}

/* kvmcg's HTB on the bridge and its class :1 at rate's total. */
static int make_bridge(struct rtnl *r, int ifindex, const struct rtnl_rate *rate)
{
	int k = rtnl_htb_root(r, ifindex, NET_HANDLE_MAJOR, 0, NET_R2Q, RTNL_PUT_CREATE);
	if (k < 0)
		return k;
	k = rtnl_htb_class(r, ifindex, NET_HANDLE, RTNL_H(NET_HANDLE_MAJOR, 1), rate, RTNL_PUT_CREATE);
	if (k < 0)
		(void)rtnl_qdisc_del(r, ifindex, RTNL_H_ROOT, NET_HANDLE);
	return k;
}

/* kvmcg's HTB root of a bridge goes once no class of a VM is under it (only :1). */
static int drop_bridge_if_empty(struct rtnl *r, int ifindex)
{
	if (bridge_htb(r, ifindex) != 1)
		return 0;
	struct rtnl_class *v = NULL;
	size_t n = 0, left = 0;
	int k = rtnl_class_list(r, ifindex, &v, &n);
	if (k < 0)
		return gone_ok(k);
	for (size_t i = 0; i < n; i++)
		left += v[i].classid >> 16 == NET_HANDLE_MAJOR && (v[i].classid & 0xFFFFu) >= 2;
	free(v);
	return left ? 0 : gone_ok(rtnl_qdisc_del(r, ifindex, RTNL_H_ROOT, NET_HANDLE));
}

/* Every VM's class on the bridge at its share of the total: rate total * weight / the
 * sum of the weights (each in its class's quantum), ceil the total (the rate of :1).
 * Run after any class comes, goes or changes; a class already so is left. */
static int rebalance(struct rtnl *r, int ifindex)
{
	if (bridge_htb(r, ifindex) != 1)
		return 0;
	struct rtnl_link l;
	struct rtnl_class *v = NULL;
	size_t n = 0;
	int k = rtnl_link_get(r, ifindex, NULL, &l);
	if (k == 0)
		k = rtnl_class_list(r, ifindex, &v, &n);
	if (k < 0)
		return gone_ok(k);
	uint64_t total = 0, sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].classid == RTNL_H(NET_HANDLE_MAJOR, 1))
			total = v[i].rate;
		else if (v[i].parent == RTNL_H(NET_HANDLE_MAJOR, 1))
			sum += net_class_weight(v[i].quantum);
	}
	for (size_t i = 0; k == 0 && total && i < n; i++) {
		if (v[i].parent != RTNL_H(NET_HANDLE_MAJOR, 1))
			continue;
		unsigned w = net_class_weight(v[i].quantum);
		struct rtnl_rate want;
		net_weight_rate(w, sum - w, total, l.mtu, &want);
		want.quantum = v[i].quantum; /* as it is: the weight */
		if (v[i].rate != want.rate || v[i].ceil != want.ceil)
			k = rtnl_htb_class(r, ifindex, RTNL_H(NET_HANDLE_MAJOR, 1), v[i].classid, &want, RTNL_PUT_REPLACE);
	}
	free(v);
	return k;
}

/* A tap's class under :1 and a u32 filter of priority minor per MAC; none of it when
 * a part fails. */
static int make_class(struct rtnl *r, int ifindex, uint32_t classid, const struct rtnl_rate *rate,
		      uint8_t (*macs)[6], size_t n_macs)
{
	int k = rtnl_htb_class(r, ifindex, RTNL_H(NET_HANDLE_MAJOR, 1), classid, rate, RTNL_PUT_CREATE);
	for (size_t i = 0; k == 0 && i < n_macs; i++)
		k = rtnl_u32_dst_mac(r, ifindex, NET_HANDLE, (uint16_t)(classid & 0xFFFFu), macs[i], classid);
	if (k < 0) {
		(void)rtnl_filter_del(r, ifindex, NET_HANDLE, (uint16_t)(classid & 0xFFFFu));
		(void)rtnl_class_del(r, ifindex, classid);
	}
	return k;
}

/* The filters of class classid made again on macs. */
static int refilter(struct rtnl *r, int ifindex, uint32_t classid, uint8_t (*macs)[6], size_t n_macs)
{
	uint16_t prio = (uint16_t)(classid & 0xFFFFu);
	int k = gone_ok(rtnl_filter_del(r, ifindex, NET_HANDLE, prio));
	for (size_t i = 0; k == 0 && i < n_macs; i++)
		k = rtnl_u32_dst_mac(r, ifindex, NET_HANDLE, prio, macs[i], classid);
	return k;
}

/* A tap's filter and class gone, and the bridge's HTB with the last of them. */
static int drop_class(struct rtnl *r, int ifindex, uint32_t classid)
{
	int k = gone_ok(rtnl_filter_del(r, ifindex, NET_HANDLE, (uint16_t)(classid & 0xFFFFu)));
	if (k == 0)
		k = gone_ok(rtnl_class_del(r, ifindex, classid));
	return k < 0 ? k : drop_bridge_if_empty(r, ifindex);
}

static int step_bridge_one(struct rtnl *r, const struct net_action *a);

/* A bridge step, then every class's rate set to its share. */
static int step_bridge(struct rtnl *r, const struct net_action *a)
{
	int k = step_bridge_one(r, a);
	return k < 0 || a->act == NA_BRIDGE ? k : rebalance(r, a->ifindex);
}

static int step_bridge_one(struct rtnl *r, const struct net_action *a)
{
	switch (a->act) {
	case NA_BRIDGE:
		return make_bridge(r, a->ifindex, &a->rate);
	case NA_TOTAL:
		return rtnl_htb_class(r, a->ifindex, NET_HANDLE, RTNL_H(NET_HANDLE_MAJOR, 1), &a->rate, RTNL_PUT_REPLACE);
	case NA_CLASS: {
		if (a->mode != RTNL_PUT_REPLACE)
			return make_class(r, a->ifindex, a->classid, &a->rate, a->macs, a->n_macs);
		int k = rtnl_htb_class(r, a->ifindex, RTNL_H(NET_HANDLE_MAJOR, 1), a->classid, &a->rate, RTNL_PUT_REPLACE);
		return k < 0 || !a->refilter ? k : refilter(r, a->ifindex, a->classid, a->macs, a->n_macs);
	}
	case NA_DEL_CLASS:
		return drop_class(r, a->ifindex, a->classid);
	default:
		return -EINVAL;
	}
}

static int unstep_bridge_one(struct rtnl *r, const struct net_action *a);

static int unstep_bridge(struct rtnl *r, const struct net_action *a)
{
	int k = unstep_bridge_one(r, a);
	return k < 0 || a->act == NA_BRIDGE ? k : rebalance(r, a->ifindex);
}

static int unstep_bridge_one(struct rtnl *r, const struct net_action *a)
{
	int k;
	switch (a->act) {
	case NA_BRIDGE:
		return drop_bridge_if_empty(r, a->ifindex);
	case NA_TOTAL:
		return rtnl_htb_class(r, a->ifindex, NET_HANDLE, RTNL_H(NET_HANDLE_MAJOR, 1), &a->before_rate,
				      RTNL_PUT_REPLACE);
	case NA_CLASS:
		if (a->mode == RTNL_PUT_REPLACE) {
			k = rtnl_htb_class(r, a->ifindex, RTNL_H(NET_HANDLE_MAJOR, 1), a->classid, &a->before_rate,
					   RTNL_PUT_REPLACE);
			return k < 0 || !a->refilter ? k
						     : refilter(r, a->ifindex, a->classid, a->before_macs, a->n_before_macs);
		}
		k = gone_ok(rtnl_filter_del(r, a->ifindex, NET_HANDLE, (uint16_t)(a->classid & 0xFFFFu)));
		return k < 0 ? k : gone_ok(rtnl_class_del(r, a->ifindex, a->classid));
	case NA_DEL_CLASS:
		if (!a->undo_known)
			return -EBUSY;
		if ((k = bridge_htb(r, a->ifindex)) == 0) /* the root went with the class */
			k = make_bridge(r, a->ifindex, &a->rate);
		return k < 0 ? k : make_class(r, a->ifindex, a->classid, &a->undo_rate, a->macs, a->n_macs);
	default:
		return -EINVAL;
	}
}

static int step(struct rtnl *r, const struct net_action *a)
{
	int ifindex = a->ifindex ? a->ifindex : index_of(r, a->dev);
	switch (a->act) {
	case NA_ROOT:
		if (!ifindex)
			return -ENODEV;
		return rtnl_tbf(r, ifindex, RTNL_H_ROOT, NET_HANDLE, &a->rate, a->mode);
	case NA_DEL_ROOT:
		if (a->put_back)
			return put_back(r, ifindex, RTNL_H_ROOT, &a->change);
		return gone_ok(rtnl_qdisc_del(r, ifindex, RTNL_H_ROOT, NET_HANDLE));
	case NA_INGRESS:
		return rtnl_ingress(r, ifindex, RTNL_PUT_CREATE);
	case NA_DEL_INGRESS: {
		int k = gone_ok(rtnl_qdisc_del(r, ifindex, RTNL_H_INGRESS, 0));
		if (k == 0 && a->put_back)
			k = rtnl_qdisc_put(r, ifindex, RTNL_H_INGRESS, RTNL_H(0xffff, 0), a->change.was_kind, NULL, 0,
					   RTNL_PUT_CREATE);
		return k;
	}
	case NA_POLICE:
		return rtnl_ingress_police(r, ifindex, NET_FILTER_PRIO, &a->rate);
	case NA_IFB: {
		int made;
		return rtnl_ifb_create(r, a->dev, &made);
	}
	case NA_DEL_IFB: {
		struct rtnl_link l;
		int k = rtnl_link_get(r, 0, a->dev, &l);
		if (k == -ENODEV)
			return 0;
		if (k == 0 && strcmp(l.kind, "ifb") != 0)
			return -EEXIST; /* not kvmcg's: left alone */
		return k < 0 ? k : gone_ok(rtnl_link_delete(r, l.ifindex));
	}
	case NA_MIRRED: {
		int to = index_of(r, a->to);
		return to ? rtnl_ingress_mirred(r, ifindex, NET_FILTER_PRIO, to) : -ENODEV;
	}
	case NA_BRIDGE:
	case NA_TOTAL:
	case NA_CLASS:
	case NA_DEL_CLASS:
		return step_bridge(r, a);
	}
	return -EINVAL;
}

/* The inverse of a step that took effect, as far as there is one: what it made goes,
 * what it replaced comes back, what it removed of kvmcg's own is made again as the
 * record's shaping had it (-EBUSY where that is not known). */
static int unstep(struct rtnl *r, const struct net_action *a)
{
	int ifindex = a->ifindex ? a->ifindex : index_of(r, a->dev), k;
	switch (a->act) {
	case NA_ROOT:
		if (a->has_before)
			return rtnl_qdisc_put(r, ifindex, RTNL_H_ROOT, a->before.handle, a->before.kind, a->before.options,
					      a->before.options_len, RTNL_PUT_REPLACE);
		if (a->undo_known)
			return rtnl_tbf(r, ifindex, RTNL_H_ROOT, NET_HANDLE, &a->undo_rate, RTNL_PUT_REPLACE);
		if (a->records && a->change.was_kind)
			return put_back(r, ifindex, RTNL_H_ROOT, &a->change);
		return gone_ok(rtnl_qdisc_del(r, ifindex, RTNL_H_ROOT, NET_HANDLE));
	case NA_INGRESS:
		return gone_ok(rtnl_qdisc_del(r, ifindex, RTNL_H_INGRESS, 0));
	case NA_IFB: {
		struct rtnl_link l; /* only an IFB device: what the step made */
		k = rtnl_link_get(r, 0, a->dev, &l);
		return k == -ENODEV || (k == 0 && strcmp(l.kind, "ifb") != 0) ? 0
		       : k < 0 ? k : gone_ok(rtnl_link_delete(r, l.ifindex));
	}
	case NA_DEL_ROOT:
		return a->undo_known ? rtnl_tbf(r, ifindex, RTNL_H_ROOT, NET_HANDLE, &a->undo_rate, RTNL_PUT_CREATE)
				     : -EBUSY;
	case NA_DEL_IFB:
		if (!a->undo_known) /* a dead run's leftover has nothing to come back to */
			return a->records ? -EBUSY : 0;
		k = rtnl_ifb_create(r, a->dev, &ifindex);
		return k < 0 ? k : rtnl_tbf(r, ifindex, RTNL_H_ROOT, NET_HANDLE, &a->undo_rate, RTNL_PUT_CREATE);
	case NA_DEL_INGRESS:
		if (!a->undo_known)
			return -EBUSY;
		k = rtnl_ingress(r, ifindex, RTNL_PUT_CREATE);
		if (k == 0 && a->undo_method == 'p')
			k = rtnl_ingress_police(r, ifindex, NET_FILTER_PRIO, &a->undo_rate);
		else if (k == 0) {
			int to = index_of(r, a->undo_to);
			k = to ? rtnl_ingress_mirred(r, ifindex, NET_FILTER_PRIO, to) : -ENODEV;
		}
		return k;
	case NA_POLICE:
	case NA_MIRRED: /* a filter goes with its ingress qdisc */
		return 0;
	case NA_BRIDGE:
	case NA_TOTAL:
	case NA_CLASS:
	case NA_DEL_CLASS:
		return unstep_bridge(r, a);
	}
	return -EINVAL;
}

static const char *step_words(enum net_act a)
{
	switch (a) {
	case NA_ROOT: return "a tbf root qdisc on";
	case NA_DEL_ROOT: return "removing kvmcg's root qdisc of";
	case NA_INGRESS: return "an ingress qdisc on";
	case NA_DEL_INGRESS: return "removing the ingress qdisc of";
	case NA_POLICE: return "a police filter on";
	case NA_IFB: return "the IFB device";
	case NA_DEL_IFB: return "removing the IFB device";
	case NA_MIRRED: return "a mirred filter on";
	case NA_BRIDGE: return "kvmcg's htb root on the bridge";
	case NA_TOTAL: return "the total of kvmcg's htb on the bridge";
	case NA_CLASS: return "a tap's htb class on the bridge";
	case NA_DEL_CLASS: return "removing a tap's htb class of the bridge";
	}
	return "?";
}

int exec_net_plan(struct rtnl *rt, const struct net_plan *p, size_t *ret_done, char **ret_failed)
{
	*ret_failed = NULL;
	for (*ret_done = 0; *ret_done < p->n; (*ret_done)++) {
		const struct net_action *a = &p->v[*ret_done];
		int r = step(rt, a);
		if (r < 0) {
			const char *ext = rtnl_ext_msg(rt);
			if (asprintf(ret_failed, "%s %s: %s%s%s%s", step_words(a->act), a->dev, strerror(-r),
				     ext ? " (" : "", ext ? ext : "", ext ? ")" : "") < 0)
				*ret_failed = NULL;
			/* a step that fails after the kernel made its object (the IFB device made,
			 * setting it up failed; the TBF made, its answer lost) leaves it: what is
			 * certainly kvmcg's (its IFB's name, its TBF's handle) goes at once */
			if ((a->act == NA_IFB && r != -EEXIST) || (a->act == NA_ROOT && a->mode == RTNL_PUT_CREATE))
				(void)unstep(rt, a);
			return r;
		}
	}
	return 0;
}

int exec_net_rollback(struct rtnl *rt, const struct net_plan *p, size_t done)
{
	int left = 0;
	while (done > 0)
		if (unstep(rt, &p->v[--done]) < 0)
			left = -EBUSY;
	return left;
}

/* Removes one recorded change: 0 when it is gone (removed now, or gone with its
 * device), 1 when it is left as it is because it is not kvmcg's any more (said in
 * *note), -errno when it could not be removed. */
/* Whether the device at ifindex is still the tap c names (a tun or macvtap device:
 * one of another kind at that index is not it), renamed or not. 1 and *l; 0 when the
 * tap is gone (what was on it went with it); -errno. */
static int find_tap(struct rtnl *r, const struct net_change *c, struct rtnl_link *l, char **note)
{
	int k = rtnl_link_get(r, c->ifindex, NULL, l);
	if (k == -ENODEV)
		return 0;
	if (k < 0)
		return k;
	if (strcmp(l->kind, "tun") != 0 && strcmp(l->kind, "macvtap") != 0)
		return 0; /* the tap went, and its index is another device's now */
	if (strcmp(l->name, c->dev) != 0 && asprintf(note, "%s is named %s now", c->dev, l->name) < 0)
		*note = NULL;
	return 1;
}

static int remove_root(struct rtnl *r, const struct net_change *c, const struct rtnl_link *l, char **note)
{
	struct rtnl_qdisc q = {0};
	int k = rtnl_root_qdisc(r, l->ifindex, &q);
	bool ours = k == 1 && q.handle == NET_HANDLE && strcmp(q.kind, "tbf") == 0;
	free(q.options);
	if (k == -ENOENT || k == 0)
		return 0; /* a default: nothing of kvmcg's there */
	if (k < 0)
		return k;
	if (!ours) {
		free(*note);
		if (asprintf(note, "%s: its root qdisc is no longer kvmcg's (%s %x:): left as it is", l->name, q.kind,
			     q.handle >> 16) < 0)
			*note = NULL;
		return 1;
	}
	if (c->was_kind) {
		k = put_back(r, l->ifindex, RTNL_H_ROOT, c);
		if (k != -EINVAL && k != -ENOENT)
			return k;
		/* the kernel refuses the options it dumped (a qdisc whose dump is not its
		 * own input): the kernel's default comes back instead, said */
		free(*note);
		if (asprintf(note, "%s: the %s qdisc kvmcg replaced could not be put back (%s); the device has the "
				   "kernel's default qdisc",
			     l->name, c->was_kind, strerror(-k)) < 0)
			*note = NULL;
	}
	return gone_ok(rtnl_qdisc_del(r, l->ifindex, RTNL_H_ROOT, NET_HANDLE));
}

/* kvmcg's ingress qdisc holds its one filter, at NET_FILTER_PRIO: without it the
 * qdisc is not kvmcg's (left); with other filters beside it, only kvmcg's goes. */
static int remove_ingress(struct rtnl *r, const struct net_change *c, const struct rtnl_link *l, char **note)
{
	struct rtnl_filter *f = NULL;
	size_t n = 0;
	int k = rtnl_filter_list(r, l->ifindex, RTNL_H(0xFFFF, 0), &f, &n);
	if (k == -EINVAL || k == -ENOENT)
		return 0; /* no ingress qdisc any more */
	if (k < 0)
		return k;
	bool ours = false, others = false;
	for (size_t i = 0; i < n; i++) {
		if (f[i].prio == NET_FILTER_PRIO && strcmp(f[i].kind, "u32") == 0)
			ours = true;
		else
			others = true;
	}
	free(f);
	free(*note);
	*note = NULL;
	if (!ours) {
		if (others && asprintf(note, "%s: its ingress qdisc holds no filter of kvmcg's: left as it is", l->name) < 0)
			*note = NULL;
		return others ? 1 : gone_ok(rtnl_qdisc_del(r, l->ifindex, RTNL_H_INGRESS, 0));
	}
	if (others) {
		if (asprintf(note, "%s: its ingress qdisc holds other filters than kvmcg's: only kvmcg's is removed",
			     l->name) < 0)
			*note = NULL;
		return gone_ok(rtnl_filter_del(r, l->ifindex, RTNL_H(0xFFFF, 0), NET_FILTER_PRIO));
	}
	k = gone_ok(rtnl_qdisc_del(r, l->ifindex, RTNL_H_INGRESS, 0));
	if (k == 0 && c->was_kind) {
		k = rtnl_qdisc_put(r, l->ifindex, RTNL_H_INGRESS, RTNL_H(0xffff, 0), c->was_kind, NULL, 0,
				   RTNL_PUT_CREATE);
		if (k == 0 && asprintf(note, "%s: its %s qdisc is back, without the filters it had before --force",
				       l->name, c->was_kind) < 0)
			*note = NULL;
	}
	return k;
}

/* A tap's class on a bridge: only under kvmcg's HTB of a device that is still a
 * bridge, its filter only when it is a u32 one at the class's priority. */
static int remove_class(struct rtnl *r, const struct net_change *c, char **note)
{
	struct rtnl_link l;
	int k = rtnl_link_get(r, c->ifindex, NULL, &l);
	if (k == -ENODEV || (k == 0 && strcmp(l.kind, "bridge") != 0))
		return 0; /* the bridge went, and its qdiscs */
	if (k < 0)
		return k;
	if ((k = bridge_htb(r, l.ifindex)) <= 0) {
		if (k == 0 && asprintf(note, "%s: its root qdisc is no longer kvmcg's htb: left as it is", l.name) < 0)
			*note = NULL;
		return k < 0 ? k : 1;
	}
	uint16_t prio = (uint16_t)(c->handle & 0xFFFFu);
	struct rtnl_filter *f = NULL;
	size_t n = 0;
	if ((k = rtnl_filter_list(r, l.ifindex, NET_HANDLE, &f, &n)) < 0)
		return k;
	bool ours = false, other = false;
	for (size_t i = 0; i < n; i++)
		if (f[i].prio == prio) {
			ours |= strcmp(f[i].kind, "u32") == 0;
			other |= strcmp(f[i].kind, "u32") != 0;
		}
	free(f);
	if (other) {
		if (asprintf(note, "%s: the filter of priority %u is not kvmcg's: class %x:%x left as it is", l.name, prio,
			     c->handle >> 16, prio) < 0)
			*note = NULL;
		return 1;
	}
	k = ours ? gone_ok(rtnl_filter_del(r, l.ifindex, NET_HANDLE, prio)) : 0;
	if (k == 0)
		k = gone_ok(rtnl_class_del(r, l.ifindex, c->handle));
	if (k == 0)
		k = drop_bridge_if_empty(r, l.ifindex);
	return k < 0 ? k : rebalance(r, l.ifindex);
}

int exec_net_remove(struct rtnl *r, const struct net_change *c, char **note)
{
	struct rtnl_link l;
	*note = NULL;
	if (c->what == NET_ADDED_CLASS)
		return remove_class(r, c, note);
	if (c->what == NET_ADDED_IFB) {
		if (!net_ifb_name_valid(c->dev)) { /* not a name kvmcg gives: never removed */
			if (asprintf(note, "%s is not a name kvmcg gives an IFB device: left alone", c->dev) < 0)
				*note = NULL;
			return 1;
		}
		int k = rtnl_link_get(r, 0, c->dev, &l);
		if (k == -ENODEV)
			return 0;
		if (k < 0)
			return k;
		if (strcmp(l.kind, "ifb") != 0)
			return 0; /* a device of that name, not kvmcg's */
		return gone_ok(rtnl_link_delete(r, l.ifindex));
	}
	int k = find_tap(r, c, &l, note);
	if (k <= 0)
		return k;
	return c->what == NET_ADDED_ROOT ? remove_root(r, c, &l, note) : remove_ingress(r, c, &l, note);
}
