// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

const char *spawn_how_name(enum spawn_how h)
{
	switch (h) {
	case SPAWN_CLONE3:
		return "clone3(CLONE_PIDFD)";
	case SPAWN_FORK_PIDFD:
		return "fork+pidfd_open";
	case SPAWN_FORK:
		return "fork";
	}
	return "?";
}

/* The child's side: wait for the parent's byte, set up, exec. Async-signal-safe
 * calls only (the parent may have other threads). Never returns. */
__attribute__((noreturn)) static void child(pid_t parent, int go_rd, int err_wr, int stderr_fd, int deathsig,
					      const char *path, char *const argv[], spawn_setup_fn setup, void *setup_arg)
{
	int e = 0;
	/* die with the parent while held: a kvmcg killed midway leaves no QEMU */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	char go;
	ssize_t n;
	do
		n = read(go_rd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127);
	/* released: the program gets deathsig when kvmcg dies (0: it outlives kvmcg) */
	if (prctl(PR_SET_PDEATHSIG, deathsig) < 0)
		e = errno;
	else if (getppid() != parent)
		_exit(127); /* kvmcg died before the signal was armed */
	if (!e && setup) {
		int r = setup(setup_arg);
		if (r < 0)
			e = -r;
	}
	if (!e && stderr_fd >= 0 && stderr_fd != STDERR_FILENO && dup2(stderr_fd, STDERR_FILENO) < 0)
		e = errno;
	if (!e) {
		extern char **environ;
		execve(path, argv, environ);
		e = errno;
	}
	int32_t v = e;
	(void)!write(err_wr, &v, sizeof(v));
	_exit(127);
}

static pid_t clone3_pidfd(int *ret_pidfd)
{
	int pidfd = -1;
	struct clone_args args = {
		.flags = CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid > 0)
		*ret_pidfd = pidfd;
	return (pid_t)pid;
}

int spawn_held(const char *path, char *const argv[], int stderr_fd, int deathsig, spawn_setup_fn setup,
	       void *setup_arg, struct spawn *ret)
{
	int go[2], err[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return -e;
	}
	struct spawn s = SPAWN_INIT;
	pid_t parent = getpid();
	s.how = SPAWN_CLONE3;
	pid_t pid = clone3_pidfd(&s.pidfd);
	if (pid < 0 && (errno == ENOSYS || errno == EPERM || errno == EINVAL)) {
		/* no clone3 (before 5.3), or a seccomp filter that refuses it */
		s.how = SPAWN_FORK_PIDFD;
		pid = fork();
	}
	if (pid == 0) {
		close(go[1]);
		close(err[0]);
		child(parent, go[0], err[1], stderr_fd, deathsig, path, argv, setup, setup_arg);
	}
	int e = errno;
	close(go[0]);
	close(err[1]);
	if (pid < 0) {
		close(go[1]);
		close(err[0]);
		return -e;
	}
	s.pid = pid;
	s.go_fd = go[1];
	s.err_fd = err[0];
	if (s.how == SPAWN_FORK_PIDFD) {
		s.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (s.pidfd < 0)
			s.how = SPAWN_FORK;
	}
	*ret = s;
	return 0;
}

int spawn_release(struct spawn *s)
{
	char go = 1;
	ssize_t n;
	do
		n = write(s->go_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	int e = n == 1 ? 0 : errno;
	close(s->go_fd);
	s->go_fd = -1;
	if (e)
		return -e;
	int32_t v = 0;
	do
		n = read(s->err_fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	close(s->err_fd);
	s->err_fd = -1;
	if (n == 0)
		return 0; /* closed on exec */
	int status;
	spawn_wait(s, false, &status);
	return n == (ssize_t)sizeof(v) && v > 0 ? -v : -EIO;
}

int spawn_signal(struct spawn *s, int sig)
{
	if (s->reaped || s->pid <= 0)
		return 0;
	long r = s->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0) : kill(s->pid, sig);
	return r < 0 ? -errno : 0;
}

int spawn_wait(struct spawn *s, bool nohang, int *ret_status)
{
	if (s->reaped)
		return -ECHILD;
	siginfo_t si;
	int r;
	do {
		memset(&si, 0, sizeof(si));
		r = s->pidfd >= 0 ? waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | (nohang ? WNOHANG : 0))
				  : waitid(P_PID, (id_t)s->pid, &si, WEXITED | (nohang ? WNOHANG : 0));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	s->reaped = true;
	if (ret_status)
		*ret_status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0)
							: si.si_status | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	return 0;
}

void spawn_done(struct spawn *s)
{
	if (s->pid > 0 && !s->reaped) {
		spawn_signal(s, SIGKILL);
		spawn_wait(s, false, NULL);
	}
	if (s->go_fd >= 0)
		close(s->go_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	*s = (struct spawn)SPAWN_INIT;
}
