// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg topology: the host as numactl --hardware, lscpu -e and lstopo show it, and
 * which VM sits where. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd-topology.h"

#include "basic/err.h"
#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "state/state.h"

/* The core table: one row per core (an offline CPU is a row of its own). */
static const struct column core_columns[] = {
	{.name = "NODE", .keys = "node", .flags = SCOLS_FL_RIGHT, .help = "NUMA node"},
	{.name = "PKG", .keys = "package", .flags = SCOLS_FL_RIGHT, .help = "physical package (socket)"},
	{.name = "L3", .keys = "l3", .help = "the CPUs that share its L3 cache"},
	{.name = "CORE", .keys = "core", .flags = SCOLS_FL_RIGHT, .help = "logical core"},
	{.name = "CPUS", .keys = "siblings", .help = "the core's CPUs (SMT siblings)"},
	{.name = "STATE", .keys = "state", .help = "offline, isolcpus, nohz_full (per CPU on an SMT core)"},
	{.name = "VMS", .keys = "vms_text", .flags = SCOLS_FL_WRAP,
	 .help = "the VMs' threads pinned there (per CPU on an SMT core)"},
};
#define CORE_DEFAULT_COLUMNS "NODE,PKG,L3,CORE,CPUS,STATE,VMS"

static void topology_help(void)
{
	fputs("Usage:\n"
	      " kvmcg topology [-o COLUMNS] [-n] [-r] [-J|--json] [--no-qmp] [--qmp-timeout MS]\n"
	      "                [--sysroot DIR]\n"
	      "\n"
	      "Show the host as numactl --hardware, lscpu -e and lstopo do, and which VM sits\n"
	      "where. First the NUMA nodes: their CPUs, memory (MiB, total and free),\n"
	      "distances, and each VM's resident memory there (MiB). Then one line per core:\n"
	      "node, package, the CPUs sharing its L3 cache, its CPUs (SMT siblings),\n"
	      "offline, isolcpus and nohz_full CPUs, and the VMs' threads that may run there,\n"
	      "by their real affinity: v<N> vCPU N, e the emulator, i:<ID> an iothread,\n"
	      "? a thread discovery could not identify; * marks what kvmcg's record pins\n"
	      "there, ! what the record pins there but the thread may no longer run on.\n"
	      "Threads that may run on every online CPU are listed once, below the table.\n"
	      "\n"
	      "Options:\n"
	      " -J, --json              print JSON: {\"nodes\": [...], \"cpus\": [...]}\n"
	      " -n, --noheadings        print the core table alone, without headings\n"
	      " -o, --output <list>     the core table's columns (+<list> adds to the default)\n"
	      " -r, --raw               print the core table alone, in the raw format\n"
	      "     --no-qmp            do not ask QEMU's monitors; use names and fds only\n"
	      "     --qmp-timeout <ms>  wait this long for the QMP monitors (default 2000)\n"
	      "     --sysroot <dir>     read <dir>/proc and <dir>/sys instead (implies --no-qmp;\n"
	      "                         no memory per node: a captured tree has no memory maps)\n"
	      " -h, --help              display this help\n",
	      stdout);
	columns_help(stdout, core_columns, ARRAY_SIZE(core_columns), CORE_DEFAULT_COLUMNS);
	fputs("\nSee kvmcg(8).\n", stdout);
}

static json_object *memory_json(const struct topology_vm *v, unsigned node)
{
	const struct vm_memory_node *m = &v->memory->nodes[node];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(v->vm->pid));
	json_object_object_add(o, "name", v->vm->name ? json_object_new_string(v->vm->name) : NULL);
	json_object_object_add(o, "resident_bytes", json_object_new_uint64(m->guest_ram + m->other + m->file));
	json_object_object_add(o, "guest_ram_bytes", json_object_new_uint64(m->guest_ram));
	json_object_object_add(o, "other_bytes", json_object_new_uint64(m->other));
	json_object_object_add(o, "file_bytes", json_object_new_uint64(m->file));
	return o;
}

static json_object *node_json(const struct topo_node *n, const struct topology_vm *vms, size_t n_vms,
			      bool with_memory)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_int((int)n->id));
	json_object_object_add(o, "cpus", cpulist_json(n->cpus));
	json_object_object_add(o, "memory_total_bytes",
			       n->memory_known ? json_object_new_uint64(n->memory_total) : NULL);
	json_object_object_add(o, "memory_free_bytes", n->memory_known ? json_object_new_uint64(n->memory_free) : NULL);
	json_object *d = NULL;
	if (n->distances) {
		d = json_object_new_array();
		for (size_t i = 0; i < n->n_distances; i++)
			json_object_array_add(d, json_object_new_int((int)n->distances[i]));
	}
	json_object_object_add(o, "distances", d);
	json_object *v = with_memory ? json_object_new_array() : NULL;
	for (size_t i = 0; v && i < n_vms; i++) {
		const struct vm_memory *m = vms[i].memory;
		if (m && n->id < m->n_nodes && (m->nodes[n->id].guest_ram | m->nodes[n->id].other | m->nodes[n->id].file))
			json_object_array_add(v, memory_json(&vms[i], n->id));
	}
	json_object_object_add(o, "vms", v);
	return o;
}

/* What may run on cpu: of a VM's threads (by their affinity), or of a record's pins. */
struct placed {
	json_object *vcpus, *iothreads; /* arrays */
	bool emulator, unknown, any;
};

static void placed_init(struct placed *p)
{
	*p = (struct placed){.vcpus = json_object_new_array(), .iothreads = json_object_new_array()};
}

/* The length of an array; 0 for null (json-c asserts on it). */
static size_t alen(json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static bool array_has_int(json_object *a, int v)
{
	for (size_t i = 0; i < alen(a); i++)
		if (json_object_get_int(json_object_array_get_idx(a, i)) == v)
			return true;
	return false;
}

static bool array_has_string(json_object *a, const char *s)
{
	for (size_t i = 0; i < alen(a); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s) == 0)
			return true;
	return false;
}

static void placed_threads(const struct vm *vm, unsigned cpu, struct placed *p)
{
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		if (!t->affinity || !idset_isset(t->affinity, cpu))
			continue;
		switch (t->kind) {
		case THREAD_VCPU:
			if (!array_has_int(p->vcpus, t->vcpu_index))
				json_object_array_add(p->vcpus, json_object_new_int(t->vcpu_index));
			break;
		case THREAD_IOTHREAD:
			if (t->iothread_id && !array_has_string(p->iothreads, t->iothread_id))
				json_object_array_add(p->iothreads, json_object_new_string(t->iothread_id));
			break;
		case THREAD_EMULATOR:
			p->emulator = true;
			break;
		case THREAD_UNKNOWN:
			p->unknown = true;
			break;
		case THREAD_WORKER:
			continue;
		}
		p->any = true;
	}
}

static void placed_pins(const struct vm_tune *tune, unsigned cpu, struct placed *p)
{
	for (size_t i = 0; i < tune->n_vcpu; i++)
		if (tune->vcpu[i] && idset_isset(tune->vcpu[i], cpu)) {
			json_object_array_add(p->vcpus, json_object_new_int((int)i));
			p->any = true;
		}
	for (size_t i = 0; i < tune->n_iothread; i++)
		if (tune->iothread[i] && idset_isset(tune->iothread[i], cpu)) {
			json_object_array_add(p->iothreads, json_object_new_string(tune->iothread_ids[i]));
			p->any = true;
		}
	if (tune->emulator && idset_isset(tune->emulator, cpu))
		p->emulator = p->any = true;
}

/* The VM's entry in cpu's "vms", or NULL when nothing of it is there. */
static json_object *cpu_vm_json(const struct topology_vm *v, unsigned cpu)
{
	struct placed real, pinned = {0};
	placed_init(&real);
	placed_threads(v->vm, cpu, &real);
	if (v->pins) {
		placed_init(&pinned);
		placed_pins(v->pins, cpu, &pinned);
	}
	if (!real.any && !pinned.any) {
		json_object_put(real.vcpus);
		json_object_put(real.iothreads);
		json_object_put(pinned.vcpus);
		json_object_put(pinned.iothreads);
		return NULL;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(v->vm->pid));
	json_object_object_add(o, "name", v->vm->name ? json_object_new_string(v->vm->name) : NULL);
	json_object_object_add(o, "vcpus", real.vcpus);
	json_object_object_add(o, "emulator", json_object_new_boolean(real.emulator));
	json_object_object_add(o, "iothreads", real.iothreads);
	json_object_object_add(o, "unidentified", json_object_new_boolean(real.unknown));
	json_object *k = NULL;
	if (pinned.any) {
		k = json_object_new_object();
		json_object_object_add(k, "vcpus", json_object_get(pinned.vcpus));
		json_object_object_add(k, "emulator", json_object_new_boolean(pinned.emulator));
		json_object_object_add(k, "iothreads", json_object_get(pinned.iothreads));
	}
	json_object_put(pinned.vcpus);
	json_object_put(pinned.iothreads);
	json_object_object_add(o, "kvmcg", k);
	return o;
}

static json_object *cpu_json(const struct topo_cpu *c, const struct topology_vm *vms, size_t n_vms)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cpu", json_object_new_int((int)c->id));
	json_object_object_add(o, "node", c->node >= 0 ? json_object_new_int(c->node) : NULL);
	json_object_object_add(o, "package", c->package >= 0 ? json_object_new_int(c->package) : NULL);
	json_object_object_add(o, "core", c->core >= 0 ? json_object_new_int(c->core) : NULL);
	json_object_object_add(o, "siblings", cpulist_json(c->siblings));
	json_object_object_add(o, "l3", cpulist_json(c->l3));
	json_object_object_add(o, "online", json_object_new_boolean(c->online));
	json_object *iso = json_object_new_array();
	if (c->isolated)
		json_object_array_add(iso, json_object_new_string("isolcpus"));
	if (c->nohz_full)
		json_object_array_add(iso, json_object_new_string("nohz_full"));
	json_object_object_add(o, "isolated", iso);
	json_object *v = json_object_new_array();
	for (size_t i = 0; i < n_vms; i++) {
		json_object *e = cpu_vm_json(&vms[i], c->id);
		if (e)
			json_object_array_add(v, e);
	}
	json_object_object_add(o, "vms", v);
	return o;
}

json_object *topology_json(const struct topology *t, const struct topology_vm *vms, size_t n, bool with_memory)
{
	json_object *doc = json_object_new_object();
	json_object *nodes = json_object_new_array();
	for (size_t i = 0; i < t->n_nodes; i++)
		json_object_array_add(nodes, node_json(&t->nodes[i], vms, n, with_memory));
	json_object_object_add(doc, "nodes", nodes);
	json_object *cpus = json_object_new_array();
	for (size_t i = 0; i < t->n_cpus; i++)
		json_object_array_add(cpus, cpu_json(&t->cpus[i], vms, n));
	json_object_object_add(doc, "cpus", cpus);
	return doc;
}

/* ---- text, rendered from the model ---- */

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

/* The node table: the "nodes" of the model. */
static const struct column node_columns[] = {
	{.name = "NODE", .keys = "node", .flags = SCOLS_FL_RIGHT},
	{.name = "CPUS", .keys = "cpus"},
	{.name = "MEMORY", .keys = "memory_total_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT},
	{.name = "FREE", .keys = "memory_free_bytes", .format = COL_BYTES_AS_MIB, .flags = SCOLS_FL_RIGHT},
	{.name = "DISTANCES", .keys = "distances_text"},
	{.name = "VMS", .keys = "vms_text", .flags = SCOLS_FL_WRAP},
};

static void add_text(json_object *o, const char *key, struct cli_text *t)
{
	_cleanup_free_ char *s = cli_text_close(t);
	json_object_object_add(o, key, json_object_new_string(s && *s ? s : "-"));
}

/* The VM's name in the text: its "label" (set_labels), else its pid. */
static const char *vm_label(json_object *vm, char *buf, size_t size)
{
	json_object *label = get(vm, "label");
	if (label)
		return json_object_get_string(label);
	snprintf(buf, size, "%d", json_object_get_int(get(vm, "pid")));
	return buf;
}

/* Gives each VM entry of a (nodes or cpus) its label: its name, or "name/PID" when
 * two VMs have that name; no label (its pid) when it has no name. names maps each
 * name to the first pid seen with it, or to -1 once a second has it. */
static void set_labels(json_object *list, json_object *names, bool assign)
{
	for (size_t i = 0; i < alen(list); i++) {
		json_object *vms = get(json_object_array_get_idx(list, i), "vms");
		for (size_t k = 0; k < alen(vms); k++) {
			json_object *e = json_object_array_get_idx(vms, k), *name = get(e, "name"), *seen;
			if (!name)
				continue;
			const char *s = json_object_get_string(name);
			int pid = json_object_get_int(get(e, "pid"));
			seen = get(names, s);
			if (!assign) {
				if (!seen)
					json_object_object_add(names, s, json_object_new_int(pid));
				else if (json_object_get_int(seen) != pid)
					json_object_object_add(names, s, json_object_new_int(-1));
				continue;
			}
			if (json_object_get_int(seen) >= 0) {
				json_object_object_add(e, "label", json_object_get(name));
				continue;
			}
			char *l = NULL;
			if (asprintf(&l, "%s/%d", s, pid) >= 0)
				json_object_object_add(e, "label", json_object_new_string(l));
			free(l);
		}
	}
}

static void print_nodes(FILE *f, json_object *nodes)
{
	for (size_t i = 0; i < alen(nodes); i++) {
		json_object *n = json_object_array_get_idx(nodes, i), *d = get(n, "distances"), *vms = get(n, "vms");
		struct cli_text t;
		if (!cli_text_open(&t))
			return;
		for (size_t k = 0; k < alen(d); k++)
			fprintf(t.f, "%s%d", k ? " " : "", json_object_get_int(json_object_array_get_idx(d, k)));
		add_text(n, "distances_text", &t);
		if (!cli_text_open(&t))
			return;
		for (size_t k = 0; k < alen(vms); k++) {
			json_object *v = json_object_array_get_idx(vms, k);
			char pid[16];
			fprintf(t.f, "%s%s %.1f", k ? ", " : "", vm_label(v, pid, sizeof(pid)),
				(double)json_object_get_uint64(get(v, "resident_bytes")) / 1048576.0);
		}
		add_text(n, "vms_text", &t);
	}
	int r = print_table(f, node_columns, ARRAY_SIZE(node_columns), nodes, NULL);
	if (r < 0)
		log_error("cannot print the table: %s", strerror(-r));
}

/* A role of one VM on one CPU, as the text shows it: "v0" (vCPU 0), "e" (emulator),
 * "i:ID" (iothread), "?" (a thread discovery could not identify). real: its thread
 * may run there (its affinity); mark '*' when kvmcg's record pins it there too, '!'
 * when only the record does. */
struct role {
	char text[280];
	bool real;
	char mark;
};

static void role_add(struct role *v, size_t *n, bool real, char mark, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void role_add(struct role *v, size_t *n, bool real, char mark, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v[*n].text, sizeof(v[*n].text), fmt, ap);
	va_end(ap);
	v[*n].real = real;
	v[*n].mark = mark;
	(*n)++;
}

/* The roles of a CPU's VM entry (caller frees), real ones first. */
static struct role *entry_roles(json_object *e, size_t *ret_n)
{
	json_object *k = get(e, "kvmcg");
	json_object *vc = get(e, "vcpus"), *io = get(e, "iothreads");
	json_object *kvc = k ? get(k, "vcpus") : NULL, *kio = k ? get(k, "iothreads") : NULL;
	bool emu = json_object_get_boolean(get(e, "emulator")), kemu = k && json_object_get_boolean(get(k, "emulator"));
	size_t max = alen(vc) + alen(io) + alen(kvc) +
		     alen(kio) + 3;
	struct role *v = calloc(max, sizeof(*v));
	size_t n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < alen(vc); i++) {
		int x = json_object_get_int(json_object_array_get_idx(vc, i));
		role_add(v, &n, true, array_has_int(kvc, x) ? '*' : 0, "v%d", x);
	}
	if (emu)
		role_add(v, &n, true, kemu ? '*' : 0, "e");
	for (size_t i = 0; i < alen(io); i++) {
		const char *x = json_object_get_string(json_object_array_get_idx(io, i));
		role_add(v, &n, true, array_has_string(kio, x) ? '*' : 0, "i:%s", x);
	}
	if (json_object_get_boolean(get(e, "unidentified")))
		role_add(v, &n, true, 0, "?");
	for (size_t i = 0; i < alen(kvc); i++) {
		int x = json_object_get_int(json_object_array_get_idx(kvc, i));
		if (!array_has_int(vc, x))
			role_add(v, &n, false, '!', "v%d", x);
	}
	if (kemu && !emu)
		role_add(v, &n, false, '!', "e");
	for (size_t i = 0; i < alen(kio); i++) {
		const char *x = json_object_get_string(json_object_array_get_idx(kio, i));
		if (!array_has_string(io, x))
			role_add(v, &n, false, '!', "i:%s", x);
	}
	*ret_n = n;
	return v;
}

static bool role_floating(json_object *floating, json_object *e, const struct role *r)
{
	char key[320];
	snprintf(key, sizeof(key), "%d/%s", json_object_get_int(get(e, "pid")), r->text);
	return r->real && get(floating, key);
}

/* One CPU's VMs: "web[v0*,e] db[i:io1]". want_floating: only the roles in floating
 * (the line below the table), else only the others. */
static void cpu_vms_text(json_object *cpu, json_object *floating, bool want_floating, FILE *f)
{
	json_object *vms = get(cpu, "vms");
	bool first_vm = true;
	for (size_t i = 0; i < alen(vms); i++) {
		json_object *e = json_object_array_get_idx(vms, i);
		size_t n = 0;
		_cleanup_free_ struct role *r = entry_roles(e, &n);
		bool first = true;
		char pid[16];
		for (size_t k = 0; r && k < n; k++) {
			if (role_floating(floating, e, &r[k]) != want_floating)
				continue;
			fprintf(f, "%s%s%s%s", first ? (first_vm ? "" : " ") : ",",
				first ? vm_label(e, pid, sizeof(pid)) : "", first ? "[" : "", r[k].text);
			if (r[k].mark)
				fputc(r[k].mark, f);
			first = first_vm = false;
		}
		if (!first)
			fputc(']', f);
	}
}

/* The roles whose threads may run on every online CPU, as "PID/ROLE" keys. */
static json_object *floating_roles(json_object *cpus)
{
	json_object *counts = json_object_new_object(), *floating = json_object_new_object();
	int online = 0;
	for (size_t i = 0; i < alen(cpus); i++) {
		json_object *c = json_object_array_get_idx(cpus, i), *vms = get(c, "vms");
		if (!json_object_get_boolean(get(c, "online")))
			continue;
		online++;
		for (size_t k = 0; k < alen(vms); k++) {
			json_object *e = json_object_array_get_idx(vms, k);
			size_t n = 0;
			_cleanup_free_ struct role *r = entry_roles(e, &n);
			for (size_t j = 0; r && j < n; j++) {
				if (!r[j].real)
					continue;
				char key[320];
				snprintf(key, sizeof(key), "%d/%s", json_object_get_int(get(e, "pid")), r[j].text);
				json_object *was = get(counts, key);
				json_object_object_add(counts, key, json_object_new_int(was ? json_object_get_int(was) + 1 : 1));
			}
		}
	}
	json_object_object_foreach(counts, key, val)
		if (json_object_get_int(val) == online)
			json_object_object_add(floating, key, json_object_new_boolean(true));
	json_object_put(counts);
	return floating;
}

/* The core rows: one per core, in the order of its lowest CPU; an offline CPU (or
 * one whose core is not known) is a row of its own. Each CPU adds its id, its
 * state and its VMs to its row, per CPU when the row has several. */
static json_object *core_rows(json_object *cpus, json_object *floating)
{
	json_object *rows = json_object_new_array(), *by_core = json_object_new_object();
	for (size_t i = 0; i < alen(cpus); i++) {
		json_object *c = json_object_array_get_idx(cpus, i), *core = get(c, "core"), *row = NULL;
		char key[16];
		if (core) {
			snprintf(key, sizeof(key), "%d", json_object_get_int(core));
			row = get(by_core, key);
		}
		if (!row) {
			row = json_object_new_object();
			static const char *const keep[] = {"node", "package", "l3", "core", "siblings"};
			for (size_t k = 0; k < ARRAY_SIZE(keep); k++)
				json_object_object_add(row, keep[k], json_object_get(get(c, keep[k])));
			if (!get(c, "siblings"))
				json_object_object_add(row, "siblings", json_object_get(get(c, "cpu")));
			json_object_object_add(row, "parts_vms", json_object_new_array());
			json_object_object_add(row, "parts_state", json_object_new_array());
			json_object_array_add(rows, row);
			if (core)
				json_object_object_add(by_core, key, json_object_get(row));
		}
		struct cli_text t;
		if (!cli_text_open(&t))
			break;
		cpu_vms_text(c, floating, false, t.f);
		_cleanup_free_ char *vms = cli_text_close(&t);
		if (!cli_text_open(&t))
			break;
		json_object *iso = get(c, "isolated");
		bool first = true;
		if (!json_object_get_boolean(get(c, "online"))) {
			fputs("offline", t.f);
			first = false;
		}
		for (size_t k = 0; k < alen(iso); k++, first = false)
			fprintf(t.f, "%s%s", first ? "" : ",", json_object_get_string(json_object_array_get_idx(iso, k)));
		_cleanup_free_ char *state = cli_text_close(&t);
		int cpu = json_object_get_int(get(c, "cpu"));
		json_object *pv = json_object_new_object(), *ps = json_object_new_object();
		json_object_object_add(pv, "cpu", json_object_new_int(cpu));
		json_object_object_add(pv, "text", json_object_new_string(vms ? vms : ""));
		json_object_object_add(ps, "cpu", json_object_new_int(cpu));
		json_object_object_add(ps, "text", json_object_new_string(state ? state : ""));
		json_object_array_add(get(row, "parts_vms"), pv);
		json_object_array_add(get(row, "parts_state"), ps);
	}
	json_object_put(by_core);
	/* "text" for a one-CPU row; "0: text; 4: text" for the others (empty ones left out) */
	for (size_t i = 0; i < alen(rows); i++) {
		json_object *row = json_object_array_get_idx(rows, i);
		static const char *const parts[][2] = {{"parts_vms", "vms_text"}, {"parts_state", "state"}};
		for (size_t p = 0; p < ARRAY_SIZE(parts); p++) {
			json_object *a = get(row, parts[p][0]);
			size_t n = alen(a);
			struct cli_text t;
			if (!cli_text_open(&t))
				break;
			bool first = true;
			for (size_t k = 0; k < n; k++) {
				json_object *e = json_object_array_get_idx(a, k);
				const char *s = json_object_get_string(get(e, "text"));
				if (!*s)
					continue;
				if (n > 1)
					fprintf(t.f, "%s%d: ", first ? "" : "; ", json_object_get_int(get(e, "cpu")));
				fputs(s, t.f);
				first = false;
			}
			add_text(row, parts[p][1], &t);
			json_object_object_del(row, parts[p][0]);
		}
	}
	return rows;
}

int topology_print_text(FILE *f, json_object *doc, const struct table_opts *opts)
{
	json_object *cpus = get(doc, "cpus"), *names = json_object_new_object();
	bool whole = !opts->noheadings && !opts->raw;
	for (int assign = 0; assign < 2; assign++) {
		set_labels(get(doc, "nodes"), names, assign);
		set_labels(cpus, names, assign);
	}
	json_object_put(names);
	if (whole) {
		print_nodes(f, get(doc, "nodes"));
		fputc('\n', f);
	}
	json_object *floating = floating_roles(cpus);
	json_object *rows = core_rows(cpus, floating);
	int r = print_table(f, core_columns, ARRAY_SIZE(core_columns), rows, opts);
	json_object_put(rows);
	if (r < 0) {
		json_object_put(floating);
		return r;
	}
	if (whole && json_object_object_length(floating) > 0) {
		/* the first online CPU has every floating role */
		for (size_t i = 0; i < alen(cpus); i++) {
			json_object *c = json_object_array_get_idx(cpus, i);
			if (!json_object_get_boolean(get(c, "online")))
				continue;
			struct cli_text t;
			if (!cli_text_open(&t))
				break;
			cpu_vms_text(c, floating, true, t.f);
			_cleanup_free_ char *s = cli_text_close(&t);
			/* VM names are the VMs' owners' words: escaped, as in the tables */
			_cleanup_free_ char *e = s ? str_escape(s) : NULL;
			fprintf(f, "\nOn every online CPU: %s\n", e ? e : "");
			break;
		}
	}
	json_object_put(floating);
	return 0;
}

/* kvmcg's record of vm, into *ret; false when it has none (or one kvmcg refuses,
 * said as a warning). */
static bool load_pins(int state_fd, const struct vm *vm, struct vm_state *ret)
{
	if (state_fd < 0)
		return false;
	err_clear();
	int r = state_load(state_fd, vm->pid, vm->starttime_ticks, ret);
	if (r < 0 && r != -ENOENT) {
		const char *why = err_get();
		log_warning("pid %d: %s", (int)vm->pid, why ? why : strerror(-r));
	}
	return r == 0;
}

/* Each VM with kvmcg's record and its memory per node (with_memory), then the model
 * printed. */
static int show(struct cli *c, const struct topology *topo, struct vm **vms, size_t n, struct topology_vm *tv,
		struct vm_state *st, struct vm_memory *mem)
{
	/* A captured tree has no memory maps; the live monitors share one deadline. */
	bool with_memory = !c->sysroot;
	c->discover.qmp_deadline_ns = discover_qmp_deadline(&c->discover);
	int state_fd = c->sysroot ? -1 : state_dir_open(false);
	for (size_t i = 0; i < n; i++) {
		tv[i].vm = vms[i];
		if (load_pins(state_fd, vms[i], &st[i]))
			tv[i].pins = &st[i].tune;
		if (with_memory && vm_memory_measure(&c->discover, vms[i], &mem[i]) == 0)
			tv[i].memory = &mem[i];
	}
	if (state_fd >= 0)
		close(state_fd);
	err_clear(); /* a missing state directory, a refused record: said or nothing to say */
	json_object *doc = topology_json(topo, tv, n, with_memory);
	int r = 0;
	if (!doc)
		return cli_runtime_error(-ENOMEM, "out of memory");
	if (c->json)
		print_json(stdout, doc);
	else
		r = topology_print_text(stdout, doc, &c->table);
	json_object_put(doc);
	return r < 0 ? cli_runtime_error(r, "cannot print the table") : EXIT_OK;
}

static int run_topology(struct cli *c)
{
	struct topology topo = {0};
	int r = topology_read(c->sys_fd, &topo);
	if (r < 0)
		return cli_runtime_error(r, "cannot read the host's topology from /sys");
	struct vm **vms = NULL;
	size_t n = 0;
	/* each VM's memory backends asked with its threads: one conversation each */
	c->discover.want_memdevs = !c->sysroot;
	r = vm_list_all(&c->discover, &vms, &n);
	if (r < 0) {
		topology_done(&topo);
		return cli_runtime_error(r, "cannot list VMs");
	}
	_cleanup_free_ struct topology_vm *tv = calloc(n + 1, sizeof(*tv));
	_cleanup_free_ struct vm_state *st = calloc(n + 1, sizeof(*st));
	_cleanup_free_ struct vm_memory *mem = calloc(n + 1, sizeof(*mem));
	int rc = tv && st && mem ? show(c, &topo, vms, n, tv, st, mem) : cli_runtime_error(-ENOMEM, "out of memory");
	for (size_t i = 0; tv && st && mem && i < n; i++) {
		if (tv[i].pins)
			vm_state_done(&st[i]);
		vm_memory_done(&mem[i]);
	}
	vm_list_free(vms, n);
	topology_done(&topo);
	return rc;
}

static const struct option topology_options[] = {CLI_COMMON_OPTIONS, CLI_TABLE_OPTIONS, {0}};
const struct cli_command topology_command = {.options = topology_options,
				       .help = topology_help,
				       .columns = core_columns,
				       .n_columns = ARRAY_SIZE(core_columns),
				       .default_columns = CORE_DEFAULT_COLUMNS};

int cmd_topology(int argc, char **argv)
{
	const struct cli_command cmd = topology_command;
	struct cli c = {.command = "topology", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;
	r = cli_open_roots(&c);
	if (r == 0)
		r = run_topology(&c);
	cli_done(&c);
	return r;
}
