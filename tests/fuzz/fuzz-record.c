// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the undo record (/run/kvmcg/PID-STARTTIME.state): state_parse()
 * on arbitrary text, then state_check(), then a round trip through state_format().
 * A record is root's own file, but it lists what a VM's owner chose (the VM's name,
 * its iothread ids, the cgroups its threads were in), and it is read back after a
 * crash, a power cut or a hand edit. The checks:
 *
 * - a refused record names a line that exists (err_line);
 * - what state_format() writes of a parsed record parses again, and formats to the
 *   same text (a record kvmcg rewrites stays readable);
 * - a record state_check() accepts is accepted again after the round trip, and
 *   survives it field by field (NULL and "" are one thing: both are written "-").
 *
 * The same input goes to shared_parse() too (shared.json, the state directory's
 * other file): what it accepts survives its own round trip.
 *
 * Everything is freed; a failed check aborts. See README.md. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/shared.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-record: check failed at %s:%d: %s\n", __FILE__,      \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool str_same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool set_same(const struct idset *a, const struct idset *b)
{
	if (!a || !b)
		return !a && !b;
	return idset_equal(a, b);
}

static void check_same(const struct vm_state *a, const struct vm_state *b)
{
	CHECK(a->pid == b->pid && a->starttime == b->starttime);
	CHECK(str_same(a->name, b->name));
	CHECK(a->backend == b->backend);
	CHECK(str_same(a->mount, b->mount) && str_same(a->vm_dir, b->vm_dir) && str_same(a->root, b->root));
	CHECK(a->n_created == b->n_created);
	for (size_t i = 0; i < a->n_created; i++)
		CHECK(str_same(a->created[i], b->created[i]));
	for (int t = V1_TREE_NONE + 1; t < V1_TREE_N; t++) {
		const struct v1_tree_record *x = &a->v1[t], *y = &b->v1[t];
		CHECK(str_same(x->mount, y->mount) && str_same(x->vm_dir, y->vm_dir));
		CHECK(x->n_created == y->n_created);
		for (size_t i = 0; i < x->n_created; i++)
			CHECK(str_same(x->created[i], y->created[i]));
	}
	CHECK(a->n_enabled == b->n_enabled);
	for (size_t i = 0; i < a->n_enabled; i++)
		CHECK(str_same(a->enabled[i].dir, b->enabled[i].dir) &&
		      str_same(a->enabled[i].controller, b->enabled[i].controller));
	CHECK(a->n_threads == b->n_threads);
	for (size_t i = 0; i < a->n_threads; i++) {
		const struct thread_origin *x = &a->threads[i], *y = &b->threads[i];
		CHECK(x->tid == y->tid && str_same(x->cgroup, y->cgroup));
		for (int t = 0; t < V1_TREE_N; t++)
			CHECK(str_same(x->v1_cgroup[t], y->v1_cgroup[t]));
		/* an empty affinity is written "-" and read back as an empty set */
		CHECK(set_same(x->affinity, y->affinity) ||
		      (idset_count(x->affinity ? x->affinity : y->affinity) == 0 && (!x->affinity || !y->affinity)));
		CHECK(x->sched_known == y->sched_known);
		if (x->sched_known)
			CHECK(x->sched_policy == y->sched_policy && x->sched_priority == y->sched_priority);
	}
	const struct vm_tune *s = &a->tune, *t = &b->tune;
	CHECK(s->n_vcpu == t->n_vcpu);
	for (size_t i = 0; i < s->n_vcpu; i++)
		CHECK(set_same(s->vcpu[i], t->vcpu[i]));
	CHECK(set_same(s->emulator, t->emulator) && set_same(s->mems, t->mems));
	CHECK(s->n_iothread == t->n_iothread);
	for (size_t i = 0; i < s->n_iothread; i++)
		CHECK(str_same(s->iothread_ids[i], t->iothread_ids[i]) && set_same(s->iothread[i], t->iothread[i]));
	const struct cputune *p = &s->cputune, *q = &t->cputune;
	CHECK(p->weight == q->weight && p->quota_set == q->quota_set && p->period_us == q->period_us &&
	      p->sched_set == q->sched_set);
	if (p->quota_set)
		CHECK(p->quota_percent == q->quota_percent);
	if (p->sched_set)
		CHECK(p->sched_policy == q->sched_policy && p->sched_priority == q->sched_priority);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* The state directory's other file, shared.json (state/shared.h), on the same input:
 * refused with a sentence, or accepted, written, read back and written the same. */
static void check_shared(const char *text)
{
	struct shared_state s = {0}, t = {0};
	char *why = NULL;
	int r = shared_parse(text, &s, &why);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM);
		CHECK(r == -ENOMEM || why);
		free(why);
		return;
	}
	char *once = shared_format(&s);
	CHECK(once);
	r = shared_parse(once, &t, &why);
	if (r != 0)
		fprintf(stderr, "fuzz-record: shared.json as written does not parse (%s):\n%s", why ? why : "", once);
	CHECK(r == 0);
	char *twice = shared_format(&t);
	CHECK(twice && strcmp(once, twice) == 0);
	CHECK(s.n == t.n);
	free(once);
	free(twice);
	shared_state_done(&s);
	shared_state_done(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a record as read_fd() gives it: NUL-terminated */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	check_shared(text);
	struct vm_state a = {0}, b = {0};
	size_t line = (size_t)-1;
	int r = state_parse(text, &a, &line);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		if (r == -EBADMSG)
			CHECK(line <= count_lines(text));
		free(text);
		return 0;
	}
	CHECK(a.pid > 0 && a.starttime > 0);

	char *why_a = NULL, *why_b = NULL;
	int check_a = state_check(&a, &why_a);
	CHECK(check_a == 0 || check_a == -EBADMSG || check_a == -ENOMEM);
	CHECK((check_a == -EBADMSG) == (why_a != NULL));

	char *once = state_format(&a);
	CHECK(once);
	line = 0;
	r = state_parse(once, &b, &line);
	if (r != 0)
		fprintf(stderr, "fuzz-record: the record as written does not parse (line %zu):\n%s", line, once);
	CHECK(r == 0);
	char *twice = state_format(&b);
	CHECK(twice);
	if (strcmp(once, twice) != 0)
		fprintf(stderr, "fuzz-record: written once:\n%swritten again:\n%s", once, twice);
	CHECK(strcmp(once, twice) == 0);

	/* A refused record is never rewritten (state_load() refuses it first), and
	 * its rewrite may drop what made it wrong: state_format() writes vm-dir only
	 * with a mount. An accepted one must stay accepted, and the same. */
	int check_b = state_check(&b, &why_b);
	if (check_a == 0) {
		CHECK(check_b == 0);
		check_same(&a, &b);
	}

	free(why_a);
	free(why_b);
	free(once);
	free(twice);
	vm_state_done(&a);
	vm_state_done(&b);
	free(text);
	return 0;
}
