/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The executor: carries out a plan's actions in order, recording what each one
 * replaced; on any failure undoes the done ones in reverse. Each action kind is one
 * entry of a table (do, undo, why), so a new kind is one new entry. Threads that exit
 * meanwhile are not errors; the VM exiting is (-ESRCH). */
#ifndef KVMCG_EXEC_H
#define KVMCG_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

struct exec_ctx {
	int mount_fd; /* the cgroup mount, O_PATH; -1 in affinity mode */
	int proc_fd;
	int pidfd;    /* holds the VM from discovery to the last write */
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
	/* Directory fds by path, opened once per run: a pin of a 64-vCPU VM touches
	 * each cgroup several times. */
	struct exec_dir {
		char *path;
		int fd;
	} *dirs;
	size_t n_dirs;
};

/* Closes what the executor cached and frees failed; the ctx's other fds stay the
 * caller's. */
void exec_done(struct exec_ctx *c);

/* Holds the VM: a pidfd, and the start time checked against discovery's.
 * -ESRCH when the pid is gone or is another process now. */
int exec_hold_vm(struct exec_ctx *c);

/* The VM has exited or is on its way out: its pidfd polls readable, its main thread
 * is a zombie, or SIGKILL is pending for it (the kernel queues it on every thread of
 * a group being killed, kernel/signal.c complete_signal()). A thread of such a VM
 * that reads wrong is dying, not misplaced. */
bool exec_vm_exiting(const struct exec_ctx *c);

/* Executes the plan. On failure rolls back and returns the error; c->failed says
 * what failed and why; an error met while the VM was exiting is -ESRCH. Newcomer
 * threads found by ACT_RESCAN are appended to the plan as executed actions, so
 * rollback covers them. Cleanup steps that fail do not make it fail: they are
 * counted in c->cleanup_failed and left with done false. */
int exec_plan(struct exec_ctx *c, struct plan *p);

/* Undoes the done actions of p, newest first, then gives every touched thread the
 * mask discovery read. Best effort: an action whose undo failed keeps done and gets
 * undo_failed; returns the first error met. */
int exec_rollback(struct exec_ctx *c, struct plan *p);

/* Reads back every thread's cgroup and affinity and compares them with the tune.
 * A thread that differs is put right once; one that still differs is an error
 * (-EIO, c->failed lists them). A thread that is exiting is no mismatch; the VM
 * exiting is -ESRCH. */
int exec_verify(struct exec_ctx *c, const char *vm_dir);

#endif
