/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg show: one VM and its threads. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_SHOW_H
#define KVMCG_CMD_SHOW_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command show_command;
int cmd_show(int argc, char **argv);

#endif
