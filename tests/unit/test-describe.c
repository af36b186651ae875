// SPDX-License-Identifier: GPL-2.0-or-later
/* vm_tune_describe: a tune in virsh's words, all of it or what changed. */
#include <criterion/criterion.h>

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "basic/idset.h"
#include "basic/util.h"
#include "tune/tune.h"

static struct idset *cpus(const char *list)
{
	struct idset *s = NULL;
	cr_assert_eq(idset_parse(list, &s, NULL), 0, "idset_parse(\"%s\")", list);
	return s;
}

/* A tune of n vCPUs, vCPU i pinned to vcpu[i] (NULL: not pinned). */
static void make(struct vm_tune *t, size_t n, const char *const *vcpu, const char *emulator)
{
	*t = (struct vm_tune){0};
	t->vcpu = calloc(n ? n : 1, sizeof(*t->vcpu));
	t->n_vcpu = n;
	for (size_t i = 0; i < n; i++)
		t->vcpu[i] = vcpu[i] ? cpus(vcpu[i]) : NULL;
	t->emulator = emulator ? cpus(emulator) : NULL;
}

static void expect(const struct vm_tune *before, const struct vm_tune *after, const char *want)
{
	char *got = vm_tune_describe(before, after);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want);
	free(got);
}

Test(describe, every_pin_in_virsh_words)
{
	struct vm_tune t;
	make(&t, 2, (const char *const[]){"22", "23"}, "18-23");
	expect(NULL, &t, "vCPU 0 -> 22, vCPU 1 -> 23, emulator -> 18-23");
	vm_tune_done(&t);
}

Test(describe, a_row_of_vcpus_with_one_pin_is_one_clause)
{
	struct vm_tune t;
	make(&t, 5, (const char *const[]){"2", "2", "2", "3", NULL}, NULL);
	expect(NULL, &t, "vCPU 0-2 -> 2, vCPU 3 -> 3");
	vm_tune_done(&t);
}

Test(describe, only_what_changed_with_its_old_value)
{
	struct vm_tune a, b;
	make(&a, 2, (const char *const[]){"0-3", "1"}, "0-3");
	make(&b, 2, (const char *const[]){"22", "1"}, "0-3");
	expect(&a, &b, "vCPU 0: 0-3 -> 22");
	expect(&a, &a, "");
	vm_tune_done(&a);
	vm_tune_done(&b);
}

Test(describe, an_unpin_is_to_none)
{
	struct vm_tune a, none = {0};
	make(&a, 2, (const char *const[]){"1", "1"}, "0");
	expect(&a, &none, "vCPU 0-1: 1 -> -, emulator: 0 -> -");
	vm_tune_done(&a);
}

Test(describe, iothreads_nodeset_and_cputune)
{
	struct vm_tune t;
	make(&t, 1, (const char *const[]){"1"}, NULL);
	t.iothread_ids = calloc(1, sizeof(char *));
	t.iothread = calloc(1, sizeof(struct idset *));
	t.iothread_ids[0] = strdup("io0");
	t.iothread[0] = cpus("0");
	t.n_iothread = 1;
	t.mems = cpus("1");
	t.mem_policy = MEM_POLICY_STRICT;
	t.cputune = (struct cputune){.weight = 200, .quota_set = true, .quota_percent = 50,
				     .sched_set = true, .sched_policy = SCHED_FIFO, .sched_priority = 10};
	expect(NULL, &t, "vCPU 0 -> 1, iothread io0 -> 0, nodeset -> 1 (strict), cpu weight -> 200, "
			 "cpu quota -> 50%, vcpu scheduler -> fifo:10");
	struct vm_tune u;
	cr_assert_eq(vm_tune_copy(&t, &u), 0);
	u.cputune.weight = 300;
	u.cputune.quota_percent = 0;
	expect(&t, &u, "cpu weight: 200 -> 300, cpu quota: 50% -> max");
	vm_tune_done(&t);
	vm_tune_done(&u);
}

Test(describe, a_tune_without_vcpus)
{
	/* pin --mems alone: no vCPU pinned, nothing before */
	struct vm_tune t = {0};
	t.mems = cpus("0");
	t.mem_policy = MEM_POLICY_STRICT;
	expect(NULL, &t, "nodeset -> 0 (strict)");
	struct vm_tune none = {0};
	expect(NULL, &none, "");
	expect(&none, &t, "nodeset: - -> 0 (strict)");
	vm_tune_done(&t);
}
