// SPDX-License-Identifier: GPL-2.0-or-later
/* exec: each action kind's undo puts back exactly what its run replaced, and a failure
 * at any position of a plan leaves a scratch tree as it was. The scratch tree stands in
 * for cgroupfs with plain files (a write replaces a file's content); the real kernel is
 * tested the same way by tests/integration/t-record.sh. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/exec.h"
#include "scratch.h"
#include "basic/util.h"

static char root[128];
static int mount_fd = -1, proc_fd = -1;
static struct vm vm;
static struct vm_tune tune;
static struct plan plan;
static struct exec_ctx ex;
static struct undo_log ulog;

static void put(const char *path, const char *text)
{
	int fd = openat(mount_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "create %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A cgroup-like tree: the root and "a" with the files kvmcg reads and writes. */
static void setup(void)
{
	scratch_make(root, sizeof(root), "exec");
	mount_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(mount_fd, 0);
	cr_assert_eq(mkdirat(mount_fd, "a", 0755), 0);
	cr_assert_eq(mkdirat(mount_fd, "proc", 0755), 0);
	put("cgroup.subtree_control", "cpuset io");
	put("a/cgroup.subtree_control", "");
	put("a/cgroup.type", "domain");
	put("a/cpuset.cpus", "0-3");
	put("a/cpu.max", "max 100000");
	proc_fd = openat(mount_fd, "proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	vm = (struct vm){.pid = 0};
	ex = (struct exec_ctx){.mount_fd = mount_fd, .proc_fd = proc_fd, .pidfd = -1, .task_fd = -1, .backend = BACKEND_CGROUP_V2,
			       .vm = &vm, .tune = &tune};
}

static void teardown(void)
{
	exec_done(&ex);
	undo_log_done(&ulog);
	plan_done(&plan);
	if (proc_fd >= 0)
		close(proc_fd);
	if (mount_fd >= 0)
		close(mount_fd);
	proc_fd = mount_fd = -1;
	scratch_remove(root);
}

/* Every file below the root, "path=content" sorted, and every directory: the state a
 * rollback must restore. */
static void walk(int dirfd, const char *prefix, FILE *out)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	DIR *d = fdopendir(fd);
	char *names[64];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && n < 64 && strcmp(de->d_name, "proc"))
			names[n++] = strdup(de->d_name);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		cr_assert_eq(fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW), 0);
		if (S_ISDIR(st.st_mode)) {
			fprintf(out, "%s%s/\n", prefix, names[i]);
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			char p[256];
			snprintf(p, sizeof(p), "%s%s/", prefix, names[i]);
			walk(sub, p, out);
			close(sub);
		} else {
			_cleanup_free_ char *buf = NULL;
			cr_assert_eq(read_file_at(dirfd, names[i], &buf, NULL), 0);
			fprintf(out, "%s%s=%s\n", prefix, names[i], buf);
		}
		free(names[i]);
	}
	closedir(d);
}

static char *tree(void)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	walk(mount_fd, "", f);
	fclose(f);
	return s;
}

static void add(enum action_kind kind, const char *dir, const char *file, const char *value)
{
	struct action a = {.kind = kind, .dir = strdup(dir), .file = strdup_or_null(file),
			   .value = strdup_or_null(value)};
	cr_assert_eq(plan_add(&plan, &a), 0);
}

TestSuite(exec_undo, .init = setup, .fini = teardown);

/* One action, then a failure: what its undo leaves. */
static char *run_then_fail(void)
{
	add(ACT_WRITE, "a", "cpu.max", "sentinel"); /* action 2 fails before it runs */
	ex.hooks.fail_at = (unsigned)plan.n_actions;
	int r = exec_plan(&ex, &plan, &ulog);
	cr_assert_eq(r, -EIO, "exec_plan = %d (%s)", r, ex.failed ? ex.failed : "");
	return tree();
}

Test(exec_undo, write_puts_back_the_old_value)
{
	_cleanup_free_ char *before = tree();
	add(ACT_WRITE, "a", "cpuset.cpus", "2");
	_cleanup_free_ char *after = run_then_fail();
	cr_assert_str_eq(after, before);
}

Test(exec_undo, empty_value_comes_back_as_inherit)
{
	put("a/cpuset.mems", "");
	add(ACT_WRITE, "a", "cpuset.mems", "1");
	_cleanup_free_ char *after = run_then_fail();
	/* cgroupfs reads "" after "\n" is written; a plain file holds the newline */
	_cleanup_free_ char *mems = NULL;
	cr_assert_eq(read_file_at(mount_fd, "a/cpuset.mems", &mems, NULL), 0);
	cr_assert_str_eq(mems, "\n");
}

Test(exec_undo, mkdir_removes_only_what_it_made)
{
	_cleanup_free_ char *before = tree();
	add(ACT_MKDIR, "a/new", NULL, NULL);
	add(ACT_MKDIR, "a", NULL, NULL); /* exists: not made, so not removed */
	_cleanup_free_ char *after = run_then_fail();
	cr_assert_str_eq(after, before);
}

/* The inverse of what enabling wrote, and only when it changed something: the undo of
 * "+cpu" is "-cpu" (once a rollback wrote "-cpuset" whatever had been enabled). */
Test(exec_undo, enable_controller_undoes_its_own_controller)
{
	add(ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpu");
	_cleanup_free_ char *after = run_then_fail();
	cr_assert(undo_log_find(&ulog, 0)->changed);
	_cleanup_free_ char *sc = NULL;
	cr_assert_eq(read_file_at(mount_fd, "cgroup.subtree_control", &sc, NULL), 0);
	cr_assert_str_eq(sc, "-cpu", "the last write undoes +cpu: %s", sc);
}

Test(exec_undo, enable_controller_already_enabled_is_left_alone)
{
	_cleanup_free_ char *before = tree();
	add(ACT_ENABLE_CONTROLLER, "", "cgroup.subtree_control", "+cpuset");
	_cleanup_free_ char *after = run_then_fail();
	cr_assert_not(undo_log_find(&ulog, 0)->changed);
	cr_assert_str_eq(after, before, "nothing written either way");
}

Test(exec_undo, disable_controller_undoes_its_own_controller)
{
	add(ACT_DISABLE_CONTROLLER, "", "cgroup.subtree_control", "-io");
	_cleanup_free_ char *after = run_then_fail();
	_cleanup_free_ char *sc = NULL;
	cr_assert_eq(read_file_at(mount_fd, "cgroup.subtree_control", &sc, NULL), 0);
	cr_assert_str_eq(sc, "+io");
}

Test(exec_undo, set_threaded_once_is_not_written_again)
{
	put("a/cgroup.type", "threaded");
	_cleanup_free_ char *before = tree();
	add(ACT_SET_THREADED, "a", "cgroup.type", "threaded");
	_cleanup_free_ char *after = run_then_fail();
	cr_assert_not(undo_log_find(&ulog, 0)->changed);
	cr_assert_str_eq(after, before);
}

/* A plan of every file kind; a failure at each position leaves the tree as it was,
 * except the controller files, which hold the last inverse write of what changed. */
Test(exec_undo, failure_at_every_position)
{
	_cleanup_free_ char *before = tree();
	for (unsigned at = 1; at <= 8; at++) {
		plan_done(&plan);
		exec_done(&ex);
		undo_log_done(&ulog);
		add(ACT_MKDIR, "a/x", NULL, NULL);
		add(ACT_WRITE, "a", "cpuset.cpus", "1");
		add(ACT_MKDIR, "a/x/y", NULL, NULL);
		add(ACT_WRITE, "a", "cpu.max", "50000 100000");
		add(ACT_MKDIR, "a/z", NULL, NULL);
		add(ACT_WRITE, "a", "cpuset.cpus", "2");
		add(ACT_WRITE, "a", "cgroup.type", "x");
		ex.hooks.fail_at = at;
		ex.executed = 0;
		int r = exec_plan(&ex, &plan, &ulog);
		if (at <= plan.n_actions) {
			cr_assert_eq(r, -EIO, "failure at %u: exec_plan = %d", at, r);
			_cleanup_free_ char *after = tree();
			cr_assert_str_eq(after, before, "failure at action %u:\n%s\nwas\n%s", at, after, before);
		} else {
			cr_assert_eq(r, 0);
		}
	}
}
