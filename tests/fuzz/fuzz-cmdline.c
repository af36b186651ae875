// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for QEMU command lines as /proc/PID/cmdline shows them: NUL-
 * separated arguments, which any process can make what it likes (a VM is found by
 * its executable or a KVM fd, and its argv is its own to rewrite). The input is
 * such a file: proc_cmdline_split(), then qemu_config_parse() (-name, -qmp,
 * -chardev/-mon, -object iothread in both syntaxes, -smp, -accel, -machine,
 * -pidfile), then qemu_apic_id_to_cpu_index() over the topology it found, and
 * qemu_is_qemu_name() on argv[0]. Checks what holds for every input and frees
 * everything; a failed check aborts. See README.md. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/procfs.h"
#include "vmm/qemu-argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-cmdline: check failed at %s:%d: %s\n", __FILE__,     \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* argv as procfs.h says: one argument per NUL-ended piece, the last one also
 * without its NUL. */
static void check_split(const char *buf, size_t len, char **argv, size_t argc)
{
	size_t k = 0;
	for (size_t i = 0; i < len; k++) {
		size_t l = strnlen(buf + i, len - i);
		CHECK(k < argc);
		CHECK(strlen(argv[k]) == l && memcmp(argv[k], buf + i, l) == 0);
		i += l + 1;
	}
	CHECK(k == argc);
	CHECK(argv[argc] == NULL);
}

/* A string of the config: NULL or NUL-terminated, no longer than the input. */
static void check_str(const char *s, size_t len)
{
	if (s)
		CHECK(strnlen(s, len + 2) <= len + 1); /* +1: the '@' of an abstract socket */
}

static void check_strv(char **v, size_t n, size_t len)
{
	if (!v) {
		CHECK(n == 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		CHECK(v[i]);
		check_str(v[i], len);
	}
	CHECK(v[n] == NULL);
}

static void check_config(const struct qemu_config *c, size_t len)
{
	check_str(c->name, len);
	check_str(c->process_name, len);
	check_str(c->pidfile, len);
	check_str(c->accel, len);
	check_strv(c->qmp_paths, c->n_qmp_paths, len);
	/* a path may be empty ("-chardev socket,path=,id=m"): it names no socket, and
	 * connecting to it fails like any other missing one */
	check_strv(c->iothread_ids, c->n_iothread_ids, len);
	CHECK(c->smp_cpus >= 1);
	CHECK(c->smp_maxcpus >= 0 && c->smp_sockets >= 0 && c->smp_dies >= 0 && c->smp_cores >= 0 &&
	      c->smp_threads >= 0);
}

/* APIC ids map to distinct cpu-indexes below maxcpus, or to -1. */
#define APIC_IDS 1024
static void check_apic_ids(const struct qemu_config *c)
{
	unsigned maxcpus = (unsigned)(c->smp_maxcpus ? c->smp_maxcpus : c->smp_cpus);
	static unsigned char seen[APIC_IDS];
	memset(seen, 0, sizeof(seen));
	for (unsigned id = 0; id < APIC_IDS; id++) {
		int index = qemu_apic_id_to_cpu_index(c, id);
		CHECK(index >= -1);
		if (index < 0)
			continue;
		CHECK((unsigned)index < maxcpus);
		if (index < APIC_IDS) {
			CHECK(!seen[index]);
			seen[index] = 1;
		}
	}
	static const unsigned far[] = {1u << 16, 1u << 24, 1u << 31, UINT32_MAX - 1, UINT32_MAX};
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		int index = qemu_apic_id_to_cpu_index(c, far[i]);
		CHECK(index == -1 || (index >= 0 && (unsigned)index < maxcpus));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **argv = NULL;
	size_t argc = 0;
	if (proc_cmdline_split((const char *)data, size, &argv, &argc) < 0)
		return 0; /* out of memory only */
	check_split((const char *)data, size, argv, argc);

	if (argc > 0)
		(void)qemu_is_qemu_name(argv[0]);

	struct qemu_config c = {0};
	if (qemu_config_parse(argv, argc, &c) == 0) {
		check_config(&c, size);
		check_apic_ids(&c);
		qemu_config_done(&c);
	}
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return 0;
}
