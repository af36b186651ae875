/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finding VMs and classifying their threads. Reads the host into plain structs;
 * nothing here changes the system. */
#ifndef KVMCG_DISCOVER_H
#define KVMCG_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/idset.h"
#include "kernel/procfs.h"
#include "vmm/disks.h"
#include "vmm/nics.h"
#include "vmm/qemu-argv.h"

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
	struct idset *affinity;
	char *cgroup;
	bool cgroup_v1; /* cgroup is the path in the v1 cpuset hierarchy */
};

/* Why a process counts as a VM (vm->evidence). Names a process gives itself (argv[0],
 * comm, thread names) are never evidence: exec -a and prctl(PR_SET_NAME) set them. */
enum vm_evidence {
	/* /proc/PID/exe's basename is a QEMU name (qemu-system-*, qemu-kvm, kvm) and the
	 * executable itself is a regular file owned by root, not writable by group or
	 * others: no ordinary user can have made it. */
	VM_EVIDENCE_EXE = 1u << 0,
	/* holds an anon_inode:kvm-vm fd (virt/kvm/kvm_main.c kvm_dev_ioctl_create_vm()) */
	VM_EVIDENCE_KVM_FD = 1u << 1,
	/* kvmcg run started it: its own child, held before it executes QEMU
	 * (vm_held_child()) */
	VM_EVIDENCE_LAUNCHED = 1u << 2,
};
/* "exe", "kvm-fd"; NULL for anything else. */
const char *vm_evidence_name(enum vm_evidence e);

struct vm {
	pid_t pid;
	uint64_t starttime_ticks; /* with pid, identifies this VM across pid reuse */
	char *name;               /* -name guest=, else QMP query-name; may be NULL */
	char *comm;
	char *exe;                /* basename of exe_path; NULL when unknown */
	char *exe_path;           /* the executable's path as the kernel reports it; may be NULL */
	bool exe_deleted;         /* replaced on disk since it was started (an upgrade) */
	bool exe_id_known;        /* exe_dev and exe_ino identify the executable's inode */
	dev_t exe_dev;
	ino_t exe_ino;
	unsigned evidence;        /* enum vm_evidence bits; never 0 for a VM */
	bool owner_known;
	uid_t owner_uid;          /* effective uid of the process (status Uid:) */
	char *owner_user;         /* its name in this host's user database; NULL when
				   * unknown or for a captured tree */
	bool is_qemu;              /* a VM whose executable is named like QEMU */
	bool has_kvm;              /* holds an anon_inode:kvm-vm fd */
	unsigned n_kvm_vcpu_fds;
	int *kvm_vcpu_fd_index;    /* per vcpu fd, sorted by fd: [fd, index] pairs */
	struct qemu_config qemu;
	struct vm_disk *disks;     /* its disks by its command line (disks.h), QEMU only */
	size_t n_disks;
	struct vm_nic *nics;       /* its tap netdevs and their NICs' MACs (nics.h), QEMU only */
	size_t n_nics;

	enum discovery_source source;
	char *qmp_socket; /* the socket that answered, or the first one tried */
	char *qmp_error;  /* why QMP was not used although a socket was known */

	/* The sizes of its memory backends, bytes, when the monitor was asked them with
	 * its threads (discover_opts.want_memdevs) and answered. */
	uint64_t *memdev_sizes;
	size_t n_memdev_sizes;
	bool memdevs_known;

	unsigned n_vcpus_expected;
	int *unidentified_vcpus;
	size_t n_unidentified_vcpus;
	char **unidentified_iothreads;
	size_t n_unidentified_iothreads;

	struct vm_thread *threads;
	size_t n_threads;
};

/* Whether every thread of vm is known for what it is: no vCPU or iothread the VM
 * should have is without its thread, and no thread is left unknown (one might be a
 * vCPU). A VM that is still starting is not, until QEMU has made its threads. */
bool vm_identified(const struct vm *vm);
/* The indexes of vm's vCPUs without a thread, "0,1" (malloc'd; "" for none), or NULL
 * when out of memory. */
char *vm_unidentified_vcpu_list(const struct vm *vm);
/* Whether vm's vCPU threads can be told apart, now or once it has started: a monitor
 * to ask (qmp: the caller may ask one, the user's or one on its command line),
 * thread names (-name debug-threads=on), or KVM vCPU fds (it holds a KVM VM, or its
 * accelerator is not said to be another one). A TCG QEMU with neither a monitor nor
 * names never does: waiting for it is pointless. */
bool vm_vcpus_knowable(const struct vm *vm, bool qmp);

void vm_free(struct vm *vm);
static inline void vm_freep(struct vm **vm)
{
	vm_free(*vm);
}
#define _cleanup_vm_ __attribute__((cleanup(vm_freep)))

struct discover_opts {
	int proc_fd;
	int qmp_timeout_ms; /* the budget of one discovery's monitor conversations, 1.. */
	/* When non-zero, the absolute CLOCK_MONOTONIC time (ns, util.h now_ns()) by which
	 * every monitor conversation ends; else each vm_discover_threads() or
	 * vm_list_all() call starts its own budget of qmp_timeout_ms. */
	uint64_t qmp_deadline_ns;
	const char *qmp_socket; /* given by the user: used first, and its failure is an error */
	bool no_qmp;
	unsigned kvm_fd_rounds; /* samples of /proc/.../syscall per thread, at most */
	unsigned kvm_fd_interval_us;
	pid_t self; /* not a VM to list: our own pid on the live system, 0 in a captured tree */
	/* Leave each thread's cgroup and affinity unread: the caller reads them later,
	 * once, with vm_refresh_threads() (pin, unpin and apply do, under the VM's lock). */
	bool placement_later;
	/* proc_fd is this system's own /proc (not a captured tree): a thread's affinity is
	 * asked of the kernel, sched_getaffinity(2), instead of parsed from the
	 * Cpus_allowed_list of its status file, which the kernel formats in full for
	 * every read (fs/proc/array.c proc_pid_status). */
	bool live;
	/* vm_list_all: when given, only the VMs it returns true for have their monitors
	 * asked (apply asks only those a policy matches by their command line); the
	 * others' threads are classified from names and kvm fds. */
	bool (*qmp_wanted)(const struct vm *vm, void *userdata);
	void *qmp_wanted_data;
	/* Ask the monitor the VM's memory backends too (query-memdev, in the same
	 * conversation as its threads): vm->memdev_sizes, for vm_memory_measure(). */
	bool want_memdevs;
	/* vm_list_all: when given, it counts here the processes it could not examine
	 * (another user's /proc/PID/exe and fds: not root) whose name (comm) is QEMU's,
	 * a hint and not evidence, for the command to say that seeing them needs root. */
	struct discover_unexamined *unexamined;
};
struct discover_unexamined {
	size_t n;
	pid_t pids[8]; /* the first ones */
};
void discover_opts_init(struct discover_opts *o, int proc_fd);
/* Whether discovery with o may ask vm's monitor: the user's --qmp socket, or one on
 * its command line unless --no-qmp (o->qmp_wanted aside). */
bool discover_qmp_possible(const struct discover_opts *o, const struct vm *vm);
/* Whether pid, a process vm_identify() could not examine (-EACCES: another user's,
 * and we are not root), is named like QEMU (its comm: a hint, never evidence), for a
 * command to say that telling whether it is a VM needs root. */
bool vm_unexamined_qemu(const struct discover_opts *o, pid_t pid);

/* o->qmp_deadline_ns, or qmp_timeout_ms from now: an absolute CLOCK_MONOTONIC time in
 * ns (qmp.h qmp_connect()). */
uint64_t discover_qmp_deadline(const struct discover_opts *o);

/* 1 and *ret when pid is a VM, 0 when it is not, -ENOENT when there is no such process
 * (or it exited or was replaced while it was read), -ESRCH when it is a zombie or on
 * its way out (its command line is gone: nothing tells what it was). A VM is a process with at least
 * one enum vm_evidence; argv[0], comm and thread names never make one. Where
 * /proc/PID/exe cannot be read (another user's process, kvmcg not root), there is no
 * exe evidence; nor, for a captured tree, without its exe.stat record (procfs.h
 * proc_read_exe()). Threads are not read. Other errors: -ENOMEM, -EIO (unparsable
 * stat). */
int vm_identify(const struct discover_opts *o, pid_t pid, struct vm **ret);

/* vm_identify(); when it returns 0 and ret_why is non-NULL, *ret_why (caller frees)
 * is the reason as the end of a sentence "pid N is not a VM: <why>", e.g. "its command
 * line says qemu-system-x86_64 but its executable is /usr/bin/python3.11, and it holds
 * no KVM VM". Names and paths in it are str_escape()d: safe for a terminal. */
int vm_identify_why(const struct discover_opts *o, pid_t pid, struct vm **ret, char **ret_why);

/* The exe rule on its own, a pure function: 1 when e (from proc_read_exe) is evidence,
 * 0 when not, with *ret_why (caller frees; may be NULL) saying why in the words of
 * vm_identify_why(). argv0 and comm are only quoted in the reason, never trusted.
 * -ENOMEM. */
int vm_exe_evidence(const struct proc_exe *e, const char *argv0, const char *comm,
		    char **ret_why);

/* The VM kvmcg run is about to start: pid is run's own child, held before its
 * execve(2) (kernel/spawn.h), to be placed before QEMU runs. Its one thread is the
 * emulator's (QEMU's main thread to be); name is the -name it will have (NULL:
 * none). Evidence VM_EVIDENCE_LAUNCHED. 0, -ENOENT (no such process), -ENOMEM. */
int vm_held_child(const struct discover_opts *o, pid_t pid, const char *name, struct vm **ret);
/* 0 when vm->pid is still the process discovery saw: the same start time (stat field
 * 22) and, when discovery could read it, the same executable inode (st_dev, st_ino of
 * /proc/PID/exe; an execve() keeps pid and start time but changes it). -ESRCH
 * otherwise (exited, pid reused, exec'd something else, or the executable can no
 * longer be read); -ENOMEM. Sets no err_set() sentence; safe from any thread. A
 * writer calls it right before acting on a process whose owner is not root. */
int vm_check_identity(const struct discover_opts *o, const struct vm *vm);

/* Reads and classifies the VM's threads. Fails only when the VM itself vanished
 * (-ENOENT) or when the user's own QMP socket (o->qmp_socket) could not be used
 * (err_get() says why). The whole monitor conversation (connect, greeting,
 * capabilities, query-name, query-cpus-fast, query-iothreads, and the VM's next
 * socket when one fails) ends by o->qmp_deadline_ns, or qmp_timeout_ms from now. */
int vm_discover_threads(const struct discover_opts *o, struct vm *vm);

/* Reads again what the kernel says of each thread discovery found (stat, affinity,
 * cgroup), keeping their roles: another run may have moved them since. Threads that
 * exited are dropped. -ESRCH when the main thread is gone (so is the VM). */
int vm_refresh_threads(const struct discover_opts *o, struct vm *vm);

/* All VMs on the host, sorted by pid, threads discovered. Once every process has been
 * read, the monitor conversations of all VMs run concurrently (one thread per VM with
 * a QMP socket; without a thread to be had, in turn) and share one deadline:
 * o->qmp_deadline_ns, or qmp_timeout_ms from then. So N silent monitors cost one
 * timeout, not N. A VM whose monitor did not answer in time is still listed, with
 * qmp_error saying so and its threads classified from names or kvm fds. Its threads
 * touch no global state (no err_set()). */
int vm_list_all(const struct discover_opts *o, struct vm ***ret, size_t *ret_n);
void vm_list_free(struct vm **v, size_t n);

/* Name-based classification of one thread, exposed for tests. For QEMU:
 * "CPU 3/KVM" -> vcpu 3, "IO iothread0" -> iothread. */
enum thread_kind classify_thread_name(const char *comm, bool is_qemu, int *ret_index,
				      const char **ret_id);

/* A socket path named on vm's command line as kvmcg can reach it: inside the VM's own
 * root ("/proc/PID/root/PATH") and, when relative, its working directory
 * ("/proc/PID/cwd/PATH"); an abstract one ("@name") as it is. 0 or -ENOMEM. */
int vm_socket_path(const struct vm *vm, const char *path, char **ret);

/* The thread of vm (NULL: none) with this TID, as discovery read it, or NULL. */
const struct vm_thread *vm_find_thread(const struct vm *vm, pid_t tid);
/* A thread of vm in words: "vCPU 0 (tid 812)", "iothread io0 (tid 813)", "worker
 * thread 814", "a thread 815" (not one discovery read). The caller frees it; NULL
 * when out of memory. */
char *vm_thread_label(const struct vm *vm, pid_t tid);
/* The thread of vm's vCPU index, as discovery identified it, or NULL. */
const struct vm_thread *vm_find_vcpu(const struct vm *vm, int index);

#endif
