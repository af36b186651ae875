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
#include "kernel/sched.h"

/* CPU bandwidth and scheduling of a VM: cpu.weight and cpu.max of its cgroup (v2),
 * the scheduling class of its vCPU threads. Zero fields are unset. */
struct cputune {
	unsigned weight;        /* CGROUP_WEIGHT_MIN..CGROUP_WEIGHT_MAX */
	bool quota_set;
	uint64_t quota_percent; /* of one CPU; 0 with quota_set means "max" */
	unsigned period_us;     /* 0: the kernel's 100000 */
	bool sched_set;
	int sched_policy;       /* SCHED_OTHER, SCHED_FIFO, ... */
	unsigned sched_priority;
};

/* The limits of a cputune. This is their one owner: the command line, policy files
 * and the undo record all check values with the functions below. */
#define CGROUP_WEIGHT_MIN 1u          /* the kernel's range of cpu.weight and io.weight */
#define CGROUP_WEIGHT_MAX 10000u
#define CPU_QUOTA_PERCENT_MIN 1u      /* of one CPU; "max" is no quota */
#define CPU_QUOTA_PERCENT_MAX 100000u /* a thousand CPUs */
#define CPU_PERIOD_US_MIN 1000u       /* cpu.max's period, as the kernel takes it */
#define CPU_PERIOD_US_MAX 1000000u

/* Each 0 when the value is in range, else -ERANGE. */
int cputune_check_weight(long long weight);
int cputune_check_quota_percent(uint64_t percent);
int cputune_check_period(long long period_us);
/* A policy sched_parse knows, with a priority from SCHED_RT_PRIORITY_MIN to _MAX
 * (kernel/sched.h) for
 * fifo and rr and 0 for the others. */
int cputune_check_sched(int policy, long long priority);
/* Every field that is set, with the checks above. 0, or -ERANGE with a sentence in
 * err_get() ("CPU weight 1000000 is out of range (1 to 10000)"). */
int cputune_check(const struct cputune *t);

/* "200%" of one CPU over period_us, as cpu.max wants it: "200000 100000". */
void cputune_max(const struct cputune *t, char *buf, size_t size);
/* "fifo:10", "other": the policy kvmcg and chrt(1) users read. */
void sched_format(int policy, unsigned priority, char *buf, size_t size);
/* The inverse, checked with cputune_check_sched. -EINVAL. */
int sched_parse(const char *s, int *ret_policy, unsigned *ret_priority);

/* How a VM's memory is held to its nodes (libvirt's numatune modes). */
enum mem_policy {
	MEM_POLICY_UNSET,
	MEM_POLICY_STRICT,      /* libvirt: strict (bind): cpuset.mems, then every page
				 * moved there, and at least 99% of them must be */
	MEM_POLICY_PREFERRED,
	MEM_POLICY_INTERLEAVE,
	MEM_POLICY_RESTRICTIVE, /* cpuset.mems only, measured, not enforced */
};
/* "unset", "strict", "preferred", "interleave", "restrictive" (the policy file's and
 * --mem-policy's words); mem_policy_parse() the other way: -EINVAL for another. */
const char *mem_policy_name(enum mem_policy p);
int mem_policy_parse(const char *s, enum mem_policy *ret);

/* I/O weights and limits of a VM (libvirt's blkiotune): on cgroup v2 the io
 * controller's files of the VM's domain cgroup (io.weight or io.bfq.weight, io.max),
 * one line per whole disk, by device number. Zero fields are unset. */
struct io_device {
	unsigned major, minor;
	unsigned weight;                   /* CGROUP_WEIGHT_MIN..CGROUP_WEIGHT_MAX */
	uint64_t rbps, wbps;               /* bytes per second */
	uint64_t riops, wiops;             /* I/Os per second */
	bool bfq; /* the disk's scheduler is BFQ: its weight goes to io.bfq.weight */
};
struct iotune {
	unsigned weight; /* the default weight of every disk, CGROUP_WEIGHT_MIN.._MAX */
	struct io_device *dev;
	size_t n_dev;
};
/* An [IO] setting as asked, before its device is resolved (core/): DeviceWeight=,
 * ReadBandwidthMax=, WriteBandwidthMax=, ReadIOPSMax=, WriteIOPSMax=. */
enum io_limit_kind {
	IO_DEVICE_WEIGHT,
	IO_READ_BPS,
	IO_WRITE_BPS,
	IO_READ_IOPS,
	IO_WRITE_IOPS,
};
/* The policy key of a kind: "DeviceWeight", "ReadBandwidthMax", ... */
const char *io_limit_key(enum io_limit_kind k);
struct io_request {
	enum io_limit_kind kind;
	char *path;      /* absolute: a block device or a file on one; or "auto": the VM's disks */
	uint64_t value;  /* a weight, bytes or I/Os per second */
	unsigned line, col; /* where a policy says it; 0 from the command line */
};
#define IO_PATH_AUTO "auto"

/* A weight of the io controller's range (1..10000, default 100) in BFQ's (1..1000,
 * default 100: block/bfq-iosched.h BFQ_MIN_WEIGHT, BFQ_MAX_WEIGHT), as systemd's
 * IOWeight= is mapped (src/core/cgroup.c cgroup_weight_bfq_weight()): 1..100 as they
 * are, 100..10000 onto 100..1000 linearly. */
unsigned iotune_bfq_weight(unsigned weight);

void iotune_done(struct iotune *t);
/* A deep copy into *ret. 0 or -ENOMEM. */
int iotune_copy(const struct iotune *t, struct iotune *ret);
/* The entry of major:minor, or NULL. */
struct io_device *iotune_find(const struct iotune *t, unsigned major, unsigned minor);
/* The entry of major:minor, appended (zeroed) when there is none. NULL: out of memory. */
struct io_device *iotune_get(struct iotune *t, unsigned major, unsigned minor);
/* Whether a tune sets anything. */
bool iotune_any(const struct iotune *t);

/* What one VM should look like. A NULL set means "not pinned": inherit. */
struct vm_tune {
	struct idset **vcpu; /* indexed by vCPU index, n_vcpu entries */
	size_t n_vcpu;
	struct idset *emulator;
	char **iothread_ids;
	struct idset **iothread;
	size_t n_iothread;
	struct idset *mems;
	enum mem_policy mem_policy; /* with mems: how they were asked (unset: as strict's
				     * cpuset.mems, by an older kvmcg) */
	bool mem_no_migrate;        /* v1: cpuset.memory_migrate 0 (pages stay put) */
	struct cputune cputune;
	struct iotune iotune;
};
void vm_tune_done(struct vm_tune *s);
/* A deep copy into *ret (the caller's to vm_tune_done). 0 or -ENOMEM. */
int vm_tune_copy(const struct vm_tune *s, struct vm_tune *ret);

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
	/* A policy's VCPUPin= (not --vcpu): said as such, and a vCPU the VM does not
	 * have yet but may gain by hot-plug (an index below -smp maxcpus) is left for
	 * when it appears (kvmcg watch pins it then) instead of failing the pin. */
	bool from_policy;
};
/* what names the source in messages: "--vcpu", "VCPUPin=". *ret_col, when given, is
 * set to the byte offset in s of the part that is wrong. */
int parse_vcpu_arg(const char *s, const char *what, struct vcpu_arg *ret, size_t *ret_col);
int parse_iothread_arg(const char *s, const char *what, char **ret_id, struct idset **ret_cpus,
		       size_t *ret_col);

/* A guest NUMA cell's host nodes (a policy's CellNodes=, libvirt's <memnode cellid=
 * mode= nodeset=): what the memory backend behind the cell is bound to when kvmcg run
 * starts the VM. cell is 0 to 127 (QEMU's MAX_NODES), nodes non-empty, mode strict,
 * preferred or interleave (never restrictive: a backend has no cpuset.mems). */
struct cell_nodes {
	unsigned cell;
	struct idset *nodes;
	enum mem_policy mode;
};

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
	enum mem_policy mem_policy; /* with mems: strict, restrictive, interleave or preferred
				     * (unset: as strict's cpuset.mems, without moving or
				     * measuring pages) */
	bool no_migrate;            /* --no-migrate, Migrate=no: pages stay where they are */
	struct cell_nodes *cells;   /* CellNodes=, each cell once; only run carries them out
				     * (a backend is bound when QEMU starts), so pin and apply
				     * list them in skipped */
	size_t n_cells;
	struct cputune cputune;
	unsigned io_weight; /* [IO] Weight= */
	struct io_request *io;
	size_t n_io;
	/* Settings the request makes that kvmcg does not carry out (a policy's [IO], say),
	 * by name: they make the result "partial", exit 3. */
	char **skipped;
	size_t n_skipped;
};
void tune_request_done(struct tune_request *r);
/* Append copies. -ENOMEM. */
int tune_request_add_vcpu(struct tune_request *r, const struct vcpu_arg *v);
int tune_request_add_iothread(struct tune_request *r, const char *id, const struct idset *cpus);
/* Appends a copy of q. -ENOMEM. */
int tune_request_add_io(struct tune_request *r, const struct io_request *q);
/* A copy of c, replacing the entry of the same cell when there is one. -ENOMEM. */
int tune_request_add_cell(struct tune_request *r, const struct cell_nodes *c);

/* The CPUs a tuning uses: every vCPU, emulator and iothread set together. */
struct idset *vm_tune_cpus(const struct vm_tune *s);

#endif
