// SPDX-License-Identifier: GPL-2.0-or-later
/* qemu-argv: QemuOpts syntax and what a QEMU command line says about its VM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/qemu-argv.h"
#include "basic/util.h"

/* ---- qemu_opts_foreach -------------------------------------------------------------- */

struct pairs {
	char keys[16][64], values[16][64];
	size_t n;
	size_t stop_at; /* 1-based; 0 = never */
};

static int record(const char *key, const char *value, void *userdata)
{
	struct pairs *p = userdata;
	cr_assert_lt(p->n, 16);
	snprintf(p->keys[p->n], sizeof(p->keys[0]), "%s", key);
	snprintf(p->values[p->n], sizeof(p->values[0]), "%s", value);
	p->n++;
	return p->stop_at && p->n == p->stop_at ? 7 : 0;
}

/* expected: "key=value" strings */
static void check_opts(const char *s, const char *implied, const char *const *expected, size_t n)
{
	struct pairs p = {0};
	cr_assert_eq(qemu_opts_foreach(s, implied, record, &p), 0, "\"%s\"", s);
	cr_assert_eq(p.n, n, "\"%s\": %zu options, expected %zu", s, p.n, n);
	for (size_t i = 0; i < n; i++) {
		char got[160];
		snprintf(got, sizeof(got), "%s=%s", p.keys[i], p.values[i]);
		cr_assert_str_eq(got, expected[i], "\"%s\" option %zu", s, i);
	}
}

Test(qemu_opts, header_example)
{
	static const char *const exp[] = {"a=1", "b=on", "c=off", "d=x,y"};
	check_opts("a=1,b,noc,d=x,,y", NULL, exp, ARRAY_SIZE(exp));
}

Test(qemu_opts, escaped_commas)
{
	static const char *const exp[] = {"guest=win7,ent", "debug-threads=on"};
	check_opts("guest=win7,,ent,debug-threads=on", NULL, exp, ARRAY_SIZE(exp));
	static const char *const exp2[] = {"path=/a,,b/,c"};
	check_opts("path=/a,,,,b/,,c", NULL, exp2, ARRAY_SIZE(exp2));
}

Test(qemu_opts, implied_key_only_for_the_first_bare_element)
{
	static const char *const exp[] = {"guest=win7", "debug-threads=on"};
	check_opts("win7,debug-threads=on", "guest", exp, ARRAY_SIZE(exp));
	/* an implied value keeps its escaped commas */
	static const char *const exp2[] = {"guest=a,b", "process=c"};
	check_opts("a,,b,process=c", "guest", exp2, ARRAY_SIZE(exp2));
	/* a first element with '=' is not the implied key */
	static const char *const exp3[] = {"id=x", "server=on"};
	check_opts("id=x,server", "backend", exp3, ARRAY_SIZE(exp3));
	/* without an implied key the bare first element is a flag */
	static const char *const exp4[] = {"foo=on"};
	check_opts("foo", NULL, exp4, ARRAY_SIZE(exp4));
}

Test(qemu_opts, flags)
{
	static const char *const exp[] = {"backend=unix:/run/a.sock", "server=on", "wait=off"};
	check_opts("unix:/run/a.sock,server,nowait", "backend", exp, ARRAY_SIZE(exp));
	/* "no" alone is a flag named "no", not an empty negation */
	static const char *const exp2[] = {"x=1", "no=on"};
	check_opts("x=1,no", NULL, exp2, ARRAY_SIZE(exp2));
	/* a bare first element is the implied key's value, even when it starts with "no" */
	static const char *const exp3[] = {"guest=nova", "shared=off"};
	check_opts("nova,noshared", "guest", exp3, ARRAY_SIZE(exp3));
}

Test(qemu_opts, empty_values_and_edges)
{
	check_opts("", "guest", NULL, 0);
	static const char *const exp[] = {"a=", "b=1"};
	check_opts("a=,b=1", NULL, exp, ARRAY_SIZE(exp));
	static const char *const exp2[] = {"a=1"};
	check_opts("a=1,", NULL, exp2, ARRAY_SIZE(exp2));
	static const char *const exp3[] = {"a=x=y"};
	check_opts("a=x=y", NULL, exp3, ARRAY_SIZE(exp3));
}

Test(qemu_opts, callback_stops_the_walk)
{
	struct pairs p = {.stop_at = 2};
	cr_assert_eq(qemu_opts_foreach("a=1,b=2,c=3", NULL, record, &p), 7);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.keys[1], "b");
}

/* ---- qemu_config_parse -------------------------------------------------------------- */

/* argv from a command line of blank-separated words (no word in these tests holds
 * a blank). */
static void parse(const char *cmdline, struct qemu_config *cfg)
{
	char *copy = strdup(cmdline);
	cr_assert_not_null(copy);
	char *argv[64];
	size_t argc = 0;
	for (char *w = strtok(copy, " "); w; w = strtok(NULL, " ")) {
		cr_assert_lt(argc, 64);
		argv[argc++] = w;
	}
	memset(cfg, 0x5a, sizeof(*cfg));
	int r = qemu_config_parse(argv, argc, cfg);
	free(copy);
	cr_assert_eq(r, 0, "qemu_config_parse(%s) = %d", cmdline, r);
}

static void check_qmp_paths(const struct qemu_config *c, const char *const *paths, size_t n)
{
	cr_assert_eq(c->n_qmp_paths, n, "%zu QMP sockets, expected %zu", c->n_qmp_paths, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(c->qmp_paths[i], paths[i]);
	if (n)
		cr_assert_null(c->qmp_paths[n]);
}

Test(qemu_config, defaults)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -m 64 -nodefaults", &c);
	cr_assert_null(c.name);
	cr_assert_null(c.process_name);
	cr_assert_not(c.debug_threads);
	cr_assert_eq(c.n_qmp_paths, 0);
	cr_assert_null(c.pidfile);
	cr_assert_eq(c.smp_cpus, 1, "one vCPU without -smp");
	cr_assert_eq(c.n_iothread_ids, 0);
	cr_assert_null(c.accel);
	qemu_config_done(&c);
	cr_assert_null(c.name, "done leaves a zeroed struct");
	qemu_config_done(&c); /* and may run twice */
}

Test(qemu_config, name_with_escaped_comma_and_debug_threads)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -name guest=win7,,ent,debug-threads=on", &c);
	cr_assert_str_eq(c.name, "win7,ent");
	cr_assert(c.debug_threads);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -name guest=vm,debug-threads=off", &c);
	cr_assert_str_eq(c.name, "vm");
	cr_assert_not(c.debug_threads);
	qemu_config_done(&c);
}

Test(qemu_config, name_positional_and_double_dash)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -name foo", &c);
	cr_assert_str_eq(c.name, "foo");
	qemu_config_done(&c);

	parse("qemu-system-x86_64 --name foo2", &c);
	cr_assert_str_eq(c.name, "foo2");
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -name foo,process=bar", &c);
	cr_assert_str_eq(c.name, "foo");
	cr_assert_str_eq(c.process_name, "bar");
	qemu_config_done(&c);

	/* the last -name wins, as in QEMU */
	parse("qemu-system-x86_64 -name first -name second", &c);
	cr_assert_str_eq(c.name, "second");
	qemu_config_done(&c);

	/* a trailing option without its value is ignored */
	parse("qemu-system-x86_64 -name", &c);
	cr_assert_null(c.name);
	qemu_config_done(&c);
}

Test(qemu_config, option_values_are_not_options)
{
	struct qemu_config c;
	/* the value "-smp" of -name is a name, not an option */
	parse("qemu-system-x86_64 -name -smp -m 64", &c);
	cr_assert_str_eq(c.name, "-smp");
	cr_assert_eq(c.smp_cpus, 1);
	qemu_config_done(&c);
}

Test(qemu_config, qmp_legacy_syntax)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -qmp unix:/run/a.qmp,server=on,wait=off", &c);
	check_qmp_paths(&c, (const char *const[]){"/run/a.qmp"}, 1);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -qmp unix:rel.sock,server,nowait", &c);
	check_qmp_paths(&c, (const char *const[]){"rel.sock"}, 1);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -qmp-pretty unix:/run/p.sock,server=on", &c);
	check_qmp_paths(&c, (const char *const[]){"/run/p.sock"}, 1);
	qemu_config_done(&c);

	/* not unix sockets: nothing kvmcg can connect to */
	parse("qemu-system-x86_64 -qmp tcp:127.0.0.1:4444,server=on -qmp stdio -qmp unix:", &c);
	check_qmp_paths(&c, NULL, 0);
	qemu_config_done(&c);
}

Test(qemu_config, qmp_through_chardev_and_control_monitor)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -chardev socket,id=mon0,path=/run/m.sock,server=on,wait=off "
	      "-mon chardev=mon0,mode=control",
	      &c);
	check_qmp_paths(&c, (const char *const[]){"/run/m.sock"}, 1);
	qemu_config_done(&c);

	/* the implied key of -mon is chardev */
	parse("qemu-system-x86_64 -chardev socket,id=mon0,path=/run/m.sock,server=on,wait=off "
	      "-mon mon0,mode=control",
	      &c);
	check_qmp_paths(&c, (const char *const[]){"/run/m.sock"}, 1);
	qemu_config_done(&c);
}

Test(qemu_config, readline_monitor_is_not_qmp)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -chardev socket,id=mon0,path=/run/m.sock,server=on,wait=off "
	      "-mon mon0",
	      &c);
	check_qmp_paths(&c, NULL, 0);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -chardev socket,id=mon0,path=/run/m.sock,server=on,wait=off "
	      "-mon chardev=mon0,mode=readline",
	      &c);
	check_qmp_paths(&c, NULL, 0);
	qemu_config_done(&c);

	/* a control monitor on a chardev that is not a unix socket */
	parse("qemu-system-x86_64 -chardev socket,id=t,host=127.0.0.1,port=4444,server=on "
	      "-mon chardev=t,mode=control",
	      &c);
	check_qmp_paths(&c, NULL, 0);
	qemu_config_done(&c);
}

Test(qemu_config, mon_before_chardev)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -mon chardev=qmp1,mode=control -m 64 "
	      "-chardev socket,id=qmp1,path=/run/late.sock,server=on,wait=off",
	      &c);
	check_qmp_paths(&c, (const char *const[]){"/run/late.sock"}, 1);
	qemu_config_done(&c);
}

Test(qemu_config, several_monitors_in_order)
{
	struct qemu_config c;
	/* -qmp ones first, then the -chardev/-mon pairs in -mon order */
	parse("qemu-system-x86_64 -qmp unix:/run/one.sock,server=on,wait=off "
	      "-chardev socket,id=a,path=/run/a.sock,server=on "
	      "-chardev socket,id=b,path=/run/b.sock,server=on "
	      "-mon chardev=b,mode=control -mon chardev=a,mode=control "
	      "-chardev socket,id=hmp,path=/run/hmp.sock,server=on -mon chardev=hmp",
	      &c);
	check_qmp_paths(&c, (const char *const[]){"/run/one.sock", "/run/b.sock", "/run/a.sock"}, 3);
	qemu_config_done(&c);
}

Test(qemu_config, abstract_sockets)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -chardev socket,id=m,path=qmp-abs,abstract=on,server=on,wait=off "
	      "-mon chardev=m,mode=control",
	      &c);
	check_qmp_paths(&c, (const char *const[]){"@qmp-abs"}, 1);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -qmp unix:legacy-abs,abstract=on,server=on,wait=off", &c);
	check_qmp_paths(&c, (const char *const[]){"@legacy-abs"}, 1);
	qemu_config_done(&c);

	parse("qemu-system-x86_64 -qmp unix:/run/not-abs.sock,abstract=off,server=on", &c);
	check_qmp_paths(&c, (const char *const[]){"/run/not-abs.sock"}, 1);
	qemu_config_done(&c);
}

/* The config of "qemu-system-x86_64 -m M -smp S". */
static void config_of(const char *m, const char *smp, struct qemu_config *c)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "qemu-system-x86_64 -m %s -smp %s", m, smp);
	parse(cmd, c);
}

static int smp_of(const char *smp)
{
	struct qemu_config c;
	config_of("64", smp, &c);
	int n = c.smp_cpus;
	qemu_config_done(&c);
	return n;
}

Test(qemu_config, smp)
{
	cr_assert_eq(smp_of("4"), 4);
	cr_assert_eq(smp_of("cpus=2,maxcpus=8"), 2, "hot-pluggable vCPUs are not there at start");
	cr_assert_eq(smp_of("sockets=2,cores=4,threads=2"), 2 * 4 * 2);
	cr_assert_eq(smp_of("4,sockets=2,cores=2"), 4, "cpus wins over the topology");
	cr_assert_eq(smp_of("sockets=2"), 2, "missing topology members count as 1");
	cr_assert_eq(smp_of("sockets=2,dies=2,clusters=1,cores=2,threads=1"), 8);
}

Test(qemu_config, smp_maxcpus_without_cpus)
{
	/* QEMU: "If omitted, the CPU count defaults to maxcpus (if set) or else to the
	 * product of the topology" (hw/core/machine-smp.c); QEMU 7.2 started with
	 * -smp maxcpus=4 reports four vCPUs in query-cpus-fast. */
	cr_assert_eq(smp_of("maxcpus=4"), 4);
}

Test(qemu_config, iothreads)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -object iothread,id=io1 "
	      "-object {\"qom-type\":\"iothread\",\"id\":\"io2\",\"poll-max-ns\":32768} "
	      "-object memory-backend-ram,id=mem0,size=1G "
	      "-object {\"qom-type\":\"memory-backend-ram\",\"id\":\"mem1\",\"size\":1024} "
	      "-object iothread,poll-max-ns=0,id=io3 -object qom-type=iothread,id=io4",
	      &c);
	cr_assert_eq(c.n_iothread_ids, 4);
	cr_assert_str_eq(c.iothread_ids[0], "io1");
	cr_assert_str_eq(c.iothread_ids[1], "io2");
	cr_assert_str_eq(c.iothread_ids[2], "io3");
	cr_assert_str_eq(c.iothread_ids[3], "io4");
	cr_assert_null(c.iothread_ids[4]);
	qemu_config_done(&c);

	/* malformed JSON and an iothread without id name nothing */
	parse("qemu-system-x86_64 -object {\"qom-type\":\"iothread\" -object iothread "
	      "-object {\"qom-type\":\"iothread\",\"id\":7}",
	      &c);
	cr_assert_eq(c.n_iothread_ids, 0);
	qemu_config_done(&c);
}

Test(qemu_config, accelerator)
{
	static const struct {
		const char *args, *accel;
	} cases[] = {
		{"-accel kvm", "kvm"},
		{"-accel tcg,thread=multi", "tcg"},
		{"-accel accel=kvm", "kvm"},
		{"-machine q35,accel=kvm:tcg", "kvm"},
		{"-M pc,accel=tcg", "tcg"},
		{"-machine type=q35,accel=xen", "xen"},
		{"-enable-kvm", "kvm"},
		{"--enable-kvm -m 64", "kvm"},
		{"-machine q35", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "qemu-system-x86_64 %s", cases[i].args);
		struct qemu_config c;
		parse(cmd, &c);
		if (cases[i].accel)
			cr_assert_str_eq(c.accel, cases[i].accel, "%s", cases[i].args);
		else
			cr_assert_null(c.accel, "%s", cases[i].args);
		qemu_config_done(&c);
	}
}

Test(qemu_config, pidfile)
{
	struct qemu_config c;
	parse("qemu-system-x86_64 -daemonize -pidfile /run/vm1.pid -m 64", &c);
	cr_assert_str_eq(c.pidfile, "/run/vm1.pid");
	qemu_config_done(&c);
}

Test(qemu_config, realistic_libvirt_style_command_line)
{
	struct qemu_config c;
	parse("/usr/bin/qemu-system-x86_64 -name guest=db01,debug-threads=on -S "
	      "-object {\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\"} "
	      "-machine pc-q35-7.2,usb=off,dump-guest-core=off -accel kvm -cpu host "
	      "-m size=4194304k -overcommit mem-lock=off -smp 4,sockets=4,cores=1,threads=1 "
	      "-object {\"qom-type\":\"iothread\",\"id\":\"iothread1\"} -uuid "
	      "2f8b7c64-7c1e-4bd2-8c8d-0a1b2c3d4e5f -no-user-config -nodefaults "
	      "-chardev socket,id=charmonitor,fd=31,server=on,wait=off "
	      "-mon chardev=charmonitor,id=monitor,mode=control -rtc base=utc -no-shutdown",
	      &c);
	cr_assert_str_eq(c.name, "db01");
	cr_assert(c.debug_threads);
	cr_assert_str_eq(c.accel, "kvm");
	cr_assert_eq(c.smp_cpus, 4);
	cr_assert_eq(c.n_iothread_ids, 1);
	cr_assert_str_eq(c.iothread_ids[0], "iothread1");
	/* a monitor on an inherited fd has no path to connect to */
	cr_assert_eq(c.n_qmp_paths, 0);
	qemu_config_done(&c);
}

/* ---- qemu_is_qemu_name --------------------------------------------------------------- */

/* Only the executable's path is judged (discover.c passes /proc/PID/exe's): argv[0]
 * and comm are the process's own choice, so they are no longer an argument at all. */
Test(qemu_binary, names)
{
	static const struct {
		const char *path;
		bool qemu;
	} cases[] = {
		{"/usr/bin/qemu-system-x86_64", true},
		{"qemu-system-x86_64", true},
		{"/usr/bin/qemu-system-aarch64", true},
		{"/usr/libexec/qemu-kvm", true},
		{"/usr/bin/kvm", true},
		{"/tmp/x/qemu-system-x86_64", true}, /* a name only: the owner is checked elsewhere */
		{"qemu-system-", true},              /* fnmatch: '*' matches empty */
		{"/usr/bin/qemu-img", false},
		{"qemu-nbd", false},
		{"/usr/bin/python3.11", false},       /* exec -a qemu-system-x86_64 python3 ... */
		{"/usr/bin/kvm-helper", false},
		{"/usr/bin/firecracker", false},
		{"/usr/bin/qemu-kvm-wrapper", false},
		{"/usr/bin/qemu-system-x86_64/", false}, /* empty basename */
		{"", false},
		{NULL, false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_assert_eq(qemu_is_qemu_name(cases[i].path), cases[i].qemu, "path=%s",
			     cases[i].path ? cases[i].path : "(null)");
}

/* QEMU's forward x86 encoding (target/i386/topology.h): each level takes the bits of
 * its count rounded up to a power of two. The inverse must undo it for every CPU. */
static unsigned ceil_bits(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static void check_topology(const char *smp, unsigned sockets, unsigned dies, unsigned cores,
			   unsigned threads)
{
	char *argv[] = {(char *)"qemu-system-x86_64", (char *)"-smp", (char *)smp};
	struct qemu_config c;
	cr_assert_eq(qemu_config_parse(argv, 3, &c), 0);
	unsigned tb = ceil_bits(threads), cb = ceil_bits(cores), db = ceil_bits(dies);
	unsigned index = 0;
	for (unsigned s = 0; s < sockets; s++)
		for (unsigned d = 0; d < dies; d++)
			for (unsigned co = 0; co < cores; co++)
				for (unsigned t = 0; t < threads; t++, index++) {
					unsigned apic = (s << (db + cb + tb)) | (d << (cb + tb)) | (co << tb) | t;
					cr_assert_eq(qemu_apic_id_to_cpu_index(&c, apic), (int)index,
						     "-smp %s: APIC id %u", smp, apic);
				}
	/* Ids in the gaps of the encoding belong to no CPU. */
	if (threads == 3)
		cr_assert_eq(qemu_apic_id_to_cpu_index(&c, 3), -1, "-smp %s: thread field 3", smp);
	cr_assert_eq(qemu_apic_id_to_cpu_index(&c, 1u << (db + cb + tb + 8)), -1);
	qemu_config_done(&c);
}

Test(qemu_apic, inverts_qemu_topology_encoding)
{
	check_topology("12,sockets=2,cores=3,threads=2", 2, 1, 3, 2);
	check_topology("sockets=2,dies=2,cores=3,threads=3", 2, 2, 3, 3);
	check_topology("1,maxcpus=4,sockets=4", 4, 1, 1, 1);
	check_topology("6", 1, 1, 6, 1);
	check_topology("maxcpus=4", 1, 1, 4, 1);
}

static uint64_t ram_of(const char *m)
{
	struct qemu_config cfg;
	config_of(m, "2", &cfg);
	uint64_t b = cfg.ram_bytes;
	qemu_config_done(&cfg);
	return b;
}

/* -m as QEMU reads it (qemu_strtosz_MiB(): no suffix is MiB, suffixes are binary). */
Test(qemu_config, ram_size)
{
	cr_assert_eq(ram_of("128"), 128ull << 20);
	cr_assert_eq(ram_of("2G"), 2ull << 30);
	cr_assert_eq(ram_of("2g"), 2ull << 30);
	cr_assert_eq(ram_of("512M"), 512ull << 20);
	cr_assert_eq(ram_of("1T"), 1ull << 40);
	cr_assert_eq(ram_of("65536K"), 64ull << 20);
	cr_assert_eq(ram_of("size=4G,slots=4,maxmem=16G"), 4ull << 30);
	cr_assert_eq(ram_of("slots=4,size=1G"), 1ull << 30);
	cr_assert_eq(ram_of("1GB"), 1ull << 30);
	/* what QEMU would refuse, or kvmcg cannot be sure of: unknown */
	static const char *const bad[] = {"", "x", "1X", "-1", "1.5G", "99999999999999999999", "16777216T", "1GiB"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(ram_of(bad[i]), 0, "-m '%s'", bad[i]);
	struct qemu_config cfg;
	parse("qemu-system-x86_64 -smp 2", &cfg);
	cr_assert_eq(cfg.ram_bytes, 0, "no -m");
	qemu_config_done(&cfg);
}

/* -object memory-backend-*,size=: a property, so bytes without a suffix
 * (qemu_strtosz()); in the order given; other objects and sizes QEMU would refuse
 * are left out. */
Test(qemu_config, memory_backend_sizes)
{
	struct qemu_config cfg;
	parse("qemu-system-x86_64 -m 128 -object memory-backend-ram,id=m0,size=64M,prealloc=on "
	      "-object iothread,id=io0 -object memory-backend-file,id=m1,mem-path=/dev/shm/x,size=67108864,share=on "
	      "-object memory-backend-memfd,id=m2,size=1G -object memory-backend-ram,id=bad,size=1X "
	      "-object secret,id=s,size=5",
	      &cfg);
	cr_assert_eq(cfg.ram_bytes, 128ull << 20);
	cr_assert_eq(cfg.n_backend_bytes, 3);
	cr_assert_eq(cfg.backend_bytes[0], 64ull << 20);
	cr_assert_eq(cfg.backend_bytes[1], 64ull << 20);
	cr_assert_eq(cfg.backend_bytes[2], 1ull << 30);
	cr_assert_eq(cfg.n_iothread_ids, 1, "the iothread is still an iothread");
	qemu_config_done(&cfg);
}

/* ---- qemu_opt_takes_arg, qemu_argv_next ----------------------------------------------- */

Test(qemu_argv, options_with_values)
{
	static const char *const with[] = {"object", "numa", "append", "name", "qmp", "qmp-pretty", "M",
					   "m", "D", "L", "fw_cfg", "xen-domid", "chardev", "pidfile"};
	for (size_t i = 0; i < ARRAY_SIZE(with); i++)
		cr_assert(qemu_opt_takes_arg(with[i]), "%s", with[i]);
	static const char *const without[] = {"S", "s", "daemonize", "enable-kvm", "nodefaults", "snapshot",
					      "no-reboot", "preconfig", "", "zzz", "Object", "-object"};
	for (size_t i = 0; i < ARRAY_SIZE(without); i++)
		cr_assert_not(qemu_opt_takes_arg(without[i]), "%s", without[i]);
}

Test(qemu_config, value_of_an_unknown_to_the_parser_option_is_not_an_option)
{
	struct qemu_config c;
	/* -append takes a value: "-name" is the kernel's command line, not QEMU's -name */
	parse("qemu-system-x86_64 -append -name foo -m 64", &c);
	cr_assert_null(c.name);
	cr_assert_eq(c.ram_bytes, 64ull << 20);
	qemu_config_done(&c);
}

Test(qemu_argv, walk)
{
	char buf[] = "qemu\0--S\0-object\0-S\0disk.img\0-\0-m\0" "64\0-append";
	char *argv[9];
	size_t argc = 0, i = 1;
	for (char *p = buf; argc < ARRAY_SIZE(argv); p += strlen(p) + 1)
		argv[argc++] = p;
	struct qemu_arg a;
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_str_eq(a.opt, "S");
	cr_assert_null(a.val);
	cr_assert_eq(a.opt_i, 1);
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_str_eq(a.opt, "object");
	cr_assert_str_eq(a.val, "-S");
	cr_assert_eq(a.val_i, 3);
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_null(a.opt);
	cr_assert_str_eq(a.val, "disk.img");
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_null(a.opt);
	cr_assert_str_eq(a.val, "-");
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_str_eq(a.opt, "m");
	cr_assert_str_eq(a.val, "64");
	cr_assert(qemu_argv_next(argv, argc, &i, &a));
	cr_assert_str_eq(a.opt, "append");
	cr_assert_null(a.val); /* missing at the end */
	cr_assert_not(qemu_argv_next(argv, argc, &i, &a));
}
