// SPDX-License-Identifier: GPL-2.0-or-later
#include "tune/tune.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/sched.h"
#include "vmm/discover.h"

unsigned cputune_period(const struct cputune *t)
{
	return t->period_us ? t->period_us : 100000;
}

long long cputune_quota_us(const struct cputune *t)
{
	return t->quota_percent == 0 ? -1 : (long long)(t->quota_percent * cputune_period(t) / 100);
}

void cputune_max(const struct cputune *t, char *buf, size_t size)
{
	long long quota = cputune_quota_us(t);
	if (quota < 0)
		snprintf(buf, size, "max %u", cputune_period(t));
	else
		snprintf(buf, size, "%lld %u", quota, cputune_period(t));
}

unsigned long long cputune_shares(unsigned weight)
{
	unsigned long long s = (unsigned long long)weight * 1024 / 100;
	return s < CPU_SHARES_MIN ? CPU_SHARES_MIN : s > CPU_SHARES_MAX ? CPU_SHARES_MAX : s;
}

void sched_format(int policy, unsigned priority, char *buf, size_t size)
{
	if (sched_policy_is_rt(policy))
		snprintf(buf, size, "%s:%u", sched_policy_name(policy), priority);
	else
		snprintf(buf, size, "%s", sched_policy_name(policy));
}

int sched_parse(const char *s, int *ret_policy, unsigned *ret_priority)
{
	const char *colon = strchr(s, ':');
	int policy, prio = 0;
	if (sched_policy_from_name(s, colon ? (size_t)(colon - s) : strlen(s), &policy) < 0)
		return -EINVAL;
	if (sched_policy_is_rt(policy) != !!colon || (colon && parse_int(colon + 1, &prio) < 0) ||
	    cputune_check_sched(policy, prio) < 0)
		return -EINVAL;
	*ret_policy = policy;
	*ret_priority = (unsigned)prio;
	return 0;
}

const struct idset *vm_tune_cpus_for(const struct vm_tune *tune, const struct vm_thread *t)
{
	if (t && t->kind == THREAD_VCPU)
		return t->vcpu_index >= 0 && (size_t)t->vcpu_index < tune->n_vcpu ? tune->vcpu[t->vcpu_index] : NULL;
	if (t && t->kind == THREAD_IOTHREAD) {
		for (size_t i = 0; i < tune->n_iothread; i++)
			if (t->iothread_id && strcmp(tune->iothread_ids[i], t->iothread_id) == 0)
				return tune->iothread[i];
		return NULL;
	}
	return tune->emulator;
}

int cputune_check_weight(long long weight)
{
	return weight >= CGROUP_WEIGHT_MIN && weight <= CGROUP_WEIGHT_MAX ? 0 : -ERANGE;
}

int cputune_check_quota_percent(uint64_t percent)
{
	return percent >= CPU_QUOTA_PERCENT_MIN && percent <= CPU_QUOTA_PERCENT_MAX ? 0 : -ERANGE;
}

int cputune_check_period(long long period_us)
{
	return period_us >= CPU_PERIOD_US_MIN && period_us <= CPU_PERIOD_US_MAX ? 0 : -ERANGE;
}

int cputune_check_sched(int policy, long long priority)
{
	const char *name = sched_policy_name(policy);
	int settable;
	if (sched_policy_from_name(name, strlen(name), &settable) < 0)
		return -ERANGE; /* not a policy kvmcg sets */
	if (sched_policy_is_rt(policy))
		return priority >= SCHED_RT_PRIORITY_MIN && priority <= SCHED_RT_PRIORITY_MAX ? 0 : -ERANGE;
	return priority == 0 ? 0 : -ERANGE;
}

int cputune_check(const struct cputune *t)
{
	if (t->weight && cputune_check_weight(t->weight) < 0) {
		err_set("CPU weight %u is out of range (%u to %u)", t->weight, CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX);
		return -ERANGE;
	}
	if (t->quota_set && t->quota_percent && cputune_check_quota_percent(t->quota_percent) < 0) {
		err_set("CPU quota %llu%% is out of range (%u%% to %u%%, or max)",
			(unsigned long long)t->quota_percent, CPU_QUOTA_PERCENT_MIN, CPU_QUOTA_PERCENT_MAX);
		return -ERANGE;
	}
	if (t->period_us && cputune_check_period(t->period_us) < 0) {
		err_set("CPU period %u us is out of range (%u to %u)", t->period_us, CPU_PERIOD_US_MIN,
			CPU_PERIOD_US_MAX);
		return -ERANGE;
	}
	long long q = cputune_quota_us(t);
	if (q >= 0 && q < CPU_QUOTA_US_MIN) {
		err_set("CPU quota %llu%% of a %u us period is %lld us, below the %u us the kernel takes: give a longer "
			"period or a larger quota",
			(unsigned long long)t->quota_percent, cputune_period(t), q, CPU_QUOTA_US_MIN);
		return -ERANGE;
	}
	if (t->sched_set && cputune_check_sched(t->sched_policy, t->sched_priority) < 0) {
		err_set("vCPU scheduler policy %d with priority %u is not other, batch, idle, fifo:PRIO or rr:PRIO "
			"(PRIO %d to %d)",
			t->sched_policy, t->sched_priority, SCHED_RT_PRIORITY_MIN, SCHED_RT_PRIORITY_MAX);
		return -ERANGE;
	}
	return 0;
}

void vm_tune_done(struct vm_tune *s)
{
	for (size_t i = 0; i < s->n_vcpu; i++)
		idset_free(s->vcpu[i]);
	free(s->vcpu);
	idset_free(s->emulator);
	for (size_t i = 0; i < s->n_iothread; i++) {
		free(s->iothread_ids[i]);
		idset_free(s->iothread[i]);
	}
	free(s->iothread_ids);
	free(s->iothread);
	idset_free(s->mems);
	iotune_done(&s->iotune);
	nettune_done(&s->nettune);
	*s = (struct vm_tune){0};
}

void nettune_done(struct nettune *t)
{
	strv_free(t->interfaces);
	*t = (struct nettune){0};
}

int nettune_copy(const struct nettune *t, struct nettune *ret)
{
	*ret = (struct nettune){.in = t->in, .out = t->out, .weight = t->weight, .bridge_total = t->bridge_total};
	for (size_t i = 0; i < t->n_interfaces; i++)
		if (strv_push(&ret->interfaces, &ret->n_interfaces, t->interfaces[i]) < 0) {
			nettune_done(ret);
			return -ENOMEM;
		}
	return 0;
}

bool nettune_any(const struct nettune *t)
{
	return (t->in.average || t->out.average || t->weight) && t->n_interfaces;
}

bool nettune_equal(const struct nettune *a, const struct nettune *b)
{
	if (memcmp(&a->in, &b->in, sizeof(a->in)) != 0 || memcmp(&a->out, &b->out, sizeof(a->out)) != 0 ||
	    a->weight != b->weight || a->bridge_total != b->bridge_total || a->n_interfaces != b->n_interfaces)
		return false;
	for (size_t i = 0; i < a->n_interfaces; i++)
		if (strcmp(a->interfaces[i], b->interfaces[i]) != 0)
			return false;
	return true;
}

bool nettune_matches(const struct nettune *t, const char *ifname)
{
	for (size_t i = 0; i < t->n_interfaces; i++)
		if (fnmatch(t->interfaces[i], ifname, 0) == 0)
			return true;
	return false;
}

unsigned iotune_bfq_weight(unsigned weight)
{
	if (weight <= 100)
		return weight;
	return 100 + (unsigned)(((unsigned long long)weight - 100) * (1000 - 100) / (CGROUP_WEIGHT_MAX - 100));
}

void iotune_done(struct iotune *t)
{
	free(t->dev);
	*t = (struct iotune){0};
}

int iotune_copy(const struct iotune *t, struct iotune *ret)
{
	*ret = (struct iotune){.weight = t->weight};
	if (t->n_dev) {
		ret->dev = malloc(t->n_dev * sizeof(*ret->dev));
		if (!ret->dev)
			return -ENOMEM;
		memcpy(ret->dev, t->dev, t->n_dev * sizeof(*ret->dev));
		ret->n_dev = t->n_dev;
	}
	return 0;
}

struct io_device *iotune_find(const struct iotune *t, unsigned major, unsigned minor)
{
	for (size_t i = 0; i < t->n_dev; i++)
		if (t->dev[i].major == major && t->dev[i].minor == minor)
			return &t->dev[i];
	return NULL;
}

struct io_device *iotune_get(struct iotune *t, unsigned major, unsigned minor)
{
	struct io_device *d = iotune_find(t, major, minor);
	if (d)
		return d;
	d = realloc(t->dev, (t->n_dev + 1) * sizeof(*d));
	if (!d)
		return NULL;
	t->dev = d;
	d = &t->dev[t->n_dev++];
	*d = (struct io_device){.major = major, .minor = minor};
	return d;
}

bool iotune_any(const struct iotune *t)
{
	return t->weight || t->n_dev;
}

void iotune_settled(struct iotune *t)
{
	if (t->weight == IO_WEIGHT_RESET)
		t->weight = 0;
	size_t k = 0;
	for (size_t i = 0; i < t->n_dev; i++) {
		struct io_device d = t->dev[i];
		if (d.weight == IO_WEIGHT_RESET)
			d.weight = 0;
		uint64_t *lim[] = {&d.rbps, &d.wbps, &d.riops, &d.wiops};
		for (size_t l = 0; l < ARRAY_SIZE(lim); l++)
			if (*lim[l] == IO_LIMIT_RESET)
				*lim[l] = 0;
		if (d.weight || d.rbps || d.wbps || d.riops || d.wiops)
			t->dev[k++] = d;
	}
	t->n_dev = k;
}

/* A copy of an optional set: NULL stays NULL. */
static int set_copy(const struct idset *s, struct idset **ret)
{
	*ret = NULL;
	if (s && !(*ret = idset_dup(s)))
		return -ENOMEM;
	return 0;
}

int vm_tune_copy(const struct vm_tune *s, struct vm_tune *ret)
{
	struct vm_tune c = {.cputune = s->cputune, .mem_policy = s->mem_policy, .mem_no_migrate = s->mem_no_migrate};
	int r = 0;
	if (s->n_vcpu) {
		c.vcpu = calloc(s->n_vcpu, sizeof(*c.vcpu));
		r = c.vcpu ? 0 : -ENOMEM;
		if (r == 0)
			c.n_vcpu = s->n_vcpu;
	}
	for (size_t i = 0; r == 0 && i < s->n_vcpu; i++)
		r = set_copy(s->vcpu[i], &c.vcpu[i]);
	if (r == 0)
		r = set_copy(s->emulator, &c.emulator);
	if (r == 0)
		r = set_copy(s->mems, &c.mems);
	if (r == 0)
		r = iotune_copy(&s->iotune, &c.iotune);
	if (r == 0)
		r = nettune_copy(&s->nettune, &c.nettune);
	if (r == 0 && s->n_iothread) {
		c.iothread_ids = calloc(s->n_iothread, sizeof(*c.iothread_ids));
		c.iothread = calloc(s->n_iothread, sizeof(*c.iothread));
		r = c.iothread_ids && c.iothread ? 0 : -ENOMEM;
		if (r == 0)
			c.n_iothread = s->n_iothread;
	}
	for (size_t i = 0; r == 0 && i < s->n_iothread; i++) {
		r = set_copy(s->iothread[i], &c.iothread[i]);
		if (r == 0 && !(c.iothread_ids[i] = strdup(s->iothread_ids[i])))
			r = -ENOMEM;
	}
	if (r < 0) {
		if (!c.n_iothread) { /* allocated, not counted yet */
			free(c.iothread_ids);
			free(c.iothread);
			c.iothread_ids = NULL;
			c.iothread = NULL;
		}
		vm_tune_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

static int parse_list_arg(const char *what, const char *arg, const char *list, struct idset **ret,
			  size_t *ret_col)
{
	size_t off = 0;
	int r = idset_parse(list, ret, &off);
	if (r < 0) {
		err_set("%s '%s': '%s' is not a CPU list (at '%s'; expected e.g. 2, 18-23, 0-31:2, 1,3,5)",
			what, arg, list, list + off);
		if (ret_col)
			*ret_col = (size_t)(list - arg) + off;
		return -EINVAL;
	}
	if (idset_count(*ret) == 0) {
		idset_free(*ret);
		*ret = NULL;
		err_set("%s '%s': the CPU list is empty", what, arg);
		if (ret_col)
			*ret_col = (size_t)(list - arg);
		return -EINVAL;
	}
	return 0;
}

int parse_vcpu_arg(const char *s, const char *what, struct vcpu_arg *ret, size_t *ret_col)
{
	const char *colon = strchr(s, ':');
	if (ret_col)
		*ret_col = 0;
	if (!colon) {
		err_set("%s '%s': expected VCPU:CPUS, e.g. 0:2, 0-3:4-7 or all:8-15", what, s);
		return -EINVAL;
	}
	_cleanup_free_ char *left = strndup(s, (size_t)(colon - s));
	if (!left)
		return -ENOMEM;
	struct vcpu_arg a = {.first = -1, .last = -1};
	if (strcmp(left, "all") != 0) {
		char *dash = strchr(left, '-');
		if (dash)
			*dash = '\0';
		if (parse_int(left, &a.first) < 0 || a.first < 0 ||
		    (dash ? parse_int(dash + 1, &a.last) < 0 : (a.last = a.first, 0)) || a.last < a.first) {
			err_set("%s '%s': '%.*s' is not a vCPU index, range or 'all'", what, s,
				(int)(colon - s), s);
			return -EINVAL;
		}
	}
	int r = parse_list_arg(what, s, colon + 1, &a.cpus, ret_col);
	if (r < 0)
		return r;
	*ret = a;
	return 0;
}

int parse_iothread_arg(const char *s, const char *what, char **ret_id, struct idset **ret_cpus,
		       size_t *ret_col)
{
	const char *colon = strchr(s, ':');
	if (ret_col)
		*ret_col = 0;
	if (!colon || colon == s) {
		err_set("%s '%s': expected ID:CPUS, e.g. iothread1:4", what, s);
		return -EINVAL;
	}
	struct idset *cpus = NULL;
	int r = parse_list_arg(what, s, colon + 1, &cpus, ret_col);
	if (r < 0)
		return r;
	*ret_id = strndup(s, (size_t)(colon - s));
	if (!*ret_id) {
		idset_free(cpus);
		return -ENOMEM;
	}
	*ret_cpus = cpus;
	return 0;
}

/* want minus have, as a list; NULL when nothing is missing. */

void tune_request_done(struct tune_request *a)
{
	for (size_t i = 0; i < a->n_vcpus; i++)
		idset_free(a->vcpus[i].cpus);
	free(a->vcpus);
	idset_free(a->emulator);
	for (size_t i = 0; i < a->n_iothreads; i++) {
		free(a->iothread_ids[i]);
		idset_free(a->iothreads[i]);
	}
	free(a->iothread_ids);
	free(a->iothreads);
	idset_free(a->mems);
	for (size_t i = 0; i < a->n_cells; i++)
		idset_free(a->cells[i].nodes);
	free(a->cells);
	for (size_t i = 0; i < a->n_io; i++)
		free(a->io[i].path);
	free(a->io);
	nettune_done(&a->net);
	strv_free(a->skipped);
	*a = (struct tune_request){0};
}

int tune_request_add_io(struct tune_request *a, const struct io_request *q)
{
	char *path = strdup(q->path);
	struct io_request *n = path ? realloc(a->io, (a->n_io + 1) * sizeof(*n)) : NULL;
	if (!n) {
		free(path);
		return -ENOMEM;
	}
	a->io = n;
	n[a->n_io] = *q;
	n[a->n_io++].path = path;
	return 0;
}

const char *io_limit_key(enum io_limit_kind k)
{
	static const char *const keys[] = {
		[IO_DEVICE_WEIGHT] = "DeviceWeight", [IO_READ_BPS] = "ReadBandwidthMax",
		[IO_WRITE_BPS] = "WriteBandwidthMax", [IO_READ_IOPS] = "ReadIOPSMax",
		[IO_WRITE_IOPS] = "WriteIOPSMax",
	};
	return (size_t)k < ARRAY_SIZE(keys) ? keys[k] : "?";
}

int tune_request_add_cell(struct tune_request *a, const struct cell_nodes *c)
{
	struct idset *nodes = idset_dup(c->nodes);
	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_cells; i++)
		if (a->cells[i].cell == c->cell) {
			idset_free(a->cells[i].nodes);
			a->cells[i] = (struct cell_nodes){.cell = c->cell, .nodes = nodes, .mode = c->mode};
			return 0;
		}
	struct cell_nodes *n = realloc(a->cells, (a->n_cells + 1) * sizeof(*n));
	if (!n) {
		idset_free(nodes);
		return -ENOMEM;
	}
	a->cells = n;
	n[a->n_cells++] = (struct cell_nodes){.cell = c->cell, .nodes = nodes, .mode = c->mode};
	return 0;
}

int tune_request_add_vcpu(struct tune_request *a, const struct vcpu_arg *v)
{
	struct vcpu_arg *n = realloc(a->vcpus, (a->n_vcpus + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	a->vcpus = n;
	n[a->n_vcpus] = *v;
	if (!(n[a->n_vcpus].cpus = idset_dup(v->cpus)))
		return -ENOMEM;
	a->n_vcpus++;
	return 0;
}

int tune_request_add_iothread(struct tune_request *a, const char *id, const struct idset *cpus)
{
	char **ids = realloc(a->iothread_ids, (a->n_iothreads + 1) * sizeof(char *));
	if (ids)
		a->iothread_ids = ids;
	struct idset **sets = realloc(a->iothreads, (a->n_iothreads + 1) * sizeof(*sets));
	if (sets)
		a->iothreads = sets;
	if (!ids || !sets)
		return -ENOMEM;
	ids[a->n_iothreads] = strdup(id);
	sets[a->n_iothreads] = idset_dup(cpus);
	if (!ids[a->n_iothreads] || !sets[a->n_iothreads]) {
		free(ids[a->n_iothreads]);
		idset_free(sets[a->n_iothreads]);
		return -ENOMEM;
	}
	a->n_iothreads++;
	return 0;
}

struct idset *vm_tune_cpus(const struct vm_tune *s)
{
	struct idset *u = idset_new();
	if (!u)
		return NULL;
	for (size_t i = 0; i < s->n_vcpu + 1 + s->n_iothread; i++) {
		const struct idset *x = i < s->n_vcpu ? s->vcpu[i]
					 : i == s->n_vcpu ? s->emulator
							  : s->iothread[i - s->n_vcpu - 1];
		for (int b = 0; x && b <= idset_last(x); b++)
			if (idset_isset(x, (unsigned)b))
				idset_set(u, (unsigned)b);
	}
	return u;
}

const char *mem_policy_name(enum mem_policy p)
{
	static const char *const names[] = {"unset", "strict", "preferred", "interleave", "restrictive"};
	return (size_t)p < ARRAY_SIZE(names) ? names[p] : "?";
}

int mem_policy_parse(const char *s, enum mem_policy *ret)
{
	for (enum mem_policy m = MEM_POLICY_STRICT; m <= MEM_POLICY_RESTRICTIVE; m++)
		if (strcmp(s, mem_policy_name(m)) == 0) {
			*ret = m;
			return 0;
		}
	return -EINVAL;
}

/* ---- vm_tune_describe ------------------------------------------------------------- */

static bool idset_same(const struct idset *a, const struct idset *b)
{
	return (!a && !b) || (a && b && idset_equal(a, b));
}

static const struct idset *vcpu_pin(const struct vm_tune *t, size_t i)
{
	return t && i < t->n_vcpu ? t->vcpu[i] : NULL;
}

static const struct idset *iothread_pin(const struct vm_tune *t, const char *id)
{
	for (size_t i = 0; t && i < t->n_iothread; i++)
		if (!strcmp(t->iothread_ids[i], id))
			return t->iothread[i];
	return NULL;
}

/* ", WHAT: OLD -> NEW", or without before ", WHAT -> NEW". */
static void change(FILE *f, const char *what, bool with_before, const char *old, const char *new)
{
	if (with_before)
		fprintf(f, ", %s: %s -> %s", what, old, new);
	else
		fprintf(f, ", %s -> %s", what, new);
}

/* A change of CPUs; nothing when the same, or without before when new is none. */
static void describe_cpus(FILE *f, const char *what, bool with_before, const struct idset *old,
			  const struct idset *new)
{
	if (with_before ? idset_same(old, new) : !new)
		return;
	_cleanup_free_ char *o = old ? idset_format(old) : NULL;
	_cleanup_free_ char *n = new ? idset_format(new) : NULL;
	change(f, what, with_before, o ? o : "-", n ? n : "-");
}

static void describe_vcpus(FILE *f, const struct vm_tune *before, const struct vm_tune *after)
{
	size_t had = before ? before->n_vcpu : 0;
	size_t n = after->n_vcpu > had ? after->n_vcpu : had;
	for (size_t i = 0; i < n;) {
		const struct idset *old = vcpu_pin(before, i), *new = vcpu_pin(after, i);
		size_t j = i + 1;
		while (j < n && idset_same(vcpu_pin(before, j), old) && idset_same(vcpu_pin(after, j), new))
			j++;
		char what[48];
		if (j - i > 1)
			snprintf(what, sizeof(what), "vCPU %zu-%zu", i, j - 1);
		else
			snprintf(what, sizeof(what), "vCPU %zu", i);
		describe_cpus(f, what, before, old, new);
		i = j;
	}
}

static void describe_iothreads(FILE *f, const struct vm_tune *before, const struct vm_tune *after)
{
	char what[128];
	for (size_t i = 0; i < after->n_iothread; i++) {
		snprintf(what, sizeof(what), "iothread %s", after->iothread_ids[i]);
		describe_cpus(f, what, before, iothread_pin(before, after->iothread_ids[i]), after->iothread[i]);
	}
	for (size_t i = 0; before && i < before->n_iothread; i++)
		if (!iothread_pin(after, before->iothread_ids[i]) && before->iothread[i]) {
			snprintf(what, sizeof(what), "iothread %s", before->iothread_ids[i]);
			describe_cpus(f, what, true, before->iothread[i], NULL);
		}
}

static void describe_nodeset(FILE *f, const struct vm_tune *before, const struct vm_tune *after)
{
	if (before && idset_same(before->mems, after->mems) && before->mem_policy == after->mem_policy)
		return;
	_cleanup_free_ char *o = before && before->mems ? idset_format(before->mems) : NULL;
	_cleanup_free_ char *n = after->mems ? idset_format(after->mems) : NULL;
	if (!before && !n)
		return;
	change(f, "nodeset", before, o ? o : "-", n ? n : "-");
	if (n && after->mem_policy != MEM_POLICY_UNSET)
		fprintf(f, " (%s)", mem_policy_name(after->mem_policy));
}

static void quota_text(const struct cputune *c, char *buf, size_t size)
{
	if (!c->quota_set)
		snprintf(buf, size, "-");
	else if (!c->quota_percent)
		snprintf(buf, size, "max");
	else
		snprintf(buf, size, "%" PRIu64 "%%", c->quota_percent);
}

static void describe_cputune(FILE *f, const struct vm_tune *before, const struct vm_tune *after)
{
	const struct cputune *o = before ? &before->cputune : NULL, *n = &after->cputune;
	char a[32], b[32];
	if (o ? o->weight != n->weight : n->weight != 0) {
		snprintf(a, sizeof(a), o && o->weight ? "%u" : "-", o ? o->weight : 0);
		snprintf(b, sizeof(b), n->weight ? "%u" : "-", n->weight);
		change(f, "cpu weight", o, a, b);
	}
	if (o ? o->quota_set != n->quota_set || o->quota_percent != n->quota_percent : n->quota_set) {
		quota_text(o ? o : n, a, sizeof(a));
		quota_text(n, b, sizeof(b));
		change(f, "cpu quota", o, a, b);
	}
	if (o ? o->period_us != n->period_us : n->period_us != 0) {
		snprintf(a, sizeof(a), o && o->period_us ? "%uus" : "-", o ? o->period_us : 0);
		snprintf(b, sizeof(b), n->period_us ? "%uus" : "-", n->period_us);
		change(f, "cpu period", o, a, b);
	}
	if (o ? o->sched_set != n->sched_set || o->sched_policy != n->sched_policy ||
		    o->sched_priority != n->sched_priority
	      : n->sched_set) {
		if (o && o->sched_set)
			sched_format(o->sched_policy, o->sched_priority, a, sizeof(a));
		else
			snprintf(a, sizeof(a), "-");
		if (n->sched_set)
			sched_format(n->sched_policy, n->sched_priority, b, sizeof(b));
		else
			snprintf(b, sizeof(b), "-");
		change(f, "vcpu scheduler", o, a, b);
	}
}

static bool iotune_same(const struct iotune *a, const struct iotune *b)
{
	if (a->weight != b->weight || a->n_dev != b->n_dev)
		return false;
	for (size_t i = 0; i < a->n_dev; i++) {
		const struct io_device *x = &a->dev[i], *y = &b->dev[i];
		if (x->major != y->major || x->minor != y->minor || x->weight != y->weight || x->rbps != y->rbps ||
		    x->wbps != y->wbps || x->riops != y->riops || x->wiops != y->wiops)
			return false;
	}
	return true;
}

char *vm_tune_describe(const struct vm_tune *before, const struct vm_tune *after)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	static const struct iotune no_io;
	static const struct nettune no_net;
	describe_vcpus(f, before, after);
	describe_cpus(f, "emulator", before, before ? before->emulator : NULL, after->emulator);
	describe_iothreads(f, before, after);
	describe_nodeset(f, before, after);
	describe_cputune(f, before, after);
	if (!iotune_same(before ? &before->iotune : &no_io, &after->iotune))
		fputs(", blkiotune", f);
	if (!nettune_equal(before ? &before->nettune : &no_net, &after->nettune))
		fputs(", domiftune", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (len >= 2) /* the first clause's ", " */
		memmove(buf, buf + 2, len - 1);
	return buf;
}
