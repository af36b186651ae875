// SPDX-License-Identifier: GPL-2.0-or-later
/* The audit trail's line and its way to syslog. */
#include "basic/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "basic/util.h"

#define AUDIT_SOCKET "/dev/log"

/* " (NAME)" of a user, escaped, or "" when the name is unknown. */
static void say_user_name(FILE *f, const char *name)
{
	_cleanup_free_ char *e = name ? str_escape(name) : NULL;
	if (e)
		fprintf(f, " (%s)", e);
}

static void format_who(FILE *f, const struct audit_who *w)
{
	fprintf(f, "by uid %u", (unsigned)w->uid);
	say_user_name(f, w->user);
	if (w->loginuid == AUDIT_UID_UNSET) {
		fputs(", loginuid unset", f);
	} else {
		fprintf(f, ", loginuid %u", (unsigned)w->loginuid);
		say_user_name(f, w->login_user);
	}
	_cleanup_free_ char *sudo = w->sudo_user && *w->sudo_user ? str_escape(w->sudo_user) : NULL;
	if (sudo)
		fprintf(f, ", SUDO_USER %s", sudo);
}

char *audit_format(const struct audit_change *c, const struct audit_who *w)
{
	_cleanup_free_ char *vm = c->vm ? str_escape(c->vm) : NULL;
	_cleanup_free_ char *policy = c->policy ? str_escape(c->policy) : NULL;
	_cleanup_free_ char *what = str_escape(c->what ? c->what : "");
	_cleanup_free_ char *partial = c->partial ? str_escape(c->partial) : NULL;
	if ((c->vm && !vm) || (c->policy && !policy) || !what || (c->partial && !partial))
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "pid %d", c->pid);
	if (vm)
		fprintf(f, " (%s)", vm);
	fprintf(f, ": %s", c->command ? c->command : "?");
	if (policy)
		fprintf(f, ", policy %s", policy);
	fprintf(f, ": %s", *what ? what : "no pin");
	if (c->memory_moved)
		fprintf(f, "; memory moved %.1f MiB", (double)c->memory_moved / (1024.0 * 1024.0));
	if (partial)
		fprintf(f, "; partial: %s", partial);
	fputs("; ", f);
	format_who(f, w);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int audit_priority(const struct audit_change *c)
{
	return LOG_DAEMON | (c->partial ? LOG_WARNING : LOG_INFO);
}

/* The name of uid in the user database, malloc'd, or NULL (unknown, or no memory: the
 * line then gives the number alone). */
static char *name_of(uid_t uid)
{
	char *name = NULL;
	(void)user_name(uid, &name);
	return name;
}

static uid_t read_loginuid(void)
{
	_cleanup_free_ char *s = NULL;
	size_t len = 0;
	unsigned long v;
	if (read_file_at(AT_FDCWD, "/proc/self/loginuid", &s, &len) < 0 || !len)
		return AUDIT_UID_UNSET;
	char *end = NULL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || v > (uid_t)-1)
		return AUDIT_UID_UNSET;
	return (uid_t)v;
}

const struct audit_who *audit_who_self(void)
{
	static struct audit_who who;
	static bool have_read;
	if (!have_read) {
		who.uid = getuid();
		who.user = name_of(who.uid);
		who.loginuid = read_loginuid();
		who.login_user = who.loginuid == AUDIT_UID_UNSET ? NULL : name_of(who.loginuid);
		who.sudo_user = getenv("SUDO_USER");
		have_read = true;
	}
	return &who;
}

/* "<PRI>Mmm dd hh:mm:ss kvmcg[PID]: " as syslog(3) begins its datagrams (RFC 3164),
 * the month in English whatever the locale. */
static int header(char *buf, size_t size, int priority)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	if (!localtime_r(&now, &tm))
		return snprintf(buf, size, "<%d>kvmcg[%d]: ", priority, (int)getpid());
	return snprintf(buf, size, "<%d>%s %2d %02d:%02d:%02d kvmcg[%d]: ", priority, months[tm.tm_mon % 12],
			tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid());
}

int audit_log(const struct audit_change *c)
{
	_cleanup_free_ char *line = audit_format(c, audit_who_self());
	if (!line)
		return -ENOMEM;
	char head[96];
	int h = header(head, sizeof(head), audit_priority(c));
	_cleanup_free_ char *msg = NULL;
	if (h < 0 || asprintf(&msg, "%s%s", head, line) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = AUDIT_SOCKET};
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}
