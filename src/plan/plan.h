/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure planner: (host, VM, what is in place, request) -> an ordered list of
 * actions. Nothing here touches the system, so plans are unit-tested without root
 * and printed by --dry-run exactly as the executor would carry them out. */
#ifndef KVMCG_PLAN_H
#define KVMCG_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kernel/cgroupfs.h"
#include "basic/idset.h"
#include "tune/tune.h"
#include "vmm/discover.h"

/* ---- what is in place ---------------------------------------------------------- */

/* The files of a v1 blkio cgroup kvmcg writes (blkio_file_name()): the throttle's
 * "MAJ:MIN VALUE" lines (block/blk-throttle.c throtl_legacy_files[]), BFQ's weight and
 * per-disk weights (block/bfq-cgroup.c bfq_blkcg_legacy_files[]), and CFQ's, which
 * kernels before 5.0 have (block/cfq-iosched.c cfq_blkcg_legacy_files[]). */
enum blkio_file {
	BLKIO_READ_BPS,
	BLKIO_WRITE_BPS,
	BLKIO_READ_IOPS,
	BLKIO_WRITE_IOPS,
	BLKIO_BFQ_WEIGHT,
	BLKIO_BFQ_WEIGHT_DEVICE,
	BLKIO_WEIGHT,
	BLKIO_WEIGHT_DEVICE,
	BLKIO_FILE_N
};
/* "blkio.throttle.read_bps_device", ... */
const char *blkio_file_name(enum blkio_file f);

/* One cgroup of the VM's tree as found before planning (read by the caller). */
struct cgroup_dir_state {
	char *path;             /* relative to the mount: "kvmcg/demo/vcpu0" */
	bool exists;
	bool threaded;          /* v2 cgroup.type is "threaded" */
	char *subtree_control;  /* v2 */
	char *cpus;             /* cpuset.cpus as written (requested), "" = inherit */
	char *cpu_weight;       /* v2 cpu.weight, cpu.max of the VM's cgroup */
	char *cpu_max;
	/* v1 cpu hierarchy (plan_host.v1[V1_TREE_CPU]'s tree): cpu.shares,
	 * cpu.cfs_quota_us, cpu.cfs_period_us */
	char *cpu_shares, *cfs_quota_us, *cfs_period_us;
	/* v1 blkio hierarchy (plan_host.v1[V1_TREE_BLKIO]'s tree): each file of enum
	 * blkio_file as it reads (NULL: no such file) */
	char *blkio[BLKIO_FILE_N];
	char *mems;
	bool memory_migrate;    /* v1 */
	/* v2, read for the mount root, the VM's ancestors and its directory only: io.max,
	 * io.weight, io.bfq.weight as they are (NULL: no such file; the controller is not
	 * enabled above, or, io.bfq.weight, BFQ is not loaded) */
	char *io_max, *io_weight, *io_bfq_weight;
};

/* The VM's tree in one v1 hierarchy (cgroupfs.h enum v1_tree), beside the cpuset one:
 * its directory relative to that mount ("kvmcg/demo", layout_v1tree_dir; NULL: no such
 * tree for this pin), the mount root and each cgroup down to it as they are now
 * (dirs[0] is the root), and the cgroup of each of the VM's threads there (cgroups[i]
 * for vm->threads[i], as /proc gives it; NULL: unknown). Every thread of the VM goes
 * into that one directory: no per-thread children. */
struct plan_v1_host {
	const char *vm_dir;
	const struct cgroup_dir_state *dirs;
	size_t n_dirs;
	char *const *cgroups;
};

struct plan_host {
	enum pin_backend backend;
	const struct idset *online_cpus;
	const struct idset *online_mems;
	const struct idset *memory_mems; /* the nodes that have memory; NULL: as online */
	/* What the VM's cgroups may use: the effective cpus and mems (v2), or
	 * cpuset.cpus/mems (v1), of the nearest existing cgroup above the VM's directory;
	 * in affinity mode what the VM's threads' cpusets allow. */
	const struct idset *effective_cpus;
	const struct idset *effective_mems;
	/* Ancestors from the mount root down to the VM's cgroup, then the VM's
	 * children, as they are now. dirs[0] is the mount root itself (path ""). */
	const struct cgroup_dir_state *dirs;
	size_t n_dirs;
	const char *vm_dir; /* relative to the mount: "kvmcg/demo" */
	/* v2, the VM's directory inside the VM's own cgroup: it is a threaded cgroup
	 * itself, so that cgroup stays the VM's resource domain (layout.h). */
	bool vm_threaded;
	/* The VM's process is held before it executes QEMU (kvmcg run; core/launch.h):
	 * its vCPUs and iothreads do not exist yet. Those its command line promises are
	 * the VM's unidentified ones, checked and pinned in the tune, and refuse
	 * nothing; only its one thread is placed. */
	bool held;
	/* v1 or hybrid host: a v1 hierarchy carries the tree's controller (cgroupfs.h
	 * cgroup_v1_mount), so [CPU] Weight=/Quota=/Period= (V1_TREE_CPU) or [IO]
	 * (V1_TREE_BLKIO) can be carried out. */
	bool v1_mounted[V1_TREE_N];
	/* That cpu hierarchy has real-time group scheduling (CONFIG_RT_GROUP_SCHED: its root
	 * has cpu.rt_runtime_us): a cgroup kvmcg makes there gives real-time threads no
	 * runtime (0), so the kernel refuses a real-time class for a thread in it
	 * (kernel/sched/core.c __sched_setscheduler(): EPERM) and refuses to move a
	 * real-time thread there (sched_rt_can_attach(): EINVAL). */
	bool v1_rt_group;
	/* The VM's trees in those hierarchies, beside the cpuset one (v1[V1_TREE_NONE]
	 * unused). */
	struct plan_v1_host v1[V1_TREE_N];
};

/* ---- the plan -------------------------------------------------------------------- */

enum action_kind {
	ACT_ENABLE_CONTROLLER, /* write "+ctrl" to dir/cgroup.subtree_control */
	ACT_MKDIR,
	ACT_SET_THREADED,      /* write "threaded" to dir/cgroup.type */
	ACT_WRITE,             /* write value to dir/file */
	ACT_MOVE_PROCESS,      /* v2: pid into dir/cgroup.procs */
	ACT_MOVE_THREAD,       /* v2: tid into dir/cgroup.threads; v1: dir/tasks */
	ACT_RESCAN,            /* re-read the threads; place newcomers with the emulator */
	ACT_SET_AFFINITY,
	ACT_RMDIR,             /* unpin: remove a cgroup kvmcg made */
	ACT_SET_SCHED,         /* sched_setscheduler(tid) to value ("fifo:10") */
	ACT_DISABLE_CONTROLLER, /* write "-ctrl" to dir/cgroup.subtree_control */
	ACT_WRITE_LINE,        /* write value ("KEY ...") to a keyed file (io.max, io.weight:
				* cgroupfs.h cg_line_find); undo puts KEY's line back */
};
const char *action_kind_name(enum action_kind k);

struct action {
	enum action_kind kind;
	char *dir;   /* relative to the mount */
	char *file;
	char *value;
	pid_t tid;
	struct idset *cpus;
	/* ACT_WRITE_LINE: the line that puts back what is there now, as observed (the
	 * key's line, or the one that resets it), for the record before the run */
	char *old;
	/* A cleanup step (unpin's rmdir and controller disabling, after every thread is
	 * back): its failure stops nothing and is never rolled back; what it could not
	 * remove stays in the record for the next run. Cleanup steps come last. */
	bool cleanup;
	/* dir is in that v1 hierarchy's tree (plan_host.v1[tree]), not in the one of
	 * the plan's backend (V1_TREE_NONE) */
	enum v1_tree tree;
};

struct plan {
	enum pin_backend backend;
	char *vm_dir;
	char *v1_vm_dir[V1_TREE_N]; /* the VM's directory in each v1 tree's hierarchy, or NULL */
	struct action *actions;
	size_t n_actions;
};
void plan_done(struct plan *p);
int plan_add(struct plan *p, const struct action *a); /* takes ownership of a's strings */

/* The tuning a VM ends up with: previous (may be NULL) overlaid with request.
 * Validates every CPU and node against the host and the VM; on a bad request
 * returns -EINVAL (or -ERANGE for an index) with a sentence in err_get(). */
int plan_merge_spec(const struct plan_host *h, const struct vm *vm, const struct vm_tune *previous,
		    const struct vcpu_arg *vcpus, size_t n_vcpus, const struct idset *emulator,
		    char *const *iothread_ids, struct idset *const *iothreads, size_t n_iothreads,
		    const struct idset *mems, struct vm_tune *ret);

/* Overlays the CPU tuning a request asks for (req) on tune, whose tune came from the
 * previous pin. v2 carries weight and quota in cpu.weight/cpu.max, v1 and hybrid
 * hosts in the v1 cpu hierarchy when there is one (h->v1_mounted[V1_TREE_CPU]): elsewhere they are
 * named in *skipped ("[CPU] Weight= ..."), with the reason, not dropped; so are they
 * on v1 beside a real-time class for the vCPUs where that hierarchy has real-time
 * group scheduling (h->v1_rt_group). A real-time class asked of a VM whose weight or
 * quota an earlier pin carried out there is refused: -EINVAL, with a sentence in
 * err_get(). */
int plan_merge_cputune(const struct plan_host *h, const struct cputune *req, struct vm_tune *tune,
		    char ***skipped, size_t *n_skipped);

/* Why this host and place cannot carry [IO] ("[IO] (needs ...)", for the settings
 * not carried out), or NULL when they can: a v2 VM directory that is the VM's domain
 * cgroup (a layout of kvmcg's own, not inside its launcher's cgroup). */
const char *plan_iotune_unsupported(const struct plan_host *h);
/* Overlays the I/O tuning a request asks for (req: devices resolved to whole disks by
 * the caller) on tune; with replace (an [IO] section), what tune has and req no longer
 * gives is marked to be taken back (IO_WEIGHT_RESET, IO_LIMIT_RESET: the kernel's
 * default weight, no limit), which the plan writes and the record drops
 * (iotune_settled()). 0 or -ENOMEM. */
int plan_merge_iotune(const struct iotune *req, bool replace, struct vm_tune *tune);

/* Actions that take the VM from what is in place to tune; none when it is there
 * already. Refuses (-EAGAIN, sentence in err_get()) a VM whose vCPUs or iothreads
 * are not all identified: an unknown thread may be a vCPU. */
int plan_pin(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune,
	     struct plan *ret);

/* Actions that restore what a state recorded (each thread's cgroup, then its
 * affinity and scheduling class), then, as cleanup steps, remove the VM's cgroups and
 * disable the controllers kvmcg enabled for it. Threads born since the pin go back
 * where the main thread came from. */
struct vm_state;
int plan_unpin(const struct vm_state *st, const struct vm *vm, struct plan *ret);

/* Appends the cleanup steps of a record to p: the lines it wrote in cgroups not
 * kvmcg's written back as they were (restore), rmdir of every directory it lists,
 * deepest first, then the controllers it enabled, disabled. Also what the cgroups of
 * a VM that has exited need. */
int plan_cleanup(const struct vm_state *st, struct plan *p);

#endif
