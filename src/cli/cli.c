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
	case OPT_NO_SYSLOG:
		c->no_syslog = true;
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
	case OPT_WAIT: {
		/* whole seconds, or with up to three decimals: --wait=0.5 */
		unsigned s = 0, frac = 0, digits = 0;
		const char *p = arg;
		if (arg) {
			for (; *p >= '0' && *p <= '9' && s <= 3600; p++)
				s = s * 10 + (unsigned)(*p - '0');
			if (*p == '.')
				for (p++; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
					frac = frac * 10 + (unsigned)(*p - '0');
			for (; digits < 3; digits++)
				frac *= 10;
		}
		if (arg && (*p || p == arg || s * 1000 + frac == 0 || s * 1000 + frac > 3600000))
			return -cli_usage_error(c, "--wait: '%s' is not a number of seconds (up to 3600)", arg);
		c->wait_ms = arg ? s * 1000 + frac : CLI_WAIT_DEFAULT_MS;
		return 1;
	}
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

/* The options given so far that take a value, with the first value given: an
 * option given twice is a usage error that names both values, whatever the option
 * (kvmcg(8) OPTIONS GIVEN TWICE). --vcpu and --iothread add up (their callbacks refuse
 * one vCPU or iothread named twice); flags given twice are the same flag. */
struct seen_options {
	struct {
		int opt;
		const char *arg;
	} v[64];
	size_t n;
};

static bool is_vmsel_option(int opt)
{
	return opt == OPT_PID || opt == OPT_PIDFILE || opt == OPT_NAME || opt == OPT_QMP;
}

static int check_repeat(const struct cli *c, const struct cli_command *cmd, struct seen_options *seen, int opt,
			const char *arg)
{
	const struct option *o = option_of(cmd->options, opt);
	if (!o || o->has_arg == no_argument || strcmp(o->name, "vcpu") == 0 || strcmp(o->name, "iothread") == 0)
		return 0;
	for (size_t i = 0; i < seen->n; i++) {
		if (seen->v[i].opt == opt)
			return cli_usage_error(c, "--%s is given twice ('%s' and '%s'); give it once", o->name,
					       seen->v[i].arg ? seen->v[i].arg : "(no value)", arg ? arg : "(no value)");
		/* two VMs, or one VM said two ways: which did the user mean? */
		const struct option *other = option_of(cmd->options, seen->v[i].opt);
		if ((cmd->vmsel || cmd->vmsel_optional) && is_vmsel_option(opt) && is_vmsel_option(seen->v[i].opt) && other)
			return cli_usage_error(c, "--%s and --%s each select a VM; give one", other->name, o->name);
	}
	if (seen->n < ARRAY_SIZE(seen->v)) {
		seen->v[seen->n].opt = opt;
		seen->v[seen->n++].arg = arg;
	}
	return 0;
}

/* getopt_long() takes any unique prefix of a long option ("--emu" for --emulator);
 * kvmcg takes the whole name only, so that "--policy" is never read as --policy-dir
 * and an option added later cannot change what an old command line means. The
 * option as written is argv[optind - 1], or the one before when its value was the
 * next argument. 0, or the usage error's exit code (said). */
static int check_whole_name(const struct cli *c, const struct option *o, int argc, char **argv)
{
	int i = optind - 1;
	if (o->has_arg == required_argument && optarg && i > 0 && i < argc && optarg == argv[i])
		i--;
	const char *w = i >= 0 && i < argc ? argv[i] : NULL;
	if (!w || strncmp(w, "--", 2) != 0)
		return 0;
	size_t len = strcspn(w + 2, "=");
	if (len == strlen(o->name) && strncmp(w + 2, o->name, len) == 0)
		return 0;
	return cli_usage_error(c, "unknown option '%.*s' (did you mean --%s? options are written in full)",
			       (int)(len + 2), w, o->name);
}

int cli_parse(struct cli *c, const struct cli_command *cmd, int argc, char **argv)
{
	int opt, li;
	struct seen_options seen = {.n = 0};
	opterr = 0; /* our own messages, in our own form */
	char optstring[32];
	snprintf(optstring, sizeof(optstring), "%s%s", cmd->columns ? ":hJno:r" : cmd->command_line ? "+:h" : ":h",
		 cmd->short_options ? cmd->short_options : "");
	while ((li = -1, opt = getopt_long(argc, argv, optstring, cmd->options, &li)) != -1) {
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
		if (li >= 0 && check_whole_name(c, &cmd->options[li], argc, argv))
			return EXIT_USAGE;
		if (opt == 'h')
			opt = OPT_HELP;
		if (opt == 'J')
			opt = OPT_JSON;
		/* Two values for one setting: which did the user mean? */
		int r = check_repeat(c, cmd, &seen, opt, optarg);
		if (r)
			return r;
		r = cli_common_option(c, opt, optarg);
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
	if (optind < argc && !cmd->files && !cmd->command_line && optind > 0 && strcmp(argv[optind - 1], "--wait") == 0)
		return cli_usage_error(c, "unexpected argument '%s' (--wait takes its value as --wait=SECONDS)", argv[optind]);
	if (optind < argc && !cmd->files && !cmd->command_line)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (cmd->vmsel && vmsel_count(&c->sel) != 1)
		return cli_usage_error(c, "select one VM with exactly one of --pid, --pidfile, --name, --qmp");
	if (cmd->vmsel_optional && vmsel_count(&c->sel) > 1)
		return cli_usage_error(c, "select at most one VM, with one of --pid, --pidfile, --name, --qmp");
	if (c->wait_ms && (vmsel_count(&c->sel) != 1 || c->sysroot))
		return cli_usage_error(c, c->sysroot ? "--wait waits for a live VM; a --sysroot tree has none"
						     : "--wait waits for the VM --pid, --pidfile, --name or --qmp selects: select one");
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
	if (c->wait_ms) {
		/* a VM that is starting: once it is whole, the command finds it as usual;
		 * what waiting cannot mend is the command's to say, as it would */
		err_clear();
		r = vmsel_wait(&c->discover, &c->sel, c->wait_ms);
		if (r == -ETIMEDOUT) {
			log_error("%s", err_get());
			return EXIT_NOT_READY;
		}
	}
	return 0;
}

struct txn_env cli_txn_env(const struct cli *c)
{
	return (struct txn_env){.proc_fd = c->proc_fd, .sys_fd = c->sys_fd, .host = &c->host, .discover = &c->discover,
				.no_syslog = c->no_syslog};
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

/* The io files of the VM's cgroup as the kernel has them now, one array of lines per
 * file that is there: on v2 {"max": [...], "weight": [...], "bfq_weight": [...]}; in
 * the v1 blkio tree beside the cpuset one {"read_bps_device": [...],
 * "write_bps_device", "read_iops_device", "write_iops_device", "bfq_weight_device"},
 * with "hierarchy" ("v1 blkio") and "cgroup" (where they are); and "text", the same
 * in one line for show's text view. NULL when none can be read. */
static json_object *io_state_json(const struct vm_state *st)
{
	static const char *const v2_files[][2] = {{"io.max", "max"}, {"io.weight", "weight"}, {"io.bfq.weight", "bfq_weight"}};
	static const char *const v1_files[][2] = {{"blkio.throttle.read_bps_device", "read_bps_device"},
						  {"blkio.throttle.write_bps_device", "write_bps_device"},
						  {"blkio.throttle.read_iops_device", "read_iops_device"},
						  {"blkio.throttle.write_iops_device", "write_iops_device"},
						  {"blkio.bfq.weight_device", "bfq_weight_device"}};
	const struct v1_tree_record *b = &st->v1[V1_TREE_BLKIO];
	bool v1 = b->mount && b->vm_dir;
	if (!v1 && (st->backend != BACKEND_CGROUP_V2 || !st->mount || !st->vm_dir))
		return NULL;
	/* v2: the VM's io domain, its directory or the cgroup its tree was built in */
	_cleanup_free_ char *domain = v1				     ? strdup(b->vm_dir)
				      : layout_built_in_place(st->vm_dir) ? layout_parent(st->vm_dir)
									  : strdup(st->vm_dir);
	_cleanup_close_ int mfd = domain ? open(v1 ? b->mount : st->mount, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	_cleanup_close_ int dfd = mfd < 0 ? -1 : cg_open_path(mfd, domain);
	if (dfd < 0)
		return NULL;
	const char *const(*files)[2] = v1 ? v1_files : v2_files;
	size_t n = v1 ? ARRAY_SIZE(v1_files) : ARRAY_SIZE(v2_files);
	json_object *o = json_object_new_object();
	struct cli_text t;
	bool any = false;
	if (!o || !cli_text_open(&t)) {
		json_object_put(o);
		return NULL;
	}
	for (size_t f = 0; f < n; f++) {
		_cleanup_free_ char *content = NULL;
		if (cg_read(dfd, files[f][0], &content) < 0)
			continue;
		json_object *lines = json_object_new_array();
		/* the throttle's files list only the disks with a limit: an empty one says nothing */
		bool say = !v1 || *content;
		if (say)
			fprintf(t.f, "%s%s:", any ? "; " : "", files[f][1]);
		any |= say;
		for (char *save = NULL, *l = strtok_r(content, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			json_object_array_add(lines, json_object_new_string(l));
			fprintf(t.f, " %s", l);
		}
		json_object_object_add(o, files[f][1], lines);
	}
	if (v1)
		fprintf(t.f, " (%s:/%s)", b->mount, b->vm_dir);
	_cleanup_free_ char *text = cli_text_close(&t);
	if (!text || !any) {
		json_object_put(o);
		return NULL;
	}
	if (v1) {
		json_object_object_add(o, "hierarchy", json_object_new_string("v1 blkio"));
		json_object_object_add(o, "cgroup", cgroup_json(b->vm_dir));
	}
	json_object_object_add(o, "text", json_object_new_string(text));
	return o;
}

/* The CPU bandwidth files of the VM's cgroup as the kernel has them now: v2's
 * cpu.weight and cpu.max ("weight", "max"), or, in the v1 cpu tree beside the cpuset
 * one, cpu.shares, cpu.cfs_quota_us and cpu.cfs_period_us ("shares", "cfs_quota_us",
 * "cfs_period_us", numbers), with "cgroup" (where they are) and "text" (one line for
 * show's text view). NULL when the record has no such cgroup or none can be read. */
static json_object *cpu_state_json(const struct vm_state *st)
{
	static const char *const v2_files[][2] = {{"cpu.weight", "weight"}, {"cpu.max", "max"}};
	static const char *const v1_files[][2] = {
		{"cpu.shares", "shares"}, {"cpu.cfs_quota_us", "cfs_quota_us"}, {"cpu.cfs_period_us", "cfs_period_us"}};
	const struct v1_tree_record *c = &st->v1[V1_TREE_CPU];
	bool v1 = c->mount && c->vm_dir;
	const char *mount = v1 ? c->mount : st->mount, *dir = v1 ? c->vm_dir : st->vm_dir;
	if ((!v1 && st->backend != BACKEND_CGROUP_V2) || !mount || !dir)
		return NULL;
	_cleanup_close_ int mfd = open(mount, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int dfd = mfd < 0 ? -1 : cg_open_path(mfd, dir);
	struct cli_text t;
	if (dfd < 0 || !cli_text_open(&t))
		return NULL;
	json_object *o = json_object_new_object();
	size_t n = v1 ? ARRAY_SIZE(v1_files) : ARRAY_SIZE(v2_files);
	bool any = false;
	for (size_t f = 0; o && f < n; f++) {
		const char *const *file = v1 ? v1_files[f] : v2_files[f];
		_cleanup_free_ char *value = NULL;
		char *end = NULL;
		if (cg_read(dfd, file[0], &value) < 0)
			continue;
		errno = 0;
		long long num = strtoll(value, &end, 10);
		bool number = v1 && end != value && !*end && errno == 0;
		fprintf(t.f, "%s%s %s", any ? ", " : "", file[0], value);
		any = true;
		json_object_object_add(o, file[1], number ? json_object_new_int64(num)
							: json_object_new_string(value));
	}
	_cleanup_free_ char *text = cli_text_close(&t);
	if (!o || !text || !any) {
		json_object_put(o);
		return NULL;
	}
	char cg[4096];
	snprintf(cg, sizeof(cg), "%s%s/%s", v1 ? mount : "", v1 ? ":" : "", dir);
	json_object_object_add(o, "hierarchy", json_object_new_string(v1 ? "v1 cpu" : "v2"));
	json_object_object_add(o, "cgroup", cgroup_json(dir));
	_cleanup_free_ char *line = NULL;
	json_object_object_add(o, "text", asprintf(&line, "%s (%s)", text, cg) < 0 ? NULL : json_object_new_string(line));
	return o;
}

json_object *cli_pin_state_json(int state_fd, const struct vm *vm, struct vm_state *ret_st)
{
	struct vm_state st;
	if (ret_st)
		*ret_st = (struct vm_state){0};
	if (state_fd < 0)
		return NULL;
	err_clear();
	int r = state_load(state_fd, vm->pid, vm->starttime_ticks, &st);
	if (r < 0) {
		/* a record that is there and refused: the VM is kvmcg's, but unreadable */
		if (r != -ENOENT)
			log_warning("pid %d: %s", (int)vm->pid, err_get() ? err_get() : strerror(-r));
		return NULL;
	}
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
			json_object_object_add(vcpus, key, cpulist_json(st.tune.vcpu[i]));
		}
	json_object_object_add(pins, "vcpus", vcpus);
	json_object_object_add(pins, "emulator", cpulist_json(st.tune.emulator));
	json_object *io = json_object_new_object();
	for (size_t i = 0; i < st.tune.n_iothread; i++)
		json_object_object_add(io, st.tune.iothread_ids[i], cpulist_json(st.tune.iothread[i]));
	json_object_object_add(pins, "iothreads", io);
	json_object_object_add(pins, "mems", cpulist_json(st.tune.mems));
	_cleanup_free_ char *text = vm_tune_describe(NULL, &st.tune);
	json_object_object_add(pins, "text", text && *text ? json_object_new_string(text) : NULL);
	json_object_object_add(o, "pins", pins);
	json_object_object_add(o, "io", io_state_json(&st));
	json_object_object_add(o, "cpu", cpu_state_json(&st));
	if (ret_st)
		*ret_st = st;
	else
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

int cli_require_root(const struct cli *c)
{
	if (geteuid() == 0)
		return 0;
	log_error("%s needs root: it writes cgroups, other users' threads' affinity and kvmcg's records in %s "
		  "(run it as root)",
		  c->command, state_dir_path());
	return EXIT_FAILURE_RUNTIME;
}

void cli_note_not_root(const struct discover_unexamined *u, int state_fd, json_object *j)
{
	bool records = state_fd == -EACCES;
	size_t n = u ? u->n : 0;
	if (j)
		json_object_object_add(j, "not_root", NULL);
	if (!n && !records)
		return;
	char pids[160] = "";
	json_object *a = json_object_new_array();
	for (size_t i = 0, len = 0; i < n && i < ARRAY_SIZE(u->pids); i++) {
		json_object_array_add(a, json_object_new_int(u->pids[i]));
		int w = snprintf(pids + len, sizeof(pids) - len, "%s%d", i ? ", " : "", (int)u->pids[i]);
		len += w > 0 && (size_t)w < sizeof(pids) - len ? (size_t)w : 0;
	}
	const char *more = n > ARRAY_SIZE(u->pids) ? ", ..." : "";
	if (n && records)
		log_warning("%zu process%s named like QEMU (pid%s %s%s) %s another user's, and kvmcg's records in %s "
			    "are root's: seeing them needs root",
			    n, n == 1 ? "" : "es", n == 1 ? "" : "s", pids, more, n == 1 ? "is" : "are", state_dir_path());
	else if (n)
		log_warning("%zu process%s named like QEMU (pid%s %s%s) %s another user's: telling whether %s needs "
			    "root",
			    n, n == 1 ? "" : "es", n == 1 ? "" : "s", pids, more, n == 1 ? "is" : "are",
			    n == 1 ? "it is a VM" : "they are VMs");
	else
		log_warning("kvmcg's records in %s are root's: what kvmcg pinned (the kvmcg fields) needs root to see",
			    state_dir_path());
	if (!j) {
		json_object_put(a);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "unexamined", json_object_new_int((int)n));
	json_object_object_add(o, "unexamined_pids", a);
	json_object_object_add(o, "records_unreadable", json_object_new_boolean(records));
	json_object_object_add(j, "not_root", o);
}
