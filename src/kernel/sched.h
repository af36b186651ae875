/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scheduling policies (sched(7)): the one table of their names, and
 * sched_getscheduler/sched_setscheduler on one thread. */
#ifndef KVMCG_SCHED_H
#define KVMCG_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Real-time priorities, as sched_get_priority_min/max(SCHED_FIFO) give on Linux. */
#define SCHED_RT_PRIORITY_MIN 1
#define SCHED_RT_PRIORITY_MAX 99

/* chrt(1)'s names in lower case: "other", "fifo", "rr", "batch", "idle",
 * "deadline" (SCHED_* of linux/sched.h); "unknown" for anything else. */
const char *sched_policy_name(int policy);

/* The policy named by the len bytes at name, among those kvmcg sets (other, fifo,
 * rr, batch, idle: SCHED_DEADLINE needs sched_setattr and a runtime budget, which
 * no caller asks for). 0, or -EINVAL. */
int sched_policy_from_name(const char *name, size_t len, int *ret_policy);

/* SCHED_FIFO and SCHED_RR: they take a priority from 1 to 99; the others take 0. */
bool sched_policy_is_rt(int policy);

/* A thread's policy (SCHED_RESET_ON_FORK masked off) and priority. -ESRCH when it
 * has exited. */
int sched_get(pid_t tid, int *ret_policy, unsigned *ret_priority);

/* sched_setscheduler(2). -EPERM without CAP_SYS_NICE, or for a real-time policy in a
 * cgroup (v1 cpu, CONFIG_RT_GROUP_SCHED) without RT runtime; -EINVAL for a priority
 * the policy does not take; -ESRCH when the thread has exited. */
int sched_set(pid_t tid, int policy, unsigned priority);

#endif
