// SPDX-License-Identifier: GPL-2.0-or-later
#include "discover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "err.h"
#include "qmp.h"
#include "util.h"

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
	cpuset_free(t->affinity);
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

int vm_identify(const struct discover_opts *o, pid_t pid, struct vm **ret)
{
	struct proc_stat st;
	int r = proc_read_stat(o->proc_fd, pid, 0, &st);
	if (r < 0)
		return r == -EINVAL ? -EIO : r;
	if (st.flags & PF_KTHREAD_FLAG)
		return 0;

	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	r = proc_read_cmdline(o->proc_fd, pid, &argv, &argc);
	if (r < 0)
		return r;
	if (argc == 0)
		return 0; /* zombie, or exiting */

	_cleanup_free_ char *exe = NULL;
	(void)proc_read_exe_name(o->proc_fd, pid, &exe); /* EACCES for others' processes */

	struct fd_scan fds = {0};
	r = proc_foreach_fd(o->proc_fd, pid, scan_fd, &fds);
	if (fds.err < 0) {
		free(fds.vcpu);
		return fds.err;
	}
	/* Unreadable fds (EACCES) leave only the name test. */
	bool is_qemu = qemu_is_qemu_binary(argv[0], exe);
	if (!is_qemu && !fds.kvm_vm) {
		free(fds.vcpu);
		return r == -ENOENT ? -ENOENT : 0;
	}

	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		free(fds.vcpu);
		return -ENOMEM;
	}
	vm->pid = pid;
	vm->starttime_ticks = st.starttime_ticks;
	vm->is_qemu = is_qemu;
	vm->has_kvm = fds.kvm_vm;
	vm->n_kvm_vcpu_fds = fds.n_vcpu;
	vm->kvm_vcpu_fd_index = fds.vcpu;
	vm->comm = strdup(st.comm);
	vm->exe = TAKE_PTR(exe);
	if (!vm->comm) {
		vm_free(vm);
		return -ENOMEM;
	}
	if (is_qemu) {
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
	*ret = vm;
	return 1;
}

/* ---- threads --------------------------------------------------------------- */

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
		/* A thread that exits between the listing and these reads is simply not
		 * part of the VM any more. */
		r = proc_read_stat(o->proc_fd, vm->pid, t.tid, &t.stat);
		if (r == 0)
			r = proc_read_affinity(o->proc_fd, vm->pid, t.tid, &t.affinity);
		if (r == 0) {
			r = proc_read_cgroup(o->proc_fd, vm->pid, t.tid, &t.cgroup, &t.cgroup_v1);
			if (r == -ENOENT) /* kernel without cgroups: still a thread */
				r = 0;
		}
		if (r == -ENOENT) {
			thread_done(&t);
			continue;
		}
		if (r < 0) {
			thread_done(&t);
			return r;
		}
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

/* A socket named on the VM's command line is resolved inside the VM's own root
 * and, when relative, its working directory. */
static int qmp_path_for(const struct vm *vm, const char *path, char **ret)
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

static const char *qmp_strerror(int r, const struct qmp *q)
{
	switch (r) {
	case -ETIMEDOUT:
		return "no answer in time (another client may hold the monitor)";
	case -ECONNREFUSED:
		return "connection refused (nobody listens: the VM is gone or never opened it)";
	case -ENOENT:
		return "no such socket";
	case -ECONNRESET:
		return "the monitor closed the connection";
	case -EREMOTEIO:
	case -EPROTO:
		if (q && qmp_last_error(q)[0])
			return qmp_last_error(q);
		return "not a QMP monitor";
	default:
		return strerror(-r);
	}
}

static int try_qmp_socket(const struct discover_opts *o, struct vm *vm, const char *display,
			  const char *path, struct qmp_vm_info *info, char **ret_error)
{
	struct qmp *q = NULL;
	int r = qmp_connect(path, o->qmp_timeout_ms, &q);
	if (r == 0 && qmp_peer_pid(q) > 0 && qmp_peer_pid(q) != vm->pid)
		r = -EXDEV;
	if (r == 0)
		r = qmp_query_vm(q, info);
	if (r < 0) {
		const char *why = r == -EXDEV ? "it belongs to another process" : qmp_strerror(r, q);
		if (asprintf(ret_error, "QMP socket %s: %s", display, why) < 0)
			*ret_error = NULL;
	}
	if (q)
		qmp_close(q);
	return r;
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

static int discover_qmp(const struct discover_opts *o, struct vm *vm)
{
	struct qmp_vm_info info = {0};
	int r;

	if (o->qmp_socket) {
		_cleanup_free_ char *error = NULL;
		r = try_qmp_socket(o, vm, o->qmp_socket, o->qmp_socket, &info, &error);
		if (r < 0) {
			err_set("%s", error ? error : "QMP failed");
			return r;
		}
		vm->qmp_socket = strdup(o->qmp_socket);
	} else {
		if (o->no_qmp || vm->qemu.n_qmp_paths == 0)
			return 0;
		r = -ENOENT;
		for (size_t i = 0; i < vm->qemu.n_qmp_paths && r < 0; i++) {
			const char *p = vm->qemu.qmp_paths[i];
			_cleanup_free_ char *path = NULL, *error = NULL;
			if (qmp_path_for(vm, p, &path) < 0)
				return -ENOMEM;
			r = try_qmp_socket(o, vm, p, path, &info, &error);
			if (r < 0 && !vm->qmp_error)
				vm->qmp_error = TAKE_PTR(error);
			if (r == 0 || i == 0) {
				free(vm->qmp_socket);
				vm->qmp_socket = strdup(p);
			}
		}
		if (r < 0)
			return 0; /* fall back to names and fds; qmp_error says why */
		free(vm->qmp_error);
		vm->qmp_error = NULL;
	}
	if (!vm->qmp_socket) {
		qmp_vm_info_done(&info);
		return -ENOMEM;
	}
	r = apply_qmp(vm, &info);
	qmp_vm_info_done(&info);
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

int vm_discover_threads(const struct discover_opts *o, struct vm *vm)
{
	clear_threads(vm);
	int r = collect_threads(o, vm);
	if (r < 0)
		return r;
	r = discover_qmp(o, vm);
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

void vm_list_free(struct vm **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_free(v[i]);
	free(v);
}

int vm_list_all(const struct discover_opts *o, struct vm ***ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	int r = proc_list_pids(o->proc_fd, &pids, &n);
	if (r < 0)
		return r;
	struct vm **vms = NULL;
	size_t nvms = 0;
	for (size_t i = 0; i < n; i++) {
		struct vm *vm = NULL;
		if (pids[i] == o->self)
			continue;
		r = vm_identify(o, pids[i], &vm);
		if (r == -ENOENT || r == -EACCES || r == 0)
			continue; /* gone, not ours to read, or not a VM */
		if (r < 0)
			goto fail;
		r = vm_discover_threads(o, vm);
		if (r == -ENOENT) { /* exited meanwhile */
			vm_free(vm);
			continue;
		}
		if (r < 0) {
			vm_free(vm);
			goto fail;
		}
		struct vm **nv = realloc(vms, (nvms + 1) * sizeof(*vms));
		if (!nv) {
			vm_free(vm);
			r = -ENOMEM;
			goto fail;
		}
		vms = nv;
		vms[nvms++] = vm;
	}
	*ret = vms;
	*ret_n = nvms;
	return 0;
fail:
	vm_list_free(vms, nvms);
	return r;
}
