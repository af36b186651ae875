// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg run's mechanism (launch.h): spawn held, pin, release, wait for the monitor,
 * pin again, cont. */
#include "core/launch.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "state/state.h"
#include "vmm/discover.h"
#include "vmm/qmp.h"
#include "vmm/vmsel.h"

/* One try at the monitor lasts this long: between tries run looks at QEMU and at
 * the signals it forwards. */
#define LAUNCH_TRY_MS 250

static int child_setup(void *arg)
{
	return mempolicy_self_apply(arg);
}

void launch_done(struct launch *l)
{
	spawn_done(&l->sp);
	vm_free(l->vm);
	if (l->held_done)
		pin_result_done(&l->held);
	if (l->placed_done)
		pin_result_done(&l->placed);
	*l = (struct launch)LAUNCH_INIT;
}

static void kill_child(struct launch *l);

void launch_abort(const struct txn_env *env, struct launch *l)
{
	kill_child(l);
	char **problems = NULL;
	launch_collect(env, &problems);
	strv_free(problems);
}

int launch_collect(const struct txn_env *env, char ***ret_problems)
{
	int state_fd = state_dir_open(false);
	if (state_fd < 0)
		return state_fd == -ENOENT ? 0 : state_fd;
	int r = pin_collect_stale(env, state_fd, ret_problems);
	close(state_fd);
	return r;
}

/* QEMU (or what is left of it) killed and reaped. */
static void kill_child(struct launch *l)
{
	if (l->pid > 0 && l->pid != l->sp.pid)
		kill(l->pid, SIGKILL); /* the daemon of -daemonize: not our child */
	if (!l->sp.reaped) {
		spawn_signal(&l->sp, SIGKILL);
		spawn_wait(&l->sp, false, &l->exit_status);
	}
}

/* The monitor run added is up: 0 and l->pid its QEMU's pid (SO_PEERCRED). -ECHILD
 * when QEMU exited first (l->exited, l->exit_status), -ETIMEDOUT, -EINTR. */
static int wait_monitor(const struct launch_req *req, struct launch *l)
{
	uint64_t deadline = now_ns() + (uint64_t)req->start_timeout_ms * 1000000u;
	for (;;) {
		int status;
		if (!l->sp.reaped && spawn_wait(&l->sp, true, &status) == 0) {
			/* -daemonize: QEMU's parent exits 0 once the daemon is set up
			 * (os-posix.c os_setup_post()); the monitor is the daemon's */
			if (!req->daemonize || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				l->exited = true;
				l->exit_status = status;
				return -ECHILD;
			}
		}
		uint64_t now = now_ns(), slice = now + LAUNCH_TRY_MS * 1000000ull;
		struct qmp *q = NULL;
		int r = qmp_connect(req->qmp_path, slice < deadline ? slice : deadline, &q);
		if (r == 0) {
			/* The monitor greets from its own thread (QEMU's monitor I/O thread)
			 * before the machine is made; a command other than out-of-band runs in
			 * the main loop, which starts once every vCPU thread exists
			 * (softmmu/vl.c qemu_init() then qemu_main_loop()). */
			json_object *answer = NULL;
			r = qmp_execute(q, "query-status", &answer);
			json_object_put(answer);
			pid_t peer = qmp_peer_pid(q);
			qmp_close(q);
			if (r == 0 && peer <= 0)
				return -EPROTO;
			if (r == 0) {
				l->pid = peer;
				return 0;
			}
		}
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		/* not there yet (-ENOENT, -ECONNREFUSED), or no greeting in this slice */
		struct pollfd p[2] = {{.fd = req->interrupt_fd, .events = POLLIN},
				      {.fd = l->sp.reaped ? -1 : l->sp.pidfd, .events = POLLIN}};
		int n = poll(p, 2, r == -ETIMEDOUT ? 0 : 5);
		if (n > 0 && (p[0].revents & POLLIN))
			return -EINTR;
	}
}

/* -daemonize: the held child's record becomes the daemon's. The daemon is a fork of
 * it, in its cgroups, with its affinity and memory policy; only the pid and start
 * time differ, and the main thread's tid. The caller holds the child's lock from
 * before the child could exit, so that no collection of the exited child takes the
 * daemon for a launch whose run died (collect.c kill_unplaced()). */
static int hand_over_record(const struct txn_env *env, int state_fd, pid_t from, uint64_t from_start, pid_t to)
{
	struct proc_stat st;
	int r = proc_read_stat(env->proc_fd, to, 0, &st);
	if (r < 0)
		return r;
	struct vm_state s = {0};
	r = state_load(state_fd, from, from_start, &s);
	if (r == 0) {
		s.pid = to;
		s.starttime = st.starttime_ticks;
		for (size_t i = 0; i < s.n_threads; i++)
			if (s.threads[i].tid == from)
				s.threads[i].tid = to;
		r = state_save(state_fd, &s);
		if (r == 0)
			r = state_remove(state_fd, from, from_start);
		vm_state_done(&s);
	}
	return r;
}

static int fail(struct launch *l, const struct txn_env *env, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct launch *l, const struct txn_env *env, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	kill_child(l);
	char **problems = NULL;
	launch_collect(env, &problems);
	strv_free(problems);
	err_set("%s", msg ? msg : "out of memory");
	return code;
}

int launch_held_vm(const struct discover_opts *o, pid_t pid, const char *name, char *const *argv, struct vm **ret)
{
	struct vm *vm = NULL;
	int r = vm_held_child(o, pid, name, &vm);
	if (r < 0)
		return r;
	size_t argc = 0;
	while (argv[argc])
		argc++;
	r = qemu_config_parse(argv, argc, &vm->qemu);
	if (r == 0)
		r = vm_disks_parse(argv, argc, &vm->disks, &vm->n_disks);
	if (r == 0)
		r = vm_nics_parse(argv, argc, &vm->nics, &vm->n_nics);
	/* no monitor to ask: its guest RAM is what the command line gives (a socket
	 * named there may be another VM's, or not exist yet) */
	vm->memdevs_known = true;
	/* the vCPUs present at start: a hot-plug slot of maxcpus= has no thread to pin
	 * until a vCPU is plugged into it */
	int vcpus = vm->qemu.smp_cpus;
	if (r == 0 && vcpus > 0 && !(vm->unidentified_vcpus = calloc((size_t)vcpus, sizeof(int))))
		r = -ENOMEM;
	for (int i = 0; r == 0 && i < vcpus; i++)
		vm->unidentified_vcpus[vm->n_unidentified_vcpus++] = i;
	for (size_t i = 0; r == 0 && i < vm->qemu.n_iothread_ids; i++)
		r = strv_push(&vm->unidentified_iothreads, &vm->n_unidentified_iothreads, vm->qemu.iothread_ids[i]);
	if (r < 0) {
		vm_free(vm);
		return r;
	}
	*ret = vm;
	return 0;
}

static int place_held(const struct txn_env *env, const struct launch_req *req, struct launch *l)
{
	struct vm *held = NULL;
	int r = launch_held_vm(env->discover, l->sp.pid, req->name, req->argv, &held);
	if (r < 0)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "cannot read the process that is to execute QEMU: %s",
			    strerror(-r));
	struct pin_args a = req->held;
	a.launch = PIN_HELD;
	a.threads_unread = false;
	int rc = pin_vm(env, held, &a, &l->held);
	l->held_done = true;
	vm_free(held);
	if (rc != EXIT_OK) {
		/* nothing of QEMU ran; what the pin did is undone or collected */
		kill_child(l);
		char **problems = NULL;
		launch_collect(env, &problems);
		strv_free(problems);
		err_set("%s", l->held.message ? l->held.message : "cannot place QEMU's process");
	}
	return rc;
}

static int place_running(const struct txn_env *env, const struct launch_req *req, struct launch *l)
{
	struct discover_opts o = *env->discover, later;
	o.qmp_socket = req->qmp_path;
	/* the private monitor of a QEMU just started, which may still be slow to answer
	 * (a loaded host, a large -mem-prealloc): the start's budget, as for waiting for
	 * it and for resuming, not discovery's default */
	o.qmp_timeout_ms = req->start_timeout_ms;
	o.qmp_deadline_ns = 0;
	struct vm_selector sel = {.qmp = req->qmp_path};
	int r = vmsel_identify(&o, &sel, &l->vm, &later);
	if (r < 0)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "QEMU (pid %d) cannot be read: %s", (int)l->pid,
			    err_get() ? err_get() : strerror(-r));
	if (l->vm->pid != l->pid)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "the monitor %s answers from pid %d, not QEMU's %d",
			    req->qmp_path, (int)l->vm->pid, (int)l->pid);
	later.placement_later = false;
	later.want_memdevs = req->placed.req.mems && req->placed.req.mem_policy != MEM_POLICY_UNSET;
	struct txn_env env2 = *env;
	env2.discover = &later;
	struct pin_args a = req->placed;
	a.launch = PIN_LAUNCHED;
	a.threads_unread = true;
	int rc = pin_vm(&env2, l->vm, &a, &l->placed);
	l->placed_done = true;
	if (rc != EXIT_OK && rc != EXIT_PARTIAL)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "QEMU (pid %d) started but could not be placed, so it was "
			    "stopped: %s", (int)l->pid, l->placed.message ? l->placed.message : "the pin failed");
	return rc;
}

static int resume(const struct launch_req *req, struct launch *l, const struct txn_env *env)
{
	struct qmp *q _cleanup_qmp_ = NULL;
	uint64_t deadline = now_ns() + (uint64_t)req->start_timeout_ms * 1000000u;
	int r = qmp_connect(req->qmp_path, deadline, &q);
	json_object *ret = NULL;
	if (r == 0)
		r = qmp_execute(q, "cont", &ret);
	json_object_put(ret);
	if (r < 0)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "QEMU (pid %d) is placed but could not be resumed: %s",
			    (int)l->pid, qmp_strerror(r, q));
	return EXIT_OK;
}

int launch_start(const struct txn_env *env, const struct launch_req *req, struct launch *l)
{
	l->stage = "starting QEMU";
	int r = spawn_held(req->path, req->argv, req->stderr_fd, req->deathsig, req->mempolicy ? child_setup : NULL,
			   (void *)req->mempolicy, &l->sp);
	if (r < 0) {
		err_set("cannot start %s: %s", req->path, strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	struct proc_stat st;
	uint64_t child_start = proc_read_stat(env->proc_fd, l->sp.pid, 0, &st) == 0 ? st.starttime_ticks : 0;

	l->stage = "placing QEMU's process";
	int rc = place_held(env, req, l);
	if (rc != EXIT_OK)
		return rc;

	/* -daemonize: QEMU's first process exits once its daemon runs; its record is held
	 * until the daemon has it */
	_cleanup_close_ int state_fd = req->daemonize ? state_dir_open(false) : -1;
	int hold = -1;
	if (req->daemonize && (state_fd < 0 || state_lock(state_fd, l->sp.pid, child_start, PIN_LOCK_TIMEOUT_MS,
							 "run", &hold, NULL) < 0))
		return fail(l, env, EXIT_FAILURE_RUNTIME, "cannot hold the record of pid %d: %s", (int)l->sp.pid,
			    err_get() ? err_get() : "its lock");
	l->stage = "executing QEMU";
	if (req->before_exec)
		req->before_exec(req->before_exec_arg);
	r = spawn_release(&l->sp);
	if (r < 0) {
		l->exited = true;
		return fail(l, env, EXIT_FAILURE_RUNTIME, "cannot execute %s: %s", req->path, strerror(-r));
	}
	l->pid = l->sp.pid;

	l->stage = "waiting for QEMU's monitor";
	r = wait_monitor(req, l);
	int h = 0;
	if (r == 0 && l->pid != l->sp.pid && req->daemonize)
		h = hand_over_record(env, state_fd, l->sp.pid, child_start, l->pid);
	if (hold >= 0)
		state_unlock(state_fd, l->sp.pid, child_start, hold);
	if (h < 0)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "cannot hand the record of pid %d to QEMU's daemon %d: %s",
			    (int)l->sp.pid, (int)l->pid, err_get() ? err_get() : strerror(-h));
	if (r == -EINTR)
		return r;
	if (r == -ECHILD)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "QEMU exited before its monitor came up (%s %d)",
			    WIFSIGNALED(l->exit_status) ? "signal" : "status",
			    WIFSIGNALED(l->exit_status) ? WTERMSIG(l->exit_status) : WEXITSTATUS(l->exit_status));
	if (r < 0)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "QEMU's monitor %s did not come up within %d ms (%s); QEMU "
			    "was stopped", req->qmp_path, req->start_timeout_ms, strerror(-r));
	if (l->pid != l->sp.pid && !req->daemonize)
		return fail(l, env, EXIT_FAILURE_RUNTIME, "the monitor %s answers from pid %d, not QEMU's %d",
			    req->qmp_path, (int)l->pid, (int)l->sp.pid);

	l->stage = "placing QEMU's threads";
	rc = place_running(env, req, l);
	if (rc != EXIT_OK && rc != EXIT_PARTIAL)
		return rc;
	if (req->cont) {
		l->stage = "resuming the guest";
		int c = resume(req, l, env);
		if (c != EXIT_OK)
			return c;
	}
	l->paused = !req->cont;
	return rc;
}
