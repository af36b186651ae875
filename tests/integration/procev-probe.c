// SPDX-License-Identifier: GPL-2.0-or-later
/* For t-proc-events.sh: listens on the process events connector (kernel/proc-events.c),
 * then forks a child that calls setsid() (an event kind not asked for), names itself
 * "procev-child", starts a thread that names itself "CPU 0/KVM" as QEMU's vCPU
 * threads do, renames itself SAMPLES times, each when told to (the latency: from just
 * before its prctl(PR_SET_NAME) to the event read here, this process blocked in poll(2)
 * meanwhile), then executes sh -c 'exit 7'. Prints, one per line:
 *   filters yes|no        whether the kernel filters by kind (Linux 6.6)
 *   parent PID / child PID / thread TID
 *   ev fork PID TID PARENT_PID PARENT_TID | ev exec PID TID | ev comm PID TID NAME |
 *   ev exit PID TID CODE SIGNAL           every event of the child's process but the
 *                                         renames, in the order read
 *   renames N             renames seen, with the child's tid and the name it set
 *   latency_us MEDIAN P90 MAX / kernel_us MEDIAN P90 MAX (prctl to the kernel's timestamp)
 *   stats EVENTS SKIPPED FOREIGN MALFORMED OVERRUNS
 * Exit 0; 77 with "skip REASON" when the connector cannot be had here; 1 on a failure. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"
#include "kernel/proc-events.h"

#define SAMPLES 100
#define MAX_EVENTS 64

static pid_t child, thread;
static struct proc_ev seen[MAX_EVENTS];
static size_t nseen;
static int renames, want_rename = -1;
static uint64_t rename_read_ns, rename_kernel_ns;
static int tfd[2];

static int on_event(const struct proc_ev *ev, void *userdata)
{
	(void)userdata;
	if (ev->pid != child)
		return 0;
	int i;
	if (ev->kind == PROC_EV_COMM && ev->tid == child && sscanf(ev->comm, "lat-%d", &i) == 1) {
		if (i == want_rename) {
			rename_read_ns = now_ns();
			rename_kernel_ns = ev->timestamp_ns;
			renames++;
		}
		return 0;
	}
	if (nseen < MAX_EVENTS)
		seen[nseen++] = *ev;
	return 0;
}

static void *vcpu(void *arg)
{
	(void)arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	prctl(PR_SET_NAME, "CPU 0/KVM");
	(void)!write(tfd[1], &tid, sizeof(tid));
	return NULL;
}

__attribute__((noreturn)) static void child_main(int go)
{
	setsid();
	prctl(PR_SET_NAME, "procev-child");
	pthread_t th;
	if (pthread_create(&th, NULL, vcpu, NULL) != 0)
		_exit(126);
	pthread_join(th, NULL);
	for (int i = 0; i < SAMPLES; i++) {
		char b, name[16];
		if (read(go, &b, 1) != 1)
			_exit(125);
		snprintf(name, sizeof(name), "lat-%03d", i);
		uint64_t t0 = now_ns();
		prctl(PR_SET_NAME, name);
		(void)!write(tfd[1], &t0, sizeof(t0));
	}
	execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
	_exit(127);
}

/* Reads events until done() or timeout_ms; false on a timeout or an error. */
static bool read_until(struct proc_events *pe, bool (*done)(void), int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000;
	while (!done()) {
		uint64_t now = now_ns();
		if (now >= deadline)
			return false;
		struct pollfd p = {.fd = proc_events_fd(pe), .events = POLLIN};
		if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) < 0 && errno != EINTR)
			return false;
		int r = proc_events_read(pe, on_event, NULL);
		if (r < 0) {
			fprintf(stderr, "procev-probe: read: %s\n", strerror(-r));
			return false;
		}
	}
	return true;
}

static bool rename_seen(void)
{
	return rename_read_ns != 0;
}

static bool both_exited(void)
{
	bool c = false, t = false;
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].kind == PROC_EV_EXIT) {
			c |= seen[i].tid == child;
			t |= seen[i].tid == thread;
		}
	return c && t;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_spread(const char *what, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%s %.1f %.1f %.1f\n", what, v[n / 2] / 1e3, v[n * 9 / 10] / 1e3, v[n - 1] / 1e3);
}

static void print_event(const struct proc_ev *e)
{
	switch (e->kind) {
	case PROC_EV_FORK:
		printf("ev fork %d %d %d %d\n", e->pid, e->tid, e->parent_pid, e->parent_tid);
		break;
	case PROC_EV_EXEC:
		printf("ev exec %d %d\n", e->pid, e->tid);
		break;
	case PROC_EV_COMM:
		printf("ev comm %d %d %s\n", e->pid, e->tid, e->comm);
		break;
	case PROC_EV_EXIT:
		printf("ev exit %d %d %d %d\n", e->pid, e->tid, e->exit_code, e->exit_signal);
		break;
	default:
		printf("ev other %d %d\n", e->pid, e->tid);
	}
}

int main(void)
{
	_cleanup_proc_events_ struct proc_events *pe = NULL;
	int r = proc_events_open(0, &pe);
	if (r < 0) {
		printf("skip the process events connector: %s (%d)\n", strerror(-r), -r);
		return r == -EPERM || r == -ENODEV || r == -EOPNOTSUPP || r == -EPROTONOSUPPORT ? 77 : 1;
	}
	printf("filters %s\n", proc_events_kernel_filters(pe) ? "yes" : "no");
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(tfd, O_CLOEXEC) < 0)
		return 1;
	fflush(stdout);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0)
		child_main(go[0]);
	printf("parent %d\nchild %d\n", (int)getpid(), (int)child);
	if (read(tfd[0], &thread, sizeof(thread)) != sizeof(thread))
		return 1;
	printf("thread %d\n", (int)thread);

	uint64_t lat[SAMPLES], klat[SAMPLES];
	for (int i = 0; i < SAMPLES; i++) {
		/* the events so far first, so that this process waits in poll() when it comes */
		(void)proc_events_read(pe, on_event, NULL);
		rename_read_ns = 0;
		want_rename = i;
		if (write(go[1], "x", 1) != 1 || !read_until(pe, rename_seen, 2000)) {
			fprintf(stderr, "procev-probe: rename %d not seen\n", i);
			break;
		}
		uint64_t t0;
		if (read(tfd[0], &t0, sizeof(t0)) != sizeof(t0))
			return 1;
		lat[i] = rename_read_ns - t0;
		klat[i] = rename_kernel_ns - t0;
	}
	bool exited = read_until(pe, both_exited, 5000);
	int status;
	waitpid(child, &status, 0);
	if (!exited)
		fprintf(stderr, "procev-probe: the child's or its thread's exit not seen\n");
	for (size_t i = 0; i < nseen; i++)
		print_event(&seen[i]);
	printf("renames %d\n", renames);
	if (renames == SAMPLES) {
		print_spread("latency_us", lat, SAMPLES);
		print_spread("kernel_us", klat, SAMPLES);
	}
	struct proc_events_stats st;
	proc_events_get_stats(pe, &st);
	printf("stats %llu %llu %llu %llu %llu\n", (unsigned long long)st.events, (unsigned long long)st.skipped,
	       (unsigned long long)st.foreign, (unsigned long long)st.malformed, (unsigned long long)st.overruns);
	return 0;
}
