// SPDX-License-Identifier: GPL-2.0-or-later
/* kernel/proc-events: the decoder on datagrams built as the kernel builds them
 * (drivers/connector/connector.c cn_netlink_send_mult(): one nlmsghdr of type
 * NLMSG_DONE, a cn_msg, a struct proc_event), cut and altered; and the reader on a pair
 * of NETLINK_USERSOCK sockets, which any user may have, for what only a socket shows:
 * a sender that is not the kernel, and ENOBUFS. The real connector is
 * tests/integration/t-proc-events.sh's. Every buffer is allocated to its exact length,
 * so that ASan sees a read past it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/util.h"
#include "kernel/proc-events.h"

#define MSG_LEN (NLMSG_HDRLEN + sizeof(struct cn_msg) + sizeof(struct proc_event))

/* One message as the kernel writes it, at p (MSG_LEN bytes). */
static void put_msg(uint8_t *p, const struct proc_event *ev, uint32_t ack)
{
	struct nlmsghdr nh = {.nlmsg_len = MSG_LEN, .nlmsg_type = NLMSG_DONE};
	struct cn_msg cn = {.id = {CN_IDX_PROC, CN_VAL_PROC}, .ack = ack, .len = sizeof(*ev)};
	memcpy(p, &nh, sizeof(nh));
	memcpy(p + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(p + NLMSG_HDRLEN + sizeof(cn), ev, sizeof(*ev));
}

static struct proc_event ev_fork(pid_t ptgid, pid_t ppid, pid_t tgid, pid_t pid)
{
	struct proc_event e = {.what = PROC_EVENT_FORK, .cpu = 1, .timestamp_ns = 123456789};
	e.event_data.fork.parent_tgid = ptgid;
	e.event_data.fork.parent_pid = ppid;
	e.event_data.fork.child_tgid = tgid;
	e.event_data.fork.child_pid = pid;
	return e;
}

static struct proc_event ev_comm(pid_t tgid, pid_t pid, const char *name)
{
	struct proc_event e = {.what = PROC_EVENT_COMM};
	e.event_data.comm.process_tgid = tgid;
	e.event_data.comm.process_pid = pid;
	strncpy(e.event_data.comm.comm, name, sizeof(e.event_data.comm.comm));
	return e;
}

static struct proc_event ev_exit(pid_t tgid, pid_t pid, uint32_t code, uint32_t sig)
{
	struct proc_event e = {.what = PROC_EVENT_EXIT};
	e.event_data.exit.process_tgid = tgid;
	e.event_data.exit.process_pid = pid;
	e.event_data.exit.exit_code = code;
	e.event_data.exit.exit_signal = sig;
	return e;
}

#define MAX_GOT 8
struct got {
	struct proc_ev v[MAX_GOT];
	size_t n;
	size_t stop_at; /* return -ECANCELED for this event (1-based); 0: never */
};

static int collect(const struct proc_ev *ev, void *userdata)
{
	struct got *g = userdata;
	cr_assert_lt(g->n, MAX_GOT);
	g->v[g->n++] = *ev;
	return g->stop_at == g->n ? -ECANCELED : 0;
}

/* Decodes a copy of buf in a buffer of exactly len bytes. */
static int decode(const void *buf, size_t len, struct got *g)
{
	uint8_t *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	int r = proc_events_decode(copy, len, collect, g);
	free(copy);
	return r;
}

Test(proc_events, every_kind_decoded)
{
	struct proc_event evs[4] = {ev_fork(10, 11, 20, 21), ev_comm(20, 22, "CPU 0/KVM"),
				    ev_exit(20, 22, 0, (uint32_t)-1), {.what = PROC_EVENT_EXEC}};
	evs[3].event_data.exec.process_tgid = 20;
	evs[3].event_data.exec.process_pid = 20;
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[MSG_LEN];
		put_msg(buf, &evs[i], 0);
		struct got g = {0};
		cr_assert_eq(decode(buf, sizeof(buf), &g), 1, "event %zu", i);
		cr_assert_eq(g.n, 1);
	}
	uint8_t buf[MSG_LEN];
	struct got g = {0};
	put_msg(buf, &evs[0], 0);
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	const struct proc_ev *e = &g.v[0];
	cr_assert_eq(e->kind, PROC_EV_FORK);
	cr_assert(e->pid == 20 && e->tid == 21 && e->parent_pid == 10 && e->parent_tid == 11);
	cr_assert(e->cpu == 1 && e->timestamp_ns == 123456789);
	cr_assert_str_empty(e->comm);

	put_msg(buf, &evs[1], 0);
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	e = &g.v[1];
	cr_assert(e->kind == PROC_EV_COMM && e->pid == 20 && e->tid == 22 && e->parent_pid == 0);
	cr_assert_str_eq(e->comm, "CPU 0/KVM");

	put_msg(buf, &evs[2], 0);
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	e = &g.v[2];
	cr_assert(e->kind == PROC_EV_EXIT && e->pid == 20 && e->tid == 22 && e->exit_code == 0 && e->exit_signal == -1);

	put_msg(buf, &evs[3], 0);
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	cr_assert(g.v[3].kind == PROC_EV_EXEC && g.v[3].pid == 20 && g.v[3].tid == 20);
}

Test(proc_events, an_ack_carries_its_request_and_error)
{
	struct proc_event e = {.what = PROC_EVENT_NONE, .cpu = (uint32_t)-1};
	e.event_data.ack.err = EPERM;
	uint8_t buf[MSG_LEN];
	put_msg(buf, &e, 0x1235);
	struct got g = {0};
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	cr_assert(g.v[0].kind == PROC_EV_ACK && g.v[0].ack == 0x1235 && g.v[0].ack_err == EPERM);
}

Test(proc_events, a_name_of_16_bytes_is_cut_to_15)
{
	struct proc_event e = ev_comm(5, 5, "");
	memset(e.event_data.comm.comm, 'x', sizeof(e.event_data.comm.comm));
	uint8_t buf[MSG_LEN];
	put_msg(buf, &e, 0);
	struct got g = {0};
	cr_assert_eq(decode(buf, sizeof(buf), &g), 1);
	cr_assert_eq(strlen(g.v[0].comm), 15);
}

Test(proc_events, several_messages_in_one_datagram)
{
	/* MSG_LEN is 76, a multiple of NLMSG_ALIGNTO: no padding between them */
	cr_assert_eq(NLMSG_ALIGN(MSG_LEN), MSG_LEN);
	uint8_t buf[3 * MSG_LEN];
	struct proc_event a = ev_fork(1, 1, 30, 30), b = ev_comm(30, 31, "IO iothread0");
	struct proc_event c = ev_exit(30, 30, 7 << 8, 17);
	put_msg(buf, &a, 0);
	put_msg(buf + MSG_LEN, &b, 0);
	put_msg(buf + 2 * MSG_LEN, &c, 0);
	struct got g = {0};
	cr_assert_eq(decode(buf, sizeof(buf), &g), 3);
	cr_assert(g.v[0].kind == PROC_EV_FORK && g.v[1].kind == PROC_EV_COMM && g.v[2].kind == PROC_EV_EXIT);
	cr_assert_str_eq(g.v[1].comm, "IO iothread0");
	cr_assert_eq(g.v[2].exit_code, 7 << 8);

	/* the callback stops the walk: its error, nothing after */
	struct got s = {.stop_at = 2};
	cr_assert_eq(decode(buf, sizeof(buf), &s), -ECANCELED);
	cr_assert_eq(s.n, 2);

	/* a malformed second message: the first given, then -EBADMSG */
	struct nlmsghdr nh;
	memcpy(&nh, buf + MSG_LEN, sizeof(nh));
	nh.nlmsg_len = 2 * MSG_LEN + 1;
	memcpy(buf + MSG_LEN, &nh, sizeof(nh));
	struct got m = {0};
	cr_assert_eq(decode(buf, sizeof(buf), &m), -EBADMSG);
	cr_assert_eq(m.n, 1);
}

Test(proc_events, padding_between_messages)
{
	/* a message 2 bytes longer than its cn_msg (padding within it), then a second one
	 * at the next aligned offset */
	uint8_t buf[MSG_LEN + 4 + MSG_LEN] = {0};
	struct proc_event a = ev_comm(40, 41, "a"), b = ev_comm(40, 42, "b");
	put_msg(buf, &a, 0);
	struct nlmsghdr nh = {.nlmsg_len = MSG_LEN + 2, .nlmsg_type = NLMSG_DONE};
	memcpy(buf, &nh, sizeof(nh));
	put_msg(buf + MSG_LEN + 4, &b, 0);
	struct got g = {0};
	cr_assert_eq(decode(buf, sizeof(buf), &g), 2);
	cr_assert_str_eq(g.v[1].comm, "b");
	/* the same without the last message's own padding (none is owed) */
	struct got h = {0};
	cr_assert_eq(decode(buf, MSG_LEN + 2, &h), 1);
	/* 4 bytes or more past the cn_msg's data are not padding */
	nh.nlmsg_len = MSG_LEN + 4;
	memcpy(buf, &nh, sizeof(nh));
	struct got k = {0};
	cr_assert_eq(decode(buf, MSG_LEN + 4, &k), -EBADMSG);
}

Test(proc_events, every_truncation_is_refused_or_short)
{
	struct proc_event e = ev_exit(50, 51, 9, 17);
	uint8_t full[MSG_LEN];
	put_msg(full, &e, 0);
	for (size_t len = 1; len < MSG_LEN; len++) {
		/* the datagram cut: a header that claims more than there is */
		struct got g = {0};
		cr_assert_eq(decode(full, len, &g), -EBADMSG, "cut at %zu", len);
		cr_assert_eq(g.n, 0);
	}
	struct got z = {0};
	cr_assert_eq(decode(full, 0, &z), 0, "nothing is no event");
	/* lengths that agree with each other but leave the event short for its kind */
	for (size_t evlen = 0; evlen < sizeof(struct proc_event); evlen++) {
		uint8_t *buf = malloc(NLMSG_HDRLEN + sizeof(struct cn_msg) + evlen);
		cr_assert_not_null(buf);
		struct nlmsghdr nh = {.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + sizeof(struct cn_msg) + evlen),
				      .nlmsg_type = NLMSG_DONE};
		struct cn_msg cn = {.id = {CN_IDX_PROC, CN_VAL_PROC}, .len = (uint16_t)evlen};
		memcpy(buf, &nh, sizeof(nh));
		memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
		memcpy(buf + NLMSG_HDRLEN + sizeof(cn), &e, evlen);
		int r = proc_events_decode(buf, nh.nlmsg_len, collect, &(struct got){0});
		/* exit's fields end at exit_signal; the parent pids after it are not read */
		if (evlen >= offsetof(struct proc_event, event_data.exit.parent_pid))
			cr_assert_eq(r, 1, "event of %zu bytes", evlen);
		else
			cr_assert_eq(r, -EBADMSG, "event of %zu bytes", evlen);
		free(buf);
	}
}

Test(proc_events, lengths_that_disagree)
{
	struct proc_event e = ev_fork(1, 1, 60, 60);
	uint8_t buf[MSG_LEN];
	struct nlmsghdr nh;
	struct cn_msg cn;
	struct got g = {0};

	put_msg(buf, &e, 0); /* nlmsg_len below the header's own size */
	nh = (struct nlmsghdr){.nlmsg_len = NLMSG_HDRLEN - 1, .nlmsg_type = NLMSG_DONE};
	memcpy(buf, &nh, sizeof(nh));
	cr_assert_eq(decode(buf, sizeof(buf), &g), -EBADMSG);

	put_msg(buf, &e, 0); /* nlmsg_len past the datagram */
	nh.nlmsg_len = MSG_LEN + 1;
	memcpy(buf, &nh, sizeof(nh));
	cr_assert_eq(decode(buf, sizeof(buf), &g), -EBADMSG);

	put_msg(buf, &e, 0); /* a cn_msg that claims more data than its message holds */
	memcpy(&cn, buf + NLMSG_HDRLEN, sizeof(cn));
	cn.len = sizeof(struct proc_event) + 1;
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
	cr_assert_eq(decode(buf, sizeof(buf), &g), -EBADMSG);

	put_msg(buf, &e, 0); /* a message too short for a cn_msg */
	nh = (struct nlmsghdr){.nlmsg_len = NLMSG_HDRLEN + sizeof(struct cn_msg) - 1, .nlmsg_type = NLMSG_DONE};
	memcpy(buf, &nh, sizeof(nh));
	cr_assert_eq(decode(buf, nh.nlmsg_len, &g), -EBADMSG);

	put_msg(buf, &e, 0); /* a pid of 0 */
	struct proc_event z = ev_fork(1, 1, 0, 60);
	put_msg(buf, &z, 0);
	cr_assert_eq(decode(buf, sizeof(buf), &g), -EBADMSG);
	cr_assert_eq(g.n, 0);
}

Test(proc_events, what_is_not_an_event_we_know_is_skipped)
{
	uint8_t buf[MSG_LEN];
	struct got g = {0};
	/* kinds not decoded, and one no kernel has yet */
	const uint32_t kinds[] = {PROC_EVENT_UID, PROC_EVENT_GID, PROC_EVENT_SID, PROC_EVENT_PTRACE,
				  PROC_EVENT_COREDUMP, 0x00000400, 0x20000000 /* NONZERO_EXIT: a filter bit */};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		struct proc_event e = ev_fork(1, 1, 70, 70);
		uint32_t what = kinds[i];
		memcpy(&e.what, &what, sizeof(what));
		put_msg(buf, &e, 0);
		cr_assert_eq(decode(buf, sizeof(buf), &g), 0, "kind %#x", what);
	}
	/* another connector's message */
	struct proc_event e = ev_fork(1, 1, 70, 70);
	put_msg(buf, &e, 0);
	struct cn_msg cn;
	memcpy(&cn, buf + NLMSG_HDRLEN, sizeof(cn));
	cn.id.idx = CN_IDX_CIFS;
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
	cr_assert_eq(decode(buf, sizeof(buf), &g), 0);
	/* another netlink message type (the connector only sends NLMSG_DONE) */
	put_msg(buf, &e, 0);
	struct nlmsghdr nh = {.nlmsg_len = MSG_LEN, .nlmsg_type = NLMSG_NOOP};
	memcpy(buf, &nh, sizeof(nh));
	cr_assert_eq(decode(buf, sizeof(buf), &g), 0);
	cr_assert_eq(g.n, 0);
}

/* ---- the reader, on NETLINK_USERSOCK ------------------------------------------------------ */

static int usersock(uint32_t groups, struct sockaddr_nl *ret)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_USERSOCK);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	socklen_t len = sizeof(*ret);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)ret, &len), 0);
	return fd;
}

Test(proc_events, a_sender_that_is_not_the_kernel_is_dropped)
{
	struct sockaddr_nl ra, sa;
	_cleanup_proc_events_ struct proc_events *pe = NULL;
	cr_assert_eq(proc_events_adopt(usersock(0, &ra), 0, &pe), 0);
	_cleanup_close_ int tx = usersock(0, &sa);
	cr_assert_neq(sa.nl_pid, 0);
	uint8_t buf[MSG_LEN];
	struct proc_event e = ev_comm(80, 81, "CPU 0/KVM");
	put_msg(buf, &e, 0);
	/* a well-formed event, from a process */
	cr_assert_eq(sendto(tx, buf, sizeof(buf), 0, (struct sockaddr *)&ra, sizeof(ra)), (ssize_t)sizeof(buf));
	struct got g = {0};
	cr_assert_eq(proc_events_read(pe, collect, &g), 0);
	cr_assert_eq(g.n, 0);
	struct proc_events_stats st;
	proc_events_get_stats(pe, &st);
	cr_assert(st.foreign == 1 && st.events == 0 && st.malformed == 0 && st.overruns == 0);
	/* nothing waits: 0 at once */
	cr_assert_eq(proc_events_read(pe, collect, &g), 0);
}

Test(proc_events, an_overrun_is_told_after_what_was_queued)
{
	struct sockaddr_nl ra, sa;
	_cleanup_proc_events_ struct proc_events *pe = NULL;
	cr_assert_eq(proc_events_adopt(usersock(1, &ra), 0, &pe), 0);
	int small = 1; /* the kernel's minimum, SOCK_MIN_RCVBUF */
	cr_assert_eq(setsockopt(proc_events_fd(pe), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	_cleanup_close_ int tx = usersock(0, &sa);
	uint8_t buf[MSG_LEN];
	struct proc_event e = ev_comm(90, 91, "x");
	put_msg(buf, &e, 0);
	/* multicast to group 1: a full receiver is marked (netlink_overrun()), the sender
	 * is not told */
	struct sockaddr_nl group = {.nl_family = AF_NETLINK, .nl_groups = 1};
	for (int i = 0; i < 200; i++)
		(void)sendto(tx, buf, sizeof(buf), 0, (struct sockaddr *)&group, sizeof(group));
	struct got g = {0};
	cr_assert_eq(proc_events_read(pe, collect, &g), -ENOBUFS);
	struct proc_events_stats st;
	proc_events_get_stats(pe, &st);
	cr_assert_eq(st.overruns, 1);
	cr_assert_geq(st.foreign, 1, "what was queued was read too");
	cr_assert_eq(proc_events_read(pe, collect, &g), 0, "told once");
}

Test(proc_events, kinds_outside_the_four_are_refused)
{
	struct proc_events *pe = NULL;
	cr_assert_eq(proc_events_open(PROC_EV_ACK, &pe), -EINVAL);
	cr_assert_eq(proc_events_adopt(-1, 1u << 9, &pe), -EINVAL);
	cr_assert_null(pe);
	cr_assert_null(proc_events_close(NULL));
}
