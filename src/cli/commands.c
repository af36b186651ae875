// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands.h"

#include <string.h>

#include "basic/err.h"
#include "basic/log.h"
#include "basic/util.h"
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

const struct cli_verb cli_verbs[] = {
	{"list", cmd_list, &list_command, "list the VMs on this host", true}, /* collects exited VMs */
	{"show", cmd_show, &show_command, "show one VM's threads, affinity and cgroups", false},
	{"numastat", cmd_numastat, &numastat_command, "show where each VM's memory is, per NUMA node", false},
	{"numa-balancing", cmd_numa_balancing, &numa_balancing_command,
	 "show or set the kernel's automatic NUMA balancing", true},
	{"topology", cmd_topology, &topology_command,
	 "show the host's nodes, cores and caches, and which VM sits where", false},
	{"pin", cmd_pin, &pin_command, "pin a VM's vCPUs, emulator and iothreads (cgroups + affinity)", true},
	{"unpin", cmd_unpin, &unpin_command, "undo pin: restore every thread's cgroup and affinity", true},
	{"check", cmd_check, &check_command, "validate policy files", false},
	{"apply", cmd_apply, &apply_command, "give every running VM the policy that matches it", true},
	{"run", cmd_run, &run_command,
	 "start QEMU already placed: cgroup, memory policy and pins before the guest runs", true},
	{"watch", cmd_watch, &watch_command,
	 "the daemon: pin VMs as they start, their new vCPUs at once, repair drift", true},
	{"help", cmd_help, NULL, "display this help, or a command's (kvmcg help COMMAND)", false},
};
const size_t cli_n_verbs = ARRAY_SIZE(cli_verbs);

const struct cli_verb *cli_verb_find(const char *name)
{
	for (size_t i = 0; i < cli_n_verbs; i++)
		if (strcmp(cli_verbs[i].name, name) == 0)
			return &cli_verbs[i];
	return NULL;
}

void cli_usage(FILE *f)
{
	fputs("Usage:\n"
	      " kvmcg <command> [options]\n"
	      " kvmcg help [<command>]\n"
	      "\n"
	      "Pin and tune QEMU/KVM virtual machines through cgroup v2 and the scheduler,\n"
	      "without libvirt.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < cli_n_verbs; i++)
		fprintf(f, " %-14s %s\n", cli_verbs[i].name, cli_verbs[i].summary);
	fputs("\n"
	      "Options:\n"
	      " -h, --help     display this help\n"
	      " -V, --version  display the version\n"
	      "\n"
	      "Run 'kvmcg <command> --help' for a command's options. See kvmcg(8).\n",
	      f);
}

int cmd_help(int argc, char **argv)
{
	if (argc > 2) {
		log_error("help: unexpected argument '%s'; try 'kvmcg --help'", argv[2]);
		return EXIT_USAGE;
	}
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_usage(stdout);
		return EXIT_OK;
	}
	const struct cli_verb *v = cli_verb_find(argv[1]);
	if (!v) {
		log_error("help: unknown command '%s'; try 'kvmcg --help'", argv[1]);
		return EXIT_USAGE;
	}
	char *help_argv[] = {argv[1], (char *)"--help", NULL};
	return v->run(2, help_argv);
}
