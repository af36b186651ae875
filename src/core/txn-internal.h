/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the files of the transaction layer share; nothing outside src/core/ includes
 * it. txn.c runs the transaction, place.c decides where the VM's cgroups go,
 * record.c keeps the undo record across it, collect.c cleans up after VMs that
 * have exited, memory.c and iotune.c are the memory and I/O steps of a pin. */
#ifndef KVMCG_TXN_INTERNAL_H
#define KVMCG_TXN_INTERNAL_H

#include "core/txn.h"
#include "exec/exec.h"
#include "kernel/cgroupfs.h"
#include "plan/layout.h"
#include "plan/observe.h"
#include "plan/record.h"

/* The VM's tree in one v1 hierarchy for one run (core/v1tree.c); mount NULL: none
 * (then nothing else is set, and dirs.mount_fd is not an fd). */
struct v1_tree_run {
	char *mount;               /* that hierarchy's mount point */
	char *vm_dir;              /* the VM's directory there, relative to it */
	struct cg_dircache dirs;   /* owns its mount_fd */
	struct dir_states states;  /* the root and each cgroup down to vm_dir (a pin's) */
	char **thread_cgroups;     /* each of the VM's threads' cgroup there, by index */
	size_t n_threads;
};
void txn_v1tree_done(struct v1_tree_run *t);
void txn_v1trees_done(struct v1_tree_run t[V1_TREE_N]);

struct place {
	struct cgroup_host host;
	int mount_fd;
	enum layout_kind kind;
	char *cgroup_root;   /* --cgroup-root relative to the mount */
	char *vm_dir;        /* relative to the mount */
	char *owned;         /* kvmcg's own cgroups a thread may be found in (layout_owned_root) */
	char **adopted;      /* directories of an earlier pin whose record is gone, now ours */
	size_t n_adopted;
	struct idset *effective_cpus, *effective_mems; /* what the VM's cgroups may use */
	struct v1_tree_run v1[V1_TREE_N]; /* txn_v1trees_prepare(); [V1_TREE_NONE] unused */
};

/* The v1 trees (core/v1tree.c), on a v1 or hybrid host, each in the v1 hierarchy of
 * its controller (cgroupfs.h enum v1_tree).
 * txn_v1tree_mounted: the backend is v1 and a v1 hierarchy carries tree's controller
 *   (plan_host.v1_mounted); *ret_rt_group (may be NULL; cpu only): it has real-time
 *   group scheduling (plan_host.v1_rt_group).
 * txn_v1trees_prepare: for each tree the pin's tune asks something of ([CPU]
 *   bandwidth; [IO]), or whose record has it already: opens that hierarchy (the
 *   record's mount, checked), names the VM's directory there (the record's, or
 *   layout_v1tree_dir), reads what is there and each thread's cgroup there into
 *   pl->v1[tree], and points h->v1[tree] at them. 0 (nothing done when no tree is
 *   needed), or a negative errno with a sentence in err_get().
 * txn_v1trees_origins: each tree's record (mount, directory) when it has none yet,
 *   and each thread's origin there, for the origins that have none: where it is now,
 *   unless that is in a kvmcg/ tree (then the main thread's, or the root). -ENOMEM.
 * txn_v1tree_open_record, txn_v1trees_open_record: a record's tree (each of them),
 *   its mount checked as txn_open_record_mount checks the cpuset one (-EPERM with a
 *   sentence in err_get()); t->mount NULL when the record has none.
 * txn_v1trees_exec: an executor's v1_dirs (and, with verify, v1_vm_dir) from them.
 * txn_v1trees_release: txn_shared_release for the record's trees (kvmcg/ there); the
 *   first error, and the first warning. */
bool txn_v1tree_mounted(const struct txn_env *env, enum pin_backend backend, enum v1_tree tree, bool *ret_rt_group);
int txn_v1trees_prepare(const struct txn_env *env, const struct vm *vm, struct place *pl, const struct vm_state *prev,
			const struct vm_tune *tune, struct plan_host *h);
int txn_v1trees_origins(struct vm_state *st, const struct vm *vm, const struct place *pl);
int txn_v1tree_open_record(const struct txn_env *env, const struct vm_state *st, enum v1_tree tree,
			   struct v1_tree_run *t);
int txn_v1trees_open_record(const struct txn_env *env, const struct vm_state *st, struct v1_tree_run t[V1_TREE_N]);
void txn_v1trees_exec(struct exec_ctx *ex, struct v1_tree_run t[V1_TREE_N], bool verify);
int txn_v1trees_release(const struct txn_env *env, int state_fd, const struct vm_state *st, char **ret_warning);

/* What of this run's plan the record must list, so that unpin (or the collection
 * after the VM exits) removes it:
 *   PLANNED   everything the plan may create, before it runs (a crash of kvmcg
 *             midway leaves nothing unrecorded)
 *   DONE      what it created, after a successful run
 *   LEFT      what a rollback could not remove */
enum which { PLANNED, DONE, LEFT };

/* The memory step of a pin whose request has a memory policy (core/memory.c):
 * txn_memory_before() measures the VM while its lock is held and before anything is
 * written; txn_memory_check() refuses (exit 2) when the nodes lack the free memory
 * or free huge pages for what would move there, unless force; txn_memory_place() measures it
 * after the run, moves what the policy moves (strict: what is still on other nodes;
 * interleave: spread over the nodes; preferred: onto them where there is room),
 * measures again, adds a sentence to res->message and returns the exit code: 1 when
 * strict has less than MEM_STRICT_SHARE on the nodes. */
int txn_memory_before(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		      struct pin_result *res);
/* After the plan checked the nodes (they exist, have memory, are kvmcg's to use):
 * EXIT_OK, or the refusal for room. */
int txn_memory_check(const struct txn_env *env, const struct vm *vm, const struct tune_request *req, bool force,
		     struct pin_result *res);
/* launch: PIN_LAUNCHED measures (strict: moves what is elsewhere) but never spreads;
 * the caller skips this step for PIN_HELD. */
int txn_memory_place(const struct txn_env *env, const struct vm *vm, const struct tune_request *req,
		     enum pin_launch launch, struct pin_result *res, int rc);

/* Notes in the record where the VM's memory is before this pin moves it, when no
 * earlier pin did (unpin --migrate-back returns it there). 0 or -ENOMEM. */
int txn_memory_origin(struct vm_state *st, const struct mem_report *m);
/* After an unpin of a VM whose record had memory nodes: where its pages are, said in
 * res->message; with migrate_back, first moved back to the record's memory origin.
 * Returns rc, or 1 when moving them failed. */
int txn_memory_unpin(const struct txn_env *env, const struct vm *vm, const struct vm_state *st, bool migrate_back,
		     struct pin_result *res, int rc);

/* The I/O step of a pin (core/iotune.c), on a host that carries [IO]: the request's
 * io settings with each path resolved to its whole disk and "auto" to the VM's local
 * disks, into *ret (iotune_done). A path with no block device under it (a file on
 * tmpfs, overlay, NFS), or "auto" for a VM with no local disk, goes into
 * res->skipped with the reason, as does DeviceWeight= for a disk with neither BFQ nor
 * iocost (the kernel refuses it); Weight= on such a VM disk is warned about; both say
 * the commands that make a weight count. A relative disk path of the command line is
 * the file QEMU holds open by that name. cgroup_root_fd: the v2 mount, for
 * io.cost.qos. 0; -EINVAL with a sentence when two settings give one disk two values
 * (two paths to one disk, or a path and auto); -ENOMEM. */
int txn_iotune_resolve(const struct txn_env *env, const struct vm *vm, int cgroup_root_fd,
		       const struct tune_request *req, struct iotune *ret, struct pin_result *res);
/* On v1 (the blkio tree), after txn_iotune_resolve: a Weight= is carried only by the
 * lines it gave the VM's BFQ disks, since v1 has no iocost and BFQ's default
 * (blkio.bfq.weight) would drop every disk's own weight (plan/blkiotune.c); t->weight
 * is cleared, and when no disk of the VM took it, Weight= goes into res->skipped with
 * the reason. 0 or -ENOMEM. */
int txn_iotune_v1_default(struct iotune *t, struct pin_result *res);

/* The network step of a pin (core/nettune.c): the VM's taps as observed, an
 * rtnetlink socket in the VM's network namespace, the plan (plan/nettune.h) and how
 * many of its steps took effect. */
#include "plan/nettune.h"
struct txn_net {
	struct rtnl *rtnl;
	struct net_obs obs;
	struct net_plan plan;
	size_t done;
};
void txn_net_done(struct txn_net *n);
/* Reads the VM's taps (vmm/taps.h) in its network namespace and plans from what the
 * record st says is kvmcg's, had (the shaping the record had; NULL: none) and want
 * (NULL: remove kvmcg's shaping) into ret. Probes the kernel's tc support (a
 * throwaway IFB device in the VM's namespace) only when outbound shaping is to be
 * made. Settings that cannot be carried out go to res->skipped (no tap matches:
 * "[Network] (pid N holds no tap ...)"), warnings to res->warnings. 0; -EBUSY when
 * an operator's qdisc is in the way without force (err_get() names it); another
 * -errno with err_get() saying what could not be read. */
int txn_net_prepare(const struct txn_env *env, const struct vm *vm, const struct vm_state *st,
		    const struct nettune *want, const struct nettune *had, bool force, struct txn_net *ret,
		    struct pin_result *res);
/* Carries the plan out in order; n->done counts the steps that took effect. 0, or the
 * failed step's -errno with *ret_failed saying which (caller frees). */
int txn_net_execute(struct txn_net *n, char **ret_failed);
/* Undoes the steps that took effect, newest first. 0, or -EBUSY when one could not
 * be undone. */
int txn_net_rollback(struct txn_net *n);
/* st->net := prev less what n's done steps removed, plus what they (planned: all of
 * the plan's steps) added. 0 or -ENOMEM. */
int txn_net_record(struct vm_state *st, const struct net_change *prev, size_t n_prev, const struct txn_net *n,
		   bool planned);
/* Removes every network change st records (unpin; the cleanup after the VM exited:
 * pid is then 0), each in its namespace, found by its inode (the VM's while it lives,
 * /run/netns, any process); a namespace that is gone took its devices with it.
 * st->net keeps what could not be removed. Notes (an operator's qdisc put back
 * without its filters; one left because it is not kvmcg's any more) go to notes.
 * 0; -EBUSY with *ret_failed (caller frees) when something is left; -ENOMEM. */
int txn_net_undo(const struct txn_env *env, pid_t pid, struct vm_state *st, char ***notes, size_t *n_notes,
		 char **ret_failed);

__attribute__((format(printf, 3, 4))) int txn_fail(struct pin_result *res, int code, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void txn_warn(struct pin_result *res, const char *fmt, ...);
/* "a, b, c" of a list, or NULL when out of memory. */
char *txn_joined(char *const *v, size_t n, const char *sep);
/* The VM's main thread (tid == pid) as discovery read it, or NULL. */
const struct vm_thread *txn_main_thread(const struct vm *vm);
void txn_place_done(struct place *p);
int txn_find_place(const struct txn_env *env, const struct vm *vm, const struct pin_args *a, const struct vm_state *prev,
		      int state_fd, struct place *p, struct pin_result *res);
int txn_add_origins(struct vm_state *st, const struct vm *vm, const struct place *pl);
int txn_add_created(struct vm_state *st, const char *dir);
int txn_add_enabled(struct vm_state *st, const char *dir, const char *value);
int txn_record_build(const struct vm_state *base, const struct vm_tune *tune, const struct plan *plan,
			const struct undo_log *log, const struct place *pl, enum which which, struct vm_state *ret);
int txn_open_record_mount(const struct txn_env *env, const struct vm_state *st, int *ret_fd);
int txn_keep_remaining(struct vm_state *st, const struct plan *p, const struct undo_log *log);
int txn_cleanup_record(const struct txn_env *env, int mount_fd, struct vm_state *st);
void txn_collect_and_warn(const struct txn_env *env, int state_fd, const struct vm *vm, struct pin_result *res);

/* Cgroups no single VM owns (state/shared.h; shared.c). txn_action_shared: whether
 * a of a pin's plan changes one (a directory made above the VM's directory, a
 * controller enabled there; not the VM's own cgroup of an in-place tree).
 * txn_shared_note: before the run, under the shared lock, the plan's such changes
 * join the host's list. txn_shared_settle: after the run (or its rollback), those not
 * in effect (not carried out, found done already, undone) leave it again.
 * txn_shared_settle marks those in effect done (a directory with its inode).
 * txn_shared_release: after vm_dir (a record's, checked) went, takes the shared
 * lock (waiting up to timeout_ms) and takes back, deepest first, every done change
 * on the way from mount's root down to vm_dir that no cgroup needs any more (a
 * directory, still the one kvmcg made, with no child cgroup; a controller no child
 * relies on: cg_controller_in_use); a planned one (its run was killed) is dropped
 * untouched. What it could not take back stays listed, and *ret_warning says why
 * (caller frees). 0, or the first negative errno: something kvmcg made is left. */
bool txn_action_shared(const struct action *a, const struct place *pl);
int txn_shared_note(int state_fd, const struct plan *p, const struct place *pl);
int txn_shared_settle(int state_fd, const struct plan *p, const struct undo_log *log, const struct place *pl);
int txn_shared_release(const struct txn_env *env, int state_fd, const char *mount, int mount_fd, const char *vm_dir,
		       int timeout_ms, char **ret_warning);

#endif
