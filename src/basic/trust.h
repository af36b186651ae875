/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Files kvmcg acts on as root: policy files and their directory, the state directory
 * and its records. Nobody but root (or the user running kvmcg) may be able to change
 * what they say, so each is opened by a walk from "/" that follows no symbolic link
 * and checks every directory on the way, as sshd's StrictModes does (auth.c,
 * safe_path()):
 *   - no component is a symbolic link, and no component is "..";
 *   - the object itself is owned by root or by the effective user, and is not writable
 *     by group or others (sticky or not);
 *   - every directory above it is owned by root or by the effective user, and is not
 *     writable by group or others unless it is sticky (/tmp): in a sticky directory
 *     nobody else can rename or replace an entry they do not own.
 * Checks are made on the opened fds (fstat), each component is opened relative to
 * the fd of the one above it, so nothing can be swapped in between. A file inside a
 * directory opened this way is opened with trust_openat(), relative to that fd: what
 * is read is what was checked.
 *
 * Messages name the component at fault by its absolute path, e.g.
 *   refusing /etc/kvmcg/link: it is a symbolic link, and kvmcg follows none; name the real path
 *   refusing the directory /srv/pol: writable by its group and not sticky (mode 0775); chmod go-w it
 *   refusing policy file /etc/kvmcg/policies/a.policy: owned by uid 1000, not root */
#ifndef KVMCG_TRUST_H
#define KVMCG_TRUST_H

#include <stdbool.h>
#include <sys/stat.h>

/* Opens path (absolute, or relative to the working directory) with flags, which
 * must include O_RDONLY or O_PATH and may include O_DIRECTORY; O_NOFOLLOW and
 * O_CLOEXEC are added. A "." component is skipped; ".." is refused. With
 * mkdir_mode non-zero and O_DIRECTORY, a missing last component is created with that
 * mode (its parent must pass the checks). With check_owner false only the symbolic
 * link and ".." rules apply (a user checking their own files).
 * Returns the fd, or a negative errno with a sentence in *ret_why (caller frees;
 * "PATH: REASON") that names the path and the component at fault:
 *   -ELOOP  a component is a symbolic link
 *   -EPERM  an owner or mode that others could use to change the object
 *   -EINVAL ".." in the path, or an empty path
 *   other   from openat/fstat/mkdirat (ENOENT, ENOTDIR, EACCES...) */
int trust_open(const char *path, int flags, mode_t mkdir_mode, bool check_owner, char **ret_why);

/* trust_open() for callers that print the path themselves ("FILE: error: REASON"):
 * *ret_reason is REASON alone, which names the component at fault by its absolute
 * path except when the object itself could not be opened (then it is strerror's
 * text). what names the object in refusals ("the policy directory"); NULL says
 * "file" or "directory". Same returns as trust_open(). */
int trust_open_reason(const char *path, int flags, mode_t mkdir_mode, bool check_owner, const char *what,
		      char **ret_reason);

/* Opens name, one entry of the directory dirfd (an fd from trust_open()), with flags
 * plus O_NOFOLLOW|O_CLOEXEC, and with check_owner applies the rule for the object.
 * name is a plain name: no '/', not "." or "..". shown is how messages name it
 * ("DIR/NAME"), what as for trust_open_reason(). Returns the fd, or -ELOOP (a
 * symbolic link), -EPERM, -EINVAL (not a plain name) or openat's error, with REASON
 * in *ret_reason (caller frees). */
int trust_openat(int dirfd, const char *name, int flags, bool check_owner, const char *what, const char *shown,
		 char **ret_reason);

/* Whether path, looked up from root_fd (a directory: "/" of some mount namespace),
 * names a file only root can have put there: every component reached without a
 * symbolic link, every directory owned by root and not writable by group or others
 * (sticky or not: a hard link to a root-owned file can be made in /tmp), the last a
 * regular file. Returns 0 and its stat in *ret, or a negative errno with REASON in
 * *ret_why (caller frees), e.g. "/tmp is writable by others". What kvmcg reads a
 * process's executable name through (discover.c): a name it may believe. */
int trust_resolve(int root_fd, const char *path, struct stat *ret, char **ret_why);

/* The rule for the object itself, on an fstat of an opened fd: owned by root or the
 * effective user, not writable by group or others. what names it in *ret_why
 * ("policy file", "state file"). 0 or -EPERM. */
int trust_check_stat(const struct stat *st, const char *what, const char *path, char **ret_why);

#endif
