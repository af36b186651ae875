// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/cgroupfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/openat2.h>

#include "basic/util.h"

const char *backend_name(enum pin_backend m)
{
	switch (m) {
	case BACKEND_CGROUP_V2:
		return "v2";
	case BACKEND_CGROUP_V1:
		return "v1";
	case BACKEND_AFFINITY:
		break;
	}
	return "affinity";
}

void cgroup_mounts_free(struct cgroup_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].path);
	free(m);
}

static bool has_word(const char *list, size_t len, const char *word)
{
	size_t wl = strlen(word);
	for (const char *w = list, *end = list + len; w < end;) {
		const char *comma = memchr(w, ',', (size_t)(end - w));
		const char *wend = comma ? comma : end;
		if ((size_t)(wend - w) == wl && strncmp(w, word, wl) == 0)
			return true;
		w = wend + 1;
	}
	return false;
}

int cgroup_parse_mountinfo(const char *buf, struct cgroup_mount **ret, size_t *ret_n)
{
	struct cgroup_mount *v = NULL;
	size_t n = 0;
	for (const char *line = buf; line && *line;) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		/* "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
		const char *f[6];
		int nf = 0;
		const char *p = line;
		while (nf < 6 && p < end) {
			while (p < end && *p == ' ')
				p++;
			f[nf++] = p;
			while (p < end && *p != ' ')
				p++;
		}
		const char *sep = nf == 6 ? strstr(f[5], " - ") : NULL;
		if (sep && sep < end) {
			const char *fstype = sep + 3;
			const char *fsend = memchr(fstype, ' ', (size_t)(end - fstype));
			const char *source = fsend ? fsend + 1 : end;
			const char *srcend = memchr(source, ' ', (size_t)(end - source));
			const char *super = srcend ? srcend + 1 : end;
			size_t fslen = fsend ? (size_t)(fsend - fstype) : 0;
			bool v2 = fslen == 7 && strncmp(fstype, "cgroup2", 7) == 0;
			bool v1 = fslen == 6 && strncmp(fstype, "cgroup", 6) == 0;
			if (v1 || v2) {
				const char *mp = f[4];
				const char *mpend = memchr(mp, ' ', (size_t)(end - mp));
				struct cgroup_mount m = {.v2 = v2};
				m.path = unescape_octal(mp, (size_t)((mpend ? mpend : end) - mp));
				if (!m.path) {
					cgroup_mounts_free(v, n);
					return -ENOMEM;
				}
				if (v1) {
					m.has_cpuset = has_word(super, (size_t)(end - super), "cpuset");
					m.has_cpu = has_word(super, (size_t)(end - super), "cpu");
					m.has_blkio = has_word(super, (size_t)(end - super), "blkio");
				}
				struct cgroup_mount *nv = realloc(v, (n + 1) * sizeof(*v));
				if (!nv) {
					free(m.path);
					cgroup_mounts_free(v, n);
					return -ENOMEM;
				}
				v = nv;
				v[n++] = m;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void cgroup_parse_controllers(const char *buf, struct cgroup_mount *m)
{
	m->has_cpuset |= cg_controller_listed(buf, "cpuset");
	m->has_cpu |= cg_controller_listed(buf, "cpu");
}

void cgroup_host_done(struct cgroup_host *h)
{
	free(h->mount);
	free(h->why_not_v2);
	*h = (struct cgroup_host){0};
}

static int read_mounts(int proc_fd, struct cgroup_mount **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(proc_fd, "self/mountinfo", &buf, NULL);
	if (r < 0)
		return r;
	r = cgroup_parse_mountinfo(buf, ret, ret_n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < *ret_n; i++) {
		if (!(*ret)[i].v2)
			continue;
		_cleanup_close_ int fd = open((*ret)[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		_cleanup_free_ char *ctl = NULL;
		if (fd >= 0 && read_file_at(fd, "cgroup.controllers", &ctl, NULL) == 0)
			cgroup_parse_controllers(ctl, &(*ret)[i]);
	}
	return 0;
}

static int choose(struct cgroup_mount *m, size_t n, const char *within, struct cgroup_host *ret)
{
	struct cgroup_host h = {.backend = BACKEND_AFFINITY};
	const struct cgroup_mount *v2 = NULL, *v2_any = NULL, *v1 = NULL;
	for (size_t i = 0; i < n; i++) {
		if (within) {
			size_t l = strlen(m[i].path);
			if (strncmp(within, m[i].path, l) != 0 || (within[l] != '/' && within[l] != '\0'))
				continue;
		}
		if (m[i].v2 && !v2_any)
			v2_any = &m[i];
		if (m[i].v2 && m[i].has_cpuset && !v2)
			v2 = &m[i];
		if (!m[i].v2 && m[i].has_cpuset && !v1)
			v1 = &m[i];
	}
	const struct cgroup_mount *use = v2 ? v2 : v1;
	if (use) {
		h.backend = v2 ? BACKEND_CGROUP_V2 : BACKEND_CGROUP_V1;
		if (!(h.mount = strdup(use->path)))
			return -ENOMEM;
	}
	if (!v2) {
		int k;
		if (v2_any && v1)
			k = asprintf(&h.why_not_v2,
				     "the cgroup2 mount at %s has no cpuset controller; cpuset is bound to the v1 hierarchy at %s",
				     v2_any->path, v1->path);
		else if (v2_any)
			k = asprintf(&h.why_not_v2, "the cgroup2 mount at %s has no cpuset controller",
				     v2_any->path);
		else
			k = asprintf(&h.why_not_v2, "no cgroup2 filesystem is mounted");
		if (k < 0) {
			cgroup_host_done(&h);
			return -ENOMEM;
		}
	}
	*ret = h;
	return 0;
}

/* The mounts, and the choice among them (limited to those holding within). */
static int detect(int proc_fd, const char *within, struct cgroup_host *ret)
{
	struct cgroup_mount *m = NULL;
	size_t n = 0;
	int r = read_mounts(proc_fd, &m, &n);
	if (r < 0)
		return r;
	r = choose(m, n, within, ret);
	cgroup_mounts_free(m, n);
	return r;
}

int cgroup_host_detect(int proc_fd, struct cgroup_host *ret)
{
	return detect(proc_fd, NULL, ret);
}

int cgroup_host_copy(const struct cgroup_host *from, struct cgroup_host *ret)
{
	*ret = (struct cgroup_host){.backend = from->backend};
	if ((from->mount && !(ret->mount = strdup(from->mount))) ||
	    (from->why_not_v2 && !(ret->why_not_v2 = strdup(from->why_not_v2)))) {
		cgroup_host_done(ret);
		return -ENOMEM;
	}
	return 0;
}

const char *v1_tree_controller(enum v1_tree t)
{
	return t == V1_TREE_CPU ? "cpu" : t == V1_TREE_BLKIO ? "blkio" : NULL;
}

int cgroup_v1_mount(int proc_fd, enum v1_tree tree, char **ret)
{
	struct cgroup_mount *m = NULL;
	size_t n = 0;
	int r = read_mounts(proc_fd, &m, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; r == -ENOENT && i < n; i++)
		if (!m[i].v2 && (tree == V1_TREE_CPU ? m[i].has_cpu : tree == V1_TREE_BLKIO && m[i].has_blkio))
			r = (*ret = strdup(m[i].path)) ? 0 : -ENOMEM;
	cgroup_mounts_free(m, n);
	return r;
}

int cgroup_host_for_path(int proc_fd, const char *path, struct cgroup_host *ret)
{
	int r = detect(proc_fd, path, ret);
	if (r == 0 && ret->backend == BACKEND_AFFINITY) {
		cgroup_host_done(ret);
		return -ENOTDIR; /* not inside a cgroup hierarchy with cpuset */
	}
	return r;
}

int cg_write(int dirfd, const char *file, const char *value)
{
	return write_file_at(dirfd, file, value);
}

/* A cgroup file's value without the newline (and blanks) the kernel ends it with. */
static char *trimmed(char *buf, size_t len)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

int cg_read(int dirfd, const char *file, char **ret)
{
	char *buf;
	size_t len;
	int r = read_file_at(dirfd, file, &buf, &len);
	if (r < 0)
		return r;
	*ret = trimmed(buf, len);
	return 0;
}

/* Whether the child cgroup child_fd has a value of controller's that is not the
 * kernel's default, i.e. something disabling the controller above it would drop. */
static int child_configured(int child_fd, const char *controller)
{
	static const struct {
		const char *controller, *file, *default_value;
	} defaults[] = {
		{"cpuset", "cpuset.cpus", ""}, /* v2: empty until written */
		{"cpuset", "cpuset.mems", ""},
		{"cpu", "cpu.weight", "100"},
		{"cpu", "cpu.max", "max 100000"},
		{"io", "io.max", ""},
		{"io", "io.weight", "default 100"},
		{"io", "io.bfq.weight", "default 100"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
		if (strcmp(defaults[i].controller, controller) != 0)
			continue;
		_cleanup_free_ char *v = NULL;
		int r = cg_read(child_fd, defaults[i].file, &v);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (strcmp(v, defaults[i].default_value) != 0)
			return 1;
	}
	return 0;
}

int cg_has_children(int dir_fd)
{
	DIR *d;
	int r = opendir_at(dir_fd, ".", &d);
	if (r < 0)
		return r;
	struct dirent *de;
	while (r == 0 && (de = readdir(d)))
		r = de->d_name[0] != '.' && de->d_type == DT_DIR;
	closedir(d);
	return r;
}

int cg_child_names(int dir_fd, char ***ret, size_t *ret_n)
{
	DIR *d;
	int r = opendir_at(dir_fd, ".", &d);
	if (r < 0)
		return r;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			r = strv_push(&names, &n, de->d_name);
	closedir(d);
	if (r < 0) {
		strv_free(names);
		return r;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

int cg_controller_in_use(int dir_fd, const char *controller)
{
	DIR *d;
	int r = opendir_at(dir_fd, ".", &d);
	if (r < 0)
		return r;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		_cleanup_close_ int child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child < 0) {
			r = errno == ENOENT ? 0 : -errno; /* removed meanwhile: it needs nothing */
			continue;
		}
		_cleanup_free_ char *sc = NULL;
		int k = cg_read(child, "cgroup.subtree_control", &sc);
		if (k == 0 && cg_controller_listed(sc, controller))
			r = 1;
		else if (k < 0 && k != -ENOENT)
			r = k;
		else
			r = child_configured(child, controller);
	}
	closedir(d);
	return r;
}

const char *cg_strerror(int r, const char *file)
{
	bool cpuset_file = file && (strcmp(file, "cpuset.cpus") == 0 || strcmp(file, "cpuset.mems") == 0);
	bool subtree = file && strcmp(file, "cgroup.subtree_control") == 0;
	/* kernel/cgroup/cpuset.c validate_change(): on v1 a cpuset stays inside its
	 * parent's (EACCES) and keeps what its children use (EBUSY) */
	if (cpuset_file && (r == -EACCES || r == -EPERM))
		return "not inside the parent cpuset's CPUs or nodes (cgroup v1 keeps each cpuset inside its parent's)";
	if (cpuset_file && r == -EBUSY)
		return "busy: a cpuset below still uses CPUs or nodes this write takes away";
	/* kernel/cgroup/cgroup.c cgroup_subtree_control_write() */
	if (subtree && r == -EBUSY)
		return "busy: the cgroup has processes of its own (it cannot also give controllers to cgroups below), "
		       "or a cgroup below still uses the controller";
	/* block/blk-cgroup.c blkg_conf_prep(): the disk's queue runs no such policy (a
	 * per-disk io.weight without iocost, io.bfq.weight without BFQ) */
	if (file && strncmp(file, "io.", 3) == 0 && r == -EOPNOTSUPP)
		return "the disk does not take this setting (a weight needs BFQ, or iocost enabled for the disk)";
	switch (-r) {
	case ENOENT:
		if (file && strcmp(file, "cgroup.subtree_control") == 0)
			return "the controller is not available in this cgroup (bound to cgroup v1, or not delegated)";
		return "no such cgroup or file (removed meanwhile?)";
	case EBUSY:
		return "busy: the cgroup has processes where the kernel wants none, or controllers where it wants none";
	case EOPNOTSUPP:
		return "not supported in threaded mode: the cgroup has processes or domain controllers, or its parent cannot become a thread root";
	case EINVAL:
		return "invalid value for this cgroup (outside the parent's cpus or mems?)";
	case ENOSPC:
		return "the cpuset has no cpus or mems yet";
	case ESRCH:
		return "no such process or thread";
	case ENODEV:
		return "the cgroup was removed";
	case EACCES:
	case EPERM:
		return "permission denied (root, or a delegated cgroup, is needed)";
	case EROFS:
		return "the cgroup filesystem is read-only";
	case ENAMETOOLONG:
		return "a cgroup name is longer than the 255 bytes the kernel allows";
	default:
		return strerror(-r);
	}
}

/* One component of l bytes at name, below dirfd: no ".", "..", or over-long name,
 * no symbolic link. */
static int open_component(int dirfd, const char *name, size_t l)
{
	if ((l == 2 && strncmp(name, "..", 2) == 0) || (l == 1 && name[0] == '.'))
		return -EINVAL;
	if (l > CG_NAME_MAX)
		return -ENAMETOOLONG;
	char comp[CG_NAME_MAX + 1];
	memcpy(comp, name, l);
	comp[l] = '\0';
	int fd = openat(dirfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cg_open_path(int mount_fd, const char *path)
{
	int fd = openat(mount_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (const char *p = path; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 0) {
			p++;
			continue;
		}
		int next = open_component(fd, p, l);
		close(fd);
		if (next < 0)
			return next;
		fd = next;
		p += l;
	}
	return fd;
}

int cg_path_check(const char *path, char **ret_why)
{
	const char *why = NULL;
	size_t l = 0;
	const char *p = path;
	if (*p == '/') {
		why = "starts with '/'";
	} else {
		for (; *p; p += l + (p[l] == '/')) {
			l = strcspn(p, "/");
			if (l == 0)
				why = "has an empty component";
			else if ((l == 2 && strncmp(p, "..", 2) == 0) || (l == 1 && p[0] == '.'))
				why = "has a '.' or '..' component";
			else if (l > CG_NAME_MAX)
				why = "has a component longer than the 255 bytes of a cgroup name";
			else if (memchr(p, '\n', l))
				why = "has a newline";
			else if (p[l] == '/' && p[l + 1] == '\0')
				why = "ends with '/'";
			if (why)
				break;
		}
	}
	if (!why)
		return 0;
	if (ret_why && asprintf(ret_why, "'%s' %s", path, why) < 0)
		*ret_why = NULL;
	return -EINVAL;
}

int cg_rmdir(int parent_fd, const char *name)
{
	/* A VM that was just killed still has threads on their way out: the kernel
	 * says EBUSY until the last one has left. 40 x 25 ms. */
	for (int tries = 0;; tries++) {
		if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || tries == 40)
			return -errno;
		usleep(25000);
	}
}

int cg_fs_check(int fd, enum pin_backend backend)
{
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0)
		return -errno;
	if (backend == BACKEND_CGROUP_V2 ? fs.f_type != CGROUP2_SUPER_MAGIC : fs.f_type != CGROUP_SUPER_MAGIC)
		return -EXDEV;
	return 0;
}

/* A cgroup v2 interface file and the value that means "no limit". */
static const struct {
	const char *file;
	const char *unlimited; /* NULL: "max" followed by anything (cpu.max) */
} v2_limits[] = {
	{"cpuset.cpus", ""},  {"cpuset.mems", ""},      {"cpu.max", NULL},     {"cpu.weight", "100"},
	{"memory.max", "max"}, {"memory.high", "max"}, {"memory.swap.max", "max"},
	{"memory.min", "0"},  {"memory.low", "0"},      {"pids.max", "max"},  {"io.max", ""},
	{"io.weight", "default 100"},
};

static int push_limit(char ***ret, size_t *n, const char *dir, const char *file, const char *value)
{
	_cleanup_free_ char *s = NULL;
	if (asprintf(&s, "/%s: %s=%s", dir, file, value) < 0)
		return -ENOMEM;
	for (char *c = s; *c; c++)
		if (*c == '\n')
			*c = ' ';
	return strv_push(ret, n, s);
}

int cg_read_limits(int mount_fd, enum pin_backend backend, const char *from, const char *upto, char ***ret,
		   size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0;
	int r = 0;
	_cleanup_free_ char *path = strdup(from);
	_cleanup_free_ char *root_cpus = NULL, *root_mems = NULL;
	if (!path)
		return -ENOMEM;
	if (backend == BACKEND_CGROUP_V1) {
		/* v1 cpusets always hold explicit lists: a limit is one narrower than the root's */
		_cleanup_close_ int rfd = cg_open_path(mount_fd, "");
		if (rfd < 0 || cg_read(rfd, "cpuset.cpus", &root_cpus) < 0 || cg_read(rfd, "cpuset.mems", &root_mems) < 0)
			return rfd < 0 ? rfd : -EIO;
	}
	while (r == 0 && *path && strcmp(path, upto) != 0) {
		_cleanup_close_ int fd = cg_open_path(mount_fd, path);
		if (fd >= 0 && backend == BACKEND_CGROUP_V2) {
			for (size_t i = 0; r == 0 && i < ARRAY_SIZE(v2_limits); i++) {
				_cleanup_free_ char *val = NULL;
				if (cg_read(fd, v2_limits[i].file, &val) < 0)
					continue; /* controller not enabled here: no limit from it */
				bool unlimited = v2_limits[i].unlimited ? strcmp(val, v2_limits[i].unlimited) == 0
									: startswith(val, "max ");
				if (!unlimited)
					r = push_limit(&v, &n, path, v2_limits[i].file, val);
			}
		} else if (fd >= 0) {
			_cleanup_free_ char *cpus = NULL, *mems = NULL;
			if (cg_read(fd, "cpuset.cpus", &cpus) == 0 && strcmp(cpus, root_cpus) != 0)
				r = push_limit(&v, &n, path, "cpuset.cpus", cpus);
			if (r == 0 && cg_read(fd, "cpuset.mems", &mems) == 0 && strcmp(mems, root_mems) != 0)
				r = push_limit(&v, &n, path, "cpuset.mems", mems);
		}
		char *slash = strrchr(path, '/');
		if (slash)
			*slash = '\0';
		else
			path[0] = '\0';
	}
	if (r < 0) {
		strv_free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

bool cg_controller_listed(const char *subtree_control, const char *name)
{
	size_t nl = strlen(name);
	for (const char *w = subtree_control ? subtree_control : ""; *w;) {
		size_t l = strcspn(w, " \n");
		if (l == nl && strncmp(w, name, nl) == 0)
			return true;
		w += l;
		while (*w == ' ' || *w == '\n')
			w++;
	}
	return false;
}

const char *cg_relative(const char *path)
{
	return !path ? "" : path[0] == '/' ? path + 1 : path;
}

/* ---- directory cache ------------------------------------------------------------------------ */

bool cg_path_within(const char *path, const char *dir)
{
	const char *c = cg_relative(path);
	size_t l = strlen(dir);
	return l == 0 || (strncmp(c, dir, l) == 0 && (c[l] == '\0' || c[l] == '/'));
}

int cg_dircache_get(struct cg_dircache *c, const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].path, path) == 0)
			return c->v[i].fd;
	/* One openat below the (cached) parent, not a walk from the mount. */
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int fd;
	if (!*path || !*base) {
		fd = cg_open_path(c->mount_fd, path);
	} else {
		_cleanup_free_ char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
		if (!parent)
			return -ENOMEM;
		int pfd = cg_dircache_get(c, parent);
		if (pfd < 0)
			return pfd;
		fd = open_component(pfd, base, strlen(base));
	}
	if (fd < 0)
		return fd;
	struct cg_dircache_entry *n = realloc(c->v, (c->n + 1) * sizeof(*n));
	char *copy = strdup(path);
	if (!n || !copy) {
		if (n)
			c->v = n;
		free(copy);
		close(fd);
		return -ENOMEM;
	}
	c->v = n;
	c->v[c->n++] = (struct cg_dircache_entry){.path = copy, .fd = fd};
	return fd;
}

void cg_dircache_forget(struct cg_dircache *c, const char *path)
{
	for (size_t i = 0; i < c->n;) {
		if (cg_path_within(c->v[i].path, path)) {
			close(c->v[i].fd);
			free(c->v[i].path);
			c->v[i] = c->v[--c->n];
		} else {
			i++;
		}
	}
}

/* dir/file opened with flags, as cg_dircache_read() says. */
static int dircache_open(struct cg_dircache *c, const char *dir, const char *file, int flags)
{
	/* the longest cached prefix of dir that is a whole component path */
	const struct cg_dircache_entry *from = NULL;
	size_t from_len = 0;
	for (size_t i = 0; i < c->n; i++) {
		size_t l = strlen(c->v[i].path);
		if ((!from || l > from_len) && cg_path_within(dir, c->v[i].path)) {
			from = &c->v[i];
			from_len = l;
		}
	}
	/* openat with a mode, as everywhere: fortified, a 3-argument openat whose flags
	 * are not known at compile time calls __openat_2, which the executor's unit tests
	 * do not stand in for (tests/unit/fakecg.h) */
	if (from && from_len == strlen(dir)) {
		int fd = openat(from->fd, file, flags | O_NOFOLLOW | O_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	static bool no_openat2;
	if (!no_openat2) {
		const char *rest = dir + from_len + (from_len ? 1 : 0);
		while (*rest == '/')
			rest++;
		char rel[PATH_MAX];
		int n = snprintf(rel, sizeof(rel), "%s%s%s", rest, *rest ? "/" : "", file);
		if (n < 0 || (size_t)n >= sizeof(rel))
			return -ENAMETOOLONG;
		struct open_how how = {
			.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
		};
		int fd = (int)syscall(SYS_openat2, from ? from->fd : c->mount_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		/* ENOSYS: a kernel before 5.6, or a seccomp filter that does not know the
		 * call; older container runtimes' filters say EPERM. Either way the
		 * directory's own fd answers, and a real EPERM is the same there. */
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		no_openat2 = errno == ENOSYS;
	}
	int dfd = cg_dircache_get(c, dir);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, file, flags | O_NOFOLLOW | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int cg_dircache_read(struct cg_dircache *c, const char *dir, const char *file, char **ret)
{
	_cleanup_close_ int fd = dircache_open(c, dir, file, O_RDONLY);
	if (fd < 0)
		return fd;
	char *buf;
	size_t len;
	int r = read_file_fd(fd, &buf, &len);
	if (r < 0)
		return r;
	*ret = trimmed(buf, len);
	return 0;
}

int cg_dircache_write(struct cg_dircache *c, const char *dir, const char *file, const char *value)
{
	/* O_TRUNC as write_file_at's */
	_cleanup_close_ int fd = dircache_open(c, dir, file, O_WRONLY | O_TRUNC);
	return fd < 0 ? fd : write_file_fd(fd, value);
}

void cg_dircache_done(struct cg_dircache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		close(c->v[i].fd);
		free(c->v[i].path);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int cg_line_find(const char *content, const char *key, char **ret)
{
	*ret = NULL;
	size_t kl = strlen(key);
	for (const char *l = content; l && *l;) {
		const char *end = strchrnul(l, '\n');
		if ((size_t)(end - l) >= kl && strncmp(l, key, kl) == 0 && (l[kl] == ' ' || l + kl == end)) {
			*ret = strndup(l, (size_t)(end - l));
			return *ret ? 0 : -ENOMEM;
		}
		l = *end ? end + 1 : end;
	}
	return 0;
}

int cg_line_reset(const char *file, const char *key, char **ret)
{
	const char *rest = NULL;
	if (strcmp(file, "io.max") == 0)
		rest = "rbps=max wbps=max riops=max wiops=max";
	/* BFQ takes "MAJ:MIN default" and refuses "MAJ:MIN 0" (block/bfq-cgroup.c
	 * bfq_io_set_device_weight(): ERANGE), in io.bfq.weight and v1's
	 * blkio.bfq.weight_device alike */
	else if (strcmp(file, "io.weight") == 0 || strcmp(file, "io.bfq.weight") == 0 ||
		 strcmp(file, "blkio.bfq.weight_device") == 0)
		rest = "default";
	/* 0 is no limit (block/blk-throttle.c tg_set_conf(): U64_MAX, UINT_MAX), and no
	 * weight of the disk's own (CFQ's cfqg_set_weight_device(), before Linux 5.0) */
	else if (strncmp(file, "blkio.throttle.", 15) == 0 || strcmp(file, "blkio.weight_device") == 0)
		rest = "0";
	if (!rest)
		return -EINVAL;
	return asprintf(ret, "%s %s", key, rest) < 0 ? -ENOMEM : 0;
}

bool cg_line_field(const char *line, const char *name, char *buf, size_t size)
{
	size_t nl = strlen(name);
	for (const char *p = line ? strchr(line, ' ') : NULL; p && *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " ");
		if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			snprintf(buf, size, "%.*s", (int)(n - nl - 1), p + nl + 1);
			return true;
		}
		p += n;
	}
	return false;
}

int cg_line_undo(const char *file, const char *current, const char *new_line, char **ret)
{
	_cleanup_free_ char *key = strndup(new_line, strcspn(new_line, " "));
	if (!key)
		return -ENOMEM;
	if (strcmp(file, "io.max") != 0) {
		if (!current)
			return cg_line_reset(file, key, ret);
		*ret = strdup(current);
		return *ret ? 0 : -ENOMEM;
	}
	/* each field of new_line becomes " NAME=OLD", at most 1 + 15 + 1 + 31 bytes, and
	 * takes at least 3 of new_line's ("x=y" and a blank) */
	size_t size = strlen(new_line) * 17 + 64;
	_cleanup_free_ char *out = malloc(size);
	if (!out)
		return -ENOMEM;
	size_t len = (size_t)snprintf(out, size, "%s", key);
	for (const char *p = strchr(new_line, ' '); p && *p && len < size;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " =");
		if (!n)
			break;
		char name[16], old[32];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (!cg_line_field(current, name, old, sizeof(old)))
			snprintf(old, sizeof(old), "max");
		len += (size_t)snprintf(out + len, size - len, " %s=%s", name, old);
		p += strcspn(p, " ");
	}
	*ret = TAKE_PTR(out);
	return 0;
}
