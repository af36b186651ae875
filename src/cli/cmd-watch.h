/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg watch: the daemon that keeps VMs as their policies ask (core/watch.h). Exit
 * codes: basic/err.h. */
#ifndef KVMCG_CMD_WATCH_H
#define KVMCG_CMD_WATCH_H

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command watch_command;
int cmd_watch(int argc, char **argv);

#endif
