// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg numa-balancing: automatic NUMA balancing, as sysctl kernel.numa_balancing
 * shows and sets it, with its modes named. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd-numa-balancing.h"

#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "kernel/sysctl.h"

static void numa_balancing_help(void)
{
	fputs("Usage:\n"
	      " kvmcg numa-balancing [on|off|normal|memory-tiering|0|1|2|3] [--json] [--sysroot DIR]\n"
	      "\n"
	      "Show automatic NUMA balancing (/proc/sys/kernel/numa_balancing), or set it and\n"
	      "show it before and after. The kernel then unmaps pages to sample which node\n"
	      "uses them and moves pages and tasks there on its own: its documentation says to\n"
	      "turn it off for workloads already bound to nodes, as a VM pinned with --mems is\n"
	      "(show, numastat and apply warn once when it is on and a VM is).\n"
	      "\n"
	      "Modes:\n"
	      " off, 0             disabled\n"
	      " on, normal, 1      NUMA_BALANCING_NORMAL: pages and tasks moved towards the\n"
	      "                    node that uses them\n"
	      " memory-tiering, 2  NUMA_BALANCING_MEMORY_TIERING (Linux 5.18+): hot pages\n"
	      "                    promoted from slow memory nodes (PMEM, CXL) to fast ones\n"
	      " normal+memory-tiering, 3\n"
	      "                    both\n"
	      "\n"
	      "Options:\n"
	      "     --json           print {\"numa_balancing\": N, \"mode\": \"...\", \"numa_nodes\": N},\n"
	      "                      and \"before\" and \"changed\" when setting\n"
	      "     --sysroot <dir>  read <dir>/proc and <dir>/sys instead (reading only)\n"
	      " -h, --help           display this help\n"
	      "\n"
	      "Setting needs root (CAP_SYS_ADMIN). Exit status: 0 done, 1 refused or failed,\n"
	      "2 usage error, 4 this kernel has no automatic NUMA balancing (built without\n"
	      "CONFIG_NUMA_BALANCING), or no memory tiering (before Linux 5.18).\n"
	      "See kvmcg(8).\n",
	      stdout);
}

/* {"numa_balancing": N, "mode": "..."} */
static json_object *value_json(int value)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "numa_balancing", json_object_new_int(value));
	json_object_object_add(o, "mode", json_object_new_string(numa_balancing_mode(value)));
	return o;
}

static int no_balancing(void)
{
	log_error("numa-balancing: this kernel has no automatic NUMA balancing (no /proc/%s: it was built "
		  "without CONFIG_NUMA_BALANCING)", NUMA_BALANCING_PATH);
	return EXIT_UNSUPPORTED;
}

/* Sets want over before; 0, or the exit code after the one line that says why not. */
static int set_mode(int proc_fd, int before, int want)
{
	int r = numa_balancing_write(proc_fd, want);
	if (r == -ENOENT)
		return no_balancing();
	if (r == -EACCES || r == -EPERM) {
		log_error("numa-balancing: setting kernel.numa_balancing needs root (CAP_SYS_ADMIN); it stays %s (%d)",
			  numa_balancing_text(before), before);
		return EXIT_FAILURE_RUNTIME;
	}
	if (r == -EINVAL) {
		log_error("numa-balancing: this kernel does not take %d (%s) for kernel.numa_balancing%s; it stays %s (%d)",
			  want, numa_balancing_mode(want),
			  want & NUMA_BALANCING_MEMORY_TIERING ? ": memory tiering needs Linux 5.18 or later" : "",
			  numa_balancing_text(before), before);
		return EXIT_UNSUPPORTED;
	}
	if (r < 0) {
		log_error("numa-balancing: cannot write /proc/%s: %s", NUMA_BALANCING_PATH, strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	return 0;
}

static const struct option numa_balancing_options[] = {CLI_JSON_OPTION, CLI_SYSROOT_OPTION, CLI_HELP_OPTION, {0}};
const struct cli_command numa_balancing_command = {.options = numa_balancing_options, .help = numa_balancing_help, .files = true};

int cmd_numa_balancing(int argc, char **argv)
{
	const struct cli_command cmd = numa_balancing_command;
	struct cli c = {.command = "numa-balancing", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;
	if (argc - optind > 1)
		return cli_usage_error(&c, "unexpected argument '%s': give one mode at most", argv[optind + 1]);
	int want = -1;
	if (optind < argc && numa_balancing_parse(argv[optind], &want) < 0)
		return cli_usage_error(&c, "'%s' is not a mode: on, off, normal, memory-tiering, "
					   "normal+memory-tiering, or 0 to 3",
				       argv[optind]);
	if (want >= 0 && c.sysroot)
		return cli_usage_error(&c, "--sysroot reads a captured tree, whose setting is not the kernel's to set");

	r = cli_open_roots(&c);
	if (r) {
		cli_done(&c);
		return r;
	}
	int before, after;
	r = numa_balancing_read(c.proc_fd, &before);
	if (r == -ENOENT) {
		cli_done(&c);
		return no_balancing();
	}
	if (r < 0) {
		cli_done(&c);
		log_error("numa-balancing: cannot read /proc/%s: %s", NUMA_BALANCING_PATH,
			  r == -EBADMSG ? "it holds no number" : strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	after = before;
	if (want >= 0 && want != before) {
		if ((r = set_mode(c.proc_fd, before, want)) != 0) {
			cli_done(&c);
			return r;
		}
		/* What the kernel holds now, read back, not what was written. */
		if ((r = numa_balancing_read(c.proc_fd, &after)) < 0 || after != want) {
			if (r < 0)
				log_error("numa-balancing: cannot read /proc/%s back: %s", NUMA_BALANCING_PATH,
					  strerror(-r));
			else
				log_error("numa-balancing: wrote %d, but kernel.numa_balancing reads %d (%s)", want,
					  after, numa_balancing_text(after));
			cli_done(&c);
			return EXIT_FAILURE_RUNTIME;
		}
	}
	unsigned nodes = idset_count(c.host.online_mems);
	if (c.json) {
		json_object *o = value_json(after);
		json_object_object_add(o, "numa_nodes", json_object_new_int((int)nodes));
		if (want >= 0) {
			json_object_object_add(o, "before", value_json(before));
			json_object_object_add(o, "changed", json_object_new_boolean(after != before));
		}
		print_json(stdout, o);
		json_object_put(o);
	} else {
		if (want >= 0 && after != before)
			printf("numa balancing: %s -> %s, kernel.numa_balancing %d -> %d", numa_balancing_text(before),
			       numa_balancing_text(after), before, after);
		else if (want >= 0)
			printf("numa balancing: %s, unchanged (kernel.numa_balancing = %d)", numa_balancing_text(after),
			       after);
		else
			printf("numa balancing: %s, kernel.numa_balancing = %d", numa_balancing_text(after), after);
		/* The kernel enables it at boot only with two nodes or more
		 * (mm/mempolicy.c check_numabalancing_enable()). */
		if (nodes == 1 && after != NUMA_BALANCING_DISABLED)
			printf("; this host has one NUMA node: there is no other node to move pages to");
		putchar('\n');
	}
	cli_done(&c);
	return EXIT_OK;
}
