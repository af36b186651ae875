// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "kernel/procfs.h"
#include "plan/layout.h"
#include "state/state.h"
#include "tune/policy-match.h"
#include "vmm/qemu-argv.h"

enum entry_state {
	E_CANDIDATE, /* a QEMU not placed yet: tried until identifiable */
	E_MANAGED,   /* a policy matches it and this watch pinned it */
	E_UNMATCHED, /* no policy matches (or two do): never touched */
	E_GONE,      /* gone before its exit event came (its exec event was read after
		      * it exited, or a try found it gone): never tried, kept until
		      * that event so that a fork it made first (a QEMU daemonizing)
		      * is still looked at */
};

struct entry {
	pid_t pid;
	enum entry_state state;
	uint64_t due;      /* CLOCK_MONOTONIC ns of the next try; UINT64_MAX: none */
	uint64_t first_ns; /* when its current series of tries began */
	unsigned tries;
	char *policy;      /* the managing policy's path (E_MANAGED) */
	char *name;        /* the VM's name, for the line that says it exited */
	uint64_t starttime;
	bool hands_off;    /* unpinned by hand: left alone (said once) */
	uint64_t trigger_ns; /* the kernel's time (CLOCK_MONOTONIC) of the newest thread
			      * event that made a try due; 0: none (a reconcile) */
	unsigned fails;    /* pins that failed in a row: tried again at most
			    * WATCH_FAIL_RETRIES times, then left to the reconcile */
	bool conflict;     /* left alone for an Exclusive= clash (said once): tried
			    * again at each reconcile, exit of a VM, policy change */
	bool said_ignored; /* "no policy matches it" was said */
	bool policy_changed; /* its policy file changed since its last pin */
};

/* What a policy file was when last read, to tell which ones changed. */
struct file_sig {
	char *path;
	struct timespec mtime;
	off_t size;
	ino_t ino;
};

struct watch {
	const struct txn_env *env; /* &own */
	struct txn_env own;        /* the caller's, with the hierarchy below */
	struct cgroup_host cg_host; /* detected at each reconcile (own.cgroup_host) */
	struct watch_config cfg;
	struct policy_file *pol; /* in force: each file's last good version */
	size_t n_pol;
	struct entry *e; /* sorted by pid */
	size_t n, cap;
	struct file_sig *sigs;
	size_t n_sigs;
};

static const char *const event_names[] = {
	[WATCH_EV_START] = "start",       [WATCH_EV_POLICY] = "policy",
	[WATCH_EV_PINNED] = "pinned",     [WATCH_EV_REPAIRED] = "repaired",
	[WATCH_EV_UNCHANGED] = "unchanged", [WATCH_EV_FAILED] = "failed",
	[WATCH_EV_IGNORED] = "ignored",   [WATCH_EV_EXITED] = "exited",
	[WATCH_EV_LOST] = "lost-events",  [WATCH_EV_RECONCILE] = "reconcile",
};

const char *watch_event_name(enum watch_event e)
{
	return (unsigned)e < sizeof(event_names) / sizeof(event_names[0]) ? event_names[e] : NULL;
}

__attribute__((format(printf, 7, 8))) static void say(const struct watch *w, enum watch_level level,
						      enum watch_event event, pid_t pid, const char *vm,
						      const char *policy, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = vformat(fmt, ap);
	va_end(ap);
	struct watch_report r = {.level = level, .event = event, .pid = pid, .vm = vm, .policy = policy,
				 .message = msg ? msg : "(out of memory: a message was lost)"};
	if (w->cfg.say)
		w->cfg.say(&r, w->cfg.userdata);
}

int watch_new(const struct txn_env *env, const struct watch_config *cfg, struct watch **ret)
{
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->own = *env;
	w->env = &w->own;
	w->cfg = *cfg;
	*ret = w;
	return 0;
}

static void entry_done(struct entry *e)
{
	free(e->policy);
	e->policy = NULL;
	free(e->name);
	e->name = NULL;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		entry_done(&w->e[i]);
	free(w->e);
	policy_dir_free(w->pol, w->n_pol);
	cgroup_host_done(&w->cg_host);
	for (size_t i = 0; i < w->n_sigs; i++)
		free(w->sigs[i].path);
	free(w->sigs);
	free(w);
}

size_t watch_n_managed(const struct watch *w)
{
	size_t k = 0;
	for (size_t i = 0; i < w->n; i++)
		k += w->e[i].state == E_MANAGED;
	return k;
}

size_t watch_n_known(const struct watch *w)
{
	return w->n;
}

/* ---- the table of known processes, sorted by pid --------------------------------- */

/* The index of pid, or where it would go (*found false). */
static size_t entry_pos(const struct watch *w, pid_t pid, bool *found)
{
	size_t lo = 0, hi = w->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->e[mid].pid == pid) {
			*found = true;
			return mid;
		}
		if (w->e[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct entry *entry_find(struct watch *w, pid_t pid)
{
	bool found;
	size_t i = entry_pos(w, pid, &found);
	return found ? &w->e[i] : NULL;
}

/* The entry of pid, made a fresh candidate when new (or when what it held was a
 * process gone since: the pid is used again). NULL: out of memory. */
static struct entry *entry_add(struct watch *w, pid_t pid, uint64_t due)
{
	bool found;
	size_t i = entry_pos(w, pid, &found);
	if (found && w->e[i].state == E_GONE) {
		entry_done(&w->e[i]);
		w->e[i] = (struct entry){.pid = pid, .state = E_CANDIDATE, .due = due, .first_ns = now_ns()};
	}
	if (found)
		return &w->e[i];
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct entry *v = reallocarray(w->e, cap, sizeof(*v));
		if (!v)
			return NULL;
		w->e = v;
		w->cap = cap;
	}
	memmove(&w->e[i + 1], &w->e[i], (w->n - i) * sizeof(*w->e));
	w->n++;
	w->e[i] = (struct entry){.pid = pid, .state = E_CANDIDATE, .due = due, .first_ns = now_ns()};
	return &w->e[i];
}

static void entry_remove(struct watch *w, pid_t pid)
{
	bool found;
	size_t i = entry_pos(w, pid, &found);
	if (!found)
		return;
	entry_done(&w->e[i]);
	memmove(&w->e[i], &w->e[i + 1], (w->n - i - 1) * sizeof(*w->e));
	w->n--;
}

/* Schedules a try at t (or keeps an earlier one); a new series of tries starts its
 * give-up clock and back-off. */
static void due_at(struct entry *e, uint64_t t)
{
	if (e->due == UINT64_MAX && e->tries == 0)
		e->first_ns = now_ns();
	if (t < e->due)
		e->due = t;
}

/* A pin that failed (another run held the VM's lock, the VM changed meanwhile) is
 * tried again this many times before the reconcile takes it up. */
#define WATCH_FAIL_RETRIES 3

/* ---- policies --------------------------------------------------------------------- */

static struct policy_file *policy_by_path(struct policy_file *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].path, path))
			return &v[i];
	return NULL;
}

/* Each diagnostic of a broken file as one report, in check's form. */
static void say_diags(const struct watch *w, const struct policy_file *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	diags_print(&f->diags, f->path, m);
	fclose(m);
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* check's prefix for a file it refused: the log has its own */
		const char *text = strncmp(line, "kvmcg: ", 7) ? line : line + 7;
		say(w, WATCH_ERROR, WATCH_EV_POLICY, 0, NULL, f->path, "%s", text);
	}
	free(buf);
}

/* The VM is gone: so goes what kvmcg unpin asked about it. */
static void forget_unpin(struct entry *e)
{
	_cleanup_close_ int dir = state_dir_open(false);
	if (dir >= 0 && e->starttime)
		(void)state_unmanaged_clear(dir, e->pid, e->starttime);
	e->hands_off = false;
}

/* The files that changed since they were last read (or are new): what the next pin
 * of the VMs they manage does is said as the policy's doing. (Whether a VM unpinned
 * by hand is managed again is the policy's change time against the unpin's:
 * state.h state_unmanaged_since().) */
static void note_changes(struct watch *w, const struct policy_file *pol, size_t n)
{
	struct file_sig *sigs = calloc(n ? n : 1, sizeof(*sigs));
	if (!sigs)
		return;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		sigs[i].path = strdup_or_null(pol[i].path);
		if (stat(pol[i].path, &st) == 0)
			sigs[i] = (struct file_sig){sigs[i].path, st.st_mtim, st.st_size, st.st_ino};
		bool same = false;
		for (size_t k = 0; k < w->n_sigs && !same; k++)
			same = w->sigs[k].path && sigs[i].path && !strcmp(w->sigs[k].path, sigs[i].path) &&
			       w->sigs[k].mtime.tv_sec == sigs[i].mtime.tv_sec &&
			       w->sigs[k].mtime.tv_nsec == sigs[i].mtime.tv_nsec && w->sigs[k].size == sigs[i].size &&
			       w->sigs[k].ino == sigs[i].ino;
		if (same)
			continue;
		for (size_t k = 0; k < w->n; k++) {
			if (!w->e[k].policy || strcmp(w->e[k].policy, pol[i].path))
				continue;
			/* what its next pin does is this file's doing */
			w->e[k].policy_changed = true;
		}
	}
	for (size_t i = 0; i < w->n_sigs; i++)
		free(w->sigs[i].path);
	free(w->sigs);
	w->sigs = sigs;
	w->n_sigs = n;
}

int watch_load_policies(struct watch *w)
{
	struct policy_file *pol = NULL;
	size_t n = 0;
	_cleanup_free_ char *why = NULL;
	int r = policy_dir_load(w->cfg.policy_dir, w->cfg.trust, &pol, &n, &why);
	if (r < 0) {
		say(w, WATCH_ERROR, WATCH_EV_POLICY, 0, NULL, NULL, "%s; %s", why ? why : strerror(-r),
		    w->n_pol ? "the policies in force stay" : "no policy is in force");
		policy_dir_free(pol, n);
		return r;
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (pol[i].policy)
			continue;
		say_diags(w, &pol[i]);
		struct policy_file *old = policy_by_path(w->pol, w->n_pol, pol[i].path);
		if (old && old->policy) {
			/* the last good version stays in force */
			pol[i].policy = old->policy;
			old->policy = NULL;
			kept++;
			say(w, WATCH_WARNING, WATCH_EV_POLICY, 0, NULL, pol[i].path,
			    "%s has errors: its last good version stays in force", pol[i].path);
		} else {
			say(w, WATCH_WARNING, WATCH_EV_POLICY, 0, NULL, pol[i].path,
			    "%s has errors: it manages no VM until they are fixed", pol[i].path);
		}
	}
	/* A file that is gone: its VMs keep their pins, and are no longer managed. */
	for (size_t i = 0; i < w->n_pol; i++) {
		if (!w->pol[i].policy || policy_by_path(pol, n, w->pol[i].path))
			continue; /* still there, or never in force (refused, broken) */
		say(w, WATCH_INFO, WATCH_EV_POLICY, 0, NULL, w->pol[i].path,
		    "%s is gone: the VMs it managed keep their pins ('kvmcg unpin' undoes them)", w->pol[i].path);
		for (size_t k = 0; k < w->n; k++)
			if (w->e[k].state == E_MANAGED && w->e[k].policy && !strcmp(w->e[k].policy, w->pol[i].path))
				w->e[k].state = E_UNMATCHED;
	}
	note_changes(w, pol, n);
	policy_dir_free(w->pol, w->n_pol);
	w->pol = pol;
	w->n_pol = n;
	size_t good = 0;
	for (size_t i = 0; i < n; i++)
		good += pol[i].policy != NULL;
	say(w, WATCH_INFO, WATCH_EV_POLICY, 0, NULL, NULL, "%zu policies in force from %s (%zu of them a last good version)",
	    good, w->cfg.policy_dir, kept);
	/* every VM is matched again */
	for (size_t k = 0; k < w->n; k++)
		if (w->e[k].state == E_UNMATCHED)
			w->e[k].state = E_CANDIDATE;
	return 0;
}

bool watch_wants_qmp(const struct vm *vm, void *data)
{
	const struct watch *w = data;
	return policy_dir_may_match(w->pol, w->n_pol, vm, w->env->proc_fd);
}

/* ---- one VM ----------------------------------------------------------------------- */

/* Whether the plan makes directory dir itself (an ACT_MKDIR of it). */
static bool plan_makes(const struct plan *p, const char *dir)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_MKDIR && p->actions[i].dir && dir && !strcmp(p->actions[i].dir, dir))
			return true;
	return false;
}

/* What a pin did, in the words of what it found and what it set, one part per
 * thread and then the cgroups: "vCPU 1 (tid 812): cgroup /kvmcg/a/emulator ->
 * /kvmcg/a/vcpu1, affinity 0-1 -> 0; mkdir kvmcg/a/vcpu1". A directory the plan
 * makes is named once, without the writes that set it up; a write to one that was
 * there is said with its value (someone changed it). vm holds the threads as the pin
 * read them under its lock, before it wrote. */
static char *describe_actions(const struct vm *vm, const struct plan *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m)
		return NULL;
	const char *sep = "";
	for (size_t i = 0; i < p->n_actions; i++) {
		pid_t tid = p->actions[i].tid;
		bool seen = !tid || p->actions[i].kind == ACT_RESCAN;
		for (size_t j = 0; j < i && !seen; j++)
			seen = p->actions[j].tid == tid && p->actions[j].kind != ACT_RESCAN;
		if (seen)
			continue;
		const struct vm_thread *t = vm_find_thread(vm, tid);
		const char *comma = NULL;
		for (size_t k = i; k < p->n_actions; k++) {
			const struct action *a = &p->actions[k];
			if (a->tid != tid || a->kind == ACT_RESCAN)
				continue;
			_cleanup_free_ char *was = NULL, *now = NULL;
			if (a->kind == ACT_SET_AFFINITY) {
				/* set again after a move (a cpuset change may reset it) but
				 * not changed: not news */
				if (t && t->affinity && a->cpus && idset_equal(t->affinity, a->cpus))
					continue;
				was = t && t->affinity ? idset_format(t->affinity) : NULL;
				now = a->cpus ? idset_format(a->cpus) : NULL;
			}
			if (!comma) {
				_cleanup_free_ char *who = vm_thread_label(vm, tid);
				fprintf(m, "%s%s: ", sep, who ? who : "?");
				comma = "";
				sep = "; ";
			}
			if (a->kind == ACT_SET_AFFINITY)
				fprintf(m, "%saffinity %s -> %s", comma, was ? was : "?", now ? now : "?");
			else if (a->kind == ACT_MOVE_THREAD || a->kind == ACT_MOVE_PROCESS)
				fprintf(m, "%scgroup %s -> /%s", comma, t && t->cgroup ? t->cgroup : "?", a->dir ? a->dir : "");
			else if (a->kind == ACT_SET_SCHED)
				fprintf(m, "%sscheduler -> %s", comma, a->value ? a->value : "?");
			else
				fprintf(m, "%s%s", comma, action_kind_name(a->kind));
			comma = ", ";
		}
	}
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		if (a->tid || a->kind == ACT_RESCAN)
			continue;
		if (a->kind == ACT_MKDIR)
			fprintf(m, "%smkdir %s", sep, a->dir ? a->dir : "");
		else if (a->kind == ACT_WRITE && plan_makes(p, a->dir))
			continue;
		else
			fprintf(m, "%s%s %s%s%s%s%s", sep, action_kind_name(a->kind), a->dir ? a->dir : "",
				a->file ? "/" : "", a->file ? a->file : "", a->value ? " " : "", a->value ? a->value : "");
		sep = "; ";
	}
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Whether the pin places a vCPU or iothread that was born after the VM was last
 * pinned: one still in the emulator's cgroup, where a new thread starts (its
 * creator's), moved out of it. A reconcile that runs before the new thread's event
 * is read places it too, and that is no repair. */
static bool places_new_thread(const struct vm *vm, const struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct action *a = &p->actions[i];
		const struct vm_thread *t = a->kind == ACT_MOVE_THREAD ? vm_find_thread(vm, a->tid) : NULL;
		if (!t || (t->kind != THREAD_VCPU && t->kind != THREAD_IOTHREAD) || !t->cgroup)
			continue;
		const char *slash = strrchr(t->cgroup, '/');
		if (slash && !strcmp(slash + 1, LAYOUT_EMULATOR))
			return true;
	}
	return false;
}

/* vm was unpinned by hand (kvmcg unpin) after its policy last changed: left alone
 * until it restarts or its policy changes, said once. Returns true (in hand). */
static bool leave_alone(struct watch *w, struct entry *e, const struct vm *vm, const struct policy_file *pf)
{
	if (!e->hands_off)
		say(w, WATCH_INFO, WATCH_EV_IGNORED, vm->pid, vm->name, pf->path,
		    "unpinned by hand (kvmcg unpin): left alone until it restarts or %s changes", pf->path);
	e->hands_off = true;
	e->trigger_ns = 0;
	e->policy_changed = false;
	free(e->policy);
	e->policy = strdup_or_null(pf->path);
	return true;
}

/* Pins vm with its policy and says what happened. true when the VM is in hand
 * (managed, or failed for good); false to try again later. */
static bool pin_with(struct watch *w, const struct txn_env *env, struct entry *e, struct vm *vm,
		     const struct policy_file *pf)
{
	/* stale records are collected at each exit and reconcile, not every pin */
	struct pin_args a = {.command = "watch", .policy = pf->path, .lock_timeout_ms = w->cfg.lock_timeout_ms,
			     .no_collect = true, .new_threads = e->trigger_ns != 0,
			     .unless_unpinned_since = &pf->policy->changed};
	struct pin_result res = {0};
	int r = policy_to_request(pf->policy, &a.req, &a.req.skipped, &a.req.n_skipped);
	if (r == 0)
		r = pin_vm(env, vm, &a, &res);
	pin_args_done(&a);
	if (r >= 0 && res.left_alone) {
		pin_result_done(&res);
		return leave_alone(w, e, vm, pf);
	}
	bool first = e->state != E_MANAGED;
	bool done = true;
	if (r < 0 || !txn_result_ok(res.result)) {
		/* another run holds the VM's lock, or it changed under us: again soon, a
		 * few times; a request that cannot work here (2) is not tried again */
		done = (r >= 0 && res.exit_code == EXIT_USAGE) || ++e->fails > WATCH_FAIL_RETRIES;
		say(w, WATCH_ERROR, WATCH_EV_FAILED, vm->pid, vm->name, pf->path, "%s%s",
		    res.message ? res.message : (r < 0 ? strerror(-r) : "the pin failed"),
		    done ? "; the reconcile tries again" : "; trying again");
		if (done)
			e->fails = 0;
	} else if (res.result == TXN_UNCHANGED) {
		if (w->cfg.verbose || first)
			say(w, WATCH_INFO, first ? WATCH_EV_PINNED : WATCH_EV_UNCHANGED, vm->pid, vm->name, pf->path,
			    "%s", res.message ? res.message : "unchanged");
	} else {
		_cleanup_free_ char *what = describe_actions(vm, &res.plan);
		char took[80] = "";
		uint64_t t = now_ns();
		if (e->trigger_ns && t > e->trigger_ns)
			snprintf(took, sizeof(took), " (%.3f ms after the kernel's event)", (double)(t - e->trigger_ns) / 1e6);
		/* after a thread event, what the pin did is placing the new threads; after
		 * the policies changed, the new policy; else (a reconcile) it puts back
		 * what someone changed: taskset, or a kvmcg pin by hand */
		bool placed = e->trigger_ns || places_new_thread(vm, &res.plan);
		bool repair = !first && !placed && !e->policy_changed && what && *what;
		const char *prefix = first || !what || !*what ? ""
				     : repair			? "put back (changed by someone else): "
				     : placed			? "placed: "
								: "policy changed: ";
		say(w, res.result == TXN_PARTIAL ? WATCH_WARNING : WATCH_INFO, repair ? WATCH_EV_REPAIRED : WATCH_EV_PINNED,
		    vm->pid, vm->name, pf->path, "%s%s%s%s%s", prefix,
		    first || !what || !*what ? (res.message ? res.message : "pinned") : what, took,
		    res.problem ? "; " : "", res.problem ? res.problem : "");
	}
	e->trigger_ns = 0;
	e->policy_changed = false;
	if (r >= 0 && txn_result_ok(res.result)) {
		e->fails = 0;
		e->state = E_MANAGED;
		free(e->policy);
		e->policy = strdup_or_null(pf->path);
	}
	pin_result_done(&res);
	return done;
}

/* Whether Exclusive=yes is in force for this pin: its own policy says so, or the
 * policy of a VM the watch manages does. */
static bool exclusive_in_play(const struct watch *w, const struct policy_file *pf)
{
	if (pf->policy && pf->policy->exclusive == 1)
		return true;
	for (size_t i = 0; i < w->n_pol; i++)
		if (w->pol[i].policy && w->pol[i].policy->exclusive == 1)
			return true;
	return false;
}

/* Exclusive=yes as apply reads it (cli/cmd-apply.c): a VM whose policy says so shares
 * none of its CPUs with another VM kvmcg pinned (its record says which), and no VM is
 * pinned onto the CPUs of a managed VM whose policy says so. Its CPUs are those a
 * dry run of the pin gives. On a clash the VM is left alone (said once) and true is
 * returned. */
static bool exclusive_clash(struct watch *w, const struct txn_env *env, struct entry *e, struct vm *vm,
			    const struct policy_file *pf)
{
	struct pin_args a = {.command = "watch", .dry_run = true, .no_collect = true};
	struct pin_result res = {0};
	int r = policy_to_request(pf->policy, &a.req, &a.req.skipped, &a.req.n_skipped);
	if (r == 0)
		r = pin_vm(env, vm, &a, &res);
	pin_args_done(&a);
	struct idset *mine _cleanup_cpuset_ = r >= 0 && txn_result_ok(res.result) ? vm_tune_cpus(&res.tune) : NULL;
	pin_result_done(&res);
	if (!mine)
		return false; /* the pin itself says what is wrong */
	_cleanup_close_ int dir = state_dir_open(false);
	struct vm_state *st = NULL;
	size_t n = 0;
	if (dir >= 0)
		(void)state_load_all(dir, &st, &n);
	bool clash = false;
	for (size_t i = 0; i < n && !clash; i++) {
		if (st[i].pid == vm->pid)
			continue;
		const struct entry *o = entry_find(w, st[i].pid);
		const struct policy_file *opf =
			o && o->state == E_MANAGED && o->policy ? policy_by_path(w->pol, w->n_pol, o->policy) : NULL;
		bool theirs = opf && opf->policy && opf->policy->exclusive == 1;
		if (pf->policy->exclusive != 1 && !theirs)
			continue;
		struct idset *cpus _cleanup_cpuset_ = vm_tune_cpus(&st[i].tune);
		struct idset *common _cleanup_cpuset_ = cpus ? idset_intersect(mine, cpus) : NULL;
		if (!common || idset_count(common) == 0)
			continue;
		clash = true;
		if (e->conflict)
			break;
		_cleanup_free_ char *list = idset_format(common);
		say(w, WATCH_ERROR, WATCH_EV_FAILED, vm->pid, vm->name, pf->path,
		    "Exclusive=yes (%s): CPUs %s are also pinned for pid %d (%s)%s%s; left alone until that changes",
		    theirs ? opf->path : pf->path, list ? list : "?", (int)st[i].pid, st[i].name ? st[i].name : "unnamed",
		    opf ? " by " : "", opf ? opf->path : "");
	}
	vm_states_free(st, n);
	e->conflict = clash;
	if (clash)
		e->state = E_UNMATCHED;
	return clash;
}

/* Whether the VM has a vCPU and every vCPU and iothread it should have. */
static bool vm_all_there(const struct vm *vm)
{
	if (!vm_identified(vm))
		return false;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU)
			return true;
	return false;
}

/* Matches and pins one VM discovered with env->discover. Returns false when it
 * should be tried again. */
static bool handle_vm(struct watch *w, const struct txn_env *env, struct entry *e, struct vm *vm)
{
	const struct policy_file *pf, *second;
	int m = policy_dir_match(w->pol, w->n_pol, vm, w->env->proc_fd, &pf, &second);
	if (m == 2) {
		if (e->state != E_UNMATCHED)
			say(w, WATCH_ERROR, WATCH_EV_IGNORED, vm->pid, vm->name, pf->path,
			    "matched by both %s and %s; left alone", pf->path, second->path);
		e->state = E_UNMATCHED;
		return true;
	}
	/* A QEMU still starting may match later: a -daemonize QEMU's parents never
	 * run a vCPU, and its pidfile (PidFile=) is written after it starts. So "no
	 * policy" is judged once its vCPUs are all there (or at the give-up). */
	if (m == 0 && e->state == E_CANDIDATE && !vm_all_there(vm))
		return false;
	if (m == 0) {
		/* said once per VM, not at every reload of the policies */
		if (e->state == E_CANDIDATE && !e->said_ignored)
			say(w, WATCH_INFO, WATCH_EV_IGNORED, vm->pid, vm->name, NULL,
			    "no policy matches it; left alone");
		else if (e->state == E_MANAGED)
			say(w, WATCH_INFO, WATCH_EV_IGNORED, vm->pid, vm->name, e->policy,
			    "no policy matches it any more: it keeps its pins, and is no longer managed");
		e->said_ignored = true;
		e->conflict = false;
		e->state = E_UNMATCHED;
		return true;
	}
	e->starttime = vm->starttime_ticks;
	if (vm->name && (!e->name || strcmp(e->name, vm->name))) {
		free(e->name);
		e->name = strdup_or_null(vm->name);
	}
	/* said here, before the work below; pin_vm() judges it again under the VM's
	 * lock, which an unpin that runs now holds */
	_cleanup_close_ int dir = state_dir_open(false);
	if (dir >= 0 && state_unmanaged_since(dir, vm->pid, vm->starttime_ticks, &pf->policy->changed))
		return leave_alone(w, e, vm, pf);
	e->hands_off = false;
	/* its vCPUs and iothreads must all be known first (a VM still starting) */
	if (!vm_identified(vm))
		return false;
	if (exclusive_in_play(w, pf) && exclusive_clash(w, env, e, vm, pf))
		return true;
	return pin_with(w, env, e, vm, pf);
}

static void vm_gone(struct watch *w, struct entry *e, bool exit_seen);

/* vm_identify() and vm_discover_threads() of the entry's pid with o: 1 and *ret, or
 * 0 when the entry is dealt with (gone: as its exit event would, which may come after
 * a try it scheduled; not a VM after all, an exe named like QEMU without evidence: a
 * candidate left alone; unreadable now: tried again). */
static int discover(struct watch *w, struct entry *e, uint64_t now, const struct discover_opts *o,
		    struct vm **ret)
{
	int r = vm_identify(o, e->pid, ret);
	if (r == -ENOENT || r == -ESRCH || r == 0) {
		if (r == 0 && e->state == E_CANDIDATE)
			e->state = E_UNMATCHED;
		else if (r != 0)
			vm_gone(w, e, false);
		return 0;
	}
	if (r < 0 || vm_discover_threads(o, *ret) < 0) {
		e->due = now + (uint64_t)WATCH_RETRY_MAX_MS * 1000000u;
		return 0;
	}
	return 1;
}

/* Tries pid now: identify, discover, match, pin. */
static void try_pid(struct watch *w, pid_t pid, uint64_t now)
{
	struct entry *e = entry_find(w, pid);
	if (!e)
		return;
	e->due = UINT64_MAX;
	_cleanup_vm_ struct vm *vm = NULL;
	struct discover_opts quick = *w->env->discover;
	struct txn_env env = *w->env;
	/* A managed VM's new thread: its name or kvm fd says what it is, without the
	 * monitor, which an orchestrator may hold (QEMU serves one client at a time:
	 * asking would wait out --qmp-timeout) and which costs a conversation. The
	 * monitor only when that leaves a vCPU or iothread unidentified. */
	if (e->state == E_MANAGED && e->trigger_ns) {
		quick.no_qmp = true;
		quick.qmp_socket = NULL;
		if (!discover(w, e, now, &quick, &vm))
			return;
		if (!vm_identified(vm))
			vm_free(TAKE_PTR(vm));
		else
			env.discover = &quick;
	}
	if (!vm && !discover(w, e, now, w->env->discover, &vm))
		return;
	if (e->state == E_UNMATCHED)
		return;
	if (handle_vm(w, &env, e, vm)) {
		e->tries = 0;
		return;
	}
	/* not yet: again after 10, 20, 40 ... ms, for a while */
	e->tries++;
	if (now - e->first_ns > (uint64_t)WATCH_CANDIDATE_GIVE_UP_MS * 1000000u) {
		const struct policy_file *pf, *second;
		if (policy_dir_match(w->pol, w->n_pol, vm, w->env->proc_fd, &pf, &second) == 0) {
			if (!e->said_ignored)
				say(w, WATCH_INFO, WATCH_EV_IGNORED, vm->pid, vm->name, NULL,
				    "no policy matches it; left alone");
			e->said_ignored = true;
			e->state = E_UNMATCHED;
		} else {
			say(w, WATCH_WARNING, WATCH_EV_FAILED, vm->pid, vm->name, NULL,
			    "its vCPUs could not all be identified in %d s; the reconcile tries again",
			    WATCH_CANDIDATE_GIVE_UP_MS / 1000);
		}
		e->tries = 0;
		return;
	}
	uint64_t ms = 10u << (e->tries < 7 ? e->tries - 1 : 6);
	if (ms > WATCH_RETRY_MAX_MS)
		ms = WATCH_RETRY_MAX_MS;
	e->due = now + ms * 1000000u;
}

uint64_t watch_next_due(const struct watch *w)
{
	uint64_t t = UINT64_MAX;
	for (size_t i = 0; i < w->n; i++)
		if (w->e[i].due < t)
			t = w->e[i].due;
	return t;
}

void watch_run_due(struct watch *w, uint64_t now)
{
	/* by pid, since a try may add or remove entries */
	for (;;) {
		pid_t pid = 0;
		for (size_t i = 0; i < w->n; i++)
			if (w->e[i].due <= now) {
				pid = w->e[i].pid;
				break;
			}
		if (!pid)
			return;
		try_pid(w, pid, now);
	}
}

/* ---- events ----------------------------------------------------------------------- */

/* Whether pid's executable is named like QEMU: 1 or 0, from one readlinkat(2);
 * -ENOENT when the process is gone or a zombie (its mm released: proc_exe_link()
 * finds no file), another -errno when it cannot be told. */
static int exe_qemu(const struct watch *w, pid_t pid)
{
	char path[32], target[PATH_MAX];
	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	ssize_t n = readlinkat(w->env->proc_fd, path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	return qemu_is_qemu_name(target);
}

/* Whether a thread event of the entry's process may make it due. */
static bool entry_watched(const struct entry *e)
{
	return e && e->state != E_UNMATCHED && e->state != E_GONE;
}

/* A managed VM exited: its cgroups and record go. */
static void collect(struct watch *w, pid_t pid, const char *name, const char *policy)
{
	/* the exit seen is its leader's: its other threads may still be in the cgroups */
	(void)proc_wait_group_exit(pid, WATCH_EXIT_WAIT_MS);
	int fd = state_dir_open(false);
	char **problems = NULL;
	if (fd >= 0) {
		(void)pin_collect_stale(w->env, fd, &problems);
		close(fd);
	}
	say(w, problems && problems[0] ? WATCH_WARNING : WATCH_INFO, WATCH_EV_EXITED, pid, name, policy,
	    "exited; %s%s", problems && problems[0] ? "not everything it left could be removed: " : "its cgroups and record are removed",
	    problems && problems[0] ? problems[0] : "");
	strv_free(problems);
}

/* The entry's process is gone (exit_seen: its exit event; else a try that found it
 * exiting first): when it was managed, or once (its policy gone since, or unpinned by
 * hand), what it left collected and said. Forgotten at its exit event; until then
 * kept as E_GONE, since a fork it made before it exited may still be in the events
 * not read yet (a QEMU's -daemonize parent exits once its child has started). */
static void vm_gone(struct watch *w, struct entry *e, bool exit_seen)
{
	pid_t pid = e->pid;
	bool managed = e->state == E_MANAGED || e->policy;
	_cleanup_free_ char *policy = e->policy ? strdup(e->policy) : NULL;
	_cleanup_free_ char *name = e->name ? strdup(e->name) : NULL;
	forget_unpin(e);
	if (exit_seen || e->state == E_GONE) {
		entry_remove(w, pid);
	} else {
		entry_done(e);
		*e = (struct entry){.pid = pid, .state = E_GONE, .due = UINT64_MAX};
	}
	if (!managed)
		return;
	collect(w, pid, name, policy);
	/* its CPUs may be free for a VM an Exclusive= clash held back */
	for (size_t i = 0; i < w->n; i++)
		if (w->e[i].conflict) {
			w->e[i].state = E_CANDIDATE;
			due_at(&w->e[i], now_ns());
		}
}

void watch_on_event(struct watch *w, const struct proc_ev *ev)
{
	struct entry *e;
	switch (ev->kind) {
	case PROC_EV_FORK:
		if (ev->pid == ev->tid) {
			/* A new process: a QEMU daemonizing forks its VM. QEMU's
			 * os_daemonize() forks twice, and the middle process exits at
			 * once: gone when its fork event is read, it is kept as E_GONE
			 * for the fork it made. */
			if (!entry_find(w, ev->parent_pid))
				return;
			int q = exe_qemu(w, ev->pid);
			if (q > 0)
				(void)entry_add(w, ev->pid, now_ns());
			else if (q == -ENOENT && (e = entry_add(w, ev->pid, UINT64_MAX)))
				e->state = E_GONE;
		} else if (entry_watched(e = entry_find(w, ev->pid))) {
			due_at(e, now_ns() + (uint64_t)WATCH_THREAD_DELAY_MS * 1000000u);
			e->trigger_ns = ev->timestamp_ns;
		}
		return;
	case PROC_EV_COMM:
		if (entry_watched(e = entry_find(w, ev->pid))) {
			int index;
			const char *id;
			enum thread_kind k = classify_thread_name(ev->comm, true, &index, &id);
			if (k == THREAD_VCPU || k == THREAD_IOTHREAD) {
				due_at(e, now_ns());
				e->trigger_ns = ev->timestamp_ns;
			}
		}
		return;
	case PROC_EV_EXEC: {
		if (entry_find(w, ev->pid))
			entry_remove(w, ev->pid); /* another program now */
		/* Read late (a busy host), the event may be of a process gone since: what
		 * it ran cannot be told, but a QEMU that daemonized left its fork in the
		 * events still to read, and that fork is looked at for its parent's sake. */
		int q = exe_qemu(w, ev->pid);
		if (q > 0)
			(void)entry_add(w, ev->pid, now_ns());
		else if (q == -ENOENT && (e = entry_add(w, ev->pid, UINT64_MAX)))
			e->state = E_GONE;
		return;
	}
	case PROC_EV_EXIT:
		if (ev->pid == ev->tid && (e = entry_find(w, ev->pid)))
			vm_gone(w, e, true);
		return;
	default:
		return;
	}
}

/* ---- reconcile -------------------------------------------------------------------- */

int watch_reconcile(struct watch *w, const char *why)
{
	/* The cgroup mounts, read once per reconcile for the pins until the next one
	 * (a failure leaves each pin to read them) */
	cgroup_host_done(&w->cg_host);
	w->own.cgroup_host = w->own.proc_fd >= 0 && cgroup_host_detect(w->own.proc_fd, &w->cg_host) == 0 ? &w->cg_host : NULL;
	struct vm **vms = NULL;
	size_t n = 0;
	int r = vm_list_all(w->env->discover, &vms, &n);
	if (r < 0) {
		say(w, WATCH_ERROR, WATCH_EV_RECONCILE, 0, NULL, NULL, "cannot list the VMs: %s", strerror(-r));
		return r;
	}
	uint64_t now = now_ns();
	/* forget what is gone; a managed VM whose exit was not seen (events were lost,
	 * or it was not managed yet) is said as exited, its leftovers collected below */
	for (size_t i = 0; i < w->n;) {
		bool alive = false;
		for (size_t k = 0; k < n && !alive; k++)
			alive = vms[k]->pid == w->e[i].pid;
		if (alive || w->e[i].due != UINT64_MAX) {
			i++;
			continue;
		}
		if (w->e[i].state == E_MANAGED)
			say(w, WATCH_INFO, WATCH_EV_EXITED, w->e[i].pid, w->e[i].name, w->e[i].policy,
			    "exited (found by a rescan); its cgroups and record are removed");
		forget_unpin(&w->e[i]);
		entry_remove(w, w->e[i].pid);
	}
	size_t managed = 0, unmatched = 0, pending = 0, hands_off = 0;
	for (size_t k = 0; k < n; k++) {
		struct entry *e = entry_find(w, vms[k]->pid);
		if (e && e->starttime && e->starttime != vms[k]->starttime_ticks)
			entry_remove(w, vms[k]->pid); /* the pid was used again */
		if (!(e = entry_add(w, vms[k]->pid, UINT64_MAX)))
			break;
		/* every VM, the unmatched too: a policy may match it now (a pidfile
		 * written since); said again only when that changes */
		if (!handle_vm(w, w->env, e, vms[k]))
			e->due = now + 10u * 1000000u;
		e->policy_changed = false;
		hands_off += e->hands_off;
		managed += e->state == E_MANAGED && !e->hands_off;
		unmatched += e->state == E_UNMATCHED;
		pending += e->state == E_CANDIDATE;
	}
	vm_list_free(vms, n);
	int fd = state_dir_open(false);
	if (fd >= 0) {
		(void)pin_collect_stale(w->env, fd, NULL);
		close(fd);
	}
	char alone[64] = "";
	if (hands_off)
		snprintf(alone, sizeof(alone), " (and %zu left alone after kvmcg unpin)", hands_off);
	say(w, WATCH_INFO, WATCH_EV_RECONCILE, 0, NULL, NULL,
	    "%s: %zu VMs, %zu managed%s, %zu that no policy matches, %zu not ready yet", why, n, managed, alone,
	    unmatched, pending);
	return 0;
}
