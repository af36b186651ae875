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

/* The pin request the policy makes, appended to a (command-line pins given after it
 * still win, as they come later). Settings kvmcg does not carry out yet are listed in
 * *skipped as "[Section] Key=" strings, never dropped silently. */
int policy_to_request(const struct policy *p, struct tune_request *a, char ***skipped, size_t *n_skipped);

#endif
