// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int read_until(int fd, bool short_read_is_end, char **ret_buf, size_t *ret_len);

int read_file_at(int dirfd, const char *path, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return read_until(fd, true, ret_buf, ret_len);
}

int read_file_at_whole(int dirfd, const char *path, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return read_until(fd, false, ret_buf, ret_len);
}

int read_fd(int fd, char **ret_buf, size_t *ret_len)
{
	return read_until(fd, false, ret_buf, ret_len);
}

int read_file_fd(int fd, char **ret_buf, size_t *ret_len)
{
	return read_until(fd, true, ret_buf, ret_len);
}

static int read_until(int fd, bool short_read_is_end, char **ret_buf, size_t *ret_len)
{
	/* Most files are a line: read onto the stack, and keep only what was read. A
	 * fresh 4 KiB heap buffer per value (a VM's 200 cgroup values) would touch as
	 * many new pages, each one a page fault. */
	char first[4096];
	ssize_t r;
	do
		r = read(fd, first, sizeof(first) - 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	size_t len = (size_t)r;
	bool more = r > 0 && !(short_read_is_end && len < sizeof(first) - 1);
	/* /proc and /sys files report size 0, so grow as we go. */
	size_t cap = more ? 2 * sizeof(first) : len + 1;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, first, len);
	while (more) {
		if (cap - len < 2) {
			if (cap >= READ_FILE_MAX)
				return -EFBIG;
			char *n = realloc(buf, cap * 2);
			if (!n)
				return -ENOMEM;
			buf = n;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (short_read_is_end && (size_t)r < cap - (len - (size_t)r) - 1)
			break;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int write_file_at(int dirfd, const char *path, const char *value)
{
	/* O_TRUNC as a shell's ">" does: cgroupfs ignores it, a plain file (a test's scratch
	 * tree) then holds the value alone. */
	_cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return write_file_fd(fd, value);
}

int write_file_fd(int fd, const char *value)
{
	size_t len = strlen(value);
	ssize_t r;
	do
		r = write(fd, value, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if ((size_t)r != len)
		return -EIO;
	return 0;
}

int open_dir_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int parse_u64(const char *s, uint64_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_int(const char *s, int *ret)
{
	/* strtol would accept leading blanks and '+'. */
	if (!s || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return -EINVAL;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno)
		return -errno;
	if (*end || end == s)
		return -EINVAL;
	if (v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	*ret = (int)v;
	return 0;
}

int parse_pid(const char *s, pid_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, &v);
	if (r < 0)
		return r;
	/* pid_max is at most 2^22; anything above is not a pid. */
	if (v < 1 || v > (1u << 22))
		return -ERANGE;
	*ret = (pid_t)v;
	return 0;
}

bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int strv_push(char ***v, size_t *n, const char *s)
{
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

char *strv_join(char *const *v, size_t n, const char *sep)
{
	size_t len = 1, k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i])
			len += strlen(v[i]) + (k++ ? strlen(sep) : 0);
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			continue;
		if (k++)
			p = stpcpy(p, sep);
		p = stpcpy(p, v[i]);
	}
	*p = '\0';
	return out;
}

char *str_escape(const char *s)
{
	char *out = malloc(strlen(s) * 4 + 1), *p = out;
	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 || *c == 0x7f) {
			p += sprintf(p, "\\x%02x", *c);
		} else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
			/* UTF-8 of a C1 control: terminals act on it like on ESC [ */
			p += sprintf(p, "\\x%02x", c[1]);
			c++;
		} else {
			*p++ = (char)*c;
		}
	}
	*p = '\0';
	return out;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

int opendir_at(int dirfd, const char *path, DIR **ret)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret = d;
	return 0;
}

char *shell_quote(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return strdup("''");
	bool control = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		control |= *p < 0x20 || *p == 0x7f;
	char *out = malloc(4 * n + 4); /* \ooo per byte at most, $'' around */
	if (!out)
		return NULL;
	char *o = out;
	if (control) {
		*o++ = '$';
		*o++ = '\'';
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			static const char esc[] = "\a\b\t\n\v\f\r";
			const char *e = *p && *p < 0x20 ? strchr(esc, *p) : NULL;
			if (e)
				o += sprintf(o, "\\%c", "abtnvfr"[e - esc]);
			else if (*p == 0x1b)
				o += sprintf(o, "\\E");
			else if (*p == '\'' || *p == '\\')
				o += sprintf(o, "\\%c", *p);
			else if (*p < 0x20 || *p == 0x7f)
				o += sprintf(o, "\\%03o", *p);
			else
				*o++ = (char)*p;
		}
		*o++ = '\'';
	} else {
		for (const char *p = s; *p; p++) {
			if (strchr(" \t\n'\"\\|&;()<>!{}*[?]^$`,", *p) || (p == s && (*p == '~' || *p == '#')))
				*o++ = '\\';
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

int free_and_strdup(char **dst, const char *s)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

int path_absolute(const char *path, char **ret)
{
	char *full = NULL;
	if (path[0] == '/') {
		full = strdup(path);
	} else {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return -errno;
		if (cwd[0] != '/')
			return -ENOENT;
		if (asprintf(&full, "%s/%s", cwd, path) < 0)
			full = NULL;
	}
	if (!full)
		return -ENOMEM;
	*ret = full;
	return 0;
}

int path_split(const char *path, char **ret_parent, char **ret_base)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	char *base = len == 1 && path[0] == '/' ? strdup("/") : strndup(path + start, len - start);
	char *parent = NULL;
	if (!(len == 1 && path[0] == '/')) {
		size_t plen = start;
		while (plen > 1 && path[plen - 1] == '/')
			plen--;
		parent = plen == 0 ? strdup(".") : strndup(path, plen);
		if (!parent) {
			free(base);
			return -ENOMEM;
		}
	}
	if (!base) {
		free(parent);
		return -ENOMEM;
	}
	*ret_parent = parent;
	*ret_base = base;
	return 0;
}

char *unescape_octal(const char *s, size_t len)
{
	char *out = malloc(len + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len + 1 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
		    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*p++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			*p++ = s[i];
		}
	}
	*p = '\0';
	return out;
}

int user_name(uid_t uid, char **ret)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	if (size < 1024)
		size = 16384;
	_cleanup_free_ char *buf = malloc((size_t)size);
	if (!buf)
		return -ENOMEM;
	struct passwd pw, *found = NULL;
	*ret = NULL;
	if (getpwuid_r(uid, &pw, buf, (size_t)size, &found) != 0 || !found)
		return 0;
	*ret = strdup(found->pw_name);
	return *ret ? 0 : -ENOMEM;
}
