/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The commands: one table, which main.c dispatches through, kvmcg --help lists, and
 * tests/unit/test-help.c checks each command's --help and kvmcg(8) against. */
#ifndef KVMCG_COMMANDS_H
#define KVMCG_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cli_command;
struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	/* its options and help, as cli_parse takes them; NULL for help itself */
	const struct cli_command *cmd;
	const char *summary;
	bool changes; /* may change a VM: an output lost does not undo that */
};

extern const struct cli_verb cli_verbs[];
extern const size_t cli_n_verbs;

/* The verb called name, or NULL. */
const struct cli_verb *cli_verb_find(const char *name);

/* kvmcg --help: every command with its summary. */
void cli_usage(FILE *f);

/* kvmcg help [COMMAND]: cli_usage(), or COMMAND --help. */
int cmd_help(int argc, char **argv);

#endif
