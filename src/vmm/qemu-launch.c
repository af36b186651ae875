// SPDX-License-Identifier: GPL-2.0-or-later
/* The command line kvmcg run starts (qemu-launch.h).
 *
 * How QEMU 7.2 reads a memory backend's host-nodes= in -object's keyval form: the
 * system emulator does not use keyval_parse() (util/keyval.c, which
 * user_creatable_parse_str() in qom/object_interfaces.c uses for qemu-img and the
 * storage daemon) but QemuOpts (softmmu/vl.c object_option_parse(), util/qemu-option.c)
 * read through the opts visitor (qapi/opts-visitor.c). That visitor turns a repeated
 * key into list elements and takes "LO-HI" as a range of integers. Run against QEMU
 * 7.2 (Debian's 1:7.2+dfsg-7) with -machine none on a one-node host, query-memdev
 * answering:
 *   host-nodes=0-1                  [0, 1]
 *   host-nodes=0,host-nodes=2-3     [0, 2, 3] (and the same in the other order)
 *   host-nodes=0,host-nodes=0       [0]
 *   host-nodes.0=0,host-nodes.1=1   refused while parsing: "Invalid parameter 'host-nodes.1'"
 *   host-nodes=0:1, host-nodes=x    refused while parsing: "expects a uint64 value or range"
 *   host-nodes=1 (no such node)     parsed, then "cannot bind memory to host NUMA nodes:
 *                                   Invalid argument" (mbind(2)) when the backend is made
 *   host-nodes=128                  "Invalid host-nodes value: 128" (MAX_NODES)
 *   host-nodes=0 without policy=    "host-nodes must be empty for policy default"
 *   policy=preferred,...,policy=bind  bind: the last of a repeated scalar key wins
 * So a set is written as one host-nodes= per range. The JSON form takes a list,
 * "host-nodes":[0,2,3]. */
#include "vmm/qemu-launch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/err.h"
#include "basic/util.h"
#include "vmm/qemu-argv.h"

static const char *const policy_names[] = {
	[QEMU_HOST_POLICY_DEFAULT] = "default",
	[QEMU_HOST_POLICY_PREFERRED] = "preferred",
	[QEMU_HOST_POLICY_BIND] = "bind",
	[QEMU_HOST_POLICY_INTERLEAVE] = "interleave",
};

const char *qemu_host_policy_name(enum qemu_host_policy p)
{
	return (unsigned)p < ARRAY_SIZE(policy_names) ? policy_names[p] : "default";
}

static int host_policy_parse(const char *s, enum qemu_host_policy *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(policy_names); i++)
		if (strcmp(s, policy_names[i]) == 0) {
			*ret = (enum qemu_host_policy)i;
			return 0;
		}
	return -EINVAL;
}

static void backend_done(struct qemu_backend *b)
{
	free(b->type);
	free(b->id);
	idset_free(b->host_nodes);
}

void qemu_launch_info_done(struct qemu_launch_info *i)
{
	free(i->pidfile);
	free(i->name);
	strv_free(i->qmp_paths);
	for (size_t k = 0; k < i->n_backends; k++)
		backend_done(&i->backends[k]);
	free(i->backends);
	for (size_t k = 0; k < i->n_cells; k++) {
		free(i->cells[k].memdev);
		free(i->cells[k].mem);
	}
	free(i->cells);
	*i = (struct qemu_launch_info){0};
}

/* A number as the opts visitor reads one (qemu_strtou64(), base 0: 10, 0x1a, 017),
 * below QEMU_MAX_NODES; *end is what follows it. */
static int parse_node(const char *s, unsigned *ret, const char **end)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 0);
	if (errno || e == s)
		return -EINVAL;
	if (v >= QEMU_MAX_NODES)
		return -ERANGE;
	*ret = (unsigned)v;
	*end = e;
	return 0;
}

/* "N" or "LO-HI" into s. */
static int add_node_range(struct idset *s, const char *v)
{
	unsigned lo, hi;
	const char *e;
	int r = parse_node(v, &lo, &e);
	if (r < 0)
		return r;
	hi = lo;
	if (*e == '-' && (r = parse_node(e + 1, &hi, &e)) < 0)
		return r;
	if (*e || hi < lo)
		return -EINVAL;
	for (unsigned n = lo; n <= hi; n++)
		if ((r = idset_set(s, n)) < 0)
			return r;
	return 0;
}

/* ---- -object --------------------------------------------------------------------------- */

struct backend_opts {
	struct qemu_backend b;
	const char *bad_key; /* the first key whose value does not parse */
	int bad_r;
};

static int backend_opt(const char *key, const char *value, void *userdata)
{
	struct backend_opts *o = userdata;
	int r = 0;
	if (strcmp(key, "qom-type") == 0)
		return free_and_strdup(&o->b.type, value);
	if (strcmp(key, "id") == 0) /* util/qemu-option.c opts_parse_id(): the first */
		return o->b.id ? 0 : free_and_strdup(&o->b.id, value);
	if (strcmp(key, "host-nodes") == 0) {
		if (!o->b.host_nodes && !(o->b.host_nodes = idset_new()))
			return -ENOMEM;
		r = add_node_range(o->b.host_nodes, value); /* repeated: one list */
		if (r == -ENOMEM)
			return r;
	} else if (strcmp(key, "policy") == 0) {
		r = host_policy_parse(value, &o->b.policy); /* repeated: the last wins */
		o->b.policy_given = true;
	}
	if (r < 0 && !o->bad_key) {
		o->bad_key = strcmp(key, "policy") == 0 ? "policy" : "host-nodes";
		o->bad_r = r;
	}
	return 0;
}

static bool is_backend_type(const char *t)
{
	return t && startswith(t, "memory-backend-");
}

static int backend_from_keyval(const char *val, struct qemu_backend *ret)
{
	struct backend_opts o = {0};
	int r = qemu_opts_foreach(val, "qom-type", backend_opt, &o);
	if (r == 0 && is_backend_type(o.b.type) && o.bad_key) {
		err_set("-object %s: %s", val,
			strcmp(o.bad_key, "policy") == 0
				? "policy= expects default, preferred, bind or interleave"
				: o.bad_r == -ERANGE ? "host-nodes= takes host nodes 0 to 127 only (QEMU's MAX_NODES)"
						     : "host-nodes= expects a node or a range LO-HI");
		r = -EINVAL;
	}
	if (r < 0 || !is_backend_type(o.b.type) || !o.b.id) {
		backend_done(&o.b);
		return r < 0 ? r : 0;
	}
	*ret = o.b;
	return 1;
}

/* json-c reads more than JSON (comments, single quotes, as QEMU's own parser does the
 * latter); what matters is that QEMU and kvmcg see one object. */
static json_object *parse_json_object(const char *s)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return NULL;
	size_t len = strlen(s);
	json_object *j = len < INT_MAX ? json_tokener_parse_ex(tok, s, (int)len) : NULL;
	size_t end = j ? (size_t)tok->char_offset : 0;
	while (end < len && strchr(" \t\r\n", s[end]))
		end++;
	if (j && (json_tokener_get_error(tok) != json_tokener_success || end != len ||
		  !json_object_is_type(j, json_type_object))) {
		json_object_put(j);
		j = NULL;
	}
	json_tokener_free(tok);
	return j;
}

static const char *json_str(json_object *j, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(j, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int json_host_nodes(json_object *list, struct idset **ret)
{
	if (!json_object_is_type(list, json_type_array))
		return -EINVAL;
	_cleanup_cpuset_ struct idset *s = idset_new();
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		if (!json_object_is_type(e, json_type_int))
			return -EINVAL;
		int64_t v = json_object_get_int64(e);
		if (v < 0 || v >= QEMU_MAX_NODES)
			return -ERANGE;
		int r = idset_set(s, (unsigned)v);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

static int backend_from_json(const char *val, struct qemu_backend *ret)
{
	json_object *j = parse_json_object(val);
	if (!j) {
		err_set("-object %s: starts with '{' but is not one JSON object (QEMU 6.0 and later read such a value as JSON)",
			val);
		return -EINVAL;
	}
	struct qemu_backend b = {.json = true};
	const char *type = json_str(j, "qom-type"), *id = json_str(j, "id"), *policy;
	json_object *nodes;
	int r = 0;
	if (!is_backend_type(type) || !id)
		goto out;
	if (json_object_object_get_ex(j, "host-nodes", &nodes) && (r = json_host_nodes(nodes, &b.host_nodes)) < 0) {
		if (r != -ENOMEM) {
			err_set("-object %s: \"host-nodes\" expects a list of host nodes from 0 to 127", val);
			r = -EINVAL;
		}
		goto out;
	}
	if (json_object_object_get_ex(j, "policy", NULL)) {
		b.policy_given = true;
		if (!(policy = json_str(j, "policy")) || host_policy_parse(policy, &b.policy) < 0) {
			err_set("-object %s: \"policy\" expects \"default\", \"preferred\", \"bind\" or \"interleave\"", val);
			r = -EINVAL;
			goto out;
		}
	}
	if (free_and_strdup(&b.type, type) < 0 || free_and_strdup(&b.id, id) < 0) {
		r = -ENOMEM;
		goto out;
	}
	*ret = b;
	b = (struct qemu_backend){0};
	r = 1;
out:
	backend_done(&b);
	json_object_put(j);
	return r;
}

static int inspect_object(struct qemu_launch_info *info, const char *val, size_t argi)
{
	struct qemu_backend b;
	int r = val[0] == '{' ? backend_from_json(val, &b) : backend_from_keyval(val, &b);
	if (r <= 0)
		return r;
	b.argi = argi;
	for (size_t i = 0; i < info->n_backends; i++)
		if (strcmp(info->backends[i].id, b.id) == 0) {
			err_set("-object %s: a second memory backend with id=%s (QEMU refuses a duplicate id)", val, b.id);
			backend_done(&b);
			return -EINVAL;
		}
	struct qemu_backend *n = realloc(info->backends, (info->n_backends + 1) * sizeof(*n));
	if (!n) {
		backend_done(&b);
		return -ENOMEM;
	}
	info->backends = n;
	n[info->n_backends++] = b;
	return 0;
}

/* ---- -numa ------------------------------------------------------------------------------ */

struct numa_opts {
	char *type, *nodeid, *memdev, *mem;
};

static int numa_opt(const char *key, const char *value, void *userdata)
{
	struct numa_opts *o = userdata;
	char **dst = strcmp(key, "type") == 0     ? &o->type
		     : strcmp(key, "nodeid") == 0 ? &o->nodeid
		     : strcmp(key, "memdev") == 0 ? &o->memdev
		     : strcmp(key, "mem") == 0    ? &o->mem
						  : NULL;
	return dst ? free_and_strdup(dst, value) : 0;
}

static void numa_opts_done(struct numa_opts *o)
{
	free(o->type);
	free(o->nodeid);
	free(o->memdev);
	free(o->mem);
}

/* hw/core/numa.c parse_numa_node(): a node without nodeid= is numbered by the count of
 * nodes before it (num_nodes); a number given twice, or MAX_NODES and above, is refused. */
static int add_numa_cell(struct qemu_launch_info *info, struct numa_opts *o, const char *val, size_t argi)
{
	int nodeid = (int)info->n_cells;
	if (o->nodeid && (parse_int(o->nodeid, &nodeid) < 0 || nodeid < 0 || nodeid >= QEMU_MAX_NODES)) {
		err_set("-numa %s: nodeid= expects a guest NUMA cell from 0 to %d", val, QEMU_MAX_NODES - 1);
		return -EINVAL;
	}
	if (nodeid >= QEMU_MAX_NODES) {
		err_set("-numa %s: more guest NUMA cells than QEMU takes (%d)", val, QEMU_MAX_NODES);
		return -EINVAL;
	}
	for (size_t i = 0; i < info->n_cells; i++)
		if (info->cells[i].nodeid == nodeid) {
			err_set("-numa %s: guest NUMA cell %d is given twice (QEMU refuses it)", val, nodeid);
			return -EINVAL;
		}
	if (o->mem && o->memdev) {
		err_set("-numa %s: mem= and memdev= together (QEMU refuses it)", val);
		return -EINVAL;
	}
	struct qemu_numa_cell *n = realloc(info->cells, (info->n_cells + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	info->cells = n;
	n[info->n_cells++] = (struct qemu_numa_cell){
		.argi = argi, .nodeid = nodeid, .memdev = TAKE_PTR(o->memdev), .legacy_mem = o->mem != NULL,
		.mem = TAKE_PTR(o->mem)};
	return 0;
}

static int inspect_numa(struct qemu_launch_info *info, const char *val, size_t argi)
{
	struct numa_opts o = {0};
	int r = qemu_opts_foreach(val, "type", numa_opt, &o);
	if (r == 0 && o.type && strcmp(o.type, "node") == 0)
		r = add_numa_cell(info, &o, val, argi);
	numa_opts_done(&o);
	return r;
}

int qemu_launch_inspect(char *const *argv, size_t argc, struct qemu_launch_info *ret)
{
	struct qemu_config cfg = {0};
	int r = qemu_config_parse(argv, argc, &cfg);
	if (r < 0)
		return r;
	struct qemu_launch_info info = {
		.name = TAKE_PTR(cfg.name),
		.pidfile = TAKE_PTR(cfg.pidfile),
		.qmp_paths = TAKE_PTR(cfg.qmp_paths),
		.n_qmp_paths = cfg.n_qmp_paths,
	};
	qemu_config_done(&cfg);

	struct qemu_arg a;
	for (size_t i = 1; r == 0 && qemu_argv_next(argv, argc, &i, &a);) {
		if (!a.opt)
			continue;
		if (!a.val && qemu_opt_takes_arg(a.opt)) {
			/* run adds options after the user's: they must not become its value */
			err_set("%s, the last argument, has no value (QEMU refuses it: \"requires an argument\")",
				argv[a.opt_i]);
			r = -EINVAL;
		} else if (strcmp(a.opt, "S") == 0)
			info.has_S = true;
		else if (strcmp(a.opt, "daemonize") == 0)
			info.daemonize = true;
		else if (strcmp(a.opt, "numa") == 0 && a.val)
			r = inspect_numa(&info, a.val, a.val_i);
		else if (strcmp(a.opt, "object") == 0 && a.val)
			r = inspect_object(&info, a.val, a.val_i);
	}
	if (r < 0) {
		qemu_launch_info_done(&info);
		return r;
	}
	*ret = info;
	return 0;
}

/* ---- building ---------------------------------------------------------------------------- */

/* The set as QEMU's opts visitor takes it: "host-nodes=0,host-nodes=2-3". */
static char *keyval_nodes(const struct idset *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	int last = idset_last(s);
	const char *sep = "";
	for (int n = 0; n <= last; n++) {
		if (!idset_isset(s, (unsigned)n))
			continue;
		int hi = n;
		while (hi < last && idset_isset(s, (unsigned)hi + 1))
			hi++;
		if (hi == n)
			fprintf(f, "%shost-nodes=%d", sep, n);
		else
			fprintf(f, "%shost-nodes=%d-%d", sep, n, hi);
		sep = ",";
		n = hi;
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Whether a QemuOpts string ends with a separating ',' (an odd run of them: ",," is an
 * escaped comma, qemu_opts_foreach()). Appending ",x=y" after one would make ",,". */
static bool ends_with_separator(const char *s)
{
	size_t n = 0, l = strlen(s);
	while (n < l && s[l - 1 - n] == ',')
		n++;
	return n % 2 == 1;
}

/* The backend's new -object value and the words for the log, for nodes/policy that
 * are not there yet (need_nodes, need_policy). */
static int rewrite_keyval(const char *val, const struct qemu_backend *b, const struct qemu_cell_nodes *c,
			  bool need_nodes, bool need_policy, char **ret_val, char **ret_words)
{
	_cleanup_free_ char *nodes = need_nodes ? keyval_nodes(c->nodes) : NULL;
	if (need_nodes && !nodes)
		return -ENOMEM;
	_cleanup_free_ char *extra = NULL, *v = NULL, *words = NULL;
	if (asprintf(&extra, "%s%s%s%s", need_nodes ? nodes : "", need_nodes && need_policy ? "," : "",
		     need_policy ? "policy=" : "", need_policy ? qemu_host_policy_name(c->policy) : "") < 0)
		return -ENOMEM;
	if (asprintf(&v, "%s%s%s", val, ends_with_separator(val) ? "" : ",", extra) < 0)
		return -ENOMEM;
	if (asprintf(&words, "%s on -object %s,id=%s (guest NUMA cell %d)", extra, b->type, b->id, c->cell) < 0)
		return -ENOMEM;
	*ret_val = TAKE_PTR(v);
	*ret_words = TAKE_PTR(words);
	return 0;
}

/* "host-nodes":[...] and "policy":"..." into the object j and into added. */
static int json_add(json_object *j, json_object *added, const struct qemu_cell_nodes *c, bool need_nodes,
		    bool need_policy)
{
	int last = idset_last(c->nodes);
	for (int pass = 0; pass < 2; pass++) {
		json_object *o = pass ? added : j;
		if (need_nodes) {
			json_object *list = json_object_new_array();
			if (!list)
				return -ENOMEM;
			for (int n = 0; n <= last; n++)
				if (idset_isset(c->nodes, (unsigned)n) &&
				    json_object_array_add(list, json_object_new_int(n)) < 0) {
					json_object_put(list);
					return -ENOMEM;
				}
			if (json_object_object_add(o, "host-nodes", list) < 0) {
				json_object_put(list);
				return -ENOMEM;
			}
		}
		if (need_policy) {
			json_object *p = json_object_new_string(qemu_host_policy_name(c->policy));
			if (!p || json_object_object_add(o, "policy", p) < 0) {
				json_object_put(p);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static int rewrite_json(const char *val, const struct qemu_backend *b, const struct qemu_cell_nodes *c,
			bool need_nodes, bool need_policy, char **ret_val, char **ret_words)
{
	json_object *j = parse_json_object(val); /* it did parse in qemu_launch_inspect() */
	json_object *added = json_object_new_object();
	_cleanup_free_ char *v = NULL, *w = NULL;
	int r = j && added ? json_add(j, added, c, need_nodes, need_policy) : -ENOMEM;
	if (r == 0) {
		const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
		const char *words = json_object_to_json_string_ext(added, flags);
		size_t wl = words ? strlen(words) : 0;
		v = strdup_or_null(json_object_to_json_string_ext(j, flags));
		/* the added keys without their braces */
		if (!v || wl < 2 ||
		    asprintf(&w, "%.*s in -object {\"qom-type\":\"%s\",\"id\":\"%s\",...} (guest NUMA cell %d)",
			     (int)(wl - 2), words + 1, b->type, b->id, c->cell) < 0)
			r = -ENOMEM;
	}
	json_object_put(j);
	json_object_put(added);
	if (r < 0)
		return r;
	*ret_val = TAKE_PTR(v);
	*ret_words = TAKE_PTR(w);
	return 0;
}

/* The cell's backend, with err_set() when there is none to give host nodes to. */
static int find_backend(char *const *argv, const struct qemu_launch_info *info, int cellno,
			const struct qemu_backend **ret)
{
	const struct qemu_numa_cell *cell = NULL;
	for (size_t i = 0; i < info->n_cells; i++)
		if (info->cells[i].nodeid == cellno)
			cell = &info->cells[i];
	if (!cell) {
		err_set("guest NUMA cell %d is not on the QEMU command line: no -numa node,nodeid=%d (it has %zu cell%s)",
			cellno, cellno, info->n_cells, info->n_cells == 1 ? "" : "s");
		return -ENOENT;
	}
	const char *opt = argv[cell->argi];
	if (!cell->memdev) {
		/* -numa mem= without a suffix is MiB (hw/core/numa.c parse_numa_node());
		 * an -object size= without one is bytes */
		bool bare = cell->mem && *cell->mem && cell->mem[strspn(cell->mem, "0123456789")] == '\0';
		err_set("guest NUMA cell %d has no memdev (-numa %s): host nodes can be given only to a memory backend; use -object memory-backend-ram,id=m%d,size=%s%s and -numa node,nodeid=%d,memdev=m%d",
			cellno, opt, cellno, cell->mem ? cell->mem : "SIZE", bare ? "M" : "", cellno, cellno);
		return -EINVAL;
	}
	for (size_t i = 0; i < info->n_backends; i++)
		if (strcmp(info->backends[i].id, cell->memdev) == 0) {
			*ret = &info->backends[i];
			return 0;
		}
	err_set("guest NUMA cell %d has memdev=%s (-numa %s), but no -object memory-backend-*,id=%s is on the command line",
		cellno, cell->memdev, opt, cell->memdev);
	return -EINVAL;
}

/* The checks of one requested cell; *ret_need_* say what is missing on its backend. */
static int check_cell(char *const *argv, const struct qemu_launch_info *info, const struct qemu_cell_nodes *c,
		      const struct qemu_backend **ret_b, bool *ret_need_nodes, bool *ret_need_policy)
{
	if (!c->nodes || idset_count(c->nodes) == 0) {
		err_set("guest NUMA cell %d: no host nodes to give its backend", c->cell);
		return -EINVAL;
	}
	if (idset_last(c->nodes) >= QEMU_MAX_NODES) {
		err_set("guest NUMA cell %d: host node %d is beyond what QEMU binds a backend to (0 to %d, its MAX_NODES)",
			c->cell, idset_last(c->nodes), QEMU_MAX_NODES - 1);
		return -ERANGE;
	}
	if (c->policy == QEMU_HOST_POLICY_DEFAULT || (unsigned)c->policy >= ARRAY_SIZE(policy_names)) {
		err_set("guest NUMA cell %d: policy default cannot come with host nodes (QEMU refuses it); give bind, preferred or interleave",
			c->cell);
		return -EINVAL;
	}
	const struct qemu_backend *b;
	int r = find_backend(argv, info, c->cell, &b);
	if (r < 0)
		return r;
	if (b->host_nodes && !idset_equal(b->host_nodes, c->nodes)) {
		_cleanup_free_ char *have = idset_format(b->host_nodes), *want = idset_format(c->nodes);
		err_set("guest NUMA cell %d: its backend (-object %s) already has host-nodes=%s; kvmcg would give it %s (remove host-nodes= there, or make the two agree)",
			c->cell, argv[b->argi], have ? have : "?", want ? want : "?");
		return -EEXIST;
	}
	if (b->policy_given && b->policy != c->policy) {
		err_set("guest NUMA cell %d: its backend (-object %s) already has policy=%s; kvmcg would give it policy=%s (remove policy= there, or make the two agree)",
			c->cell, argv[b->argi], qemu_host_policy_name(b->policy), qemu_host_policy_name(c->policy));
		return -EEXIST;
	}
	*ret_b = b;
	*ret_need_nodes = !b->host_nodes;
	*ret_need_policy = !b->policy_given;
	return 0;
}

/* repl[argi]: the new value of each backend argument that changes. */
static int rewrite_cells(char *const *argv, size_t argc, const struct qemu_launch_info *info,
			 const struct qemu_launch_add *add, char **repl, char ***added, size_t *n_added)
{
	for (size_t k = 0; k < add->n_cells; k++) {
		const struct qemu_cell_nodes *c = &add->cells[k];
		const struct qemu_backend *b;
		bool need_nodes, need_policy;
		int r = check_cell(argv, info, c, &b, &need_nodes, &need_policy);
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++)
			if (add->cells[j].cell == c->cell) {
				err_set("guest NUMA cell %d is given host nodes twice", c->cell);
				return -EINVAL;
			}
		if (b->argi >= argc) {
			err_set("guest NUMA cell %d: the command line is not the one inspected", c->cell);
			return -EINVAL;
		}
		if (repl[b->argi]) {
			err_set("guest NUMA cell %d shares its backend %s with another cell (QEMU refuses a backend used twice)",
				c->cell, b->id);
			return -EINVAL;
		}
		if (!need_nodes && !need_policy) {
			/* already as asked: marked so that a second cell on it is still caught */
			if (!(repl[b->argi] = strdup(argv[b->argi])))
				return -ENOMEM;
			continue;
		}
		_cleanup_free_ char *words = NULL;
		r = (b->json ? rewrite_json : rewrite_keyval)(argv[b->argi], b, c, need_nodes, need_policy,
							      &repl[b->argi], &words);
		if (r < 0 || (r = strv_push(added, n_added, words)) < 0)
			return r;
	}
	return 0;
}

/* "unix:PATH,server=on,wait=off", the path's commas doubled (QemuOpts: the chardev's
 * legacy syntax, chardev/char.c qemu_chr_parse_compat()). */
static char *qmp_value(const char *path)
{
	size_t n = 0;
	for (const char *p = path; *p; p++)
		n += *p == ',' ? 2 : 1;
	char *s = malloc(n + sizeof("unix:,server=on,wait=off"));
	if (!s)
		return NULL;
	char *o = stpcpy(s, "unix:");
	for (const char *p = path; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	strcpy(o, ",server=on,wait=off");
	return s;
}

static void strv_array_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int qemu_launch_build(char *const *argv, size_t argc, const struct qemu_launch_info *info,
		      const struct qemu_launch_add *add, char ***ret_argv, char ***ret_added)
{
	if (argc == 0 || !argv[0]) {
		err_set("an empty command line names no QEMU to start");
		return -EINVAL;
	}
	if (add->qmp_path && !add->qmp_path[0]) {
		err_set("an empty path names no socket for the QMP monitor");
		return -EINVAL;
	}
	_cleanup_strv_ char **out = NULL, **added = NULL;
	size_t n_out = 0, n_added = 0;
	char **repl = calloc(argc, sizeof(*repl));
	if (!repl)
		return -ENOMEM;
	int r = rewrite_cells(argv, argc, info, add, repl, &added, &n_added);
	if (r == 0)
		r = strv_push(&out, &n_out, argv[0]);
	if (r == 0 && add->add_S && !info->has_S && (r = strv_push(&out, &n_out, "-S")) == 0)
		r = strv_push(&added, &n_added, "-S");
	for (size_t i = 1; r == 0 && i < argc; i++)
		r = strv_push(&out, &n_out, repl[i] ? repl[i] : argv[i]);
	if (r == 0 && add->qmp_path) {
		_cleanup_free_ char *v = qmp_value(add->qmp_path), *words = NULL;
		if (!v || asprintf(&words, "-qmp %s", v) < 0)
			r = -ENOMEM;
		if (r == 0 && (r = strv_push(&out, &n_out, "-qmp")) == 0 && (r = strv_push(&out, &n_out, v)) == 0)
			r = strv_push(&added, &n_added, words);
	}
	strv_array_free(repl, argc);
	if (r < 0)
		return r;
	if (!added && !(added = calloc(1, sizeof(*added))))
		return -ENOMEM;
	*ret_argv = TAKE_PTR(out);
	if (ret_added)
		*ret_added = TAKE_PTR(added);
	return 0;
}
