/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting a program held before its execve(2), so that its parent can place it
 * (cgroups, affinity) while nothing of the program has run yet, then release it:
 * kvmcg run's way to start QEMU. clone3(2) with CLONE_PIDFD (Linux 5.3), else
 * fork(2) and pidfd_open(2) (5.3), else fork(2) alone: the pidfd lets the parent
 * wait and signal without racing a reused pid.
 *
 * The held child has its pid and start time before it executes anything, so the
 * parent can record it (kvmcg's records are named by both) before it makes a single
 * cgroup for it: why run does not create the cgroup first and clone3 into it with
 * CLONE_INTO_CGROUP, which would leave a directory without a record if kvmcg died
 * in between. */
#ifndef KVMCG_SPAWN_H
#define KVMCG_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

enum spawn_how {
	SPAWN_CLONE3,     /* clone3(CLONE_PIDFD) */
	SPAWN_FORK_PIDFD, /* fork(), pidfd_open() */
	SPAWN_FORK,       /* fork(); the pid alone */
};
/* "clone3(CLONE_PIDFD)", "fork+pidfd_open", "fork". */
const char *spawn_how_name(enum spawn_how h);

/* Runs in the child once released, right before execve: async-signal-safe calls
 * only. 0, or -errno, which the parent's spawn_release() returns. */
typedef int (*spawn_setup_fn)(void *arg);

struct spawn {
	pid_t pid;
	int pidfd;   /* -1 without one */
	int go_fd;   /* write end: one byte releases the child, closing it kills it */
	int err_fd;  /* read end: the child's errno when its setup or execve failed; EOF
		      * (close-on-exec) when execve succeeded */
	enum spawn_how how;
	bool reaped;
};
#define SPAWN_INIT {.pid = -1, .pidfd = -1, .go_fd = -1, .err_fd = -1}

/* Starts the child, which waits: it dies (SIGKILL) when the parent does, and
 * exits 127 when go_fd is closed without a byte. Once released, deathsig (0: none)
 * is its parent-death signal (prctl(2) PR_SET_PDEATHSIG; kept across execve(2) of a
 * program that is not set-user-ID, cleared in the children it forks): the signal it
 * gets when the parent's thread that started it exits. stderr_fd >= 0 becomes the
 * child's stderr. The child's signal mask and dispositions are reset to the
 * defaults. 0, or -errno of the clone/fork (-EAGAIN, -ENOMEM) or the pipes. */
int spawn_held(const char *path, char *const argv[], int stderr_fd, int deathsig, spawn_setup_fn setup,
	       void *setup_arg, struct spawn *ret);

/* Releases the child: setup, then execve. 0 once execve succeeded; the child's
 * -errno when setup or execve failed (the child is then reaped: s->reaped). */
int spawn_release(struct spawn *s);

/* Sends sig (pidfd_send_signal(2) with a pidfd, else kill(2)). 0 or -errno; 0
 * when the child was reaped already. */
int spawn_signal(struct spawn *s, int sig);

/* Waits for the child to exit and reaps it: *ret_status as waitpid(2)'s status.
 * With nohang, -EAGAIN while it runs. -ECHILD when reaped already. */
int spawn_wait(struct spawn *s, bool nohang, int *ret_status);

/* Kills (SIGKILL) and reaps a child not yet reaped, closes the descriptors. */
void spawn_done(struct spawn *s);

#endif
