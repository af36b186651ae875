// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM model, and what makes a process a VM (its executable, a kvm-vm fd). */
#include "vmm/discover.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/err.h"
#include "vmm/qmp.h"
#include "basic/util.h"
#include "vmm/discover-internal.h"

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
	case VM_EVIDENCE_LAUNCHED:
		return "launched";
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

void thread_done(struct vm_thread *t)
{
	free(t->iothread_id);
	idset_free(t->affinity);
	free(t->cgroup);
}

void clear_threads(struct vm *vm)
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

char *vm_unidentified_vcpu_list(const struct vm *vm)
{
	char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		fprintf(f, "%s%d", i ? "," : "", vm->unidentified_vcpus[i]);
	if (fclose(f) != 0) {
		free(list);
		return NULL;
	}
	return list;
}

bool vm_unexamined_qemu(const struct discover_opts *o, pid_t pid)
{
	struct proc_stat st;
	return proc_read_stat(o->proc_fd, pid, 0, &st) == 0 && qemu_is_qemu_name(st.comm);
}

bool vm_vcpus_knowable(const struct vm *vm, bool qmp)
{
	bool kvm = vm->has_kvm || !vm->qemu.accel || strstr(vm->qemu.accel, "kvm");
	return qmp || vm->qemu.debug_threads || kvm;
}

bool vm_identified(const struct vm *vm)
{
	if (vm->n_unidentified_vcpus || vm->n_unidentified_iothreads)
		return false;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_UNKNOWN)
			return false;
	return true;
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
	free(vm->memdev_sizes);
	qemu_config_done(&vm->qemu);
	vm_disks_free(vm->disks, vm->n_disks);
	free(vm->nics);
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

/* No evidence: not a VM (0, with why in *ret_why when asked), unless the process
 * exited meanwhile (-ENOENT) or is on its way out (-ESRCH). */
static int not_a_vm(const struct discover_opts *o, pid_t pid, const struct proc_stat *st, int exe_r, int fd_r,
		    char **why, char **ret_why)
{
	/* ENOENT from exe or fd/ may mean it exited meanwhile, or merely that it has
	 * no executable any more (or a capture did not record one). */
	struct proc_stat again;
	int r = proc_read_stat(o->proc_fd, pid, 0, &again);
	if (r == -ENOENT || (r == 0 && again.starttime_ticks != st->starttime_ticks))
		return -ENOENT;
	/* A VM being killed loses its exe link before it is gone: no evidence
	 * then says nothing about what it was. */
	if (r == 0 && proc_task_exiting(o->proc_fd, pid, 0))
		return -ESRCH;
	/* Another user's process and we are not root: neither its executable nor its
	 * fds can be read, so whether it is a VM cannot be told. */
	if (exe_r == -EACCES && fd_r == -EACCES)
		return -EACCES;
	if (!ret_why)
		return 0;
	r = 0;
	if (exe_r < 0)
		r = append(why, " (/proc/%d/exe: %s)", (int)pid, errdesc(exe_r));
	if (r == 0 && fd_r < 0)
		r = append(why, ", and its file descriptors cannot be read (%s)", errdesc(fd_r));
	else if (r == 0)
		r = append(why, ", and it holds no KVM VM");
	if (r < 0)
		return r;
	*ret_why = TAKE_PTR(*why);
	return 0;
}

/* The VM as identification found it: takes fds->vcpu and exe over. */
static int vm_new(const struct discover_opts *o, pid_t pid, const struct proc_stat *st, unsigned evidence,
		  struct fd_scan *fds, struct proc_exe *exe, struct vm **ret)
{
	int r;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		free(fds->vcpu);
		proc_exe_done(exe);
		return -ENOMEM;
	}
	vm->pid = pid;
	vm->starttime_ticks = st->starttime_ticks;
	vm->evidence = evidence;
	vm->has_kvm = fds->kvm_vm;
	/* QEMU's conventions (-name, -qmp, thread names) apply to a VM that runs a file
	 * named like QEMU: a root-owned one, or any that holds a KVM VM. */
	vm->is_qemu = qemu_is_qemu_name(exe->path);
	vm->n_kvm_vcpu_fds = fds->n_vcpu;
	vm->kvm_vcpu_fd_index = fds->vcpu;
	vm->exe_deleted = exe->deleted;
	vm->exe_id_known = exe->have_id;
	vm->exe_dev = exe->dev;
	vm->exe_ino = exe->ino;
	vm->exe_path = TAKE_PTR(exe->path);
	proc_exe_done(exe);
	vm->comm = strdup(st->comm);
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
	    user_name(vm->owner_uid, &vm->owner_user) < 0) {
		vm_free(vm);
		return -ENOMEM;
	}
	*ret = vm;
	return 0;
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
		return not_a_vm(o, pid, &st, exe_r, fd_r, &why, ret_why);
	}

	struct vm *vm = NULL;
	r = vm_new(o, pid, &st, evidence, &fds, &exe, &vm);
	if (r < 0)
		return r;
	if (vm->is_qemu) {
		r = qemu_config_parse(argv, argc, &vm->qemu);
		if (r == 0)
			r = vm_disks_parse(argv, argc, &vm->disks, &vm->n_disks);
		if (r == 0)
			r = vm_nics_parse(argv, argc, &vm->nics, &vm->n_nics);
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

int vm_held_child(const struct discover_opts *o, pid_t pid, const char *name, struct vm **ret)
{
	struct proc_stat st;
	int r = proc_read_stat(o->proc_fd, pid, 0, &st);
	if (r < 0)
		return r == -EINVAL ? -EIO : r;
	struct proc_exe exe = {0};
	r = proc_read_exe(o->proc_fd, pid, &exe);
	if (r == -ENOMEM)
		return r;
	struct fd_scan fds = {0};
	struct vm *vm = NULL;
	r = vm_new(o, pid, &st, VM_EVIDENCE_LAUNCHED, &fds, &exe, &vm);
	if (r < 0)
		return r;
	vm->is_qemu = true; /* what it will be once released */
	vm->threads = calloc(1, sizeof(*vm->threads));
	if (!vm->threads || (name && !(vm->name = strdup(name)))) {
		vm_free(vm);
		return -ENOMEM;
	}
	vm->n_threads = 1;
	vm->threads[0] = (struct vm_thread){.tid = pid, .kind = THREAD_EMULATOR, .vcpu_index = -1};
	*ret = vm;
	return 0;
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
