// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "basic/log.h"
#include "basic/util.h"

#ifndef KVMCG_VERSION
#define KVMCG_VERSION "unknown"
#endif

/* Output that could not be written is a failure, as coreutils' close_stdout() says:
 * a script reading kvmcg's JSON must not take a cut one for the whole. What the
 * command changed by then stands (it is recorded, unpin undoes it): said so. */
static int flush_stdout(int rc, bool changes)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	log_error("cannot write the output: %s%s", strerror(errno ? errno : EIO),
		  changes ? "; what the command did stands (kvmcg show tells)" : "");
	return rc == EXIT_OK ? EXIT_FAILURE_RUNTIME : rc;
}

int main(int argc, char **argv)
{
	/* A reader that went away (kvmcg pin | head, a closed pipe) is an output that
	 * cannot be written, said and exit 1 as for a full disk (flush_stdout), not a
	 * silent death by SIGPIPE after a pin that did change the VM. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		log_error("no command given; try 'kvmcg --help'");
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		cli_usage(stdout);
		return flush_stdout(EXIT_OK, false);
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kvmcg %s\n", KVMCG_VERSION);
		return flush_stdout(EXIT_OK, false);
	}
	const struct cli_verb *v = cli_verb_find(cmd);
	if (v)
		return flush_stdout(v->run(argc - 1, argv + 1), v->changes);
	log_error("unknown %s '%s'; try 'kvmcg --help'", cmd[0] == '-' ? "option" : "command", cmd);
	return EXIT_USAGE;
}
