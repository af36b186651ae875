// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/output.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "basic/util.h"
#include "tune/tune.h"

static void add_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

json_object *cpulist_json(const struct idset *s)
{
	_cleanup_free_ char *l = s ? idset_format(s) : NULL;
	return l ? json_object_new_string(l) : NULL;
}

static void add_cpuset(json_object *o, const char *key, const struct idset *s)
{
	json_object_object_add(o, key, cpulist_json(s));
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

static bool narrower(const struct idset *affinity, const struct host *h)
{
	return affinity && !idset_is_subset(h->online_cpus, affinity);
}

static void pins_item(FILE *f, const char *what, const struct idset *cpus)
{
	_cleanup_free_ char *l = idset_format(cpus);
	fprintf(f, "%s%s:%s", ftell(f) ? " " : "", what, l ? l : "?");
}

char *vm_pins_compact(const struct vm *vm, const struct host *h)
{
	struct cli_text t;
	if (!cli_text_open(&t))
		return NULL;
	int max = -1;
	for (size_t k = 0; k < vm->n_threads; k++)
		if (vm->threads[k].kind == THREAD_VCPU && vm->threads[k].vcpu_index > max)
			max = vm->threads[k].vcpu_index;
	for (int i = 0; i <= max;) {
		const struct vm_thread *a = vm_find_vcpu(vm, i);
		int j = i + 1;
		for (const struct vm_thread *b; j <= max && (b = vm_find_vcpu(vm, j)) && a && b->affinity &&
						 a->affinity && idset_equal(a->affinity, b->affinity);)
			j++;
		if (a && narrower(a->affinity, h)) {
			char what[32];
			snprintf(what, sizeof(what), j - i > 1 ? "%d-%d" : "%d", i, j - 1);
			pins_item(t.f, what, a->affinity);
		}
		i = j;
	}
	for (size_t k = 0; k < vm->n_threads; k++) {
		const struct vm_thread *x = &vm->threads[k];
		if (x->tid == vm->pid && narrower(x->affinity, h))
			pins_item(t.f, "emu", x->affinity);
	}
	for (size_t k = 0; k < vm->n_threads; k++) {
		const struct vm_thread *x = &vm->threads[k];
		if (x->kind == THREAD_IOTHREAD && x->iothread_id && narrower(x->affinity, h))
			pins_item(t.f, x->iothread_id, x->affinity);
	}
	bool none = ftell(t.f) == 0;
	char *s = cli_text_close(&t);
	if (s && none) {
		free(s);
		s = strdup("-");
	}
	return s;
}

const char *thread_state_word(char state)
{
	switch (state) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "blocked";
	case 'T': return "stopped";
	case 't': return "traced";
	case 'Z': return "zombie";
	case 'X': case 'x': return "dead";
	case 'I': return "idle";
	case 'P': return "parked";
	default: return NULL;
	}
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
	_cleanup_free_ char *pins = vm_pins_compact(vm, h);
	add_str(o, "pins", pins);
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

/* The row's value for keys: "a|b" is the first of a and b that is present and not
 * null; "a.b" is the field b of the object a. */
static json_object *lookup(json_object *row, const char *keys)
{
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, "|");
		json_object *v = row;
		for (const char *p = k; v && p < k + n;) {
			size_t m = strcspn(p, ".|");
			char key[64];
			if (m >= sizeof(key))
				m = sizeof(key) - 1;
			memcpy(key, p, m);
			key[m] = '\0';
			json_object *next = NULL;
			v = json_object_is_type(v, json_type_object) &&
					    json_object_object_get_ex(v, key, &next)
				    ? next
				    : NULL;
			p += m;
			if (*p == '.')
				p++;
		}
		if (v)
			return v;
		k += n;
		if (*k == '|')
			k++;
	}
	return NULL;
}

/* A string as it is, or with control bytes as \xNN (str_escape) where no library
 * escapes it after us. */
static char *text_of(const char *s, bool escape)
{
	return escape ? str_escape(s) : strdup(s);
}

static char *value_text(json_object *v, enum column_format fmt, bool escape)
{
	char buf[64];
	if (!v)
		return strdup("-");
	switch (json_object_get_type(v)) {
	case json_type_string: {
		const char *word = fmt == COL_THREAD_STATE && json_object_get_string_len(v) == 1
					   ? thread_state_word(json_object_get_string(v)[0])
					   : NULL;
		/* Names come from processes we do not control: never send their
		 * control bytes to a terminal. */
		return text_of(word ? word : json_object_get_string(v), escape);
	}
	case json_type_boolean:
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
	case json_type_int:
		if (fmt == COL_NS_AS_SECONDS) {
			int64_t ns = json_object_get_int64(v);
			snprintf(buf, sizeof(buf), "%.1fs", (double)ns / 1e9);
			return strdup(buf);
		}
		if (fmt == COL_BYTES_AS_MIB) {
			uint64_t b = json_object_get_uint64(v);
			snprintf(buf, sizeof(buf), "%.1f", (double)b / (1024.0 * 1024.0));
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
				text_of(json_object_get_string(json_object_array_get_idx(v, i)), escape);
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

static const struct column *column_named(const struct column *cols, size_t ncols, const char *name,
					 size_t len, size_t *id)
{
	for (size_t i = 0; i < ncols; i++)
		if (strlen(cols[i].name) == len && strncasecmp(cols[i].name, name, len) == 0) {
			*id = i;
			return &cols[i];
		}
	return NULL;
}

static char *valid_columns(const struct column *cols, size_t ncols)
{
	size_t cap = 1;
	for (size_t i = 0; i < ncols; i++)
		cap += strlen(cols[i].name) + 2;
	char *s = calloc(1, cap);
	for (size_t i = 0; s && i < ncols; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, cols[i].name);
	}
	return s;
}

/* Appends the columns of list ("A,B") to ids. */
static int columns_add(const struct column *cols, size_t ncols, const char *list, size_t **ids,
		       size_t *n_ids, char **why)
{
	if (!*list) {
		*why = strdup("no column given");
		return -EINVAL;
	}
	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		size_t id;
		if (len == 0) {
			*why = strdup("a column name is empty");
			return -EINVAL;
		}
		if (!column_named(cols, ncols, p, len, &id)) {
			_cleanup_free_ char *valid = valid_columns(cols, ncols);
			if (asprintf(why, "unknown column '%.*s' (valid: %s)", (int)len, p, valid ? valid : "?") < 0)
				*why = NULL;
			return -EINVAL;
		}
		size_t *more = reallocarray(*ids, *n_ids + 1, sizeof(**ids));
		if (!more)
			return -ENOMEM;
		*ids = more;
		(*ids)[(*n_ids)++] = id;
		p += len;
		if (!*p)
			return 0;
	}
}

int columns_parse(const struct column *cols, size_t ncols, const char *defaults, const char *list,
		  size_t **ids, size_t *n_ids, char **why)
{
	size_t *v = NULL, n = 0;
	*why = NULL;
	int r = 0;
	if (!list || list[0] == '+')
		r = columns_add(cols, ncols, defaults, &v, &n, why);
	if (r == 0 && list)
		r = columns_add(cols, ncols, list[0] == '+' ? list + 1 : list, &v, &n, why);
	if (r < 0) {
		free(v);
		return r;
	}
	*ids = v;
	*n_ids = n;
	return 0;
}

void columns_help(FILE *f, const struct column *cols, size_t ncols, const char *defaults)
{
	int w = 0;
	for (size_t i = 0; i < ncols; i++)
		if ((int)strlen(cols[i].name) > w)
			w = (int)strlen(cols[i].name);
	fputs("\nAvailable output columns:\n", f);
	for (size_t i = 0; i < ncols; i++)
		fprintf(f, " %*s  %s\n", w, cols[i].name, cols[i].help ? cols[i].help : "");
	fprintf(f, "Default: %s\n", defaults);
}

/* The character set a table is measured and escaped in, for this thread only
 * (uselocale(3)): the user's LC_CTYPE, except that a C or POSIX locale (no LANG, as
 * under cron or a service manager) is taken as C.UTF-8, as Python does (PEP 538),
 * unless LC_ALL asks for it. The rest of kvmcg keeps the C locale. NULL: C. */
static locale_t table_locale(void)
{
	locale_t l = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
	const char *all = getenv("LC_ALL");
	if ((!l || strcmp(nl_langinfo_l(CODESET, l), "ANSI_X3.4-1968") == 0) && !(all && *all)) {
		locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (utf8) {
			if (l)
				freelocale(l);
			l = utf8;
		}
	}
	return l;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* One cell per selected column of each row; *ascii stays true while every cell is
 * ASCII. */
static int fill_table(struct libscols_table *tb, const struct column *cols, size_t ncols, size_t n_rows,
		      table_row_fn *row_at, const void *ctx, const struct table_opts *opts, bool *ascii)
{
	size_t n = opts && opts->ids ? opts->n_ids : ncols;
	for (size_t i = 0; i < n; i++) {
		const struct column *c = &cols[opts && opts->ids ? opts->ids[i] : i];
		if (!scols_table_new_column(tb, c->header ? c->header : c->name, 0, c->flags))
			return -ENOMEM;
	}
	for (size_t k = 0; k < n_rows; k++) {
		json_object *row = row_at(ctx, k);
		struct libscols_line *ln = row ? scols_table_new_line(tb, NULL) : NULL;
		for (size_t i = 0; ln && i < n; i++) {
			const struct column *c = &cols[opts && opts->ids ? opts->ids[i] : i];
			/* Not escaped here: libsmartcols shows control bytes and what a
			 * terminal does not print as \xNN, aligned or raw, and a "\x" of
			 * the name's own as \x5cx, so the two cannot be confused. */
			char *v = value_text(lookup(row, c->keys), c->format, false);
			if (v && *ascii)
				*ascii = is_ascii(v);
			if (!v || scols_line_refer_data(ln, i, v) < 0) {
				free(v);
				ln = NULL;
			}
		}
		json_object_put(row);
		if (!ln)
			return -ENOMEM;
	}
	return 0;
}

static json_object *array_row(const void *ctx, size_t i)
{
	return json_object_get(json_object_array_get_idx((json_object *)ctx, i));
}

int print_table(FILE *f, const struct column *cols, size_t ncols, json_object *rows,
		const struct table_opts *opts)
{
	return print_table_rows(f, cols, ncols, json_object_array_length(rows), array_row, rows, opts);
}

int print_table_rows(FILE *f, const struct column *cols, size_t ncols, size_t n, table_row_fn *row,
		     const void *ctx, const struct table_opts *opts)
{
	struct libscols_table *tb = scols_new_table();
	if (!tb)
		return -ENOMEM;
	int r = scols_table_set_stream(tb, f);
	/* libsmartcols asks isatty(STDOUT_FILENO), whatever the stream */
	if (r == 0 && f != stdout)
		r = scols_table_set_termforce(tb, SCOLS_TERMFORCE_NEVER);
	if (r == 0)
		r = scols_table_enable_noheadings(tb, opts && opts->noheadings);
	if (r == 0)
		r = scols_table_enable_raw(tb, opts && opts->raw);
	bool ascii = true;
	if (r == 0)
		r = fill_table(tb, cols, ncols, n, row, ctx, opts, &ascii);
	if (r == 0) {
		/* ASCII measures and escapes alike in every locale: the C one kvmcg runs
		 * in does, without loading the user's (its files and conversion tables). */
		locale_t loc = ascii ? (locale_t)0 : table_locale(), old = loc ? uselocale(loc) : (locale_t)0;
		r = scols_print_table(tb);
		if (loc) {
			uselocale(old);
			freelocale(loc);
		}
	}
	scols_unref_table(tb);
	return r < 0 ? r : 0;
}

void print_fields(FILE *f, const struct field *fields, size_t n, json_object *obj)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(fields[i].label) > w)
			w = strlen(fields[i].label);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *v = value_text(lookup(obj, fields[i].keys), COL_TEXT, true);
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
	if (a->tree != V1_TREE_NONE) /* a v1 tree's hierarchy, not the cpuset one's */
		json_object_object_add(o, "hierarchy", json_object_new_string(v1_tree_controller(a->tree)));
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

static json_object *plan_row(const void *ctx, size_t i)
{
	return action_to_json(&((const struct plan *)ctx)->actions[i]);
}

int print_plan_table(FILE *f, const struct plan *p)
{
	/* What is written wraps on a narrow terminal, never cut. */
	static const struct column cols[] = {
		{.name = "ACTION", .keys = "action"},
		{.name = "CGROUP", .keys = "cgroup", .flags = SCOLS_FL_WRAP},
		{.name = "FILE", .keys = "file"},
		{.name = "VALUE", .keys = "value|cpus", .flags = SCOLS_FL_WRAP},
		{.name = "TID", .keys = "tid"},
	};
	return print_table_rows(f, cols, ARRAY_SIZE(cols), p->n_actions, plan_row, p, NULL);
}


bool cli_text_open(struct cli_text *t)
{
	*t = (struct cli_text){0};
	t->f = open_memstream(&t->buf, &t->len);
	return t->f != NULL;
}

char *cli_text_close(struct cli_text *t)
{
	if (!t->f)
		return NULL;
	if (fclose(t->f) != 0) {
		free(t->buf);
		return NULL;
	}
	return t->buf;
}
