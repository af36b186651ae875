// SPDX-License-Identifier: GPL-2.0-or-later
/* topology: the sysfs reader on trees captured from the build host and the test
 * guest, and on a made-up one (tests/fixtures/make-topology-synth.sh: SMT, an offline
 * CPU, a node without CPUs, isolcpus and nohz_full); the JSON model with a VM
 * discovered on a captured /proc tree; the command line on both. Expected values are
 * read from the trees' own files by the helpers below, without the code under test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "basic/util.h"
#include "cli-run.h"
#include "scratch.h"
#include "cli/cmd-topology.h"
#include "kernel/topology.h"
#include "vmm/discover.h"

#define HOST FIXTURES "/topology-host"
#define GUEST FIXTURES "/topology-guest"
#define SYNTH FIXTURES "/topology-synth"
#define NAMES FIXTURES "/qemu-names"

/* ---- the tree, read by hand ---- */

/* The file's first line, or "" when it is missing. */
static void line_of(const char *tree, const char *rel, char *buf, size_t size)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/sys/devices/system/%s", tree, rel);
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static bool exists(const char *tree, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/sys/devices/system/%s", tree, rel);
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Whether cpu is in the list text, by a walk of its ranges. */
static bool in_list(const char *list, unsigned cpu)
{
	const char *p = list;
	while (*p) {
		char *end;
		unsigned a = (unsigned)strtoul(p, &end, 10), b = a;
		if (end == p)
			return false;
		if (*end == '-')
			b = (unsigned)strtoul(end + 1, &end, 10);
		if (cpu >= a && cpu <= b)
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

static char *fmt(const struct idset *s)
{
	return s ? idset_format(s) : strdup("(none)");
}

static void read_tree(const char *tree, struct topology *t, int *ret_fd)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/sys", tree);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(topology_read(fd, t), 0, "%s", tree);
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
}

/* Everything topology_read gives, checked against the tree's files. */
static void check_tree(const char *tree)
{
	struct topology t;
	read_tree(tree, &t, NULL);
	char online[256], present[256], buf[1024], rel[256];
	line_of(tree, "cpu/online", online, sizeof(online));
	line_of(tree, "cpu/present", present, sizeof(present));
	line_of(tree, "node/online", buf, sizeof(buf));
	/* nodes: as node/online lists them, each with its files */
	size_t want_nodes = 0;
	for (unsigned n = 0; n < 1024; n++)
		want_nodes += in_list(buf, n);
	cr_assert_eq(t.n_nodes, want_nodes, "%s: nodes", tree);
	for (size_t i = 0; i < t.n_nodes; i++) {
		const struct topo_node *n = &t.nodes[i];
		cr_assert(in_list(buf, n->id));
		snprintf(rel, sizeof(rel), "node/node%u/cpulist", n->id);
		char want[256];
		line_of(tree, rel, want, sizeof(want));
		_cleanup_free_ char *got = fmt(n->cpus);
		cr_assert_str_eq(got, want, "%s: node %u's CPUs", tree, n->id);
		unsigned long long total = 0, avail = 0;
		snprintf(rel, sizeof(rel), "%s/sys/devices/system/node/node%u/meminfo", tree, n->id);
		FILE *f = fopen(rel, "r");
		cr_assert_not_null(f, "%s", rel);
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			unsigned id;
			unsigned long long v;
			if (sscanf(line, "Node %u MemTotal: %llu kB", &id, &v) == 2)
				total = v * 1024;
			if (sscanf(line, "Node %u MemFree: %llu kB", &id, &v) == 2)
				avail = v * 1024;
		}
		fclose(f);
		cr_assert(n->memory_known);
		cr_assert_eq(n->memory_total, total, "%s: node %u MemTotal", tree, n->id);
		cr_assert_eq(n->memory_free, avail, "%s: node %u MemFree", tree, n->id);
		snprintf(rel, sizeof(rel), "node/node%u/distance", n->id);
		line_of(tree, rel, want, sizeof(want));
		char got_d[256] = "";
		for (size_t k = 0; k < n->n_distances; k++)
			snprintf(got_d + strlen(got_d), sizeof(got_d) - strlen(got_d), "%s%u", k ? " " : "",
				 n->distances[k]);
		cr_assert_str_eq(got_d, want, "%s: node %u's distances", tree, n->id);
		cr_assert_eq(n->n_distances, t.n_nodes, "one distance per online node");
	}
	/* CPUs: every present one */
	size_t want_cpus = 0;
	for (unsigned c = 0; c < 1024; c++)
		want_cpus += in_list(present, c);
	cr_assert_eq(t.n_cpus, want_cpus, "%s: CPUs", tree);
	int last_core = -1;
	for (size_t i = 0; i < t.n_cpus; i++) {
		const struct topo_cpu *c = &t.cpus[i];
		cr_assert(in_list(present, c->id));
		cr_assert_eq(c->online, in_list(online, c->id), "%s: cpu %u online", tree, c->id);
		line_of(tree, "cpu/isolated", buf, sizeof(buf));
		cr_assert_eq(c->isolated, in_list(buf, c->id));
		line_of(tree, "cpu/nohz_full", buf, sizeof(buf));
		cr_assert_eq(c->nohz_full, strcmp(buf, "(null)") != 0 && in_list(buf, c->id));
		/* its node: the node link in its directory */
		int link_node = -1;
		for (unsigned n = 0; n < 64 && link_node < 0; n++) {
			snprintf(rel, sizeof(rel), "cpu/cpu%u/node%u", c->id, n);
			if (exists(tree, rel))
				link_node = (int)n;
		}
		cr_assert_eq(c->node, link_node, "%s: cpu %u's node", tree, c->id);
		snprintf(rel, sizeof(rel), "cpu/cpu%u/topology/thread_siblings_list", c->id);
		char want[256];
		line_of(tree, rel, want, sizeof(want));
		_cleanup_free_ char *sib = fmt(c->siblings);
		cr_assert_str_eq(sib, *want ? want : "(none)", "%s: cpu %u's siblings", tree, c->id);
		snprintf(rel, sizeof(rel), "cpu/cpu%u/topology/physical_package_id", c->id);
		line_of(tree, rel, want, sizeof(want));
		cr_assert_eq(c->package, *want ? atoi(want) : -1);
		/* the L3: whichever index says level 3 and is not an instruction cache */
		char l3[256] = "(none)";
		for (int k = 0; k < 16; k++) {
			char level[16], type[32];
			snprintf(rel, sizeof(rel), "cpu/cpu%u/cache/index%d/level", c->id, k);
			line_of(tree, rel, level, sizeof(level));
			snprintf(rel, sizeof(rel), "cpu/cpu%u/cache/index%d/type", c->id, k);
			line_of(tree, rel, type, sizeof(type));
			if (strcmp(level, "3") == 0 && strcmp(type, "Instruction") != 0) {
				snprintf(rel, sizeof(rel), "cpu/cpu%u/cache/index%d/shared_cpu_list", c->id, k);
				line_of(tree, rel, l3, sizeof(l3));
			}
		}
		_cleanup_free_ char *got_l3 = fmt(c->l3);
		cr_assert_str_eq(got_l3, l3, "%s: cpu %u's L3", tree, c->id);
		/* cores: the same number exactly for the same siblings; numbered in order
		 * of each core's lowest CPU */
		cr_assert_eq(c->core < 0, c->siblings == NULL);
		for (size_t k = 0; k < i; k++)
			if (c->siblings && t.cpus[k].siblings)
				cr_assert_eq(c->core == t.cpus[k].core, idset_equal(c->siblings, t.cpus[k].siblings),
					     "%s: cpus %u and %u", tree, c->id, t.cpus[k].id);
		if (c->core > last_core) {
			cr_assert_eq(c->core, last_core + 1, "cores are numbered without gaps");
			last_core = c->core;
		}
	}
	topology_done(&t);
}

Test(topology, captured_host)
{
	check_tree(HOST);
}

Test(topology, captured_guest)
{
	check_tree(GUEST);
	struct topology t;
	read_tree(GUEST, &t, NULL);
	cr_assert_eq(t.n_nodes, 2, "the guest has two nodes");
	cr_assert_eq(idset_count(t.nohz_full), 0, "\"(null)\" is no CPU");
	cr_assert_not_null(t.cpus[0].l3, "the guest's CPUs show an L3");
	topology_done(&t);
}

/* What the made-up host is for (make-topology-synth.sh says why each is there). */
Test(topology, synthetic_traps)
{
	check_tree(SYNTH);
	struct topology t;
	read_tree(SYNTH, &t, NULL);
	const struct topo_cpu *off = topology_cpu(&t, 7), *three = topology_cpu(&t, 3);
	cr_assert_not_null(off);
	cr_assert(!off->online);
	cr_assert_eq(off->core, -1);
	cr_assert_null(off->siblings);
	cr_assert_null(off->l3);
	cr_assert_eq(off->node, 1, "an offline CPU's node comes from its link");
	cr_assert_eq(idset_count(three->siblings), 1, "its sibling is offline");
	cr_assert_not_null(three->l3, "an L3 at index2 is found");
	cr_assert_eq(topology_cpu(&t, 0)->core, topology_cpu(&t, 4)->core, "SMT siblings share a core");
	cr_assert_neq(topology_cpu(&t, 0)->core, topology_cpu(&t, 1)->core);
	cr_assert_eq(t.n_nodes, 3);
	cr_assert_eq(idset_count(t.nodes[2].cpus), 0, "a node with memory and no CPU");
	cr_assert(topology_cpu(&t, 6)->isolated && topology_cpu(&t, 6)->nohz_full);
	cr_assert(topology_cpu(&t, 5)->isolated && !topology_cpu(&t, 5)->nohz_full);
	cr_assert_null(topology_cpu(&t, 8));
	topology_done(&t);
}

Test(topology, parsers)
{
	uint64_t total, avail;
	cr_assert_eq(topology_parse_meminfo("Node 1 MemTotal:       16513780 kB\nNode 1 MemFree:        15999872 kB\n",
					    &total, &avail),
		     0);
	cr_assert_eq(total, 16513780ull * 1024);
	cr_assert_eq(avail, 15999872ull * 1024);
	cr_assert_eq(topology_parse_meminfo("Node 1 MemTotal: 5 kB\n", &total, &avail), -EINVAL, "no MemFree");
	cr_assert_eq(topology_parse_meminfo("Node 1 MemTotal: x kB\nNode 1 MemFree: 1 kB\n", &total, &avail), -EINVAL);
	cr_assert_eq(topology_parse_meminfo("Node 1 MemTotal: 99999999999999999999 kB\nNode 1 MemFree: 1 kB\n", &total,
					    &avail),
		     -EINVAL, "overflow");
	unsigned *d = NULL;
	size_t n = 0;
	cr_assert_eq(topology_parse_distances("10 21 17\n", &d, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(d[1], 21);
	free(d);
	d = NULL;
	cr_assert_eq(topology_parse_distances("10 2x\n", &d, &n), -EINVAL);
	cr_assert_eq(topology_parse_distances("-1\n", &d, &n), -EINVAL);
	cr_assert_eq(topology_parse_distances("\n", &d, &n), 0);
	cr_assert_eq(n, 0);
	free(d);
	struct idset *s = NULL;
	cr_assert_eq(topology_parse_cpulist("(null)\n", &s), 0);
	cr_assert_eq(idset_count(s), 0);
	idset_free(s);
	cr_assert_eq(topology_parse_cpulist("0-2,5\n", &s), 0);
	cr_assert_eq(idset_count(s), 4);
	idset_free(s);
	cr_assert_eq(topology_parse_cpulist("(null) 3\n", &s), -EINVAL);
}

Test(topology, no_numa_and_no_sysfs)
{
	/* a kernel without NUMA: no devices/system/node; one node with every CPU */
	char dir[256];
	scratch_make(dir, sizeof(dir), "topology-nonuma");
	char path[1024];
	snprintf(path, sizeof(path), "mkdir -p %s/sys/devices/system/cpu/cpu0 && echo 0 >%s/sys/devices/system/cpu/online",
		 dir, dir);
	cr_assert_eq(system(path), 0);
	struct topology t;
	read_tree(dir, &t, NULL);
	cr_assert_eq(t.n_nodes, 1);
	cr_assert(!t.nodes[0].memory_known);
	cr_assert_eq(idset_count(t.nodes[0].cpus), 1);
	cr_assert_eq(t.cpus[0].node, 0);
	cr_assert_null(t.cpus[0].siblings, "no topology files: not known");
	topology_done(&t);
	snprintf(path, sizeof(path), "%s/sys", dir);
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "rm -rf %s/sys/devices/system/cpu/online", dir);
	cr_assert_eq(system(path), 0);
	cr_assert_eq(topology_read(fd, &t), -ENOENT, "no online list: no topology");
	close(fd);
	scratch_remove(dir);
}

/* ---- the model, with a VM discovered on a captured /proc tree ---- */

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;
	cr_assert(json_object_object_get_ex(o, key, &v), "key '%s'", key);
	return v;
}

static json_object *entry_of(json_object *cpu, pid_t pid)
{
	json_object *vms = jget(cpu, "vms");
	for (size_t i = 0; i < json_object_array_length(vms); i++)
		if (json_object_get_int(jget(json_object_array_get_idx(vms, i), "pid")) == pid)
			return json_object_array_get_idx(vms, i);
	return NULL;
}

static bool has_int(json_object *a, int v)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (json_object_get_int(json_object_array_get_idx(a, i)) == v)
			return true;
	return false;
}

Test(topology, model_places_threads_and_pins)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc", NAMES);
	int proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	struct discover_opts o;
	discover_opts_init(&o, proc_fd);
	o.no_qmp = true;
	o.self = 0;
	o.kvm_fd_rounds = 1;
	struct vm **vms = NULL;
	size_t n = 0;
	cr_assert_eq(vm_list_all(&o, &vms, &n), 0);
	cr_assert_eq(n, 1);
	struct topology t;
	read_tree(HOST, &t, NULL);
	/* kvmcg's record pins vCPU 0 on CPU 1, the emulator on CPU 0 */
	struct idset *one = idset_new(), *zero = idset_new();
	idset_set(one, 1);
	idset_set(zero, 0);
	struct idset *vcpu_pins[1] = {one};
	struct vm_tune tune = {.vcpu = vcpu_pins, .n_vcpu = 1, .emulator = zero};
	struct vm_memory_node mn[1] = {{.guest_ram = 4096, .other = 8192, .file = 1}};
	struct vm_memory mem = {.nodes = mn, .n_nodes = 1};
	struct topology_vm tv = {.vm = vms[0], .pins = &tune, .memory = &mem};
	json_object *doc = topology_json(&t, &tv, 1, true);
	cr_assert_not_null(doc);
	json_object *cpus = jget(doc, "cpus");
	cr_assert_eq(json_object_array_length(cpus), t.n_cpus);
	for (size_t i = 0; i < t.n_cpus; i++) {
		json_object *c = json_object_array_get_idx(cpus, i), *e = entry_of(c, vms[0]->pid);
		unsigned cpu = (unsigned)json_object_get_int(jget(c, "cpu"));
		cr_assert_not_null(e, "an unpinned emulator may run on every CPU");
		/* vCPUs: exactly those whose thread's affinity, read from its status by
		 * discovery, has the CPU */
		json_object *vc = jget(e, "vcpus");
		for (size_t k = 0; k < vms[0]->n_threads; k++) {
			const struct vm_thread *th = &vms[0]->threads[k];
			if (th->kind == THREAD_VCPU)
				cr_assert_eq(has_int(vc, th->vcpu_index), idset_isset(th->affinity, cpu), "cpu %u vcpu %d",
					     cpu, th->vcpu_index);
		}
		cr_assert(json_object_get_boolean(jget(e, "emulator")));
		json_object *k = jget(e, "kvmcg");
		cr_assert_not_null(k, "the record pins something on every CPU here");
		cr_assert_eq(has_int(jget(k, "vcpus"), 0), cpu == 1);
		cr_assert_eq(json_object_get_boolean(jget(k, "emulator")), cpu == 0);
	}
	/* The text: the fixture pins "CPU N/KVM" to CPU N (README.md), the rest may run
	 * anywhere. CPU 0 runs vCPU 0; CPU 1 runs vCPU 1 and is where the record wants
	 * vCPU 0 ("!": its thread may not run there); the emulator and the iothread are
	 * on every CPU, named once below, the emulator with the record's "*". */
	for (size_t k = 0; k < vms[0]->n_threads; k++) {
		const struct vm_thread *th = &vms[0]->threads[k];
		if (th->kind == THREAD_VCPU)
			cr_assert(idset_count(th->affinity) == 1 && idset_isset(th->affinity, (unsigned)th->vcpu_index));
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_eq(topology_print_text(f, doc, &(struct table_opts){0}), 0);
	fclose(f);
	char want[256];
	snprintf(want, sizeof(want), " %s[v0]\n", vms[0]->name);
	cr_assert_not_null(strstr(text, want), "CPU 0's line ends '%s' in:\n%s", want, text);
	snprintf(want, sizeof(want), " %s[v1,v0!]\n", vms[0]->name);
	cr_assert_not_null(strstr(text, want), "CPU 1's line ends '%s' in:\n%s", want, text);
	snprintf(want, sizeof(want), "\nOn every online CPU: %s[e*,i:io1]\n", vms[0]->name);
	cr_assert_not_null(strstr(text, want), "'%s' in:\n%s", want, text);
	cr_assert_not_null(strstr(text, "\nNODE PKG L3 CORE CPUS STATE VMS\n"), "%s", text);
	free(text);
	json_object *node = json_object_array_get_idx(jget(doc, "nodes"), 0);
	json_object *mv = json_object_array_get_idx(jget(node, "vms"), 0);
	cr_assert_eq(json_object_get_uint64(jget(mv, "resident_bytes")), 4096 + 8192 + 1);
	cr_assert_eq(json_object_get_uint64(jget(mv, "guest_ram_bytes")), 4096);
	json_object_put(doc);
	/* without memory: null, not an empty list */
	tv.pins = NULL;
	doc = topology_json(&t, &tv, 1, false);
	cr_assert_null(jget(json_object_array_get_idx(jget(doc, "nodes"), 0), "vms"));
	cr_assert_null(jget(entry_of(json_object_array_get_idx(jget(doc, "cpus"), 0), vms[0]->pid), "kvmcg"));
	json_object_put(doc);
	idset_free(one);
	idset_free(zero);
	topology_done(&t);
	vm_list_free(vms, n);
	close(proc_fd);
}

/* ---- the command line on a tree made of both ---- */

Test(topology, command_line, .timeout = 30)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	/* a root whose proc is the captured QEMU's and whose sys is the synthetic host */
	char dir[256], cmd[4096];
	scratch_make(dir, sizeof(dir), "topology-cli");
	snprintf(cmd, sizeof(cmd), "ln -s %s/proc %s/proc && ln -s %s/sys %s/sys", NAMES, dir, SYNTH, dir);
	cr_assert_eq(system(cmd), 0);
	int st;
	snprintf(cmd, sizeof(cmd), "'%s' topology --sysroot %s --json", kvmcg, dir);
	_cleanup_free_ char *json = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "%s", cmd);
	json_object *doc = json_tokener_parse(json);
	cr_assert_not_null(doc, "%s", json);
	cr_assert_eq(json_object_array_length(jget(doc, "nodes")), 3);
	cr_assert_null(jget(json_object_array_get_idx(jget(doc, "nodes"), 0), "vms"), "no memory maps in a tree");
	json_object_put(doc);
	snprintf(cmd, sizeof(cmd), "'%s' topology --sysroot %s -J", kvmcg, dir);
	_cleanup_free_ char *j = run_capture(cmd, &st);
	cr_assert_str_eq(j, json, "-J is --json");
	/* text: a line per core, offline CPU 7 on its own, the VM's vCPUs by name */
	snprintf(cmd, sizeof(cmd), "'%s' topology --sysroot %s", kvmcg, dir);
	_cleanup_free_ char *text = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	cr_assert_not_null(strstr(text, "offline"), "%s", text);
	cr_assert_not_null(strstr(text, "6: isolcpus,nohz_full"), "%s", text);
	cr_assert_not_null(strstr(text, "fixture-names["), "%s", text);
	snprintf(cmd, sizeof(cmd), "'%s' topology --sysroot %s -rn -o CPUS", kvmcg, dir);
	_cleanup_free_ char *raw = run_capture(cmd, &st);
	cr_assert_str_eq(raw, "0,4\n1,5\n2,6\n3\n7\n", "one line per core");
	snprintf(cmd, sizeof(cmd), "'%s' topology --sysroot %s --bogus 2>&1", kvmcg, dir);
	_cleanup_free_ char *bad = run_capture(cmd, &st);
	cr_assert_eq(st, 2);
	cr_assert_not_null(strstr(bad, "kvmcg: topology: unknown option '--bogus'"), "%s", bad);
	scratch_remove(dir);
}
