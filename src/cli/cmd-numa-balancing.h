/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg numa-balancing: read or set kernel.numa_balancing. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_NUMA_BALANCING_H
#define KVMCG_CMD_NUMA_BALANCING_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command numa_balancing_command;
int cmd_numa_balancing(int argc, char **argv);

#endif
