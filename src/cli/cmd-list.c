// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg list: every VM on the host, one line each. */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli/cmd-list.h"

#include "cli/cli.h"
#include "basic/log.h"
#include "cli/output.h"
#include "core/txn.h"
#include "state/state.h"
#include "basic/util.h"

/* What list can print: the VM objects of --json, flattened (kvmcg(8)). */
static const struct column list_columns[] = {
	{.name = "PID", .keys = "pid", .help = "the VM's process id"},
	{.name = "NAME", .keys = "name|comm", .flags = SCOLS_FL_NOEXTREMES,
	 .help = "QEMU's -name, else the process name"},
	{.name = "VCPUS", .keys = "vcpus_text", .flags = SCOLS_FL_RIGHT,
	 .help = "vCPUs identified/expected"},
	{.name = "THREADS", .keys = "thread_count", .flags = SCOLS_FL_RIGHT, .help = "number of threads"},
	{.name = "DISCOVERY", .keys = "discovery",
	 .help = "what told the threads apart: qmp, names, kvm-fd, none"},
	{.name = "CGROUP", .keys = "cgroup", .flags = SCOLS_FL_TRUNC, .help = "cgroup of the main thread"},
	{.name = "PINNED", .keys = "pinned", .help = "whether its vCPUs are pinned: yes, partial, no, unknown"},
	{.name = "PINS", .keys = "pins",
	 .help = "its pins as the kernel has them: 0-1:22-23 (vCPUs 0-1 on 22-23) emu:18-23 io0:4"},
	{.name = "KVMCG", .keys = "kvmcg.mode",
	 .help = "mode of kvmcg's own pin: v2, v1, affinity, or - (none)"},
	{.name = "KVMCG-CGROUP", .keys = "kvmcg.cgroup", .flags = SCOLS_FL_TRUNC,
	 .help = "the VM's cgroup made by kvmcg"},
	{.name = "LAUNCHED", .keys = "kvmcg.launched",
	 .help = "whether kvmcg run started it, placed before it ran: yes, no, or - (not pinned by kvmcg)"},
	{.name = "IOTHREADS", .keys = "iothreads", .flags = SCOLS_FL_RIGHT, .help = "iothreads identified"},
	{.name = "COMM", .keys = "comm", .help = "process name"},
	{.name = "EXE", .keys = "exe_path|exe", .flags = SCOLS_FL_TRUNC,
	 .help = "executable, as the kernel reports it"},
	{.name = "EVIDENCE", .keys = "evidence", .help = "what makes it a VM: exe, kvm-fd"},
	{.name = "OWNER", .keys = "owner.user|owner.uid", .help = "user the VM runs as"},
	{.name = "UID", .keys = "owner.uid", .flags = SCOLS_FL_RIGHT, .help = "user id the VM runs as"},
	{.name = "HYPERVISOR", .keys = "hypervisor", .help = "qemu, or the VMM's process name"},
	{.name = "ACCEL", .keys = "accel", .help = "accelerator: kvm, tcg"},
	{.name = "HIERARCHY", .keys = "cgroup_hierarchy", .help = "cgroup version of CGROUP: v1, v2"},
	{.name = "QMP", .keys = "qmp_socket", .flags = SCOLS_FL_TRUNC, .help = "QMP socket"},
	{.name = "QMP-ERROR", .keys = "qmp_error", .flags = SCOLS_FL_TRUNC,
	 .help = "why QMP was not used although a socket was known"},
	{.name = "START", .keys = "start_time", .flags = SCOLS_FL_RIGHT,
	 .help = "start time, clock ticks after boot"},
};
#define LIST_DEFAULT_COLUMNS "PID,NAME,VCPUS,THREADS,DISCOVERY,CGROUP,PINNED,PINS,KVMCG,LAUNCHED"

static void list_help(void)
{
	fputs("Usage:\n"
	      " kvmcg list [-o COLUMNS] [-n] [-r] [-J|--json] [--no-qmp] [--qmp-timeout MS]\n"
	      "            [--sysroot DIR]\n"
	      "\n"
	      "List the VMs running on this host: processes whose executable, as the kernel\n"
	      "reports it (not argv[0] or a thread name), is a root-owned QEMU, and any\n"
	      "other process that holds a KVM virtual machine.\n"
	      "\n"
	      "Options:\n"
	      " -J, --json              print JSON: {\"host\": {...}, \"vms\": [...]}\n"
	      " -n, --noheadings        don't print headings\n"
	      " -o, --output <list>     the columns to print (+<list> adds to the default)\n"
	      " -r, --raw               use the raw output format\n"
	      "     --no-qmp            do not ask QEMU's monitors; use names and fds only\n"
	      "     --qmp-timeout <ms>  wait this long for the QMP monitors, which are all\n"
	      "                         asked at once (default 2000)\n"
	      "     --sysroot <dir>     read <dir>/proc and <dir>/sys instead (implies --no-qmp)\n"
	      " -h, --help              display this help\n"
	      "\n"
	      "The cgroups of pinned VMs that have exited are removed on the way.\n",
	      stdout);
	columns_help(stdout, list_columns, ARRAY_SIZE(list_columns), LIST_DEFAULT_COLUMNS);
	fputs("\nSee kvmcg(8).\n", stdout);
}

static json_object *summary_row(json_object *vm)
{
	/* The table wants "identified/expected"; derive it from the model's own fields. */
	json_object *threads, *vcpus, *row = json_object_get(vm);
	int identified = 0;
	json_object_object_get_ex(vm, "threads", &threads);
	for (size_t i = 0; i < json_object_array_length(threads); i++) {
		json_object *kind;
		json_object_object_get_ex(json_object_array_get_idx(threads, i), "kind", &kind);
		identified += strcmp(json_object_get_string(kind), "vcpu") == 0;
	}
	json_object_object_get_ex(vm, "vcpus", &vcpus);
	char buf[32];
	snprintf(buf, sizeof(buf), "%d/%d", identified, json_object_get_int(vcpus));
	json_object_object_add(row, "vcpus_text", json_object_new_string(buf));
	return row;
}

static const struct option list_options[] = {CLI_COMMON_OPTIONS, CLI_TABLE_OPTIONS, {0}};
const struct cli_command list_command = {.options = list_options,
				       .help = list_help,
				       .columns = list_columns,
				       .n_columns = ARRAY_SIZE(list_columns),
				       .default_columns = LIST_DEFAULT_COLUMNS};

int cmd_list(int argc, char **argv)
{
	const struct cli_command cmd = list_command;
	struct cli c = {.command = "list", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;

	r = cli_open_roots(&c);
	if (r) {
		cli_done(&c);
		return r;
	}
	/* Exited VMs that kvmcg pinned leave cgroups behind: this is where they go. */
	int state_fd = state_dir_open(false);
	if (state_fd >= 0 && !c.sysroot) {
		/* records kvmcg refuses are named, never acted on */
		char **problems = NULL;
		const struct txn_env env = cli_txn_env(&c);
		(void)pin_collect_stale(&env, state_fd, &problems);
		for (char **p = problems; p && *p; p++)
			log_warning("%s", *p);
		strv_free(problems);
	}
	struct vm **vms = NULL;
	size_t n = 0;
	struct discover_unexamined unexamined = {0};
	c.discover.unexamined = c.sysroot ? NULL : &unexamined;
	r = vm_list_all(&c.discover, &vms, &n);
	if (r < 0) {
		if (state_fd >= 0)
			close(state_fd);
		cli_done(&c);
		return cli_runtime_error(r, "cannot list VMs");
	}

	int rc = EXIT_OK;
	json_object *top = json_object_new_object();
	json_object *arr = json_object_new_array();
	json_object_object_add(top, "host", host_to_json(&c.host));
	for (size_t i = 0; i < n; i++) {
		json_object *vm = vm_to_json(vms[i], &c.host);
		json_object_object_add(vm, "kvmcg", c.sysroot ? NULL : cli_pin_state_json(state_fd, vms[i], NULL));
		json_object_array_add(arr, vm);
	}
	json_object_object_add(top, "vms", arr);
	/* not root: what could not be read is said, once */
	cli_note_not_root(c.sysroot ? NULL : &unexamined, c.sysroot ? 0 : state_fd, top);
	if (state_fd >= 0)
		close(state_fd);

	if (c.json) {
		print_json(stdout, top);
	} else if (n == 0) {
		/* a table for scripts stays empty */
		if (!c.table.raw && !c.table.noheadings)
			puts("No VMs found.");
	} else {
		json_object *rows = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(rows, summary_row(json_object_array_get_idx(arr, i)));
		r = print_table(stdout, list_columns, ARRAY_SIZE(list_columns), rows, &c.table);
		json_object_put(rows);
		if (r < 0)
			rc = cli_runtime_error(r, "cannot print the table");
	}
	json_object_put(top);
	vm_list_free(vms, n);
	cli_done(&c);
	return rc;
}
