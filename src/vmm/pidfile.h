/* SPDX-License-Identifier: GPL-2.0-or-later */
/* QEMU's -pidfile holds a POSIX write lock for as long as QEMU runs. The lock, not
 * the number written in the file, tells whether the file is current. */
#ifndef KVMCG_PIDFILE_H
#define KVMCG_PIDFILE_H

#include <sys/types.h>

/* Parse the content: one decimal pid, optional trailing newline. */
int pidfile_parse(const char *buf, pid_t *ret);

/* Reads path and checks its lock.
 *   0        the file names a live process that holds its lock; *ret = that pid
 *   -ESTALE  nobody holds the lock: the process that wrote it is gone
 *   -EBADMSG the content is not a pid
 *   -EUCLEAN the lock holder is not the pid written in the file (*ret_holder set)
 *   other negative errno from open/read (ENOENT, EACCES, EISDIR...) */
int pidfile_read_locked(const char *path, pid_t *ret, pid_t *ret_holder);

#endif
