/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a QEMU command line tells about the VM: its name, where its QMP monitors
 * listen, how many vCPUs and which iothreads it should have. Pure functions. */
#ifndef KVMCG_QEMU_ARGV_H
#define KVMCG_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qemu_config {
	char *name;          /* -name guest=NAME or -name NAME */
	char *process_name;  /* -name ...,process=COMM */
	bool debug_threads;  /* -name ...,debug-threads=on */
	char **qmp_paths;    /* unix sockets of QMP monitors, in order; abstract ones start with '@' */
	size_t n_qmp_paths;
	char *pidfile;
	int smp_cpus;        /* vCPUs present at start: 1 when -smp is absent */
	int smp_maxcpus;     /* -smp values as given; 0 when absent */
	int smp_sockets, smp_dies, smp_cores, smp_threads;
	char **iothread_ids; /* -object iothread,id=ID */
	size_t n_iothread_ids;
	char *accel;         /* kvm, tcg, ... when given by -accel, -machine accel= or -enable-kvm */
	uint64_t ram_bytes;  /* -m [size=]N[KMGT] (no suffix: MiB); 0 when absent or unreadable */
	/* -object memory-backend-*,size=N[KMGT] (no suffix: bytes), in order: the guest
	 * RAM's mappings when there are backends (the NUMA cells', or -machine
	 * memory-backend=), each mapped whole by QEMU */
	uint64_t *backend_bytes;
	size_t n_backend_bytes;
};

void qemu_config_done(struct qemu_config *c);

/* True when the basename of path is a QEMU system emulator's name: qemu-system-*,
 * qemu-kvm (RHEL's), kvm (old Debian and Ubuntu packages). A name proves nothing by
 * itself: argv[0] and comm are the process's own choice (exec -a, PR_SET_NAME), so
 * callers pass only the kernel's /proc/PID/exe path, and discovery also requires the
 * file to be root's (discover.h VM_EVIDENCE_EXE). NULL gives false. */
bool qemu_is_qemu_name(const char *path);

int qemu_config_parse(char *const *argv, size_t argc, struct qemu_config *ret);

/* QEMU's cpu-index of the x86 vCPU with this APIC id (KVM's vcpu_id), from the -smp
 * topology: APIC ids pack (socket, die, core, thread) into power-of-two bit fields,
 * cpu-indexes count them densely. -1 when the id does not fit the topology. */
int qemu_apic_id_to_cpu_index(const struct qemu_config *c, unsigned apic_id);

/* QemuOpts syntax: "a=1,b,noc,d=x,,y" -> (a,1) (b,on) (c,off) (d,"x,y").
 * A first element without '=' is given implied_key when that is non-NULL.
 * cb returns non-zero to stop. */
typedef int (*qemu_opt_cb)(const char *key, const char *value, void *userdata);
int qemu_opts_foreach(const char *s, const char *implied_key, qemu_opt_cb cb, void *userdata);

/* True when QEMU's option NAME (without its dashes: "object", "S") takes a value, the
 * next argument: HAS_ARG in QEMU's qemu-options.hx (7.2, with the options older
 * versions had and newer ones added). An option QEMU does not know is taken as one
 * without a value: QEMU would refuse the command line anyway. */
bool qemu_opt_takes_arg(const char *name);

/* One step through argv[1..argc-1] as QEMU's lookup_opt() (softmmu/vl.c) takes it:
 * "-opt" or "--opt", then its value when the option takes one; an argument that
 * does not start with '-' (or is "-" alone) is a disk image, QEMU's implied -hda. */
struct qemu_arg {
	const char *opt; /* the name without dashes; NULL for an implied -hda */
	const char *val; /* the value, or NULL (an option without one, or the value is
			  * missing at the end of argv: QEMU refuses that) */
	size_t opt_i;    /* index in argv of the option */
	size_t val_i;    /* index in argv of the value, when val */
};
/* Start with *i = 1. False at the end of argv. */
bool qemu_argv_next(char *const *argv, size_t argc, size_t *i, struct qemu_arg *ret);

#endif
