// SPDX-License-Identifier: GPL-2.0-or-later
/* qmp: the pure parsers of QMP answers, one session with a real QEMU, and the broken
 * peers a real QEMU cannot be made to be. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/discover.h"
#include "vmm/pidfile.h"
#include "vmm/qmp.h"
#include "basic/util.h"

static json_object *json(const char *text)
{
	json_object *j = json_tokener_parse(text);
	cr_assert_not_null(j, "test JSON does not parse: %s", text);
	return j;
}

/* ---- parsers -------------------------------------------------------------------------- */

/* qmp_query_vm_while()'s meanwhile: counts its runs. */
static void count_run(void *arg)
{
	++*(int *)arg;
}

Test(qmp_parse, cpus_fast)
{
	/* as QEMU 7.2 answers, shortened */
	json_object *j = json("[{\"thread-id\": 4321, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
			      "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", "
			      "\"cpu-index\": 0, \"target\": \"x86_64\"},"
			      "{\"thread-id\": 4322, \"cpu-index\": 1, \"target\": \"x86_64\"}]");
	struct qmp_vcpu *v = NULL;
	size_t n = 0;
	cr_assert_eq(qmp_parse_cpus_fast(j, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0].index, 0);
	cr_assert_eq(v[0].tid, 4321, "the top-level thread-id, not props' topology thread-id");
	cr_assert_eq(v[1].index, 1);
	cr_assert_eq(v[1].tid, 4322);
	free(v);
	json_object_put(j);
}

Test(qmp_parse, cpus_fast_skips_unusable_entries)
{
	json_object *j = json("["
			      "{\"cpu-index\": 0},"                              /* no thread-id */
			      "{\"cpu-index\": 1, \"thread-id\": -5},"           /* negative */
			      "{\"cpu-index\": 2, \"thread-id\": 0},"            /* zero */
			      "{\"cpu-index\": 3, \"thread-id\": 1099511627776}," /* 2^40 */
			      "{\"cpu-index\": 4, \"thread-id\": 4194305},"      /* > pid_max */
			      "{\"cpu-index\": 5, \"thread-id\": \"77\"},"        /* a string */
			      "{\"cpu-index\": -1, \"thread-id\": 78},"          /* bad index */
			      "{\"thread-id\": 79},"                             /* no index */
			      "{\"cpu-index\": 6, \"thread-id\": 4.5},"          /* not an int */
			      "42, null, [],"                                    /* not objects */
			      "{\"cpu-index\": 7, \"thread-id\": 4194304}"       /* the last good one */
			      "]");
	struct qmp_vcpu *v = NULL;
	size_t n = 99;
	cr_assert_eq(qmp_parse_cpus_fast(j, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(v[0].index, 7);
	cr_assert_eq(v[0].tid, 4194304);
	free(v);
	json_object_put(j);
}

Test(qmp_parse, cpus_fast_empty_and_malformed)
{
	json_object *e = json("[]");
	struct qmp_vcpu *v = NULL;
	size_t n = 99;
	cr_assert_eq(qmp_parse_cpus_fast(e, &v, &n), 0);
	cr_assert_eq(n, 0);
	free(v);
	json_object_put(e);

	static const char *const bad[] = {"{\"cpu-index\": 0, \"thread-id\": 5}", "\"x\"", "7",
					  "{}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_object *j = json(bad[i]);
		v = NULL;
		cr_assert_eq(qmp_parse_cpus_fast(j, &v, &n), -EPROTO, "%s", bad[i]);
		cr_assert_null(v);
		json_object_put(j);
	}
	cr_assert_eq(qmp_parse_cpus_fast(NULL, &v, &n), -EPROTO, "JSON null");
}

static void free_iothreads(struct qmp_iothread *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].id);
	free(t);
}

Test(qmp_parse, iothreads)
{
	json_object *j = json("[{\"poll-shrink\": 0, \"thread-id\": 5001, \"poll-grow\": 0, "
			      "\"poll-max-ns\": 32768, \"id\": \"io1\"},"
			      "{\"id\": \"no-tid\"},"
			      "{\"id\": \"neg\", \"thread-id\": -1},"
			      "{\"id\": \"huge\", \"thread-id\": 9999999999},"
			      "{\"id\": 5, \"thread-id\": 5002},"
			      "{\"thread-id\": 5003},"
			      "{\"id\": \"io 2\", \"thread-id\": 5004}]");
	struct qmp_iothread *t = NULL;
	size_t n = 0;
	cr_assert_eq(qmp_parse_iothreads(j, &t, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(t[0].id, "io1");
	cr_assert_eq(t[0].tid, 5001);
	cr_assert_str_eq(t[1].id, "io 2");
	cr_assert_eq(t[1].tid, 5004);
	free_iothreads(t, n);
	json_object_put(j);

	json_object *o = json("{\"id\": \"io1\", \"thread-id\": 1}");
	t = NULL;
	cr_assert_eq(qmp_parse_iothreads(o, &t, &n), -EPROTO);
	cr_assert_null(t);
	json_object_put(o);
}

/* query-memdev as QEMU 7.2 answers for -m 128 and one backend of 1 GiB bound to node 1. */
Test(qmp_parse, memdevs)
{
	json_object *j = json("[{\"size\": 134217728, \"merge\": true, \"dump\": true, \"prealloc\": false,"
			      " \"share\": false, \"host-nodes\": [], \"id\": \"pc.ram\", \"policy\": \"default\"},"
			      " {\"size\": 1073741824, \"host-nodes\": [1], \"id\": \"m1\", \"policy\": \"bind\"},"
			      " {\"size\": 0, \"id\": \"empty\"}, {\"size\": 5}, {\"id\": \"nosize\"},"
			      " {\"size\": 4096, \"id\": \"nopolicy\"}, 7]");
	struct qmp_memdev *m = NULL;
	size_t n = 0;
	cr_assert_eq(qmp_parse_memdevs(j, &m, &n), 0);
	cr_assert_eq(n, 3, "entries without an id or a positive size are skipped");
	cr_assert_str_eq(m[0].id, "pc.ram");
	cr_assert_eq(m[0].size, 128ull << 20);
	cr_assert_str_eq(m[0].policy, "default");
	cr_assert_str_eq(m[1].id, "m1");
	cr_assert_eq(m[1].size, 1ull << 30);
	cr_assert_str_eq(m[1].policy, "bind");
	cr_assert_str_eq(m[2].id, "nopolicy");
	cr_assert_null(m[2].policy);
	qmp_memdevs_free(m, n);
	json_object_put(j);
	j = json("{\"size\": 1}");
	cr_assert_eq(qmp_parse_memdevs(j, &m, &n), -EPROTO);
	json_object_put(j);
}

Test(qmp_parse, name)
{
	char *name = (char *)"untouched";
	json_object *j = json("{\"name\": \"win7,ent\"}");
	cr_assert_eq(qmp_parse_name(j, &name), 0);
	cr_assert_str_eq(name, "win7,ent");
	free(name);
	json_object_put(j);

	/* a VM started without -name answers {} */
	static const char *const unnamed[] = {"{}", "{\"name\": 5}", "{\"name\": null}"};
	for (size_t i = 0; i < ARRAY_SIZE(unnamed); i++) {
		j = json(unnamed[i]);
		name = (char *)"untouched";
		cr_assert_eq(qmp_parse_name(j, &name), 0, "%s", unnamed[i]);
		cr_assert_null(name, "%s", unnamed[i]);
		json_object_put(j);
	}

	j = json("[\"name\"]");
	cr_assert_eq(qmp_parse_name(j, &name), -EPROTO);
	json_object_put(j);
}

/* ---- scratch directory and child processes, removed by every test's .fini ------------- */

static char scratch[64];
static pid_t children[4];
static size_t n_children;
static int saved_cwd = -1;

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void make_tmpdir(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "/tmp/kvmcg-unit-%d-%s.XXXXXX", (int)getppid(), what);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

static void scratch_init(void)
{
	make_tmpdir(scratch, sizeof(scratch), "qmp");
	n_children = 0;
}

static int remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return unlink(path);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[1024];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		struct stat st;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	return rmdir(path);
}

static void scratch_fini(void)
{
	for (size_t i = 0; i < n_children; i++) {
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
	}
	n_children = 0;
	if (saved_cwd >= 0) {
		if (fchdir(saved_cwd) < 0)
			perror("fchdir");
		close(saved_cwd);
		saved_cwd = -1;
	}
	if (scratch[0])
		remove_tree(scratch);
	scratch[0] = '\0';
}

static void track_child(pid_t pid)
{
	cr_assert_lt(n_children, ARRAY_SIZE(children));
	children[n_children++] = pid;
}

/* In a child: die with the test, whatever happens to it. */
static void child_dies_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

static void scratch_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", scratch, name);
}

static int unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	return fd;
}

static void bind_path(int fd, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
		     strerror(errno));
}

static uint64_t ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1000000u;
}

/* ---- a real QEMU -------------------------------------------------------------------------- */

static bool find_in_path(const char *prog, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	cr_assert_not_null(copy);
	bool found = false;
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir, prog);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

static pid_t start_qemu(const char *qemu, const char *sock, const char *pidfile, const char *log)
{
	char qmp[256];
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", sock);
	char *const argv[] = {(char *)qemu, (char *)"-accel", (char *)"tcg", (char *)"-m",
			      (char *)"32", (char *)"-smp", (char *)"2", (char *)"-display",
			      (char *)"none", (char *)"-nodefaults", (char *)"-S", (char *)"-qmp", qmp,
			      (char *)"-name", (char *)"guest=unit,debug-threads=on", (char *)"-object",
			      (char *)"iothread,id=unit-io", (char *)"-pidfile", (char *)pidfile, NULL};
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_dies_with_parent(parent);
		int null = open("/dev/null", O_RDWR);
		int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (null < 0 || logfd < 0)
			_exit(126);
		dup2(null, 0);
		dup2(null, 1);
		dup2(logfd, 2);
		execv(qemu, argv);
		_exit(127);
	}
	track_child(pid);
	return pid;
}

static void log_qemu_stderr(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		cr_log_error("qemu: %s", line);
	if (f)
		fclose(f);
}

/* Connects as soon as QEMU listens; fails the test after 10 s or when QEMU exits. */
static struct qmp *connect_when_up(pid_t qemu, const char *sock, const char *log)
{
	uint64_t t0 = now_ns();
	for (;;) {
		struct qmp *q = NULL;
		int r = qmp_connect(sock, qmp_deadline_after_ms(10000), &q);
		if (r == 0)
			return q;
		if (waitpid(qemu, NULL, WNOHANG) == qemu) {
			n_children = 0; /* reaped */
			log_qemu_stderr(log);
			cr_assert_fail("QEMU exited before its QMP socket answered");
		}
		if (r != -ENOENT && r != -ECONNREFUSED) {
			log_qemu_stderr(log);
			cr_assert_fail("qmp_connect(%s) = %d (%s)", sock, r, strerror(-r));
		}
		if (ms_since(t0) > 10000) {
			log_qemu_stderr(log);
			cr_assert_fail("QEMU's QMP socket did not answer within 10 s");
		}
		usleep(20000);
	}
}

static bool is_task_of(pid_t pid, pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return access(path, F_OK) == 0;
}

/* The thread's name, read by hand from the live /proc. */
static void comm_of(pid_t pid, pid_t tid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(fgets(out, (int)size, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

TestSuite(qmp_qemu, .init = scratch_init, .fini = scratch_fini, .timeout = 60);

Test(qmp_qemu, real_qemu_session)
{
	char qemu[512];
	if (!find_in_path("qemu-system-x86_64", qemu, sizeof(qemu)))
		cr_skip_test("qemu-system-x86_64 is not installed: cannot test against a real QEMU");

	char sock[128], pidfile[128], log[128];
	scratch_path(sock, sizeof(sock), "q.sock");
	scratch_path(pidfile, sizeof(pidfile), "q.pid");
	scratch_path(log, sizeof(log), "qemu.log");
	pid_t qpid = start_qemu(qemu, sock, pidfile, log);

	struct qmp *q = connect_when_up(qpid, sock, log);
	cr_assert_eq(qmp_peer_pid(q), qpid, "SO_PEERCRED names QEMU");

	/* -pidfile is locked by QEMU while it runs */
	pid_t from_file = 0, holder = 0;
	cr_assert_eq(pidfile_read_locked(pidfile, &from_file, &holder), 0);
	cr_assert_eq(from_file, qpid);

	json_object *status = NULL;
	cr_assert_eq(qmp_execute(q, "query-status", &status), 0);
	json_object *st = NULL, *running = NULL;
	cr_assert(json_object_object_get_ex(status, "status", &st));
	cr_assert_str_eq(json_object_get_string(st), "prelaunch", "started with -S");
	cr_assert(json_object_object_get_ex(status, "running", &running));
	cr_assert_not(json_object_get_boolean(running));
	json_object_put(status);

	json_object *nothing = NULL;
	cr_assert_eq(qmp_execute(q, "no-such-command", &nothing), -EREMOTEIO);
	cr_assert_null(nothing);
	cr_assert_not_null(strstr(qmp_last_error(q), "CommandNotFound"), "%s", qmp_last_error(q));
	cr_assert_eq(qmp_execute(q, "query-status\",\"x\":\"", &nothing), -EINVAL,
		     "command names are never escaped into the request");

	/* a monitor serves one client: a second one is not greeted */
	struct qmp *second = NULL;
	uint64_t t0 = now_ns();
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(300), &second), -ETIMEDOUT);
	cr_assert_null(second);
	cr_assert_lt(ms_since(t0), 3000);

	struct qmp_vm_info info = {0};
	cr_assert_eq(qmp_query_vm(q, &info), 0);
	cr_assert_str_eq(info.name, "unit");
	cr_assert_eq(info.n_vcpus, 2);
	bool seen[2] = {false, false};
	for (size_t i = 0; i < info.n_vcpus; i++) {
		int idx = info.vcpus[i].index;
		cr_assert(idx == 0 || idx == 1, "cpu-index %d", idx);
		cr_assert_not(seen[idx]);
		seen[idx] = true;
		cr_assert(is_task_of(qpid, info.vcpus[i].tid), "vCPU tid %d is a task of QEMU",
			  (int)info.vcpus[i].tid);
		cr_assert_neq(info.vcpus[i].tid, qpid, "not the main thread");
		/* debug-threads names agree with QMP */
		char comm[32], want[32];
		comm_of(qpid, info.vcpus[i].tid, comm, sizeof(comm));
		snprintf(want, sizeof(want), "CPU %d/TCG", idx);
		cr_assert_str_eq(comm, want);
	}
	cr_assert_neq(info.vcpus[0].tid, info.vcpus[1].tid, "MTTCG: one thread per vCPU");
	cr_assert_eq(info.n_iothreads, 1);
	cr_assert_str_eq(info.iothreads[0].id, "unit-io");
	cr_assert(is_task_of(qpid, info.iothreads[0].tid));
	char comm[32];
	comm_of(qpid, info.iothreads[0].tid, comm, sizeof(comm));
	cr_assert_str_eq(comm, "IO unit-io");

	/* Without the name, one command fewer, and the caller's work runs once, after
	 * the questions went and before any answer was read: the answers still match
	 * their questions. */
	struct qmp_vm_info unnamed = {0};
	int meanwhile_runs = 0;
	cr_assert_eq(qmp_query_vm_while(q, 0, count_run, &meanwhile_runs, &unnamed), 0, "%s",
		     qmp_last_error(q));
	cr_assert_eq(meanwhile_runs, 1);
	cr_assert_null(unnamed.name, "query-name was not asked");
	cr_assert_eq(unnamed.n_vcpus, 2);
	cr_assert_eq(unnamed.n_iothreads, 1);
	cr_assert_str_eq(unnamed.iothreads[0].id, "unit-io");
	qmp_vm_info_done(&unnamed);

	/* The memory backends in the same batch: -m's RAM is one (QEMU 5.0 and later). */
	struct qmp_vm_info withmem = {0};
	cr_assert_eq(qmp_query_vm_while(q, QMP_ASK_MEMDEVS, NULL, NULL, &withmem), 0, "%s", qmp_last_error(q));
	cr_assert(withmem.memdevs_asked);
	cr_assert_eq(withmem.n_vcpus, 2, "the threads' answers are still theirs");
	uint64_t ram = 0;
	for (size_t i = 0; i < withmem.n_memdevs; i++)
		ram += withmem.memdevs[i].size;
	cr_assert_eq(ram, (uint64_t)32 << 20, "the backends hold -m 32");
	qmp_vm_info_done(&withmem);
	qmp_close(q);

	/* The whole discovery through QMP, on the live /proc: the monitor is free again. */
	int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	struct discover_opts o;
	discover_opts_init(&o, proc_fd);
	o.qmp_timeout_ms = 5000;
	struct vm *vm = NULL;
	cr_assert_eq(vm_identify(&o, qpid, &vm), 1);
	cr_assert(vm->is_qemu);
	cr_assert_not(vm->has_kvm, "TCG holds no KVM fd");
	cr_assert_eq(vm->qemu.n_qmp_paths, 1);
	cr_assert_str_eq(vm->qemu.qmp_paths[0], sock);
	cr_assert_eq(vm_discover_threads(&o, vm), 0);
	cr_assert_eq(vm->source, DISCOVERY_QMP, "qmp_error: %s", vm->qmp_error ? vm->qmp_error : "-");
	cr_assert_null(vm->qmp_error);
	cr_assert_str_eq(vm->qmp_socket, sock);
	cr_assert_str_eq(vm->name, "unit");
	cr_assert_eq(vm->n_vcpus_expected, 2);
	cr_assert_eq(vm->n_unidentified_vcpus, 0);
	size_t vcpus = 0, iothreads = 0;
	for (size_t i = 0; i < vm->n_threads; i++) {
		const struct vm_thread *t = &vm->threads[i];
		for (size_t k = 0; k < info.n_vcpus; k++)
			if (info.vcpus[k].tid == t->tid) {
				cr_assert_eq(t->kind, THREAD_VCPU);
				cr_assert_eq(t->vcpu_index, info.vcpus[k].index);
				vcpus++;
			}
		if (t->tid == info.iothreads[0].tid) {
			cr_assert_eq(t->kind, THREAD_IOTHREAD);
			cr_assert_str_eq(t->iothread_id, "unit-io");
			iothreads++;
		}
		if (t->tid == qpid)
			cr_assert_eq(t->kind, THREAD_EMULATOR);
	}
	cr_assert_eq(vcpus, 2);
	cr_assert_eq(iothreads, 1);
	vm_free(vm);
	close(proc_fd);
	qmp_vm_info_done(&info);
	cr_assert_null(info.vcpus);
}

/* ---- broken peers ----------------------------------------------------------------------- */

TestSuite(qmp_peer, .init = scratch_init, .fini = scratch_fini, .timeout = 30);

Test(qmp_peer, missing_socket)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "none.sock");
	struct qmp *q = NULL;
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(1000), &q), -ENOENT);
	cr_assert_null(q);
}

Test(qmp_peer, bound_but_not_listening)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "bound.sock");
	int fd = unix_socket();
	bind_path(fd, sock);
	struct qmp *q = NULL;
	uint64_t t0 = now_ns();
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(5000), &q), -ECONNREFUSED);
	cr_assert_lt(ms_since(t0), 1000, "refused at once, not after the timeout");
	cr_assert_null(q);
	close(fd);
}

Test(qmp_peer, stale_socket_of_a_closed_listener)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "stale.sock");
	int fd = unix_socket();
	bind_path(fd, sock);
	cr_assert_eq(listen(fd, 1), 0);
	close(fd); /* QEMU killed with SIGKILL leaves its socket file like this */
	struct stat st;
	cr_assert_eq(stat(sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	struct qmp *q = NULL;
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(5000), &q), -ECONNREFUSED);
	cr_assert_null(q);
}

Test(qmp_peer, listener_that_never_greets)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "silent.sock");
	int fd = unix_socket();
	bind_path(fd, sock);
	cr_assert_eq(listen(fd, 4), 0); /* the kernel accepts; nobody answers */
	struct qmp *q = NULL;
	uint64_t t0 = now_ns();
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(300), &q), -ETIMEDOUT);
	uint64_t ms = ms_since(t0);
	cr_assert_geq(ms, 250, "gave up after %llu ms, before the timeout", (unsigned long long)ms);
	cr_assert_lt(ms, 2000, "gave up after %llu ms", (unsigned long long)ms);
	cr_assert_null(q);
	close(fd);
}

/* QEMU listens with a backlog of 1: while one client holds the monitor, the kernel
 * queues two more and refuses the next ones with EAGAIN (QEMU 7.2 measured so). To a
 * non-blocking AF_UNIX connect(), EAGAIN means "not connected", unlike EINPROGRESS
 * on TCP. Such a busy monitor must read as busy, the way a queued client does. */
Test(qmp_peer, full_backlog_is_a_busy_monitor)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "busy.sock");
	int lfd = unix_socket();
	bind_path(lfd, sock);
	cr_assert_eq(listen(lfd, 0), 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock);
	int fillers[16], n = 0;
	bool full = false;
	while (n < 16 && !full) {
		fillers[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		cr_assert_geq(fillers[n], 0);
		full = connect(fillers[n], (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EAGAIN;
		n++;
	}
	cr_assert(full, "the backlog never filled");

	struct qmp *q = NULL;
	int r = qmp_connect(sock, qmp_deadline_after_ms(200), &q);
	for (int i = 0; i < n; i++)
		close(fillers[i]);
	close(lfd);
	cr_assert_null(q);
	cr_assert_eq(r, -ETIMEDOUT, "qmp_connect() on a full backlog: %d (%s), expected -ETIMEDOUT",
		     r, strerror(-r));
}

Test(qmp_peer, abstract_socket)
{
	char name[64];
	snprintf(name, sizeof(name), "kvmcg-unit-%d-%.8s", (int)getpid(), strrchr(scratch, '.') + 1);
	int fd = unix_socket();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path + 1, name, strlen(name));
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(listen(fd, 4), 0);

	char at[80];
	snprintf(at, sizeof(at), "@%s", name);
	struct qmp *q = NULL;
	cr_assert_eq(qmp_connect(at, qmp_deadline_after_ms(200), &q), -ETIMEDOUT, "reached the listener, which is silent");
	close(fd);
	cr_assert_eq(qmp_connect(at, qmp_deadline_after_ms(200), &q), -ECONNREFUSED, "nobody has that name any more");
	cr_assert_eq(qmp_connect("@", qmp_deadline_after_ms(200), &q), -ENAMETOOLONG, "an empty abstract name");
	cr_assert_null(q);
}

Test(qmp_peer, path_longer_than_sun_path)
{
	/* a VM's socket seen through /proc/PID/root can be long */
	char deep[512];
	snprintf(deep, sizeof(deep), "%s", scratch);
	while (strlen(deep) < 150) {
		strcat(deep, "/0123456789abcdef");
		cr_assert_eq(mkdir(deep, 0755), 0);
	}
	saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(saved_cwd, 0);
	cr_assert_eq(chdir(deep), 0);
	int fd = unix_socket();
	bind_path(fd, "s"); /* relative to the deep directory */
	cr_assert_eq(listen(fd, 4), 0);

	char sock[600];
	snprintf(sock, sizeof(sock), "%s/s", deep);
	cr_assert_gt(strlen(sock), sizeof(((struct sockaddr_un *)0)->sun_path));
	struct qmp *q = NULL;
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(200), &q), -ETIMEDOUT, "connected, then no greeting");
	close(fd);
	cr_assert_eq(qmp_connect(sock, qmp_deadline_after_ms(200), &q), -ECONNREFUSED);
}

/*
 * A scripted peer in a child process. Steps:
 *   ">text"   send text
 *   "<"       read one line from the client
 *   "~N"      sleep N ms
 *   "*big"    send {"return": "xxx... larger than 8 MiB
 * After the last step the peer waits for the client to leave, unless the last step
 * is "." (close at once).
 */
static void run_peer(int lfd, const char *const *steps, size_t n)
{
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		_exit(2);
	for (size_t i = 0; i < n; i++) {
		const char *s = steps[i];
		if (s[0] == '>') {
			if (write(c, s + 1, strlen(s + 1)) < 0)
				_exit(3);
		} else if (s[0] == '<') {
			char ch;
			while (read(c, &ch, 1) == 1 && ch != '\n')
				;
		} else if (s[0] == '~') {
			usleep((useconds_t)atoi(s + 1) * 1000);
		} else if (s[0] == '*') {
			static const char head[] = "{\"return\": \"";
			if (write(c, head, strlen(head)) < 0)
				_exit(3);
			char chunk[65536];
			memset(chunk, 'x', sizeof(chunk));
			for (int k = 0; k < 160; k++) /* 10 MiB */
				if (write(c, chunk, sizeof(chunk)) < 0)
					_exit(0); /* the client gave up: fine */
		} else if (s[0] == '.') {
			_exit(0);
		}
	}
	char buf[256];
	while (read(c, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

static void start_peer(const char *sock, const char *const *steps, size_t n)
{
	int lfd = unix_socket();
	bind_path(lfd, sock);
	cr_assert_eq(listen(lfd, 4), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_dies_with_parent(parent);
		run_peer(lfd, steps, n);
	}
	track_child(pid);
	close(lfd);
}

#define GREETING ">{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, " \
		 "\"capabilities\": [\"oob\"]}}\r\n"

static int connect_to_peer(const char *const *steps, size_t n, struct qmp **q, int timeout_ms)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "peer.sock");
	start_peer(sock, steps, n);
	*q = NULL;
	return qmp_connect(sock, qmp_deadline_after_ms((unsigned)timeout_ms), q);
}

Test(qmp_peer, garbage_greeting)
{
	static const char *const steps[] = {">garbage, not JSON\n"};
	struct qmp *q;
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 2000), -EPROTO);
	cr_assert_null(q);
}

Test(qmp_peer, json_that_is_not_a_greeting)
{
	static const char *const steps[] = {">{\"hello\": \"world\"}\n"};
	struct qmp *q;
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 2000), -EPROTO);
	cr_assert_null(q);
}

/* qmp_capabilities goes with the first command: its failures show there. */
static int first_command(const char *const *steps, size_t n, char *why, size_t why_size)
{
	struct qmp *q _cleanup_qmp_ = NULL;
	cr_assert_eq(connect_to_peer(steps, n, &q, 2000), 0, "the greeting is all qmp_connect reads");
	json_object *j = NULL;
	int r = qmp_execute(q, "query-status", &j);
	cr_assert_null(j);
	snprintf(why, why_size, "%s", qmp_last_error(q));
	return r;
}

Test(qmp_peer, closes_after_greeting)
{
	static const char *const steps[] = {GREETING, "<", "."};
	char why[256];
	cr_assert_eq(first_command(steps, ARRAY_SIZE(steps), why, sizeof(why)), -ECONNRESET);
}

Test(qmp_peer, refuses_capabilities)
{
	static const char *const steps[] = {
		GREETING, "<",
		">{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"go away\"}}\n"};
	char why[256];
	cr_assert_eq(first_command(steps, ARRAY_SIZE(steps), why, sizeof(why)), -EREMOTEIO);
	cr_assert_str_eq(why, "qmp_capabilities: GenericError: go away");
}

Test(qmp_peer, answer_without_return_or_error)
{
	static const char *const steps[] = {GREETING, "<", ">{\"id\": 1, \"what\": 1}\n"};
	char why[256];
	cr_assert_eq(first_command(steps, ARRAY_SIZE(steps), why, sizeof(why)), -EPROTO);
}

/* One write for the batch and qmp_capabilities, the answers read in order. */
Test(qmp_peer, batch_in_one_write)
{
	static const char *const steps[] = {
		GREETING, "<", "<", "<",
		">{\"return\": {}, \"id\": 1}\n{\"return\": {\"a\": 1}, \"id\": 2}\n{\"return\": [], \"id\": 3}\n"};
	struct qmp *q _cleanup_qmp_ = NULL;
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 2000), 0);
	static const char *const commands[] = {"query-status", "query-iothreads"};
	json_object *j[2] = {NULL, NULL};
	cr_assert_eq(qmp_execute_batch(q, commands, 2, j), 0, "%s", qmp_last_error(q));
	cr_assert(json_object_is_type(j[0], json_type_object));
	cr_assert(json_object_is_type(j[1], json_type_array));
	json_object_put(j[0]);
	json_object_put(j[1]);
	cr_assert_eq(qmp_execute_batch(q, commands, 0, j), -EINVAL);
	cr_assert_eq(qmp_execute_batch(q, commands, 8, j), -EINVAL);
}

Test(qmp_peer, split_messages_events_and_foreign_ids)
{
	/* the greeting in pieces; an event and someone else's answer before ours */
	static const char *const steps[] = {
		">{\"QMP\": {\"version\"", "~50", ">: {}, \"capabilities\": []}}\r\n",
		"<", ">{\"return\": {}, \"id\": 1}\r\n",
		"<",
		(">{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
		 "{\"return\": {\"name\": \"not ours\"}, \"id\": 99}\r\n{\"retu"),
		"~30", ">rn\": {\"name\": \"fake\"}, \"id\": 2}\r\n",
		"<", ">{\"return\": [{\"cpu-index\": 0, \"thread-id\": 123}], \"id\": 3}\r\n",
		"<", ">{\"return\": [], \"id\": 4}\r\n"};
	struct qmp *q;
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 2000), 0);
	struct qmp_vm_info info = {0};
	cr_assert_eq(qmp_query_vm(q, &info), 0);
	cr_assert_str_eq(info.name, "fake");
	cr_assert_eq(info.n_vcpus, 1);
	cr_assert_eq(info.vcpus[0].tid, 123);
	cr_assert_eq(info.n_iothreads, 0);
	/* SO_PEERCRED names the process that called listen(): this one */
	cr_assert_eq(qmp_peer_pid(q), getpid());
	qmp_vm_info_done(&info);
	qmp_close(q);
}

Test(qmp_peer, answer_larger_than_the_limit)
{
	static const char *const steps[] = {GREETING, "<", ">{\"return\": {}, \"id\": 1}\n", "<",
					    "*big"};
	struct qmp *q;
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 5000), 0);
	json_object *ret = NULL;
	cr_assert_eq(qmp_execute(q, "query-cpus-fast", &ret), -EPROTO);
	cr_assert_null(ret);
	cr_assert_not_null(strstr(qmp_last_error(q), "larger"), "%s", qmp_last_error(q));
	qmp_close(q);
}

Test(qmp_peer, silent_after_capabilities)
{
	static const char *const steps[] = {GREETING, "<", ">{\"return\": {}, \"id\": 1}\n"};
	struct qmp *q;
	uint64_t t0 = now_ns();
	cr_assert_eq(connect_to_peer(steps, ARRAY_SIZE(steps), &q, 300), 0);
	json_object *ret = NULL;
	cr_assert_eq(qmp_execute(q, "query-name", &ret), -ETIMEDOUT);
	uint64_t ms = ms_since(t0);
	/* the connection's deadline, not a fresh timeout for the command */
	cr_assert_geq(ms, 250, "gave up after %llu ms, before the deadline", (unsigned long long)ms);
	cr_assert_lt(ms, 550, "gave up after %llu ms: the command got a budget of its own",
		     (unsigned long long)ms);
	cr_assert_null(ret);
	qmp_close(q);
}

/* One deadline covers the whole conversation: a monitor that answers every command
 * 150 ms late, given 400 ms, gets through the capabilities and one query, and the
 * next query ends at the deadline. With a timeout per command all would succeed. */
Test(qmp_peer, deadline_covers_the_whole_conversation)
{
	static const char *const steps[] = {
		GREETING, "<", "~150", ">{\"return\": {}, \"id\": 1}\n",
		"<", "~150", ">{\"return\": {\"name\": \"slow\"}, \"id\": 2}\n",
		"<", "~150", ">{\"return\": [], \"id\": 3}\n",
		"<", "~150", ">{\"return\": [], \"id\": 4}\n"};
	char sock[128];
	scratch_path(sock, sizeof(sock), "slow.sock");
	start_peer(sock, steps, ARRAY_SIZE(steps));
	struct qmp *q = NULL;
	uint64_t t0 = now_ns();
	cr_assert_eq(qmp_connect(sock, t0 + 400 * 1000000ull, &q), 0);
	json_object *ret = NULL;
	cr_assert_eq(qmp_execute(q, "query-name", &ret), 0, "answered at about 300 ms");
	json_object_put(ret);
	ret = NULL;
	cr_assert_eq(qmp_execute(q, "query-cpus-fast", &ret), -ETIMEDOUT,
		     "would be answered at about 450 ms, after the deadline");
	uint64_t ms = ms_since(t0);
	cr_assert_geq(ms, 380, "ended after %llu ms", (unsigned long long)ms);
	cr_assert_lt(ms, 440, "ended after %llu ms, not at the deadline", (unsigned long long)ms);
	cr_assert_null(ret);
	qmp_close(q);
}

/* A deadline already past fails at the first wait, whatever the peer would do. */
Test(qmp_peer, deadline_in_the_past)
{
	char sock[128];
	scratch_path(sock, sizeof(sock), "late.sock");
	int fd = unix_socket();
	bind_path(fd, sock);
	cr_assert_eq(listen(fd, 4), 0);
	struct qmp *q = NULL;
	uint64_t t0 = now_ns();
	cr_assert_eq(qmp_connect(sock, t0 - 1, &q), -ETIMEDOUT);
	cr_assert_lt(ms_since(t0), 50);
	cr_assert_null(q);
	close(fd);
}

/* ---- discovery through QMP, on a tree built here ---------------------------------------------
 *
 * The VM is a synthetic proc tree whose pid is this test process (or its parent), so
 * that the socket named on its command line, reached through /proc/PID/root, is a
 * scripted peer whose SO_PEERCRED pid matches (or not). */

static char root[128];

static void put(const char *rel, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void put_task(pid_t pid, pid_t tid, const char *comm, unsigned long flags)
{
	char rel[128], buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "%d (%s) S 1 %d %d 0 -1 %lu 0 0 0 0 5 7 0 0 20 0 4 0 1000 0 0 "
			 "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			 (int)tid, comm, (int)pid, (int)pid, flags);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/stat", (int)pid, (int)tid);
	put(rel, buf, (size_t)n);
	if (tid == pid) {
		snprintf(rel, sizeof(rel), "proc/%d/stat", (int)pid);
		put(rel, buf, (size_t)n);
	}
	n = snprintf(buf, sizeof(buf), "Name:\t%s\nCpus_allowed_list:\t0-3\n", comm);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/status", (int)pid, (int)tid);
	put(rel, buf, (size_t)n);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/cgroup", (int)pid, (int)tid);
	put(rel, "0::/\n", 5);
}

/* A QEMU with pid `pid` whose only QMP socket is `sock`, and its threads. */
static void build_vm(pid_t pid, const char *sock, const pid_t *tids, const char *const *comms,
		     const unsigned long *flags, size_t n)
{
	snprintf(root, sizeof(root), "%s/root", scratch);
	mkdir(root, 0755);
	char cmdline[512];
	int len = snprintf(cmdline, sizeof(cmdline),
			   "qemu-system-x86_64%c-smp%c1,maxcpus=4,sockets=4%c-qmp%c"
			   "unix:%s,server=on,wait=off%c",
			   0, 0, 0, 0, sock, 0);
	char rel[64];
	snprintf(rel, sizeof(rel), "proc/%d/cmdline", (int)pid);
	put(rel, cmdline, (size_t)len);
	/* what makes it a VM in a captured tree: root's QEMU executable, recorded */
	snprintf(rel, sizeof(rel), "proc/%d/exe.stat", (int)pid);
	put(rel, "uid=0 gid=0 mode=0x81ed\n", 24);
	char link[512];
	snprintf(link, sizeof(link), "%s/proc/%d/exe", root, (int)pid);
	cr_assert_eq(symlink("/usr/bin/qemu-system-x86_64", link), 0, "%s", link);
	for (size_t i = 0; i < n; i++)
		put_task(pid, tids[i], comms[i], flags[i]);
}

static struct vm *vm_under_test;
static int proc_fd = -1;

static void discovery_fini(void)
{
	vm_free(vm_under_test);
	vm_under_test = NULL;
	if (proc_fd >= 0)
		close(proc_fd);
	proc_fd = -1;
	scratch_fini();
}

static struct vm *discover_synthetic(pid_t pid)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/proc", root);
	proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	struct discover_opts o;
	discover_opts_init(&o, proc_fd);
	o.qmp_timeout_ms = 5000;
	cr_assert_eq(vm_identify(&o, pid, &vm_under_test), 1);
	cr_assert_eq(vm_under_test->qemu.n_qmp_paths, 1);
	cr_assert_eq(vm_discover_threads(&o, vm_under_test), 0);
	return vm_under_test;
}

static const struct vm_thread *thread_of(const struct vm *vm, pid_t tid)
{
	for (size_t i = 0; i < vm->n_threads; i++)
		if (vm->threads[i].tid == tid)
			return &vm->threads[i];
	cr_assert_fail("tid %d is not a thread of the VM", (int)tid);
	abort();
}

#define TID(n) ((pid_t)(4000000 + (n)))

TestSuite(qmp_discovery, .init = scratch_init, .fini = discovery_fini, .timeout = 30);

Test(qmp_discovery, answers_are_checked_against_the_tasks)
{
	pid_t self = getpid();
	char sock[128];
	scratch_path(sock, sizeof(sock), "vm.qmp");
	static const char *const comms[] = {"qemu-system-x86", "qemu-system-x86", "qemu-system-x86",
					    "kvm-nx-lpage-re", "qemu-system-x86"};
	const pid_t tids[] = {self, TID(1), TID(2), TID(3), TID(4)};
	static const unsigned long flags[] = {0x400040, 0x400040, 0x400040, 0x404040, 0x400040};
	build_vm(self, sock, tids, comms, flags, 5);

	char cpus[512], iothreads[256];
	snprintf(cpus, sizeof(cpus),
		 ">{\"return\": [{\"cpu-index\": 0, \"thread-id\": %d},"
		 " {\"cpu-index\": 1, \"thread-id\": %d}," /* the main thread: a lie */
		 " {\"cpu-index\": 2, \"thread-id\": 1},"  /* not a task of the VM */
		 " {\"cpu-index\": 3, \"thread-id\": %d}]," /* a kernel worker */
		 " \"id\": 3}\n",
		 (int)TID(1), (int)self, (int)TID(3));
	snprintf(iothreads, sizeof(iothreads),
		 ">{\"return\": [{\"id\": \"io-q\", \"thread-id\": %d},"
		 " {\"id\": \"io-w\", \"thread-id\": %d}], \"id\": 4}\n",
		 (int)TID(2), (int)TID(3));
	const char *const steps[] = {GREETING,
				     "<",
				     ">{\"return\": {}, \"id\": 1}\n",
				     "<",
				     ">{\"return\": {\"name\": \"from-qmp\"}, \"id\": 2}\n",
				     "<",
				     cpus,
				     "<",
				     iothreads};
	start_peer(sock, steps, ARRAY_SIZE(steps));

	const struct vm *vm = discover_synthetic(self);
	cr_assert_eq(vm->source, DISCOVERY_QMP, "qmp_error: %s", vm->qmp_error ? vm->qmp_error : "-");
	cr_assert_str_eq(vm->qmp_socket, sock);
	cr_assert_null(vm->qmp_error);
	cr_assert_str_eq(vm->name, "from-qmp", "no -name: QMP's name is used");
	cr_assert_eq(thread_of(vm, TID(1))->kind, THREAD_VCPU);
	cr_assert_eq(thread_of(vm, TID(1))->vcpu_index, 0);
	cr_assert_eq(thread_of(vm, self)->kind, THREAD_EMULATOR, "QMP never makes the main thread a vCPU");
	cr_assert_eq(thread_of(vm, TID(3))->kind, THREAD_WORKER, "nor a kernel worker a vCPU or iothread");
	cr_assert_eq(thread_of(vm, TID(2))->kind, THREAD_IOTHREAD);
	cr_assert_str_eq(thread_of(vm, TID(2))->iothread_id, "io-q");
	/* QMP says four vCPUs; three could not be matched to a task */
	cr_assert_eq(vm->n_vcpus_expected, 4);
	cr_assert_eq(vm->n_unidentified_vcpus, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(vm->unidentified_vcpus[i], (int)i + 1);
	cr_assert_eq(vm->n_unidentified_iothreads, 0, "QMP lists the iothreads that exist");
	cr_assert_eq(thread_of(vm, TID(4))->kind, THREAD_UNKNOWN,
		     "vCPUs are missing: an unknown thread may be one of them");
}

Test(qmp_discovery, sparse_cpu_indexes_after_hotplug)
{
	/* QEMU started with -smp 1,maxcpus=4,sockets=4 and a vCPU hot-plugged into
	 * socket 3 answers cpu-index 0 and 3 (checked against QEMU 7.2). */
	pid_t self = getpid();
	char sock[128];
	scratch_path(sock, sizeof(sock), "vm.qmp");
	static const char *const comms[] = {"qemu-system-x86", "qemu-system-x86", "qemu-system-x86",
					    "qemu-system-x86"};
	const pid_t tids[] = {self, TID(1), TID(2), TID(3)};
	static const unsigned long flags[] = {0x400040, 0x400040, 0x400040, 0x400040};
	build_vm(self, sock, tids, comms, flags, 4);
	char cpus[256];
	snprintf(cpus, sizeof(cpus),
		 ">{\"return\": [{\"cpu-index\": 0, \"thread-id\": %d},"
		 " {\"cpu-index\": 3, \"thread-id\": %d}], \"id\": 3}\n",
		 (int)TID(2), (int)TID(3));
	const char *const steps[] = {GREETING, "<", ">{\"return\": {}, \"id\": 1}\n",
				     "<",      ">{\"return\": {}, \"id\": 2}\n",
				     "<",      cpus,
				     "<",      ">{\"return\": [], \"id\": 4}\n"};
	start_peer(sock, steps, ARRAY_SIZE(steps));

	const struct vm *vm = discover_synthetic(self);
	cr_assert_eq(vm->source, DISCOVERY_QMP);
	cr_assert_null(vm->name);
	cr_assert_eq(thread_of(vm, TID(2))->vcpu_index, 0);
	cr_assert_eq(thread_of(vm, TID(3))->vcpu_index, 3);
	cr_assert_eq(vm->n_unidentified_vcpus, 0,
		     "both vCPUs QEMU has were found, yet vCPU %d is reported unidentified",
		     vm->n_unidentified_vcpus ? vm->unidentified_vcpus[0] : -1);
	cr_assert_eq(thread_of(vm, TID(1))->kind, THREAD_EMULATOR,
		     "nothing is missing: the remaining thread is the emulator's");
}

Test(qmp_discovery, socket_of_another_process_is_not_trusted)
{
	/* the VM is our parent; the socket on its command line is answered by us */
	pid_t vm_pid = getppid();
	char sock[128];
	scratch_path(sock, sizeof(sock), "vm.qmp");
	static const char *const comms[] = {"qemu-system-x86", "CPU 0/KVM"};
	const pid_t tids[] = {vm_pid, TID(1)};
	static const unsigned long flags[] = {0x400040, 0x400040};
	build_vm(vm_pid, sock, tids, comms, flags, 2);
	const char *const steps[] = {GREETING, "<", ">{\"return\": {}, \"id\": 1}\n"};
	start_peer(sock, steps, ARRAY_SIZE(steps));

	const struct vm *vm = discover_synthetic(vm_pid);
	cr_assert_not_null(vm->qmp_error);
	cr_assert_not_null(strstr(vm->qmp_error, "belongs to another process"), "%s", vm->qmp_error);
	cr_assert_eq(vm->source, DISCOVERY_NAMES, "fell back to thread names");
	cr_assert_eq(thread_of(vm, TID(1))->kind, THREAD_VCPU);
}

/* vm_list_all: the monitors of all VMs are asked at once and share one deadline, so
 * three monitors that never answer cost one timeout, not three. */
Test(qmp_discovery, list_all_shares_one_deadline)
{
	snprintf(root, sizeof(root), "%s/root", scratch);
	mkdir(root, 0755);
	enum { N = 3 };
	pid_t listeners[N];
	char names[N][80];
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "kvmcg-unit-%d-%.8s-%d", (int)getpid(),
			 strrchr(scratch, '.') + 1, i);
		/* Each monitor's socket is a process of its own, which the fake VM's pid
		 * names (kvmcg talks to no socket another process holds): an abstract
		 * socket, reached as named, not through /proc/PID/root, where the kernel
		 * accepts and nobody greets. */
		listeners[i] = fork();
		cr_assert_geq(listeners[i], 0);
		if (listeners[i] == 0) {
			int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			memcpy(sa.sun_path + 1, names[i], strlen(names[i]));
			socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(names[i]));
			if (l < 0 || bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 4) < 0 ||
			    write(ready[1], "x", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		char x;
		cr_assert_eq(read(ready[0], &x, 1), 1, "listener %d is listening", i);
		pid_t pid = listeners[i];

		char cmdline[256], rel[64], link[512];
		int n = snprintf(cmdline, sizeof(cmdline),
				 "qemu-system-x86_64%c-name%cguest=busy%d%c-qmp%cunix:%s,server=on,wait=off,"
				 "abstract=on%c",
				 0, 0, i, 0, 0, names[i], 0);
		snprintf(rel, sizeof(rel), "proc/%d/cmdline", (int)pid);
		put(rel, cmdline, (size_t)n);
		snprintf(rel, sizeof(rel), "proc/%d/exe.stat", (int)pid);
		put(rel, "uid=0 gid=0 mode=0x81ed\n", 24);
		snprintf(link, sizeof(link), "%s/proc/%d/exe", root, (int)pid);
		cr_assert_eq(symlink("/usr/bin/qemu-system-x86_64", link), 0);
		put_task(pid, pid, "qemu-system-x86", 0x400040);
		put_task(pid, pid + 50, "CPU 0/KVM", 0x400040);
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/proc", root);
	proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	struct discover_opts o;
	discover_opts_init(&o, proc_fd);
	o.qmp_timeout_ms = 400;
	struct vm **vms = NULL;
	size_t n = 0;
	uint64_t t0 = now_ns();
	int r = vm_list_all(&o, &vms, &n);
	uint64_t ms = ms_since(t0);
	for (int i = 0; i < N; i++) {
		kill(listeners[i], SIGKILL);
		waitpid(listeners[i], NULL, 0);
	}
	close(ready[0]);
	close(ready[1]);
	cr_assert_eq(r, 0);
	cr_assert_eq(n, N, "every VM is listed, answered or not");
	cr_assert_geq(ms, 350, "took %llu ms: gave up before the deadline (%s)", (unsigned long long)ms,
		      n && vms[0]->qmp_error ? vms[0]->qmp_error : "-");
	cr_assert_lt(ms, 700, "took %llu ms: the monitors were waited for one after another",
		     (unsigned long long)ms);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(vms[i]->qmp_error, "VM %zu", i);
		cr_assert(strstr(vms[i]->qmp_error, "no answer in time"), "%s", vms[i]->qmp_error);
		char at[256];
		snprintf(at, sizeof(at), "@%s", names[i]); /* sorted by pid, as created */
		cr_assert_str_eq(vms[i]->qmp_socket, at);
		cr_assert_eq(vms[i]->source, DISCOVERY_NAMES, "fell back to the thread names");
	}
	vm_list_free(vms, n);
}
