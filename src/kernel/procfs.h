/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading /proc. Every function takes a dirfd of the proc root, so a captured tree
 * (tests/fixtures) reads exactly like the live one. Parsers are split out as pure
 * functions over buffers. A task that vanishes mid-read gives -ENOENT or -ESRCH;
 * callers treat that as "exited", never as an error. */
#ifndef KVMCG_PROCFS_H
#define KVMCG_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/idset.h"

/* task->flags bits from include/linux/sched.h (stat field 9) */
#define PF_KTHREAD_FLAG 0x00200000u
#define PF_USER_WORKER_FLAG 0x00004000u
#define PF_EXITING_FLAG 0x00000004u /* set first thing in do_exit() */

/* Kernel's TASK_COMM_LEN - 1; QEMU thread names are cut to this. */
#define COMM_MAX 15

struct proc_stat {
	char comm[64];
	char state;
	pid_t ppid;
	unsigned long flags;
	uint64_t utime_ticks;
	uint64_t stime_ticks;
	uint64_t starttime_ticks;
	int processor;
	unsigned rt_priority;
	unsigned policy;
};

/* The pid that says proc_fd is not /proc but one process's task directory,
 * /proc/PID/task, held open: proc_read_stat(), proc_read_cgroup() and
 * proc_task_exists() with it and a TID look up TID there. Such an fd holds the
 * process's struct pid (fs/proc/inode.c proc_pid()), and a name found under it is a
 * thread of that very process (fs/proc/base.c proc_task_lookup(): same_thread_group),
 * never of one that took its pid over after it exited: where a plain path through
 * /proc/PID would need the process held by other means (a pidfd) to say so. */
#define PROC_TASK_DIR ((pid_t)0)

/* Parse /proc/PID[/task/TID]/stat. comm may contain spaces and ')': fields are taken
 * after the LAST ')'. */
int proc_stat_parse(const char *buf, struct proc_stat *ret);

/* tid <= 0 reads the process's own stat. */
int proc_read_stat(int proc_fd, pid_t pid, pid_t tid, struct proc_stat *ret);

/* Numeric entries of proc_fd (pids) or of PID/task (tids), sorted ascending. */
int proc_list_pids(int proc_fd, pid_t **ret, size_t *ret_n);
int proc_list_tasks(int proc_fd, pid_t pid, pid_t **ret, size_t *ret_n);

/* NUL-separated argv. Empty cmdline (kernel thread, zombie) gives argc 0. */
int proc_cmdline_split(const char *buf, size_t len, char ***ret_argv, size_t *ret_argc);
int proc_read_cmdline(int proc_fd, pid_t pid, char ***ret_argv, size_t *ret_argc);

/* Value of "Key:\t..." in a status buffer, blanks trimmed. -ENOENT if absent. */
int proc_status_field(const char *buf, const char *key, char **ret);
/* The value of "Key:" in the status of a process (tid <= 0) or of one of its tasks,
 * blanks trimmed (caller frees). -ENOENT when the task is gone, -ENODATA when its
 * status has no such key. */
int proc_read_status_field(int proc_fd, pid_t pid, pid_t tid, const char *key, char **ret);
/* Cpus_allowed_list of a task: what the scheduler enforces. */
int proc_read_affinity(int proc_fd, pid_t pid, pid_t tid, struct idset **ret);

/* From a /proc/.../cgroup buffer: the path that governs CPU placement. That is the
 * v1 hierarchy carrying cpuset when there is one (hybrid and legacy hosts), else the
 * v2 ("0::") path. *ret_v1 tells which. -ENOENT if neither is present. */
int proc_cgroup_parse(const char *buf, char **ret_path, bool *ret_v1);
int proc_read_cgroup(int proc_fd, pid_t pid, pid_t tid, char **ret_path, bool *ret_v1);
/* The path in the v1 hierarchy that carries controller ctrl ("cpu" in "4:cpu,cpuacct:/x"),
 * as /proc/PID/task/TID/cgroup gives it ("/x": kernel/cgroup/cgroup.c
 * proc_cgroup_show()). Threads of one process may sit in different v1 cgroups.
 * -ENODATA when no v1 hierarchy lists ctrl; read, -ENOENT when the thread is gone
 * (proc_read_stat()'s convention); -ENOMEM. */
int proc_cgroup_parse_v1(const char *buf, const char *ctrl, char **ret_path);
int proc_read_cgroup_v1(int proc_fd, pid_t pid, pid_t tid, const char *ctrl, char **ret_path);

/* /proc/PID/task/TID/syscall: "running", or "NR arg0..arg5 sp pc" in hex. */
struct proc_syscall {
	bool running;
	long nr;
	unsigned long args[6];
};
int proc_syscall_parse(const char *buf, struct proc_syscall *ret);
int proc_read_syscall(int proc_fd, pid_t pid, pid_t tid, struct proc_syscall *ret);

/* Calls cb for every open fd of pid with its link target. A non-zero return from
 * cb stops the walk and is returned. */
typedef int (*proc_fd_cb)(int fd, const char *target, void *userdata);
int proc_foreach_fd(int proc_fd, pid_t pid, proc_fd_cb cb, void *userdata);

/* A task on its way out: gone, PF_EXITING, a zombie (state Z or X), or with SIGKILL pending
 * (bit 9 of SigPnd or ShdPnd: the kernel queues it on every thread of a group being
 * killed, kernel/signal.c complete_signal()). tid <= 0 asks about the process. */
bool proc_task_exiting(int proc_fd, pid_t pid, pid_t tid);

/* Whether tid is a task of process pid now: PID/task/TID exists (one fstatat). A TID
 * is free for reuse the moment its thread exits, so a write meant for a VM's thread
 * asks this just before it acts. pid PROC_TASK_DIR: proc_fd is the process's held
 * task directory, and the answer also says that the process is the one held. */
bool proc_task_exists(int proc_fd, pid_t pid, pid_t tid);

/* The process pid, started at starttime (stat field 22, clock ticks after boot: with
 * the pid it names one process across pid reuse), is there and not on its way out. */
bool proc_process_alive(int proc_fd, pid_t pid, uint64_t starttime);

/* Waits, at most timeout_ms (-1: no limit), until every thread of process pid has
 * exited: the proc connector and a thread's own exit say the leader is gone while the
 * others, killed by the same exit_group(), may still be in their cgroups, which an
 * rmdir then finds busy. A pidfd polls readable once the leader is a zombie and its
 * thread group is empty (pidfd_poll(), kernel/pid.c, Linux 5.3). 0 once so (or no
 * such process), -ETIMEDOUT, or a negative errno from pidfd_open(2) (-ENOSYS before
 * 5.3). The pid may name a newer process if the old one was reaped and its pid
 * reused: the wait is then for that one, bounded by the timeout. */
int proc_wait_group_exit(pid_t pid, int timeout_ms);

/* True when proc_fd is a real procfs (fstatfs: PROC_SUPER_MAGIC), false for a captured
 * tree (tests/fixtures, --sysroot), whose "exe" is a plain symbolic link that must
 * never be followed into this host's filesystem. */
bool proc_is_live(int proc_fd);

/* The file a process executes, as the kernel knows it: argv[0] and comm are the
 * process's to choose (exec -a, prctl(PR_SET_NAME)); /proc/PID/exe is not. */
struct proc_exe {
	char *path;     /* the kernel's path of the file (d_path), " (deleted)" dropped */
	bool deleted;   /* the file was unlinked or replaced since it was executed */
	bool have_stat; /* uid, gid and mode describe the file itself */
	uid_t uid;
	gid_t gid;
	mode_t mode;    /* with the S_IFMT bits */
	bool have_id;   /* dev and ino known: what vm_check_identity() compares */
	dev_t dev;
	ino_t ino;
	int stat_error; /* when !have_stat: negative errno; -ENODATA for a captured tree
			 * without an exe.stat record */
	/* The path names the file by root's arrangement, so its name may be believed:
	 * looked up in the process's mount namespace, which must belong to kvmcg's own
	 * user namespace (no unshare -U bind mount of python onto "qemu-system-x86_64"),
	 * through root-owned directories nobody else can write (no hard link in /tmp), it
	 * leads to the very file the process runs (or that file is gone: deleted, with no
	 * link left). Always true for a captured tree, where exe.stat stands in. */
	bool path_trusted;
	char *path_why; /* when !path_trusted: why, as the end of a sentence */
};
void proc_exe_done(struct proc_exe *e);

/* Live /proc: opens /proc/PID/exe with O_PATH (the one magic link that must be
 * followed: it leads to the inode the kernel runs, deleted or not), fstat()s that
 * fd and reads its path back through /proc/self/fd/N, so path and stat describe the
 * same file even if the process execs meanwhile (fs/proc/base.c proc_exe_link()).
 * Captured tree: the "exe" link's text is the path, and PID/exe.stat (written by
 * tests/fixtures/capture.sh, see proc_exe_stat_parse) the file's owner, mode and
 * identity; without that record have_stat is false and stat_error -ENODATA.
 * Errors: -ENOENT (no such process, a kernel thread, or a zombie), -EACCES (another
 * user's process, read without CAP_SYS_PTRACE: ptrace_may_access() READ_FSCREDS),
 * -ENOMEM. */
int proc_read_exe(int proc_fd, pid_t pid, struct proc_exe *ret);

/* A captured tree's exe.stat record: one line of key=value words, as
 * `stat -L -c 'uid=%u gid=%g mode=0x%f dev=%d ino=%i' /proc/PID/exe` prints it.
 * uid and mode (the raw st_mode, file type included, in any base strtoul accepts)
 * are required; gid, dev and ino are optional; unknown keys are ignored.
 * Fills the stat fields of ret; -EINVAL when malformed. */
int proc_exe_stat_parse(const char *buf, struct proc_exe *ret);

/* The effective uid from a status buffer's "Uid:\treal\teffective\tsaved\tfs" line:
 * whom the kernel's permission checks treat as the process's owner (Linux 6.1
 * kernel/sched/core.c check_same_owner() compares the caller's euid with these). -ENOENT when absent,
 * -EINVAL when malformed. */
int proc_status_euid(const char *buf, uid_t *ret);
int proc_read_owner(int proc_fd, pid_t pid, uid_t *ret);

/* The thread group (process) id of task id: its status's Tgid. /proc/ID answers for
 * a thread's id too (fs/proc/base.c proc_pid_lookup() finds any task, though only
 * leaders are listed), so a pid the user gives is checked to be a process's.
 * -ENOENT when there is no such task; -EINVAL for a status without Tgid. */
int proc_read_tgid(int proc_fd, pid_t id, pid_t *ret);

#endif
