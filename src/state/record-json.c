// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/record-json.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/idset.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "kernel/memmap.h"
#include "plan/nettune.h"
#include "plan/record.h"
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

/* A v1 tree's key, "<controller>_<field>": "cpu_mount", "blkio_cgroup". */
static const char *v1tree_key(char *buf, size_t len, enum v1_tree t, const char *field)
{
	snprintf(buf, len, "%s_%s", v1_tree_controller(t), field);
	return buf;
}

/* The tree whose key for field is key; V1_TREE_NONE when none is. */
static enum v1_tree v1tree_of(const char *key, const char *field)
{
	char k[32];
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++)
		if (strcmp(key, v1tree_key(k, sizeof(k), (enum v1_tree)t, field)) == 0)
			return (enum v1_tree)t;
	return V1_TREE_NONE;
}

/* A v1 tree's keys in o, all of them whenever one is set (a record round-trips field
 * by field); nothing for a tree the record has not. */
static void put_v1tree(json_object *o, const struct v1_tree_record *v, enum v1_tree t, int *r)
{
	char k[32];
	if (!v->mount && !v->vm_dir && !v->n_created)
		return;
	json_object *cc = json_object_new_array();
	for (size_t i = 0; cc && i < v->n_created; i++)
		put(cc, NULL, json_object_new_string(v->created[i]), r);
	if (v->mount)
		put(o, v1tree_key(k, sizeof(k), t, "mount"), json_object_new_string(v->mount), r);
	if (v->vm_dir)
		put(o, v1tree_key(k, sizeof(k), t, "vm_dir"), json_object_new_string(v->vm_dir), r);
	put(o, v1tree_key(k, sizeof(k), t, "created"), cc, r);
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

/* {"average": B/s, "peak": B/s, "burst": bytes}: only what is set. */
static json_object *net_rate_object(const struct net_rate *n, int *r)
{
	json_object *o = json_object_new_object();
	if (o && n->average)
		put(o, "average", json_object_new_uint64(n->average), r);
	if (o && n->peak)
		put(o, "peak", json_object_new_uint64(n->peak), r);
	if (o && n->burst)
		put(o, "burst", json_object_new_uint64(n->burst), r);
	return o;
}

/* {"interfaces": [...], "inbound": {...}, "outbound": {...}} */
static json_object *net_object(const struct nettune *t, int *r)
{
	json_object *o = json_object_new_object(), *ifs = json_object_new_array();
	if (!o || !ifs) {
		json_object_put(o);
		json_object_put(ifs);
		return NULL;
	}
	for (size_t i = 0; i < t->n_interfaces; i++)
		put(ifs, NULL, json_object_new_string(t->interfaces[i]), r);
	put(o, "interfaces", ifs, r);
	if (t->in.average)
		put(o, "inbound", net_rate_object(&t->in, r), r);
	if (t->out.average)
		put(o, "outbound", net_rate_object(&t->out, r), r);
	if (t->weight) {
		put(o, "weight", json_object_new_uint64(t->weight), r);
		put(o, "bridge_total", json_object_new_uint64(t->bridge_total), r);
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
	if (nettune_any(&t->nettune))
		put(o, "net", net_object(&t->nettune, r), r);
	return o;
}

static json_object *hex_string(const void *buf, size_t len)
{
	_cleanup_free_ char *h = malloc(2 * len + 1);
	if (!h)
		return NULL;
	for (size_t i = 0; i < len; i++)
		snprintf(h + 2 * i, 3, "%02x", ((const unsigned char *)buf)[i]);
	h[2 * len] = 0;
	return json_object_new_string(h);
}

/* [{"what": "root", "netns": "DEV:INO", "dev": "tap0", "ifindex": 7, "kind": "tbf",
 *   "handle": N, "was": {"kind": ..., "handle": N, "options": "hex"}}, ...] */
static json_object *net_changes_array(const struct vm_state *s, int *r)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < s->n_net; i++) {
		const struct net_change *c = &s->net[i];
		json_object *e = json_object_new_object();
		if (e) {
			char ns[48];
			snprintf(ns, sizeof(ns), "%llu:%llu", (unsigned long long)c->netns_dev,
				 (unsigned long long)c->netns_ino);
			put(e, "what", json_object_new_string(net_added_name(c->what)), r);
			put(e, "netns", json_object_new_string(ns), r);
			put(e, "dev", json_object_new_string(c->dev), r);
			if (c->ifindex)
				put(e, "ifindex", json_object_new_int(c->ifindex), r);
			if (c->port)
				put(e, "port", json_object_new_int(c->port), r);
			if (c->kind) {
				put(e, "kind", json_object_new_string(c->kind), r);
				put(e, "handle", json_object_new_int64(c->handle), r);
			}
			if (c->was_kind) {
				json_object *w = json_object_new_object();
				if (w) {
					put(w, "kind", json_object_new_string(c->was_kind), r);
					put(w, "handle", json_object_new_int64(c->was_handle), r);
					put(w, "options", hex_string(c->was_options, c->was_len), r);
				}
				put(e, "was", w, r);
			}
		}
		put(a, NULL, e, r);
	}
	return a;
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
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) /* the v1 trees, beside the cpuset one */
		put_v1tree(o, &s->v1[t], (enum v1_tree)t, &r);
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
	if (s->n_net)
		put(o, "net", net_changes_array(s, &r), &r);
	for (size_t i = 0; i < s->n_threads; i++) {
		const struct thread_origin *t = &s->threads[i];
		json_object *e = json_object_new_object();
		char key[32];
		if (e) {
			put(e, "tid", json_object_new_int(t->tid), &r);
			put(e, "cgroup", json_object_new_string(t->cgroup ? t->cgroup : ""), &r);
			for (int k = V1_TREE_NONE + 1; k < V1_TREE_N; k++)
				if (t->v1_cgroup[k])
					put(e, v1tree_key(key, sizeof(key), (enum v1_tree)k, "cgroup"),
					    json_object_new_string(t->v1_cgroup[k]), &r);
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

/* A byte count or rate of tune.net: a positive integer. */
static int get_u64(json_object *v, const char *what, uint64_t *ret, char **why)
{
	if (!json_object_is_type(v, json_type_int) || parse_u64(json_object_get_string(v), ret) < 0 || *ret == 0)
		return json_bad(why, "its %s is not a positive integer", what);
	return 0;
}

static int parse_net_rate(json_object *o, const char *what, struct net_rate *n, char **why)
{
	int r = want(o, json_type_object, what, "an object", why);
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		char w[64];
		snprintf(w, sizeof(w), "%s.%s", what, key);
		if (strcmp(key, "average") == 0)
			r = get_u64(v, w, &n->average, why);
		else if (strcmp(key, "peak") == 0)
			r = get_u64(v, w, &n->peak, why);
		else if (strcmp(key, "burst") == 0)
			r = get_u64(v, w, &n->burst, why);
		else
			r = json_bad(why, "its %s has an unknown key \"%s\"", what, key);
	}
	if (r == 0 && !n->average)
		r = json_bad(why, "its %s has no average", what);
	if (r == 0 && n->peak && n->peak < n->average)
		r = json_bad(why, "its %s has a peak below its average", what);
	return r;
}

static int parse_net_tune(json_object *o, struct nettune *t, char **why)
{
	int r = want(o, json_type_object, "tune.net", "an object", why);
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		if (strcmp(key, "interfaces") == 0) {
			r = want(v, json_type_array, "tune.net.interfaces", "an array", why);
			for (size_t i = 0; r == 0 && i < json_object_array_length(v); i++) {
				const char *s;
				r = json_get_string(json_object_array_get_idx(v, i), "tune.net.interfaces entry", &s, why);
				if (r == 0 && (!*s || strlen(s) >= 16))
					r = json_bad(why, "its tune.net.interfaces has '%s', not an interface name", s);
				if (r == 0)
					r = strv_push(&t->interfaces, &t->n_interfaces, s);
			}
		} else if (strcmp(key, "inbound") == 0)
			r = parse_net_rate(v, "tune.net.inbound", &t->in, why);
		else if (strcmp(key, "outbound") == 0)
			r = parse_net_rate(v, "tune.net.outbound", &t->out, why);
		else if (strcmp(key, "weight") == 0) {
			uint64_t w = 0;
			r = get_u64(v, "tune.net.weight", &w, why);
			if (r == 0 && w > 10000)
				r = json_bad(why, "its tune.net.weight is above 10000");
			t->weight = (unsigned)w;
		} else if (strcmp(key, "bridge_total") == 0)
			r = get_u64(v, "tune.net.bridge_total", &t->bridge_total, why);
		else
			r = json_bad(why, "its tune.net has an unknown key \"%s\"", key);
	}
	if (r == 0 && !t->weight != !t->bridge_total)
		r = json_bad(why, "its tune.net has a weight without a bridge_total, or the other way round");
	if (r == 0 && !nettune_any(t))
		r = json_bad(why, "its tune.net shapes nothing");
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
		else if (strcmp(key, "net") == 0)
			r = parse_net_tune(v, &t->nettune, why);
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
	enum v1_tree tree;
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
		} else if ((tree = v1tree_of(key, "cgroup")) != V1_TREE_NONE) {
			r = dup_string(v, what, &t->v1_cgroup[tree], why);
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

/* "created", "cpu_created" and "blkio_created": arrays of directories. */
static int parse_dirs(json_object *o, const char *name, char ***v, size_t *n, char **why)
{
	int r = want(o, json_type_array, name, "an array", why);
	for (size_t i = 0; r == 0 && i < json_object_array_length(o); i++) {
		const char *d;
		char what[48];
		snprintf(what, sizeof(what), "%s[%zu]", name, i);
		r = json_get_string(json_object_array_get_idx(o, i), what, &d, why);
		if (r == 0)
			r = strv_push(v, n, d);
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

static int parse_hex(const char *s, void **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 2)
		return -EINVAL;
	unsigned char *b = malloc(n / 2 + 1);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -EINVAL;
		}
		b[i] = (unsigned char)v;
	}
	*ret = b;
	*ret_len = n / 2;
	return 0;
}

/* A tc handle: 32 bits. */
static int get_handle(json_object *v, const char *what, uint32_t *ret, char **why)
{
	int64_t n = 0;
	int r = get_int(v, what, &n, why);
	if (r == 0 && (n < 0 || n > UINT32_MAX))
		r = json_bad(why, "its %s is not a tc handle", what);
	if (r == 0)
		*ret = (uint32_t)n;
	return r;
}

static int parse_net_was(json_object *o, const char *what, struct net_change *c, char **why)
{
	int r = want(o, json_type_object, what, "an object", why);
	json_object_object_foreach(o, key, v) {
		if (r < 0)
			break;
		if (strcmp(key, "kind") == 0)
			r = dup_string(v, what, &c->was_kind, why);
		else if (strcmp(key, "handle") == 0)
			r = get_handle(v, what, &c->was_handle, why);
		else if (strcmp(key, "options") == 0) {
			const char *s;
			r = json_get_string(v, what, &s, why);
			free(c->was_options);
			c->was_options = NULL;
			if (r == 0 && (r = parse_hex(s, &c->was_options, &c->was_len)) == -EINVAL)
				r = json_bad(why, "its %s.options is not hexadecimal", what);
		} else
			r = json_bad(why, "its %s has an unknown key \"%s\"", what, key);
	}
	if (r == 0 && (!c->was_kind || !*c->was_kind || strlen(c->was_kind) >= 16))
		r = json_bad(why, "its %s has no qdisc kind", what);
	return r;
}

static int parse_net(json_object *o, struct vm_state *s, char **why)
{
	int r = want(o, json_type_array, "net", "an array", why);
	size_t n = r == 0 ? json_object_array_length(o) : 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		char what[48];
		snprintf(what, sizeof(what), "net[%zu]", i);
		r = want(e, json_type_object, what, "an object", why);
		struct net_change c = {.what = (enum net_added)-1};
		bool ns = false;
		json_object_object_foreach(e, key, v) {
			if (r < 0)
				break;
			snprintf(what, sizeof(what), "net[%zu].%s", i, key);
			const char *str = NULL;
			int64_t k = 0;
			if (strcmp(key, "what") == 0) {
				r = json_get_string(v, what, &str, why);
				if (r == 0 && net_added_parse(str, &c.what) < 0)
					r = json_bad(why, "its %s '%s' is not root, ingress, ifb or class", what, str);
			} else if (strcmp(key, "netns") == 0) {
				unsigned long long d = 0, ino = 0;
				char end;
				r = json_get_string(v, what, &str, why);
				if (r == 0 && sscanf(str, "%llu:%llu%c", &d, &ino, &end) != 2)
					r = json_bad(why, "its %s '%s' is not DEV:INODE", what, str);
				c.netns_dev = d;
				c.netns_ino = ino;
				ns = r == 0;
			} else if (strcmp(key, "dev") == 0) {
				r = json_get_string(v, what, &str, why);
				if (r == 0 && (!*str || strlen(str) >= sizeof(c.dev) || strchr(str, '/')))
					r = json_bad(why, "its %s '%s' is not an interface name", what, str);
				if (r == 0)
					snprintf(c.dev, sizeof(c.dev), "%s", str);
			} else if (strcmp(key, "ifindex") == 0) {
				r = get_int(v, what, &k, why);
				if (r == 0 && (k <= 0 || k > INT32_MAX))
					r = json_bad(why, "its %s is not an interface index", what);
				c.ifindex = (int)k;
			} else if (strcmp(key, "port") == 0) {
				r = get_int(v, what, &k, why);
				if (r == 0 && (k <= 0 || k > INT32_MAX))
					r = json_bad(why, "its %s is not an interface index", what);
				c.port = (int)k;
			} else if (strcmp(key, "kind") == 0) {
				r = dup_string(v, what, &c.kind, why);
			} else if (strcmp(key, "handle") == 0)
				r = get_handle(v, what, &c.handle, why);
			else if (strcmp(key, "was") == 0)
				r = parse_net_was(v, what, &c, why);
			else
				r = json_bad(why, "its net[%zu] has an unknown key \"%s\"", i, key);
		}
		if (r == 0 && ((int)c.what < 0 || !ns || !c.dev[0]))
			r = json_bad(why, "its net[%zu] has no \"%s\"", i, (int)c.what < 0 ? "what" : !ns ? "netns" : "dev");
		if (r == 0 && (c.what == NET_ADDED_ROOT || c.what == NET_ADDED_CLASS) != (c.kind != NULL))
			r = json_bad(why, "its net[%zu] %s", i, c.kind ? "names a qdisc kind for no qdisc" : "has no qdisc kind");
		if (r == 0 && c.what != NET_ADDED_IFB && !c.ifindex)
			r = json_bad(why, "its net[%zu] has no ifindex", i);
		/* only what kvmcg makes: its TBF, its IFB names */
		if (r == 0 && c.what == NET_ADDED_ROOT && (strcmp(c.kind, "tbf") != 0 || c.handle != NET_HANDLE))
			r = json_bad(why, "its net[%zu] names a root qdisc kvmcg does not make (%s, handle %x:)", i, c.kind,
				     c.handle >> 16);
		/* a bridge's class: kvmcg's HTB, a minor of its own (:1 is the shared parent) */
		if (r == 0 && c.what == NET_ADDED_CLASS &&
		    (strcmp(c.kind, "htb") != 0 || c.handle >> 16 != NET_HANDLE_MAJOR || (c.handle & 0xFFFFu) < 2 ||
		     (c.handle & 0xFFFFu) == 0xFFFFu || !c.port))
			r = json_bad(why, "its net[%zu] names a class kvmcg does not make (%s %x:%x, port %d)", i, c.kind,
				     c.handle >> 16, c.handle & 0xFFFFu, c.port);
		if (r == 0 && c.what != NET_ADDED_CLASS && c.port)
			r = json_bad(why, "its net[%zu] names a port for no class", i);
		if (r == 0 && c.what == NET_ADDED_IFB && !net_ifb_name_valid(c.dev))
			r = json_bad(why, "its net[%zu] names an IFB device '%s', not a name kvmcg gives", i, c.dev);
		if (r == 0)
			r = record_add_net(s, &c);
		net_change_done(&c);
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
	enum v1_tree tree;
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
			r = parse_dirs(v, "created", &s->created, &s->n_created, why);
		else if ((tree = v1tree_of(key, "created")) != V1_TREE_NONE)
			r = parse_dirs(v, key, &s->v1[tree].created, &s->v1[tree].n_created, why);
		else if ((tree = v1tree_of(key, "mount")) != V1_TREE_NONE)
			r = dup_string(v, key, &s->v1[tree].mount, why);
		else if ((tree = v1tree_of(key, "vm_dir")) != V1_TREE_NONE)
			r = dup_string(v, key, &s->v1[tree].vm_dir, why);
		else if (strcmp(key, "enabled") == 0)
			r = parse_enabled(v, s, why);
		else if (strcmp(key, "restore") == 0)
			r = parse_restore(v, s, why);
		else if (strcmp(key, "net") == 0)
			r = parse_net(v, s, why);
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
