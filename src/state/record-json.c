// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/record-json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/idset.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "kernel/memmap.h"
#include "state/json-strict.h"
#include "tune/tune.h"

/* A record nests three deep (tune.vcpupin); anything much deeper is not one. */
#define RECORD_JSON_DEPTH 8

/* ---- writing ---------------------------------------------------------------------------- */

/* Adds v to o (an object, with key k, or an array); a NULL v (out of memory) or a
 * failed add sets *r. */
static void put(json_object *o, const char *k, json_object *v, int *r)
{
	if (!v) {
		*r = -ENOMEM;
		return;
	}
	int k_r = k ? json_object_object_add(o, k, v) : json_object_array_add(o, v);
	if (k_r < 0) {
		json_object_put(v);
		*r = -ENOMEM;
	}
}

static json_object *set_string(const struct idset *s)
{
	_cleanup_free_ char *l = s ? idset_format(s) : strdup("");
	return l ? json_object_new_string(l) : NULL;
}

static json_object *sched_string(int policy, unsigned priority)
{
	char v[32];
	sched_format(policy, priority, v, sizeof(v));
	return json_object_new_string(v);
}

/* {"weight": W, "devices": {"8:16": {"weight": W, "rbps": N, ...}}}: only what is set. */
static json_object *io_object(const struct iotune *t)
{
	int r = 0;
	json_object *o = json_object_new_object(), *devs = json_object_new_object();
	if (!o || !devs) {
		json_object_put(o);
		json_object_put(devs);
		return NULL;
	}
	if (t->weight)
		put(o, "weight", json_object_new_int64(t->weight), &r);
	for (size_t i = 0; r == 0 && i < t->n_dev; i++) {
		const struct io_device *d = &t->dev[i];
		json_object *e = json_object_new_object();
		if (!e) {
			r = -ENOMEM;
			break;
		}
		if (d->weight)
			put(e, "weight", json_object_new_int64(d->weight), &r);
		const struct {
			const char *k;
			uint64_t v;
		} lim[] = {{"rbps", d->rbps}, {"wbps", d->wbps}, {"riops", d->riops}, {"wiops", d->wiops}};
		for (size_t k = 0; k < sizeof(lim) / sizeof(lim[0]); k++)
			if (lim[k].v)
				put(e, lim[k].k, json_object_new_uint64(lim[k].v), &r);
		if (d->bfq)
			put(e, "bfq", json_object_new_boolean(true), &r);
		char key[32];
		snprintf(key, sizeof(key), "%u:%u", d->major, d->minor);
		put(devs, key, e, &r);
	}
	put(o, "devices", devs, &r);
	if (r < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *tune_object(const struct vm_tune *t, int *r)
{
	json_object *o = json_object_new_object(), *vcpus = json_object_new_object(),
		    *iothreads = json_object_new_object();
	if (!o || !vcpus || !iothreads) {
		json_object_put(o);
		json_object_put(vcpus);
		json_object_put(iothreads);
		*r = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < t->n_vcpu; i++)
		if (t->vcpu[i]) {
			char key[24];
			snprintf(key, sizeof(key), "%zu", i);
			put(vcpus, key, set_string(t->vcpu[i]), r);
		}
	put(o, "vcpupin", vcpus, r);
	if (t->emulator)
		put(o, "emulatorpin", set_string(t->emulator), r);
	for (size_t i = 0; i < t->n_iothread; i++)
		put(iothreads, t->iothread_ids[i], set_string(t->iothread[i]), r);
	put(o, "iothreadpin", iothreads, r);
	if (t->mems)
		put(o, "memory_nodeset", set_string(t->mems), r);
	if (t->mems && t->mem_policy != MEM_POLICY_UNSET)
		put(o, "memory_mode", json_object_new_string(mem_policy_name(t->mem_policy)), r);
	if (t->mem_no_migrate)
		put(o, "memory_migrate", json_object_new_boolean(false), r);
	const struct cputune *c = &t->cputune;
	if (c->weight)
		put(o, "cpu_weight", json_object_new_int64(c->weight), r);
	if (c->quota_set)
		put(o, "cpu_quota_percent",
		    c->quota_percent ? json_object_new_uint64(c->quota_percent) : json_object_new_string("max"), r);
	if (c->period_us)
		put(o, "cpu_period_us", json_object_new_int64(c->period_us), r);
	if (c->sched_set)
		put(o, "vcpu_scheduler", sched_string(c->sched_policy, c->sched_priority), r);
	if (iotune_any(&t->iotune))
		put(o, "io", io_object(&t->iotune), r);
	return o;
}

char *record_json_format(const struct vm_state *s)
{
	int r = 0;
	json_object *o = json_object_new_object(), *created = json_object_new_array(),
		    *enabled = json_object_new_array(), *threads = json_object_new_array();
	if (!o || !created || !enabled || !threads) {
		json_object_put(o);
		json_object_put(created);
		json_object_put(enabled);
		json_object_put(threads);
		return NULL;
	}
	put(o, "version", json_object_new_int(RECORD_VERSION), &r);
	put(o, "pid", json_object_new_int(s->pid), &r);
	put(o, "starttime", json_object_new_uint64(s->starttime), &r);
	if (s->name)
		put(o, "name", json_object_new_string(s->name), &r);
	put(o, "backend", json_object_new_string(backend_name(s->backend)), &r);
	if (s->mount)
		put(o, "mount", json_object_new_string(s->mount), &r);
	if (s->vm_dir)
		put(o, "vm_dir", json_object_new_string(s->vm_dir), &r);
	if (s->root)
		put(o, "root", json_object_new_string(s->root), &r);
	if (s->launched)
		put(o, "launched", json_object_new_boolean(true), &r);
	for (size_t i = 0; i < s->n_created; i++)
		put(created, NULL, json_object_new_string(s->created[i]), &r);
	put(o, "created", created, &r);
	for (size_t i = 0; i < s->n_enabled; i++) {
		json_object *e = json_object_new_object();
		if (e) {
			put(e, "dir", json_object_new_string(s->enabled[i].dir), &r);
			put(e, "controller", json_object_new_string(s->enabled[i].controller), &r);
		}
		put(enabled, NULL, e, &r);
	}
	put(o, "enabled", enabled, &r);
	if (s->n_restore) {
		json_object *restore = json_object_new_array();
		for (size_t i = 0; restore && i < s->n_restore; i++) {
			json_object *e = json_object_new_object();
			if (e) {
				put(e, "dir", json_object_new_string(s->restore[i].dir), &r);
				put(e, "file", json_object_new_string(s->restore[i].file), &r);
				put(e, "line", json_object_new_string(s->restore[i].line), &r);
			}
			put(restore, NULL, e, &r);
		}
		put(o, "restore", restore, &r);
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		const struct thread_origin *t = &s->threads[i];
		json_object *e = json_object_new_object();
		if (e) {
			put(e, "tid", json_object_new_int(t->tid), &r);
			put(e, "cgroup", json_object_new_string(t->cgroup ? t->cgroup : ""), &r);
			put(e, "affinity", set_string(t->affinity), &r);
			if (t->sched_known)
				put(e, "scheduler", sched_string(t->sched_policy, t->sched_priority), &r);
		}
		put(threads, NULL, e, &r);
	}
	put(o, "threads", threads, &r);
	put(o, "tune", tune_object(&s->tune, &r), &r);
	if (s->n_mem_origin) {
		json_object *mo = json_object_new_object();
		for (unsigned k = 0; mo && k < s->n_mem_origin; k++)
			if (s->mem_origin[k]) {
				char key[16];
				snprintf(key, sizeof(key), "%u", k);
				put(mo, key, json_object_new_int64((int64_t)s->mem_origin[k]), &r);
			}
		put(o, "memory_origin", mo, &r);
	}
	put(o, "end", json_object_new_boolean(1), &r);
	char *text = r == 0 ? json_text(o) : NULL;
	json_object_put(o);
	return text;
}

/* ---- reading ---------------------------------------------------------------------------- */

static int dup_string(json_object *v, const char *what, char **ret, char **why)
{
	const char *s;
	int r = json_get_string(v, what, &s, why);
	if (r < 0)
		return r;
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	free(*ret);
	*ret = c;
	return 0;
}

static int get_int(json_object *v, const char *what, int64_t *ret, char **why)
{
	if (!json_object_is_type(v, json_type_int))
		return json_bad(why, "its %s is not an integer", what);
	*ret = json_object_get_int64(v); /* clamped: out of every range below */
	return 0;
}

/* The same parser as --pid: its decimal text, as json-c read it. */
static int get_pid(json_object *v, const char *what, pid_t *ret, char **why)
{
	if (!json_object_is_type(v, json_type_int))
		return json_bad(why, "its %s is not an integer", what);
	if (parse_pid(json_object_get_string(v), ret) < 0)
		return json_bad(why, "its %s %s is not a process id", what, json_object_get_string(v));
	return 0;
}

/* A CPU or node list, in the kernel's syntax; empty only when allowed. */
static int get_set(json_object *v, const char *what, const char *kind, bool may_be_empty, struct idset **ret,
		   char **why)
{
	const char *s;
	int r = json_get_string(v, what, &s, why);
	if (r < 0)
		return r;
	struct idset *set = NULL;
	r = idset_parse(s, &set, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return json_bad(why, "its %s '%s' is not a %s list", what, s, kind);
	if (!may_be_empty && idset_count(set) == 0) {
		idset_free(set);
		return json_bad(why, "its %s is an empty %s list", what, kind);
	}
	idset_free(*ret);
	*ret = set;
	return 0;
}

static int get_sched(json_object *v, const char *what, int *ret_policy, unsigned *ret_priority, char **why)
{
	const char *s;
	int r = json_get_string(v, what, &s, why);
	if (r < 0)
		return r;
	if (sched_parse(s, ret_policy, ret_priority) < 0)
		return json_bad(why, "its %s '%s' is not other, batch, idle, fifo:PRIO or rr:PRIO (PRIO %d to %d)", what, s,
			   SCHED_RT_PRIORITY_MIN, SCHED_RT_PRIORITY_MAX);
	return 0;
}

static int want(json_object *v, enum json_type type, const char *what, const char *type_name, char **why)
{
	return json_object_is_type(v, type) ? 0 : json_bad(why, "its %s is not %s", what, type_name);
}

/* A key that is an index: decimal, as kvmcg writes it ("01" is not), from 0 to max. */
static bool index_key(const char *key, int max, int *ret)
{
	char canon[24];
	return parse_int(key, ret) == 0 && *ret >= 0 && *ret <= max &&
	       (snprintf(canon, sizeof(canon), "%d", *ret), strcmp(canon, key) == 0);
}

static int parse_vcpupin(json_object *o, struct vm_tune *t, char **why)
{
	int r = want(o, json_type_object, "tune.vcpupin", "an object", why);
	if (r < 0)
		return r;
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		int idx;
		if (!index_key(key, RECORD_VCPU_INDEX_MAX, &idx))
			return json_bad(why, "its tune.vcpupin has \"%s\", which is not a vCPU index (0 to %d)", key,
				   RECORD_VCPU_INDEX_MAX);
		if ((size_t)idx >= t->n_vcpu) {
			struct idset **n = realloc(t->vcpu, ((size_t)idx + 1) * sizeof(*n));
			if (!n)
				return -ENOMEM;
			memset(n + t->n_vcpu, 0, ((size_t)idx + 1 - t->n_vcpu) * sizeof(*n));
			t->vcpu = n;
			t->n_vcpu = (size_t)idx + 1;
		}
		char what[48];
		snprintf(what, sizeof(what), "tune.vcpupin.%d", idx);
		r = get_set(v, what, "CPU", false, &t->vcpu[idx], why);
	}
	return r;
}

static int parse_iothreadpin(json_object *o, struct vm_tune *t, char **why)
{
	int r = want(o, json_type_object, "tune.iothreadpin", "an object", why);
	if (r < 0)
		return r;
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		if (!*key)
			return json_bad(why, "its tune.iothreadpin has an empty iothread id");
		struct idset *cpus = NULL;
		r = get_set(v, "tune.iothreadpin value", "CPU", false, &cpus, why);
		if (r < 0)
			break;
		char **ids = realloc(t->iothread_ids, (t->n_iothread + 1) * sizeof(*ids));
		if (ids)
			t->iothread_ids = ids;
		struct idset **sets = ids ? realloc(t->iothread, (t->n_iothread + 1) * sizeof(*sets)) : NULL;
		if (sets)
			t->iothread = sets;
		char *id = sets ? strdup(key) : NULL;
		if (!id) {
			idset_free(cpus);
			return -ENOMEM;
		}
		ids[t->n_iothread] = id;
		sets[t->n_iothread++] = cpus;
	}
	return r;
}

static int get_weight(json_object *v, const char *what, unsigned *ret, char **why)
{
	int64_t n = 0;
	int r = get_int(v, what, &n, why);
	if (r == 0 && cputune_check_weight(n) < 0)
		r = json_bad(why, "its %s is %lld, out of range (%u to %u)", what, (long long)n, CGROUP_WEIGHT_MIN,
			     CGROUP_WEIGHT_MAX);
	if (r == 0)
		*ret = (unsigned)n;
	return r;
}

static int parse_io_device(json_object *o, const char *key, struct iotune *t, char **why)
{
	unsigned major, minor;
	char canon[32], tail;
	if (sscanf(key, "%u:%u%c", &major, &minor, &tail) != 2 ||
	    (snprintf(canon, sizeof(canon), "%u:%u", major, minor), strcmp(canon, key) != 0))
		return json_bad(why, "its tune.io.devices has \"%s\", which is not a device number MAJ:MIN", key);
	int r = want(o, json_type_object, "tune.io.devices entry", "an object", why);
	if (r < 0)
		return r;
	if (iotune_find(t, major, minor))
		return json_bad(why, "its tune.io.devices has %s twice", key);
	struct io_device *d = iotune_get(t, major, minor);
	if (!d)
		return -ENOMEM;
	json_object_object_foreach(o, k, v) {
		if (r < 0)
			break;
		uint64_t *lim = strcmp(k, "rbps") == 0    ? &d->rbps
				: strcmp(k, "wbps") == 0  ? &d->wbps
				: strcmp(k, "riops") == 0 ? &d->riops
				: strcmp(k, "wiops") == 0 ? &d->wiops
							  : NULL;
		if (strcmp(k, "weight") == 0)
			r = get_weight(v, "tune.io.devices weight", &d->weight, why);
		else if (lim) {
			int64_t n = 0;
			r = get_int(v, "tune.io.devices limit", &n, why);
			if (r == 0 && n <= 0)
				r = json_bad(why, "its tune.io.devices[%s].%s is %lld, not a positive limit", key, k,
					     (long long)n);
			if (r == 0)
				*lim = (uint64_t)n;
		} else if (strcmp(k, "bfq") == 0) {
			r = want(v, json_type_boolean, "tune.io.devices bfq", "true or false", why);
			if (r == 0)
				d->bfq = json_object_get_boolean(v);
		} else
			r = json_bad(why, "its tune.io.devices[%s] has an unknown key \"%s\"", key, k);
	}
	return r;
}

static int parse_io(json_object *o, struct iotune *t, char **why)
{
	int r = want(o, json_type_object, "tune.io", "an object", why);
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		if (strcmp(key, "weight") == 0)
			r = get_weight(v, "tune.io.weight", &t->weight, why);
		else if (strcmp(key, "devices") == 0) {
			r = want(v, json_type_object, "tune.io.devices", "an object", why);
			json_object_object_foreach(v, dk, dv) {
				if (r < 0)
					break;
				r = parse_io_device(dv, dk, t, why);
			}
		} else
			r = json_bad(why, "its tune.io has an unknown key \"%s\"", key);
	}
	return r;
}

static int parse_tune(json_object *o, struct vm_tune *t, char **why)
{
	int r = want(o, json_type_object, "tune", "an object", why);
	if (r < 0)
		return r;
	struct cputune *c = &t->cputune;
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		int64_t n = 0;
		if (strcmp(key, "vcpupin") == 0)
			r = parse_vcpupin(v, t, why);
		else if (strcmp(key, "emulatorpin") == 0)
			r = get_set(v, "tune.emulatorpin", "CPU", false, &t->emulator, why);
		else if (strcmp(key, "iothreadpin") == 0)
			r = parse_iothreadpin(v, t, why);
		else if (strcmp(key, "memory_nodeset") == 0)
			r = get_set(v, "tune.memory_nodeset", "node", false, &t->mems, why);
		else if (strcmp(key, "memory_mode") == 0) {
			r = want(v, json_type_string, "tune.memory_mode", "a string", why);
			if (r == 0 && mem_policy_parse(json_object_get_string(v), &t->mem_policy) < 0)
				r = json_bad(why, "its tune.memory_mode '%s' is not a memory mode",
					     json_object_get_string(v));
		} else if (strcmp(key, "memory_migrate") == 0) {
			r = want(v, json_type_boolean, "tune.memory_migrate", "true or false", why);
			if (r == 0)
				t->mem_no_migrate = !json_object_get_boolean(v);
		}
		else if (strcmp(key, "cpu_weight") == 0) {
			r = get_int(v, "tune.cpu_weight", &n, why);
			if (r == 0 && cputune_check_weight(n) < 0)
				r = json_bad(why, "its tune.cpu_weight is %lld, out of range (%u to %u)", (long long)n,
					CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX);
			c->weight = (unsigned)n;
		} else if (strcmp(key, "cpu_quota_percent") == 0) {
			c->quota_set = true;
			if (json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), "max") == 0)
				c->quota_percent = 0;
			else if (!json_object_is_type(v, json_type_int))
				r = json_bad(why, "its tune.cpu_quota_percent is neither an integer nor \"max\"");
			else if ((n = json_object_get_int64(v)) < 0 || cputune_check_quota_percent((uint64_t)n) < 0)
				r = json_bad(why, "its tune.cpu_quota_percent is %s, out of range (%u to %u, or \"max\")",
					json_object_get_string(v), CPU_QUOTA_PERCENT_MIN, CPU_QUOTA_PERCENT_MAX);
			else
				c->quota_percent = (uint64_t)n;
		} else if (strcmp(key, "cpu_period_us") == 0) {
			r = get_int(v, "tune.cpu_period_us", &n, why);
			if (r == 0 && cputune_check_period(n) < 0)
				r = json_bad(why, "its tune.cpu_period_us is %lld, out of range (%u to %u)", (long long)n,
					CPU_PERIOD_US_MIN, CPU_PERIOD_US_MAX);
			c->period_us = (unsigned)n;
		} else if (strcmp(key, "vcpu_scheduler") == 0) {
			r = get_sched(v, "tune.vcpu_scheduler", &c->sched_policy, &c->sched_priority, why);
			c->sched_set = r == 0;
		} else if (strcmp(key, "io") == 0)
			r = parse_io(v, &t->iotune, why);
		else
			r = json_bad(why, "its tune has an unknown key \"%s\"", key);
	}
	return r;
}

static int parse_thread(json_object *o, size_t i, struct thread_origin *t, char **why)
{
	char what[64];
	snprintf(what, sizeof(what), "threads[%zu]", i);
	int r = want(o, json_type_object, what, "an object", why);
	if (r < 0)
		return r;
	bool tid = false, cgroup = false, affinity = false;
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		snprintf(what, sizeof(what), "threads[%zu].%s", i, key);
		if (strcmp(key, "tid") == 0) {
			tid = true;
			r = get_pid(v, what, &t->tid, why);
		} else if (strcmp(key, "cgroup") == 0) {
			cgroup = true;
			r = dup_string(v, what, &t->cgroup, why);
		} else if (strcmp(key, "affinity") == 0) {
			affinity = true;
			r = get_set(v, what, "CPU", true, &t->affinity, why);
		} else if (strcmp(key, "scheduler") == 0) {
			r = get_sched(v, what, &t->sched_policy, &t->sched_priority, why);
			t->sched_known = r == 0;
		} else
			r = json_bad(why, "its threads[%zu] has an unknown key \"%s\"", i, key);
	}
	if (r == 0 && (!tid || !cgroup || !affinity))
		r = json_bad(why, "its threads[%zu] has no \"%s\"", i, !tid ? "tid" : !cgroup ? "cgroup" : "affinity");
	return r;
}

static int parse_threads(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_array, "threads", "an array", why);
	size_t n = r == 0 ? json_object_array_length(o) : 0;
	if (n) {
		s->threads = calloc(n, sizeof(*s->threads));
		if (!s->threads)
			return -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		s->n_threads++; /* vm_state_done frees what is set */
		r = parse_thread(json_object_array_get_idx(o, i), i, &s->threads[i], why);
		for (size_t k = 0; r == 0 && k < i; k++)
			if (s->threads[k].tid == s->threads[i].tid)
				r = json_bad(why, "it gives the origin of thread %d twice", (int)s->threads[i].tid);
	}
	return r;
}

static int parse_created(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_array, "created", "an array", why);
	for (size_t i = 0; r == 0 && i < json_object_array_length(o); i++) {
		const char *d;
		char what[32];
		snprintf(what, sizeof(what), "created[%zu]", i);
		r = json_get_string(json_object_array_get_idx(o, i), what, &d, why);
		if (r == 0)
			r = strv_push(&s->created, &s->n_created, d);
	}
	return r;
}

static int parse_enabled(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_array, "enabled", "an array", why);
	size_t n = r == 0 ? json_object_array_length(o) : 0;
	if (n) {
		s->enabled = calloc(n, sizeof(*s->enabled));
		if (!s->enabled)
			return -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		struct enabled_controller *c = &s->enabled[s->n_enabled++];
		char what[48];
		snprintf(what, sizeof(what), "enabled[%zu]", i);
		r = want(e, json_type_object, what, "an object", why);
		if (r < 0)
			break;
		json_object_object_foreach(e, key, v) {
			if (r < 0)
				break;
			snprintf(what, sizeof(what), "enabled[%zu].%s", i, key);
			if (strcmp(key, "dir") == 0)
				r = dup_string(v, what, &c->dir, why);
			else if (strcmp(key, "controller") == 0)
				r = dup_string(v, what, &c->controller, why);
			else
				r = json_bad(why, "its enabled[%zu] has an unknown key \"%s\"", i, key);
		}
		if (r == 0 && (!c->dir || !c->controller))
			r = json_bad(why, "its enabled[%zu] has no \"%s\"", i, !c->dir ? "dir" : "controller");
	}
	return r;
}

static int parse_restore(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_array, "restore", "an array", why);
	size_t n = r == 0 ? json_object_array_length(o) : 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		char what[48];
		snprintf(what, sizeof(what), "restore[%zu]", i);
		r = want(e, json_type_object, what, "an object", why);
		_cleanup_free_ char *dir = NULL, *file = NULL, *line = NULL;
		json_object_object_foreach(e, key, v) {
			if (r < 0)
				break;
			snprintf(what, sizeof(what), "restore[%zu].%s", i, key);
			if (strcmp(key, "dir") == 0)
				r = dup_string(v, what, &dir, why);
			else if (strcmp(key, "file") == 0)
				r = dup_string(v, what, &file, why);
			else if (strcmp(key, "line") == 0)
				r = dup_string(v, what, &line, why);
			else
				r = json_bad(why, "its restore[%zu] has an unknown key \"%s\"", i, key);
		}
		if (r == 0 && (!dir || !file || !line))
			r = json_bad(why, "its restore[%zu] has no \"%s\"", i, !dir ? "dir" : !file ? "file" : "line");
		if (r == 0 && record_add_restore(s, dir, file, line) < 0)
			r = -ENOMEM;
		if (r == 0 && s->n_restore != i + 1)
			r = json_bad(why, "its restore[%zu] repeats a line of the same cgroup, file and key", i);
	}
	return r;
}

static int parse_backend(json_object *v, enum pin_backend *ret, char **why)
{
	const char *s;
	int r = json_get_string(v, "backend", &s, why);
	if (r < 0)
		return r;
	static const enum pin_backend all[] = {BACKEND_CGROUP_V2, BACKEND_CGROUP_V1, BACKEND_AFFINITY};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (strcmp(s, backend_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return json_bad(why, "its backend '%s' is not v2, v1 or affinity", s);
}

/* The nodes a record may name in memory_origin: as many as numa_maps can. */
#define RECORD_NODE_MAX (MEMMAP_NODES_MAX - 1)

/* {"0": bytes, ...}: where the VM's memory was before kvmcg first moved it. */
static int parse_mem_origin(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_object, "memory_origin", "an object", why);
	if (r < 0)
		return r;
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		int node;
		int64_t bytes = 0;
		if (!index_key(key, RECORD_NODE_MAX, &node))
			return json_bad(why, "its memory_origin names \"%s\", not a node", key);
		if ((r = get_int(v, "memory_origin bytes", &bytes, why)) < 0)
			break;
		if (bytes < 0)
			return json_bad(why, "its memory_origin has %lld bytes on node %d", (long long)bytes, node);
		if ((unsigned)node >= s->n_mem_origin) {
			uint64_t *n = realloc(s->mem_origin, ((size_t)node + 1) * sizeof(*n));
			if (!n)
				return -ENOMEM;
			memset(n + s->n_mem_origin, 0, ((size_t)node + 1 - s->n_mem_origin) * sizeof(*n));
			s->mem_origin = n;
			s->n_mem_origin = (unsigned)node + 1;
		}
		s->mem_origin[node] = (uint64_t)bytes;
	}
	return r;
}

static int parse_top(json_object *top, struct vm_state *s, char **why)
{
	int r = 0;
	bool pid = false, starttime = false, backend = false, threads = false, end = false;
	json_object_object_foreach(top, key, v) {
		if (r < 0)
			break;
		if (strcmp(key, "version") == 0)
			continue; /* read first */
		if (strcmp(key, "pid") == 0) {
			pid = true;
			r = get_pid(v, "pid", &s->pid, why);
		} else if (strcmp(key, "starttime") == 0) {
			starttime = true;
			if (!json_object_is_type(v, json_type_int))
				r = json_bad(why, "its starttime is not an integer");
			else if (parse_u64(json_object_get_string(v), &s->starttime) < 0 || s->starttime == 0)
				r = json_bad(why, "its starttime %s is not a start time", json_object_get_string(v));
		} else if (strcmp(key, "name") == 0)
			r = dup_string(v, "name", &s->name, why);
		else if (strcmp(key, "backend") == 0) {
			backend = true;
			r = parse_backend(v, &s->backend, why);
		}
		else if (strcmp(key, "mount") == 0)
			r = dup_string(v, "mount", &s->mount, why);
		else if (strcmp(key, "vm_dir") == 0)
			r = dup_string(v, "vm_dir", &s->vm_dir, why);
		else if (strcmp(key, "root") == 0)
			r = dup_string(v, "root", &s->root, why);
		else if (strcmp(key, "launched") == 0) {
			r = want(v, json_type_boolean, "launched", "true or false", why);
			if (r == 0)
				s->launched = json_object_get_boolean(v);
		} else if (strcmp(key, "created") == 0)
			r = parse_created(v, s, why);
		else if (strcmp(key, "enabled") == 0)
			r = parse_enabled(v, s, why);
		else if (strcmp(key, "restore") == 0)
			r = parse_restore(v, s, why);
		else if (strcmp(key, "threads") == 0) {
			threads = true;
			r = parse_threads(v, s, why);
		}
		else if (strcmp(key, "tune") == 0)
			r = parse_tune(v, &s->tune, why);
		else if (strcmp(key, "memory_origin") == 0)
			r = parse_mem_origin(v, s, why);
		else if (strcmp(key, "end") == 0) {
			end = true;
			if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v))
				r = json_bad(why, "its end is not true");
		} else
			r = json_bad(why, "it has an unknown key \"%s\"", key);
	}
	if (r == 0 && !end)
		r = json_bad(why, "it is incomplete: it has no \"end\": true");
	if (r == 0 && (!pid || !starttime || !backend || !threads))
		r = json_bad(why, "it has no \"%s\"", !pid ? "pid" : !starttime ? "starttime" : !backend ? "backend" : "threads");
	return r;
}

int record_json_parse(const char *buf, struct vm_state *ret, size_t *err_line, char **ret_why)
{
	json_object *top = NULL;
	int r = json_strict_parse(buf, RECORD_JSON_DEPTH, RECORD_VERSION, &top, err_line, ret_why);
	struct vm_state s = {0};
	if (r == 0)
		r = parse_top(top, &s, ret_why);
	json_object_put(top);
	if (r < 0) {
		vm_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}
