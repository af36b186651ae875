// SPDX-License-Identifier: GPL-2.0-or-later
/* discover: identification and thread classification on trees captured from real
 * QEMUs (see tests/fixtures/README.md), plus a small tree built at run time for the
 * paths no capture shows. Expected values are read from the trees' own files by the
 * helpers below, without the code under test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm/discover.h"
#include "basic/err.h"
#include "basic/util.h"

#define MAX_TASKS 64

/* ---- reading a captured tree by hand ------------------------------------------------ */

struct task {
	pid_t tid;
	bool complete; /* stat and status present: a thread that did not exit mid-capture */
	char name[64];
	unsigned long flags;
	long sc_nr;
	unsigned long sc_a0, sc_a1;
	char affinity[128];
	char cgroup_file[1300];
};

struct proc_entry {
	pid_t pid;
	char comm[64];
	unsigned long flags;
	unsigned long long starttime;
	char *argv[64];
	size_t argc;
	char cmdline[8192];
	char exe[512];
	bool has_euid;
	unsigned euid;                     /* status Uid:, second field */
	bool has_exe_stat;                 /* exe.stat: the executable's owner and mode */
	unsigned exe_uid, exe_mode;
	int vcpu_fd[16], vcpu_id[16]; /* anon_inode:kvm-vcpu:ID links */
	size_t n_vcpu_fds;
	bool kvm_vm;
	struct task tasks[MAX_TASKS];
	size_t n_tasks;
};

static bool read_text(const char *path, char *buf, size_t size, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return true;
}

static bool status_value(const char *status, const char *key, char *out, size_t size)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "%s:\t", key);
	for (const char *l = status; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, prefix, strlen(prefix)) == 0) {
			const char *v = l + strlen(prefix);
			size_t n = strcspn(v, "\n");
			snprintf(out, size, "%.*s", (int)n, v);
			return true;
		}
	return false;
}

/* Field n (1-based) of a stat line, n >= 3, counted after the last ')'. */
static unsigned long long stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	cr_assert_not_null(p);
	p += 2;
	for (int i = 3; i < n; i++) {
		p = strchr(p, ' ');
		cr_assert_not_null(p);
		p++;
	}
	return strtoull(p, NULL, 10);
}

static void load_task(const char *dir, struct task *t)
{
	char path[1300], stat[4096], status[8192], sc[512];
	snprintf(path, sizeof(path), "%s/stat", dir);
	bool has_stat = read_text(path, stat, sizeof(stat), NULL);
	snprintf(path, sizeof(path), "%s/status", dir);
	bool has_status = read_text(path, status, sizeof(status), NULL);
	t->complete = has_stat && has_status;
	snprintf(t->cgroup_file, sizeof(t->cgroup_file), "%s/cgroup", dir);
	if (!t->complete)
		return;
	cr_assert(status_value(status, "Name", t->name, sizeof(t->name)));
	cr_assert(status_value(status, "Cpus_allowed_list", t->affinity, sizeof(t->affinity)));
	t->flags = (unsigned long)stat_field(stat, 9);
	snprintf(path, sizeof(path), "%s/syscall", dir);
	t->sc_nr = -1;
	if (read_text(path, sc, sizeof(sc), NULL) && strncmp(sc, "running", 7) != 0)
		sscanf(sc, "%ld %lx %lx", &t->sc_nr, &t->sc_a0, &t->sc_a1);
}

static size_t numeric_entries(const char *path, pid_t *out, size_t max)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name || n == max)
			continue;
		out[n++] = (pid_t)v;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			pid_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static struct proc_entry *load_proc(const char *tree, pid_t pid)
{
	struct proc_entry *e = calloc(1, sizeof(*e));
	cr_assert_not_null(e);
	e->pid = pid;
	char dir[512], path[1100], stat[4096], status[8192];
	snprintf(dir, sizeof(dir), "%s/proc/%d", tree, (int)pid);

	snprintf(path, sizeof(path), "%s/stat", dir);
	cr_assert(read_text(path, stat, sizeof(stat), NULL), "%s", path);
	e->flags = (unsigned long)stat_field(stat, 9);
	e->starttime = stat_field(stat, 22);
	snprintf(path, sizeof(path), "%s/status", dir);
	cr_assert(read_text(path, status, sizeof(status), NULL));
	cr_assert(status_value(status, "Name", e->comm, sizeof(e->comm)));
	char uids[128];
	unsigned real;
	e->has_euid = status_value(status, "Uid", uids, sizeof(uids)) &&
		      sscanf(uids, "%u %u", &real, &e->euid) == 2;

	size_t len = 0;
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	cr_assert(read_text(path, e->cmdline, sizeof(e->cmdline), &len));
	for (size_t off = 0; off < len; off += strlen(e->cmdline + off) + 1)
		e->argv[e->argc++] = e->cmdline + off;

	snprintf(path, sizeof(path), "%s/exe", dir);
	ssize_t l = readlink(path, e->exe, sizeof(e->exe) - 1);
	e->exe[l > 0 ? l : 0] = '\0';
	char rec[256];
	snprintf(path, sizeof(path), "%s/exe.stat", dir);
	e->has_exe_stat = read_text(path, rec, sizeof(rec), NULL) &&
			  sscanf(rec, "uid=%u gid=%*u mode=%x", &e->exe_uid, &e->exe_mode) == 2;

	pid_t fds[256];
	snprintf(path, sizeof(path), "%s/fd", dir);
	size_t nfds = numeric_entries(path, fds, 256);
	for (size_t i = 0; i < nfds; i++) {
		char link[1200], target[256];
		snprintf(link, sizeof(link), "%s/fd/%d", dir, (int)fds[i]);
		l = readlink(link, target, sizeof(target) - 1);
		cr_assert_gt(l, 0);
		target[l] = '\0';
		int id;
		if (strcmp(target, "anon_inode:kvm-vm") == 0)
			e->kvm_vm = true;
		else if (sscanf(target, "anon_inode:kvm-vcpu:%d", &id) == 1) {
			cr_assert_lt(e->n_vcpu_fds, 16);
			e->vcpu_fd[e->n_vcpu_fds] = (int)fds[i];
			e->vcpu_id[e->n_vcpu_fds++] = id;
		}
	}

	pid_t tids[MAX_TASKS];
	snprintf(path, sizeof(path), "%s/task", dir);
	e->n_tasks = numeric_entries(path, tids, MAX_TASKS);
	for (size_t i = 0; i < e->n_tasks; i++) {
		char tdir[1200];
		snprintf(tdir, sizeof(tdir), "%s/task/%d", dir, (int)tids[i]);
		e->tasks[i].tid = tids[i];
		load_task(tdir, &e->tasks[i]);
	}
	return e;
}

static const struct task *task_or_null(const struct proc_entry *e, pid_t tid)
{
	for (size_t i = 0; i < e->n_tasks; i++)
		if (e->tasks[i].tid == tid)
			return &e->tasks[i];
	return NULL;
}

static const struct task *task_of(const struct proc_entry *e, pid_t tid)
{
	const struct task *t = task_or_null(e, tid);
	if (!t) {
		cr_assert_fail("tid %d is not a task of the tree", (int)tid);
		abort();
	}
	return t;
}

static size_t complete_tasks(const struct proc_entry *e)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n_tasks; i++)
		n += e->tasks[i].complete;
	return n;
}

static bool is_worker(const struct task *t)
{
	return t->flags & 0x4000; /* PF_USER_WORKER in include/linux/sched.h */
}

/* The value of a command line option ("-smp"), or NULL. */
static const char *arg_after(const struct proc_entry *e, const char *opt)
{
	for (size_t i = 1; i + 1 < e->argc; i++)
		if (strcmp(e->argv[i], opt) == 0)
			return e->argv[i + 1];
	return NULL;
}

/* The vCPU index KVM's fds give a task: the rank of the vcpu id of the fd the task is
 * blocked on in KVM_RUN; -1 if none. Kernel user workers are skipped: they were forked
 * inside a vCPU's KVM_RUN and their syscall file shows a copy of it. */
static int kvm_run_index(const struct proc_entry *e, const struct task *t)
{
	if (!t->complete || is_worker(t) || t->sc_nr != SYS_ioctl || t->sc_a1 != 0xae80)
		return -1;
	for (size_t i = 0; i < e->n_vcpu_fds; i++)
		if ((unsigned long)e->vcpu_fd[i] == t->sc_a0) {
			int rank = 0;
			for (size_t k = 0; k < e->n_vcpu_fds; k++)
				rank += e->vcpu_id[k] < e->vcpu_id[i];
			return rank;
		}
	return -1;
}

/* "0::/path" or the v1 cpuset line of a cgroup file, by hand; false if the file is
 * missing. */
static bool expected_cgroup(const char *file, char *out, size_t size, bool *v1)
{
	char buf[4096];
	if (!read_text(file, buf, sizeof(buf), NULL))
		return false;
	char v2[1024] = "";
	*v1 = false;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		if (strncmp(line, "0:", 2) == 0 && c1 + 1 == c2)
			snprintf(v2, sizeof(v2), "%s", c2 + 1);
		for (char *s2 = NULL, *w = strtok_r(c1 + 1, ",", &s2); w; w = strtok_r(NULL, ",", &s2))
			if (strcmp(w, "cpuset") == 0) {
				snprintf(out, size, "%s", c2 + 1);
				*v1 = true;
			}
	}
	if (!*v1)
		snprintf(out, size, "%s", v2);
	return true;
}

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void make_tmpdir(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "/tmp/kvmcg-unit-%d-%s.XXXXXX", (int)getppid(), what);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

/* ---- the code under test, on a tree ---------------------------------------------------- */

static int proc_fd = -1;
static struct vm *the_vm;
static struct proc_entry *the_entry;
static struct vm **the_list;
static size_t the_list_n;

static void cleanup(void)
{
	vm_free(the_vm);
	the_vm = NULL;
	free(the_entry);
	the_entry = NULL;
	vm_list_free(the_list, the_list_n);
	the_list = NULL;
	the_list_n = 0;
	if (proc_fd >= 0)
		close(proc_fd);
	proc_fd = -1;
}

static void open_tree(const char *tree, struct discover_opts *o)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc", tree);
	proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0, "open %s: %s", path, strerror(errno));
	discover_opts_init(o, proc_fd);
	o->no_qmp = true;
	o->kvm_fd_rounds = 1;
}

/* The pids of a tree that are not kernel threads. */
static size_t user_pids(const char *tree, pid_t *out, size_t max)
{
	char path[512];
	pid_t all[64];
	snprintf(path, sizeof(path), "%s/proc", tree);
	size_t n = numeric_entries(path, all, 64), k = 0;
	for (size_t i = 0; i < n; i++) {
		struct proc_entry *e = load_proc(tree, all[i]);
		if (!(e->flags & 0x00200000) && k < max) /* PF_KTHREAD */
			out[k++] = all[i];
		free(e);
	}
	return k;
}

/* Identifies and discovers the single VM of a tree. */
static void discover_single(const char *tree, struct discover_opts *o)
{
	open_tree(tree, o);
	pid_t pids[8];
	cr_assert_eq(user_pids(tree, pids, 8), 1, "%s holds one VM", tree);
	the_entry = load_proc(tree, pids[0]);
	cr_assert_eq(vm_identify(o, pids[0], &the_vm), 1);
	cr_assert_not_null(the_vm);
	cr_assert_eq(vm_discover_threads(o, the_vm), 0);
}

static void check_identity(const struct vm *vm, const struct proc_entry *e)
{
	cr_assert_eq(vm->pid, e->pid);
	cr_assert_eq(vm->starttime_ticks, e->starttime);
	cr_assert_str_eq(vm->comm, e->comm);
	cr_assert_not_null(vm->exe);
	cr_assert_str_eq(vm->exe, strrchr(e->exe, '/') + 1);
	cr_assert_eq(vm->has_kvm, e->kvm_vm);
	cr_assert_str_eq(vm->exe_path, e->exe, "the exe link's text, not followed");
	/* the evidence, by the rule: root's regular QEMU-named file, not writable by group
	 * or others; or a kvm-vm fd */
	const char *base = strrchr(e->exe, '/') + 1;
	bool qemu_name = strncmp(base, "qemu-system-", 12) == 0 || strcmp(base, "qemu-kvm") == 0 ||
			 strcmp(base, "kvm") == 0;
	bool exe_ok = qemu_name && e->has_exe_stat && e->exe_uid == 0 &&
		      (e->exe_mode & 0170000) == 0100000 && !(e->exe_mode & 022);
	cr_assert_eq(!!(vm->evidence & VM_EVIDENCE_EXE), exe_ok, "exe evidence of %d", (int)e->pid);
	cr_assert_eq(!!(vm->evidence & VM_EVIDENCE_KVM_FD), e->kvm_vm);
	cr_assert_eq(vm->owner_known, e->has_euid);
	if (e->has_euid)
		cr_assert_eq(vm->owner_uid, (uid_t)e->euid);
	cr_assert_null(vm->owner_user, "a captured tree's uids are its host's: no name");
	cr_assert_eq(vm->n_kvm_vcpu_fds, e->n_vcpu_fds);
	for (unsigned i = 0; i < vm->n_kvm_vcpu_fds; i++) {
		int fd = vm->kvm_vcpu_fd_index[i * 2], idx = vm->kvm_vcpu_fd_index[i * 2 + 1];
		bool found = false;
		for (size_t k = 0; k < e->n_vcpu_fds; k++)
			if (e->vcpu_fd[k] == fd) {
				/* Every captured topology has one core per socket or one
				 * socket, where x86 APIC ids are the cpu-indexes themselves
				 * (hot-plugged ones too: see the hotplug test against QMP). */
				cr_assert_eq(idx, e->vcpu_id[k], "fd %d", fd);
				found = true;
			}
		cr_assert(found, "fd %d is a vcpu fd of the tree", fd);
	}
}

/* Every thread against its captured files: name, affinity, cgroup, presence. */
static void check_threads_match_files(const struct vm *vm, const struct proc_entry *e)
{
	cr_assert_eq(vm->n_threads, complete_tasks(e), "tasks with files, no more, no less");
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		cr_assert(f->complete);
		cr_assert_str_eq(t->stat.comm, f->name, "tid %d", (int)t->tid);
		cr_assert_eq(t->stat.flags, f->flags);
		_cleanup_free_ char *aff = idset_format(t->affinity);
		cr_assert_str_eq(aff, f->affinity, "tid %d", (int)t->tid);
		char cg[1024];
		bool v1;
		if (expected_cgroup(f->cgroup_file, cg, sizeof(cg), &v1)) {
			cr_assert_not_null(t->cgroup);
			cr_assert_str_eq(t->cgroup, cg, "tid %d", (int)t->tid);
			cr_assert_eq(t->cgroup_v1, v1);
		} else {
			cr_assert_null(t->cgroup);
		}
		if (i)
			cr_assert_lt(vm->threads[i - 1].tid, t->tid, "threads sorted by tid");
	}
}

static const struct vm_thread *thread_or_null(const struct vm *vm, pid_t tid)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	return NULL;
}

static const struct vm_thread *thread(const struct vm *vm, pid_t tid)
{
	const struct vm_thread *t = thread_or_null(vm, tid);
	if (!t) {
		cr_assert_fail("tid %d is not a thread of the VM", (int)tid);
		abort();
	}
	return t;
}

static size_t count_kind(const struct vm *vm, enum thread_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < vm->n_threads; i++)
		n += vm->threads[i].kind == k;
	return n;
}

TestSuite(discover_names, .fini = cleanup);
TestSuite(discover_kvmfd, .fini = cleanup);
TestSuite(discover_tcg, .fini = cleanup);
TestSuite(discover_mixed, .fini = cleanup);
TestSuite(discover_hotplug, .fini = cleanup);
TestSuite(discover_synthetic, .fini = cleanup);
TestSuite(discover_impersonators, .fini = cleanup);

/* ---- qemu-names: debug-threads=on, an iothread, vCPUs pinned ------------------------------ */

#define NAMES FIXTURES "/qemu-names"

Test(discover_names, identify)
{
	struct discover_opts o;
	discover_single(NAMES, &o);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_identity(vm, e);
	cr_assert(vm->is_qemu);
	cr_assert(vm->has_kvm);

	/* -name guest=NAME,debug-threads=on */
	const char *name_arg = arg_after(e, "-name");
	cr_assert_not_null(name_arg);
	char name[64];
	cr_assert_eq(sscanf(name_arg, "guest=%63[^,]", name), 1);
	cr_assert_str_eq(vm->name, name);
	cr_assert_str_eq(vm->qemu.name, name);
	cr_assert(vm->qemu.debug_threads);
	cr_assert_eq(vm->qemu.smp_cpus, atoi(arg_after(e, "-smp")));
	char io[64];
	cr_assert_eq(sscanf(arg_after(e, "-object"), "iothread,id=%63s", io), 1);
	cr_assert_eq(vm->qemu.n_iothread_ids, 1);
	cr_assert_str_eq(vm->qemu.iothread_ids[0], io);
	cr_assert_str_eq(vm->qemu.accel, arg_after(e, "-accel"));
	cr_assert_eq(vm->qemu.n_qmp_paths, 0);
}

Test(discover_names, threads_by_name)
{
	struct discover_opts o;
	discover_single(NAMES, &o);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_threads_match_files(vm, e);
	cr_assert_eq(vm->source, DISCOVERY_NAMES);
	cr_assert_str_eq(discovery_source_name(vm->source), "names");

	int smp = atoi(arg_after(e, "-smp"));
	size_t vcpus = 0, iothreads = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		int idx;
		char io[32];
		if (sscanf(f->name, "CPU %d/KVM", &idx) == 1) {
			cr_assert_eq(t->kind, THREAD_VCPU, "%s", f->name);
			cr_assert_eq(t->vcpu_index, idx);
			/* the capture's KVM fds agree with the name */
			cr_assert_eq(kvm_run_index(e, f), idx, "%s is in KVM_RUN on vCPU %d's fd",
				     f->name, idx);
			/* the capture pinned vCPU N to CPU N modulo the host's CPU count */
			cr_assert_eq(idset_count(t->affinity), 1);
			vcpus++;
		} else if (sscanf(f->name, "IO %31s", io) == 1) {
			cr_assert_eq(t->kind, THREAD_IOTHREAD, "%s", f->name);
			cr_assert_str_eq(t->iothread_id, io);
			cr_assert_eq(t->vcpu_index, -1);
			iothreads++;
		} else if (is_worker(f)) {
			cr_assert_eq(t->kind, THREAD_WORKER, "%s", f->name);
		} else {
			cr_assert_eq(t->kind, THREAD_EMULATOR, "%s", f->name);
			cr_assert_eq(t->vcpu_index, -1);
		}
	}
	cr_assert_eq(vcpus, (size_t)smp);
	cr_assert_eq(iothreads, 1);
	cr_assert_eq(thread(vm, vm->pid)->kind, THREAD_EMULATOR, "the main thread");
	cr_assert_eq(vm->n_vcpus_expected, (unsigned)smp);
	cr_assert_eq(vm->n_unidentified_vcpus, 0);
	cr_assert_eq(vm->n_unidentified_iothreads, 0);
	cr_assert_eq(count_kind(vm, THREAD_UNKNOWN), 0, "nothing missing: the rest is emulator");
	cr_assert_null(vm->qmp_socket);
	cr_assert_null(vm->qmp_error);
}

Test(discover_names, list_all_finds_the_one_vm)
{
	struct discover_opts o;
	open_tree(NAMES, &o);
	pid_t pids[8];
	cr_assert_eq(user_pids(NAMES, pids, 8), 1);
	if (pids[0] == getpid())
		cr_skip_test("this test process has the captured VM's pid by chance");
	cr_assert_eq(vm_list_all(&o, &the_list, &the_list_n), 0);
	cr_assert_eq(the_list_n, 1);
	cr_assert_eq(the_list[0]->pid, pids[0]);
	cr_assert_eq(the_list[0]->source, DISCOVERY_NAMES, "threads are discovered too");
	cr_assert_gt(the_list[0]->n_threads, 0);
}

/* ---- qemu-kvmfd: no names, no QMP; vCPUs blocked in KVM_RUN ------------------------------- */

#define KVMFD FIXTURES "/qemu-kvmfd"

Test(discover_kvmfd, vcpus_from_kvm_run)
{
	struct discover_opts o;
	discover_single(KVMFD, &o);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_identity(vm, e);
	check_threads_match_files(vm, e);
	cr_assert(vm->is_qemu);
	cr_assert(vm->has_kvm);
	cr_assert_null(vm->name, "no -name");
	cr_assert_null(arg_after(e, "-name"));
	cr_assert_eq(vm->source, DISCOVERY_KVM_FD);
	cr_assert_str_eq(discovery_source_name(vm->source), "kvm-fd");

	size_t vcpus = 0, trapped_workers = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		int idx = kvm_run_index(e, f);
		if (!is_worker(f))
			cr_assert_str_eq(f->name, e->comm, "no thread names: all are '%s'", e->comm);
		if (idx >= 0) {
			cr_assert_eq(t->kind, THREAD_VCPU, "tid %d", (int)t->tid);
			cr_assert_eq(t->vcpu_index, idx);
			vcpus++;
		} else if (is_worker(f)) {
			/* kvm-nx-lpage-recovery's syscall file shows the KVM_RUN of the vCPU
			 * it was forked from; it must not be taken for that vCPU */
			cr_assert_eq(t->kind, THREAD_WORKER, "tid %d", (int)t->tid);
			trapped_workers += f->sc_nr == SYS_ioctl && f->sc_a1 == 0xae80;
		} else {
			cr_assert_eq(t->kind, THREAD_EMULATOR, "tid %d", (int)t->tid);
		}
	}
	cr_assert_eq(vcpus, e->n_vcpu_fds);
	cr_assert_eq(vcpus, (size_t)atoi(arg_after(e, "-smp")));
	cr_log_info("workers whose syscall file shows KVM_RUN: %zu", trapped_workers);
	cr_assert_eq(vm->n_vcpus_expected, e->n_vcpu_fds);
	cr_assert_eq(vm->n_unidentified_vcpus, 0);
	cr_assert_eq(count_kind(vm, THREAD_UNKNOWN), 0);
}

Test(discover_kvmfd, no_rounds_leaves_vcpus_unidentified)
{
	struct discover_opts o;
	discover_single(KVMFD, &o);
	/* again, without sampling the syscall files */
	o.kvm_fd_rounds = 0;
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_threads_match_files(vm, e);
	cr_assert_eq(vm->source, DISCOVERY_NONE);
	cr_assert_str_eq(discovery_source_name(vm->source), "none");
	cr_assert_eq(count_kind(vm, THREAD_VCPU), 0);
	cr_assert_eq(vm->n_vcpus_expected, e->n_vcpu_fds, "the vCPU fds still count them");
	cr_assert_eq(vm->n_unidentified_vcpus, e->n_vcpu_fds);
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		cr_assert_eq(vm->unidentified_vcpus[i], (int)i);
	/* with vCPUs missing, an unknown thread may be one: none is called emulator
	 * except the main thread */
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		enum thread_kind want = t->tid == vm->pid ? THREAD_EMULATOR
					: is_worker(f)     ? THREAD_WORKER
							   : THREAD_UNKNOWN;
		cr_assert_eq(t->kind, want, "tid %d", (int)t->tid);
	}

	/* and once more with sampling: the same vm struct is rediscovered cleanly */
	o.kvm_fd_rounds = 1;
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0);
	cr_assert_eq(the_vm->source, DISCOVERY_KVM_FD);
	cr_assert_eq(the_vm->n_unidentified_vcpus, 0);
	cr_assert_eq(count_kind(the_vm, THREAD_VCPU), e->n_vcpu_fds);
}

/* ---- qemu-tcg: no KVM, no names ------------------------------------------------------------- */

#define TCG FIXTURES "/qemu-tcg"

Test(discover_tcg, nothing_identifies_the_vcpus)
{
	struct discover_opts o;
	discover_single(TCG, &o);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_identity(vm, e);
	check_threads_match_files(vm, e);
	cr_assert(vm->is_qemu);
	cr_assert_not(vm->has_kvm);
	cr_assert_eq(vm->n_kvm_vcpu_fds, 0);
	cr_assert_str_eq(vm->qemu.accel, "tcg");
	cr_assert_eq(vm->source, DISCOVERY_NONE);
	int smp = atoi(arg_after(e, "-smp"));
	cr_assert_eq(vm->n_vcpus_expected, (unsigned)smp, "-smp tells how many to expect");
	cr_assert_eq(vm->n_unidentified_vcpus, (size_t)smp);
	for (int i = 0; i < smp; i++)
		cr_assert_eq(vm->unidentified_vcpus[i], i);
	cr_assert_eq(count_kind(vm, THREAD_VCPU), 0);
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		enum thread_kind want = t->tid == vm->pid ? THREAD_EMULATOR
					: is_worker(f)     ? THREAD_WORKER
							   : THREAD_UNKNOWN;
		cr_assert_eq(t->kind, want, "tid %d", (int)t->tid);
	}
	cr_assert_geq(count_kind(vm, THREAD_UNKNOWN), (size_t)smp,
		      "the vCPU threads are among the unknown ones");
}

/* ---- qemu-hotplug: a vCPU hot-plugged into socket 3 of 4 ------------------------------------ */

#define HOTPLUG FIXTURES "/qemu-hotplug"

/* QEMU's own answer to query-cpus-fast, saved by the capture: tid -> cpu-index. */
static size_t captured_cpus(pid_t *tids, int *indexes, size_t max)
{
	json_object *j = json_object_from_file(HOTPLUG "/qmp/query-cpus-fast.json"), *ret;
	cr_assert_not_null(j, "the capture kept QEMU's answer");
	cr_assert(json_object_object_get_ex(j, "return", &ret));
	size_t n = json_object_array_length(ret);
	cr_assert_leq(n, max);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(ret, i), *tid, *idx;
		cr_assert(json_object_object_get_ex(e, "thread-id", &tid));
		cr_assert(json_object_object_get_ex(e, "cpu-index", &idx));
		tids[i] = (pid_t)json_object_get_int(tid);
		indexes[i] = json_object_get_int(idx);
	}
	json_object_put(j);
	return n;
}

Test(discover_hotplug, kvm_fd_indexes_are_qemu_cpu_indexes)
{
	struct discover_opts o;
	discover_single(HOTPLUG, &o);
	const struct vm *vm = the_vm;
	const struct proc_entry *e = the_entry;
	check_identity(vm, e);
	check_threads_match_files(vm, e);
	cr_assert_null(arg_after(e, "-name"), "no thread names to help");
	cr_assert_eq(vm->source, DISCOVERY_KVM_FD);

	pid_t tids[8];
	int indexes[8];
	size_t n = captured_cpus(tids, indexes, 8);
	cr_assert_eq(n, e->n_vcpu_fds, "QEMU and KVM agree on how many vCPUs exist");
	bool sparse = false;
	for (size_t i = 0; i < n; i++)
		sparse |= indexes[i] >= (int)n;
	cr_assert(sparse, "the capture has a gap in its cpu-indexes");

	/* the thread in KVM_RUN on each vCPU fd is the one QEMU names for that index */
	for (size_t i = 0; i < n; i++) {
		const struct vm_thread *t = thread(vm, tids[i]);
		cr_assert_eq(t->kind, THREAD_VCPU, "tid %d", (int)tids[i]);
		cr_assert_eq(t->vcpu_index, indexes[i],
			     "tid %d: kvmcg says vCPU %d, QEMU says cpu-index %d", (int)tids[i],
			     t->vcpu_index, indexes[i]);
	}
}

/* ---- mixed: hand edits (README), a kernel thread and a non-QEMU VMM ------------------------ */

#define MIXED FIXTURES "/mixed"

static pid_t pid_where(const char *tree, bool (*pred)(const struct proc_entry *))
{
	char path[512];
	pid_t all[64], found = 0;
	snprintf(path, sizeof(path), "%s/proc", tree);
	size_t n = numeric_entries(path, all, 64);
	for (size_t i = 0; i < n; i++) {
		struct proc_entry *e = load_proc(tree, all[i]);
		if (pred(e)) {
			cr_assert_eq(found, 0, "one process matches");
			found = all[i];
		}
		free(e);
	}
	cr_assert_neq(found, 0, "a process matches in %s", tree);
	return found;
}

static bool is_kthread(const struct proc_entry *e)
{
	return e->flags & 0x00200000;
}

static bool is_qemu_entry(const struct proc_entry *e)
{
	return !is_kthread(e) && strstr(e->exe, "qemu-system-") != NULL;
}

static bool is_other_vmm(const struct proc_entry *e)
{
	return !is_kthread(e) && !is_qemu_entry(e);
}

Test(discover_mixed, list_all_skips_the_kernel_thread)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t vms[8];
	size_t n = user_pids(MIXED, vms, 8);
	cr_assert_eq(n, 2, "QEMU and the other VMM");
	for (size_t i = 0; i < n; i++)
		if (vms[i] == getpid())
			cr_skip_test("this test process has a captured VM's pid by chance");
	cr_assert_eq(vm_list_all(&o, &the_list, &the_list_n), 0);
	cr_assert_eq(the_list_n, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(the_list[i]->pid, vms[i], "sorted by pid");
		cr_assert_gt(the_list[i]->n_threads, 0);
	}
}

Test(discover_mixed, kernel_thread_is_not_a_vm)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t k = pid_where(MIXED, is_kthread);
	struct proc_entry *e = load_proc(MIXED, k);
	cr_assert_eq(e->argc, 0, "a kernel thread has an empty cmdline");
	free(e);
	cr_assert_eq(vm_identify(&o, k, &the_vm), 0);
	cr_assert_null(the_vm);
	cr_assert_eq(vm_identify(&o, 4194303, &the_vm), -ENOENT, "no such process");
	cr_assert_null(the_vm);
}

Test(discover_mixed, qemu_with_odd_name_vanished_task_and_v2_cgroups)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t pid = pid_where(MIXED, is_qemu_entry);
	the_entry = load_proc(MIXED, pid);
	const struct proc_entry *e = the_entry;
	cr_assert_eq(vm_identify(&o, pid, &the_vm), 1);
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0, "a vanished task is no error");
	const struct vm *vm = the_vm;
	check_identity(vm, e);
	check_threads_match_files(vm, e);
	cr_assert_eq(vm->source, DISCOVERY_NAMES);

	/* the hand-made vanished task: in the listing, without its files */
	size_t vanished = 0;
	for (size_t i = 0; i < e->n_tasks; i++)
		if (!e->tasks[i].complete) {
			cr_assert_null(thread_or_null(vm, e->tasks[i].tid), "tid %d is skipped",
				       (int)e->tasks[i].tid);
			vanished++;
		}
	cr_assert_eq(vanished, 1);

	/* the name with blanks and parentheses is read whole, and is the emulator's */
	size_t odd = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		if (strchr(t->stat.comm, '(') && strchr(t->stat.comm, ')') && strchr(t->stat.comm, ' ')) {
			cr_assert_str_eq(t->stat.comm, task_of(e, t->tid)->name);
			cr_assert_eq(t->kind, THREAD_EMULATOR);
			cr_assert_eq(t->stat.state, 'S', "the state after the name is found");
			odd++;
		}
	}
	cr_assert_eq(odd, 1);

	/* hand-edited pure v2 files: one cgroup per vCPU */
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		cr_assert_not(t->cgroup_v1);
		if (t->kind == THREAD_VCPU) {
			char want[64];
			snprintf(want, sizeof(want), "/vcpu%d", t->vcpu_index);
			size_t l = strlen(t->cgroup), w = strlen(want);
			cr_assert(l > w && strcmp(t->cgroup + l - w, want) == 0, "%s", t->cgroup);
		}
	}
	cr_assert_eq(count_kind(vm, THREAD_VCPU), (size_t)atoi(arg_after(e, "-smp")));
	cr_assert_eq(count_kind(vm, THREAD_IOTHREAD), 1);
	cr_assert_eq(vm->n_unidentified_vcpus, 0);
}

Test(discover_mixed, other_vmm_holding_a_kvm_vm)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t pid = pid_where(MIXED, is_other_vmm);
	the_entry = load_proc(MIXED, pid);
	const struct proc_entry *e = the_entry;
	cr_assert(e->kvm_vm, "the tree's other VMM holds anon_inode:kvm-vm");
	cr_assert_eq(vm_identify(&o, pid, &the_vm), 1, "found by its KVM fd alone");
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0);
	const struct vm *vm = the_vm;
	check_identity(vm, e);
	check_threads_match_files(vm, e);
	cr_assert_not(vm->is_qemu);
	cr_assert(vm->has_kvm);
	cr_assert_null(vm->name);
	cr_assert_null(vm->qemu.name, "its command line is not parsed as QEMU's");
	cr_assert_eq(vm->qemu.n_iothread_ids, 0);
	cr_assert_eq(vm->source, DISCOVERY_NAMES);

	size_t vcpus = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct task *f = task_of(e, t->tid);
		int idx;
		if (sscanf(f->name, "fc_vcpu %d", &idx) == 1) {
			cr_assert_eq(t->kind, THREAD_VCPU, "%s", f->name);
			cr_assert_eq(t->vcpu_index, idx);
			cr_assert_eq(kvm_run_index(e, f), idx, "names and KVM fds agree");
			vcpus++;
		} else if (is_worker(f)) {
			cr_assert_eq(t->kind, THREAD_WORKER, "%s", f->name);
		} else {
			cr_assert_eq(t->kind, THREAD_EMULATOR, "%s", f->name);
		}
	}
	cr_assert_eq(vcpus, e->n_vcpu_fds);
	cr_assert_eq(vm->n_vcpus_expected, e->n_vcpu_fds);
	cr_assert_eq(vm->n_unidentified_vcpus, 0);
}

Test(discover_mixed, vanished_vm)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t pid = pid_where(MIXED, is_qemu_entry);
	cr_assert_eq(vm_identify(&o, pid, &the_vm), 1);
	/* the same VM, looked for in an empty /proc: it exited */
	char empty[64];
	make_tmpdir(empty, sizeof(empty), "empty");
	int fd = open(empty, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rmdir(empty);
	cr_assert_geq(fd, 0);
	struct discover_opts gone;
	discover_opts_init(&gone, fd);
	gone.no_qmp = true;
	int r = vm_discover_threads(&gone, the_vm);
	close(fd);
	cr_assert_eq(r, -ENOENT);
	cr_assert_eq(the_vm->n_threads, 0);
}

Test(discover_mixed, user_qmp_socket_that_fails_is_an_error)
{
	struct discover_opts o;
	open_tree(MIXED, &o);
	pid_t pid = pid_where(MIXED, is_qemu_entry);
	cr_assert_eq(vm_identify(&o, pid, &the_vm), 1);
	o.no_qmp = false;
	o.qmp_socket = "/nonexistent/kvmcg-unit.sock";
	o.qmp_timeout_ms = 200;
	err_clear();
	cr_assert_eq(vm_discover_threads(&o, the_vm), -ENOENT);
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), o.qmp_socket), "%s", err_get());
}

/* ---- a tree built here, for paths no capture shows ----------------------------------------- */

static char synth[64];

static void synth_cleanup(void)
{
	cleanup();
	if (synth[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", synth);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", synth);
	}
	synth[0] = '\0';
}

static void put(const char *rel, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", synth, rel);
	for (char *s = strchr(path + strlen(synth) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void put_task(int pid, int tid, const char *comm, const char *cpus, const char *cgroup)
{
	char rel[128], buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "%d (%s) S 1 %d %d 0 -1 4194624 0 0 0 0 5 7 0 0 20 0 4 0 1000 0 0 "
			 "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			 tid, comm, pid, pid);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/stat", pid, tid);
	put(rel, buf, (size_t)n);
	if (tid == pid) {
		snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
		put(rel, buf, (size_t)n);
	}
	n = snprintf(buf, sizeof(buf), "Name:\t%s\nState:\tS (sleeping)\nCpus_allowed_list:\t%s\n",
		     comm, cpus);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/status", pid, tid);
	put(rel, buf, (size_t)n);
	if (cgroup) {
		snprintf(rel, sizeof(rel), "proc/%d/task/%d/cgroup", pid, tid);
		put(rel, cgroup, strlen(cgroup));
	}
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/syscall", pid, tid);
	put(rel, "running\n", 8);
}

/* The exe link (its text, as capture.sh copies it) and, when record is non-NULL,
 * the exe.stat record of the file it names. */
static void put_exe(int pid, const char *target, const char *record)
{
	char rel[64], link[256];
	snprintf(link, sizeof(link), "%s/proc/%d/exe", synth, pid);
	unlink(link);
	cr_assert_eq(symlink(target, link), 0, "%s", link);
	snprintf(rel, sizeof(rel), "proc/%d/exe.stat", pid);
	if (record) {
		put(rel, record, strlen(record));
	} else {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", synth, rel);
		unlink(path);
	}
}

/* A QEMU (pid 100) whose QMP socket is gone, with a duplicate vCPU name, an iothread
 * the command line does not declare and one it declares that is missing, and a
 * thread without a cgroup file. */
static void build_synthetic(void)
{
	make_tmpdir(synth, sizeof(synth), "synth");
	static const char cmdline[] = "qemu-system-x86_64\0-name\0guest=synth,debug-threads=on\0"
				      "-qmp\0unix:/nonexistent/kvmcg-unit-qmp.sock,server=on,wait=off\0"
				      "-smp\0" "2\0-object\0iothread,id=io-declared\0";
	put("proc/100/cmdline", cmdline, sizeof(cmdline) - 1);
	put_exe(100, "/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed dev=2049 ino=77\n");
	put("proc/100/cgroup", "0::/synth\n", 10);
	put_task(100, 100, "qemu-system-x86", "0-3", "0::/synth\n");
	put_task(100, 101, "CPU 0/KVM", "1", "0::/synth/vcpu0\n");
	put_task(100, 102, "CPU 0/KVM", "2", "0::/synth\n");
	put_task(100, 103, "IO io-undeclared", "0-3", NULL);
	put("sys/devices/system/cpu/online", "0-3\n", 4);
}

Test(discover_synthetic, qmp_fallback_duplicates_and_missing_iothreads, .fini = synth_cleanup)
{
	build_synthetic();
	char root[128];
	snprintf(root, sizeof(root), "%s", synth);
	struct discover_opts o;
	open_tree(root, &o);
	o.no_qmp = false; /* the socket on the command line is tried, fails, and is reported */
	o.qmp_timeout_ms = 200;

	cr_assert_eq(vm_identify(&o, 100, &the_vm), 1);
	const struct vm *vm = the_vm;
	cr_assert(vm->is_qemu);
	cr_assert_not(vm->has_kvm);
	cr_assert_str_eq(vm->exe, "qemu-system-x86_64", "the basename of the exe link");
	cr_assert_eq(vm->evidence, VM_EVIDENCE_EXE, "root's QEMU, recorded in exe.stat");
	cr_assert_str_eq(vm->name, "synth");
	cr_assert_eq(vm->qemu.n_qmp_paths, 1);

	cr_assert_eq(vm_discover_threads(&o, the_vm), 0, "a dead QMP socket is no error");
	cr_assert_eq(vm->source, DISCOVERY_NAMES, "fell back to thread names");
	cr_assert_str_eq(vm->qmp_socket, vm->qemu.qmp_paths[0], "the socket that was tried");
	cr_assert_not_null(vm->qmp_error);
	cr_assert(startswith(vm->qmp_error, "QMP socket /nonexistent/kvmcg-unit-qmp.sock: "), "%s",
		  vm->qmp_error);

	cr_assert_eq(vm->n_threads, 4);
	cr_assert_eq(thread(vm, 100)->kind, THREAD_EMULATOR);
	cr_assert_eq(thread(vm, 101)->kind, THREAD_VCPU);
	cr_assert_eq(thread(vm, 101)->vcpu_index, 0);
	cr_assert_str_eq(thread(vm, 101)->cgroup, "/synth/vcpu0");
	cr_assert_eq(thread(vm, 102)->kind, THREAD_UNKNOWN, "a second 'CPU 0' is not vCPU 0");
	cr_assert_eq(thread(vm, 103)->kind, THREAD_IOTHREAD);
	cr_assert_str_eq(thread(vm, 103)->iothread_id, "io-undeclared");
	cr_assert_null(thread(vm, 103)->cgroup, "no cgroup file: still a thread");

	cr_assert_eq(vm->n_vcpus_expected, 2);
	cr_assert_eq(vm->n_unidentified_vcpus, 1);
	cr_assert_eq(vm->unidentified_vcpus[0], 1);
	cr_assert_eq(vm->n_unidentified_iothreads, 1);
	cr_assert_str_eq(vm->unidentified_iothreads[0], "io-declared");
}

Test(discover_synthetic, no_qmp_skips_the_socket, .fini = synth_cleanup)
{
	build_synthetic();
	char root[128];
	snprintf(root, sizeof(root), "%s", synth);
	struct discover_opts o;
	open_tree(root, &o);
	cr_assert_eq(vm_identify(&o, 100, &the_vm), 1);
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0);
	cr_assert_null(the_vm->qmp_socket);
	cr_assert_null(the_vm->qmp_error);
	cr_assert_eq(the_vm->source, DISCOVERY_NAMES);
}

/* ---- what makes a process a VM ----------------------------------------------------------- */

static void put_fd(int pid, int fd, const char *target)
{
	char dir[256], link[300];
	snprintf(dir, sizeof(dir), "%s/proc/%d/fd", synth, pid);
	mkdir(dir, 0755);
	if (fd < 0)
		return; /* an fd directory with nothing of interest */
	snprintf(link, sizeof(link), "%s/%d", dir, fd);
	cr_assert_eq(symlink(target, link), 0, "%s", link);
}

/* A KVM QEMU still starting (-smp 2): vCPU 0's thread has made its vcpu fd, vCPU 1's
 * thread has not started yet (QEMU's vCPU threads make their fds one after another,
 * kvm_init_vcpu()). The fds alone would say one vCPU: -smp says two, so vCPU 1 is
 * missing and the VM is not identified (the field report: watch pinned vCPU 0 alone,
 * then vCPU 1 a moment later). */
Test(discover_synthetic, a_kvm_vm_still_starting_waits_for_every_smp_vcpu, .fini = synth_cleanup)
{
	make_tmpdir(synth, sizeof(synth), "synth");
	static const char cmdline[] = "qemu-system-x86_64\0-accel\0kvm\0-smp\0" "2\0"
				      "-name\0guest=starting,debug-threads=on\0";
	put("proc/100/cmdline", cmdline, sizeof(cmdline) - 1);
	put_exe(100, "/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed dev=2049 ino=77\n");
	put("proc/100/cgroup", "0::/\n", 5);
	put_task(100, 100, "qemu-system-x86", "0-3", "0::/\n");
	put_task(100, 101, "CPU 0/KVM", "0-3", "0::/\n");
	put_fd(100, 10, "anon_inode:kvm-vm");
	put_fd(100, 11, "anon_inode:kvm-vcpu:0");
	put("sys/devices/system/cpu/online", "0-3\n", 4);
	char root[128];
	snprintf(root, sizeof(root), "%s", synth);
	struct discover_opts o;
	open_tree(root, &o);
	cr_assert_eq(vm_identify(&o, 100, &the_vm), 1);
	cr_assert_eq(vm_discover_threads(&o, the_vm), 0);
	const struct vm *vm = the_vm;
	cr_assert_eq(vm->n_kvm_vcpu_fds, 1);
	cr_assert_eq(thread(vm, 101)->kind, THREAD_VCPU);
	cr_assert_eq(vm->n_vcpus_expected, 2, "expected %u", vm->n_vcpus_expected);
	cr_assert_eq(vm->n_unidentified_vcpus, 1);
	cr_assert_eq(vm->unidentified_vcpus[0], 1);
	cr_assert_not(vm_identified(vm), "vCPU 1 is still to come");
}

/* The reported fault, as a tree: argv[0] says qemu-system-x86_64, -name says synth,
 * two threads call themselves "CPU 0/KVM"; the executable is python. */
Test(discover_synthetic, argv0_and_thread_names_are_not_evidence, .fini = synth_cleanup)
{
	build_synthetic();
	put_exe(100, "/usr/bin/python3.11", "uid=0 gid=0 mode=0x81ed\n");
	put_fd(100, -1, NULL);
	struct discover_opts o;
	open_tree(synth, &o);
	_cleanup_free_ char *why = NULL;
	cr_assert_eq(vm_identify_why(&o, 100, &the_vm, &why), 0);
	cr_assert_null(the_vm);
	cr_assert_str_eq(why, "its command line says qemu-system-x86_64 but its executable is "
			      "/usr/bin/python3.11, and it holds no KVM VM");
	cr_assert_eq(vm_list_all(&o, &the_list, &the_list_n), 0);
	cr_assert_eq(the_list_n, 0, "list leaves it out");

	/* no exe at all (what a capture without root records): no evidence either */
	char link[256];
	snprintf(link, sizeof(link), "%s/proc/100/exe", synth);
	cr_assert_eq(unlink(link), 0);
	free(why);
	why = NULL;
	cr_assert_eq(vm_identify_why(&o, 100, &the_vm, &why), 0);
	cr_assert_str_eq(why, "its executable cannot be read (/proc/100/exe: No such file or "
			      "directory), and it holds no KVM VM");
}

/* Each rule of the exe evidence, and the kvm-fd evidence beside it. The tree is the
 * synthetic QEMU of above with another executable each time. */
Test(discover_synthetic, evidence_rules, .fini = synth_cleanup)
{
	static const struct {
		const char *exe, *record; /* record NULL: no exe.stat */
		bool kvm_fd;
		unsigned evidence; /* 0: not a VM */
		bool is_qemu;
		const char *why;
	} cases[] = {
		{"/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed", false, VM_EVIDENCE_EXE, true, NULL},
		{"/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed", true,
		 VM_EVIDENCE_EXE | VM_EVIDENCE_KVM_FD, true, NULL},
		/* renamed, deleted on disk since (an upgrade): still root's QEMU */
		{"/usr/bin/qemu-system-x86_64 (deleted)", "uid=0 gid=0 mode=0x81ed", false, VM_EVIDENCE_EXE,
		 true, NULL},
		{"/usr/libexec/qemu-kvm", "uid=0 gid=0 mode=0x8149", false, VM_EVIDENCE_EXE, true, NULL},
		/* a copy of python named like QEMU, in the user's own directory */
		{"/home/u/qemu-system-x86_64", "uid=65534 gid=65534 mode=0x81ed", false, 0, false,
		 "its executable /home/u/qemu-system-x86_64 is owned by uid 65534, not root, and it "
		 "holds no KVM VM"},
		/* the same holding a KVM VM is a VM: by its fd, and QEMU's conventions apply */
		{"/home/u/qemu-system-x86_64", "uid=65534 gid=65534 mode=0x81ed", true, VM_EVIDENCE_KVM_FD,
		 true, NULL},
		{"/opt/q/qemu-system-x86_64", "uid=0 gid=1000 mode=0x81fd", false, 0, false,
		 "its executable /opt/q/qemu-system-x86_64 can be changed by group or others (mode 0775), "
		 "and it holds no KVM VM"},
		{"/opt/q/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ef", false, 0, false,
		 "its executable /opt/q/qemu-system-x86_64 can be changed by group or others (mode 0757), "
		 "and it holds no KVM VM"},
		{"/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x41ed", false, 0, false,
		 "its executable /usr/bin/qemu-system-x86_64 is not a regular file, and it holds no KVM VM"},
		{"/usr/bin/qemu-system-x86_64", NULL, false, 0, false,
		 "this captured tree does not record who owns its executable /usr/bin/qemu-system-x86_64 "
		 "(no exe.stat), and it holds no KVM VM"},
		{"/usr/bin/qemu-system-x86_64", "owner=root", false, 0, false,
		 "its executable /usr/bin/qemu-system-x86_64 cannot be examined (Invalid argument), and it "
		 "holds no KVM VM"},
		/* python behind a symbolic link named like QEMU: the kernel names python */
		{"/usr/bin/python3.11", "uid=0 gid=0 mode=0x81ed", false, 0, false,
		 "its command line says qemu-system-x86_64 but its executable is /usr/bin/python3.11, and "
		 "it holds no KVM VM"},
		/* another VMM: its fd alone */
		{"/usr/bin/firecracker", "uid=0 gid=0 mode=0x81ed", true, VM_EVIDENCE_KVM_FD, false, NULL},
		/* a path made to drive a terminal is quoted escaped */
		{"/tmp/\x1b[2J/qemu", "uid=0 gid=0 mode=0x81ed", false, 0, false,
		 "its command line says qemu-system-x86_64 but its executable is /tmp/\\x1b[2J/qemu, and "
		 "it holds no KVM VM"},
	};
	build_synthetic();
	struct discover_opts o;
	open_tree(synth, &o);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char fds[256];
		snprintf(fds, sizeof(fds), "rm -rf '%s/proc/100/fd'", synth);
		cr_assert_eq(system(fds), 0);
		put_fd(100, -1, NULL);
		if (cases[i].kvm_fd)
			put_fd(100, 9, "anon_inode:kvm-vm");
		put_exe(100, cases[i].exe, cases[i].record);
		struct vm *vm = NULL;
		_cleanup_free_ char *why = NULL;
		int r = vm_identify_why(&o, 100, &vm, &why);
		cr_assert_eq(r, cases[i].evidence ? 1 : 0, "case %zu (%s): %d", i, cases[i].exe, r);
		if (r == 1) {
			cr_assert_eq(vm->evidence, cases[i].evidence, "case %zu", i);
			cr_assert_eq(vm->is_qemu, cases[i].is_qemu, "case %zu", i);
			cr_assert_eq(vm->has_kvm, cases[i].kvm_fd);
			cr_assert_null(why);
			vm_free(vm);
		} else {
			cr_assert_null(vm);
			cr_assert_not_null(why, "case %zu", i);
			cr_assert_str_eq(why, cases[i].why, "case %zu", i);
		}
	}
}

/* vm_identify without a reason asked, and vm_exe_evidence on its own (a buffer). */
Test(discover, exe_evidence_pure)
{
	struct proc_exe e = {.path = (char *)"/usr/bin/qemu-system-x86_64", .have_stat = true,
			     .uid = 0, .mode = S_IFREG | 0755, .path_trusted = true};
	cr_assert_eq(vm_exe_evidence(&e, "whatever", "whatever", NULL), 1,
		     "argv[0] and comm play no part in a yes");
	/* root's python bind-mounted onto that name in a user namespace of its own: the
	 * name is the owner's arrangement, not root's */
	e.path_trusted = false;
	e.path_why = (char *)"is named in a mount namespace of a user namespace of its own, where its owner "
			     "arranges what a path names";
	_cleanup_free_ char *ns_why = NULL;
	cr_assert_eq(vm_exe_evidence(&e, NULL, NULL, &ns_why), 0);
	cr_assert_str_eq(ns_why, "its executable /usr/bin/qemu-system-x86_64 is named in a mount namespace of a "
				 "user namespace of its own, where its owner arranges what a path names");
	e.path_trusted = true;
	e.path_why = NULL;
	e.uid = 1000;
	_cleanup_free_ char *why = NULL;
	cr_assert_eq(vm_exe_evidence(&e, NULL, NULL, &why), 0);
	cr_assert_str_eq(why, "its executable /usr/bin/qemu-system-x86_64 is owned by uid 1000, not root");
	free(why);
	why = NULL;
	struct proc_exe p = {.path = (char *)"/usr/bin/python3.11", .have_stat = true, .mode = S_IFREG | 0755};
	cr_assert_eq(vm_exe_evidence(&p, "python3", "CPU 0/KVM", &why), 0);
	cr_assert_str_eq(why, "its executable /usr/bin/python3.11 is not QEMU");
	free(why);
	why = NULL;
	cr_assert_eq(vm_exe_evidence(&p, "x", "qemu-system-x86", &why), 0);
	cr_assert_str_eq(why, "its name says qemu-system-x86 but its executable is /usr/bin/python3.11");
	cr_assert_str_eq(vm_evidence_name(VM_EVIDENCE_EXE), "exe");
	cr_assert_str_eq(vm_evidence_name(VM_EVIDENCE_KVM_FD), "kvm-fd");
	cr_assert_null(vm_evidence_name((enum vm_evidence)0));
}

/* What a writer checks right before acting: the same start time and executable. */
Test(discover_synthetic, check_identity_sees_exec_and_reuse, .fini = synth_cleanup)
{
	build_synthetic();
	struct discover_opts o;
	open_tree(synth, &o);
	cr_assert_eq(vm_identify(&o, 100, &the_vm), 1);
	cr_assert(the_vm->exe_id_known);
	cr_assert_eq(the_vm->exe_dev, (dev_t)2049);
	cr_assert_eq(the_vm->exe_ino, (ino_t)77);
	cr_assert_eq(vm_check_identity(&o, the_vm), 0, "nothing changed");

	/* the pid exec'd another program: same pid, same start time, another inode */
	put_exe(100, "/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed dev=2049 ino=78\n");
	cr_assert_eq(vm_check_identity(&o, the_vm), -ESRCH);
	/* its executable can no longer be told */
	put_exe(100, "/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed\n");
	cr_assert_eq(vm_check_identity(&o, the_vm), -ESRCH);
	put_exe(100, "/usr/bin/qemu-system-x86_64", "uid=0 gid=0 mode=0x81ed dev=2049 ino=77\n");
	cr_assert_eq(vm_check_identity(&o, the_vm), 0);

	/* the pid was reused: another start time */
	char stat[512];
	snprintf(stat, sizeof(stat), "%s/proc/100/stat", synth);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "sed -i 's/ 4 0 1000 / 4 0 1001 /' '%s'", stat);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(vm_check_identity(&o, the_vm), -ESRCH);

	/* and gone */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/proc/100'", synth);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(vm_check_identity(&o, the_vm), -ESRCH);
}

/* ---- impersonators: processes of the user nobody, captured live ---------------------------- */

#define IMPERSONATORS FIXTURES "/impersonators"

static bool is_root_qemu(const struct proc_entry *e)
{
	const char *base = strrchr(e->exe, '/');
	return base && strncmp(base + 1, "qemu-system-", 12) == 0 && e->has_exe_stat &&
	       e->exe_uid == 0 && !(e->exe_mode & 022);
}

Test(discover_impersonators, only_the_real_qemu_is_a_vm, .fini = cleanup)
{
	struct discover_opts o;
	open_tree(IMPERSONATORS, &o);
	pid_t pids[8];
	size_t n = user_pids(IMPERSONATORS, pids, 8);
	cr_assert_eq(n, 3, "the tree holds three processes (tests/fixtures/README.md)");
	size_t real = 0;
	pid_t real_pid = 0;
	for (size_t i = 0; i < n; i++) {
		struct proc_entry *e = load_proc(IMPERSONATORS, pids[i]);
		/* every one of them claims to be QEMU by name and has "CPU n/" threads */
		size_t cpu_threads = 0;
		for (size_t k = 0; k < e->n_tasks; k++)
			cpu_threads += strncmp(e->tasks[k].name, "CPU ", 4) == 0;
		cr_assert_geq(cpu_threads, 2, "pid %d", (int)pids[i]);
		cr_assert(e->has_euid);
		cr_assert_neq(e->euid, 0, "run by an ordinary user");
		if (is_root_qemu(e)) {
			real++;
			real_pid = pids[i];
		} else {
			struct vm *vm = NULL;
			_cleanup_free_ char *why = NULL;
			cr_assert_eq(vm_identify_why(&o, pids[i], &vm, &why), 0, "pid %d", (int)pids[i]);
			cr_assert_null(vm);
			cr_assert_not_null(strstr(why, e->exe), "the reason names the executable: %s", why);
			cr_assert(strstr(why, "holds no KVM VM"), "%s", why);
		}
		free(e);
	}
	cr_assert_eq(real, 1, "one root-owned QEMU");

	cr_assert_eq(vm_list_all(&o, &the_list, &the_list_n), 0);
	cr_assert_eq(the_list_n, real);
	const struct vm *vm = the_list[0];
	the_entry = load_proc(IMPERSONATORS, real_pid);
	check_identity(vm, the_entry);
	cr_assert_eq(vm->evidence, VM_EVIDENCE_EXE, "TCG: its executable only");
	cr_assert_eq(vm->owner_uid, (uid_t)the_entry->euid, "owned by the user who ran it");
	cr_assert(vm->is_qemu);
	const char *name = arg_after(the_entry, "-name");
	cr_assert_not_null(name);
	cr_assert(startswith(name, "guest="));
	cr_assert_eq(strncmp(vm->name, name + 6, strcspn(name + 6, ",")), 0);
	cr_assert_eq(vm->source, DISCOVERY_NAMES, "debug-threads names");
	cr_assert_eq(count_kind(vm, THREAD_VCPU), (size_t)atoi(arg_after(the_entry, "-smp")));
}

/* ---- pure functions ----------------------------------------------------------------------------- */

Test(classify, qemu_names)
{
	static const struct {
		const char *comm;
		enum thread_kind kind;
		int index;
		const char *id;
	} cases[] = {
		{"CPU 0/KVM", THREAD_VCPU, 0, NULL},
		{"CPU 3/KVM", THREAD_VCPU, 3, NULL},
		{"CPU 12/TCG", THREAD_VCPU, 12, NULL},
		{"CPU 255/HVF", THREAD_VCPU, 255, NULL},
		{"CPU 1/", THREAD_VCPU, 1, NULL},
		{"CPU 1", THREAD_UNKNOWN, -1, NULL},
		{"CPU -1/KVM", THREAD_UNKNOWN, -1, NULL},
		{"CPU x/KVM", THREAD_UNKNOWN, -1, NULL},
		{"IO iothread0", THREAD_IOTHREAD, -1, "iothread0"},
		{"IO io 1", THREAD_IOTHREAD, -1, "io 1"},
		{"IO mon_iothread", THREAD_UNKNOWN, -1, NULL},
		{"IO ", THREAD_UNKNOWN, -1, NULL},
		{"IOio1", THREAD_UNKNOWN, -1, NULL},
		{"qemu-system-x86", THREAD_UNKNOWN, -1, NULL},
		{"call_rcu", THREAD_UNKNOWN, -1, NULL},
		{"worker", THREAD_UNKNOWN, -1, NULL},
		{"fc_vcpu 0", THREAD_UNKNOWN, -1, NULL}, /* not QEMU's naming */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int idx = -1;
		const char *id = NULL;
		enum thread_kind k = classify_thread_name(cases[i].comm, true, &idx, &id);
		cr_assert_eq(k, cases[i].kind, "'%s' -> %s", cases[i].comm, thread_kind_name(k));
		if (k == THREAD_VCPU)
			cr_assert_eq(idx, cases[i].index, "'%s'", cases[i].comm);
		if (k == THREAD_IOTHREAD)
			cr_assert_str_eq(id, cases[i].id);
	}
}

Test(classify, other_vmm_names)
{
	static const struct {
		const char *comm;
		enum thread_kind kind;
		int index;
	} cases[] = {
		{"fc_vcpu 0", THREAD_VCPU, 0},     {"fc_vcpu 15", THREAD_VCPU, 15},
		{"crosvm_vcpu3", THREAD_VCPU, 3},  {"vcpu12", THREAD_VCPU, 12},
		{"vcpu", THREAD_UNKNOWN, -1},      {"fc_vcpu -1", THREAD_UNKNOWN, -1},
		{"fc_vcpu 1x", THREAD_UNKNOWN, -1}, {"vcpu 1", THREAD_UNKNOWN, -1},
		{"fc_api", THREAD_UNKNOWN, -1},    {"CPU 0/KVM", THREAD_UNKNOWN, -1},
		{"IO io1", THREAD_UNKNOWN, -1},    {"firecracker", THREAD_UNKNOWN, -1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int idx = -1;
		const char *id = NULL;
		enum thread_kind k = classify_thread_name(cases[i].comm, false, &idx, &id);
		cr_assert_eq(k, cases[i].kind, "'%s' -> %s", cases[i].comm, thread_kind_name(k));
		if (k == THREAD_VCPU)
			cr_assert_eq(idx, cases[i].index, "'%s'", cases[i].comm);
	}
}

Test(discover, enum_names)
{
	cr_assert_str_eq(thread_kind_name(THREAD_UNKNOWN), "unknown");
	cr_assert_str_eq(thread_kind_name(THREAD_EMULATOR), "emulator");
	cr_assert_str_eq(thread_kind_name(THREAD_VCPU), "vcpu");
	cr_assert_str_eq(thread_kind_name(THREAD_IOTHREAD), "iothread");
	cr_assert_str_eq(thread_kind_name(THREAD_WORKER), "worker");
	cr_assert_str_eq(thread_kind_name((enum thread_kind)99), "unknown");
	cr_assert_str_eq(discovery_source_name(DISCOVERY_NONE), "none");
	cr_assert_str_eq(discovery_source_name(DISCOVERY_KVM_FD), "kvm-fd");
	cr_assert_str_eq(discovery_source_name(DISCOVERY_NAMES), "names");
	cr_assert_str_eq(discovery_source_name(DISCOVERY_QMP), "qmp");
	cr_assert_str_eq(discovery_source_name((enum discovery_source)99), "none");
}

Test(discover, opts_defaults)
{
	struct discover_opts o;
	memset(&o, 0x5a, sizeof(o));
	discover_opts_init(&o, 42);
	cr_assert_eq(o.proc_fd, 42);
	cr_assert_gt(o.qmp_timeout_ms, 0);
	cr_assert_null(o.qmp_socket);
	cr_assert_not(o.no_qmp);
	cr_assert_gt(o.kvm_fd_rounds, 0);
	cr_assert_eq(o.qmp_deadline_ns, 0, "each discovery starts its own budget");
	vm_free(NULL);
}

Test(discover, qmp_deadline)
{
	struct discover_opts o;
	discover_opts_init(&o, 42);
	o.qmp_timeout_ms = 1500;
	uint64_t before = now_ns();
	uint64_t d = discover_qmp_deadline(&o);
	uint64_t after = now_ns();
	cr_assert_geq(d, before + 1500 * 1000000ull);
	cr_assert_leq(d, after + 1500 * 1000000ull);
	o.qmp_deadline_ns = 12345;
	cr_assert_eq(discover_qmp_deadline(&o), 12345, "a deadline given is kept: one for all");
}
