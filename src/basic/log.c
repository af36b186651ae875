// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprint(stderr, "kvmcg: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprint(stderr, "kvmcg: ", fmt, ap);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprint(stderr, "kvmcg: warning: ", fmt, ap);
	va_end(ap);
}

void log_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprint(stderr, "", fmt, ap);
	va_end(ap);
}
