// SPDX-License-Identifier: GPL-2.0-or-later
#include "plan/record.h"

#include <stdlib.h>

#include "basic/util.h"

void vm_state_done(struct vm_state *s)
{
	free(s->name);
	free(s->mount);
	free(s->vm_dir);
	free(s->root);
	strv_free(s->created);
	for (size_t i = 0; i < s->n_enabled; i++) {
		free(s->enabled[i].dir);
		free(s->enabled[i].controller);
	}
	free(s->enabled);
	for (size_t i = 0; i < s->n_threads; i++) {
		free(s->threads[i].cgroup);
		idset_free(s->threads[i].affinity);
	}
	free(s->threads);
	vm_tune_done(&s->tune);
	*s = (struct vm_state){0};
}

const struct thread_origin *record_find_thread(const struct vm_state *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}
