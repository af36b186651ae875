// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "basic/util.h"

/* All of buf to fd: one write(2) unless the kernel takes less (pipes take up to
 * PIPE_BUF bytes atomically; a line longer than that may be split by the kernel,
 * never by us). */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report it */
		buf += n;
		len -= (size_t)n;
	}
}

void log_vprint(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
	int saved = errno;
	_cleanup_free_ char *text = NULL, *escaped = NULL, *line = NULL;
	text = vformat(fmt, ap);
	escaped = text ? str_escape(text) : NULL;
	if (!escaped || asprintf(&line, "%s%s\n", prefix, escaped) < 0)
		line = NULL;
	const char *out = line ? line : "kvmcg: out of memory (a message was lost)\n";
	if (f == stderr) {
		fflush(stderr);
		write_all(STDERR_FILENO, out, strlen(out));
	} else {
		fputs(out, f);
	}
	errno = saved;
}

static bool log_to_syslog, log_json, log_quiet;
static int log_err_fd = -1;

void log_errors_also_to(int fd)
{
	if (log_err_fd >= 0 && log_err_fd != fd)
		close(log_err_fd);
	log_err_fd = fd;
}

void log_setup(bool to_syslog, bool json)
{
	if (to_syslog && !log_to_syslog)
		openlog("kvmcg", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!to_syslog && log_to_syslog)
		closelog();
	log_to_syslog = to_syslog;
	log_json = json;
}

static const char *const level_names[] = {"info", "warning", "error"};

/* The JSON form of a line: {"time", "level", fields..., "message"}. NULL: no memory. */
static char *json_line(enum log_level level, const char *event, int pid, const char *vm, const char *policy,
		       const char *text)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + k, sizeof(when) - k, ".%03ldZ", ts.tv_nsec / 1000000);
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "level", json_object_new_string(level_names[level]));
	if (event)
		json_object_object_add(o, "event", json_object_new_string(event));
	if (pid > 0)
		json_object_object_add(o, "pid", json_object_new_int(pid));
	if (vm)
		json_object_object_add(o, "vm", json_object_new_string(vm));
	if (policy)
		json_object_object_add(o, "policy", json_object_new_string(policy));
	json_object_object_add(o, "message", json_object_new_string(text));
	char *line = NULL;
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									  JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		line = NULL;
	json_object_put(o);
	return line;
}

/* Every line to stderr (or syslog) goes through here. prefix is the text form's
 * ("kvmcg: ", "kvmcg: warning: ", ""); text is escaped already for the text form,
 * raw for JSON (which escapes it itself). */
static void emit(enum log_level level, const char *prefix, const char *event, int pid, const char *vm,
		 const char *policy, const char *text)
{
	_cleanup_free_ char *escaped = log_json ? NULL : str_escape(text), *line = NULL;
	if (level == LOG_LEVEL_ERROR && log_err_fd >= 0) {
		_cleanup_free_ char *plain = str_escape(text), *l = NULL;
		if (plain && asprintf(&l, "kvmcg: %s\n", plain) >= 0)
			write_all(log_err_fd, l, strlen(l));
	}
	if (log_json) {
		line = json_line(level, event, pid, vm, policy, text);
	} else if (escaped && log_to_syslog) {
		static const int prio[] = {LOG_INFO, LOG_WARNING, LOG_ERR};
		syslog(prio[level], "%s", escaped);
		return;
	} else if (escaped && asprintf(&line, "%s%s\n", prefix, escaped) < 0) {
		line = NULL;
	}
	const char *out = line ? line : "kvmcg: out of memory (a message was lost)\n";
	if (log_to_syslog) {
		syslog(LOG_ERR, "%s", out);
		return;
	}
	fflush(stderr);
	write_all(STDERR_FILENO, out, strlen(out));
}

__attribute__((format(printf, 3, 0))) static void vlog(enum log_level level, const char *prefix, const char *fmt,
							va_list ap)
{
	int saved = errno;
	_cleanup_free_ char *text = vformat(fmt, ap);
	emit(level, prefix, NULL, 0, NULL, NULL, text ? text : "out of memory (a message was lost)");
	errno = saved;
}

void log_event(enum log_level level, const char *event, int pid, const char *vm, const char *policy,
	       const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *text = vformat(fmt, ap), *full = NULL;
	va_end(ap);
	if (!text)
		return;
	if (log_json) {
		emit(level, "", event, pid, vm, policy, text);
	} else {
		/* "pid 812 (web1): pinned: ..." */
		if (pid > 0 && asprintf(&full, "pid %d%s%s%s: %s: %s", pid, vm ? " (" : "", vm ? vm : "", vm ? ")" : "",
					event ? event : "", text) < 0)
			full = NULL;
		else if (pid <= 0 && asprintf(&full, "%s: %s", event ? event : "", text) < 0)
			full = NULL;
		emit(level, level == LOG_LEVEL_WARNING ? "kvmcg: warning: " : "kvmcg: ", event, pid, vm, policy,
		     full ? full : text);
	}
	errno = saved;
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, "kvmcg: ", fmt, ap);
	va_end(ap);
}

void log_set_quiet(bool quiet)
{
	log_quiet = quiet;
}

void log_info(const char *fmt, ...)
{
	if (log_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_INFO, "kvmcg: ", fmt, ap);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	if (log_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_WARNING, "kvmcg: warning: ", fmt, ap);
	va_end(ap);
}

void log_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, "", fmt, ap);
	va_end(ap);
}
