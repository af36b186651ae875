/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A cgroupfs stand-in on a scratch tree, for tests of the executor.
 *
 * Plain directories and files hold a cgroup hierarchy, and a fake proc tree
 * (PROC/PID/task/TID/cgroup) says where each task is. While it is started, the test
 * binary's own openat(), write(), mkdirat() and unlinkat() give the files below the
 * hierarchy the kernel's meaning (kernel/cgroup/cgroup.c) instead of a plain file's:
 *
 *  - mkdir makes a cgroup: its interface files appear, with their default values;
 *  - rmdir removes one: EBUSY while a task or a child cgroup is in it;
 *  - cgroup.subtree_control takes "+ctrl -ctrl" (ENOENT for a controller the parent
 *    does not enable, EBUSY to disable one a child enables) and reads as the set,
 *    in the kernel's order;
 *  - a PID written to cgroup.procs moves every task of the process, a TID written to
 *    cgroup.threads or tasks moves that task, in the fake proc tree (ESRCH for one it
 *    does not list); the files themselves stay empty;
 *  - cgroup.type takes "threaded" only (EINVAL for anything else);
 *  - any other file holds the value written, with one newline, as cgroupfs prints
 *    it; a write of no bytes changes nothing.
 *
 * Everything else (reads, other files, other processes' fds) is the real call. */
#ifndef KVMCG_TEST_FAKECG_H
#define KVMCG_TEST_FAKECG_H

#include <stdbool.h>
#include <sys/types.h>

/* cg and proc are absolute directories; v1: the fake proc tree's cgroup files name
 * the cpuset hierarchy ("3:cpuset:/path"), else cgroup2 ("0::/path"). */
void fakecg_start(const char *cg, const char *proc, bool v1);
void fakecg_stop(void);

/* Writes the fake proc tree's record of where task tid of pid is ("" the root). */
void fakecg_place(pid_t pid, pid_t tid, const char *cgroup);
/* The cgroup the fake proc tree says tid of pid is in, relative ("" the root);
 * NULL when it lists no such task. Caller frees. */
char *fakecg_where(pid_t pid, pid_t tid);

#endif
