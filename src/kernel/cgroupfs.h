/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where the cpuset controller lives on this host, and safe access to cgroupfs:
 * every directory is opened once, every file relative to it with
 * O_NOFOLLOW|O_CLOEXEC, one value per write(2). */
#ifndef KVMCG_CGROUPFS_H
#define KVMCG_CGROUPFS_H

#include <stdbool.h>
#include <stddef.h>

enum pin_backend {
	BACKEND_AFFINITY, /* no usable cpuset controller: sched_setaffinity only */
	BACKEND_CGROUP_V1,       /* cpuset bound to a v1 hierarchy (hybrid or legacy host) */
	BACKEND_CGROUP_V2,       /* cpuset available on a cgroup2 mount */
};
const char *backend_name(enum pin_backend m);

struct cgroup_mount {
	char *path;       /* mount point */
	bool v2;
	bool has_cpuset;  /* v1: among the mount's controllers; v2: in cgroup.controllers */
	bool has_cpu;
	bool has_blkio;   /* v1 only */
};

/* Mounts of cgroup and cgroup2 in a /proc/self/mountinfo buffer. Pure: v2 mounts
 * have has_cpuset/has_cpu false until cgroup_probe_v2 reads their controllers. */
int cgroup_parse_mountinfo(const char *buf, struct cgroup_mount **ret, size_t *ret_n);
void cgroup_mounts_free(struct cgroup_mount *m, size_t n);

/* Fills has_cpuset/has_cpu of a v2 mount from a "cgroup.controllers" buffer. */
void cgroup_parse_controllers(const char *buf, struct cgroup_mount *m);

struct cgroup_host {
	enum pin_backend backend;
	char *mount;    /* mount point of the hierarchy that carries cpuset */
	char *why_not_v2; /* why a v2 cpuset was not usable, for the user */
};
void cgroup_host_done(struct cgroup_host *h);

/* Reads /proc/self/mountinfo and the v2 mounts' cgroup.controllers. */
int cgroup_host_detect(int proc_fd, struct cgroup_host *ret);
/* A copy of from into ret (ret's to free with cgroup_host_done()). 0 or -ENOMEM. */
int cgroup_host_copy(const struct cgroup_host *from, struct cgroup_host *ret);

/* The v1 hierarchies in which a v1 or hybrid host gets a VM's second tree, beside
 * its cpuset one: V1_TREE_CPU for [CPU] Weight=/Quota=/Period= (cpu.shares,
 * cpu.cfs_quota_us, cpu.cfs_period_us: kernel/sched/core.c cpu_legacy_files[]),
 * V1_TREE_BLKIO for [IO] (blkio.throttle.*: block/blk-throttle.c throtl_legacy_files[];
 * blkio.bfq.weight*: block/bfq-cgroup.c bfq_blkcg_legacy_files[]; blkio.weight*:
 * CFQ's, gone since Linux 5.0). V1_TREE_NONE is the tree of the pin's backend. */
enum v1_tree { V1_TREE_NONE, V1_TREE_CPU, V1_TREE_BLKIO, V1_TREE_N };
/* "cpu", "blkio": the controller's name in mountinfo and /proc/PID/cgroup; NULL for
 * V1_TREE_NONE. */
const char *v1_tree_controller(enum v1_tree t);

/* The mount point of the v1 hierarchy that carries tree's controller ("cpu", or
 * "cpu,cpuacct" combined; "blkio"), found in /proc/self/mountinfo as
 * cgroup_host_detect() finds cpuset's. 0 and the mount point in *ret (caller frees);
 * -ENOENT when no v1 hierarchy has it (a unified host, or the controller bound to
 * cgroup2); -ENOMEM. */
int cgroup_v1_mount(int proc_fd, enum v1_tree tree, char **ret);

/* The hierarchy mount that contains an absolute path (for --cgroup-root). */
int cgroup_host_for_path(int proc_fd, const char *path, struct cgroup_host *ret);

/* Whether a cgroup.subtree_control (or cgroup.controllers) text, "cpuset cpu io",
 * lists the controller name. */
bool cg_controller_listed(const char *subtree_control, const char *name);

/* One value, one write(2); errors come from write(), as the kernel reports them. */
int cg_write(int dirfd, const char *file, const char *value);
/* Whole file, trailing newline removed. */
int cg_read(int dirfd, const char *file, char **ret);

/* Keyed files: one line per key, the key its first word, a write changes the one
 * line it names (v2 io.max, io.weight, io.bfq.weight: block/blk-throttle.c
 * tg_set_limit(), block/blk-iocost.c ioc_weight_write(), block/bfq-cgroup.c
 * bfq_io_set_weight(); v1 blkio.throttle.* and blkio.weight_device likewise).
 * cg_line_find: the line of content whose first word is key, copied into *ret, or
 * *ret NULL when there is none. 0 or -ENOMEM. */
int cg_line_find(const char *content, const char *key, char **ret);
/* The line that puts key of file back to the kernel's default when content has no
 * line for it: "KEY rbps=max wbps=max riops=max wiops=max" (io.max), "KEY default"
 * (io.weight, io.bfq.weight, v1 blkio.bfq.weight_device: BFQ refuses a 0), "KEY 0"
 * (v1 blkio.throttle.*, CFQ's blkio.weight_device). -EINVAL for a file that is not
 * keyed, -ENOMEM. */
int cg_line_reset(const char *file, const char *key, char **ret);

/* The value of field "name=" of a keyed line ("7:0 rbps=5 wbps=max": "rbps" is "5"),
 * copied into buf (at most size-1 bytes; buf may be NULL with size 0 to ask whether
 * it is there); false when the line (NULL: none) has no such field. */
bool cg_line_field(const char *line, const char *name, char *buf, size_t size);
/* The line that undoes writing new_line ("KEY ...") to a keyed file whose line for KEY
 * is current (NULL: none): for io.max, only the limits new_line names, each with its
 * value in current or "max" ("7:0 rbps=max" for "7:0 rbps=1048576"), since a write
 * changes only the limits it gives (tg_set_limit()) and an admin's other limits must
 * stay as they are; for the other keyed files, current, or cg_line_reset()'s line.
 * -EINVAL (not keyed), -ENOMEM. */
int cg_line_undo(const char *file, const char *current, const char *new_line, char **ret);

/* v2: whether a child cgroup of dir_fd (an fd of the cgroup's directory, O_PATH is
 * enough) still relies on controller ("cpuset", "cpu" or "io") being enabled in the
 * cgroup's subtree_control: the child enables it for its own children (the kernel
 * then refuses to disable it: EBUSY, kernel/cgroup/cgroup.c
 * cgroup_subtree_control_write()), or it holds a value of the controller's that is
 * not the kernel's default (cpuset.cpus or cpuset.mems written; cpu.weight not 100,
 * cpu.max not "max 100000"; io.max not empty, io.weight or io.bfq.weight not
 * "default 100"), which disabling would drop without a word. 1 when one
 * does, 0 when none, or a negative errno from reading the directory. */
int cg_controller_in_use(int dir_fd, const char *controller);
/* Whether the cgroup dir_fd has a child cgroup: 1, 0 or a negative errno. */
int cg_has_children(int dir_fd);
/* The names of dir_fd's child cgroups (one getdents for a VM's 66), in no order;
 * *ret NULL-terminated, or NULL when there are none. 0 or a negative errno. */
int cg_child_names(int dir_fd, char ***ret, size_t *ret_n);

/* The kernel's limit on one cgroup name (kernfs: NAME_MAX). */
#define CG_NAME_MAX 255

/* Opens a cgroup directory below the mount (O_PATH), one component at a time with
 * O_NOFOLLOW, so no path can lead out of the hierarchy. "" is the mount itself.
 * -EINVAL for a "." or ".." component, -ENAMETOOLONG for one longer than
 * CG_NAME_MAX, else openat's errno. */
int cg_open_path(int mount_fd, const char *path);

/* Directory fds below one mount, by path, each opened once (cg_open_path) and kept
 * for a run: a pin of a 64-vCPU VM reads and writes each of its cgroups several
 * times, from observation to read-back. The cache owns the fds; mount_fd stays the
 * caller's. */
struct cg_dircache {
	int mount_fd;
	struct cg_dircache_entry {
		char *path;
		int fd;
	} *v;
	size_t n;
};
/* The fd of path ("" for the mount), O_PATH; cg_open_path's errors, -ENOMEM. */
int cg_dircache_get(struct cg_dircache *c, const char *path);
/* After an rmdir: drops path and everything below it. */
void cg_dircache_forget(struct cg_dircache *c, const char *path);
/* cg_read() and cg_write() of dir/file, dir relative to the mount. The file is
 * opened from the nearest directory the cache holds, in one openat2(2) that follows
 * no symbolic link and stays beneath that directory and on its mount
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV):
 * a VM's 66 children are written and read without a directory fd each. Where the
 * kernel has no openat2 (before Linux 5.6), through dir's own cached fd. -ENOENT when
 * dir or file does not exist; the kernel's errno of the open, read or write. */
int cg_dircache_read(struct cg_dircache *c, const char *dir, const char *file, char **ret);
int cg_dircache_write(struct cg_dircache *c, const char *dir, const char *file, const char *value);
void cg_dircache_done(struct cg_dircache *c);

/* The form kvmcg keeps a cgroup path in, relative to the mount ("kvmcg/vm/vcpu0",
 * "" for the root), of one as /proc/PID/cgroup gives it ("/kvmcg/vm/vcpu0"): the
 * leading '/' dropped; a relative path as it is; NULL as "". Points into path. */
const char *cg_relative(const char *path);

/* Whether path (either form) is dir (relative) or below it: "a/b" is below "a",
 * "ab" is not; everything is below "". */
bool cg_path_within(const char *path, const char *dir);

/* A path relative to a cgroup mount as kvmcg stores it ("kvmcg/vm/vcpu0", "" for the
 * root): no empty, ".", ".." or over-long component, no newline. 0 or -EINVAL with a
 * sentence in *ret_why (when given; caller frees). */
int cg_path_check(const char *path, char **ret_why);

/* rmdir of name below parent_fd; EBUSY (tasks still leaving, as when the VM was
 * just killed) is retried for about a second. A missing directory is success. */
int cg_rmdir(int parent_fd, const char *name);

/* 0 when fd is on a cgroup filesystem of the mode's kind (fstatfs: CGROUP2_SUPER_MAGIC
 * for v2, CGROUP_SUPER_MAGIC for v1), -EXDEV when it is not. */
int cg_fs_check(int fd, enum pin_backend backend);

/* The limits set on the cgroups from `from` up to, not including, `upto` (an ancestor
 * of from; "" for the root): what a process loses when it leaves them for a place
 * outside `upto`. v2: memory.max/high/swap.max/min/low, pids.max, cpu.max,
 * cpu.weight, io.max, io.weight and cpuset.cpus/mems that differ from "no limit";
 * v1 (the cpuset hierarchy only): cpuset.cpus/mems that differ from the root's.
 * Each entry reads "/path: file=value". */
int cg_read_limits(int mount_fd, enum pin_backend backend, const char *from, const char *upto, char ***ret,
		   size_t *ret_n);

/* A kernel errno from a cgroup operation, as a sentence a user can act on; file (NULL
 * for a move or a directory) picks the sentence where the kernel gives one errno
 * several meanings (EACCES/EBUSY on cpuset.cpus/mems, EBUSY on subtree_control). */
const char *cg_strerror(int r, const char *file);

#endif
