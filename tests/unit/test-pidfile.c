// SPDX-License-Identifier: GPL-2.0-or-later
/* pidfile: the content, and the lock that tells whether the content is current. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/pidfile.h"
#include "basic/util.h"

Test(pidfile_parse, valid)
{
	static const struct {
		const char *text;
		pid_t pid;
	} ok[] = {{"1234\n", 1234}, {"1234", 1234}, {"1", 1}, {"4194304\n", 4194304}};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		pid_t p = 0;
		cr_assert_eq(pidfile_parse(ok[i].text, &p), 0, "\"%s\"", ok[i].text);
		cr_assert_eq(p, ok[i].pid);
	}
}

Test(pidfile_parse, invalid)
{
	static const char *const bad[] = {"",       "\n",         "abc\n",       "12 34\n",
					  " 1234\n", "1234 \n",   "1234\n\n",    "+1234",
					  "-1\n",   "0\n",        "4194305\n",   "12345678901\n",
					  "0x10\n", "1234\r\n",   "99999999999999999999\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		pid_t p = 777;
		cr_assert_eq(pidfile_parse(bad[i], &p), -EBADMSG, "\"%s\"", bad[i]);
		cr_assert_eq(p, 777);
	}
}

/* ---- files and locks ---------------------------------------------------------------- */

static char dir[64];
static pid_t holder = -1;
static int keep_alive = -1; /* write end: the holder lives until it is closed */

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void make_tmpdir(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "/tmp/kvmcg-unit-%d-%s.XXXXXX", (int)getppid(), what);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir), "pidfile");
}

static void stop_holder(void)
{
	if (keep_alive >= 0) {
		close(keep_alive);
		keep_alive = -1;
	}
	if (holder > 0) {
		int st;
		cr_assert_eq(waitpid(holder, &st, 0), holder);
		holder = -1;
	}
}

static void teardown(void)
{
	if (keep_alive >= 0)
		close(keep_alive);
	keep_alive = -1;
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	holder = -1;
	static const char *const names[] = {"vm.pid", "fifo", "subdir"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) < 0 && errno == EISDIR)
			rmdir(p);
		rmdir(p);
	}
	rmdir(dir);
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* Forks a child that takes a POSIX write lock on path (as QEMU's -pidfile does with
 * lockf) and writes `content`, or its own pid when content is NULL. Returns once the
 * lock is held. */
static pid_t start_holder(const char *path, const char *content)
{
	int ready[2], keep[2];
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(keep, O_CLOEXEC), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(ready[0]);
		close(keep[1]);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0 || ftruncate(fd, 0) < 0)
			_exit(2);
		char buf[32];
		int n = content ? snprintf(buf, sizeof(buf), "%s", content)
				: snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		if (write(fd, buf, (size_t)n) != n || write(ready[1], "x", 1) != 1)
			_exit(3);
		char c;
		while (read(keep[0], &c, 1) > 0) /* until the parent closes its end */
			;
		_exit(0);
	}
	close(ready[1]);
	close(keep[0]);
	holder = pid;
	keep_alive = keep[1];
	char c;
	ssize_t n = read(ready[0], &c, 1);
	close(ready[0]);
	cr_assert_eq(n, 1, "the lock holder did not start");
	return pid;
}

TestSuite(pidfile, .init = setup, .fini = teardown, .timeout = 20);

Test(pidfile, locked_by_its_writer)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	pid_t child = start_holder(path, NULL);
	pid_t pid = 0, h = -1;
	cr_assert_eq(pidfile_read_locked(path, &pid, &h), 0);
	cr_assert_eq(pid, child);
	cr_assert_eq(h, -1, "the holder is reported only on a mismatch");
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), 0, "ret_holder is optional");
}

Test(pidfile, stale_after_the_writer_exits)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	pid_t child = start_holder(path, NULL);
	pid_t pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), 0);
	cr_assert_eq(pid, child);
	stop_holder(); /* the child exits; the kernel drops its lock */
	pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -ESTALE);
	cr_assert_eq(pid, 0);

	/* the same content, never locked */
	char text[32];
	snprintf(text, sizeof(text), "%d\n", (int)getpid());
	write_text(path, text);
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -ESTALE,
		     "a live pid in an unlocked file is still stale");
}

Test(pidfile, content_is_not_a_pid)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	write_text(path, "hello\n");
	pid_t pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EBADMSG);
	write_text(path, "");
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EBADMSG, "empty");

	/* locked, but garbage all the same */
	start_holder(path, "not-a-pid\n");
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EBADMSG);
	cr_assert_eq(pid, 0);
}

Test(pidfile, long_content)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	char text[200];
	memset(text, '1', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	write_text(path, text);
	pid_t pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EBADMSG);
}

Test(pidfile, directory)
{
	char path[128];
	path_of(path, sizeof(path), "subdir");
	cr_assert_eq(mkdir(path, 0755), 0);
	pid_t pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EISDIR);
}

Test(pidfile, missing)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	pid_t pid = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -ENOENT);
}

Test(pidfile, locked_by_another_pid)
{
	char path[128];
	path_of(path, sizeof(path), "vm.pid");
	/* the content names this test process; the lock is the child's */
	char text[32];
	snprintf(text, sizeof(text), "%d\n", (int)getpid());
	pid_t child = start_holder(path, text);
	pid_t pid = 0, h = 0;
	cr_assert_eq(pidfile_read_locked(path, &pid, &h), -EUCLEAN);
	cr_assert_eq(h, child);
	cr_assert_eq(pid, 0, "no pid is returned when the file lies");
	cr_assert_eq(pidfile_read_locked(path, &pid, NULL), -EUCLEAN, "ret_holder is optional");
}

/* A FIFO given as a pidfile must be refused, not waited on: open(O_RDONLY) of a FIFO
 * blocks until a writer comes. The call runs in a child so a hang fails the test
 * instead of stalling it. */
Test(pidfile, fifo_is_refused_without_blocking)
{
	char path[128];
	path_of(path, sizeof(path), "fifo");
	cr_assert_eq(mkfifo(path, 0644), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(100);
		pid_t p = 0;
		int r = pidfile_read_locked(path, &p, NULL);
		_exit(r == -EBADMSG ? 0 : r < 0 && -r < 100 ? -r : 101);
	}
	holder = pid; /* reaped by the teardown if an assertion fails */
	int st = 0;
	pid_t w = 0;
	for (int i = 0; i < 50 && w == 0; i++) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == 0)
			usleep(10000);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		holder = -1;
		cr_assert_fail("pidfile_read_locked() on a FIFO still blocks after 0.5 s (open(2) "
			       "without O_NONBLOCK waits for a writer)");
	}
	holder = -1;
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "pidfile_read_locked() on a FIFO gave errno %d, "
					 "expected EBADMSG",
		     WEXITSTATUS(st));
}
