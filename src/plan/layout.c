// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

unsigned layout_hash(const char *s)
{
	unsigned h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

/* Cuts s (len bytes, already safe) to LAYOUT_NAME_MAX with "-" and a hash of whole. */
static char *bounded(const char *s, size_t len, const char *whole)
{
	if (len <= LAYOUT_NAME_MAX)
		return strndup(s, len);
	char *out = NULL;
	if (asprintf(&out, "%.*s-%08x", LAYOUT_NAME_MAX - 9, s, layout_hash(whole)) < 0)
		return NULL;
	return out;
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

char *layout_vm_name(const char *name)
{
	if (!name)
		return NULL;
	size_t len = strlen(name);
	_cleanup_free_ char *out = malloc(len + 1);
	if (!out)
		return NULL;
	bool useful = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool ok = name_char(c) || c == '_';
		out[i] = ok ? (char)c : '_';
		useful |= ok && c != '_' && c != '-';
	}
	out[len] = '\0';
	/* v1 interface files without a dot */
	if (!useful || strcmp(out, "tasks") == 0 || strcmp(out, "notify_on_release") == 0 ||
	    strcmp(out, "release_agent") == 0)
		return NULL;
	return bounded(out, len, name);
}

char *layout_child_name(const struct vm_thread *t)
{
	char *s = NULL;
	if (t->kind == THREAD_VCPU)
		return asprintf(&s, "vcpu%d", t->vcpu_index) < 0 ? NULL : s;
	if (t->kind != THREAD_IOTHREAD)
		return strdup(LAYOUT_EMULATOR);
	/* Injective, unlike layout_vm_name: "io.1" and "io_1" are two iothreads and must
	 * not share a cgroup. */
	const char *id = t->iothread_id ? t->iothread_id : "";
	_cleanup_free_ char *enc = malloc(strlen("iothread-") + strlen(id) * 3 + 1);
	if (!enc)
		return NULL;
	char *e = enc + sprintf(enc, "iothread-");
	for (const unsigned char *c = (const unsigned char *)id; *c; c++)
		e += name_char(*c) ? sprintf(e, "%c", *c) : sprintf(e, "_%02x", *c);
	return bounded(enc, (size_t)(e - enc), id);
}

char *layout_child_path(const char *vm_dir, const struct vm_thread *t)
{
	_cleanup_free_ char *name = t ? layout_child_name(t) : strdup(LAYOUT_EMULATOR);
	char *s = NULL;
	if (!name || asprintf(&s, "%s%s%s", vm_dir ? vm_dir : "", vm_dir && *vm_dir ? "/" : "", name) < 0)
		return NULL;
	return s;
}

bool layout_child_shaped(const char *name)
{
	if (strcmp(name, LAYOUT_EMULATOR) == 0)
		return true;
	if (startswith(name, "vcpu") && name[4]) {
		for (const char *c = name + 4; *c; c++)
			if (*c < '0' || *c > '9')
				return false;
		return true;
	}
	if (!startswith(name, "iothread-") || !name[9] || strlen(name) > LAYOUT_NAME_MAX)
		return false;
	for (const unsigned char *c = (const unsigned char *)name + 9; *c; c++)
		if (!name_char(*c) && *c != '_')
			return false;
	return true;
}

const char *layout_move_file(enum pin_backend backend)
{
	return backend == BACKEND_CGROUP_V2 ? "cgroup.threads" : "tasks";
}

/* The first component of path named LAYOUT_ROOT, or NULL. */
static const char *kvmcg_component(const char *p)
{
	for (const char *c = p; *c;) {
		size_t l = strcspn(c, "/");
		if (l == strlen(LAYOUT_ROOT) && strncmp(c, LAYOUT_ROOT, l) == 0)
			return c;
		c += l;
		if (*c == '/')
			c++;
	}
	return NULL;
}

char *layout_home(const char *path)
{
	const char *p = cg_relative(path);
	const char *c = kvmcg_component(p);
	return c ? strndup(p, c > p ? (size_t)(c - p - 1) : 0) : strdup(p);
}

bool layout_in_kvmcg_tree(const char *path)
{
	return path && kvmcg_component(cg_relative(path)) != NULL;
}

bool layout_built_in_place(const char *vm_dir)
{
	const char *leaf = strrchr(vm_dir, '/');
	return strcmp(leaf ? leaf + 1 : vm_dir, LAYOUT_ROOT) == 0;
}

char *layout_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	return strndup(path, slash ? (size_t)(slash - path) : 0);
}

const char *layout_kind_name(enum layout_kind k)
{
	switch (k) {
	case LAYOUT_KEPT:
		return "kept";
	case LAYOUT_GIVEN:
		return "cgroup-root";
	case LAYOUT_TOP:
		return "top";
	case LAYOUT_IN_PLACE:
		return "in-place";
	}
	return "?";
}

int layout_choose(const struct layout_facts *f, enum layout_kind *ret_kind, char **ret_parent)
{
	enum layout_kind k;
	char *parent;
	if (f->recorded_vm_dir) {
		parent = layout_parent(f->recorded_vm_dir);
		if (parent && f->cgroup_root && strcmp(parent, f->cgroup_root) != 0) {
			free(parent);
			return -EEXIST;
		}
		k = LAYOUT_KEPT;
	} else if (f->cgroup_root) {
		parent = strdup(f->cgroup_root);
		k = LAYOUT_GIVEN;
	} else if (!*f->home) {
		parent = strdup(LAYOUT_ROOT);
		k = LAYOUT_TOP;
	} else if (f->alone) {
		parent = strdup(f->home);
		k = LAYOUT_IN_PLACE;
	} else {
		return -EBUSY;
	}
	if (!parent)
		return -ENOMEM;
	*ret_kind = k;
	*ret_parent = parent;
	return 0;
}

const char *layout_owned_root(enum layout_kind k, const char *vm_dir, const char *cgroup_root)
{
	switch (k) {
	case LAYOUT_TOP:
		return LAYOUT_ROOT;
	case LAYOUT_GIVEN:
		return cgroup_root;
	case LAYOUT_KEPT:
	case LAYOUT_IN_PLACE:
		break;
	}
	return vm_dir;
}

char *layout_v1tree_dir(const char *vm_dir, const char *name, pid_t pid)
{
	_cleanup_free_ char *parent = layout_parent(vm_dir), *safe = name ? layout_vm_name(name) : NULL;
	if (!parent || (name && !safe))
		return NULL;
	char *dir = NULL;
	const char *leaf = strrchr(vm_dir, '/');
	/* kvmcg/<vm>: the name is this VM's among the living (place.c), in both hierarchies */
	if (strcmp(parent, LAYOUT_ROOT) == 0 && leaf)
		return asprintf(&dir, "%s/%s", LAYOUT_ROOT, leaf + 1) < 0 ? NULL : dir;
	/* '.' is in no name layout_vm_name gives: never one of the names above */
	if ((safe ? asprintf(&dir, "%s/%s.%d", LAYOUT_ROOT, safe, (int)pid)
		  : asprintf(&dir, "%s/%d", LAYOUT_ROOT, (int)pid)) < 0)
		return NULL;
	return dir;
}
