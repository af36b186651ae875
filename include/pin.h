/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One VM's pin as a transaction: decide where its cgroups go, read what is in place,
 * plan, record the undo state, execute, verify. Used by pin and apply alike. */
#ifndef KVMCG_PIN_H
#define KVMCG_PIN_H

#include <stdbool.h>

#include "cgroupfs.h"
#include "cli.h"
#include "discover.h"
#include "plan.h"

/* The request, from the command line or a policy. */
struct pin_args {
	struct vcpu_arg *vcpus;
	size_t n_vcpus;
	struct cpuset *emulator;
	char **iothread_ids;
	struct cpuset **iothreads;
	size_t n_iothreads;
	struct cpuset *mems;
	bool dry_run;
	bool affinity_only;
	const char *cgroup_root;
	const char *policy; /* pin --policy FILE */
	struct cpu_tune tune;
};
void pin_args_done(struct pin_args *a);
/* Append copies. */
int pin_args_add_vcpu(struct pin_args *a, const struct vcpu_arg *v);
int pin_args_add_iothread(struct pin_args *a, const char *id, const struct cpuset *cpus);

struct pin_result {
	const char *result; /* "applied", "unchanged", "dry-run" or "failed" */
	int exit_code;
	char *message;      /* the summary, or why it failed */
	const char *warning;
	enum cgroup_mode mode;
	char *mount;
	char *vm_dir;
	struct plan plan;     /* what was (or would be) done */
	struct pin_spec spec; /* the pin the VM has (or would have) */
	char **skipped;       /* settings this host cannot carry out, by name */
	size_t n_skipped;
};
void pin_result_done(struct pin_result *r);

/* Pins vm as a asks; returns the exit code, also in res->exit_code. On failure
 * everything done was undone. */
int pin_vm(struct cli *c, const struct vm *vm, const struct pin_args *a, struct pin_result *res);

/* KVMCG_TEST_FAIL_AT / KVMCG_TEST_KILL_AT: see tests/README.md. */
unsigned pin_test_hook(const char *name);

#endif
