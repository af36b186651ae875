/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finding VMs and classifying their threads. Reads the host into plain structs;
 * nothing here changes the system. */
#ifndef KVMCG_DISCOVER_H
#define KVMCG_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cpuset.h"
#include "procfs.h"
#include "qemu-argv.h"

enum thread_kind {
	THREAD_UNKNOWN,  /* could be a vCPU or iothread we failed to identify */
	THREAD_EMULATOR, /* the hypervisor's own threads: main loop, call_rcu, workers */
	THREAD_VCPU,
	THREAD_IOTHREAD,
	THREAD_WORKER, /* kernel user workers (PF_USER_WORKER): vhost-PID, kvm-nx-lpage-re */
};
const char *thread_kind_name(enum thread_kind k);

/* Best first. */
enum discovery_source {
	DISCOVERY_NONE,
	DISCOVERY_KVM_FD,
	DISCOVERY_NAMES,
	DISCOVERY_QMP,
};
const char *discovery_source_name(enum discovery_source s);

struct vm_thread {
	pid_t tid;
	enum thread_kind kind;
	int vcpu_index;    /* >= 0 for vCPUs */
	char *iothread_id; /* iothreads only */
	struct proc_stat stat;
	struct cpuset *affinity;
	char *cgroup;
	bool cgroup_v1; /* cgroup is the path in the v1 cpuset hierarchy */
};

struct vm {
	pid_t pid;
	uint64_t starttime_ticks; /* with pid, identifies this VM across pid reuse */
	char *name;               /* -name guest=, else QMP query-name; may be NULL */
	char *comm;
	char *exe;
	bool is_qemu;
	bool has_kvm;              /* holds an anon_inode:kvm-vm fd */
	unsigned n_kvm_vcpu_fds;
	int *kvm_vcpu_fd_index;    /* per vcpu fd, sorted by fd: [fd, index] pairs */
	struct qemu_config qemu;

	enum discovery_source source;
	char *qmp_socket; /* the socket that answered, or the first one tried */
	char *qmp_error;  /* why QMP was not used although a socket was known */

	unsigned n_vcpus_expected;
	int *unidentified_vcpus;
	size_t n_unidentified_vcpus;
	char **unidentified_iothreads;
	size_t n_unidentified_iothreads;

	struct vm_thread *threads;
	size_t n_threads;
};

void vm_free(struct vm *vm);
static inline void vm_freep(struct vm **vm)
{
	vm_free(*vm);
}
#define _cleanup_vm_ __attribute__((cleanup(vm_freep)))

struct discover_opts {
	int proc_fd;
	int qmp_timeout_ms;
	const char *qmp_socket; /* given by the user: used first, and its failure is an error */
	bool no_qmp;
	unsigned kvm_fd_rounds; /* samples of /proc/.../syscall per thread, at most */
	unsigned kvm_fd_interval_us;
	pid_t self; /* not a VM to list: our own pid on the live system, 0 in a captured tree */
};
void discover_opts_init(struct discover_opts *o, int proc_fd);

/* 1 and *ret when pid is a VM (QEMU by name or exe, or any process holding a KVM VM
 * fd), 0 when it is not, -ENOENT when there is no such process. Threads are not read. */
int vm_identify(const struct discover_opts *o, pid_t pid, struct vm **ret);

/* Reads and classifies the VM's threads. Fails only when the VM itself vanished
 * (-ENOENT) or when the user's own QMP socket could not be used. */
int vm_discover_threads(const struct discover_opts *o, struct vm *vm);

/* All VMs on the host, sorted by pid, threads discovered. */
int vm_list_all(const struct discover_opts *o, struct vm ***ret, size_t *ret_n);
void vm_list_free(struct vm **v, size_t n);

/* Name-based classification of one thread, exposed for tests. For QEMU:
 * "CPU 3/KVM" -> vcpu 3, "IO iothread0" -> iothread. */
enum thread_kind classify_thread_name(const char *comm, bool is_qemu, int *ret_index,
				      const char **ret_id);

#endif
