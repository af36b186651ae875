// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/blockdev.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <linux/btrfs.h>
#include <linux/magic.h>

#include "basic/err.h"
#include "basic/util.h"

/* dm on dm on dm (crypt on LVM on multipath) is deep enough. */
#define CHAIN_DEPTH_MAX 8

void blockdev_done(struct blockdev *b)
{
	free(b->name);
	free(b->chain);
	*b = (struct blockdev){0};
}

/* The text after "../../devices/" of a sysfs link as the kernel writes it (fs/sysfs:
 * relative, from /sys/dev/block or /sys/class/block, two levels below the root), as
 * a path below the root: "devices/...". -EINVAL for any other shape. */
static int link_to_devices_path(const char *target, char **ret)
{
	const char *p = target;
	if (!startswith(p, "../../devices/"))
		return -EINVAL;
	p += strlen("../../");
	for (const char *c = p; *c;) {
		size_t l = strcspn(c, "/");
		if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += l;
		if (*c == '/')
			c++;
	}
	*ret = strdup(p);
	return *ret ? 0 : -ENOMEM;
}

/* readlinkat of a sysfs link, then link_to_devices_path. */
static int sysfs_link_dir(int sysfs_fd, const char *link, char **ret)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(sysfs_fd, link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	int r = link_to_devices_path(target, ret);
	if (r == -EINVAL)
		err_set("sysfs link %s points to %s, not into devices/", link, target);
	return r;
}

/* Opens a directory below the sysfs root one component at a time, each with
 * O_NOFOLLOW: an O_PATH fd, or -errno. */
static int open_beneath(int sysfs_fd, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = -1;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next = openat(fd < 0 ? sysfs_fd : fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		if (fd >= 0)
			close(fd);
		if (next < 0)
			return -saved;
		fd = next;
	}
	return fd < 0 ? -EINVAL : fd;
}

/* A file of a device directory, trailing newline removed. */
static int read_attr(int sysfs_fd, const char *dir, const char *file, char **ret)
{
	int dfd = open_beneath(sysfs_fd, dir);
	if (dfd < 0)
		return dfd;
	_cleanup_close_ int fd = dfd;
	char *buf;
	size_t len;
	int r = read_file_at(fd, file, &buf, &len);
	if (r < 0)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*ret = buf;
	return 0;
}

static bool attr_exists(int sysfs_fd, const char *dir, const char *file)
{
	int dfd = open_beneath(sysfs_fd, dir);
	if (dfd < 0)
		return false;
	struct stat st;
	bool yes = fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
	close(dfd);
	return yes;
}

static int parse_devnum(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned ma, mi;
	int n = 0;
	if (sscanf(s, "%u:%u%n", &ma, &mi, &n) != 2 || s[n] != '\0' || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	*ret_major = ma;
	*ret_minor = mi;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Appends printf text to *s (NULL is ""). 0 or -ENOMEM. */
__attribute__((format(printf, 2, 3))) static int append(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *more = vformat(fmt, ap);
	va_end(ap);
	if (!more)
		return -ENOMEM;
	char *joined = NULL;
	if (asprintf(&joined, "%s%s", *s ? *s : "", more) < 0)
		return -ENOMEM;
	free(*s);
	*s = joined;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory below the root, sorted, "." and ".." left out. */
static int list_names(int sysfs_fd, const char *dir, char ***ret, size_t *ret_n)
{
	int dfd = open_beneath(sysfs_fd, dir);
	if (dfd < 0)
		return dfd;
	DIR *d;
	int r = opendir_at(dfd, ".", &d);
	close(dfd);
	if (r < 0)
		return r;
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = strv_push(&v, &n, de->d_name);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static int describe_dir(int sysfs_fd, const char *dir, int depth, char **chain);

/* " on /dev/A + /dev/B" for the devices below a dm device (its slaves/, each found
 * again through class/block/NAME). */
static int describe_slaves(int sysfs_fd, const char *dir, int depth, char **chain)
{
	_cleanup_free_ char *slaves_dir = NULL;
	if (asprintf(&slaves_dir, "%s/slaves", dir) < 0)
		return -ENOMEM;
	_cleanup_strv_ char **names = NULL;
	size_t n = 0;
	if (list_names(sysfs_fd, slaves_dir, &names, &n) < 0 || n == 0)
		return 0; /* described as far as sysfs tells */
	for (size_t i = 0; i < n; i++) {
		int r = append(chain, i == 0 ? " on" : " +");
		if (r < 0)
			return r;
		_cleanup_free_ char *link = NULL, *sub = NULL;
		if (asprintf(&link, "class/block/%s", names[i]) < 0)
			return -ENOMEM;
		r = sysfs_link_dir(sysfs_fd, link, &sub);
		if (r == -ENOMEM)
			return r;
		r = r < 0 ? append(chain, " /dev/%s", names[i]) : describe_dir(sysfs_fd, sub, depth + 1, chain);
		if (r < 0)
			return r;
	}
	return 0;
}

/* " /dev/NAME" and what sysfs says about it: ", partition of /dev/DISK", a dm
 * device's name and the devices below it, a loop device's backing file. */
static int describe_dir(int sysfs_fd, const char *dir, int depth, char **chain)
{
	const char *name = base_name(dir);
	int r = append(chain, " /dev/%s", name);
	if (r < 0)
		return r;
	if (depth >= CHAIN_DEPTH_MAX)
		return append(chain, " ...");
	if (attr_exists(sysfs_fd, dir, "partition")) {
		_cleanup_free_ char *parent = strndup(dir, (size_t)(name - dir - 1));
		if (!parent)
			return -ENOMEM;
		r = append(chain, ", partition of");
		return r < 0 ? r : describe_dir(sysfs_fd, parent, depth + 1, chain);
	}
	_cleanup_free_ char *dm_name = NULL, *backing = NULL;
	if (read_attr(sysfs_fd, dir, "dm/name", &dm_name) == 0) {
		r = append(chain, " (%s)", dm_name);
		return r < 0 ? r : describe_slaves(sysfs_fd, dir, depth, chain);
	}
	if (read_attr(sysfs_fd, dir, "loop/backing_file", &backing) == 0)
		return append(chain, " (backing file %s)", backing);
	return 0;
}

int blockdev_resolve_devnum(int sysfs_fd, unsigned major, unsigned minor, const char *what, const char *fs,
			    struct blockdev *ret)
{
	char link[64];
	snprintf(link, sizeof(link), "dev/block/%u:%u", major, minor);
	_cleanup_free_ char *dir = NULL;
	int r = sysfs_link_dir(sysfs_fd, link, &dir);
	if (r == -ENOENT)
		err_set("no block device %u:%u in sysfs (/sys/%s)", major, minor, link);
	if (r < 0)
		return r;

	_cleanup_free_ char *chain = NULL;
	if (what && (r = append(&chain, "%s", what)) < 0)
		return r;
	if (fs && (r = append(&chain, " (%s)", fs)) < 0)
		return r;
	if (what && (r = append(&chain, " on")) < 0)
		return r;
	r = describe_dir(sysfs_fd, dir, 0, &chain);
	if (r < 0)
		return r;

	/* A partition: the disk is the directory above (block/partitions/core.c
	 * add_partition() puts the partition's device below the disk's). */
	if (attr_exists(sysfs_fd, dir, "partition")) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			return -EINVAL;
		*slash = '\0';
	}
	_cleanup_free_ char *dev = NULL;
	r = read_attr(sysfs_fd, dir, "dev", &dev);
	if (r < 0) {
		err_set("cannot read /sys/%s/dev: %s", dir, strerror(-r));
		return r;
	}
	struct blockdev b = {0};
	if (parse_devnum(dev, &b.major, &b.minor) < 0) {
		err_set("/sys/%s/dev reads \"%s\", not MAJ:MIN", dir, dev);
		return -EINVAL;
	}
	b.name = strdup(base_name(dir));
	if (!b.name)
		return -ENOMEM;
	b.chain = TAKE_PTR(chain);
	/* the chain starts with the space describe_dir() puts before "/dev/" */
	if (!what)
		memmove(b.chain, b.chain + 1, strlen(b.chain));
	*ret = b;
	return 0;
}

static const struct {
	long magic;
	const char *name;
} fs_names[] = {
	{TMPFS_MAGIC, "tmpfs"},
	{RAMFS_MAGIC, "ramfs"},
	{OVERLAYFS_SUPER_MAGIC, "overlay"},
	{NFS_SUPER_MAGIC, "nfs"},
	{V9FS_MAGIC, "9p"},
	{0x65735546, "fuse"}, /* FUSE_SUPER_MAGIC, fs/fuse/inode.c; virtiofs too */
	{BTRFS_SUPER_MAGIC, "btrfs"},
	{0xFF534D42, "cifs"}, /* CIFS_SUPER_MAGIC, fs/smb/client */
	{0xFE534D42, "smb2"}, /* SMB2_SUPER_MAGIC */
	{CEPH_SUPER_MAGIC, "ceph"},
	{0x2fc12fc1, "zfs"},  /* OpenZFS, out of tree */
	{PROC_SUPER_MAGIC, "proc"},
	{SYSFS_MAGIC, "sysfs"},
	{EXT4_SUPER_MAGIC, "ext4"},
	{XFS_SUPER_MAGIC, "xfs"},
	{F2FS_SUPER_MAGIC, "f2fs"},
	{SQUASHFS_MAGIC, "squashfs"},
	{MSDOS_SUPER_MAGIC, "vfat"},
	{0x5346544e, "ntfs"},
	{0x7366746e, "ntfs3"},
};

const char *blockdev_fs_name(long f_type)
{
	for (size_t i = 0; i < ARRAY_SIZE(fs_names); i++)
		if ((unsigned long)fs_names[i].magic == ((unsigned long)f_type & 0xffffffffUL))
			return fs_names[i].name;
	return NULL;
}

int blockdev_btrfs_devices(int sysfs_fd, const char *uuid, char ***ret, size_t *ret_n)
{
	if (!*uuid || uuid[strspn(uuid, "0123456789abcdefABCDEF-")] != '\0')
		return -EINVAL;
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "fs/btrfs/%s/devices", uuid) < 0)
		return -ENOMEM;
	return list_names(sysfs_fd, dir, ret, ret_n);
}

/* " Its devices (/sys/fs/btrfs/UUID/devices): /dev/sda2, partition of /dev/sda
 * (8:0), /dev/loop1 (7:1); name those disks instead." for the btrfs filesystem of fd,
 * or where to look when they cannot be found. NULL when out of memory. */
static char *btrfs_hint(int sysfs_fd, int fd)
{
	struct btrfs_ioctl_fs_info_args info = {0};
	if (fd < 0 || ioctl(fd, BTRFS_IOC_FS_INFO, &info) < 0)
		return strdup(" Its devices are listed in /sys/fs/btrfs/UUID/devices; name their disks instead.");
	char uuid[40];
	const unsigned char *u = info.fsid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
		 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	_cleanup_strv_ char **names = NULL;
	size_t n = 0;
	char *s = NULL;
	if (blockdev_btrfs_devices(sysfs_fd, uuid, &names, &n) < 0 || n == 0) {
		if (asprintf(&s, " Its devices would be listed in /sys/fs/btrfs/%s/devices; name their disks instead.",
			     uuid) < 0)
			return NULL;
		return s;
	}
	if (append(&s, " Its devices (/sys/fs/btrfs/%s/devices):", uuid) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *link = NULL, *dir = NULL, *dev = NULL;
		struct blockdev b = {0};
		int r = asprintf(&link, "class/block/%s", names[i]) < 0 ? -ENOMEM
			: sysfs_link_dir(sysfs_fd, link, &dir);
		if (r == 0)
			r = read_attr(sysfs_fd, dir, "dev", &dev);
		unsigned ma, mi;
		if (r == 0 && parse_devnum(dev, &ma, &mi) == 0 &&
		    blockdev_resolve_devnum(sysfs_fd, ma, mi, NULL, NULL, &b) == 0)
			r = strcmp(b.name, names[i]) == 0
				    ? append(&s, "%s /dev/%s (%u:%u)", i ? "," : "", names[i], b.major, b.minor)
				    : append(&s, "%s /dev/%s, partition of /dev/%s (%u:%u)", i ? "," : "", names[i],
					     b.name, b.major, b.minor);
		else
			r = append(&s, "%s /dev/%s", i ? "," : "", names[i]);
		blockdev_done(&b);
		if (r < 0) {
			free(s);
			return NULL;
		}
	}
	if (append(&s, "; name those disks instead.") < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The sentence for a file on a filesystem without a block device, fd an O_PATH fd
 * of it (fstatfs(2) takes one since Linux 3.12; the btrfs ioctl needs a real open,
 * made again through /proc/self/fd). -ENODEV or -ENOMEM. */
static int no_block_device(int sysfs_fd, int fd, const char *path, dev_t dev)
{
	struct statfs sfs;
	const char *fs = NULL;
	char other[48] = "an unknown";
	if (fstatfs(fd, &sfs) == 0) {
		fs = blockdev_fs_name((long)sfs.f_type);
		if (!fs)
			snprintf(other, sizeof(other), "a type 0x%lx", (unsigned long)sfs.f_type);
	}
	_cleanup_free_ char *hint = NULL;
	if (fs && strcmp(fs, "btrfs") == 0) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		_cleanup_close_ int rfd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		hint = btrfs_hint(sysfs_fd, rfd);
		if (!hint)
			return -ENOMEM;
	}
	err_set("%s is on %s%s filesystem, which has no block device (its device number is %u:%u): no io "
		"setting can apply to it.%s",
		path, fs ? (strchr("aeiou", fs[0]) ? "an " : "a ") : other, fs ? fs : "", major(dev), minor(dev),
		hint ? hint : "");
	return -ENODEV;
}

int blockdev_resolve_path(int sysfs_fd, const char *path, struct blockdev *ret)
{
	/* O_PATH: a device node is not opened (no driver open, no media check). */
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		err_set("cannot open %s: %s", path, strerror(-r));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return blockdev_resolve_devnum(sysfs_fd, major(st.st_rdev), minor(st.st_rdev), NULL, NULL, ret);
	if (S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) {
		err_set("%s is not a block device or a file on one", path);
		return -ENOTBLK;
	}
	if (major(st.st_dev) == 0)
		return no_block_device(sysfs_fd, fd, path, st.st_dev);
	struct statfs sfs;
	const char *fs = fstatfs(fd, &sfs) == 0 ? blockdev_fs_name((long)sfs.f_type) : NULL;
	return blockdev_resolve_devnum(sysfs_fd, major(st.st_dev), minor(st.st_dev), path, fs, ret);
}

int blockdev_scheduler_parse(const char *buf, char **ret)
{
	const char *open = strchr(buf, '[');
	if (open) {
		const char *close = strchr(open, ']');
		if (!close || close == open + 1)
			return -EINVAL;
		*ret = strndup(open + 1, (size_t)(close - open - 1));
		return *ret ? 0 : -ENOMEM;
	}
	size_t b = strspn(buf, " \t\n");
	size_t l = strcspn(buf + b, " \t\n");
	if (l == 4 && strncmp(buf + b, "none", 4) == 0 && buf[b + l + strspn(buf + b + l, " \t\n")] == '\0') {
		*ret = strdup("none");
		return *ret ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

bool blockdev_iocost_enabled(const char *io_cost_qos, unsigned major, unsigned minor)
{
	char key[32];
	snprintf(key, sizeof(key), "%u:%u ", major, minor);
	for (const char *line = io_cost_qos; line && *line;) {
		const char *eol = strchrnul(line, '\n');
		if (startswith(line, key)) {
			for (const char *w = line + strlen(key); w < eol;) {
				size_t l = strcspn(w, " \n");
				if (l == 8 && strncmp(w, "enable=1", 8) == 0)
					return true;
				w += l;
				w += strspn(w, " ");
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return false;
}

void blockdev_weight_done(struct blockdev_weight *w)
{
	free(w->scheduler);
	free(w->advice);
	*w = (struct blockdev_weight){0};
}

/* io.cost.qos of the v2 root: whether major:minor is enabled; a missing file is "no". */
static int iocost_check(int cgroup_root_fd, unsigned major, unsigned minor, bool *ret)
{
	*ret = false;
	if (cgroup_root_fd < 0)
		return 0;
	_cleanup_free_ char *qos = NULL;
	int r = read_file_at(cgroup_root_fd, "io.cost.qos", &qos, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	*ret = blockdev_iocost_enabled(qos, major, minor);
	return 0;
}

int blockdev_weight_check(int sysfs_fd, int cgroup_root_fd, unsigned major, unsigned minor,
			  struct blockdev_weight *ret)
{
	char link[64];
	snprintf(link, sizeof(link), "dev/block/%u:%u", major, minor);
	_cleanup_free_ char *dir = NULL, *text = NULL;
	int r = sysfs_link_dir(sysfs_fd, link, &dir);
	if (r == 0)
		r = read_attr(sysfs_fd, dir, "queue/scheduler", &text);
	if (r < 0) {
		err_set("cannot read the scheduler of block device %u:%u (/sys/%s/queue/scheduler): %s", major,
			minor, link, strerror(-r));
		return r;
	}
	struct blockdev_weight w = {0};
	r = blockdev_scheduler_parse(text, &w.scheduler);
	if (r < 0) {
		err_set("/sys/%s/queue/scheduler reads \"%s\": no scheduler marked", link, text);
		return r;
	}
	const char *name = base_name(dir);
	bool dm = attr_exists(sysfs_fd, dir, "dm");
	bool iocost = false;
	if (strcmp(w.scheduler, "bfq") == 0) {
		w.via = BLOCKDEV_WEIGHT_BFQ;
		w.file = cgroup_root_fd >= 0 ? "io.bfq.weight" : "blkio.bfq.weight";
	} else if (!dm && (r = iocost_check(cgroup_root_fd, major, minor, &iocost)) < 0) {
		blockdev_weight_done(&w);
		return r;
	} else if (iocost) {
		w.via = BLOCKDEV_WEIGHT_IOCOST;
		w.file = "io.weight";
	} else {
		w.via = BLOCKDEV_WEIGHT_NOTHING;
		if (dm)
			r = asprintf(&w.advice,
				     "/dev/%s is a device-mapper device: it has no I/O scheduler and iocost refuses it; "
				     "set the weight on the disks below it (/sys/block/%s/slaves/)",
				     name, name);
		else if (cgroup_root_fd >= 0)
			r = asprintf(&w.advice,
				     "echo \"%u:%u enable=1\" > /sys/fs/cgroup/io.cost.qos (iocost), or "
				     "echo bfq > /sys/block/%s/queue/scheduler",
				     major, minor, name);
		else
			r = asprintf(&w.advice, "echo bfq > /sys/block/%s/queue/scheduler", name);
		if (r < 0) {
			w.advice = NULL;
			blockdev_weight_done(&w);
			return -ENOMEM;
		}
	}
	*ret = w;
	return 0;
}

/* ---- the io controller's files ---- */

/* "MAJ:MIN" at the start of s, then at least one blank; *end after the blanks. */
static int parse_devnum_prefix(const char *s, unsigned *ret_major, unsigned *ret_minor, const char **end)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	char *e;
	errno = 0;
	unsigned long ma = strtoul(s, &e, 10);
	if (errno || *e != ':' || ma > UINT_MAX || !isdigit((unsigned char)e[1]))
		return -EINVAL;
	unsigned long mi = strtoul(e + 1, &e, 10);
	if (errno || mi > UINT_MAX || (*e != ' ' && *e != '\t'))
		return -EINVAL;
	*ret_major = (unsigned)ma;
	*ret_minor = (unsigned)mi;
	*end = e + strspn(e, " \t");
	return 0;
}

static void limit_str(char *buf, size_t size, uint64_t v)
{
	if (v == IO_LIMIT_MAX)
		snprintf(buf, size, "max");
	else
		snprintf(buf, size, "%" PRIu64, v);
}

char *io_max_format(const struct io_max *m)
{
	char rb[24], wb[24], ri[24], wi[24];
	limit_str(rb, sizeof(rb), m->rbps);
	limit_str(wb, sizeof(wb), m->wbps);
	limit_str(ri, sizeof(ri), m->riops);
	limit_str(wi, sizeof(wi), m->wiops);
	char *s = NULL;
	if (asprintf(&s, "%u:%u rbps=%s wbps=%s riops=%s wiops=%s", m->major, m->minor, rb, wb, ri, wi) < 0)
		return NULL;
	return s;
}

int io_max_parse_line(const char *line, struct io_max *ret)
{
	struct io_max m = {.rbps = IO_LIMIT_MAX, .wbps = IO_LIMIT_MAX, .riops = IO_LIMIT_MAX, .wiops = IO_LIMIT_MAX};
	const char *p;
	if (parse_devnum_prefix(line, &m.major, &m.minor, &p) < 0)
		return -EINVAL;
	while (*p && *p != '\n') {
		size_t l = strcspn(p, " \t\n");
		char tok[64];
		if (l >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, p, l);
		tok[l] = '\0';
		char *eq = strchr(tok, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		uint64_t v;
		if (strcmp(eq + 1, "max") == 0)
			v = IO_LIMIT_MAX;
		else if (parse_u64(eq + 1, &v) < 0)
			return -EINVAL;
		uint64_t *slot = strcmp(tok, "rbps") == 0	? &m.rbps
				 : strcmp(tok, "wbps") == 0	? &m.wbps
				 : strcmp(tok, "riops") == 0 ? &m.riops
				 : strcmp(tok, "wiops") == 0 ? &m.wiops
							       : NULL;
		if (!slot)
			return -EINVAL;
		*slot = v;
		p += l;
		p += strspn(p, " \t");
	}
	*ret = m;
	return 0;
}

/* Calls parse on each non-empty line of buf into a growing array of elem_size
 * elements. */
static int parse_lines(const char *buf, const char *what, size_t elem_size,
		       int (*parse)(const char *line, void *ret), void **ret, size_t *ret_n)
{
	_cleanup_free_ char *v = NULL;
	size_t n = 0;
	for (const char *line = buf; line && *line;) {
		const char *eol = strchrnul(line, '\n');
		if (eol > line) {
			_cleanup_free_ char *one = strndup(line, (size_t)(eol - line));
			char *nv = one ? realloc(v, (n + 1) * elem_size) : NULL;
			if (!nv)
				return -ENOMEM;
			v = nv;
			if (parse(one, v + n * elem_size) < 0) {
				err_set("%s: cannot read the line \"%s\"", what, one);
				return -EINVAL;
			}
			n++;
		}
		line = *eol ? eol + 1 : eol;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static int io_max_parse_void(const char *line, void *ret)
{
	return io_max_parse_line(line, ret);
}

int io_max_parse(const char *buf, struct io_max **ret, size_t *ret_n)
{
	return parse_lines(buf, "io.max", sizeof(struct io_max), io_max_parse_void, (void **)ret, ret_n);
}

char *io_weight_format(const struct io_weight *w)
{
	char *s = NULL;
	int r = w->is_default ? asprintf(&s, "default %u", w->weight)
			      : asprintf(&s, "%u:%u %u", w->major, w->minor, w->weight);
	return r < 0 ? NULL : s;
}

int io_weight_parse_line(const char *line, struct io_weight *ret)
{
	struct io_weight w = {0};
	const char *p;
	if (startswith(line, "default") && (line[7] == ' ' || line[7] == '\t')) {
		w.is_default = true;
		p = line + 7 + strspn(line + 7, " \t");
	} else if (parse_devnum_prefix(line, &w.major, &w.minor, &p) < 0) {
		return -EINVAL;
	}
	_cleanup_free_ char *num = strndup(p, strcspn(p, " \t\n"));
	uint64_t v;
	if (!num)
		return -ENOMEM;
	const char *rest = p + strlen(num);
	if (parse_u64(num, &v) < 0 || v < 1 || v > 10000 || rest[strspn(rest, " \t\n")] != '\0')
		return -EINVAL;
	w.weight = (unsigned)v;
	*ret = w;
	return 0;
}

static int io_weight_parse_void(const char *line, void *ret)
{
	return io_weight_parse_line(line, ret);
}

int io_weight_parse(const char *buf, struct io_weight **ret, size_t *ret_n)
{
	return parse_lines(buf, "io.weight", sizeof(struct io_weight), io_weight_parse_void, (void **)ret, ret_n);
}

char *io_dev_value_format(const struct io_dev_value *v)
{
	char *s = NULL;
	if (asprintf(&s, "%u:%u %" PRIu64, v->major, v->minor, v->value) < 0)
		return NULL;
	return s;
}

int io_dev_value_parse_line(const char *line, struct io_dev_value *ret)
{
	struct io_dev_value d = {0};
	const char *p;
	if (parse_devnum_prefix(line, &d.major, &d.minor, &p) < 0)
		return -EINVAL;
	_cleanup_free_ char *num = strndup(p, strcspn(p, " \t\n"));
	if (!num)
		return -ENOMEM;
	const char *rest = p + strlen(num);
	if (parse_u64(num, &d.value) < 0 || rest[strspn(rest, " \t\n")] != '\0')
		return -EINVAL;
	*ret = d;
	return 0;
}

static int io_dev_value_parse_void(const char *line, void *ret)
{
	return io_dev_value_parse_line(line, ret);
}

int io_dev_value_parse(const char *buf, struct io_dev_value **ret, size_t *ret_n)
{
	return parse_lines(buf, "blkio", sizeof(struct io_dev_value), io_dev_value_parse_void, (void **)ret, ret_n);
}
