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

#endif
