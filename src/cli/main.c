// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd-apply.h"
#include "cli/cmd-check.h"
#include "cli/cmd-list.h"
#include "cli/cmd-numa-balancing.h"
#include "cli/cmd-numastat.h"
#include "cli/cmd-pin.h"
#include "cli/cmd-run.h"
#include "cli/cmd-show.h"
#include "cli/cmd-topology.h"
#include "cli/cmd-watch.h"
#include "basic/log.h"
#include "basic/util.h"

#ifndef KVMCG_VERSION
#define KVMCG_VERSION "unknown"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	bool changes; /* may change a VM: an output lost does not undo that */
};

static const struct command commands[] = {
	{"list", cmd_list, "list the VMs on this host", true}, /* collects exited VMs */
	{"show", cmd_show, "show one VM's threads, affinity and cgroups", false},
	{"numastat", cmd_numastat, "show where each VM's memory is, per NUMA node", false},
	{"numa-balancing", cmd_numa_balancing, "show or set the kernel's automatic NUMA balancing", true},
	{"topology", cmd_topology, "show the host's nodes, cores and caches, and which VM sits where", false},
	{"pin", cmd_pin, "pin a VM's vCPUs, emulator and iothreads (cgroups + affinity)", true},
	{"unpin", cmd_unpin, "undo pin: restore every thread's cgroup and affinity", true},
	{"check", cmd_check, "validate policy files", false},
	{"apply", cmd_apply, "give every running VM the policy that matches it", true},
	{"run", cmd_run, "start QEMU already placed: cgroup, memory policy and pins before the guest runs", true},
	{"watch", cmd_watch, "the daemon: pin VMs as they start, their new vCPUs at once, repair drift", true},
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
		fprintf(f, " %-14s %s\n", commands[i].name, commands[i].summary);
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
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		if (strcmp(cmd, "help") == 0 && argc > 2) {
			for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
				if (strcmp(commands[i].name, argv[2]) == 0) {
					char *help_argv[] = {argv[2], (char *)"--help", NULL};
					return flush_stdout(commands[i].run(2, help_argv), false);
				}
			log_error("help: unknown command '%s'; try 'kvmcg --help'", argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return flush_stdout(EXIT_OK, false);
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kvmcg %s\n", KVMCG_VERSION);
		return flush_stdout(EXIT_OK, false);
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return flush_stdout(commands[i].run(argc - 1, argv + 1), commands[i].changes);
	log_error("unknown %s '%s'; try 'kvmcg --help'", cmd[0] == '-' ? "option" : "command", cmd);
	return EXIT_USAGE;
}
