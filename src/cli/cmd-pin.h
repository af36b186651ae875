/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg pin and kvmcg unpin: one VM. Exit codes: basic/err.h. What run shares with
 * pin (its options, their checks, a policy file's request, the report) is here too. */
#ifndef KVMCG_CMD_PIN_H
#define KVMCG_CMD_PIN_H

#include "cli/cli.h"
#include "core/txn.h"

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command pin_command;
extern const struct cli_command unpin_command;
int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);

enum {
	OPT_VCPU = 0x200,
	OPT_EMULATOR,
	OPT_IOTHREAD,
	OPT_MEMS,
	OPT_MEM_POLICY,
	OPT_NO_MIGRATE,
	OPT_MIGRATE_BACK,
	OPT_FORCE,
	OPT_DRY_RUN,
	OPT_CGROUP_ROOT,
	OPT_AFFINITY_ONLY,
	OPT_POLICY,
	OPT_CPU_WEIGHT,
	OPT_CPU_QUOTA,
	OPT_CPU_PERIOD,
	OPT_VCPU_SCHED,
	OPT_LOCK_TIMEOUT,
};

/* pin's options that say what to pin and how (not VMSEL), for an option table. */
#define PIN_OPTIONS                                                                                \
	{"vcpu", required_argument, NULL, OPT_VCPU}, {"emulator", required_argument, NULL, OPT_EMULATOR}, \
		{"iothread", required_argument, NULL, OPT_IOTHREAD},                                \
		{"mems", required_argument, NULL, OPT_MEMS},                                        \
		{"mem-policy", required_argument, NULL, OPT_MEM_POLICY},                            \
		{"no-migrate", no_argument, NULL, OPT_NO_MIGRATE},                                  \
		{"force", no_argument, NULL, OPT_FORCE}, {"dry-run", no_argument, NULL, OPT_DRY_RUN}, \
		{"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},                          \
		{"affinity-only", no_argument, NULL, OPT_AFFINITY_ONLY},                            \
		{"policy", required_argument, NULL, OPT_POLICY},                                    \
		{"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},                            \
		{"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},                              \
		{"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},                            \
		{"vcpu-scheduler", required_argument, NULL, OPT_VCPU_SCHED},                        \
		{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT}

/* cli_command.extra for PIN_OPTIONS; userdata is a struct pin_args. */
int pin_parse_option(struct cli *c, int opt, const char *arg, void *userdata);
/* The checks of options that exclude or need each other (a usage error, reported,
 * returns EXIT_USAGE), and --mems alone made strict (restrictive with --no-migrate).
 * CLI_RUN when the request is whole. */
int pin_check_args(struct cli *c, struct pin_args *a);
/* cli->policy's request (its [CPU] and [Memory]) with cli's own tuning on top, in
 * *out (cleared first; the caller's to pin_args_done). EXIT_OK, or the exit code
 * after the file's errors were printed. */
int pin_with_policy(const struct pin_args *cli, struct pin_args *out);
/* pin's and unpin's report of one VM's transaction: text or JSON on stdout, what
 * was not done on stderr. */
void pin_report(const struct cli *c, const struct vm *vm, const struct pin_result *res);
/* The JSON object pin --json prints for one VM (kvmcg(8) JSON OUTPUT). */
json_object *pin_result_json(const struct vm *vm, const struct pin_result *res);

#endif
