/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed for one VM, so that unpin restores exactly what was there (the
 * undo record): each thread's cgroup, affinity and scheduling class before kvmcg first
 * touched it, the cgroups kvmcg made, the controllers it enabled, and the tuning the
 * VM has now. Plain data: plan_unpin() reads it, core/ fills it, state/ stores it. */
#ifndef KVMCG_RECORD_H
#define KVMCG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/idset.h"
#include "kernel/cgroupfs.h"
#include "tune/tune.h"

struct thread_origin {
	pid_t tid;
	char *cgroup;           /* "" in affinity mode */
	struct idset *affinity;
	bool sched_known;
	int sched_policy;
	unsigned sched_priority;
};

/* A controller kvmcg enabled in a cgroup that is not its own (the VM's cgroup, when
 * the tree is built inside it): disabled again when the tree goes. */
struct enabled_controller {
	char *dir; /* relative to the mount */
	char *controller;
};

/* A line kvmcg wrote to a keyed file (io.max, io.weight...) of a cgroup that is not
 * its own (the VM's launcher's, which is the VM's io domain when kvmcg's tree is built
 * inside it), and the line that puts back what was there before kvmcg first wrote
 * that key: unpin, or the cleanup after the VM exits, writes it. */
struct restore_line {
	char *dir;  /* relative to the mount */
	char *file; /* "io.max", "io.weight", "io.bfq.weight" */
	char *line; /* "8:16 rbps=max wbps=max riops=max wiops=max", "default 100" */
};
/* Frees n lines and the array. */
void record_restore_free(struct restore_line *v, size_t n);
struct vm_state;
/* Adds one, unless st has a line of the same dir, file and key (the first word): the
 * earliest is what was there before kvmcg, and a "name=value" field it lacks is added
 * to it (io.max: each limit as it was before kvmcg first set it). 0 or -ENOMEM. */
int record_add_restore(struct vm_state *st, const char *dir, const char *file, const char *line);

/* The highest vCPU index a record may pin: far above any VM, low enough that a
 * damaged record cannot ask for a table of millions. */
#define RECORD_VCPU_INDEX_MAX (1 << 20)

struct vm_state {
	pid_t pid;
	uint64_t starttime;
	char *name;
	enum pin_backend backend;
	char *mount;   /* cgroup mount point; NULL in affinity mode */
	char *vm_dir;  /* relative to mount */
	char *root;    /* the --cgroup-root vm_dir is directly below, relative to mount;
			* NULL when vm_dir is inside a kvmcg/ tree (layout.h) */
	bool launched;  /* kvmcg run started the VM, placed before QEMU ran */
	char **created; /* directories kvmcg made for this VM, in creation order */
	size_t n_created;
	struct enabled_controller *enabled;
	size_t n_enabled;
	struct restore_line *restore; /* what unpin writes back in cgroups not kvmcg's */
	size_t n_restore;
	/* Each thread's cgroup and affinity before kvmcg first touched it. */
	struct thread_origin *threads;
	size_t n_threads;
	struct vm_tune tune; /* what is pinned now */
	/* Where the VM's memory (guest RAM and QEMU's other anonymous memory) was, bytes
	 * per node, before kvmcg first moved it: unpin --migrate-back returns it there.
	 * NULL when kvmcg never moved it. */
	uint64_t *mem_origin;
	unsigned n_mem_origin;
};
void vm_state_done(struct vm_state *s);
/* A deep copy into *ret (the caller's to vm_state_done); created stays
 * NULL-terminated. 0 or -ENOMEM. */
int vm_state_copy(const struct vm_state *s, struct vm_state *ret);

const struct thread_origin *record_find_thread(const struct vm_state *s, pid_t tid);

#endif
