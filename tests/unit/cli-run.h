/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Running the built kvmcg from a unit test. */
#ifndef KVMCG_TEST_CLI_RUN_H
#define KVMCG_TEST_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>

/* The kvmcg to run: $KVMCG, else $KVMCG_BUILD_DIR/kvmcg, else the build tree's. */
bool find_kvmcg(char *out, size_t size);
/* What cmd prints on stdout (stderr too with "2>&1" in cmd), and its exit status;
 * the caller frees. */
char *run_capture(const char *cmd, int *status);

#endif
