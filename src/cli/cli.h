/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Options shared by the subcommands. The exit codes are in basic/err.h. */
#ifndef KVMCG_CLI_H
#define KVMCG_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include <json-c/json.h>

#include "basic/err.h"
#include "cli/output.h"
#include "core/txn.h"
#include "kernel/host.h"
#include "vmm/discover.h"
#include "vmm/vmsel.h"


enum {
	OPT_JSON = 0x100,
	OPT_PID,
	OPT_PIDFILE,
	OPT_NAME,
	OPT_QMP,
	OPT_NO_QMP,
	OPT_TIMEOUT,
	OPT_SYSROOT,
	OPT_HELP,
	OPT_WAIT,
	OPT_NO_SYSLOG,
};

/* --wait without a value: how long, ms. */
#define CLI_WAIT_DEFAULT_MS 60000u

/* The shared options, in parts for the commands that take only some of them (an
 * option a command accepts is one its --help and kvmcg(8) list: tests/unit/test-help.c). */
#define CLI_JSON_OPTION {"json", no_argument, NULL, OPT_JSON}
#define CLI_HELP_OPTION {"help", no_argument, NULL, OPT_HELP}
#define CLI_SYSROOT_OPTION {"sysroot", required_argument, NULL, OPT_SYSROOT}
#define CLI_QMP_OPTIONS                                                                            \
	{"no-qmp", no_argument, NULL, OPT_NO_QMP}, {"qmp-timeout", required_argument, NULL, OPT_TIMEOUT}
/* Commands that act on live VMs only: no --sysroot. */
#define CLI_LIVE_OPTIONS CLI_JSON_OPTION, CLI_QMP_OPTIONS, CLI_HELP_OPTION
#define CLI_COMMON_OPTIONS CLI_LIVE_OPTIONS, CLI_SYSROOT_OPTION

/* The table's options, for commands that print one (list, show): -o, -n, -r, and -J
 * for --json. */
#define CLI_TABLE_OPTIONS                                                                          \
	{"output", required_argument, NULL, 'o'}, {"noheadings", no_argument, NULL, 'n'},          \
		{"raw", no_argument, NULL, 'r'}

/* The options of every command that changes VMs (pin, unpin, apply, run, watch):
 * --no-syslog, no audit line (basic/audit.h) for the changes. */
#define CLI_CHANGE_OPTIONS {"no-syslog", no_argument, NULL, OPT_NO_SYSLOG}

#define CLI_VMSEL_OPTIONS                                                                          \
	{"pid", required_argument, NULL, OPT_PID}, {"pidfile", required_argument, NULL, OPT_PIDFILE}, \
		{"name", required_argument, NULL, OPT_NAME},                                        \
		{"qmp", required_argument, NULL, OPT_QMP}, {"wait", optional_argument, NULL, OPT_WAIT}

/* VMSEL's option lines for a command's --help (after a "VMSEL (...):" line). */
#define CLI_VMSEL_HELP                                                                             \
	"     --pid <pid>         the VM's process id\n"                                          \
	"     --pidfile <file>    a pidfile that the VM keeps locked (QEMU's -pidfile)\n"         \
	"     --name <name>       QEMU's -name guest=<name>\n"                                    \
	"     --qmp <socket>      a QMP monitor socket of the VM\n"                               \
	"     --wait[=<seconds>]  the VM may still be starting: wait until it is whole\n"        \
	"                         (default 60 s; exit 5 past the deadline)\n"

struct cli {
	const char *command;
	bool json;
	bool help;
	const char *output; /* -o as given */
	struct table_opts table;
	const char *sysroot;
	int qmp_timeout_ms;
	bool no_qmp;
	struct vm_selector sel;
	unsigned wait_ms; /* --wait: the VM may still be starting (0: not given) */
	bool no_syslog;   /* --no-syslog: no audit line for the changes */
	int proc_fd, sys_fd;
	struct discover_opts discover;
	struct host host;
};

/* What cli_parse needs to know of a command. */
typedef int (*cli_option_fn)(struct cli *c, int opt, const char *arg, void *userdata);
struct cli_command {
	const struct option *options;
	void (*help)(void);
	bool vmsel;          /* needs exactly one VMSEL */
	bool vmsel_optional; /* takes at most one VMSEL (none: every VM) */
	bool files;          /* takes FILE arguments (left at optind) */
	/* takes a command to run after its options (run: "-- QEMU ARGS..."): options end
	 * at the first argument that is not one, or at "--"; the command is left at
	 * optind, and is required */
	bool command_line;
	cli_option_fn extra; /* the command's own options (1 handled, 0 not, <0 exit code) */
	/* the command's own one-letter options, as getopt(3) spells them ("qv": -q and
	 * -v, which its options table gives as the val of their long forms) */
	const char *short_options;
	void *userdata;
	/* A command that prints a table: its columns and the default ones. cli_parse
	 * then takes -o, -n, -r (CLI_TABLE_OPTIONS) and -J, and leaves the selection in
	 * c->table. */
	const struct column *columns;
	size_t n_columns;
	const char *default_columns;
};
#define CLI_RUN (-1)

/* Parses argv for one command: the shared options, then the command's own; --help;
 * stray arguments; VMSEL; the table's columns (an unknown one is a usage error that
 * lists the valid ones; -o, -n, -r do not go with --json). Returns CLI_RUN when the
 * command should run, else the exit code to return now (0 after --help, 2 after a
 * usage error, already reported). */
int cli_parse(struct cli *c, const struct cli_command *cmd, int argc, char **argv);

/* Handles an option shared by all commands. Returns 1 if it was one, 0 if not,
 * negative on a bad value (message printed). */
int cli_common_option(struct cli *c, int opt, const char *arg);

/* What the transaction layer needs of c (core/txn.h); valid while c is. */
struct txn_env cli_txn_env(const struct cli *c);

/* Opens /proc and /sys (under --sysroot), reads the host, prepares discovery. */
int cli_open_roots(struct cli *c);
void cli_done(struct cli *c);

/* Reports a usage error as one line on stderr (log.h: control bytes escaped, one
 * write), "kvmcg: COMMAND: WHAT; try 'kvmcg COMMAND --help'", and returns EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int cli_usage_error(const struct cli *c, const char *fmt, ...);

/* --lock-timeout MS (0 to 3600000): into *ret_ms as pin_args' lock_timeout_ms takes
 * it (0 becomes -1: do not wait). 1, or the negated exit code of a usage error
 * (said), for an option callback to return. */
int cli_lock_timeout_option(const struct cli *c, const char *arg, int *ret_ms);

/* A command that changes VMs (pin, unpin, apply, run, watch), run by a user that is
 * not root: says in one line that it needs root, before it tries anything, and
 * returns EXIT_FAILURE_RUNTIME; 0 for root. */
int cli_require_root(const struct cli *c);

/* What a user that is not root could not read, for list and show: processes named
 * like QEMU that are another user's (u, may be NULL) and kvmcg's records (state_fd,
 * the state directory's fd or its negative errno: -EACCES). Said in one warning line
 * ("... needs root") when there is any; and, when j is given, as "not_root" in it:
 * {"unexamined": N, "unexamined_pids": [...], "records_unreadable": bool}, or null. */
void cli_note_not_root(const struct discover_unexamined *u, int state_fd, json_object *j);

/* Prints one line through log_error(): the sentence err_set() left, else
 * "kvmcg: WHAT: strerror(-r)"; returns EXIT_FAILURE_RUNTIME. */
int cli_runtime_error(int r, const char *what);

/* {"mode", "cgroup_mount", "cgroup", "pins": {...}} of kvmcg's pin of this VM, or NULL
 * (JSON null) when kvmcg has not pinned it. With ret_st, the record read is handed
 * over there (the caller's to vm_state_done) instead of freed; it is zeroed when there
 * is none. */
struct vm_state;
json_object *cli_pin_state_json(int state_fd, const struct vm *vm, struct vm_state *ret_st);


#endif
