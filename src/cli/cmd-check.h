/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg check: policy files, checked without a VM. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_CHECK_H
#define KVMCG_CMD_CHECK_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command check_command;
int cmd_check(int argc, char **argv);

#endif
