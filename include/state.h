/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed for one VM, so that unpin restores exactly what was there:
 * a plain-text file per VM under /run/kvmcg, named "<pid>-<starttime>.state" so a
 * reused pid never finds the old VM's record. */
#ifndef KVMCG_STATE_H
#define KVMCG_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroupfs.h"
#include "cpuset.h"
#include "plan.h"

#define STATE_DIR_DEFAULT "/run/kvmcg"

struct thread_origin {
	pid_t tid;
	char *cgroup;           /* "" in affinity mode */
	struct cpuset *affinity;
	bool sched_known;
	int sched_policy;
	unsigned sched_priority;
};

struct vm_state {
	pid_t pid;
	uint64_t starttime;
	char *name;
	enum cgroup_mode mode;
	char *mount;   /* cgroup mount point; NULL in affinity mode */
	char *vm_dir;  /* relative to mount */
	char **created; /* directories kvmcg made for this VM, in creation order */
	size_t n_created;
	/* Each thread's cgroup and affinity before kvmcg first touched it. */
	struct thread_origin *threads;
	size_t n_threads;
	struct pin_spec spec; /* what is pinned now */
};
void vm_state_done(struct vm_state *s);

/* Pure. Parse errors give -EBADMSG and the 1-based line in *err_line. */
int state_parse(const char *buf, struct vm_state *ret, size_t *err_line);
char *state_format(const struct vm_state *s);

/* Opens (creating, mode 0700) the state directory: KVMCG_STATE_DIR or /run/kvmcg. */
int state_dir_open(bool create);

/* -ENOENT when this VM has no state. */
int state_load(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret);
/* Atomic: written to a temporary file, then renamed over. */
int state_save(int dirfd, const struct vm_state *s);
int state_remove(int dirfd, pid_t pid, uint64_t starttime);

/* Every state in the directory, for list and for removing those of exited VMs. */
int state_load_all(int dirfd, struct vm_state **ret, size_t *ret_n);
void vm_states_free(struct vm_state *s, size_t n);

const struct thread_origin *state_find_thread(const struct vm_state *s, pid_t tid);

#endif
