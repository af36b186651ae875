// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include <linux/nsfs.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "basic/trust.h"
#include "basic/util.h"

static void task_path(char *buf, size_t size, pid_t pid, pid_t tid, const char *file)
{
	if (pid == PROC_TASK_DIR && tid > 0)
		snprintf(buf, size, "%d/%s", (int)tid, file);
	else if (tid > 0)
		snprintf(buf, size, "%d/task/%d/%s", (int)pid, (int)tid, file);
	else
		snprintf(buf, size, "%d/%s", (int)pid, file);
}

/* A task whose directory vanished reads as ENOENT on open or ESRCH on read; one name
 * for both keeps callers simple. */
static int normalize_gone(int r)
{
	return r == -ESRCH ? -ENOENT : r;
}

/* The text of a task's file ("stat", "cgroup"...); -ENOENT when the task is gone. */
static int read_task_file(int proc_fd, pid_t pid, pid_t tid, const char *name, char **ret)
{
	char path[64];
	task_path(path, sizeof(path), pid, tid, name);
	return normalize_gone(read_file_at(proc_fd, path, ret, NULL));
}

int proc_stat_parse(const char *buf, struct proc_stat *ret)
{
	const char *open = strchr(buf, '(');
	const char *close = strrchr(buf, ')');
	if (!open || !close || close < open)
		return -EINVAL;

	struct proc_stat st = {0};
	size_t clen = (size_t)(close - open - 1);
	if (clen >= sizeof(st.comm))
		clen = sizeof(st.comm) - 1;
	memcpy(st.comm, open + 1, clen);
	st.comm[clen] = '\0';

	/* Fields 3.. after the last ')'; field n is at index n - 3. */
	const char *p = close + 1;
	unsigned long long f[48] = {0};
	int nfields = 0;
	while (*p && nfields < 40) { /* fields 3..42 */
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		if (nfields == 0) {
			st.state = *p;
			while (*p && *p != ' ')
				p++;
			nfields++;
			continue;
		}
		/* strtoull: rsslim is ULLONG_MAX, tpgid may be -1 (wraps, harmless). */
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p || errno)
			return -EINVAL;
		f[nfields + 3] = v;
		nfields++;
		p = end;
	}
	/* We need up to field 41 (policy). Old kernels have fewer; 39 is the minimum
	 * since 2.6, where 'processor' lives. */
	if (nfields + 2 < 39)
		return -EINVAL;
	st.ppid = (pid_t)f[4];
	st.flags = (unsigned long)f[9];
	st.utime_ticks = f[14];
	st.stime_ticks = f[15];
	st.starttime_ticks = f[22];
	st.processor = (int)f[39];
	st.rt_priority = (unsigned)f[40];
	st.policy = (unsigned)f[41];
	*ret = st;
	return 0;
}

int proc_read_stat(int proc_fd, pid_t pid, pid_t tid, struct proc_stat *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_task_file(proc_fd, pid, tid, "stat", &buf);
	if (r < 0)
		return r;
	return proc_stat_parse(buf, ret);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static int list_numeric(int dirfd, const char *path, pid_t **ret, size_t *ret_n)
{
	DIR *d;
	int r = opendir_at(dirfd, path, &d);
	if (r < 0)
		return normalize_gone(r);
	size_t n = 0, cap = 64;
	_cleanup_free_ pid_t *v = malloc(cap * sizeof(pid_t));
	if (!v) {
		closedir(d);
		return -ENOMEM;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		pid_t p;
		if (parse_pid(de->d_name, &p) < 0)
			continue;
		if (n == cap) {
			pid_t *nv = realloc(v, cap * 2 * sizeof(pid_t));
			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap *= 2;
		}
		v[n++] = p;
	}
	closedir(d);
	qsort(v, n, sizeof(pid_t), cmp_pid);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int proc_list_pids(int proc_fd, pid_t **ret, size_t *ret_n)
{
	return list_numeric(proc_fd, ".", ret, ret_n);
}

int proc_list_tasks(int proc_fd, pid_t pid, pid_t **ret, size_t *ret_n)
{
	char path[32];
	snprintf(path, sizeof(path), "%d/task", (int)pid);
	return list_numeric(proc_fd, path, ret, ret_n);
}

int proc_cmdline_split(const char *buf, size_t len, char ***ret_argv, size_t *ret_argc)
{
	_cleanup_strv_ char **argv = calloc(1, sizeof(char *));
	size_t argc = 0;
	if (!argv)
		return -ENOMEM;
	/* A trailing NUL ends the last argument; a missing one (a process that rewrote
	 * its argv) still counts the last piece. */
	for (size_t i = 0; i < len;) {
		size_t l = strnlen(buf + i, len - i);
		_cleanup_free_ char *arg = strndup(buf + i, l);
		if (!arg)
			return -ENOMEM;
		int r = strv_push(&argv, &argc, arg);
		if (r < 0)
			return r;
		i += l + 1;
	}
	*ret_argv = TAKE_PTR(argv);
	*ret_argc = argc;
	return 0;
}

int proc_read_cmdline(int proc_fd, pid_t pid, char ***ret_argv, size_t *ret_argc)
{
	char path[32];
	task_path(path, sizeof(path), pid, 0, "cmdline");
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_file_at_whole(proc_fd, path, &buf, &len);
	if (r < 0)
		return normalize_gone(r);
	return proc_cmdline_split(buf, len, ret_argv, ret_argc);
}

int proc_status_field(const char *buf, const char *key, char **ret)
{
	size_t klen = strlen(key);
	for (const char *line = buf; line && *line;) {
		const char *eol = strchr(line, '\n');
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			const char *end = eol ? eol : v + strlen(v);
			while (v < end && isspace((unsigned char)*v))
				v++;
			while (end > v && isspace((unsigned char)end[-1]))
				end--;
			char *s = strndup(v, (size_t)(end - v));
			if (!s)
				return -ENOMEM;
			*ret = s;
			return 0;
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

int proc_read_status_field(int proc_fd, pid_t pid, pid_t tid, const char *key, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_task_file(proc_fd, pid, tid, "status", &buf);
	if (r < 0)
		return r;
	r = proc_status_field(buf, key, ret);
	return r == -ENOENT ? -ENODATA : r;
}

int proc_read_affinity(int proc_fd, pid_t pid, pid_t tid, struct idset **ret)
{
	_cleanup_free_ char *list = NULL;
	int r = proc_read_status_field(proc_fd, pid, tid, "Cpus_allowed_list", &list);
	if (r < 0)
		return r == -ENODATA ? -EINVAL : r;
	return idset_parse(list, ret, NULL);
}

/* The path of the v1 hierarchy whose controller list has ctrl as a word, and the v2
 * ("0::") path, as pointers into buf. */
static void cgroup_lines(const char *buf, const char *ctrl, const char **v1, size_t *v1len, const char **v2,
			 size_t *v2len)
{
	size_t cl = strlen(ctrl);
	for (const char *line = buf; line && *line;) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		/* "hierarchy-ID:controller-list:cgroup-path"; the path may hold ':' */
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2) {
			const char *path = c2 + 1;
			if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0) {
				*v2 = path;
				*v2len = (size_t)(end - path);
			} else {
				/* controller list is comma separated: find ctrl as a word */
				for (const char *w = c1 + 1; w < c2;) {
					const char *comma = memchr(w, ',', (size_t)(c2 - w));
					const char *wend = comma ? comma : c2;
					if ((size_t)(wend - w) == cl && strncmp(w, ctrl, cl) == 0) {
						*v1 = path;
						*v1len = (size_t)(end - path);
					}
					w = wend + 1;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
}

int proc_cgroup_parse(const char *buf, char **ret_path, bool *ret_v1)
{
	const char *v2 = NULL, *v1 = NULL;
	size_t v2len = 0, v1len = 0;
	cgroup_lines(buf, "cpuset", &v1, &v1len, &v2, &v2len);
	const char *p = v1 ? v1 : v2;
	size_t plen = v1 ? v1len : v2len;
	if (!p)
		return -ENOENT;
	char *s = strndup(p, plen);
	if (!s)
		return -ENOMEM;
	*ret_path = s;
	*ret_v1 = v1 != NULL;
	return 0;
}

int proc_cgroup_parse_v1(const char *buf, const char *ctrl, char **ret_path)
{
	const char *v2 = NULL, *v1 = NULL;
	size_t v2len = 0, v1len = 0;
	cgroup_lines(buf, ctrl, &v1, &v1len, &v2, &v2len);
	if (!v1)
		return -ENODATA;
	return (*ret_path = strndup(v1, v1len)) ? 0 : -ENOMEM;
}

int proc_read_cgroup_v1(int proc_fd, pid_t pid, pid_t tid, const char *ctrl, char **ret_path)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_task_file(proc_fd, pid, tid, "cgroup", &buf);
	if (r < 0)
		return r;
	return proc_cgroup_parse_v1(buf, ctrl, ret_path);
}

int proc_read_cgroup(int proc_fd, pid_t pid, pid_t tid, char **ret_path, bool *ret_v1)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_task_file(proc_fd, pid, tid, "cgroup", &buf);
	if (r < 0)
		return r;
	return proc_cgroup_parse(buf, ret_path, ret_v1);
}

int proc_syscall_parse(const char *buf, struct proc_syscall *ret)
{
	struct proc_syscall sc = {0};
	if (startswith(buf, "running")) {
		sc.running = true;
		sc.nr = -1;
		*ret = sc;
		return 0;
	}
	char *end;
	errno = 0;
	sc.nr = strtol(buf, &end, 10);
	if (end == buf || errno)
		return -EINVAL;
	/* "-1 sp pc" means blocked outside a syscall; it has no arguments. */
	if (sc.nr >= 0) {
		const char *p = end;
		for (int i = 0; i < 6; i++) {
			errno = 0;
			sc.args[i] = strtoul(p, &end, 16);
			if (end == p || errno)
				return -EINVAL;
			p = end;
		}
	}
	*ret = sc;
	return 0;
}

int proc_read_syscall(int proc_fd, pid_t pid, pid_t tid, struct proc_syscall *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_task_file(proc_fd, pid, tid, "syscall", &buf);
	if (r < 0)
		return r;
	return proc_syscall_parse(buf, ret);
}

int proc_foreach_fd(int proc_fd, pid_t pid, proc_fd_cb cb, void *userdata)
{
	char path[32];
	snprintf(path, sizeof(path), "%d/fd", (int)pid);
	DIR *d;
	int r = opendir_at(proc_fd, path, &d);
	if (r < 0)
		return normalize_gone(r);
	struct dirent *de;
	while ((de = readdir(d))) {
		int n;
		if (parse_int(de->d_name, &n) < 0)
			continue;
		char target[PATH_MAX];
		ssize_t l = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (l < 0)
			continue; /* closed meanwhile */
		target[l] = '\0';
		r = cb(n, target, userdata);
		if (r)
			break;
	}
	closedir(d);
	return r;
}

bool proc_is_live(int proc_fd)
{
	struct statfs sf;
	return fstatfs(proc_fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

void proc_exe_done(struct proc_exe *e)
{
	free(e->path);
	free(e->path_why);
	*e = (struct proc_exe){0};
}

/* Drops the " (deleted)" that d_path() appends to an unlinked file. */
static char *exe_path_dup(const char *target, bool *ret_deleted)
{
	size_t l = strlen(target);
	static const char suffix[] = " (deleted)";
	bool deleted = l > sizeof(suffix) - 1 && strcmp(target + l - (sizeof(suffix) - 1), suffix) == 0;
	*ret_deleted = deleted;
	return strndup(target, deleted ? l - (sizeof(suffix) - 1) : l);
}

int proc_exe_stat_parse(const char *buf, struct proc_exe *ret)
{
	bool have_uid = false, have_mode = false, have_dev = false, have_ino = false;
	struct proc_exe e = *ret;
	for (const char *p = buf; *p;) {
		p += strspn(p, " \t\n");
		if (!*p)
			break;
		size_t wl = strcspn(p, " \t\n");
		const char *eq = memchr(p, '=', wl);
		if (!eq || eq == p || eq + 1 == p + wl)
			return -EINVAL;
		size_t kl = (size_t)(eq - p);
		char *end;
		errno = 0;
		unsigned long long v = strtoull(eq + 1, &end, 0);
		if (errno || end != p + wl || eq[1] == '-')
			return -EINVAL;
		if (kl == 3 && strncmp(p, "uid", 3) == 0) {
			if (v > UINT32_MAX)
				return -EINVAL;
			e.uid = (uid_t)v;
			have_uid = true;
		} else if (kl == 3 && strncmp(p, "gid", 3) == 0) {
			if (v > UINT32_MAX)
				return -EINVAL;
			e.gid = (gid_t)v;
		} else if (kl == 4 && strncmp(p, "mode", 4) == 0) {
			if (v > 0xffff)
				return -EINVAL;
			e.mode = (mode_t)v;
			have_mode = true;
		} else if (kl == 3 && strncmp(p, "dev", 3) == 0) {
			e.dev = (dev_t)v;
			have_dev = true;
		} else if (kl == 3 && strncmp(p, "ino", 3) == 0) {
			e.ino = (ino_t)v;
			have_ino = true;
		}
		p += wl;
	}
	if (!have_uid || !have_mode)
		return -EINVAL;
	e.have_stat = true;
	e.have_id = have_dev && have_ino;
	e.stat_error = 0;
	*ret = e;
	return 0;
}

static bool same_file(int dirfd, const char *a, const char *b)
{
	struct stat x, y;
	return fstatat(dirfd, a, &x, 0) == 0 && fstatat(dirfd, b, &y, 0) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

/* Fills e->path_trusted (and path_why): see procfs.h. */
static int exe_path_trust(int proc_fd, pid_t pid, const struct stat *exe, struct proc_exe *e)
{
	char ns[48];
	_cleanup_close_ int root = -1;
	snprintf(ns, sizeof(ns), "%d/ns/mnt", (int)pid);
	if (same_file(proc_fd, ns, "self/ns/mnt")) {
		root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		/* Another mount namespace: its mounts are believable when whoever made it
		 * was privileged in our user namespace (NS_GET_USERNS, Linux 4.9). */
		_cleanup_close_ int nsfd = openat(proc_fd, ns, O_RDONLY | O_CLOEXEC);
		_cleanup_close_ int owner = nsfd < 0 ? -1 : ioctl(nsfd, NS_GET_USERNS);
		_cleanup_close_ int mine = openat(proc_fd, "self/ns/user", O_RDONLY | O_CLOEXEC);
		struct stat a, b;
		if (owner < 0 || mine < 0 || fstat(owner, &a) < 0 || fstat(mine, &b) < 0 || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev) {
			e->path_why = strdup("is named in a mount namespace of a user namespace of its own, where "
					     "its owner arranges what a path names");
			return e->path_why ? 0 : -ENOMEM;
		}
		char rootpath[48];
		snprintf(rootpath, sizeof(rootpath), "%d/root", (int)pid);
		root = openat(proc_fd, rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (root < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	if (e->deleted) {
		/* Replaced since it ran (a package upgrade): the path names another file
		 * now. Still a file only root could have put there when it is gone for
		 * good: nobody else can unlink a root-owned file's last link. */
		e->path_trusted = exe->st_nlink == 0;
		if (!e->path_trusted && !(e->path_why = strdup("was deleted from that path but is still linked elsewhere")))
			return -ENOMEM;
		return 0;
	}
	struct stat st;
	_cleanup_free_ char *why = NULL;
	int r = trust_resolve(root, e->path, &st, &why);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (asprintf(&e->path_why, "is reached through a path root does not control (%s)", why ? why : strerror(-r)) < 0)
			return -ENOMEM;
		return 0;
	}
	if (st.st_dev != exe->st_dev || st.st_ino != exe->st_ino) {
		e->path_why = strdup("is not the file that path names (a bind mount?)");
		return e->path_why ? 0 : -ENOMEM;
	}
	e->path_trusted = true;
	return 0;
}

static int read_exe_live(int proc_fd, pid_t pid, struct proc_exe *e)
{
	char path[32], target[PATH_MAX];
	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	/* No O_NOFOLLOW: the magic link is the way to the executable's inode. */
	_cleanup_close_ int fd = openat(proc_fd, path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return normalize_gone(-errno);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	snprintf(path, sizeof(path), "self/fd/%d", fd);
	ssize_t l = readlinkat(proc_fd, path, target, sizeof(target) - 1);
	if (l < 0)
		return -errno;
	target[l] = '\0';
	e->path = exe_path_dup(target, &e->deleted);
	if (!e->path)
		return -ENOMEM;
	e->have_stat = e->have_id = true;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->mode = st.st_mode;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	return exe_path_trust(proc_fd, pid, &st, e);
}

static int read_exe_captured(int proc_fd, pid_t pid, struct proc_exe *e)
{
	char path[32], target[PATH_MAX];
	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	ssize_t l = readlinkat(proc_fd, path, target, sizeof(target) - 1);
	if (l < 0)
		return normalize_gone(-errno);
	target[l] = '\0';
	e->path = exe_path_dup(target, &e->deleted);
	if (!e->path)
		return -ENOMEM;
	e->path_trusted = true; /* the capture's exe.stat stands in for the file */
	snprintf(path, sizeof(path), "%d/exe.stat", (int)pid);
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(proc_fd, path, &buf, NULL);
	if (r == -ENOENT)
		r = -ENODATA;
	if (r == 0)
		r = proc_exe_stat_parse(buf, e);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		e->stat_error = r;
	return 0;
}

int proc_read_exe(int proc_fd, pid_t pid, struct proc_exe *ret)
{
	struct proc_exe e = {0};
	int r = proc_is_live(proc_fd) ? read_exe_live(proc_fd, pid, &e)
				      : read_exe_captured(proc_fd, pid, &e);
	if (r < 0) {
		proc_exe_done(&e);
		return r;
	}
	*ret = e;
	return 0;
}

int proc_status_euid(const char *buf, uid_t *ret)
{
	_cleanup_free_ char *v = NULL;
	int r = proc_status_field(buf, "Uid", &v);
	if (r < 0)
		return r;
	/* real, effective, saved, fs */
	char *p = v, *end;
	unsigned long ids[2];
	for (int i = 0; i < 2; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		ids[i] = strtoul(p, &end, 10);
		if (errno || ids[i] > UINT32_MAX || (*end && *end != ' ' && *end != '\t'))
			return -EINVAL;
		p = end;
	}
	*ret = (uid_t)ids[1];
	return 0;
}

int proc_read_owner(int proc_fd, pid_t pid, uid_t *ret)
{
	char path[32];
	snprintf(path, sizeof(path), "%d/status", (int)pid);
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(proc_fd, path, &buf, NULL);
	if (r < 0)
		return normalize_gone(r);
	return proc_status_euid(buf, ret);
}

int proc_read_tgid(int proc_fd, pid_t id, pid_t *ret)
{
	_cleanup_free_ char *v = NULL;
	int r = proc_read_status_field(proc_fd, id, 0, "Tgid", &v);
	if (r < 0)
		return r == -ENODATA ? -EINVAL : r;
	char *end;
	errno = 0;
	long t = strtol(v, &end, 10);
	if (errno || *end || t <= 0 || t > INT32_MAX)
		return -EINVAL;
	*ret = (pid_t)t;
	return 0;
}

bool proc_task_exiting(int proc_fd, pid_t pid, pid_t tid)
{
	struct proc_stat st;
	if (proc_read_stat(proc_fd, pid, tid, &st) < 0 || st.state == 'Z' || st.state == 'X' ||
	    (st.flags & PF_EXITING_FLAG))
		return true;
	char path[64];
	if (tid > 0)
		snprintf(path, sizeof(path), "%d/task/%d/status", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "%d/status", (int)pid);
	_cleanup_free_ char *buf = NULL;
	if (read_file_at(proc_fd, path, &buf, NULL) < 0)
		/* gone meanwhile, or a captured tree without status files */
		return proc_read_stat(proc_fd, pid, tid, &st) < 0;
	static const char *const keys[] = {"SigPnd", "ShdPnd"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		_cleanup_free_ char *v = NULL;
		if (proc_status_field(buf, keys[i], &v) == 0 && (strtoull(v, NULL, 16) & (1ull << (SIGKILL - 1))))
			return true;
	}
	return false;
}

bool proc_task_exists(int proc_fd, pid_t pid, pid_t tid)
{
	char path[64];
	struct stat st;
	if (pid == PROC_TASK_DIR)
		snprintf(path, sizeof(path), "%d", (int)tid);
	else
		snprintf(path, sizeof(path), "%d/task/%d", (int)pid, (int)tid);
	return fstatat(proc_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool proc_process_alive(int proc_fd, pid_t pid, uint64_t starttime)
{
	struct proc_stat st;
	return proc_read_stat(proc_fd, pid, 0, &st) == 0 && st.starttime_ticks == starttime &&
	       !proc_task_exiting(proc_fd, pid, 0);
}

int proc_wait_group_exit(pid_t pid, int timeout_ms)
{
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH ? 0 : -errno;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}
