// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg show: one VM's threads, like virsh vcpuinfo + emulatorpin + iothreadinfo. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "cli/cmd-show.h"

#include "cli/cli.h"
#include "cli/numa-warn.h"
#include "cli/output.h"
#include "kernel/rtnl.h"
#include "plan/nettune.h"
#include "vmm/taps.h"
#include "state/state.h"
#include "basic/util.h"

/* The thread table: the "threads" of the VM object (kvmcg(8)). */
static const struct column show_columns[] = {
	{.name = "KIND", .keys = "kind", .help = "vcpu, iothread, emulator, worker, unknown"},
	{.name = "ID", .keys = "index|id", .help = "vCPU index or iothread id"},
	{.name = "TID", .keys = "tid", .help = "thread id"},
	{.name = "NAME", .keys = "comm", .flags = SCOLS_FL_TRUNC, .help = "thread name"},
	{.name = "CPU", .keys = "cpu", .flags = SCOLS_FL_RIGHT, .help = "CPU it last ran on"},
	{.name = "STATE", .keys = "state", .format = COL_THREAD_STATE,
	 .help = "running, sleeping, blocked, stopped, ... (JSON: the letter, R, S, D, T)"},
	{.name = "TIME", .keys = "cpu_time_ns", .format = COL_NS_AS_SECONDS, .flags = SCOLS_FL_RIGHT,
	 .help = "CPU time, as virsh vcpuinfo: 3.1s (JSON: nanoseconds)"},
	{.name = "SCHED", .keys = "sched", .help = "scheduling policy: other, batch, idle, fifo:N, rr:N"},
	{.name = "AFFINITY", .keys = "affinity", .flags = SCOLS_FL_WRAP, .help = "CPUs it may run on"},
	{.name = "MAP", .keys = "affinity_map", .flags = SCOLS_FL_WRAP,
	 .help = "the same as a y/- map over the host's CPUs"},
	{.name = "CGROUP", .keys = "cgroup", .flags = SCOLS_FL_TRUNC, .help = "cgroup"},
};
#define SHOW_DEFAULT_COLUMNS "KIND,ID,TID,NAME,CPU,STATE,TIME,SCHED,AFFINITY,MAP,CGROUP"

static void show_help(void)
{
	fputs("Usage:\n"
	      " kvmcg show VMSEL [-o COLUMNS] [-n] [-r] [-J|--json] [--no-qmp] [--qmp-timeout MS]\n"
	      "                  [--sysroot DIR]\n"
	      "\n"
	      "Show every thread of one VM: its kind (vcpu, iothread, emulator, worker, or\n"
	      "unknown when a vCPU could not be identified), vCPU index or iothread id, tid,\n"
	      "name, the CPU it last ran on, state, CPU time, scheduling policy, affinity as\n"
	      "a list and as a y/- map over the host's CPUs, and cgroup. Above them: what\n"
	      "made the process a VM (exe: a root-owned QEMU executable, as the kernel\n"
	      "reports it, not argv[0]; kvm-fd: it holds a KVM VM) and who owns it.\n"
	      "\n"
	      "VMSEL (exactly one):\n" CLI_VMSEL_HELP
	      "\n"
	      "Options:\n"
	      " -J, --json              print the VM as a JSON object\n"
	      " -n, --noheadings        print the thread table alone, without headings\n"
	      " -o, --output <list>     the thread table's columns (+<list> adds to the default)\n"
	      " -r, --raw               print the thread table alone, in the raw format\n"
	      "     --no-qmp            do not ask QEMU's monitor; use names and fds only\n"
	      "     --qmp-timeout <ms>  wait this long for a QMP monitor (default 2000)\n"
	      "     --sysroot <dir>     read <dir>/proc and <dir>/sys instead (implies --no-qmp)\n"
	      " -h, --help              display this help\n",
	      stdout);
	columns_help(stdout, show_columns, ARRAY_SIZE(show_columns), SHOW_DEFAULT_COLUMNS);
	fputs("\nSee kvmcg(8).\n", stdout);
}

/* The VM as "Label: value" lines, then its thread table; with -n or -r, the table
 * alone (the VM's lines are its headings). */
static int print_vm_text(json_object *vm, const struct table_opts *opts)
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
		{"Taps", "taps_text"},
		{"vCPUs", "vcpus"},
		{"Unidentified vCPUs", "vcpus_unidentified"},
		{"Unidentified iothreads", "iothreads_unidentified"},
		{"Cgroup", "cgroup"},
		{"Cgroup hierarchy", "cgroup_hierarchy"},
		{"Pinned", "pinned"},
		{"Pins", "pins"},
		{"kvmcg mode", "kvmcg.mode"},
		{"kvmcg pins", "kvmcg.pins.text"},
		{"kvmcg cgroup", "kvmcg.cgroup"},
		{"Launched by kvmcg", "kvmcg.launched"},
		{"kvmcg io", "kvmcg.io.text"},
		{"kvmcg net", "kvmcg.net.text"},
		{"kvmcg cpu", "kvmcg.cpu.text"},
	};
	json_object *threads;
	if (!opts->noheadings && !opts->raw) {
		print_fields(stdout, fields, ARRAY_SIZE(fields), vm);
		putchar('\n');
	}
	json_object_object_get_ex(vm, "threads", &threads);
	return print_table(stdout, show_columns, ARRAY_SIZE(show_columns), threads, opts);
}

/* The VM's taps, from its fds (vmm/taps.h), into j: "taps" ([{name, kind, ifindex,
 * queues}]), "netns" ("host", or "own" for a network namespace of its own, with
 * "netns_inode"), and "taps_text" for the text view. Nothing when they cannot be read
 * (a captured tree has no live fds to follow). */
static void add_taps(json_object *j, int proc_fd, pid_t pid, bool live)
{
	_cleanup_free_ struct vm_tap *t = NULL;
	size_t n = 0;
	struct cli_text text;
	if (vm_taps_collect(proc_fd, pid, &t, &n) < 0 || !cli_text_open(&text))
		return;
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", t[i].ifname[0] ? json_object_new_string(t[i].ifname) : NULL);
		json_object_object_add(o, "kind", json_object_new_string(t[i].kind == VM_TAP_TUN ? "tun" : "macvtap"));
		json_object_object_add(o, "ifindex", t[i].ifindex ? json_object_new_int(t[i].ifindex) : NULL);
		json_object_object_add(o, "queues", json_object_new_int((int)t[i].nfds));
		json_object_array_add(a, o);
		fprintf(text.f, "%s%s%s%s", i ? ", " : "", t[i].ifname[0] ? t[i].ifname : "macvtap",
			t[i].kind == VM_TAP_MACVTAP ? " (macvtap)" : "", t[i].nfds > 1 ? " (multiqueue)" : "");
	}
	json_object_object_add(j, "taps", a);
	_cleanup_close_ int ns = live ? vm_netns_open(proc_fd, pid) : -1;
	struct stat st;
	int own = ns >= 0 ? rtnl_netns_is_own(ns) : -1;
	if (own >= 0 && fstat(ns, &st) == 0) {
		json_object_object_add(j, "netns", json_object_new_string(own ? "host" : "own"));
		json_object_object_add(j, "netns_inode", json_object_new_uint64((uint64_t)st.st_ino));
		if (!own && n)
			fprintf(text.f, ", in a network namespace of its own (net:[%llu])", (unsigned long long)st.st_ino);
	}
	_cleanup_free_ char *s = cli_text_close(&text);
	if (s && n)
		json_object_object_add(j, "taps_text", json_object_new_string(s));
}

/* "20 Mbit/s" (tc's units: powers of 1000) of bytes per second. */
static void bits(FILE *f, uint64_t bytes_per_s)
{
	double b = (double)bytes_per_s * 8;
	if (b >= 1e9)
		fprintf(f, "%.4g Gbit/s", b / 1e9);
	else if (b >= 1e6)
		fprintf(f, "%.4g Mbit/s", b / 1e6);
	else
		fprintf(f, "%.4g Kbit/s", b / 1e3);
}

/* A tap's class on its bridge (Weight=), as the kernel has it: into d, and a line. */
static void show_class(struct rtnl *r, const struct net_change *c, json_object *d, FILE *f)
{
	struct rtnl_class *v = NULL, cl = {0};
	size_t n = 0;
	bool present = false;
	if (rtnl_class_list(r, c->ifindex, &v, &n) == 0)
		for (size_t k = 0; k < n; k++)
			if (v[k].classid == c->handle && strcmp(v[k].kind, "htb") == 0) {
				present = true;
				cl = v[k];
			}
	free(v);
	char id[24], port[IF_NAMESIZE] = "";
	snprintf(id, sizeof(id), "%x:%x", c->handle >> 16, c->handle & 0xFFFFu);
	if (rtnl_link_name(r, c->port, port) < 0)
		snprintf(port, sizeof(port), "%d", c->port);
	json_object_object_add(d, "present", json_object_new_boolean(present));
	json_object_object_add(d, "port", json_object_new_string(port));
	if (!present) {
		fprintf(f, "class %s (gone)", id);
		return;
	}
	json_object_object_add(d, "qdisc", json_object_new_string("htb"));
	json_object_object_add(d, "class", json_object_new_string(id));
	json_object_object_add(d, "rate", json_object_new_uint64(cl.rate));
	json_object_object_add(d, "ceil", json_object_new_uint64(cl.ceil));
	json_object_object_add(d, "quantum", json_object_new_uint64(cl.quantum));
	fprintf(f, "share of %s's inbound for %s: htb class %s rate ", c->dev, port, id);
	bits(f, cl.rate);
	fputs(" ceil ", f);
	bits(f, cl.ceil);
	fprintf(f, " quantum %u B", cl.quantum);
}

/* What kvmcg added to the VM's network devices (the record's "net"), each as the
 * kernel has it now, in the VM's network namespace: into pin (the "kvmcg" object) as
 * "net": {"devices": [{dev, what, present, qdisc, rate, peak, burst, limit}], "text"}.
 * Rates in bytes per second, sizes in bytes. */
static void add_net_state(json_object *pin, int proc_fd, const struct vm *vm, const struct vm_state *st)
{
	_cleanup_close_ int ns = st->n_net ? vm_netns_open(proc_fd, vm->pid) : -1;
	_cleanup_rtnl_ struct rtnl *r = NULL;
	struct cli_text text;
	if (ns < 0 || rtnl_open(ns, &r) < 0 || !cli_text_open(&text))
		return;
	json_object *net = json_object_new_object(), *devs = json_object_new_array();
	for (size_t i = 0; i < st->n_net; i++) {
		const struct net_change *c = &st->net[i];
		json_object *d = json_object_new_object();
		json_object_object_add(d, "dev", json_object_new_string(c->dev));
		json_object_object_add(d, "what", json_object_new_string(net_added_name(c->what)));
		if (c->what == NET_ADDED_CLASS) {
			fprintf(text.f, "%s%s: ", i ? "; " : "", c->dev);
			show_class(r, c, d, text.f);
			json_object_array_add(devs, d);
			continue;
		}
		struct rtnl_link l;
		/* an IFB by its name; a tap by its index, renamed or not (record_find_net) */
		bool present = rtnl_link_get(r, c->what == NET_ADDED_IFB ? 0 : c->ifindex,
					     c->what == NET_ADDED_IFB ? c->dev : NULL, &l) == 0 &&
			       (c->what == NET_ADDED_IFB ? strcmp(l.kind, "ifb") == 0
							 : strcmp(l.kind, "tun") == 0 || strcmp(l.kind, "macvtap") == 0);
		struct rtnl_qdisc q = {0};
		struct rtnl_rate rate = {0};
		/* a root's rate, and an IFB's: the TBF on it */
		bool tbf = present && c->what != NET_ADDED_INGRESS && rtnl_root_qdisc(r, l.ifindex, &q) == 1 &&
			   q.handle == NET_HANDLE && strcmp(q.kind, "tbf") == 0 &&
			   rtnl_tbf_parse(q.options, q.options_len, &rate) == 0;
		free(q.options);
		if (present && c->what == NET_ADDED_INGRESS) {
			struct rtnl_qdisc *v = NULL;
			size_t n = 0;
			present = false;
			if (rtnl_qdisc_list(r, l.ifindex, &v, &n) == 0)
				for (size_t k = 0; k < n; k++)
					present |= v[k].parent == RTNL_H_INGRESS;
			rtnl_qdiscs_free(v, n);
		}
		json_object_object_add(d, "present", json_object_new_boolean(present));
		if (present && strcmp(l.name, c->dev) != 0) /* renamed since */
			json_object_object_add(d, "name", json_object_new_string(l.name));
		fprintf(text.f, "%s%s: ", i ? "; " : "", present ? l.name : c->dev);
		if (tbf) {
			json_object_object_add(d, "qdisc", json_object_new_string("tbf"));
			json_object_object_add(d, "rate", json_object_new_uint64(rate.rate));
			if (rate.ceil)
				json_object_object_add(d, "peak", json_object_new_uint64(rate.ceil));
			json_object_object_add(d, "burst", json_object_new_uint64(rate.burst));
			json_object_object_add(d, "limit", json_object_new_uint64(rate.limit));
			fprintf(text.f, "%s tbf ", c->what == NET_ADDED_IFB ? "outbound (ifb)" : "inbound");
			bits(text.f, rate.rate);
			if (rate.ceil) {
				fputs(" peak ", text.f);
				bits(text.f, rate.ceil);
			}
			fprintf(text.f, " burst %u B", rate.burst);
		} else if (c->what == NET_ADDED_INGRESS && present)
			fputs("outbound: ingress filter", text.f);
		else
			fprintf(text.f, "%s %s", net_added_name(c->what), present ? "(not kvmcg's any more)" : "(gone)");
		json_object_array_add(devs, d);
	}
	json_object_object_add(net, "devices", devs);
	_cleanup_free_ char *t = cli_text_close(&text);
	json_object_object_add(net, "text", t ? json_object_new_string(t) : NULL);
	json_object_object_add(pin, "net", net);
}

static const struct option show_options[] = {CLI_COMMON_OPTIONS, CLI_VMSEL_OPTIONS, CLI_TABLE_OPTIONS, {0}};
const struct cli_command show_command = {.options = show_options,
				       .help = show_help,
				       .vmsel = true,
				       .columns = show_columns,
				       .n_columns = ARRAY_SIZE(show_columns),
				       .default_columns = SHOW_DEFAULT_COLUMNS};

int cmd_show(int argc, char **argv)
{
	const struct cli_command cmd = show_command;
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
	struct vm_state st;
	json_object *pin = cli_pin_state_json(state_fd, vm, &st);
	if (!c.sysroot)
		cli_note_not_root(NULL, state_fd, j);
	if (state_fd >= 0)
		close(state_fd);
	json_object_object_add(j, "kvmcg", pin);
	if (pin)
		add_net_state(pin, c.proc_fd, vm, &st);
	vm_state_done(&st);
	add_taps(j, c.proc_fd, vm->pid, !c.sysroot);
	numa_warn_recorded(&c, vm);
	if (!c.json) {
		/* the owner as one line for the text view */
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
	int rc = EXIT_OK;
	if (c.json)
		print_json(stdout, j);
	else if ((r = print_vm_text(j, &c.table)) < 0)
		rc = cli_runtime_error(r, "cannot print the table");
	json_object_put(j);
	vm_free(vm);
	cli_done(&c);
	return rc;
}
