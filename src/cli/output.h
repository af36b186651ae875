/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One printer for text and JSON: commands build a JSON model once; --json prints it,
 * text output renders tables and key/value blocks from the very same fields. */
#ifndef KVMCG_OUTPUT_H
#define KVMCG_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "vmm/discover.h"
#include "kernel/host.h"
#include "plan/plan.h"

json_object *host_to_json(const struct host *h);
/* The VM object of `show --json` and of `list --json`'s "vms" (kvmcg(8)): besides
 * pid, name, threads..., "evidence" (["exe", "kvm-fd"]: what made it a VM, see
 * discover.h enum vm_evidence), "exe" (basename) and "exe_path" (the kernel's path of
 * the executable; null when unreadable), "owner" ({"uid": N, "user": "name" or null},
 * null when unknown). */
json_object *vm_to_json(const struct vm *vm, const struct host *h);

/* "yes" when every vCPU's affinity is narrower than the online CPUs, "partial" when
 * some are, "no" when none, "unknown" when no vCPU was identified. */
const char *vm_pinned_state(const struct vm *vm, const struct host *h);

void print_json(FILE *f, json_object *o);

/* A cgroup path relative to the mount as /proc/PID/cgroup shows it: "/" first. */
json_object *cgroup_json(const char *rel);
/* [{"action", "cgroup", "file", "value", "tid", "cpus"}...] */
json_object *plan_to_json(const struct plan *p);

enum column_format {
	COL_TEXT,
	COL_NS_AS_SECONDS, /* integer nanoseconds printed as seconds, 2 decimals */
};

struct column {
	const char *header;
	const char *keys; /* field of each row; "a|b" takes the first present */
	enum column_format format;
};

/* Aligned table; missing and null fields print as "-". */
void print_table(FILE *f, const struct column *cols, size_t ncols, json_object *rows);

/* "Label:  value" lines, labels aligned; same key syntax as columns. */
struct field {
	const char *label;
	const char *keys;
};
void print_fields(FILE *f, const struct field *fields, size_t n, json_object *obj);

#endif
