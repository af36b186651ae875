/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The tuning of a VM, in libvirt's terms: vcpupin, emulatorpin, iothreadpin, the
 * memory nodes (numatune) and cputune (cpu.weight, cpu.max, the vCPUs' scheduling
 * class). A tune_request is what the command line or a policy asks; a vm_tune what
 * one VM should look like once the request is resolved against it (plan/plan.h). */
#ifndef KVMCG_TUNE_H
#define KVMCG_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/idset.h"

/* CPU bandwidth and scheduling of a VM: cpu.weight and cpu.max of its cgroup (v2),
 * the scheduling class of its vCPU threads. Zero fields are unset. */
struct cputune {
	unsigned weight;        /* 1..10000 */
	bool quota_set;
	uint64_t quota_percent; /* of one CPU; 0 with quota_set means "max" */
	unsigned period_us;     /* 0: the kernel's 100000 */
	bool sched_set;
	int sched_policy;       /* SCHED_OTHER, SCHED_FIFO, ... */
	unsigned sched_priority;
};

/* "200%" of one CPU over period_us, as cpu.max wants it: "200000 100000". */
void cputune_max(const struct cputune *t, char *buf, size_t size);
/* "fifo:10", "other": the policy kvmcg and chrt(1) users read. */
void sched_format(int policy, unsigned priority, char *buf, size_t size);
int sched_parse(const char *s, int *ret_policy, unsigned *ret_priority);

/* What one VM should look like. A NULL set means "not pinned": inherit. */
struct vm_tune {
	struct idset **vcpu; /* indexed by vCPU index, n_vcpu entries */
	size_t n_vcpu;
	struct idset *emulator;
	char **iothread_ids;
	struct idset **iothread;
	size_t n_iothread;
	struct idset *mems;
	struct cputune cputune;
};
void vm_tune_done(struct vm_tune *s);

/* The CPUs thread t should have by tune: its vCPU's, its iothread's, or (any other
 * thread, and t NULL for one discovery did not see) the emulator's. NULL: not pinned,
 * it inherits. */
struct vm_thread;
const struct idset *vm_tune_cpus_for(const struct vm_tune *tune, const struct vm_thread *t);

/* Command-line forms. On a syntax error returns -EINVAL and a sentence in err_get().
 *   --vcpu N:CPUS, --vcpu A-B:CPUS, --vcpu all:CPUS, --iothread ID:CPUS.
 * "all" is resolved against the VM later, so it is kept as index -1. */
struct vcpu_arg {
	int first, last; /* -1, -1 for all */
	struct idset *cpus;
};
/* what names the source in messages: "--vcpu", "VCPUPin=". *ret_col, when given, is
 * set to the byte offset in s of the part that is wrong. */
int parse_vcpu_arg(const char *s, const char *what, struct vcpu_arg *ret, size_t *ret_col);
int parse_iothread_arg(const char *s, const char *what, char **ret_id, struct idset **ret_cpus,
		       size_t *ret_col);

/* The request, from the command line or a policy; NULL and zero fields are not
 * asked for. */
struct tune_request {
	struct vcpu_arg *vcpus;
	size_t n_vcpus;
	struct idset *emulator;
	char **iothread_ids;
	struct idset **iothreads;
	size_t n_iothreads;
	struct idset *mems;
	struct cputune cputune;
	/* Settings the request makes that kvmcg does not carry out (a policy's [IO], say),
	 * by name: they make the result "partial", exit 3. */
	char **skipped;
	size_t n_skipped;
};
void tune_request_done(struct tune_request *r);
/* Append copies. -ENOMEM. */
int tune_request_add_vcpu(struct tune_request *r, const struct vcpu_arg *v);
int tune_request_add_iothread(struct tune_request *r, const char *id, const struct idset *cpus);

/* The CPUs a tuning uses: every vCPU, emulator and iothread set together. */
struct idset *vm_tune_cpus(const struct vm_tune *s);

#endif
