// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/proc-events.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"

/* Linux 6.6's struct proc_input (include/uapi/linux/cn_proc.h), spelled here since
 * older headers lack it: the two enums are 32 bits. */
struct proc_input_v66 {
	uint32_t mcast_op;   /* enum proc_cn_mcast_op */
	uint32_t event_type; /* enum proc_cn_event: the kinds wanted; 0 means all */
};

/* The inode numbers of the initial namespaces' /proc/self/ns files
 * (include/linux/proc_ns.h PROC_USER_INIT_INO, PROC_PID_INIT_INO). */
#define USER_NS_INIT_INO 0xEFFFFFFDu
#define PID_NS_INIT_INO 0xEFFFFFFCu

struct proc_events {
	int fd;
	unsigned kinds;
	bool kernel_filters; /* Linux 6.6: a struct proc_input was understood */
	bool listening;
	uint32_t next_ack; /* the cn_msg ack of the next request; its answer carries it + 1 */
	struct proc_events_stats stats;
};

/* ---- decoding -------------------------------------------------------------------------- */

#define EV_END(field) (offsetof(struct proc_event, field) + sizeof(((struct proc_event *)0)->field))
#define EV_OFF(field) offsetof(struct proc_event, field)

static uint32_t get_u32(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* The bytes a kind's fields end at: 0 for a kind that is not decoded. */
static size_t event_need(uint32_t what)
{
	switch (what) {
	case PROC_EVENT_NONE:
		return EV_END(event_data.ack.err);
	case PROC_EVENT_FORK:
		return EV_END(event_data.fork.child_tgid);
	case PROC_EVENT_EXEC:
		return EV_END(event_data.exec.process_tgid);
	case PROC_EVENT_COMM:
		return EV_END(event_data.comm.comm);
	case PROC_EVENT_EXIT:
		return EV_END(event_data.exit.exit_signal);
	default:
		return 0;
	}
}

/* A struct proc_event of len bytes (checked against event_need() already). */
static void event_fill(const uint8_t *e, uint32_t what, struct proc_ev *ev)
{
	*ev = (struct proc_ev){0};
	ev->cpu = get_u32(e, EV_OFF(cpu));
	ev->timestamp_ns = get_u64(e, EV_OFF(timestamp_ns));
	switch (what) {
	case PROC_EVENT_NONE:
		ev->kind = PROC_EV_ACK;
		ev->ack_err = get_u32(e, EV_OFF(event_data.ack.err));
		return;
	case PROC_EVENT_FORK:
		ev->kind = PROC_EV_FORK;
		ev->tid = (pid_t)get_u32(e, EV_OFF(event_data.fork.child_pid));
		ev->pid = (pid_t)get_u32(e, EV_OFF(event_data.fork.child_tgid));
		ev->parent_tid = (pid_t)get_u32(e, EV_OFF(event_data.fork.parent_pid));
		ev->parent_pid = (pid_t)get_u32(e, EV_OFF(event_data.fork.parent_tgid));
		return;
	case PROC_EVENT_EXEC:
		ev->kind = PROC_EV_EXEC;
		break;
	case PROC_EVENT_COMM:
		ev->kind = PROC_EV_COMM;
		memcpy(ev->comm, e + EV_OFF(event_data.comm.comm), PROC_EV_COMM_LEN);
		ev->comm[PROC_EV_COMM_LEN - 1] = '\0';
		break;
	case PROC_EVENT_EXIT:
		ev->kind = PROC_EV_EXIT;
		ev->exit_code = (int)get_u32(e, EV_OFF(event_data.exit.exit_code));
		ev->exit_signal = (int)get_u32(e, EV_OFF(event_data.exit.exit_signal));
		break;
	}
	/* exec, comm and exit share the layout of their first two fields */
	ev->tid = (pid_t)get_u32(e, EV_OFF(event_data.exec.process_pid));
	ev->pid = (pid_t)get_u32(e, EV_OFF(event_data.exec.process_tgid));
}

/* One netlink message's payload, a cn_msg: 1 with *ev filled, 0 when skipped, or
 * -EBADMSG. The cn_msg's data must fill the payload but for alignment padding. */
static int decode_cn(const uint8_t *p, size_t size, struct proc_ev *ev)
{
	struct cn_msg cn;
	if (size < sizeof(cn))
		return -EBADMSG;
	memcpy(&cn, p, sizeof(cn));
	size_t left = size - sizeof(cn);
	if (cn.len > left || left - cn.len >= NLMSG_ALIGNTO)
		return -EBADMSG;
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return 0;
	const uint8_t *e = p + sizeof(cn);
	if (cn.len < EV_OFF(event_data))
		return -EBADMSG;
	uint32_t what = get_u32(e, EV_OFF(what));
	size_t need = event_need(what);
	if (need == 0)
		return 0;
	if (cn.len < need)
		return -EBADMSG;
	event_fill(e, what, ev);
	if (ev->kind == PROC_EV_ACK)
		ev->ack = cn.ack;
	else if (ev->pid <= 0 || ev->tid <= 0)
		return -EBADMSG;
	return 1;
}

static int decode(const void *buf, size_t len, proc_ev_fn cb, void *userdata, uint64_t *skipped)
{
	const uint8_t *p = buf;
	int n = 0;
	while (len > 0) {
		struct nlmsghdr nh;
		if (len < sizeof(nh))
			return -EBADMSG;
		memcpy(&nh, p, sizeof(nh));
		if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > len)
			return -EBADMSG;
		int r = 0;
		struct proc_ev ev;
		if (nh.nlmsg_type == NLMSG_DONE) /* the connector's only type */
			r = decode_cn(p + NLMSG_HDRLEN, nh.nlmsg_len - NLMSG_HDRLEN, &ev);
		if (r < 0)
			return r;
		if (r == 0 && skipped)
			(*skipped)++;
		if (r > 0) {
			r = cb(&ev, userdata);
			if (r < 0)
				return r;
			n++;
		}
		size_t step = NLMSG_ALIGN(nh.nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return n;
}

int proc_events_decode(const void *buf, size_t len, proc_ev_fn cb, void *userdata)
{
	return decode(buf, len, cb, userdata, NULL);
}

/* ---- the socket -------------------------------------------------------------------------- */

/* The largest datagram read whole: the kernel's are 76 bytes. */
#define DGRAM_MAX 4096

/* One datagram from the kernel into buf: its length, -EAGAIN when none waits, -ENOBUFS
 * (counted) when events were lost, -errno. Others' datagrams and truncated ones are
 * dropped and counted, and the next one read. */
static ssize_t recv_kernel(struct proc_events *pe, void *buf, size_t size)
{
	for (;;) {
		struct sockaddr_nl sa = {0};
		struct iovec iov = {.iov_base = buf, .iov_len = size};
		struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = recvmsg(pe->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EWOULDBLOCK)
				return -EAGAIN;
			if (errno == ENOBUFS)
				pe->stats.overruns++;
			return -errno;
		}
		if (mh.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid != 0) {
			pe->stats.foreign++;
			continue;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			pe->stats.malformed++;
			continue;
		}
		return n;
	}
}

struct read_ctx {
	struct proc_events *pe;
	proc_ev_fn cb;
	void *userdata;
	int n;
};

static int deliver(const struct proc_ev *ev, void *userdata)
{
	struct read_ctx *c = userdata;
	if (!(ev->kind & c->pe->kinds)) { /* an ACK, or a kind the kernel did not filter */
		c->pe->stats.skipped++;
		return 0;
	}
	int r = c->cb(ev, c->userdata);
	if (r < 0)
		return r;
	c->pe->stats.events++;
	c->n++;
	return 0;
}

int proc_events_read(struct proc_events *pe, proc_ev_fn cb, void *userdata)
{
	uint8_t buf[DGRAM_MAX] __attribute__((aligned(8)));
	struct read_ctx c = {.pe = pe, .cb = cb, .userdata = userdata};
	bool lost = false;
	for (unsigned i = 0; i < PROC_EVENTS_READ_MAX; i++) {
		ssize_t n = recv_kernel(pe, buf, sizeof(buf));
		if (n == -EAGAIN)
			break;
		if (n == -ENOBUFS) {
			lost = true;
			continue;
		}
		if (n < 0)
			return (int)n;
		int r = decode(buf, (size_t)n, deliver, &c, &pe->stats.skipped);
		if (r == -EBADMSG)
			pe->stats.malformed++;
		else if (r < 0)
			return r;
	}
	return lost ? -ENOBUFS : c.n;
}

/* Sends a listen or ignore request to the process events connector: a struct
 * proc_input when kernel_filters (event_type: the kernel's bits, 0 for all), else the
 * enum alone. Its cn_msg ack is pe->next_ack, which then moves on. */
static int send_request(struct proc_events *pe, bool v66, uint32_t op, uint32_t event_type, uint32_t *ret_ack)
{
	struct proc_input_v66 in = {.mcast_op = op, .event_type = event_type};
	size_t dlen = v66 ? sizeof(in) : sizeof(in.mcast_op);
	uint8_t buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(in))] __attribute__((aligned(8))) = {0};
	struct nlmsghdr nh = {
		.nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + dlen),
		.nlmsg_type = NLMSG_DONE,
	};
	struct cn_msg cn = {
		.id = {.idx = CN_IDX_PROC, .val = CN_VAL_PROC},
		.ack = pe->next_ack,
		.len = (uint16_t)dlen,
	};
	memcpy(buf, &nh, sizeof(nh));
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + NLMSG_HDRLEN + sizeof(cn), &in, dlen);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n;
	do
		n = sendto(pe->fd, buf, nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (ret_ack)
		*ret_ack = pe->next_ack;
	pe->next_ack += 2;
	return 0;
}

struct ack_ctx {
	uint32_t want; /* the request's ack + 1 */
	bool found;
	uint32_t err;
};

static int match_ack(const struct proc_ev *ev, void *userdata)
{
	struct ack_ctx *c = userdata;
	if (ev->kind == PROC_EV_ACK && ev->ack == c->want && !c->found) {
		c->found = true;
		c->err = ev->ack_err;
	}
	return 0;
}

/* Waits up to PROC_EVENTS_ACK_MS for the answer to the request with cn_msg ack `ack`:
 * 0 and *ret_err (0 or a positive errno), -ETIMEDOUT, -errno. What else comes
 * meanwhile is dropped. */
static int wait_ack(struct proc_events *pe, uint32_t ack, uint32_t *ret_err)
{
	uint8_t buf[DGRAM_MAX] __attribute__((aligned(8)));
	struct ack_ctx c = {.want = ack + 1};
	uint64_t deadline = now_ns() + (uint64_t)PROC_EVENTS_ACK_MS * 1000000;
	for (;;) {
		ssize_t n = recv_kernel(pe, buf, sizeof(buf));
		if (n == -EAGAIN) {
			uint64_t now = now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			struct pollfd p = {.fd = pe->fd, .events = POLLIN};
			int ms = (int)((deadline - now + 999999) / 1000000);
			if (poll(&p, 1, ms) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (n == -ENOBUFS)
			continue;
		if (n < 0)
			return (int)n;
		(void)decode(buf, (size_t)n, match_ack, &c, NULL);
		if (c.found) {
			*ret_err = c.err;
			return 0;
		}
	}
}

/* The kernel's event bits for a mask of PROC_EV_* kinds. */
static uint32_t kernel_kinds(unsigned kinds)
{
	uint32_t k = 0;
	if (kinds & PROC_EV_FORK)
		k |= PROC_EVENT_FORK;
	if (kinds & PROC_EV_EXEC)
		k |= PROC_EVENT_EXEC;
	if (kinds & PROC_EV_COMM)
		k |= PROC_EVENT_COMM;
	if (kinds & PROC_EV_EXIT)
		k |= PROC_EVENT_EXIT;
	return k;
}

/* Whether this process is in the initial user and pid namespaces, as far as /proc
 * says; true when it cannot tell. */
static bool in_initial_namespaces(void)
{
	struct stat u, p;
	if (stat("/proc/self/ns/user", &u) < 0 || stat("/proc/self/ns/pid", &p) < 0)
		return true;
	return u.st_ino == USER_NS_INIT_INO && p.st_ino == PID_NS_INIT_INO;
}

/* The handshake of proc_events_open(). */
static int start_listening(struct proc_events *pe)
{
	uint32_t ack, err;
	int r = send_request(pe, true, PROC_CN_MCAST_LISTEN, 0, &ack);
	if (r < 0)
		return r;
	r = wait_ack(pe, ack, &err);
	if (r == 0) {
		if (err)
			return -(int)err;
		pe->kernel_filters = true;
		pe->listening = true;
		/* answered by no one: the filter it sets drops PROC_EVENT_NONE */
		r = send_request(pe, true, PROC_CN_MCAST_LISTEN, kernel_kinds(pe->kinds), NULL);
		if (r < 0)
			return r;
		/* what all kinds brought in meanwhile: from before open() returns */
		uint8_t buf[DGRAM_MAX] __attribute__((aligned(8)));
		for (unsigned i = 0; i < PROC_EVENTS_READ_MAX; i++) {
			r = (int)recv_kernel(pe, buf, sizeof(buf));
			if (r == -EAGAIN)
				break;
			if (r < 0 && r != -ENOBUFS)
				return r;
		}
		return 0;
	}
	if (r != -ETIMEDOUT)
		return r;
	r = send_request(pe, false, PROC_CN_MCAST_LISTEN, 0, &ack);
	if (r < 0)
		return r;
	r = wait_ack(pe, ack, &err);
	if (r == -ETIMEDOUT)
		return in_initial_namespaces() ? -ENODEV : -EOPNOTSUPP;
	if (r < 0)
		return r;
	if (err)
		return -(int)err;
	pe->listening = true;
	return 0;
}

int proc_events_adopt(int fd, unsigned kinds, struct proc_events **ret)
{
	if (kinds & ~(unsigned)PROC_EV_ALL) {
		close(fd);
		return -EINVAL;
	}
	struct proc_events *pe = calloc(1, sizeof(*pe));
	if (!pe) {
		close(fd);
		return -ENOMEM;
	}
	pe->fd = fd;
	pe->kinds = kinds ? kinds : PROC_EV_ALL;
	*ret = pe;
	return 0;
}

int proc_events_open(unsigned kinds, struct proc_events **ret)
{
	if (kinds & ~(unsigned)PROC_EV_ALL)
		return -EINVAL;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0)
		return -errno;
	int size = PROC_EVENTS_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)); /* the default is kept else */
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	socklen_t salen = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		return -errno;

	struct proc_events *pe = NULL;
	int r = proc_events_adopt(TAKE_FD(fd), kinds, &pe);
	if (r < 0)
		return r;
	/* the port id names this socket's requests among all listeners' answers */
	pe->next_ack = sa.nl_pid << 4;
	r = start_listening(pe);
	if (r < 0) {
		proc_events_close(pe);
		return r;
	}
	pe->stats = (struct proc_events_stats){0};
	*ret = pe;
	return 0;
}

int proc_events_fd(const struct proc_events *pe)
{
	return pe->fd;
}

bool proc_events_kernel_filters(const struct proc_events *pe)
{
	return pe->kernel_filters;
}

void proc_events_get_stats(const struct proc_events *pe, struct proc_events_stats *ret)
{
	*ret = pe->stats;
}

struct proc_events *proc_events_close(struct proc_events *pe)
{
	if (!pe)
		return NULL;
	if (pe->listening)
		(void)send_request(pe, pe->kernel_filters, PROC_CN_MCAST_IGNORE, 0, NULL);
	closep(&pe->fd);
	free(pe);
	return NULL;
}
