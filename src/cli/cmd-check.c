// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg check: validate policy files. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd-check.h"

#include "cli/cli.h"
#include "cli/output.h"
#include "tune/policy.h"
#include "basic/util.h"

static void check_help(void)
{
	fputs("Usage:\n"
	      " kvmcg check [--json] FILE...\n"
	      "\n"
	      "Validate policy files: print each problem as FILE:LINE:COL: error|warning: ...\n"
	      "(kvmcg: FILE: error: ... for the file as a whole), then a summary. Whether the\n"
	      "CPUs and nodes exist on this host is checked when the policy is applied, not\n"
	      "here. No file is read through a symbolic link (in any component of its path)\n"
	      "or a '..'. As root, a file or its directory that is writable by group or\n"
	      "others, or not owned by root, is refused, and so is a path through a directory\n"
	      "that others could change (not root's, or writable by group or others and not\n"
	      "sticky).\n"
	      "\n"
	      "Options:\n"
	      "     --json      print {\"files\": [{\"file\", \"errors\", \"warnings\", \"diagnostics\"}]}\n"
	      " -h, --help      display this help\n"
	      "\n"
	      "Exit status: 0 no errors (warnings allowed), 2 an error in any file.\n"
	      "See kvmcg.policy(5).\n",
	      stdout);
}

static json_object *diags_json(const struct diags *d)
{
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < d->n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "line", json_object_new_int((int)d->v[i].line));
		json_object_object_add(o, "col", json_object_new_int((int)d->v[i].col));
		json_object_object_add(o, "level", json_object_new_string(
							  d->v[i].level == DIAG_ERROR ? "error" : "warning"));
		json_object_object_add(o, "message", json_object_new_string(d->v[i].message));
		json_object_array_add(arr, o);
	}
	return arr;
}

static const struct option check_options[] = {CLI_JSON_OPTION, CLI_HELP_OPTION, {0}};
const struct cli_command check_command = {.options = check_options, .help = check_help, .files = true};

int cmd_check(int argc, char **argv)
{
	const struct cli_command cmd = check_command;
	struct cli c = {.command = "check", .proc_fd = -1, .sys_fd = -1};
	int r = cli_parse(&c, &cmd, argc, argv);
	if (r != CLI_RUN)
		return r;
	if (optind >= argc)
		return cli_usage_error(&c, "name at least one policy file");

	bool trust = geteuid() == 0;
	size_t errors = 0, warnings = 0, files = 0;
	json_object *arr = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		struct diags d = {0};
		struct policy *p = NULL;
		if (policy_load(argv[i], trust, &p, &d) < 0) {
			json_object_put(arr);
			return cli_runtime_error(-ENOMEM, "out of memory");
		}
		policy_free(p);
		files++;
		errors += d.errors;
		warnings += d.n - d.errors;
		if (c.json) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "file", json_object_new_string(argv[i]));
			json_object_object_add(o, "errors", json_object_new_int((int)d.errors));
			json_object_object_add(o, "warnings", json_object_new_int((int)(d.n - d.errors)));
			json_object_object_add(o, "diagnostics", diags_json(&d));
			json_object_array_add(arr, o);
		} else {
			diags_print(&d, argv[i], stdout);
		}
		diags_done(&d);
	}
	if (c.json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "files", arr);
		json_object_object_add(top, "errors", json_object_new_int((int)errors));
		json_object_object_add(top, "warnings", json_object_new_int((int)warnings));
		print_json(stdout, top);
		json_object_put(top);
	} else {
		json_object_put(arr);
		printf("%zu file%s checked: %zu error%s, %zu warning%s\n", files, files == 1 ? "" : "s",
		       errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
	}
	return errors ? EXIT_USAGE : EXIT_OK;
}
