/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit trail: one syslog line per change kvmcg makes to a VM (pin, unpin,
 * apply, run, watch), saying the VM, what changed from what to what, the command
 * and who ran it (kvmcg(8), AUDIT TRAIL). The line is built by audit_format(), a
 * pure function, and sent by audit_log(), which never blocks and never fails its
 * caller: a line that cannot be sent is dropped. */
#ifndef KVMCG_AUDIT_H
#define KVMCG_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc/self/loginuid when no login set it (4294967295). */
#define AUDIT_UID_UNSET ((uid_t)-1)

/* Who ran kvmcg. */
struct audit_who {
	uid_t uid;              /* the real uid, getuid() */
	const char *user;       /* its name, NULL: none known */
	uid_t loginuid;         /* /proc/self/loginuid (kept across sudo and su); AUDIT_UID_UNSET */
	const char *login_user; /* its name, NULL: none known */
	const char *sudo_user;  /* $SUDO_USER, NULL or "": not set */
};

/* One change to one VM. */
struct audit_change {
	const char *command; /* "pin", "unpin", "apply", "run", "watch" */
	const char *policy;  /* the policy file the request came from, NULL: none */
	int pid;
	const char *vm;      /* the VM's name, NULL: unnamed */
	const char *what;    /* what changed, in virsh's words (tune.h vm_tune_describe()) */
	uint64_t memory_moved; /* bytes of the VM's memory the change moved, 0: none */
	const char *partial; /* NULL: done as asked; else why it was done only in part */
};

/* The line, without syslog's header:
 *   "pid 812 (web1): pin: vCPU 0 -> 22, emulator -> 18-23; by uid 0 (root),
 *    loginuid 1000 (alice), SUDO_USER alice"
 * with ", policy FILE" after the command when one was used, "; memory moved 190.0
 * MiB" and "; partial: WHY" before "; by", "loginuid unset" when it is. Names, paths
 * and the change are escaped (util.h str_escape()), so the line is one line.
 * Returns a malloc'd string, or NULL (out of memory). */
char *audit_format(const struct audit_change *c, const struct audit_who *w);

/* The syslog priority of c's line: LOG_DAEMON with LOG_INFO for a change done as
 * asked, LOG_WARNING for one done in part. */
int audit_priority(const struct audit_change *c);

/* Who runs this process: getuid(), /proc/self/loginuid, $SUDO_USER, their names
 * from the user database (getpwuid_r). Read once; the strings stay valid for the
 * life of the process. */
const struct audit_who *audit_who_self(void);

/* Sends c's line to the local syslog socket, /dev/log (a datagram "<PRI>Mmm dd
 * hh:mm:ss kvmcg[PID]: LINE", as syslog(3) with openlog("kvmcg", LOG_PID,
 * LOG_DAEMON) writes it; journald and rsyslog read it). Non-blocking: a daemon that
 * is not there or not keeping up loses the line. Returns 0 when sent, else a negative
 * errno (-ENOENT: no /dev/log, -EAGAIN: the daemon's queue is full, -ENOMEM). */
int audit_log(const struct audit_change *c);

#endif
