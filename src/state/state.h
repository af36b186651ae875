/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed for one VM, so that unpin restores exactly what was there:
 * a JSON file per VM under /run/kvmcg (state/record-json.h has its schema), named
 * "<pid>-<starttime>.state" so a reused pid never finds the old VM's record.
 * Records in the text format of earlier versions (state/record-text.h) are still
 * read, and rewritten as JSON by the first run that holds the VM's lock. */
#ifndef KVMCG_STATE_H
#define KVMCG_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kernel/cgroupfs.h"
#include "basic/idset.h"
#include "plan/plan.h"
#include "plan/record.h"

#define STATE_DIR_DEFAULT "/run/kvmcg"

/* Either format: JSON when the first byte that is not blank is '{', else text. Every
 * value is checked as the command line checks it (tune.h). Nothing is changed but
 * err_get(): an error gives -EBADMSG (a JSON record of another version too) with a
 * sentence in err_get() and the 1-based line at fault in *err_line (0 when no line
 * is: a JSON record whose syntax is fine). */
int state_parse(const char *buf, struct vm_state *ret, size_t *err_line);
/* JSON, version 1. */
char *state_format(const struct vm_state *s);

/* Whether a record may be acted on, whoever wrote it: the VM's own thread among its
 * origins; an absolute mount in the cgroup modes (none in affinity mode); plain
 * relative paths (cg_path_check); no thread origin inside a kvmcg/ tree
 * (layout_in_kvmcg_tree); a VM directory inside a kvmcg/ tree, or directly
 * below the --cgroup-root the record names; every directory it lists the VM
 * directory itself or one of its children as layout.h names them (emulator, vcpuN,
 * iothread-ID); controllers it enabled only cpuset or cpu, only on the parent of a VM
 * directory built inside the VM's own cgroup. 0, or -EBADMSG with a sentence in
 * *ret_why (caller frees). That the mount is the cgroup hierarchy kvmcg uses is
 * checked where it is opened (cg_fs_check). */
int state_check(const struct vm_state *s, char **ret_why);

/* Opens the state directory, KVMCG_STATE_DIR or /run/kvmcg, through trust_open():
 * no symbolic link on the way, owned by root (or the user running kvmcg), not
 * writable by group or others. With create, a missing one is made with mode 0700.
 * On error a sentence is left in err_get(). */
int state_dir_open(bool create);
/* KVMCG_STATE_DIR, or STATE_DIR_DEFAULT. */
const char *state_dir_path(void);

/* kvmcg run's private directories, one per run, for the QMP socket it adds to
 * QEMU's command line: <state dir>/launch/run-XXXXXX (mkdtemp(3)), mode 0700 in
 * directories trust_open() accepts, so only root reaches the socket. *ret_path
 * (caller frees) and *ret_lock_fd, an flock(2) on the directory that the run keeps
 * while it lives (close-on-exec); or -errno with err_get() saying why. */
#define STATE_LAUNCH_DIR "launch"
int state_launch_dir(char **ret_path, int *ret_lock_fd);
/* Removes such a directory and the files in it (the socket); quiet. */
void state_launch_dir_remove(const char *path);
/* Removes the directories whose run is gone (its lock is free) and whose QEMU is gone
 * too (no socket, or one without a listener). */
void state_launch_dirs_sweep(void);

/* kvmcg watch's one-instance lock in the state directory: held (flock(2) LOCK_EX) by
 * the running daemon, and holding its pid as text. */
#define STATE_WATCH_LOCK "watch.lock"
/* The pid of the kvmcg watch that runs (holds the lock), 0 when none does, or
 * -errno; -1 as the pid when the file does not say it. Takes and drops a shared
 * flock: never blocks. */
int state_watch_running(int dirfd, pid_t *ret_pid);
/* Takes the lock for this process (never waits): 0 and *ret_fd, which holds it while
 * open (close-on-exec; a fork's child that keeps it keeps the lock); -EWOULDBLOCK
 * with *ret_holder the running watch's pid (-1 when the file does not say it); or
 * -errno. state_watch_set_pid() writes the pid of the process that keeps it. */
int state_watch_lock(int dirfd, int *ret_fd, pid_t *ret_holder);
int state_watch_set_pid(int fd, pid_t pid);
/* A VM unpinned by hand while a watch runs: "<pid>-<starttime>.unmanaged", whose
 * modification time says when. The watch leaves the VM alone while that time is not
 * older than the change time of the policy file it would pin it with (core/watch.h):
 * an unpin after an edit wins, an edit after an unpin wins, whatever order the watch
 * reads them in (within one tick of the kernel's file-time clock, a few ms, the unpin
 * wins). set creates it or, when there, sets its time to now (futimens(2)); clear
 * removes it (kvmcg apply, the VM gone); both 0 or -errno, clear of a missing one 0.
 * since: whether there is one whose time is t or later (the rule above, for its
 * one owner: t is the policy's change time), false when there is none. */
int state_unmanaged_set(int dirfd, pid_t pid, uint64_t starttime);
bool state_unmanaged_since(int dirfd, pid_t pid, uint64_t starttime, const struct timespec *t);
int state_unmanaged_clear(int dirfd, pid_t pid, uint64_t starttime);

/* Loads a VM's record. -ENOENT when it has none. A record that is not owned by root
 * (or the user running kvmcg), is writable by group or others, does not parse
 * (-EBADMSG), is of another version (-EBADMSG: "refusing the record FILE: it has
 * version 2; this kvmcg reads version 1") or fails state_check (-EBADMSG) is refused with a sentence
 * in err_get() that names the file.
 * A record in the text format loaded while this process holds the VM's lock
 * (state_lock) is rewritten as JSON when the lock is released, unless the run saved
 * or removed the record itself meanwhile: one write, under the lock, and none by a
 * reader that does not hold it (list, show, a dry run). */
int state_load(int dirfd, pid_t pid, uint64_t starttime, struct vm_state *ret);
/* Atomic: written to a temporary file of a unique name, then renamed over
 * (state_write_atomic). */
int state_save(int dirfd, const struct vm_state *s);
int state_remove(int dirfd, pid_t pid, uint64_t starttime);

/* Every record in the directory that state_load would accept, for list, apply and for
 * removing those of exited VMs. Each refused one adds a sentence that names its file
 * ("refusing the record FILE: why") to *ret_problems (when given; NULL-terminated,
 * caller frees). */
int state_load_all_checked(int dirfd, struct vm_state **ret, size_t *ret_n, char ***ret_problems);
/* The same, but a record whose file name says a VM (PID-STARTTIME.state) that
 * wanted(pid, starttime, arg) rejects is skipped unread: neither loaded nor judged.
 * A file of any other name is read and judged as by state_load_all_checked(). */
int state_load_some(int dirfd, bool (*wanted)(pid_t pid, uint64_t starttime, void *arg), void *arg,
		    struct vm_state **ret, size_t *ret_n, char ***ret_problems);
int state_load_all(int dirfd, struct vm_state **ret, size_t *ret_n);
void vm_states_free(struct vm_state *s, size_t n);

/* One VM's lock: flock(2) on "<pid>-<starttime>.lock" in the state directory, held
 * from reading the VM's record to writing it by every command that changes either.
 * Waits up to timeout_ms (0: not at all) and then gives -ETIMEDOUT with *ret_holder
 * (caller frees) saying who holds it, as the holder wrote it: "pid 123 (kvmcg pin)".
 * The lock file is removed by state_unlock when the VM has no record; a waiter that
 * finds its file gone opens the new one (the inode is checked after locking).
 * state_unlock first rewrites a text record as JSON (see state_load). */
int state_lock(int dirfd, pid_t pid, uint64_t starttime, int timeout_ms, const char *command, int *ret_fd,
	       char **ret_holder);
void state_unlock(int dirfd, pid_t pid, uint64_t starttime, int fd);
/* The state directory's file primitives, for every file kvmcg keeps there:
 *
 * state_read_trusted: the whole of name (no symbolic link, a regular file that
 * trust_check_stat() accepts, what naming it in that sentence), NUL-terminated, with
 * no NUL byte inside. -EBADMSG/-EPERM with a sentence in *ret_why (caller frees).
 * state_write_atomic: text to a temporary file of a unique name, renamed over name:
 * a reader (another kvmcg, one started after this one was killed) sees the old file
 * or the new one, whole. Not fsync'd: everything in the state directory describes
 * running processes and is worthless after a reboot (it is /run's), and a kvmcg that
 * dies leaves the page cache behind; an fsync cost 2 to 4 ms per file on a disk.
 * state_lock_file: flock(2), exclusive, on name (made when missing, mode 0600; no
 * link, trusted like a record), waiting up to timeout_ms; -ETIMEDOUT with
 * *ret_holder (when given) naming the holder as it wrote itself into the file:
 * "pid 123 (kvmcg COMMAND)". The fd is the caller's to close. */
int state_read_trusted(int dirfd, const char *name, const char *what, char **ret_buf, char **ret_why);
int state_write_atomic(int dirfd, const char *name, const char *text);
int state_lock_file(int dirfd, const char *name, int timeout_ms, const char *command, int *ret_fd,
		    char **ret_holder);

/* In one pass over the directory, removes what nothing needs any more: the lock
 * files of VMs that have no record (left when a record was removed by hand), each
 * only while holding it; the temporary files of writers that no longer run (a kvmcg
 * killed between writing a file and renaming it); and the "leave it alone" markers
 * (state_unmanaged_set()) of processes that are gone, no process of that pid and
 * start time in proc_fd (kernel/procfs.h proc_process_alive()): kvmcg watch clears
 * a marker when it sees its VM exit, this is for the VMs that exited while no watch
 * ran. */
void state_collect_files(int dirfd, int proc_fd);

#endif
