/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The executor: carries out a plan's actions in order, recording what each one
 * replaced; on any failure undoes the done ones in reverse. Threads that exit
 * meanwhile are not errors; the VM exiting is (-ESRCH). */
#ifndef KVMCG_EXEC_H
#define KVMCG_EXEC_H

#include <stdint.h>
#include <sys/types.h>

#include "discover.h"
#include "plan.h"

struct exec_ctx {
	int mount_fd; /* the cgroup mount, O_PATH; -1 in affinity mode */
	int proc_fd;
	int pidfd;    /* holds the VM from discovery to the last write */
	pid_t pid;
	uint64_t starttime;
	enum cgroup_mode mode;
	const struct vm *vm;          /* the threads the plan knows */
	const struct pin_spec *spec;  /* where newcomers found by a rescan go */
	const struct cpuset *all_cpus; /* affinity of unpinned threads */
	/* Test hook: fail as if the kernel said EIO before action number fail_at
	 * (1-based); 0 disables. */
	unsigned fail_at;
	/* Test hook: SIGKILL the VM before action number kill_at; 0 disables. */
	unsigned kill_at;
	unsigned executed; /* actions carried out, newcomers' included */
	char failed[512];  /* the sentence for the failure */
	/* Directory fds by path, opened once per run: a pin of a 64-vCPU VM touches
	 * each cgroup several times. */
	struct exec_dir {
		char *path;
		int fd;
	} *dirs;
	size_t n_dirs;
};

/* Closes what the executor cached; the ctx's other fds stay the caller's. */
void exec_done(struct exec_ctx *c);

/* Opens a cgroup directory below the mount, one component at a time with
 * O_NOFOLLOW, so no path can lead out of the hierarchy. */
int cg_open_path(int mount_fd, const char *path);

/* Holds the VM: a pidfd, and the start time checked against discovery's.
 * -ESRCH when the pid is gone or is another process now. */
int exec_hold_vm(struct exec_ctx *c);
bool exec_vm_alive(const struct exec_ctx *c);

/* Executes the plan. On failure rolls back and returns the error; c->failed says
 * what failed and why. Newcomer threads found by ACT_RESCAN are appended to the plan
 * as executed actions, so rollback covers them. */
int exec_plan(struct exec_ctx *c, struct plan *p);

/* Undoes the executed actions of p, newest first; best effort, returns the first
 * error met. */
int exec_rollback(struct exec_ctx *c, struct plan *p);

/* Reads back every thread's cgroup and affinity and compares them with the spec.
 * A thread that differs is put right once; one that still differs is an error
 * (-EIO, c->failed lists them). */
int exec_verify(struct exec_ctx *c, const char *vm_dir);

#endif
