// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd-apply.h"
#include "cli/cmd-check.h"
#include "cli/cmd-list.h"
#include "cli/cmd-numastat.h"
#include "cli/cmd-pin.h"
#include "cli/cmd-show.h"
#include "basic/log.h"
#include "basic/util.h"

#ifndef KVMCG_VERSION
#define KVMCG_VERSION "unknown"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"list", cmd_list, "list the VMs on this host"},
	{"show", cmd_show, "show one VM's threads, affinity and cgroups"},
	{"numastat", cmd_numastat, "show where each VM's memory is, per NUMA node"},
	{"pin", cmd_pin, "pin a VM's vCPUs, emulator and iothreads (cgroups + affinity)"},
	{"unpin", cmd_unpin, "undo pin: restore every thread's cgroup and affinity"},
	{"check", cmd_check, "validate policy files"},
	{"apply", cmd_apply, "give every running VM the policy that matches it"},
};

static void usage(FILE *f)
{
	fputs("Usage:\n"
	      " kvmcg <command> [options]\n"
	      "\n"
	      "Pin and tune QEMU/KVM virtual machines through cgroup v2 and the scheduler,\n"
	      "without libvirt.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, " %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options:\n"
	      " -h, --help     display this help\n"
	      " -V, --version  display the version\n"
	      "\n"
	      "Run 'kvmcg <command> --help' for a command's options. See kvmcg(8).\n",
	      f);
}

/* Output that could not be written is a failure, as coreutils' close_stdout() says:
 * a script reading kvmcg's JSON must not take a cut one for the whole. What the
 * command changed by then stands (it is recorded, unpin undoes it): said so. */
static int flush_stdout(int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	log_error("cannot write the output: %s; what the command did stands (kvmcg show tells)",
		  strerror(errno ? errno : EIO));
	return rc == EXIT_OK ? EXIT_FAILURE_RUNTIME : rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		log_error("no command given; try 'kvmcg --help'");
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		if (strcmp(cmd, "help") == 0 && argc > 2) {
			for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
				if (strcmp(commands[i].name, argv[2]) == 0) {
					char *help_argv[] = {argv[2], (char *)"--help", NULL};
					return flush_stdout(commands[i].run(2, help_argv));
				}
			log_error("help: unknown command '%s'; try 'kvmcg --help'", argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return flush_stdout(EXIT_OK);
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kvmcg %s\n", KVMCG_VERSION);
		return flush_stdout(EXIT_OK);
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return flush_stdout(commands[i].run(argc - 1, argv + 1));
	log_error("unknown %s '%s'; try 'kvmcg --help'", cmd[0] == '-' ? "option" : "command", cmd);
	return EXIT_USAGE;
}
