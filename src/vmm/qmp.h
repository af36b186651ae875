/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal QMP client: connect to a Unix socket, negotiate capabilities, run a
 * command, read its return. QEMU's answers are treated as untrusted input: callers
 * check every thread-id against the VM's own tasks. */
#ifndef KVMCG_QMP_H
#define KVMCG_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

struct qmp;

/* An absolute deadline ms milliseconds from now, on the clock qmp_connect() takes
 * (CLOCK_MONOTONIC, ns, util.h now_ns()). */
uint64_t qmp_deadline_after_ms(unsigned ms);

/* path: a socket path, or "@name" for an abstract socket. The path is opened with
 * O_PATH and connected through /proc/self/fd, so long paths (and paths inside a VM's
 * mount namespace, via /proc/PID/root) work despite sun_path's 108 bytes.
 * deadline_ns is absolute (CLOCK_MONOTONIC ns): connecting, the greeting and every
 * later qmp_execute() (the first brings qmp_capabilities) on this connection end by then, so
 * one budget covers a whole conversation, and callers that talk to several monitors
 * at once can give them all the same deadline. A deadline already past fails at the
 * first wait. Safe to use from several threads on different connections; touches no
 * global state (no err_set()).
 * Errors: -ENOENT (no socket), -ECONNREFUSED (nobody listening: QEMU gone),
 * -ETIMEDOUT (no greeting by the deadline: another client holds the monitor, since
 * QEMU's monitor greets one client at a time, monitor/qmp.c), -EPROTO (not QMP). */
int qmp_connect(const char *path, uint64_t deadline_ns, struct qmp **ret);
/* qmp_connect() without waiting for the greeting: the first qmp_execute_batch*()
 * sends its commands at once and reads the greeting before their answers, so the
 * monitor's wait to greet (a turn of QEMU's main loop) overlaps the caller's work.
 * Its errors are qmp_connect()'s, the greeting's coming from that first call. */
int qmp_open(const char *path, uint64_t deadline_ns, struct qmp **ret);
void qmp_close(struct qmp *q);
static inline void qmp_closep(struct qmp **q)
{
	if (*q)
		qmp_close(*q);
}
#define _cleanup_qmp_ __attribute__((cleanup(qmp_closep)))

/* An error of qmp_connect() or qmp_execute() as the end of a sentence ("no answer in
 * time (another client may hold the monitor)"); q, when given, supplies the
 * monitor's own words for -EREMOTEIO and -EPROTO. Thread-safe. */
const char *qmp_strerror(int r, const struct qmp *q);

/* Pid of the process that listens on the socket (SO_PEERCRED). */
pid_t qmp_peer_pid(const struct qmp *q);

/* Runs a command without arguments, by the connection's deadline (-ETIMEDOUT after).
 * *ret holds a reference to "return"; the caller puts it. A QMP error gives -EREMOTEIO
 * with the server's description in qmp_last_error(). The connection's first command
 * goes with qmp_capabilities, in one write.
 * qmp_execute_batch: n (1 to 7) commands in one write, their answers read in order
 * (one round trip, not n): rets[i] is commands[i]'s; on error none is left set. */
int qmp_execute(struct qmp *q, const char *command, json_object **ret);
int qmp_execute_batch(struct qmp *q, const char *const *commands, size_t n, json_object **rets);
/* qmp_execute_batch(), calling meanwhile(arg) (when given) once the commands are sent
 * and before the answers are read: the caller's own work overlaps the monitor's.
 * When the send fails, meanwhile is not called. */
int qmp_execute_batch_while(struct qmp *q, const char *const *commands, size_t n, void (*meanwhile)(void *),
			    void *arg, json_object **rets);
const char *qmp_last_error(const struct qmp *q);

struct qmp_vcpu {
	int index;
	pid_t tid;
};
struct qmp_iothread {
	char *id;
	pid_t tid;
};
struct qmp_memdev;
struct qmp_vm_info {
	char *name;
	struct qmp_vcpu *vcpus;
	size_t n_vcpus;
	struct qmp_iothread *iothreads;
	size_t n_iothreads;
	struct qmp_memdev *memdevs; /* with QMP_ASK_MEMDEVS */
	size_t n_memdevs;
	bool memdevs_asked;
};
void qmp_vm_info_done(struct qmp_vm_info *info);

/* A memory backend (query-memdev): the guest RAM QEMU maps, with its size in bytes
 * and its host memory policy ("default", "bind", ...; NULL when not said). */
struct qmp_memdev {
	char *id;
	uint64_t size;
	char *policy;
};
void qmp_memdevs_free(struct qmp_memdev *v, size_t n);
/* query-memdev's "return": entries without an id or a positive size are skipped;
 * -EPROTO for another type. Since QEMU 5.0 the RAM of -m is a backend too (its
 * machine's default id, "pc.ram" on x86), so the list is the whole guest RAM. */
int qmp_parse_memdevs(json_object *ret, struct qmp_memdev **memdevs, size_t *n);
/* Runs query-memdev (the connection's first command brings qmp_capabilities). */
int qmp_query_memdevs(struct qmp *q, struct qmp_memdev **memdevs, size_t *n);

/* Pure parsers of the "return" values of query-cpus-fast, query-iothreads and
 * query-name. Entries without a usable thread id are skipped; a malformed
 * document gives -EPROTO. */
int qmp_parse_cpus_fast(json_object *ret, struct qmp_vcpu **vcpus, size_t *n);
int qmp_parse_iothreads(json_object *ret, struct qmp_iothread **iothreads, size_t *n);
int qmp_parse_name(json_object *ret, char **name);

/* query-name (optional: old QEMUs lack nothing here, but a name may be unset),
 * query-cpus-fast and query-iothreads in one session. */
int qmp_query_vm(struct qmp *q, struct qmp_vm_info *ret);
/* What qmp_query_vm_while() asks besides query-cpus-fast and query-iothreads. */
enum {
	QMP_ASK_NAME = 1 << 0,    /* query-name (else info.name is NULL: the caller knows
				   * the name already, from -name) */
	QMP_ASK_MEMDEVS = 1 << 1, /* query-memdev, in the same batch (info.memdevs) */
};
/* The same, with what the QMP_ASK_* bits of ask say, and meanwhile(arg) called as by
 * qmp_execute_batch_while(). */
int qmp_query_vm_while(struct qmp *q, unsigned ask, void (*meanwhile)(void *), void *arg,
		       struct qmp_vm_info *ret);

#endif
