/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one printer of diagnostics. Every message kvmcg writes to standard error goes
 * through here, as exactly one line:
 *   "kvmcg: " TEXT "\n"            log_error(), and log_info() for what a command
 *                                  says about its progress (kvmcg run)
 *   "kvmcg: warning: " TEXT "\n"   log_warning()
 *   TEXT "\n"                      log_line(), for lines that carry their own
 *                                  "FILE:LINE:COL: " prefix (policy diagnostics)
 * TEXT is the formatted message with every control byte escaped by str_escape()
 * (a newline becomes \x0a, ESC \x1b), so a name or path chosen by someone else can
 * neither forge a second line nor drive a terminal. Each line goes out in a single
 * write(2), so the lines of concurrent runs sharing a log never interleave. Library
 * code does not call these: it returns an error and may leave a sentence (err.h);
 * the command prints. */
#ifndef KVMCG_LOG_H
#define KVMCG_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

__attribute__((format(printf, 1, 2))) void log_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warning(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...);

/* -q: from now on log_info() and log_warning() say nothing; errors still go out. */
void log_set_quiet(bool quiet);

/* The same line as log_error() (prefix "kvmcg: ") or log_line() (prefix ""), written
 * to f instead: stderr gets the single write, any other stream (stdout, a memory
 * stream in tests) a fputs. */
__attribute__((format(printf, 3, 0))) void log_vprint(FILE *f, const char *prefix, const char *fmt,
						      va_list ap);

/* Where the lines above go from now on, for a daemon (kvmcg watch): to stderr as
 * above (the default), or to syslog(3) (ident "kvmcg", facility LOG_DAEMON, the
 * level as priority, TEXT without the "kvmcg: " prefix); and in what form: the text
 * above, or with json one JSON object per line, {"time": ISO 8601 UTC with
 * milliseconds, "level": "info"|"warning"|"error", "message": TEXT} plus the fields
 * log_event() gives. Lines written to another stream (log_vprint(), diags_print()
 * to stdout) are not affected. */
void log_setup(bool to_syslog, bool json);
/* While fd >= 0, each error is also written to fd in the text form: a daemon's
 * start-up errors on the terminal that started it, as well as in syslog. -1 stops
 * it and closes the fd given before. */
void log_errors_also_to(int fd);

enum log_level { LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR };
/* One line about an event, with fields that --log-format json keeps apart: event
 * (a word: "pinned"), pid (0: none), vm and policy (NULL: none). As text:
 * "kvmcg: pid 812 (web1): pinned: MESSAGE", "kvmcg: policy: MESSAGE" when pid is 0. */
__attribute__((format(printf, 6, 7))) void log_event(enum log_level level, const char *event, int pid,
						      const char *vm, const char *policy, const char *fmt, ...);

#endif
