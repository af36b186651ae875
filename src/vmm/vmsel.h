/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VMSEL: the one VM a command acts on, chosen by --pid, --pidfile, --name or --qmp. */
#ifndef KVMCG_VMSEL_H
#define KVMCG_VMSEL_H

#include <sys/types.h>

#include "vmm/discover.h"

struct vm_selector {
	pid_t pid;
	const char *pidfile;
	const char *name;
	const char *qmp;
};

/* How many selectors are set; commands require exactly one. */
int vmsel_count(const struct vm_selector *s);

/* Finds the VM and discovers its threads. On failure err_get() has the sentence:
 * -ESRCH no such process, -EOWNERDEAD it was there but exited (or is exiting, or
 * executed another program) while it was being read, -ENXIO
 * not a VM ("pid N is not a VM: <why>", discover.h vm_identify_why()), and the
 * selectors' own errors. Every monitor conversation (--qmp's, which finds the pid, and
 * the VM's own) ends by one deadline, o->qmp_deadline_ns or qmp_timeout_ms from now.
 * A process that only looks like QEMU (argv[0], thread names, -name, a pidfile or a
 * socket that speaks QMP) is never selected. */
int vmsel_resolve(const struct discover_opts *o, const struct vm_selector *s, struct vm **ret);

/* vmsel_resolve() in two steps, for a command that reads the VM's threads only once
 * it holds the VM's lock (pin, unpin): vmsel_identify() finds and identifies the VM
 * (its threads unread) and gives in *ret_opts the options its threads are to be read
 * with (--qmp's socket, and the deadline its conversation has begun; without --qmp
 * the VM's own conversation gets its budget when it begins); then
 * vmsel_read_threads() reads them, with vmsel_resolve()'s errors and sentences. */
int vmsel_identify(const struct discover_opts *o, const struct vm_selector *s, struct vm **ret,
		   struct discover_opts *ret_opts);

/* Waits at most timeout_ms until the VM s selects can be resolved and every thread of
 * it identified (vm_identified()): for a VM that is starting, as an init script runs
 * `qemu ... &` and kvmcg at once. What it waits on: the pidfile's or the QMP socket's
 * directory (inotify: the file made, written, moved there), the process itself (a
 * pidfd: its exit ends the wait), and otherwise a look every 10 ms to 250 ms (the
 * threads QEMU makes as it starts have no event of their own but the proc connector,
 * which needs CAP_NET_ADMIN). 0 when ready (the caller resolves it as usual);
 * -ETIMEDOUT with err_get() saying what was still missing; or the selector's error that
 * waiting cannot mend (a --pid that names no process, or one that exited). */
int vmsel_wait(const struct discover_opts *o, const struct vm_selector *s, unsigned timeout_ms);
int vmsel_read_threads(const struct discover_opts *o, struct vm *vm);

#endif
