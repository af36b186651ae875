/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One VM's transaction: lock its record, decide where its cgroups go, read what is in
 * place, plan, record what will change, execute, verify, record what did. Used by
 * pin, unpin and apply alike. Prints nothing: the commands report. */
#ifndef KVMCG_PIN_H
#define KVMCG_PIN_H

#include <stdbool.h>

#include "kernel/cgroupfs.h"
#include "cli/cli.h"
#include "vmm/discover.h"
#include "plan/layout.h"
#include "plan/plan.h"

/* How long a run waits for another run on the same VM, by default. */
#define PIN_LOCK_TIMEOUT_MS 5000

/* The request, from the command line or a policy. */
struct pin_args {
	struct vcpu_arg *vcpus;
	size_t n_vcpus;
	struct idset *emulator;
	char **iothread_ids;
	struct idset **iothreads;
	size_t n_iothreads;
	struct idset *mems;
	bool dry_run;
	bool affinity_only;
	const char *cgroup_root;
	const char *policy; /* pin --policy FILE */
	struct cputune cputune;
	/* Settings the request makes that kvmcg does not carry out (a policy's [IO], say),
	 * by name: they make the result "partial", exit 3. */
	char **skipped;
	size_t n_skipped;
	int lock_timeout_ms; /* 0: PIN_LOCK_TIMEOUT_MS; <0: do not wait */
	const char *command; /* "pin", "apply": who holds the lock, for others to read */
};
void pin_args_done(struct pin_args *a);
/* Append copies. */
int pin_args_add_vcpu(struct pin_args *a, const struct vcpu_arg *v);
int pin_args_add_iothread(struct pin_args *a, const char *id, const struct idset *cpus);

struct pin_result {
	/* "applied", "unchanged", "dry-run", "partial" (done, but settings were not
	 * carried out, or cleanup is left for the next run) or "failed" */
	const char *result;
	int exit_code;
	char *message;  /* the summary, or why it failed */
	char *problem;  /* with "partial": what was not done, for stderr */
	char **warnings; /* to say on stderr, each one line */
	size_t n_warnings;
	enum pin_backend backend;
	enum layout_kind layout;
	char *mount;
	char *vm_dir;
	struct plan plan;     /* what was (or would be) done */
	struct vm_tune tune; /* the pin the VM has (or would have) */
	char **skipped;       /* settings not carried out, by name */
	size_t n_skipped;
};
void pin_result_done(struct pin_result *r);

/* Pins vm as a asks; returns the exit code, also in res->exit_code:
 *   0  done, or nothing to do
 *   1  failed, everything done was undone (or another run holds the VM's lock)
 *   2  the request cannot work here (checked before anything is written)
 *   3  partly: the VM exited meanwhile (undone), a setting was not carried out, or
 *      what could not be undone is kept in the record for the next run
 * The VM's threads are re-read once its lock is held. */
int pin_vm(struct cli *c, struct vm *vm, const struct pin_args *a, struct pin_result *res);

/* Undoes kvmcg's pin of vm: every thread back in the cgroup, affinity and scheduling
 * class it had before the first pin, kvmcg's cgroups removed. Exit codes as pin_vm;
 * "unchanged" when kvmcg has not pinned it. */
int unpin_vm(struct cli *c, struct vm *vm, int lock_timeout_ms, struct pin_result *res);

/* Removes the cgroups and records of pinned VMs that have exited; returns how many
 * records went, or a negative errno. Records kvmcg refuses (untrusted, damaged) are
 * left alone, and cgroups that cannot be removed yet stay in their record; each is
 * one sentence in *ret_problems when given (NULL-terminated; those of the second kind
 * begin "pid N has exited"). */
int pin_collect_stale(struct cli *c, int state_fd, char ***ret_problems);

#endif
