/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg apply: every policy of a directory onto the VMs it matches. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_APPLY_H
#define KVMCG_CMD_APPLY_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command apply_command;
int cmd_apply(int argc, char **argv);

#endif
