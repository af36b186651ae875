// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/record.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "plan/layout.h"

void vm_state_done(struct vm_state *s)
{
	free(s->name);
	free(s->mount);
	free(s->vm_dir);
	free(s->root);
	strv_free(s->created);
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		free(s->v1[t].mount);
		free(s->v1[t].vm_dir);
		strv_free(s->v1[t].created);
	}
	for (size_t i = 0; i < s->n_enabled; i++) {
		free(s->enabled[i].dir);
		free(s->enabled[i].controller);
	}
	free(s->enabled);
	record_restore_free(s->restore, s->n_restore);
	net_changes_free(s->net, s->n_net);
	for (size_t i = 0; i < s->n_threads; i++) {
		free(s->threads[i].cgroup);
		for (int t = 0; t < V1_TREE_N; t++)
			free(s->threads[i].v1_cgroup[t]);
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
	for (int t = V1_TREE_NONE + 1; r == 0 && t < V1_TREE_N; t++) {
		r = str_copy(s->v1[t].mount, &c.v1[t].mount);
		if (r == 0)
			r = str_copy(s->v1[t].vm_dir, &c.v1[t].vm_dir);
		for (size_t i = 0; r == 0 && i < s->v1[t].n_created; i++)
			r = strv_push(&c.v1[t].created, &c.v1[t].n_created, s->v1[t].created[i]);
	}
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
	for (size_t i = 0; r == 0 && i < s->n_net; i++)
		r = record_add_net(&c, &s->net[i]);
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
		for (int t = 0; r == 0 && t < V1_TREE_N; t++)
			r = str_copy(o->v1_cgroup[t], &c.threads[i].v1_cgroup[t]);
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

/* One v1 tree of s: 0, or -EBADMSG with what is wrong around the controller's name
 * (*ret_pre, *ret_post: fixed text) and the offending path (*ret_bad, the caller's). */
static int check_v1tree(const struct vm_state *s, enum v1_tree t, const char **ret_pre, const char **ret_post,
			char **ret_bad)
{
	const struct v1_tree_record *v = &s->v1[t];
	_cleanup_free_ char *parent = NULL;
	bool tree = v->mount || v->vm_dir || v->n_created;
	const char *pre = "its v1 ", *post = NULL;
	if (tree && s->backend != BACKEND_CGROUP_V1) {
		pre = "a v1 ";
		post = " tree in a record that is not of the v1 mode";
	} else if (tree && (!v->mount || v->mount[0] != '/'))
		post = " mount is not an absolute path";
	else if (tree && (!v->vm_dir || cg_path_check(v->vm_dir, ret_bad) < 0 ||
			  !(parent = layout_parent(v->vm_dir)) || strcmp(parent, LAYOUT_ROOT) != 0)) {
		pre = "its VM directory in the v1 ";
		post = " hierarchy is not kvmcg/<name>";
	}
	for (size_t i = 0; !post && i < v->n_created; i++)
		if (strcmp(v->created[i], v->vm_dir) != 0) {
			pre = "it lists a directory made in the v1 ";
			post = " hierarchy that is not the VM's there";
		}
	for (size_t i = 0; !post && i < s->n_threads; i++) {
		const char *cg = s->threads[i].v1_cgroup[t];
		pre = "it gives a thread's v1 ";
		if (cg && !tree)
			post = " cgroup without such a tree";
		else if (cg && ((*cg_relative(cg) && cg_path_check(cg_relative(cg), ret_bad) < 0) ||
				layout_in_kvmcg_tree(cg)))
			post = " cgroup that is not a plain path outside kvmcg's trees";
	}
	*ret_pre = pre;
	*ret_post = post;
	return post ? -EBADMSG : 0;
}

int record_check_v1trees(const struct vm_state *s, char **ret_why)
{
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		_cleanup_free_ char *bad = NULL;
		const char *pre, *post;
		if (check_v1tree(s, (enum v1_tree)t, &pre, &post, &bad) == 0)
			continue;
		if (asprintf(ret_why, "%s%s%s%s%s", pre, v1_tree_controller((enum v1_tree)t), post, bad ? ": " : "",
			     bad ? bad : "") < 0)
			*ret_why = NULL;
		return -EBADMSG;
	}
	return 0;
}

const struct v1_tree_record *record_v1_left(const struct vm_state *s)
{
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++)
		if (s->v1[t].n_created)
			return &s->v1[t];
	return NULL;
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

static const char *const net_added_names[] = {
	[NET_ADDED_ROOT] = "root",
	[NET_ADDED_INGRESS] = "ingress",
	[NET_ADDED_IFB] = "ifb",
	[NET_ADDED_CLASS] = "class",
};

const char *net_added_name(enum net_added a)
{
	return (unsigned)a < ARRAY_SIZE(net_added_names) ? net_added_names[a] : "?";
}

int net_added_parse(const char *s, enum net_added *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(net_added_names); i++)
		if (strcmp(s, net_added_names[i]) == 0) {
			*ret = (enum net_added)i;
			return 0;
		}
	return -EINVAL;
}

void net_change_done(struct net_change *c)
{
	free(c->kind);
	free(c->was_kind);
	free(c->was_options);
	c->kind = c->was_kind = NULL;
	c->was_options = NULL;
}

void net_changes_free(struct net_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		net_change_done(&v[i]);
	free(v);
}

const struct net_change *record_find_net(const struct vm_state *st, enum net_added what, const char *dev,
					 int ifindex)
{
	for (size_t i = 0; st && i < st->n_net; i++) {
		const struct net_change *c = &st->net[i];
		/* a tap by its index (it may have been renamed since), an IFB by its name */
		if (c->what == what && (what == NET_ADDED_IFB	 ? strcmp(c->dev, dev) == 0
					: what == NET_ADDED_CLASS ? c->port == ifindex
								  : c->ifindex == ifindex))
			return c;
	}
	return NULL;
}

int record_add_net(struct vm_state *st, const struct net_change *c)
{
	struct net_change *v = realloc(st->net, (st->n_net + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	st->net = v;
	struct net_change *n = &v[st->n_net];
	*n = *c;
	n->kind = NULL;
	n->was_kind = NULL;
	n->was_options = NULL;
	if ((c->kind && !(n->kind = strdup(c->kind))) || (c->was_kind && !(n->was_kind = strdup(c->was_kind))) ||
	    (c->was_len && !(n->was_options = malloc(c->was_len)))) {
		net_change_done(n);
		return -ENOMEM;
	}
	if (c->was_len)
		memcpy(n->was_options, c->was_options, c->was_len);
	st->n_net++;
	return 0;
}

void net_ifb_name(pid_t pid, uint64_t starttime, const char *tap, char ret[IF_NAMESIZE])
{
	char key[96];
	snprintf(key, sizeof(key), "%d:%llu:%s", (int)pid, (unsigned long long)starttime, tap);
	snprintf(ret, IF_NAMESIZE, "kvmcg%08x", layout_hash(key));
}

bool net_ifb_name_valid(const char *name)
{
	if (strncmp(name, "kvmcg", 5) != 0 || strlen(name) != 13)
		return false;
	for (const char *p = name + 5; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}
