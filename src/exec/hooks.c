// SPDX-License-Identifier: GPL-2.0-or-later
/* Test hooks of the executor (exec.h), read from the environment only in the test
 * build: the Makefile compiles this file a second time with KVMCG_TEST_HOOKS into
 * build/kvmcg-test. The installed kvmcg gets all zeros and reads no variable. */
#include <stddef.h>
#include <stdlib.h>

#include "exec/exec.h"
#include "basic/util.h"

void exec_hooks_from_env(struct exec_hooks *ret)
{
	*ret = (struct exec_hooks){0};
#ifdef KVMCG_TEST_HOOKS
	static const struct {
		const char *name;
		size_t offset;
	} vars[] = {
		{"KVMCG_TEST_FAIL_AT", offsetof(struct exec_hooks, fail_at)},
		{"KVMCG_TEST_KILL_AT", offsetof(struct exec_hooks, kill_at)},
		{"KVMCG_TEST_RUN_AT", offsetof(struct exec_hooks, run_at)},
	};
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *s = getenv(vars[i].name);
		int n;
		if (s && parse_int(s, &n) == 0 && n > 0)
			*(unsigned *)((char *)ret + vars[i].offset) = (unsigned)n;
	}
	ret->run = getenv("KVMCG_TEST_RUN");
#endif
}
