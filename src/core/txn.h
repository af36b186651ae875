/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One VM's transaction: lock its record, decide where its cgroups go, read what is in
 * place, plan, record what will change, execute, verify, record what did. Used by
 * pin, unpin and apply alike. Prints nothing: the commands report. */
#ifndef KVMCG_PIN_H
#define KVMCG_PIN_H

#include <stdbool.h>

#include "kernel/cgroupfs.h"
#include "kernel/host.h"
#include "vmm/discover.h"
#include "plan/layout.h"
#include "plan/plan.h"
#include "vmm/memory.h"

/* What a transaction needs of the process around it: the proc root it reads threads
 * through (O_PATH|O_DIRECTORY, under --sysroot in tests), the host's online CPUs and
 * nodes, and how VMs are discovered (vm_refresh_threads, vm_check_identity). The
 * caller owns all three; they outlive the call. */
struct txn_env {
	int proc_fd;
	int sys_fd; /* /sys: the nodes' free memory, for a pin that moves memory */
	const struct host *host;
	const struct discover_opts *discover;
	/* The cgroup hierarchy to use, as the caller detected it (kvmcg watch: at each
	 * reconcile), instead of reading /proc/self/mountinfo for every pin; NULL: read. */
	const struct cgroup_host *cgroup_host;
	/* Do not log the changes to syslog (--no-syslog): pin_vm() and unpin_vm() log
	 * each change they make (basic/audit.h) unless this is set. */
	bool no_syslog;
};

/* The outcome of one VM's transaction, as the JSON "result" key names it
 * (txn_result_name). */
enum txn_result {
	TXN_NONE,      /* not run (apply: a VM whose dry run failed is not run for real) */
	TXN_APPLIED,   /* done */
	TXN_UNCHANGED, /* nothing to do */
	TXN_DRY_RUN,   /* planned, nothing changed */
	TXN_PARTIAL,   /* done, but settings were not carried out, or cleanup is left */
	TXN_FAILED,    /* not done; what was done is undone */
	TXN_PLANNED,   /* apply: planned, the real run still to come */
	TXN_CONFLICT,  /* apply: two policies match the VM; left alone */
};
/* "applied", "unchanged", "dry-run", "partial", "failed", "planned", "conflict";
 * "none" for TXN_NONE. */
const char *txn_result_name(enum txn_result r);
/* Whether a run ended as asked: applied, unchanged, dry-run or partial. */
bool txn_result_ok(enum txn_result r);

/* How long a run waits for another run on the same VM, by default. */
#define PIN_LOCK_TIMEOUT_MS 5000

/* Where the VM is in its life, for kvmcg run's two pins: the VM was running before
 * kvmcg came (pin, apply), or run started it. */
enum pin_launch {
	PIN_RUNNING,
	/* run's first pin: the process is run's child, held before it executes QEMU
	 * (kernel/spawn.h; vmm vm_held_child()). Its cgroup, its affinity (the
	 * emulator's) and cpuset.mems are set, so QEMU's first thread and page obey them;
	 * the memory check refuses nodes too small for the guest RAM the command line
	 * gives; nothing is measured or moved. */
	PIN_HELD,
	/* run's second pin, once QEMU's monitor is up and the guest has not run: every
	 * thread is placed; the memory is measured (and, strict, whatever is on other
	 * nodes moved), never spread: the process's own memory policy, set before QEMU
	 * started, holds for every page to come. */
	PIN_LAUNCHED,
};

/* The request, from the command line or a policy, and how to carry it out. */
struct pin_args {
	struct tune_request req;
	bool dry_run;
	bool affinity_only;
	const char *cgroup_root;
	const char *policy;  /* the policy file the request came from (pin --policy FILE, apply, run,
			      * watch), for the audit line; NULL: none */
	int lock_timeout_ms; /* 0: PIN_LOCK_TIMEOUT_MS; <0: do not wait */
	const char *command; /* "pin", "apply", "run", "watch": who holds the lock, for others to
			      * read, and the command of the audit line */
	/* The VM comes identified, its threads unread (vmsel.h vmsel_identify()): they
	 * are read once, after the VM's lock is taken, with env->discover (vmsel.h
	 * vmsel_read_threads()). Else they were read before and are re-read then. */
	bool threads_unread;
	/* Go on when the target nodes look too small for the VM (free memory, free huge
	 * pages): --force. */
	bool force;
	enum pin_launch launch;
	/* Leave other VMs' stale records alone: the caller collects them itself
	 * (kvmcg watch, at each exit and reconcile), not every pin. */
	bool no_collect;
	/* The pin is for threads born since the VM was last pinned (kvmcg watch, after a
	 * thread event): with the same pins, its audit line names the threads it placed
	 * rather than saying that what someone changed was put back. */
	bool new_threads;
	/* kvmcg watch: the change time of the policy file the request comes from
	 * (tune/policy.h policy.changed). The VM is left alone when kvmcg unpin marked
	 * it at or after that time (state.h state_unmanaged_since()), judged once the
	 * VM's lock is held, so that an unpin that ran meanwhile is never undone;
	 * res->left_alone says so. NULL: not asked. */
	const struct timespec *unless_unpinned_since;
	/* kvmcg apply: a pin that succeeds ends what kvmcg unpin asked of a running
	 * watch (state_unmanaged_clear(), under the VM's lock): the VM's policy is in
	 * force again, and the watch keeps it so. */
	bool ends_unpinned;
};
void pin_args_done(struct pin_args *a);

/* What a pin with a memory policy found and did: the VM's memory per node before the
 * pin wrote anything and after it, after the pages were moved (strict: those left on
 * other nodes; interleave: spread over the nodes; preferred: to the nodes). */
struct mem_report {
	enum mem_policy policy;  /* MEM_POLICY_UNSET: nothing was measured */
	struct idset *nodes;     /* the nodes the request holds the VM to */
	bool no_migrate;         /* --no-migrate: the pages were to stay */
	struct vm_memory before, after;
	long not_moved;          /* pages migrate_pages could not move; -1: not asked */
	bool spread_done;        /* spread: move_pages's count, page by page */
	struct mem_spread_stats spread;
	double share;            /* after: guest RAM and other memory on nodes, of all of it */
};
void mem_report_done(struct mem_report *m);
/* Bytes moved, as measured: what each node gained between before and after, summed
 * (whatever moved them: a cpuset.mems write, migrate_pages, move_pages). */
uint64_t mem_report_moved(const struct mem_report *m);
/* The share strict needs, of the VM's resident guest RAM and other anonymous
 * memory, on the nodes asked (file-backed pages are not counted). */
#define MEM_STRICT_SHARE 0.99

struct pin_result {
	enum txn_result result;
	int exit_code;
	char *message;  /* the summary, or why it failed */
	char *problem;  /* with "partial": what was not done, for stderr */
	char **warnings; /* to say on stderr, each one line */
	size_t n_warnings;
	enum pin_backend backend;
	bool not_pinned; /* unpin: kvmcg had not pinned the VM (no mode to report) */
	bool left_alone; /* pin with unless_unpinned_since: unpinned by hand, nothing was done */
	pid_t watcher;   /* unpin: the kvmcg watch that runs (0: none) ... */
	int watcher_told; /* ... and 0 when it was told to leave the VM alone, else a negative errno */
	enum layout_kind layout;
	char *mount;
	char *vm_dir;
	struct plan plan;     /* what was (or would be) done */
	struct vm_tune tune; /* the pin the VM has (or would have) */
	char **skipped;       /* settings not carried out, by name */
	size_t n_skipped;
	char **net_steps;     /* the tc steps on the VM's taps (plan/nettune.h), one line each */
	size_t n_net_steps;
	struct mem_report memory;
};
void pin_result_done(struct pin_result *r);

/* Pins vm as a asks; returns the exit code, also in res->exit_code:
 *   0  done, or nothing to do
 *   1  failed, everything done was undone (or another run holds the VM's lock)
 *   2  the request cannot work here (checked before anything is written)
 *   3  partly: the VM exited meanwhile (undone), a setting was not carried out, or
 *      what could not be undone is kept in the record for the next run
 * The VM's threads are re-read once its lock is held. A run that changed the VM (not
 * a dry run, nothing to do, or a failure fully undone; nor run's first pin, PIN_HELD)
 * is logged as one line to syslog (basic/audit.h: a->command, a->policy, the change
 * from the record's tune before to the new one), unless env->no_syslog. */
int pin_vm(const struct txn_env *env, struct vm *vm, const struct pin_args *a, struct pin_result *res);

/* Undoes kvmcg's pin of vm: every thread back in the cgroup, affinity and scheduling
 * class it had before the first pin, kvmcg's cgroups removed. Its pages stay where
 * they are (measured and said when it had memory nodes), or with migrate_back go
 * back to the nodes they were on before kvmcg first moved them, in the same
 * proportions (move_pages(2)). Exit codes as pin_vm; "unchanged" when kvmcg has not
 * pinned it. Once every thread is back, logged to syslog as pin_vm() logs ("unpin",
 * each of the record's pins to none). When it succeeds and a kvmcg watch runs, the
 * watch is told to leave the VM alone (state.h state_unmanaged_set(); res->watcher,
 * res->watcher_told) before the VM's lock is released, so that the watch's next pin,
 * which waits for that lock, sees it (pin_args.unless_unpinned_since). */
int unpin_vm(const struct txn_env *env, struct vm *vm, int lock_timeout_ms, bool migrate_back, struct pin_result *res);

/* Removes the cgroups and records of pinned VMs that have exited; returns how many
 * records went, or a negative errno. Records kvmcg refuses (untrusted, damaged) are
 * left alone, and cgroups that cannot be removed yet stay in their record; each is
 * one sentence in *ret_problems when given (NULL-terminated; those of the second kind
 * begin "pid N has exited"). A record whose file name names a VM that is alive is
 * not read (state.h state_load_some()), so a damaged one is said by that VM's own
 * runs, not by every run on the host. */
int pin_collect_stale(const struct txn_env *env, int state_fd, char ***ret_problems);

#endif
