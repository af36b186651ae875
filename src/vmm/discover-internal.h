/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the files of discovery share; nothing outside src/vmm/ includes it. vm.c
 * holds the model and identification, threads.c the threads, classify-*.c one
 * source of thread roles each (QMP, names, kvm fds), list.c the host-wide scan. */
#ifndef KVMCG_DISCOVER_INTERNAL_H
#define KVMCG_DISCOVER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/discover.h"
#include "vmm/qmp.h"

/* _IO(KVMIO, 0x80) */
#define KVM_RUN_IOCTL 0xae80ul

/* What a VM's monitors said: made by qmp_converse() (in a thread of its own, for
 * vm_list_all), used by use_qmp_outcome() on the caller's thread. */
struct qmp_outcome {
	bool tried;              /* a socket was tried */
	int r;                   /* 0: info holds the answers */
	struct qmp_vm_info info;
	char *socket;            /* the socket that answered, else the first one tried */
	char *error;             /* why the first one that failed did */
};

/* One VM's monitor conversation on a thread of its own (qmp_converse()), while the
 * caller reads /proc: qmp_job_start() starts it (or has it at once when no thread
 * can be had; nothing when no monitor is to be asked: out.r -ENOENT), and
 * qmp_job_wait() waits for its end, which the deadline bounds. */
struct qmp_job {
	const struct discover_opts *o;
	const struct vm *vm;
	uint64_t deadline_ns;
	struct qmp_outcome out;
	pthread_t thread;
	bool threaded;
};
void qmp_job_start(struct qmp_job *j);
void qmp_job_wait(struct qmp_job *j);

bool claimable(const struct vm_thread *t);
void clear_threads(struct vm *vm);
int collect_threads(const struct discover_opts *o, struct vm *vm);
int discover_kvm_fds(const struct discover_opts *o, struct vm *vm);
int discover_names(struct vm *vm);
struct vm_thread *find_thread(struct vm *vm, pid_t tid);
struct vm_thread *find_vcpu(struct vm *vm, int index);
int finish_threads(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out);
bool iothread_found(const struct vm *vm, const char *id);
/* Work to do while a monitor answers: fn(arg), run once by qmp_meanwhile_run(),
 * which qmp_converse() calls once its questions are sent. A caller whose questions
 * were never sent (no monitor, or none answering) calls it itself after. */
struct qmp_meanwhile {
	void (*fn)(void *arg);
	void *arg;
	bool done;
};
void qmp_meanwhile_run(void *arg);
/* Asks the VM's monitors (o->qmp_socket, else the -qmp/-chardev sockets of its
 * command line, in order) for its vCPUs, iothreads and, unless vm->name is known,
 * its name, by deadline_ns; m (NULL: none) runs while the first that takes the
 * questions answers them. */
void qmp_converse(const struct discover_opts *o, const struct vm *vm, uint64_t deadline_ns,
		  struct qmp_meanwhile *m, struct qmp_outcome *out);
void qmp_outcome_done(struct qmp_outcome *out);
int set_iothread(struct vm_thread *t, const char *id);
int set_vcpu(struct vm_thread *t, int index);
void thread_done(struct vm_thread *t);
int use_qmp_outcome(const struct discover_opts *o, struct vm *vm, struct qmp_outcome *out);
/* A vCPU of index that no thread was found for: listed in vm->unidentified_vcpus. */
int note_missing_vcpu(struct vm *vm, int index);

#endif
