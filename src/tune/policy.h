/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Policy files: one per VM, INI-style like systemd units. The parser is a pure
 * function over a buffer: a typed policy, or diagnostics "file:line:col: error: ...".
 * Whether CPUs and nodes exist is a question for the host, asked at apply time. */
#ifndef KVMCG_POLICY_H
#define KVMCG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "basic/idset.h"
#include "tune/tune.h"

/* A line longer than this is an error, not a buffer to grow. */
#define POLICY_LINE_MAX 4096
#define POLICY_FILE_MAX (1024 * 1024)

enum diag_level { DIAG_WARNING, DIAG_ERROR };

struct diag {
	enum diag_level level;
	unsigned line, col; /* 1-based; 0 when the whole file is meant */
	char *message;
	size_t seq; /* order found, to keep it among equal positions */
};

struct diags {
	struct diag *v;
	size_t n;
	size_t errors;
};
void diags_done(struct diags *d);
/* One line per diagnostic, through log.h's printer: "FILE:LINE:COL: error|warning:
 * MESSAGE" for a located one, "kvmcg: FILE: error|warning: MESSAGE" for one about
 * the whole file (line 0); control bytes in FILE and MESSAGE escaped (\x0a, \x1b).
 * On stderr each line is one write(2); any other stream (check's stdout) gets fputs. */
void diags_print(const struct diags *d, const char *file, FILE *f);

/* Where a setting was written, for messages at apply time. */
struct origin {
	unsigned line, col;
};

struct policy {
	/* [Match]: every key given must match. */
	char *match_name;    /* shell glob against -name guest= */
	char *match_pidfile;
	char *match_cmdline; /* shell glob against the command line, args joined by ' ' */
	char *match_qmp;
	struct origin match_at;

	/* [CPU] */
	struct vcpu_arg *vcpu_pins;
	struct origin *vcpu_pins_at;
	size_t n_vcpu_pins;
	struct idset *emulator_pin;
	struct origin emulator_pin_at;
	char **iothread_ids;
	struct idset **iothread_pins;
	struct origin *iothread_pins_at;
	size_t n_iothread_pins;
	unsigned cpu_weight;     /* 0: unset; else 1..10000 */
	bool quota_set;
	uint64_t quota_percent;  /* 0 with quota_set: "max" */
	unsigned period_us;      /* 0: unset (100000) */
	bool vcpu_sched_set;
	int vcpu_sched_policy; /* SCHED_* (kernel/sched.h) */
	unsigned vcpu_sched_priority;
	int exclusive;           /* -1 unset, 0, 1 */
	struct origin exclusive_at;

	/* [Memory] */
	enum mem_policy mem_policy;
	struct idset *mem_nodes;
	struct origin mem_nodes_at;
	int mem_migrate; /* -1 unset */
	struct origin mem_migrate_at;
	struct cell_nodes *cell_nodes; /* CellNodes=, one per cell, in file order; a mode
					* not given is Policy='s once the file is read */
	struct origin *cell_nodes_at;
	size_t n_cell_nodes;

	/* [IO] */
	bool io_section; /* the file has one: it replaces the VM's I/O settings */
	unsigned io_weight;
	struct io_request *io; /* DeviceWeight=, ReadBandwidthMax=, ... in file order */
	size_t n_io;

	/* [Network] */
	char **interfaces; /* names or globs; "*" = the VM's own taps */
	size_t n_interfaces;
	uint64_t inbound_average, inbound_peak, outbound_average, outbound_peak; /* bit/s */
	uint64_t inbound_burst, outbound_burst; /* bytes */
	unsigned net_weight;
	uint64_t bridge_inbound_average; /* bit/s: the total Weight= shares */

	/* The file's status change time (st_ctim) when it was read: any write, rename
	 * over it or touch moves it (stat(2)). Zero for a policy parsed from a buffer.
	 * kvmcg watch orders it against kvmcg unpin (state.h state_unmanaged_since()). */
	struct timespec changed;
};
void policy_free(struct policy *p);

/* Parses buf (len bytes; NUL bytes inside are diagnosed). Always returns a policy
 * (possibly partial) in *ret unless it fails for memory; d->errors says whether it
 * may be used. */
int policy_parse(const char *buf, size_t len, struct policy **ret, struct diags *d);

/* Reads and parses a file (absolute, or relative to the working directory). Its
 * directory is opened by trust_open()'s walk from "/" and the file relative to that
 * directory fd, so a symbolic link in any component, or ".." anywhere, is refused.
 * When trust_check is set (running as root), every directory on the way must be
 * owned by root and not writable by group or others unless sticky; the file's own
 * directory and the file must be owned by root and not writable by group or others
 * at all. Every refusal, and a directory, a file that is not regular, unreadable or
 * larger than POLICY_FILE_MAX, is one diagnostic at line 0 (no policy in *ret).
 * Returns 0 (then see d->errors) or -ENOMEM. */
int policy_load(const char *path, bool trust_check, struct policy **ret, struct diags *d);

/* The same for name, one entry of the directory dirfd, which the caller opened with
 * trust_open() (and enumerated from that fd: kvmcg apply); path is how diagnostics
 * name the file ("DIR/NAME"). name itself must not be a symbolic link; with
 * trust_check the file's owner and mode are checked as above. */
int policy_load_at(int dirfd, const char *name, const char *path, bool trust_check, struct policy **ret,
		   struct diags *d);

/* Units, exposed for tests: sizes take K M G T (powers of 1024) or plain bytes;
 * rates need a unit: bit Kbit Mbit Gbit Tbit (powers of 1000, as tc(8)) or
 * Bps KBps MBps GBps (bytes); both give bits per second. */
int parse_size(const char *s, uint64_t *ret);
int parse_rate(const char *s, uint64_t *ret);

#endif
