// SPDX-License-Identifier: GPL-2.0-or-later
/* state: the per-VM record of what kvmcg changed. Text round trips with every field
 * and every awkward byte, parse errors and their line numbers, and the files in a
 * scratch state directory. */
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
	s->name = strdup("my vm 100%\nsecond\tline");
	s->backend = BACKEND_CGROUP_V2;
	s->mount = strdup("/sys/fs/cgroup with space");
	s->vm_dir = strdup("kvmcg/my vm");
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

TestSuite(state_text, .fini = st_done);

Test(state_text, round_trip_every_field)
{
	full_state(&st_a);
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	size_t line = 999;
	int r = state_parse(text_a, &st_b, &line);
	cr_assert_eq(r, 0, "state_parse = %d at line %zu of:\n%s", r, line, text_a);
	assert_same_state(&st_b, &st_a);
	/* and the text is stable */
	text_b = state_format(&st_b);
	cr_assert_not_null(text_b);
	cr_assert_str_eq(text_b, text_a);
}

Test(state_text, format_escapes_what_would_break_a_line)
{
	full_state(&st_a);
	text_a = state_format(&st_a);
	cr_assert_not_null(text_a);
	cr_assert(strncmp(text_a, "kvmcg-state 2\n", 14) == 0, "magic line first:\n%s", text_a);
	size_t len = strlen(text_a);
	cr_assert(len > 4 && strcmp(text_a + len - 4, "end\n") == 0, "\"end\" last:\n%s", text_a);
	/* each line is "key" then single-space separated fields, none empty */
	size_t lines = 0;
	for (char *save = NULL, *l = strtok_r(text_a, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		lines++;
		cr_assert_null(strstr(l, "  "), "no empty field in \"%s\"", l);
		cr_assert_neq(l[strlen(l) - 1], ' ', "no trailing blank in \"%s\"", l);
		cr_assert_null(strchr(l, '\t'), "no raw tab in \"%s\"", l);
	}
	/* magic, pid, starttime, name, mode, mount, vm-dir, 4 created, 4 threads,
	 * 3 pinned vCPUs, emulator, 3 iothreads, mems, end */
	cr_assert_eq(lines, 7 + 4 + 4 + 3 + 1 + 3 + 1 + 1, "lines of:\n%s", text_a);
	free(text_a);
	text_a = state_format(&st_a);
	cr_assert_not_null(strstr(text_a, "\npid 4321\n"));
	cr_assert_not_null(strstr(text_a, "\nstarttime 18446744073709551615\n"));
	cr_assert_not_null(strstr(text_a, "\nmode v2\n"));
	cr_assert_not_null(strstr(text_a, "\nname my%20vm%20100%25%0Asecond%09line\n"), "%s", text_a);
	cr_assert_not_null(strstr(text_a, "\ncreated %2D\n"), "a lone '-' is escaped:\n%s", text_a);
	cr_assert_not_null(strstr(text_a, "\nthread 4323 - 0,2\n"), "an empty cgroup is '-':\n%s", text_a);
	cr_assert_not_null(strstr(text_a, "\nthread 4322 %2D -\n"), "an empty affinity is '-':\n%s", text_a);
	cr_assert_not_null(strstr(text_a, "\npin-vcpu 5 3\n"));
	cr_assert_null(strstr(text_a, "pin-vcpu 1 "), "unpinned vCPUs are not written:\n%s", text_a);
}

Test(state_text, round_trip_affinity_mode)
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

Test(state_text, round_trip_v1_and_each_mode_name)
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
		char line[32];
		snprintf(line, sizeof(line), "\nmode %s\n", backend_name(modes[i]));
		cr_assert_not_null(strstr(text_a, line), "%s", text_a);
		cr_assert_eq(state_parse(text_a, &st_b, NULL), 0);
		cr_assert_eq(st_b.backend, modes[i]);
	}
}

Test(state_text, find_thread)
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
Test(state_text, copy_is_deep_and_whole)
{
	full_state(&st_a);
	st_a.root = strdup("kvmcg");
	struct enabled_controller *e = calloc(2, sizeof(*e));
	cr_assert_not_null(e);
	e[0] = (struct enabled_controller){strdup("lim"), strdup("cpuset")};
	e[1] = (struct enabled_controller){strdup("lim"), strdup("cpu")};
	st_a.enabled = e;
	st_a.n_enabled = 2;
	st_a.threads[0].sched_known = true;
	st_a.threads[0].sched_policy = SCHED_FIFO;
	st_a.threads[0].sched_priority = 7;
	free(st_a.threads[1].cgroup);
	st_a.threads[1].cgroup = NULL;
	idset_free(st_a.threads[1].affinity);
	st_a.threads[1].affinity = NULL;
	st_a.tune.cputune = (struct cputune){.weight = 300, .quota_set = true, .quota_percent = 150,
					     .period_us = 20000, .sched_set = true, .sched_policy = SCHED_RR,
					     .sched_priority = 2};
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
	refused(REC "thread 7 /x/../y -\n", "'..'");
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
		cr_assert_not_null(problems);
		cr_assert_not_null(strstr(problems[0], "7-7.state"), "%s", problems[0]);
		cr_assert_null(problems[1]);
		strv_free(problems);
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
