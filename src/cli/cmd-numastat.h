/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg numastat: each VM's memory per NUMA node. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_NUMASTAT_H
#define KVMCG_CMD_NUMASTAT_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command numastat_command;
int cmd_numastat(int argc, char **argv);

#endif
