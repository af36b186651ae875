// SPDX-License-Identifier: GPL-2.0-or-later
/* trust: trust_open()'s walk from "/" on a scratch tree in /tmp (a sticky, world-
 * writable ancestor, as the rule allows): symbolic links in every position, "..",
 * ".", relative paths, owners and modes of the object and of the directories above
 * it (as root), mkdir_mode, trust_openat() in an opened directory, and what each
 * message names. */
#include <criterion/criterion.h>

#include "scratch.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/trust.h"
#include "basic/util.h"

static char root[96];

static void setup(void)
{
	scratch_make(root, sizeof(root), "trust");
}

static void teardown(void)
{
	if (root[0])
		scratch_remove(root);
	root[0] = '\0';
}

TestSuite(trust, .init = setup, .fini = teardown);

/* root/rel, heap */
static char *at(const char *rel)
{
	char *p = NULL;
	cr_assert_geq(asprintf(&p, "%s/%s", root, rel), 0);
	return p;
}

static void make_dir(const char *rel, mode_t mode)
{
	char *p = at(rel);
	cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
	cr_assert_eq(chmod(p, mode), 0);
	free(p);
}

static void make_file(const char *rel, mode_t mode)
{
	char *p = at(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "create %s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, "x\n", 2), 2);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

static void make_link(const char *rel, const char *target)
{
	char *p = at(rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
	free(p);
}

/* trust_open(path) succeeds, and the fd is the file at path. */
static void opens(const char *path, int flags, bool check_owner)
{
	char *why = NULL;
	int fd = trust_open(path, flags, 0, check_owner, &why);
	cr_assert_geq(fd, 0, "trust_open(%s) = %d: %s", path, fd, why ? why : "(no reason)");
	cr_assert_null(why);
	struct stat a, b;
	cr_assert_eq(fstat(fd, &a), 0);
	cr_assert_eq(stat(path, &b), 0);
	cr_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "%s: another file was opened", path);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

/* trust_open(path) fails with err and exactly the sentence want. */
static void refuses(const char *path, int flags, bool check_owner, int err, const char *want)
{
	char *why = NULL;
	int fd = trust_open(path, flags, 0, check_owner, &why);
	cr_assert_eq(fd, -err, "trust_open(%s) = %d, expected %d (%s)", path, fd, -err, why ? why : "");
	cr_assert_not_null(why, "trust_open(%s): no reason given", path);
	cr_assert_str_eq(why, want, "trust_open(%s)", path);
	free(why);
}

/* "PATH: refusing COMPONENT: it is a symbolic link, ..." */
static char *link_msg(const char *path, const char *component)
{
	char *m = NULL;
	cr_assert_geq(asprintf(&m, "%s: refusing %s: it is a symbolic link, and kvmcg follows none; name the real path",
			       path, component),
		      0);
	return m;
}

Test(trust, opens_a_plain_tree)
{
	make_dir("d", 0755);
	make_file("d/f", 0644);
	char *d = at("d"), *f = at("d/f");
	opens(f, O_RDONLY, false);
	opens(f, O_RDONLY, true);
	opens(f, O_PATH, true);
	opens(d, O_RDONLY | O_DIRECTORY, true);
	opens("/", O_PATH | O_DIRECTORY, true);
	/* "." and repeated slashes are skipped */
	char *odd = NULL;
	cr_assert_geq(asprintf(&odd, "%s/./d//./f", root), 0);
	opens(odd, O_RDONLY, true);
	free(odd);
	free(f);
	free(d);
}

Test(trust, a_symbolic_link_anywhere_is_refused)
{
	make_dir("d", 0755);
	make_dir("d/e", 0755);
	make_file("d/e/f", 0644);
	make_link("ld", "d");                  /* a directory link in the middle */
	make_link("d/lf", "e/f");              /* the object itself */
	make_link("d/le", "e");                /* the last directory, with O_DIRECTORY */
	make_link("d/dangling", "/nonexistent"); /* pointing nowhere */
	make_link("abs", "/tmp");              /* absolute target */
	char *ld = at("ld"), *lf = at("d/lf"), *le = at("d/le"), *dangling = at("d/dangling"), *abs = at("abs");
	for (int own = 0; own < 2; own++) {
		char *path = at("ld/e/f"), *want = link_msg(path, ld);
		refuses(path, O_RDONLY, own, ELOOP, want);
		free(want);
		free(path);
		want = link_msg(lf, lf);
		refuses(lf, O_RDONLY, own, ELOOP, want);
		refuses(lf, O_PATH, own, ELOOP, want);
		free(want);
		want = link_msg(le, le);
		refuses(le, O_RDONLY | O_DIRECTORY, own, ELOOP, want);
		refuses(le, O_PATH | O_DIRECTORY, own, ELOOP, want);
		free(want);
		want = link_msg(dangling, dangling);
		refuses(dangling, O_RDONLY, own, ELOOP, want);
		free(want);
		path = at("abs/x");
		want = link_msg(path, abs);
		refuses(path, O_RDONLY, own, ELOOP, want);
		free(want);
		free(path);
	}
	free(abs);
	free(dangling);
	free(le);
	free(lf);
	free(ld);
}

Test(trust, dot_dot_is_refused_before_anything_is_opened)
{
	make_dir("d", 0755);
	make_file("f", 0644);
	char *path = at("d/../f"), *want = NULL;
	cr_assert_geq(asprintf(&want, "%s: refusing '..' in the path; name the real path", path), 0);
	refuses(path, O_RDONLY, false, EINVAL, want);
	free(want);
	free(path);
	/* even where it leads nowhere */
	refuses("/nonexistent/../etc", O_PATH, false, EINVAL,
		"/nonexistent/../etc: refusing '..' in the path; name the real path");
	refuses("..", O_PATH, false, EINVAL, "..: refusing '..' in the path; name the real path");
	refuses("", O_PATH, false, EINVAL, "\"\": an empty path names no file");
}

Test(trust, relative_paths_start_from_the_working_directory)
{
	make_dir("d", 0755);
	make_file("d/f", 0644);
	make_link("l", "d");
	cr_assert_eq(chdir(root), 0);
	opens("d/f", O_RDONLY, true);
	opens("./d/f", O_RDONLY, true);
	char *ld = at("l"), *want = link_msg("l/f", ld);
	refuses("l/f", O_RDONLY, false, ELOOP, want);
	free(want);
	free(ld);
	/* a working directory reached through a link is its real path: nothing is
	 * followed when the file is opened */
	char *l = at("l");
	cr_assert_eq(chdir(l), 0);
	opens("f", O_RDONLY, true);
	cr_assert_eq(chdir("/"), 0);
	free(l);
}

Test(trust, errors_name_the_component)
{
	make_file("f", 0644);
	char *path = at("missing/x"), *want = NULL, *missing = at("missing");
	cr_assert_geq(asprintf(&want, "%s: %s: %s", path, missing, strerror(ENOENT)), 0);
	refuses(path, O_RDONLY, false, ENOENT, want);
	free(want);
	free(path);
	free(missing);
	/* the object itself: strerror's text */
	path = at("nothing");
	cr_assert_geq(asprintf(&want, "%s: %s", path, strerror(ENOENT)), 0);
	refuses(path, O_RDONLY, false, ENOENT, want);
	free(want);
	free(path);
	/* a file used as a directory */
	char *f = at("f");
	path = at("f/x");
	cr_assert_geq(asprintf(&want, "%s: %s: %s", path, f, strerror(ENOTDIR)), 0);
	refuses(path, O_RDONLY, false, ENOTDIR, want);
	free(want);
	free(path);
	free(f);
	/* trust_open_reason: the reason alone, for callers that print the path */
	char *reason = NULL;
	path = at("d2");
	make_link("d2", "f");
	int fd = trust_open_reason(path, O_PATH, 0, false, "the policy directory", &reason);
	cr_assert_eq(fd, -ELOOP);
	cr_assert_geq(asprintf(&want, "refusing %s: it is a symbolic link, and kvmcg follows none; name the real path",
			       path),
		      0);
	cr_assert_str_eq(reason, want);
	free(want);
	free(reason);
	free(path);
}

Test(trust, owners_and_modes_as_root)
{
	if (geteuid() != 0)
		cr_skip_test("owners other than our own need root to make");
	make_dir("a", 0755);
	make_dir("a/b", 0755);
	make_file("a/b/f", 0644);
	char *a = at("a"), *b = at("a/b"), *f = at("a/b/f"), *want = NULL;
	opens(f, O_RDONLY, true);

	/* the object: neither group- nor world-writable, owned by root */
	cr_assert_eq(chmod(f, 0664), 0);
	cr_assert_geq(asprintf(&want, "%s: refusing file %s: writable by its group (mode 0664); chmod go-w it", f, f),
		      0);
	refuses(f, O_RDONLY, true, EPERM, want);
	free(want);
	opens(f, O_RDONLY, false);
	cr_assert_eq(chmod(f, 0644), 0);
	cr_assert_eq(chown(f, 65534, 65534), 0);
	cr_assert_geq(asprintf(&want, "%s: refusing file %s: owned by uid 65534, not root", f, f), 0);
	refuses(f, O_RDONLY, true, EPERM, want);
	free(want);
	opens(f, O_RDONLY, false);
	cr_assert_eq(chown(f, 0, 0), 0);

	/* a directory as the object: sticky is not enough */
	cr_assert_eq(chmod(b, 01777), 0);
	char *reason = NULL;
	int fd = trust_open_reason(b, O_RDONLY | O_DIRECTORY, 0, true, "the policy directory", &reason);
	cr_assert_eq(fd, -EPERM);
	cr_assert_geq(asprintf(&want, "refusing the policy directory %s: writable by others (mode 1777); chmod go-w it",
			       b),
		      0);
	cr_assert_str_eq(reason, want);
	free(want);
	free(reason);
	/* ... but above the object it is */
	opens(f, O_RDONLY, true);
	cr_assert_eq(chmod(b, 0775), 0);
	cr_assert_geq(asprintf(&want,
			       "%s: refusing the directory %s above it: writable by its group and not sticky (mode 0775); "
			       "chmod go-w it",
			       f, b),
		      0);
	refuses(f, O_RDONLY, true, EPERM, want);
	free(want);
	cr_assert_eq(chmod(b, 0757), 0);
	cr_assert_geq(asprintf(&want,
			       "%s: refusing the directory %s above it: writable by others and not sticky (mode 0757); "
			       "chmod go-w it",
			       f, b),
		      0);
	refuses(f, O_RDONLY, true, EPERM, want);
	free(want);
	cr_assert_eq(chmod(b, 0755), 0);

	/* a directory further up, owned by someone else */
	cr_assert_eq(chown(a, 65534, 65534), 0);
	cr_assert_geq(asprintf(&want, "%s: refusing the directory %s above it: owned by uid 65534, not root", f, a), 0);
	refuses(f, O_RDONLY, true, EPERM, want);
	free(want);
	opens(f, O_RDONLY, false);
	cr_assert_eq(chown(a, 0, 0), 0);
	opens(f, O_RDONLY, true);
	free(f);
	free(b);
	free(a);
}

Test(trust, mkdir_mode_creates_the_last_directory)
{
	make_dir("d", 0755);
	char *path = at("d/new"), *why = NULL;
	int fd = trust_open(path, O_RDONLY | O_DIRECTORY, 0700, true, &why);
	cr_assert_geq(fd, 0, "%s", why ? why : "");
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700);
	close(fd);
	/* there now: opened, not made again */
	opens(path, O_RDONLY | O_DIRECTORY, true);
	free(path);
	/* only the last component is made */
	path = at("d/a/b");
	fd = trust_open(path, O_RDONLY | O_DIRECTORY, 0700, true, &why);
	cr_assert_eq(fd, -ENOENT);
	free(why);
	free(path);
	/* a link where the directory would be is not followed, nor replaced */
	make_link("d/ln", "/tmp");
	path = at("d/ln");
	char *want = link_msg(path, path);
	refuses(path, O_RDONLY | O_DIRECTORY, true, ELOOP, want);
	free(want);
	free(path);
}

Test(trust, openat_in_a_checked_directory)
{
	make_dir("d", 0755);
	make_file("d/f", 0644);
	make_file("d/gw", 0664);
	make_link("d/l", "f");
	char *d = at("d"), *why = NULL;
	int dfd = trust_open(d, O_RDONLY | O_DIRECTORY, 0, true, &why);
	cr_assert_geq(dfd, 0, "%s", why ? why : "");

	char *reason = NULL;
	int fd = trust_openat(dfd, "f", O_RDONLY, true, "policy file", "d/f", &reason);
	cr_assert_geq(fd, 0, "%s", reason ? reason : "");
	close(fd);
	fd = trust_openat(dfd, "l", O_RDONLY, true, "policy file", "d/l", &reason);
	cr_assert_eq(fd, -ELOOP);
	cr_assert_str_eq(reason, "refusing d/l: it is a symbolic link, and kvmcg follows none; name the real path");
	free(reason);
	fd = trust_openat(dfd, "gw", O_RDONLY, true, "policy file", "d/gw", &reason);
	cr_assert_eq(fd, -EPERM);
	cr_assert_str_eq(reason, "refusing policy file d/gw: writable by its group (mode 0664); chmod go-w it");
	free(reason);
	fd = trust_openat(dfd, "gw", O_RDONLY, false, "policy file", "d/gw", &reason);
	cr_assert_geq(fd, 0);
	close(fd);
	static const char *const not_plain[] = {"", ".", "..", "../d/f", "e/f"};
	for (size_t i = 0; i < ARRAY_SIZE(not_plain); i++) {
		fd = trust_openat(dfd, not_plain[i], O_RDONLY, false, "policy file", "x", &reason);
		cr_assert_eq(fd, -EINVAL, "'%s'", not_plain[i]);
		free(reason);
	}
	fd = trust_openat(dfd, "none", O_RDONLY, false, "policy file", "d/none", &reason);
	cr_assert_eq(fd, -ENOENT);
	cr_assert_str_eq(reason, strerror(ENOENT));
	free(reason);
	close(dfd);
	free(d);
}
