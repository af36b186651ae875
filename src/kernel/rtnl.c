// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/rtnl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include "basic/err.h"
#include "basic/util.h"

/* A dump's datagrams are at most 32 KiB (net/netlink/af_netlink.c netlink_dump()). */
#define RTNL_RX_SIZE 65536
#define RTNL_TX_SIZE 8192
#define ETH_HEADER 14u

struct rtnl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	bool own;
	char *ext_msg;
	char rx[RTNL_RX_SIZE];
};

/* ---- opening ---- */

int rtnl_netns_is_own(int netns_fd)
{
	struct stat a, b;
	if (fstat(netns_fd, &a) < 0)
		return -errno;
	if (stat("/proc/thread-self/ns/net", &b) < 0 && stat("/proc/self/ns/net", &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

struct ns_job {
	int netns_fd;
	int sock;
	int err;
};

/* The thread's only work: enter the namespace, make the socket. */
static void *ns_socket_thread(void *p)
{
	struct ns_job *j = p;
	if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
		j->err = -errno;
		return NULL;
	}
	j->sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (j->sock < 0)
		j->err = -errno;
	return NULL;
}

static int socket_in_netns(int netns_fd)
{
	if (netns_fd < 0) {
		int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		return s < 0 ? -errno : s;
	}
	struct ns_job j = {.netns_fd = netns_fd, .sock = -1};
	pthread_t t;
	int r = pthread_create(&t, NULL, ns_socket_thread, &j);
	if (r != 0)
		return -r;
	pthread_join(t, NULL);
	return j.err < 0 ? j.err : j.sock;
}

int rtnl_open(int netns_fd, struct rtnl **ret)
{
	bool own = true;
	if (netns_fd >= 0) {
		int o = rtnl_netns_is_own(netns_fd);
		if (o < 0) {
			err_set("cannot read the network namespace's fd: %s", strerror(-o));
			return o;
		}
		own = o;
	}
	struct rtnl *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	int s = socket_in_netns(netns_fd);
	if (s < 0) {
		free(r);
		err_set("cannot open a netlink socket in %s: %s", netns_fd < 0 ? "this network namespace" : "the VM's network namespace",
			strerror(-s));
		return s;
	}
	int one = 1;
	/* both are optional: a kernel without extended acks still answers */
	(void)setsockopt(s, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(s, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	r->nl = mnl_socket_fdopen(s);
	if (!r->nl) {
		int e = -errno;
		close(s);
		free(r);
		return e ? e : -ENOMEM;
	}
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;
		rtnl_close(r);
		err_set("cannot bind a netlink socket: %s", strerror(-e));
		return e;
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)now_ns();
	r->own = own;
	*ret = r;
	return 0;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r->ext_msg);
	free(r);
}

bool rtnl_own_netns(const struct rtnl *r)
{
	return r->own;
}

const char *rtnl_ext_msg(const struct rtnl *r)
{
	return r->ext_msg;
}

/* ---- one request, its answers ---- */

typedef int (*rtnl_msg_cb)(const struct nlmsghdr *h, void *data);

static int ext_attr_cb(const struct nlattr *a, void *data)
{
	char **msg = data;
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
		free(*msg);
		*msg = strdup(mnl_attr_get_str(a));
	}
	return MNL_CB_OK;
}

/* The extended ack's attributes start after the error (and, unless capped, after the
 * request echoed back): include/uapi/linux/netlink.h, struct nlmsgerr. */
static void keep_ext_ack(struct rtnl *r, const struct nlmsghdr *h, unsigned offset)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || mnl_nlmsg_get_payload_len(h) < offset)
		return;
	(void)mnl_attr_parse(h, offset, ext_attr_cb, &r->ext_msg);
}

static int handle_ack(struct rtnl *r, const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
	if (mnl_nlmsg_get_payload_len(h) < sizeof(*e))
		return -EBADMSG;
	unsigned off = sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= sizeof(struct nlmsghdr))
		off += MNL_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
	keep_ext_ack(r, h, off);
	return e->error <= 0 ? e->error : -e->error;
}

static int handle_done(struct rtnl *r, const struct nlmsghdr *h)
{
	if (mnl_nlmsg_get_payload_len(h) < sizeof(int))
		return 0;
	int e;
	memcpy(&e, mnl_nlmsg_get_payload(h), sizeof(e));
	keep_ext_ack(r, h, sizeof(int));
	return e < 0 ? e : 0;
}

/* Sends nlh and reads until its ack, error or NLMSG_DONE; each other message of the
 * same sequence number goes to cb, until cb returns a negative errno (returned then);
 * any other return of cb goes on to the next message. */
static int rtnl_talk(struct rtnl *r, struct nlmsghdr *nlh, rtnl_msg_cb cb, void *data)
{
	nlh->nlmsg_seq = ++r->seq;
	/* NLM_F_DUMP shares bits with NLM_F_EXCL and NLM_F_REPLACE: a dump is a GET
	 * (RTM_GET* are 2 modulo 4, include/uapi/linux/rtnetlink.h) with both bits */
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP && nlh->nlmsg_type % 4 == 2;
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	free(r->ext_msg);
	r->ext_msg = NULL;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	int cb_err = 0;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->rx, sizeof(r->rx));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		const struct nlmsghdr *h = (const struct nlmsghdr *)r->rx;
		int len = (int)n;
		for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != nlh->nlmsg_seq || h->nlmsg_pid != r->portid)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				int e = handle_ack(r, h);
				return cb_err < 0 ? cb_err : e;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				int e = handle_done(r, h);
				return cb_err < 0 ? cb_err : e;
			}
			if (cb && cb_err == 0) {
				int k = cb(h, data);
				cb_err = k < 0 ? k : 0; /* any other answer goes on to the next message */
			}
		}
	}
}

/* rtnl_talk, and on failure the sentence: what, errno, the kernel's words. */
__attribute__((format(printf, 5, 6))) static int talk_or_say(struct rtnl *r, struct nlmsghdr *nlh, rtnl_msg_cb cb,
							     void *data, const char *fmt, ...)
{
	int e = rtnl_talk(r, nlh, cb, data);
	if (e < 0) {
		va_list ap;
		va_start(ap, fmt);
		_cleanup_free_ char *what = vformat(fmt, ap);
		va_end(ap);
		err_set("%s: %s%s%s", what ? what : "rtnetlink", strerror(-e), r->ext_msg ? ": " : "",
			r->ext_msg ? r->ext_msg : "");
	}
	return e;
}

/* ---- links ---- */

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	struct rtnl_link *l = data;
	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) == 0) {
		size_t n = mnl_attr_get_payload_len(a);
		if (n >= sizeof(l->kind))
			n = sizeof(l->kind) - 1;
		memcpy(l->kind, mnl_attr_get_payload(a), n);
		l->kind[n] = '\0';
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct rtnl_link *l = data;
	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 && strlen(mnl_attr_get_str(a)) < IF_NAMESIZE)
			strcpy(l->name, mnl_attr_get_str(a));
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->master = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			(void)mnl_attr_parse_nested(a, linkinfo_cb, l);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int rtnl_link_parse(const void *msg, size_t len, struct rtnl_link *ret)
{
	const struct nlmsghdr *h = msg;
	if (len > INT_MAX || !mnl_nlmsg_ok(h, (int)len) || h->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(h) < sizeof(struct ifinfomsg))
		return -EBADMSG;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
	struct rtnl_link l = {.ifindex = ifi->ifi_index, .flags = ifi->ifi_flags};
	if (mnl_attr_parse(h, sizeof(*ifi), link_attr_cb, &l) < 0 || l.name[0] == '\0')
		return -EBADMSG;
	*ret = l;
	return 0;
}

static int link_get_cb(const struct nlmsghdr *h, void *data)
{
	return rtnl_link_parse(h, h->nlmsg_len, data);
}

int rtnl_link_get(struct rtnl *r, int ifindex, const char *name, struct rtnl_link *ret)
{
	if (ifindex <= 0 && (!name || !name[0] || strlen(name) >= IF_NAMESIZE))
		return -EINVAL;
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, ifindex > 0 ? ifindex : 0);
	if (ifindex <= 0)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct rtnl_link l = {0};
	int e = rtnl_talk(r, nlh, link_get_cb, &l);
	if (e == 0 && l.name[0] == '\0')
		e = -ENODEV;
	if (e < 0)
		return e;
	*ret = l;
	return 0;
}

struct link_list {
	struct rtnl_link *v;
	size_t n;
};

static int link_list_cb(const struct nlmsghdr *h, void *data)
{
	struct link_list *l = data;
	struct rtnl_link k;
	if (rtnl_link_parse(h, h->nlmsg_len, &k) < 0)
		return 0;
	struct rtnl_link *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = k;
	return 0;
}

int rtnl_link_list(struct rtnl *r, struct rtnl_link **ret, size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
	struct link_list l = {0};
	int e = talk_or_say(r, nlh, link_list_cb, &l, "cannot list the network devices");
	if (e < 0) {
		free(l.v);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int rtnl_link_index(struct rtnl *r, const char *name, int *ret_ifindex)
{
	struct rtnl_link l;
	int e = rtnl_link_get(r, 0, name, &l);
	if (e < 0)
		return e;
	*ret_ifindex = l.ifindex;
	return 0;
}

int rtnl_link_name(struct rtnl *r, int ifindex, char *ret_name)
{
	struct rtnl_link l;
	int e = rtnl_link_get(r, ifindex, NULL, &l);
	if (e < 0)
		return e;
	memcpy(ret_name, l.name, IF_NAMESIZE);
	return 0;
}

int rtnl_ifb_create(struct rtnl *r, const char *name, int *ret_ifindex)
{
	if (!name || !name[0] || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ifb");
	mnl_attr_nest_end(nlh, li);
	int e = talk_or_say(r, nlh, NULL, NULL, "cannot create the IFB device %s", name);
	if (e < 0)
		return e;
	int idx;
	e = rtnl_link_index(r, name, &idx);
	if (e < 0)
		return e;
	e = rtnl_link_set_up(r, idx);
	if (e < 0) {
		/* not left behind half made; the sentence is the set-up's */
		char *why = strdup_or_null(err_get());
		(void)rtnl_link_delete(r, idx);
		if (why)
			err_set("%s", why);
		free(why);
		return e;
	}
	*ret_ifindex = idx;
	return 0;
}

int rtnl_link_set_up(struct rtnl *r, int ifindex)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return talk_or_say(r, nlh, NULL, NULL, "cannot set link %d up", ifindex);
}

int rtnl_link_delete(struct rtnl *r, int ifindex)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, ifindex);
	return talk_or_say(r, nlh, NULL, NULL, "cannot delete link %d", ifindex);
}

/* ---- qdiscs ---- */

static struct nlmsghdr *tc_msg(char *buf, uint16_t type, uint16_t flags, int ifindex, uint32_t parent,
			       uint32_t handle, uint32_t info)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	t->tcm_handle = handle;
	t->tcm_info = info;
	return nlh;
}

static uint16_t put_flags(enum rtnl_put_mode mode)
{
	return NLM_F_CREATE | (mode == RTNL_PUT_REPLACE ? NLM_F_REPLACE : NLM_F_EXCL);
}

void rtnl_qdiscs_free(struct rtnl_qdisc *q, size_t n)
{
	if (!q)
		return;
	for (size_t i = 0; i < n; i++)
		free(q[i].options);
	free(q);
}

struct qdisc_attrs {
	const struct nlattr *kind, *options;
};

static int qdisc_attr_cb(const struct nlattr *a, void *data)
{
	struct qdisc_attrs *t = data;
	if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		t->kind = a;
	else if (mnl_attr_get_type(a) == TCA_OPTIONS)
		t->options = a;
	return MNL_CB_OK;
}

int rtnl_qdisc_parse(const void *msg, size_t len, struct rtnl_qdisc *ret)
{
	const struct nlmsghdr *h = msg;
	if (len > INT_MAX || !mnl_nlmsg_ok(h, (int)len) || h->nlmsg_type != RTM_NEWQDISC ||
	    mnl_nlmsg_get_payload_len(h) < sizeof(struct tcmsg))
		return -EBADMSG;
	const struct tcmsg *t = mnl_nlmsg_get_payload(h);
	struct qdisc_attrs a = {0};
	if (mnl_attr_parse(h, sizeof(*t), qdisc_attr_cb, &a) < 0 || !a.kind)
		return -EBADMSG;
	const char *kind = mnl_attr_get_str(a.kind);
	struct rtnl_qdisc q = {.ifindex = t->tcm_ifindex, .handle = t->tcm_handle, .parent = t->tcm_parent};
	if (strlen(kind) >= sizeof(q.kind))
		return -EBADMSG;
	strcpy(q.kind, kind);
	if (a.options && mnl_attr_get_payload_len(a.options) > 0) {
		q.options_len = mnl_attr_get_payload_len(a.options);
		q.options = malloc(q.options_len);
		if (!q.options)
			return -ENOMEM;
		memcpy(q.options, mnl_attr_get_payload(a.options), q.options_len);
	}
	*ret = q;
	return 0;
}

struct qdisc_list {
	int ifindex;
	struct rtnl_qdisc *v;
	size_t n;
};

static int qdisc_list_cb(const struct nlmsghdr *h, void *data)
{
	struct qdisc_list *l = data;
	struct rtnl_qdisc q;
	int e = rtnl_qdisc_parse(h, h->nlmsg_len, &q);
	if (e == -EBADMSG)
		return 0;
	if (e < 0)
		return e;
	if (q.ifindex != l->ifindex) {
		free(q.options);
		return 0;
	}
	struct rtnl_qdisc *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(q.options);
		return -ENOMEM;
	}
	l->v = v;
	l->v[l->n++] = q;
	return 0;
}

int rtnl_qdisc_list(struct rtnl *r, int ifindex, struct rtnl_qdisc **ret, size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_GETQDISC, NLM_F_DUMP, ifindex, 0, 0, 0);
	struct qdisc_list l = {.ifindex = ifindex};
	int e = talk_or_say(r, nlh, qdisc_list_cb, &l, "cannot list the qdiscs of link %d", ifindex);
	if (e < 0) {
		rtnl_qdiscs_free(l.v, l.n);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

bool rtnl_qdisc_is_default(const struct rtnl_qdisc *q)
{
	return q->handle == 0;
}

int rtnl_root_qdisc(struct rtnl *r, int ifindex, struct rtnl_qdisc *ret)
{
	struct rtnl_qdisc *v = NULL;
	size_t n = 0;
	int e = rtnl_qdisc_list(r, ifindex, &v, &n);
	if (e < 0)
		return e;
	e = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (v[i].parent == RTNL_H_ROOT) {
			*ret = v[i];
			v[i].options = NULL;
			e = rtnl_qdisc_is_default(ret) ? 0 : 1;
			break;
		}
	rtnl_qdiscs_free(v, n);
	return e;
}

int rtnl_qdisc_put(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle, const char *kind,
		   const void *options, size_t options_len, enum rtnl_put_mode mode)
{
	char buf[RTNL_TX_SIZE];
	if (options_len > RTNL_TX_SIZE - 256)
		return -E2BIG;
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWQDISC, put_flags(mode), ifindex, parent, handle, 0);
	mnl_attr_put_strz(nlh, TCA_KIND, kind);
	if (options && options_len)
		mnl_attr_put(nlh, TCA_OPTIONS, options_len, options);
	return talk_or_say(r, nlh, NULL, NULL, "cannot put a %s qdisc on link %d", kind, ifindex);
}

int rtnl_qdisc_del(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_DELQDISC, 0, ifindex, parent, handle, 0);
	return talk_or_say(r, nlh, NULL, NULL, "cannot delete the qdisc %x:%x of link %d", handle >> 16,
			   handle & 0xFFFFu, ifindex);
}

/* ---- shaping ---- */

static void ratespec(struct tc_ratespec *s, uint64_t rate)
{
	memset(s, 0, sizeof(*s));
	s->rate = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	s->linklayer = TC_LINKLAYER_ETHERNET;
	s->cell_align = -1;
}

int rtnl_htb_root(struct rtnl *r, int ifindex, uint16_t major, uint16_t default_minor, uint32_t r2q,
		  enum rtnl_put_mode mode)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWQDISC, put_flags(mode), ifindex, RTNL_H_ROOT, RTNL_H(major, 0), 0);
	mnl_attr_put_strz(nlh, TCA_KIND, "htb");
	struct nlattr *o = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	/* sch_htb.c htb_init(): version 3 or -EINVAL */
	struct tc_htb_glob g = {.version = 3, .rate2quantum = r2q, .defcls = default_minor};
	mnl_attr_put(nlh, TCA_HTB_INIT, sizeof(g), &g);
	mnl_attr_nest_end(nlh, o);
	return talk_or_say(r, nlh, NULL, NULL, "cannot put an htb qdisc on link %d", ifindex);
}

static int htb_init_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **init = data;
	if (mnl_attr_get_type(a) == TCA_HTB_INIT && mnl_attr_get_payload_len(a) >= sizeof(struct tc_htb_glob))
		*init = a;
	return MNL_CB_OK;
}

int rtnl_htb_r2q(const void *options, size_t len, uint32_t *ret)
{
	const struct nlattr *init = NULL;
	if (!options || len > INT_MAX || mnl_attr_parse_payload(options, len, htb_init_cb, &init) < 0 || !init)
		return -EBADMSG;
	struct tc_htb_glob g;
	memcpy(&g, mnl_attr_get_payload(init), sizeof(g));
	*ret = g.rate2quantum;
	return 0;
}

int rtnl_htb_class(struct rtnl *r, int ifindex, uint32_t parent, uint32_t classid, const struct rtnl_rate *rate,
		   enum rtnl_put_mode mode)
{
	if (!rate->rate || (rate->ceil && rate->ceil < rate->rate))
		return -EINVAL;
	uint64_t ceil = rate->ceil ? rate->ceil : rate->rate;
	uint32_t burst = rate->burst ? rate->burst : rtnl_burst_min(rate->rate, rate->mtu ? rate->mtu : 1500);
	uint32_t cburst = rate->cburst ? rate->cburst : rtnl_burst_min(ceil, rate->mtu ? rate->mtu : 1500);
	struct tc_htb_opt o = {0};
	ratespec(&o.rate, rate->rate);
	ratespec(&o.ceil, ceil);
	o.quantum = rate->quantum;
	o.buffer = tc_xmittime(rate->rate, burst);
	o.cbuffer = tc_xmittime(ceil, cburst);
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWTCLASS, put_flags(mode), ifindex, parent, classid, 0);
	mnl_attr_put_strz(nlh, TCA_KIND, "htb");
	struct nlattr *n = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_HTB_PARMS, sizeof(o), &o);
	if (rate->rate > UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_HTB_RATE64, rate->rate);
	if (ceil > UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_HTB_CEIL64, ceil);
	mnl_attr_nest_end(nlh, n);
	return talk_or_say(r, nlh, NULL, NULL, "cannot put the htb class %x:%x on link %d", classid >> 16,
			   classid & 0xFFFFu, ifindex);
}

int rtnl_tbf(struct rtnl *r, int ifindex, uint32_t parent, uint32_t handle, const struct rtnl_rate *rate,
	     enum rtnl_put_mode mode)
{
	if (!rate->rate || !rate->limit)
		return -EINVAL;
	uint32_t mtu = rate->mtu ? rate->mtu : 1500;
	uint32_t burst = rate->burst ? rate->burst : rtnl_burst_min(rate->rate, mtu);
	struct tc_tbf_qopt q = {.limit = rate->limit};
	ratespec(&q.rate, rate->rate);
	q.buffer = tc_xmittime(rate->rate, burst);
	uint32_t pburst = 0;
	if (rate->ceil) {
		ratespec(&q.peakrate, rate->ceil);
		pburst = rate->cburst ? rate->cburst : mtu + ETH_HEADER;
		q.mtu = tc_xmittime(rate->ceil, pburst);
	}
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWQDISC, put_flags(mode), ifindex, parent, handle, 0);
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	struct nlattr *n = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	if (rate->rate > UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, rate->rate);
	if (rate->ceil) {
		mnl_attr_put_u32(nlh, TCA_TBF_PBURST, pburst);
		if (rate->ceil > UINT32_MAX)
			mnl_attr_put_u64(nlh, TCA_TBF_PRATE64, rate->ceil);
	}
	mnl_attr_nest_end(nlh, n);
	return talk_or_say(r, nlh, NULL, NULL, "cannot put a tbf qdisc on link %d", ifindex);
}

struct tbf_attrs {
	const struct nlattr *parms, *rate64, *prate64, *burst;
};

static int tbf_attr_cb(const struct nlattr *a, void *data)
{
	struct tbf_attrs *t = data;
	switch (mnl_attr_get_type(a)) {
	case TCA_TBF_PARMS:
		if (mnl_attr_get_payload_len(a) >= sizeof(struct tc_tbf_qopt))
			t->parms = a;
		break;
	case TCA_TBF_RATE64:
		if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			t->rate64 = a;
		break;
	case TCA_TBF_PRATE64:
		if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			t->prate64 = a;
		break;
	case TCA_TBF_BURST:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			t->burst = a;
		break;
	}
	return MNL_CB_OK;
}

int rtnl_tbf_parse(const void *options, size_t len, struct rtnl_rate *ret)
{
	struct tbf_attrs t = {0};
	if (!options || len > INT_MAX || mnl_attr_parse_payload(options, len, tbf_attr_cb, &t) < 0 || !t.parms)
		return -EBADMSG;
	struct tc_tbf_qopt q;
	memcpy(&q, mnl_attr_get_payload(t.parms), sizeof(q));
	*ret = (struct rtnl_rate){.rate = t.rate64 ? mnl_attr_get_u64(t.rate64) : q.rate.rate,
				  .ceil = t.prate64 ? mnl_attr_get_u64(t.prate64) : q.peakrate.rate,
				  .limit = q.limit};
	/* the kernel dumps the bucket as ticks only (tbf_dump(): TCA_TBF_BURST is not
	 * sent back), as tc show computes it */
	ret->burst = t.burst ? mnl_attr_get_u32(t.burst) : tc_xmitsize(ret->rate, q.buffer);
	if (ret->ceil)
		ret->cburst = tc_xmitsize(ret->ceil, q.mtu);
	return 0;
}

struct filter_list {
	int ifindex;
	uint32_t parent;
	struct rtnl_filter *v;
	size_t n;
};

static int filter_kind_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **kind = data;
	if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*kind = a;
	return MNL_CB_OK;
}

static int filter_list_cb(const struct nlmsghdr *h, void *data)
{
	struct filter_list *l = data;
	if (h->nlmsg_type != RTM_NEWTFILTER || mnl_nlmsg_get_payload_len(h) < sizeof(struct tcmsg))
		return 0;
	const struct tcmsg *t = mnl_nlmsg_get_payload(h);
	if (t->tcm_ifindex != l->ifindex || t->tcm_parent != l->parent)
		return 0;
	const struct nlattr *kind = NULL;
	if (mnl_attr_parse(h, sizeof(*t), filter_kind_cb, &kind) < 0 || !kind)
		return 0;
	struct rtnl_filter f = {.prio = (uint16_t)(t->tcm_info >> 16), .protocol = (uint16_t)(t->tcm_info & 0xFFFF),
				.handle = t->tcm_handle};
	snprintf(f.kind, sizeof(f.kind), "%s", mnl_attr_get_str(kind));
	/* a classifier dumps its head and each of its filters: one entry per priority */
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].prio == f.prio)
			return 0;
	struct rtnl_filter *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = f;
	return 0;
}

struct mac_filters {
	int ifindex;
	uint32_t parent;
	struct rtnl_mac_filter *v;
	size_t n;
};

struct u32_attrs {
	const struct nlattr *kind, *options, *sel, *classid;
};

static int u32_top_cb(const struct nlattr *a, void *data)
{
	struct u32_attrs *u = data;
	if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		u->kind = a;
	else if (mnl_attr_get_type(a) == TCA_OPTIONS)
		u->options = a;
	return MNL_CB_OK;
}

static int u32_opt_cb(const struct nlattr *a, void *data)
{
	struct u32_attrs *u = data;
	if (mnl_attr_get_type(a) == TCA_U32_SEL && mnl_attr_get_payload_len(a) >= sizeof(struct tc_u32_sel))
		u->sel = a;
	else if (mnl_attr_get_type(a) == TCA_U32_CLASSID && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		u->classid = a;
	return MNL_CB_OK;
}

static int mac_filters_cb(const struct nlmsghdr *h, void *data)
{
	struct mac_filters *l = data;
	if (h->nlmsg_type != RTM_NEWTFILTER || mnl_nlmsg_get_payload_len(h) < sizeof(struct tcmsg))
		return 0;
	const struct tcmsg *t = mnl_nlmsg_get_payload(h);
	struct u32_attrs u = {0};
	if (t->tcm_ifindex != l->ifindex || t->tcm_parent != l->parent ||
	    mnl_attr_parse(h, sizeof(*t), u32_top_cb, &u) < 0 || !u.kind || strcmp(mnl_attr_get_str(u.kind), "u32") != 0 ||
	    !u.options || mnl_attr_parse_nested(u.options, u32_opt_cb, &u) < 0 || !u.sel || !u.classid)
		return 0;
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key[2];
	} s;
	if (mnl_attr_get_payload_len(u.sel) < sizeof(s))
		return 0;
	memcpy(&s, mnl_attr_get_payload(u.sel), sizeof(s));
	if (s.sel.nkeys != 2 || s.key[0].off != -16 || s.key[0].mask != htonl(0x0000FFFFu) || s.key[1].off != -12 ||
	    s.key[1].mask != htonl(0xFFFFFFFFu))
		return 0;
	uint32_t a = ntohl(s.key[0].val), b = ntohl(s.key[1].val);
	struct rtnl_mac_filter f = {.prio = (uint16_t)(t->tcm_info >> 16), .classid = mnl_attr_get_u32(u.classid),
				    .mac = {(uint8_t)(a >> 8), (uint8_t)a, (uint8_t)(b >> 24), (uint8_t)(b >> 16),
					    (uint8_t)(b >> 8), (uint8_t)b}};
	struct rtnl_mac_filter *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = f;
	return 0;
}

int rtnl_u32_mac_filters(struct rtnl *r, int ifindex, uint32_t parent, struct rtnl_mac_filter **ret, size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_GETTFILTER, NLM_F_DUMP, ifindex, parent, 0, 0);
	struct mac_filters l = {.ifindex = ifindex, .parent = parent};
	int e = talk_or_say(r, nlh, mac_filters_cb, &l, "cannot list the filters of link %d", ifindex);
	if (e < 0) {
		free(l.v);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int rtnl_filter_list(struct rtnl *r, int ifindex, uint32_t parent, struct rtnl_filter **ret, size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_GETTFILTER, NLM_F_DUMP, ifindex, parent, 0, 0);
	struct filter_list l = {.ifindex = ifindex, .parent = parent};
	int e = talk_or_say(r, nlh, filter_list_cb, &l, "cannot list the filters of link %d", ifindex);
	if (e < 0) {
		free(l.v);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int rtnl_filter_del(struct rtnl *r, int ifindex, uint32_t parent, uint16_t prio)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_DELTFILTER, 0, ifindex, parent, 0, (uint32_t)prio << 16);
	return talk_or_say(r, nlh, NULL, NULL, "cannot delete the filter of priority %u on link %d", prio, ifindex);
}

int rtnl_u32_dst_mac(struct rtnl *r, int ifindex, uint32_t parent, uint16_t prio, const uint8_t mac[6],
		     uint32_t classid)
{
	if (!prio)
		return -EINVAL;
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, parent, 0,
				      RTNL_H(prio, htons(ETH_P_ALL)));
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put_u32(nlh, TCA_U32_CLASSID, classid);
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key[2];
	} s;
	memset(&s, 0, sizeof(s));
	s.sel.flags = TC_U32_TERMINAL;
	s.sel.nkeys = 2;
	/* the destination MAC is the first 6 bytes of the frame, 14 before the network
	 * header: bytes 2-3 of the word at -16, then the word at -12 (as tc packs them) */
	s.key[0].off = -16;
	s.key[0].mask = htonl(0x0000FFFFu);
	s.key[0].val = htonl((uint32_t)mac[0] << 8 | mac[1]);
	s.key[1].off = -12;
	s.key[1].mask = htonl(0xFFFFFFFFu);
	s.key[1].val = htonl((uint32_t)mac[2] << 24 | (uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5]);
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(s), &s);
	mnl_attr_nest_end(nlh, opts);
	return talk_or_say(r, nlh, NULL, NULL, "cannot add a u32 filter on link %d", ifindex);
}

/* ---- classes ---- */

struct class_list {
	int ifindex;
	struct rtnl_class *v;
	size_t n;
};

static int htb_class_attr_cb(const struct nlattr *a, void *data)
{
	struct rtnl_class *c = data;
	switch (mnl_attr_get_type(a)) {
	case TCA_HTB_PARMS:
		if (mnl_attr_get_payload_len(a) >= sizeof(struct tc_htb_opt)) {
			struct tc_htb_opt o;
			memcpy(&o, mnl_attr_get_payload(a), sizeof(o));
			if (!c->rate)
				c->rate = o.rate.rate;
			if (!c->ceil)
				c->ceil = o.ceil.rate;
			c->quantum = o.quantum;
		}
		break;
	case TCA_HTB_RATE64:
		if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			c->rate = mnl_attr_get_u64(a);
		break;
	case TCA_HTB_CEIL64:
		if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			c->ceil = mnl_attr_get_u64(a);
		break;
	}
	return MNL_CB_OK;
}

static int class_list_cb(const struct nlmsghdr *h, void *data)
{
	struct class_list *l = data;
	if (h->nlmsg_type != RTM_NEWTCLASS || mnl_nlmsg_get_payload_len(h) < sizeof(struct tcmsg))
		return 0;
	const struct tcmsg *t = mnl_nlmsg_get_payload(h);
	struct qdisc_attrs a = {0};
	if (t->tcm_ifindex != l->ifindex || mnl_attr_parse(h, sizeof(*t), qdisc_attr_cb, &a) < 0 || !a.kind)
		return 0;
	struct rtnl_class c = {.classid = t->tcm_handle, .parent = t->tcm_parent};
	snprintf(c.kind, sizeof(c.kind), "%s", mnl_attr_get_str(a.kind));
	if (strcmp(c.kind, "htb") == 0 && a.options)
		(void)mnl_attr_parse_nested(a.options, htb_class_attr_cb, &c);
	struct rtnl_class *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = c;
	return 0;
}

int rtnl_class_list(struct rtnl *r, int ifindex, struct rtnl_class **ret, size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_GETTCLASS, NLM_F_DUMP, ifindex, 0, 0, 0);
	struct class_list l = {.ifindex = ifindex};
	int e = talk_or_say(r, nlh, class_list_cb, &l, "cannot list the classes of link %d", ifindex);
	if (e < 0) {
		free(l.v);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int rtnl_class_del(struct rtnl *r, int ifindex, uint32_t classid)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = tc_msg(buf, RTM_DELTCLASS, 0, ifindex, 0, classid, 0);
	return talk_or_say(r, nlh, NULL, NULL, "cannot delete the class %x:%x of link %d", classid >> 16,
			   classid & 0xFFFFu, ifindex);
}

/* ---- bridges ---- */

struct fdb_list {
	int ifindex;
	uint8_t (*v)[6];
	size_t n;
};

static int fdb_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **lladdr = data;
	if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6)
		*lladdr = a;
	return MNL_CB_OK;
}

static int fdb_list_cb(const struct nlmsghdr *h, void *data)
{
	struct fdb_list *l = data;
	if (h->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(h) < sizeof(struct ndmsg))
		return 0;
	const struct ndmsg *n = mnl_nlmsg_get_payload(h);
	const struct nlattr *lladdr = NULL;
	if (n->ndm_family != AF_BRIDGE || n->ndm_ifindex != l->ifindex || (n->ndm_state & NUD_PERMANENT) ||
	    (n->ndm_flags & NTF_SELF) || mnl_attr_parse(h, sizeof(*n), fdb_attr_cb, &lladdr) < 0 || !lladdr)
		return 0;
	const uint8_t *mac = mnl_attr_get_payload(lladdr);
	for (size_t i = 0; i < l->n; i++)
		if (memcmp(l->v[i], mac, 6) == 0)
			return 0;
	uint8_t(*v)[6] = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	memcpy(v[l->n++], mac, 6);
	return 0;
}

int rtnl_fdb_macs(struct rtnl *r, int ifindex, uint8_t (**ret)[6], size_t *ret_n)
{
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	struct ndmsg *n = mnl_nlmsg_put_extra_header(nlh, sizeof(*n));
	n->ndm_family = AF_BRIDGE;
	struct fdb_list l = {.ifindex = ifindex};
	int e = talk_or_say(r, nlh, fdb_list_cb, &l, "cannot read the bridge's forwarding database");
	if (e < 0) {
		free(l.v);
		return e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int rtnl_ingress(struct rtnl *r, int ifindex, enum rtnl_put_mode mode)
{
	return rtnl_qdisc_put(r, ifindex, RTNL_H_INGRESS, RTNL_H(0xFFFF, 0), "ingress", NULL, 0, mode);
}

/* The filter's head: u32 on ffff:, all protocols, one key that matches everything. */
static struct nlattr *u32_match_all(struct nlmsghdr *nlh)
{
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key;
	} s;
	memset(&s, 0, sizeof(s));
	s.sel.flags = TC_U32_TERMINAL;
	s.sel.nkeys = 1;
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(s), &s);
	return opts;
}

static struct nlmsghdr *ingress_filter_msg(char *buf, int ifindex, uint16_t prio)
{
	return tc_msg(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, RTNL_H(0xFFFF, 0), 0,
		      RTNL_H(prio, htons(ETH_P_ALL)));
}

static size_t put_raw_attr(uint8_t *buf, size_t off, uint16_t type, const void *data, size_t len)
{
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
	memcpy(buf + off, &a, sizeof(a));
	memcpy(buf + off + NLA_HDRLEN, data, len);
	memset(buf + off + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	return off + NLA_HDRLEN + NLA_ALIGN(len);
}

size_t rtnl_police_attrs(const struct rtnl_rate *rate, void *buf, size_t size)
{
	if (!rate->rate || size < RTNL_POLICE_ATTRS_MAX)
		return 0;
	uint32_t mtu = rate->mtu ? rate->mtu + ETH_HEADER : 0;
	uint32_t burst = rate->burst ? rate->burst : rtnl_burst_min(rate->rate, rate->mtu ? rate->mtu : 1500);
	struct tc_police p;
	memset(&p, 0, sizeof(p));
	p.action = TC_ACT_SHOT;
	p.mtu = mtu;
	ratespec(&p.rate, rate->rate);
	uint32_t rtab[256];
	p.rate.cell_log = (unsigned char)tc_calc_rtable(rate->rate, mtu, rtab);
	p.burst = tc_xmittime(rate->rate, burst);
	size_t off = put_raw_attr(buf, 0, TCA_POLICE_TBF, &p, sizeof(p));
	off = put_raw_attr(buf, off, TCA_POLICE_RATE, rtab, sizeof(rtab));
	if (rate->rate > UINT32_MAX) {
		uint64_t r64 = rate->rate;
		off = put_raw_attr(buf, off, TCA_POLICE_RATE64, &r64, sizeof(r64));
	}
	return off;
}

int rtnl_ingress_police(struct rtnl *r, int ifindex, uint16_t prio, const struct rtnl_rate *rate)
{
	uint8_t pol[RTNL_POLICE_ATTRS_MAX];
	size_t n = rtnl_police_attrs(rate, pol, sizeof(pol));
	if (!n || !prio)
		return -EINVAL;
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = ingress_filter_msg(buf, ifindex, prio);
	struct nlattr *opts = u32_match_all(nlh);
	struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	struct nlattr *a1 = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "police");
	mnl_attr_put(nlh, TCA_ACT_OPTIONS | NLA_F_NESTED, n, pol);
	mnl_attr_nest_end(nlh, a1);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	return talk_or_say(r, nlh, NULL, NULL, "cannot add a u32 filter with a police action on link %d", ifindex);
}

int rtnl_ingress_mirred(struct rtnl *r, int ifindex, uint16_t prio, int to_ifindex)
{
	if (!prio || to_ifindex <= 0)
		return -EINVAL;
	struct tc_mirred m = {.eaction = TCA_EGRESS_REDIR, .ifindex = (uint32_t)to_ifindex};
	m.action = TC_ACT_STOLEN;
	char buf[RTNL_TX_SIZE];
	struct nlmsghdr *nlh = ingress_filter_msg(buf, ifindex, prio);
	struct nlattr *opts = u32_match_all(nlh);
	struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	struct nlattr *a1 = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
	struct nlattr *ao = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
	mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(m), &m);
	mnl_attr_nest_end(nlh, ao);
	mnl_attr_nest_end(nlh, a1);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	return talk_or_say(r, nlh, NULL, NULL, "cannot add a u32 filter redirecting link %d to link %d", ifindex,
			   to_ifindex);
}

/* ---- probing ---- */

const char *rtnl_feature_name(enum rtnl_feature f)
{
	static const char *const names[RTNL_FEAT_N] = {
		[RTNL_FEAT_HTB] = "htb",         [RTNL_FEAT_TBF] = "tbf",     [RTNL_FEAT_INGRESS] = "ingress",
		[RTNL_FEAT_POLICE] = "police",   [RTNL_FEAT_MIRRED] = "mirred", [RTNL_FEAT_IFB] = "ifb",
	};
	return (unsigned)f < RTNL_FEAT_N ? names[f] : "?";
}

static int probe_result(int e)
{
	if (e == 0)
		return 1;
	return e == -ENOENT || e == -EOPNOTSUPP ? 0 : e;
}

/* The throwaway devices of probes whose process died before deleting them (killed
 * mid-probe): an ifb device named RTNL_PROBE_PREFIX and a pid no process has. */
static void probe_sweep(struct rtnl *r)
{
	struct rtnl_link *v = NULL;
	size_t n = 0;
	if (rtnl_link_list(r, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *p = v[i].name + strlen(RTNL_PROBE_PREFIX);
		char *end;
		if (strncmp(v[i].name, RTNL_PROBE_PREFIX, strlen(RTNL_PROBE_PREFIX)) != 0 || strcmp(v[i].kind, "ifb") != 0 ||
		    *p < '1' || *p > '9')
			continue;
		long pid = strtol(p, &end, 10);
		if (*end == '\0' && pid > 0 && pid <= INT_MAX && pid != getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			(void)rtnl_link_delete(r, v[i].ifindex);
	}
	free(v);
}

int rtnl_probe(struct rtnl *r, int ret[RTNL_FEAT_N])
{
	probe_sweep(r);
	for (int f = 0; f < RTNL_FEAT_N; f++)
		ret[f] = -EOPNOTSUPP;
	char name[IF_NAMESIZE];
	snprintf(name, sizeof(name), RTNL_PROBE_PREFIX "%d", (int)getpid());
	int idx, e = rtnl_ifb_create(r, name, &idx);
	if (e == -EEXIST) {
		/* left by a probe of a process that had this pid and died; a device of the
		 * name that is no IFB device is not kvmcg's, and stays */
		struct rtnl_link l;
		if (rtnl_link_get(r, 0, name, &l) == 0 && strcmp(l.kind, "ifb") == 0) {
			(void)rtnl_link_delete(r, l.ifindex);
			e = rtnl_ifb_create(r, name, &idx);
		}
	}
	ret[RTNL_FEAT_IFB] = probe_result(e);
	if (e == -EOPNOTSUPP)
		return 0;
	if (e < 0)
		return e;
	struct rtnl_rate rate = {.rate = 125000, .limit = 10000, .mtu = 1500};
	ret[RTNL_FEAT_HTB] = probe_result(rtnl_htb_root(r, idx, 1, 0, 10, RTNL_PUT_REPLACE));
	(void)rtnl_qdisc_del(r, idx, RTNL_H_ROOT, 0);
	ret[RTNL_FEAT_TBF] = probe_result(rtnl_tbf(r, idx, RTNL_H_ROOT, RTNL_H(1, 0), &rate, RTNL_PUT_REPLACE));
	(void)rtnl_qdisc_del(r, idx, RTNL_H_ROOT, 0);
	ret[RTNL_FEAT_INGRESS] = probe_result(rtnl_ingress(r, idx, RTNL_PUT_CREATE));
	if (ret[RTNL_FEAT_INGRESS] == 1) {
		ret[RTNL_FEAT_POLICE] = probe_result(rtnl_ingress_police(r, idx, 1, &rate));
		ret[RTNL_FEAT_MIRRED] = probe_result(rtnl_ingress_mirred(r, idx, 2, idx));
	}
	e = rtnl_link_delete(r, idx);
	err_clear();
	return e == -ENODEV ? 0 : e;
}

/* ---- tc_core arithmetic ---- */

uint32_t tc_xmittime(uint64_t rate, uint32_t size)
{
	if (!rate)
		return 0;
	double us = 1e6 * ((double)size / (double)rate);
	if (us >= (double)UINT32_MAX)
		return UINT32_MAX;
	double ticks = (double)(uint32_t)us * RTNL_TICKS_PER_USEC;
	return ticks >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

uint32_t tc_xmitsize(uint64_t rate, uint32_t ticks)
{
	double us = (double)(uint32_t)(ticks / RTNL_TICKS_PER_USEC);
	double b = (double)rate * us / 1e6;
	return b >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)b;
}

int tc_calc_rtable(uint64_t rate, uint32_t mtu, uint32_t rtab[256])
{
	if (mtu == 0)
		mtu = 2047;
	int cell_log = 0;
	while ((mtu >> cell_log) > 255)
		cell_log++;
	for (unsigned i = 0; i < 256; i++)
		rtab[i] = tc_xmittime(rate, (i + 1) << cell_log);
	return cell_log;
}

uint32_t rtnl_burst_min(uint64_t rate, uint32_t mtu)
{
	if (!rate || !mtu)
		return 0;
	uint64_t pkt = (uint64_t)mtu + ETH_HEADER;
	/* the time the kernel charges the frame, ns (psched_l2t_ns()), rounded up */
	uint64_t need = pkt * 1000000000ull / rate + (pkt * 1000000000ull % rate != 0);
	/* the bucket is tc_xmittime() ticks of 64 ns, from whole microseconds, and grows
	 * with the bytes: the fewest bytes, at least the frame, whose ticks cover it */
	if ((uint64_t)tc_xmittime(rate, UINT32_MAX) * 64 < need)
		return UINT32_MAX;
	uint32_t lo = (uint32_t)pkt, hi = UINT32_MAX;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((uint64_t)tc_xmittime(rate, mid) * 64 >= need)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
