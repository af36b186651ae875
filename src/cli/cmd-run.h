/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg run: start QEMU already placed. Exit codes: kvmcg(8). */
#ifndef KVMCG_CMD_RUN_H
#define KVMCG_CMD_RUN_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command run_command;
int cmd_run(int argc, char **argv);

#endif
