// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/shared.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "state/json-strict.h"
#include "state/state.h"

#define SHARED_FILE "shared.json"
#define SHARED_LOCK "shared.lock"
/* {"changes": [{...}]}: three levels */
#define SHARED_DEPTH 4

static void change_done(struct shared_change *c)
{
	free(c->mount);
	free(c->dir);
	free(c->controller);
}

void shared_state_done(struct shared_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		change_done(&s->v[i]);
	free(s->v);
	*s = (struct shared_state){0};
}

static bool same_change(const struct shared_change *c, const char *mount, const char *dir, const char *controller)
{
	return strcmp(c->mount, mount) == 0 && strcmp(c->dir, dir) == 0 &&
	       strcmp(c->controller ? c->controller : "", controller ? controller : "") == 0;
}

ssize_t shared_find(const struct shared_state *s, const char *mount, const char *dir, const char *controller)
{
	for (size_t i = 0; i < s->n; i++)
		if (same_change(&s->v[i], mount, dir, controller))
			return (ssize_t)i;
	return -1;
}

int shared_add(struct shared_state *s, const char *mount, const char *dir, const char *controller)
{
	if (shared_find(s, mount, dir, controller) >= 0)
		return 0;
	struct shared_change *v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	struct shared_change c = {.mount = strdup(mount), .dir = strdup(dir), .controller = controller ? strdup(controller) : NULL};
	if (!c.mount || !c.dir || (controller && !c.controller)) {
		change_done(&c);
		return -ENOMEM;
	}
	s->v[s->n++] = c;
	return 0;
}

void shared_drop(struct shared_state *s, size_t i)
{
	change_done(&s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

char *shared_format(const struct shared_state *s)
{
	json_object *o = json_object_new_object(), *changes = json_object_new_array();
	int r = o && changes ? 0 : -ENOMEM;
	if (r == 0) {
		json_object_object_add(o, "version", json_object_new_int(SHARED_VERSION));
		json_object_object_add(o, "changes", changes);
	} else
		json_object_put(changes);
	for (size_t i = 0; r == 0 && i < s->n; i++) {
		const struct shared_change *c = &s->v[i];
		json_object *e = json_object_new_object();
		if (!e) {
			r = -ENOMEM;
			break;
		}
		json_object_object_add(e, "mount", json_object_new_string(c->mount));
		json_object_object_add(e, "dir", json_object_new_string(c->dir));
		if (c->controller)
			json_object_object_add(e, "enabled", json_object_new_string(c->controller));
		else
			json_object_object_add(e, "made", json_object_new_boolean(1));
		json_object_object_add(e, "done", json_object_new_boolean(c->done));
		if (c->done && !c->controller)
			json_object_object_add(e, "inode", json_object_new_uint64(c->inode));
		json_object_array_add(changes, e);
	}
	char *text = r == 0 ? json_text(o) : NULL;
	json_object_put(o);
	return text;
}

static int parse_change(json_object *e, size_t i, struct shared_state *s, char **why)
{
	if (!json_object_is_type(e, json_type_object))
		return json_bad(why, "its changes[%zu] is not an object", i);
	const char *mount = NULL, *dir = NULL, *controller = NULL;
	bool made = false, done = false, has_done = false, has_inode = false;
	uint64_t inode = 0;
	int r = 0;
	json_object_object_foreach(e, key, v) {
		if (r < 0)
			break;
		if (strcmp(key, "mount") == 0)
			r = json_get_string(v, "mount", &mount, why);
		else if (strcmp(key, "dir") == 0)
			r = json_get_string(v, "dir", &dir, why);
		else if (strcmp(key, "enabled") == 0)
			r = json_get_string(v, "enabled", &controller, why);
		else if (strcmp(key, "made") == 0) {
			if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v))
				r = json_bad(why, "its changes[%zu].made is not true", i);
			made = true;
		} else if (strcmp(key, "done") == 0) {
			if (!json_object_is_type(v, json_type_boolean))
				r = json_bad(why, "its changes[%zu].done is not true or false", i);
			done = json_object_get_boolean(v);
			has_done = true;
		} else if (strcmp(key, "inode") == 0) {
			/* json-c keeps an integer above INT64_MAX as a uint64 */
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
			    !(inode = json_object_get_uint64(v)))
				r = json_bad(why, "its changes[%zu].inode is not a positive integer", i);
			has_inode = true;
		} else
			r = json_bad(why, "its changes[%zu] has an unknown key \"%s\"", i, key);
	}
	if (r < 0)
		return r;
	_cleanup_free_ char *bad = NULL;
	if (!mount || mount[0] != '/')
		return json_bad(why, "its changes[%zu] has no absolute mount", i);
	if (!dir)
		return json_bad(why, "its changes[%zu] has no dir", i);
	if (*dir && cg_path_check(dir, &bad) < 0)
		return json_bad(why, "its changes[%zu].dir: %s", i, bad ? bad : "not a plain relative path");
	if (made == !!controller)
		return json_bad(why, "its changes[%zu] is not one of a directory made and a controller enabled", i);
	if (made && !*dir)
		return json_bad(why, "its changes[%zu] says kvmcg made the root of %s", i, mount);
	if (controller && strcmp(controller, "cpuset") != 0 && strcmp(controller, "cpu") != 0 &&
	    strcmp(controller, "io") != 0)
		return json_bad(why, "its changes[%zu] enabled the controller '%s', which kvmcg never enables", i,
				controller);
	if (!has_done)
		return json_bad(why, "its changes[%zu] has no \"done\"", i);
	if (has_inode != (made && done))
		return json_bad(why, "its changes[%zu] %s", i,
				has_inode ? "gives an inode, which only a directory made (and done) has"
					  : "is a directory made with no inode");
	if (shared_find(s, mount, dir, controller) >= 0)
		return json_bad(why, "its changes[%zu] is listed twice", i);
	r = shared_add(s, mount, dir, controller);
	if (r == 0) {
		s->v[s->n - 1].done = done;
		s->v[s->n - 1].inode = inode;
	}
	return r;
}

int shared_parse(const char *buf, struct shared_state *ret, char **ret_why)
{
	size_t line = 0;
	json_object *top = NULL;
	int r = json_strict_parse(buf, SHARED_DEPTH, SHARED_VERSION, &top, &line, ret_why);
	struct shared_state s = {0};
	json_object *changes = NULL;
	if (r == 0) {
		json_object_object_foreach(top, key, v) {
			(void)v;
			if (strcmp(key, "version") != 0 && strcmp(key, "changes") != 0)
				r = json_bad(ret_why, "it has an unknown key \"%s\"", key);
		}
	}
	if (r == 0 && (!json_object_object_get_ex(top, "changes", &changes) ||
		       !json_object_is_type(changes, json_type_array)))
		r = json_bad(ret_why, "it has no \"changes\" list");
	for (size_t i = 0; r == 0 && i < json_object_array_length(changes); i++)
		r = parse_change(json_object_array_get_idx(changes, i), i, &s, ret_why);
	json_object_put(top);
	if (r < 0) {
		shared_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int shared_load(int state_fd, struct shared_state *ret)
{
	*ret = (struct shared_state){0};
	_cleanup_free_ char *buf = NULL, *why = NULL;
	int r = state_read_trusted(state_fd, SHARED_FILE, "the list of shared cgroup changes", &buf, &why);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = shared_parse(buf, ret, &why);
	if (r == -ELOOP)
		err_set("refusing %s in the state directory: it is a symbolic link, and kvmcg follows none",
			SHARED_FILE);
	else if (r == -EPERM && why)
		err_set("%s", why); /* it names the file */
	else if (r < 0 && r != -ENOMEM)
		err_set("refusing %s in the state directory: %s", SHARED_FILE, why ? why : strerror(-r));
	return r;
}

int shared_save(int state_fd, const struct shared_state *s)
{
	if (s->n == 0)
		return unlinkat(state_fd, SHARED_FILE, 0) < 0 && errno != ENOENT ? -errno : 0;
	_cleanup_free_ char *text = shared_format(s);
	return text ? state_write_atomic(state_fd, SHARED_FILE, text) : -ENOMEM;
}

int shared_lock(int state_fd, int timeout_ms, const char *command, int *ret_fd, char **ret_holder)
{
	return state_lock_file(state_fd, SHARED_LOCK, timeout_ms, command, ret_fd, ret_holder);
}

void shared_unlock(int state_fd, int fd)
{
	if (fd < 0)
		return;
	/* Removed while held, when there is nothing to guard, so that a state directory
	 * with no VM in it is empty; a waiter that locked the old file sees its inode
	 * gone and opens the new one (state_lock_file). */
	struct stat st;
	if (fstatat(state_fd, SHARED_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		unlinkat(state_fd, SHARED_LOCK, 0);
	close(fd);
}
