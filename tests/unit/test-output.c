// SPDX-License-Identifier: GPL-2.0-or-later
/* output: the JSON model of a VM discovered on a captured tree, the text renderers,
 * and the command line on the same tree. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "vmm/discover.h"
#include "kernel/host.h"
#include "cli/output.h"
#include "basic/util.h"
#include "cli-run.h"

#define NAMES FIXTURES "/qemu-names"
#define TCG FIXTURES "/qemu-tcg"
#define MIXED FIXTURES "/mixed"
#define IMPERSONATORS FIXTURES "/impersonators"

static int proc_fd = -1, sys_fd = -1;
static struct host host;
static struct vm *vm;
static json_object *model;

static void cleanup(void)
{
	json_object_put(model);
	model = NULL;
	vm_free(vm);
	vm = NULL;
	host_done(&host);
	if (proc_fd >= 0)
		close(proc_fd);
	if (sys_fd >= 0)
		close(sys_fd);
	proc_fd = sys_fd = -1;
}

/* The only non-kernel-thread pid of a tree whose exe matches, read by hand. */
static pid_t pid_with_exe(const char *tree, const char *exe_part)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc", tree);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	pid_t found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char link[1024], target[512];
		snprintf(link, sizeof(link), "%s/%s/exe", path, de->d_name);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (strstr(target, exe_part)) {
			cr_assert_eq(found, 0);
			found = atoi(de->d_name);
		}
	}
	closedir(d);
	cr_assert_gt(found, 0, "no process of %s runs %s", tree, exe_part);
	return found;
}

static void discover(const char *tree, const char *exe_part)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc", tree);
	proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	snprintf(path, sizeof(path), "%s/sys", tree);
	sys_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(sys_fd, 0);
	cr_assert_eq(host_read(sys_fd, &host), 0);
	struct discover_opts o;
	discover_opts_init(&o, proc_fd);
	o.no_qmp = true;
	o.kvm_fd_rounds = 1;
	cr_assert_eq(vm_identify(&o, pid_with_exe(tree, exe_part), &vm), 1);
	cr_assert_eq(vm_discover_threads(&o, vm), 0);
	model = vm_to_json(vm, &host);
	cr_assert_not_null(model);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	cr_assert(json_object_object_get_ex(o, key, &v), "key '%s' is present", key);
	return v;
}

static bool has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static void check_str(json_object *o, const char *key, const char *want)
{
	json_object *v = get(o, key);
	if (!want) {
		cr_assert_null(v, "'%s' is null", key);
		return;
	}
	cr_assert(json_object_is_type(v, json_type_string), "'%s' is a string", key);
	cr_assert_str_eq(json_object_get_string(v), want, "'%s'", key);
}

static void check_int(json_object *o, const char *key, int64_t want)
{
	json_object *v = get(o, key);
	cr_assert(json_object_is_type(v, json_type_int), "'%s' is an integer", key);
	cr_assert_eq(json_object_get_int64(v), want, "'%s'", key);
}

TestSuite(output_vm, .fini = cleanup);

Test(output_vm, required_keys_and_values)
{
	discover(NAMES, "qemu-system-");
	check_int(model, "pid", vm->pid);
	check_str(model, "name", vm->name);
	cr_assert_not_null(vm->name);
	check_str(model, "discovery", "names");
	check_str(model, "comm", vm->comm);
	check_str(model, "exe", vm->exe);
	check_str(model, "hypervisor", "qemu");
	check_str(model, "accel", "kvm");
	check_int(model, "start_time", (int64_t)vm->starttime_ticks);
	check_int(model, "vcpus", vm->n_vcpus_expected);
	check_int(model, "thread_count", (int64_t)vm->n_threads);
	check_str(model, "qmp_socket", NULL);
	check_str(model, "qmp_error", NULL);
	cr_assert_eq(json_object_array_length(get(model, "vcpus_unidentified")), 0);
	cr_assert_eq(json_object_array_length(get(model, "iothreads_unidentified")), 0);

	json_object *threads = get(model, "threads");
	cr_assert(json_object_is_type(threads, json_type_array));
	cr_assert_eq(json_object_array_length(threads), vm->n_threads);
	size_t iothreads = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		json_object *j = json_object_array_get_idx(threads, i);
		check_int(j, "tid", t->tid);
		check_str(j, "kind", thread_kind_name(t->kind));
		check_str(j, "comm", t->stat.comm);
		check_int(j, "cpu", t->stat.processor);
		_cleanup_free_ char *aff = idset_format(t->affinity);
		check_str(j, "affinity", aff);
		check_str(j, "cgroup", t->cgroup);
		cr_assert_not_null(t->cgroup);
		char state[2] = {t->stat.state, '\0'};
		check_str(j, "state", state);
		check_str(j, "sched", "other");
		check_int(j, "cpu_time_ns",
			  (int64_t)((t->stat.utime_ticks + t->stat.stime_ticks) *
				    (1000000000u / host.clock_ticks)));
		if (t->kind == THREAD_VCPU)
			check_int(j, "index", t->vcpu_index);
		else
			cr_assert_not(has(j, "index"), "only vCPUs have an index (tid %d)", (int)t->tid);
		if (t->kind == THREAD_IOTHREAD) {
			check_str(j, "id", t->iothread_id);
			iothreads++;
		} else {
			cr_assert_not(has(j, "id"), "only iothreads have an id (tid %d)", (int)t->tid);
		}
		/* the map covers the host's online CPUs */
		unsigned width = (unsigned)idset_last(host.online_cpus) + 1;
		char map[64] = "";
		for (unsigned b = 0; b < width && b < sizeof(map) - 1; b++)
			map[b] = idset_isset(t->affinity, b) ? 'y' : '-';
		check_str(j, "affinity_map", map);
	}
	check_int(model, "iothreads", (int64_t)iothreads);
	cr_assert_eq(iothreads, 1);
}

Test(output_vm, main_thread_cgroup_and_pinning)
{
	discover(NAMES, "qemu-system-");
	const struct vm_thread *main_thread = NULL;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == vm->pid)
			main_thread = &vm->threads[i];
	cr_assert_not_null(main_thread);
	check_str(model, "cgroup", main_thread->cgroup);
	check_str(model, "cgroup_hierarchy", main_thread->cgroup_v1 ? "v1" : "v2");

	/* each vCPU of this capture was pinned to one CPU of a larger online set */
	size_t vcpus = 0;
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].kind == THREAD_VCPU) {
			cr_assert_lt(idset_count(vm->threads[i].affinity), idset_count(host.online_cpus));
			vcpus++;
		}
	cr_assert_gt(vcpus, 0);
	check_str(model, "pinned", "yes");
	cr_assert_str_eq(vm_pinned_state(vm, &host), "yes");

	json_object *h = host_to_json(&host);
	char online[64];
	FILE *f = fopen(NAMES "/sys/devices/system/cpu/online", "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(online, sizeof(online), f));
	fclose(f);
	online[strcspn(online, "\n")] = '\0';
	check_str(h, "online_cpus", online);
	json_object_put(h);
}

Test(output_vm, unidentified_vcpus_and_tcg)
{
	discover(TCG, "qemu-system-");
	check_str(model, "discovery", "none");
	check_str(model, "accel", "tcg");
	check_str(model, "name", NULL);
	check_str(model, "pinned", "unknown");
	json_object *uv = get(model, "vcpus_unidentified");
	cr_assert_eq(json_object_array_length(uv), vm->n_unidentified_vcpus);
	cr_assert_gt(vm->n_unidentified_vcpus, 0);
	for (size_t i = 0; i < vm->n_unidentified_vcpus; i++)
		cr_assert_eq(json_object_get_int(json_object_array_get_idx(uv, i)),
			     vm->unidentified_vcpus[i]);
}

Test(output_vm, other_vmm)
{
	discover(MIXED, "firecracker");
	check_str(model, "hypervisor", vm->comm);
	check_str(model, "accel", "kvm");
	check_str(model, "name", NULL);
	check_str(model, "pinned", "no");
}

/* ---- pinned state on hand-built VMs ------------------------------------------------------- */

static struct idset *cs(const char *list)
{
	struct idset *s = NULL;
	cr_assert_eq(idset_parse(list, &s, NULL), 0);
	return s;
}

/* Whether a captured process holds a kvm-vm fd, read by hand. */
static bool tree_has_kvm_vm(const char *tree, pid_t pid)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc/%d/fd", tree, (int)pid);
	DIR *d = opendir(path);
	bool found = false;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char link[1024], target[256];
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l > 0 && (target[l] = '\0', strcmp(target, "anon_inode:kvm-vm") == 0))
			found = true;
	}
	if (d)
		closedir(d);
	return found;
}

static void check_evidence(json_object *o, bool exe, bool kvm_fd)
{
	json_object *ev = get(o, "evidence");
	cr_assert(json_object_is_type(ev, json_type_array));
	cr_assert_eq(json_object_array_length(ev), (size_t)exe + kvm_fd);
	size_t i = 0;
	if (exe)
		cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(ev, i++)), "exe");
	if (kvm_fd)
		cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(ev, i)), "kvm-fd");
}

Test(output_vm, evidence_exe_path_and_owner)
{
	discover(NAMES, "qemu-system-");
	char link[512], target[512];
	snprintf(link, sizeof(link), "%s/proc/%d/exe", NAMES, (int)vm->pid);
	ssize_t l = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(l, 0);
	target[l] = '\0';
	check_str(model, "exe_path", target);
	check_evidence(model, true, tree_has_kvm_vm(NAMES, vm->pid));
	json_object *owner = get(model, "owner");
	cr_assert(json_object_is_type(owner, json_type_object));
	check_int(owner, "uid", 0); /* the capture's status: Uid: 0 0 0 0 */
	check_str(owner, "user", NULL); /* a captured tree's uids are not this host's */

	/* a hand-made VM: the user's name, both kinds of evidence, no exe */
	struct host h = {.online_cpus = cs("0-1"), .clock_ticks = 100};
	struct vm v = {.pid = 10, .evidence = VM_EVIDENCE_EXE | VM_EVIDENCE_KVM_FD, .owner_known = true,
		       .owner_uid = 65534, .owner_user = (char *)"nobody"};
	json_object *j = vm_to_json(&v, &h);
	check_evidence(j, true, true);
	check_int(get(j, "owner"), "uid", 65534);
	check_str(get(j, "owner"), "user", "nobody");
	check_str(j, "exe_path", NULL);
	json_object_put(j);
	v.owner_known = false;
	v.evidence = VM_EVIDENCE_KVM_FD;
	j = vm_to_json(&v, &h);
	check_evidence(j, false, true);
	cr_assert(has(j, "owner"));
	cr_assert_null(get(j, "owner"), "unknown owner: null");
	json_object_put(j);
	idset_free(h.online_cpus);
}

Test(output_pinned, states)
{
	struct host h = {.online_cpus = cs("0-3"), .clock_ticks = 100};
	struct vm_thread threads[3] = {
		{.tid = 10, .kind = THREAD_EMULATOR, .affinity = cs("0")},
		{.tid = 11, .kind = THREAD_VCPU, .vcpu_index = 0, .affinity = cs("1")},
		{.tid = 12, .kind = THREAD_VCPU, .vcpu_index = 1, .affinity = cs("0-3")},
	};
	struct vm v = {.pid = 10, .threads = threads, .n_threads = 3};
	cr_assert_str_eq(vm_pinned_state(&v, &h), "partial");
	v.n_threads = 2;
	cr_assert_str_eq(vm_pinned_state(&v, &h), "yes");
	threads[1].kind = THREAD_UNKNOWN;
	cr_assert_str_eq(vm_pinned_state(&v, &h), "unknown", "no vCPU identified");
	v.n_threads = 3;
	cr_assert_str_eq(vm_pinned_state(&v, &h), "no");
	/* wider than the online CPUs is not pinned either */
	idset_free(threads[2].affinity);
	threads[2].affinity = cs("0-7");
	cr_assert_str_eq(vm_pinned_state(&v, &h), "no");
	for (size_t i = 0; i < 3; i++)
		idset_free(threads[i].affinity);
	idset_free(h.online_cpus);
}

Test(output_pinned, thread_json_sched_and_time)
{
	struct host h = {.online_cpus = cs("0-3"), .clock_ticks = 100};
	struct vm_thread t = {.tid = 11, .kind = THREAD_VCPU, .vcpu_index = 2, .affinity = cs("2,5")};
	snprintf(t.stat.comm, sizeof(t.stat.comm), "CPU 2/KVM");
	t.stat.state = 'R';
	t.stat.utime_ticks = 150;
	t.stat.stime_ticks = 50;
	t.stat.policy = 1; /* SCHED_FIFO */
	t.stat.rt_priority = 10;
	t.stat.processor = 2;
	struct vm v = {.pid = 10, .threads = &t, .n_threads = 1, .is_qemu = true};
	json_object *j = vm_to_json(&v, &h);
	json_object *th = json_object_array_get_idx(get(j, "threads"), 0);
	check_str(th, "sched", "fifo:10");
	check_int(th, "cpu_time_ns", (150 + 50) * (1000000000 / 100));
	check_int(th, "index", 2);
	check_str(th, "affinity", "2,5");
	check_str(th, "affinity_map", "--y--y"); /* widened to the affinity's last CPU */
	check_str(th, "cgroup", NULL);
	check_str(j, "cgroup", NULL);
	check_str(j, "cgroup_hierarchy", NULL);
	check_str(j, "accel", "tcg"); /* QEMU without a KVM fd nor -accel */
	check_str(j, "name", NULL);
	json_object_put(j);

	t.stat.policy = 5;
	t.stat.rt_priority = 0;
	j = vm_to_json(&v, &h);
	check_str(json_object_array_get_idx(get(j, "threads"), 0), "sched", "idle");
	json_object_put(j);
	t.stat.policy = 42;
	j = vm_to_json(&v, &h);
	check_str(json_object_array_get_idx(get(j, "threads"), 0), "sched", "unknown");
	json_object_put(j);
	idset_free(t.affinity);
	idset_free(h.online_cpus);
}

/* ---- text renderers ----------------------------------------------------------------------- */

static char *capture_table_opts(const struct column *cols, size_t n, json_object *rows,
				const struct table_opts *opts)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert_eq(print_table(f, cols, n, rows, opts), 0);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static char *capture_table(const struct column *cols, size_t n, json_object *rows)
{
	return capture_table_opts(cols, n, rows, NULL);
}

/* No byte a terminal acts on: C0 controls but the line ends, DEL, and UTF-8 C1
 * controls (U+0080..U+009F, which some terminals take as ESC [). */
static void assert_no_control_bytes(const char *out)
{
	for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
		cr_assert(*p == '\n' || (*p >= 0x20 && *p != 0x7f),
			  "no raw control byte reaches the terminal (0x%02x)", *p);
		cr_assert(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f), "no C1 control reaches the terminal");
	}
}

Test(output_text, table_aligns_and_escapes)
{
	json_object *rows = json_tokener_parse(
		"[{\"kind\": \"vcpu\", \"index\": 0, \"comm\": \"CPU 0/KVM\", \"t\": 1500000000},"
		" {\"kind\": \"iothread\", \"id\": \"io1\", \"comm\": \"IO io1\", \"t\": 0},"
		" {\"kind\": \"emulator\", \"comm\": \"evil\\u001b[2Jname\\n\", \"t\": null},"
		" {\"kind\": \"unknown\", \"comm\": \"del\\u007f\"}]");
	cr_assert_not_null(rows);
	static const struct column cols[] = {
		{.name = "KIND", .keys = "kind"},
		{.name = "ID", .keys = "index|id"},
		{.name = "NAME", .keys = "comm"},
		{.name = "TIME", .keys = "t", .format = COL_NS_AS_SECONDS},
	};
	_cleanup_free_ char *out = capture_table(cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);

	/* cells as they must print: control bytes as \xNN, missing and null as "-" */
	static const char *const cells[5][4] = {
		{"KIND", "ID", "NAME", "TIME"},
		{"vcpu", "0", "CPU 0/KVM", "1.5s"},
		{"iothread", "io1", "IO io1", "0.0s"},
		{"emulator", "-", "evil\\x1b[2Jname\\x0a", "-"},
		{"unknown", "-", "del\\x7f", "-"},
	};
	size_t width[4] = {0};
	for (size_t r = 0; r < 5; r++)
		for (size_t c = 0; c < 4; c++)
			if (strlen(cells[r][c]) > width[c])
				width[c] = strlen(cells[r][c]);
	char expected[1024] = "";
	for (size_t r = 0; r < 5; r++) {
		char line[256];
		snprintf(line, sizeof(line), "%-*s %-*s %-*s %s\n", (int)width[0], cells[r][0],
			 (int)width[1], cells[r][1], (int)width[2], cells[r][2], cells[r][3]);
		strcat(expected, line);
	}
	cr_assert_str_eq(out, expected);

	assert_no_control_bytes(out);
	/* every line has the second column at the same offset */
	size_t col2 = width[0] + 1;
	for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
		cr_assert_neq(line[col2], ' ');
		cr_assert_eq(line[col2 - 1], ' ');
	}
}

Test(output_text, table_value_types)
{
	json_object *rows = json_tokener_parse(
		"[{\"a\": true, \"b\": [0, 1, 2], \"c\": 3.5, \"o\": {\"u\": 7}},"
		" {\"a\": false, \"b\": [], \"c\": \"x\", \"o\": {\"u\": null, \"n\": \"z\"}}]");
	static const struct column cols[] = {
		{.name = "A", .keys = "a"},
		{.name = "B", .keys = "b"},
		{.name = "C", .keys = "missing|c"},
		{.name = "NESTED", .keys = "o.u|o.n"},
	};
	_cleanup_free_ char *out = capture_table(cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);
	cr_assert_str_eq(out, "A   B     C   NESTED\n"
			      "yes 0,1,2 3.5 7\n"
			      "no  -     x   z\n");
}

/* A list's items are names the VM's owner chose (-object iothread,id=...): escaped
 * like any other string. */
Test(output_text, array_items_are_escaped)
{
	json_object *row = json_object_new_object();
	json_object *ids = json_object_new_array();
	json_object_array_add(ids, json_object_new_string("io\x1b[2J"));
	json_object_array_add(ids, json_object_new_string("ok"));
	json_object_object_add(row, "ids", ids);
	json_object *rows = json_object_new_array();
	json_object_array_add(rows, row);
	static const struct column cols[] = {{.name = "IDS", .keys = "ids"}};
	_cleanup_free_ char *out = capture_table(cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);
	cr_assert_str_eq(out, "IDS\nio\\x1b[2J,ok\n");
}

/* As libsmartcols does: an empty table prints nothing (list says "No VMs found."). */
Test(output_text, empty_table_prints_nothing)
{
	json_object *rows = json_object_new_array();
	static const struct column cols[] = {{.name = "PID", .keys = "pid"}, {.name = "NAME", .keys = "name"}};
	_cleanup_free_ char *out = capture_table(cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);
	cr_assert_str_eq(out, "");
}

/* ---- column selection (-o) ---------------------------------------------------------------- */

static const struct column sel_cols[] = {
	{.name = "PID", .keys = "pid", .help = "the process id"},
	{.name = "NAME", .keys = "name", .help = "the VM's name"},
	{.name = "VCPUS", .keys = "vcpus", .flags = SCOLS_FL_RIGHT, .help = "vCPUs"},
	{.name = "KVMCG-CGROUP", .keys = "kvmcg.cgroup", .help = "kvmcg's cgroup"},
};
#define SEL_DEFAULTS "PID,NAME"

static void check_selection(const char *list, const size_t *want, size_t n_want)
{
	size_t *ids = NULL, n = 99;
	char *why = NULL;
	int r = columns_parse(sel_cols, ARRAY_SIZE(sel_cols), SEL_DEFAULTS, list, &ids, &n, &why);
	cr_assert_eq(r, 0, "'%s': %s", list ? list : "(null)", why ? why : "");
	cr_assert_null(why);
	cr_assert_eq(n, n_want, "'%s' selects %zu columns, not %zu", list ? list : "(null)", n, n_want);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ids[i], want[i], "'%s': column %zu", list ? list : "(null)", i);
	free(ids);
}

static void check_bad_selection(const char *list, const char *want_why)
{
	size_t *ids = NULL, n = 0;
	char *why = NULL;
	int r = columns_parse(sel_cols, ARRAY_SIZE(sel_cols), SEL_DEFAULTS, list, &ids, &n, &why);
	cr_assert_eq(r, -EINVAL, "'%s' is refused", list);
	cr_assert_null(ids);
	cr_assert_not_null(why);
	cr_assert(strstr(why, want_why), "'%s': '%s' says '%s'", list, why, want_why);
	free(why);
}

Test(output_columns, defaults_replace_and_add)
{
	check_selection(NULL, (size_t[]){0, 1}, 2);
	check_selection("NAME,PID", (size_t[]){1, 0}, 2);
	check_selection("vcpus", (size_t[]){2}, 1);
	check_selection("kvmcg-Cgroup,Pid", (size_t[]){3, 0}, 2);
	check_selection("+VCPUS", (size_t[]){0, 1, 2}, 3);
	check_selection("+VCPUS,KVMCG-CGROUP", (size_t[]){0, 1, 2, 3}, 4);
	check_selection("PID,PID", (size_t[]){0, 0}, 2);
}

Test(output_columns, unknown_and_malformed_lists)
{
	check_bad_selection("PID,FOO", "unknown column 'FOO' (valid: PID, NAME, VCPUS, KVMCG-CGROUP)");
	check_bad_selection("+FOO", "unknown column 'FOO'");
	check_bad_selection("PI", "unknown column 'PI'");
	check_bad_selection("PID ", "unknown column 'PID '");
	check_bad_selection("", "no column given");
	check_bad_selection("+", "no column given");
	check_bad_selection(",", "a column name is empty");
	check_bad_selection("PID,", "a column name is empty");
	check_bad_selection(",PID", "a column name is empty");
	check_bad_selection("PID,,NAME", "a column name is empty");
	check_bad_selection("++PID", "unknown column '+PID'");
}

Test(output_columns, help_lists_every_column)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	columns_help(f, sel_cols, ARRAY_SIZE(sel_cols), SEL_DEFAULTS);
	fclose(f);
	cr_assert_str_eq(buf, "\nAvailable output columns:\n"
			      "          PID  the process id\n"
			      "         NAME  the VM's name\n"
			      "        VCPUS  vCPUs\n"
			      " KVMCG-CGROUP  kvmcg's cgroup\n"
			      "Default: PID,NAME\n");
	free(buf);
}

/* ---- the rendered table: display width, -o, -n, -r ---------------------------------------- */

static json_object *utf8_rows(void)
{
	json_object *rows = json_tokener_parse(
		"[{\"pid\": 1, \"name\": \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-vm\", \"vcpus\": 2},"
		" {\"pid\": 22, \"name\": \"\xc3\xbc\", \"vcpus\": 16},"
		" {\"pid\": 333, \"name\": \"plain-name\", \"vcpus\": 128,"
		"  \"kvmcg\": {\"cgroup\": \"/kvmcg/plain-name\"}}]");
	cr_assert_not_null(rows);
	return rows;
}

static char *render(const char *list, bool noheadings, bool raw)
{
	struct table_opts o = {.noheadings = noheadings, .raw = raw};
	char *why = NULL;
	cr_assert_eq(columns_parse(sel_cols, ARRAY_SIZE(sel_cols), SEL_DEFAULTS, list, &o.ids, &o.n_ids, &why), 0);
	json_object *rows = utf8_rows();
	char *out = capture_table_opts(sel_cols, ARRAY_SIZE(sel_cols), rows, &o);
	json_object_put(rows);
	free(o.ids);
	return out;
}

/* The environment the table's locale comes from (the test runs in its own process). */
static void locale_env(const char *lc_all, const char *lang)
{
	unsetenv("LC_CTYPE");
	if (lc_all)
		setenv("LC_ALL", lc_all, 1);
	else
		unsetenv("LC_ALL");
	if (lang)
		setenv("LANG", lang, 1);
	else
		unsetenv("LANG");
}

/* Columns line up by the width a terminal gives the characters: 日本語 takes six
 * cells, ü one. */
Test(output_table, utf8_names_align_by_display_width)
{
	locale_env("C.UTF-8", NULL);
	_cleanup_free_ char *out = render("NAME,VCPUS,PID", false, false);
	cr_assert_str_eq(out, "NAME       VCPUS PID\n"
			      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-vm      2 1\n"
			      "\xc3\xbc             16 22\n"
			      "plain-name   128 333\n");
	/* the same, measured: the last column starts at one display column */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	cr_assert_not_null(utf8);
	locale_t old = uselocale(utf8);
	int at = -1;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *last = strrchr(line, ' ');
		cr_assert_not_null(last);
		wchar_t w[128];
		size_t n = mbstowcs(w, line, ARRAY_SIZE(w));
		cr_assert_neq(n, (size_t)-1);
		size_t nlast = mbstowcs(NULL, last, 0);
		int col = wcswidth(w, n - nlast);
		if (at < 0)
			at = col;
		cr_assert_eq(col, at, "'%s' has its last column at %d, not %d", line, col, at);
	}
	uselocale(old);
	freelocale(utf8);
}

/* No LANG, as under cron: taken as C.UTF-8, not escaped. */
Test(output_table, c_locale_is_taken_as_utf8)
{
	locale_env(NULL, "C");
	_cleanup_free_ char *out = render("NAME,PID", true, false);
	cr_assert_str_eq(out, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-vm  1\n"
			      "\xc3\xbc          22\n"
			      "plain-name 333\n");
}

/* LC_ALL=C asks for ASCII: what is not ASCII is shown as \xNN, and aligned as such. */
Test(output_table, lc_all_c_escapes_what_is_not_ascii)
{
	locale_env("C", NULL);
	_cleanup_free_ char *out = render("NAME,PID", false, false);
	cr_assert_str_eq(out, "NAME                                    PID\n"
			      "\\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e-vm 1\n"
			      "\\xc3\\xbc                                22\n"
			      "plain-name                              333\n");
}

Test(output_table, selection_noheadings_and_raw)
{
	locale_env("C.UTF-8", NULL);
	_cleanup_free_ char *plain = render(NULL, false, false);
	cr_assert_str_eq(plain, "PID NAME\n"
				"1   \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-vm\n"
				"22  \xc3\xbc\n"
				"333 plain-name\n");
	_cleanup_free_ char *n = render("PID,NAME", true, false);
	cr_assert_str_eq(n, "1   \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-vm\n"
			    "22  \xc3\xbc\n"
			    "333 plain-name\n");
	/* raw: one space between fields; blanks, backslashes and what is not ASCII as
	 * \xNN, as lsblk -r prints them */
	_cleanup_free_ char *r = render("+KVMCG-CGROUP", false, true);
	cr_assert_str_eq(r, "PID NAME KVMCG-CGROUP\n"
			    "1 \\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e-vm -\n"
			    "22 \\xc3\\xbc -\n"
			    "333 plain-name /kvmcg/plain-name\n");
	_cleanup_free_ char *rn = render("VCPUS,PID", true, true);
	cr_assert_str_eq(rn, "2 1\n16 22\n128 333\n");
}

/* A name with a newline, ESC, DEL, a C1 control or a "\x" of its own breaks no line
 * and sends nothing a terminal acts on, in every mode. */
Test(output_table, control_bytes_escaped_in_every_mode)
{
	locale_env("C.UTF-8", NULL);
	static const struct column cols[] = {{.name = "PID", .keys = "pid"}, {.name = "NAME", .keys = "name"}};
	json_object *rows = json_tokener_parse(
		"[{\"pid\": 1, \"name\": \"a\\nb\\u001b[2Jc\\u007fd\\u009be\\\\x1b f\"},"
		" {\"pid\": 2, \"name\": \"ok\"}]");
	cr_assert_not_null(rows);
	static const char *const human = "a\\x0ab\\x1b[2Jc\\x7fd\\xc2\\x9be\\x5cx1b f";
	static const char *const raw = "a\\x0ab\\x1b[2Jc\\x7fd\\xc2\\x9be\\x5cx1b\\x20f";
	for (int mode = 0; mode < 4; mode++) {
		struct table_opts o = {.noheadings = mode & 1, .raw = mode & 2};
		_cleanup_free_ char *out = capture_table_opts(cols, ARRAY_SIZE(cols), rows, &o);
		assert_no_control_bytes(out);
		size_t lines = 0;
		for (const char *p = out; *p; p++)
			lines += *p == '\n';
		cr_assert_eq(lines, o.noheadings ? 2u : 3u, "mode %d: one line per row:\n%s", mode, out);
		cr_assert(strstr(out, o.raw ? raw : human), "mode %d:\n%s", mode, out);
	}
	json_object_put(rows);
}

Test(output_text, fields_align_labels)
{
	json_object *o = json_tokener_parse("{\"pid\": 1234, \"name\": \"vm\\u0007\", "
					    "\"vcpus_unidentified\": [1, 3], \"exe\": null, "
					    "\"comm\": \"qemu\"}");
	static const struct field fields[] = {
		{"PID", "pid"},
		{"Name", "name"},
		{"Executable", "exe|comm"},
		{"Unidentified vCPUs", "vcpus_unidentified"},
		{"QMP socket", "qmp_socket"},
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	print_fields(f, fields, ARRAY_SIZE(fields), o);
	fclose(f);
	json_object_put(o);
	size_t w = strlen("Unidentified vCPUs");
	static const char *const values[] = {"1234", "vm\\x07", "qemu", "1,3", "-"};
	char expected[512] = "";
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		char line[128];
		snprintf(line, sizeof(line), "%s:%*s %s\n", fields[i].label,
			 (int)(w - strlen(fields[i].label)), "", values[i]);
		strcat(expected, line);
	}
	cr_assert_str_eq(buf, expected);
	free(buf);
}

Test(output_text, json_prints_what_parses_back)
{
	json_object *o = json_tokener_parse("{\"path\": \"/run/a/b.sock\", \"n\": [1, 2], "
					    "\"s\": \"quote\\\" and \\u001b\"}");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	print_json(f, o);
	fclose(f);
	cr_assert_not_null(strstr(buf, "/run/a/b.sock"), "slashes are not escaped");
	cr_assert_eq(buf[len - 1], '\n');
	json_object *back = json_tokener_parse(buf);
	cr_assert_not_null(back);
	cr_assert(json_object_equal(o, back));
	json_object_put(back);
	json_object_put(o);
	free(buf);
}

/* ---- the command line on a captured tree ---------------------------------------------------- */

static json_object *run_json(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char *buf = NULL;
	size_t cap = 0, len = 0;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", cmd, WEXITSTATUS(st));
	cr_assert_not_null(buf, "%s printed nothing", cmd);
	buf[len] = '\0';
	json_object *j = json_tokener_parse(buf);
	cr_assert_not_null(j, "not JSON: %s", buf);
	free(buf);
	return j;
}

TestSuite(output_cli, .fini = cleanup, .timeout = 30);

Test(output_cli, show_json_on_a_captured_tree)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	discover(NAMES, "qemu-system-");
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d --json", kvmcg, NAMES,
		 (int)vm->pid);
	json_object *j = run_json(cmd);
	/* the command prints the same model as the library builds */
	check_int(j, "pid", vm->pid);
	check_str(j, "name", vm->name);
	check_str(j, "discovery", "names");
	json_object *threads = get(j, "threads");
	cr_assert_eq(json_object_array_length(threads), vm->n_threads);
	for (size_t i = 0; i < vm->n_threads; i++) {
		json_object *t = json_object_array_get_idx(threads, i);
		check_int(t, "tid", vm->threads[i].tid);
		check_str(t, "kind", thread_kind_name(vm->threads[i].kind));
		if (vm->threads[i].kind == THREAD_VCPU)
			check_int(t, "index", vm->threads[i].vcpu_index);
	}
	/* kvmcg's own pin lives outside the tree: a captured tree has none. */
	json_object *pin;
	cr_assert(json_object_object_get_ex(j, "kvmcg", &pin), "show reports kvmcg's pin");
	cr_assert_null(pin, "no live pin state is consulted for a captured tree");
	json_object_object_del(j, "kvmcg");
	/* the taps are show's, read from the VM's fds (here the tree's, which hold none);
	 * no network namespace is looked up in a captured tree */
	json_object *taps;
	cr_assert(json_object_object_get_ex(j, "taps", &taps), "show reports the VM's taps");
	cr_assert(json_object_is_type(taps, json_type_array));
	cr_assert_eq(json_object_array_length(taps), 0);
	cr_assert_not(json_object_object_get_ex(j, "netns", NULL), "no live namespace for a captured tree");
	json_object_object_del(j, "taps");
	cr_assert(json_object_equal(j, model), "otherwise identical to vm_to_json()");
	json_object_put(j);
}

Test(output_cli, list_json_on_a_captured_tree)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' list --sysroot '%s' --json", kvmcg, MIXED);
	json_object *j = run_json(cmd);
	json_object *vms = get(j, "vms");
	cr_assert_eq(json_object_array_length(vms), 2, "QEMU and the other VMM; not the kthread");
	pid_t qemu = pid_with_exe(MIXED, "qemu-system-"), other = pid_with_exe(MIXED, "firecracker");
	json_object *a = json_object_array_get_idx(vms, 0), *b = json_object_array_get_idx(vms, 1);
	check_int(a, "pid", qemu < other ? qemu : other);
	check_int(b, "pid", qemu < other ? other : qemu);
	json_object *q = qemu < other ? a : b, *o = qemu < other ? b : a;
	check_str(q, "hypervisor", "qemu");
	check_str(o, "hypervisor", "firecracker");
	check_str(o, "discovery", "names");
	cr_assert(has(j, "host"));
	json_object_put(j);
}

/* -J is --json, byte for byte; -o, -n, -r shape the text table. */
Test(output_cli, table_options_on_a_captured_tree)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	char cmd[4096];
	int st;
	snprintf(cmd, sizeof(cmd), "'%s' list --sysroot '%s' --json", kvmcg, MIXED);
	_cleanup_free_ char *json = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	snprintf(cmd, sizeof(cmd), "'%s' list --sysroot '%s' -J", kvmcg, MIXED);
	_cleanup_free_ char *j = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(j, json, "list -J prints what list --json prints");

	/* -o PID,NAME -n: the pid and the name of each VM, nothing else */
	json_object *doc = json_tokener_parse(json);
	cr_assert_not_null(doc);
	json_object *vms = get(doc, "vms");
	snprintf(cmd, sizeof(cmd), "'%s' list --sysroot '%s' -o PID,NAME -n", kvmcg, MIXED);
	_cleanup_free_ char *text = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	const char *line = text;
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *v = json_object_array_get_idx(vms, i), *name;
		if (!json_object_object_get_ex(v, "name", &name) || !name)
			name = get(v, "comm");
		char pid[16], want[256];
		snprintf(pid, sizeof(pid), "%d", json_object_get_int(get(v, "pid")));
		size_t w = 0;
		for (size_t k = 0; k < json_object_array_length(vms); k++) {
			char other[16];
			snprintf(other, sizeof(other), "%d",
				 json_object_get_int(get(json_object_array_get_idx(vms, k), "pid")));
			w = strlen(other) > w ? strlen(other) : w;
		}
		snprintf(want, sizeof(want), "%-*s %s\n", (int)w, pid, json_object_get_string(name));
		cr_assert_eq(strncmp(line, want, strlen(want)), 0, "'%s' starts with '%s'", line, want);
		line += strlen(want);
	}
	cr_assert_str_eq(line, "", "one line per VM");
	json_object_put(doc);

	/* show: -J equals --json; -r -o the thread table alone */
	discover(NAMES, "qemu-system-");
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d --json", kvmcg, NAMES, (int)vm->pid);
	_cleanup_free_ char *sj = run_capture(cmd, &st);
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d -J", kvmcg, NAMES, (int)vm->pid);
	_cleanup_free_ char *sJ = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(sJ, sj, "show -J prints what show --json prints");
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d -r -o tid,KIND", kvmcg, NAMES, (int)vm->pid);
	_cleanup_free_ char *raw = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	char want[8192] = "TID KIND\n";
	for (size_t i = 0; i < vm->n_threads; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%d %s\n", (int)vm->threads[i].tid,
			 thread_kind_name(vm->threads[i].kind));
	cr_assert_str_eq(raw, want);
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d -n -o TID", kvmcg, NAMES, (int)vm->pid);
	_cleanup_free_ char *n = run_capture(cmd, &st);
	cr_assert_eq(st, 0);
	char tids[8192] = "";
	for (size_t i = 0; i < vm->n_threads; i++)
		snprintf(tids + strlen(tids), sizeof(tids) - strlen(tids), "%d\n", (int)vm->threads[i].tid);
	cr_assert_str_eq(n, tids, "show -n: the thread rows alone");
}

/* An unknown column is a usage error that names it and the valid ones, before any
 * VM is looked at; -o, -n, -r do not go with --json; --help lists the columns. */
Test(output_cli, table_option_errors_and_help)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	static const struct {
		const char *args, *says;
	} bad[] = {
		{"list -o PID,NOPE", "kvmcg: list: --output: unknown column 'NOPE' (valid: PID, NAME, VCPUS, "},
		{"list -o ''", "kvmcg: list: --output: no column given"},
		{"show --pid 1 -o TID,PID", "kvmcg: show: --output: unknown column 'PID' (valid: KIND, ID, TID, "},
		{"list -J -o PID", "kvmcg: list: --output shapes the table; it does not go with --json"},
		{"list --json -r", "kvmcg: list: --raw shapes the table; it does not go with --json"},
		{"show --pid 1 -J -n", "kvmcg: show: --noheadings shapes the table; it does not go with --json"},
		{"list -o PID -o NAME", "kvmcg: list: --output is given twice"},
		{"pin --pid 1 -J", "kvmcg: pin: unknown option '-J'"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char cmd[4096];
		int st;
		snprintf(cmd, sizeof(cmd), "'%s' %s --sysroot '%s' 2>&1 >/dev/null", kvmcg, bad[i].args, MIXED);
		_cleanup_free_ char *err = run_capture(cmd, &st);
		cr_assert_eq(st, 2, "%s: exit status %d", bad[i].args, st);
		cr_assert(strstr(err, bad[i].says) == err, "%s: '%s'", bad[i].args, err);
		cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "%s: one line", bad[i].args);
	}
	static const char *const helps[][2] = {
		{"list", "\n KVMCG-CGROUP  the VM's cgroup made by kvmcg\n"},
		{"show", "\n      MAP  the same as a y/- map over the host's CPUs\n"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(helps); i++) {
		char cmd[4096];
		int st;
		snprintf(cmd, sizeof(cmd), "'%s' %s --help", kvmcg, helps[i][0]);
		_cleanup_free_ char *out = run_capture(cmd, &st);
		cr_assert_eq(st, 0);
		cr_assert(strstr(out, "\nAvailable output columns:\n"), "%s --help", helps[i][0]);
		cr_assert(strstr(out, helps[i][1]), "%s --help: %s", helps[i][0], out);
	}
}

/* A process that only looks like QEMU: show refuses it in one line that says why, list
 * leaves it out; the real QEMU of the same user is listed with its owner. */
Test(output_cli, impersonators_on_a_captured_tree)
{
	char kvmcg[1024];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	pid_t python = pid_with_exe(IMPERSONATORS, "/python3");
	char link[512], target[512];
	snprintf(link, sizeof(link), "%s/proc/%d/exe", IMPERSONATORS, (int)python);
	ssize_t l = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(l, 0);
	target[l] = '\0';

	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' show --sysroot '%s' --pid %d 2>&1 >/dev/null", kvmcg,
		 IMPERSONATORS, (int)python);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[1024] = "", extra[256];
	cr_assert_not_null(fgets(line, sizeof(line), p));
	bool more = fgets(extra, sizeof(extra), p) != NULL;
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", WEXITSTATUS(st));
	cr_assert_not(more, "one line");
	char want[1024];
	snprintf(want, sizeof(want), "pid %d is not a VM: its command line says qemu-system-x86_64 but "
		 "its executable is %s, and it holds no KVM VM\n", (int)python, target);
	cr_assert(strstr(line, want), "%s", line);

	snprintf(cmd, sizeof(cmd), "'%s' list --sysroot '%s' --json", kvmcg, IMPERSONATORS);
	json_object *j = run_json(cmd);
	json_object *vms = get(j, "vms");
	pid_t real = pid_with_exe(IMPERSONATORS, "/usr/bin/qemu-system-");
	cr_assert_eq(json_object_array_length(vms), 1, "only the real QEMU");
	json_object *v = json_object_array_get_idx(vms, 0);
	check_int(v, "pid", real);
	check_evidence(v, true, false);
	char status[512], buf[4096];
	snprintf(status, sizeof(status), "%s/proc/%d/status", IMPERSONATORS, (int)real);
	FILE *f = fopen(status, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	unsigned ruid, euid;
	const char *u = strstr(buf, "\nUid:");
	cr_assert_not_null(u);
	cr_assert_eq(sscanf(u, "\nUid: %u %u", &ruid, &euid), 2);
	check_int(get(v, "owner"), "uid", euid);
	cr_assert_neq(euid, 0);
	json_object_put(j);
}

/* ---- list's PINS and show's states ------------------------------------------------- */

static struct idset *set_of(const char *list)
{
	struct idset *s = NULL;
	cr_assert_eq(idset_parse(list, &s, NULL), 0);
	return s;
}

/* A VM of pid 100: its main thread, vCPUs 0..n-1 (tids 101..) and iothread io0, with
 * the affinities given ("0-3" is every CPU of the host below). */
static void pins_vm(struct vm *v, struct vm_thread *t, const char *main_aff, const char *const *vcpu, size_t n,
		    const char *io)
{
	*v = (struct vm){.pid = 100, .threads = t, .n_threads = n + 2};
	t[0] = (struct vm_thread){.tid = 100, .kind = THREAD_EMULATOR, .affinity = set_of(main_aff)};
	for (size_t i = 0; i < n; i++)
		t[i + 1] = (struct vm_thread){.tid = 101 + (pid_t)i, .kind = THREAD_VCPU, .vcpu_index = (int)i,
					      .affinity = set_of(vcpu[i])};
	t[n + 1] = (struct vm_thread){.tid = 200, .kind = THREAD_IOTHREAD, .iothread_id = (char *)"io0",
				      .affinity = set_of(io)};
}

static void pins_vm_done(struct vm_thread *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idset_free(t[i].affinity);
}

Test(output_pins, compact_in_a_row_and_one_each)
{
	struct host h = {.online_cpus = set_of("0-3")};
	struct vm one;
	struct vm_thread t[6];
	pins_vm(&one, t, "2-3", (const char *const[]){"0-1", "0-1", "2", "3"}, 4, "3");
	char *s = vm_pins_compact(&one, &h);
	cr_assert_str_eq(s, "0-1:0-1 2:2 3:3 emu:2-3 io0:3");
	free(s);
	pins_vm_done(t, 6);
	/* nothing narrower than the online CPUs: "-" */
	pins_vm(&one, t, "0-3", (const char *const[]){"0-3", "0-3"}, 2, "0-3");
	s = vm_pins_compact(&one, &h);
	cr_assert_str_eq(s, "-");
	free(s);
	pins_vm_done(t, 4);
	/* only what is narrower: vCPU 1 alone */
	pins_vm(&one, t, "0-3", (const char *const[]){"0-3", "1"}, 2, "0-3");
	s = vm_pins_compact(&one, &h);
	cr_assert_str_eq(s, "1:1");
	free(s);
	pins_vm_done(t, 4);
	idset_free(h.online_cpus);
}

Test(output_pins, thread_states_in_words)
{
	static const struct {
		char letter;
		const char *word;
	} m[] = {{'R', "running"}, {'S', "sleeping"}, {'D', "blocked"}, {'T', "stopped"}, {'t', "traced"},
		 {'Z', "zombie"},  {'X', "dead"},     {'I', "idle"},    {'P', "parked"}};
	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		cr_expect_str_eq(thread_state_word(m[i].letter), m[i].word);
	cr_expect_null(thread_state_word('?'));
}
