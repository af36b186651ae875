// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the /proc text kvmcg parses, where a VM's owner chooses part
 * of what it reads: thread names (prctl(PR_SET_NAME), inside stat's parentheses),
 * cgroup paths, mount points. The first byte of the input picks the parser, the rest
 * is the file (NUL-terminated, as read_file_at() gives it):
 *
 *   s  PID/stat          proc_stat_parse()
 *   S  PID/status        proc_status_field(), proc_status_euid(), the
 *                        Cpus_allowed_list through idset_parse()
 *   c  PID/cgroup        proc_cgroup_parse()
 *   y  PID/syscall       proc_syscall_parse()
 *   e  exe.stat          proc_exe_stat_parse() (a captured tree's record)
 *   m  self/mountinfo    cgroup_parse_mountinfo(), and the same text as a
 *                        cgroup.controllers for cgroup_parse_controllers()
 *   n  a thread name     classify_thread_name(), as QEMU's and as another VMM's
 *   x  exe evidence      "PATH\nEXE.STAT\nARGV0\nCOMM": vm_exe_evidence()
 *
 * Any other first byte picks one of these by its value. Checks what holds for every
 * input and frees everything; a failed check aborts. See README.md. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/idset.h"
#include "kernel/cgroupfs.h"
#include "kernel/procfs.h"
#include "vmm/discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-proc: check failed at %s:%d: %s\n", __FILE__,        \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* comm is what stands between the first '(' and the last ')', cut to fit. */
static void fuzz_stat(const char *buf)
{
	struct proc_stat st;
	memset(&st, 0xa5, sizeof(st));
	if (proc_stat_parse(buf, &st) < 0)
		return;
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	CHECK(open && close && open < close);
	size_t want = (size_t)(close - open - 1);
	if (want > sizeof(st.comm) - 1)
		want = sizeof(st.comm) - 1;
	size_t got = strnlen(st.comm, sizeof(st.comm));
	CHECK(got < sizeof(st.comm));
	/* a NUL cannot be in a string buffer, so the lengths agree exactly */
	CHECK(got == want && memcmp(st.comm, open + 1, got) == 0);
	CHECK(st.state != '\0');
}

/* A value: trimmed, one line, a piece of the input. */
static void check_field(const char *buf, const char *v)
{
	CHECK(v);
	size_t l = strlen(v);
	CHECK(!strchr(v, '\n'));
	if (l) {
		CHECK(!isspace((unsigned char)v[0]) && !isspace((unsigned char)v[l - 1]));
		CHECK(strstr(buf, v));
	}
}

static void fuzz_status(const char *buf)
{
	static const char *const keys[] = {"Name", "Uid", "Cpus_allowed_list", "SigPnd", "ShdPnd", "Tgid", ""};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *v = NULL;
		int r = proc_status_field(buf, keys[i], &v);
		CHECK(r == 0 || r == -ENOENT);
		if (r < 0)
			continue;
		check_field(buf, v);
		if (strcmp(keys[i], "Cpus_allowed_list") == 0) {
			/* proc_read_affinity(): what the list says, and its canonical form again */
			struct idset *s = NULL, *again = NULL;
			if (idset_parse(v, &s, NULL) == 0) {
				char *text = idset_format(s);
				CHECK(text);
				if (*text) {
					CHECK(idset_parse(text, &again, NULL) == 0);
					CHECK(idset_equal(s, again));
				} else {
					CHECK(idset_count(s) == 0);
				}
				idset_free(again);
				free(text);
				idset_free(s);
			}
		}
		free(v);
	}
	uid_t uid;
	int r = proc_status_euid(buf, &uid);
	CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
}

static void fuzz_cgroup(const char *buf)
{
	char *path = NULL;
	bool v1 = false;
	int r = proc_cgroup_parse(buf, &path, &v1);
	CHECK(r == 0 || r == -ENOENT);
	if (r < 0)
		return;
	/* the rest of one line */
	CHECK(path && !strchr(path, '\n'));
	CHECK(strstr(buf, path));
	free(path);
}

static void fuzz_syscall(const char *buf)
{
	struct proc_syscall sc;
	if (proc_syscall_parse(buf, &sc) < 0)
		return;
	CHECK(!sc.running || sc.nr == -1);
}

static void fuzz_exe_stat(const char *buf)
{
	struct proc_exe e = {.stat_error = -ENODATA};
	if (proc_exe_stat_parse(buf, &e) < 0) {
		CHECK(!e.have_stat && e.stat_error == -ENODATA); /* untouched */
		return;
	}
	CHECK(e.have_stat && e.stat_error == 0 && e.mode <= 0xffff);
}

static void fuzz_mountinfo(const char *buf)
{
	struct cgroup_mount *m = NULL;
	size_t n = 0;
	if (cgroup_parse_mountinfo(buf, &m, &n) < 0)
		return;
	CHECK(n == 0 || m);
	size_t len = strlen(buf);
	for (size_t i = 0; i < n; i++) {
		/* \ooo escapes only shrink the mount point */
		CHECK(m[i].path && strlen(m[i].path) <= len);
		CHECK(!m[i].v2 || (!m[i].has_cpuset && !m[i].has_cpu));
		if (m[i].v2) {
			cgroup_parse_controllers(buf, &m[i]);
			CHECK(m[i].has_cpuset == cg_controller_listed(buf, "cpuset"));
		}
	}
	cgroup_mounts_free(m, n);
}

static void fuzz_thread_name(const char *comm)
{
	for (int qemu = 0; qemu < 2; qemu++) {
		int index = -7;
		const char *id = NULL;
		enum thread_kind k = classify_thread_name(comm, qemu, &index, &id);
		CHECK(k == THREAD_UNKNOWN || k == THREAD_VCPU || k == THREAD_IOTHREAD);
		if (k == THREAD_VCPU)
			CHECK(index >= 0 && !id);
		else
			CHECK(index == -7);
		if (k == THREAD_IOTHREAD) {
			/* a piece of the name itself, not a copy to free */
			CHECK(qemu && id == comm + 3 && id[0]);
		} else {
			CHECK(!id);
		}
	}
}

/* Whatever the path, argv[0] and comm hold, the reason is one terminal-safe line. */
static void check_terminal_safe(const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		CHECK(*c >= 0x20 && *c != 0x7f);
		CHECK(!(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f));
	}
}

static void fuzz_exe(char *buf)
{
	char *part[4] = {buf, NULL, NULL, NULL};
	for (int i = 1; i < 4; i++) {
		char *nl = part[i - 1] ? strchr(part[i - 1], '\n') : NULL;
		if (!nl)
			break;
		*nl = '\0';
		part[i] = nl + 1;
	}
	struct proc_exe e = {.path = part[0][0] ? part[0] : NULL, .stat_error = -ENODATA, .path_trusted = true};
	if (part[1] && proc_exe_stat_parse(part[1], &e) < 0)
		e.stat_error = -EINVAL;
	/* the last byte of the path decides whether its directories were trusted */
	if (e.path && (part[0][strlen(part[0]) - 1] & 1))
		e.path_trusted = false;
	char *why = NULL;
	int r = vm_exe_evidence(&e, part[2], part[3], &why);
	CHECK(r == 0 || r == 1);
	if (r == 1) {
		CHECK(!why);
		CHECK(e.path && qemu_is_qemu_name(e.path) && e.have_stat && S_ISREG(e.mode) && e.uid == 0 &&
		      !(e.mode & (S_IWGRP | S_IWOTH)) && e.path_trusted);
	} else {
		CHECK(why && why[0]);
		check_terminal_safe(why);
	}
	free(why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char kinds[] = "sScyemnx";
	if (size == 0)
		return 0;
	char kind = (char)data[0];
	if (!kind || !strchr(kinds, kind))
		kind = kinds[data[0] % (sizeof(kinds) - 1)];
	/* the file as read_file_at() gives it: NUL-terminated */
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	switch (kind) {
	case 's':
		fuzz_stat(buf);
		break;
	case 'S':
		fuzz_status(buf);
		break;
	case 'c':
		fuzz_cgroup(buf);
		break;
	case 'y':
		fuzz_syscall(buf);
		break;
	case 'e':
		fuzz_exe_stat(buf);
		break;
	case 'm':
		fuzz_mountinfo(buf);
		break;
	case 'n':
		fuzz_thread_name(buf);
		break;
	case 'x':
		fuzz_exe(buf);
		break;
	}
	free(buf);
	return 0;
}
