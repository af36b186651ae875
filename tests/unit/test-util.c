// SPDX-License-Identifier: GPL-2.0-or-later
/* util: strict number parsing and file I/O relative to a directory fd. */
#include <criterion/criterion.h>

#include "scratch.h"
#include <criterion/hooks.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"

/* ---- strict parsers ---------------------------------------------------------------- */

Test(util, parse_int_accepts_plain_decimal)
{
	static const struct {
		const char *s;
		int v;
	} ok[] = {{"0", 0}, {"42", 42}, {"-7", -7}, {"007", 7}, {"2147483647", INT_MAX},
		  {"-2147483648", INT_MIN}};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		int v = 12345;
		cr_assert_eq(parse_int(ok[i].s, &v), 0, "parse_int(\"%s\")", ok[i].s);
		cr_assert_eq(v, ok[i].v, "parse_int(\"%s\") = %d", ok[i].s, v);
	}
}

Test(util, parse_int_rejects_junk)
{
	static const char *const bad[] = {"", " 1", "\t1", "+1", "1 ", "1\n", "1x", "0x10", "-",
					  "--1", "1.0", "1,2", "abc"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int v = 12345;
		cr_assert_eq(parse_int(bad[i], &v), -EINVAL, "parse_int(\"%s\")", bad[i]);
		cr_assert_eq(v, 12345, "parse_int(\"%s\") left the output alone", bad[i]);
	}
	int v = 12345;
	cr_assert_eq(parse_int(NULL, &v), -EINVAL);
}

Test(util, parse_int_overflow)
{
	static const char *const big[] = {"2147483648", "-2147483649", "99999999999999999999",
					  "-99999999999999999999"};
	for (size_t i = 0; i < ARRAY_SIZE(big); i++) {
		int v = 12345;
		cr_assert_eq(parse_int(big[i], &v), -ERANGE, "parse_int(\"%s\")", big[i]);
		cr_assert_eq(v, 12345);
	}
}

Test(util, parse_pid)
{
	pid_t p = 0;
	cr_assert_eq(parse_pid("1", &p), 0);
	cr_assert_eq(p, 1);
	cr_assert_eq(parse_pid("4194304", &p), 0, "pid_max can be 2^22");
	cr_assert_eq(p, 4194304);

	static const struct {
		const char *s;
		int r;
	} bad[] = {{"0", -ERANGE},      {"4194305", -ERANGE}, {"99999999999", -ERANGE},
		   {"-1", -EINVAL},     {"+1", -EINVAL},      {" 1", -EINVAL},
		   {"1 ", -EINVAL},     {"12a", -EINVAL},     {"", -EINVAL},
		   {"self", -EINVAL},   {"1\n", -EINVAL},     {"184467440737095516160", -ERANGE}};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = 777;
		cr_assert_eq(parse_pid(bad[i].s, &p), bad[i].r, "parse_pid(\"%s\")", bad[i].s);
		cr_assert_eq(p, 777);
	}
}

Test(util, parse_u64)
{
	uint64_t v = 1;
	cr_assert_eq(parse_u64("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse_u64("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(parse_u64("18446744073709551616", &v), -ERANGE);
	cr_assert_eq(parse_u64("99999999999999999999999", &v), -ERANGE);

	static const char *const bad[] = {"", "-1", "-0", "+1", " 1", "1 ", "1\n", "0x1", "1e3", "x"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 42;
		cr_assert_eq(parse_u64(bad[i], &v), -EINVAL, "parse_u64(\"%s\")", bad[i]);
		cr_assert_eq(v, 42);
	}
	cr_assert_eq(parse_u64(NULL, &v), -EINVAL);
}

/* ---- strings ------------------------------------------------------------------------- */

Test(util, startswith_and_strdup_or_null)
{
	cr_assert(startswith("anon_inode:kvm-vm", "anon_inode:"));
	cr_assert(startswith("abc", ""));
	cr_assert(startswith("abc", "abc"));
	cr_assert_not(startswith("ab", "abc"));
	cr_assert_not(startswith("xabc", "abc"));

	cr_assert_null(strdup_or_null(NULL));
	_cleanup_free_ char *s = strdup_or_null("text");
	cr_assert_str_eq(s, "text");
}

Test(util, strv_push_keeps_vector_null_terminated)
{
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	static const char *const words[] = {"a", "", "c c"};
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		cr_assert_eq(strv_push(&v, &n, words[i]), 0);
		cr_assert_eq(n, i + 1);
		cr_assert_null(v[n]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		cr_assert_str_eq(v[i], words[i]);
		cr_assert_neq(v[i], words[i], "strv_push copies");
	}
	strv_free(NULL);
}

Test(util, now_ns_is_monotonic)
{
	uint64_t a = now_ns();
	usleep(2000);
	uint64_t b = now_ns();
	cr_assert_geq(b - a, 2000000u);
}

/* ---- files ----------------------------------------------------------------------------- */

static char tmpdir[64];
static int tmpfd = -1;

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void tmp_setup(void)
{
	scratch_make(tmpdir, sizeof(tmpdir), "util");
	tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tmpfd, 0);
}

static void tmp_teardown(void)
{
	if (tmpfd >= 0)
		close(tmpfd);
	tmpfd = -1;
	if (tmpdir[0])
		scratch_remove(tmpdir);
	tmpdir[0] = '\0';
}

static void put_file(const char *name, const void *data, size_t len)
{
	int fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "create %s", name);
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		cr_assert_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

TestSuite(util_files, .init = tmp_setup, .fini = tmp_teardown);

Test(util_files, read_file_at_plain)
{
	static const char text[] = "Name:\tqemu\nState:\tS\n";
	put_file("plain", text, strlen(text));
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_at(tmpfd, "plain", &buf, &len), 0);
	cr_assert_eq(len, strlen(text));
	cr_assert_str_eq(buf, text);

	/* ret_len is optional */
	_cleanup_free_ char *buf2 = NULL;
	cr_assert_eq(read_file_at(tmpfd, "plain", &buf2, NULL), 0);
	cr_assert_str_eq(buf2, text);

	/* AT_FDCWD with an absolute path */
	char path[128];
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	_cleanup_free_ char *buf3 = NULL;
	cr_assert_eq(read_file_at(AT_FDCWD, path, &buf3, NULL), 0);
	cr_assert_str_eq(buf3, text);
}

Test(util_files, read_file_at_keeps_nul_bytes)
{
	static const char cmdline[] = "qemu\0-name\0vm\0";
	put_file("nul", cmdline, sizeof(cmdline) - 1);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_at(tmpfd, "nul", &buf, &len), 0);
	cr_assert_eq(len, sizeof(cmdline) - 1);
	cr_assert_eq(memcmp(buf, cmdline, len), 0);
	cr_assert_eq(buf[len], '\0');
}

Test(util_files, read_file_at_empty)
{
	put_file("empty", "", 0);
	_cleanup_free_ char *buf = NULL;
	size_t len = 99;
	cr_assert_eq(read_file_at(tmpfd, "empty", &buf, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(buf, "");
}

Test(util_files, read_file_at_grows_past_first_buffer)
{
	size_t size = 300000;
	_cleanup_free_ char *data = malloc(size);
	cr_assert_not_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	put_file("big", data, size);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_at(tmpfd, "big", &buf, &len), 0);
	cr_assert_eq(len, size);
	cr_assert_eq(memcmp(buf, data, size), 0);
}

Test(util_files, read_file_at_refuses_huge_file)
{
	size_t size = READ_FILE_MAX + 1;
	_cleanup_free_ char *data = calloc(1, size);
	cr_assert_not_null(data);
	put_file("huge", data, size);
	_cleanup_free_ char *buf = NULL;
	cr_assert_eq(read_file_at(tmpfd, "huge", &buf, NULL), -EFBIG);
	cr_assert_null(buf);
}

Test(util_files, read_file_at_does_not_follow_symlink)
{
	static const char text[] = "secret\n";
	put_file("target", text, strlen(text));
	cr_assert_eq(symlinkat("target", tmpfd, "link"), 0);
	_cleanup_free_ char *buf = NULL;
	cr_assert_eq(read_file_at(tmpfd, "link", &buf, NULL), -ELOOP, "O_NOFOLLOW");
	cr_assert_null(buf);
	/* the target itself reads fine */
	cr_assert_eq(read_file_at(tmpfd, "target", &buf, NULL), 0);
	cr_assert_str_eq(buf, text);
}

Test(util_files, read_file_at_errors)
{
	_cleanup_free_ char *buf = NULL;
	cr_assert_eq(read_file_at(tmpfd, "missing", &buf, NULL), -ENOENT);
	cr_assert_eq(mkdirat(tmpfd, "dir", 0755), 0);
	cr_assert_eq(read_file_at(tmpfd, "dir", &buf, NULL), -EISDIR);
	cr_assert_eq(read_file_at(-1, "plain", &buf, NULL), -EBADF);
	cr_assert_null(buf);
}

Test(util_files, write_file_at)
{
	put_file("cgroup.procs", "", 0);
	cr_assert_eq(write_file_at(tmpfd, "cgroup.procs", "1234\n"), 0);
	_cleanup_free_ char *buf = NULL;
	cr_assert_eq(read_file_at(tmpfd, "cgroup.procs", &buf, NULL), 0);
	cr_assert_str_eq(buf, "1234\n");

	/* never creates a file: cgroup and proc files exist or the request is wrong */
	cr_assert_eq(write_file_at(tmpfd, "missing", "x"), -ENOENT);
	cr_assert_eq(faccessat(tmpfd, "missing", F_OK, 0), -1);

	/* never writes through a symlink */
	put_file("target", "old", 3);
	cr_assert_eq(symlinkat("target", tmpfd, "link"), 0);
	cr_assert_eq(write_file_at(tmpfd, "link", "new"), -ELOOP);
	_cleanup_free_ char *t = NULL;
	cr_assert_eq(read_file_at(tmpfd, "target", &t, NULL), 0);
	cr_assert_str_eq(t, "old");
}

Test(util_files, open_dir_at)
{
	cr_assert_eq(mkdirat(tmpfd, "dir", 0755), 0);
	put_file("dir/inner", "x", 1);
	int fd = open_dir_at(tmpfd, "dir");
	cr_assert_geq(fd, 0);
	_cleanup_free_ char *buf = NULL;
	cr_assert_eq(read_file_at(fd, "inner", &buf, NULL), 0, "usable as a root for openat");
	cr_assert_str_eq(buf, "x");
	close(fd);

	put_file("plain", "x", 1);
	cr_assert_eq(open_dir_at(tmpfd, "plain"), -ENOTDIR);
	cr_assert_eq(open_dir_at(tmpfd, "missing"), -ENOENT);
}

/* ---- shell_quote ------------------------------------------------------------------------ */

/* What bash's printf %q writes (bash 5.2), word by word. */
Test(util, shell_quote_as_printf_q)
{
	static const char *const cases[][2] = {
		{"", "''"},
		{"plain-word_1.2/x", "plain-word_1.2/x"},
		{"a b", "a\\ b"},
		{"a,b", "a\\,b"},
		{"it's", "it\\'s"},
		{"~x", "\\~x"},
		{"a~", "a~"},
		{"#a", "\\#a"},
		{"a#", "a#"},
		{"x=y:z@%+", "x=y:z@%+"},
		{"a{b}!^]$`\"|&;()<>*?[", "a\\{b\\}\\!\\^\\]\\$\\`\\\"\\|\\&\\;\\(\\)\\<\\>\\*\\?\\["},
		{"a\tb", "$'a\\tb'"},
		{"a\nb'c\\", "$'a\\nb\\'c\\\\'"},
		{"\x1b[1m", "$'\\E[1m'"},
		{"\x01", "$'\\001'"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *q = shell_quote(cases[i][0]);
		cr_assert_not_null(q);
		cr_assert_str_eq(q, cases[i][1], "case %zu", i);
		free(q);
	}
}

/* ---- leftovers of crashed tests ---------------------------------------------------------- */

/* Runs in the Criterion runner once every test is done: a test that crashed (a
 * sanitizer abort, a signal) never ran its .fini, so its scratch directory is still
 * there. Processes need no such care: every child a test starts dies with it
 * (PR_SET_PDEATHSIG). */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "kvmcg-unit-%d-", (int)getpid());
	DIR *d = opendir("/tmp");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char path[512];
		snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
		scratch_remove(path);
	}
	closedir(d);
}

Test(util, path_split)
{
	static const struct {
		const char *path, *parent, *base;
	} cases[] = {
		{"/etc/kvmcg/policies", "/etc/kvmcg", "policies"},
		{"/etc/kvmcg/policies/", "/etc/kvmcg", "policies"},
		{"/etc/kvmcg//policies//", "/etc/kvmcg", "policies"},
		{"policies", ".", "policies"},
		{"policies/", ".", "policies"},
		{"a//b", "a", "b"},
		{"/x", "/", "x"},
		{"//x", "/", "x"},
		{"/", NULL, "/"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *parent = (char *)"unset", *base = NULL;
		cr_assert_eq(path_split(cases[i].path, &parent, &base), 0);
		if (cases[i].parent)
			cr_assert_str_eq(parent, cases[i].parent, "%s: parent %s", cases[i].path, parent);
		else
			cr_assert_null(parent, "%s: parent %s", cases[i].path, parent);
		cr_assert_str_eq(base, cases[i].base, "%s: base %s", cases[i].path, base);
		free(parent);
		free(base);
	}
}

Test(util, strv_join_skips_nulls_and_joins_with_the_separator)
{
	char *v[] = {(char *)"vCPU 1 (tid 813)", NULL, (char *)"worker thread 812"};
	char *s = strv_join(v, 3, ", ");
	cr_assert_str_eq(s, "vCPU 1 (tid 813), worker thread 812");
	free(s);
	s = strv_join(v, 1, ", ");
	cr_assert_str_eq(s, "vCPU 1 (tid 813)");
	free(s);
	s = strv_join(v, 0, ", ");
	cr_assert_str_eq(s, "");
	free(s);
}
