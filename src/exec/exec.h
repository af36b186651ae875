/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The executor: carries out a plan's actions in order, recording in its own undo log
 * what each one replaced (the plan is only read); on any failure undoes what the log
 * holds, newest first. Each action kind is one entry of a table (exec/ops.c: run,
 * undo, why), so a new kind is one new entry. Threads that exit meanwhile are not
 * errors; the VM exiting is (-ESRCH). exec/verify.c reads the result back. */
#ifndef KVMCG_EXEC_H
#define KVMCG_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel/cgroupfs.h"
#include "vmm/discover.h"
#include "plan/plan.h"

/* Faults on demand, for tests against the real kernel. Compiled in only with
 * KVMCG_TEST_HOOKS (the test build, build/kvmcg-test); the installed kvmcg reads no
 * such variable. Action numbers are 1-based and count the rescan's newcomers. */
struct exec_hooks {
	unsigned fail_at;     /* KVMCG_TEST_FAIL_AT: fail as if the kernel said EIO */
	unsigned kill_at;     /* KVMCG_TEST_KILL_AT: SIGKILL the VM first */
	unsigned run_at;      /* KVMCG_TEST_RUN_AT + KVMCG_TEST_RUN: run a shell command first */
	const char *run;
};
/* Zero in a build without KVMCG_TEST_HOOKS. */
void exec_hooks_from_env(struct exec_hooks *ret);

/* One thread's cgroup before a move-process took it along. */
struct moved_thread {
	pid_t tid;
	char *cgroup;
};

/* An action that was carried out, and what it replaced: enough to put it back. */
#define UNDO_NEWCOMER ((size_t)-1)
struct undo_entry {
	size_t action;          /* its index in the plan; UNDO_NEWCOMER for a thread the
				 * rescan found and moved with the emulator */
	enum action_kind kind;
	char *dir, *file, *value; /* copies of the action's */
	pid_t tid;
	bool cleanup;           /* a cleanup step: never undone */
	enum v1_tree tree;      /* in that v1 tree's hierarchy (struct action) */
	bool created;           /* ACT_MKDIR made the directory */
	bool changed;           /* a controller or cgroup.type write changed something */
	bool in_new_dir;        /* ACT_WRITE in a directory this run made: nothing to put back */
	bool undone;            /* rollback put back what this replaced */
	bool undo_failed;       /* rollback could not */
	char *old_value;        /* previous file content, previous cgroup of a moved task,
				 * previous scheduling policy ("fifo:10") */
	struct idset *old_cpus; /* previous affinity (ACT_SET_AFFINITY; ACT_MOVE_THREAD:
				 * before the move) */
	struct moved_thread *moved; /* ACT_MOVE_PROCESS: every thread's previous cgroup */
	size_t n_moved;
};

/* Every action a run carried out, oldest first, with what it replaced; after
 * exec_rollback each is undone, or marked undo_failed: what is still changed. */
struct undo_log {
	struct undo_entry *entries;
	size_t n;
};
void undo_log_done(struct undo_log *l);
/* The entry of the plan's action i, or NULL when it was not carried out. */
const struct undo_entry *undo_log_find(const struct undo_log *l, size_t action);

struct exec_ctx {
	int mount_fd; /* the cgroup mount, O_PATH; -1 in affinity mode */
	int proc_fd;
	int pidfd;    /* holds the VM from discovery to the last write */
	/* /proc/PID/task of the VM, opened by exec_hold_vm() once the pidfd's start time
	 * matched, else -1. A TID found under it is a thread of the VM held, not of a
	 * process that reused the pid (procfs.h PROC_TASK_DIR), so an action on a
	 * thread checks the thread and the VM with one fstatat. */
	int task_fd;
	pid_t pid;
	uint64_t starttime;
	enum pin_backend backend;
	const struct vm *vm;          /* the threads the plan knows */
	const struct vm_tune *tune;  /* where newcomers found by a rescan go */
	const struct idset *effective_cpus; /* affinity of unpinned threads */
	struct exec_hooks hooks;
	unsigned executed;  /* actions carried out, newcomers' included */
	char *failed;       /* the sentence for the failure (or, after a run whose cleanup
			     * steps failed, for those) */
	size_t cleanup_failed; /* cleanup steps that failed (see struct action) */
	/* Directory fds of the run below mount_fd; NULL: the executor keeps its own.
	 * The caller's, when given, is shared with observation (plan/observe.h). */
	struct cg_dircache *dirs;
	struct cg_dircache own_dirs;
	/* Each v1 tree's hierarchy's directory fds, for actions marked with that tree
	 * (the caller's; NULL: such an action fails with -EBADF). in_tree: the tree of
	 * the action running (or being undone); V1_TREE_NONE: the backend's. */
	struct cg_dircache *v1_dirs[V1_TREE_N];
	enum v1_tree in_tree;
	const char *v1_vm_dir[V1_TREE_N]; /* the VM's directory there, which exec_verify
					   * checks every thread is in; NULL: none */
	/* during exec_plan: the plan and the log it fills */
	const struct plan *plan;
	struct undo_log *log;
};

/* Closes what the executor cached itself (own_dirs) and frees failed; the ctx's other
 * fds and a cache it was given stay the caller's. */
void exec_done(struct exec_ctx *c);

/* Holds the VM: a pidfd, the start time checked against discovery's, and its task
 * directory (task_fd). -ESRCH when the pid is gone or is another process now. */
int exec_hold_vm(struct exec_ctx *c);
/* Closes what exec_hold_vm() opened, if anything; both fds are -1 after. */
void exec_release_vm(struct exec_ctx *c);

/* The VM has exited or is on its way out: its pidfd polls readable, its main thread
 * is a zombie, or SIGKILL is pending for it (the kernel queues it on every thread of
 * a group being killed, kernel/signal.c complete_signal()). A thread of such a VM
 * that reads wrong is dying, not misplaced. */
bool exec_vm_exiting(const struct exec_ctx *c);

/* Executes the plan, appending to log (empty, or what an earlier call left) an entry
 * for every action carried out. On failure rolls back what log holds and returns the
 * error; c->failed says what failed and why; an error met while the VM was exiting
 * is -ESRCH. Threads found by ACT_RESCAN are moved there and then, with entries of
 * their own (UNDO_NEWCOMER), so rollback covers them. Cleanup steps that fail do not
 * make it fail: they are counted in c->cleanup_failed and get no entry. */
int exec_plan(struct exec_ctx *c, const struct plan *p, struct undo_log *log);

/* One cleanup step outside a plan (a VM-less ctx: pid 0), for what no VM's record
 * holds (core/shared.c): ACT_RMDIR, or ACT_DISABLE_CONTROLLER, which is -EBUSY while
 * a cgroup below relies on the controller. 0 when done or when there was nothing to
 * do (the cgroup is gone, the controller off); else the kernel's error, with
 * c->failed saying what failed. */
int exec_cleanup_step(struct exec_ctx *c, const struct action *a);

/* Undoes every entry of log not undone yet, newest first, then gives every touched
 * thread the mask discovery read (one it did not see: the mask it had before its
 * first move). Best effort: an entry whose undo failed gets
 * undo_failed, the others undone. Returns the first error met. */
int exec_rollback(struct exec_ctx *c, struct undo_log *log);

/* Reads back every thread's cgroup (and, with c->v1_vm_dir[t], its cgroup there) and
 * affinity and compares them with the tune.
 * A thread that differs is put right once; one that still differs is an error
 * (-EIO, c->failed lists them). A thread that is exiting is no mismatch; the VM
 * exiting is -ESRCH. */
int exec_verify(struct exec_ctx *c, const char *vm_dir);

/* ---- the network plan (exec/net.c) ---- */
struct rtnl;
struct net_plan;
struct net_change;
/* Carries out the steps of p in order through r (a socket in the VM's network
 * namespace, kernel/rtnl.h); *ret_done counts those that took effect. 0, or the
 * failed step's -errno with *ret_failed naming it and the kernel's extended ack
 * (caller frees). */
int exec_net_plan(struct rtnl *r, const struct net_plan *p, size_t *ret_done, char **ret_failed);
/* Undoes the first done steps of p, newest first: what a step made goes, what it
 * replaced comes back (a TBF's options as they were dumped, an operator's qdisc), what
 * it removed of kvmcg's own is made again as the record's shaping had it. 0, or
 * -EBUSY when a step could not be undone (a removal whose shaping is not known). */
int exec_net_rollback(struct rtnl *r, const struct net_plan *p, size_t done);
/* Removes one recorded change c (plan/record.h) in r's namespace: kvmcg's root qdisc
 * (or the operator's it replaced, put back), its ingress qdisc (an operator's comes
 * back empty, said in *note), its IFB device. 0 when it is gone (now, or with its
 * device: a device of another name at that index is not it), 1 when it is left
 * because it is not kvmcg's any more (a root qdisc someone put in its place: *note
 * says so; caller frees), -errno when it could not be removed. */
int exec_net_remove(struct rtnl *r, const struct net_change *c, char **note);

#endif
