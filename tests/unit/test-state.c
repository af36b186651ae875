// SPDX-License-Identifier: GPL-2.0-or-later
/* state: the per-VM record of what kvmcg changed. JSON round trips with every field
 * and every awkward byte, each refusal of the strict reader, the text format of
 * earlier versions (its parse errors and line numbers, and its rewriting as JSON
 * under the lock), and the files in a scratch state directory. */
#include <criterion/criterion.h>

#include "scratch.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "basic/err.h"
#include "state/state.h"
#include "basic/util.h"

/* ---- building states ------------------------------------------------------------------ */

static struct idset *set_of(const char *list)
{
	struct idset *s = NULL;
	int r = idset_parse(list, &s, NULL);
	cr_assert_eq(r, 0, "idset_parse(\"%s\") = %d", list, r);
	return s;
}

static void add_origin(struct vm_state *s, pid_t tid, const char *cgroup, const char *affinity)
{
	struct thread_origin *n = realloc(s->threads, (s->n_threads + 1) * sizeof(*n));
	cr_assert_not_null(n);
	s->threads = n;
	s->threads[s->n_threads++] = (struct thread_origin){
		.tid = tid,
		.cgroup = strdup(cgroup),
		.affinity = set_of(affinity),
	};
}

static void add_iothread(struct vm_tune *tune, const char *id, const char *cpus)
{
	char **ids = realloc(tune->iothread_ids, (tune->n_iothread + 1) * sizeof(char *));
	cr_assert_not_null(ids);
	tune->iothread_ids = ids;
	struct idset **sets = realloc(tune->iothread, (tune->n_iothread + 1) * sizeof(*sets));
	cr_assert_not_null(sets);
	tune->iothread = sets;
	ids[tune->n_iothread] = strdup(id);
	sets[tune->n_iothread] = set_of(cpus);
	tune->n_iothread++;
}

/* Every field, with spaces, '%', newlines, tabs, a lone '-' and an empty string
 * where the format has to escape them. */
static void full_state(struct vm_state *s)
{
	*s = (struct vm_state){0};
	s->pid = 4321;
	s->starttime = 18446744073709551615ull; /* the largest starttime there is */
	s->name = strdup("my vm 100%\nsecond\tline \x01\x7f\xff"); /* not UTF-8 either */
	s->backend = BACKEND_CGROUP_V2;
	s->mount = strdup("/sys/fs/cgroup with space");
	s->vm_dir = strdup("kvmcg/my vm");
	s->launched = true;
	static const char *const created[] = {"kvmcg/my vm", "kvmcg/my vm/vcpu0", "-", "kvmcg/100%"};
	for (size_t i = 0; i < ARRAY_SIZE(created); i++)
		cr_assert_eq(strv_push(&s->created, &s->n_created, created[i]), 0);
	add_origin(s, 4321, "/machine.slice/machine-qemu\\x2d1\\x2dmy vm.scope", "0-3");
	add_origin(s, 4322, "-", "");  /* a cgroup named "-", affinity not read */
	add_origin(s, 4323, "", "0,2"); /* no cgroup (affinity mode) */
	add_origin(s, 4324, "/a%b\nc", "1-2,5-7:2");
	s->tune.n_vcpu = 6;
	s->tune.vcpu = calloc(6, sizeof(*s->tune.vcpu));
	cr_assert_not_null(s->tune.vcpu);
	s->tune.vcpu[0] = set_of("0");
	s->tune.vcpu[2] = set_of("1-2");
	s->tune.vcpu[5] = set_of("3"); /* 1, 3, 4 not pinned */
	s->tune.emulator = set_of("3");
	add_iothread(&s->tune, "io1", "2");
	add_iothread(&s->tune, "io 2%", "0-1");
	add_iothread(&s->tune, "-", "3");
	s->tune.mems = set_of("0-1");
	s->tune.mem_policy = MEM_POLICY_INTERLEAVE;
	s->tune.mem_no_migrate = true;
	s->n_mem_origin = 3;
	s->mem_origin = calloc(3, sizeof(*s->mem_origin));
	s->mem_origin[0] = 4096;
	s->mem_origin[2] = (uint64_t)1 << 40; /* node 1: nothing */
	s->root = strdup("kvmcg");
	s->enabled = calloc(2, sizeof(*s->enabled));
	cr_assert_not_null(s->enabled);
	s->enabled[0] = (struct enabled_controller){strdup("lim it"), strdup("cpuset")};
	s->enabled[1] = (struct enabled_controller){strdup("lim it"), strdup("cpu")};
	s->n_enabled = 2;
	s->threads[0].sched_known = true; /* SCHED_OTHER */
	s->threads[2].sched_known = true;
	s->threads[2].sched_policy = SCHED_FIFO;
	s->threads[2].sched_priority = 7;
	s->tune.cputune = (struct cputune){.weight = 300, .quota_set = true, .quota_percent = 150,
					   .period_us = 20000, .sched_set = true, .sched_policy = SCHED_RR,
					   .sched_priority = 2};
	s->tune.iotune.weight = 250;
	struct io_device *d = iotune_get(&s->tune.iotune, 8, 16);
	cr_assert_not_null(d);
	*d = (struct io_device){.major = 8, .minor = 16, .weight = 500, .wbps = 10485760, .riops = 1000, .bfq = true};
	d = iotune_get(&s->tune.iotune, 253, 0);
	cr_assert_not_null(d);
	d->rbps = (uint64_t)1 << 40;
}

/* full_state as a record on disk may be: every directory it made is below its VM
 * directory, and no path has a newline (state_check). Still spaces, '%' and "-". */
static void saved_state(struct vm_state *s)
{
	full_state(s);
	strv_free(s->created);
	s->created = NULL;
	s->n_created = 0;
	static const char *const created[] = {"kvmcg/my vm", "kvmcg/my vm/vcpu0", "kvmcg/my vm/emulator",
					      "kvmcg/my vm/iothread-io_202_25"};
	for (size_t i = 0; i < ARRAY_SIZE(created); i++)
		cr_assert_eq(strv_push(&s->created, &s->n_created, created[i]), 0);
	free(s->threads[3].cgroup);
	s->threads[3].cgroup = strdup("/a%b c");
	/* controllers are enabled only where a tree is built inside the VM's cgroup */
	for (size_t i = 0; i < s->n_enabled; i++) {
		free(s->enabled[i].dir);
		free(s->enabled[i].controller);
	}
	free(s->enabled);
	s->enabled = NULL;
	s->n_enabled = 0;
}

/* ---- comparing states ------------------------------------------------------------------- */

static bool set_eq(const struct idset *a, const struct idset *b)
{
	/* an unread affinity is written as "-" and reads back as the empty set */
	unsigned ca = a ? idset_count(a) : 0, cb = b ? idset_count(b) : 0;
	if (ca == 0 || cb == 0)
		return ca == cb;
	return idset_equal(a, b);
}

static void assert_str(const char *got, const char *want, const char *what)
{
	cr_assert(want ? got != NULL : got == NULL, "%s: got %s, expected %s", what, got ? got : "NULL",
		  want ? want : "NULL");
	if (want)
		cr_assert_str_eq(got, want, "%s", what);
}

static void assert_same_state(const struct vm_state *got, const struct vm_state *want)
{
	cr_assert_eq(got->pid, want->pid);
	cr_assert_eq(got->starttime, want->starttime);
	assert_str(got->name, want->name, "name");
	cr_assert_eq(got->backend, want->backend);
	cr_assert_eq(got->launched, want->launched, "launched");
	assert_str(got->mount, want->mount, "mount");
	assert_str(got->vm_dir, want->vm_dir, "vm_dir");
	cr_assert_eq(got->n_created, want->n_created);
	for (size_t i = 0; i < want->n_created; i++)
		cr_assert_str_eq(got->created[i], want->created[i], "created[%zu]", i);
	if (want->n_created)
		cr_assert_null(got->created[got->n_created], "created is NULL-terminated");
	assert_str(got->root, want->root, "root");
	cr_assert_eq(got->n_enabled, want->n_enabled);
	for (size_t i = 0; i < want->n_enabled; i++) {
		cr_assert_str_eq(got->enabled[i].dir, want->enabled[i].dir, "enabled[%zu].dir", i);
		cr_assert_str_eq(got->enabled[i].controller, want->enabled[i].controller, "enabled[%zu]", i);
	}
	cr_assert_eq(got->n_threads, want->n_threads);
	for (size_t i = 0; i < want->n_threads; i++) {
		cr_assert_eq(got->threads[i].tid, want->threads[i].tid);
		assert_str(got->threads[i].cgroup, want->threads[i].cgroup, "thread cgroup");
		cr_assert(set_eq(got->threads[i].affinity, want->threads[i].affinity), "thread %d affinity",
			  (int)want->threads[i].tid);
		cr_assert_eq(got->threads[i].sched_known, want->threads[i].sched_known, "thread %d scheduler",
			     (int)want->threads[i].tid);
		if (want->threads[i].sched_known) {
			cr_assert_eq(got->threads[i].sched_policy, want->threads[i].sched_policy);
			cr_assert_eq(got->threads[i].sched_priority, want->threads[i].sched_priority);
		}
	}
	const struct cputune *gc = &got->tune.cputune, *wc = &want->tune.cputune;
	cr_assert_eq(gc->weight, wc->weight);
	cr_assert_eq(gc->quota_set, wc->quota_set);
	cr_assert_eq(gc->quota_percent, wc->quota_percent);
	cr_assert_eq(gc->period_us, wc->period_us);
	cr_assert_eq(gc->sched_set, wc->sched_set);
	if (wc->sched_set) {
		cr_assert_eq(gc->sched_policy, wc->sched_policy);
		cr_assert_eq(gc->sched_priority, wc->sched_priority);
	}
	const struct iotune *gi = &got->tune.iotune, *wi = &want->tune.iotune;
	cr_assert_eq(gi->weight, wi->weight);
	cr_assert_eq(gi->n_dev, wi->n_dev);
	for (size_t i = 0; i < wi->n_dev; i++) {
		const struct io_device *g = iotune_find(gi, wi->dev[i].major, wi->dev[i].minor);
		cr_assert_not_null(g, "device %u:%u", wi->dev[i].major, wi->dev[i].minor);
		cr_assert_eq(memcmp(g, &wi->dev[i], sizeof(*g)), 0, "device %u:%u", g->major, g->minor);
	}
	/* vCPU pins by index; trailing unpinned ones need not be kept */
	size_t n = got->tune.n_vcpu > want->tune.n_vcpu ? got->tune.n_vcpu : want->tune.n_vcpu;
	for (size_t i = 0; i < n; i++) {
		const struct idset *g = i < got->tune.n_vcpu ? got->tune.vcpu[i] : NULL;
		const struct idset *w = i < want->tune.n_vcpu ? want->tune.vcpu[i] : NULL;
		cr_assert_eq(g == NULL, w == NULL, "vcpu %zu pinned or not", i);
		if (w)
			cr_assert(idset_equal(g, w), "vcpu %zu", i);
	}
	cr_assert_eq(got->tune.emulator == NULL, want->tune.emulator == NULL);
	if (want->tune.emulator)
		cr_assert(idset_equal(got->tune.emulator, want->tune.emulator));
	cr_assert_eq(got->tune.mems == NULL, want->tune.mems == NULL);
	if (want->tune.mems)
		cr_assert(idset_equal(got->tune.mems, want->tune.mems));
	cr_assert_eq(got->tune.mem_policy, want->tune.mem_policy);
	cr_assert_eq(got->tune.mem_no_migrate, want->tune.mem_no_migrate);
	/* the memory origin: bytes per node, a node with none may be left out */
	unsigned nm = got->n_mem_origin > want->n_mem_origin ? got->n_mem_origin : want->n_mem_origin;
	for (unsigned k = 0; k < nm; k++)
		cr_assert_eq(k < got->n_mem_origin ? got->mem_origin[k] : 0,
			     k < want->n_mem_origin ? want->mem_origin[k] : 0, "memory origin of node %u", k);
	cr_assert_eq(got->tune.n_iothread, want->tune.n_iothread);
	for (size_t i = 0; i < want->tune.n_iothread; i++) {
		cr_assert_str_eq(got->tune.iothread_ids[i], want->tune.iothread_ids[i]);
		cr_assert(idset_equal(got->tune.iothread[i], want->tune.iothread[i]), "iothread %s",
			  want->tune.iothread_ids[i]);
	}
}

/* ---- format and parse --------------------------------------------------------------------- */

static struct vm_state st_a, st_b;
static char *text_a, *text_b;

static void st_done(void)
{
	vm_state_done(&st_a);
	vm_state_done(&st_b);
	free(text_a);
	free(text_b);
	text_a = text_b = NULL;
}

TestSuite(state_json, .fini = st_done);

Test(state_json, round_trip_every_field)
{
	full_state(&st_a);
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	size_t line = 999;
	int r = state_parse(text_a, &st_b, &line);
	cr_assert_eq(r, 0, "state_parse = %d at line %zu (%s) of:\n%s", r, line, err_get() ? err_get() : "",
		     text_a);
	assert_same_state(&st_b, &st_a);
	/* and the text is stable */
	text_b = state_format(&st_b);
	cr_assert_not_null(text_b);
	cr_assert_str_eq(text_b, text_a);
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static const char *member_string(json_object *o, const char *key)
{
	json_object *v = member(o, key);
	cr_assert(json_object_is_type(v, json_type_string), "\"%s\" is a string", key);
	return json_object_get_string(v);
}

Test(state_json, format_is_versioned_json_in_the_schema)
{
	full_state(&st_a);
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	json_object *o = json_tokener_parse(text_a);
	cr_assert_not_null(o, "JSON:\n%s", text_a);
	/* "version" first, "end" last */
	struct json_object_iterator it = json_object_iter_begin(o), last = it, stop = json_object_iter_end(o);
	cr_assert_str_eq(json_object_iter_peek_name(&it), "version");
	for (; !json_object_iter_equal(&it, &stop); json_object_iter_next(&it))
		last = it;
	cr_assert_str_eq(json_object_iter_peek_name(&last), "end");
	cr_assert(json_object_get_boolean(member(o, "end")));
	cr_assert_eq(json_object_get_int(member(o, "version")), 1);
	cr_assert_eq(json_object_get_int(member(o, "pid")), 4321);
	cr_assert_str_eq(json_object_get_string(member(o, "starttime")), "18446744073709551615");
	cr_assert_str_eq(member_string(o, "name"), "my vm 100%\nsecond\tline \x01\x7f\xff");
	cr_assert_not_null(strstr(text_a, "\"my vm 100%\\nsecond\\tline \\u0001\x7f\xff\""), "escaped as JSON:\n%s",
			   text_a);
	cr_assert_str_eq(member_string(o, "backend"), "v2");
	cr_assert_str_eq(member_string(o, "mount"), "/sys/fs/cgroup with space");
	cr_assert_null(strstr(text_a, "\\/"), "no escaped slashes:\n%s", text_a);
	cr_assert_str_eq(member_string(o, "vm_dir"), "kvmcg/my vm");
	cr_assert_str_eq(member_string(o, "root"), "kvmcg");
	cr_assert_eq(json_object_array_length(member(o, "created")), 4);
	json_object *e = json_object_array_get_idx(member(o, "enabled"), 1);
	cr_assert_str_eq(member_string(e, "dir"), "lim it");
	cr_assert_str_eq(member_string(e, "controller"), "cpu");
	json_object *threads = member(o, "threads");
	cr_assert_eq(json_object_array_length(threads), 4);
	json_object *t = json_object_array_get_idx(threads, 1);
	cr_assert_eq(json_object_get_int(member(t, "tid")), 4322);
	cr_assert_str_eq(member_string(t, "cgroup"), "-");
	cr_assert_str_eq(member_string(t, "affinity"), "", "an affinity not read is \"\"");
	cr_assert(!json_object_object_get_ex(t, "scheduler", NULL), "no scheduler when not known");
	cr_assert_str_eq(member_string(json_object_array_get_idx(threads, 0), "scheduler"), "other");
	cr_assert_str_eq(member_string(json_object_array_get_idx(threads, 2), "scheduler"), "fifo:7");
	cr_assert_str_eq(member_string(json_object_array_get_idx(threads, 3), "affinity"), "1-2,5,7");
	json_object *tune = member(o, "tune"), *vcpus = member(tune, "vcpupin");
	cr_assert_eq(json_object_object_length(vcpus), 3, "unpinned vCPUs are not written");
	cr_assert_str_eq(member_string(vcpus, "2"), "1-2");
	cr_assert_str_eq(member_string(vcpus, "5"), "3");
	cr_assert_str_eq(member_string(tune, "emulatorpin"), "3");
	cr_assert_str_eq(member_string(member(tune, "iothreadpin"), "io 2%"), "0-1");
	cr_assert_str_eq(member_string(tune, "memory_nodeset"), "0-1");
	cr_assert_str_eq(member_string(tune, "memory_mode"), "interleave");
	cr_assert(!json_object_get_boolean(member(tune, "memory_migrate")));
	json_object *mo = member(o, "memory_origin");
	cr_assert_eq(json_object_object_length(mo), 2, "a node with no bytes is left out");
	cr_assert_eq(json_object_get_int64(member(mo, "2")), (int64_t)1 << 40);
	cr_assert_eq(json_object_get_int(member(tune, "cpu_weight")), 300);
	cr_assert_eq(json_object_get_int(member(tune, "cpu_quota_percent")), 150);
	cr_assert_eq(json_object_get_int(member(tune, "cpu_period_us")), 20000);
	cr_assert_str_eq(member_string(tune, "vcpu_scheduler"), "rr:2");
	size_t len = strlen(text_a);
	cr_assert(len > 2 && strcmp(text_a + len - 2, "}\n") == 0, "ends with a newline");
	json_object_put(o);
}

Test(state_json, quota_max_and_an_empty_tune)
{
	st_a = (struct vm_state){.pid = 5, .starttime = 6, .backend = BACKEND_AFFINITY};
	add_origin(&st_a, 5, "", "0");
	st_a.tune.cputune.quota_set = true; /* max */
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	cr_assert_not_null(strstr(text_a, "\"cpu_quota_percent\": \"max\""), "%s", text_a);
	cr_assert_null(strstr(text_a, "cpu_weight"), "%s", text_a);
	cr_assert_null(strstr(text_a, "\"name\""), "no name when there is none:\n%s", text_a);
	cr_assert_eq(state_parse(text_a, &st_b, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert(st_b.tune.cputune.quota_set);
	cr_assert_eq(st_b.tune.cputune.quota_percent, 0);
	cr_assert_null(st_b.name);
	free(text_a);
	vm_state_done(&st_a);
	vm_state_done(&st_b);
	/* the smallest record there is */
	text_a = strdup("{\"version\": 1, \"pid\": 5, \"starttime\": 6, \"backend\": \"affinity\", \"threads\": [],"
			" \"end\": true}");
	cr_assert_eq(state_parse(text_a, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.n_threads, 0);
	cr_assert_eq(st_a.tune.n_vcpu, 0);
}

Test(state_json, round_trip_affinity_mode)
{
	st_a.pid = 77;
	st_a.starttime = 1;
	st_a.name = strdup("");
	st_a.backend = BACKEND_AFFINITY;
	add_origin(&st_a, 77, "", "0-7");
	add_origin(&st_a, 78, "", "");
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	cr_assert_null(strstr(text_a, "mount"), "no mount in affinity mode:\n%s", text_a);
	cr_assert_eq(state_parse(text_a, &st_b, NULL), 0, "%s", text_a);
	assert_same_state(&st_b, &st_a);
	cr_assert_null(st_b.mount);
	cr_assert_null(st_b.vm_dir);
	cr_assert_eq(st_b.n_created, 0);
	cr_assert_eq(st_b.tune.n_vcpu, 0);
	cr_assert_null(st_b.tune.emulator);
}

Test(state_json, round_trip_each_backend)
{
	static const enum pin_backend modes[] = {BACKEND_CGROUP_V1, BACKEND_CGROUP_V2, BACKEND_AFFINITY};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		st_done();
		st_a.pid = 5;
		st_a.starttime = 6;
		st_a.name = strdup("vm");
		st_a.backend = modes[i];
		text_a = state_format(&st_a);
		cr_assert_not_null(text_a);
		char line[48];
		snprintf(line, sizeof(line), "\"backend\": \"%s\"", backend_name(modes[i]));
		cr_assert_not_null(strstr(text_a, line), "%s", text_a);
		cr_assert_eq(state_parse(text_a, &st_b, NULL), 0);
		cr_assert_eq(st_b.backend, modes[i]);
	}
}

Test(state_json, find_thread)
{
	full_state(&st_a);
	const struct thread_origin *t = record_find_thread(&st_a, 4323);
	cr_assert_not_null(t);
	cr_assert_eq(t->tid, 4323);
	cr_assert_str_eq(t->cgroup, "");
	cr_assert_null(record_find_thread(&st_a, 1));
}

/* What format and parse never carried over: NULL strings and sets stay NULL, trailing
 * unpinned vCPUs stay, and nothing is shared with the original. */
Test(state_json, copy_is_deep_and_whole)
{
	full_state(&st_a);
	free(st_a.threads[1].cgroup);
	st_a.threads[1].cgroup = NULL;
	idset_free(st_a.threads[1].affinity);
	st_a.threads[1].affinity = NULL;
	cr_assert_eq(vm_state_copy(&st_a, &st_b), 0);
	assert_same_state(&st_b, &st_a);
	cr_assert_eq(st_b.tune.n_vcpu, st_a.tune.n_vcpu);
	cr_assert_null(st_b.threads[1].cgroup);
	cr_assert_null(st_b.threads[1].affinity);
	cr_assert_null(st_b.created[st_b.n_created], "created is NULL-terminated");
	cr_assert_neq(st_b.name, st_a.name);
	cr_assert_neq(st_b.tune.emulator, st_a.tune.emulator);
	cr_assert_neq(st_b.tune.iothread_ids[0], st_a.tune.iothread_ids[0]);
	cr_assert_neq(st_b.enabled[1].controller, st_a.enabled[1].controller);
	/* the copy outlives the original (ASan would see a use after free) */
	struct vm_state keep;
	cr_assert_eq(vm_state_copy(&st_b, &keep), 0);
	vm_state_done(&st_a);
	vm_state_done(&st_b);
	st_a = keep;
	cr_assert_str_eq(st_a.enabled[1].controller, "cpu");
	cr_assert(idset_isset(st_a.tune.vcpu[5], 3));
	/* and an empty one */
	struct vm_state none = {0}, copy;
	cr_assert_eq(vm_state_copy(&none, &copy), 0);
	cr_assert_null(copy.threads);
	cr_assert_null(copy.tune.vcpu);
	vm_state_done(&copy);
}

/* ---- the strict reader ---------------------------------------------------------------------- */

/* A record as kvmcg writes it, which every refusal below changes in one place. */
#define JBASE                                                                                      \
	"{\n"                                                                                      \
	"  \"version\": 1,\n"                                                                      \
	"  \"pid\": 7,\n"                                                                          \
	"  \"starttime\": 7,\n"                                                                    \
	"  \"name\": \"vm\",\n"                                                                    \
	"  \"backend\": \"v1\",\n"                                                                 \
	"  \"mount\": \"/sys/fs/cgroup/cpuset\",\n"                                                \
	"  \"vm_dir\": \"kvmcg/vm\",\n"                                                            \
	"  \"created\": [ \"kvmcg/vm\", \"kvmcg/vm/vcpu0\" ],\n"                                   \
	"  \"enabled\": [ ],\n"                                                                    \
	"  \"threads\": [ { \"tid\": 7, \"cgroup\": \"/\", \"affinity\": \"0-1\", \"scheduler\": \"other\" } ],\n" \
	"  \"tune\": { \"vcpupin\": { \"0\": \"1\" }, \"emulatorpin\": \"0\", \"iothreadpin\": { \"io1\": \"1\" },\n" \
	"            \"memory_nodeset\": \"0\", \"cpu_weight\": 100, \"cpu_quota_percent\": \"max\",\n"   \
	"            \"cpu_period_us\": 100000, \"vcpu_scheduler\": \"fifo:10\",\n"                 \
	"            \"io\": { \"weight\": 100, \"devices\": { \"8:16\": { \"wbps\": 10485760 } } } },\n" \
	"  \"end\": true\n"                                                                        \
	"}\n"

/* JBASE with its one `from` replaced by `to`. Caller frees. */
static char *with(const char *from, const char *to)
{
	const char *at = strstr(JBASE, from);
	cr_assert_not_null(at, "\"%s\" is in the record", from);
	cr_assert_null(strstr(at + 1, from), "\"%s\" is in it once", from);
	char *out = NULL;
	cr_assert_geq(asprintf(&out, "%.*s%s%s", (int)(at - JBASE), JBASE, to, at + strlen(from)), 0);
	return out;
}

static void json_refused(const char *text, const char *needle)
{
	struct vm_state s = {.pid = 999};
	err_clear();
	size_t line = 999;
	int r = state_parse(text, &s, &line);
	cr_assert_eq(r, -EBADMSG, "state_parse = %d for:\n%s", r, text);
	cr_assert_eq(s.pid, 999, "the result is left alone");
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), needle), "\"%s\" mentions \"%s\"", err_get(), needle);
}

static void json_refused_with(const char *from, const char *to, const char *needle)
{
	char *text = with(from, to);
	json_refused(text, needle);
	free(text);
}

TestSuite(state_strict, .fini = st_done);

/* A VM whose tree was built inside its launcher's cgroup: the io lines kvmcg wrote
 * there are written back from the record, and only there. */
#define JINPLACE(restore)                                                                           \
	"{ \"version\": 1, \"pid\": 7, \"starttime\": 7, \"backend\": \"v2\",\n"                  \
	"  \"mount\": \"/sys/fs/cgroup\", \"vm_dir\": \"launcher/vm.service/kvmcg\",\n"              \
	"  \"created\": [ \"launcher/vm.service/kvmcg\" ], \"enabled\": [ ],\n" restore                  \
	"  \"threads\": [ { \"tid\": 7, \"cgroup\": \"/launcher/vm.service\", \"affinity\": \"0-1\" } ],\n" \
	"  \"tune\": { \"vcpupin\": { }, \"iothreadpin\": { },\n"                                     \
	"            \"io\": { \"devices\": { \"7:0\": { \"wbps\": 10485760 } } } },\n"                \
	"  \"end\": true }\n"

Test(state_strict, restore_lines_round_trip_and_are_checked)
{
	const char *text = JINPLACE("  \"restore\": [ { \"dir\": \"launcher/vm.service\", \"file\": \"io.max\",\n"
				    "    \"line\": \"7:0 rbps=max wbps=max riops=max wiops=max\" },\n"
				    "    { \"dir\": \"launcher/vm.service\", \"file\": \"io.weight\", \"line\": \"default 50\" } ],\n");
	cr_assert_eq(state_parse(text, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.n_restore, 2);
	cr_assert_str_eq(st_a.restore[1].line, "default 50");
	char *again = state_format(&st_a);
	cr_assert_not_null(again);
	cr_assert_eq(state_parse(again, &st_b, NULL), 0, "%s", again);
	cr_assert_eq(st_b.n_restore, 2);
	cr_assert_str_eq(st_b.restore[0].dir, "launcher/vm.service");
	cr_assert_str_eq(st_b.restore[0].file, "io.max");
	cr_assert_str_eq(st_b.restore[0].line, "7:0 rbps=max wbps=max riops=max wiops=max");
	free(again);
	/* a copy keeps them; a second line for the same key is not added */
	struct vm_state copy = {0};
	cr_assert_eq(vm_state_copy(&st_a, &copy), 0);
	cr_assert_eq(copy.n_restore, 2);
	cr_assert_eq(record_add_restore(&copy, "launcher/vm.service", "io.weight", "default 300"), 0);
	cr_assert_eq(copy.n_restore, 2, "the earliest line of a key is what was there before kvmcg");
	cr_assert_str_eq(copy.restore[1].line, "default 50");
	/* io.max: a limit set later joins the key's line, the earlier ones keep their values */
	cr_assert_eq(record_add_restore(&copy, "launcher/vm.service", "io.max", "7:0 wbps=5 riops=max"), 0);
	cr_assert_eq(copy.n_restore, 2);
	cr_assert_str_eq(copy.restore[0].line, "7:0 rbps=max wbps=max riops=max wiops=max");
	cr_assert_eq(record_add_restore(&copy, "launcher/vm.service", "io.max", "8:0 rbps=max"), 0);
	cr_assert_eq(record_add_restore(&copy, "launcher/vm.service", "io.max", "8:0 wbps=7 rbps=1"), 0);
	cr_assert_eq(copy.n_restore, 3);
	cr_assert_str_eq(copy.restore[2].line, "8:0 rbps=max wbps=7");
	vm_state_done(&copy);

	char *why = NULL;
	cr_assert_eq(state_check(&st_a, &why), 0, "%s", why ? why : "");
	static const char *const checked[][2] = {
		{JINPLACE("  \"restore\": [ { \"dir\": \"elsewhere\", \"file\": \"io.max\", \"line\": \"7:0 rbps=1\" } ],\n"),
		 "would write back a line in /elsewhere, which is not the cgroup the VM's tree"},
		{JINPLACE("  \"restore\": [ { \"dir\": \"launcher/vm.service\", \"file\": \"cpuset.cpus\", \"line\": \"0 1\" } ],\n"),
		 "would write back cpuset.cpus, which is not a file kvmcg writes lines to"},
		{JINPLACE("  \"restore\": [ { \"dir\": \"launcher/vm.service\", \"file\": \"io.max\", \"line\": \"7:0\" } ],\n"),
		 "is not one \"KEY VALUE\" line"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(checked); i++) {
		struct vm_state c = {0};
		cr_assert_eq(state_parse(checked[i][0], &c, NULL), 0, "%s", err_get() ? err_get() : "");
		cr_assert_eq(state_check(&c, &why), -EBADMSG, "%s", checked[i][0]);
		cr_assert(why && strstr(why, checked[i][1]), "\"%s\" mentions \"%s\"", why ? why : "", checked[i][1]);
		free(why);
		why = NULL;
		vm_state_done(&c);
	}
	json_refused(JINPLACE("  \"restore\": [ { \"dir\": \"launcher/vm.service\", \"file\": \"io.max\" } ],\n"),
		     "its restore[0] has no \"line\"");
	json_refused(JINPLACE("  \"restore\": [ { \"dir\": \"launcher/vm.service\", \"file\": \"io.max\", \"line\": \"7:0 a\" },\n"
			      "    { \"dir\": \"launcher/vm.service\", \"file\": \"io.max\", \"line\": \"7:0 b\" } ],\n"),
		     "repeats a line of the same cgroup, file and key");
}

Test(state_strict, the_base_record_is_fine)
{
	size_t line = 999;
	cr_assert_eq(state_parse(JBASE, &st_a, &line), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.pid, 7);
	cr_assert_eq(st_a.tune.cputune.weight, 100);
	cr_assert(st_a.tune.cputune.quota_set && st_a.tune.cputune.quota_percent == 0);
	cr_assert_eq(st_a.tune.cputune.sched_policy, SCHED_FIFO);
	cr_assert_eq(st_a.tune.n_iothread, 1);
	char *checked = NULL;
	cr_assert_eq(state_check(&st_a, &checked), 0, "%s", checked ? checked : "");
}

Test(state_strict, another_version)
{
	json_refused_with("\"version\": 1", "\"version\": 2", "has version 2; this kvmcg reads version 1");
	json_refused_with("\"version\": 1", "\"version\": 0", "has version 0; this kvmcg reads version 1");
	/* a newer record may have keys this one does not know: the version is what matters */
	json_refused_with("\"version\": 1,", "\"version\": 2, \"future\": {},", "has version 2");
	json_refused_with("\"version\": 1", "\"version\": \"1\"", "version is not an integer");
	json_refused_with("  \"version\": 1,\n", "", "has no \"version\"");
}

Test(state_strict, unknown_keys)
{
	json_refused_with("\"end\": true", "\"extra\": 1,\n  \"end\": true", "unknown key \"extra\"");
	json_refused_with("\"cpu_weight\"", "\"cpu_shares\"", "its tune has an unknown key \"cpu_shares\"");
	json_refused_with("\"scheduler\"", "\"sched\"", "its threads[0] has an unknown key \"sched\"");
	json_refused_with("\"enabled\": [ ]", "\"enabled\": [ { \"dir\": \"a\", \"controller\": \"cpu\", \"x\": 1 } ]",
			  "its enabled[0] has an unknown key \"x\"");
	/* the text format's keys are not JSON's */
	json_refused_with("\"backend\"", "\"mode\"", "unknown key \"mode\"");
}

Test(state_strict, wrong_types)
{
	json_refused_with("\"pid\": 7", "\"pid\": \"7\"", "its pid is not an integer");
	json_refused_with("\"pid\": 7", "\"pid\": 7.0", "its pid is not an integer");
	json_refused_with("\"starttime\": 7", "\"starttime\": [7]", "its starttime is not an integer");
	json_refused_with("\"name\": \"vm\"", "\"name\": null", "its name is not a string");
	json_refused_with("\"name\": \"vm\"", "\"name\": 1", "its name is not a string");
	json_refused_with("[ \"kvmcg/vm\", \"kvmcg/vm/vcpu0\" ]", "\"kvmcg/vm\"", "its created is not an array");
	json_refused_with("\"kvmcg/vm/vcpu0\" ]", "7 ]", "its created[1] is not a string");
	json_refused_with("\"enabled\": [ ]", "\"enabled\": [ 1 ]", "its enabled[0] is not an object");
	json_refused_with("\"threads\": [", "\"threads\": [ 7,", "its threads[0] is not an object");
	json_refused_with("\"affinity\": \"0-1\"", "\"affinity\": 1", "its threads[0].affinity is not a string");
	json_refused_with("\"tid\": 7", "\"tid\": true", "its threads[0].tid is not an integer");
	json_refused_with("\"vcpupin\": { \"0\": \"1\" }", "\"vcpupin\": [ \"1\" ]", "its tune.vcpupin is not an object");
	json_refused_with("\"cpu_weight\": 100", "\"cpu_weight\": \"100\"", "its tune.cpu_weight is not an integer");
	json_refused_with("\"cpu_period_us\": 100000", "\"cpu_period_us\": 1e5", "its tune.cpu_period_us is not an integer");
	json_refused_with("\"cpu_quota_percent\": \"max\"", "\"cpu_quota_percent\": \"half\"",
			  "neither an integer nor \"max\"");
	json_refused_with("\"end\": true", "\"end\": 1", "its end is not true");
	json_refused_with("\"end\": true", "\"end\": false", "its end is not true");
}

Test(state_strict, values_checked_as_the_command_line_checks_them)
{
	json_refused_with("\"cpu_weight\": 100", "\"cpu_weight\": 1000000",
			  "its tune.cpu_weight is 1000000, out of range (1 to 10000)");
	json_refused_with("\"cpu_weight\": 100", "\"cpu_weight\": 0", "out of range (1 to 10000)");
	json_refused_with("\"cpu_weight\": 100", "\"cpu_weight\": 10001", "out of range (1 to 10000)");
	json_refused_with("\"8:16\"", "\"8:016\"", "its tune.io.devices has \"8:016\", which is not a device number");
	json_refused_with("\"8:16\"", "\"sda\"", "which is not a device number MAJ:MIN");
	json_refused_with("\"wbps\": 10485760", "\"wbps\": 0", "its tune.io.devices[8:16].wbps is 0, not a positive limit");
	json_refused_with("\"wbps\": 10485760", "\"wbytes\": 1", "its tune.io.devices[8:16] has an unknown key \"wbytes\"");
	json_refused_with("\"weight\": 100,", "\"weight\": 20000,", "its tune.io.weight is 20000, out of range (1 to 10000)");
	json_refused_with("\"devices\": {", "\"disks\": {", "its tune.io has an unknown key \"disks\"");
	json_refused_with("\"cpu_quota_percent\": \"max\"", "\"cpu_quota_percent\": 0", "out of range (1 to 100000");
	json_refused_with("\"cpu_quota_percent\": \"max\"", "\"cpu_quota_percent\": -5", "out of range");
	json_refused_with("\"cpu_quota_percent\": \"max\"", "\"cpu_quota_percent\": 100001", "out of range");
	json_refused_with("\"cpu_period_us\": 100000", "\"cpu_period_us\": 999", "out of range (1000 to 1000000)");
	json_refused_with("\"cpu_period_us\": 100000", "\"cpu_period_us\": 1000001", "out of range (1000 to 1000000)");
	json_refused_with("\"fifo:10\"", "\"fifo:100\"", "its tune.vcpu_scheduler 'fifo:100' is not other, batch");
	json_refused_with("\"fifo:10\"", "\"fifo\"", "is not other, batch");
	json_refused_with("\"scheduler\": \"other\"", "\"scheduler\": \"other:5\"", "its threads[0].scheduler");
	json_refused_with("\"scheduler\": \"other\"", "\"scheduler\": \"deadline\"", "its threads[0].scheduler");
	json_refused_with("\"pid\": 7", "\"pid\": -7", "its pid -7 is not a process id");
	json_refused_with("\"pid\": 7", "\"pid\": 0", "its pid 0 is not a process id");
	json_refused_with("\"pid\": 7", "\"pid\": 99999999", "its pid 99999999 is not a process id");
	json_refused_with("\"tid\": 7", "\"tid\": -1", "its threads[0].tid -1 is not a process id");
	json_refused_with("\"starttime\": 7", "\"starttime\": 0", "its starttime 0 is not a start time");
	json_refused_with("\"starttime\": 7", "\"starttime\": -7", "is not a start time");
	json_refused_with("\"backend\": \"v1\"", "\"backend\": \"v3\"", "its backend 'v3' is not v2, v1 or affinity");
}

Test(state_strict, cpu_and_node_lists)
{
	json_refused_with("\"emulatorpin\": \"0\"", "\"emulatorpin\": \"0-\"", "its tune.emulatorpin '0-' is not a CPU list");
	json_refused_with("\"emulatorpin\": \"0\"", "\"emulatorpin\": \"3-1\"", "is not a CPU list");
	json_refused_with("\"emulatorpin\": \"0\"", "\"emulatorpin\": \"99999\"", "is not a CPU list");
	json_refused_with("\"emulatorpin\": \"0\"", "\"emulatorpin\": \"\"", "its tune.emulatorpin is an empty CPU list");
	json_refused_with("\"memory_nodeset\": \"0\"", "\"memory_nodeset\": \"x\"", "its tune.memory_nodeset 'x' is not a node list");
	json_refused_with("\"memory_nodeset\": \"0\"", "\"memory_nodeset\": \"0\", \"memory_mode\": \"bind\"",
			  "its tune.memory_mode 'bind' is not a memory mode");
	json_refused_with("\"memory_nodeset\": \"0\"", "\"memory_nodeset\": \"0\", \"memory_migrate\": 0",
			  "its tune.memory_migrate is not true or false");
	json_refused_with("\"end\": true", "\"memory_origin\": { \"1024\": 5 }, \"end\": true",
			  "its memory_origin names \"1024\", not a node");
	json_refused_with("\"end\": true", "\"memory_origin\": { \"x\": 5 }, \"end\": true", "not a node");
	json_refused_with("\"end\": true", "\"memory_origin\": { \"0\": -5 }, \"end\": true",
			  "its memory_origin has -5 bytes on node 0");
	json_refused_with("\"end\": true", "\"memory_origin\": [ 5 ], \"end\": true", "its memory_origin is not an object");
	json_refused_with("\"0\": \"1\"", "\"0\": \"1,,\"", "its tune.vcpupin.0 '1,,' is not a CPU list");
	json_refused_with("\"io1\": \"1\"", "\"io1\": \"\"", "an empty CPU list");
	json_refused_with("\"io1\": \"1\"", "\"\": \"1\"", "an empty iothread id");
	json_refused_with("\"affinity\": \"0-1\"", "\"affinity\": \"0-1 x\"", "its threads[0].affinity '0-1 x' is not a CPU list");
	/* vCPU indexes: decimal, canonical, bounded */
	json_refused_with("\"0\": \"1\"", "\"01\": \"1\"", "\"01\", which is not a vCPU index");
	json_refused_with("\"0\": \"1\"", "\"-1\": \"1\"", "which is not a vCPU index");
	json_refused_with("\"0\": \"1\"", "\"x\": \"1\"", "which is not a vCPU index");
	json_refused_with("\"0\": \"1\"", "\"1048577\": \"1\"", "which is not a vCPU index");
	/* an affinity not read is "", and fine */
	char *text = with("\"affinity\": \"0-1\"", "\"affinity\": \"\"");
	cr_assert_eq(state_parse(text, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(idset_count(st_a.threads[0].affinity), 0);
	free(text);
}

Test(state_strict, cut_short_or_incomplete)
{
	/* every prefix of a record is refused, and says it is cut short */
	size_t len = strlen(JBASE), last = strrchr(JBASE, '}') - JBASE;
	for (size_t n = 1; n <= last; n++) {
		char *text = strndup(JBASE, n);
		cr_assert_not_null(text);
		json_refused(text, "cut short");
		free(text);
	}
	(void)len;
	json_refused_with(",\n  \"end\": true", "", "it is incomplete: it has no \"end\": true");
	json_refused_with("  \"pid\": 7,\n", "", "it has no \"pid\"");
	json_refused_with("  \"starttime\": 7,\n", "", "it has no \"starttime\"");
	json_refused_with("  \"backend\": \"v1\",\n", "", "it has no \"backend\"");
	json_refused_with("\"cgroup\": \"/\", ", "", "its threads[0] has no \"cgroup\"");
	json_refused_with("\"affinity\": \"0-1\", ", "", "its threads[0] has no \"affinity\"");
	json_refused_with("\"enabled\": [ ]", "\"enabled\": [ { \"dir\": \"a\" } ]", "its enabled[0] has no \"controller\"");
}

Test(state_strict, json_and_nothing_else)
{
	json_refused(JBASE "x", "not JSON");
	json_refused(JBASE JBASE, "not JSON");
	json_refused_with("\"vm\",", "\"vm\",,", "not JSON");
	/* json-c takes a single-quoted key; JSON does not, nor does kvmcg */
	json_refused_with("\"name\": \"vm\"", "'name': \"vm\"", "not plain JSON");
	json_refused_with("\"name\": \"vm\"", "\"name\": 'vm'", "refusing the record");
	json_refused_with("\"name\": \"vm\",", "\"name\": \"vm\", /* a comment */", "not");
	json_refused_with("\"name\": \"vm\"", "\"name\": \"v\\u0000m\"", "its name has a NUL byte");
	json_refused_with("\"vm_dir\": \"kvmcg/vm\"", "\"vm_dir\": [[[[[[[[[[1]]]]]]]]]]", "not JSON (nesting too deep");
	/* the line of a syntax error */
	char *text = with("\"backend\": \"v1\",", "\"backend\": \"v1\" \"x\",");
	size_t line = 0;
	struct vm_state s;
	cr_assert_eq(state_parse(text, &s, &line), -EBADMSG);
	cr_assert_eq(line, 6, "line %zu", line);
	free(text);
	/* blanks around it are fine */
	cr_assert_eq(state_parse("\n  " JBASE "\n\n", &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
}

Test(state_strict, keys_and_threads_given_once)
{
	json_refused_with("\"pid\": 7,", "\"pid\": 7,\n  \"pid\": 7,", "it gives a key twice in one object");
	json_refused_with("\"cpu_weight\": 100,", "\"cpu_weight\": 100, \"cpu_weight\": 200,", "a key twice");
	json_refused_with("\"0\": \"1\"", "\"0\": \"1\", \"0\": \"0\"", "a key twice");
	json_refused_with("\"io1\": \"1\"", "\"io1\": \"1\", \"io1\": \"0\"", "a key twice");
	json_refused_with("\"tid\": 7,", "\"tid\": 7, \"tid\": 8,", "a key twice");
	/* the same key in two objects is fine; a key named in a string value too */
	json_refused_with("\"scheduler\": \"other\" } ]",
			  "\"scheduler\": \"other\" }, { \"tid\": 7, \"cgroup\": \"/\", \"affinity\": \"0\" } ]",
			  "it gives the origin of thread 7 twice");
	char *text = with("\"scheduler\": \"other\" } ]",
			  "\"scheduler\": \"other\" }, { \"tid\": 8, \"cgroup\": \"\\\"pid\\\": 1,\", \"affinity\": \"0\" } ]");
	cr_assert_eq(state_parse(text, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.n_threads, 2);
	cr_assert_str_eq(st_a.threads[1].cgroup, "\"pid\": 1,");
	free(text);
}

static void parse_fails_at(const char *text, size_t want_line)
{
	struct vm_state s = {.pid = 999};
	size_t line = 12345;
	int r = state_parse(text, &s, &line);
	cr_assert_eq(r, -EBADMSG, "state_parse = %d for:\n%s", r, text);
	cr_assert_eq(line, want_line, "error at line %zu, expected %zu, for:\n%s", line, want_line, text);
	cr_assert_eq(s.pid, 999, "the result is left alone");
}

#define HEAD "kvmcg-state 1\npid 12\nstarttime 5\n"

/* ---- the text format of earlier versions ------------------------------------------------------ */

TestSuite(state_text, .fini = st_done);

Test(state_text, minimal_is_enough)
{
	cr_assert_eq(state_parse(HEAD, &st_a, NULL), 0);
	cr_assert_eq(st_a.pid, 12);
	cr_assert_eq(st_a.starttime, 5);
	cr_assert_null(st_a.mount);
	cr_assert_eq(st_a.n_threads, 0);
	/* no newline at the end */
	cr_assert_eq(state_parse("kvmcg-state 1\npid 12\nstarttime 5", &st_b, NULL), 0);
	cr_assert_eq(st_b.starttime, 5);
}

/* A record holds each thread's origin and each iothread's pin once, as the JSON one
 * does; version 1 could repeat them (the first origin counts, the last pin), version
 * 2 may not. Found by the fuzzer: an iothread listed twice did not survive a rewrite. */
Test(state_text, listed_once)
{
	cr_assert_eq(state_parse(HEAD "thread 7 /a 0\nthread 8 /b 1\nthread 7 /c 1\nthread-sched 7 fifo:3\n"
				      "pin-iothread io0 0\npin-iothread io1 1\npin-iothread io0 1\n",
				 &st_a, NULL),
		     0);
	cr_assert_eq(st_a.n_threads, 2);
	cr_assert_eq(st_a.threads[0].tid, 7);
	cr_assert_str_eq(st_a.threads[0].cgroup, "/a", "the first origin counts");
	cr_assert(st_a.threads[0].sched_known);
	cr_assert_eq(st_a.threads[1].tid, 8);
	cr_assert_eq(st_a.tune.n_iothread, 2);
	cr_assert_str_eq(st_a.tune.iothread_ids[0], "io0");
	cr_assert(idset_isset(st_a.tune.iothread[0], 1) && !idset_isset(st_a.tune.iothread[0], 0),
		  "the last pin counts");
	cr_assert_str_eq(st_a.tune.iothread_ids[1], "io1");
	/* and it survives a rewrite as it was read */
	_cleanup_free_ char *json = state_format(&st_a);
	cr_assert_not_null(json);
	cr_assert_eq(state_parse(json, &st_b, NULL), 0);
	cr_assert_eq(st_b.n_threads, 2);
	cr_assert_eq(st_b.tune.n_iothread, 2);
	cr_assert_str_eq(st_b.tune.iothread_ids[0], "io0");

	parse_fails_at("kvmcg-state 2\npid 12\nstarttime 5\nthread 12 / 0\npin-iothread io0 0\n"
		       "pin-iothread io0 1\nend\n",
		       7);
}

/* What the JSON record cannot hold, the text one may not either (found by the fuzzer). */
Test(state_text, pins_are_never_empty)
{
	parse_fails_at(HEAD "pin-iothread io0 -\n", 4);
	parse_fails_at(HEAD "pin-vcpu 0 -\n", 4);
	parse_fails_at(HEAD "pin-emulator -\n", 4);
	parse_fails_at(HEAD "pin-mems -\n", 4);
	parse_fails_at(HEAD "pin-iothread  0\n", 4); /* an empty iothread id */
}

Test(state_text, missing_magic)
{
	parse_fails_at("pid 12\nstarttime 5\n", 1);
	parse_fails_at("kvmcg-state 3\npid 12\nstarttime 5\n", 1);
	parse_fails_at("kvmcg-state 1 \npid 12\nstarttime 5\n", 1);
	struct vm_state s = {0};
	cr_assert_eq(state_parse("", &s, NULL), -EBADMSG, "empty text");
}

Test(state_text, pid_and_starttime_are_required)
{
	parse_fails_at("kvmcg-state 1\npid 0\nstarttime 5\n", 2);
	parse_fails_at("kvmcg-state 1\npid -3\nstarttime 5\n", 2);
	struct vm_state s = {0};
	cr_assert_eq(state_parse("kvmcg-state 1\nstarttime 5\n", &s, NULL), -EBADMSG, "no pid");
	cr_assert_eq(state_parse("kvmcg-state 1\npid 12\n", &s, NULL), -EBADMSG, "no starttime");
	cr_assert_eq(state_parse("kvmcg-state 1\npid 12\nstarttime 0\n", &s, NULL), -EBADMSG, "starttime 0");
}

Test(state_text, garbage_on_a_known_key)
{
	static const struct {
		const char *text;
		size_t line;
	} bad[] = {
		{"kvmcg-state 1\npid 12x\nstarttime 5\n", 2},
		{"kvmcg-state 1\npid 12\nstarttime abc\n", 3},
		{"kvmcg-state 1\npid 12 13\nstarttime 5\n", 2},
		{HEAD "mode v3\n", 4},
		{HEAD "name %zz\n", 4},
		{HEAD "name a%00b\n", 4},
		{HEAD "thread 13 /\n", 4},
		{HEAD "pin-vcpu -1 0\n", 4},
		{HEAD "pin-vcpu x 0\n", 4},
		{HEAD "pin-vcpu 0 99999\n", 4},
		{HEAD "pin-emulator 3-1\n", 4},
		{HEAD "pin-iothread io1 x\n", 4},
		{HEAD "pin-mems 0-\n", 4},
		{HEAD "created %zz\n", 4},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		parse_fails_at(bad[i].text, bad[i].line);
}

Test(state_text, bad_thread_line_is_ebadmsg)
{
	/* The header promises -EBADMSG for every parse error: the caller tells "the
	 * state file is damaged" by it. */
	static const struct {
		const char *text;
		size_t line;
	} bad[] = {
		{HEAD "thread x / 0-3\n", 4},
		{HEAD "thread 13 / 0-3x\n", 4},
		{HEAD "thread 13 / 3-1\n", 4},
		{HEAD "thread 13 / 0-3\nthread 0 / 0-3\n", 5},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		parse_fails_at(bad[i].text, bad[i].line);
}

Test(state_text, unknown_keys_are_ignored)
{
	int r = state_parse("kvmcg-state 1\npid 12\nfuture-key a b c d e\nstarttime 5\nalso-new\n"
			    "x-thread 1 2 3\n",
			    &st_a, NULL);
	cr_assert_eq(r, 0);
	cr_assert_eq(st_a.pid, 12);
	cr_assert_eq(st_a.starttime, 5);
	cr_assert_eq(st_a.n_threads, 0);
}

Test(state_text, error_line_counts_blank_lines)
{
	/* *err_line is "the 1-based line": a blank line is a line of the file */
	parse_fails_at("kvmcg-state 1\npid 12\n\nstarttime abc\n", 4);
}

Test(state_text, known_key_with_wrong_field_count_is_an_error)
{
	/* "malformed known ones are not [ignored]": a "mode" line with an extra field
	 * must not leave the mode at its default (affinity), a "thread" line with a
	 * fifth field must not lose it, and so on. */
	static const struct {
		const char *text;
		size_t line;
	} bad[] = {
		{HEAD "mode v2 junk\n", 4},
		{HEAD "mode\n", 4},
		{HEAD "mount /sys/fs/cgroup junk\n", 4},
		{HEAD "created a b\n", 4},
		{HEAD "pin-vcpu 0\n", 4},
		{HEAD "pin-vcpu 0 1 junk\n", 4},
		{HEAD "thread 13 / 0-3 junk\n", 4},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		parse_fails_at(bad[i].text, bad[i].line);
}

Test(state_text, repeated_key_last_one_wins)
{
	/* Under ASan, LeakSanitizer also checks that the values replaced are freed. */
	cr_assert_eq(state_parse(HEAD "name a\nname b\nmount /x\nmount /y\nvm-dir p\nvm-dir q\n"
					   "pin-emulator 1\npin-emulator 2\npin-vcpu 0 1\npin-vcpu 0 3\n",
				 &st_a, NULL),
		     0);
	cr_assert_str_eq(st_a.name, "b");
	cr_assert_str_eq(st_a.mount, "/y");
	cr_assert_str_eq(st_a.vm_dir, "q");
	cr_assert(idset_isset(st_a.tune.emulator, 2) && idset_count(st_a.tune.emulator) == 1);
	cr_assert_eq(st_a.tune.n_vcpu, 1);
	cr_assert(idset_isset(st_a.tune.vcpu[0], 3) && idset_count(st_a.tune.vcpu[0]) == 1);
}

Test(state_text, sparse_vcpu_pins)
{
	cr_assert_eq(state_parse(HEAD "pin-vcpu 7 1\npin-vcpu 2 0-1\n", &st_a, NULL), 0);
	cr_assert_eq(st_a.tune.n_vcpu, 8);
	for (size_t i = 0; i < 8; i++)
		cr_assert_eq(st_a.tune.vcpu[i] != NULL, i == 2 || i == 7, "vcpu %zu", i);
	cr_assert(idset_isset(st_a.tune.vcpu[7], 1));
	cr_assert_eq(idset_count(st_a.tune.vcpu[2]), 2);
}

/* ---- files ------------------------------------------------------------------------------- */

static char tmpdir[96];
static int tmpfd = -1;

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void files_setup(void)
{
	scratch_make(tmpdir, sizeof(tmpdir), "state");
	tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tmpfd, 0);
}

static void files_teardown(void)
{
	st_done();
	if (tmpfd >= 0)
		close(tmpfd);
	tmpfd = -1;
	if (tmpdir[0])
		scratch_remove(tmpdir);
	tmpdir[0] = '\0';
}

static void put_file(const char *name, const char *text)
{
	int fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "create %s", name);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Names in the directory, sorted, space separated. */
static void list_dir(int dirfd, char *out, size_t size)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	DIR *d = fdopendir(fd);
	cr_assert_not_null(d);
	char names[16][256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && n < 16)
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char t[256];
				memcpy(t, names[i], sizeof(t));
				memcpy(names[i], names[j], sizeof(t));
				memcpy(names[j], t, sizeof(t));
			}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(out);
		snprintf(out + l, size - l, "%s%s", i ? " " : "", names[i]);
	}
}

TestSuite(state_files, .init = files_setup, .fini = files_teardown);

Test(state_files, save_load_remove)
{
	saved_state(&st_a);
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	char names[512];
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "4321-18446744073709551615.state", "one file, no temporary left: %s", names);
	struct stat sb;
	cr_assert_eq(fstatat(tmpfd, "4321-18446744073709551615.state", &sb, 0), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600, "mode %o", (unsigned)(sb.st_mode & 07777));

	cr_assert_eq(state_load(tmpfd, 4321, 18446744073709551615ull, &st_b), 0);
	assert_same_state(&st_b, &st_a);

	/* another starttime is another VM that had the same pid */
	struct vm_state other = {0};
	cr_assert_eq(state_load(tmpfd, 4321, 1, &other), -ENOENT);
	cr_assert_eq(state_load(tmpfd, 4322, 18446744073709551615ull, &other), -ENOENT);

	cr_assert_eq(state_remove(tmpfd, 4321, 18446744073709551615ull), 0);
	cr_assert_eq(state_load(tmpfd, 4321, 18446744073709551615ull, &other), -ENOENT);
	cr_assert_eq(state_remove(tmpfd, 4321, 18446744073709551615ull), 0, "removing twice is fine");
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "");
}

Test(state_files, save_replaces_atomically)
{
	saved_state(&st_a);
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	/* a later save (another pin) replaces the record */
	idset_free(st_a.tune.emulator);
	st_a.tune.emulator = set_of("0-1");
	free(st_a.vm_dir);
	st_a.vm_dir = strdup("kvmcg/other");
	strv_free(st_a.created);
	st_a.created = NULL;
	st_a.n_created = 0;
	cr_assert_eq(strv_push(&st_a.created, &st_a.n_created, "kvmcg/other"), 0);
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	char names[512];
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "4321-18446744073709551615.state", "%s", names);
	cr_assert_eq(state_load(tmpfd, st_a.pid, st_a.starttime, &st_b), 0);
	assert_same_state(&st_b, &st_a);
	cr_assert_str_eq(st_b.vm_dir, "kvmcg/other");

	/* a stale temporary from a crashed save does not get in the way, and is not ours
	 * to remove */
	put_file(".4321-18446744073709551615.state.tmp", "half a state");
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, ".4321-18446744073709551615.state.tmp 4321-18446744073709551615.state", "%s",
			 names);
}

Test(state_files, load_damaged)
{
	put_file("12-5.state", "kvmcg-state 1\npid 12\nstarttime nope\n");
	struct vm_state s = {0};
	cr_assert_eq(state_load(tmpfd, 12, 5, &s), -EBADMSG);
}

static int by_pid(const void *a, const void *b)
{
	const struct vm_state *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

Test(state_files, load_all_skips_what_is_not_a_state)
{
	saved_state(&st_a);
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	st_b = (struct vm_state){.pid = 17, .starttime = 99, .name = strdup("b"), .backend = BACKEND_CGROUP_V1,
				 .mount = strdup("/sys/fs/cgroup/cpuset"), .vm_dir = strdup("kvmcg/b")};
	add_origin(&st_b, 17, "/", "0-3");
	cr_assert_eq(state_save(tmpfd, &st_b), 0);
	put_file("9-9.state", "damaged\n");
	put_file("notes.txt", HEAD);
	put_file(".hidden.state", HEAD);
	put_file(".18-1.state.tmp", "kvmcg-state 1\npid 18\nstarttime 1\n");
	cr_assert_eq(mkdirat(tmpfd, "sub.d", 0700), 0);

	struct vm_state *all = NULL;
	size_t n = 0;
	cr_assert_eq(state_load_all(tmpfd, &all, &n), 0);
	cr_assert_eq(n, 2, "two states among the files");
	qsort(all, n, sizeof(*all), by_pid);
	cr_assert_eq(all[0].pid, 17);
	cr_assert_eq(all[0].starttime, 99);
	cr_assert_eq(all[0].backend, BACKEND_CGROUP_V1);
	assert_same_state(&all[1], &st_a);
	vm_states_free(all, n);
}

Test(state_files, load_all_without_states)
{
	struct vm_state *all = NULL;
	size_t n = 77;
	put_file("notes.txt", HEAD);
	cr_assert_eq(state_load_all(tmpfd, &all, &n), 0);
	cr_assert_eq(n, 0);
	vm_states_free(all, n);
}

Test(state_files, dir_open_honours_the_environment)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/run-kvmcg", tmpdir);
	cr_assert_eq(setenv("KVMCG_STATE_DIR", dir, 1), 0);

	cr_assert_eq(state_dir_open(false), -ENOENT, "not made without create");
	int fd = state_dir_open(true);
	cr_assert_geq(fd, 0, "state_dir_open(true) = %d", fd);
	struct stat sb;
	cr_assert_eq(stat(dir, &sb), 0, "%s made", dir);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 0777, 0700, "mode %o", (unsigned)(sb.st_mode & 0777));

	/* what is saved there is in that directory */
	saved_state(&st_a);
	cr_assert_eq(state_save(fd, &st_a), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/4321-18446744073709551615.state", dir);
	cr_assert_eq(access(path, F_OK), 0, "%s", path);
	close(fd);

	/* an existing directory is fine, with or without create */
	fd = state_dir_open(true);
	cr_assert_geq(fd, 0);
	close(fd);
	fd = state_dir_open(false);
	cr_assert_geq(fd, 0);
	cr_assert_eq(state_load(fd, 4321, 18446744073709551615ull, &st_b), 0);
	close(fd);

	/* a symlink is not followed */
	char link[256];
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	cr_assert_eq(symlink(dir, link), 0);
	cr_assert_eq(setenv("KVMCG_STATE_DIR", link, 1), 0);
	fd = state_dir_open(false);
	cr_assert_lt(fd, 0, "opened %s through a symlink", link);
}

/* ---- records kvmcg refuses -------------------------------------------------------------------- */

static void refused(const char *text, const char *needle)
{
	put_file("7-7.state", text);
	struct vm_state s = {0};
	err_clear();
	int r = state_load(tmpfd, 7, 7, &s);
	cr_assert_eq(r, -EBADMSG, "state_load = %d for:\n%s", r, text);
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), needle), "\"%s\" mentions \"%s\"", err_get(), needle);
	cr_assert_not_null(strstr(err_get(), "7-7.state"), "names the file: %s", err_get());
}

#define REC "kvmcg-state 1\npid 7\nstarttime 7\nmode v1\nmount /sys/fs/cgroup/cpuset\nvm-dir kvmcg/vm\nthread 7 / 0-1\n"

Test(state_files, refuses_what_would_lead_elsewhere)
{
	refused(REC "created kvmcg/other\n", "neither its directory /kvmcg/vm nor one of its children");
	refused(REC "created kvmcg/vm/sub\n", "neither its directory");
	refused(REC "created kvmcg/vm/vcpu0/x\n", "neither its directory");
	refused(REC "created kvmcg/vm/../../etc\n", "'..'");
	refused(REC "created /etc\n", "starts with '/'");
	refused("kvmcg-state 1\npid 7\nstarttime 7\nmode v1\nmount some/dir\nvm-dir kvmcg/vm\nthread 7 / 0\n", "absolute");
	refused("kvmcg-state 1\npid 7\nstarttime 7\nmode v1\nmount /x\nvm-dir ../vm\nthread 7 / 0\n", "'..'");
	refused("kvmcg-state 1\npid 7\nstarttime 7\nmode v1\nmount /x\nvm-dir -\nthread 7 / 0\n", "empty");
	refused(REC "enabled other cpuset\n", "not the cgroup the VM's tree");
	refused(REC "enabled - cpuset\n", "not the cgroup the VM's tree");
	refused(REC "enabled kvmcg cpuset\n", "not the cgroup the VM's tree"); /* kvmcg/vm is not in place */
	refused(REC "enabled kvmcg/vm/.. cpuset\n", "not the cgroup the VM's tree");
	refused("kvmcg-state 1\npid 7\nstarttime 7\nmode v2\nmount /m\nvm-dir lim/kvmcg\nenabled lim memory\n"
		"thread 7 /lim 0\n",
		"never enables");
	/* a directory someone else made, named as the VM's (the reviewer's forgery) */
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir victim\ncreated victim\n"
		"created victim/sub\nthread 7 / 0\nend\n",
		"neither inside a kvmcg/ tree");
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir a/victim\nroot b\n"
		"thread 7 / 0\nend\n",
		"not directly below its cgroup root /b");
	/* cut short, or its origins removed */
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir kvmcg/vm\nthread 7 / 0\n",
		"damaged");
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir kvmcg/vm\nend\n",
		"main thread 7");
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmode v2\nmount /m\nvm-dir kvmcg/vm\n"
		"thread 7 / 0\nend\n",
		"damaged");
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir kvmcg/vm\nthread 7 / 0\n"
		"thread 7 /x 1\nend\n",
		"damaged");
	refused("kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir kvmcg/vm\nthread 7 / 0\nend\n"
		"created kvmcg/vm\n",
		"damaged");
	/* a --cgroup-root one, as kvmcg writes it */
	put_file("7-7.state", "kvmcg-state 2\npid 7\nstarttime 7\nmode v1\nmount /m\nvm-dir a/b/vm\nroot a/b\n"
			      "created a/b/vm\ncreated a/b/vm/emulator\nthread 7 / 0\nend\n");
	struct vm_state given = {0};
	cr_assert_eq(state_load(tmpfd, 7, 7, &given), 0, "%s", err_get() ? err_get() : "");
	vm_state_done(&given);
	refused(REC "thread 8 /x/../y -\n", "'..'");
	/* a forged origin inside another VM's tree (a reviewer's attack): refused */
	refused(REC "thread 8 /launch/kvmcg/emulator 0\n", "inside a kvmcg/ tree, as the origin of thread 8");
	refused(REC "thread 8 /kvmcg/other/vcpu0 0\n", "kvmcg's own cgroups are never one");
	refused("kvmcg-state 1\npid 7\nstarttime 7\nmode affinity\nmount /sys/fs/cgroup\nthread 7 - 0\n", "names cgroups");
	/* and one that is fine */
	put_file("8-8.state", REC "created kvmcg/vm\ncreated kvmcg/vm/vcpu0\nthread 7 /machine/x 0-1\n");
	struct vm_state ok = {0};
	err_clear();
	cr_assert_eq(state_load(tmpfd, 8, 8, &ok), -EBADMSG, "a record named for VM 8 that is VM 7's");
	cr_assert_not_null(strstr(err_get(), "another VM's"), "%s", err_get());
	put_file("7-7.state", REC "created kvmcg/vm\ncreated kvmcg/vm/vcpu0\nthread 7 /machine/x 0-1\n");
	cr_assert_eq(state_load(tmpfd, 7, 7, &ok), 0);
	vm_state_done(&ok);
}

/* The same checks on JSON records. */
Test(state_files, refuses_json_that_would_lead_elsewhere)
{
	char *t;
	t = with("\"kvmcg/vm/vcpu0\" ]", "\"kvmcg/other\" ]");
	refused(t, "neither its directory /kvmcg/vm nor one of its children");
	free(t);
	t = with("\"kvmcg/vm/vcpu0\" ]", "\"kvmcg/vm/../../etc\" ]");
	refused(t, "'..'");
	free(t);
	t = with("\"/sys/fs/cgroup/cpuset\"", "\"sys/fs/cgroup/cpuset\"");
	refused(t, "absolute");
	free(t);
	t = with("\"vm_dir\": \"kvmcg/vm\"", "\"vm_dir\": \"victim\"");
	refused(t, "neither inside a kvmcg/ tree");
	free(t);
	t = with("\"enabled\": [ ]", "\"enabled\": [ { \"dir\": \"other\", \"controller\": \"cpuset\" } ]");
	refused(t, "not the cgroup the VM's tree");
	free(t);
	t = with("\"tid\": 7", "\"tid\": 8");
	refused(t, "main thread 7");
	free(t);
	t = with("\"cgroup\": \"/\"", "\"cgroup\": \"/x/../y\"");
	refused(t, "'..'");
	free(t);
	t = with("\"backend\": \"v1\"", "\"backend\": \"affinity\"");
	refused(t, "names cgroups");
	free(t);
	t = with("\"cpu_weight\": 100", "\"cpu_weight\": 1000000");
	refused(t, "its tune.cpu_weight is 1000000, out of range (1 to 10000)");
	free(t);
	t = with("\"end\": true\n}\n", "\"end\": true\n");
	refused(t, "cut short");
	free(t);
	put_file("7-7.state", JBASE);
	struct vm_state ok = {0};
	cr_assert_eq(state_load(tmpfd, 7, 7, &ok), 0, "%s", err_get() ? err_get() : "");
	vm_state_done(&ok);
	/* a record named for VM 8 that is VM 7's */
	put_file("8-8.state", JBASE);
	err_clear();
	cr_assert_eq(state_load(tmpfd, 8, 8, &ok), -EBADMSG);
	cr_assert_not_null(strstr(err_get(), "another VM's"), "%s", err_get());
}

Test(state_files, another_version_is_refused_in_one_sentence)
{
	char *t = with("\"version\": 1", "\"version\": 2");
	put_file("7-7.state", t);
	free(t);
	struct vm_state s = {0};
	err_clear();
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), -EBADMSG);
	cr_assert_str_eq(err_get(), "refusing the record 7-7.state: it has version 2; this kvmcg reads version 1");
	struct vm_state *all = NULL;
	size_t n = 9;
	char **problems = NULL;
	cr_assert_eq(state_load_all_checked(tmpfd, &all, &n, &problems), 0);
	cr_assert_eq(n, 0);
	cr_assert_not_null(problems);
	cr_assert_str_eq(problems[0], "refusing the record 7-7.state: it has version 2; this kvmcg reads version 1");
	strv_free(problems);
	vm_states_free(all, n);
}

/* problems holds one sentence, which names needle; freed. */
static void only_problem(char **problems, const char *needle)
{
	cr_assert_not_null(problems);
	cr_assert_not_null(strstr(problems[0], needle), "%s", problems[0]);
	cr_assert_null(problems[1]);
	strv_free(problems);
}

static bool not_pid_7_or_9(pid_t pid, uint64_t starttime, void *arg)
{
	(void)starttime;
	++*(int *)arg;
	return pid != 7 && pid != 9;
}

static bool none_wanted(pid_t pid, uint64_t starttime, void *arg)
{
	(void)pid;
	(void)starttime;
	(void)arg;
	return false;
}

/* state_load_some: a record named for a VM the caller does not want is not even read;
 * a name that is not a record's own form is read and judged all the same. */
Test(state_files, load_some_skips_unwanted_names_unread)
{
	put_file("7-7.state", REC);
	char *eight = strdup(REC);
	cr_assert_not_null(eight);
	memcpy(strstr(eight, "pid 7"), "pid 8", 5);
	memcpy(strstr(eight, "starttime 7"), "starttime 8", 11);
	memcpy(strstr(eight, "thread 7 "), "thread 8 ", 9);
	put_file("8-8.state", eight);
	free(eight);
	put_file("9-9.state", "garbage\n");
	struct vm_state *all = NULL;
	size_t n = 0;
	char **problems = NULL;
	int asked = 0;
	cr_assert_eq(state_load_some(tmpfd, not_pid_7_or_9, &asked, &all, &n, &problems), 0);
	cr_assert_eq(asked, 3, "asked once per record name");
	cr_assert_eq(n, 1, "%s", problems && problems[0] ? problems[0] : "no problem");
	cr_assert_eq(all[0].pid, 8);
	cr_assert_null(problems, "the damaged 9-9.state was not read");
	vm_states_free(all, n);

	put_file("07-7.state", REC);
	all = NULL;
	n = 0;
	cr_assert_eq(state_load_some(tmpfd, none_wanted, NULL, &all, &n, &problems), 0);
	cr_assert_eq(n, 0);
	only_problem(problems, "07-7.state");
	vm_states_free(all, n);

	/* state_load_all_checked reads every one */
	all = NULL;
	n = 0;
	problems = NULL;
	cr_assert_eq(state_load_all_checked(tmpfd, &all, &n, &problems), 0);
	cr_assert_eq(n, 2);
	size_t n_problems = 0;
	for (char **p = problems; p && *p; p++)
		n_problems++;
	cr_assert_eq(n_problems, 2, "9-9.state and 07-7.state");
	strv_free(problems);
	vm_states_free(all, n);
}

/* The text format's weight range was the state file's own (up to 1000000). */
Test(state_files, text_records_are_range_checked_too)
{
	refused(REC "pin-cpu-weight 1000000\n", "damaged at line 8");
	refused(REC "pin-cpu-weight 10001\n", "damaged at line 8");
	refused(REC "pin-cpu-period 999\n", "damaged at line 8");
	refused(REC "pin-cpu-quota 100001\n", "damaged at line 8");
	refused(REC "pin-vcpu-sched fifo:100\n", "damaged at line 8");
	put_file("7-7.state", REC "pin-cpu-weight 10000\npin-cpu-quota 0\npin-cpu-period 1000\n");
	struct vm_state s = {0};
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(s.tune.cputune.weight, 10000);
	cr_assert(s.tune.cputune.quota_set && s.tune.cputune.quota_percent == 0, "0 is max");
	vm_state_done(&s);
}

static char *file_text(const char *name)
{
	char *buf = NULL;
	cr_assert_eq(read_file_at(tmpfd, name, &buf, NULL), 0, "read %s", name);
	return buf;
}

#define LEGACY REC "created kvmcg/vm\ncreated kvmcg/vm/vcpu0\npin-vcpu 0 1\npin-cpu-weight 200\n"

Test(state_files, text_record_becomes_json_under_the_lock)
{
	put_file("7-7.state", LEGACY);
	/* without the lock (list, show, a dry run): read, and left as it is */
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_a), 0, "%s", err_get() ? err_get() : "");
	char *text = file_text("7-7.state");
	cr_assert_str_eq(text, LEGACY);
	free(text);
	/* under the lock: still text until the lock goes, then JSON, once */
	int lock = -1;
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "pin", &lock, NULL), 0);
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_b), 0);
	text = file_text("7-7.state");
	cr_assert_str_eq(text, LEGACY);
	free(text);
	state_unlock(tmpfd, 7, 7, lock);
	text = file_text("7-7.state");
	cr_assert_eq(text[0], '{', "JSON now:\n%s", text);
	cr_assert_not_null(strstr(text, "\"version\": 1"), "%s", text);
	free(text);
	struct stat sb;
	cr_assert_eq(fstatat(tmpfd, "7-7.state", &sb, 0), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	vm_state_done(&st_b);
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_b), 0);
	assert_same_state(&st_b, &st_a);
	char names[512];
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "7-7.lock 7-7.state", "no temporary left: %s", names);
}

Test(state_files, text_record_saved_or_removed_is_not_converted_again)
{
	int lock = -1;
	/* a run that saves its own record: that is the one write */
	put_file("7-7.state", LEGACY);
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "pin", &lock, NULL), 0);
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_a), 0);
	st_a.tune.cputune.weight = 300;
	cr_assert_eq(state_save(tmpfd, &st_a), 0);
	state_unlock(tmpfd, 7, 7, lock);
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_b), 0);
	cr_assert_eq(st_b.tune.cputune.weight, 300, "what the run saved, not the old record");
	vm_state_done(&st_b);
	/* a run that removes it (unpin): it stays removed, and so does the lock file */
	put_file("7-7.state", LEGACY);
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "unpin", &lock, NULL), 0);
	cr_assert_eq(state_load(tmpfd, 7, 7, &st_b), 0);
	cr_assert_eq(state_remove(tmpfd, 7, 7), 0);
	state_unlock(tmpfd, 7, 7, lock);
	char names[512];
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "", "%s", names);
	/* a refused one is left for the admin, untouched */
	put_file("7-7.state", REC "created kvmcg/other\n");
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "pin", &lock, NULL), 0);
	struct vm_state s = {0};
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), -EBADMSG);
	state_unlock(tmpfd, 7, 7, lock);
	char *text = file_text("7-7.state");
	cr_assert_str_eq(text, REC "created kvmcg/other\n");
	free(text);
	/* a JSON one is not written again */
	put_file("7-7.state", JBASE);
	struct stat before, after;
	cr_assert_eq(fstatat(tmpfd, "7-7.state", &before, 0), 0);
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "pin", &lock, NULL), 0);
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), 0);
	vm_state_done(&s);
	state_unlock(tmpfd, 7, 7, lock);
	cr_assert_eq(fstatat(tmpfd, "7-7.state", &after, 0), 0);
	cr_assert_eq(before.st_ino, after.st_ino, "the same file");
}

Test(state_files, refuses_a_record_others_could_write)
{
	put_file("7-7.state", REC);
	struct vm_state s = {0};
	cr_assert_eq(fchmodat(tmpfd, "7-7.state", 0666, 0), 0);
	err_clear();
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), -EPERM);
	cr_assert_not_null(strstr(err_get(), "writable by others"), "%s", err_get());
	cr_assert_eq(fchmodat(tmpfd, "7-7.state", 0620, 0), 0);
	cr_assert_eq(state_load(tmpfd, 7, 7, &s), -EPERM, "group-writable");
	cr_assert_eq(fchmodat(tmpfd, "7-7.state", 0600, 0), 0);
	if (geteuid() == 0) {
		cr_assert_eq(fchownat(tmpfd, "7-7.state", 65534, 65534, 0), 0);
		err_clear();
		cr_assert_eq(state_load(tmpfd, 7, 7, &s), -EPERM);
		cr_assert_not_null(strstr(err_get(), "owned by uid 65534"), "%s", err_get());
		/* load_all leaves it out and says why */
		struct vm_state *all = NULL;
		size_t n = 9;
		char **problems = NULL;
		cr_assert_eq(state_load_all_checked(tmpfd, &all, &n, &problems), 0);
		cr_assert_eq(n, 0);
		only_problem(problems, "7-7.state");
		vm_states_free(all, n);
	}
	/* a symbolic link is not a record */
	cr_assert_eq(symlinkat("7-7.state", tmpfd, "9-9.state"), 0);
	cr_assert_lt(state_load(tmpfd, 9, 9, &s), 0);
}

Test(state_files, dir_open_refuses_a_directory_others_could_write)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/open", tmpdir);
	cr_assert_eq(mkdir(dir, 0777), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(setenv("KVMCG_STATE_DIR", dir, 1), 0);
	err_clear();
	cr_assert_eq(state_dir_open(false), -EPERM);
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), "writable by others"), "%s", err_get());
	cr_assert_eq(chmod(dir, 0700), 0);
	int fd = state_dir_open(false);
	cr_assert_geq(fd, 0);
	close(fd);
}

Test(state_files, lock_serialises_and_says_who)
{
	int a = -1, b = -1;
	char *holder = NULL;
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "pin", &a, NULL), 0);
	/* flock locks belong to the open file: a second open, even in this process,
	 * waits like another kvmcg would */
	uint64_t t0 = now_ns();
	cr_assert_eq(state_lock(tmpfd, 7, 7, 200, "apply", &b, &holder), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 200000000ull, "waited the timeout");
	cr_assert_not_null(holder);
	char want[64];
	snprintf(want, sizeof(want), "pid %d (kvmcg pin)", (int)getpid());
	cr_assert_str_eq(holder, want);
	free(holder);
	/* another VM's lock is free */
	cr_assert_eq(state_lock(tmpfd, 8, 8, 0, "pin", &b, NULL), 0);
	state_unlock(tmpfd, 8, 8, b);
	/* without a record the lock file goes with the lock, and the next one is taken */
	state_unlock(tmpfd, 7, 7, a);
	char names[512];
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "", "no lock file left: %s", names);
	cr_assert_eq(state_lock(tmpfd, 7, 7, 0, "unpin", &a, NULL), 0);
	/* with a record it stays */
	put_file("7-7.state", REC);
	state_unlock(tmpfd, 7, 7, a);
	list_dir(tmpfd, names, sizeof(names));
	cr_assert_str_eq(names, "7-7.lock 7-7.state", "%s", names);
}

/* ---- the limits of a cputune (tune.c, their one owner) ----------------------------------------- */

Test(cputune_limits, each_range_at_its_edges)
{
	cr_assert_eq(cputune_check_weight(0), -ERANGE);
	cr_assert_eq(cputune_check_weight(1), 0);
	cr_assert_eq(cputune_check_weight(10000), 0);
	cr_assert_eq(cputune_check_weight(10001), -ERANGE);
	cr_assert_eq(cputune_check_weight(1000000), -ERANGE);
	cr_assert_eq(cputune_check_weight(-1), -ERANGE);
	cr_assert_eq(cputune_check_quota_percent(0), -ERANGE);
	cr_assert_eq(cputune_check_quota_percent(1), 0);
	cr_assert_eq(cputune_check_quota_percent(100000), 0);
	cr_assert_eq(cputune_check_quota_percent(100001), -ERANGE);
	cr_assert_eq(cputune_check_quota_percent(UINT64_MAX), -ERANGE);
	cr_assert_eq(cputune_check_period(999), -ERANGE);
	cr_assert_eq(cputune_check_period(1000), 0);
	cr_assert_eq(cputune_check_period(1000000), 0);
	cr_assert_eq(cputune_check_period(1000001), -ERANGE);
	cr_assert_eq(cputune_check_sched(SCHED_FIFO, 0), -ERANGE);
	cr_assert_eq(cputune_check_sched(SCHED_FIFO, 1), 0);
	cr_assert_eq(cputune_check_sched(SCHED_RR, 99), 0);
	cr_assert_eq(cputune_check_sched(SCHED_RR, 100), -ERANGE);
	cr_assert_eq(cputune_check_sched(SCHED_OTHER, 0), 0);
	cr_assert_eq(cputune_check_sched(SCHED_BATCH, 1), -ERANGE);
	cr_assert_eq(cputune_check_sched(SCHED_DEADLINE, 0), -ERANGE);
	int pol;
	unsigned prio;
	cr_assert_eq(sched_parse("fifo:99", &pol, &prio), 0);
	cr_assert_eq(sched_parse("fifo:100", &pol, &prio), -EINVAL);
	cr_assert_eq(sched_parse("rr:0", &pol, &prio), -EINVAL);
	cr_assert_eq(sched_parse("idle:1", &pol, &prio), -EINVAL);
}

Test(cputune_limits, a_whole_cputune)
{
	struct cputune t = {0};
	cr_assert_eq(cputune_check(&t), 0, "nothing set");
	t.quota_set = true;
	cr_assert_eq(cputune_check(&t), 0, "quota max");
	t.weight = 1000000;
	err_clear();
	cr_assert_eq(cputune_check(&t), -ERANGE);
	cr_assert_str_eq(err_get(), "CPU weight 1000000 is out of range (1 to 10000)");
	t = (struct cputune){.quota_set = true, .quota_percent = 100001};
	cr_assert_eq(cputune_check(&t), -ERANGE);
	t = (struct cputune){.period_us = 500};
	cr_assert_eq(cputune_check(&t), -ERANGE);
	t = (struct cputune){.sched_set = true, .sched_policy = SCHED_FIFO};
	cr_assert_eq(cputune_check(&t), -ERANGE, "fifo without a priority");
	t = (struct cputune){.weight = 10000, .quota_set = true, .quota_percent = 100000, .period_us = 1000000,
			     .sched_set = true, .sched_policy = SCHED_RR, .sched_priority = 99};
	cr_assert_eq(cputune_check(&t), 0, "every limit at its top");
}

/* A kvmcg killed between writing a file and renaming it leaves its temporary file:
 * the next collection removes it, and only when its writer no longer runs. */
Test(state_files, stale_temporary_files_go)
{
	char mine[96];
	snprintf(mine, sizeof(mine), ".shared.json.%d.0.tmp", (int)getpid());
	put_file(".shared.json.4194303.3.tmp", "{");
	put_file(".7-7.state.4194303.0.tmp", "{");
	put_file(mine, "{");
	put_file(".not-ours.tmp", "x");
	state_collect_files(tmpfd, -1);
	struct stat st;
	cr_assert_eq(fstatat(tmpfd, ".shared.json.4194303.3.tmp", &st, 0), -1, "a dead writer's goes");
	cr_assert_eq(fstatat(tmpfd, ".7-7.state.4194303.0.tmp", &st, 0), -1, "a dead writer's goes");
	cr_assert_eq(fstatat(tmpfd, mine, &st, 0), 0, "a running writer's stays");
	cr_assert_eq(fstatat(tmpfd, ".not-ours.tmp", &st, 0), 0, "a name kvmcg never writes stays");
}

/* A VM unpinned by hand while kvmcg watch ran has a marker; once the VM is gone the
 * next collection removes it, whether or not a watch saw the exit. A live process
 * (this test's own, with its start time read from /proc by hand) keeps its own. */
Test(state_files, markers_of_gone_processes_go)
{
	char stat[1024], mine[64], reused[64];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	stat[n] = '\0';
	/* field 22, counted after the ")" that ends the command name (field 2) */
	const char *p = strrchr(stat, ')');
	cr_assert_not_null(p);
	unsigned long long start = 0;
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			    &start), 1);
	snprintf(mine, sizeof(mine), "%d-%llu.unmanaged", (int)getpid(), start);
	snprintf(reused, sizeof(reused), "%d-%llu.unmanaged", (int)getpid(), start + 1);
	put_file(mine, "");
	put_file(reused, "");
	put_file("4194303-7.unmanaged", "");
	put_file("4194303-7.unmanagedx", "");
	int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc, 0);
	state_collect_files(tmpfd, proc);
	close(proc);
	struct stat st;
	cr_assert_eq(fstatat(tmpfd, mine, &st, 0), 0, "a live process's stays");
	cr_assert_eq(fstatat(tmpfd, reused, &st, 0), -1, "its pid with another start time: gone");
	cr_assert_eq(fstatat(tmpfd, "4194303-7.unmanaged", &st, 0), -1, "no such process: gone");
	cr_assert_eq(fstatat(tmpfd, "4194303-7.unmanagedx", &st, 0), 0, "a name kvmcg never writes stays");
}

/* What kvmcg added to network devices: kept through a round trip, and checked. */
#define JNET(net)                                                                                   \
	"{ \"version\": 1, \"pid\": 7, \"starttime\": 7, \"backend\": \"affinity\",\n"              \
	"  \"created\": [ ], \"enabled\": [ ],\n" net                                                    \
	"  \"threads\": [ { \"tid\": 7, \"cgroup\": \"\", \"affinity\": \"0-1\" } ],\n"                    \
	"  \"tune\": { \"vcpupin\": { }, \"iothreadpin\": { },\n"                                     \
	"            \"net\": { \"interfaces\": [ \"vnet*\" ], \"inbound\": { \"average\": 2500000 },\n"    \
	"                     \"outbound\": { \"average\": 1250000, \"peak\": 2500000, \"burst\": 65536 } } },\n" \
	"  \"end\": true }\n"

Test(state_strict, net_changes_round_trip_and_are_checked)
{
	const char *text = JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:4026531840\", \"dev\": \"vnet0\",\n"
				"    \"ifindex\": 7, \"kind\": \"tbf\", \"handle\": 1802895360,\n"
				"    \"was\": { \"kind\": \"htb\", \"handle\": 65536, \"options\": \"0102ff\" } },\n"
				"    { \"what\": \"ifb\", \"netns\": \"4:4026531840\", \"dev\": \"kvmcg0123abcd\" } ],\n");
	cr_assert_eq(state_parse(text, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.n_net, 2);
	cr_assert_eq(st_a.net[0].was_len, 3);
	cr_assert_eq(((unsigned char *)st_a.net[0].was_options)[2], 0xff);
	cr_assert_eq(st_a.tune.nettune.out.burst, 65536);
	char *again = state_format(&st_a);
	cr_assert_eq(state_parse(again, &st_b, NULL), 0, "%s", again);
	cr_assert_eq(st_b.n_net, 2);
	cr_assert_str_eq(st_b.net[0].was_kind, "htb");
	cr_assert_eq(st_b.net[0].handle, 0x6b760000u);
	cr_assert_eq(st_b.net[1].what, NET_ADDED_IFB);
	cr_assert_eq(st_b.net[1].netns_ino, 4026531840u);
	cr_assert(nettune_equal(&st_a.tune.nettune, &st_b.tune.nettune));
	free(again);
	json_refused(JNET("  \"net\": [ { \"what\": \"qdisc\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1 } ],\n"),
		     "is not root, ingress, ifb or class");
	json_refused(JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1 } ],\n"),
		     "has no qdisc kind");
	json_refused(JNET("  \"net\": [ { \"what\": \"ingress\", \"netns\": \"4\", \"dev\": \"v\", \"ifindex\": 1 } ],\n"),
		     "is not DEV:INODE");
	json_refused(JNET("  \"net\": [ { \"what\": \"ingress\", \"netns\": \"4:5\", \"dev\": \"../x\", \"ifindex\": 1 } ],\n"),
		     "is not an interface name");
	json_refused(JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1, \"kind\": \"tbf\",\n"
			  "    \"handle\": 1802895360, \"was\": { \"kind\": \"htb\", \"options\": \"0g\" } } ],\n"),
		     "options is not hexadecimal");
	/* a record names only what kvmcg makes: its TBF with its handle, its IFB names */
	json_refused(JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1, \"kind\": \"htb\",\n"
			  "    \"handle\": 65536 } ],\n"),
		     "names a root qdisc kvmcg does not make (htb, handle 1:)");
	json_refused(JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1, \"kind\": \"tbf\",\n"
			  "    \"handle\": 65536 } ],\n"),
		     "names a root qdisc kvmcg does not make (tbf, handle 1:)");
	json_refused(JNET("  \"net\": [ { \"what\": \"ifb\", \"netns\": \"4:5\", \"dev\": \"ifb0\" } ],\n"),
		     "names an IFB device 'ifb0', not a name kvmcg gives");
}

/* A record with one class entry: its handle is the format's %u. */
#define BRIDGE_CLASS "  \"net\": [ { \"what\": \"class\", \"netns\": \"4:5\", \"dev\": \"br0\", \"ifindex\": 3,\n" \
		     "    \"port\": 7, \"kind\": \"htb\", \"handle\": %u } ],\n"

/* Weight=: a tap's class on its bridge, kvmcg's HTB minor 2 and up, with its port;
 * the tune's weight and total with it. */
Test(state_strict, bridge_classes_round_trip_and_are_checked)
{
	char full[4096];
	snprintf(full, sizeof(full), JNET(BRIDGE_CLASS), 0x6b760002u);
	cr_assert_eq(state_parse(full, &st_a, NULL), 0, "%s", err_get() ? err_get() : "");
	cr_assert_eq(st_a.n_net, 1);
	cr_assert_eq(st_a.net[0].what, NET_ADDED_CLASS);
	cr_assert_eq(st_a.net[0].port, 7);
	cr_assert_not_null(record_find_net(&st_a, NET_ADDED_CLASS, NULL, 7), "found by its port");
	st_a.tune.nettune.weight = 300;
	st_a.tune.nettune.bridge_total = 2500000;
	char *again = state_format(&st_a);
	cr_assert_eq(state_parse(again, &st_b, NULL), 0, "%s", again);
	cr_assert_eq(st_b.net[0].port, 7);
	cr_assert_eq(st_b.net[0].handle, 0x6b760002u);
	cr_assert_eq(st_b.tune.nettune.weight, 300);
	cr_assert_eq(st_b.tune.nettune.bridge_total, 2500000);
	free(again);
	/* the shared :1, another qdisc's class, or no port: not kvmcg's to remove */
	const unsigned forged[] = {0x6b760001u, 0x00010002u, 0x6b76ffffu};
	for (size_t i = 0; i < ARRAY_SIZE(forged); i++) {
		snprintf(full, sizeof(full), JNET(BRIDGE_CLASS), forged[i]);
		json_refused(full, "names a class kvmcg does not make");
	}
	json_refused(JNET("  \"net\": [ { \"what\": \"class\", \"netns\": \"4:5\", \"dev\": \"br0\", \"ifindex\": 3,\n"
			  "    \"kind\": \"htb\", \"handle\": 1802895362 } ],\n"),
		     "names a class kvmcg does not make (htb 6b76:2, port 0)");
	json_refused(JNET("  \"net\": [ { \"what\": \"root\", \"netns\": \"4:5\", \"dev\": \"v\", \"ifindex\": 1, \"port\": 2,\n"
			  "    \"kind\": \"tbf\", \"handle\": 1802895360 } ],\n"),
		     "names a port for no class");
}

/* kvmcg unpin's word to a running watch: when it was said, said again later, taken back. */
Test(state_files, unmanaged_marker_says_when)
{
	static const struct timespec zero = {0};
	cr_assert(!state_unmanaged_since(tmpfd, 4242, 777, &zero), "none yet");
	cr_assert_eq(state_unmanaged_set(tmpfd, 4242, 777), 0);
	struct stat st;
	cr_assert_eq(fstatat(tmpfd, "4242-777.unmanaged", &st, AT_SYMLINK_NOFOLLOW), 0, "the marker's name");
	struct timespec t = st.st_mtim, later = {t.tv_sec + 1, t.tv_nsec};
	cr_assert(state_unmanaged_since(tmpfd, 4242, 777, &t), "its time is the file's mtime: since then");
	cr_assert(!state_unmanaged_since(tmpfd, 4242, 777, &later), "not since a second later");
	cr_assert(!state_unmanaged_since(tmpfd, 4242, 778, &zero), "another start time is another process");
	/* an older time, as a marker of long ago would have: set again, it is now */
	struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	cr_assert_eq(utimensat(tmpfd, "4242-777.unmanaged", old, AT_SYMLINK_NOFOLLOW), 0);
	cr_assert(!state_unmanaged_since(tmpfd, 4242, 777, &t), "made old: not since t");
	cr_assert_eq(state_unmanaged_set(tmpfd, 4242, 777), 0);
	cr_assert(state_unmanaged_since(tmpfd, 4242, 777, &t), "set again: now, since t");
	cr_assert_eq(state_unmanaged_clear(tmpfd, 4242, 777), 0);
	cr_assert(!state_unmanaged_since(tmpfd, 4242, 777, &zero), "cleared");
	cr_assert_eq(state_unmanaged_clear(tmpfd, 4242, 777), 0, "clearing what is not there");
}
