// SPDX-License-Identifier: GPL-2.0-or-later
/* exec, every action kind and its undo, and a failure at every position of a whole
 * pin plan, against a cgroupfs stand-in (fakecg.h: a scratch hierarchy whose mkdir,
 * rmdir, cgroup.subtree_control and task moves behave as the kernel's, with a fake
 * /proc that says where each task is) and the test's own threads, whose affinity and
 * scheduling class are real: what an action sets is read back from the kernel
 * (sched_getaffinity, sched_getscheduler), and after a rollback every file, directory,
 * task's cgroup, mask, policy and priority must be exactly as before.
 *
 * The "VM" is this test process: its main thread is the emulator's main thread, four
 * more threads play an RCU thread, two vCPUs and an iothread, and a fifth one is in
 * /proc but not in what discovery saw: the rescan's newcomer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/idset.h"
#include "basic/util.h"
#include "exec/exec.h"
#include "fakecg.h"
#include "scratch.h"
#include "tune/tune.h"

/* ---- the threads ----------------------------------------------------------------------------- */

enum { T_MAIN, T_RCU, T_VCPU0, T_VCPU1, T_IO0, T_NEW, N_THREADS };
#define N_VM_THREADS T_NEW /* the newcomer is not among what discovery saw */
static const char *const thread_name[N_THREADS] = {"main", "rcu", "vcpu0", "vcpu1", "io0", "newcomer"};

/* CPU masks as bits: A is bit 0, B bit 1, the first two CPUs this process may use. */
enum { A = 1, B = 2, AB = 3 };
static const struct {
	unsigned cpus;
	int policy;
	const char *cgroup;
} initial[N_THREADS] = {
	[T_MAIN] = {AB, SCHED_OTHER, "launcher"},
	[T_RCU] = {AB, SCHED_OTHER, "launcher"},
	[T_VCPU0] = {A, SCHED_OTHER, "launcher"},
	[T_VCPU1] = {B, SCHED_BATCH, "launcher/old"}, /* not where the main thread is */
	[T_IO0] = {AB, SCHED_OTHER, "launcher"},
	[T_NEW] = {B, SCHED_OTHER, "launcher"}, /* not the main thread's mask */
};

static pid_t pid, tid[N_THREADS];
static pthread_t th[N_THREADS];
static bool started[N_THREADS];
static int stop_pipe[2] = {-1, -1};
static sem_t ready;
static unsigned cpu_a, cpu_b;
static bool main_saved;
static cpu_set_t main_mask;
static int main_policy;
static struct sched_param main_param;

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	tid[i] = gettid();
	sem_post(&ready);
	char c;
	while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void cpuset_of(unsigned bits, cpu_set_t *m)
{
	CPU_ZERO(m);
	if (bits & A)
		CPU_SET(cpu_a, m);
	if (bits & B)
		CPU_SET(cpu_b, m);
}

static struct idset *idset_of(unsigned bits)
{
	struct idset *s = idset_new();
	cr_assert_not_null(s);
	if (bits & A)
		cr_assert_eq(idset_set(s, cpu_a), 0);
	if (bits & B)
		cr_assert_eq(idset_set(s, cpu_b), 0);
	return s;
}

static void set_mask(pid_t t, unsigned bits)
{
	cpu_set_t m;
	cpuset_of(bits, &m);
	cr_assert_eq(sched_setaffinity(t, sizeof(m), &m), 0, "sched_setaffinity %d: %s", (int)t, strerror(errno));
}

/* The thread's mask as bits (A, B), read from the kernel. */
static unsigned mask_now(int i)
{
	cpu_set_t m;
	cr_assert_eq(sched_getaffinity(tid[i], sizeof(m), &m), 0);
	return (CPU_ISSET(cpu_a, &m) ? A : 0) | (CPU_ISSET(cpu_b, &m) ? B : 0);
}

static void set_sched(pid_t t, int policy, int prio)
{
	struct sched_param sp = {.sched_priority = prio};
	cr_assert_eq(sched_setscheduler(t, policy, &sp), 0, "sched_setscheduler %d: %s", (int)t, strerror(errno));
}

/* "fifo:1", "batch": the thread's policy and priority, read from the kernel. */
static void sched_now(int i, char *buf, size_t size)
{
	struct sched_param sp;
	int policy = sched_getscheduler(tid[i]);
	cr_assert_geq(policy, 0);
	cr_assert_eq(sched_getparam(tid[i], &sp), 0);
	sched_format(policy & ~SCHED_RESET_ON_FORK, (unsigned)sp.sched_priority, buf, size);
}

static void start_threads(void)
{
	pid = getpid();
	tid[T_MAIN] = pid;
	cr_assert_eq(sched_getaffinity(pid, sizeof(main_mask), &main_mask), 0);
	main_policy = sched_getscheduler(pid);
	cr_assert_eq(sched_getparam(pid, &main_param), 0);
	main_saved = true;
	/* the first two CPUs this process may run on */
	int n = 0;
	for (unsigned c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &main_mask))
			*(n++ ? &cpu_b : &cpu_a) = c;
	cr_assert_eq(n, 2, "these tests need two CPUs");
	cr_assert_eq(pipe2(stop_pipe, O_CLOEXEC), 0);
	cr_assert_eq(sem_init(&ready, 0, 0), 0);
	for (int i = 1; i < N_THREADS; i++) {
		cr_assert_eq(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
		started[i] = true;
		while (sem_wait(&ready) < 0)
			;
	}
	for (int i = 0; i < N_THREADS; i++) {
		set_mask(tid[i], initial[i].cpus);
		set_sched(tid[i], initial[i].policy, 0);
	}
}

static void stop_threads(void)
{
	if (main_saved) {
		sched_setaffinity(pid, sizeof(main_mask), &main_mask);
		sched_setscheduler(pid, main_policy, &main_param);
		main_saved = false;
	}
	if (stop_pipe[1] >= 0)
		close(stop_pipe[1]);
	for (int i = 1; i < N_THREADS; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	if (stop_pipe[0] >= 0)
		close(stop_pipe[0]);
	stop_pipe[0] = stop_pipe[1] = -1;
	memset(started, 0, sizeof(started));
}

/* Real-time and SCHED_IDLE (which an unprivileged thread cannot leave) need root. */
static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (real-time and idle scheduling classes)");
}

/* ---- the scratch tree ---------------------------------------------------------------------- */

#define STARTTIME 4242
static char root[128], cg_dir[160], proc_dir[160];
static int root_fd = -1, mount_fd = -1, proc_fd = -1;
static enum pin_backend backend;
static struct vm *vm;
static struct vm_tune tune;
static struct idset *effective;
static struct plan plan;
static struct exec_ctx ex;
static struct undo_log ulog;

static void put_at(int dirfd, const char *path, const char *text)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A cgroup: made through the stand-in, so its interface files are there. */
static void cg_mkdir(const char *path)
{
	cr_assert_eq(mkdirat(mount_fd, path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
}

/* A write as the kernel takes it (through the stand-in). */
static void cg_put(const char *path, const char *value)
{
	cr_assert_eq(write_file_at(mount_fd, path, value), 0, "write %s", path);
}

static char *cat(const char *path)
{
	char *s = NULL;
	int r = read_file_at(mount_fd, path, &s, NULL);
	cr_assert_eq(r, 0, "read %s: %s", path, strerror(-r));
	return s;
}

static bool exists(const char *path)
{
	struct stat st;
	return fstatat(mount_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *where(int i)
{
	char *w = fakecg_where(pid, tid[i]);
	cr_assert_not_null(w, "no cgroup for %s", thread_name[i]);
	return w;
}

/* proc/PID/stat as the kernel writes it: running ('S'), no flags, start time 4242. */
static void put_stat(const char *path, pid_t id)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%d (unit test) S", (int)id);
	for (int field = 4; field <= 52; field++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %d", field == 22 ? STARTTIME : 0);
	snprintf(line + n, sizeof(line) - (size_t)n, "\n");
	put_at(proc_fd, path, line);
}

static void put_status(const char *sigpnd)
{
	char path[64], text[256];
	snprintf(path, sizeof(path), "%d/status", (int)pid);
	snprintf(text, sizeof(text), "Name:\tunit test\nState:\tS (sleeping)\nSigPnd:\t%s\nShdPnd:\t0000000000000000\n",
		 sigpnd);
	put_at(proc_fd, path, text);
}

static void make_proc(void)
{
	char path[64];
	for (int i = 0; i < N_THREADS; i++) {
		fakecg_place(pid, tid[i], initial[i].cgroup);
		snprintf(path, sizeof(path), "%d/task/%d/stat", (int)pid, (int)tid[i]);
		put_stat(path, tid[i]);
	}
	snprintf(path, sizeof(path), "%d/stat", (int)pid);
	put_stat(path, pid);
	put_status("0000000000000000");
}

/* The root with launcher/ (where the VM was started) and launcher/old/, and kvmcg/
 * with kvmcg/stale/, left by an earlier run. */
static void make_tree(void)
{
	if (backend == BACKEND_CGROUP_V2) {
		put_at(mount_fd, "cgroup.procs", "");
		put_at(mount_fd, "cgroup.threads", "");
		put_at(mount_fd, "cgroup.subtree_control", "io memory\n");
	} else {
		char cpus[32];
		snprintf(cpus, sizeof(cpus), "%u-%u\n", cpu_a, cpu_b);
		put_at(mount_fd, "cgroup.procs", "");
		put_at(mount_fd, "tasks", "");
		put_at(mount_fd, "cpuset.cpus", cpus);
		put_at(mount_fd, "cpuset.mems", "0\n");
		put_at(mount_fd, "cpuset.memory_migrate", "0\n");
	}
	char cpus[32];
	snprintf(cpus, sizeof(cpus), "%u-%u", cpu_a, cpu_b);
	cg_mkdir("launcher");
	cg_mkdir("launcher/old");
	cg_mkdir("kvmcg");
	cg_mkdir("kvmcg/stale");
	cg_put("launcher/cpuset.cpus", cpus);
	if (backend == BACKEND_CGROUP_V2) {
		cg_put("kvmcg/cgroup.subtree_control", "+io");
	} else {
		cg_put("launcher/cpuset.mems", "0");
		cg_put("launcher/old/cpuset.cpus", cpus);
		cg_put("launcher/old/cpuset.mems", "0");
		cg_put("kvmcg/cpuset.cpus", cpus);
		cg_put("kvmcg/cpuset.mems", "0");
	}
}

/* What discovery saw and what the VM is to get: emulator A, vCPU 0 B, vCPU 1 A,
 * iothread io0 B, vCPUs fifo:1. */
static void make_vm(void)
{
	vm = calloc(1, sizeof(*vm));
	cr_assert_not_null(vm);
	vm->pid = pid;
	vm->starttime_ticks = STARTTIME;
	vm->threads = calloc(N_VM_THREADS, sizeof(*vm->threads));
	cr_assert_not_null(vm->threads);
	vm->n_threads = N_VM_THREADS;
	for (int i = 0; i < N_VM_THREADS; i++) {
		struct vm_thread *t = &vm->threads[i];
		t->tid = tid[i];
		t->kind = i == T_VCPU0 || i == T_VCPU1 ? THREAD_VCPU : i == T_IO0 ? THREAD_IOTHREAD : THREAD_EMULATOR;
		t->vcpu_index = i == T_VCPU0 ? 0 : i == T_VCPU1 ? 1 : -1;
		t->iothread_id = i == T_IO0 ? strdup("io0") : NULL;
		t->affinity = idset_of(initial[i].cpus);
		cr_assert_geq(asprintf(&t->cgroup, "/%s", initial[i].cgroup), 0);
		t->stat.policy = (unsigned)initial[i].policy;
	}
	tune = (struct vm_tune){0};
	tune.vcpu = calloc(2, sizeof(*tune.vcpu));
	cr_assert_not_null(tune.vcpu);
	tune.n_vcpu = 2;
	tune.vcpu[0] = idset_of(B);
	tune.vcpu[1] = idset_of(A);
	tune.emulator = idset_of(A);
	tune.iothread_ids = calloc(1, sizeof(*tune.iothread_ids));
	tune.iothread = calloc(1, sizeof(*tune.iothread));
	cr_assert(tune.iothread_ids && tune.iothread);
	tune.iothread_ids[0] = strdup("io0");
	tune.iothread[0] = idset_of(B);
	tune.n_iothread = 1;
	tune.cputune.sched_set = true;
	tune.cputune.sched_policy = SCHED_FIFO;
	tune.cputune.sched_priority = 1;
	effective = idset_of(AB);
}

static void setup_for(enum pin_backend b)
{
	backend = b;
	start_threads();
	scratch_make(root, sizeof(root), "exec-ops");
	snprintf(cg_dir, sizeof(cg_dir), "%s/cg", root);
	snprintf(proc_dir, sizeof(proc_dir), "%s/proc", root);
	cr_assert_eq(mkdir(cg_dir, 0755), 0);
	cr_assert_eq(mkdir(proc_dir, 0755), 0);
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mount_fd = open(cg_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	proc_fd = open(proc_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(root_fd >= 0 && mount_fd >= 0 && proc_fd >= 0);
	fakecg_start(cg_dir, proc_dir, b == BACKEND_CGROUP_V1);
	make_proc();
	make_tree();
	make_vm();
	ex = (struct exec_ctx){.mount_fd = mount_fd,
			       .proc_fd = proc_fd,
			       .pidfd = -1, .task_fd = -1,
			       .pid = pid,
			       .starttime = STARTTIME,
			       .backend = b,
			       .vm = vm,
			       .tune = &tune,
			       .effective_cpus = effective};
}

static void setup_v2(void)
{
	setup_for(BACKEND_CGROUP_V2);
}

static void setup_v1(void)
{
	setup_for(BACKEND_CGROUP_V1);
}

static void teardown(void)
{
	fakecg_stop();
	stop_threads();
	exec_done(&ex);
	undo_log_done(&ulog);
	plan_done(&plan);
	vm_free(vm);
	vm = NULL;
	vm_tune_done(&tune);
	idset_free(effective);
	effective = NULL;
	if (proc_fd >= 0)
		close(proc_fd);
	if (mount_fd >= 0)
		close(mount_fd);
	if (root_fd >= 0)
		close(root_fd);
	proc_fd = mount_fd = root_fd = -1;
	if (root[0])
		scratch_remove(root);
	root[0] = '\0';
}

/* ---- the state a rollback must restore --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory and file below dirfd, sorted, a file as "path=content". */
static void walk(int dirfd, const char *prefix, FILE *out)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	DIR *d = fdopendir(fd);
	cr_assert_not_null(d);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		cr_assert_not_null(names);
		names[n++] = strdup(de->d_name);
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		cr_assert_eq(fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW), 0);
		if (S_ISDIR(st.st_mode)) {
			fprintf(out, "%s%s/\n", prefix, names[i]);
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			cr_assert_geq(sub, 0);
			char p[512];
			snprintf(p, sizeof(p), "%s%s/", prefix, names[i]);
			walk(sub, p, out);
			close(sub);
		} else {
			_cleanup_free_ char *buf = NULL;
			cr_assert_eq(read_file_at(dirfd, names[i], &buf, NULL), 0);
			fprintf(out, "%s%s=", prefix, names[i]);
			for (const char *c = buf; *c; c++)
				fputs(*c == '\n' ? "\\n" : (char[]){*c, 0}, out);
			fputc('\n', out);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
}

/* The scratch tree (the hierarchy, with cgroup.subtree_control, and the fake /proc
 * with each task's cgroup), then each thread's mask, policy and priority as the kernel
 * reports them. */
static char *state(void)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	cr_assert_not_null(f);
	walk(root_fd, "", f);
	for (int i = 0; i < N_THREADS; i++) {
		cpu_set_t m;
		cr_assert_eq(sched_getaffinity(tid[i], sizeof(m), &m), 0);
		fprintf(f, "thread %s: cpus", thread_name[i]);
		for (unsigned c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &m))
				fprintf(f, " %u", c);
		struct sched_param sp;
		int policy = sched_getscheduler(tid[i]);
		cr_assert_eq(sched_getparam(tid[i], &sp), 0);
		fprintf(f, ", policy %d, priority %d\n", policy, sp.sched_priority);
	}
	fclose(f);
	return s;
}

/* Fails naming the first line that differs. */
static void assert_state(const char *want, const char *when)
{
	_cleanup_free_ char *have = state();
	if (strcmp(have, want) == 0)
		return;
	const char *h = have, *w = want;
	while (*h && *h == *w) {
		const char *hn = strchr(h, '\n'), *wn = strchr(w, '\n');
		if (!hn || !wn || hn - h != wn - w || strncmp(h, w, (size_t)(hn - h)) != 0)
			break;
		h = hn + 1;
		w = wn + 1;
	}
	cr_assert_fail("%s: the state differs\nhave: %.*s\nwant: %.*s", when, (int)strcspn(h, "\n"), h,
		       (int)strcspn(w, "\n"), w);
}

/* want with every line that starts with prefix dropped. */
static char *without_lines(const char *want, const char *prefix)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	for (const char *l = want; *l;) {
		size_t n = strcspn(l, "\n");
		if (strncmp(l, prefix, strlen(prefix)) != 0)
			fprintf(f, "%.*s\n", (int)n, l);
		l += n + (l[n] == '\n');
	}
	fclose(f);
	return s;
}

/* want with the line old replaced by new. */
static char *with_line(const char *want, const char *old, const char *new)
{
	const char *at = strstr(want, old);
	cr_assert_not_null(at, "no line %s", old);
	char *s = NULL;
	cr_assert_geq(asprintf(&s, "%.*s%s%s", (int)(at - want), want, new, at + strlen(old)), 0);
	return s;
}

/* ---- plans ---------------------------------------------------------------------------------- */

static void act(enum action_kind kind, const char *dir, const char *file, const char *value, pid_t t,
		unsigned cpus, bool cleanup)
{
	struct action a = {.kind = kind,
			   .dir = strdup_or_null(dir),
			   .file = strdup_or_null(file),
			   .value = strdup_or_null(value),
			   .tid = t,
			   .cpus = cpus ? idset_of(cpus) : NULL,
			   .cleanup = cleanup};
	cr_assert_eq(plan_add(&plan, &a), 0);
}

static int run(void)
{
	ex.executed = 0;
	return exec_plan(&ex, &plan, &ulog);
}

static void run_ok(void)
{
	int r = run();
	cr_assert_eq(r, 0, "exec_plan = %d (%s)", r, ex.failed ? ex.failed : "");
}

static const struct undo_entry *entry(size_t action)
{
	const struct undo_entry *e = undo_log_find(&ulog, action);
	cr_assert_not_null(e, "no undo entry for action %zu", action);
	cr_assert_eq(e->action, action);
	cr_assert_eq(e->kind, plan.actions[action].kind);
	cr_assert_not(e->undone);
	cr_assert_not(e->undo_failed);
	return e;
}

/* Rolls back; every entry but a cleanup step's is undone. */
static void rollback_ok(void)
{
	int r = exec_rollback(&ex, &ulog);
	cr_assert_eq(r, 0, "exec_rollback = %d", r);
	for (size_t i = 0; i < ulog.n; i++) {
		const struct undo_entry *e = &ulog.entries[i];
		cr_assert_eq(e->undone, !e->cleanup, "entry %zu (action %zu, %s): undone %d", i, e->action,
			     action_kind_name(e->kind), e->undone);
		cr_assert_not(e->undo_failed, "entry %zu (%s)", i, action_kind_name(e->kind));
	}
}

static char *list(unsigned bits)
{
	struct idset *s _cleanup_cpuset_ = idset_of(bits);
	char *l = idset_format(s);
	cr_assert_not_null(l);
	return l;
}

/* ---- controllers ------------------------------------------------------------------------------ */

TestSuite(exec_ops, .init = setup_v2, .fini = teardown, .timeout = 60);
TestSuite(exec_ops_v1, .init = setup_v1, .fini = teardown, .timeout = 60);

Test(exec_ops, enable_controller)
{
	_cleanup_free_ char *before = state();
	act(ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpuset", 0, 0, false);
	run_ok();
	_cleanup_free_ char *sc = cat("cgroup.subtree_control");
	cr_assert_str_eq(sc, "cpuset io memory\n");
	const struct undo_entry *e = entry(0);
	cr_assert(e->changed);
	cr_assert_str_eq(e->old_value, "io memory");
	rollback_ok();
	assert_state(before, "after rollback");
}

Test(exec_ops, enable_controller_already_enabled)
{
	_cleanup_free_ char *before = state();
	act(ACT_ENABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "+io", 0, 0, false);
	run_ok();
	cr_assert_not(entry(0)->changed);
	assert_state(before, "nothing to change");
	rollback_ok();
	assert_state(before, "after rollback");
}

/* The kernel refuses a controller the parent does not enable (ENOENT): nothing done. */
Test(exec_ops, enable_controller_the_parent_lacks)
{
	_cleanup_free_ char *before = state();
	act(ACT_ENABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "+cpu", 0, 0, false);
	cr_assert_eq(run(), -ENOENT);
	cr_assert_eq(ulog.n, 0);
	cr_assert_not_null(strstr(ex.failed, "enable-controller /kvmcg/cgroup.subtree_control: the controller is not available"),
			   "%s", ex.failed);
	assert_state(before, "after the failure");
}

Test(exec_ops, disable_controller)
{
	_cleanup_free_ char *before = state();
	act(ACT_DISABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "-io", 0, 0, false);
	run_ok();
	_cleanup_free_ char *sc = cat("kvmcg/cgroup.subtree_control");
	cr_assert_str_eq(sc, "\n");
	const struct undo_entry *e = entry(0);
	cr_assert(e->changed);
	cr_assert_str_eq(e->old_value, "io");
	rollback_ok();
	assert_state(before, "after rollback");
}

/* ---- directories -------------------------------------------------------------------------------- */

Test(exec_ops, mkdir)
{
	_cleanup_free_ char *before = state();
	act(ACT_MKDIR, "kvmcg/demo", NULL, NULL, 0, 0, false);
	act(ACT_MKDIR, "kvmcg/demo/vcpu0", NULL, NULL, 0, 0, false);
	act(ACT_MKDIR, "kvmcg/stale", NULL, NULL, 0, 0, false); /* there already */
	run_ok();
	_cleanup_free_ char *type = cat("kvmcg/demo/vcpu0/cgroup.type");
	cr_assert_str_eq(type, "domain\n");
	cr_assert(entry(0)->created);
	cr_assert(entry(1)->created);
	cr_assert_not(entry(2)->created);
	rollback_ok();
	assert_state(before, "after rollback");
	cr_assert(exists("kvmcg/stale"), "a directory it did not make stays");
}

/* A cleanup step: never undone; one whose cgroup is gone already is done. */
Test(exec_ops, rmdir_cleanup_step)
{
	_cleanup_free_ char *before = state();
	act(ACT_RMDIR, "kvmcg/stale", NULL, NULL, 0, 0, true);
	act(ACT_RMDIR, "kvmcg/never-made", NULL, NULL, 0, 0, true);
	run_ok();
	cr_assert_eq(ex.cleanup_failed, 0);
	cr_assert_not(exists("kvmcg/stale"));
	cr_assert(entry(0)->cleanup);
	cr_assert(entry(1)->cleanup);
	rollback_ok();
	_cleanup_free_ char *want = without_lines(before, "cg/kvmcg/stale/");
	assert_state(want, "after rollback");
}

/* A cleanup step that fails stops nothing, gets no entry and is counted; the first
 * failure's sentence is kept. */
Test(exec_ops, cleanup_steps_that_fail)
{
	fakecg_place(pid, tid[T_VCPU0], "kvmcg/stale");
	act(ACT_RMDIR, "kvmcg/stale", NULL, NULL, 0, 0, true);                                  /* vCPU 0 is in it */
	act(ACT_DISABLE_CONTROLLER, "", "cgroup.subtree_control", "-io", 0, 0, true);           /* kvmcg/ enables io */
	act(ACT_DISABLE_CONTROLLER, "", "cgroup.subtree_control", "-memory", 0, 0, true);
	run_ok();
	cr_assert_eq(ex.cleanup_failed, 2);
	cr_assert_null(undo_log_find(&ulog, 0));
	cr_assert_null(undo_log_find(&ulog, 1));
	cr_assert(entry(2)->cleanup);
	cr_assert_eq(ulog.n, 1);
	cr_assert_not_null(ex.failed);
	cr_assert_not_null(strstr(ex.failed, "rmdir /kvmcg/stale: busy"), "%s", ex.failed);
	cr_assert(exists("kvmcg/stale"));
	_cleanup_free_ char *sc = cat("cgroup.subtree_control");
	cr_assert_str_eq(sc, "io\n", "the steps after a failed one ran");
	rollback_ok();
	_cleanup_free_ char *after = cat("cgroup.subtree_control");
	cr_assert_str_eq(after, "io\n", "a cleanup step is not rolled back");
}

Test(exec_ops, injected_failure_at_a_cleanup_step)
{
	act(ACT_RMDIR, "kvmcg/stale", NULL, NULL, 0, 0, true);
	act(ACT_DISABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "-io", 0, 0, true);
	ex.hooks.fail_at = 1;
	run_ok();
	cr_assert_eq(ex.cleanup_failed, 1);
	cr_assert_null(undo_log_find(&ulog, 0));
	cr_assert(entry(1)->cleanup);
	cr_assert_not_null(strstr(ex.failed, "injected failure at action 1"), "%s", ex.failed);
	cr_assert(exists("kvmcg/stale"));
}

/* The kernel turns a cgroup threaded one way only: the undo has nothing to write, and
 * the directory goes with the mkdir that made it. */
Test(exec_ops, set_threaded)
{
	act(ACT_SET_THREADED, "kvmcg/stale", "cgroup.type", "threaded", 0, 0, false);
	act(ACT_SET_THREADED, "kvmcg/stale", "cgroup.type", "threaded", 0, 0, false);
	run_ok();
	_cleanup_free_ char *type = cat("kvmcg/stale/cgroup.type");
	cr_assert_str_eq(type, "threaded\n");
	const struct undo_entry *e = entry(0);
	cr_assert(e->changed);
	cr_assert_str_eq(e->old_value, "domain");
	cr_assert_not(entry(1)->changed, "threaded already: not written again");
	rollback_ok();
	_cleanup_free_ char *after = cat("kvmcg/stale/cgroup.type");
	cr_assert_str_eq(after, "threaded\n");
}

/* ---- files ------------------------------------------------------------------------------------ */

static void check_write(const char *dir, const char *file, const char *value, const char *old)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_free_ char *before = state(), *was = cat(path);
	act(ACT_WRITE, dir, file, value, 0, 0, false);
	run_ok();
	_cleanup_free_ char *now = cat(path), *want = NULL;
	cr_assert_geq(asprintf(&want, "%s\n", value), 0);
	cr_assert_str_eq(now, want);
	cr_assert_str_eq(entry(0)->old_value, old);
	rollback_ok();
	_cleanup_free_ char *back = cat(path);
	cr_assert_str_eq(back, was);
	assert_state(before, "after rollback");
}

Test(exec_ops, write_cpuset_cpus)
{
	_cleanup_free_ char *old = NULL, *b = list(B);
	cr_assert_geq(asprintf(&old, "%u-%u", cpu_a, cpu_b), 0);
	check_write("launcher", "cpuset.cpus", b, old);
}

/* An empty cpuset.mems (inherit) comes back as "\n": a write of nothing would change
 * nothing. */
Test(exec_ops, write_cpuset_mems_from_empty)
{
	check_write("launcher", "cpuset.mems", "0", "");
	_cleanup_free_ char *mems = cat("launcher/cpuset.mems");
	cr_assert_str_eq(mems, "\n");
}

Test(exec_ops, write_cpu_weight)
{
	check_write("launcher", "cpu.weight", "250", "100");
}

/* A keyed file: the line of the key written is what undo puts back, or, when the file
 * had none, the line that resets the key (the stand-in keeps the last write whole; the
 * kernel would change that one line). */
static void check_write_line(const char *path, const char *seed, const char *line, const char *old)
{
	cg_put(path, seed);
	_cleanup_free_ char *dir = strndup(path, (size_t)(strrchr(path, '/') - path));
	act(ACT_WRITE_LINE, dir, strrchr(path, '/') + 1, line, 0, 0, false);
	run_ok();
	_cleanup_free_ char *now = cat(path), *want = NULL;
	cr_assert_geq(asprintf(&want, "%s\n", line), 0);
	cr_assert_str_eq(now, want);
	cr_assert_str_eq(entry(0)->old_value, old);
	rollback_ok();
	_cleanup_free_ char *back = cat(path), *want_back = NULL;
	cr_assert_geq(asprintf(&want_back, "%s\n", old), 0);
	cr_assert_str_eq(back, want_back);
}

Test(exec_ops, write_line_io_max_of_a_device_without_one)
{
	check_write_line("launcher/io.max", "8:0 rbps=1 wbps=max riops=max wiops=max",
			 "7:0 rbps=max wbps=10485760 riops=max wiops=max", "7:0 rbps=max wbps=max riops=max wiops=max");
}

Test(exec_ops, write_line_io_max_of_a_device_with_one)
{
	check_write_line("launcher/io.max", "8:0 rbps=1 wbps=max riops=max wiops=max\n7:0 rbps=5 wbps=max riops=max wiops=max",
			 "7:0 rbps=max wbps=10485760 riops=max wiops=max", "7:0 rbps=5 wbps=max riops=max wiops=max");
}

Test(exec_ops, write_line_io_weight)
{
	check_write_line("launcher/io.weight", "default 100", "default 300", "default 100");
	plan_done(&plan);
	undo_log_done(&ulog);
	check_write_line("launcher/io.weight", "default 100\n7:0 50", "7:0 500", "7:0 50");
	plan_done(&plan);
	undo_log_done(&ulog);
	check_write_line("launcher/io.weight", "default 100", "8:16 500", "8:16 default");
}

Test(exec_ops, write_cpu_max)
{
	check_write("launcher", "cpu.max", "50000 100000", "max 100000");
}

/* ---- threads ------------------------------------------------------------------------------------ */

/* cgroup.procs takes every thread along; the undo puts the process back, then each
 * thread that was elsewhere (vCPU 1, in launcher/old). */
Test(exec_ops, move_process)
{
	cg_mkdir("kvmcg/demo");
	cg_mkdir("kvmcg/demo/emulator");
	_cleanup_free_ char *before = state();
	act(ACT_MOVE_PROCESS, "kvmcg/demo/emulator", "cgroup.procs", NULL, pid, 0, false);
	run_ok();
	for (int i = 0; i < N_THREADS; i++) {
		_cleanup_free_ char *w = where(i);
		cr_assert_str_eq(w, "kvmcg/demo/emulator", "%s", thread_name[i]);
	}
	const struct undo_entry *e = entry(0);
	cr_assert_str_eq(e->old_value, "launcher");
	cr_assert_eq(e->tid, pid);
	cr_assert_eq(e->n_moved, N_THREADS);
	for (int i = 0; i < N_THREADS; i++) {
		size_t k = 0;
		while (k < e->n_moved && e->moved[k].tid != tid[i])
			k++;
		cr_assert_lt(k, e->n_moved, "%s not recorded", thread_name[i]);
		cr_assert_str_eq(e->moved[k].cgroup, initial[i].cgroup, "%s", thread_name[i]);
	}
	rollback_ok();
	assert_state(before, "after rollback");
}

Test(exec_ops, move_thread)
{
	cg_mkdir("kvmcg/demo");
	cg_mkdir("kvmcg/demo/vcpu0");
	_cleanup_free_ char *before = state();
	act(ACT_MOVE_THREAD, "kvmcg/demo/vcpu0", "cgroup.threads", NULL, tid[T_VCPU0], 0, false);
	run_ok();
	_cleanup_free_ char *w = where(T_VCPU0), *other = where(T_VCPU1), *main_cg = where(T_MAIN);
	cr_assert_str_eq(w, "kvmcg/demo/vcpu0");
	cr_assert_str_eq(main_cg, "launcher", "only the thread moves");
	cr_assert_str_eq(other, "launcher/old");
	const struct undo_entry *e = entry(0);
	cr_assert_str_eq(e->old_value, "launcher");
	cr_assert_eq(e->tid, tid[T_VCPU0]);
	rollback_ok();
	assert_state(before, "after rollback");
}

/* A thread that exited is no error, and nothing was done to undo. */
Test(exec_ops, move_thread_gone)
{
	cg_mkdir("kvmcg/demo");
	_cleanup_free_ char *before = state();
	act(ACT_MOVE_THREAD, "kvmcg/demo", "cgroup.threads", NULL, 0x3ffffff0, 0, false);
	run_ok();
	cr_assert_eq(ulog.n, 0);
	assert_state(before, "nothing done");
}

/* v1 moves each thread by its TID through tasks, and so does the undo (there is no
 * cgroup.threads in the v1 hierarchy: a wrong file fails). */
Test(exec_ops_v1, move_thread)
{
	cg_mkdir("kvmcg/demo");
	cg_mkdir("kvmcg/demo/vcpu1");
	_cleanup_free_ char *before = state();
	act(ACT_MOVE_THREAD, "kvmcg/demo/vcpu1", "tasks", NULL, tid[T_VCPU1], 0, false);
	run_ok();
	_cleanup_free_ char *w = where(T_VCPU1);
	cr_assert_str_eq(w, "kvmcg/demo/vcpu1");
	cr_assert_str_eq(entry(0)->old_value, "launcher/old");
	rollback_ok();
	assert_state(before, "after rollback");
}

/* A thread /proc lists and discovery did not see is moved to the emulator's cgroup
 * and given the emulator's CPUs, each with an entry of its own; the rescan has none. */
static void check_rescan(unsigned want_cpus)
{
	cg_mkdir("kvmcg/demo");
	cg_mkdir("kvmcg/demo/emulator");
	_cleanup_free_ char *before = state();
	unsigned masks[N_THREADS];
	for (int i = 0; i < N_THREADS; i++)
		masks[i] = mask_now(i);
	act(ACT_RESCAN, "kvmcg/demo", NULL, NULL, pid, 0, false);
	run_ok();
	cr_assert_eq(ex.executed, 3, "the rescan and the newcomer's two actions");
	_cleanup_free_ char *w = where(T_NEW);
	cr_assert_str_eq(w, "kvmcg/demo/emulator");
	cr_assert_eq(mask_now(T_NEW), want_cpus);
	for (int i = 0; i < N_VM_THREADS; i++) {
		_cleanup_free_ char *cg = where(i);
		cr_assert_str_eq(cg, initial[i].cgroup, "%s is left alone", thread_name[i]);
		cr_assert_eq(mask_now(i), masks[i], "%s is left alone", thread_name[i]);
	}
	cr_assert_null(undo_log_find(&ulog, 0));
	cr_assert_eq(ulog.n, 2);
	const struct undo_entry *mv = &ulog.entries[0], *aff = &ulog.entries[1];
	cr_assert_eq(mv->action, UNDO_NEWCOMER);
	cr_assert_eq(mv->kind, ACT_MOVE_THREAD);
	cr_assert_eq(mv->tid, tid[T_NEW]);
	cr_assert_str_eq(mv->old_value, "launcher");
	cr_assert_str_eq(mv->dir, "kvmcg/demo/emulator");
	cr_assert_eq(aff->action, UNDO_NEWCOMER);
	cr_assert_eq(aff->kind, ACT_SET_AFFINITY);
	cr_assert_eq(aff->tid, tid[T_NEW]);
	_cleanup_free_ char *old = idset_format(aff->old_cpus), *b = list(B);
	cr_assert_str_eq(old, b);
	rollback_ok();
	assert_state(before, "after rollback");
}

Test(exec_ops, rescan)
{
	check_rescan(A);
}

/* No emulator pin: a newcomer gets what the VM's cgroups allow. */
Test(exec_ops, rescan_without_emulator_pin)
{
	idset_free(tune.emulator);
	tune.emulator = NULL;
	check_rescan(AB);
}

Test(exec_ops, set_affinity)
{
	_cleanup_free_ char *before = state();
	act(ACT_SET_AFFINITY, NULL, NULL, NULL, tid[T_VCPU0], B, false);
	run_ok();
	cr_assert_eq(mask_now(T_VCPU0), B);
	/* the mask put back is the one discovery read, not asked again */
	cr_assert_null(entry(0)->old_cpus);
	rollback_ok();
	cr_assert_eq(mask_now(T_VCPU0), A);
	assert_state(before, "after rollback");
}

static void check_sched(int policy, int prio, const char *value)
{
	set_sched(tid[T_VCPU0], policy, prio);
	char was[32], now[32];
	sched_now(T_VCPU0, was, sizeof(was));
	_cleanup_free_ char *before = state();
	act(ACT_SET_SCHED, NULL, NULL, value, tid[T_VCPU0], 0, false);
	run_ok();
	sched_now(T_VCPU0, now, sizeof(now));
	cr_assert_str_eq(now, value);
	cr_assert_str_eq(entry(0)->old_value, was);
	rollback_ok();
	sched_now(T_VCPU0, now, sizeof(now));
	cr_assert_str_eq(now, was);
	assert_state(before, "after rollback");
}

Test(exec_ops, set_sched_other_to_batch)
{
	check_sched(SCHED_OTHER, 0, "batch");
}

Test(exec_ops, set_sched_batch_to_idle)
{
	need_root();
	check_sched(SCHED_BATCH, 0, "idle");
}

Test(exec_ops, set_sched_idle_to_other)
{
	need_root();
	check_sched(SCHED_IDLE, 0, "other");
}

Test(exec_ops, set_sched_other_to_fifo)
{
	need_root();
	check_sched(SCHED_OTHER, 0, "fifo:1");
}

Test(exec_ops, set_sched_fifo_to_rr)
{
	need_root();
	check_sched(SCHED_FIFO, 3, "rr:2");
}

/* ---- a whole pin plan ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	unsigned cpus;
} children[] = {
	{"emulator", A},
	{"vcpu0", B},
	{"vcpu1", A},
	{"iothread-io0", B},
};

/* A pin of this VM in plan_pin()'s order, then the cleanup steps an unpin gives for
 * what an earlier run left (kvmcg/stale, io in kvmcg/): every kind of action. v1 has
 * no controllers, cgroup.type or process move: each thread moves by its TID. */
static void pin_plan(void)
{
	bool v2 = backend == BACKEND_CGROUP_V2;
	_cleanup_free_ char *all = list(AB);
	char path[128];
	if (v2) {
		act(ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpuset", 0, 0, false);
		act(ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpu", 0, 0, false);
		act(ACT_ENABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "+cpuset", 0, 0, false);
		act(ACT_ENABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "+cpu", 0, 0, false);
	}
	act(ACT_MKDIR, "kvmcg/demo", NULL, NULL, 0, 0, false);
	if (v2) {
		act(ACT_WRITE, "kvmcg/demo", "cpuset.mems", "0", 0, 0, false);
		act(ACT_WRITE, "kvmcg/demo", "cpu.weight", "200", 0, 0, false);
		act(ACT_WRITE, "kvmcg/demo", "cpu.max", "150000 100000", 0, 0, false);
	} else {
		act(ACT_WRITE, "kvmcg/demo", "cpuset.cpus", all, 0, 0, false);
		act(ACT_WRITE, "kvmcg/demo", "cpuset.mems", "0", 0, 0, false);
	}
	for (size_t k = 0; k < ARRAY_SIZE(children); k++) {
		_cleanup_free_ char *cpus = list(children[k].cpus);
		snprintf(path, sizeof(path), "kvmcg/demo/%s", children[k].name);
		act(ACT_MKDIR, path, NULL, NULL, 0, 0, false);
		if (v2) {
			act(ACT_SET_THREADED, path, "cgroup.type", "threaded", 0, 0, false);
			if (k == 0)
				act(ACT_ENABLE_CONTROLLER, "kvmcg/demo", "cgroup.subtree_control", "+cpuset", 0, 0, false);
			act(ACT_WRITE, path, "cpuset.cpus", cpus, 0, 0, false);
		} else {
			act(ACT_WRITE, path, "cpuset.cpus", cpus, 0, 0, false);
			act(ACT_WRITE, path, "cpuset.mems", "0", 0, 0, false);
			act(ACT_WRITE, path, "cpuset.memory_migrate", "1", 0, 0, false);
		}
	}
	if (v2)
		act(ACT_MOVE_PROCESS, "kvmcg/demo/emulator", "cgroup.procs", NULL, pid, 0, false);
	for (int i = v2 ? T_VCPU0 : T_MAIN; i < N_VM_THREADS; i++) {
		const char *child = i == T_VCPU0 ? "vcpu0" : i == T_VCPU1 ? "vcpu1" : i == T_IO0 ? "iothread-io0" : "emulator";
		snprintf(path, sizeof(path), "kvmcg/demo/%s", child);
		act(ACT_MOVE_THREAD, path, v2 ? "cgroup.threads" : "tasks", NULL, tid[i], 0, false);
	}
	act(ACT_RESCAN, "kvmcg/demo", NULL, NULL, pid, 0, false);
	static const unsigned want[N_VM_THREADS] = {[T_MAIN] = A, [T_RCU] = A, [T_VCPU0] = B, [T_VCPU1] = A, [T_IO0] = B};
	for (int i = 0; i < N_VM_THREADS; i++)
		act(ACT_SET_AFFINITY, NULL, NULL, NULL, tid[i], want[i], false);
	act(ACT_SET_SCHED, NULL, NULL, "fifo:1", tid[T_VCPU0], 0, false);
	act(ACT_SET_SCHED, NULL, NULL, "fifo:1", tid[T_VCPU1], 0, false);
	act(ACT_RMDIR, "kvmcg/stale", NULL, NULL, 0, 0, true);
	if (v2)
		act(ACT_DISABLE_CONTROLLER, "kvmcg", "cgroup.subtree_control", "-io", 0, 0, true);
}

/* The plan's action at (1-based) position p, counting the rescan's two for its
 * newcomer; UNDO_NEWCOMER for those. */
static size_t action_at(unsigned p)
{
	size_t rescan = 0;
	while (plan.actions[rescan].kind != ACT_RESCAN)
		rescan++;
	if (p <= rescan + 1)
		return p - 1;
	if (p <= rescan + 3)
		return UNDO_NEWCOMER;
	return p - 3;
}

/* The state a completed plan must leave: where each thread is, its mask and class. */
static void assert_pinned(void)
{
	static const char *const cg[N_THREADS] = {
		[T_MAIN] = "kvmcg/demo/emulator", [T_RCU] = "kvmcg/demo/emulator", [T_VCPU0] = "kvmcg/demo/vcpu0",
		[T_VCPU1] = "kvmcg/demo/vcpu1",   [T_IO0] = "kvmcg/demo/iothread-io0", [T_NEW] = "kvmcg/demo/emulator"};
	static const unsigned cpus[N_THREADS] = {A, A, B, A, B, A};
	for (int i = 0; i < N_THREADS; i++) {
		_cleanup_free_ char *w = where(i);
		char s[32];
		cr_assert_str_eq(w, cg[i], "%s", thread_name[i]);
		cr_assert_eq(mask_now(i), cpus[i], "%s", thread_name[i]);
		sched_now(i, s, sizeof(s));
		cr_assert_str_eq(s, i == T_VCPU0 || i == T_VCPU1 ? "fifo:1" : "other", "%s", thread_name[i]);
	}
	if (backend == BACKEND_CGROUP_V2) {
		_cleanup_free_ char *sc = cat("cgroup.subtree_control"), *kv = cat("kvmcg/cgroup.subtree_control"),
				    *vm_sc = cat("kvmcg/demo/cgroup.subtree_control"), *w = cat("kvmcg/demo/cpu.weight"),
				    *m = cat("kvmcg/demo/cpu.max"), *t = cat("kvmcg/demo/vcpu1/cgroup.type");
		cr_assert_str_eq(sc, "cpuset cpu io memory\n");
		cr_assert_str_eq(kv, "cpuset cpu\n", "enabled, and io disabled by the cleanup step");
		cr_assert_str_eq(vm_sc, "cpuset\n");
		cr_assert_str_eq(w, "200\n");
		cr_assert_str_eq(m, "150000 100000\n");
		cr_assert_str_eq(t, "threaded\n");
	} else {
		_cleanup_free_ char *mm = cat("kvmcg/demo/vcpu1/cpuset.memory_migrate");
		cr_assert_str_eq(mm, "1\n");
	}
	_cleanup_free_ char *c0 = cat("kvmcg/demo/vcpu0/cpuset.cpus"), *b = list(B), *want = NULL;
	cr_assert_geq(asprintf(&want, "%s\n", b), 0);
	cr_assert_str_eq(c0, want);
	cr_assert_not(exists("kvmcg/stale"));
}

/* before, with the effects of the cleanup steps that were carried out: a cleanup step
 * is never rolled back. */
static char *after_cleanup(const char *before, bool rmdir_done, bool disable_done)
{
	char *s = rmdir_done ? without_lines(before, "cg/kvmcg/stale/") : strdup(before);
	if (disable_done) {
		char *t = with_line(s, "cg/kvmcg/cgroup.subtree_control=io\\n\n", "cg/kvmcg/cgroup.subtree_control=\\n\n");
		free(s);
		s = t;
	}
	return s;
}

static void complete_run(void)
{
	need_root();
	_cleanup_free_ char *before = state();
	pin_plan();
	run_ok();
	cr_assert_eq(ex.cleanup_failed, 0);
	assert_pinned();
	int r = exec_verify(&ex, "kvmcg/demo");
	cr_assert_eq(r, 0, "exec_verify = %d (%s)", r, ex.failed ? ex.failed : "");
	rollback_ok();
	_cleanup_free_ char *want = after_cleanup(before, true, backend == BACKEND_CGROUP_V2);
	assert_state(want, "after rollback");
}

Test(exec_ops, pin_plan_complete_then_rollback)
{
	complete_run();
}

Test(exec_ops_v1, pin_plan_complete_then_rollback)
{
	complete_run();
}

/* A failure injected at each position 1..N of the plan, the newcomer's two actions
 * and the cleanup steps included: a failure before the cleanup steps undoes
 * everything; one at a cleanup step stops nothing, and the rollback that follows
 * leaves only what the other cleanup step removed. */
static void every_position(void)
{
	need_root();
	_cleanup_free_ char *before = state();
	pin_plan();
	const unsigned n = (unsigned)plan.n_actions + 2;
	const size_t first_cleanup = plan.n_actions - (backend == BACKEND_CGROUP_V2 ? 2 : 1);
	unsigned covered = 0;
	for (unsigned p = 1; p <= n + 1; p++) {
		undo_log_done(&ulog);
		ex.executed = 0;
		ex.hooks.fail_at = p;
		int r = exec_plan(&ex, &plan, &ulog);
		bool complete = p > n;
		size_t at = complete ? 0 : action_at(p);
		bool cleanup = !complete && at != UNDO_NEWCOMER && plan.actions[at].cleanup;
		const char *what = complete ? "none" : at == UNDO_NEWCOMER ? "newcomer" : action_kind_name(plan.actions[at].kind);
		if (complete) {
			cr_assert_eq(r, 0, "no failure: exec_plan = %d (%s)", r, ex.failed ? ex.failed : "");
			cr_assert_eq(ex.executed, n);
			assert_pinned();
		} else if (cleanup) {
			cr_assert_eq(r, 0, "failure at cleanup step %u: exec_plan = %d", p, r);
			cr_assert_eq(ex.cleanup_failed, 1);
			cr_assert_null(undo_log_find(&ulog, at), "a failed cleanup step has no entry");
			covered++;
		} else {
			cr_assert_eq(r, -EIO, "failure at %u (%s): exec_plan = %d (%s)", p, what, r, ex.failed ? ex.failed : "");
			cr_assert_eq(ex.executed, p, "nothing ran after the failure");
			for (size_t i = 0; i < ulog.n; i++)
				cr_assert(ulog.entries[i].cleanup || ulog.entries[i].undone,
					  "failure at %u: entry %zu (%s) not undone", p, i,
					  action_kind_name(ulog.entries[i].kind));
			covered++;
		}
		if (!complete) {
			char want_failed[64];
			snprintf(want_failed, sizeof(want_failed), "injected failure at action %u ", p);
			cr_assert(ex.failed && strstr(ex.failed, want_failed), "failure at %u (%s): %s", p, what,
				  ex.failed ? ex.failed : "(no sentence)");
		}
		rollback_ok();
		char when[64];
		snprintf(when, sizeof(when), "after a failure at action %u of %u (%s)", p, n, what);
		bool rmdir_done = complete || (cleanup && at != first_cleanup);
		bool disable_done = backend == BACKEND_CGROUP_V2 && (complete || (cleanup && at == first_cleanup));
		_cleanup_free_ char *want = after_cleanup(before, rmdir_done, disable_done);
		assert_state(want, when);
		/* put back what the cleanup steps removed, for the next round */
		if (rmdir_done)
			cg_mkdir("kvmcg/stale");
		if (disable_done)
			cg_put("kvmcg/cgroup.subtree_control", "+io");
		assert_state(before, "the tree put back for the next round");
	}
	cr_assert_eq(covered, n);
	cr_log_info("%s: a failure at each of %u positions", backend == BACKEND_CGROUP_V2 ? "v2" : "v1", n);
}

Test(exec_ops, failure_at_every_position)
{
	every_position();
}

Test(exec_ops_v1, failure_at_every_position)
{
	every_position();
}

/* The VM exiting before any action (SIGKILL pending, as /proc says): -ESRCH, and
 * everything done before is undone. */
Test(exec_ops, vm_exiting_at_every_position)
{
	need_root();
	_cleanup_free_ char *before = state();
	pin_plan();
	const unsigned n = (unsigned)plan.n_actions + 2;
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "printf 'Name:\\tunit test\\nState:\\tS (sleeping)\\nSigPnd:\\t0000000000000100\\nShdPnd:\\t0000000000000000\\n'"
		 " > %s/%d/status",
		 proc_dir, (int)pid);
	for (unsigned p = 1; p <= n; p++) {
		undo_log_done(&ulog);
		ex.executed = 0;
		ex.hooks = (struct exec_hooks){.run_at = p, .run = cmd};
		int r = exec_plan(&ex, &plan, &ulog);
		size_t at = action_at(p);
		bool cleanup = at != UNDO_NEWCOMER && plan.actions[at].cleanup;
		if (cleanup) {
			/* every thread is back: a cleanup step names no task, and the cgroups
			 * of a VM that has exited are removed all the same */
			cr_assert_eq(r, 0);
			cr_assert_eq(ex.cleanup_failed, 0, "%s", ex.failed ? ex.failed : "");
			exec_rollback(&ex, &ulog);
		} else {
			cr_assert_eq(r, -ESRCH, "exiting at %u: exec_plan = %d (%s)", p, r, ex.failed ? ex.failed : "");
			cr_assert_not_null(strstr(ex.failed, "exited"), "%s", ex.failed);
		}
		put_status("0000000000000000");
		char when[64];
		snprintf(when, sizeof(when), "after the VM exited at action %u", p);
		bool rmdir_done = cleanup;
		_cleanup_free_ char *want = after_cleanup(before, rmdir_done, cleanup && backend == BACKEND_CGROUP_V2);
		assert_state(want, when);
		if (rmdir_done)
			cg_mkdir("kvmcg/stale");
	}
}

/* An undo that fails is marked and the rest is still undone: the cgroup vCPU 1 came
 * from is gone when the rollback wants to put it back. */
Test(exec_ops, undo_that_fails)
{
	need_root();
	pin_plan();
	run_ok();
	/* launcher/old is empty now: remove it behind the executor's back */
	cr_assert_eq(unlinkat(mount_fd, "launcher/old", AT_REMOVEDIR), 0, "%s", strerror(errno));
	int r = exec_rollback(&ex, &ulog);
	cr_assert_eq(r, -ENOENT, "exec_rollback = %d", r);
	size_t failed = 0;
	for (size_t i = 0; i < ulog.n; i++) {
		const struct undo_entry *e = &ulog.entries[i];
		if (e->cleanup) {
			cr_assert_not(e->undone || e->undo_failed);
			continue;
		}
		if (e->kind == ACT_MOVE_PROCESS) {
			cr_assert(e->undo_failed, "the move-process could not put vCPU 1 back");
			cr_assert_not(e->undone);
			failed++;
			continue;
		}
		cr_assert(e->undone && !e->undo_failed, "entry %zu (%s)", i, action_kind_name(e->kind));
	}
	cr_assert_eq(failed, 1);
	/* what is still changed: vCPU 1 is with the process, not in launcher/old */
	_cleanup_free_ char *w = where(T_VCPU1), *m = where(T_MAIN);
	cr_assert_str_eq(w, "launcher");
	cr_assert_str_eq(m, "launcher");
	cr_assert_not(exists("kvmcg/demo"));
	cr_assert_eq(mask_now(T_VCPU1), B);
	char s[32];
	sched_now(T_VCPU1, s, sizeof(s));
	cr_assert_str_eq(s, "batch");
}
