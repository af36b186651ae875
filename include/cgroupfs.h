/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where the cpuset controller lives on this host, and safe access to cgroupfs:
 * every directory is opened once, every file relative to it with
 * O_NOFOLLOW|O_CLOEXEC, one value per write(2). */
#ifndef KVMCG_CGROUPFS_H
#define KVMCG_CGROUPFS_H

#include <stdbool.h>
#include <stddef.h>

enum cgroup_mode {
	CGROUP_MODE_AFFINITY, /* no usable cpuset controller: sched_setaffinity only */
	CGROUP_MODE_V1,       /* cpuset bound to a v1 hierarchy (hybrid or legacy host) */
	CGROUP_MODE_V2,       /* cpuset available on a cgroup2 mount */
};
const char *cgroup_mode_name(enum cgroup_mode m);

struct cgroup_mount {
	char *path;       /* mount point */
	bool v2;
	bool has_cpuset;  /* v1: among the mount's controllers; v2: in cgroup.controllers */
	bool has_cpu;
};

/* Mounts of cgroup and cgroup2 in a /proc/self/mountinfo buffer. Pure: v2 mounts
 * have has_cpuset/has_cpu false until cgroup_probe_v2 reads their controllers. */
int cgroup_parse_mountinfo(const char *buf, struct cgroup_mount **ret, size_t *ret_n);
void cgroup_mounts_free(struct cgroup_mount *m, size_t n);

/* Fills has_cpuset/has_cpu of a v2 mount from a "cgroup.controllers" buffer. */
void cgroup_parse_controllers(const char *buf, struct cgroup_mount *m);

struct cgroup_host {
	enum cgroup_mode mode;
	char *mount;    /* mount point of the hierarchy that carries cpuset */
	char *why_not_v2; /* why a v2 cpuset was not usable, for the user */
};
void cgroup_host_done(struct cgroup_host *h);

/* Reads /proc/self/mountinfo and the v2 mounts' cgroup.controllers. */
int cgroup_host_detect(int proc_fd, struct cgroup_host *ret);

/* The hierarchy mount that contains an absolute path (for --cgroup-root). */
int cgroup_host_for_path(int proc_fd, const char *path, struct cgroup_host *ret);

/* Opens (O_PATH|O_DIRECTORY|O_NOFOLLOW) a directory below dirfd; with create, makes
 * it first (an existing one is fine). *ret_created tells whether we made it. */
int cg_open_dir(int dirfd, const char *name, bool create, bool *ret_created);

/* One value, one write(2); errors come from write(), as the kernel reports them. */
int cg_write(int dirfd, const char *file, const char *value);
/* Whole file, trailing newline removed. */
int cg_read(int dirfd, const char *file, char **ret);

/* A cgroup name from untrusted text (a VM's name): letters, digits, '-' and '_'
 * kept, anything else '_'; no leading '.', at most 64 bytes. NULL when nothing
 * usable remains (the caller falls back to the pid). */
char *cg_sanitize_name(const char *name);

/* A kernel errno from a cgroup operation, as a sentence a user can act on. */
const char *cg_strerror(int r, const char *file);

#endif
