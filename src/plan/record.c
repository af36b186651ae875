// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

void vm_state_done(struct vm_state *s)
{
	free(s->name);
	free(s->mount);
	free(s->vm_dir);
	free(s->root);
	strv_free(s->created);
	for (size_t i = 0; i < s->n_enabled; i++) {
		free(s->enabled[i].dir);
		free(s->enabled[i].controller);
	}
	free(s->enabled);
	record_restore_free(s->restore, s->n_restore);
	for (size_t i = 0; i < s->n_threads; i++) {
		free(s->threads[i].cgroup);
		idset_free(s->threads[i].affinity);
	}
	free(s->threads);
	vm_tune_done(&s->tune);
	free(s->mem_origin);
	*s = (struct vm_state){0};
}

/* *ret = a copy of s; NULL stays NULL. */
static int str_copy(const char *s, char **ret)
{
	*ret = s ? strdup(s) : NULL;
	return s && !*ret ? -ENOMEM : 0;
}

int vm_state_copy(const struct vm_state *s, struct vm_state *ret)
{
	struct vm_state c = {.pid = s->pid, .starttime = s->starttime, .backend = s->backend, .launched = s->launched};
	int r = str_copy(s->name, &c.name);
	if (r == 0 && s->n_mem_origin) {
		c.mem_origin = malloc(s->n_mem_origin * sizeof(*c.mem_origin));
		r = c.mem_origin ? 0 : -ENOMEM;
		if (r == 0) {
			memcpy(c.mem_origin, s->mem_origin, s->n_mem_origin * sizeof(*c.mem_origin));
			c.n_mem_origin = s->n_mem_origin;
		}
	}
	if (r == 0)
		r = str_copy(s->mount, &c.mount);
	if (r == 0)
		r = str_copy(s->vm_dir, &c.vm_dir);
	if (r == 0)
		r = str_copy(s->root, &c.root);
	for (size_t i = 0; r == 0 && i < s->n_created; i++)
		r = strv_push(&c.created, &c.n_created, s->created[i]);
	if (r == 0 && s->n_enabled) {
		c.enabled = calloc(s->n_enabled, sizeof(*c.enabled));
		r = c.enabled ? 0 : -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < s->n_enabled; i++) {
		c.n_enabled++; /* freed by vm_state_done from here on */
		r = str_copy(s->enabled[i].dir, &c.enabled[i].dir);
		if (r == 0)
			r = str_copy(s->enabled[i].controller, &c.enabled[i].controller);
	}
	for (size_t i = 0; r == 0 && i < s->n_restore; i++)
		r = record_add_restore(&c, s->restore[i].dir, s->restore[i].file, s->restore[i].line);
	if (r == 0 && s->n_threads) {
		c.threads = calloc(s->n_threads, sizeof(*c.threads));
		r = c.threads ? 0 : -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < s->n_threads; i++) {
		const struct thread_origin *o = &s->threads[i];
		c.threads[i] = (struct thread_origin){.tid = o->tid, .sched_known = o->sched_known,
						      .sched_policy = o->sched_policy,
						      .sched_priority = o->sched_priority};
		c.n_threads++;
		r = str_copy(o->cgroup, &c.threads[i].cgroup);
		if (r == 0 && o->affinity && !(c.threads[i].affinity = idset_dup(o->affinity)))
			r = -ENOMEM;
	}
	if (r == 0)
		r = vm_tune_copy(&s->tune, &c.tune);
	if (r < 0) {
		vm_state_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

const struct thread_origin *record_find_thread(const struct vm_state *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

/* A line's fields ("rbps=max") that the earlier line of the same key has not: added
 * to it, so that the line puts back every field kvmcg changed, each as it was first. */
static int merge_fields(struct restore_line *l, const char *line)
{
	for (const char *p = strchr(line, ' '); p && *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " "), nl = strcspn(p, "= ");
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)nl, p);
		if (nl < n && !cg_line_field(l->line, name, NULL, 0)) {
			char *more = NULL;
			if (asprintf(&more, "%s %.*s", l->line, (int)n, p) < 0)
				return -ENOMEM;
			free(l->line);
			l->line = more;
		}
		p += n;
	}
	return 0;
}

void record_restore_free(struct restore_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].dir);
		free(v[i].file);
		free(v[i].line);
	}
	free(v);
}

int record_add_restore(struct vm_state *st, const char *dir, const char *file, const char *line)
{
	size_t kl = strcspn(line, " ");
	for (size_t i = 0; i < st->n_restore; i++) {
		struct restore_line *l = &st->restore[i];
		if (strcmp(l->dir, dir) == 0 && strcmp(l->file, file) == 0 && strcspn(l->line, " ") == kl &&
		    strncmp(l->line, line, kl) == 0)
			return merge_fields(l, line);
	}
	struct restore_line *n = realloc(st->restore, (st->n_restore + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->restore = n;
	n[st->n_restore] = (struct restore_line){strdup(dir), strdup(file), strdup(line)};
	if (!n[st->n_restore].dir || !n[st->n_restore].file || !n[st->n_restore].line) {
		free(n[st->n_restore].dir);
		free(n[st->n_restore].file);
		free(n[st->n_restore].line);
		return -ENOMEM;
	}
	st->n_restore++;
	return 0;
}
