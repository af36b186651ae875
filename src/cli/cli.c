// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/log.h"
#include "state/state.h"
#include "basic/util.h"
#include "kernel/cgroupfs.h"
#include "plan/layout.h"

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	what = vformat(fmt, ap);
	va_end(ap);
	log_error("%s: %s; try 'kvmcg %s --help'", c->command, what ? what : "bad usage", c->command);
	return EXIT_USAGE;
}

int cli_runtime_error(int r, const char *what)
{
	const char *detail = err_get();
	if (detail)
		log_error("%s", detail);
	else
		log_error("%s: %s", what, strerror(-r));
	return EXIT_FAILURE_RUNTIME;
}

int cli_common_option(struct cli *c, int opt, const char *arg)
{
	int v;
	switch (opt) {
	case OPT_JSON:
		c->json = true;
		return 1;
	case 'o':
		c->output = arg;
		return 1;
	case 'n':
		c->table.noheadings = true;
		return 1;
	case 'r':
		c->table.raw = true;
		return 1;
	case OPT_NO_QMP:
		c->no_qmp = true;
		return 1;
	case OPT_HELP:
		c->help = true;
		return 1;
	case OPT_SYSROOT:
		c->sysroot = arg;
		return 1;
	case OPT_TIMEOUT:
		if (parse_int(arg, &v) < 0 || v < 1 || v > 600000)
			return -cli_usage_error(c, "--qmp-timeout: '%s' is not a number of milliseconds (1-600000)", arg);
		c->qmp_timeout_ms = v;
		return 1;
	case OPT_PID:
		if (parse_pid(arg, &c->sel.pid) < 0)
			return -cli_usage_error(c, "--pid: '%s' is not a process id", arg);
		return 1;
	case OPT_PIDFILE:
		c->sel.pidfile = arg;
		return 1;
	case OPT_NAME:
		if (!*arg)
			return -cli_usage_error(c, "--name: the name is empty");
		c->sel.name = arg;
		return 1;
	case OPT_QMP:
		c->sel.qmp = arg;
		return 1;
	default:
		return 0;
	}
}

/* The long option whose value getopt_long() returned, or NULL. */
static const struct option *option_of(const struct option *options, int val)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == val)
			return o;
	return NULL;
}

int cli_parse(struct cli *c, const struct cli_command *cmd, int argc, char **argv)
{
	int opt;
	int seen[64];
	size_t n_seen = 0;
	opterr = 0; /* our own messages, in our own form */
	const char *optstring = cmd->columns ? ":hJno:r" : cmd->command_line ? "+:h" : ":h";
	while ((opt = getopt_long(argc, argv, optstring, cmd->options, NULL)) != -1) {
		/* A short option inside a group ("-hx") is optopt; argv[optind - 1] would
		 * be the group or the argument before it. */
		if (opt == '?' && optopt > 0 && optopt < 0x100)
			return cli_usage_error(c, "unknown option '-%c'", optopt);
		if (opt == '?' && optopt >= 0x100) /* "--json=x" */
			return cli_usage_error(c, "option '%.*s' takes no value",
					       (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
		if (opt == '?')
			return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		if (opt == 'h')
			opt = OPT_HELP;
		if (opt == 'J')
			opt = OPT_JSON;
		/* Two values for one setting: which did the user mean? Only --vcpu and
		 * --iothread add up. */
		const struct option *o = option_of(cmd->options, opt);
		if (o && o->has_arg == required_argument && strcmp(o->name, "vcpu") != 0 &&
		    strcmp(o->name, "iothread") != 0) {
			for (size_t i = 0; i < n_seen; i++)
				if (seen[i] == opt)
					return cli_usage_error(c, "--%s is given twice", o->name);
			if (n_seen < ARRAY_SIZE(seen))
				seen[n_seen++] = opt;
		}
		int r = cli_common_option(c, opt, optarg);
		if (r == 0 && cmd->extra)
			r = cmd->extra(c, opt, optarg, cmd->userdata);
		if (r < 0)
			return -r;
		if (r == 0)
			return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
	}
	if (c->help) {
		cmd->help();
		return EXIT_OK;
	}
	if (cmd->command_line && optind >= argc)
		return cli_usage_error(c, "give the command to start after --");
	if (optind < argc && !cmd->files && !cmd->command_line)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (cmd->vmsel && vmsel_count(&c->sel) != 1)
		return cli_usage_error(c, "select one VM with exactly one of --pid, --pidfile, --name, --qmp");
	if (cmd->vmsel_optional && vmsel_count(&c->sel) > 1)
		return cli_usage_error(c, "select at most one VM, with one of --pid, --pidfile, --name, --qmp");
	if (cmd->columns) {
		/* The JSON document is whole, always: its fields are not columns. */
		if (c->json && (c->output || c->table.noheadings || c->table.raw))
			return cli_usage_error(c, "%s shapes the table; it does not go with --json",
					       c->output ? "--output" : c->table.raw ? "--raw" : "--noheadings");
		_cleanup_free_ char *why = NULL;
		int r = columns_parse(cmd->columns, cmd->n_columns, cmd->default_columns, c->output,
				      &c->table.ids, &c->table.n_ids, &why);
		if (r == -ENOMEM)
			return cli_runtime_error(r, "out of memory");
		if (r < 0)
			return cli_usage_error(c, "--output: %s", why ? why : "bad column list");
	}
	return CLI_RUN;
}

int cli_open_roots(struct cli *c)
{
	char path[4096];
	const char *root = c->sysroot ? c->sysroot : "";
	snprintf(path, sizeof(path), "%s/proc", root);
	c->proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->proc_fd < 0)
		return cli_runtime_error(-errno, path);
	snprintf(path, sizeof(path), "%s/sys", root);
	c->sys_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->sys_fd < 0)
		return cli_runtime_error(-errno, path);
	int r = host_read(c->sys_fd, &c->host);
	if (r < 0)
		return cli_runtime_error(r, "cannot read the host's online CPUs");
	discover_opts_init(&c->discover, c->proc_fd);
	if (c->qmp_timeout_ms)
		c->discover.qmp_timeout_ms = c->qmp_timeout_ms;
	/* Sockets of a captured tree are not reachable. */
	c->discover.no_qmp = c->no_qmp || c->sysroot;
	if (c->sysroot)
		c->discover.self = 0;
	c->discover.live = !c->sysroot;
	return 0;
}

struct txn_env cli_txn_env(const struct cli *c)
{
	return (struct txn_env){.proc_fd = c->proc_fd, .sys_fd = c->sys_fd, .host = &c->host, .discover = &c->discover};
}

void cli_done(struct cli *c)
{
	free(c->table.ids);
	c->table.ids = NULL;
	if (c->proc_fd > 0)
		close(c->proc_fd);
	if (c->sys_fd > 0)
		close(c->sys_fd);
	host_done(&c->host);
}

static json_object *set_json(const struct idset *s)
{
	_cleanup_free_ char *l = s ? idset_format(s) : NULL;
	return l ? json_object_new_string(l) : NULL;
}

/* The io files of the VM's cgroup as the kernel has them now, one array of lines per
 * file that is there: {"max": [...], "weight": [...], "bfq_weight": [...]}; and
 * "text", the same in one line for show's text view. NULL when none can be read. */
static json_object *io_state_json(const struct vm_state *st)
{
	/* the VM's io domain: its directory, or the cgroup its tree was built in */
	_cleanup_free_ char *domain =
		layout_built_in_place(st->vm_dir) ? layout_parent(st->vm_dir) : strdup(st->vm_dir);
	_cleanup_close_ int mfd = domain ? open(st->mount, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	_cleanup_close_ int dfd = mfd < 0 ? -1 : cg_open_path(mfd, domain);
	if (dfd < 0)
		return NULL;
	static const char *const files[][2] = {{"io.max", "max"}, {"io.weight", "weight"}, {"io.bfq.weight", "bfq_weight"}};
	json_object *o = json_object_new_object();
	struct cli_text t;
	bool any = false;
	if (!o || !cli_text_open(&t)) {
		json_object_put(o);
		return NULL;
	}
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		_cleanup_free_ char *content = NULL;
		if (cg_read(dfd, files[f][0], &content) < 0)
			continue;
		json_object *lines = json_object_new_array();
		fprintf(t.f, "%s%s:", any ? "; " : "", files[f][1]);
		any = true;
		for (char *save = NULL, *l = strtok_r(content, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			json_object_array_add(lines, json_object_new_string(l));
			fprintf(t.f, " %s", l);
		}
		json_object_object_add(o, files[f][1], lines);
	}
	_cleanup_free_ char *text = cli_text_close(&t);
	if (!text || !any) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "text", json_object_new_string(text));
	return o;
}

json_object *cli_pin_state_json(int state_fd, const struct vm *vm)
{
	struct vm_state st;
	if (state_fd < 0 || state_load(state_fd, vm->pid, vm->starttime_ticks, &st) < 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "mode", json_object_new_string(backend_name(st.backend)));
	json_object_object_add(o, "cgroup_mount", st.mount ? json_object_new_string(st.mount) : NULL);
	char cg[4096];
	snprintf(cg, sizeof(cg), "/%s", st.vm_dir ? st.vm_dir : "");
	json_object_object_add(o, "cgroup", st.vm_dir ? json_object_new_string(cg) : NULL);
	json_object_object_add(o, "launched", json_object_new_boolean(st.launched));
	json_object *pins = json_object_new_object();
	json_object *vcpus = json_object_new_object();
	for (size_t i = 0; i < st.tune.n_vcpu; i++)
		if (st.tune.vcpu[i]) {
			char key[24];
			snprintf(key, sizeof(key), "%zu", i);
			json_object_object_add(vcpus, key, set_json(st.tune.vcpu[i]));
		}
	json_object_object_add(pins, "vcpus", vcpus);
	json_object_object_add(pins, "emulator", set_json(st.tune.emulator));
	json_object *io = json_object_new_object();
	for (size_t i = 0; i < st.tune.n_iothread; i++)
		json_object_object_add(io, st.tune.iothread_ids[i], set_json(st.tune.iothread[i]));
	json_object_object_add(pins, "iothreads", io);
	json_object_object_add(pins, "mems", set_json(st.tune.mems));
	json_object_object_add(o, "pins", pins);
	if (st.backend == BACKEND_CGROUP_V2 && st.mount && st.vm_dir)
		json_object_object_add(o, "io", io_state_json(&st));
	vm_state_done(&st);
	return o;
}

int cli_lock_timeout_option(const struct cli *c, const char *arg, int *ret_ms)
{
	int ms;
	if (parse_int(arg, &ms) < 0 || ms < 0 || ms > 3600000)
		return -cli_usage_error(c, "--lock-timeout '%s': expected milliseconds from 0 to 3600000", arg);
	*ret_ms = ms ? ms : -1;
	return 1;
}
