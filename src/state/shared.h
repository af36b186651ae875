/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed in cgroups that are no single VM's, so that the last VM to
 * leave takes it back: the top kvmcg/ directory, a --cgroup-root and the
 * directories above it that kvmcg made, and the controllers it enabled in the
 * subtree_control of the root and of the cgroups between the root and a VM's
 * directory (v2). A VM's own record cannot hold these: the VM that made a change is
 * not always the last one to need it.
 *
 * One file for the host, "shared.json" in the state directory:
 *
 *   {"version": 1,
 *    "changes": [{"mount": "/sys/fs/cgroup", "dir": "", "enabled": "cpuset", "done": true},
 *                {"mount": "/sys/fs/cgroup", "dir": "kvmcg", "made": true, "done": true,
 *                 "inode": 1234}]}
 *
 * guarded by "shared.lock" (flock(2)), which a pin holds from observing the
 * cgroups above the VM's directory to its last write, and a release while it takes
 * changes back: so nothing is taken back between a pin seeing it and relying on it. */
#ifndef KVMCG_SHARED_H
#define KVMCG_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SHARED_VERSION 1

struct shared_change {
	char *mount;      /* the hierarchy's mount point, absolute */
	char *dir;        /* relative to the mount, "" for its root; cg_path_check()ed */
	char *controller; /* "cpuset", "cpu" or "io" enabled in dir's subtree_control; NULL:
			   * dir itself was made */
	/* Noted before the run ("planned"), confirmed after it ("done"): only a change
	 * known to be kvmcg's is ever taken back. A planned one found later is a run's
	 * that was killed before it settled: dropped, never acted on (the directory may
	 * be someone else's by now). */
	bool done;
	unsigned long long inode; /* a directory made, once done: its inode (the
				   * cgroup's kernfs id), so that a directory of the same
				   * name made by someone else later is never removed */
};

struct shared_state {
	struct shared_change *v;
	size_t n;
};

void shared_state_done(struct shared_state *s);

/* Adds a change (planned) unless it is listed already. 0 or -ENOMEM. */
int shared_add(struct shared_state *s, const char *mount, const char *dir, const char *controller);
/* The index of a change, or -1. */
ssize_t shared_find(const struct shared_state *s, const char *mount, const char *dir, const char *controller);
/* Drops entry i (i < s->n), keeping the order of the others. */
void shared_drop(struct shared_state *s, size_t i);

/* Pretty-printed JSON with a final newline; NULL when out of memory. */
char *shared_format(const struct shared_state *s);
/* Strict, as the record is read (json-strict.h): every key known and given once,
 * absolute mounts, plain relative dirs, controllers only cpuset, cpu or io, no change
 * listed twice. 0; -ENOMEM; -EBADMSG or -EPROTONOSUPPORT with a sentence in
 * *ret_why (caller frees). */
int shared_parse(const char *buf, struct shared_state *ret, char **ret_why);

/* The host's list, from a file kvmcg may trust (root's, not writable by others; as
 * a record is checked). None yet is an empty list. On error a sentence that names
 * the file is left in err_get(). */
int shared_load(int state_fd, struct shared_state *ret);
/* Atomic (state_write_atomic); an empty list removes the file. */
int shared_save(int state_fd, const struct shared_state *s);

/* flock(2) on "shared.lock", exclusive, waiting up to timeout_ms (then -ETIMEDOUT,
 * *ret_holder, when given, saying who holds it: "pid 123 (kvmcg pin)"). */
int shared_lock(int state_fd, int timeout_ms, const char *command, int *ret_fd, char **ret_holder);
/* Releases it; removes the lock file too when the list is empty (no shared.json). */
void shared_unlock(int state_fd, int fd);

#endif
