// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/record-text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/idset.h"
#include "basic/util.h"
#include "tune/tune.h"

/* Version 2 ends with an "end" line, so a record cut short is seen as damaged; a
 * version 1 record (kvmcg 0.1) is still read. */
#define STATE_MAGIC "kvmcg-state 2"
#define STATE_MAGIC_V1 "kvmcg-state 1"

/* Fields are separated by single spaces; anything that could break that (space,
 * newline, '%', control bytes) was written %XX, an empty field "-". */
static char *unescape(const char *s, size_t len)
{
	if (len == 1 && s[0] == '-')
		return strdup("");
	char *out = malloc(len + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			char *end;
			long v = strtol(hex, &end, 16);
			if (*end || v <= 0) {
				free(out);
				return NULL;
			}
			*p++ = (char)v;
			i += 2;
		} else
			*p++ = s[i];
	}
	*p = '\0';
	return out;
}

/* Splits a line into at most max fields. */
static size_t split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	for (char *p = line; *p && n < max;) {
		fields[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return n;
}

static int parse_set(const char *s, struct idset **ret)
{
	if (strcmp(s, "-") == 0) {
		*ret = idset_new();
		return *ret ? 0 : -ENOMEM;
	}
	return idset_parse(s, ret, NULL);
}

static int grow_spec_vcpus(struct vm_tune *tune, size_t index)
{
	if (index < tune->n_vcpu)
		return 0;
	struct idset **n = realloc(tune->vcpu, (index + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + tune->n_vcpu, 0, (index + 1 - tune->n_vcpu) * sizeof(*n));
	tune->vcpu = n;
	tune->n_vcpu = index + 1;
	return 0;
}

static int set_unescaped(char **dst, const char *v)
{
	char *u = unescape(v, strlen(v));
	if (!u)
		return -EBADMSG;
	free(*dst); /* a repeated key: the last one wins */
	*dst = u;
	return 0;
}

/* A pin's CPUs or nodes: never empty, as the request that made it (and the JSON
 * record) cannot be. */
static int parse_pin(const char *v, struct idset **ret)
{
	int r = parse_set(v, ret);
	if (r == 0 && idset_count(*ret) == 0) {
		idset_free(*ret);
		*ret = NULL;
		r = -EBADMSG;
	}
	return r;
}

static int set_list(struct idset **dst, const char *v)
{
	struct idset *s = NULL;
	int r = parse_pin(v, &s);
	if (r < 0)
		return r;
	idset_free(*dst);
	*dst = s;
	return 0;
}

/* Number of fields (key included) of each known key; other keys come from a newer
 * kvmcg and are skipped. */
static int expected_fields(const char *key)
{
	static const struct {
		const char *key;
		int n;
	} keys[] = {
		{"pid", 2},     {"starttime", 2},    {"name", 2},         {"mode", 2},
		{"mount", 2},   {"vm-dir", 2},       {"created", 2},      {"thread", 4},
		{"pin-vcpu", 3}, {"pin-emulator", 2}, {"pin-iothread", 3}, {"pin-mems", 2},
		{"thread-sched", 3}, {"pin-cpu-weight", 2}, {"pin-cpu-quota", 2}, {"pin-cpu-period", 2},
		{"pin-vcpu-sched", 2}, {"enabled", 3}, {"root", 2}, {"end", 1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].key, key) == 0)
			return keys[i].n;
	return 0;
}

/* One line of the text format.
 * Long: one branch per key of a format that is frozen; it only reads records written
 * before version 1 of the JSON record, and is never extended. */
static int parse_line(struct vm_state *s, char *line)
{
	char *f[5];
	size_t n = split(line, f, 5);
	if (n == 0)
		return 0;
	const char *key = f[0];
	int want = expected_fields(key);
	if (want == 0)
		return 0;
	if ((int)n != want || (n == 5))
		return -EBADMSG;

	if (strcmp(key, "pid") == 0)
		return parse_pid(f[1], &s->pid);
	if (strcmp(key, "starttime") == 0)
		return parse_u64(f[1], &s->starttime);
	if (strcmp(key, "name") == 0)
		return set_unescaped(&s->name, f[1]);
	if (strcmp(key, "mount") == 0)
		return set_unescaped(&s->mount, f[1]);
	if (strcmp(key, "vm-dir") == 0)
		return set_unescaped(&s->vm_dir, f[1]);
	if (strcmp(key, "root") == 0)
		return set_unescaped(&s->root, f[1]);
	if (strcmp(key, "end") == 0)
		return 0; /* state_parse knows where it may stand */
	if (strcmp(key, "mode") == 0) {
		if (strcmp(f[1], "v2") == 0)
			s->backend = BACKEND_CGROUP_V2;
		else if (strcmp(f[1], "v1") == 0)
			s->backend = BACKEND_CGROUP_V1;
		else if (strcmp(f[1], "affinity") == 0)
			s->backend = BACKEND_AFFINITY;
		else
			return -EBADMSG;
		return 0;
	}
	if (strcmp(key, "enabled") == 0) {
		struct enabled_controller e = {unescape(f[1], strlen(f[1])), unescape(f[2], strlen(f[2]))};
		struct enabled_controller *nv = e.dir && e.controller
							? realloc(s->enabled, (s->n_enabled + 1) * sizeof(*nv))
							: NULL;
		if (!nv) {
			free(e.dir);
			free(e.controller);
			return e.dir && e.controller ? -ENOMEM : -EBADMSG;
		}
		s->enabled = nv;
		s->enabled[s->n_enabled++] = e;
		return 0;
	}
	if (strcmp(key, "created") == 0) {
		_cleanup_free_ char *d = unescape(f[1], strlen(f[1]));
		return d ? strv_push(&s->created, &s->n_created, d) : -EBADMSG;
	}
	if (strcmp(key, "thread") == 0) {
		struct thread_origin t = {0};
		int r = parse_pid(f[1], &t.tid);
		if (r == 0)
			r = (t.cgroup = unescape(f[2], strlen(f[2]))) ? 0 : -EBADMSG;
		if (r == 0)
			r = parse_set(f[3], &t.affinity);
		struct thread_origin *nt = r == 0 ? realloc(s->threads, (s->n_threads + 1) * sizeof(*nt)) : NULL;
		if (r == 0 && !nt)
			r = -ENOMEM;
		if (r < 0) {
			free(t.cgroup);
			idset_free(t.affinity);
			return r;
		}
		s->threads = nt;
		s->threads[s->n_threads++] = t;
		return 0;
	}
	if (strcmp(key, "pin-vcpu") == 0) {
		int idx;
		if (parse_int(f[1], &idx) < 0 || idx < 0 || idx > RECORD_VCPU_INDEX_MAX)
			return -EBADMSG;
		int r = grow_spec_vcpus(&s->tune, (size_t)idx);
		return r < 0 ? r : set_list(&s->tune.vcpu[idx], f[2]);
	}
	if (strcmp(key, "pin-emulator") == 0)
		return set_list(&s->tune.emulator, f[1]);
	if (strcmp(key, "thread-sched") == 0) {
		pid_t tid;
		int pol;
		unsigned prio;
		if (parse_pid(f[1], &tid) < 0 || sched_parse(f[2], &pol, &prio) < 0)
			return -EBADMSG;
		/* "thread" lines come first; a sched line for an unknown tid is damage */
		for (size_t i = 0; i < s->n_threads; i++)
			if (s->threads[i].tid == tid) {
				s->threads[i].sched_known = true;
				s->threads[i].sched_policy = pol;
				s->threads[i].sched_priority = prio;
				return 0;
			}
		return -EBADMSG;
	}
	/* the limits are tune.c's, as for the command line and policies */
	if (strcmp(key, "pin-cpu-weight") == 0) {
		int v;
		if (parse_int(f[1], &v) < 0 || cputune_check_weight(v) < 0)
			return -EBADMSG;
		s->tune.cputune.weight = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "pin-cpu-period") == 0) {
		int v;
		if (parse_int(f[1], &v) < 0 || cputune_check_period(v) < 0)
			return -EBADMSG;
		s->tune.cputune.period_us = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "pin-cpu-quota") == 0) {
		uint64_t v;
		/* 0 is "max" */
		if (parse_u64(f[1], &v) < 0 || (v && cputune_check_quota_percent(v) < 0))
			return -EBADMSG;
		s->tune.cputune.quota_set = true;
		s->tune.cputune.quota_percent = v;
		return 0;
	}
	if (strcmp(key, "pin-vcpu-sched") == 0) {
		s->tune.cputune.sched_set = true;
		return sched_parse(f[1], &s->tune.cputune.sched_policy, &s->tune.cputune.sched_priority) < 0
			       ? -EBADMSG
			       : 0;
	}
	if (strcmp(key, "pin-mems") == 0)
		return set_list(&s->tune.mems, f[1]);
	/* pin-iothread */
	_cleanup_free_ char *id = unescape(f[1], strlen(f[1]));
	struct idset *cpus = NULL;
	/* QEMU refuses an empty id, and so does the JSON record */
	int r = id && *id ? parse_pin(f[2], &cpus) : -EBADMSG;
	if (r < 0)
		return r;
	char **ids = realloc(s->tune.iothread_ids, (s->tune.n_iothread + 1) * sizeof(char *));
	if (ids)
		s->tune.iothread_ids = ids;
	struct idset **sets = ids ? realloc(s->tune.iothread, (s->tune.n_iothread + 1) * sizeof(*sets)) : NULL;
	if (sets)
		s->tune.iothread = sets;
	if (!ids || !sets) {
		idset_free(cpus);
		return -ENOMEM;
	}
	ids[s->tune.n_iothread] = TAKE_PTR(id);
	sets[s->tune.n_iothread++] = cpus;
	return 0;
}

/* The record holds each thread's origin once and each iothread's pin once, as the
 * JSON record does (an object's key, an array of distinct tids). Version 2 lists
 * each once, so a repeat there is damage. Version 1 could repeat them: a thread's
 * origin is where it was before kvmcg first moved it, so its first line counts; a
 * pin is the last request, so its last line counts (as for every repeated key). */
static int listed_once(struct vm_state *s, int version)
{
	for (size_t i = 0; i < s->n_threads; i++)
		for (size_t k = i + 1; k < s->n_threads;) {
			if (s->threads[i].tid != s->threads[k].tid) {
				k++;
				continue;
			}
			if (version == 2)
				return -EBADMSG;
			free(s->threads[k].cgroup);
			idset_free(s->threads[k].affinity);
			memmove(&s->threads[k], &s->threads[k + 1], (s->n_threads - k - 1) * sizeof(*s->threads));
			s->n_threads--;
		}
	struct vm_tune *t = &s->tune;
	for (size_t i = 0; i < t->n_iothread; i++)
		for (size_t k = i + 1; k < t->n_iothread;) {
			if (strcmp(t->iothread_ids[i], t->iothread_ids[k]) != 0) {
				k++;
				continue;
			}
			if (version == 2)
				return -EBADMSG;
			/* the later line moves into the earlier one's place */
			free(t->iothread_ids[i]);
			idset_free(t->iothread[i]);
			t->iothread_ids[i] = t->iothread_ids[k];
			t->iothread[i] = t->iothread[k];
			memmove(&t->iothread_ids[k], &t->iothread_ids[k + 1], (t->n_iothread - k - 1) * sizeof(char *));
			memmove(&t->iothread[k], &t->iothread[k + 1], (t->n_iothread - k - 1) * sizeof(*t->iothread));
			t->n_iothread--;
		}
	return 0;
}

/* Keys of which a version 2 record has one at most. */
static bool single_key(const char *line)
{
	static const char *const keys[] = {"pid ", "starttime ", "name ", "mode ", "mount ", "vm-dir ", "root "};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (startswith(line, keys[i]))
			return true;
	return false;
}

int record_text_parse(const char *buf, struct vm_state *ret, size_t *err_line)
{
	_cleanup_free_ char *copy = strdup(buf);
	if (!copy)
		return -ENOMEM;
	struct vm_state s = {0};
	size_t lineno = 0;
	int r = 0, version = 0;
	bool ended = false;
	char **seen = NULL; /* v2: the single keys met */
	size_t n_seen = 0;
	for (char *line = copy; line && r == 0;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		else if (!*line)
			break; /* after the last newline */
		lineno++;
		if (lineno == 1) {
			version = strcmp(line, STATE_MAGIC) == 0 ? 2 : strcmp(line, STATE_MAGIC_V1) == 0 ? 1 : 0;
			r = version ? 0 : -EBADMSG;
		} else if (ended) {
			r = -EBADMSG; /* nothing after "end" */
		} else if (version == 2 && strcmp(line, "end") == 0) {
			ended = true;
		} else {
			if (version == 2 && single_key(line)) {
				size_t kl = strcspn(line, " ");
				for (size_t i = 0; i < n_seen && r == 0; i++)
					if (strlen(seen[i]) == kl && strncmp(seen[i], line, kl) == 0)
						r = -EBADMSG; /* a key given twice: which one is right? */
				_cleanup_free_ char *key = strndup(line, kl);
				if (r == 0 && (!key || strv_push(&seen, &n_seen, key) < 0))
					r = -ENOMEM;
			}
			if (r == 0)
				r = parse_line(&s, line);
		}
		line = eol ? eol + 1 : NULL;
	}
	strv_free(seen);
	/* a version 2 record cut short has no "end" */
	if (r == 0 && (lineno == 0 || s.pid == 0 || s.starttime == 0 || (version == 2 && !ended)))
		r = -EBADMSG;
	if (r == 0)
		r = listed_once(&s, version);
	if (r < 0) {
		if (err_line)
			*err_line = lineno;
		vm_state_done(&s);
		/* Anything wrong in the text is one thing to the caller: damage. */
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret = s;
	return 0;
}
