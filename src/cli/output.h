/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One printer for text and JSON: commands build a JSON model once; --json prints it,
 * text output renders tables and key/value blocks from the very same fields. */
#ifndef KVMCG_OUTPUT_H
#define KVMCG_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>
#include <libsmartcols.h>

#include "vmm/discover.h"
#include "kernel/host.h"
#include "plan/plan.h"

/* A CPU or node list as the kernel writes it ("0-3,8"), a JSON string; NULL (JSON
 * null) for no set or out of memory. */
json_object *cpulist_json(const struct idset *s);

json_object *host_to_json(const struct host *h);
/* The VM object of `show --json` and of `list --json`'s "vms" (kvmcg(8)): besides
 * pid, name, threads..., "evidence" (["exe", "kvm-fd"]: what made it a VM, see
 * discover.h enum vm_evidence), "exe" (basename) and "exe_path" (the kernel's path of
 * the executable; null when unreadable), "owner" ({"uid": N, "user": "name" or null},
 * null when unknown). */
json_object *vm_to_json(const struct vm *vm, const struct host *h);

/* A text built piece by piece with stdio (open_memstream): t->f is written to, then
 * cli_text_close() gives the text (the caller frees it), or NULL when out of memory. */
struct cli_text {
	FILE *f;
	char *buf;
	size_t len;
};
bool cli_text_open(struct cli_text *t);
char *cli_text_close(struct cli_text *t);

/* "yes" when every vCPU's affinity is narrower than the online CPUs, "partial" when
 * some are, "no" when none, "unknown" when no vCPU was identified. */
const char *vm_pinned_state(const struct vm *vm, const struct host *h);

/* A VM's pins as the kernel has them, compactly, for list's PINS column: vCPUs in a
 * row with the same affinity as one "INDEXES:CPUS" ("0-1:22-23" both on 22-23; "0:22
 * 1:23"), then "emu:CPUS" (the main thread's) and "ID:CPUS" per iothread, each only
 * when narrower than the online CPUs; "-" when nothing is. NULL: out of memory. */
char *vm_pins_compact(const struct vm *vm, const struct host *h);

/* The word for a /proc state letter (proc(5)): "running", "sleeping", "blocked" (D,
 * uninterruptible), "stopped", "traced", "zombie", "dead", "idle", "parked"; NULL
 * for another. */
const char *thread_state_word(char state);

void print_json(FILE *f, json_object *o);

/* A cgroup path relative to the mount as /proc/PID/cgroup shows it: "/" first. */
json_object *cgroup_json(const char *rel);
/* [{"action", "cgroup", "file", "value", "tid", "cpus"}...] */
json_object *plan_to_json(const struct plan *p);
/* A plan as a table: ACTION CGROUP FILE VALUE TID, one row per action. */
int print_plan_table(FILE *f, const struct plan *p);

enum column_format {
	COL_TEXT,
	COL_NS_AS_SECONDS, /* integer nanoseconds as virsh vcpuinfo's CPU time: "3.1s" */
	COL_THREAD_STATE,  /* /proc's state letter in words, as virsh vcpuinfo: "running" */
	COL_BYTES_AS_MIB,  /* integer bytes printed as MiB, 1 decimal (numastat's unit) */
};

/* One column a command can print. Each command keeps a table of them; -o picks by
 * name. */
struct column {
	const char *name;   /* what -o takes (in any case); the header unless .header */
	const char *keys;   /* the row's field: "a|b" takes the first present, "a.b" a
			     * nested one */
	enum column_format format;
	int flags;          /* SCOLS_FL_TRUNC, _RIGHT, _WRAP, _NOEXTREMES, as lsblk uses them */
	const char *help;   /* one line for --help */
	const char *header; /* when it is not the name */
};

/* What to print of a table and how: -o, -n, -r. */
struct table_opts {
	size_t *ids;     /* the columns, as indexes into the command's table, in order;
			  * NULL: every column */
	size_t n_ids;
	bool noheadings; /* -n */
	bool raw;        /* -r: one space between fields, no alignment, and blanks,
			  * backslashes, control and non-ASCII bytes as \xNN */
};

/* Parses a column list, as lsblk's -o: "A,B" replaces the defaults (a list in the same
 * syntax), "+A,B" adds to them; names match in any case and may repeat. list NULL
 * gives the defaults. On success *ids (malloc'ed) and *n_ids; -EINVAL with *why,
 * "unknown column 'X' (valid: A, B, ...)" or why the list is malformed; -ENOMEM. */
int columns_parse(const struct column *cols, size_t ncols, const char *defaults, const char *list,
		  size_t **ids, size_t *n_ids, char **why);

/* "Available output columns:" and one line per column with its help, for --help. */
void columns_help(FILE *f, const struct column *cols, size_t ncols, const char *defaults);

/* A table through libsmartcols: headers, columns aligned by display width (UTF-8
 * names by the width they take on a terminal), fitted to the terminal when f is a
 * terminal. Missing and null fields print as "-"; control bytes and characters a
 * terminal does not print are shown as \xNN in every mode. opts NULL: every column,
 * headings, aligned. An empty table prints nothing. 0, or negative errno. */
int print_table(FILE *f, const struct column *cols, size_t ncols, json_object *rows,
		const struct table_opts *opts);

/* The same table, its n rows made one at a time by row(ctx, i) (a new reference,
 * released once its cells are copied; NULL: out of memory), so that a long table (a
 * plan of hundreds of actions) never holds every row's object at once. */
typedef json_object *table_row_fn(const void *ctx, size_t i);
int print_table_rows(FILE *f, const struct column *cols, size_t ncols, size_t n, table_row_fn *row,
		     const void *ctx, const struct table_opts *opts);

/* "Label:  value" lines, labels aligned; same key syntax as columns. */
struct field {
	const char *label;
	const char *keys;
};
void print_fields(FILE *f, const struct field *fields, size_t n, json_object *obj);

#endif
