/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by every module: ownership cleanup, safe file I/O on dirfds,
 * string parsing that rejects trailing garbage. */
#ifndef KVMCG_UTIL_H
#define KVMCG_UTIL_H

#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void strv_free(char **v);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_closedir_ __attribute__((cleanup(closedirp)))
#define _cleanup_strv_ __attribute__((cleanup(strv_freep)))

/* Hand ownership out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _taken = (p);                                                         \
		(p) = NULL;                                                                        \
		_taken;                                                                            \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _taken = (fd);                                                                 \
		(fd) = -1;                                                                         \
		_taken;                                                                            \
	})

/* Limit for files read whole from /proc and /sys; cmdline and maps of a big QEMU fit. */
#define READ_FILE_MAX (4u * 1024 * 1024)

/* Read a whole file relative to dirfd (AT_FDCWD allowed), NUL-terminated.
 * Opened with O_NOFOLLOW|O_CLOEXEC; *ret_len excludes the terminator.
 *
 * read_file_at is for the kernel's small text files (/proc/PID/{stat,status,cgroup},
 * cgroupfs and sysfs attributes): a read that returns less than was asked is the
 * end, so the usual second read(2) that returns 0 is saved. seq_file fills the
 * caller's buffer until it is full or the records end (fs/seq_file.c
 * seq_read_iter()), kernfs files are seq_files, and a sysfs attribute is one
 * show() into one page. read_file_at_whole reads until read(2) returns 0, for
 * everything else (/proc/PID/cmdline is copied a page at a time, a regular file may
 * be another filesystem's). */
int read_file_at(int dirfd, const char *path, char **ret_buf, size_t *ret_len);
int read_file_at_whole(int dirfd, const char *path, char **ret_buf, size_t *ret_len);
/* The same from an open fd, from where it stands. -EFBIG past READ_FILE_MAX. */
int read_fd(int fd, char **ret_buf, size_t *ret_len);

/* read_file_at's reading, of a file the caller opened (and closes). */
int read_file_fd(int fd, char **ret_buf, size_t *ret_len);

/* One write(2) of the whole string, as the kernel's cgroup and proc files expect;
 * write_file_fd to a file the caller opened (O_TRUNC, as write_file_at opens it). */
int write_file_at(int dirfd, const char *path, const char *value);
int write_file_fd(int fd, const char *value);

/* Open a directory for use as a root of later openat() calls. */
int open_dir_at(int dirfd, const char *path);

/* Strict integer parsers: whole string, decimal, in range. */
int parse_int(const char *s, int *ret);
int parse_pid(const char *s, pid_t *ret);
int parse_u64(const char *s, uint64_t *ret);

bool startswith(const char *s, const char *prefix);
char *strdup_or_null(const char *s);
/* path made absolute against the working directory as the kernel has it (getcwd(3)):
 * 0 and *ret (caller frees); -errno from getcwd, -ENOENT when the working directory
 * is not reachable from "/" (another mount namespace's), -ENOMEM. */
int path_absolute(const char *path, char **ret);
/* The parent directory and the last component of path, trailing slashes aside:
 * "/etc/kvmcg/policies/" gives "/etc/kvmcg" and "policies", "policies" gives "."
 * and "policies", "/x" gives "/" and "x"; "/" gives a NULL parent and "/". Both
 * the caller's to free. 0 or -ENOMEM. */
int path_split(const char *path, char **ret_parent, char **ret_base);

/* vasprintf(3) that gives the string, or NULL when out of memory. */
__attribute__((format(printf, 1, 0))) char *vformat(const char *fmt, va_list ap);

/* Opens the directory path below dirfd ("." for dirfd itself) for readdir:
 * O_RDONLY|O_DIRECTORY|O_CLOEXEC, then fdopendir. 0, or -errno. */
int opendir_at(int dirfd, const char *path, DIR **ret);

/* Append a copy of s to a NULL-terminated vector. */
int strv_push(char ***v, size_t *n, const char *s);
/* The n strings of v (NULL ones skipped) joined by sep: "a, b, c"; "" for none. The
 * caller frees it; NULL when out of memory. */
char *strv_join(char *const *v, size_t n, const char *sep);
/* The first len bytes of s with mountinfo's escapes undone (proc(5): ' ', '\t', '\n'
 * and '\\' are written as \ooo), allocated; NULL when out of memory. */
char *unescape_octal(const char *s, size_t len);

/* *dst becomes a copy of s, the old string freed; unchanged on failure. 0 or -ENOMEM. */
int free_and_strdup(char **dst, const char *s);

/* s as one shell word, as bash's printf %q writes it: '' for the empty string;
 * $'...' (ANSI-C quoting: \t, \n, \E, \ooo) when s has control bytes; else a
 * backslash before each byte the shell would take specially ( \t\n'"\\|&;()<>!{}*[?]^$`,
 * and ~ or # at the start). NULL only when out of memory. */
char *shell_quote(const char *s);

/* A copy of s fit for a terminal or a log line: control bytes (below 0x20, 0x7f) and
 * the C1 controls U+0080..U+009F are written as \xNN, so a name chosen by a VM's
 * owner can neither forge a line nor drive a terminal. NULL when out of memory. */
char *str_escape(const char *s);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* The name of uid in the user database (getpwuid_r(3)), malloc'd into *ret; *ret NULL
 * when the database does not know it. 0, or -ENOMEM. */
int user_name(uid_t uid, char **ret);

/* Orders two times: <0, 0 or >0 as a is before, the same as or after b. */
static inline int timespec_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

#endif
