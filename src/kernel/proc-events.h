/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's process events connector (drivers/connector/cn_proc.c, CONFIG_PROC_EVENTS):
 * a netlink socket (NETLINK_CONNECTOR, multicast group CN_IDX_PROC) on which the
 * kernel reports every task's fork (a process or a thread), execve(2), rename
 * (prctl(2) PR_SET_NAME, a write to /proc/PID/task/TID/comm: what pthread_setname_np(3)
 * does, so QEMU naming a thread "CPU 0/KVM") and exit, as they happen: for a daemon
 * that places a VM's threads the moment they are created and named, without polling
 * /proc.
 *
 * The kernel sends each event to every listener, one datagram of 76 bytes each
 * (nlmsghdr, cn_msg, struct proc_event; connector.c cn_netlink_send_mult()). Linux
 * 6.6 and later filter per socket (a struct proc_input with the kinds wanted,
 * cn_proc.c cn_filter()), so that the rest of the host's forks cost this process
 * nothing; before 6.6 every event of every kind is received and the kinds not asked
 * for are dropped here. Pids are those of the initial pid namespace; listening from
 * another pid or user namespace is silently ignored by the kernel.
 *
 * Order of use: proc_events_open(), then a full scan of /proc (what existed before is
 * never reported), then proc_events_read() whenever the fd is readable. */
#ifndef KVMCG_PROC_EVENTS_H
#define KVMCG_PROC_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Kinds of events, as bits so that a set of them is a mask. */
enum proc_ev_kind {
	PROC_EV_FORK = 1u << 0, /* a new task: a process, or a thread of one */
	PROC_EV_EXEC = 1u << 1, /* a process executed a program (after de_thread(): tid == pid) */
	PROC_EV_COMM = 1u << 2, /* a task's name was set (not on execve, which renames too) */
	PROC_EV_EXIT = 1u << 3, /* a task exited: every thread has its own */
	PROC_EV_ACK = 1u << 4,  /* proc_events_decode() only: the kernel's answer to a listen request */
};
#define PROC_EV_ALL (PROC_EV_FORK | PROC_EV_EXEC | PROC_EV_COMM | PROC_EV_EXIT)

/* Kernel's TASK_COMM_LEN. */
#define PROC_EV_COMM_LEN 16

/* One event. Fields that the kind does not name are 0. */
struct proc_ev {
	enum proc_ev_kind kind;
	pid_t pid;        /* the task's process (its tgid) */
	pid_t tid;        /* the task; == pid for a process's first thread */
	pid_t parent_pid; /* FORK: the parent process (task->real_parent). For a new thread that
			   * is the parent of the process it joins, not the thread that created
			   * it: copy_process() gives CLONE_THREAD children current->real_parent */
	pid_t parent_tid; /* FORK: that parent's thread */
	int exit_code;    /* EXIT: task->exit_code, a wait(2) status (WIFEXITED(), WEXITSTATUS(),
			   * WTERMSIG() apply); a thread of a group that exits gets the group's */
	int exit_signal;  /* EXIT: the signal the parent gets (SIGCHLD), -1 for a thread */
	uint32_t cpu;     /* the CPU that sent it; UINT32_MAX for an ACK */
	uint64_t timestamp_ns; /* CLOCK_MONOTONIC (ktime_get_ns()) when the kernel made it */
	uint32_t ack;     /* ACK: the request's cn_msg ack + 1, which names the request */
	uint32_t ack_err; /* ACK: 0, or the positive errno the request failed with */
	char comm[PROC_EV_COMM_LEN]; /* COMM: the new name, NUL-terminated (at most 15 bytes) */
};

/* Called for each event; 0 to go on, a negative errno to stop (returned to the caller). */
typedef int (*proc_ev_fn)(const struct proc_ev *ev, void *userdata);

/* Decodes one datagram as the kernel sends it: netlink messages back to back (each at
 * an NLMSG_ALIGN()ed offset, the last one's padding optional), each of type NLMSG_DONE
 * holding a cn_msg whose len bytes of data are a struct proc_event (<linux/cn_proc.h>).
 * Never reads past len: every length is checked against what is left before a byte is
 * read, and a message's event must hold the fields its kind has. cb gets FORK, EXEC,
 * COMM, EXIT and ACK events in order, from a struct on the stack (copy what is kept);
 * no allocation. Skipped without error: other netlink message types, other connectors'
 * messages, event kinds other than those five (UID, GID, SID, PTRACE, COREDUMP, and any
 * a later kernel adds).
 * Returns the number of events given to cb; -EBADMSG when a message is malformed (a
 * truncated header, a length that disagrees with what holds it, an event too short
 * for its kind, a pid <= 0), after the events of the messages before it were given;
 * cb's negative return, the rest not given. */
int proc_events_decode(const void *buf, size_t len, proc_ev_fn cb, void *userdata);

/* What a listener saw, since it was opened. */
struct proc_events_stats {
	uint64_t events;    /* given to the callback */
	uint64_t skipped;   /* from the kernel, not asked for: other kinds (before Linux 6.6),
			     * acknowledgements of other listeners' requests */
	uint64_t foreign;   /* datagrams not from the kernel (a process may send to any port) */
	uint64_t malformed; /* datagrams from the kernel that did not decode, or truncated */
	uint64_t overruns;  /* times recvmsg(2) said ENOBUFS: events were lost */
};

struct proc_events;

/* Listens for the kinds in mask kinds (a subset of PROC_EV_ALL; 0 means all of them).
 * The socket is SOCK_NONBLOCK|SOCK_CLOEXEC, its receive buffer PROC_EVENTS_RCVBUF
 * (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN; else SO_RCVBUF, capped by
 * net.core.rmem_max). The request to listen is answered by the kernel synchronously
 * (connector.c cn_rx_skb() runs in sendmsg(2)): first a struct proc_input (Linux
 * 6.6) listening to all kinds, whose answer says the kernel understands it, and then
 * one with the kinds wanted (answered to no one: the filter drops acknowledgements);
 * when the first is not answered within PROC_EVENTS_ACK_MS, the older form, an
 * enum proc_cn_mcast_op alone, and all kinds. Events received meanwhile are dropped.
 * Errors: -EINVAL (kinds outside PROC_EV_ALL); -EPROTONOSUPPORT (socket(2): a kernel
 * without CONFIG_CONNECTOR); -EPERM (before Linux 6.6 without CAP_NET_ADMIN: bind(2) to
 * the group, netlink_bind(), or the kernel's answer, cn_proc_mcast_ctl()); -ENODEV (no
 * answer to either form: a kernel with the connector but without CONFIG_PROC_EVENTS,
 * whose requests nothing reads); -EOPNOTSUPP (no answer, and the caller is not in the
 * initial pid and user namespaces, whose requests cn_proc_mcast_ctl() ignores);
 * -ENOMEM, -EMFILE, -ENFILE. */
#define PROC_EVENTS_RCVBUF (8 * 1024 * 1024) /* bytes: about 10000 events (an event's skb is ~800) */
#define PROC_EVENTS_ACK_MS 50
int proc_events_open(unsigned kinds, struct proc_events **ret);

/* Wraps an AF_NETLINK datagram socket that is bound already, without asking the kernel
 * for anything: for tests. Takes the fd, also on failure (-ENOMEM). */
int proc_events_adopt(int fd, unsigned kinds, struct proc_events **ret);

/* Reads the datagrams waiting, without blocking, until recvmsg(2) says EAGAIN or
 * PROC_EVENTS_READ_MAX were read (a fork storm cannot hold the caller: the fd stays
 * readable), and calls cb for each event of the kinds asked for, in the order the
 * kernel queued them (which is causal: a task's FORK comes before its other events,
 * but two tasks' events on two CPUs may come in either order). Datagrams not from the
 * kernel (sockaddr_nl nl_pid != 0) are dropped, and so are malformed or truncated ones
 * (counted in stats).
 * Returns the number of events given to cb; -ENOBUFS when the socket's buffer
 * overflowed since the last call and the kernel dropped events (the kernel says so once,
 * netlink_overrun()): what was queued before is still given first, and the caller then
 * rescans /proc, since any task may have come, gone or been renamed unseen; cb's
 * negative return, the events after it not given; another recvmsg(2) error as -errno. */
#define PROC_EVENTS_READ_MAX 4096
int proc_events_read(struct proc_events *pe, proc_ev_fn cb, void *userdata);

/* The socket, for poll(2) or epoll(7): readable when events wait. */
int proc_events_fd(const struct proc_events *pe);
/* Whether the kernel filters by kind (Linux 6.6 and later). */
bool proc_events_kernel_filters(const struct proc_events *pe);
void proc_events_get_stats(const struct proc_events *pe, struct proc_events_stats *ret);

/* Tells the kernel this socket stops listening (PROC_CN_MCAST_IGNORE: before Linux 6.6
 * a socket closed while listening left the kernel making events for no one), closes
 * it, frees pe. NULL is fine. Returns NULL. */
struct proc_events *proc_events_close(struct proc_events *pe);
static inline void proc_events_closep(struct proc_events **pe)
{
	proc_events_close(*pe);
}
#define _cleanup_proc_events_ __attribute__((cleanup(proc_events_closep)))

#endif
