// SPDX-License-Identifier: GPL-2.0-or-later
/* The tuning a VM ends up with: the previous one overlaid with the request, every CPU, node, vCPU and iothread checked against the host and the VM. */
#include "plan/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/util.h"
#include "plan/layout.h"
#include "plan/plan-internal.h"

static char *missing_from(const struct idset *want, const struct idset *have)
{
	struct idset *m _cleanup_cpuset_ = idset_new();
	if (!m)
		return NULL;
	for (int b = 0; b <= idset_last(want); b++)
		if (idset_isset(want, (unsigned)b) && !idset_isset(have, (unsigned)b))
			idset_set(m, (unsigned)b);
	return idset_count(m) ? idset_format(m) : NULL;
}

/* Every CPU (or node) of want must be online and usable by our cgroups. unit is
 * "CPU" or "node". */
static int check_set(const char *what, const char *unit, const struct idset *want,
		     const struct idset *online, const struct idset *parent)
{
	_cleanup_free_ char *off = missing_from(want, online);
	if (off) {
		_cleanup_free_ char *on = idset_format(online);
		bool one = !strpbrk(off, ",-");
		err_set("%s: %s%s %s %s not online (online %ss: %s)", what, unit, one ? "" : "s", off,
			one ? "is" : "are", unit, on ? on : "?");
		return -EINVAL;
	}
	_cleanup_free_ char *out = parent ? missing_from(want, parent) : NULL;
	if (out) {
		_cleanup_free_ char *p = idset_format(parent);
		bool one = !strpbrk(out, ",-");
		err_set("%s: %s%s %s %s outside what kvmcg's cgroup may use (%ss %s)", what, unit,
			one ? "" : "s", out, one ? "is" : "are", unit, p ? p : "?");
		return -EINVAL;
	}
	return 0;
}

static int vm_max_vcpu(const struct vm *vm)
{
	int max = -1;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU && vm->threads[i].vcpu_index > max)
			max = vm->threads[i].vcpu_index;
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		if (vm->unidentified_vcpus[i] > max)
			max = vm->unidentified_vcpus[i];
	return max;
}

static bool vm_has_vcpu(const struct vm *vm, int index)
{
	if (vm_find_vcpu(vm, index))
		return true;
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		if (vm->unidentified_vcpus[i] == index)
			return true;
	return false;
}

static bool vm_has_iothread(const struct vm *vm, const char *id)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_IOTHREAD && strcmp(vm->threads[i].iothread_id, id) == 0)
			return true;
	for (size_t i = 0; i < vm->n_unidentified_iothreads; i++)
		if (strcmp(vm->unidentified_iothreads[i], id) == 0)
			return true;
	return false;
}

static int spec_set_iothread(struct vm_tune *s, const char *id, const struct idset *cpus)
{
	for (size_t i = 0; i < s->n_iothread; i++)
		if (strcmp(s->iothread_ids[i], id) == 0) {
			struct idset *d = idset_dup(cpus);
			if (!d)
				return -ENOMEM;
			idset_free(s->iothread[i]);
			s->iothread[i] = d;
			return 0;
		}
	char **ids = realloc(s->iothread_ids, (s->n_iothread + 1) * sizeof(char *));
	if (!ids)
		return -ENOMEM;
	s->iothread_ids = ids;
	struct idset **sets = realloc(s->iothread, (s->n_iothread + 1) * sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	s->iothread = sets;
	ids[s->n_iothread] = strdup(id);
	sets[s->n_iothread] = idset_dup(cpus);
	s->n_iothread++;
	return ids[s->n_iothread - 1] && sets[s->n_iothread - 1] ? 0 : -ENOMEM;
}

/* What was pinned before stays pinned unless the request says otherwise; so does its
 * tuning (plan_merge_cputune and plan_merge_iotune overlay the request's). s->vcpu is allocated. */
static int merge_previous(const struct vm *vm, const struct vm_tune *previous, struct vm_tune *s)
{
	int r = 0;
	s->cputune = previous->cputune;
	if (iotune_copy(&previous->iotune, &s->iotune) < 0 || nettune_copy(&previous->nettune, &s->nettune) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < previous->n_vcpu && i < s->n_vcpu; i++)
		if (previous->vcpu[i] && !(s->vcpu[i] = idset_dup(previous->vcpu[i])))
			r = -ENOMEM;
	if (previous->emulator && !(s->emulator = idset_dup(previous->emulator)))
		r = -ENOMEM;
	if (previous->mems && !(s->mems = idset_dup(previous->mems)))
		r = -ENOMEM;
	s->mem_policy = previous->mem_policy;
	s->mem_no_migrate = previous->mem_no_migrate;
	for (size_t i = 0; r == 0 && i < previous->n_iothread; i++)
		if (vm_has_iothread(vm, previous->iothread_ids[i]) && previous->iothread[i])
			r = spec_set_iothread(s, previous->iothread_ids[i], previous->iothread[i]);
	return r;
}

/* One --vcpu (or VCPUPin=) onto s; max is the VM's highest vCPU index, -1 for none. */
static int merge_vcpu_arg(const struct plan_host *h, const struct vm *vm, int max, const struct vcpu_arg *a,
			  struct vm_tune *s)
{
	const char *what = a->from_policy ? "VCPUPin=" : "--vcpu";
	int r = check_set(what, "CPU", a->cpus, h->online_cpus, h->effective_cpus);
	if (r < 0)
		return r;
	int first = a->first, last = a->last;
	if (first < 0) {
		if (max < 0) {
			err_set("%s all: this VM has no vCPUs that kvmcg can see", what);
			return -ERANGE;
		}
		first = 0;
		last = max;
	}
	int maxcpus = vm->qemu.smp_maxcpus;
	for (int i = first; i <= last; i++) {
		if (!vm_has_vcpu(vm, i)) {
			if (a->first < 0)
				continue; /* "all" skips holes left by hot-unplug */
			if (a->from_policy && i < maxcpus)
				continue; /* not plugged in yet: pinned when it is */
			char has[32];
			snprintf(has, sizeof(has), max > 0 ? "vCPUs 0-%d" : "vCPU 0", max);
			if (i < maxcpus)
				err_set("%s %d: this VM has no vCPU %d yet (it has %s, and up to %d with hot-plug): "
					"pin it once it is plugged in, or put the pin in a policy that kvmcg watch keeps",
					what, i, i, has, maxcpus - 1);
			else
				err_set("%s %d: this VM has no vCPU %d (it has %s)", what, i, i, has);
			return -ERANGE;
		}
		idset_free(s->vcpu[i]);
		if (!(s->vcpu[i] = idset_dup(a->cpus)))
			return -ENOMEM;
	}
	return 0;
}

int plan_merge_spec(const struct plan_host *h, const struct vm *vm, const struct vm_tune *previous,
		    const struct vcpu_arg *vcpus, size_t n_vcpus, const struct idset *emulator,
		    char *const *iothread_ids, struct idset *const *iothreads, size_t n_iothreads,
		    const struct idset *mems, struct vm_tune *ret)
{
	struct vm_tune s = {0};
	int r = 0;
	int max = vm_max_vcpu(vm);
	s.n_vcpu = max >= 0 ? (size_t)max + 1 : 0;
	s.vcpu = calloc(s.n_vcpu ? s.n_vcpu : 1, sizeof(*s.vcpu));
	if (!s.vcpu)
		return -ENOMEM;

	if (previous)
		r = merge_previous(vm, previous, &s);
	for (size_t k = 0; r == 0 && k < n_vcpus; k++)
		r = merge_vcpu_arg(h, vm, max, &vcpus[k], &s);
	if (r == 0 && emulator) {
		r = check_set("--emulator", "CPU", emulator, h->online_cpus, h->effective_cpus);
		if (r == 0) {
			idset_free(s.emulator);
			if (!(s.emulator = idset_dup(emulator)))
				r = -ENOMEM;
		}
	}
	for (size_t k = 0; r == 0 && k < n_iothreads; k++) {
		if (!vm_has_iothread(vm, iothread_ids[k])) {
			_cleanup_free_ char *known = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&known, &len);
			for (size_t i = 0; f && i < vm->n_threads; i++)
				if (vm->threads[i].kind == THREAD_IOTHREAD)
					fprintf(f, "%s%s", ftell(f) ? ", " : "", vm->threads[i].iothread_id);
			if (f)
				fclose(f);
			err_set("--iothread %s: this VM has no such iothread (it has: %s)", iothread_ids[k],
				known && *known ? known : "none");
			r = -EINVAL;
			break;
		}
		r = check_set("--iothread", "CPU", iothreads[k], h->online_cpus, h->effective_cpus);
		if (r == 0)
			r = spec_set_iothread(&s, iothread_ids[k], iothreads[k]);
	}
	if (r == 0 && mems) {
		if (h->backend == BACKEND_AFFINITY) {
			err_set("--mems needs the cpuset controller, which this host does not offer");
			r = -EINVAL;
		} else {
			r = check_set("--mems", "node", mems, h->online_mems, h->effective_mems);
			_cleanup_free_ char *none = r == 0 && h->memory_mems ? missing_from(mems, h->memory_mems) : NULL;
			if (none) {
				_cleanup_free_ char *with = idset_format(h->memory_mems);
				bool one = !strpbrk(none, ",-");
				err_set("--mems: node%s %s %s no memory (nodes with memory: %s)", one ? "" : "s", none,
					one ? "has" : "have", with ? with : "?");
				r = -EINVAL;
			}
			if (r == 0) {
				idset_free(s.mems);
				if (!(s.mems = idset_dup(mems)))
					r = -ENOMEM;
			}
		}
	}
	if (r < 0) {
		vm_tune_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}
