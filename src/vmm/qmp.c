// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/util.h"

/* A compromised QEMU must not make us buffer without bound. query-cpus-fast for
 * 1024 vCPUs is well under 1 MiB. */
#define QMP_MESSAGE_MAX (8u * 1024 * 1024)

struct qmp {
	int fd;
	pid_t peer;
	uint64_t deadline_ns; /* absolute, CLOCK_MONOTONIC: ends the whole conversation */
	unsigned next_id;
	json_tokener *tok;
	char buf[65536];
	size_t buf_len, buf_off;
	size_t message_bytes;
	bool negotiated; /* qmp_capabilities sent (with the first command) */
	bool greeted;    /* the greeting was read */
	char last_error[256];
};

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->tok)
		json_tokener_free(q->tok);
	free(q);
}

pid_t qmp_peer_pid(const struct qmp *q)
{
	return q->peer;
}

const char *qmp_last_error(const struct qmp *q)
{
	return q->last_error;
}

static int wait_fd(struct qmp *q, short events)
{
	uint64_t now = now_ns();
	if (now >= q->deadline_ns)
		return -ETIMEDOUT;
	struct pollfd p = {.fd = q->fd, .events = events};
	uint64_t left_ms = (q->deadline_ns - now + 999999) / 1000000;
	int ms = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

/* Next complete JSON value from the stream. */
static int read_message(struct qmp *q, json_object **ret)
{
	for (;;) {
		if (q->buf_off < q->buf_len) {
			size_t avail = q->buf_len - q->buf_off;
			json_object *o = json_tokener_parse_ex(q->tok, q->buf + q->buf_off, (int)avail);
			enum json_tokener_error e = json_tokener_get_error(q->tok);
			size_t used = json_tokener_get_parse_end(q->tok);
			if (used > avail)
				used = avail;
			if (o) {
				q->buf_off += used;
				q->message_bytes = 0;
				json_tokener_reset(q->tok);
				*ret = o;
				return 0;
			}
			if (e != json_tokener_continue) {
				snprintf(q->last_error, sizeof(q->last_error), "malformed JSON from QMP: %s",
					 json_tokener_error_desc(e));
				return -EPROTO;
			}
			q->message_bytes += avail;
			q->buf_off = q->buf_len;
			if (q->message_bytes > QMP_MESSAGE_MAX) {
				snprintf(q->last_error, sizeof(q->last_error),
					 "QMP message larger than %u bytes", QMP_MESSAGE_MAX);
				return -EPROTO;
			}
		}
		int r = wait_fd(q, POLLIN);
		if (r < 0)
			return r;
		ssize_t n = recv(q->fd, q->buf, sizeof(q->buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		q->buf_len = (size_t)n;
		q->buf_off = 0;
	}
}

static int send_all(struct qmp *q, const char *s)
{
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t n = send(q->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(q, POLLOUT);
				if (r < 0)
					return r;
				continue;
			}
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

static int connect_socket(struct qmp *q, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen;
	_cleanup_close_ int pathfd = -1;

	if (path[0] == '@') {
		size_t l = strlen(path + 1);
		if (l == 0 || l >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path + 1, path + 1, l);
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l);
	} else {
		pathfd = open(path, O_PATH | O_CLOEXEC);
		if (pathfd < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pathfd);
		salen = sizeof(sa);
	}
	for (;;) {
		if (connect(q->fd, (struct sockaddr *)&sa, salen) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			return wait_fd(q, POLLOUT);
		/* A full backlog (QEMU listens with a backlog of 1): the monitor is busy.
		 * Retry until the deadline, like a client queued behind the others. */
		if (errno == EAGAIN) {
			if (now_ns() >= q->deadline_ns)
				return -ETIMEDOUT;
			struct pollfd none = {.fd = -1};
			poll(&none, 1, 10);
			continue;
		}
		return -errno;
	}
}

uint64_t qmp_deadline_after_ms(unsigned ms)
{
	return now_ns() + (uint64_t)ms * 1000000u;
}

/* The greeting, which the monitor sends a client once it serves it. */
static int read_greeting(struct qmp *q)
{
	/* A monitor serves one client at a time; a second one is accepted by the kernel
	 * but greeted only when the first leaves, so silence here means "busy". */
	json_object *greeting = NULL;
	int r = read_message(q, &greeting);
	if (r < 0)
		return r;
	bool is_qmp = json_object_object_get_ex(greeting, "QMP", NULL);
	json_object_put(greeting);
	if (!is_qmp) {
		snprintf(q->last_error, sizeof(q->last_error), "no QMP greeting");
		return -EPROTO;
	}
	q->greeted = true;
	return 0;
}

int qmp_connect(const char *path, uint64_t deadline_ns, struct qmp **ret)
{
	struct qmp *q = NULL;
	int r = qmp_open(path, deadline_ns, &q);
	if (r == 0)
		r = read_greeting(q);
	if (r < 0) {
		if (q)
			qmp_close(q);
		return r;
	}
	*ret = q;
	return 0;
}

int qmp_open(const char *path, uint64_t deadline_ns, struct qmp **ret)
{
	struct qmp *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	struct qmp *cleanup _cleanup_qmp_ = q;
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd < 0)
		return -errno;
	q->tok = json_tokener_new_ex(64);
	if (!q->tok)
		return -ENOMEM;
	q->deadline_ns = deadline_ns;

	int r = connect_socket(q, path);
	if (r < 0)
		return r;

	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		q->peer = cred.pid;
	/* qmp_capabilities goes with the first command (qmp_execute_batch): a caller
	 * that only wants the peer's pid asks nothing */
	*ret = TAKE_PTR(cleanup);
	return 0;
}

/* The answer to id: events (and answers to other ids) are skipped. */
static int read_answer(struct qmp *q, const char *command, unsigned id, json_object **ret)
{
	for (;;) {
		json_object *m = NULL;
		int r = read_message(q, &m);
		if (r < 0)
			return r;
		json_object *jid, *jret, *jerr;
		if (!json_object_object_get_ex(m, "id", &jid) || json_object_get_int64(jid) != id) {
			json_object_put(m);
			continue;
		}
		if (json_object_object_get_ex(m, "return", &jret)) {
			*ret = json_object_get(jret);
			json_object_put(m);
			return 0;
		}
		if (json_object_object_get_ex(m, "error", &jerr)) {
			json_object *cls = NULL, *desc = NULL;
			json_object_object_get_ex(jerr, "class", &cls);
			json_object_object_get_ex(jerr, "desc", &desc);
			snprintf(q->last_error, sizeof(q->last_error), "%s: %s: %s", command,
				 cls ? json_object_get_string(cls) : "error",
				 desc ? json_object_get_string(desc) : "(no description)");
			json_object_put(m);
			return -EREMOTEIO;
		}
		json_object_put(m);
		snprintf(q->last_error, sizeof(q->last_error), "%s: answer has neither return nor error",
			 command);
		return -EPROTO;
	}
}

#define QMP_BATCH_MAX 7 /* and qmp_capabilities: QEMU queues 8 (QMP_REQ_QUEUE_LEN_MAX) */

int qmp_execute_batch(struct qmp *q, const char *const *commands, size_t n, json_object **rets)
{
	return qmp_execute_batch_while(q, commands, n, NULL, NULL, rets);
}

int qmp_execute_batch_while(struct qmp *q, const char *const *commands, size_t n, void (*meanwhile)(void *),
			    void *arg, json_object **rets)
{
	if (n == 0 || n > QMP_BATCH_MAX)
		return -EINVAL;
	const char *all[QMP_BATCH_MAX + 1];
	unsigned ids[QMP_BATCH_MAX + 1];
	size_t k = 0;
	if (!q->negotiated)
		all[k++] = "qmp_capabilities";
	for (size_t i = 0; i < n; i++)
		all[k++] = commands[i];
	char msg[(QMP_BATCH_MAX + 1) * 96];
	size_t len = 0;
	for (size_t i = 0; i < k; i++) {
		/* Command names are ours, never from input; still refuse anything to escape. */
		if (strlen(all[i]) > 64)
			return -EINVAL;
		for (const char *c = all[i]; *c; c++)
			if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
				return -EINVAL;
		ids[i] = ++q->next_id;
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "{\"execute\":\"%s\",\"id\":%u}\n", all[i],
					ids[i]);
	}
	/* One write, then the answers in order: the monitor runs a client's commands
	 * one after another, in the order it reads them (monitor/qmp.c), and
	 * qmp_capabilities ends negotiation before the next one is dispatched. */
	int r = send_all(q, msg);
	if (r < 0)
		return r;
	q->negotiated = true;
	/* The monitor works on them meanwhile; its answers wait in the socket. */
	if (meanwhile)
		meanwhile(arg);
	/* Sent before the greeting was read (qmp_open()): the monitor reads a client's
	 * input only once it has greeted it (the chardev's OPENED event comes first,
	 * monitor/qmp.c monitor_qmp_event()), so the greeting still comes first. */
	if (!q->greeted && (r = read_greeting(q)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		rets[i] = NULL;
	for (size_t i = 0; i < k && r == 0; i++) {
		json_object *j = NULL;
		r = read_answer(q, all[i], ids[i], &j);
		if (r == 0 && i + n >= k)
			rets[i + n - k] = j;
		else
			json_object_put(j);
	}
	if (r < 0)
		for (size_t i = 0; i < n; i++) {
			json_object_put(rets[i]);
			rets[i] = NULL;
		}
	return r;
}

int qmp_execute(struct qmp *q, const char *command, json_object **ret)
{
	return qmp_execute_batch(q, &command, 1, ret);
}

static bool get_int(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

static bool tid_ok(int64_t tid)
{
	return tid > 0 && tid <= (1 << 22);
}

int qmp_parse_cpus_fast(json_object *ret, struct qmp_vcpu **vcpus, size_t *n)
{
	if (!json_object_is_type(ret, json_type_array))
		return -EPROTO;
	size_t len = json_object_array_length(ret);
	struct qmp_vcpu *v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(ret, i);
		int64_t idx, tid;
		if (!get_int(e, "cpu-index", &idx) || !get_int(e, "thread-id", &tid) ||
		    idx < 0 || idx > 1 << 20 || !tid_ok(tid))
			continue;
		v[k++] = (struct qmp_vcpu){.index = (int)idx, .tid = (pid_t)tid};
	}
	*vcpus = v;
	*n = k;
	return 0;
}

int qmp_parse_iothreads(json_object *ret, struct qmp_iothread **iothreads, size_t *n)
{
	if (!json_object_is_type(ret, json_type_array))
		return -EPROTO;
	size_t len = json_object_array_length(ret);
	struct qmp_iothread *v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(ret, i), *id;
		int64_t tid;
		if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string) ||
		    !get_int(e, "thread-id", &tid) || !tid_ok(tid))
			continue;
		char *s = strdup(json_object_get_string(id));
		if (!s) {
			for (size_t j = 0; j < k; j++)
				free(v[j].id);
			free(v);
			return -ENOMEM;
		}
		v[k++] = (struct qmp_iothread){.id = s, .tid = (pid_t)tid};
	}
	*iothreads = v;
	*n = k;
	return 0;
}

void qmp_memdevs_free(struct qmp_memdev *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].policy);
	}
	free(v);
}

int qmp_parse_memdevs(json_object *ret, struct qmp_memdev **memdevs, size_t *n)
{
	if (!json_object_is_type(ret, json_type_array))
		return -EPROTO;
	size_t len = json_object_array_length(ret);
	struct qmp_memdev *v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(ret, i), *id, *policy = NULL;
		int64_t size;
		if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string) ||
		    !get_int(e, "size", &size) || size <= 0)
			continue;
		(void)json_object_object_get_ex(e, "policy", &policy);
		struct qmp_memdev m = {.id = strdup(json_object_get_string(id)), .size = (uint64_t)size};
		if (policy && json_object_is_type(policy, json_type_string))
			m.policy = strdup(json_object_get_string(policy));
		v[k++] = m;
		if (!m.id || (policy && json_object_is_type(policy, json_type_string) && !m.policy)) {
			qmp_memdevs_free(v, k);
			return -ENOMEM;
		}
	}
	*memdevs = v;
	*n = k;
	return 0;
}

int qmp_query_memdevs(struct qmp *q, struct qmp_memdev **memdevs, size_t *n)
{
	json_object *j = NULL;
	int r = qmp_execute(q, "query-memdev", &j);
	if (r == 0)
		r = qmp_parse_memdevs(j, memdevs, n);
	json_object_put(j);
	return r;
}

int qmp_parse_name(json_object *ret, char **name)
{
	json_object *v;
	if (!json_object_is_type(ret, json_type_object))
		return -EPROTO;
	if (!json_object_object_get_ex(ret, "name", &v) || !json_object_is_type(v, json_type_string)) {
		*name = NULL; /* a VM started without -name */
		return 0;
	}
	*name = strdup(json_object_get_string(v));
	return *name ? 0 : -ENOMEM;
}

void qmp_vm_info_done(struct qmp_vm_info *info)
{
	free(info->name);
	free(info->vcpus);
	for (size_t i = 0; i < info->n_iothreads; i++)
		free(info->iothreads[i].id);
	free(info->iothreads);
	qmp_memdevs_free(info->memdevs, info->n_memdevs);
	*info = (struct qmp_vm_info){0};
}

int qmp_query_vm(struct qmp *q, struct qmp_vm_info *ret)
{
	return qmp_query_vm_while(q, QMP_ASK_NAME, NULL, NULL, ret);
}

int qmp_query_vm_while(struct qmp *q, unsigned ask, void (*meanwhile)(void *), void *arg,
		       struct qmp_vm_info *ret)
{
	struct qmp_vm_info info = {0};
	bool want_name = ask & QMP_ASK_NAME, want_memdevs = ask & QMP_ASK_MEMDEVS;
	static const char *const commands[] = {"query-name", "query-cpus-fast", "query-iothreads", "query-memdev"};
	json_object *j[4] = {NULL};
	/* without the name, the batch starts one later: j[0] stays NULL; without the
	 * memory backends it ends one earlier: j[3] stays NULL */
	size_t skip = want_name ? 0 : 1, n = (want_memdevs ? 4 : 3) - skip;
	int r = qmp_execute_batch_while(q, commands + skip, n, meanwhile, arg, j + skip);
	if (r == 0 && want_name)
		r = qmp_parse_name(j[0], &info.name);
	if (r == 0)
		r = qmp_parse_cpus_fast(j[1], &info.vcpus, &info.n_vcpus);
	if (r == 0)
		r = qmp_parse_iothreads(j[2], &info.iothreads, &info.n_iothreads);
	if (r == 0 && want_memdevs) {
		r = qmp_parse_memdevs(j[3], &info.memdevs, &info.n_memdevs);
		info.memdevs_asked = r == 0;
	}
	for (size_t i = 0; i < 4; i++)
		json_object_put(j[i]);
	if (r < 0) {
		qmp_vm_info_done(&info);
		return r;
	}
	*ret = info;
	return 0;
}

const char *qmp_strerror(int r, const struct qmp *q)
{
	switch (r) {
	case -ETIMEDOUT:
		return "no answer in time (another client may hold the monitor)";
	case -ECONNREFUSED:
		return "connection refused (nobody listens: the VM is gone or never opened it)";
	case -ENOENT:
		return "no such socket";
	case -ECONNRESET:
		return "the monitor closed the connection";
	case -EREMOTEIO:
	case -EPROTO:
		if (q && qmp_last_error(q)[0])
			return qmp_last_error(q);
		return "not a QMP monitor";
	default: {
		/* strerrordesc_np, not strerror: thread-safe, for list's concurrent talks */
		const char *d = strerrordesc_np(r < 0 ? -r : r);
		return d ? d : "unknown error";
	}
	}
}
