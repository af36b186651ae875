// SPDX-License-Identifier: GPL-2.0-or-later
/* Network shaping of a VM's taps (libvirt's domiftune): the pure planner. */
#include "plan/nettune.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "plan/layout.h"

void net_obs_done(struct net_obs *o)
{
	for (size_t i = 0; i < o->n_taps; i++) {
		free(o->taps[i].root.options);
		free(o->taps[i].used);
		free(o->taps[i].macs);
		free(o->taps[i].mac_filters);
	}
	free(o->taps);
	*o = (struct net_obs){0};
}

void net_plan_done(struct net_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		net_change_done(&p->v[i].change);
		free(p->v[i].before.options);
		free(p->v[i].macs);
		free(p->v[i].before_macs);
	}
	free(p->v);
	*p = (struct net_plan){0};
}

static const char *const act_names[] = {
	[NA_ROOT] = "tbf",       [NA_DEL_ROOT] = "del-root", [NA_INGRESS] = "ingress", [NA_DEL_INGRESS] = "del-ingress",
	[NA_POLICE] = "police", [NA_IFB] = "ifb",           [NA_DEL_IFB] = "del-ifb",  [NA_MIRRED] = "mirred",
	[NA_BRIDGE] = "bridge", [NA_TOTAL] = "total",       [NA_CLASS] = "class",      [NA_DEL_CLASS] = "del-class",
};

const char *net_act_name(enum net_act a)
{
	return (unsigned)a < ARRAY_SIZE(act_names) ? act_names[a] : "?";
}

char *net_action_describe(const struct net_action *a)
{
	char *s = NULL;
	const struct rtnl_rate *q = &a->rate;
	char peak[96] = "";
	if (q->ceil)
		snprintf(peak, sizeof(peak), " peak %llu bytes/s", (unsigned long long)q->ceil);
	int k = -1;
	switch (a->act) {
	case NA_ROOT:
		k = asprintf(&s, "%s: %s tbf root %x: rate %llu bytes/s burst %u bytes%s limit %u bytes%s", a->dev,
			     a->mode == RTNL_PUT_REPLACE ? "replace" : "add", NET_HANDLE_MAJOR,
			     (unsigned long long)q->rate, q->burst, peak, q->limit,
			     a->records && a->change.was_kind ? " (over the operator's, --force)" : "");
		break;
	case NA_DEL_ROOT:
		k = a->put_back ? asprintf(&s, "%s: put back the root qdisc %s %x:", a->dev, a->change.was_kind,
					   a->change.was_handle >> 16)
				: asprintf(&s, "%s: remove kvmcg's root qdisc %x:", a->dev, NET_HANDLE_MAJOR);
		break;
	case NA_INGRESS:
		k = asprintf(&s, "%s: add ingress qdisc", a->dev);
		break;
	case NA_DEL_INGRESS:
		k = asprintf(&s, "%s: remove the ingress qdisc%s%s", a->dev, a->put_back ? ", put back an empty " : "",
			     a->put_back ? a->change.was_kind : "");
		break;
	case NA_POLICE:
		k = asprintf(&s, "%s: add u32 filter on ingress, police rate %llu bytes/s burst %u bytes drop", a->dev,
			     (unsigned long long)q->rate, q->burst);
		break;
	case NA_IFB:
		k = asprintf(&s, "%s: add ifb device", a->dev);
		break;
	case NA_DEL_IFB:
		k = asprintf(&s, "%s: delete ifb device", a->dev);
		break;
	case NA_MIRRED:
		k = asprintf(&s, "%s: add u32 filter on ingress, mirred egress redirect to %s", a->dev, a->to);
		break;
	case NA_BRIDGE:
		k = asprintf(&s, "%s: add htb root %x: and class %x:1 rate %llu bytes/s", a->dev, NET_HANDLE_MAJOR,
			     NET_HANDLE_MAJOR, (unsigned long long)q->rate);
		break;
	case NA_TOTAL:
		k = asprintf(&s, "%s: change class %x:1 to rate %llu bytes/s", a->dev, NET_HANDLE_MAJOR,
			     (unsigned long long)q->rate);
		break;
	case NA_CLASS: {
		char macs[4 * 18 + 8] = "";
		for (size_t i = 0; i < a->n_macs && i < 4; i++)
			snprintf(macs + strlen(macs), sizeof(macs) - strlen(macs), "%s%02x:%02x:%02x:%02x:%02x:%02x",
				 i ? " " : "", a->macs[i][0], a->macs[i][1], a->macs[i][2], a->macs[i][3], a->macs[i][4],
				 a->macs[i][5]);
		k = asprintf(&s, "%s: %s htb class %x:%x rate %llu bytes/s ceil %llu bytes/s quantum %u bytes%s%s%s", a->dev,
			     a->mode == RTNL_PUT_REPLACE ? "change" : "add", a->classid >> 16, a->classid & 0xFFFFu,
			     (unsigned long long)q->rate, (unsigned long long)q->ceil, q->quantum,
			     a->mode == RTNL_PUT_REPLACE ? "" : ", u32 filter on ether dst ", a->mode == RTNL_PUT_REPLACE ? "" : macs,
			     a->mode == RTNL_PUT_REPLACE ? "" : a->to[0] ? " (the guest behind " : "");
		if (k >= 0 && a->mode != RTNL_PUT_REPLACE && a->to[0]) {
			char *t = NULL;
			k = asprintf(&t, "%s%s)", s, a->to);
			free(s);
			s = t;
		}
		break;
	}
	case NA_DEL_CLASS:
		k = asprintf(&s, "%s: remove kvmcg's htb class %x:%x and its filter (the root with the last class)", a->dev,
			     a->classid >> 16, a->classid & 0xFFFFu);
		break;
	}
	return k < 0 ? NULL : s;
}


bool net_qdisc_restorable(const char *kind)
{
	/* classless: one qdisc, all of it in the options the kernel dumps and takes back */
	static const char *const kinds[] = {"pfifo", "bfifo", "pfifo_head_drop", "pfifo_fast", "tbf", "fq",
					    "fq_codel", "fq_pie", "codel", "pie", "sfq", "cake", "netem"};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

uint64_t net_burst_max(uint64_t rate)
{
	return tc_xmitsize(rate, UINT32_MAX);
}

void net_tbf_rate(const struct net_rate *r, uint32_t mtu, struct rtnl_rate *ret, uint64_t *ret_raised,
		  uint64_t *ret_capped)
{
	uint64_t min = rtnl_burst_min(r->average, mtu), max = net_burst_max(r->average);
	uint64_t burst = r->burst ? r->burst : r->average * NET_BURST_DEFAULT_MS / 1000;
	*ret_raised = *ret_capped = 0;
	if (burst < min) {
		if (r->burst)
			*ret_raised = r->burst;
		burst = min;
	}
	if (burst > max) {
		if (r->burst)
			*ret_capped = r->burst;
		burst = max;
	}
	*ret = (struct rtnl_rate){.rate = r->average, .burst = (uint32_t)burst, .mtu = mtu};
	if (r->peak > r->average) {
		ret->ceil = r->peak;
		ret->cburst = rtnl_burst_min(r->peak, mtu);
	}
	uint64_t limit = r->average * NET_TBF_LATENCY_MS / 1000 + burst;
	ret->limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit;
}

static int push(struct net_plan *p, const struct net_action *a)
{
	struct net_action *v = realloc(p->v, (p->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->v = v;
	v[p->n++] = *a;
	return 0;
}

/* A step that adds (or removes) one record entry; the strings are copied. */
static int push_change(struct net_plan *p, struct net_action *a, enum net_added what, const struct net_obs *obs,
		       const char *kind, const struct rtnl_qdisc *was)
{
	a->records = true;
	a->change = (struct net_change){.what = what, .netns_dev = obs->netns_dev, .netns_ino = obs->netns_ino,
					.ifindex = a->ifindex, .handle = kind ? NET_HANDLE : 0};
	snprintf(a->change.dev, sizeof(a->change.dev), "%s", a->dev);
	if (what == NET_ADDED_CLASS) {
		a->change.handle = a->classid;
		a->change.port = a->port;
	}
	if (kind && !(a->change.kind = strdup(kind)))
		return -ENOMEM;
	if (was) {
		a->change.was_kind = strdup(was->kind);
		a->change.was_handle = was->handle;
		a->change.was_len = was->options_len;
		a->change.was_options = was->options_len ? malloc(was->options_len) : NULL;
		if (!a->change.was_kind || (was->options_len && !a->change.was_options)) {
			net_change_done(&a->change);
			return -ENOMEM;
		}
		if (was->options_len)
			memcpy(a->change.was_options, was->options, was->options_len);
	}
	int r = push(p, a);
	if (r < 0)
		net_change_done(&a->change);
	return r;
}

/* A step that removes rec (a copy of it goes with the step, so that its operator's
 * qdisc can be put back). rec NULL: nothing recorded, nothing removed. */
static int push_recorded(struct net_plan *p, struct net_action *a, const struct net_change *rec)
{
	if (rec) {
		struct vm_state tmp = {0};
		if (record_add_net(&tmp, rec) < 0)
			return -ENOMEM;
		a->records = true;
		a->change = tmp.net[0];
		free(tmp.net);
	}
	int r = push(p, a);
	if (r < 0)
		net_change_done(&a->change);
	return r;
}

static bool same_rate(const struct net_rate *a, const struct net_rate *b)
{
	return a->average == b->average && a->peak == b->peak && a->burst == b->burst;
}

bool net_outbound_as_recorded(const struct net_tap_obs *t, const struct net_rate *want, const struct net_rate *had)
{
	return want && t->ingress_ours && had && same_rate(want, had);
}

static int say(char ***v, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char ***v, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = NULL;
	int k = vasprintf(&s, fmt, ap);
	va_end(ap);
	return k < 0 ? -ENOMEM : strv_push(v, n, s);
}

struct ctx {
	const struct net_obs *obs;
	const struct vm_state *st;
	bool force;
	struct net_plan *p;
	char ***warnings, ***skipped;
	size_t *n_warnings, *n_skipped;
	/* Weight=: bridges this plan puts kvmcg's HTB on, minors it takes */
	int bridges[16];
	size_t n_bridges;
	uint16_t taken[64];
	size_t n_taken;
	bool any_bridged; /* a tap Weight= is for is on a bridge */
};

/* The TBF of r on dev, raising a burst too small for a frame with a warning. */
static int tbf_step(struct ctx *c, const char *key, const struct net_tap_obs *t, const struct net_rate *r,
		    struct net_action *a)
{
	uint64_t raised, capped, frame = (uint64_t)t->mtu + 14;
	/* tc counts a bucket in 64 ns ticks held in 32 bits: about 274 s at the rate */
	if (rtnl_burst_min(r->average, t->mtu) > net_burst_max(r->average)) {
		err_set("[Network] %sAverage= of %llu bytes/s is too low for %s: one %llu-byte frame takes longer at it "
			"than a tc bucket can hold (about 274 s)",
			key, (unsigned long long)r->average, t->ifname, (unsigned long long)frame);
		return -EINVAL;
	}
	net_tbf_rate(r, t->mtu, &a->rate, &raised, &capped);
	if (raised)
		return say(c->warnings, c->n_warnings,
			   "%s: %sBurst=%llu bytes is less than one %llu-byte frame needs at %llu bytes/s; %u bytes are "
			   "used",
			   t->ifname, key, (unsigned long long)raised, (unsigned long long)frame,
			   (unsigned long long)r->average, a->rate.burst);
	if (capped)
		return say(c->warnings, c->n_warnings,
			   "%s: %sBurst=%llu bytes is more than a tc bucket holds at %llu bytes/s (about 274 s of it); "
			   "%u bytes are used",
			   t->ifname, key, (unsigned long long)capped, (unsigned long long)r->average, a->rate.burst);
	return 0;
}

/* What a rollback of a's removal makes again: the shaping had gave, when known. */
static void undo_as(struct net_action *a, const struct net_rate *had, uint32_t mtu, char method, const char *to)
{
	if (!had)
		return;
	uint64_t raised, capped;
	a->undo_known = true;
	net_tbf_rate(had, mtu, &a->undo_rate, &raised, &capped);
	a->undo_method = method;
	if (to)
		snprintf(a->undo_to, sizeof(a->undo_to), "%s", to);
}

static int plan_inbound(struct ctx *c, const struct net_tap_obs *t, const struct net_rate *want, const struct net_rate *had)
{
	struct net_action a = {.act = NA_ROOT, .ifindex = t->ifindex};
	snprintf(a.dev, sizeof(a.dev), "%s", t->ifname);
	if (!want) {
		if (!t->root_ours)
			return 0;
		a.act = NA_DEL_ROOT;
		const struct net_change *rec = record_find_net(c->st, NET_ADDED_ROOT, t->ifname, t->ifindex);
		a.put_back = rec && rec->was_kind;
		undo_as(&a, !a.put_back ? had : NULL, t->mtu, 0, NULL);
		return push_recorded(c->p, &a, rec);
	}
	int r = tbf_step(c, "Inbound", t, want, &a);
	if (r < 0)
		return r;
	if (t->root_ours) {
		if (had && same_rate(want, had))
			return 0;
		a.mode = RTNL_PUT_REPLACE;
		a.before = t->root;
		a.before.options = t->root.options_len ? malloc(t->root.options_len) : NULL;
		if (t->root.options_len && !a.before.options)
			return -ENOMEM;
		if (t->root.options_len)
			memcpy(a.before.options, t->root.options, t->root.options_len);
		a.has_before = true;
		r = push(c->p, &a);
		if (r < 0)
			free(a.before.options);
		return r;
	}
	if (!t->has_root || rtnl_qdisc_is_default(&t->root)) {
		a.mode = RTNL_PUT_CREATE;
		return push_change(c->p, &a, NET_ADDED_ROOT, c->obs, "tbf", NULL);
	}
	if (!c->force) {
		err_set("%s has a root qdisc kvmcg did not put there (%s, handle %x:); kvmcg does not replace it "
			"unless told to (--force, which puts it back at unpin)",
			t->ifname, t->root.kind, t->root.handle >> 16);
		return -EBUSY;
	}
	if (!net_qdisc_restorable(t->root.kind)) {
		err_set("%s has a root qdisc kvmcg did not put there (%s, handle %x:), which kvmcg could not put back "
			"as it was (its classes and filters are not kept), so not even --force replaces it; remove it "
			"first if the tap is to be shaped",
			t->ifname, t->root.kind, t->root.handle >> 16);
		return -EBUSY;
	}
	a.mode = RTNL_PUT_REPLACE;
	r = say(c->warnings, c->n_warnings, "%s: its root qdisc %s %x: is replaced (--force); unpin puts it back",
		t->ifname, t->root.kind, t->root.handle >> 16);
	return r < 0 ? r : push_change(c->p, &a, NET_ADDED_ROOT, c->obs, "tbf", &t->root);
}

/* How a tap's outbound is shaped on this kernel: 'p' police, 'i' IFB, 0 neither
 * (said in skipped). A peak the police cannot give is said there too. */
static int outbound_method(struct ctx *c, const struct net_tap_obs *t, const struct net_rate *want, char *ret)
{
	const int *f = c->obs->feat;
	bool ifb = f[RTNL_FEAT_IFB] == 1 && f[RTNL_FEAT_MIRRED] == 1 && f[RTNL_FEAT_TBF] == 1 &&
		   f[RTNL_FEAT_INGRESS] != 0;
	/* without an IFB nothing could be tried: police is then tried on the tap */
	bool police = f[RTNL_FEAT_POLICE] == 1 || (f[RTNL_FEAT_POLICE] < 0 && !ifb);
	*ret = 0;
	if (police && (!want->peak || want->peak <= want->average || !ifb))
		*ret = 'p';
	else if (ifb)
		*ret = 'i';
	if (*ret == 'p' && want->peak > want->average)
		return say(c->skipped, c->n_skipped,
			   "[Network] OutboundPeak= on %s (a police action has no peak here and this kernel has no ifb "
			   "to shape on)",
			   t->ifname);
	if (!*ret)
		return say(c->skipped, c->n_skipped,
			   "[Network] OutboundAverage= on %s (this kernel has neither act_police nor ifb with act_mirred: "
			   "the guest's traffic cannot be limited here)",
			   t->ifname);
	return 0;
}

/* The tap's ingress qdisc before kvmcg's is made (want) or instead of it (!want):
 * kvmcg's own removed, the operator's refused or, forced, removed and kept in
 * *operator_ingress for the record (*was then points at it). 0 to go on, 1 when
 * there is nothing to do, -EBUSY, -ENOMEM. */
static int clear_ingress(struct ctx *c, const struct net_tap_obs *t, const struct net_rate *want,
			 const struct net_rate *had, struct rtnl_qdisc *operator_ingress, const struct rtnl_qdisc **was)
{
	struct net_action a = {.ifindex = t->ifindex};
	snprintf(a.dev, sizeof(a.dev), "%s", t->ifname);
	*operator_ingress = (struct rtnl_qdisc){.handle = RTNL_H(0xffff, 0), .parent = RTNL_H_INGRESS};
	int r;
	if (t->ingress && !t->ingress_ours) {
		if (!want)
			return 1;
		if (!c->force) {
			err_set("%s has an ingress-side qdisc kvmcg did not put there (%s); kvmcg does not replace it "
				"unless told to (--force: its filters are lost, and unpin puts back an empty %s qdisc)",
				t->ifname, t->ingress_kind, t->ingress_kind);
			return -EBUSY;
		}
		snprintf(operator_ingress->kind, sizeof(operator_ingress->kind), "%s", t->ingress_kind);
		*was = operator_ingress;
		r = say(c->warnings, c->n_warnings,
			"%s: its %s qdisc and its filters are replaced (--force); unpin puts back an empty %s qdisc, not "
			"the filters",
			t->ifname, t->ingress_kind, t->ingress_kind);
		if (r < 0)
			return r;
		a.act = NA_DEL_INGRESS;
		if ((r = push(c->p, &a)) < 0)
			return r;
	} else if (t->ingress_ours) {
		const struct net_change *rec = record_find_net(c->st, NET_ADDED_INGRESS, t->ifname, t->ifindex);
		a.act = NA_DEL_INGRESS;
		/* the operator's ingress it replaced comes back when kvmcg's goes for good;
		 * when kvmcg's is made again, the new one carries it */
		a.put_back = !want && rec && rec->was_kind;
		undo_as(&a, !a.put_back ? had : NULL, t->mtu, t->ifb_ours ? 'i' : 'p', t->ifb);
		if (want && rec && rec->was_kind) {
			snprintf(operator_ingress->kind, sizeof(operator_ingress->kind), "%s", rec->was_kind);
			*was = operator_ingress;
		}
		if ((r = push_recorded(c->p, &a, rec)) < 0)
			return r;
	}
	return 0;
}

static int plan_outbound(struct ctx *c, const struct net_tap_obs *t, const struct net_rate *want,
			 const struct net_rate *had)
{
	if (net_outbound_as_recorded(t, want, had))
		return 0;
	char method = 0;
	int r = want ? outbound_method(c, t, want, &method) : 0;
	if (r < 0)
		return r;
	if (want && !method)
		want = NULL; /* said in skipped; what kvmcg had there goes */
	if (t->ifb_stale) { /* named for this VM and tap, unrecorded: a run that died made it */
		struct net_action x = {.act = NA_DEL_IFB};
		snprintf(x.dev, sizeof(x.dev), "%s", t->ifb);
		if ((r = push(c->p, &x)) < 0)
			return r;
	}
	/* through kvmcg's IFB still: only its TBF changes */
	if (want && method == 'i' && t->ingress_ours && t->ifb_ours && t->ifb_root_ours) {
		struct net_action q = {.act = NA_ROOT, .mode = RTNL_PUT_REPLACE};
		snprintf(q.dev, sizeof(q.dev), "%s", t->ifb);
		undo_as(&q, had, t->mtu, 0, NULL);
		return (r = tbf_step(c, "Outbound", t, want, &q)) < 0 ? r : push(c->p, &q);
	}
	if (!want && !t->ingress_ours && !t->ifb_ours)
		return 0;
	struct rtnl_qdisc operator_ingress = {0};
	const struct rtnl_qdisc *was = NULL;
	r = clear_ingress(c, t, want, had, &operator_ingress, &was);
	if (r != 0)
		return r < 0 ? r : 0;
	/* the IFB of an earlier pin, when it is not used any more */
	if (t->ifb_ours && (!want || method != 'i')) {
		struct net_action d = {.act = NA_DEL_IFB};
		snprintf(d.dev, sizeof(d.dev), "%s", t->ifb);
		undo_as(&d, had, t->mtu, 0, NULL);
		if ((r = push_recorded(c->p, &d, record_find_net(c->st, NET_ADDED_IFB, t->ifb, 0))) < 0)
			return r;
	}
	if (!want)
		return 0;
	if (method == 'i' && t->ifb_foreign[0]) {
		err_set("%s: a device named %s (%s), not kvmcg's, has the name kvmcg gives the IFB device that shapes "
			"its outbound; kvmcg does not touch it: rename or remove it",
			t->ifname, t->ifb, t->ifb_foreign);
		return -EBUSY;
	}
	if (method == 'i') {
		struct net_action d = {.act = NA_IFB};
		snprintf(d.dev, sizeof(d.dev), "%s", t->ifb);
		if (!t->ifb_ours && (r = push_change(c->p, &d, NET_ADDED_IFB, c->obs, NULL, NULL)) < 0)
			return r;
		struct net_action q = {.act = NA_ROOT, .mode = t->ifb_ours && t->ifb_root_ours ? RTNL_PUT_REPLACE : RTNL_PUT_CREATE};
		snprintf(q.dev, sizeof(q.dev), "%s", t->ifb);
		if (q.mode == RTNL_PUT_REPLACE)
			undo_as(&q, had, t->mtu, 0, NULL);
		if ((r = tbf_step(c, "Outbound", t, want, &q)) < 0 || (r = push(c->p, &q)) < 0)
			return r;
	}
	struct net_action in = {.act = NA_INGRESS, .ifindex = t->ifindex};
	snprintf(in.dev, sizeof(in.dev), "%s", t->ifname);
	if ((r = push_change(c->p, &in, NET_ADDED_INGRESS, c->obs, NULL, was)) < 0)
		return r;
	struct net_action f = {.act = method == 'i' ? NA_MIRRED : NA_POLICE, .ifindex = t->ifindex};
	snprintf(f.dev, sizeof(f.dev), "%s", t->ifname);
	snprintf(f.to, sizeof(f.to), "%s", t->ifb);
	if (method == 'p' && (r = tbf_step(c, "Outbound", t, want, &f)) < 0)
		return r;
	return push(c->p, &f);
}

/* An HTB class's bucket at rate: NET_HTB_BURST_MS of it, at least a frame, at most
 * what tc's ticks hold. */
static uint32_t htb_burst(uint64_t rate, uint32_t mtu)
{
	uint64_t b = rate * NET_HTB_BURST_MS / 1000, min = rtnl_burst_min(rate, mtu), max = net_burst_max(rate);
	b = b < min ? min : b;
	return (uint32_t)(b > max ? max : b > UINT32_MAX ? UINT32_MAX : b);
}

/* The class :1 of kvmcg's HTB on a bridge: the total, at rate and ceil. */
static struct rtnl_rate total_rate(uint64_t total, uint32_t mtu)
{
	uint32_t b = htb_burst(total, mtu);
	/* an inner class's quantum is not used; given, so the kernel's rate / r2q
	 * (above NET_QUANTUM_MAX from 16 Mbit/s) draws no warning */
	return (struct rtnl_rate){.rate = total, .ceil = total, .mtu = mtu, .burst = b, .cburst = b,
				  .quantum = NET_FRAME_QUANTUM};
}

bool net_bridge_htb_ours(const struct rtnl_qdisc *q)
{
	uint32_t r2q = 0;
	return q->handle == NET_HANDLE && strcmp(q->kind, "htb") == 0 &&
	       rtnl_htb_r2q(q->options, q->options_len, &r2q) == 0 && r2q == NET_R2Q;
}

unsigned net_class_weight(uint32_t quantum)
{
	unsigned w = quantum / NET_QUANTUM_PER_WEIGHT;
	return w ? w : 1;
}

void net_weight_rate(unsigned weight, uint64_t others, uint64_t total, uint32_t mtu, struct rtnl_rate *ret)
{
	/* total * weight / sum without overflow: total may be near 2^64 */
	uint64_t sum = others + weight;
	unsigned __int128 r = (unsigned __int128)total * weight / sum;
	uint64_t rate = (uint64_t)r;
	*ret = (struct rtnl_rate){.rate = rate ? rate : 1, .ceil = total, .mtu = mtu,
				  .quantum = NET_QUANTUM_PER_WEIGHT * weight};
	ret->burst = htb_burst(ret->rate, mtu);
	ret->cburst = htb_burst(total, mtu);
}

static bool used_minor(const struct ctx *c, const struct net_tap_obs *t, uint16_t m)
{
	for (size_t i = 0; i < t->n_used; i++)
		if (t->used[i] == m)
			return true;
	for (size_t i = 0; i < c->n_taken; i++)
		if (c->taken[i] == m)
			return true;
	return false;
}

/* kvmcg's HTB on the tap's bridge at total: there, made by this plan, made now
 * (NA_BRIDGE), or its total changed (NA_TOTAL) when no other VM's class is under it.
 * -EBUSY with err_set() when another qdisc is there or other VMs share another total. */
static int plan_bridge_root(struct ctx *c, const struct net_tap_obs *t, uint64_t total, const struct net_change *rec)
{
	struct net_action a = {.ifindex = t->bridge};
	snprintf(a.dev, sizeof(a.dev), "%s", t->bridge_name);
	for (size_t i = 0; i < c->n_bridges; i++)
		if (c->bridges[i] == t->bridge)
			return 0;
	if (t->bridge_root < 0) {
		err_set("%s has a root qdisc kvmcg did not put there (%s); Weight= needs kvmcg's htb at the root of the "
			"bridge %s is on, and not even --force replaces a bridge's qdisc (every port's traffic to the host's "
			"side goes through it)",
			t->bridge_name, t->bridge_root_kind, t->ifname);
		return -EBUSY;
	}
	if (c->n_bridges == ARRAY_SIZE(c->bridges))
		return -E2BIG;
	c->bridges[c->n_bridges++] = t->bridge;
	if (t->bridge_root == 0) {
		a.act = NA_BRIDGE;
		a.rate = total_rate(total, t->bridge_mtu);
		return push(c->p, &a);
	}
	if (t->bridge_total == total)
		return 0;
	/* another total: the VMs already there split the old one */
	size_t mine = rec && t->class_ours ? 1 : 0;
	if (t->bridge_classes > mine) {
		err_set("%s is shared at %llu bit/s by %zu other VM tap%s kvmcg gave a weight there; this policy's "
			"BridgeInboundAverage= is %llu bit/s: give every VM on one bridge the same total",
			t->bridge_name, (unsigned long long)t->bridge_total * 8, t->bridge_classes - mine,
			t->bridge_classes - mine == 1 ? "" : "s", (unsigned long long)total * 8);
		return -EBUSY;
	}
	a.act = NA_TOTAL;
	a.rate = total_rate(total, t->bridge_mtu);
	a.before_rate = total_rate(t->bridge_total, t->bridge_mtu);
	return push(c->p, &a);
}

/* The filter on mac of another class than own on the bridge, or NULL. */
static const struct rtnl_mac_filter *mac_elsewhere(const struct net_tap_obs *t, const uint8_t mac[6], uint32_t own)
{
	for (size_t i = 0; i < t->n_mac_filters; i++)
		if (memcmp(t->mac_filters[i].mac, mac, 6) == 0 && t->mac_filters[i].classid != own)
			return &t->mac_filters[i];
	return NULL;
}

/* Into a->macs the guest's MACs for a class own (0: a new one), at most 4, leaving
 * out (said) a MAC another VM's class on the bridge has already: a guest may send
 * from any MAC, and the bridge learns it. 0 with none left, 1, -ENOMEM. */
static int copy_macs(struct ctx *c, struct net_action *a, const struct net_tap_obs *t, uint32_t own)
{
	a->macs = malloc((t->n_macs ? t->n_macs : 1) * sizeof(*a->macs));
	if (!a->macs)
		return -ENOMEM;
	a->n_macs = 0;
	for (size_t i = 0; i < t->n_macs && a->n_macs < 4; i++) {
		const uint8_t *m = t->macs[i];
		const struct rtnl_mac_filter *f = mac_elsewhere(t, m, own);
		if (!f) {
			memcpy(a->macs[a->n_macs++], m, 6);
			continue;
		}
		int r = say(c->warnings, c->n_warnings,
			    "%s: the MAC %02x:%02x:%02x:%02x:%02x:%02x behind it is another VM's class's on %s (%x:%x): "
			    "not used for this tap (give the guest's NIC mac= on QEMU's command line)",
			    t->ifname, m[0], m[1], m[2], m[3], m[4], m[5], t->bridge_name, f->classid >> 16,
			    f->classid & 0xFFFFu);
		if (r < 0)
			return r;
	}
	return a->n_macs > 0;
}

/* Whether the filters of class own hold exactly the MACs of a. */
static bool same_macs(const struct net_tap_obs *t, uint32_t own, const struct net_action *a)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_mac_filters; i++) {
		if (t->mac_filters[i].classid != own)
			continue;
		bool found = false;
		for (size_t k = 0; k < a->n_macs; k++)
			found |= memcmp(a->macs[k], t->mac_filters[i].mac, 6) == 0;
		if (!found)
			return false;
		n++;
	}
	return n == a->n_macs;
}

/* The MACs of class own's filters into *ret (owned; at most 4). -ENOMEM. */
static int own_macs(const struct net_tap_obs *t, uint32_t own, uint8_t (**ret)[6], size_t *ret_n)
{
	*ret = malloc((t->n_mac_filters ? t->n_mac_filters : 1) * sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	*ret_n = 0;
	for (size_t i = 0; i < t->n_mac_filters && *ret_n < 4; i++)
		if (t->mac_filters[i].classid == own)
			memcpy((*ret)[(*ret_n)++], t->mac_filters[i].mac, 6);
	return 0;
}

/* The record's class of a tap removed (no weight any more, or the tap is on another
 * bridge now), with what a rollback needs to make it again as it is. */
static int plan_weight_drop(struct ctx *c, const struct net_tap_obs *t, const struct net_change *rec, bool moved)
{
	struct net_action a = {.act = NA_DEL_CLASS, .ifindex = rec->ifindex, .classid = rec->handle};
	snprintf(a.dev, sizeof(a.dev), "%s", rec->dev);
	snprintf(a.to, sizeof(a.to), "%s", t->ifname);
	int r;
	if (t->class_ours && !moved) {
		a.undo_known = true;
		a.undo_rate = (struct rtnl_rate){.rate = t->class.rate, .ceil = t->class.ceil, .quantum = t->class.quantum,
						 .mtu = t->bridge_mtu, .burst = htb_burst(t->class.rate, t->bridge_mtu),
						 .cburst = htb_burst(t->class.ceil, t->bridge_mtu)};
		/* and the bridge's root, should it go with the class */
		a.rate = total_rate(t->bridge_total ? t->bridge_total : t->class.ceil, t->bridge_mtu);
		if ((r = own_macs(t, rec->handle, &a.macs, &a.n_macs)) < 0)
			return r;
	}
	if ((r = push_recorded(c->p, &a, rec)) < 0)
		free(a.macs);
	return r;
}

/* Why a weight cannot be had on tap t, said in skipped (1), or 0 when it can. */
static int weight_unplaceable(struct ctx *c, const struct net_tap_obs *t)
{
	int r = 0;
	if (!t->bridge)
		r = say(c->skipped, c->n_skipped,
			"[Network] Weight= on %s (it is enslaved to no bridge: a weight is a share of a bridge)", t->ifname);
	else if (c->obs->feat[RTNL_FEAT_HTB] == 0)
		r = say(c->skipped, c->n_skipped,
			"[Network] Weight= on %s (this kernel has no htb qdisc, sch_htb, to share %s with)", t->ifname,
			t->bridge_name);
	else if (!t->n_macs)
		r = say(c->skipped, c->n_skipped,
			"[Network] Weight= on %s (no MAC of the guest behind it is known: give its NIC mac= on QEMU's "
			"command line, or pin again once the guest has sent a frame, which %s learns)",
			t->ifname, t->bridge_name);
	else
		return 0;
	return r < 0 ? r : 1;
}

/* The class the record has, as the kernel has it, changed to a (its rate, or its
 * filters' MACs). */
static int plan_weight_change(struct ctx *c, const struct net_tap_obs *t, const struct net_change *rec,
			      struct net_action *a)
{
	a->classid = rec->handle;
	int r = copy_macs(c, a, t, rec->handle);
	if (r <= 0) {
		free(a->macs);
		return r < 0 ? r : say(c->skipped, c->n_skipped,
				       "[Network] Weight= on %s (every MAC behind it is another VM's class's on %s)",
				       t->ifname, t->bridge_name);
	}
	a->refilter = !same_macs(t, rec->handle, a);
	if (!a->refilter && t->class.rate == a->rate.rate && t->class.ceil == a->rate.ceil &&
	    t->class.quantum == a->rate.quantum && a->rate.ceil == t->bridge_total) {
		free(a->macs);
		return 0;
	}
	a->mode = RTNL_PUT_REPLACE;
	a->before_rate = (struct rtnl_rate){.rate = t->class.rate, .ceil = t->class.ceil, .quantum = t->class.quantum,
					    .mtu = t->bridge_mtu, .burst = htb_burst(t->class.rate, t->bridge_mtu),
					    .cburst = htb_burst(t->class.ceil, t->bridge_mtu)};
	if (a->refilter && (r = own_macs(t, rec->handle, &a->before_macs, &a->n_before_macs)) < 0) {
		free(a->macs);
		return r;
	}
	if ((r = push(c->p, a)) < 0) {
		free(a->macs);
		free(a->before_macs);
	}
	return r;
}

/* A tap's share of its bridge: its class and filters made, changed or removed. */
static int plan_weight(struct ctx *c, const struct net_tap_obs *t, const struct nettune *want)
{
	const struct net_change *rec = record_find_net(c->st, NET_ADDED_CLASS, NULL, t->ifindex);
	int r;
	/* a tap moved to another bridge (or off one) leaves the class it had */
	bool moved = rec && (!t->bridge || rec->ifindex != t->bridge);
	if (rec && (!want || moved)) {
		if ((r = plan_weight_drop(c, t, rec, moved)) < 0 || !want)
			return r;
		rec = NULL;
	}
	if (!want || (!t->bridge && c->any_bridged)) /* the weight is the VM's share where it shares */
		return 0;
	if ((r = weight_unplaceable(c, t)) != 0)
		return r < 0 ? r : 0;
	if ((r = plan_bridge_root(c, t, want->bridge_total, rec)) < 0)
		return r;
	struct net_action a = {.act = NA_CLASS, .ifindex = t->bridge, .port = t->ifindex};
	snprintf(a.dev, sizeof(a.dev), "%s", t->bridge_name);
	snprintf(a.to, sizeof(a.to), "%s", t->ifname);
	net_weight_rate(want->weight, t->bridge_weights, want->bridge_total, t->bridge_mtu, &a.rate);
	if (rec && t->class_ours)
		return plan_weight_change(c, t, rec, &a);
	/* a class of its own: the record's minor when the class went, else the lowest free */
	uint16_t minor = rec ? (uint16_t)(rec->handle & 0xFFFFu) : 0;
	for (uint16_t m = 2; !minor && m < 0xFFFFu; m++)
		if (!used_minor(c, t, m))
			minor = m;
	if (!minor || c->n_taken == ARRAY_SIZE(c->taken))
		return -E2BIG;
	a.classid = RTNL_H(NET_HANDLE_MAJOR, minor);
	a.mode = RTNL_PUT_CREATE;
	if ((r = copy_macs(c, &a, t, a.classid)) <= 0) {
		free(a.macs);
		return r < 0 ? r : say(c->skipped, c->n_skipped,
				       "[Network] Weight= on %s (every MAC behind it is another VM's class's on %s)",
				       t->ifname, t->bridge_name);
	}
	c->taken[c->n_taken++] = minor;
	/* the recorded class is gone: made again, the record keeps its entry */
	r = rec ? push(c->p, &a) : push_change(c->p, &a, NET_ADDED_CLASS, c->obs, "htb", NULL);
	if (r < 0)
		free(a.macs);
	return r;
}

int plan_nettune(const struct nettune *want, const struct nettune *had, const struct net_obs *obs,
		 const struct vm_state *st, bool force, struct net_plan *ret, char ***warnings, size_t *n_warnings,
		 char ***skipped, size_t *n_skipped)
{
	struct ctx c = {.obs = obs, .st = st, .force = force, .p = ret, .warnings = warnings, .skipped = skipped,
			.n_warnings = n_warnings, .n_skipped = n_skipped};
	*ret = (struct net_plan){0};
	int r = 0;
	for (size_t i = 0; want && want->weight && i < obs->n_taps; i++)
		c.any_bridged |= obs->taps[i].bridge && nettune_matches(want, obs->taps[i].ifname);
	for (size_t i = 0; r == 0 && i < obs->n_taps; i++) {
		const struct net_tap_obs *t = &obs->taps[i];
		bool on = want && nettune_matches(want, t->ifname);
		bool was = had && nettune_matches(had, t->ifname);
		r = plan_inbound(&c, t, on && want->in.average ? &want->in : NULL,
				 was && had->in.average ? &had->in : NULL);
		if (r == 0)
			r = plan_outbound(&c, t, on && want->out.average ? &want->out : NULL,
					  was && had->out.average ? &had->out : NULL);
		if (r == 0)
			r = plan_weight(&c, t, on && want->weight ? want : NULL);
	}
	if (r < 0)
		net_plan_done(ret);
	return r;
}

static bool net_act_removes(enum net_act a)
{
	return a == NA_DEL_ROOT || a == NA_DEL_INGRESS || a == NA_DEL_IFB || a == NA_DEL_CLASS;
}

static bool same_change(const struct net_change *a, const struct net_change *b)
{
	/* as record_find_net(): a tap by its index, an IFB by its name */
	return a->what == b->what &&
	       (a->what == NET_ADDED_IFB	 ? strcmp(a->dev, b->dev) == 0
		: a->what == NET_ADDED_CLASS ? a->port == b->port && a->ifindex == b->ifindex
					     : a->ifindex == b->ifindex) &&
	       a->netns_ino == b->netns_ino && a->netns_dev == b->netns_dev;
}

int net_record_apply(const struct net_change *prev, size_t n_prev, const struct net_plan *plan, size_t done,
		     bool planned, struct vm_state *ret)
{
	if (planned)
		done = plan->n;
	for (size_t i = 0; i < n_prev; i++) {
		bool removed = false;
		for (size_t k = 0; !planned && k < done; k++) {
			const struct net_action *a = &plan->v[k];
			removed |= a->records && net_act_removes(a->act) &&
				   same_change(&prev[i], &a->change);
		}
		if (!removed && record_add_net(ret, &prev[i]) < 0)
			return -ENOMEM;
	}
	for (size_t k = 0; k < done; k++) {
		const struct net_action *a = &plan->v[k];
		if (!a->records || net_act_removes(a->act))
			continue;
		size_t have = ret->n_net;
		for (size_t i = 0; i < ret->n_net; i++)
			if (same_change(&ret->net[i], &a->change))
				have = i;
		if (have == ret->n_net) {
			if (record_add_net(ret, &a->change) < 0)
				return -ENOMEM;
		} else if (a->change.was_kind) {
			/* the operator's qdisc that took the place of kvmcg's since, replaced
			 * with --force: it is what unpin puts back now */
			struct vm_state one = {0};
			if (record_add_net(&one, &a->change) < 0)
				return -ENOMEM;
			net_change_done(&ret->net[have]);
			ret->net[have] = one.net[0];
			free(one.net);
		}
	}
	return 0;
}
