// SPDX-License-Identifier: GPL-2.0-or-later
/* qemu-launch: what kvmcg run reads from the user's QEMU command line and the one it
 * starts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/idset.h"
#include "basic/util.h"
#include "vmm/qemu-launch.h"

/* argv from words separated by '\n' (JSON objects and values hold no newline). */
struct args {
	char *buf;
	char *argv[64];
	size_t argc;
};

static void split(struct args *a, const char *cmdline)
{
	a->buf = strdup(cmdline);
	cr_assert_not_null(a->buf);
	a->argc = 0;
	char *save = NULL;
	for (char *w = strtok_r(a->buf, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
		cr_assert_lt(a->argc, 63);
		a->argv[a->argc++] = w;
	}
	a->argv[a->argc] = NULL;
}

static void inspect(struct args *a, const char *cmdline, struct qemu_launch_info *info)
{
	split(a, cmdline);
	err_clear();
	int r = qemu_launch_inspect(a->argv, a->argc, info);
	cr_assert_eq(r, 0, "qemu_launch_inspect(%s) = %d: %s", cmdline, r, err_get() ? err_get() : "");
}

static void inspect_fails(const char *cmdline, int expected, const char *reason_part)
{
	struct args a;
	split(&a, cmdline);
	struct qemu_launch_info info = {.n_cells = 77};
	err_clear();
	int r = qemu_launch_inspect(a.argv, a.argc, &info);
	cr_assert_eq(r, expected, "qemu_launch_inspect(%s) = %d, expected %d", cmdline, r, expected);
	cr_assert_eq(info.n_cells, 77, "*ret clobbered on failure");
	cr_assert_not_null(err_get());
	cr_assert(strstr(err_get(), reason_part), "reason \"%s\" lacks \"%s\"", err_get(), reason_part);
	free(a.buf);
}

static struct idset *set(const char *list)
{
	struct idset *s = NULL;
	cr_assert_eq(idset_parse(list, &s, NULL), 0);
	return s;
}

static void check_nodes(const struct idset *s, const char *list)
{
	cr_assert_not_null(s);
	_cleanup_free_ char *f = idset_format(s);
	cr_assert_str_eq(f, list);
}

/* The command line that qemu_launch_build() gives, words joined by '\n'. */
static char *joined(char **v)
{
	size_t len = 1;
	for (char **p = v; *p; p++)
		len += strlen(*p) + 1;
	char *s = calloc(1, len);
	cr_assert_not_null(s);
	for (char **p = v; *p; p++) {
		if (p != v)
			strcat(s, "\n");
		strcat(s, *p);
	}
	return s;
}

/* Build with cells "CELL:NODES:POLICY" and compare; expected_added joined by '\n'. */
struct want {
	const char *argv, *added;
};

static void build(const char *cmdline, bool add_S, const char *qmp, const struct qemu_cell_nodes *cells,
		  size_t n_cells, const struct want *w)
{
	struct args a;
	struct qemu_launch_info info;
	inspect(&a, cmdline, &info);
	struct qemu_launch_add add = {.add_S = add_S, .qmp_path = qmp, .cells = cells, .n_cells = n_cells};
	char **out = NULL, **added = NULL;
	int r = qemu_launch_build(a.argv, a.argc, &info, &add, &out, &added);
	cr_assert_eq(r, 0, "qemu_launch_build(%s) = %d: %s", cmdline, r, err_get() ? err_get() : "");
	_cleanup_free_ char *got = joined(out), *got_added = joined(added);
	cr_assert_str_eq(got, w->argv);
	cr_assert_str_eq(got_added, w->added);
	strv_free(out);
	strv_free(added);
	qemu_launch_info_done(&info);
	free(a.buf);
}

static void build_fails(const char *cmdline, const struct qemu_cell_nodes *cells, size_t n_cells, int expected,
			const char *reason_part)
{
	struct args a;
	struct qemu_launch_info info;
	inspect(&a, cmdline, &info);
	struct qemu_launch_add add = {.add_S = true, .qmp_path = "/run/k.sock", .cells = cells, .n_cells = n_cells};
	char **out = (char **)&add, **added = (char **)&add; /* must stay untouched */
	err_clear();
	int r = qemu_launch_build(a.argv, a.argc, &info, &add, &out, &added);
	cr_assert_eq(r, expected, "qemu_launch_build(%s) = %d, expected %d", cmdline, r, expected);
	cr_assert_eq(out, (char **)&add);
	cr_assert_eq(added, (char **)&add);
	cr_assert_not_null(err_get());
	cr_assert(strstr(err_get(), reason_part), "reason \"%s\" lacks \"%s\"", err_get(), reason_part);
	qemu_launch_info_done(&info);
	free(a.buf);
}

/* ---- inspect ----------------------------------------------------------------------------- */

Test(qemu_launch_inspect, flags_name_pidfile_and_monitors)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a,
		"qemu-system-x86_64\n-S\n-daemonize\n-pidfile\n/run/vm.pid\n-name\nguest=web,,1,debug-threads=on\n"
		"-qmp\nunix:/run/a.sock,server=on,wait=off\n-qmp-pretty\nunix:/run/b.sock,server,nowait\n"
		"-chardev\nsocket,id=mon0,path=/run/c.sock,server=on,wait=off\n-mon\nchardev=mon0,mode=control",
		&i);
	cr_assert(i.has_S);
	cr_assert(i.daemonize);
	cr_assert_str_eq(i.pidfile, "/run/vm.pid");
	cr_assert_str_eq(i.name, "web,1");
	cr_assert_eq(i.n_qmp_paths, 3);
	cr_assert_str_eq(i.qmp_paths[0], "/run/a.sock");
	cr_assert_str_eq(i.qmp_paths[1], "/run/b.sock");
	cr_assert_str_eq(i.qmp_paths[2], "/run/c.sock");
	cr_assert_eq(i.n_cells, 0);
	cr_assert_eq(i.n_backends, 0);
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, plain_name_and_nothing_else)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a, "qemu-system-x86_64\n-name\nweb\n-m\n1G", &i);
	cr_assert_not(i.has_S);
	cr_assert_not(i.daemonize);
	cr_assert_null(i.pidfile);
	cr_assert_str_eq(i.name, "web");
	cr_assert_eq(i.n_qmp_paths, 0);
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, double_dash_options)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a,
		"qemu\n--S\n--daemonize\n--name\nguest=x\n--object\nmemory-backend-ram,id=m0,size=1G\n"
		"--numa\nnode,memdev=m0",
		&i);
	cr_assert(i.has_S);
	cr_assert(i.daemonize);
	cr_assert_str_eq(i.name, "x");
	cr_assert_eq(i.n_backends, 1);
	cr_assert_eq(i.n_cells, 1);
	cr_assert_str_eq(i.cells[0].memdev, "m0");
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, option_values_that_look_like_options)
{
	struct args a;
	struct qemu_launch_info i;
	/* "-S" and "-daemonize" are -append's and -name's values, not options */
	inspect(&a, "qemu\n-append\n-S\n-name\n-daemonize\n-kernel\n-numa", &i);
	cr_assert_not(i.has_S);
	cr_assert_not(i.daemonize);
	cr_assert_str_eq(i.name, "-daemonize");
	cr_assert_eq(i.n_cells, 0);
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, empty_after_argv0)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a, "qemu-system-x86_64", &i);
	cr_assert_not(i.has_S);
	cr_assert_null(i.name);
	cr_assert_eq(i.n_cells + i.n_backends + i.n_qmp_paths, 0);
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, cells_explicit_and_implicit)
{
	struct args a;
	struct qemu_launch_info i;
	/* QEMU numbers a node without nodeid= by the count of nodes before it */
	inspect(&a,
		"qemu\n-numa\nnode,memdev=m0\n-numa\nnode,nodeid=5,memdev=m5\n-numa\nnode\n"
		"-numa\ndist,src=0,dst=1,val=20\n-numa\ntype=node,mem=512M\n-numa\ncpu,node-id=0,socket-id=0",
		&i);
	cr_assert_eq(i.n_cells, 4);
	cr_assert_eq(i.cells[0].nodeid, 0);
	cr_assert_str_eq(i.cells[0].memdev, "m0");
	cr_assert_eq(i.cells[0].argi, 2);
	cr_assert_eq(i.cells[1].nodeid, 5);
	cr_assert_str_eq(i.cells[1].memdev, "m5");
	cr_assert_eq(i.cells[2].nodeid, 2);
	cr_assert_null(i.cells[2].memdev);
	cr_assert_not(i.cells[2].legacy_mem);
	cr_assert_eq(i.cells[3].nodeid, 3);
	cr_assert(i.cells[3].legacy_mem);
	cr_assert_str_eq(i.cells[3].mem, "512M");
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, keyval_backends)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a,
		"qemu\n-object\nmemory-backend-ram,id=m0,size=1G,host-nodes=0-1,policy=bind\n"
		"-object\nqom-type=memory-backend-file,mem-path=/dev/hugepages,id=m1,size=1G,host-nodes=0,host-nodes=2-3,policy=preferred,policy=interleave\n"
		"-object\nmemory-backend-memfd,id=m2,size=1G\n-object\niothread,id=io0\n"
		"-object\nmemory-backend-ram,id=m,,3,size=1G",
		&i);
	cr_assert_eq(i.n_backends, 4);
	cr_assert_str_eq(i.backends[0].type, "memory-backend-ram");
	cr_assert_str_eq(i.backends[0].id, "m0");
	cr_assert_eq(i.backends[0].argi, 2);
	cr_assert_not(i.backends[0].json);
	check_nodes(i.backends[0].host_nodes, "0-1");
	cr_assert(i.backends[0].policy_given);
	cr_assert_eq(i.backends[0].policy, QEMU_HOST_POLICY_BIND);
	cr_assert_str_eq(i.backends[1].type, "memory-backend-file");
	check_nodes(i.backends[1].host_nodes, "0,2-3");
	cr_assert_eq(i.backends[1].policy, QEMU_HOST_POLICY_INTERLEAVE, "the last policy= wins");
	cr_assert_null(i.backends[2].host_nodes);
	cr_assert_not(i.backends[2].policy_given);
	cr_assert_eq(i.backends[2].policy, QEMU_HOST_POLICY_DEFAULT);
	cr_assert_str_eq(i.backends[3].id, "m,3");
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, json_backends)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a,
		"qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1073741824,\"host-nodes\":[0,1],\"policy\":\"bind\"}\n"
		"-object\n{\"qom-type\":\"memory-backend-memfd\",\"id\":\"m1\",\"size\":1073741824}\n"
		"-object\n{\"qom-type\":\"iothread\",\"id\":\"io0\"}",
		&i);
	cr_assert_eq(i.n_backends, 2);
	cr_assert(i.backends[0].json);
	cr_assert_str_eq(i.backends[0].type, "memory-backend-ram");
	cr_assert_str_eq(i.backends[0].id, "m0");
	check_nodes(i.backends[0].host_nodes, "0-1");
	cr_assert_eq(i.backends[0].policy, QEMU_HOST_POLICY_BIND);
	cr_assert(i.backends[1].json);
	cr_assert_null(i.backends[1].host_nodes);
	cr_assert_not(i.backends[1].policy_given);
	qemu_launch_info_done(&i);
	free(a.buf);
}

Test(qemu_launch_inspect, what_qemu_refuses)
{
	inspect_fails("qemu\n-object\nmemory-backend-ram,id=m0,size=1G,host-nodes=0:1", -EINVAL, "host-nodes=");
	inspect_fails("qemu\n-object\nmemory-backend-ram,id=m0,host-nodes=128", -EINVAL, "0 to 127");
	inspect_fails("qemu\n-object\nmemory-backend-ram,id=m0,host-nodes=3-1", -EINVAL, "host-nodes=");
	inspect_fails("qemu\n-object\nmemory-backend-ram,id=m0,policy=strict", -EINVAL, "policy=");
	inspect_fails("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"host-nodes\":\"0-1\"}",
		      -EINVAL, "\"host-nodes\"");
	inspect_fails("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"host-nodes\":[0,128]}",
		      -EINVAL, "0 to 127");
	inspect_fails("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"policy\":1}", -EINVAL,
		      "\"policy\"");
	inspect_fails("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\"", -EINVAL, "JSON");
	inspect_fails("qemu\n-object\n{\"qom-type\":\"iothread\",\"id\":\"a\"} x", -EINVAL, "JSON");
	inspect_fails("qemu\n-object\nmemory-backend-ram,id=m0\n-object\nmemory-backend-ram,id=m0", -EINVAL,
		      "id=m0");
	inspect_fails("qemu\n-numa\nnode,nodeid=1\n-numa\nnode,nodeid=1", -EINVAL, "cell 1 is given twice");
	inspect_fails("qemu\n-numa\nnode,nodeid=128", -EINVAL, "nodeid=");
	inspect_fails("qemu\n-numa\nnode,nodeid=x", -EINVAL, "nodeid=");
	inspect_fails("qemu\n-numa\nnode,mem=1G,memdev=m0", -EINVAL, "mem= and memdev=");
	inspect_fails("qemu\n-m\n1G\n--append", -EINVAL, "--append, the last argument, has no value");
}

Test(qemu_launch_inspect, other_objects_are_not_checked)
{
	struct args a;
	struct qemu_launch_info i;
	inspect(&a, "qemu\n-object\nthrottle-group,id=t,host-nodes=x,policy=y", &i);
	cr_assert_eq(i.n_backends, 0);
	qemu_launch_info_done(&i);
	free(a.buf);
}

/* ---- build ------------------------------------------------------------------------------- */

Test(qemu_launch_build, S_and_qmp_on_an_empty_command_line)
{
	build("qemu-system-x86_64", true, "/run/kvmcg/web.qmp", NULL, 0,
	      &(struct want){"qemu-system-x86_64\n-S\n-qmp\nunix:/run/kvmcg/web.qmp,server=on,wait=off",
			     "-S\n-qmp unix:/run/kvmcg/web.qmp,server=on,wait=off"});
	build("qemu-system-x86_64", false, NULL, NULL, 0, &(struct want){"qemu-system-x86_64", ""});
}

Test(qemu_launch_build, S_already_there)
{
	build("qemu\n-m\n1G\n--S", true, NULL, NULL, 0, &(struct want){"qemu\n-m\n1G\n--S", ""});
	/* -append's value "-S" is not -S */
	build("qemu\n-append\n-S", true, NULL, NULL, 0, &(struct want){"qemu\n-S\n-append\n-S", "-S"});
}

Test(qemu_launch_build, qmp_path_with_commas)
{
	build("qemu", false, "/run/a,b.sock", NULL, 0,
	      &(struct want){"qemu\n-qmp\nunix:/run/a,,b.sock,server=on,wait=off",
			     "-qmp unix:/run/a,,b.sock,server=on,wait=off"});
}

Test(qemu_launch_build, keyval_cells)
{
	_cleanup_cpuset_ struct idset *n1 = set("1"), *odd = set("0,2-3,5");
	struct qemu_cell_nodes cells[] = {
		{.cell = 1, .nodes = n1, .policy = QEMU_HOST_POLICY_BIND},
		{.cell = 0, .nodes = odd, .policy = QEMU_HOST_POLICY_INTERLEAVE},
	};
	build("qemu\n-object\nmemory-backend-ram,id=m0,size=1G\n-object\nmemory-backend-ram,id=m1,size=1G\n"
	      "-numa\nnode,nodeid=0,memdev=m0\n-numa\nnode,nodeid=1,memdev=m1",
	      true, NULL, cells, 2,
	      &(struct want){
		      "qemu\n-S\n-object\nmemory-backend-ram,id=m0,size=1G,host-nodes=0,host-nodes=2-3,host-nodes=5,policy=interleave\n"
		      "-object\nmemory-backend-ram,id=m1,size=1G,host-nodes=1,policy=bind\n"
		      "-numa\nnode,nodeid=0,memdev=m0\n-numa\nnode,nodeid=1,memdev=m1",
		      "host-nodes=1,policy=bind on -object memory-backend-ram,id=m1 (guest NUMA cell 1)\n"
		      "host-nodes=0,host-nodes=2-3,host-nodes=5,policy=interleave on -object memory-backend-ram,id=m0 (guest NUMA cell 0)\n"
		      "-S"});
}

Test(qemu_launch_build, implicit_nodeids)
{
	_cleanup_cpuset_ struct idset *n1 = set("1");
	struct qemu_cell_nodes cell = {.cell = 1, .nodes = n1, .policy = QEMU_HOST_POLICY_PREFERRED};
	build("qemu\n-numa\nnode,memdev=a\n-numa\nnode,memdev=b\n-object\nmemory-backend-ram,id=a,size=1G\n"
	      "-object\nmemory-backend-ram,id=b,size=1G",
	      false, NULL, &cell, 1,
	      &(struct want){"qemu\n-numa\nnode,memdev=a\n-numa\nnode,memdev=b\n-object\nmemory-backend-ram,id=a,size=1G\n"
			     "-object\nmemory-backend-ram,id=b,size=1G,host-nodes=1,policy=preferred",
			     "host-nodes=1,policy=preferred on -object memory-backend-ram,id=b (guest NUMA cell 1)"});
}

Test(qemu_launch_build, trailing_separator_is_not_doubled)
{
	_cleanup_cpuset_ struct idset *n0 = set("0");
	struct qemu_cell_nodes cell = {.cell = 0, .nodes = n0, .policy = QEMU_HOST_POLICY_BIND};
	/* "size=1G," ends with a separator: appending ",host-nodes" would make ",," */
	build("qemu\n-object\nmemory-backend-ram,id=m0,size=1G,\n-numa\nnode,memdev=m0", false, NULL, &cell, 1,
	      &(struct want){"qemu\n-object\nmemory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind\n-numa\nnode,memdev=m0",
			     "host-nodes=0,policy=bind on -object memory-backend-ram,id=m0 (guest NUMA cell 0)"});
	/* an escaped comma at the end of a value is not one */
	build("qemu\n-object\nmemory-backend-file,id=m0,mem-path=/a,,\n-numa\nnode,memdev=m0", false, NULL, &cell, 1,
	      &(struct want){"qemu\n-object\nmemory-backend-file,id=m0,mem-path=/a,,,host-nodes=0,policy=bind\n-numa\nnode,memdev=m0",
			     "host-nodes=0,policy=bind on -object memory-backend-file,id=m0 (guest NUMA cell 0)"});
}

Test(qemu_launch_build, json_cell)
{
	_cleanup_cpuset_ struct idset *n = set("0-1,3");
	struct qemu_cell_nodes cell = {.cell = 0, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	build("qemu\n-object\n{ \"qom-type\": \"memory-backend-ram\", \"id\": \"m0\", \"size\": 1073741824 }\n"
	      "-numa\nnode,nodeid=0,memdev=m0",
	      false, NULL, &cell, 1,
	      &(struct want){"qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1073741824,\"host-nodes\":[0,1,3],\"policy\":\"bind\"}\n"
			     "-numa\nnode,nodeid=0,memdev=m0",
			     "\"host-nodes\":[0,1,3],\"policy\":\"bind\" in -object {\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",...} (guest NUMA cell 0)"});
}

Test(qemu_launch_build, same_values_already_there_are_not_added_twice)
{
	_cleanup_cpuset_ struct idset *n = set("0-1");
	struct qemu_cell_nodes cell = {.cell = 0, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	const char *kv = "qemu\n-object\nmemory-backend-ram,id=m0,size=1G,host-nodes=1,host-nodes=0,policy=bind\n-numa\nnode,memdev=m0";
	build(kv, false, NULL, &cell, 1, &(struct want){kv, ""});
	const char *js = "qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1,\"host-nodes\":[1,0],\"policy\":\"bind\"}\n-numa\nnode,memdev=m0";
	build(js, false, NULL, &cell, 1, &(struct want){js, ""});
	/* the nodes there, the policy not: only the policy is added */
	build("qemu\n-object\nmemory-backend-ram,id=m0,host-nodes=0-1\n-numa\nnode,memdev=m0", false, NULL, &cell, 1,
	      &(struct want){"qemu\n-object\nmemory-backend-ram,id=m0,host-nodes=0-1,policy=bind\n-numa\nnode,memdev=m0",
			     "policy=bind on -object memory-backend-ram,id=m0 (guest NUMA cell 0)"});
	build("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"policy\":\"bind\"}\n-numa\nnode,memdev=m0",
	      false, NULL, &cell, 1,
	      &(struct want){"qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"policy\":\"bind\",\"host-nodes\":[0,1]}\n-numa\nnode,memdev=m0",
			     "\"host-nodes\":[0,1] in -object {\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",...} (guest NUMA cell 0)"});
}

Test(qemu_launch_build, different_values_already_there)
{
	_cleanup_cpuset_ struct idset *n = set("1");
	struct qemu_cell_nodes cell = {.cell = 0, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	build_fails("qemu\n-object\nmemory-backend-ram,id=m0,host-nodes=0\n-numa\nnode,memdev=m0", &cell, 1, -EEXIST,
		    "already has host-nodes=0");
	build_fails("qemu\n-object\nmemory-backend-ram,id=m0,policy=preferred\n-numa\nnode,memdev=m0", &cell, 1,
		    -EEXIST, "already has policy=preferred");
	build_fails("qemu\n-object\n{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"host-nodes\":[0,1]}\n-numa\nnode,memdev=m0",
		    &cell, 1, -EEXIST, "already has host-nodes=0-1");
}

Test(qemu_launch_build, cell_without_memdev)
{
	_cleanup_cpuset_ struct idset *n = set("1");
	struct qemu_cell_nodes cell = {.cell = 1, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	build_fails("qemu\n-m\n1G\n-numa\nnode,nodeid=0,mem=512M\n-numa\nnode,nodeid=1,mem=512M", &cell, 1, -EINVAL,
		    "guest NUMA cell 1 has no memdev (-numa node,nodeid=1,mem=512M): host nodes can be given only to a "
		    "memory backend; use -object memory-backend-ram,id=m1,size=512M and -numa node,nodeid=1,memdev=m1");
	build_fails("qemu\n-m\n1G\n-numa\nnode\n-numa\nnode", &cell, 1, -EINVAL,
		    "guest NUMA cell 1 has no memdev (-numa node)");
	/* mem= without a suffix is MiB; the size= the hint gives says so */
	build_fails("qemu\n-m\n128\n-numa\nnode,nodeid=0,mem=64\n-numa\nnode,nodeid=1,mem=64", &cell, 1, -EINVAL,
		    "use -object memory-backend-ram,id=m1,size=64M and");
}

Test(qemu_launch_build, memdev_naming_no_object)
{
	_cleanup_cpuset_ struct idset *n = set("0");
	struct qemu_cell_nodes cell = {.cell = 0, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	build_fails("qemu\n-object\nmemory-backend-ram,id=m1,size=1G\n-numa\nnode,memdev=m0", &cell, 1, -EINVAL,
		    "memdev=m0");
	/* an object that is not a memory backend is not one */
	build_fails("qemu\n-object\niothread,id=m0\n-numa\nnode,memdev=m0", &cell, 1, -EINVAL,
		    "no -object memory-backend-*,id=m0");
}

Test(qemu_launch_build, cell_not_on_the_command_line)
{
	_cleanup_cpuset_ struct idset *n = set("0");
	struct qemu_cell_nodes cell = {.cell = 2, .nodes = n, .policy = QEMU_HOST_POLICY_BIND};
	build_fails("qemu\n-object\nmemory-backend-ram,id=m0,size=1G\n-numa\nnode,memdev=m0", &cell, 1, -ENOENT,
		    "guest NUMA cell 2 is not on the QEMU command line");
	build_fails("qemu", &cell, 1, -ENOENT, "no -numa node,nodeid=2");
}

Test(qemu_launch_build, what_qemu_would_refuse)
{
	_cleanup_cpuset_ struct idset *n0 = set("0"), *big = set("0,128"), *empty = idset_new();
	const char *two = "qemu\n-object\nmemory-backend-ram,id=m0,size=1G\n-numa\nnode,memdev=m0\n-numa\nnode,memdev=m0";
	struct qemu_cell_nodes shared[] = {{.cell = 0, .nodes = n0, .policy = QEMU_HOST_POLICY_BIND},
					   {.cell = 1, .nodes = n0, .policy = QEMU_HOST_POLICY_BIND}};
	build_fails(two, shared, 2, -EINVAL, "shares its backend m0");
	struct qemu_cell_nodes twice[] = {{.cell = 0, .nodes = n0, .policy = QEMU_HOST_POLICY_BIND},
					  {.cell = 0, .nodes = n0, .policy = QEMU_HOST_POLICY_BIND}};
	build_fails(two, twice, 2, -EINVAL, "twice");
	const char *one = "qemu\n-object\nmemory-backend-ram,id=m0,size=1G\n-numa\nnode,memdev=m0";
	struct qemu_cell_nodes c = {.cell = 0, .nodes = big, .policy = QEMU_HOST_POLICY_BIND};
	build_fails(one, &c, 1, -ERANGE, "host node 128");
	c.nodes = empty;
	build_fails(one, &c, 1, -EINVAL, "no host nodes");
	c.nodes = n0;
	c.policy = QEMU_HOST_POLICY_DEFAULT;
	build_fails(one, &c, 1, -EINVAL, "policy default");
}

Test(qemu_launch_build, empty_argv)
{
	struct qemu_launch_info info = {0};
	struct qemu_launch_add add = {.add_S = true};
	char **out = NULL;
	cr_assert_eq(qemu_launch_build(NULL, 0, &info, &add, &out, NULL), -EINVAL);
	cr_assert_null(out);
}

Test(qemu_launch, policy_names)
{
	cr_assert_str_eq(qemu_host_policy_name(QEMU_HOST_POLICY_DEFAULT), "default");
	cr_assert_str_eq(qemu_host_policy_name(QEMU_HOST_POLICY_PREFERRED), "preferred");
	cr_assert_str_eq(qemu_host_policy_name(QEMU_HOST_POLICY_BIND), "bind");
	cr_assert_str_eq(qemu_host_policy_name(QEMU_HOST_POLICY_INTERLEAVE), "interleave");
}
