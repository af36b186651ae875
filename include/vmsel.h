/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VMSEL: the one VM a command acts on, chosen by --pid, --pidfile, --name or --qmp. */
#ifndef KVMCG_VMSEL_H
#define KVMCG_VMSEL_H

#include <sys/types.h>

#include "discover.h"

struct vm_selector {
	pid_t pid;
	const char *pidfile;
	const char *name;
	const char *qmp;
};

/* How many selectors are set; commands require exactly one. */
int vmsel_count(const struct vm_selector *s);

/* Finds the VM and discovers its threads. On failure err_get() has the sentence. */
int vmsel_resolve(const struct discover_opts *o, const struct vm_selector *s, struct vm **ret);

#endif
