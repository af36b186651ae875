/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A directory of policy files, read as one: apply's and run's policy directory. */
#ifndef KVMCG_POLICY_DIR_H
#define KVMCG_POLICY_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "tune/policy.h"

/* Where apply and run look for policies when not told. */
#define POLICY_DIR_DEFAULT "/etc/kvmcg/policies"

struct policy_file {
	char *path;
	struct policy *policy; /* NULL when it has errors */
	struct diags diags;
};

/* The *.policy files of dir (hidden ones skipped), sorted by name, each parsed: a file
 * with errors has policy NULL and its diagnostics kept. dir is opened by
 * trust_open()'s walk (no symbolic link in any component; with trust, as root,
 * every owner and mode on the way: basic/trust.h), its entries read from that fd and
 * each file opened relative to it (policy_load_at()), so what is read is what was
 * checked. 0; or -errno with *why (caller frees) the sentence to print, e.g.
 * -ENOENT; -ENOMEM. On -ENOMEM midway *ret holds what was read. */
int policy_dir_load(const char *dir, bool trust, struct policy_file **ret, size_t *ret_n, char **why);
void policy_dir_free(struct policy_file *v, size_t n);

struct vm;
/* Whether a usable policy of v may match vm before its monitor is asked: one that
 * matches by the command line, pidfile and sockets, or whose Name= cannot be decided
 * because the VM's -name is not on its command line (a -readconfig file may set it;
 * query-name tells). apply and watch ask only these VMs' monitors. */
bool policy_dir_may_match(const struct policy_file *v, size_t n, const struct vm *vm, int proc_fd);
/* The usable policies of v that match vm (tune/policy-match.h policy_matches()): how
 * many, counting to 2 at most; *ret_first and *ret_second (NULL when none) name the
 * first two, in v's order. */
int policy_dir_match(const struct policy_file *v, size_t n, const struct vm *vm, int proc_fd,
		     const struct policy_file **ret_first, const struct policy_file **ret_second);

#endif
