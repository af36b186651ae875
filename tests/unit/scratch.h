/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scratch directories for unit tests, named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER
 * being the pid of the Criterion runner that forked the test: a hook in test-util.c
 * removes what a crashed test could not. */
#ifndef KVMCG_TEST_SCRATCH_H
#define KVMCG_TEST_SCRATCH_H

#include <stddef.h>

/* mkdtemp into buf; fails the test when it cannot. */
void scratch_make(char *buf, size_t size, const char *what);
/* rm -rf, carrying on past errors. */
void scratch_remove(const char *path);

#endif
