// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "plan/layout.h"
#include "basic/trust.h"
#include "basic/util.h"

/* Version 2 ends with an "end" line, so a record cut short is seen as damaged; a
 * version 1 record (kvmcg 0.1) is still read. */
#define STATE_MAGIC "kvmcg-state 2"
#define STATE_MAGIC_V1 "kvmcg-state 1"


void vm_states_free(struct vm_state *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_state_done(&s[i]);
	free(s);
}


/* Fields are separated by single spaces; anything that could break that (space,
 * newline, '%', control bytes) is written %XX. */
static void put_escaped(FILE *f, const char *s)
{
	if (!*s) {
		fputc('-', f); /* an empty field still takes a place */
		return;
	}
	if (strcmp(s, "-") == 0) {
		fputs("%2D", f);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == '%' || c == 0x7f)
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

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

static void put_set(FILE *f, const struct idset *s)
{
	_cleanup_free_ char *l = s ? idset_format(s) : NULL;
	fputs(l && *l ? l : "-", f);
}

char *state_format(const struct vm_state *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "%s\npid %d\nstarttime %llu\nname ", STATE_MAGIC, (int)s->pid,
		(unsigned long long)s->starttime);
	put_escaped(f, s->name ? s->name : "");
	fprintf(f, "\nmode %s\n", backend_name(s->backend));
	if (s->mount) {
		fputs("mount ", f);
		put_escaped(f, s->mount);
		fputs("\nvm-dir ", f);
		put_escaped(f, s->vm_dir ? s->vm_dir : "");
		fputc('\n', f);
	}
	if (s->root) {
		fputs("root ", f);
		put_escaped(f, s->root);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->n_created; i++) {
		fputs("created ", f);
		put_escaped(f, s->created[i]);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->n_enabled; i++) {
		fputs("enabled ", f);
		put_escaped(f, s->enabled[i].dir);
		fputc(' ', f);
		put_escaped(f, s->enabled[i].controller);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		fprintf(f, "thread %d ", (int)s->threads[i].tid);
		put_escaped(f, s->threads[i].cgroup ? s->threads[i].cgroup : "");
		fputc(' ', f);
		put_set(f, s->threads[i].affinity);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->tune.n_vcpu; i++)
		if (s->tune.vcpu[i]) {
			fprintf(f, "pin-vcpu %zu ", i);
			put_set(f, s->tune.vcpu[i]);
			fputc('\n', f);
		}
	if (s->tune.emulator) {
		fputs("pin-emulator ", f);
		put_set(f, s->tune.emulator);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->tune.n_iothread; i++) {
		fputs("pin-iothread ", f);
		put_escaped(f, s->tune.iothread_ids[i]);
		fputc(' ', f);
		put_set(f, s->tune.iothread[i]);
		fputc('\n', f);
	}
	if (s->tune.mems) {
		fputs("pin-mems ", f);
		put_set(f, s->tune.mems);
		fputc('\n', f);
	}
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].sched_known) {
			char v[32];
			sched_format(s->threads[i].sched_policy, s->threads[i].sched_priority, v, sizeof(v));
			fprintf(f, "thread-sched %d %s\n", (int)s->threads[i].tid, v);
		}
	const struct cputune *t = &s->tune.cputune;
	if (t->weight)
		fprintf(f, "pin-cpu-weight %u\n", t->weight);
	if (t->quota_set)
		fprintf(f, "pin-cpu-quota %llu\n", (unsigned long long)t->quota_percent);
	if (t->period_us)
		fprintf(f, "pin-cpu-period %u\n", t->period_us);
	if (t->sched_set) {
		char v[32];
		sched_format(t->sched_policy, t->sched_priority, v, sizeof(v));
		fprintf(f, "pin-vcpu-sched %s\n", v);
	}
	fputs("end\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
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

static int set_list(struct idset **dst, const char *v)
{
	struct idset *s = NULL;
	int r = parse_set(v, &s);
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
		if (parse_int(f[1], &idx) < 0 || idx < 0 || idx > 1 << 20)
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
	if (strcmp(key, "pin-cpu-weight") == 0 || strcmp(key, "pin-cpu-period") == 0) {
		int v;
		if (parse_int(f[1], &v) < 0 || v < 1 || v > 1000000)
			return -EBADMSG;
		if (key[8] == 'w')
			s->tune.cputune.weight = (unsigned)v;
		else
			s->tune.cputune.period_us = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "pin-cpu-quota") == 0) {
		s->tune.cputune.quota_set = true;
		return parse_u64(f[1], &s->tune.cputune.quota_percent) < 0 ? -EBADMSG : 0;
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
	int r = id ? parse_set(f[2], &cpus) : -EBADMSG;
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

/* Keys of which a version 2 record has one at most. */
static bool single_key(const char *line)
{
	static const char *const keys[] = {"pid ", "starttime ", "name ", "mode ", "mount ", "vm-dir ", "root "};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (startswith(line, keys[i]))
			return true;
	return false;
}

int state_parse(const char *buf, struct vm_state *ret, size_t *err_line)
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
	/* v2: one origin per thread */
	for (size_t i = 0; r == 0 && version == 2 && i < s.n_threads; i++)
		for (size_t k = i + 1; r == 0 && k < s.n_threads; k++)
			if (s.threads[i].tid == s.threads[k].tid)
				r = -EBADMSG;
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

int state_check(const struct vm_state *s, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_free_ char *bad = NULL;
	int n = 0;
#define REFUSE(...)                                                                                \
	do {                                                                                       \
		n = asprintf(ret_why, __VA_ARGS__);                                                \
		if (n < 0)                                                                         \
			*ret_why = NULL;                                                           \
		return -EBADMSG;                                                                   \
	} while (0)
	/* Without the VM's own origin, unpin would have to guess where it came from. */
	if (!record_find_thread(s, s->pid))
		REFUSE("it does not say where the VM's main thread %d came from", (int)s->pid);
	if (s->backend == BACKEND_AFFINITY) {
		if (s->mount || s->vm_dir || s->n_created || s->n_enabled)
			REFUSE("an affinity-mode record that names cgroups");
		for (size_t i = 0; i < s->n_threads; i++)
			if (s->threads[i].cgroup && *s->threads[i].cgroup)
				REFUSE("an affinity-mode record that names a cgroup for thread %d", (int)s->threads[i].tid);
		return 0;
	}
	if (!s->mount || s->mount[0] != '/')
		REFUSE("its cgroup mount '%s' is not an absolute path", s->mount ? s->mount : "");
	if (!s->vm_dir || !*s->vm_dir || cg_path_check(s->vm_dir, &bad) < 0)
		REFUSE("its VM directory %s", bad ? bad : "is empty");
	_cleanup_free_ char *parent = layout_parent(s->vm_dir), *home = layout_home(s->vm_dir);
	if (!parent || !home)
		return -ENOMEM;
	/* A VM's directory is in a kvmcg/ tree, or directly below the --cgroup-root it
	 * was given: never an arbitrary cgroup someone else made. */
	bool in_tree = strcmp(home, s->vm_dir) != 0;
	if (s->root && (cg_path_check(s->root, &bad) < 0 || strcmp(parent, s->root) != 0))
		REFUSE("its VM directory /%s is not directly below its cgroup root /%s", s->vm_dir, s->root);
	if (!in_tree && !s->root)
		REFUSE("its VM directory /%s is neither inside a %s/ tree nor below a cgroup root it names", s->vm_dir,
		       LAYOUT_ROOT);
	const char *leaf = strrchr(s->vm_dir, '/');
	leaf = leaf ? leaf + 1 : s->vm_dir;
	for (size_t i = 0; i < s->n_created; i++) {
		const char *c = s->created[i];
		_cleanup_free_ char *up = layout_parent(c);
		if (!up)
			return -ENOMEM;
		const char *base = strrchr(c, '/') ? strrchr(c, '/') + 1 : c;
		if (cg_path_check(c, &bad) < 0)
			REFUSE("a directory it made: %s", bad);
		if (strcmp(c, s->vm_dir) != 0 && !(strcmp(up, s->vm_dir) == 0 && layout_child_shaped(base)))
			REFUSE("it lists /%s as made for the VM, which is neither its directory /%s nor one of its "
			       "children",
			       c, s->vm_dir);
	}
	for (size_t i = 0; i < s->n_enabled; i++) {
		const struct enabled_controller *e = &s->enabled[i];
		if (strcmp(e->dir, parent) != 0 || strcmp(leaf, LAYOUT_ROOT) != 0)
			REFUSE("it enabled a controller in /%s, which is not the cgroup the VM's tree /%s was built in",
			       e->dir, s->vm_dir);
		if (strcmp(e->controller, "cpuset") != 0 && strcmp(e->controller, "cpu") != 0)
			REFUSE("it enabled the controller '%s', which kvmcg never enables", e->controller);
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		const char *cg = s->threads[i].cgroup ? s->threads[i].cgroup : "";
		if (*cg == '/')
			cg++;
		if (*cg && cg_path_check(cg, &bad) < 0)
			REFUSE("the origin of thread %d: %s", (int)s->threads[i].tid, bad);
	}
#undef REFUSE
	return 0;
}

int state_dir_open(bool create)
{
	const char *path = getenv("KVMCG_STATE_DIR");
	if (!path || !*path)
		path = STATE_DIR_DEFAULT;
	_cleanup_free_ char *why = NULL;
	int fd = trust_open(path, O_RDONLY | O_DIRECTORY, create ? 0700 : 0, true, &why);
	if (fd < 0 && why)
		err_set("the state directory: %s", why);
	return fd;
}

static void state_name(char *buf, size_t size, pid_t pid, uint64_t starttime, const char *suffix)
{
	snprintf(buf, size, "%d-%llu.%s", (int)pid, (unsigned long long)starttime, suffix);
}

/* The one way a record is read: from a file kvmcg may trust, then checked. */
static int load_named(int dirfd, const char *name, struct vm_state *ret, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		if (asprintf(ret_why, "not a regular file") < 0)
			*ret_why = NULL;
		return -EBADMSG;
	}
	int r = trust_check_stat(&st, "the record", name, ret_why);
	/* its sentence names the file already */
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	r = read_fd(fd, &buf, NULL);
	if (r < 0)
		return r;
	size_t line = 0;
	struct vm_state s;
	r = state_parse(buf, &s, &line);
	if (r == -EBADMSG) {
		if (asprintf(ret_why, "damaged at line %zu", line) < 0)
			*ret_why = NULL;
		return r;
	}
	if (r < 0)
		return r;
	r = state_check(&s, ret_why);
	if (r < 0) {
		vm_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int state_load(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "state");
	_cleanup_free_ char *why = NULL;
	int r = load_named(dirfd, name, ret, &why);
	if (r == 0 && (ret->pid != pid || ret->starttime != starttime)) {
		vm_state_done(ret);
		r = -EBADMSG;
		if (asprintf(&why, "its pid and start time are another VM's") < 0)
			why = NULL;
	}
	if (r == -EPERM && why)
		err_set("%s", why);
	else if (r < 0 && why)
		err_set("refusing the record %s: %s", name, why);
	else if (r == -ELOOP)
		err_set("refusing the record %s: it is a symbolic link", name);
	else if (r < 0 && r != -ENOENT)
		err_set("cannot read the record %s: %s", name, strerror(-r));
	return r;
}

int state_save(int dirfd, const struct vm_state *s)
{
	static unsigned counter;
	char name[64], tmp[128];
	state_name(name, sizeof(name), s->pid, s->starttime, "state");
	_cleanup_free_ char *text = state_format(s);
	if (!text)
		return -ENOMEM;
	/* A name no other writer uses, even one that ignores the lock. */
	snprintf(tmp, sizeof(tmp), ".%s.%d.%u.tmp", name, (int)getpid(), counter++);
	_cleanup_close_ int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			unlinkat(dirfd, tmp, 0);
			return r;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		int r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return 0;
}

int state_remove(int dirfd, pid_t pid, uint64_t starttime)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "state");
	return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int state_load_all_checked(int dirfd, struct vm_state **ret, size_t *ret_n, char ***ret_problems)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	struct vm_state *v = NULL;
	size_t n = 0, n_problems = 0;
	char **problems = NULL;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 7 || strcmp(de->d_name + l - 6, ".state") != 0)
			continue;
		struct vm_state s;
		_cleanup_free_ char *why = NULL, *line = NULL;
		int k = load_named(dirfd, de->d_name, &s, &why);
		if (k == -ENOENT)
			continue; /* removed meanwhile */
		char want[64];
		if (k == 0) {
			state_name(want, sizeof(want), s.pid, s.starttime, "state");
			if (strcmp(want, de->d_name) != 0) {
				vm_state_done(&s);
				k = -EBADMSG;
				if (asprintf(&why, "its pid and start time are another VM's") < 0)
					why = NULL;
			}
		}
		if (k < 0) {
			/* a sentence, like state_load's */
			int n_line = k == -EPERM && why ? asprintf(&line, "%s", why)
							: asprintf(&line, "refusing the record %s: %s", de->d_name,
								   why ? why : strerror(-k));
			if (n_line < 0 ||
			    (ret_problems && strv_push(&problems, &n_problems, line) < 0))
				r = -ENOMEM;
			continue;
		}
		struct vm_state *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			vm_state_done(&s);
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = s;
	}
	closedir(d);
	if (r < 0) {
		vm_states_free(v, n);
		strv_free(problems);
		return r;
	}
	*ret = v;
	*ret_n = n;
	if (ret_problems)
		*ret_problems = problems;
	return 0;
}

int state_load_all(int dirfd, struct vm_state **ret, size_t *ret_n)
{
	return state_load_all_checked(dirfd, ret, ret_n, NULL);
}

/* "pid 123 (kvmcg pin)" from a lock file, or a generic word when it says nothing yet. */
static char *lock_holder(int fd)
{
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return strdup("another kvmcg run");
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strdup(buf);
}

int state_lock(int dirfd, pid_t pid, uint64_t starttime, int timeout_ms, const char *command, int *ret_fd,
	       char **ret_holder)
{
	char name[64];
	state_name(name, sizeof(name), pid, starttime, "lock");
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned wait_us = 1000;
	for (;;) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		if (fd < 0) {
			int r = -errno;
			if (r == -ELOOP)
				err_set("refusing the lock file %s: it is a symbolic link", name);
			return r;
		}
		/* kvmcg writes into it: it must be kvmcg's own file, not a link to another */
		struct stat lst;
		_cleanup_free_ char *why = NULL;
		if (fstat(fd, &lst) < 0)
			return -errno;
		if (!S_ISREG(lst.st_mode) || lst.st_nlink != 1) {
			err_set("refusing the lock file %s: %s", name,
				S_ISREG(lst.st_mode) ? "it has another name too (a hard link)" : "not a regular file");
			return -EPERM;
		}
		if (trust_check_stat(&lst, "the lock file", name, &why) < 0) {
			err_set("%s", why ? why : "refusing the lock file");
			return -EPERM;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK)
				return -errno;
			if (now_ns() >= deadline) {
				if (ret_holder)
					*ret_holder = lock_holder(fd);
				return -ETIMEDOUT;
			}
			usleep(wait_us);
			wait_us = wait_us < 16000 ? wait_us * 2 : wait_us;
			continue;
		}
		/* The holder before us may have removed the file it locked: then ours is
		 * a stale inode, and the lock is on the new file. */
		struct stat have, now;
		if (fstat(fd, &have) < 0)
			return -errno;
		if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || have.st_ino != now.st_ino ||
		    have.st_dev != now.st_dev)
			continue;
		char who[96];
		int len = snprintf(who, sizeof(who), "pid %d (kvmcg %s)\n", (int)getpid(), command);
		if (ftruncate(fd, 0) < 0 || pwrite(fd, who, (size_t)len, 0) != len) {
			/* the lock holds without the note */
		}
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
}

void state_unlock(int dirfd, pid_t pid, uint64_t starttime, int fd)
{
	if (fd < 0)
		return;
	char name[64], record[64];
	state_name(name, sizeof(name), pid, starttime, "lock");
	state_name(record, sizeof(record), pid, starttime, "state");
	struct stat st;
	/* Removed while held, so nobody locks a file that is about to go. */
	if (fstatat(dirfd, record, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		unlinkat(dirfd, name, 0);
	else if (ftruncate(fd, 0) < 0) {
		/* the next holder overwrites it */
	}
	close(fd);
}

void state_collect_locks(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		int pid = 0;
		unsigned long long start = 0;
		int n = 0;
		if (sscanf(de->d_name, "%d-%llu.lock%n", &pid, &start, &n) != 2 || de->d_name[n] || pid <= 0)
			continue;
		char record[64];
		struct stat st;
		state_name(record, sizeof(record), pid, start, "state");
		if (fstatat(dirfd, record, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		int lock = -1;
		if (state_lock(dirfd, pid, start, 0, "collect", &lock, NULL) == 0)
			state_unlock(dirfd, pid, start, lock);
	}
	closedir(d);
}
