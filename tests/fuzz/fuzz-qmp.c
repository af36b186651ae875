// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for what a QEMU sends on its QMP socket. The input is the byte
 * stream of the server's side, as tests/fuzz/capture-seeds.py records it from real
 * QEMUs. Two passes per input:
 *
 * 1. Pure: the stream cut into messages with json-c's incremental tokener (as qmp.c
 *    does), every message and its "return" member given to qmp_parse_cpus_fast(),
 *    qmp_parse_iothreads(), qmp_parse_name() and qmp_parse_memdevs(); each result
 *    is checked against the document it came from.
 * 2. Session: a thread of this process plays QEMU on an abstract Unix socket,
 *    sends the input and ends its side of the stream; qmp_connect() and
 *    qmp_query_vm(), kvmcg's own conversation, talk to it. The outcome (error or
 *    result) must equal what a model of the protocol, run on the whole buffer,
 *    says. So qmp.c's framing over recv() pieces (several messages in one read, one
 *    message over several) is checked too.
 *
 * Everything is freed; a failed check aborts. See README.md. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-qmp: check failed at %s:%d: %s\n", __FILE__,         \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- pass 1: the pure parsers ------------------------------------------------------ */

static bool int_member(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

static bool tid_usable(int64_t tid)
{
	return tid > 0 && tid <= (1 << 22);
}

/* What qmp.h promises: entries without a usable thread id are skipped, every other
 * one is kept, in order. */
static void check_cpus_fast(json_object *doc)
{
	struct qmp_vcpu *v = NULL;
	size_t n = 0;
	int r = qmp_parse_cpus_fast(doc, &v, &n);
	if (!json_object_is_type(doc, json_type_array)) {
		CHECK(r == -EPROTO);
		return;
	}
	CHECK(r == 0 && v);
	size_t k = 0, len = json_object_array_length(doc);
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(doc, i);
		int64_t idx, tid;
		if (!int_member(e, "cpu-index", &idx) || !int_member(e, "thread-id", &tid) || idx < 0 ||
		    idx > 1 << 20 || !tid_usable(tid))
			continue;
		CHECK(k < n);
		CHECK(v[k].index == idx && v[k].tid == tid);
		k++;
	}
	CHECK(k == n);
	free(v);
}

static void check_iothreads(json_object *doc)
{
	struct qmp_iothread *v = NULL;
	size_t n = 0;
	int r = qmp_parse_iothreads(doc, &v, &n);
	if (!json_object_is_type(doc, json_type_array)) {
		CHECK(r == -EPROTO);
		return;
	}
	CHECK(r == 0 && v);
	size_t k = 0, len = json_object_array_length(doc);
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(doc, i), *id;
		int64_t tid;
		if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string) ||
		    !int_member(e, "thread-id", &tid) || !tid_usable(tid))
			continue;
		CHECK(k < n);
		/* a copy, NUL-terminated, as far as the string goes (a \u0000 ends it) */
		CHECK(v[k].id && v[k].id != json_object_get_string(id));
		CHECK(strcmp(v[k].id, json_object_get_string(id)) == 0);
		CHECK(v[k].tid == tid);
		k++;
	}
	CHECK(k == n);
	for (size_t i = 0; i < n; i++)
		free(v[i].id);
	free(v);
}

static void check_name(json_object *doc)
{
	char *name = (char *)1;
	int r = qmp_parse_name(doc, &name);
	if (!json_object_is_type(doc, json_type_object)) {
		CHECK(r == -EPROTO);
		return;
	}
	CHECK(r == 0);
	json_object *v;
	if (json_object_object_get_ex(doc, "name", &v) && json_object_is_type(v, json_type_string))
		CHECK(name && strcmp(name, json_object_get_string(v)) == 0);
	else
		CHECK(!name);
	free(name);
}

/* query-memdev: entries with a string id and a positive size are kept, in order,
 * with their string policy when they have one. */
static void check_memdevs(json_object *doc)
{
	struct qmp_memdev *v = NULL;
	size_t n = 0;
	int r = qmp_parse_memdevs(doc, &v, &n);
	if (!json_object_is_type(doc, json_type_array)) {
		CHECK(r == -EPROTO);
		return;
	}
	CHECK(r == 0 && v);
	size_t k = 0, len = json_object_array_length(doc);
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(doc, i), *id, *policy;
		int64_t size;
		if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string) ||
		    !int_member(e, "size", &size) || size <= 0)
			continue;
		CHECK(k < n);
		CHECK(strcmp(v[k].id, json_object_get_string(id)) == 0);
		CHECK(v[k].size == (uint64_t)size);
		if (json_object_object_get_ex(e, "policy", &policy) && json_object_is_type(policy, json_type_string))
			CHECK(v[k].policy && strcmp(v[k].policy, json_object_get_string(policy)) == 0);
		else
			CHECK(!v[k].policy);
		k++;
	}
	CHECK(k == n);
	qmp_memdevs_free(v, n);
}

static void check_parsers(json_object *doc)
{
	check_cpus_fast(doc);
	check_iothreads(doc);
	check_memdevs(doc);
	check_name(doc);
}

/* The stream cut into messages as qmp.c read_message() cuts it, from one buffer:
 * 0 and a message (the caller puts it), -EPROTO for what is not JSON, -ECONNRESET
 * when the bytes end before another message does. */
struct stream {
	const char *buf;
	size_t len, off;
	json_tokener *tok;
};

static int stream_next(struct stream *s, json_object **ret)
{
	if (s->off >= s->len)
		return -ECONNRESET;
	size_t avail = s->len - s->off;
	json_object *o = json_tokener_parse_ex(s->tok, s->buf + s->off, (int)avail);
	enum json_tokener_error e = json_tokener_get_error(s->tok);
	size_t used = json_tokener_get_parse_end(s->tok);
	if (used > avail)
		used = avail;
	if (o) {
		s->off += used;
		json_tokener_reset(s->tok);
		*ret = o;
		return 0;
	}
	if (e != json_tokener_continue)
		return -EPROTO;
	s->off = s->len;
	return -ECONNRESET;
}

static void pure_pass(const char *buf, size_t len)
{
	struct stream s = {.buf = buf, .len = len, .tok = json_tokener_new_ex(64)};
	CHECK(s.tok);
	json_object *m;
	while (stream_next(&s, &m) == 0) {
		check_parsers(m);
		json_object *ret;
		if (json_object_object_get_ex(m, "return", &ret))
			check_parsers(ret);
		json_object_put(m);
	}
	json_tokener_free(s.tok);
}

/* ---- pass 2: a session with kvmcg's client ------------------------------------------- */

/* The conversation of qmp_connect() and qmp_query_vm() on the whole buffer: greeting,
 * then the answers to ids 1 (qmp_capabilities), 2 (query-name), 3 (query-cpus-fast)
 * and 4 (query-iothreads), sent in one write; messages with another id, or none, are
 * skipped. */
static int model_execute(struct stream *s, unsigned id, json_object **ret)
{
	for (;;) {
		json_object *m = NULL, *jid, *jret;
		int r = stream_next(s, &m);
		if (r < 0)
			return r;
		if (!json_object_object_get_ex(m, "id", &jid) || json_object_get_int64(jid) != id) {
			json_object_put(m);
			continue;
		}
		if (json_object_object_get_ex(m, "return", &jret)) {
			*ret = json_object_get(jret);
			json_object_put(m);
			return 0;
		}
		r = json_object_object_get_ex(m, "error", NULL) ? -EREMOTEIO : -EPROTO;
		json_object_put(m);
		return r;
	}
}

static int model_session(const char *buf, size_t len, struct qmp_vm_info *ret)
{
	struct stream s = {.buf = buf, .len = len, .tok = json_tokener_new_ex(64)};
	CHECK(s.tok);
	struct qmp_vm_info info = {0};
	json_object *j = NULL;
	int r = stream_next(&s, &j);
	if (r == 0 && !json_object_object_get_ex(j, "QMP", NULL))
		r = -EPROTO;
	json_object_put(j);
	j = NULL;
	if (r == 0)
		r = model_execute(&s, 1, &j);
	json_object_put(j);
	j = NULL;
	/* the three queries go in one write, and every answer is read before any is
	 * looked at (qmp_execute_batch) */
	json_object *a[3] = {NULL, NULL, NULL};
	for (unsigned id = 2; r == 0 && id <= 4; id++)
		r = model_execute(&s, id, &a[id - 2]);
	if (r == 0)
		r = qmp_parse_name(a[0], &info.name);
	if (r == 0)
		r = qmp_parse_cpus_fast(a[1], &info.vcpus, &info.n_vcpus);
	if (r == 0)
		r = qmp_parse_iothreads(a[2], &info.iothreads, &info.n_iothreads);
	for (size_t i = 0; i < 3; i++)
		json_object_put(a[i]);
	json_tokener_free(s.tok);
	if (r < 0) {
		qmp_vm_info_done(&info);
		return r;
	}
	*ret = info;
	return 0;
}

/* The server: one thread for the whole run, started with the first input, so a
 * run costs two switches between threads (the connection wakes the server, its
 * bytes wake the client) and no thread creation. */
static int listen_fd = -1;
static char sock_name[64]; /* "@kvmcg-fuzz-qmp-PID", qmp_connect()'s spelling */
static sem_t go, done;
static struct {
	const char *buf;
	size_t len;
	int fd; /* the accepted connection, closed by session_pass() once the client is done */
} sv;

/* Plays QEMU for each input: accepts one client, sends the input and ends its side
 * of the stream. The connection stays open (the client's commands still go
 * somewhere, as they would to a QEMU) until session_pass() closes it. */
static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		while (sem_wait(&go) < 0)
			;
		sv.fd = -1;
		struct pollfd p = {.fd = listen_fd, .events = POLLIN};
		if (poll(&p, 1, 5000) == 1) { /* else the client never came: its error says why */
			sv.fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			CHECK(sv.fd >= 0);
			for (size_t off = 0; off < sv.len;) {
				ssize_t n = send(sv.fd, sv.buf + off, sv.len - off, MSG_NOSIGNAL);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break; /* the client gave up and closed */
				off += (size_t)n;
			}
			shutdown(sv.fd, SHUT_WR);
		}
		sem_post(&done);
	}
	return NULL;
}

static void server_start(void)
{
	if (listen_fd >= 0)
		return;
	snprintf(sock_name, sizeof(sock_name), "@kvmcg-fuzz-qmp-%d", (int)getpid());
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t l = strlen(sock_name + 1);
	memcpy(sa.sun_path + 1, sock_name + 1, l);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(listen_fd >= 0);
	CHECK(bind(listen_fd, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l)) == 0);
	CHECK(listen(listen_fd, 1) == 0); /* QEMU's backlog */
	CHECK(sem_init(&go, 0, 0) == 0 && sem_init(&done, 0, 0) == 0);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, serve, NULL) == 0);
	CHECK(pthread_detach(th) == 0);
}

static void session_pass(const char *buf, size_t len)
{
	server_start();
	sv.buf = buf;
	sv.len = len;
	sem_post(&go);

	struct qmp *q = NULL;
	struct qmp_vm_info got = {0};
	/* The server always closes: no wait comes near this deadline. */
	int r = qmp_connect(sock_name, qmp_deadline_after_ms(5000), &q);
	if (r == 0) {
		CHECK(q && qmp_peer_pid(q) == getpid());
		r = qmp_query_vm(q, &got);
		const char *why = qmp_strerror(r, q);
		CHECK(why && why[0]);
		CHECK(strlen(qmp_last_error(q)) < 256);
		qmp_close(q);
	} else {
		const char *why = qmp_strerror(r, NULL);
		CHECK(why && why[0]);
	}
	/* the server is done with the input before libFuzzer takes it back */
	while (sem_wait(&done) < 0)
		;
	if (sv.fd >= 0)
		close(sv.fd);

	struct qmp_vm_info want = {0};
	int model = model_session(buf, len, &want);
	if (r != model)
		fprintf(stderr, "fuzz-qmp: the client says %d (%s), the model %d\n", r,
			strerrordesc_np(-r), model);
	CHECK(r == model);
	if (r == 0) {
		CHECK((got.name == NULL) == (want.name == NULL));
		CHECK(!got.name || strcmp(got.name, want.name) == 0);
		CHECK(got.n_vcpus == want.n_vcpus && got.n_iothreads == want.n_iothreads);
		for (size_t i = 0; i < got.n_vcpus; i++)
			CHECK(got.vcpus[i].index == want.vcpus[i].index && got.vcpus[i].tid == want.vcpus[i].tid);
		for (size_t i = 0; i < got.n_iothreads; i++)
			CHECK(strcmp(got.iothreads[i].id, want.iothreads[i].id) == 0 &&
			      got.iothreads[i].tid == want.iothreads[i].tid);
	}
	qmp_vm_info_done(&got);
	qmp_vm_info_done(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pure_pass((const char *)data, size);
	session_pass((const char *)data, size);
	return 0;
}
