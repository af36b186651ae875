/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg list: every VM on the host. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_LIST_H
#define KVMCG_CMD_LIST_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command list_command;
int cmd_list(int argc, char **argv);

#endif
