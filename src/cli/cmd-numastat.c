// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg numastat: where each VM's memory is, per NUMA node, like numastat -p PID. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd-numastat.h"

#include "basic/err.h"
#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "state/state.h"
#include "cli/numa-warn.h"
#include "cli/output.h"
#include "kernel/procfs.h"
#include "vmm/memory.h"
#include "vmm/qmp.h"

/* One VM: a row per node. */
static const struct column node_columns[] = {
	{.name = "NODE", .keys = "node", .flags = SCOLS_FL_RIGHT, .help = "NUMA node"},
	{.name = "GUEST-RAM", .keys = "guest_ram_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT,
	 .help = "guest RAM resident on the node, MiB"},
	{.name = "OTHER", .keys = "other_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT,
	 .help = "QEMU's other anonymous memory (heap, stacks), MiB"},
	{.name = "HUGE", .keys = "huge_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT,
	 .help = "hugetlb pages, guest RAM or not, MiB"},
	{.name = "FILE", .keys = "file_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT,
	 .help = "file-backed pages (QEMU's binary, libraries), not counted, MiB"},
	{.name = "ALLOWED", .keys = "allowed", .help = "whether the VM may use the node"},
};
#define NODE_DEFAULT_COLUMNS "NODE,GUEST-RAM,OTHER,HUGE,FILE,ALLOWED"

static void numastat_help(void)
{
	fputs("Usage:\n"
	      " kvmcg numastat [VMSEL] [-o COLUMNS] [-n] [-r] [-J|--json] [--no-qmp]\n"
	      "                [--qmp-timeout MS]\n"
	      "\n"
	      "Show where a VM's memory is, per NUMA node, in MiB, as numastat -p does: its\n"
	      "guest RAM (the mappings of QEMU's memory backends, whose sizes its monitor\n"
	      "gives, or -m when it does not answer), QEMU's other anonymous memory, hugetlb\n"
	      "pages, and file-backed pages (QEMU's binary and libraries, which placement\n"
	      "does not count). Above the table: the nodes the VM may use (its main thread's\n"
	      "Mems_allowed_list), the share of its guest RAM and other memory on them, and\n"
	      "how much guest RAM is not resident yet. Without VMSEL, every VM, one row each.\n"
	      "\n"
	      "VMSEL (at most one):\n" CLI_VMSEL_HELP
	      "\n"
	      "Options:\n"
	      " -J, --json              print JSON\n"
	      " -n, --noheadings        print the node table alone, without headings\n"
	      " -o, --output <list>     the node table's columns (+<list> adds to the default)\n"
	      " -r, --raw               print the node table alone, in the raw format\n"
	      "     --no-qmp            do not ask QEMU's monitor (guest RAM by -m)\n"
	      "     --qmp-timeout <ms>  wait this long for a QMP monitor (default 2000)\n"
	      " -h, --help              display this help\n",
	      stdout);
	columns_help(stdout, node_columns, ARRAY_SIZE(node_columns), NODE_DEFAULT_COLUMNS);
	fputs("\nSee kvmcg(8).\n", stdout);
}

/* The nodes the VM's main thread may allocate on: what the kernel enforces
 * (cpuset.mems, and a bind policy), Mems_allowed_list of its status. */
static int allowed_nodes(int proc_fd, pid_t pid, struct idset **ret)
{
	_cleanup_free_ char *list = NULL;
	int r = proc_read_status_field(proc_fd, pid, 0, "Mems_allowed_list", &list);
	return r < 0 ? r : idset_parse(list, ret, NULL);
}

/* The VM's memory as JSON (kvmcg(8) NUMASTAT): every node the host has online and
 * every node a page is on. */
static json_object *memory_json(const struct vm *vm, const struct vm_memory *m, const struct idset *allowed,
				const struct host *h)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", vm->name ? json_object_new_string(vm->name) : NULL);
	json_object_object_add(o, "guest_ram_source", json_object_new_string(vm_ram_source_name(m->source)));
	uint64_t resident = vm_memory_guest_resident(m);
	json_object_object_add(o, "guest_ram_bytes", json_object_new_uint64(m->guest_ram_size));
	json_object_object_add(o, "not_resident_bytes", json_object_new_uint64(
								    m->guest_ram_size > resident ? m->guest_ram_size - resident : 0));
	json_object_object_add(o, "allowed_nodes", cpulist_json(allowed));
	json_object_object_add(o, "guest_ram_policy",
			       m->guest_ram_policy[0] ? json_object_new_string(m->guest_ram_policy) : NULL);
	uint64_t total = vm_memory_counted(m, NULL);
	uint64_t on = allowed ? vm_memory_counted(m, allowed) : total;
	json_object_object_add(o, "allowed_share", json_object_new_double(total ? (double)on / (double)total : 1.0));
	json_object *nodes = json_object_new_array();
	unsigned last = m->n_nodes;
	for (unsigned k = 0; k < MEMMAP_NODES_MAX; k++)
		if (idset_isset(h->online_mems, k) && k + 1 > last)
			last = k + 1;
	for (unsigned k = 0; k < last; k++) {
		if (!idset_isset(h->online_mems, k) && (k >= m->n_nodes || !(m->nodes[k].guest_ram | m->nodes[k].other |
									      m->nodes[k].file | m->nodes[k].huge)))
			continue;
		const struct vm_memory_node *n = k < m->n_nodes ? &m->nodes[k] : &(struct vm_memory_node){0};
		json_object *e = json_object_new_object();
		json_object_object_add(e, "node", json_object_new_int((int)k));
		json_object_object_add(e, "guest_ram_bytes", json_object_new_uint64(n->guest_ram));
		json_object_object_add(e, "other_bytes", json_object_new_uint64(n->other));
		json_object_object_add(e, "huge_bytes", json_object_new_uint64(n->huge));
		json_object_object_add(e, "file_bytes", json_object_new_uint64(n->file));
		json_object_object_add(e, "allowed", json_object_new_boolean(!allowed || idset_isset(allowed, k)));
		json_object_array_add(nodes, e);
	}
	json_object_object_add(o, "nodes", nodes);
	return o;
}

/* One VM's figures, or NULL with the reason said (a VM that exited meanwhile is
 * skipped without a word when others are listed: quiet). */
static json_object *measure(struct cli *c, const struct vm *vm, bool quiet)
{
	struct vm_memory m = {0};
	int r = vm_memory_measure(&c->discover, vm, &m);
	if (r < 0) {
		if (!(quiet && r == -ENOENT))
			log_error("pid %d: cannot read its memory map: %s", (int)vm->pid, strerror(-r));
		return NULL;
	}
	if (m.monitor_error)
		log_warning("pid %d: its monitor did not tell its memory backends (%s): guest RAM is taken as %s",
			    (int)vm->pid, qmp_strerror(m.monitor_error, NULL),
			    m.source == VM_RAM_ARGV ? "-m's size" : "unknown");
	struct idset *allowed _cleanup_cpuset_ = NULL;
	(void)allowed_nodes(c->proc_fd, vm->pid, &allowed);
	json_object *o = memory_json(vm, &m, allowed, &c->host);
	vm_memory_done(&m);
	/* a VM kvmcg run started had its memory policy before its first page */
	struct vm_state st;
	_cleanup_close_ int state_fd = c->sysroot ? -1 : state_dir_open(false);
	bool launched = false;
	if (state_fd >= 0 && state_load(state_fd, vm->pid, vm->starttime_ticks, &st) == 0) {
		launched = st.launched;
		vm_state_done(&st);
	}
	json_object_object_add(o, "launched", json_object_new_boolean(launched));
	return o;
}

static void print_one_text(json_object *o, const struct table_opts *opts)
{
	static const struct field fields[] = {
		{"PID", "pid"},
		{"Name", "name"},
		{"Guest RAM", "guest_ram_text"},
		{"Allowed nodes", "allowed_nodes"},
		{"On allowed nodes", "share_text"},
		{"Guest RAM policy", "policy_text"},
	};
	if (!opts->noheadings && !opts->raw) {
		json_object *v;
		uint64_t size = json_object_object_get_ex(o, "guest_ram_bytes", &v) ? json_object_get_uint64(v) : 0;
		uint64_t missing = json_object_object_get_ex(o, "not_resident_bytes", &v) ? json_object_get_uint64(v) : 0;
		const char *from = json_object_object_get_ex(o, "guest_ram_source", &v) ? json_object_get_string(v) : "?";
		double share = json_object_object_get_ex(o, "allowed_share", &v) ? json_object_get_double(v) : 0;
		char text[160];
		snprintf(text, sizeof(text), "%.1f MiB (%s), %.1f MiB of it not resident", (double)size / 1048576.0,
			 from, (double)missing / 1048576.0);
		json_object_object_add(o, "guest_ram_text", json_object_new_string(text));
		snprintf(text, sizeof(text), "%.2f%% of guest RAM and QEMU's other memory", share * 100.0);
		json_object_object_add(o, "share_text", json_object_new_string(text));
		const char *pol = json_object_object_get_ex(o, "guest_ram_policy", &v) && v ? json_object_get_string(v) : "-";
		bool launched = json_object_object_get_ex(o, "launched", &v) && json_object_get_boolean(v);
		snprintf(text, sizeof(text), "%s%s", pol, launched ? " (from QEMU's first page: kvmcg run started it)" : "");
		json_object_object_add(o, "policy_text", json_object_new_string(text));
		print_fields(stdout, fields, ARRAY_SIZE(fields), o);
		putchar('\n');
	}
	json_object *nodes;
	json_object_object_get_ex(o, "nodes", &nodes);
	int r = print_table(stdout, node_columns, ARRAY_SIZE(node_columns), nodes, opts);
	if (r < 0)
		log_error("cannot print the table: %s", strerror(-r));
}

/* Every VM: one row each, the MiB on each node in one cell ("0:1.5 1:2046.0"). */
static void print_all_text(json_object *vms, const struct table_opts *opts)
{
	static const struct column cols[] = {
		{.name = "PID", .keys = "pid", .flags = SCOLS_FL_RIGHT},
		{.name = "NAME", .keys = "name", .flags = SCOLS_FL_TRUNC},
		{.name = "GUEST-RAM", .keys = "guest_ram_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT},
		{.name = "PER-NODE", .keys = "per_node"},
		{.name = "ALLOWED", .keys = "allowed_nodes"},
		{.name = "SHARE", .keys = "share"},
		{.name = "POLICY", .keys = "guest_ram_policy"},
		{.name = "LAUNCHED", .keys = "launched"},
		{.name = "NOT-RESIDENT", .keys = "not_resident_bytes", .format = COL_BYTES_AS_MIB,
		 .flags = SCOLS_FL_RIGHT},
	};
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *vm = json_object_array_get_idx(vms, i), *nodes, *v;
		json_object_object_get_ex(vm, "nodes", &nodes);
		char cell[512] = "";
		size_t off = 0;
		for (size_t k = 0; k < json_object_array_length(nodes) && off < sizeof(cell); k++) {
			json_object *n = json_object_array_get_idx(nodes, k), *node, *ram, *other;
			json_object_object_get_ex(n, "node", &node);
			json_object_object_get_ex(n, "guest_ram_bytes", &ram);
			json_object_object_get_ex(n, "other_bytes", &other);
			double mib = (double)(json_object_get_uint64(ram) + json_object_get_uint64(other)) / 1048576.0;
			off += (size_t)snprintf(cell + off, sizeof(cell) - off, "%s%d:%.1f", k ? " " : "",
						json_object_get_int(node), mib);
		}
		json_object_object_add(vm, "per_node", json_object_new_string(cell));
		char share[16];
		snprintf(share, sizeof(share), "%.1f%%",
			 json_object_object_get_ex(vm, "allowed_share", &v) ? json_object_get_double(v) * 100.0 : 0);
		json_object_object_add(vm, "share", json_object_new_string(share));
	}
	/* -o picks the node table's columns; this one has its own, always all */
	const struct table_opts all = {.noheadings = opts->noheadings, .raw = opts->raw};
	int r = print_table(stdout, cols, ARRAY_SIZE(cols), vms, &all);
	if (r < 0)
		log_error("cannot print the table: %s", strerror(-r));
}

static int run_numastat(struct cli *c)
{
	/* The VM's threads are not needed, only what it is and its monitor's socket. */
	if (vmsel_count(&c->sel) == 1) {
		struct vm *vm _cleanup_vm_ = NULL;
		struct discover_opts later;
		int r = vmsel_identify(&c->discover, &c->sel, &vm, &later);
		if (r < 0)
			return cli_runtime_error(r, "cannot select the VM");
		c->discover = later;
		json_object *o = measure(c, vm, false);
		if (!o)
			return EXIT_FAILURE_RUNTIME;
		numa_warn_recorded(c, vm);
		if (c->json)
			print_json(stdout, o);
		else
			print_one_text(o, &c->table);
		json_object_put(o);
		return EXIT_OK;
	}
	if (c->output)
		return cli_usage_error(c, "--output picks the columns of one VM's node table; select a VM");
	/* Every process that is a VM (vm_identify(): threads are not read). */
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int r = proc_list_pids(c->proc_fd, &pids, &n);
	if (r < 0)
		return cli_runtime_error(r, "cannot list the processes");
	json_object *arr = json_object_new_array();
	int rc = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		struct vm *vm _cleanup_vm_ = NULL;
		if (pids[i] == c->discover.self || vm_identify(&c->discover, pids[i], &vm) != 1)
			continue;
		json_object *o = measure(c, vm, true);
		if (o) {
			json_object_array_add(arr, o);
			numa_warn_recorded(c, vm);
		} else if (proc_process_alive(c->proc_fd, vm->pid, vm->starttime_ticks))
			rc = EXIT_FAILURE_RUNTIME;
	}
	if (c->json) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "vms", json_object_get(arr));
		print_json(stdout, doc);
		json_object_put(doc);
	} else if (json_object_array_length(arr) == 0) {
		puts("No VMs found.");
	} else {
		print_all_text(arr, &c->table);
	}
	json_object_put(arr);
	return rc;
}

static const struct option numastat_options[] = {CLI_LIVE_OPTIONS, CLI_VMSEL_OPTIONS, CLI_TABLE_OPTIONS, {0}};
const struct cli_command numastat_command = {.options = numastat_options,
				       .help = numastat_help,
				       .vmsel_optional = true,
				       .columns = node_columns,
				       .n_columns = ARRAY_SIZE(node_columns),
				       .default_columns = NODE_DEFAULT_COLUMNS};

int cmd_numastat(int argc, char **argv)
{
	const struct cli_command cmd = numastat_command;
	struct cli c = {.command = "numastat", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;
	if (c.sysroot)
		r = cli_usage_error(&c, "--sysroot reads a captured tree, which has no memory maps");
	else if ((r = cli_open_roots(&c)) == 0)
		r = run_numastat(&c);
	cli_done(&c);
	return r;
}
