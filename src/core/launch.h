/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg run's mechanism: start QEMU already placed.
 *
 *   1. fork QEMU's process held before its execve (kernel/spawn.h);
 *   2. pin it as it is (PIN_HELD): its cgroup, the emulator's CPUs, cpuset.mems;
 *   3. release it: it sets its memory policy (set_mempolicy(2)) and executes QEMU,
 *      which starts paused (-S) with a private QMP monitor;
 *   4. wait for the monitor; pin every thread as `pin` does (PIN_LAUNCHED);
 *   5. cont, when run added -S.
 *
 * So QEMU's first thread runs where the emulator belongs, its first page comes from
 * the policy's nodes, and no vCPU executes a guest instruction before it is pinned.
 * Prints nothing. */
#ifndef KVMCG_LAUNCH_H
#define KVMCG_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/txn.h"
#include "kernel/mempolicy.h"
#include "kernel/spawn.h"
#include "vmm/qemu-argv.h"

struct launch_req {
	const char *path;       /* the QEMU binary, as execve(2) takes it */
	char *const *argv;      /* the final command line, argv[0] first, NULL-terminated */
	const char *name;       /* the VM's -name, NULL when none */
	const char *qmp_path;   /* the monitor run added, which the placement uses */
	bool cont;              /* run added -S: resume the guest once placed */
	bool daemonize;         /* -daemonize: QEMU's parent exits once the daemon is up */
	const struct mempolicy_self *mempolicy; /* set by the child before execve; NULL: none */
	struct pin_args held;   /* the first pin's request (emulator, cgroup tuning, mems) */
	struct pin_args placed; /* the whole request, for the second */
	int start_timeout_ms;   /* how long QEMU may take to open its monitor */
	int stderr_fd;          /* the child's stderr; -1: kvmcg's own */
	/* The signal QEMU gets when kvmcg dies (0: none): run in the foreground is QEMU's
	 * supervisor, and SIGTERM is QEMU's orderly stop. */
	int deathsig;
	/* Called once QEMU's process is placed, right before it executes QEMU. */
	void (*before_exec)(void *arg);
	void *before_exec_arg;
	int interrupt_fd;       /* readable (a signalfd): stop waiting, -EINTR; -1: none */
};

struct launch {
	struct spawn sp;
	pid_t pid;              /* QEMU's: the daemon's with -daemonize; 0 before it runs */
	struct vm *vm;          /* as the second pin found it */
	struct pin_result held, placed;
	bool held_done, placed_done;
	bool paused;            /* the guest is left paused (the user's own -S) */
	bool exited;            /* QEMU exited before it was placed: */
	int exit_status;        /* waitpid(2)'s status */
	const char *stage;      /* what was being done when it failed, for the message */
};
#define LAUNCH_INIT {.sp = SPAWN_INIT}

/* Starts QEMU as req says and places it. Returns the exit code (basic/err.h):
 *   0  running (or paused by the user's -S) and placed
 *   1  QEMU could not be executed, exited, or its monitor did not come up in time
 *      (ret->exited, ret->exit_status), or the second pin failed: QEMU is then
 *      killed (SIGKILL) and reaped; err_get() has the sentence
 *   2  the first pin refused the request (ret->held says why): nothing started
 *   3  as pin_vm()'s 3 (partly)
 * -EINTR (negative) when interrupt_fd became readable: the child is released or
 * running, not reaped; the caller forwards the signal and waits.
 * The cgroups and record of a QEMU that is gone are left for launch_collect(). */
int launch_start(const struct txn_env *env, const struct launch_req *req, struct launch *ret);

/* The VM pid is to become, for the first pin (PIN_HELD): the process held before it
 * executes argv (vmm vm_held_child()), with what argv says (vm->qemu: its guest
 * RAM, for the nodes' room) and the vCPUs present at start (-smp's cpus) and iothreads
 * (-object iothread) it promises listed as unidentified, so that pins of them are
 * checked before QEMU starts. 0, -ENOENT, -ENOMEM. */
int launch_held_vm(const struct discover_opts *o, pid_t pid, const char *name, char *const *argv, struct vm **ret);

/* After QEMU exited: removes its cgroups and record (pin_collect_stale()); what
 * could not go is said in *ret_problems (NULL-terminated, caller frees). */
int launch_collect(const struct txn_env *env, char ***ret_problems);

/* Kills QEMU (its daemon too, once known) and collects what it left: a start that
 * was interrupted (-EINTR) and is not to go on. */
void launch_abort(const struct txn_env *env, struct launch *l);

void launch_done(struct launch *l);

#endif
