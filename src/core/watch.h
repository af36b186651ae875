/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg watch's state and decisions: the policies of a directory, the QEMU processes
 * it has seen, and what each process event, policy change or reconcile does to them.
 * It owns no file descriptor of the event sources and never waits: the caller
 * (cli/cmd-watch.c) reads the process events connector (kernel/proc-events.h), the
 * directory's inotify and the signals, hands each event here, and calls
 * watch_run_due() when watch_next_due() says. It prints nothing: every event is
 * told to the caller's say() callback as one sentence.
 *
 * Which process events matter, and what they cost (an unrelated process pays for a
 * lookup in a sorted array of the pids it knows, and an exec for one readlinkat(2)
 * of /proc/PID/exe):
 *   EXEC of an executable named like QEMU (vmm/qemu-argv.h qemu_is_qemu_name()):
 *        a candidate, tried at once and again with a growing delay until its vCPUs
 *        can all be identified, then matched against the policies and, when one
 *        matches, pinned as apply does (core/txn.h pin_vm()).
 *   FORK of a candidate's or managed VM's process (QEMU -daemonize forks the VM
 *        from the exec'd process): the child is a candidate too.
 *   FORK of a thread in a managed VM: tried again after WATCH_THREAD_DELAY_MS
 *        (several new threads, one pin); COMM of one of its threads to a name that
 *        makes it a vCPU or iothread ("CPU 3/KVM", QEMU's debug-threads;
 *        qemu/system/cpus.c): tried at once. A pin whose plan is empty changes
 *        nothing.
 *   EXIT of a known process: forgotten; a managed VM's cgroups and record are
 *        removed (core/txn.h pin_collect_stale()) once all its threads have exited,
 *        waiting at most WATCH_EXIT_WAIT_MS (the leader's exit comes first).
 * A VM that no policy matches is remembered as such and never touched, until the
 * policies change. */
#ifndef KVMCG_WATCH_H
#define KVMCG_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/txn.h"
#include "kernel/proc-events.h"
#include "tune/policy-dir.h"

/* After a new thread of a managed VM appears, how long to wait for more before
 * pinning (QEMU starts a hot-plugged vCPU's thread and names it at once; its
 * thread pool starts workers in bursts). */
#define WATCH_THREAD_DELAY_MS 20
/* After a managed VM's leader exited, how long to wait for its other threads to leave
 * its cgroups before removing them (kernel/procfs.h proc_wait_group_exit()); what is
 * still busy after it is said, and the next reconcile tries again. */
#define WATCH_EXIT_WAIT_MS 2000
/* A candidate is tried again after 10, 20, 40 ... ms, at most this far apart, for
 * at most WATCH_CANDIDATE_GIVE_UP_MS; then the reconcile takes it up. */
#define WATCH_RETRY_MAX_MS 1000
#define WATCH_CANDIDATE_GIVE_UP_MS 30000

enum watch_level { WATCH_INFO, WATCH_WARNING, WATCH_ERROR };

/* What happened, for the log (the "event" key of --log-format json). */
enum watch_event {
	WATCH_EV_START,     /* the daemon started: policies and VMs found */
	WATCH_EV_POLICY,    /* a policy file read, changed, removed, or broken */
	WATCH_EV_PINNED,    /* a VM pinned for the first time by this daemon */
	WATCH_EV_REPAIRED,  /* a managed VM's drift put back (what was found, what was set) */
	WATCH_EV_UNCHANGED, /* nothing to do (only for verbose logs) */
	WATCH_EV_FAILED,    /* a pin that did not work */
	WATCH_EV_IGNORED,   /* a VM no policy matches: never touched */
	WATCH_EV_EXITED,    /* a managed VM exited: its cgroups and record removed */
	WATCH_EV_LOST,      /* the kernel dropped events: everything rescanned */
	WATCH_EV_RECONCILE, /* a periodic rescan ended */
};
const char *watch_event_name(enum watch_event e);

struct watch_report {
	enum watch_level level;
	enum watch_event event;
	pid_t pid;          /* 0 when not about one VM */
	const char *vm;     /* the VM's name; may be NULL */
	const char *policy; /* the policy file; may be NULL */
	const char *message;
};
typedef void (*watch_say_fn)(const struct watch_report *r, void *userdata);

struct watch_config {
	const char *policy_dir;
	bool trust;           /* policy files must be root's (policy_dir_load()) */
	int lock_timeout_ms;  /* how long a pin waits for another run on the same VM */
	bool verbose;         /* also say "unchanged" */
	watch_say_fn say;
	void *userdata;
};

struct watch;

/* A watch over env (which, with cfg's strings, must outlive it). 0 and *ret, or
 * -ENOMEM. Reads nothing yet: watch_load_policies(), then watch_reconcile(). */
int watch_new(const struct txn_env *env, const struct watch_config *cfg, struct watch **ret);
void watch_free(struct watch *w);

/* (Re)reads the policy directory. A file with errors is said in check's
 * "FILE:LINE:COL: error: ..." form and its last good version (by path) stays in
 * force, so its VMs keep their policy; a file that is gone is dropped, and the
 * VMs it managed keep their pins and are no longer managed (said). Every VM is
 * then matched again at the next reconcile, which the caller should run now. 0, or
 * -errno when the directory itself cannot be read (said; the policies in force
 * stay). */
int watch_load_policies(struct watch *w);

/* Every VM on the host: each that a policy matches is pinned (a repair is said with
 * what was found and what was set), the others remembered as unmatched; the
 * records of VMs that have exited collected. why ("start", "interval", "lost
 * events", "policy change") is said at the end with the counts. 0 or -errno (the
 * process list could not be read). */
int watch_reconcile(struct watch *w, const char *why);

/* One process event. Cheap for processes the watch does not know (see above). */
void watch_on_event(struct watch *w, const struct proc_ev *ev);

/* The CLOCK_MONOTONIC time (ns, util.h now_ns()) of the earliest pending try, or
 * UINT64_MAX when nothing is pending. */
uint64_t watch_next_due(const struct watch *w);
/* Runs every try due by now_ns. */
void watch_run_due(struct watch *w, uint64_t now_ns);

/* For discover_opts.qmp_wanted (vmm/discover.h), data the watch: whether a policy in
 * force matches vm by what is known before its monitor is asked (its command line),
 * so that a reconcile talks only to the monitors of VMs it may pin, as apply does. */
bool watch_wants_qmp(const struct vm *vm, void *data);

/* How many VMs it manages, and how many processes it knows (candidates, managed
 * and unmatched), for tests and the start message. */
size_t watch_n_managed(const struct watch *w);
size_t watch_n_known(const struct watch *w);

#endif
