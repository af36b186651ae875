// SPDX-License-Identifier: GPL-2.0-or-later
/* The host's list of cgroup changes VMs share (state/shared.h): its format, read as
 * strictly as the record, and its file in the state directory. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "scratch.h"
#include "state/shared.h"

static void refused(const char *text, const char *needle)
{
	struct shared_state s = {0};
	_cleanup_free_ char *why = NULL;
	int r = shared_parse(text, &s, &why);
	cr_assert(r == -EBADMSG || r == -EPROTONOSUPPORT, "shared_parse = %d for:\n%s", r, text);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, needle), "\"%s\" mentions \"%s\"", why, needle);
	cr_assert_eq(s.n, 0);
}

#define ONE(change) "{\"version\": 1, \"changes\": [" change "]}"

Test(shared, round_trip)
{
	struct shared_state s = {0}, t = {0};
	cr_assert_eq(shared_add(&s, "/sys/fs/cgroup", "", "cpuset"), 0);
	cr_assert_eq(shared_add(&s, "/sys/fs/cgroup", "kvmcg", NULL), 0);
	cr_assert_eq(shared_add(&s, "/sys/fs/cgroup", "kvmcg", "cpu"), 0);
	cr_assert_eq(shared_add(&s, "/sys/fs/cgroup", "", "cpuset"), 0, "listed once");
	cr_assert_eq(s.n, 3);
	cr_assert_not(s.v[1].done, "noted before the run: planned");
	s.v[1].done = true;
	s.v[1].inode = 18446744073709551615ull;
	s.v[2].done = true;
	_cleanup_free_ char *text = shared_format(&s);
	cr_assert_not_null(text);
	_cleanup_free_ char *why = NULL;
	cr_assert_eq(shared_parse(text, &t, &why), 0, "%s", why ? why : "");
	cr_assert_eq(t.n, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(t.v[i].mount, s.v[i].mount);
		cr_assert_str_eq(t.v[i].dir, s.v[i].dir);
		cr_assert_eq(!t.v[i].controller, !s.v[i].controller);
		cr_assert_eq(t.v[i].done, s.v[i].done);
		cr_assert_eq(t.v[i].inode, s.v[i].inode);
		if (s.v[i].controller)
			cr_assert_str_eq(t.v[i].controller, s.v[i].controller);
	}
	shared_drop(&t, 0);
	cr_assert_eq(t.n, 2);
	cr_assert_str_eq(t.v[0].dir, "kvmcg");
	cr_assert_null(t.v[0].controller);
	shared_state_done(&s);
	shared_state_done(&t);
}

Test(shared, strict)
{
	refused("{\"version\": 2, \"changes\": []}", "has version 2");
	refused("{\"changes\": []}", "no \"version\"");
	refused("{\"version\": 1}", "no \"changes\" list");
	refused("{\"version\": 1, \"changes\": [], \"x\": 1}", "unknown key \"x\"");
	refused("{\"version\": 1, \"version\": 1, \"changes\": []}", "a key twice");
	refused(ONE("{\"mount\": \"m\", \"dir\": \"\", \"enabled\": \"cpuset\", \"done\": true}"), "no absolute mount");
	refused(ONE("{\"mount\": \"/m\", \"enabled\": \"cpuset\", \"done\": true}"), "has no dir");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a/../b\", \"enabled\": \"cpuset\", \"done\": true}"), "'..'");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"/a\", \"enabled\": \"cpuset\", \"done\": true}"), "changes[0].dir");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"enabled\": \"memory\", \"done\": true}"),
		"'memory', which kvmcg never");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"done\": true}"), "not one of a directory made");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"enabled\": \"cpu\", \"done\": false}"),
		"not one of");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": false, \"done\": false}"), "made is not true");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"\", \"made\": true, \"done\": false}"), "made the root of /m");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": false}, {\"mount\": \"/m\", "
		    "\"dir\": \"a\", \"made\": true, \"done\": false}"),
		"changes[1] is listed twice");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": false, \"size\": 1}"),
		"unknown key \"size\"");
	refused(ONE("7"), "changes[0] is not an object");
	/* planned or done; a directory made and done is known by its inode */
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true}"), "has no \"done\"");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": 1}"), "done is not true or false");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": true}"), "with no inode");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": false, \"inode\": 5}"),
		"gives an inode");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"enabled\": \"cpu\", \"done\": true, \"inode\": 5}"),
		"gives an inode");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": true, \"inode\": 0}"),
		"inode is not a positive integer");
	refused(ONE("{\"mount\": \"/m\", \"dir\": \"a\", \"made\": true, \"done\": true, \"inode\": -3}"),
		"inode is not a positive integer");
}

static char dir[64];
static int dfd = -1;

static void setup(void)
{
	scratch_make(dir, sizeof(dir), "shared");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	if (dfd >= 0)
		close(dfd);
	scratch_remove(dir);
}

TestSuite(shared_file, .init = setup, .fini = teardown);

Test(shared_file, saved_loaded_removed_when_empty)
{
	struct shared_state s = {0}, t = {0};
	cr_assert_eq(shared_load(dfd, &s), 0, "none yet is an empty list");
	cr_assert_eq(s.n, 0);
	cr_assert_eq(shared_add(&s, "/m", "kvmcg", NULL), 0);
	cr_assert_eq(shared_save(dfd, &s), 0);
	struct stat st;
	cr_assert_eq(fstatat(dfd, "shared.json", &st, 0), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(shared_load(dfd, &t), 0);
	cr_assert_eq(t.n, 1);
	shared_state_done(&t);
	shared_drop(&s, 0);
	cr_assert_eq(shared_save(dfd, &s), 0);
	cr_assert_eq(fstatat(dfd, "shared.json", &st, 0), -1, "an empty list is no file");
	shared_state_done(&s);
}

Test(shared_file, refused_names_the_file)
{
	int fd = openat(dfd, "shared.json", O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "{\"version\": 1}", 14), 14);
	close(fd);
	struct shared_state s = {0};
	err_clear();
	cr_assert_eq(shared_load(dfd, &s), -EBADMSG);
	cr_assert_not_null(err_get());
	cr_assert_not_null(strstr(err_get(), "shared.json"), "%s", err_get());
	/* writable by others: not trusted */
	cr_assert_eq(fchmodat(dfd, "shared.json", 0666, 0), 0);
	err_clear();
	cr_assert_lt(shared_load(dfd, &s), 0);
	cr_assert_not_null(err_get());
}

Test(shared_file, lock_says_who_holds_it)
{
	int a = -1, b = -1;
	_cleanup_free_ char *holder = NULL;
	cr_assert_eq(shared_lock(dfd, 0, "pin", &a, NULL), 0);
	cr_assert_eq(shared_lock(dfd, 0, "unpin", &b, &holder), -ETIMEDOUT);
	cr_assert_not_null(holder);
	cr_assert_not_null(strstr(holder, "(kvmcg pin)"), "%s", holder);
	shared_unlock(dfd, a);
	cr_assert_eq(shared_lock(dfd, 0, "unpin", &b, NULL), 0, "free again once released");
	shared_unlock(dfd, b);
}
