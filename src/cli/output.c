// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/output.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "tune/tune.h"

static void add_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

static void add_cpuset(json_object *o, const char *key, const struct idset *s)
{
	_cleanup_free_ char *list = s ? idset_format(s) : NULL;
	add_str(o, key, list);
}

json_object *host_to_json(const struct host *h)
{
	json_object *o = json_object_new_object();
	add_cpuset(o, "online_cpus", h->online_cpus);
	return o;
}

static json_object *thread_to_json(const struct vm_thread *t, const struct host *h)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "tid", json_object_new_int(t->tid));
	add_str(o, "kind", thread_kind_name(t->kind));
	if (t->kind == THREAD_VCPU)
		json_object_object_add(o, "index", json_object_new_int(t->vcpu_index));
	if (t->kind == THREAD_IOTHREAD)
		add_str(o, "id", t->iothread_id);
	add_str(o, "comm", t->stat.comm);
	json_object_object_add(o, "cpu", json_object_new_int(t->stat.processor));
	char state[2] = {t->stat.state, '\0'};
	add_str(o, "state", state);
	uint64_t ticks = t->stat.utime_ticks + t->stat.stime_ticks;
	json_object_object_add(o, "cpu_time_ns",
			       json_object_new_int64((int64_t)(ticks * (1000000000u / h->clock_ticks))));
	char sched[32];
	sched_format((int)t->stat.policy, t->stat.rt_priority, sched, sizeof(sched));
	add_str(o, "sched", sched);
	add_cpuset(o, "affinity", t->affinity);
	int width = idset_last(h->online_cpus) + 1;
	if (t->affinity && idset_last(t->affinity) + 1 > width)
		width = idset_last(t->affinity) + 1;
	_cleanup_free_ char *map = t->affinity ? idset_format_map(t->affinity, (unsigned)width) : NULL;
	add_str(o, "affinity_map", map);
	add_str(o, "cgroup", t->cgroup);
	return o;
}

const char *vm_pinned_state(const struct vm *vm, const struct host *h)
{
	size_t vcpus = 0, pinned = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		if (t->kind != THREAD_VCPU)
			continue;
		vcpus++;
		if (t->affinity && !idset_is_subset(h->online_cpus, t->affinity))
			pinned++;
	}
	if (vcpus == 0)
		return "unknown";
	return pinned == 0 ? "no" : pinned == vcpus ? "yes" : "partial";
}

json_object *vm_to_json(const struct vm *vm, const struct host *h)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "start_time", json_object_new_int64((int64_t)vm->starttime_ticks));
	add_str(o, "name", vm->name);
	add_str(o, "comm", vm->comm);
	add_str(o, "exe", vm->exe);
	add_str(o, "exe_path", vm->exe_path);
	json_object *ev = json_object_new_array();
	static const enum vm_evidence kinds[] = {VM_EVIDENCE_EXE, VM_EVIDENCE_KVM_FD};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (vm->evidence & kinds[i])
			json_object_array_add(ev, json_object_new_string(vm_evidence_name(kinds[i])));
	json_object_object_add(o, "evidence", ev);
	json_object *owner = NULL;
	if (vm->owner_known) {
		owner = json_object_new_object();
		json_object_object_add(owner, "uid", json_object_new_int64((int64_t)vm->owner_uid));
		add_str(owner, "user", vm->owner_user);
	}
	json_object_object_add(o, "owner", owner);
	add_str(o, "hypervisor", vm->is_qemu ? "qemu" : vm->comm);
	add_str(o, "accel", vm->has_kvm ? "kvm" : vm->qemu.accel ? vm->qemu.accel : vm->is_qemu ? "tcg" : NULL);
	add_str(o, "discovery", discovery_source_name(vm->source));
	add_str(o, "qmp_socket", vm->qmp_socket);
	add_str(o, "qmp_error", vm->qmp_error);
	json_object_object_add(o, "vcpus", json_object_new_int((int)vm->n_vcpus_expected));

	json_object *uv = json_object_new_array();
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		json_object_array_add(uv, json_object_new_int(vm->unidentified_vcpus[i]));
	json_object_object_add(o, "vcpus_unidentified", uv);
	json_object *ui = json_object_new_array();
	for (size_t i = 0; i < vm->n_unidentified_iothreads; i++)
		json_object_array_add(ui, json_object_new_string(vm->unidentified_iothreads[i]));
	json_object_object_add(o, "iothreads_unidentified", ui);

	const struct vm_thread *main_thread = NULL;
	size_t n_iothreads = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		if (vm->threads[i].tid == vm->pid)
			main_thread = &vm->threads[i];
		n_iothreads += vm->threads[i].kind == THREAD_IOTHREAD;
	}
	json_object_object_add(o, "iothreads", json_object_new_int((int)n_iothreads));
	add_str(o, "cgroup", main_thread ? main_thread->cgroup : NULL);
	add_str(o, "cgroup_hierarchy",
		!main_thread || !main_thread->cgroup ? NULL : main_thread->cgroup_v1 ? "v1" : "v2");
	add_str(o, "pinned", vm_pinned_state(vm, h));
	json_object_object_add(o, "thread_count", json_object_new_int((int)vm->n_threads));

	json_object *threads = json_object_new_array();
	for (size_t i = 0; i < vm->n_threads; i++)
		json_object_array_add(threads, thread_to_json(&vm->threads[i], h));
	json_object_object_add(o, "threads", threads);
	return o;
}

void print_json(FILE *f, json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							JSON_C_TO_STRING_NOSLASHESCAPE),
	      f);
	fputc('\n', f);
}

/* ---- text ------------------------------------------------------------------- */

static json_object *lookup(json_object *row, const char *keys)
{
	char key[64];
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, "|");
		if (n >= sizeof(key))
			n = sizeof(key) - 1;
		memcpy(key, k, n);
		key[n] = '\0';
		json_object *v;
		if (json_object_object_get_ex(row, key, &v) && v)
			return v;
		k += n;
		if (*k == '|')
			k++;
	}
	return NULL;
}

static char *value_text(json_object *v, enum column_format fmt)
{
	char buf[64];
	if (!v)
		return strdup("-");
	switch (json_object_get_type(v)) {
	case json_type_string:
		/* Names come from processes we do not control: never send their
		 * control bytes to a terminal. */
		return str_escape(json_object_get_string(v));
	case json_type_boolean:
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
	case json_type_int:
		if (fmt == COL_NS_AS_SECONDS) {
			int64_t ns = json_object_get_int64(v);
			snprintf(buf, sizeof(buf), "%.2f", (double)ns / 1e9);
			return strdup(buf);
		}
		return strdup(json_object_get_string(v));
	case json_type_array: {
		size_t n = json_object_array_length(v);
		if (n == 0)
			return strdup("-");
		/* Items too may come from the VM's owner (iothread ids): escaped. */
		size_t cap = 1;
		for (size_t i = 0; i < n; i++)
			cap += strlen(json_object_get_string(json_object_array_get_idx(v, i))) * 4 + 1;
		char *s = calloc(1, cap);
		for (size_t i = 0; s && i < n; i++) {
			_cleanup_free_ char *item =
				str_escape(json_object_get_string(json_object_array_get_idx(v, i)));
			if (!item) {
				free(s);
				return NULL;
			}
			if (i)
				strcat(s, ",");
			strcat(s, item);
		}
		return s;
	}
	default:
		return strdup(json_object_get_string(v));
	}
}

void print_table(FILE *f, const struct column *cols, size_t ncols, json_object *rows)
{
	size_t nrows = json_object_array_length(rows);
	char **cells = calloc((nrows + 1) * ncols, sizeof(char *));
	size_t *width = calloc(ncols, sizeof(size_t));
	if (!cells || !width)
		goto out;
	for (size_t c = 0; c < ncols; c++) {
		cells[c] = strdup(cols[c].header);
		for (size_t r = 0; r < nrows; r++)
			cells[(r + 1) * ncols + c] =
				value_text(lookup(json_object_array_get_idx(rows, r), cols[c].keys),
					   cols[c].format);
		for (size_t r = 0; r <= nrows; r++) {
			size_t l = cells[r * ncols + c] ? strlen(cells[r * ncols + c]) : 0;
			if (l > width[c])
				width[c] = l;
		}
	}
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *cell = cells[r * ncols + c] ? cells[r * ncols + c] : "?";
			if (c + 1 == ncols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[c], cell);
		}
	}
out:
	if (cells)
		for (size_t i = 0; i < (nrows + 1) * ncols; i++)
			free(cells[i]);
	free(cells);
	free(width);
}

void print_fields(FILE *f, const struct field *fields, size_t n, json_object *obj)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(fields[i].label) > w)
			w = strlen(fields[i].label);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *v = value_text(lookup(obj, fields[i].keys), COL_TEXT);
		fprintf(f, "%s:%*s %s\n", fields[i].label, (int)(w - strlen(fields[i].label)), "",
			v ? v : "?");
	}
}

/* Cgroup paths as /proc/PID/cgroup shows them: from the hierarchy's root, "/" first. */
json_object *cgroup_json(const char *rel)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "/%s", rel);
	return json_object_new_string(buf);
}

static json_object *action_to_json(const struct action *a)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "action", json_object_new_string(action_kind_name(a->kind)));
	if (a->dir)
		json_object_object_add(o, "cgroup", cgroup_json(a->dir));
	if (a->file)
		json_object_object_add(o, "file", json_object_new_string(a->file));
	if (a->value)
		json_object_object_add(o, "value", json_object_new_string(
							 strcmp(a->value, "\n") == 0 ? "" : a->value));
	if (a->tid)
		json_object_object_add(o, "tid", json_object_new_int(a->tid));
	if (a->cpus) {
		_cleanup_free_ char *l = idset_format(a->cpus);
		json_object_object_add(o, "cpus", json_object_new_string(l ? l : ""));
	}
	return o;
}

json_object *plan_to_json(const struct plan *p)
{
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < p->n_actions; i++)
		json_object_array_add(arr, action_to_json(&p->actions[i]));
	return arr;
}

