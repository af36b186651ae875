// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/discover.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/err.h"
#include "vmm/qmp.h"
#include "basic/util.h"

/* _IO(KVMIO, 0x80) */
#define KVM_RUN_IOCTL 0xae80ul

const char *thread_kind_name(enum thread_kind k)
{
	switch (k) {
	case THREAD_EMULATOR:
		return "emulator";
	case THREAD_VCPU:
		return "vcpu";
	case THREAD_IOTHREAD:
		return "iothread";
	case THREAD_WORKER:
		return "worker";
	case THREAD_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *vm_evidence_name(enum vm_evidence e)
{
	switch (e) {
	case VM_EVIDENCE_EXE:
		return "exe";
	case VM_EVIDENCE_KVM_FD:
		return "kvm-fd";
	}
	return NULL;
}

const char *discovery_source_name(enum discovery_source s)
{
	switch (s) {
	case DISCOVERY_QMP:
		return "qmp";
	case DISCOVERY_NAMES:
		return "names";
	case DISCOVERY_KVM_FD:
		return "kvm-fd";
	case DISCOVERY_NONE:
		break;
	}
	return "none";
}

void discover_opts_init(struct discover_opts *o, int proc_fd)
{
	*o = (struct discover_opts){
		.proc_fd = proc_fd,
		.qmp_timeout_ms = 2000,
		/* A vCPU idle in the guest sits in KVM_RUN nearly all the time; 100 rounds
		 * 2 ms apart catch even a busy one that exits to QEMU now and then. */
		.kvm_fd_rounds = 100,
		.kvm_fd_interval_us = 2000,
		.self = getpid(),
	};
}

static void thread_done(struct vm_thread *t)
{
	free(t->iothread_id);
	idset_free(t->affinity);
	free(t->cgroup);
}

static void clear_threads(struct vm *vm)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		thread_done(&vm->threads[i]);
	free(vm->threads);
	vm->threads = NULL;
	vm->n_threads = 0;
	free(vm->unidentified_vcpus);
	vm->unidentified_vcpus = NULL;
	vm->n_unidentified_vcpus = 0;
	strv_free(vm->unidentified_iothreads);
	vm->unidentified_iothreads = NULL;
	vm->n_unidentified_iothreads = 0;
	free(vm->qmp_error);
	vm->qmp_error = NULL;
	free(vm->qmp_socket);
	vm->qmp_socket = NULL;
	vm->source = DISCOVERY_NONE;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	clear_threads(vm);
	free(vm->name);
	free(vm->comm);
	free(vm->exe);
	free(vm->exe_path);
	free(vm->owner_user);
	free(vm->kvm_vcpu_fd_index);
	qemu_config_done(&vm->qemu);
	free(vm);
}

/* ---- identification ------------------------------------------------------ */

struct fd_scan {
	bool kvm_vm;
	unsigned n_vcpu;
	int *vcpu; /* pairs: fd, KVM vcpu_id (the APIC id on x86) */
	int err;
};

static int scan_fd(int fd, const char *target, void *userdata)
{
	struct fd_scan *s = userdata;
	if (strcmp(target, "anon_inode:kvm-vm") == 0) {
		s->kvm_vm = true;
	} else if (startswith(target, "anon_inode:kvm-vcpu:")) {
		int id;
		if (parse_int(target + strlen("anon_inode:kvm-vcpu:"), &id) < 0 || id < 0)
			return 0;
		int *n = realloc(s->vcpu, (s->n_vcpu + 1) * 2 * sizeof(int));
		if (!n) {
			s->err = -ENOMEM;
			return 1;
		}
		s->vcpu = n;
		s->vcpu[s->n_vcpu * 2] = fd;
		s->vcpu[s->n_vcpu * 2 + 1] = id;
		s->n_vcpu++;
	}
	return 0;
}

static int cmp_pair_second(const void *a, const void *b)
{
	int x = ((const int *)a)[1], y = ((const int *)b)[1];
	return (x > y) - (x < y);
}

/* KVM's vcpu_id is the APIC id on x86, not QEMU's cpu-index: invert QEMU's
 * topology encoding. Other VMMs number vcpu_ids densely. When the result is not a
 * set of distinct indexes (an unknown topology), the rank of the id is the best
 * guess: QEMU creates vCPUs in index order and APIC ids grow with it. Replaces each
 * pair's id with the index. */
static void vcpu_ids_to_indexes(const struct vm *vm, int *pairs, unsigned n)
{
	if (n == 0)
		return; /* pairs may be NULL, which qsort must not see */
	qsort(pairs, n, 2 * sizeof(int), cmp_pair_second);
	_cleanup_free_ int *idx = malloc(n * sizeof(int));
	bool ok = idx != NULL;
	for (unsigned i = 0; ok && i < n; i++) {
		idx[i] = vm->is_qemu ? qemu_apic_id_to_cpu_index(&vm->qemu, (unsigned)pairs[i * 2 + 1])
				     : pairs[i * 2 + 1];
		/* sorted ids give increasing indexes in every encoding */
		ok = idx[i] >= 0 && (i == 0 || idx[i] > idx[i - 1]);
	}
	for (unsigned i = 0; i < n; i++)
		pairs[i * 2 + 1] = ok ? idx[i] : (int)i;
}

/* strerror() without its static buffer: safe from any thread. */
static const char *errdesc(int r)
{
	const char *d = strerrordesc_np(r < 0 ? -r : r);
	return d ? d : "unknown error";
}

/* Appends to a sentence; callers escape what the process chose (paths, argv[0]). */
static int append(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append(char **buf, const char *fmt, ...)
{
	va_list ap;
	_cleanup_free_ char *part = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&part, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	char *joined;
	if (asprintf(&joined, "%s%s", *buf ? *buf : "", part) < 0)
		return -ENOMEM;
	free(*buf);
	*buf = joined;
	return 0;
}

int vm_exe_evidence(const struct proc_exe *e, const char *argv0, const char *comm,
		    char **ret_why)
{
	_cleanup_free_ char *why = NULL, *path = NULL, *claim = NULL;
	if (e->path && !(path = str_escape(e->path)))
		return -ENOMEM;
	const char *says = NULL;
	if (argv0 && qemu_is_qemu_name(argv0))
		says = argv0;
	else if (comm && qemu_is_qemu_name(comm))
		says = comm;
	if (says && !(claim = str_escape(says)))
		return -ENOMEM;

	int r = 0;
	if (!e->path)
		r = append(&why, "its executable cannot be read");
	else if (!qemu_is_qemu_name(e->path))
		r = claim ? append(&why, "its %s says %s but its executable is %s",
				   says == argv0 ? "command line" : "name", claim, path)
			  : append(&why, "its executable %s is not QEMU", path);
	else if (!e->have_stat && e->stat_error == -ENODATA)
		r = append(&why, "this captured tree does not record who owns its executable %s "
			   "(no exe.stat)", path);
	else if (!e->have_stat)
		r = append(&why, "its executable %s cannot be examined (%s)", path,
			   errdesc(e->stat_error));
	else if (!S_ISREG(e->mode))
		r = append(&why, "its executable %s is not a regular file", path);
	else if (e->uid != 0)
		r = append(&why, "its executable %s is owned by uid %u, not root", path,
			   (unsigned)e->uid);
	else if (e->mode & (S_IWGRP | S_IWOTH))
		r = append(&why, "its executable %s can be changed by group or others (mode %04o)",
			   path, (unsigned)(e->mode & 07777));
	else if (!e->path_trusted)
		r = append(&why, "its executable %s %s", path, e->path_why ? e->path_why : "cannot be checked");
	else
		return 1;
	if (r < 0)
		return r;
	if (ret_why)
		*ret_why = TAKE_PTR(why);
	return 0;
}

/* The owner's name, for people; NULL when the user database does not know it. */
static int owner_name(uid_t uid, char **ret)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	if (size < 1024)
		size = 16384;
	_cleanup_free_ char *buf = malloc((size_t)size);
	if (!buf)
		return -ENOMEM;
	struct passwd pw, *found = NULL;
	*ret = NULL;
	if (getpwuid_r(uid, &pw, buf, (size_t)size, &found) != 0 || !found)
		return 0;
	*ret = strdup(found->pw_name);
	return *ret ? 0 : -ENOMEM;
}

int vm_identify_why(const struct discover_opts *o, pid_t pid, struct vm **ret, char **ret_why)
{
	struct proc_stat st;
	int r = proc_read_stat(o->proc_fd, pid, 0, &st);
	if (r < 0)
		return r == -EINVAL ? -EIO : r;
	if (st.flags & PF_KTHREAD_FLAG) {
		if (ret_why)
			*ret_why = strdup("it is a kernel thread");
		return 0;
	}

	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	r = proc_read_cmdline(o->proc_fd, pid, &argv, &argc);
	if (r < 0)
		return r;
	if (argc == 0)
		return -ESRCH; /* a zombie, or on its way out: its mm, and cmdline, are gone */

	/* The kernel's word on what runs, never argv[0] or comm. EACCES for others'
	 * processes when we are not root: then there is no exe evidence. */
	struct proc_exe exe = {0};
	int exe_r = proc_read_exe(o->proc_fd, pid, &exe);
	if (exe_r == -ENOMEM)
		return exe_r;

	struct fd_scan fds = {0};
	r = proc_foreach_fd(o->proc_fd, pid, scan_fd, &fds);
	if (fds.err < 0) {
		free(fds.vcpu);
		proc_exe_done(&exe);
		return fds.err;
	}
	int fd_r = r;

	_cleanup_free_ char *why = NULL;
	r = vm_exe_evidence(&exe, argv[0], st.comm, ret_why ? &why : NULL);
	if (r < 0) {
		free(fds.vcpu);
		proc_exe_done(&exe);
		return r;
	}
	unsigned evidence = (r == 1 ? VM_EVIDENCE_EXE : 0) | (fds.kvm_vm ? VM_EVIDENCE_KVM_FD : 0);
	if (evidence == 0) {
		free(fds.vcpu);
		proc_exe_done(&exe);
		/* ENOENT from exe or fd/ may mean it exited meanwhile, or merely that it has
		 * no executable any more (or a capture did not record one). */
		struct proc_stat again;
		r = proc_read_stat(o->proc_fd, pid, 0, &again);
		if (r == -ENOENT || (r == 0 && again.starttime_ticks != st.starttime_ticks))
			return -ENOENT;
		/* A VM being killed loses its exe link before it is gone: no evidence
		 * then says nothing about what it was. */
		if (r == 0 && proc_task_exiting(o->proc_fd, pid, 0))
			return -ESRCH;
		r = 0;
		if (ret_why) {
			if (exe_r < 0)
				r = append(&why, " (/proc/%d/exe: %s)", (int)pid, errdesc(exe_r));
			if (r == 0 && fd_r < 0)
				r = append(&why, ", and its file descriptors cannot be read (%s)",
					   errdesc(fd_r));
			else if (r == 0)
				r = append(&why, ", and it holds no KVM VM");
			if (r < 0)
				return r;
			*ret_why = TAKE_PTR(why);
		}
		return 0;
	}

	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		free(fds.vcpu);
		proc_exe_done(&exe);
		return -ENOMEM;
	}
	vm->pid = pid;
	vm->starttime_ticks = st.starttime_ticks;
	vm->evidence = evidence;
	vm->has_kvm = fds.kvm_vm;
	/* QEMU's conventions (-name, -qmp, thread names) apply to a VM that runs a file
	 * named like QEMU: a root-owned one, or any that holds a KVM VM. */
	vm->is_qemu = qemu_is_qemu_name(exe.path);
	vm->n_kvm_vcpu_fds = fds.n_vcpu;
	vm->kvm_vcpu_fd_index = fds.vcpu;
	vm->exe_deleted = exe.deleted;
	vm->exe_id_known = exe.have_id;
	vm->exe_dev = exe.dev;
	vm->exe_ino = exe.ino;
	vm->exe_path = TAKE_PTR(exe.path);
	proc_exe_done(&exe);
	vm->comm = strdup(st.comm);
	if (!vm->comm || (vm->exe_path && !(vm->exe = strdup(strrchr(vm->exe_path, '/')
								 ? strrchr(vm->exe_path, '/') + 1
								 : vm->exe_path)))) {
		vm_free(vm);
		return -ENOMEM;
	}
	r = proc_read_owner(o->proc_fd, pid, &vm->owner_uid);
	if (r == -ENOMEM) {
		vm_free(vm);
		return r;
	}
	vm->owner_known = r == 0;
	/* A captured tree's uids are its host's: this host's names would mislead. */
	if (vm->owner_known && proc_is_live(o->proc_fd) &&
	    owner_name(vm->owner_uid, &vm->owner_user) < 0) {
		vm_free(vm);
		return -ENOMEM;
	}
	if (vm->is_qemu) {
		r = qemu_config_parse(argv, argc, &vm->qemu);
		if (r < 0) {
			vm_free(vm);
			return r;
		}
		if (vm->qemu.name && !(vm->name = strdup(vm->qemu.name))) {
			vm_free(vm);
			return -ENOMEM;
		}
	}
	vcpu_ids_to_indexes(vm, vm->kvm_vcpu_fd_index, vm->n_kvm_vcpu_fds);

	/* Everything above must describe one process: a pid that exited and was reused
	 * while we read it has another start time. */
	struct proc_stat again;
	r = proc_read_stat(o->proc_fd, pid, 0, &again);
	if (r < 0 || again.starttime_ticks != st.starttime_ticks) {
		vm_free(vm);
		return r < 0 && r != -ENOENT ? (r == -EINVAL ? -EIO : r) : -ENOENT;
	}
	*ret = vm;
	return 1;
}

int vm_identify(const struct discover_opts *o, pid_t pid, struct vm **ret)
{
	return vm_identify_why(o, pid, ret, NULL);
}

int vm_check_identity(const struct discover_opts *o, const struct vm *vm)
{
	struct proc_stat st;
	if (proc_read_stat(o->proc_fd, vm->pid, 0, &st) < 0 || st.starttime_ticks != vm->starttime_ticks)
		return -ESRCH;
	if (!vm->exe_id_known)
		return 0;
	struct proc_exe e = {0};
	int r = proc_read_exe(o->proc_fd, vm->pid, &e);
	bool same = r == 0 && e.have_id && e.dev == vm->exe_dev && e.ino == vm->exe_ino;
	proc_exe_done(&e);
	if (r == -ENOMEM)
		return r;
	return same ? 0 : -ESRCH;
}

/* ---- threads --------------------------------------------------------------- */

/* What the kernel says of one thread now: stat, affinity, cgroup (read into t, whose
 * old values are freed). -ENOENT when it has exited: simply not part of the VM any
 * more. */
/* A thread's stat (name, state, scheduling) and, with placement, its affinity and
 * cgroup. */
static int read_thread(int proc_fd, pid_t pid, bool placement, struct vm_thread *t)
{
	struct proc_stat st;
	struct idset *aff = NULL;
	char *cg = NULL;
	bool v1 = false;
	int r = proc_read_stat(proc_fd, pid, t->tid, &st);
	if (r == 0 && !placement) {
		t->stat = st;
		return 0;
	}
	if (r == 0)
		r = proc_read_affinity(proc_fd, pid, t->tid, &aff);
	if (r == 0) {
		r = proc_read_cgroup(proc_fd, pid, t->tid, &cg, &v1);
		if (r == -ENOENT && proc_read_stat(proc_fd, pid, t->tid, &st) == 0)
			r = 0; /* a kernel without cgroups: still a thread */
	}
	if (r < 0) {
		idset_free(aff);
		free(cg);
		return r;
	}
	t->stat = st;
	idset_free(t->affinity);
	t->affinity = aff;
	free(t->cgroup);
	t->cgroup = cg;
	t->cgroup_v1 = v1;
	return 0;
}

static int collect_threads(const struct discover_opts *o, struct vm *vm)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r = proc_list_tasks(o->proc_fd, vm->pid, &tids, &n);
	if (r < 0)
		return r;
	vm->threads = calloc(n ? n : 1, sizeof(struct vm_thread));
	if (!vm->threads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct vm_thread t = {.tid = tids[i], .vcpu_index = -1};
		r = read_thread(o->proc_fd, vm->pid, !o->placement_later, &t);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (t.tid == vm->pid)
			t.kind = THREAD_EMULATOR; /* QEMU never runs a vCPU on its main thread */
		else if (t.stat.flags & PF_USER_WORKER_FLAG)
			t.kind = THREAD_WORKER;
		vm->threads[vm->n_threads++] = t;
	}
	if (vm->n_threads == 0)
		return -ENOENT;
	return 0;
}

int vm_refresh_threads(const struct discover_opts *o, struct vm *vm)
{
	size_t kept = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		int r = read_thread(o->proc_fd, vm->pid, true, &vm->threads[i]);
		if (r == -ENOENT) {
			thread_done(&vm->threads[i]);
			continue;
		}
		if (r < 0)
			return r;
		vm->threads[kept++] = vm->threads[i];
	}
	vm->n_threads = kept;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == vm->pid)
			return 0;
	return -ESRCH;
}

static struct vm_thread *find_thread(struct vm *vm, pid_t tid)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	return NULL;
}

static struct vm_thread *find_vcpu(struct vm *vm, int index)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU && vm->threads[i].vcpu_index == index)
			return &vm->threads[i];
	return NULL;
}

static bool iothread_found(const struct vm *vm, const char *id)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_IOTHREAD && strcmp(vm->threads[i].iothread_id, id) == 0)
			return true;
	return false;
}

/* Only a thread still unclassified may take a role: QMP's word never turns the main
 * thread or a kernel worker into a vCPU. */
static bool claimable(const struct vm_thread *t)
{
	return t && t->kind == THREAD_UNKNOWN;
}

static int set_vcpu(struct vm_thread *t, int index)
{
	t->kind = THREAD_VCPU;
	t->vcpu_index = index;
	return 0;
}

static int set_iothread(struct vm_thread *t, const char *id)
{
	char *s = strdup(id);
	if (!s)
		return -ENOMEM;
	free(t->iothread_id);
	t->iothread_id = s;
	t->kind = THREAD_IOTHREAD;
	return 0;
}

int vm_socket_path(const struct vm *vm, const char *path, char **ret)
{
	int n;
	if (path[0] == '@' || !vm)
		n = asprintf(ret, "%s", path);
	else if (path[0] == '/')
		n = asprintf(ret, "/proc/%d/root%s", (int)vm->pid, path);
	else
		n = asprintf(ret, "/proc/%d/cwd/%s", (int)vm->pid, path);
	return n < 0 ? -ENOMEM : 0;
}

/* One monitor conversation, ending by deadline_ns. Thread-safe: no err_set(), no
 * strerror(); *ret_error is a sentence with the socket's path and QEMU's words
 * escaped. */
static int try_qmp_socket(const struct vm *vm, const char *display, const char *path,
			  uint64_t deadline_ns, struct qmp_vm_info *info, char **ret_error)
{
	struct qmp *q = NULL;
	int r = qmp_connect(path, deadline_ns, &q);
	if (r == 0 && qmp_peer_pid(q) > 0 && qmp_peer_pid(q) != vm->pid)
		r = -EXDEV;
	if (r == 0)
		r = qmp_query_vm(q, info);
	if (r < 0) {
		_cleanup_free_ char *d = str_escape(display);
		_cleanup_free_ char *why =
			str_escape(r == -EXDEV ? "it belongs to another process" : qmp_strerror(r, q));
		if (!d || !why || asprintf(ret_error, "QMP socket %s: %s", d, why) < 0)
			*ret_error = NULL;
	}
	if (q)
		qmp_close(q);
	return r;
}

/* What a VM's monitors said: made by qmp_converse() (in a thread of its own, for
 * vm_list_all), used by use_qmp_outcome() on the caller's thread. */
struct qmp_outcome {
	bool tried;              /* a socket was tried */
	int r;                   /* 0: info holds the answers */
	struct qmp_vm_info info;
	char *socket;            /* the socket that answered, else the first one tried */
	char *error;             /* why the first one that failed did */
};

static void qmp_outcome_done(struct qmp_outcome *out)
{
	qmp_vm_info_done(&out->info);
	free(out->socket);
	free(out->error);
	*out = (struct qmp_outcome){0};
}

/* Reads only o and vm->pid, vm->qemu: safe while other VMs are worked on. */
static void qmp_converse(const struct discover_opts *o, const struct vm *vm, uint64_t deadline_ns,
			 struct qmp_outcome *out)
{
	*out = (struct qmp_outcome){.r = -ENOENT};
	if (o->qmp_socket) {
		out->tried = true;
		out->socket = strdup(o->qmp_socket);
		out->r = out->socket ? try_qmp_socket(vm, o->qmp_socket, o->qmp_socket, deadline_ns,
						      &out->info, &out->error)
				     : -ENOMEM;
		return;
	}
	if (o->no_qmp)
		return;
	/* The next socket gets what is left of the same deadline. */
	for (size_t i = 0; i < vm->qemu.n_qmp_paths && out->r < 0 && out->r != -ENOMEM; i++) {
		const char *p = vm->qemu.qmp_paths[i];
		_cleanup_free_ char *path = NULL, *error = NULL;
		out->tried = true;
		if (vm_socket_path(vm, p, &path) < 0) {
			out->r = -ENOMEM;
			break;
		}
		out->r = try_qmp_socket(vm, p, path, deadline_ns, &out->info, &error);
		if (out->r < 0 && !out->error)
			out->error = TAKE_PTR(error);
		if (out->r == 0 || i == 0) {
			free(out->socket);
			if (!(out->socket = strdup(p)))
				out->r = -ENOMEM;
		}
	}
}

static int note_missing_vcpu(struct vm *vm, int index)
{
	if (find_vcpu(vm, index))
		return 0;
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		if (vm->unidentified_vcpus[i] == index)
			return 0;
	int *n = realloc(vm->unidentified_vcpus, (vm->n_unidentified_vcpus + 1) * sizeof(int));
	if (!n)
		return -ENOMEM;
	vm->unidentified_vcpus = n;
	vm->unidentified_vcpus[vm->n_unidentified_vcpus++] = index;
	return 0;
}

static int apply_qmp(struct vm *vm, const struct qmp_vm_info *info)
{
	for (size_t i = 0; i < info->n_vcpus; i++) {
		struct vm_thread *t = find_thread(vm, info->vcpus[i].tid);
		/* Single-threaded TCG runs every vCPU on one thread: the first index names
		 * it. A tid that is not ours (exited, or a lie) is ignored. */
		if (claimable(t))
			set_vcpu(t, info->vcpus[i].index);
	}
	for (size_t i = 0; i < info->n_iothreads; i++) {
		struct vm_thread *t = find_thread(vm, info->iothreads[i].tid);
		if (claimable(t)) {
			int r = set_iothread(t, info->iothreads[i].id);
			if (r < 0)
				return r;
		}
	}
	if (!vm->name && info->name && !(vm->name = strdup(info->name)))
		return -ENOMEM;
	/* QMP's indexes are the truth, sparse after hot-plug; one whose thread is not
	 * among ours is unidentified. */
	vm->n_vcpus_expected = (unsigned)info->n_vcpus;
	for (size_t i = 0; i < info->n_vcpus; i++) {
		int r = note_missing_vcpu(vm, info->vcpus[i].index);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Takes what the monitors said into the VM. Only the user's own socket
 * (o->qmp_socket) makes a failure an error, with its sentence in err_set(); any other
 * failure leaves qmp_error and the fallbacks. Main thread only. */
static int use_qmp_outcome(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out)
{
	if (out->r == -ENOMEM)
		return -ENOMEM;
	if (!out->tried)
		return 0;
	if (o->qmp_socket && out->r < 0) {
		err_set("%s", out->error ? out->error : "QMP failed");
		return out->r;
	}
	free(vm->qmp_socket);
	vm->qmp_socket = TAKE_PTR(out->socket);
	if (out->r < 0) {
		free(vm->qmp_error);
		vm->qmp_error = TAKE_PTR(out->error);
		return 0; /* fall back to names and fds; qmp_error says why */
	}
	int r = apply_qmp(vm, &out->info);
	if (r == 0)
		vm->source = DISCOVERY_QMP;
	return r;
}

enum thread_kind classify_thread_name(const char *comm, bool is_qemu, int *ret_index,
				      const char **ret_id)
{
	int idx, n = 0;
	if (is_qemu) {
		/* "CPU 0/KVM", "CPU 12/TCG" (hvf, whpx, ... alike) */
		if (sscanf(comm, "CPU %d/%n", &idx, &n) == 1 && n > 0 && idx >= 0) {
			*ret_index = idx;
			return THREAD_VCPU;
		}
		/* "IO <iothread id>"; QEMU's monitor thread is QEMU's own. QEMU leaves a
		 * thread unnamed when the name exceeds 15 bytes, so long ids never show. */
		if (startswith(comm, "IO ") && comm[3] && strcmp(comm + 3, "mon_iothread") != 0) {
			*ret_id = comm + 3;
			return THREAD_IOTHREAD;
		}
		return THREAD_UNKNOWN;
	}
	/* Other VMMs name their vCPU threads too: a fixed prefix, then the index. */
	static const char *const prefixes[] = {
		"fc_vcpu ",    /* Firecracker */
		"crosvm_vcpu", /* crosvm */
		"vcpu",        /* Cloud Hypervisor */
	};
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (startswith(comm, prefixes[i]) &&
		    parse_int(comm + strlen(prefixes[i]), &idx) == 0 && idx >= 0) {
			*ret_index = idx;
			return THREAD_VCPU;
		}
	return THREAD_UNKNOWN;
}

static int discover_names(struct vm *vm)
{
	bool any = false;
	for (size_t i = 0; i < vm->n_threads; i++) {
		struct vm_thread *t = &vm->threads[i];
		if (!claimable(t))
			continue;
		int idx;
		const char *id = NULL;
		enum thread_kind k = classify_thread_name(t->stat.comm, vm->is_qemu, &idx, &id);
		if (k == THREAD_VCPU && !find_vcpu(vm, idx)) {
			set_vcpu(t, idx);
			any = true;
		} else if (k == THREAD_IOTHREAD) {
			int r = set_iothread(t, id);
			if (r < 0)
				return r;
		}
	}
	if (any)
		vm->source = DISCOVERY_NAMES;
	return 0;
}

static int vcpu_index_of_fd(const struct vm *vm, unsigned long fd)
{
	for (unsigned i = 0; i < vm->n_kvm_vcpu_fds; i++)
		if ((unsigned long)vm->kvm_vcpu_fd_index[i * 2] == fd)
			return vm->kvm_vcpu_fd_index[i * 2 + 1];
	return -1;
}

/* Last resort: a vCPU thread blocks in ioctl(vcpu_fd, KVM_RUN). Sample every
 * unclassified thread's current syscall until each vCPU fd has been seen, or the
 * rounds run out. A thread busy in guest mode reads "running" and may stay unseen. */
static int discover_kvm_fds(const struct discover_opts *o, struct vm *vm)
{
	if (vm->n_kvm_vcpu_fds == 0)
		return 0;
	unsigned found = 0;
	for (unsigned round = 0; round < o->kvm_fd_rounds && found < vm->n_kvm_vcpu_fds; round++) {
		if (round > 0) {
			struct timespec ts = {.tv_nsec = (long)o->kvm_fd_interval_us * 1000};
			nanosleep(&ts, NULL);
		}
		for (size_t i = 0; i < vm->n_threads; i++) {
			struct vm_thread *t = &vm->threads[i];
			struct proc_syscall sc;
			if (!claimable(t) ||
			    proc_read_syscall(o->proc_fd, vm->pid, t->tid, &sc) < 0 || sc.running ||
			    sc.nr != SYS_ioctl || sc.args[1] != KVM_RUN_IOCTL)
				continue;
			int idx = vcpu_index_of_fd(vm, sc.args[0]);
			if (idx < 0 || find_vcpu(vm, idx))
				continue;
			set_vcpu(t, idx);
			found++;
		}
	}
	if (found)
		vm->source = DISCOVERY_KVM_FD;
	return 0;
}

static int note_unidentified(struct vm *vm)
{
	if (vm->source != DISCOVERY_QMP) {
		/* The vCPUs that should exist: one per KVM vcpu fd (hot-plugged ones
		 * included), else -smp's count (TCG); plus any a thread name revealed. */
		int r = 0;
		if (vm->n_kvm_vcpu_fds)
			for (unsigned i = 0; i < vm->n_kvm_vcpu_fds && r == 0; i++)
				r = note_missing_vcpu(vm, vm->kvm_vcpu_fd_index[i * 2 + 1]);
		else if (vm->is_qemu)
			for (int i = 0; i < vm->qemu.smp_cpus && r == 0; i++)
				r = note_missing_vcpu(vm, i);
		if (r < 0)
			return r;
		size_t vcpus = 0;
		for (size_t i = 0; i < vm->n_threads; i++)
			vcpus += vm->threads[i].kind == THREAD_VCPU;
		vm->n_vcpus_expected = (unsigned)(vcpus + vm->n_unidentified_vcpus);
	}
	/* QMP lists the iothreads that exist; the command line only what was asked for. */
	if (vm->source != DISCOVERY_QMP)
		for (size_t i = 0; i < vm->qemu.n_iothread_ids; i++)
			if (!iothread_found(vm, vm->qemu.iothread_ids[i])) {
				int r = strv_push(&vm->unidentified_iothreads,
						  &vm->n_unidentified_iothreads, vm->qemu.iothread_ids[i]);
				if (r < 0)
					return r;
			}

	/* The rest is the emulator only when nothing is missing: otherwise an unknown
	 * thread may well be a vCPU, and pinning it as the emulator would be wrong. */
	if (vm->n_unidentified_vcpus == 0 && vm->n_unidentified_iothreads == 0)
		for (size_t i = 0; i < vm->n_threads; i++)
			if (vm->threads[i].kind == THREAD_UNKNOWN)
				vm->threads[i].kind = THREAD_EMULATOR;
	return 0;
}

uint64_t discover_qmp_deadline(const struct discover_opts *o)
{
	if (o->qmp_deadline_ns)
		return o->qmp_deadline_ns;
	return qmp_deadline_after_ms(o->qmp_timeout_ms > 0 ? (unsigned)o->qmp_timeout_ms : 0);
}

/* After the monitors: names, then kvm fds, then what is missing. */
static int finish_threads(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out)
{
	int r = use_qmp_outcome(o, vm, out);
	if (r < 0)
		return r;
	if (vm->source == DISCOVERY_NONE)
		r = discover_names(vm);
	if (r == 0 && vm->source == DISCOVERY_NONE)
		r = discover_kvm_fds(o, vm);
	if (r == 0)
		r = note_unidentified(vm);
	return r;
}

int vm_discover_threads(const struct discover_opts *o, struct vm *vm)
{
	uint64_t deadline = discover_qmp_deadline(o);
	clear_threads(vm);
	int r = collect_threads(o, vm);
	if (r < 0)
		return r;
	struct qmp_outcome out;
	qmp_converse(o, vm, deadline, &out);
	r = finish_threads(o, vm, &out);
	qmp_outcome_done(&out);
	return r;
}

void vm_list_free(struct vm **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_free(v[i]);
	free(v);
}

/* One VM's monitor conversation on a thread of its own. */
struct qmp_job {
	const struct discover_opts *o;
	const struct vm *vm;
	uint64_t deadline_ns;
	struct qmp_outcome out;
	pthread_t thread;
	bool threaded;
};

static void *qmp_job_run(void *arg)
{
	struct qmp_job *j = arg;
	qmp_converse(j->o, j->vm, j->deadline_ns, &j->out);
	return NULL;
}

static bool wants_qmp(const struct discover_opts *o, const struct vm *vm)
{
	return o->qmp_socket || (!o->no_qmp && vm->qemu.n_qmp_paths > 0);
}

/* Starts the VM's conversation; without a thread (none to be had), has it here,
 * still bounded by the shared deadline. */
static void qmp_job_start(struct qmp_job *j)
{
	if (!wants_qmp(j->o, j->vm)) {
		j->out = (struct qmp_outcome){.r = -ENOENT};
		return;
	}
	j->threaded = pthread_create(&j->thread, NULL, qmp_job_run, j) == 0;
	if (!j->threaded)
		qmp_job_run(j);
}

static void qmp_job_wait(struct qmp_job *j)
{
	if (j->threaded)
		pthread_join(j->thread, NULL);
	j->threaded = false;
}

/* Adds vm and its job at the end of the two arrays; frees vm on failure. */
static int push_vm(struct vm ***vms, struct qmp_job ***jobs, size_t *n, struct vm *vm,
		   const struct discover_opts *o, uint64_t deadline_ns)
{
	struct vm **nv = realloc(*vms, (*n + 1) * sizeof(**vms));
	if (nv)
		*vms = nv;
	struct qmp_job **nj = nv ? realloc(*jobs, (*n + 1) * sizeof(**jobs)) : NULL;
	if (nj)
		*jobs = nj;
	struct qmp_job *job = nj ? calloc(1, sizeof(*job)) : NULL;
	if (!job) {
		vm_free(vm);
		return -ENOMEM;
	}
	*job = (struct qmp_job){.o = o, .vm = vm, .deadline_ns = deadline_ns};
	(*vms)[*n] = vm;
	(*jobs)[*n] = job;
	(*n)++;
	return 0;
}

int vm_list_all(const struct discover_opts *o, struct vm ***ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	int r = proc_list_pids(o->proc_fd, &pids, &n);
	if (r < 0)
		return r;
	struct vm **vms = NULL;
	struct qmp_job **jobs = NULL; /* jobs[i] talks to the monitors of vms[i] */
	size_t nvms = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct vm *vm = NULL;
		if (pids[i] == o->self)
			continue;
		r = vm_identify(o, pids[i], &vm);
		if (r == -ENOENT || r == -ESRCH || r == -EACCES || r == 0) {
			r = 0;
			continue; /* gone or going, not ours to read, or not a VM */
		}
		if (r < 0)
			break;
		/* Threads first: QMP's thread ids are checked against them. */
		r = collect_threads(o, vm);
		if (r < 0) {
			vm_free(vm);
			if (r == -ENOENT) /* exited meanwhile */
				r = 0;
			continue;
		}
		r = push_vm(&vms, &jobs, &nvms, vm, o, 0);
	}

	/* All monitors at once, under one deadline counted from here: each gets the same
	 * budget however long /proc took to read, and the whole wait is one budget. */
	uint64_t deadline = discover_qmp_deadline(o);
	for (size_t i = 0; i < nvms && r >= 0; i++) {
		jobs[i]->deadline_ns = deadline;
		qmp_job_start(jobs[i]);
	}
	/* Each VM is finished once its job is; every job ends by the deadline. */
	for (size_t i = 0; i < nvms; i++) {
		qmp_job_wait(jobs[i]);
		if (r >= 0)
			r = finish_threads(o, vms[i], &jobs[i]->out);
		qmp_outcome_done(&jobs[i]->out);
		free(jobs[i]);
	}
	free(jobs);
	if (r < 0) {
		vm_list_free(vms, nvms);
		return r;
	}
	*ret = vms;
	*ret_n = nvms;
	return 0;
}
