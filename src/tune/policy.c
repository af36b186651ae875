// SPDX-License-Identifier: GPL-2.0-or-later
#include "tune/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/log.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "kernel/sched.h"
#include "vmm/qemu-launch.h"

/* ---- diagnostics ------------------------------------------------------------------- */

void diags_done(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].message);
	free(d->v);
	*d = (struct diags){0};
}

__attribute__((format(printf, 5, 6))) static void diag(struct diags *d, enum diag_level level,
						       unsigned line, unsigned col, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	/* Counted first: out of memory, the message is lost but the error is not. */
	if (level == DIAG_ERROR)
		d->errors++;
	struct diag *v = n < 0 ? NULL : realloc(d->v, (d->n + 1) * sizeof(*v));
	if (!v) {
		free(msg);
		return;
	}
	d->v = v;
	d->v[d->n] = (struct diag){.level = level, .line = line, .col = col, .message = msg, .seq = d->n};
	d->n++;
}

/* One escaped line through the printer of log.h. */
__attribute__((format(printf, 3, 4))) static void print_line(FILE *f, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprint(f, prefix, fmt, ap);
	va_end(ap);
}

void diags_print(const struct diags *d, const char *file, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		const char *lvl = g->level == DIAG_ERROR ? "error" : "warning";
		if (g->line)
			print_line(f, "", "%s:%u:%u: %s: %s", file, g->line, g->col, lvl, g->message);
		else
			print_line(f, "kvmcg: ", "%s: %s: %s", file, lvl, g->message);
	}
}

/* ---- units ----------------------------------------------------------------------------- */

/* digits, then the rest in *ret_unit */
static int parse_number(const char *s, uint64_t *ret, const char **ret_unit)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned digit = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*ret = v;
	*ret_unit = s;
	return 0;
}

static int scale(uint64_t v, uint64_t factor, uint64_t *ret)
{
	if (factor && v > UINT64_MAX / factor)
		return -ERANGE;
	*ret = v * factor;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	uint64_t v;
	const char *unit;
	int r = parse_number(s, &v, &unit);
	if (r < 0)
		return r;
	static const struct {
		const char *unit;
		uint64_t factor;
	} units[] = {{"", 1}, {"K", 1ull << 10}, {"M", 1ull << 20}, {"G", 1ull << 30}, {"T", 1ull << 40}};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(unit, units[i].unit) == 0)
			return scale(v, units[i].factor, ret);
	return -EINVAL;
}

int parse_rate(const char *s, uint64_t *ret)
{
	uint64_t v;
	const char *unit;
	int r = parse_number(s, &v, &unit);
	if (r < 0)
		return r;
	/* tc(8) counts in powers of 1000; so do we. */
	static const struct {
		const char *unit;
		uint64_t factor; /* to bit/s */
	} units[] = {
		{"bit", 1},          {"Kbit", 1000},         {"Mbit", 1000000},        {"Gbit", 1000000000},
		{"Tbit", 1000000000000ull}, {"Bps", 8},     {"KBps", 8000},           {"MBps", 8000000},
		{"GBps", 8000000000ull},
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(unit, units[i].unit) == 0)
			return scale(v, units[i].factor, ret);
	return -EINVAL;
}

/* ---- the grammar ---------------------------------------------------------------------------- */

enum section { SEC_NONE, SEC_MATCH, SEC_CPU, SEC_MEMORY, SEC_IO, SEC_NETWORK };
static const char *const section_names[] = {"", "Match", "CPU", "Memory", "IO", "Network"};

struct ctx {
	struct policy *p;
	struct diags *d;
	unsigned line, col; /* col of the value */
	const char *key;
};

typedef void (*key_fn)(struct ctx *c, char *value);

#define ERR(c, ...) diag((c)->d, DIAG_ERROR, (c)->line, (c)->col, __VA_ARGS__)

static struct origin here(const struct ctx *c)
{
	return (struct origin){c->line, c->col};
}

static bool parse_bool(const char *v, int *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*ret = 1;
			return true;
		}
		if (strcmp(v, no[i]) == 0) {
			*ret = 0;
			return true;
		}
	}
	return false;
}

static bool parse_weight(struct ctx *c, const char *v, unsigned *ret)
{
	int w;
	if (parse_int(v, &w) < 0 || cputune_check_weight(w) < 0) {
		ERR(c, "%s= expects a weight from %u to %u, not '%s'", c->key, CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX, v);
		return false;
	}
	*ret = (unsigned)w;
	return true;
}

static bool parse_list(struct ctx *c, const char *v, const char *what, struct idset **ret)
{
	size_t off = 0;
	struct idset *s = NULL;
	int r = idset_parse(v, &s, &off);
	if (r < 0 || idset_count(s) == 0) {
		diag(c->d, DIAG_ERROR, c->line, c->col + (unsigned)off,
		     "%s= expects a %s list such as 2, 18-23, 0-31:2 or 1,3,5%s", c->key, what,
		     r == -ERANGE ? " (a number is too large, or a range is reversed)" : "");
		idset_free(s);
		return false;
	}
	idset_free(*ret);
	*ret = s;
	return true;
}

static void set_string(struct ctx *c, char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s) {
		ERR(c, "out of memory");
		return;
	}
	free(*dst);
	*dst = s;
	c->p->match_at = here(c);
}

static void key_match_name(struct ctx *c, char *v)
{
	set_string(c, &c->p->match_name, v);
}
static void key_match_pidfile(struct ctx *c, char *v)
{
	if (v[0] != '/')
		ERR(c, "PidFile= expects an absolute path, not '%s'", v);
	else
		set_string(c, &c->p->match_pidfile, v);
}
static void key_match_cmdline(struct ctx *c, char *v)
{
	set_string(c, &c->p->match_cmdline, v);
}
static void key_match_qmp(struct ctx *c, char *v)
{
	if (v[0] != '/')
		ERR(c, "QMP= expects the absolute path of a socket, not '%s'", v);
	else
		set_string(c, &c->p->match_qmp, v);
}

/* Blank-separated items of a list value, each with its column. */
static void for_each_item(struct ctx *c, char *v, void (*fn)(struct ctx *c, char *item))
{
	unsigned base = c->col;
	for (char *p = v; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		char *end = p + strcspn(p, " \t");
		char saved = *end;
		*end = '\0';
		c->col = base + (unsigned)(p - v);
		fn(c, p);
		*end = saved;
		p = end;
	}
	c->col = base;
}

static void one_vcpu_pin(struct ctx *c, char *item)
{
	struct vcpu_arg a;
	size_t off = 0;
	err_clear();
	if (parse_vcpu_arg(item, "VCPUPin=", &a, &off) < 0) {
		diag(c->d, DIAG_ERROR, c->line, c->col + (unsigned)off, "%s",
		     err_get() ? err_get() : "expected VCPU:CPUS");
		return;
	}
	a.from_policy = true;
	struct policy *p = c->p;
	struct vcpu_arg *n = realloc(p->vcpu_pins, (p->n_vcpu_pins + 1) * sizeof(*n));
	struct origin *o = n ? realloc(p->vcpu_pins_at, (p->n_vcpu_pins + 1) * sizeof(*o)) : NULL;
	if (n)
		p->vcpu_pins = n;
	if (o)
		p->vcpu_pins_at = o;
	if (!n || !o) {
		idset_free(a.cpus);
		ERR(c, "out of memory");
		return;
	}
	p->vcpu_pins[p->n_vcpu_pins] = a;
	p->vcpu_pins_at[p->n_vcpu_pins++] = here(c);
}

static void key_vcpu_pin(struct ctx *c, char *v)
{
	for_each_item(c, v, one_vcpu_pin);
}

static void key_emulator_pin(struct ctx *c, char *v)
{
	if (parse_list(c, v, "CPU", &c->p->emulator_pin))
		c->p->emulator_pin_at = here(c);
}

static void one_iothread_pin(struct ctx *c, char *item)
{
	char *id;
	struct idset *cpus;
	size_t off = 0;
	err_clear();
	if (parse_iothread_arg(item, "IOThreadPin=", &id, &cpus, &off) < 0) {
		diag(c->d, DIAG_ERROR, c->line, c->col + (unsigned)off, "%s",
		     err_get() ? err_get() : "expected ID:CPUS");
		return;
	}
	struct policy *p = c->p;
	for (size_t i = 0; i < p->n_iothread_pins; i++)
		if (strcmp(p->iothread_ids[i], id) == 0) {
			diag(c->d, DIAG_ERROR, c->line, c->col, "iothread '%s' is already pinned at line %u",
			     id, p->iothread_pins_at[i].line);
			break; /* once: n repeats must not make n*n errors */
		}
	size_t k = p->n_iothread_pins;
	char **ids = realloc(p->iothread_ids, (k + 1) * sizeof(*ids));
	if (ids)
		p->iothread_ids = ids;
	struct idset **sets = realloc(p->iothread_pins, (k + 1) * sizeof(*sets));
	if (sets)
		p->iothread_pins = sets;
	struct origin *o = realloc(p->iothread_pins_at, (k + 1) * sizeof(*o));
	if (o)
		p->iothread_pins_at = o;
	if (!ids || !sets || !o) {
		free(id);
		idset_free(cpus);
		ERR(c, "out of memory");
		return;
	}
	ids[k] = id;
	sets[k] = cpus;
	o[k] = here(c);
	p->n_iothread_pins++;
}

static void key_iothread_pin(struct ctx *c, char *v)
{
	for_each_item(c, v, one_iothread_pin);
}

static void key_quota(struct ctx *c, char *v)
{
	if (strcmp(v, "max") == 0) {
		c->p->quota_set = true;
		c->p->quota_percent = 0;
		return;
	}
	size_t l = strlen(v);
	uint64_t pct;
	const char *unit;
	if (l < 2 || parse_number(v, &pct, &unit) < 0 || strcmp(unit, "%") != 0 ||
	    cputune_check_quota_percent(pct) < 0) {
		ERR(c, "Quota= expects a share of one CPU such as 50%% or 200%% (%u%% to %u%%), or max; not '%s'",
		    CPU_QUOTA_PERCENT_MIN, CPU_QUOTA_PERCENT_MAX, v);
		return;
	}
	c->p->quota_set = true;
	c->p->quota_percent = pct;
}

static void key_period(struct ctx *c, char *v)
{
	int us;
	if (parse_int(v, &us) < 0 || cputune_check_period(us) < 0) {
		ERR(c, "Period= expects microseconds from %u to %u, not '%s'", CPU_PERIOD_US_MIN, CPU_PERIOD_US_MAX, v);
		return;
	}
	c->p->period_us = (unsigned)us;
}

static void key_vcpu_scheduler(struct ctx *c, char *v)
{
	char *colon = strchr(v, ':');
	int policy;
	unsigned prio = 0;
	if (sched_policy_from_name(v, colon ? (size_t)(colon - v) : strlen(v), &policy) < 0) {
		ERR(c, "VCPUScheduler= expects other, batch, idle, fifo:PRIO or rr:PRIO, not '%s'", v);
		return;
	}
	const char *name = sched_policy_name(policy);
	if (sched_parse(v, &policy, &prio) < 0) { /* names and priorities: tune.c */
		if (sched_policy_is_rt(policy))
			ERR(c, "VCPUScheduler=%s needs a priority from %d to %d, e.g. %s:10", name, SCHED_RT_PRIORITY_MIN,
			    SCHED_RT_PRIORITY_MAX, name);
		else
			ERR(c, "VCPUScheduler=%s takes no priority", name);
		return;
	}
	c->p->vcpu_sched_set = true;
	c->p->vcpu_sched_policy = policy;
	c->p->vcpu_sched_priority = prio;
}

static void key_exclusive(struct ctx *c, char *v)
{
	if (!parse_bool(v, &c->p->exclusive))
		ERR(c, "Exclusive= expects yes or no, not '%s'", v);
	else
		c->p->exclusive_at = here(c);
}

static void key_mem_policy(struct ctx *c, char *v)
{
	if (mem_policy_parse(v, &c->p->mem_policy) < 0)
		ERR(c, "Policy= expects strict, preferred, interleave or restrictive, not '%s'", v);
}

static void key_mem_nodes(struct ctx *c, char *v)
{
	if (parse_list(c, v, "NUMA node", &c->p->mem_nodes))
		c->p->mem_nodes_at = here(c);
}

static void key_mem_migrate(struct ctx *c, char *v)
{
	if (!parse_bool(v, &c->p->mem_migrate))
		ERR(c, "Migrate= expects yes or no, not '%s'", v);
	else
		c->p->mem_migrate_at = here(c);
}

/* CellNodes=CELL:NODES[:MODE]: one guest NUMA cell per line. The mode is checked
 * here; the default (Policy=) in finish(), as Policy= may come later. */
static bool cell_nodes_mode(struct ctx *c, const char *s, unsigned col, enum mem_policy *ret)
{
	enum mem_policy m;
	if (mem_policy_parse(s, &m) < 0) {
		diag(c->d, DIAG_ERROR, c->line, col,
		     "CellNodes= expects a MODE of strict, preferred or interleave after the nodes, not '%s'", s);
		return false;
	}
	if (m == MEM_POLICY_RESTRICTIVE) {
		diag(c->d, DIAG_ERROR, c->line, col,
		     "CellNodes= cannot be restrictive: restrictive means cpuset.mems only, which a cell's memory backend cannot express; give strict, preferred or interleave");
		return false;
	}
	*ret = m;
	return true;
}

static bool cell_nodes_nodes(struct ctx *c, const char *s, unsigned col, struct idset **ret)
{
	size_t off = 0;
	struct idset *nodes = NULL;
	int r = idset_parse(s, &nodes, &off);
	if (r < 0 || idset_count(nodes) == 0) {
		diag(c->d, DIAG_ERROR, c->line, col + (unsigned)off,
		     "CellNodes= expects the cell's host NUMA nodes after 'CELL:', a list such as 0, 2-3 or 0,2%s",
		     r == -ERANGE ? " (a number is too large, or a range is reversed)" : "");
		idset_free(nodes);
		return false;
	}
	if (idset_last(nodes) >= QEMU_MAX_NODES) {
		diag(c->d, DIAG_ERROR, c->line, col,
		     "CellNodes= gives host node %d; QEMU binds a memory backend to nodes 0 to %d only (its MAX_NODES)",
		     idset_last(nodes), QEMU_MAX_NODES - 1);
		idset_free(nodes);
		return false;
	}
	*ret = nodes;
	return true;
}

/* A part of a value between colons, without its blanks. */
static char *trim_part(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static void key_cell_nodes(struct ctx *c, char *v)
{
	char *colon = strchr(v, ':');
	if (!colon) {
		ERR(c, "CellNodes= expects CELL:NODES[:MODE], a guest NUMA cell, its host nodes and optionally strict, preferred or interleave (such as 0:0 or 1:2-3:interleave), not '%s'",
		    v);
		return;
	}
	*colon = '\0';
	char *cell_s = trim_part(v);
	int cell;
	if (!isdigit((unsigned char)cell_s[0]) || parse_int(cell_s, &cell) < 0 || cell >= QEMU_MAX_NODES) {
		ERR(c, "CellNodes= expects a guest NUMA cell from 0 to %d before ':' (QEMU's MAX_NODES), not '%s'",
		    QEMU_MAX_NODES - 1, cell_s);
		return;
	}
	char *nodes_s = colon + 1, *mode_s = strchr(nodes_s, ':');
	if (mode_s) {
		*mode_s = '\0';
		mode_s = trim_part(mode_s + 1);
	}
	nodes_s = trim_part(nodes_s);
	struct cell_nodes cn = {.cell = (unsigned)cell, .mode = MEM_POLICY_UNSET};
	if (!cell_nodes_nodes(c, nodes_s, c->col + (unsigned)(nodes_s - v), &cn.nodes))
		return;
	if (mode_s && !cell_nodes_mode(c, mode_s, c->col + (unsigned)(mode_s - v), &cn.mode)) {
		idset_free(cn.nodes);
		return;
	}
	struct policy *p = c->p;
	for (size_t i = 0; i < p->n_cell_nodes; i++)
		if (p->cell_nodes[i].cell == cn.cell) {
			ERR(c, "guest NUMA cell %u already has its host nodes at line %u (one CellNodes= per cell)",
			    cn.cell, p->cell_nodes_at[i].line);
			idset_free(cn.nodes);
			return;
		}
	struct cell_nodes *n = realloc(p->cell_nodes, (p->n_cell_nodes + 1) * sizeof(*n));
	if (n)
		p->cell_nodes = n;
	struct origin *o = n ? realloc(p->cell_nodes_at, (p->n_cell_nodes + 1) * sizeof(*o)) : NULL;
	if (o)
		p->cell_nodes_at = o;
	if (!n || !o) {
		idset_free(cn.nodes);
		ERR(c, "out of memory");
		return;
	}
	p->cell_nodes[p->n_cell_nodes] = cn;
	p->cell_nodes_at[p->n_cell_nodes++] = here(c);
}

/* "PATH VALUE" */
static void io_limit(struct ctx *c, char *v, enum io_limit_kind kind)
{
	char *sp = v + strcspn(v, " \t");
	if (!*sp) {
		ERR(c, "%s= expects a device path and a value, e.g. %s=/dev/sda %s", c->key, c->key,
		    kind == IO_DEVICE_WEIGHT ? "500" : kind == IO_READ_BPS || kind == IO_WRITE_BPS ? "100M"
												 : "1000");
		return;
	}
	*sp = '\0';
	char *val = sp + 1;
	while (*val == ' ' || *val == '\t')
		val++;
	unsigned vcol = c->col + (unsigned)(val - v);
	if (v[0] != '/' && strcmp(v, IO_PATH_AUTO) != 0) {
		ERR(c, "%s= expects an absolute path (a block device, or a disk image on one) or auto (the VM's "
		       "own disks), not '%s'",
		    c->key, v);
		return;
	}
	uint64_t n;
	int w;
	switch (kind) {
	case IO_DEVICE_WEIGHT:
		if (parse_int(val, &w) < 0 || cputune_check_weight(w) < 0) {
			diag(c->d, DIAG_ERROR, c->line, vcol, "%s= expects a weight from %u to %u, not '%s'",
			     c->key, CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX, val);
			return;
		}
		n = (uint64_t)w;
		break;
	case IO_READ_BPS:
	case IO_WRITE_BPS:
		if (parse_size(val, &n) < 0 || n == 0) {
			diag(c->d, DIAG_ERROR, c->line, vcol,
			     "%s= expects bytes per second such as 50M or 1G, not '%s'", c->key, val);
			return;
		}
		/* block/blk-throttle.c: U64_MAX is "max", no limit */
		if (n == UINT64_MAX) {
			diag(c->d, DIAG_ERROR, c->line, vcol,
			     "%s= %s is the kernel's \"max\", no limit at all: leave the key out for that", c->key, val);
			return;
		}
		break;
	default:
		if (parse_u64(val, &n) < 0 || n == 0) {
			diag(c->d, DIAG_ERROR, c->line, vcol,
			     "%s= expects a positive number of operations per second, not '%s'", c->key, val);
			return;
		}
		/* blk-throttle keeps I/Os per second in an unsigned int, UINT_MAX being "max" */
		if (n >= UINT32_MAX) {
			diag(c->d, DIAG_ERROR, c->line, vcol,
			     "%s= %s is at or above the kernel's \"max\" (%u I/Os per second, no limit): at most %u",
			     c->key, val, UINT32_MAX, UINT32_MAX - 1);
			return;
		}
	}
	struct policy *p = c->p;
	struct io_request *l = realloc(p->io, (p->n_io + 1) * sizeof(*l));
	if (!l) {
		ERR(c, "out of memory");
		return;
	}
	p->io = l;
	p->io[p->n_io] = (struct io_request){.kind = kind, .path = strdup(v), .value = n, .line = c->line, .col = c->col};
	if (p->io[p->n_io].path)
		p->n_io++;
}

static void key_device_weight(struct ctx *c, char *v)
{
	io_limit(c, v, IO_DEVICE_WEIGHT);
}
static void key_read_bps(struct ctx *c, char *v)
{
	io_limit(c, v, IO_READ_BPS);
}
static void key_write_bps(struct ctx *c, char *v)
{
	io_limit(c, v, IO_WRITE_BPS);
}
static void key_read_iops(struct ctx *c, char *v)
{
	io_limit(c, v, IO_READ_IOPS);
}
static void key_write_iops(struct ctx *c, char *v)
{
	io_limit(c, v, IO_WRITE_IOPS);
}

static void one_interface(struct ctx *c, char *item)
{
	if (strlen(item) > 15 && !strpbrk(item, "*?[")) {
		ERR(c, "Interface= '%s' is longer than an interface name can be (15 bytes)", item);
		return;
	}
	/* net/core/dev.c dev_valid_name(): no '/', ':' or blank, not "." or ".." */
	if (strpbrk(item, "/:") || strcmp(item, ".") == 0 || strcmp(item, "..") == 0) {
		ERR(c, "Interface= '%s' can name no interface (the kernel's names have no '/' or ':', and are not . or ..)",
		    item);
		return;
	}
	if (strv_push(&c->p->interfaces, &c->p->n_interfaces, item) < 0)
		ERR(c, "out of memory");
}

static void key_interface(struct ctx *c, char *v)
{
	for_each_item(c, v, one_interface);
}

static void rate(struct ctx *c, char *v, uint64_t *dst)
{
	if (parse_rate(v, dst) < 0 || *dst == 0) {
		*dst = 0;
		ERR(c, "%s= expects a rate with its unit, such as 100Mbit or 12MBps (bit Kbit Mbit Gbit Tbit, Bps KBps MBps GBps), not '%s'",
		    c->key, v);
	}
}

static void size(struct ctx *c, char *v, uint64_t *dst)
{
	if (parse_size(v, dst) < 0 || *dst == 0) {
		*dst = 0;
		ERR(c, "%s= expects a size such as 64K or 1M (K M G T, powers of 1024), not '%s'", c->key, v);
	}
}

/* Keys whose value is one number into one field need no function of their own. */
enum value_kind { VAL_FN, VAL_RATE, VAL_SIZE, VAL_WEIGHT };

#define FIELD(kind, field) NULL, false, kind, offsetof(struct policy, field)
#define CUSTOM(fn, list) fn, list, VAL_FN, 0

static const struct key {
	enum section section;
	const char *name;
	key_fn fn;
	bool list; /* may repeat */
	enum value_kind kind;
	size_t offset;
} keys[] = {
	{SEC_MATCH, "Name", CUSTOM(key_match_name, false)},
	{SEC_MATCH, "PidFile", CUSTOM(key_match_pidfile, false)},
	{SEC_MATCH, "Cmdline", CUSTOM(key_match_cmdline, false)},
	{SEC_MATCH, "QMP", CUSTOM(key_match_qmp, false)},
	{SEC_CPU, "VCPUPin", CUSTOM(key_vcpu_pin, true)},
	{SEC_CPU, "EmulatorPin", CUSTOM(key_emulator_pin, false)},
	{SEC_CPU, "IOThreadPin", CUSTOM(key_iothread_pin, true)},
	{SEC_CPU, "Weight", FIELD(VAL_WEIGHT, cpu_weight)},
	{SEC_CPU, "Quota", CUSTOM(key_quota, false)},
	{SEC_CPU, "Period", CUSTOM(key_period, false)},
	{SEC_CPU, "VCPUScheduler", CUSTOM(key_vcpu_scheduler, false)},
	{SEC_CPU, "Exclusive", CUSTOM(key_exclusive, false)},
	{SEC_MEMORY, "Policy", CUSTOM(key_mem_policy, false)},
	{SEC_MEMORY, "Nodes", CUSTOM(key_mem_nodes, false)},
	{SEC_MEMORY, "Migrate", CUSTOM(key_mem_migrate, false)},
	{SEC_MEMORY, "CellNodes", CUSTOM(key_cell_nodes, true)},
	{SEC_IO, "Weight", FIELD(VAL_WEIGHT, io_weight)},
	{SEC_IO, "DeviceWeight", CUSTOM(key_device_weight, true)},
	{SEC_IO, "ReadBandwidthMax", CUSTOM(key_read_bps, true)},
	{SEC_IO, "WriteBandwidthMax", CUSTOM(key_write_bps, true)},
	{SEC_IO, "ReadIOPSMax", CUSTOM(key_read_iops, true)},
	{SEC_IO, "WriteIOPSMax", CUSTOM(key_write_iops, true)},
	{SEC_NETWORK, "Interface", CUSTOM(key_interface, true)},
	{SEC_NETWORK, "InboundAverage", FIELD(VAL_RATE, inbound_average)},
	{SEC_NETWORK, "InboundPeak", FIELD(VAL_RATE, inbound_peak)},
	{SEC_NETWORK, "InboundBurst", FIELD(VAL_SIZE, inbound_burst)},
	{SEC_NETWORK, "OutboundAverage", FIELD(VAL_RATE, outbound_average)},
	{SEC_NETWORK, "OutboundPeak", FIELD(VAL_RATE, outbound_peak)},
	{SEC_NETWORK, "OutboundBurst", FIELD(VAL_SIZE, outbound_burst)},
	{SEC_NETWORK, "Weight", FIELD(VAL_WEIGHT, net_weight)},
	{SEC_NETWORK, "BridgeInboundAverage", FIELD(VAL_RATE, bridge_inbound_average)},
};

/* Edit distance, for "did you mean"; names are short. */
static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return 99;
	unsigned row[33];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned sub = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			unsigned best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			prev = cur;
		}
	}
	return row[lb];
}

static const char *suggest_key(enum section sec, const char *key)
{
	const char *best = NULL;
	unsigned bd = 3;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (keys[i].section != sec)
			continue;
		unsigned d = distance(key, keys[i].name);
		if (d < bd) {
			bd = d;
			best = keys[i].name;
		}
	}
	return best;
}

static const char *where_else(const char *key, enum section not_here)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].section != not_here && strcmp(keys[i].name, key) == 0)
			return section_names[keys[i].section];
	return NULL;
}

/* Index of the first invalid UTF-8 byte, or -1. Overlongs and surrogates are
 * invalid too. */
static long utf8_invalid_at(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else
			return (long)i;
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return (long)i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (long)i;
		i += n + 1;
	}
	return -1;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->match_name);
	free(p->match_pidfile);
	free(p->match_cmdline);
	free(p->match_qmp);
	for (size_t i = 0; i < p->n_vcpu_pins; i++)
		idset_free(p->vcpu_pins[i].cpus);
	free(p->vcpu_pins);
	free(p->vcpu_pins_at);
	idset_free(p->emulator_pin);
	for (size_t i = 0; i < p->n_iothread_pins; i++) {
		free(p->iothread_ids[i]);
		idset_free(p->iothread_pins[i]);
	}
	free(p->iothread_ids);
	free(p->iothread_pins);
	free(p->iothread_pins_at);
	idset_free(p->mem_nodes);
	for (size_t i = 0; i < p->n_cell_nodes; i++)
		idset_free(p->cell_nodes[i].nodes);
	free(p->cell_nodes);
	free(p->cell_nodes_at);
	for (size_t i = 0; i < p->n_io; i++)
		free(p->io[i].path);
	free(p->io);
	strv_free(p->interfaces);
	free(p);
}

static int cmp_diag(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	/* equal positions keep the order they were found in */
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* A CellNodes= without MODE takes Policy= (libvirt's strict when there is none), and
 * Nodes=, when given, is the whole VM's memory: every cell's nodes must be in it.
 * Without Nodes=, kvmcg run uses the union of the cells' nodes. */
static void finish_cell_nodes(struct policy *p, struct diags *d)
{
	for (size_t i = 0; i < p->n_cell_nodes; i++) {
		struct cell_nodes *cn = &p->cell_nodes[i];
		const struct origin *at = &p->cell_nodes_at[i];
		if (cn->mode == MEM_POLICY_UNSET && p->mem_policy == MEM_POLICY_RESTRICTIVE)
			diag(d, DIAG_ERROR, at->line, at->col,
			     "CellNodes= without a MODE takes Policy=restrictive, which means cpuset.mems only and a cell's memory backend cannot express it; give this cell a MODE (strict, preferred or interleave)");
		else if (cn->mode == MEM_POLICY_UNSET)
			cn->mode = p->mem_policy != MEM_POLICY_UNSET ? p->mem_policy : MEM_POLICY_STRICT;
		if (p->mem_nodes && !idset_is_subset(cn->nodes, p->mem_nodes)) {
			_cleanup_free_ char *have = idset_format(cn->nodes), *all = idset_format(p->mem_nodes);
			diag(d, DIAG_ERROR, at->line, at->col,
			     "CellNodes= gives guest NUMA cell %u host nodes %s, not all in Nodes=%s: Nodes= is the whole VM's memory (without it, kvmcg run takes the union of the cells' nodes)",
			     cn->cell, have ? have : "?", all ? all : "?");
		}
	}
}

static void finish(struct policy *p, struct diags *d, const unsigned *seen_section)
{
	if (!seen_section[SEC_MATCH])
		diag(d, DIAG_WARNING, 0, 0,
		     "no [Match] section: kvmcg apply will never choose a VM for this file (kvmcg pin --policy can still use it)");
	else if (!p->match_name && !p->match_pidfile && !p->match_cmdline && !p->match_qmp)
		diag(d, DIAG_ERROR, seen_section[SEC_MATCH], 1,
		     "[Match] names no key: give at least one of Name=, PidFile=, Cmdline=, QMP=");
	if (p->period_us && !p->quota_set)
		diag(d, DIAG_WARNING, 0, 0, "Period= without Quota= does nothing");
	struct cputune ct = {.quota_set = p->quota_set, .quota_percent = p->quota_percent, .period_us = p->period_us};
	if (p->quota_set && cputune_quota_us(&ct) >= 0 && cputune_quota_us(&ct) < CPU_QUOTA_US_MIN)
		diag(d, DIAG_ERROR, seen_section[SEC_CPU], 1,
		     "Quota=%llu%% of a %u us Period= is %lld us, below the %u us the kernel takes",
		     (unsigned long long)p->quota_percent, cputune_period(&ct), cputune_quota_us(&ct), CPU_QUOTA_US_MIN);
	if (p->mem_policy != MEM_POLICY_UNSET && !p->mem_nodes && !p->n_cell_nodes)
		diag(d, DIAG_ERROR, seen_section[SEC_MEMORY], 1, "Policy=%s needs Nodes=",
		     mem_policy_name(p->mem_policy));
	if (p->mem_migrate == 0 && p->mem_policy != MEM_POLICY_UNSET && p->mem_policy != MEM_POLICY_RESTRICTIVE)
		diag(d, DIAG_ERROR, p->mem_migrate_at.line, p->mem_migrate_at.col,
		     "Migrate=no leaves the pages where they are; Policy=%s moves them (use Policy=restrictive)",
		     mem_policy_name(p->mem_policy));
	if (p->mem_nodes && p->mem_policy == MEM_POLICY_UNSET) /* libvirt's default mode; pages that stay: */
		p->mem_policy = p->mem_migrate == 0 ? MEM_POLICY_RESTRICTIVE : MEM_POLICY_STRICT;
	finish_cell_nodes(p, d);
	if (p->mem_migrate == 1 && !p->mem_nodes)
		diag(d, DIAG_ERROR, seen_section[SEC_MEMORY], 1, "Migrate=yes needs Nodes= to migrate to");
	if (p->mem_migrate == 0 && !p->mem_nodes)
		diag(d, DIAG_ERROR, p->mem_migrate_at.line, p->mem_migrate_at.col,
		     "Migrate=no says what a change of Nodes= does to the pages; give Nodes=");
	if (p->inbound_peak && p->inbound_average && p->inbound_peak < p->inbound_average)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1, "InboundPeak= is below InboundAverage=");
	if (p->outbound_peak && p->outbound_average && p->outbound_peak < p->outbound_average)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1, "OutboundPeak= is below OutboundAverage=");
	if ((p->inbound_peak || p->inbound_burst) && !p->inbound_average)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1, "InboundPeak= and InboundBurst= need InboundAverage=");
	if ((p->outbound_peak || p->outbound_burst) && !p->outbound_average)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1,
		     "OutboundPeak= and OutboundBurst= need OutboundAverage=");
	p->io_section = seen_section[SEC_IO] != 0;
	if (p->net_weight && !p->bridge_inbound_average)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1,
		     "Weight= needs BridgeInboundAverage= (the rate the VMs on the bridge share: a bridge has no speed)");
	if (p->bridge_inbound_average && !p->net_weight)
		diag(d, DIAG_ERROR, seen_section[SEC_NETWORK], 1, "BridgeInboundAverage= is the total Weight= shares; give Weight=");
	if (seen_section[SEC_NETWORK] && p->n_interfaces == 0 &&
	    (p->inbound_average || p->outbound_average || p->net_weight))
		(void)strv_push(&p->interfaces, &p->n_interfaces, "*"); /* the VM's own taps */
}

/* Where the parse of one file is. */
struct parser {
	struct policy *p;
	struct diags *d;
	enum section sec;    /* the current one; (enum section)-1 while skipping one */
	unsigned lineno;
	unsigned seen_section[ARRAY_SIZE(section_names)]; /* line of each first header */
	unsigned seen_key[ARRAY_SIZE(keys)];             /* line where each key was set */
};

/* A "[Section]" line: t points at its '['. */
static void parse_section_line(struct parser *ps, char *line, size_t l, char *t, unsigned col0)
{
	char *close = strchr(t, ']');
	if (!close || *trim(close + 1)) {
		diag(ps->d, DIAG_ERROR, ps->lineno, close ? (unsigned)(close - line) + 2 : (unsigned)l + 1,
		     close ? "nothing may follow ']' on a section line" : "expected ']' to end the section name");
		/* which section was meant is unknown: skip its keys, as for an
		 * unknown one, rather than blame each of them */
		ps->sec = (enum section)-1;
		return;
	}
	*close = '\0';
	const char *name = t + 1;
	ps->sec = SEC_NONE;
	for (size_t i = 1; i < ARRAY_SIZE(section_names); i++)
		if (strcmp(name, section_names[i]) == 0)
			ps->sec = (enum section)i;
	if (ps->sec == SEC_NONE) {
		const char *best = NULL;
		unsigned bd = 3;
		for (size_t i = 1; i < ARRAY_SIZE(section_names); i++) {
			unsigned dd = distance(name, section_names[i]);
			if (dd < bd) {
				bd = dd;
				best = section_names[i];
			}
		}
		diag(ps->d, DIAG_ERROR, ps->lineno, col0 + 1,
		     "unknown section [%s]%s%s%s (expected Match, CPU, Memory, IO or Network)", name,
		     best ? "; did you mean [" : "", best ? best : "", best ? "]?" : "");
		/* its keys would only add noise: skip to the next section */
		ps->sec = (enum section)-1;
		return;
	}
	if (!ps->seen_section[ps->sec])
		ps->seen_section[ps->sec] = ps->lineno;
}

/* A "Key=Value" line of the current section: t points at the key. */
static void parse_key_line(struct parser *ps, char *line, char *t, unsigned col0)
{
	char *eq = strchr(t, '=');
	if (!eq) {
		diag(ps->d, DIAG_ERROR, ps->lineno, col0, "expected Key=Value, a [Section] header or a # comment");
		return;
	}
	*eq = '\0';
	char *key = trim(t);
	char *value = eq + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	unsigned vcol = (unsigned)(value - line) + 1;
	value = trim(value);
	if (!*key) {
		diag(ps->d, DIAG_ERROR, ps->lineno, col0, "expected a key before '='");
		return;
	}
	if (ps->sec == SEC_NONE) {
		diag(ps->d, DIAG_ERROR, ps->lineno, col0, "%s= comes before any [Section] header", key);
		return;
	}
	size_t k;
	for (k = 0; k < ARRAY_SIZE(keys); k++)
		if (keys[k].section == ps->sec && strcmp(keys[k].name, key) == 0)
			break;
	if (k == ARRAY_SIZE(keys)) {
		const char *best = suggest_key(ps->sec, key), *other = where_else(key, ps->sec);
		if (other)
			diag(ps->d, DIAG_WARNING, ps->lineno, col0, "%s= belongs in [%s], not [%s]; ignored", key,
			     other, section_names[ps->sec]);
		else if (best)
			diag(ps->d, DIAG_WARNING, ps->lineno, col0, "unknown key %s= in [%s]; did you mean %s=?",
			     key, section_names[ps->sec], best);
		else
			diag(ps->d, DIAG_WARNING, ps->lineno, col0, "unknown key %s= in [%s]; ignored", key,
			     section_names[ps->sec]);
		return;
	}
	if (!*value) {
		diag(ps->d, DIAG_ERROR, ps->lineno, vcol, "%s= needs a value", key);
		return;
	}
	if (!keys[k].list && ps->seen_key[k]) {
		diag(ps->d, DIAG_ERROR, ps->lineno, col0, "%s= is given twice in [%s] (first at line %u)", key,
		     section_names[ps->sec], ps->seen_key[k]);
		return;
	}
	if (!ps->seen_key[k])
		ps->seen_key[k] = ps->lineno;
	struct ctx c = {.p = ps->p, .d = ps->d, .line = ps->lineno, .col = vcol, .key = key};
	void *field = (char *)ps->p + keys[k].offset;
	switch (keys[k].kind) {
	case VAL_FN:
		keys[k].fn(&c, value);
		break;
	case VAL_RATE:
		rate(&c, value, field);
		break;
	case VAL_SIZE:
		size(&c, value, field);
		break;
	case VAL_WEIGHT:
		parse_weight(&c, value, field);
		break;
	}
}

int policy_parse(const char *buf, size_t len, struct policy **ret, struct diags *d)
{
	struct parser ps = {.d = d, .sec = SEC_NONE};
	ps.p = calloc(1, sizeof(*ps.p));
	if (!ps.p)
		return -ENOMEM;
	ps.p->exclusive = -1;
	ps.p->mem_migrate = -1;
	bool crlf_warned = false;
	char *line = malloc(POLICY_LINE_MAX + 2);
	if (!line) {
		free(ps.p);
		return -ENOMEM;
	}

	if (len == 0)
		diag(d, DIAG_ERROR, 0, 0, "the file is empty: a policy needs at least a [Match] section");

	for (size_t pos = 0; pos < len;) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - start) : len - pos;
		pos += l + (nl ? 1 : 0);
		ps.lineno++;
		if (l > 0 && start[l - 1] == '\r') {
			l--;
			if (!crlf_warned)
				diag(d, DIAG_WARNING, ps.lineno, (unsigned)l + 1,
				     "CRLF line ending (read as LF; the rest of the file is not flagged again)");
			crlf_warned = true;
		}
		if (l > POLICY_LINE_MAX) {
			diag(d, DIAG_ERROR, ps.lineno, POLICY_LINE_MAX + 1,
			     "line is longer than %d bytes", POLICY_LINE_MAX);
			continue;
		}
		const char *nul = memchr(start, '\0', l);
		if (nul) {
			diag(d, DIAG_ERROR, ps.lineno, (unsigned)(nul - start) + 1, "NUL byte in a text file");
			continue;
		}
		long bad = utf8_invalid_at((const unsigned char *)start, l);
		if (bad >= 0) {
			diag(d, DIAG_ERROR, ps.lineno, (unsigned)bad + 1, "invalid UTF-8 (byte 0x%02x)",
			     (unsigned char)start[bad]);
			continue;
		}
		memcpy(line, start, l);
		line[l] = '\0';
		char *t = line;
		while (*t == ' ' || *t == '\t')
			t++;
		if (!*t || *t == '#' || *t == ';')
			continue;
		unsigned col0 = (unsigned)(t - line) + 1;

		if (*t == '[') {
			parse_section_line(&ps, line, l, t, col0);
			continue;
		}
		if ((int)ps.sec == -1)
			continue;
		parse_key_line(&ps, line, t, col0);
	}
	free(line);
	if (len > 0)
		finish(ps.p, d, ps.seen_section);
	/* Cross-key checks come last; readers want file order. */
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp_diag);
	*ret = ps.p;
	return 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

int policy_load_at(int dirfd, const char *name, const char *path, bool trust_check, struct policy **ret,
		   struct diags *d)
{
	*ret = NULL;
	/* O_NOFOLLOW: a policy is read where it was named, never through a link;
	 * O_NONBLOCK: a FIFO is diagnosed, not waited on. */
	_cleanup_free_ char *reason = NULL;
	_cleanup_close_ int fd = trust_openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, trust_check,
					      "policy file", path, &reason);
	if (fd < 0) {
		if (!reason && fd == -ENOMEM)
			return -ENOMEM;
		diag(d, DIAG_ERROR, 0, 0, "%s", reason ? reason : strerror(-fd));
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		diag(d, DIAG_ERROR, 0, 0, "%s", strerror(errno));
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		diag(d, DIAG_ERROR, 0, 0, "is a directory, not a policy file");
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		diag(d, DIAG_ERROR, 0, 0, "is not a regular file");
		return 0;
	}
	if (st.st_size > POLICY_FILE_MAX) {
		diag(d, DIAG_ERROR, 0, 0, "is larger than %d bytes", POLICY_FILE_MAX);
		return 0;
	}
	/* Read from the fd that was checked, up to one byte past the limit: the file
	 * may have grown since fstat. */
	_cleanup_free_ char *buf = malloc(POLICY_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, POLICY_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			diag(d, DIAG_ERROR, 0, 0, "%s", strerror(errno));
			return 0;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > POLICY_FILE_MAX) {
			diag(d, DIAG_ERROR, 0, 0, "is larger than %d bytes", POLICY_FILE_MAX);
			return 0;
		}
	}
	int r = policy_parse(buf, len, ret, d);
	if (r == 0 && *ret)
		(*ret)->changed = st.st_ctim;
	return r;
}

int policy_load(const char *path, bool trust_check, struct policy **ret, struct diags *d)
{
	*ret = NULL;
	/* The directory by trust_open()'s walk from "/", then the file relative to that
	 * fd: the directory that was checked is the one the file is read from. */
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	_cleanup_free_ char *copy = strndup(path, len);
	if (!copy)
		return -ENOMEM;
	if (len == 0) {
		diag(d, DIAG_ERROR, 0, 0, "an empty path names no file");
		return 0;
	}
	char *slash = strrchr(copy, '/');
	const char *dir = ".", *name = copy;
	if (slash) {
		*slash = '\0';
		dir = slash == copy ? "/" : copy;
		name = slash + 1;
	}
	if (!*name || strcmp(name, ".") == 0) { /* "/", "x/." */
		diag(d, DIAG_ERROR, 0, 0, "is a directory, not a policy file");
		return 0;
	}
	if (strcmp(name, "..") == 0) {
		diag(d, DIAG_ERROR, 0, 0, "refusing '..' in the path; name the real path");
		return 0;
	}
	_cleanup_free_ char *reason = NULL;
	_cleanup_close_ int dfd = trust_open_reason(dir, O_PATH | O_DIRECTORY, 0, trust_check,
						    "the policy directory", &reason);
	if (dfd < 0) {
		if (!reason && dfd == -ENOMEM)
			return -ENOMEM;
		diag(d, DIAG_ERROR, 0, 0, "%s", reason ? reason : strerror(-dfd));
		return 0;
	}
	return policy_load_at(dfd, name, path, trust_check, ret, d);
}
