// SPDX-License-Identifier: GPL-2.0-or-later
#include "tune/tune.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "kernel/sched.h"
#include "vmm/discover.h"

void cputune_max(const struct cputune *t, char *buf, size_t size)
{
	unsigned period = t->period_us ? t->period_us : 100000;
	if (t->quota_percent == 0)
		snprintf(buf, size, "max %u", period);
	else
		snprintf(buf, size, "%llu %u", (unsigned long long)(t->quota_percent * period / 100), period);
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
	*s = (struct vm_tune){0};
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
