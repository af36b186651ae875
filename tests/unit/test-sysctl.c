// SPDX-License-Identifier: GPL-2.0-or-later
/* kernel/sysctl: kernel.numa_balancing's modes by name and number, and its reader and
 * writer on a scratch proc tree (a file where the kernel has one, none where it was
 * built without CONFIG_NUMA_BALANCING, a symbolic link that is not followed). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "kernel/sysctl.h"
#include "scratch.h"

/* ---- names ---------------------------------------------------------------------------- */

/* What the kernel defines (include/linux/sched/sysctl.h), with kvmcg's names for it. */
static const struct {
	int value;
	const char *mode, *text;
} modes[] = {
	{NUMA_BALANCING_DISABLED, "off", "off"},
	{NUMA_BALANCING_NORMAL, "normal", "on (normal)"},
	{NUMA_BALANCING_MEMORY_TIERING, "memory-tiering", "memory-tiering"},
	{NUMA_BALANCING_NORMAL | NUMA_BALANCING_MEMORY_TIERING, "normal+memory-tiering", "on (normal) + memory-tiering"},
};

Test(numa_balancing, the_kernels_bits)
{
	cr_assert_eq(NUMA_BALANCING_DISABLED, 0);
	cr_assert_eq(NUMA_BALANCING_NORMAL, 1);
	cr_assert_eq(NUMA_BALANCING_MEMORY_TIERING, 2);
	cr_assert_eq(NUMA_BALANCING_MODES, NUMA_BALANCING_NORMAL | NUMA_BALANCING_MEMORY_TIERING);
}

Test(numa_balancing, every_mode_named_both_ways)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		cr_assert_str_eq(numa_balancing_mode(modes[i].value), modes[i].mode);
		cr_assert_str_eq(numa_balancing_text(modes[i].value), modes[i].text);
		int v = -1;
		cr_assert_eq(numa_balancing_parse(modes[i].mode, &v), 0, "%s", modes[i].mode);
		cr_assert_eq(v, modes[i].value, "%s", modes[i].mode);
		char digit[4];
		snprintf(digit, sizeof(digit), "%d", modes[i].value);
		v = -1;
		cr_assert_eq(numa_balancing_parse(digit, &v), 0, "%s", digit);
		cr_assert_eq(v, modes[i].value);
	}
}

Test(numa_balancing, on_means_normal)
{
	int v = -1;
	cr_assert_eq(numa_balancing_parse("on", &v), 0);
	cr_assert_eq(v, NUMA_BALANCING_NORMAL);
	cr_assert_str_eq(numa_balancing_text(v), "on (normal)");
}

Test(numa_balancing, values_no_kernel_defines_are_unknown)
{
	/* Linux 6.x takes 4 (its bound is SYSCTL_FOUR) though no bit 2 exists */
	static const int odd[] = {-1, 4, 5, 255, INT_MAX, INT_MIN};
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		cr_assert_str_eq(numa_balancing_mode(odd[i]), "unknown", "%d", odd[i]);
		cr_assert_str_eq(numa_balancing_text(odd[i]), "unknown", "%d", odd[i]);
	}
}

Test(numa_balancing, parse_refuses_anything_else)
{
	static const char *const bad[] = {"", "4", "-1", "01", " 1", "1 ", "1\n", "+1", "ON", "Off", "true",
					  "enable", "memory_tiering", "tiering", "normal+", "unknown", "0x1"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int v = 42;
		cr_assert_eq(numa_balancing_parse(bad[i], &v), -EINVAL, "'%s'", bad[i]);
		cr_assert_eq(v, 42, "'%s' left a value", bad[i]);
	}
}

/* ---- reading and writing on a scratch tree --------------------------------------------- */

static char root[PATH_MAX];
static int root_fd = -1;

static void tree_setup(void)
{
	scratch_make(root, sizeof(root), "sysctl");
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/sys", root);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys/kernel", root);
	cr_assert_eq(mkdir(path, 0755), 0);
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0);
}

static void tree_teardown(void)
{
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
	scratch_remove(root);
}

/* The file with content, made when missing (write_file_at does not create). */
static void put(const char *content)
{
	int fd = openat(root_fd, NUMA_BALANCING_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

TestSuite(numa_balancing_file, .init = tree_setup, .fini = tree_teardown);

Test(numa_balancing_file, reads_what_the_kernel_prints)
{
	static const struct {
		const char *content;
		int value;
	} ok[] = {{"0\n", 0}, {"1\n", 1}, {"2\n", 2}, {"3\n", 3}, {"4\n", 4}, {"1", 1}};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		put(ok[i].content);
		int v = -1;
		cr_assert_eq(numa_balancing_read(root_fd, &v), 0);
		cr_assert_eq(v, ok[i].value);
	}
}

Test(numa_balancing_file, no_file_is_enoent)
{
	int v = -1;
	cr_assert_eq(numa_balancing_read(root_fd, &v), -ENOENT);
	cr_assert_eq(numa_balancing_write(root_fd, 1), -ENOENT);
	cr_assert_eq(v, -1);
}

Test(numa_balancing_file, not_a_number_is_ebadmsg)
{
	static const char *const bad[] = {"", "\n", "on\n", "1 2\n", " 1\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		put(bad[i]);
		int v = -1;
		cr_assert_eq(numa_balancing_read(root_fd, &v), -EBADMSG, "'%s'", bad[i]);
	}
}

Test(numa_balancing_file, a_symbolic_link_is_not_followed)
{
	char target[PATH_MAX + 32];
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	FILE *f = fopen(target, "w");
	cr_assert_not_null(f);
	fputs("1\n", f);
	fclose(f);
	cr_assert_eq(symlinkat(target, root_fd, NUMA_BALANCING_PATH), 0);
	int v = -1;
	cr_assert_eq(numa_balancing_read(root_fd, &v), -ELOOP);
	cr_assert_eq(numa_balancing_write(root_fd, 0), -ELOOP);
}

Test(numa_balancing_file, writes_the_number_and_refuses_out_of_range)
{
	put("0\n");
	for (int want = 0; want <= NUMA_BALANCING_MODES; want++) {
		cr_assert_eq(numa_balancing_write(root_fd, want), 0);
		int v = -1;
		cr_assert_eq(numa_balancing_read(root_fd, &v), 0);
		cr_assert_eq(v, want);
	}
	cr_assert_eq(numa_balancing_write(root_fd, 4), -EINVAL);
	cr_assert_eq(numa_balancing_write(root_fd, -1), -EINVAL);
	int v = -1;
	cr_assert_eq(numa_balancing_read(root_fd, &v), 0);
	cr_assert_eq(v, NUMA_BALANCING_MODES, "a refused value was written");
}
