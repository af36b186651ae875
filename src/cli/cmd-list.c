// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg list: every VM on the host, one line each. */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli/cli.h"
#include "basic/log.h"
#include "cli/output.h"
#include "core/txn.h"
#include "state/state.h"
#include "basic/util.h"

static void list_help(void)
{
	fputs("Usage:\n"
	      " kvmcg list [options]\n"
	      "\n"
	      "List the VMs running on this host: processes whose executable, as the kernel\n"
	      "reports it (not argv[0] or a thread name), is a root-owned QEMU, and any\n"
	      "other process that holds a KVM virtual machine.\n"
	      "\n"
	      "Options:\n"
	      "     --json              print JSON: {\"host\": {...}, \"vms\": [...]}\n"
	      "     --no-qmp            do not ask QEMU's monitors; use names and fds only\n"
	      "     --qmp-timeout <ms>  wait this long for the QMP monitors, which are all\n"
	      "                         asked at once (default 2000)\n"
	      "     --sysroot <dir>     read <dir>/proc and <dir>/sys instead (implies --no-qmp)\n"
	      " -h, --help              display this help\n"
	      "\n"
	      "Columns: PID, NAME, VCPUS (identified/expected), THREADS, DISCOVERY (qmp,\n"
	      "names, kvm-fd or none), CGROUP, PINNED (yes, partial, no, unknown), KVMCG\n"
	      "(the mode of kvmcg's own pin: v2, v1 or affinity; - when kvmcg did not pin it).\n"
	      "The cgroups of pinned VMs that have exited are removed on the way.\n"
	      "\n"
	      "See kvmcg(8).\n",
	      stdout);
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
	json_object *pin, *mode;
	if (json_object_object_get_ex(vm, "kvmcg", &pin) && pin &&
	    json_object_object_get_ex(pin, "mode", &mode))
		json_object_object_add(row, "kvmcg_mode", json_object_get(mode));
	return row;
}

int cmd_list(int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, {0}};
	static const struct cli_command cmd = {.options = options, .help = list_help};
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
	r = vm_list_all(&c.discover, &vms, &n);
	if (r < 0) {
		if (state_fd >= 0)
			close(state_fd);
		cli_done(&c);
		return cli_runtime_error(r, "cannot list VMs");
	}

	json_object *top = json_object_new_object();
	json_object *arr = json_object_new_array();
	json_object_object_add(top, "host", host_to_json(&c.host));
	for (size_t i = 0; i < n; i++) {
		json_object *vm = vm_to_json(vms[i], &c.host);
		json_object_object_add(vm, "kvmcg", c.sysroot ? NULL : cli_pin_state_json(state_fd, vms[i]));
		json_object_array_add(arr, vm);
	}
	if (state_fd >= 0)
		close(state_fd);
	json_object_object_add(top, "vms", arr);

	if (c.json) {
		print_json(stdout, top);
	} else if (n == 0) {
		puts("No VMs found.");
	} else {
		static const struct column cols[] = {
			{"PID", "pid", COL_TEXT},
			{"NAME", "name|comm", COL_TEXT},
			{"VCPUS", "vcpus_text", COL_TEXT},
			{"THREADS", "thread_count", COL_TEXT},
			{"DISCOVERY", "discovery", COL_TEXT},
			{"CGROUP", "cgroup", COL_TEXT},
			{"PINNED", "pinned", COL_TEXT},
			{"KVMCG", "kvmcg_mode", COL_TEXT},
		};
		json_object *rows = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(rows, summary_row(json_object_array_get_idx(arr, i)));
		print_table(stdout, cols, ARRAY_SIZE(cols), rows);
		json_object_put(rows);
	}
	json_object_put(top);
	vm_list_free(vms, n);
	cli_done(&c);
	return EXIT_OK;
}
