// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/sched.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "basic/util.h"

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

static const struct {
	const char *name;
	int policy;
	bool settable;
} policies[] = {
	{"other", SCHED_OTHER, true}, {"fifo", SCHED_FIFO, true},  {"rr", SCHED_RR, true},
	{"batch", SCHED_BATCH, true}, {"idle", SCHED_IDLE, true}, {"deadline", SCHED_DEADLINE, false},
};

const char *sched_policy_name(int policy)
{
	for (size_t i = 0; i < ARRAY_SIZE(policies); i++)
		if (policies[i].policy == policy)
			return policies[i].name;
	return "unknown";
}

int sched_policy_from_name(const char *name, size_t len, int *ret_policy)
{
	for (size_t i = 0; i < ARRAY_SIZE(policies); i++)
		if (policies[i].settable && strlen(policies[i].name) == len && strncmp(name, policies[i].name, len) == 0) {
			*ret_policy = policies[i].policy;
			return 0;
		}
	return -EINVAL;
}

bool sched_policy_is_rt(int policy)
{
	return policy == SCHED_FIFO || policy == SCHED_RR;
}

int sched_get(pid_t tid, int *ret_policy, unsigned *ret_priority)
{
	struct sched_param sp;
	int policy = sched_getscheduler(tid);
	if (policy < 0 || sched_getparam(tid, &sp) < 0)
		return -errno;
	*ret_policy = policy & ~SCHED_RESET_ON_FORK;
	*ret_priority = (unsigned)sp.sched_priority;
	return 0;
}

int sched_set(pid_t tid, int policy, unsigned priority)
{
	struct sched_param sp = {.sched_priority = (int)priority};
	return sched_setscheduler(tid, policy, &sp) < 0 ? -errno : 0;
}
