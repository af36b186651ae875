// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg show: one VM's threads, like virsh vcpuinfo + emulatorpin + iothreadinfo. */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "state/state.h"
#include "basic/util.h"

static void show_help(void)
{
	fputs("Usage:\n"
	      " kvmcg show VMSEL [options]\n"
	      "\n"
	      "Show every thread of one VM: its kind (vcpu, iothread, emulator, worker, or\n"
	      "unknown when a vCPU could not be identified), vCPU index or iothread id, tid,\n"
	      "name, the CPU it last ran on, state, CPU time, scheduling policy, affinity as\n"
	      "a list and as a y/- map over the host's CPUs, and cgroup. Above them: what\n"
	      "made the process a VM (exe: a root-owned QEMU executable, as the kernel\n"
	      "reports it, not argv[0]; kvm-fd: it holds a KVM VM) and who owns it.\n"
	      "\n"
	      "VMSEL (exactly one):\n"
	      "     --pid <pid>         the VM's process id\n"
	      "     --pidfile <file>    a pidfile that the VM keeps locked (QEMU's -pidfile)\n"
	      "     --name <name>       QEMU's -name guest=<name>\n"
	      "     --qmp <socket>      a QMP monitor socket of the VM\n"
	      "\n"
	      "Options:\n"
	      "     --json              print the VM as a JSON object\n"
	      "     --no-qmp            do not ask QEMU's monitor; use names and fds only\n"
	      "     --qmp-timeout <ms>  wait this long for a QMP monitor (default 2000)\n"
	      "     --sysroot <dir>     read <dir>/proc and <dir>/sys instead (implies --no-qmp)\n"
	      " -h, --help              display this help\n"
	      "\n"
	      "See kvmcg(8).\n",
	      stdout);
}

static void print_vm_text(json_object *vm)
{
	static const struct field fields[] = {
		{"PID", "pid"},
		{"Name", "name"},
		{"Executable", "exe_path|exe|comm"},
		{"Evidence", "evidence"},
		{"Owner", "owner_text"},
		{"Accelerator", "accel"},
		{"Discovery", "discovery"},
		{"QMP socket", "qmp_socket"},
		{"QMP error", "qmp_error"},
		{"vCPUs", "vcpus"},
		{"Unidentified vCPUs", "vcpus_unidentified"},
		{"Unidentified iothreads", "iothreads_unidentified"},
		{"Cgroup", "cgroup"},
		{"Cgroup hierarchy", "cgroup_hierarchy"},
		{"Pinned", "pinned"},
		{"kvmcg mode", "kvmcg_mode"},
		{"kvmcg cgroup", "kvmcg_cgroup"},
	};
	static const struct column cols[] = {
		{"KIND", "kind", COL_TEXT},
		{"ID", "index|id", COL_TEXT},
		{"TID", "tid", COL_TEXT},
		{"NAME", "comm", COL_TEXT},
		{"CPU", "cpu", COL_TEXT},
		{"STATE", "state", COL_TEXT},
		{"TIME", "cpu_time_ns", COL_NS_AS_SECONDS},
		{"SCHED", "sched", COL_TEXT},
		{"AFFINITY", "affinity", COL_TEXT},
		{"MAP", "affinity_map", COL_TEXT},
		{"CGROUP", "cgroup", COL_TEXT},
	};
	json_object *threads;
	print_fields(stdout, fields, ARRAY_SIZE(fields), vm);
	putchar('\n');
	json_object_object_get_ex(vm, "threads", &threads);
	print_table(stdout, cols, ARRAY_SIZE(cols), threads);
}

int cmd_show(int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, CLI_VMSEL_OPTIONS, {0}};
	static const struct cli_command cmd = {.options = options, .help = show_help, .vmsel = true};
	struct cli c = {.command = "show", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;

	r = cli_open_roots(&c);
	if (r) {
		cli_done(&c);
		return r;
	}
	struct vm *vm = NULL;
	r = vmsel_resolve(&c.discover, &c.sel, &vm);
	if (r < 0) {
		cli_done(&c);
		return cli_runtime_error(r, "cannot select the VM");
	}
	json_object *j = vm_to_json(vm, &c.host);
	/* A captured tree's pids are not this host's: no live pin state for them. */
	int state_fd = c.sysroot ? -1 : state_dir_open(false);
	json_object *pin = cli_pin_state_json(state_fd, vm);
	if (state_fd >= 0)
		close(state_fd);
	json_object_object_add(j, "kvmcg", pin);
	if (!c.json) {
		/* flat copies for the text view */
		json_object *v;
		if (pin && json_object_object_get_ex(pin, "mode", &v))
			json_object_object_add(j, "kvmcg_mode", json_object_get(v));
		if (pin && json_object_object_get_ex(pin, "cgroup", &v))
			json_object_object_add(j, "kvmcg_cgroup", json_object_get(v));
		if (vm->owner_known) {
			char owner[320];
			if (vm->owner_user)
				snprintf(owner, sizeof(owner), "%s (uid %u)", vm->owner_user,
					 (unsigned)vm->owner_uid);
			else
				snprintf(owner, sizeof(owner), "uid %u", (unsigned)vm->owner_uid);
			json_object_object_add(j, "owner_text", json_object_new_string(owner));
		}
	}
	if (c.json)
		print_json(stdout, j);
	else
		print_vm_text(j);
	json_object_put(j);
	vm_free(vm);
	cli_done(&c);
	return EXIT_OK;
}
