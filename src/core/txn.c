// SPDX-License-Identifier: GPL-2.0-or-later
/* One VM's transaction: lock, place, plan, record, execute, verify, record. */
#include "core/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/audit.h"
#include "basic/err.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "exec/exec.h"
#include "kernel/cgroupfs.h"
#include "plan/observe.h"
#include "state/shared.h"
#include "state/state.h"
#include "vmm/vmsel.h"


void pin_args_done(struct pin_args *a)
{
	tune_request_done(&a->req);
	*a = (struct pin_args){0};
}

void pin_result_done(struct pin_result *r)
{
	strv_free(r->skipped);
	strv_free(r->warnings);
	strv_free(r->net_steps);
	free(r->message);
	free(r->problem);
	free(r->mount);
	free(r->vm_dir);
	plan_done(&r->plan);
	vm_tune_done(&r->tune);
	mem_report_done(&r->memory);
	*r = (struct pin_result){0};
}

__attribute__((format(printf, 3, 4))) int txn_fail(struct pin_result *res, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(res->message);
	res->message = vformat(fmt, ap);
	va_end(ap);
	res->result = TXN_FAILED;
	return code;
}

__attribute__((format(printf, 2, 3))) void txn_warn(struct pin_result *res, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (s)
		(void)strv_push(&res->warnings, &res->n_warnings, s);
}

/* "a, b, c" of a list, or NULL when out of memory. */
char *txn_joined(char *const *v, size_t n, const char *sep)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? sep : "", v[i]);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the VM's threads, again ---------------------------------------------------------------- */

const struct vm_thread *txn_main_thread(const struct vm *vm)
{
	return vm_find_thread(vm, vm->pid);
}

/* ---- pin ----------------------------------------------------------------------------------------- */

const char *txn_result_name(enum txn_result r)
{
	static const char *const names[] = {
		[TXN_NONE] = "none",         [TXN_APPLIED] = "applied", [TXN_UNCHANGED] = "unchanged",
		[TXN_DRY_RUN] = "dry-run",   [TXN_PARTIAL] = "partial", [TXN_FAILED] = "failed",
		[TXN_PLANNED] = "planned",   [TXN_CONFLICT] = "conflict",
	};
	return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "none";
}

bool txn_result_ok(enum txn_result r)
{
	return r == TXN_APPLIED || r == TXN_UNCHANGED || r == TXN_DRY_RUN || r == TXN_PARTIAL;
}

/* Hands what a successful run computed over to the result. */
static void done(struct pin_result *res, enum txn_result result, char **msg, struct plan *plan,
		 struct vm_tune *tune)
{
	res->result = result;
	res->message = TAKE_PTR(*msg);
	res->plan = *plan;
	*plan = (struct plan){0};
	res->tune = *tune;
	*tune = (struct vm_tune){0};
}

/* Settings not carried out make a run that did the rest "partial", exit 3. */
static int finish(struct pin_result *res, enum txn_result result, int rc)
{
	if (rc == EXIT_OK && res->n_skipped) {
		rc = EXIT_PARTIAL;
		if (result != TXN_DRY_RUN)
			result = TXN_PARTIAL;
	}
	res->result = result;
	return rc;
}

/* A run that failed while the VM was exiting failed because of it: whatever was read
 * of a dying VM (no vCPUs left, threads nowhere) says nothing about the request.
 * That is the VM exiting during the run, exit 3. */
static int exit_if_gone(const struct txn_env *env, const struct vm *vm, struct pin_result *res, int rc)
{
	if (rc == EXIT_OK || rc == EXIT_PARTIAL || res->result != TXN_FAILED)
		return rc;
	if (proc_process_alive(env->proc_fd, vm->pid, vm->starttime_ticks))
		return rc;
	free(res->message);
	if (asprintf(&res->message, "pid %d exited during the run; nothing of it was left changed", (int)vm->pid) < 0)
		res->message = NULL;
	return EXIT_PARTIAL;
}

/* The VM held by a pidfd for the executor, and still the process discovery judged a
 * VM: the same start time and the same executable (it may have exec'd meanwhile). */
static int hold_vm(const struct txn_env *env, struct exec_ctx *ex, const struct vm *vm)
{
	int r = exec_hold_vm(ex);
	if (r == 0 && vm_check_identity(env->discover, vm) < 0)
		r = -ESRCH;
	return r;
}

static int lock_ms(int timeout_ms)
{
	return timeout_ms > 0 ? timeout_ms : timeout_ms < 0 ? 0 : PIN_LOCK_TIMEOUT_MS;
}

static int lock_vm(int state_fd, const struct vm *vm, int timeout_ms, const char *command, int *ret_fd,
		   struct pin_result *res)
{
	_cleanup_free_ char *holder = NULL;
	int ms = lock_ms(timeout_ms);
	int r = state_lock(state_fd, vm->pid, vm->starttime_ticks, ms, command ? command : "pin", ret_fd, &holder);
	if (r == -ETIMEDOUT)
		return txn_fail(res, EXIT_FAILURE_RUNTIME,
			    "pid %d is being changed by %s; still so after %d.%d s, so nothing was done (--lock-timeout "
			    "waits longer)",
			    (int)vm->pid, holder ? holder : "another kvmcg run", ms / 1000, ms % 1000 / 100);
	if (r == -EPERM || r == -ELOOP)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "cannot lock the record of pid %d: %s", (int)vm->pid,
			    strerror(-r));
	return EXIT_OK;
}

/* The shared lock (state/shared.h), after the VM's own: a pin holds it from looking
 * at the cgroups above the VM's directory to its last write. */
static int lock_shared(int state_fd, int timeout_ms, const char *command, int *ret_fd, struct pin_result *res)
{
	_cleanup_free_ char *holder = NULL;
	int ms = lock_ms(timeout_ms);
	int r = shared_lock(state_fd, ms, command ? command : "pin", ret_fd, &holder);
	if (r == -ETIMEDOUT)
		return txn_fail(res, EXIT_FAILURE_RUNTIME,
				"the cgroups VMs share are being changed by %s; still so after %d.%d s, so nothing was "
				"done (--lock-timeout waits longer)",
				holder ? holder : "another kvmcg run", ms / 1000, ms % 1000 / 100);
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed",
				err_get() ? err_get() : strerror(-r));
	return EXIT_OK;
}

/* One pin's working state, from the lock to the last record write. */
struct pin_run {
	const struct txn_env *env;
	struct vm *vm;
	const struct pin_args *a;
	struct pin_result *res;
	int state_fd, lock_fd, shared_fd;
	struct place pl;
	struct vm_state prev; /* the record before this run, or the base of a first one */
	bool have_prev;
	struct vm_tune tune;  /* what the VM ends up with */
	struct plan plan;
	struct undo_log log;
	struct dir_states dirs;
	struct cg_dircache cache;
	struct exec_ctx ex;
	const struct idset *effective_cpus;
	char *planned;        /* the record as written before the run */
	struct txn_net net;   /* the network step: the VM's taps and their plan */
	bool net_left;        /* its rollback left something */
	bool committed;       /* carried out and read back: the VM is changed */
	bool left;            /* failed, and not everything could be undone */
};

static void pin_run_done(struct pin_run *p)
{
	exec_done(&p->ex);
	exec_release_vm(&p->ex);
	undo_log_done(&p->log);
	plan_done(&p->plan);
	txn_net_done(&p->net);
	vm_tune_done(&p->tune);
	dir_states_done(&p->dirs);
	cg_dircache_done(&p->cache);
	vm_state_done(&p->prev);
	free(p->planned);
	txn_place_done(&p->pl);
	shared_unlock(p->state_fd, p->shared_fd);
	if (p->state_fd >= 0) {
		state_unlock(p->state_fd, p->vm->pid, p->vm->starttime_ticks, p->lock_fd);
		close(p->state_fd);
	}
}

#define PIN_GO (-1) /* a phase's "go on"; any other value is the exit code */

/* The VM's lock, its record, its threads as they are now. */
static int pin_begin(struct pin_run *p)
{
	const struct pin_args *a = p->a;
	struct pin_result *res = p->res;
	for (size_t i = 0; i < a->req.n_skipped; i++)
		if (strv_push(&res->skipped, &res->n_skipped, a->req.skipped[i]) < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	err_clear();
	p->state_fd = state_dir_open(!a->dry_run);
	if (p->state_fd < 0 && !(a->dry_run && p->state_fd == -ENOENT))
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s", err_get() ? err_get() : strerror(-p->state_fd));
	if (!a->dry_run) {
		int rc = lock_vm(p->state_fd, p->vm, a->lock_timeout_ms, a->command, &p->lock_fd, res);
		if (rc != EXIT_OK)
			return rc;
		if (a->unless_unpinned_since &&
		    state_unmanaged_since(p->state_fd, p->vm->pid, p->vm->starttime_ticks, a->unless_unpinned_since)) {
			res->left_alone = true;
			res->result = TXN_UNCHANGED;
			return EXIT_OK;
		}
		if (!a->no_collect)
			txn_collect_and_warn(p->env, p->state_fd, p->vm, res);
	}
	/* Before the lock other VMs' pins wait for: a monitor may take its whole budget
	 * (the threads' and the memory backends' questions). */
	if (a->threads_unread) {
		int r = vmsel_read_threads(p->env->discover, p->vm);
		if (r < 0)
			return txn_fail(res, r == -EOWNERDEAD ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME, "%s",
					err_get() ? err_get() : strerror(-r));
	}
	int m = txn_memory_before(p->env, p->vm, &a->req, res);
	if (m != 0)
		return m;
	if (!a->dry_run) {
		err_clear();
		int rc = lock_shared(p->state_fd, a->lock_timeout_ms, a->command, &p->shared_fd, res);
		if (rc != EXIT_OK)
			return rc;
	}
	if (p->state_fd >= 0) {
		err_clear();
		int r = state_load(p->state_fd, p->vm->pid, p->vm->starttime_ticks, &p->prev);
		p->have_prev = r == 0;
		if (r < 0 && r != -ENOENT)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed",
					err_get() ? err_get() : strerror(-r));
	}
	int r = a->threads_unread ? 0 : vm_refresh_threads(p->env->discover, p->vm);
	if (r < 0)
		return txn_fail(res, r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME, "pid %d: %s", (int)p->vm->pid,
				r == -ESRCH ? "exited before anything was done" : strerror(-r));
	return PIN_GO;
}

/* The request's [IO] resolved to disks and merged into the tune, where the host
 * carries it; named as not carried out where it does not. */
static int pin_plan_io(struct pin_run *p, const struct plan_host *ph)
{
	const struct tune_request *req = &p->a->req;
	struct pin_result *res = p->res;
	if (!req->io_weight && !req->n_io && !(req->io_given && p->have_prev && iotune_any(&p->prev.tune.iotune)))
		return PIN_GO;
	const char *why = plan_iotune_unsupported(ph);
	bool v1 = ph->backend == BACKEND_CGROUP_V1; /* the v1 blkio tree: no iocost, no default */
	struct iotune io = {0};
	int r = why ? strv_push(&res->skipped, &res->n_skipped, why)
		    : txn_iotune_resolve(p->env, p->vm, v1 ? -1 : p->pl.mount_fd, req, &io, res);
	if (r == 0 && !why && v1)
		r = txn_iotune_v1_default(&io, res);
	if (r == 0 && !why)
		r = plan_merge_iotune(&io, req->io_given, &p->tune);
	iotune_done(&io);
	if (r == -EINVAL)
		return txn_fail(res, EXIT_USAGE, "%s; nothing was changed", err_get());
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	return PIN_GO;
}

/* The network step's plan: the request's [Network] replaces what the VM had; a
 * request without one keeps it (new taps are shaped as the old). A VM held before
 * it executes QEMU has no taps yet: its launched pin shapes them. */
static int pin_plan_net(struct pin_run *p)
{
	const struct tune_request *req = &p->a->req;
	struct pin_result *res = p->res;
	bool asked = req->net_given || nettune_any(&req->net);
	bool had = p->have_prev && (nettune_any(&p->prev.tune.nettune) || p->prev.n_net);
	if (asked) {
		nettune_done(&p->tune.nettune);
		if (nettune_copy(&req->net, &p->tune.nettune) < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	}
	if ((!asked && !had) || p->a->launch == PIN_HELD)
		return PIN_GO;
	err_clear();
	int r = txn_net_prepare(p->env, p->vm, p->have_prev ? &p->prev : NULL, &p->tune.nettune,
				p->have_prev ? &p->prev.tune.nettune : NULL, p->a->force, &p->net, res);
	if (r == -EBUSY || r == -EINVAL)
		return txn_fail(res, EXIT_USAGE, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
	for (size_t i = 0; i < p->net.plan.n; i++) {
		_cleanup_free_ char *line = net_action_describe(&p->net.plan.v[i]);
		if (!line || strv_push(&res->net_steps, &res->n_net_steps, line) < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	}
	return PIN_GO;
}

/* Where the VM's cgroups go, what is there now, and the plan from there to the tune. */
static int pin_plan(struct pin_run *p)
{
	const struct txn_env *env = p->env;
	struct pin_result *res = p->res;
	const struct tune_request *req = &p->a->req;
	err_clear();
	int r = txn_find_place(env, p->vm, p->a, p->have_prev ? &p->prev : NULL, p->state_fd, &p->pl, res);
	if (r < 0)
		return txn_fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s",
				err_get() ? err_get() : strerror(-r));
	if (p->have_prev && p->prev.backend != BACKEND_AFFINITY) {
		int mfd;
		r = txn_open_record_mount(env, &p->prev, &mfd);
		if (mfd >= 0)
			close(mfd);
		if (r < 0)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get());
	}
	res->backend = p->pl.host.backend;
	res->layout = p->pl.kind;
	p->effective_cpus = p->pl.effective_cpus ? p->pl.effective_cpus : env->host->online_cpus;
	if (p->pl.host.backend != BACKEND_AFFINITY) {
		p->cache.mount_fd = p->pl.mount_fd;
		/* io files matter to a pin that asks for [IO], or to one that keeps it */
		bool io = p->a->req.io_weight || p->a->req.n_io || (p->have_prev && iotune_any(&p->prev.tune.iotune));
		r = observe_dirs(&p->cache, p->pl.vm_dir, p->vm, p->pl.host.backend, io, &p->dirs);
		if (r < 0)
			return txn_fail(res, r == -ENAMETOOLONG ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
					"cannot read the VM's cgroups under %s: %s", p->pl.host.mount,
					cg_strerror(r, NULL));
	}
	struct plan_host ph = {
		.backend = p->pl.host.backend,
		.online_cpus = env->host->online_cpus,
		.online_mems = env->host->online_mems,
		.memory_mems = env->host->memory_mems,
		.effective_cpus = p->effective_cpus,
		.effective_mems = p->pl.effective_mems ? p->pl.effective_mems : env->host->online_mems,
		.dirs = p->dirs.v,
		.n_dirs = p->dirs.n,
		.vm_dir = p->pl.vm_dir,
		.vm_threaded = p->pl.kind == LAYOUT_IN_PLACE || (p->pl.kind == LAYOUT_KEPT && p->prev.n_enabled > 0),
		.held = p->a->launch == PIN_HELD,
	};
	ph.v1_mounted[V1_TREE_CPU] = txn_v1tree_mounted(env, p->pl.host.backend, V1_TREE_CPU, &ph.v1_rt_group);
	ph.v1_mounted[V1_TREE_BLKIO] = txn_v1tree_mounted(env, p->pl.host.backend, V1_TREE_BLKIO, NULL);
	if (req->no_migrate && p->pl.host.backend == BACKEND_CGROUP_V2)
		return txn_fail(res, EXIT_USAGE,
				"--no-migrate cannot be honoured on cgroup v2: a change of cpuset.mems there always moves "
				"the VM's pages (it has no cpuset.memory_migrate); nothing was changed");
	/* preferred does not confine: the nodes are where pages go, not cpuset.mems */
	const struct idset *mems = req->mem_policy == MEM_POLICY_PREFERRED ? NULL : req->mems;
	err_clear();
	r = plan_merge_spec(&ph, p->vm, p->have_prev ? &p->prev.tune : NULL, req->vcpus, req->n_vcpus, req->emulator,
			    req->iothread_ids, req->iothreads, req->n_iothreads, req->mems, &p->tune);
	if (r < 0)
		return txn_fail(res, r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE, "%s",
				err_get() ? err_get() : strerror(-r));
	if (mems) {
		p->tune.mem_policy = req->mem_policy;
		p->tune.mem_no_migrate = req->no_migrate;
	} else if (req->mems) { /* preferred: checked as the others, cpuset.mems as it was */
		idset_free(p->tune.mems);
		p->tune.mems = p->have_prev && p->prev.tune.mems ? idset_dup(p->prev.tune.mems) : NULL;
		if (p->have_prev && p->prev.tune.mems && !p->tune.mems)
			return txn_fail(res, EXIT_FAILURE_RUNTIME, "out of memory");
	}
	/* run checked the room before QEMU started; the guest RAM it has not touched
	 * yet is no reason to stop now */
	int m = p->a->launch == PIN_LAUNCHED ? EXIT_OK : txn_memory_check(env, p->vm, req, p->a->force, res);
	if (m != EXIT_OK)
		return m;
	r = plan_merge_cputune(&ph, &req->cputune, &p->tune, &res->skipped, &res->n_skipped);
	if (r < 0) /* -EINVAL says why in err_get() */
		return txn_fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s; nothing was changed",
				r == -EINVAL && err_get() ? err_get() : "out of memory");
	r = pin_plan_io(p, &ph);
	if (r != PIN_GO)
		return r;
	r = pin_plan_net(p);
	if (r != PIN_GO)
		return r;
	err_clear();
	r = txn_v1trees_prepare(env, p->vm, &p->pl, p->have_prev ? &p->prev : NULL, &p->tune, &ph);
	if (r < 0)
		return txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
	r = plan_pin(&ph, p->vm, &p->tune, &p->plan);
	if (r < 0)
		return txn_fail(res, r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME, "%s",
				err_get() ? err_get() : strerror(-r));
	iotune_settled(&p->tune.iotune); /* planned: what is taken back is not kept */
	res->mount = strdup_or_null(p->pl.host.mount);
	res->vm_dir = strdup_or_null(p->pl.vm_dir);
	return PIN_GO;
}

/* Nothing to write, but the memory mode (or --no-migrate) asked differs from the
 * record's: the record is brought up to date, since the mode decides what later
 * pins and warnings do. (Where the memory was stays what the first pin saw.) */
static void note_memory_mode(struct pin_run *p)
{
	const struct vm_tune *was = &p->prev.tune;
	if (!p->have_prev || p->state_fd < 0 ||
	    (p->tune.mem_policy == was->mem_policy && p->tune.mem_no_migrate == was->mem_no_migrate))
		return;
	struct vm_state st = {0};
	int r = txn_record_build(&p->prev, &p->tune, &p->plan, NULL, &p->pl, DONE, &st);
	if (r == 0)
		r = state_save(p->state_fd, &st);
	vm_state_done(&st);
	if (r < 0)
		txn_warn(p->res, "the record of pid %d could not be updated with its memory mode: %s", (int)p->vm->pid,
			 strerror(-r));
}

/* A dry run, or nothing to do: said, and done. */
static int pin_without_change(struct pin_run *p)
{
	struct pin_result *res = p->res;
	const char *note = p->pl.host.backend == BACKEND_AFFINITY ? p->pl.host.why_not_v2 : NULL;
	int pid = (int)p->vm->pid;
	_cleanup_free_ char *msg = NULL;
	if (p->a->dry_run) {
		size_t n = p->plan.n_actions + p->net.plan.n;
		if (asprintf(&msg, "dry run: %zu action%s planned for pid %d (%s mode%s%s); nothing was changed", n,
			     n == 1 ? "" : "s", pid, backend_name(p->pl.host.backend), note ? ": " : "",
			     note ? note : "") < 0)
			msg = NULL;
		done(res, TXN_DRY_RUN, &msg, &p->plan, &p->tune);
		return finish(res, TXN_DRY_RUN, EXIT_OK);
	}
	if (p->plan.n_actions > 0 || p->pl.n_adopted > 0 || p->net.plan.n > 0)
		return PIN_GO;
	note_memory_mode(p);
	if ((res->n_skipped ? asprintf(&msg, "pid %d: nothing changed; %zu setting%s of the request cannot be "
					      "carried out here (said on stderr)",
					pid, res->n_skipped, res->n_skipped == 1 ? "" : "s")
			    : asprintf(&msg, "pid %d is already pinned as asked: nothing changed", pid)) < 0)
		msg = NULL;
	done(res, TXN_UNCHANGED, &msg, &p->plan, &p->tune);
	return finish(res, TXN_UNCHANGED, EXIT_OK);
}

/* Recorded before anything is touched: every thread's origin (all at a first pin,
 * newcomers at a re-pin), the resulting tune, everything the plan may create. A
 * crash of kvmcg midway leaves nothing unrecorded. */
static int pin_record_planned(struct pin_run *p)
{
	const struct vm *vm = p->vm;
	const struct place *pl = &p->pl;
	if (!p->have_prev) {
		struct vm_state *b = &p->prev;
		*b = (struct vm_state){.pid = vm->pid, .starttime = vm->starttime_ticks, .backend = pl->host.backend,
				       .launched = p->a->launch != PIN_RUNNING};
		b->name = strdup_or_null(vm->name);
		b->mount = strdup_or_null(pl->host.mount);
		b->vm_dir = strdup_or_null(pl->vm_dir);
		/* below a --cgroup-root: the record names it, so that a check can tell */
		b->root = pl->kind == LAYOUT_GIVEN ? strdup_or_null(pl->cgroup_root) : NULL;
		if ((vm->name && !b->name) || (pl->host.mount && !b->mount) || (pl->vm_dir && !b->vm_dir) ||
		    (pl->kind == LAYOUT_GIVEN && !b->root))
			return txn_fail(p->res, EXIT_FAILURE_RUNTIME, "out of memory");
	}
	/* a VM run started has no memory from before kvmcg to go back to */
	if (txn_add_origins(&p->prev, vm, pl) < 0 ||
	    (!p->prev.launched && txn_memory_origin(&p->prev, &p->res->memory) < 0))
		return txn_fail(p->res, EXIT_FAILURE_RUNTIME, "out of memory");
	err_clear();
	int r = txn_shared_note(p->state_fd, &p->plan, pl);
	if (r < 0)
		return txn_fail(p->res, EXIT_FAILURE_RUNTIME,
				"cannot note the cgroups this pin changes for all VMs: %s; nothing was changed",
				err_get() ? err_get() : strerror(-r));
	struct vm_state st = {0};
	r = txn_record_build(&p->prev, &p->tune, &p->plan, NULL, pl, PLANNED, &st);
	if (r == 0)
		r = txn_net_record(&st, p->prev.net, p->prev.n_net, &p->net, true);
	if (r == 0)
		r = state_save(p->state_fd, &st);
	if (r == 0)
		p->planned = state_format(&st); /* NULL: written again after the run */
	vm_state_done(&st);
	if (r < 0)
		return txn_fail(p->res, EXIT_FAILURE_RUNTIME, "cannot write the record: %s; nothing was changed",
				strerror(-r));
	return PIN_GO;
}

/* After a failed run, rolled back: the record is the previous one again, plus
 * whatever could not be undone, for the next run to remove. */
static int pin_rolled_back(struct pin_run *p, int r)
{
	struct pin_result *res = p->res;
	bool left = false;
	for (size_t i = 0; i < p->log.n; i++)
		left |= p->log.entries[i].undo_failed;
	int s = txn_shared_settle(p->state_fd, &p->plan, &p->log, &p->pl);
	if (s < 0)
		txn_warn(res, "the list of cgroups VMs share could not be updated: %s", strerror(-s));
	struct vm_state st = {0};
	int k = txn_record_build(&p->prev, p->have_prev ? &p->prev.tune : NULL, &p->plan, &p->log, &p->pl, LEFT, &st);
	/* what the network rollback could not undo stays recorded, as planned */
	if (k == 0 && p->net_left)
		k = txn_net_record(&st, p->prev.net, p->prev.n_net, &p->net, true);
	left |= p->net_left;
	if (k == 0 && (p->have_prev || left))
		k = state_save(p->state_fd, &st);
	else if (k == 0)
		k = state_remove(p->state_fd, p->vm->pid, p->vm->starttime_ticks);
	vm_state_done(&st);
	if (k < 0)
		txn_warn(res, "the record of pid %d could not be put back: %s", (int)p->vm->pid, strerror(-k));
	const char *why = p->ex.failed ? p->ex.failed : strerror(-r);
	p->left = left;
	if (left)
		return txn_fail(res, EXIT_PARTIAL,
				"pin failed (%s), and not everything could be undone; the record keeps what is left "
				"for the next kvmcg unpin, or for kvmcg list once the VM has exited",
				why);
	if (r == -ESRCH)
		return txn_fail(res, EXIT_PARTIAL, "pid %d exited during the pin; everything done was undone",
				(int)p->vm->pid);
	return txn_fail(res, EXIT_FAILURE_RUNTIME, "pin failed, everything done was undone: %s", why);
}

/* Execute, read back (rolled back when either fails), record what was done. */
static int pin_execute(struct pin_run *p)
{
	struct exec_ctx *ex = &p->ex;
	ex->mount_fd = p->pl.mount_fd;
	ex->pid = p->vm->pid;
	ex->starttime = p->vm->starttime_ticks;
	ex->backend = p->pl.host.backend;
	ex->vm = p->vm;
	ex->tune = &p->tune;
	ex->effective_cpus = p->effective_cpus;
	txn_v1trees_exec(ex, p->pl.v1, true);
	exec_hooks_from_env(&ex->hooks);

	int r = hold_vm(p->env, ex, p->vm);
	if (r == 0)
		r = exec_plan(ex, &p->plan, &p->log);
	if (r == 0) {
		r = exec_verify(ex, p->pl.vm_dir);
		if (r < 0)
			exec_rollback(ex, &p->log);
	}
	if (r == 0 && p->net.plan.n) {
		_cleanup_free_ char *failed = NULL;
		r = txn_net_execute(&p->net, &failed);
		if (r < 0) {
			p->net_left = txn_net_rollback(&p->net) < 0;
			exec_rollback(ex, &p->log);
			free(ex->failed);
			ex->failed = TAKE_PTR(failed);
		}
	}
	if (r < 0)
		return pin_rolled_back(p, r);
	p->committed = true;

	/* What this run made joins what earlier pins made. Written only when it differs
	 * from what was recorded before the run: a run that made everything it planned
	 * writes its record once. */
	r = txn_shared_settle(p->state_fd, &p->plan, &p->log, &p->pl);
	if (r < 0)
		txn_warn(p->res, "the list of cgroups VMs share could not be updated: %s", strerror(-r));
	struct vm_state st = {0};
	r = txn_record_build(&p->prev, &p->tune, &p->plan, &p->log, &p->pl, DONE, &st);
	if (r == 0)
		r = txn_net_record(&st, p->prev.net, p->prev.n_net, &p->net, false);
	if (r == 0) {
		_cleanup_free_ char *done = state_format(&st);
		if (!done || !p->planned || strcmp(done, p->planned) != 0)
			r = state_save(p->state_fd, &st);
	}
	vm_state_done(&st);
	if (r < 0)
		txn_warn(p->res, "pinned, but the record could not be updated (%s): unpin may not undo all of it",
			 strerror(-r));
	const char *note = p->pl.host.backend == BACKEND_AFFINITY ? p->pl.host.why_not_v2 : NULL;
	_cleanup_free_ char *msg = NULL;
	size_t n_done = p->plan.n_actions + p->net.plan.n;
	if (asprintf(&msg, "pinned pid %d: %zu action%s in %s mode%s%s%s%s", (int)p->vm->pid, n_done,
		     n_done == 1 ? "" : "s", backend_name(p->pl.host.backend),
		     p->pl.vm_dir ? ", cgroup /" : "", p->pl.vm_dir ? p->pl.vm_dir : "", note ? "; " : "",
		     note ? note : "") < 0)
		msg = NULL;
	done(p->res, TXN_APPLIED, &msg, &p->plan, &p->tune);
	return finish(p->res, TXN_APPLIED, EXIT_OK);
}

/* ---- the audit trail ------------------------------------------------------------------------ */

/* Bytes of the VM's memory the run moved, as measured (0: it moved none: nothing
 * asked, or a VM run started, placed from its first page). */
static uint64_t audit_moved(const struct mem_report *m, bool running)
{
	if (m->policy == MEM_POLICY_UNSET || (!running && m->not_moved < 0 && !m->spread_done))
		return 0;
	return mem_report_moved(m);
}

/* Why a run that changed the VM did not do all it was asked, or NULL: done. */
static char *audit_partial(const struct pin_result *res)
{
	if (res->result == TXN_APPLIED || res->result == TXN_UNCHANGED)
		return NULL;
	if (res->result == TXN_PARTIAL && !res->problem && res->n_skipped) {
		_cleanup_free_ char *list = txn_joined(res->skipped, res->n_skipped, "; ");
		char *s = NULL;
		if (asprintf(&s, "not carried out: %s", list ? list : "?") < 0)
			return NULL;
		return s;
	}
	const char *why = res->result == TXN_PARTIAL ? res->problem : res->message;
	return strdup(why ? why : txn_result_name(res->result));
}

/* One line to syslog about a run that changed the VM (basic/audit.h): what is the
 * change in virsh's words, NULL when nothing is to be said. */
static void txn_audit(const struct vm *vm, const char *command, const char *policy, const char *what, bool running,
		      const struct pin_result *res)
{
	if (!what)
		return;
	_cleanup_free_ char *partial = audit_partial(res);
	struct audit_change c = {.command = command ? command : "pin", .policy = policy, .pid = (int)vm->pid,
				 .vm = vm->name, .what = what, .memory_moved = audit_moved(&res->memory, running),
				 .partial = partial};
	(void)audit_log(&c); /* never the pin's failure: a line that cannot go is dropped */
}

/* A pin with the same pins that placed threads born since the last pin (a vCPU, an
 * iothread, a kernel worker such as KVM's kvm-nx-lpage-recovery, which starts in the
 * cgroup of the vCPU that made it): "placed new thread: worker thread 812", "placed
 * new threads: vCPU 1 (tid 813), ...". They are the threads the record did not know,
 * or, when the caller says the pin is for new threads (pin_args.new_threads), every
 * thread it changed (one born while the last pin ran may be in its record already).
 * NULL when it touched a thread the record knows (what someone changed was put
 * back), or out of memory. */
static char *new_threads_placed(const struct pin_run *p)
{
	const struct plan *pl = &p->res->plan;
	_cleanup_free_ pid_t *tids = calloc(pl->n_actions + 1, sizeof(*tids));
	size_t n = 0;
	if (!tids)
		return NULL;
	for (size_t i = 0; i < pl->n_actions; i++) {
		const struct action *a = &pl->actions[i];
		const struct vm_thread *t = vm_find_thread(p->vm, a->tid);
		/* an affinity set again after a move, to what it was: no change */
		if (!a->tid || a->kind == ACT_RESCAN ||
		    (a->kind == ACT_SET_AFFINITY && t && t->affinity && a->cpus && idset_equal(t->affinity, a->cpus)))
			continue;
		for (size_t k = 0; !p->a->new_threads && p->have_prev && k < p->prev.n_threads; k++)
			if (p->prev.threads[k].tid == a->tid)
				return NULL;
		bool listed = false;
		for (size_t k = 0; k < n && !listed; k++)
			listed = tids[k] == a->tid;
		if (!listed)
			tids[n++] = a->tid;
	}
	if (n == 0)
		return NULL;
	char **labels = calloc(n, sizeof(*labels));
	char *list = NULL, *s = NULL;
	bool ok = labels != NULL;
	for (size_t k = 0; ok && k < n; k++)
		ok = (labels[k] = vm_thread_label(p->vm, tids[k])) != NULL;
	if (ok && (list = strv_join(labels, n, ", ")) && asprintf(&s, "placed new thread%s: %s", n == 1 ? "" : "s", list) < 0)
		s = NULL;
	for (size_t k = 0; labels && k < n; k++)
		free(labels[k]);
	free(labels);
	free(list);
	return s;
}

/* What a pin changed, for its audit line, or NULL when it changed nothing (a dry run,
 * nothing to do, undone after a failure) or is not to be said: --no-syslog, or run's
 * first pin (QEMU has not started; its second pin says the whole of it). */
static char *pin_audit_what(const struct pin_run *p)
{
	const struct pin_result *res = p->res;
	const struct mem_report *m = &res->memory;
	if (p->env->no_syslog || p->a->dry_run || p->a->launch == PIN_HELD)
		return NULL;
	if (p->left)
		return strdup("a failed pin, not all of it undone");
	bool moved = m->policy != MEM_POLICY_UNSET && (m->not_moved >= 0 || m->spread_done) && mem_report_moved(m);
	if (!p->committed)
		return moved ? strdup("pins as they were") : NULL;
	/* run's second pin: the VM started with all of it */
	const struct vm_tune *before = p->have_prev && p->a->launch == PIN_RUNNING ? &p->prev.tune : NULL;
	char *what = vm_tune_describe(before, &res->tune);
	if (what && !*what) { /* the same pins: new threads placed, or what someone changed put back */
		char *placed = new_threads_placed(p);
		_cleanup_free_ char *all = placed ? NULL : vm_tune_describe(NULL, &res->tune);
		free(what);
		if (placed)
			what = placed;
		else if (asprintf(&what, "put back %s", all && *all ? all : "as recorded") < 0)
			what = NULL;
	}
	return what;
}

int pin_vm(const struct txn_env *env, struct vm *vm, const struct pin_args *a, struct pin_result *res)
{
	struct pin_run p = {.env = env, .vm = vm, .a = a, .res = res, .state_fd = -1, .lock_fd = -1, .shared_fd = -1};
	p.pl.mount_fd = -1;
	p.cache.mount_fd = -1;
	p.ex = (struct exec_ctx){.mount_fd = -1, .pidfd = -1, .task_fd = -1, .proc_fd = env->proc_fd, .dirs = &p.cache};
	*res = (struct pin_result){.result = TXN_FAILED, .exit_code = EXIT_FAILURE_RUNTIME};

	int rc = pin_begin(&p);
	if (rc == PIN_GO)
		rc = pin_plan(&p);
	if (rc == PIN_GO)
		rc = pin_without_change(&p);
	if (rc == PIN_GO)
		rc = pin_record_planned(&p);
	if (rc == PIN_GO)
		rc = pin_execute(&p);
	/* The pages, while the VM's lock is held: a pin that changed nothing in the
	 * cgroups may still have pages to move. The shared lock goes first: the last
	 * write to what VMs share is done, and moving pages may take seconds. */
	shared_unlock(p.state_fd, p.shared_fd);
	p.shared_fd = -1;
	if (!a->dry_run && a->launch != PIN_HELD && !res->left_alone &&
	    (res->result == TXN_APPLIED || res->result == TXN_UNCHANGED))
		rc = txn_memory_place(env, vm, &a->req, a->launch, res, rc);
	_cleanup_free_ char *what = pin_audit_what(&p);
	if (a->ends_unpinned && p.lock_fd >= 0 && txn_result_ok(res->result))
		(void)state_unmanaged_clear(p.state_fd, vm->pid, vm->starttime_ticks);
	pin_run_done(&p);
	rc = exit_if_gone(env, vm, res, rc);
	res->exit_code = rc;
	/* said once the VM's lock is released */
	txn_audit(vm, a->command, a->policy, what, a->launch == PIN_RUNNING, res);
	return rc;
}

/* ---- unpin ------------------------------------------------------------------------------------ */

/* After a VM's tree went: what VMs shared and no VM needs any more goes too. What
 * cannot go yet is said; the caller's exit is then 3 (left for the next run). */
static int release_shared(const struct txn_env *env, int state_fd, const struct vm_state *st, int mount_fd,
			  struct pin_result *res)
{
	_cleanup_free_ char *warning = NULL;
	int r = txn_shared_release(env, state_fd, st->mount, mount_fd, st->vm_dir, PIN_LOCK_TIMEOUT_MS, &warning);
	if (warning)
		txn_warn(res, "%s", warning);
	else if (r < 0)
		txn_warn(res, "cgroups VMs share were not looked at: %s", strerror(-r));
	_cleanup_free_ char *v1_warning = NULL;
	int k = txn_v1trees_release(env, state_fd, st, &v1_warning);
	if (v1_warning)
		txn_warn(res, "%s", v1_warning);
	return r < 0 ? r : k;
}

static int not_pinned(struct pin_result *res)
{
	res->message = strdup("kvmcg has not pinned this VM: nothing to undo");
	res->result = TXN_UNCHANGED;
	res->not_pinned = true;
	return EXIT_OK;
}

/* The VM exited during the unpin: nothing of it to restore; its cgroups can go now. */
static int unpin_gone(const struct txn_env *env, const struct vm *vm, int mount_fd, int state_fd, struct vm_state *st,
		      struct pin_result *res)
{
	err_clear();
	int k = txn_cleanup_record(env, mount_fd, st);
	if (k == 0) {
		(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
		(void)release_shared(env, state_fd, st, mount_fd, res);
	}
	else if (k == -EBUSY)
		(void)state_save(state_fd, st);
	return txn_fail(res, EXIT_PARTIAL, "pid %d exited during the unpin; %s", (int)vm->pid,
			k == 0 ? "its cgroups were removed" : "its record keeps the cgroups left for the next run");
}

/* Every thread is back, but cleanup steps failed: what could not be removed stays
 * recorded, with no pin, for the next unpin (or list, once the VM has exited). */
static int unpin_left(const struct vm *vm, struct vm_state *st, const struct plan *plan, const struct undo_log *log,
		      const struct exec_ctx *ex, int state_fd, struct pin_result *res)
{
	vm_tune_done(&st->tune);
	int r = txn_keep_remaining(st, plan, log);
	if (r == 0)
		r = state_save(state_fd, st);
	if (r < 0)
		txn_warn(res, "the record could not be updated: %s", strerror(-r));
	_cleanup_free_ char *left = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&left, &len);
	for (size_t i = 0; f && i < st->n_created; i++)
		fprintf(f, "%s/%s", i ? ", " : "", st->created[i]);
	size_t n_v1 = 0;
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++)
		for (size_t i = 0; f && i < st->v1[t].n_created; i++, n_v1++)
			fprintf(f, "%s/%s in %s", n_v1 || st->n_created ? ", " : "", st->v1[t].created[i], st->v1[t].mount);
	for (size_t i = 0; f && i < st->n_enabled; i++)
		fprintf(f, "%s%s in /%s", i || st->n_created ? ", " : "", st->enabled[i].controller, st->enabled[i].dir);
	for (size_t i = 0; f && i < st->n_restore; i++)
		fprintf(f, "%s/%s/%s line \"%s\"", i || st->n_created || st->n_enabled ? ", " : "", st->restore[i].dir,
			st->restore[i].file, st->restore[i].line);
	for (size_t i = 0; f && i < st->n_net; i++)
		fprintf(f, "%s%s of %s", i || st->n_created || st->n_enabled || st->n_restore ? ", " : "",
			net_added_name(st->net[i].what), st->net[i].dev);
	if (f)
		fclose(f);
	if (asprintf(&res->message, "unpinned pid %d: every thread is back in its cgroup and affinity", (int)vm->pid) < 0)
		res->message = NULL;
	if (asprintf(&res->problem, "pid %d: could not remove %s yet (%s); the record keeps %s for the next kvmcg unpin",
		     (int)vm->pid, left ? left : "?", ex->failed ? ex->failed : "?",
		     st->n_created + n_v1 + st->n_enabled + st->n_restore + st->n_net == 1 ? "it" : "them") < 0)
		res->problem = NULL;
	res->result = TXN_PARTIAL;
	return EXIT_PARTIAL;
}

/* The network shaping goes after the threads, as kvmcg made it after them; what
 * cannot go stays in st->net, and ex->failed says why. */
static void unpin_net(const struct txn_env *env, const struct vm *vm, struct vm_state *st, struct exec_ctx *ex,
		      struct pin_result *res)
{
	if (!st->n_net)
		return;
	char **notes = NULL;
	size_t n_notes = 0;
	_cleanup_free_ char *failed = NULL;
	int r = txn_net_undo(env, vm->pid, st, &notes, &n_notes, &failed);
	for (size_t i = 0; i < n_notes; i++)
		txn_warn(res, "%s", notes[i]);
	strv_free(notes);
	if (r < 0 && !ex->failed)
		ex->failed = r == -ENOMEM ? strdup("out of memory") : TAKE_PTR(failed);
}

/* What an unpin that put every thread back changed, for its audit line: the record's
 * pins, each to none; NULL with --no-syslog. */
static char *unpin_audit_what(const struct txn_env *env, const struct vm_state *st)
{
	static const struct vm_tune none;
	if (env->no_syslog)
		return NULL;
	char *what = vm_tune_describe(&st->tune, &none);
	if (what && !*what) {
		free(what);
		what = strdup("no pins; what an earlier run left was removed");
	}
	return what;
}

/* Every thread is back and kvmcg's cgroups are gone: the record goes, what VMs
 * share is released when this was the last, the pages are measured (or moved back). */
static int unpin_done(const struct txn_env *env, struct vm *vm, int mount_fd, int state_fd, struct vm_state *st,
		      bool migrate_back, struct pin_result *res)
{
	int r = state_remove(state_fd, vm->pid, vm->starttime_ticks);
	if (r < 0)
		txn_warn(res, "unpinned, but the record could not be removed: %s", strerror(-r));
	bool shared_left = release_shared(env, state_fd, st, mount_fd, res) < 0;
	if (asprintf(&res->message, "unpinned pid %d: every thread is back in its cgroup and affinity%s", (int)vm->pid,
		     shared_left ? "; what kvmcg made for all VMs is kept for the next run (said above)" : "") < 0)
		res->message = NULL;
	res->result = TXN_APPLIED;
	return txn_memory_unpin(env, vm, st, migrate_back, res, shared_left ? EXIT_PARTIAL : EXIT_OK);
}

/* A kvmcg watch that runs would pin the VM again at its next event or reconcile: it
 * is told to leave it alone, under the VM's lock (txn.h unpin_vm()). */
static void tell_watch(int state_fd, const struct vm *vm, struct pin_result *res)
{
	pid_t watcher = 0;
	if (state_watch_running(state_fd, &watcher) < 0 || watcher == 0)
		return;
	res->watcher = watcher;
	res->watcher_told = state_unmanaged_set(state_fd, vm->pid, vm->starttime_ticks);
}

int unpin_vm(const struct txn_env *env, struct vm *vm, int lock_timeout_ms, bool migrate_back, struct pin_result *res)
{
	int state_fd, lock_fd = -1, mount_fd = -1, rc = EXIT_FAILURE_RUNTIME, r;
	struct vm_state st = {0};
	struct plan plan = {0};
	struct undo_log log = {0};
	struct vm_tune none = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .task_fd = -1, .proc_fd = env->proc_fd};
	struct v1_tree_run v1[V1_TREE_N] = {0};
	_cleanup_free_ char *what = NULL; /* the change, for the audit line */
	*res = (struct pin_result){.result = TXN_FAILED, .exit_code = EXIT_FAILURE_RUNTIME};
	err_clear();
	state_fd = state_dir_open(false);
	if (state_fd == -ENOENT)
		return res->exit_code = not_pinned(res);
	if (state_fd < 0)
		return res->exit_code = txn_fail(res, EXIT_FAILURE_RUNTIME, "%s", err_get() ? err_get() : strerror(-state_fd));
	rc = lock_vm(state_fd, vm, lock_timeout_ms, "unpin", &lock_fd, res);
	if (rc != EXIT_OK)
		goto out;
	rc = EXIT_FAILURE_RUNTIME;
	txn_collect_and_warn(env, state_fd, vm, res);
	err_clear();
	r = state_load(state_fd, vm->pid, vm->starttime_ticks, &st);
	if (r == -ENOENT) {
		rc = not_pinned(res);
		goto out;
	}
	if (r < 0) {
		rc = txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get() ? err_get() : strerror(-r));
		goto out;
	}
	res->backend = st.backend;
	res->mount = strdup_or_null(st.mount);
	res->vm_dir = strdup_or_null(st.vm_dir);
	r = vm_refresh_threads(env->discover, vm);
	if (r < 0 && r != -ESRCH) {
		rc = txn_fail(res, EXIT_FAILURE_RUNTIME, "pid %d: %s", (int)vm->pid, strerror(-r));
		goto out;
	}
	if (txn_open_record_mount(env, &st, &mount_fd) < 0 || txn_v1trees_open_record(env, &st, v1) < 0) {
		rc = txn_fail(res, EXIT_FAILURE_RUNTIME, "%s; nothing was changed", err_get());
		goto out;
	}
	r = plan_unpin(&st, vm, &plan);
	if (r < 0) {
		rc = txn_fail(res, EXIT_FAILURE_RUNTIME, "cannot plan the unpin: %s", strerror(-r));
		goto out;
	}
	ex = (struct exec_ctx){.mount_fd = mount_fd, .pidfd = -1, .task_fd = -1, .proc_fd = env->proc_fd, .pid = vm->pid,
			       .starttime = vm->starttime_ticks, .backend = st.backend, .vm = vm, .tune = &none,
			       .effective_cpus = env->host->online_cpus};
	txn_v1trees_exec(&ex, v1, false);
	exec_hooks_from_env(&ex.hooks);
	r = hold_vm(env, &ex, vm);
	if (r == 0)
		r = exec_plan(&ex, &plan, &log);
	if (r == -ESRCH) {
		rc = unpin_gone(env, vm, mount_fd, state_fd, &st, res);
		goto out;
	}
	if (r < 0) {
		rc = txn_fail(res, EXIT_FAILURE_RUNTIME, "unpin failed, the pin was left as it was: %s",
			  ex.failed ? ex.failed : strerror(-r));
		goto out;
	}
	unpin_net(env, vm, &st, &ex, res);
	what = unpin_audit_what(env, &st);
	if (ex.cleanup_failed == 0 && st.n_net == 0)
		rc = unpin_done(env, vm, mount_fd, state_fd, &st, migrate_back, res);
	else
		rc = unpin_left(vm, &st, &plan, &log, &ex, state_fd, res);
	res->plan = plan;
	plan = (struct plan){0};
out:
	exec_done(&ex);
	exec_release_vm(&ex);
	if (mount_fd >= 0)
		close(mount_fd);
	txn_v1trees_done(v1);
	undo_log_done(&log);
	plan_done(&plan);
	vm_state_done(&st);
	if (lock_fd >= 0 && txn_result_ok(res->result))
		tell_watch(state_fd, vm, res);
	state_unlock(state_fd, vm->pid, vm->starttime_ticks, lock_fd);
	close(state_fd);
	res->exit_code = rc = exit_if_gone(env, vm, res, rc);
	txn_audit(vm, "unpin", NULL, what, true, res);
	return rc;
}
