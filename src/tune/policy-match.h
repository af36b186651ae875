/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Using a parsed policy: does it match a VM, and what pin request does it make. */
#ifndef KVMCG_POLICY_USE_H
#define KVMCG_POLICY_USE_H

#include <stdbool.h>

#include "vmm/discover.h"
#include "tune/tune.h"
#include "tune/policy.h"

/* Every [Match] key given must match; a policy without [Match] keys matches nothing. */
bool policy_matches(const struct policy *p, const struct vm *vm, int proc_fd);

/* Whether the policy matches a VM about to be started (kvmcg run) with this -name
 * (NULL: none) and this command line (argv[0] the binary): by the [Match] keys that
 * are known before it runs, Name= and Cmdline=. A policy with Pidfile= or QMP= (known
 * once QEMU runs) or with no [Match] key does not match. */
bool policy_matches_launch(const struct policy *p, const char *name, char *const *argv, size_t argc);
/* The pin request the policy makes, appended to a (command-line pins given after it
 * still win, as they come later). Settings kvmcg does not carry out yet are listed in
 * *skipped as "[Section] Key=" strings, never dropped silently. */
/* How policy_to_request() names CellNodes= among the skipped settings; kvmcg run,
 * which carries it out, takes it off the list. */
#define POLICY_SKIPPED_CELL_NODES "[Memory] CellNodes= (only kvmcg run can give a cell's backend host nodes)"
int policy_to_request(const struct policy *p, struct tune_request *a, char ***skipped, size_t *n_skipped);

#endif
