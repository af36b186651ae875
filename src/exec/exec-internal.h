/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What exec.c, ops.c and verify.c share; nothing outside src/exec/ includes it. */
#ifndef KVMCG_EXEC_INTERNAL_H
#define KVMCG_EXEC_INTERNAL_H

#include "exec/exec.h"

__attribute__((format(printf, 2, 3))) void exec_set_failed(struct exec_ctx *c, const char *fmt, ...);

/* cgroupfs through the run's directory cache; paths relative to the mount. */
int exec_dir_fd(struct exec_ctx *c, const char *path);
int exec_parent_fd(struct exec_ctx *c, const char *path, const char **ret_base);
/* rmdir (EBUSY retried for a moment, cg_rmdir), then forget the fds of what is gone. */
int exec_remove_dir(struct exec_ctx *c, const char *path);
int exec_write_in(struct exec_ctx *c, const char *dir, const char *file, const char *value);
int exec_read_in(struct exec_ctx *c, const char *dir, const char *file, char **ret);
/* Writes tid into dir/file: 0, 1 when the thread is gone (ESRCH), <0. */
int exec_write_tid(struct exec_ctx *c, const char *dir, const char *file, pid_t tid);
/* The thread's cgroup in our relative form ("kvmcg/demo/vcpu0"); -ESRCH when gone. */
int exec_read_thread_cgroup(const struct exec_ctx *c, pid_t tid, char **ret);

/* Carries out one action (begin checks, the hooks, its run, its entry in the log).
 * index is its place in the plan, UNDO_NEWCOMER for a rescan's newcomers. */
int exec_run_action(struct exec_ctx *c, const struct action *a, size_t index);

/* The table of action kinds (ops.c).
 * run: carries out a and records in e what it replaced; 0 done, 1 nothing done
 *   because its thread is gone (not an error), <0 error.
 * undo: puts back exactly what run replaced; a thread that is gone is no error.
 * why: a sentence for an error of run. */
struct action_ops {
	int (*run)(struct exec_ctx *c, const struct action *a, struct undo_entry *e);
	int (*undo)(struct exec_ctx *c, const struct undo_entry *e);
	const char *(*why)(const char *file, int r);
	/* run looks its thread up under the held task directory before it acts
	 * (still_ours in ops.c), which also tells that the VM lives: begin_action
	 * then asks nothing more. */
	bool checks_thread;
};
const struct action_ops *exec_ops(enum action_kind kind);

#endif
