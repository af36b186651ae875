// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg watch: the daemon. Its decisions are core/watch.c's; here are the event
 * sources (the process events connector, inotify on the policy directory, signals,
 * the reconcile interval), the one-instance lock, daemonizing and the log. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd-watch.h"

#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "core/watch.h"
#include "kernel/proc-events.h"
#include "state/state.h"
#include "tune/policy-dir.h"

enum {
	OPT_WATCH_POLICY_DIR = 0x300,
	OPT_WATCH_INTERVAL,
	OPT_WATCH_FOREGROUND,
	OPT_WATCH_LOG_FORMAT,
	OPT_WATCH_PIDFILE,
	OPT_WATCH_VERBOSE,
	OPT_WATCH_LOCK_TIMEOUT,
};

/* After a change in the policy directory, how long to wait for more (an editor
 * writes a temporary file and renames it) before reading it again: that long after
 * the last change, and at most WATCH_RELOAD_MAX_MS after the first, so that a file
 * rewritten all the time is still read. */
#define WATCH_RELOAD_DELAY_MS 100
#define WATCH_RELOAD_MAX_MS 1000

struct watch_args {
	const char *dir;
	double interval_s;
	bool foreground;
	bool json;
	bool verbose;
	const char *pidfile;
	const char *log_format; /* as given, to refuse --json beside text */
	int lock_timeout_ms;
};

static void watch_help(void)
{
	fputs("Usage:\n"
	      " kvmcg watch [--policy-dir DIR] [--reconcile-interval SECONDS] [--foreground]\n"
	      "             [--log-format text|json] [--json] [--pidfile FILE] [--verbose]\n"
	      "             [--lock-timeout MS] [--no-syslog] [--no-qmp] [--qmp-timeout MS]\n"
	      "\n"
	      "The daemon: keep every VM as its policy asks, as it happens. A QEMU that starts\n"
	      "is pinned as apply would pin it once its vCPUs can be identified; a vCPU or\n"
	      "iothread added later is pinned when QEMU names it (or, without debug-threads,\n"
	      "20 ms after its thread appears); a VM that exits has its cgroups and record\n"
	      "removed. Events come from the kernel's process events connector; nothing polls.\n"
	      "Every SECONDS a reconcile rescans every VM and puts back what events cannot\n"
	      "see (an affinity or cgroup someone changed), saying what it found and what it\n"
	      "set. A change in DIR is read 100 ms after the last one (1 s after the first at\n"
	      "most): a broken file is said in check's FILE:LINE:COL form and its last good\n"
	      "version stays in force. SIGHUP reads DIR again; SIGTERM and SIGINT stop the\n"
	      "daemon and leave every VM pinned. A VM that no policy matches is never\n"
	      "touched. One instance per host.\n"
	      "\n"
	      "Options:\n"
	      "     --policy-dir <dir>      where the policies are (default " POLICY_DIR_DEFAULT ")\n"
	      "     --reconcile-interval <seconds>  between rescans (default 60; 0: never)\n"
	      "     --foreground            stay in the foreground and log to stderr (else\n"
	      "                             detach and log to syslog)\n"
	      "     --log-format text|json  one line per event as text (default) or JSON\n"
	      "     --json                  the same as --log-format json\n"
	      "     --pidfile <file>        write the daemon's pid there (removed at exit; a\n"
	      "                             file that holds anything else is left alone)\n"
	      "     --verbose               also log the VMs a rescan found as they should be\n"
	      "     --lock-timeout <ms>     wait this long for another kvmcg run on a VM (5000)\n"
	      "     --no-syslog             do not log each change to a VM to syslog (the\n"
	      "                             audit trail, kvmcg(8) AUDIT TRAIL; the daemon's\n"
	      "                             own log is as --foreground says)\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help                  display this help\n"
	      "\n"
	      "Exit status: 0 stopped by SIGTERM or SIGINT; 1 another instance runs (it is\n"
	      "named), the kernel's process events cannot be had, or --pidfile cannot be\n"
	      "written; 2 a usage error or an unreadable policy directory at start. Errors\n"
	      "that stop it from starting are said on stderr even when it detaches.\n"
	      "See kvmcg(8) and kvmcg.policy(5).\n",
	      stdout);
}

static int watch_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct watch_args *a = userdata;
	switch (opt) {
	case OPT_WATCH_POLICY_DIR:
		a->dir = arg;
		return 1;
	case OPT_WATCH_INTERVAL: {
		char *end;
		errno = 0;
		double s = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(s) || s < 0 || s > 86400)
			return -cli_usage_error(c, "--reconcile-interval '%s': expected seconds from 0 to 86400 (0.5 for half a second; 0: never)", arg);
		a->interval_s = s;
		return 1;
	}
	case OPT_WATCH_FOREGROUND:
		a->foreground = true;
		return 1;
	case OPT_WATCH_LOG_FORMAT:
		if (strcmp(arg, "text") && strcmp(arg, "json"))
			return -cli_usage_error(c, "--log-format '%s': expected text or json", arg);
		a->json = !strcmp(arg, "json");
		a->log_format = arg;
		return 1;
	case OPT_WATCH_PIDFILE:
		if (!*arg)
			return -cli_usage_error(c, "--pidfile: an empty path");
		a->pidfile = arg;
		return 1;
	case OPT_WATCH_VERBOSE:
		a->verbose = true;
		return 1;
	case OPT_WATCH_LOCK_TIMEOUT:
		return cli_lock_timeout_option(c, arg, &a->lock_timeout_ms);
	default:
		return 0;
	}
}

static void say(const struct watch_report *r, void *userdata)
{
	(void)userdata;
	static const enum log_level levels[] = {
		[WATCH_INFO] = LOG_LEVEL_INFO, [WATCH_WARNING] = LOG_LEVEL_WARNING, [WATCH_ERROR] = LOG_LEVEL_ERROR};
	log_event(levels[r->level], watch_event_name(r->event), (int)r->pid, r->vm, r->policy, "%s", r->message);
}

/* The one-instance lock: 0 and *ret_fd (held, with our pid to be written), or
 * EXIT_FAILURE_RUNTIME after saying who holds it. */
static int take_lock(int *ret_fd)
{
	_cleanup_close_ int dir = state_dir_open(true);
	if (dir < 0) {
		log_error("%s", err_get() ? err_get() : "cannot open the state directory");
		return EXIT_FAILURE_RUNTIME;
	}
	pid_t holder;
	int r = state_watch_lock(dir, ret_fd, &holder);
	if (r == -EWOULDBLOCK) {
		char pid[16] = "unknown";
		if (holder > 0)
			snprintf(pid, sizeof(pid), "%d", (int)holder);
		log_error("kvmcg watch is already running (pid %s; it holds %s/%s)", pid, state_dir_path(),
			  STATE_WATCH_LOCK);
		return EXIT_FAILURE_RUNTIME;
	}
	if (r < 0) {
		log_error("cannot lock %s/%s: %s", state_dir_path(), STATE_WATCH_LOCK, strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	return 0;
}

/* Whether text is what a pidfile holds: a pid in decimal, a newline after it or not. */
static bool pid_text(const char *text)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	return !errno && end != text && v > 0 && v <= 4194304 && (!*end || !strcmp(end, "\n"));
}

/* --pidfile, opened before the daemon detaches, so that a path that cannot be
 * written is said on the caller's terminal: created with O_NOFOLLOW (a link planted
 * there is refused); a file that is there is taken over only when it is empty or
 * holds a pid (a daemon's before this one), never a file named by mistake. 0 and
 * *ret_fd, or EXIT_FAILURE_RUNTIME after saying why. */
static int pidfile_open(const char *path, int *ret_fd, bool *ret_created)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	*ret_created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("--pidfile %s: %s", path, errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}
	char buf[32];
	ssize_t n = S_ISREG(st.st_mode) ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n < 0 || (n > 0 && (buf[n] = '\0', !pid_text(buf)))) {
		log_error("--pidfile %s: %s; refusing to overwrite it", path,
			  !S_ISREG(st.st_mode) ? "not a regular file"
			  : n < 0	      ? strerror(errno)
					      : "it holds something else than a pid");
		return EXIT_FAILURE_RUNTIME;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0)
		return -errno;
	return pwrite(fd, buf, (size_t)n, 0) == n ? 0 : -EIO;
}

/* At exit, or when the daemon could not start: removed when it still holds this
 * daemon's pid (not if someone wrote another since), or when this run made it and
 * wrote nothing into it yet. */
static void pidfile_remove(const char *path, int fd, bool created)
{
	char buf[32], mine[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	snprintf(mine, sizeof(mine), "%d\n", (int)getpid());
	if ((n > 0 && (buf[n] = '\0', !strcmp(buf, mine))) || (n == 0 && created))
		(void)unlink(path);
}

/* Detaches: the parent waits until the daemon is watching (or has failed) and
 * exits with its status; the daemon goes on in a new session with stdin, stdout and
 * stderr on /dev/null, and its errors until then also on the caller's stderr (kept
 * as *ret_errors; log.h log_errors_also_to()). Returns in the daemon with *ret_ready
 * the pipe to report on. */
static int daemonize(int *ret_ready, int *ret_errors)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	*ret_errors = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		unsigned char status = 1;
		ssize_t n;
		do
			n = read(p[0], &status, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 ? status : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -errno;
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
	*ret_ready = p[1];
	return 0;
}

static void report_ready(int *fd, unsigned char status)
{
	log_errors_also_to(-1); /* the caller's stderr, kept until now: closed */
	if (*fd < 0)
		return;
	(void)!write(*fd, &status, 1);
	close(*fd);
	*fd = -1;
}

/* The end of a daemon that stops (or never started): its pidfile and the lock go
 * before the status reaches a caller waiting for the start, so that a watch it starts
 * next is not told one is running. */
static void let_go(const char *pidfile, int pid_fd, bool pidfile_created, int *lock_fd, int *ready,
		   unsigned char status)
{
	if (pid_fd >= 0)
		pidfile_remove(pidfile, pid_fd, pidfile_created);
	closep(lock_fd);
	*lock_fd = -1;
	report_ready(ready, status);
}

struct loop {
	struct watch *w;
	struct proc_events *pe;
	int inotify_fd, signal_fd;
	int dir_wd, parent_wd; /* inotify watches of the directory (-1: none, it is gone)
				* and of its parent (for one made again under the name) */
	const char *dir;
	char *parent, *base; /* the directory's parent and name, for parent_wd's events */
	uint64_t interval_ns; /* 0: no reconcile */
	uint64_t next_reconcile, reload_due;
	uint64_t reload_latest; /* the first change's time + WATCH_RELOAD_MAX_MS */
};

static int on_proc_event(const struct proc_ev *ev, void *userdata)
{
	watch_on_event(userdata, ev);
	return 0;
}

/* Watches the policy directory (its files' changes, its own removal) and its parent
 * (the directory made again, or moved back, under its name). The parent's watch
 * may fail (a directory at the top, unreadable): then only SIGHUP and the
 * reconcile find a directory made again. Returns the directory's watch or -errno. */
static int add_dir_watch(struct loop *l)
{
	int wd = inotify_add_watch(l->inotify_fd, l->dir,
				   IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB |
					   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW);
	int r = wd < 0 ? -errno : wd;
	l->dir_wd = wd < 0 ? -1 : wd;
	if (l->parent_wd < 0 && l->parent)
		l->parent_wd = inotify_add_watch(l->inotify_fd, l->parent,
						 IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
	return r;
}

/* A change in the directory at now (ns): read it WATCH_RELOAD_DELAY_MS after the
 * last one, WATCH_RELOAD_MAX_MS after the first at the latest. */
static void reload_later(struct loop *l, uint64_t now)
{
	if (l->reload_due == UINT64_MAX)
		l->reload_latest = now + (uint64_t)WATCH_RELOAD_MAX_MS * 1000000u;
	uint64_t due = now + (uint64_t)WATCH_RELOAD_DELAY_MS * 1000000u;
	l->reload_due = due < l->reload_latest ? due : l->reload_latest;
}

/* Reads the policies again, and applies them. */
static void reload(struct loop *l, const char *why)
{
	l->reload_due = UINT64_MAX;
	/* a directory replaced (or made again) is watched anew */
	(void)add_dir_watch(l);
	if (watch_load_policies(l->w) == 0)
		(void)watch_reconcile(l->w, why);
}

/* Drains the inotify fd; true when something in the directory changed, or it was
 * made again (an entry of its name in the parent). */
static bool drain_inotify(struct loop *l)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	for (;;) {
		ssize_t n = read(l->inotify_fd, buf, sizeof(buf));
		if (n <= 0)
			return changed;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			if (ev->wd == l->parent_wd)
				changed |= ev->len && l->base && !strcmp(ev->name, l->base);
			else
				changed = true; /* the directory's own, or IN_Q_OVERFLOW (wd -1) */
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Returns true to go on, false to stop (SIGTERM, SIGINT). */
static bool drain_signals(struct loop *l)
{
	struct signalfd_siginfo si;
	while (read(l->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_event(LOG_LEVEL_INFO, "policy", 0, NULL, NULL, "SIGHUP: reading %s again", l->dir);
			reload(l, "SIGHUP");
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_event(LOG_LEVEL_INFO, "stop", 0, NULL, NULL, "%s: stopping; every VM stays pinned",
				  strsignal((int)si.ssi_signo));
			return false;
		}
	}
	return true;
}

static int poll_timeout_ms(const struct loop *l, uint64_t now)
{
	uint64_t t = watch_next_due(l->w);
	if (l->next_reconcile < t)
		t = l->next_reconcile;
	if (l->reload_due < t)
		t = l->reload_due;
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	uint64_t ms = (t - now + 999999) / 1000000;
	return ms > 3600000 ? 3600000 : (int)ms;
}

static int run_loop(struct loop *l)
{
	for (;;) {
		struct pollfd fds[3] = {
			{.fd = proc_events_fd(l->pe), .events = POLLIN},
			{.fd = l->inotify_fd, .events = POLLIN},
			{.fd = l->signal_fd, .events = POLLIN},
		};
		int r = poll(fds, 3, poll_timeout_ms(l, now_ns()));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && (fds[2].revents & POLLIN) && !drain_signals(l))
			return 0;
		if (r > 0 && (fds[0].revents & POLLIN)) {
			int n = proc_events_read(l->pe, on_proc_event, l->w);
			if (n == -ENOBUFS) {
				log_event(LOG_LEVEL_WARNING, "lost-events", 0, NULL, NULL,
					  "the kernel dropped process events (its buffer overflowed): rescanning every VM");
				(void)watch_reconcile(l->w, "lost events");
			}
		}
		if (r > 0 && (fds[1].revents & POLLIN) && drain_inotify(l))
			reload_later(l, now_ns());
		uint64_t now = now_ns();
		if (l->reload_due <= now)
			reload(l, "policy change");
		if (l->next_reconcile <= now && l->dir_wd < 0) {
			reload(l, "interval"); /* the directory is gone: made again meanwhile? */
			l->next_reconcile = now_ns() + l->interval_ns;
		} else if (l->next_reconcile <= now) {
			(void)watch_reconcile(l->w, "interval");
			l->next_reconcile = now_ns() + l->interval_ns;
		}
		watch_run_due(l->w, now_ns());
	}
}

static int open_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The event sources: the process events connector first, then (the caller) the
 * scan, so that a VM that starts in between is seen twice, never missed; inotify on
 * the policy directory; the signals. EXIT_OK, or the exit status after saying why. */
static int open_sources(struct loop *l)
{
	if (path_split(l->dir, &l->parent, &l->base) < 0) {
		log_error("out of memory");
		return EXIT_FAILURE_RUNTIME;
	}
	int r = proc_events_open(0, &l->pe);
	if (r < 0) {
		log_error("cannot listen to the kernel's process events: %s%s", strerror(-r),
			  r == -EPROTONOSUPPORT || r == -ENODEV ? " (a kernel without CONFIG_PROC_EVENTS)" : "");
		return EXIT_FAILURE_RUNTIME;
	}
	l->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	l->signal_fd = open_signals();
	if (l->inotify_fd < 0 || l->signal_fd < 0) {
		log_error("cannot set up inotify or signals: %s", strerror(l->inotify_fd < 0 ? errno : -l->signal_fd));
		return EXIT_FAILURE_RUNTIME;
	}
	if ((r = add_dir_watch(l)) < 0) {
		log_error("%s: %s", l->dir, strerror(-r));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int run_watch(struct cli *c, const struct watch_args *a)
{
	c->discover.placement_later = true;
	const struct txn_env env = cli_txn_env(c);
	_cleanup_close_ int lock_fd = -1;
	int rc = take_lock(&lock_fd);
	if (rc)
		return rc;
	int ready = -1, errors = -1, r;
	_cleanup_close_ int pid_fd = -1;
	/* a relative --pidfile is the caller's, not the daemon's (which works in /) */
	_cleanup_free_ char *pidfile = NULL;
	if (a->pidfile && (r = path_absolute(a->pidfile, &pidfile)) < 0) {
		log_error("--pidfile %s: cannot tell the working directory: %s", a->pidfile, strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	bool pidfile_created = false;
	if (pidfile && (rc = pidfile_open(pidfile, &pid_fd, &pidfile_created)) != 0)
		return rc;
	if (!a->foreground) {
		r = daemonize(&ready, &errors);
		if (r < 0) {
			log_error("cannot detach: %s", strerror(-r));
			let_go(pidfile, pid_fd, pidfile_created, &lock_fd, &ready, EXIT_FAILURE_RUNTIME);
			return EXIT_FAILURE_RUNTIME;
		}
		log_setup(true, a->json);
		log_errors_also_to(errors);
		c->discover.self = getpid();
	}
	if ((r = state_watch_set_pid(lock_fd, getpid())) < 0)
		log_warning("cannot write the pid into the lock file: %s", strerror(-r));
	if (pid_fd >= 0 && (r = pidfile_write(pid_fd)) < 0) {
		log_error("--pidfile %s: %s", pidfile, strerror(-r));
		let_go(pidfile, pid_fd, pidfile_created, &lock_fd, &ready, EXIT_FAILURE_RUNTIME);
		return EXIT_FAILURE_RUNTIME;
	}

	struct loop l = {.dir = a->dir ? a->dir : POLICY_DIR_DEFAULT, .inotify_fd = -1, .signal_fd = -1,
			 .dir_wd = -1, .parent_wd = -1, .reload_due = UINT64_MAX, .next_reconcile = UINT64_MAX};
	struct watch_config cfg = {.policy_dir = l.dir, .trust = geteuid() == 0, .lock_timeout_ms = a->lock_timeout_ms,
				   .verbose = a->verbose, .say = say};
	rc = open_sources(&l);
	if (rc != EXIT_OK)
		goto out;
	rc = EXIT_FAILURE_RUNTIME;
	if (watch_new(&env, &cfg, &l.w) < 0) {
		log_error("out of memory");
		goto out;
	}
	/* a [Memory] policy measures the VM's memory with its backends' sizes */
	c->discover.want_memdevs = true;
	c->discover.qmp_wanted = watch_wants_qmp;
	c->discover.qmp_wanted_data = l.w;
	if (watch_load_policies(l.w) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	(void)watch_reconcile(l.w, "start");
	l.interval_ns = (uint64_t)(a->interval_s * 1e9 + 0.5);
	l.next_reconcile = l.interval_ns ? now_ns() + l.interval_ns : UINT64_MAX;
	log_event(LOG_LEVEL_INFO, "start", 0, NULL, NULL,
		  "watching (pid %d): %zu VMs managed, policies from %s, process events %s, reconcile %s",
		  (int)getpid(), watch_n_managed(l.w), l.dir,
		  proc_events_kernel_filters(l.pe) ? "filtered by the kernel" : "filtered here",
		  l.interval_ns ? "on" : "off");
	report_ready(&ready, 0);
	r = run_loop(&l);
	if (r < 0)
		log_error("the event loop failed: %s", strerror(-r));
	rc = r < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
out:
	watch_free(l.w);
	proc_events_close(l.pe);
	if (l.inotify_fd >= 0)
		close(l.inotify_fd);
	if (l.signal_fd >= 0)
		close(l.signal_fd);
	free(l.parent);
	free(l.base);
	let_go(pidfile, pid_fd, pidfile_created, &lock_fd, &ready, (unsigned char)rc);
	return rc;
}

static const struct option watch_options[] = {
	CLI_LIVE_OPTIONS,
	{"policy-dir", required_argument, NULL, OPT_WATCH_POLICY_DIR},
	{"reconcile-interval", required_argument, NULL, OPT_WATCH_INTERVAL},
	{"foreground", no_argument, NULL, OPT_WATCH_FOREGROUND},
	{"log-format", required_argument, NULL, OPT_WATCH_LOG_FORMAT},
	{"pidfile", required_argument, NULL, OPT_WATCH_PIDFILE},
	{"verbose", no_argument, NULL, OPT_WATCH_VERBOSE},
	{"lock-timeout", required_argument, NULL, OPT_WATCH_LOCK_TIMEOUT},
	CLI_CHANGE_OPTIONS,
	{0},
};
const struct cli_command watch_command = {
	.options = watch_options, .help = watch_help, .extra = watch_option};

int cmd_watch(int argc, char **argv)
{
	struct watch_args wa = {.interval_s = 60};
	struct cli_command cmd = watch_command;
	cmd.userdata = &wa;
	struct cli c = {.command = "watch", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	wa.json = wa.json || c.json;
	if (c.json && wa.log_format && !strcmp(wa.log_format, "text"))
		rc = cli_usage_error(&c, "--json and --log-format text: one log format");
	else if (c.sysroot)
		rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to watch there");
	else if (!(rc = cli_require_root(&c)) && (rc = cli_open_roots(&c)) == 0) {
		log_setup(false, wa.json);
		rc = run_watch(&c, &wa);
	}
	cli_done(&c);
	return rc;
}
