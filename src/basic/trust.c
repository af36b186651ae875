// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/util.h"

__attribute__((format(printf, 3, 4))) static int why(char **ret_why, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*ret_why = vformat(fmt, ap);
	va_end(ap);
	return r;
}

static bool owner_ok(const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid();
}

/* ", not root" or ", neither root nor uid N" */
static const char *not_owner(char *buf, size_t size)
{
	if (geteuid() == 0)
		snprintf(buf, size, "not root");
	else
		snprintf(buf, size, "neither root nor uid %u", (unsigned)geteuid());
	return buf;
}

int trust_check_stat(const struct stat *st, const char *what, const char *path, char **ret_why)
{
	char who[48];
	if (!owner_ok(st))
		return why(ret_why, -EPERM, "refusing %s %s: owned by uid %u, %s", what, path, (unsigned)st->st_uid,
			   not_owner(who, sizeof(who)));
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return why(ret_why, -EPERM, "refusing %s %s: writable by %s (mode %04o); chmod go-w it", what, path,
			   (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
	return 0;
}

/* A directory above the object: the same rule, except that a sticky directory may be
 * writable by all (nobody else can rename what it holds). */
static int check_ancestor(const struct stat *st, const char *shown, char **ret_why)
{
	char who[48];
	if (!owner_ok(st))
		return why(ret_why, -EPERM, "refusing the directory %s above it: owned by uid %u, %s", shown,
			   (unsigned)st->st_uid, not_owner(who, sizeof(who)));
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return why(ret_why, -EPERM,
			   "refusing the directory %s above it: writable by %s and not sticky (mode %04o); chmod go-w it",
			   shown, (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
	return 0;
}

static int refuse_link(const char *shown, char **ret_why)
{
	return why(ret_why, -ELOOP, "refusing %s: it is a symbolic link, and kvmcg follows none; name the real path",
		   shown);
}

/* The object: name in dirfd (which has passed the checks), opened with flags. */
static int open_object(int dirfd, const char *name, int flags, mode_t mkdir_mode, bool check_owner,
		       const char *what, const char *shown, char **ret_why)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mkdir_mode && (flags & O_DIRECTORY)) {
		if (mkdirat(dirfd, name, mkdir_mode) < 0 && errno != EEXIST)
			return why(ret_why, -errno, "cannot create %s: %s", shown, strerror(errno));
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	struct stat st;
	if (fd < 0) {
		int r = -errno;
		/* O_NOFOLLOW says ELOOP for a link, or ENOTDIR with O_DIRECTORY */
		if ((r == -ELOOP || r == -ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			return refuse_link(shown, ret_why);
		return why(ret_why, r, "%s", strerror(-r));
	}
	_cleanup_close_ int owned = fd;
	if (fstat(fd, &st) < 0)
		return why(ret_why, -errno, "%s: %s", shown, strerror(errno));
	if (S_ISLNK(st.st_mode)) /* O_PATH opens the link itself */
		return refuse_link(shown, ret_why);
	if (check_owner) {
		int r = trust_check_stat(&st, what ? what : S_ISDIR(st.st_mode) ? "directory" : "file", shown,
					 ret_why);
		if (r < 0)
			return r;
	}
	return TAKE_FD(owned);
}

int trust_open_reason(const char *path, int flags, mode_t mkdir_mode, bool check_owner, const char *what,
		      char **ret_reason)
{
	*ret_reason = NULL;
	if (!path || !*path)
		return why(ret_reason, -EINVAL, "an empty path names no file");
	/* The working directory as the kernel has it: every component is walked and
	 * checked again from "/", like those of an absolute path. */
	_cleanup_free_ char *full = NULL;
	int ra = path_absolute(path, &full);
	if (ra == -ENOMEM)
		return -ENOMEM;
	if (ra == -ENOENT)
		return why(ret_reason, -ENOENT, "the working directory is not reachable from /");
	if (ra < 0)
		return why(ret_reason, ra, "cannot tell the working directory: %s", strerror(-ra));

	/* Components, "." and empty ones dropped; ".." refused before anything is opened. */
	size_t len = strlen(full), n = 0;
	_cleanup_free_ char **comp = calloc(len / 2 + 1, sizeof(*comp));
	_cleanup_free_ char *shown = malloc(len + 2); /* "/a/b", as far as the walk got */
	if (!comp || !shown)
		return -ENOMEM;
	char *save = NULL;
	for (char *c = strtok_r(full, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0)
			return why(ret_reason, -EINVAL, "refusing '..' in the path; name the real path");
		comp[n++] = c;
	}

	_cleanup_close_ int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return why(ret_reason, -errno, "/: %s", strerror(errno));
	if (n == 0) { /* "/" itself */
		int fd = open("/", flags | O_CLOEXEC);
		if (fd < 0)
			return why(ret_reason, -errno, "%s", strerror(errno));
		_cleanup_close_ int owned = fd;
		struct stat st;
		if (fstat(fd, &st) < 0)
			return why(ret_reason, -errno, "/: %s", strerror(errno));
		if (check_owner) {
			int r = trust_check_stat(&st, what ? what : "directory", "/", ret_reason);
			if (r < 0)
				return r;
		}
		return TAKE_FD(owned);
	}
	struct stat st;
	if (fstat(cur, &st) < 0)
		return why(ret_reason, -errno, "/: %s", strerror(errno));
	if (check_owner) {
		int r = check_ancestor(&st, "/", ret_reason);
		if (r < 0)
			return r;
	}
	size_t at = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		at += (size_t)sprintf(shown + at, "/%s", comp[i]);
		int fd = openat(cur, comp[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return why(ret_reason, -errno, "%s: %s", shown, strerror(errno));
		close(cur);
		cur = fd;
		if (fstat(cur, &st) < 0)
			return why(ret_reason, -errno, "%s: %s", shown, strerror(errno));
		if (S_ISLNK(st.st_mode))
			return refuse_link(shown, ret_reason);
		if (!S_ISDIR(st.st_mode))
			return why(ret_reason, -ENOTDIR, "%s: %s", shown, strerror(ENOTDIR));
		if (check_owner) {
			int r = check_ancestor(&st, shown, ret_reason);
			if (r < 0)
				return r;
		}
	}
	sprintf(shown + at, "/%s", comp[n - 1]);
	return open_object(cur, comp[n - 1], flags, mkdir_mode, check_owner, what, shown, ret_reason);
}

int trust_open(const char *path, int flags, mode_t mkdir_mode, bool check_owner, char **ret_why)
{
	_cleanup_free_ char *reason = NULL;
	int fd = trust_open_reason(path, flags, mkdir_mode, check_owner, NULL, &reason);
	*ret_why = NULL;
	if (fd < 0 && reason && asprintf(ret_why, "%s: %s", path && *path ? path : "\"\"", reason) < 0)
		*ret_why = NULL;
	return fd;
}

int trust_openat(int dirfd, const char *name, int flags, bool check_owner, const char *what, const char *shown,
		 char **ret_reason)
{
	*ret_reason = NULL;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return why(ret_reason, -EINVAL, "refusing %s: '%s' is not a plain file name", shown, name);
	return open_object(dirfd, name, flags, 0, check_owner, what, shown, ret_reason);
}

int trust_resolve(int root_fd, const char *path, struct stat *ret, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	_cleanup_close_ int cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	struct stat st;
	char *save = NULL;
	size_t done = 0; /* bytes of path walked, for messages */
	for (char *comp = strtok_r(copy, "/", &save); comp;) {
		char *next = strtok_r(NULL, "/", &save);
		if (fstat(cur, &st) < 0)
			return -errno;
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
			return why(ret_why, -EPERM, "%.*s is %s", done ? (int)done : 1, done ? path : "/",
				   st.st_uid != 0 ? "not root's" : "writable by group or others");
		if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0)
			return why(ret_why, -EINVAL, "it has a '%s' component", comp);
		int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return why(ret_why, -errno, "%s: %s", path, strerror(errno));
		close(cur);
		cur = fd;
		done = (size_t)(comp - copy) + strlen(comp);
		if (fstat(cur, &st) < 0)
			return -errno;
		if (S_ISLNK(st.st_mode))
			return why(ret_why, -ELOOP, "%.*s is a symbolic link", (int)done, path);
		if (next && !S_ISDIR(st.st_mode))
			return why(ret_why, -ENOTDIR, "%.*s is not a directory", (int)done, path);
		comp = next;
	}
	if (!S_ISREG(st.st_mode))
		return why(ret_why, -EINVAL, "%s is not a regular file", path);
	*ret = st;
	return 0;
}
