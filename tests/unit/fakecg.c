// SPDX-License-Identifier: GPL-2.0-or-later
/* See fakecg.h. The functions this file interposes go straight to the system call
 * while no fake hierarchy is started, and for anything outside it. */
#undef _FORTIFY_SOURCE /* this file defines openat() itself */
#include "fakecg.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

static bool active, use_v1;
/* short, so that every path below them fits in PATH_MAX */
static char cg_root[256], proc_root[256];

/* Files below the hierarchy opened for writing, by fd; write() checks the inode, so
 * an fd number reused for something else is never taken for one of them. */
#define MAX_FDS 1024
static struct open_file {
	bool used;
	dev_t dev;
	ino_t ino;
	char rel[256]; /* relative to the hierarchy's root: "kvmcg/demo/cgroup.procs" */
} files[MAX_FDS];

static const char *const controllers[] = {"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"};
#define N_CONTROLLERS (sizeof(controllers) / sizeof(controllers[0]))

/* ---- plain system calls ---------------------------------------------------------------------- */

static int raw_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

static ssize_t raw_write(int fd, const void *buf, size_t n)
{
	return (ssize_t)syscall(SYS_write, fd, buf, n);
}

static int raw_unlink(const char *path, int flags)
{
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, flags);
}

/* Whole file, NUL-terminated; NULL when it cannot be read. */
static char *read_text(const char *path)
{
	int fd = raw_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* The whole content of an open file becomes text. Written first, then cut to its
 * length: ext4 flushes a file cut to nothing and written again when it is closed
 * (auto_da_alloc), which would make every write cost milliseconds. */
static int replace_fd(int fd, const char *text)
{
	size_t len = strlen(text);
	if (pwrite(fd, text, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
		return -1;
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = raw_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = replace_fd(fd, text);
	close(fd);
	return r;
}

/* ---- paths ------------------------------------------------------------------------------------ */

/* dirfd/name as a path relative to the hierarchy's root ("" the root itself); false
 * when it is not below it (or the emulation is stopped). */
static bool below_root(int dirfd, const char *name, char *rel, size_t size)
{
	if (!active || !name)
		return false;
	char path[PATH_MAX];
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		if (dirfd < 0)
			return false;
		char link[64], dir[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		ssize_t n = readlink(link, dir, sizeof(dir) - 1);
		if (n < 0)
			return false;
		dir[n] = '\0';
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
			return false;
	}
	size_t l = strlen(cg_root);
	if (strncmp(path, cg_root, l) != 0 || (path[l] != '\0' && path[l] != '/'))
		return false;
	const char *r = path[l] ? path + l + 1 : "";
	size_t rl = strlen(r);
	while (rl > 0 && r[rl - 1] == '/')
		rl--;
	if (rl >= size)
		return false;
	memcpy(rel, r, rl);
	rel[rl] = '\0';
	return true;
}

static void cg_path(char *buf, size_t size, const char *rel, const char *file)
{
	snprintf(buf, size, "%s%s%s%s%s", cg_root, *rel ? "/" : "", rel, file ? "/" : "", file ? file : "");
}

/* "a/b/c" -> "a/b"; "a" -> "". */
static void parent_of(const char *rel, char *buf, size_t size)
{
	const char *slash = strrchr(rel, '/');
	size_t l = slash ? (size_t)(slash - rel) : 0;
	snprintf(buf, size, "%.*s", (int)l, rel);
}

/* ---- tasks ------------------------------------------------------------------------------------- */

static bool numeric(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

void fakecg_place(pid_t pid, pid_t tid, const char *cgroup)
{
	char path[PATH_MAX], text[PATH_MAX + 32];
	if (use_v1)
		snprintf(text, sizeof(text), "3:cpuset:/%s\n0::/\n", cgroup);
	else
		snprintf(text, sizeof(text), "0::/%s\n", cgroup);
	snprintf(path, sizeof(path), "%s/%d", proc_root, (int)pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/task", proc_root, (int)pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/task/%d", proc_root, (int)pid, (int)tid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/task/%d/cgroup", proc_root, (int)pid, (int)tid);
	write_text(path, text);
	if (tid == pid) {
		snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, (int)pid);
		write_text(path, text);
	}
}

char *fakecg_where(pid_t pid, pid_t tid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%d/task/%d/cgroup", proc_root, (int)pid, (int)tid);
	char *text = read_text(path);
	if (!text)
		return NULL;
	const char *key = use_v1 ? "3:cpuset:/" : "0::/";
	char *line = strstr(text, key), *ret = NULL;
	if (line) {
		line += strlen(key);
		ret = strndup(line, strcspn(line, "\n"));
	}
	free(text);
	return ret;
}

/* The process that has task tid, or 0. */
static pid_t process_of(pid_t tid)
{
	DIR *d = opendir(proc_root);
	pid_t found = 0;
	struct dirent *de;
	while (d && !found && (de = readdir(d))) {
		if (!numeric(de->d_name))
			continue;
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s/task/%d", proc_root, de->d_name, (int)tid);
		if (stat(path, &st) == 0)
			found = (pid_t)atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* Calls fn on every task of the fake proc tree: pid, tid. Stops at a nonzero return. */
static int each_task(int (*fn)(pid_t, pid_t, void *), void *data)
{
	DIR *d = opendir(proc_root);
	struct dirent *de;
	int r = 0;
	while (d && r == 0 && (de = readdir(d))) {
		if (!numeric(de->d_name))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s/task", proc_root, de->d_name);
		DIR *t = opendir(path);
		struct dirent *te;
		while (t && r == 0 && (te = readdir(t)))
			if (numeric(te->d_name))
				r = fn((pid_t)atoi(de->d_name), (pid_t)atoi(te->d_name), data);
		if (t)
			closedir(t);
	}
	if (d)
		closedir(d);
	return r;
}

static int place_if_of(pid_t pid, pid_t tid, void *data)
{
	const char **args = data; /* pid as text, cgroup */
	if (pid == (pid_t)atoi(args[0]))
		fakecg_place(pid, tid, args[1]);
	return 0;
}

static int is_in(pid_t pid, pid_t tid, void *data)
{
	char *where = fakecg_where(pid, tid);
	int in = where && strcmp(where, data) == 0;
	free(where);
	return in;
}

/* A PID written to cgroup.procs (whole) or a TID to cgroup.threads or tasks. */
static int move(const char *dir, const char *value, bool whole)
{
	if (!numeric(value))
		return -EINVAL;
	pid_t id = (pid_t)atoi(value), pid = process_of(id);
	if (!pid || (whole && pid != id))
		return -ESRCH;
	if (!whole) {
		fakecg_place(pid, id, dir);
		return 0;
	}
	const char *args[] = {value, dir};
	each_task(place_if_of, args);
	return 0;
}

/* ---- controllers --------------------------------------------------------------------------- */

static void parse_set(const char *text, bool set[N_CONTROLLERS])
{
	for (size_t i = 0; i < N_CONTROLLERS; i++)
		set[i] = false;
	for (const char *w = text ? text : ""; *w;) {
		size_t l = strcspn(w, " \n");
		for (size_t i = 0; i < N_CONTROLLERS; i++)
			if (l == strlen(controllers[i]) && strncmp(w, controllers[i], l) == 0)
				set[i] = true;
		w += l;
		while (*w == ' ' || *w == '\n')
			w++;
	}
}

static void read_set(const char *rel, bool set[N_CONTROLLERS])
{
	char path[PATH_MAX];
	cg_path(path, sizeof(path), rel, "cgroup.subtree_control");
	char *text = read_text(path);
	parse_set(text, set);
	free(text);
}

/* Whether a child cgroup of rel enables controller i. */
static bool child_enables(const char *rel, size_t i)
{
	char path[PATH_MAX];
	cg_path(path, sizeof(path), rel, NULL);
	DIR *d = opendir(path);
	struct dirent *de;
	bool found = false;
	while (d && !found && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char child[PATH_MAX];
		snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		bool set[N_CONTROLLERS];
		read_set(child, set);
		found = set[i];
	}
	if (d)
		closedir(d);
	return found;
}

static int write_subtree_control(int fd, const char *dir, const char *value)
{
	bool set[N_CONTROLLERS], avail[N_CONTROLLERS];
	read_set(dir, set);
	if (*dir) {
		char parent[256];
		parent_of(dir, parent, sizeof(parent));
		read_set(parent, avail);
	} else {
		for (size_t i = 0; i < N_CONTROLLERS; i++)
			avail[i] = true;
	}
	for (const char *w = value; *w;) {
		while (*w == ' ')
			w++;
		size_t l = strcspn(w, " ");
		if (l == 0)
			break;
		if (w[0] != '+' && w[0] != '-')
			return -EINVAL;
		size_t i = 0;
		while (i < N_CONTROLLERS && (l - 1 != strlen(controllers[i]) || strncmp(w + 1, controllers[i], l - 1) != 0))
			i++;
		if (i == N_CONTROLLERS)
			return -EINVAL;
		if (w[0] == '+' && !avail[i])
			return -ENOENT;
		if (w[0] == '-' && set[i] && child_enables(dir, i))
			return -EBUSY;
		set[i] = w[0] == '+';
		w += l;
	}
	char text[128] = "";
	for (size_t i = 0; i < N_CONTROLLERS; i++)
		if (set[i])
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", *text ? " " : "", controllers[i]);
	strcat(text, "\n");
	return replace_fd(fd, text) < 0 ? -errno : 0;
}

/* ---- the interposed calls ---------------------------------------------------------------------- */

static int emulate_write(int fd, const char *rel, const char *buf, size_t n)
{
	char value[4096], dir[256];
	if (n >= sizeof(value))
		return -EINVAL;
	memcpy(value, buf, n);
	value[n] = '\0';
	size_t l = n;
	while (l > 0 && (value[l - 1] == '\n' || value[l - 1] == ' '))
		value[--l] = '\0';
	parent_of(rel, dir, sizeof(dir));
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	if (strcmp(name, "cgroup.subtree_control") == 0)
		return write_subtree_control(fd, dir, value);
	if (strcmp(name, "cgroup.procs") == 0)
		return move(dir, value, true);
	if (strcmp(name, "cgroup.threads") == 0 || strcmp(name, "tasks") == 0)
		return move(dir, value, false);
	if (strcmp(name, "cgroup.type") == 0 && strcmp(value, "threaded") != 0)
		return -EINVAL;
	strcat(value, "\n");
	return replace_fd(fd, value) < 0 ? -errno : 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct stat st;
	if (!active || fd < 0 || fd >= MAX_FDS || !files[fd].used || fstat(fd, &st) < 0 || st.st_dev != files[fd].dev ||
	    st.st_ino != files[fd].ino)
		return raw_write(fd, buf, n);
	if (n == 0)
		return 0;
	int r = emulate_write(fd, files[fd].rel, buf, n);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)n;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	char rel[256];
	if ((flags & O_ACCMODE) == O_RDONLY || (flags & (O_CREAT | O_PATH | O_DIRECTORY)) ||
	    !below_root(dirfd, path, rel, sizeof(rel)))
		return raw_openat(dirfd, path, flags, mode);
	/* What was there is needed (cgroup.subtree_control adds to it): no O_TRUNC. */
	int fd = raw_openat(dirfd, path, (flags & ~(O_ACCMODE | O_TRUNC)) | O_RDWR, 0);
	struct stat st;
	if (fd >= 0 && fd < MAX_FDS && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		files[fd] = (struct open_file){.used = true, .dev = st.st_dev, .ino = st.st_ino};
		snprintf(files[fd].rel, sizeof(files[fd].rel), "%s", rel);
	}
	return fd;
}

/* kvmcg opens a cgroup's files with openat2 (kernel/cgroupfs.c dircache_open): while
 * the stand-in is started they get openat's meaning here, and RESOLVE_BENEATH's
 * refusal of a path that could leave the directory. Every other system call, and
 * openat2 when it is stopped, goes through as it is. */
long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (size_t i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2 && active) {
		const char *path = (const char *)a[1];
		const struct open_how *how = (const struct open_how *)a[2];
		if (path[0] == '/' || strstr(path, "..")) {
			errno = EXDEV;
			return -1;
		}
		return openat((int)a[0], path, (int)how->flags, (mode_t)how->mode);
	}
	static long (*real)(long, ...);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* A new cgroup's interface files, as the kernel shows them: v2 has no tasks file, the
 * v1 cpuset hierarchy no cgroup.threads, cgroup.type, subtree_control or cpu files. */
enum { V1 = 1, V2 = 2 };
static const struct {
	const char *name, *value;
	unsigned in;
} interface[] = {
	{"cgroup.procs", "", V1 | V2},
	{"cgroup.threads", "", V2},
	{"tasks", "", V1},
	{"cgroup.type", "domain\n", V2},
	{"cgroup.subtree_control", "\n", V2},
	{"cpuset.cpus", "\n", V1 | V2},
	{"cpuset.mems", "\n", V1 | V2},
	{"cpuset.memory_migrate", "0\n", V1},
	{"cpu.weight", "100\n", V2},
	{"cpu.max", "max 100000\n", V2},
	{"io.max", "", V2},
	{"io.weight", "default 100\n", V2},
};

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	int r = (int)syscall(SYS_mkdirat, dirfd, path, mode);
	char rel[256];
	if (r == 0 && below_root(dirfd, path, rel, sizeof(rel)))
		for (size_t i = 0; i < sizeof(interface) / sizeof(interface[0]); i++) {
			if (!(interface[i].in & (use_v1 ? V1 : V2)))
				continue;
			char file[PATH_MAX];
			cg_path(file, sizeof(file), rel, interface[i].name);
			write_text(file, interface[i].value);
		}
	return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	char rel[256];
	if (!(flags & AT_REMOVEDIR) || !below_root(dirfd, path, rel, sizeof(rel)) || !*rel)
		return (int)syscall(SYS_unlinkat, dirfd, path, flags);
	char dir[PATH_MAX];
	cg_path(dir, sizeof(dir), rel, NULL);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *de;
	bool busy = false;
	while (!busy && (de = readdir(d)))
		busy = de->d_type == DT_DIR && de->d_name[0] != '.';
	if (!busy)
		busy = each_task(is_in, rel) != 0;
	if (busy) {
		closedir(d);
		errno = EBUSY;
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (de->d_type == DT_DIR)
			continue;
		char file[PATH_MAX + NAME_MAX + 2];
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		raw_unlink(file, 0);
	}
	closedir(d);
	return raw_unlink(dir, AT_REMOVEDIR);
}

void fakecg_start(const char *cg, const char *proc, bool v1)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (!realpath(cg, a) || !realpath(proc, b) || strlen(a) >= sizeof(cg_root) || strlen(b) >= sizeof(proc_root))
		abort();
	strcpy(cg_root, a);
	strcpy(proc_root, b);
	use_v1 = v1;
	for (size_t i = 0; i < MAX_FDS; i++)
		files[i].used = false;
	active = true;
}

void fakecg_stop(void)
{
	active = false;
}
