/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed for one VM, so that unpin restores exactly what was there:
 * a plain-text file per VM under /run/kvmcg, named "<pid>-<starttime>.state" so a
 * reused pid never finds the old VM's record. */
#ifndef KVMCG_STATE_H
#define KVMCG_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel/cgroupfs.h"
#include "basic/idset.h"
#include "plan/plan.h"

#define STATE_DIR_DEFAULT "/run/kvmcg"

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

struct vm_state {
	pid_t pid;
	uint64_t starttime;
	char *name;
	enum pin_backend backend;
	char *mount;   /* cgroup mount point; NULL in affinity mode */
	char *vm_dir;  /* relative to mount */
	char *root;    /* the --cgroup-root vm_dir is directly below, relative to mount;
			* NULL when vm_dir is inside a kvmcg/ tree (layout.h) */
	char **created; /* directories kvmcg made for this VM, in creation order */
	size_t n_created;
	struct enabled_controller *enabled;
	size_t n_enabled;
	/* Each thread's cgroup and affinity before kvmcg first touched it. */
	struct thread_origin *threads;
	size_t n_threads;
	struct vm_tune tune; /* what is pinned now */
};
void vm_state_done(struct vm_state *s);

/* Pure. Parse errors give -EBADMSG and the 1-based line in *err_line. */
int state_parse(const char *buf, struct vm_state *ret, size_t *err_line);
char *state_format(const struct vm_state *s);

/* Whether a record may be acted on, whoever wrote it: the VM's own thread among its
 * origins; an absolute mount in the cgroup modes (none in affinity mode); plain
 * relative paths (cg_path_check); a VM directory inside a kvmcg/ tree, or directly
 * below the --cgroup-root the record names; every directory it lists the VM
 * directory itself or one of its children as layout.h names them (emulator, vcpuN,
 * iothread-ID); controllers it enabled only cpuset or cpu, only on the parent of a VM
 * directory built inside the VM's own cgroup. 0, or -EBADMSG with a sentence in
 * *ret_why (caller frees). That the mount is the cgroup hierarchy kvmcg uses is
 * checked where it is opened (cg_fs_check). */
int state_check(const struct vm_state *s, char **ret_why);

/* Opens the state directory, KVMCG_STATE_DIR or /run/kvmcg, through trust_open():
 * no symbolic link on the way, owned by root (or the user running kvmcg), not
 * writable by group or others. With create, a missing one is made with mode 0700.
 * On error a sentence is left in err_get(). */
int state_dir_open(bool create);

/* Loads a VM's record. -ENOENT when it has none. A record that is not owned by root
 * (or the user running kvmcg), is writable by group or others, does not parse
 * (-EBADMSG) or fails state_check (-EBADMSG) is refused with a sentence in err_get()
 * that names the file. */
int state_load(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret);
/* Atomic: written to a temporary file of a unique name, then renamed over. */
int state_save(int dirfd, const struct vm_state *s);
int state_remove(int dirfd, pid_t pid, uint64_t starttime);

/* Every record in the directory that state_load would accept, for list, apply and for
 * removing those of exited VMs. Each refused one adds a sentence that names its file
 * ("refusing the record FILE: why") to *ret_problems (when given; NULL-terminated,
 * caller frees). */
int state_load_all_checked(int dirfd, struct vm_state **ret, size_t *ret_n, char ***ret_problems);
int state_load_all(int dirfd, struct vm_state **ret, size_t *ret_n);
void vm_states_free(struct vm_state *s, size_t n);

/* One VM's lock: flock(2) on "<pid>-<starttime>.lock" in the state directory, held
 * from reading the VM's record to writing it by every command that changes either.
 * Waits up to timeout_ms (0: not at all) and then gives -ETIMEDOUT with *ret_holder
 * (caller frees) saying who holds it, as the holder wrote it: "pid 123 (kvmcg pin)".
 * The lock file is removed by state_unlock when the VM has no record; a waiter that
 * finds its file gone opens the new one (the inode is checked after locking). */
int state_lock(int dirfd, pid_t pid, uint64_t starttime, int timeout_ms, const char *command, int *ret_fd,
	       char **ret_holder);
void state_unlock(int dirfd, pid_t pid, uint64_t starttime, int fd);
/* Removes the lock files of VMs that have no record (left when a record was removed
 * by hand), each only while holding it. */
void state_collect_locks(int dirfd);

const struct thread_origin *state_find_thread(const struct vm_state *s, pid_t tid);

#endif
