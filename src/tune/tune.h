/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The tuning of a VM, in libvirt's terms: vcpupin, emulatorpin, iothreadpin, the
 * memory nodes (numatune) and cputune (cpu.weight, cpu.max, the vCPUs' scheduling
 * class). A tune_request is what the command line or a policy asks; a vm_tune what
 * one VM should look like once the request is resolved against it (plan/plan.h). */
#ifndef KVMCG_TUNE_H
#define KVMCG_TUNE_H

#include <limits.h>
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
#define CPU_QUOTA_US_MIN 1000u        /* and its quota in microseconds: kernel/sched/core.c
				       * tg_set_cfs_bandwidth(), min_cfs_quota_period */
#define CPU_PERIOD_US_MAX 1000000u

/* Each 0 when the value is in range, else -ERANGE. */
int cputune_check_weight(long long weight);
int cputune_check_quota_percent(uint64_t percent);
int cputune_check_period(long long period_us);
/* A policy sched_parse knows, with a priority from SCHED_RT_PRIORITY_MIN to _MAX
 * (kernel/sched.h) for
 * fifo and rr and 0 for the others. */
int cputune_check_sched(int policy, long long priority);
/* Every field that is set, with the checks above, and the quota in microseconds it
 * gives with its period (at least CPU_QUOTA_US_MIN). 0, or -ERANGE with a sentence in
 * err_get() ("CPU weight 1000000 is out of range (1 to 10000)"). */
int cputune_check(const struct cputune *t);

/* "200%" of one CPU over period_us, as cpu.max wants it: "200000 100000". */
void cputune_max(const struct cputune *t, char *buf, size_t size);
/* The period of t in microseconds: period_us, or the kernel's default 100000 when unset. */
unsigned cputune_period(const struct cputune *t);
/* The quota of t in microseconds per period (quota_percent x period / 100), or -1 for
 * none ("max"; quota_percent 0): cpu.max's first field on v2, v1's cpu.cfs_quota_us
 * (kernel/sched/core.c cpu_cfs_quota_write_s64(): -1 is no limit). */
long long cputune_quota_us(const struct cputune *t);
/* v1 cpu.shares for a v2-style weight (1..10000, default 100), as libvirt and
 * libcgroup 3.x's abstraction layer convert: weight x 1024 / 100, clamped to the
 * kernel's [2, 262144] (kernel/sched/sched.h MIN_SHARES, MAX_SHARES). 100 -> 1024,
 * 1 -> 10, 10000 -> 102400. */
#define CPU_SHARES_MIN 2ull
#define CPU_SHARES_MAX 262144ull
unsigned long long cputune_shares(unsigned weight);
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
/* In a tune being planned, not in a record: a weight or limit an [IO] section no
 * longer gives, to be taken back ("MAJ:MIN default", a limit of "max"; plan/iotune.c),
 * then dropped from the tune the record keeps (iotune_settled()). */
#define IO_WEIGHT_RESET UINT_MAX
#define IO_LIMIT_RESET UINT64_MAX
struct io_device {
	unsigned major, minor;
	unsigned weight;                   /* CGROUP_WEIGHT_MIN..CGROUP_WEIGHT_MAX, or IO_WEIGHT_RESET */
	uint64_t rbps, wbps;               /* bytes per second, or IO_LIMIT_RESET */
	uint64_t riops, wiops;             /* I/Os per second, or IO_LIMIT_RESET */
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
/* t without what is being taken back (IO_WEIGHT_RESET, IO_LIMIT_RESET), and without
 * a device nothing is left for: what a record keeps once the plan is made. */
void iotune_settled(struct iotune *t);

/* Network shaping of a VM's taps (libvirt's domiftune): inbound is what the host
 * sends the guest (the tap's egress), outbound what the guest sends (the tap's
 * ingress). Rates in bytes per second, bursts in bytes; 0 is unset. A peak needs an
 * average and is above it. */
struct net_rate {
	uint64_t average, peak;
	uint64_t burst;
};
struct nettune {
	struct net_rate in, out;
	/* Weight=: the VM's share, 1 to 10000 (0: none), of bridge_total, bytes per
	 * second, the rate to the VMs on the bridge its taps are enslaved to (the
	 * bridge device's egress; plan/nettune.h) */
	unsigned weight;
	uint64_t bridge_total;
	char **interfaces; /* names or fnmatch(3) globs of the taps it applies to; NULL: none */
	size_t n_interfaces;
};
void nettune_done(struct nettune *t);
/* A deep copy into *ret. 0 or -ENOMEM. */
int nettune_copy(const struct nettune *t, struct nettune *ret);
/* Whether a tune shapes anything. */
bool nettune_any(const struct nettune *t);
/* Whether two tunes shape the same interfaces the same way. */
bool nettune_equal(const struct nettune *a, const struct nettune *b);
/* Whether ifname is one of t's interfaces (a name or a glob of them). */
bool nettune_matches(const struct nettune *t, const char *ifname);

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
	struct nettune nettune;
};
void vm_tune_done(struct vm_tune *s);
/* A deep copy into *ret (the caller's to vm_tune_done). 0 or -ENOMEM. */
int vm_tune_copy(const struct vm_tune *s, struct vm_tune *ret);

/* What a tune pins, in virsh's words where they mean the same (vcpupin, emulatorpin,
 * iothreadpin, numatune's nodeset, blkiotune, domiftune) and kvmcg's own where they
 * do not (its CPU weight is cgroup v2's cpu.weight, not virsh's cpu_shares; its
 * quota caps the whole VM, not each vCPU as virsh's vcpu_quota), as one line of
 * clauses joined by ", ":
 *   "vCPU 0 -> 22, vCPU 1 -> 23, emulator -> 18-23, iothread io0 -> 4,
 *    nodeset -> 1 (strict), cpu weight -> 200, cpu quota -> 50%,
 *    vcpu scheduler -> fifo:10, blkiotune, domiftune"
 * vCPUs in a row with the same pin are one clause ("vCPU 0-3 -> 2"). With before,
 * only what differs, each with its old value first ("vCPU 0: 0-3 -> 22"; "-": none,
 * as after's pins are when after is an unpin's empty tune); the [IO] and [Network]
 * settings are named, not spelled out (show and the record have them). before NULL:
 * everything after has. Returns a malloc'd string, "" when nothing differs, or NULL
 * (out of memory). */
char *vm_tune_describe(const struct vm_tune *before, const struct vm_tune *after);

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
	struct nettune net; /* [Network] */
	bool net_given;     /* a [Network] section: it replaces the VM's shaping, rates or none */
	bool io_given;      /* an [IO] section: it replaces the VM's I/O settings, what it
			     * no longer gives taken back */
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
