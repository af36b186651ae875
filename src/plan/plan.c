// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/plan.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "plan/layout.h"
#include "plan/record.h"
#include "basic/util.h"

const char *action_kind_name(enum action_kind k)
{
	static const char *const names[] = {
		[ACT_ENABLE_CONTROLLER] = "enable-controller",
		[ACT_MKDIR] = "mkdir",
		[ACT_SET_THREADED] = "set-threaded",
		[ACT_WRITE] = "write",
		[ACT_MOVE_PROCESS] = "move-process",
		[ACT_MOVE_THREAD] = "move-thread",
		[ACT_RESCAN] = "rescan",
		[ACT_SET_AFFINITY] = "set-affinity",
		[ACT_RMDIR] = "rmdir",
		[ACT_SET_SCHED] = "set-scheduler",
		[ACT_DISABLE_CONTROLLER] = "disable-controller",
	};
	return k < ARRAY_SIZE(names) && names[k] ? names[k] : "?";
}

/* ---- specs ------------------------------------------------------------------------ */

int plan_merge_cputune(const struct plan_host *h, const struct cputune *req, struct vm_tune *tune,
		    char ***skipped, size_t *n_skipped)
{
	struct cputune *t = &tune->cputune;
	if (req->sched_set) {
		t->sched_set = true;
		t->sched_policy = req->sched_policy;
		t->sched_priority = req->sched_priority;
	}
	bool bandwidth = req->weight || req->quota_set || req->period_us;
	if (bandwidth && h->backend != BACKEND_CGROUP_V2) {
		/* On v1 the cpu controller is a hierarchy of its own; without cgroups
		 * there is nothing to write at all. */
		return strv_push(skipped, n_skipped,
				 h->backend == BACKEND_CGROUP_V1
					 ? "[CPU] Weight=/Quota=/Period= (need the cpu controller on cgroup v2; cpu is a separate v1 hierarchy here)"
					 : "[CPU] Weight=/Quota=/Period= (need a cgroup; none is used in affinity mode)");
	}
	if (req->weight)
		t->weight = req->weight;
	if (req->quota_set) {
		t->quota_set = true;
		t->quota_percent = req->quota_percent;
	}
	if (req->period_us)
		t->period_us = req->period_us;
	return 0;
}

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
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU && vm->threads[i].vcpu_index == index)
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

	/* What was pinned before stays pinned unless the request says otherwise; so
	 * does its tuning (plan_merge_cputune overlays the request's). */
	if (previous) {
		s.cputune = previous->cputune;
		for (size_t i = 0; i < previous->n_vcpu && i < s.n_vcpu; i++)
			if (previous->vcpu[i] && !(s.vcpu[i] = idset_dup(previous->vcpu[i])))
				r = -ENOMEM;
		if (previous->emulator && !(s.emulator = idset_dup(previous->emulator)))
			r = -ENOMEM;
		if (previous->mems && !(s.mems = idset_dup(previous->mems)))
			r = -ENOMEM;
		for (size_t i = 0; r == 0 && i < previous->n_iothread; i++)
			if (vm_has_iothread(vm, previous->iothread_ids[i]) && previous->iothread[i])
				r = spec_set_iothread(&s, previous->iothread_ids[i], previous->iothread[i]);
	}

	for (size_t k = 0; r == 0 && k < n_vcpus; k++) {
		const struct vcpu_arg *a = &vcpus[k];
		r = check_set("--vcpu", "CPU", a->cpus, h->online_cpus, h->effective_cpus);
		if (r < 0)
			break;
		int first = a->first, last = a->last;
		if (first < 0) {
			if (max < 0) {
				err_set("--vcpu all: this VM has no vCPUs that kvmcg can see");
				r = -ERANGE;
				break;
			}
			first = 0;
			last = max;
		}
		for (int i = first; r == 0 && i <= last; i++) {
			if (!vm_has_vcpu(vm, i)) {
				if (a->first < 0)
					continue; /* "all" skips holes left by hot-unplug */
				err_set("--vcpu %d: this VM has no vCPU %d (it has vCPUs 0-%d)", i, i, max);
				r = -ERANGE;
				break;
			}
			idset_free(s.vcpu[i]);
			if (!(s.vcpu[i] = idset_dup(a->cpus)))
				r = -ENOMEM;
		}
	}
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

/* ---- plans -------------------------------------------------------------------------- */

void plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++) {
		struct action *a = &p->actions[i];
		free(a->dir);
		free(a->file);
		free(a->value);
		idset_free(a->cpus);
	}
	free(p->actions);
	free(p->vm_dir);
	*p = (struct plan){0};
}

int plan_add(struct plan *p, const struct action *a)
{
	struct action *n = realloc(p->actions, (p->n_actions + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->actions = n;
	p->actions[p->n_actions++] = *a;
	return 0;
}

/* Shorthands that copy their strings; they return -ENOMEM or 0. */
static int add(struct plan *p, enum action_kind kind, const char *dir, const char *file,
	       const char *value, pid_t tid, const struct idset *cpus)
{
	struct action a = {.kind = kind, .tid = tid};
	a.dir = strdup_or_null(dir);
	a.file = strdup_or_null(file);
	a.value = strdup_or_null(value);
	a.cpus = idset_dup(cpus);
	if ((dir && !a.dir) || (file && !a.file) || (value && !a.value) || (cpus && !a.cpus) ||
	    plan_add(p, &a) < 0) {
		free(a.dir);
		free(a.file);
		free(a.value);
		idset_free(a.cpus);
		return -ENOMEM;
	}
	return 0;
}

static const struct cgroup_dir_state *find_dir(const struct plan_host *h, const char *path)
{
	for (size_t i = 0; i < h->n_dirs; i++)
		if (strcmp(h->dirs[i].path, path) == 0)
			return h->dirs[i].exists ? &h->dirs[i] : NULL;
	return NULL;
}

static bool has_controller_enabled(const struct cgroup_dir_state *d, const char *name)
{
	return d && cg_controller_listed(d->subtree_control, name);
}

/* "" for an unset list: how cpuset.cpus reads when it inherits. */
static char *format_or_empty(const struct idset *s)
{
	return s ? idset_format(s) : strdup("");
}

static bool same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The cgroup path of a thread as /proc shows it ("/kvmcg/demo/vcpu0"), against ours
 * ("kvmcg/demo/vcpu0"). */
static bool in_cgroup(const struct vm_thread *t, const char *dir)
{
	return strcmp(cg_relative(t->cgroup), dir) == 0;
}

/* Each child cgroup of the VM the plan needs, once. */
struct child {
	char *name;
	const struct idset *cpus;
	bool written; /* its cpuset changes: on 6.1 that resets its threads' affinity */
};

static int plan_cgroups(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune,
			struct plan *p, struct child **ret_children, size_t *ret_n)
{
	bool v2 = h->backend == BACKEND_CGROUP_V2;
	int r = 0;
	_cleanup_free_ char *effective_cpus = idset_format(h->effective_cpus);
	_cleanup_free_ char *effective_mems = idset_format(h->effective_mems);
	if (!effective_cpus || !effective_mems)
		return -ENOMEM;

	bool bandwidth = tune->cputune.weight || tune->cputune.quota_set;
	/* Ancestors, top-down, from the mount root to the VM's parent. */
	size_t vm_len = strlen(h->vm_dir);
	for (size_t i = 0; r == 0 && i < h->n_dirs; i++) {
		const char *path = h->dirs[i].path;
		size_t l = strlen(path);
		if (l >= vm_len || strncmp(h->vm_dir, path, l) != 0 || (l && h->vm_dir[l] != '/'))
			continue;
		const struct cgroup_dir_state *d = h->dirs[i].exists ? &h->dirs[i] : NULL;
		if (!d)
			r = add(p, ACT_MKDIR, path, NULL, NULL, 0, NULL);
		if (r == 0 && v2 && !has_controller_enabled(d, "cpuset"))
			r = add(p, ACT_ENABLE_CONTROLLER, path, "cgroup.subtree_control", "+cpuset", 0, NULL);
		/* cpu.weight and cpu.max of the VM's cgroup exist once its parent enables cpu */
		if (r == 0 && v2 && bandwidth && !has_controller_enabled(d, "cpu"))
			r = add(p, ACT_ENABLE_CONTROLLER, path, "cgroup.subtree_control", "+cpu", 0, NULL);
		/* v1: a new cpuset is empty and takes no task until it has cpus and mems. */
		if (r == 0 && !v2 && l > 0 && (!d || !d->cpus || !*d->cpus))
			r = add(p, ACT_WRITE, path, "cpuset.cpus", effective_cpus, 0, NULL);
		if (r == 0 && !v2 && l > 0 && (!d || !d->mems || !*d->mems))
			r = add(p, ACT_WRITE, path, "cpuset.mems", effective_mems, 0, NULL);
	}

	/* The VM's own cgroup. */
	const struct cgroup_dir_state *vmd = find_dir(h, h->vm_dir);
	_cleanup_free_ char *mems = tune->mems ? idset_format(tune->mems) : NULL;
	if (r == 0 && !vmd)
		r = add(p, ACT_MKDIR, h->vm_dir, NULL, NULL, 0, NULL);
	/* Inside the VM's own cgroup the tree is threaded from the top: that cgroup stays
	 * the VM's resource domain, with its limits. */
	if (r == 0 && v2 && h->vm_threaded && (!vmd || !vmd->threaded))
		r = add(p, ACT_SET_THREADED, h->vm_dir, "cgroup.type", "threaded", 0, NULL);
	if (r == 0 && v2 && mems && !same_text(vmd ? vmd->mems : NULL, mems))
		r = add(p, ACT_WRITE, h->vm_dir, "cpuset.mems", mems, 0, NULL);
	if (r == 0 && v2 && tune->cputune.weight) {
		char w[16];
		snprintf(w, sizeof(w), "%u", tune->cputune.weight);
		if (!vmd || !same_text(vmd->cpu_weight, w))
			r = add(p, ACT_WRITE, h->vm_dir, "cpu.weight", w, 0, NULL);
	}
	if (r == 0 && v2 && tune->cputune.quota_set) {
		char max[48];
		cputune_max(&tune->cputune, max, sizeof(max));
		if (!vmd || !same_text(vmd->cpu_max, max))
			r = add(p, ACT_WRITE, h->vm_dir, "cpu.max", max, 0, NULL);
	}
	if (r == 0 && !v2 && (!vmd || !same_text(vmd->cpus, effective_cpus)))
		r = add(p, ACT_WRITE, h->vm_dir, "cpuset.cpus", effective_cpus, 0, NULL);
	if (r == 0 && !v2 && (!vmd || !same_text(vmd->mems, effective_mems)))
		r = add(p, ACT_WRITE, h->vm_dir, "cpuset.mems", effective_mems, 0, NULL);

	/* Children: the emulator's first, since the whole process goes there. */
	size_t n = 0;
	struct child *children = calloc(vm->n_threads + 1, sizeof(*children));
	if (!children)
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		_cleanup_free_ char *name = layout_child_name(t);
		if (!name) {
			r = -ENOMEM;
			break;
		}
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= strcmp(children[k].name, name) == 0;
		/* Two iothreads whose long ids were cut to the same name plus the same hash
		 * would share a cgroup: refuse rather than pin one with the other's CPUs. */
		for (size_t j = 0; seen && t->kind == THREAD_IOTHREAD && j < i; j++)
			if (vm->threads[j].kind == THREAD_IOTHREAD &&
			    strcmp(vm->threads[j].iothread_id, t->iothread_id) != 0) {
				_cleanup_free_ char *other = layout_child_name(&vm->threads[j]);
				if (other && strcmp(other, name) == 0) {
					err_set("iothreads '%s' and '%s' would share the cgroup %s; rename one",
						vm->threads[j].iothread_id, t->iothread_id, name);
					r = -EINVAL;
				}
			}
		if (seen)
			continue;
		struct child c = {.name = TAKE_PTR(name), .cpus = vm_tune_cpus_for(tune, t)};
		/* emulator first */
		if (strcmp(c.name, LAYOUT_EMULATOR) == 0 && n > 0) {
			memmove(children + 1, children, n * sizeof(*children));
			children[0] = c;
		} else
			children[n] = c;
		n++;
	}
	bool vm_enabled = has_controller_enabled(vmd, "cpuset");
	for (size_t k = 0; r == 0 && k < n; k++) {
		_cleanup_free_ char *path = NULL, *cpus = format_or_empty(children[k].cpus);
		if (asprintf(&path, "%s/%s", h->vm_dir, children[k].name) < 0 || !cpus) {
			r = -ENOMEM;
			break;
		}
		const struct cgroup_dir_state *d = find_dir(h, path);
		if (!d)
			r = add(p, ACT_MKDIR, path, NULL, NULL, 0, NULL);
		if (r == 0 && v2 && (!d || !d->threaded))
			r = add(p, ACT_SET_THREADED, path, "cgroup.type", "threaded", 0, NULL);
		/* cpuset files appear in the children once the VM's cgroup enables cpuset:
		 * after the first child is threaded, so the VM becomes a threaded domain. */
		if (r == 0 && v2 && !vm_enabled) {
			r = add(p, ACT_ENABLE_CONTROLLER, h->vm_dir, "cgroup.subtree_control", "+cpuset", 0, NULL);
			vm_enabled = true;
		}
		if (r == 0 && !v2) {
			const char *want_cpus = children[k].cpus ? cpus : effective_cpus;
			const char *want_mems = mems ? mems : effective_mems;
			if (!d || !same_text(d->cpus, want_cpus)) {
				r = add(p, ACT_WRITE, path, "cpuset.cpus", want_cpus, 0, NULL);
				children[k].written = true;
			}
			if (r == 0 && (!d || !same_text(d->mems, want_mems))) {
				r = add(p, ACT_WRITE, path, "cpuset.mems", want_mems, 0, NULL);
				children[k].written = true;
			}
			/* v1 moves a task's pages with it only when asked to. */
			if (r == 0 && (!d || !d->memory_migrate))
				r = add(p, ACT_WRITE, path, "cpuset.memory_migrate", "1", 0, NULL);
		} else if (r == 0 && (!d || !same_text(d->cpus, cpus))) {
			/* A fresh v2 cgroup inherits: nothing to write for an unpinned one. */
			if (d || children[k].cpus) {
				r = add(p, ACT_WRITE, path, "cpuset.cpus", *cpus ? cpus : "\n", 0, NULL);
				children[k].written = true;
			}
		}
	}
	if (r < 0) {
		for (size_t k = 0; k < n; k++)
			free(children[k].name);
		free(children);
		return r;
	}
	*ret_children = children;
	*ret_n = n;
	return 0;
}

static int refuse_unidentified(const struct vm *vm)
{
	size_t unknown = 0;
	for (size_t i = 0; i < vm->n_threads; i++)
		unknown += vm->threads[i].kind == THREAD_UNKNOWN;
	if (vm->n_unidentified_vcpus == 0 && vm->n_unidentified_iothreads == 0 && unknown == 0)
		return 0;
	_cleanup_free_ char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);
	for (size_t i = 0; f && i < vm->n_unidentified_vcpus; i++)
		fprintf(f, "%s%d", i ? "," : "", vm->unidentified_vcpus[i]);
	if (f)
		fclose(f);
	err_set("refusing to pin pid %d: %s%s could not be identified (discovery: %s), and an "
		"unknown thread may be a vCPU; give kvmcg a QMP socket (--qmp) or run QEMU with "
		"-name debug-threads=on",
		(int)vm->pid, vm->n_unidentified_vcpus ? "vCPUs " : "some threads",
		vm->n_unidentified_vcpus && list ? list : "", discovery_source_name(vm->source));
	return -EAGAIN;
}

int plan_pin(const struct plan_host *h, const struct vm *vm, const struct vm_tune *tune,
	     struct plan *ret)
{
	int r = refuse_unidentified(vm);
	if (r < 0)
		return r;
	struct plan p = {.backend = h->backend};
	if (h->vm_dir && !(p.vm_dir = strdup(h->vm_dir)))
		return -ENOMEM;

	struct child *children = NULL;
	size_t n_children = 0;
	bool moved_any = false;
	if (h->backend != BACKEND_AFFINITY) {
		r = plan_cgroups(h, vm, tune, &p, &children, &n_children);
		if (r < 0)
			goto fail;

		_cleanup_free_ char *emulator_dir = NULL;
		if (asprintf(&emulator_dir, "%s/emulator", h->vm_dir) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		/* v2: the whole process into emulator/ first, so threads born meanwhile
		 * are born there. Never again once it is inside the VM's tree: that would
		 * pull the vCPUs back out of their cgroups. */
		bool process_moves = false;
		if (h->backend == BACKEND_CGROUP_V2) {
			for (size_t i = 0; i < vm->n_threads; i++)
				if (vm->threads[i].tid == vm->pid && !cg_path_within(vm->threads[i].cgroup, h->vm_dir))
					process_moves = true;
			if (process_moves)
				r = add(&p, ACT_MOVE_PROCESS, emulator_dir, "cgroup.procs", NULL, vm->pid, NULL);
		}
		for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
			const struct vm_thread *t = &vm->threads[i];
			_cleanup_free_ char *name = layout_child_name(t), *dir = layout_child_path(h->vm_dir, t);
			if (!name || !dir) {
				r = -ENOMEM;
				break;
			}
			bool there = process_moves ? strcmp(name, LAYOUT_EMULATOR) == 0 : in_cgroup(t, dir);
			if (!there) {
				r = add(&p, ACT_MOVE_THREAD, dir, layout_move_file(h->backend), NULL, t->tid, NULL);
				moved_any = true;
			}
		}
		moved_any |= process_moves;
		if (r == 0 && moved_any)
			r = add(&p, ACT_RESCAN, h->vm_dir, NULL, NULL, vm->pid, NULL);
		if (r < 0)
			goto fail;
	}

	/* Affinity last: cgroup moves and cpuset writes reset it on Linux 6.1. */
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		const struct idset *want = vm_tune_cpus_for(tune, t);
		if (h->backend == BACKEND_AFFINITY && !want)
			continue; /* nothing asked for this thread */
		if (!want)
			want = h->effective_cpus; /* unpinned: all that its cgroup allows */
		bool reset = moved_any && h->backend != BACKEND_AFFINITY;
		_cleanup_free_ char *name = layout_child_name(t);
		for (size_t k = 0; name && k < n_children; k++)
			if (strcmp(children[k].name, name) == 0)
				reset |= children[k].written;
		if (reset || !t->affinity || !idset_equal(t->affinity, want))
			r = add(&p, ACT_SET_AFFINITY, NULL, NULL, NULL, t->tid, want);
	}
	/* The vCPUs' scheduling class, like libvirt's <vcpusched>. */
	for (size_t i = 0; r == 0 && tune->cputune.sched_set && i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		if (t->kind != THREAD_VCPU)
			continue;
		if ((int)t->stat.policy == tune->cputune.sched_policy &&
		    t->stat.rt_priority == tune->cputune.sched_priority)
			continue;
		char v[32];
		sched_format(tune->cputune.sched_policy, tune->cputune.sched_priority, v, sizeof(v));
		r = add(&p, ACT_SET_SCHED, NULL, NULL, v, t->tid, NULL);
	}
	if (r < 0)
		goto fail;
	for (size_t k = 0; k < n_children; k++)
		free(children[k].name);
	free(children);
	*ret = p;
	return 0;
fail:
	for (size_t k = 0; k < n_children; k++)
		free(children[k].name);
	free(children);
	plan_done(&p);
	return r;
}

int plan_unpin(const struct vm_state *st, const struct vm *vm, struct plan *ret)
{
	struct plan p = {.backend = st->backend};
	int r = 0;
	if (st->vm_dir && !(p.vm_dir = strdup(st->vm_dir)))
		return -ENOMEM;
	const struct thread_origin *main_origin = record_find_thread(st, vm->pid);
	const char *main_cg = cg_relative(main_origin ? main_origin->cgroup : NULL);
	const char *move = layout_move_file(st->backend);

	/* v2: cgroup.procs takes every thread along; the VM's own cgroup accepts them
	 * back while kvmcg's tree in it is threaded (cgroup_migrate_vet_dst()). */
	if (st->backend == BACKEND_CGROUP_V2)
		r = add(&p, ACT_MOVE_PROCESS, main_cg, "cgroup.procs", NULL, vm->pid, NULL);
	for (size_t i = 0; r == 0 && st->backend != BACKEND_AFFINITY && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		const char *cg = cg_relative(o && o->cgroup ? o->cgroup : main_cg);
		if (st->backend == BACKEND_CGROUP_V2 && strcmp(cg, main_cg) == 0)
			continue;
		r = add(&p, ACT_MOVE_THREAD, cg, move, NULL, vm->threads[i].tid, NULL);
	}
	for (size_t i = 0; r == 0 && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		if (!o)
			o = main_origin;
		if (o && o->affinity && idset_count(o->affinity))
			r = add(&p, ACT_SET_AFFINITY, NULL, NULL, NULL, vm->threads[i].tid, o->affinity);
	}
	/* Scheduling classes kvmcg changed go back to what they were. */
	for (size_t i = 0; r == 0 && st->tune.cputune.sched_set && i < vm->n_threads; i++) {
		const struct thread_origin *o = record_find_thread(st, vm->threads[i].tid);
		if (!o || !o->sched_known)
			continue;
		if ((int)vm->threads[i].stat.policy == o->sched_policy &&
		    vm->threads[i].stat.rt_priority == o->sched_priority)
			continue;
		char v[32];
		sched_format(o->sched_policy, o->sched_priority, v, sizeof(v));
		r = add(&p, ACT_SET_SCHED, NULL, NULL, v, vm->threads[i].tid, NULL);
	}
	if (r == 0)
		r = plan_cleanup(st, &p);
	if (r < 0) {
		plan_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

int plan_cleanup(const struct vm_state *st, struct plan *p)
{
	int r = 0;
	size_t first = p->n_actions;
	/* deepest first: children were recorded after their parents */
	for (size_t i = st->n_created; r == 0 && i-- > 0;)
		r = add(p, ACT_RMDIR, st->created[i], NULL, NULL, 0, NULL);
	/* a controller can be disabled once no child uses it */
	for (size_t i = st->n_enabled; r == 0 && i-- > 0;) {
		char value[64];
		snprintf(value, sizeof(value), "-%s", st->enabled[i].controller);
		r = add(p, ACT_DISABLE_CONTROLLER, st->enabled[i].dir, "cgroup.subtree_control", value, 0, NULL);
	}
	for (size_t i = first; i < p->n_actions; i++)
		p->actions[i].cleanup = true;
	return r;
}
