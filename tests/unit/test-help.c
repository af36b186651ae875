// SPDX-License-Identifier: GPL-2.0-or-later
/* Docs match the code: for every command of cli/commands.c, the options its parser
 * accepts (its struct option array, with the shared ones, and the short options
 * cli_parse takes) against the options its --help lists (the option lines and the
 * Usage synopsis) and against kvmcg(8) (its SYNOPSIS entry and its section of
 * COMMANDS), both ways; kvmcg --help and kvmcg(8) against the command table; and the
 * rules for options given twice (kvmcg(8) OPTIONS GIVEN TWICE) on the real binary. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"
#include "cli/cli.h"
#include "cli/cmd-pin.h"
#include "cli/commands.h"
#include "cli-run.h"

#define MAN_SUFFIX "/tests/fixtures"

/* ---- a set of option names ("--vcpu", "-o") ---- */

struct optset {
	char *v[128];
	size_t n;
};

static bool optset_has(const struct optset *s, const char *o)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], o) == 0)
			return true;
	return false;
}

static void optset_add(struct optset *s, const char *o, size_t len)
{
	char *d = strndup(o, len);
	cr_assert_not_null(d);
	if (optset_has(s, d) || s->n >= ARRAY_SIZE(s->v)) {
		free(d);
		return;
	}
	s->v[s->n++] = d;
}

static void optset_done(struct optset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* Every "--long" and "-x" in text, as a word of its own (not "-m" inside "-smp"). */
static void optset_scan(struct optset *s, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '-' || (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '-' ||
						  text[i - 1] == '_' || text[i - 1] == '/' || text[i - 1] == '=')))
			continue;
		size_t j = i + 1;
		if (j < len && text[j] == '-') {
			j++;
			if (j >= len || !islower((unsigned char)text[j]))
				continue;
			while (j < len && (islower((unsigned char)text[j]) || isdigit((unsigned char)text[j]) ||
					   (text[j] == '-' && j + 1 < len && islower((unsigned char)text[j + 1]))))
				j++;
		} else {
			if (j >= len || !isalpha((unsigned char)text[j]))
				continue;
			j++;
			if (j < len && (isalnum((unsigned char)text[j]) || text[j] == '-'))
				continue; /* "-smp", "-name": QEMU's, not kvmcg's */
		}
		optset_add(s, text + i, j - i);
		i = j - 1;
	}
}

/* ---- what the parser accepts ---- */

static const char *const vmsel_options[] = {"--pid", "--pidfile", "--name", "--qmp", "--wait"};
/* the shared options cli_parse handles (cli.h CLI_*_OPTIONS): kvmcg(8) describes them
 * in OPTIONS, VMSEL and TABLES, not in each command's section */
static const char *const shared_options[] = {"--json", "-J", "--no-qmp", "--qmp-timeout", "--sysroot", "--help", "--no-syslog",
					     "-h", "--output", "-o", "--noheadings", "-n", "--raw", "-r"};

static void parser_options(const struct cli_command *cmd, struct optset *s)
{
	for (const struct option *o = cmd->options; o->name; o++) {
		char l[64];
		snprintf(l, sizeof(l), "--%s", o->name);
		optset_add(s, l, strlen(l));
	}
	/* cli_parse's optstring: -h always; -J, -n, -o, -r with a table */
	optset_add(s, "-h", 2);
	if (cmd->columns)
		for (const char *c = "Jnor"; *c; c++) {
			char sh[3] = {'-', *c, 0};
			optset_add(s, sh, 2);
		}
	/* the command's own letters (apply's -q, -v) */
	for (const char *c = cmd->short_options; c && *c; c++)
		if (isalpha((unsigned char)*c)) {
			char sh[3] = {'-', *c, 0};
			optset_add(s, sh, 2);
		}
}

/* "-o" is "--output" and so on: the synopsis may give either. A command's own letter
 * is the long option whose val it is. */
static const char *canonical(const struct cli_command *cmd, const char *o)
{
	static char own[64];
	for (const struct option *x = cmd->options; o[0] == '-' && o[1] && !o[2] && x->name; x++)
		if (x->val == o[1] && cmd->short_options && strchr(cmd->short_options, o[1])) {
			snprintf(own, sizeof(own), "--%s", x->name);
			return own;
		}
	static const char *const pairs[][2] = {
		{"-h", "--help"}, {"-J", "--json"}, {"-o", "--output"}, {"-n", "--noheadings"}, {"-r", "--raw"}};
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++)
		if (strcmp(o, pairs[i][0]) == 0)
			return pairs[i][1];
	return o;
}

static void canonical_set(const struct cli_command *cmd, const struct optset *in, struct optset *out)
{
	for (size_t i = 0; i < in->n; i++) {
		const char *c = canonical(cmd, in->v[i]);
		if (strcmp(c, "--help") != 0) /* a synopsis need not say --help */
			optset_add(out, c, strlen(c));
	}
}

static bool is_shared(const char *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(shared_options); i++)
		if (strcmp(o, shared_options[i]) == 0)
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(vmsel_options); i++)
		if (strcmp(o, vmsel_options[i]) == 0)
			return true;
	return false;
}

/* ---- what --help says ---- */

static char *capture(void (*fn)(void))
{
	fflush(stdout);
	FILE *tmp = tmpfile();
	cr_assert_not_null(tmp);
	int saved = dup(STDOUT_FILENO);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fileno(tmp), STDOUT_FILENO), 0);
	fn();
	fflush(stdout);
	cr_assert_geq(dup2(saved, STDOUT_FILENO), 0);
	close(saved);
	long len = ftell(tmp);
	cr_assert_gt(len, 0, "the help printed nothing");
	char *text = calloc(1, (size_t)len + 1);
	rewind(tmp);
	cr_assert_eq(fread(text, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	return text;
}

static char *capture_usage(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	cli_usage(f);
	fclose(f);
	return text;
}

static void add_vmsel_if(struct optset *s, const char *text, size_t len)
{
	if (memmem(text, len, "VMSEL", 5))
		for (size_t i = 0; i < ARRAY_SIZE(vmsel_options); i++)
			optset_add(s, vmsel_options[i], strlen(vmsel_options[i]));
}

/* The Usage synopsis (from "Usage:" to the first empty line; VMSEL stands for its
 * options) and the option lines (a line whose first non-blank is '-': the options
 * before the two blanks that start the description). */
static void help_options(const char *help, struct optset *synopsis, struct optset *listed)
{
	const char *end = strstr(help, "\n\n");
	cr_assert(strncmp(help, "Usage:\n", 7) == 0 && end, "no Usage: block");
	optset_scan(synopsis, help, (size_t)(end - help));
	add_vmsel_if(synopsis, help, (size_t)(end - help));
	for (const char *l = end + 1; *l;) {
		const char *nl = strchrnul(l, '\n');
		const char *p = l;
		while (p < nl && *p == ' ')
			p++;
		if (*p == '-') {
			const char *desc = strstr(p, "  ");
			optset_scan(listed, p, (size_t)((desc && desc < nl ? desc : nl) - p));
		}
		l = *nl ? nl + 1 : nl;
	}
}

static void compare(const char *cmd, const char *what_a, const struct optset *a, const char *what_b,
		    const struct optset *b, int *failures)
{
	for (size_t i = 0; i < a->n; i++)
		if (!optset_has(b, a->v[i])) {
			cr_log_error("%s: %s is in %s but not in %s", cmd, a->v[i], what_a, what_b);
			(*failures)++;
		}
}

Test(help, every_option_in_help)
{
	int failures = 0;
	for (size_t i = 0; i < cli_n_verbs; i++) {
		const struct cli_verb *v = &cli_verbs[i];
		if (!v->cmd)
			continue;
		struct optset parser = {0}, syn = {0}, listed = {0}, pc = {0}, sc = {0};
		parser_options(v->cmd, &parser);
		char *help = capture(v->cmd->help);
		help_options(help, &syn, &listed);
		canonical_set(v->cmd, &parser, &pc);
		canonical_set(v->cmd, &syn, &sc);
		compare(v->name, "the parser", &parser, "--help's option lines", &listed, &failures);
		compare(v->name, "--help's option lines", &listed, "the parser", &parser, &failures);
		compare(v->name, "the parser", &pc, "--help's Usage synopsis", &sc, &failures);
		compare(v->name, "--help's Usage synopsis", &sc, "the parser", &pc, &failures);
		free(help);
		optset_done(&parser);
		optset_done(&syn);
		optset_done(&listed);
		optset_done(&pc);
		optset_done(&sc);
	}
	cr_assert_eq(failures, 0, "%d differences between --help and the parsers (above)", failures);
}

Test(help, usage_lists_every_command)
{
	char *usage = capture_usage();
	for (size_t i = 0; i < cli_n_verbs; i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n %-14s ", cli_verbs[i].name);
		cr_expect(strstr(usage, line), "kvmcg --help does not list %s", cli_verbs[i].name);
	}
	free(usage);
}

/* ---- kvmcg(8) ---- */

__attribute__((noinline)) static char *read_man(void)
{
	static const char fixtures[] = FIXTURES;
	cr_assert(strlen(fixtures) > strlen(MAN_SUFFIX));
	char path[4096];
	snprintf(path, sizeof(path), "%.*s/man/kvmcg.8", (int)(strlen(fixtures) - strlen(MAN_SUFFIX)), fixtures);
	char *text = NULL;
	size_t len = 0;
	int r = read_file_at_whole(AT_FDCWD, path, &text, &len);
	cr_assert_geq(r, 0, "%s", path);
	return text;
}

/* Roff to text enough to find options: "\-" is "-", font escapes go. */
static char *unroff(const char *s, size_t len)
{
	char *out = calloc(1, len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '-') {
			*o++ = '-';
			i++;
		} else if (s[i] == '\\' && i + 2 < len && s[i + 1] == 'f') {
			i += 2;
		} else if (s[i] == '\\' && i + 1 < len && s[i + 1] == '(') {
			*o++ = ' ';
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	return out;
}

/* The man page's name of a command: "numa\-balancing". */
static void man_name(const char *name, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = name; *p && o + 3 < size; p++) {
		if (*p == '-')
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* SYNOPSIS: the lines from ".B kvmcg NAME" to ".br". */
static char *man_synopsis(const char *man, const char *name)
{
	char head[96], mn[64];
	man_name(name, mn, sizeof(mn));
	snprintf(head, sizeof(head), "\n.B kvmcg %s\n", mn);
	const char *syn = strstr(man, "\n.SH SYNOPSIS\n"), *desc = strstr(man, "\n.SH DESCRIPTION\n");
	cr_assert(syn && desc);
	const char *p = strstr(syn, head);
	if (!p || p > desc)
		return NULL;
	const char *end = strstr(p + 1, "\n.br\n");
	if (!end || end > desc)
		end = desc;
	return unroff(p, (size_t)(end - p));
}

/* COMMANDS: from ".TP" and a line that names the command (".B list", ".BI pin "
 * VMSEL"") to the next such line. */
static const char *command_head(const char *p, const char *end, const char **ret_name_end)
{
	while ((p = strstr(p, "\n.TP\n.B")) && p < end) {
		const char *n = p + 7;
		while (*n == 'I' || *n == 'R')
			n++;
		if (*n == ' ') {
			*ret_name_end = n + 1;
			return p;
		}
		p++;
	}
	return NULL;
}

static char *man_section(const char *man, const char *name)
{
	const char *cmds = strstr(man, "\n.SH COMMANDS\n");
	cr_assert(cmds);
	const char *end = strstr(cmds + 1, "\n.SH ");
	char mn[64];
	man_name(name, mn, sizeof(mn));
	size_t ml = strlen(mn);
	const char *p = cmds, *n, *start = NULL;
	while ((p = command_head(p, end, &n))) {
		bool is_verb = false, is_this = strncmp(n, mn, ml) == 0 && (n[ml] == ' ' || n[ml] == '\n');
		for (size_t i = 0; i < cli_n_verbs && !is_this; i++) {
			char vn[64];
			man_name(cli_verbs[i].name, vn, sizeof(vn));
			size_t vl = strlen(vn);
			is_verb |= strncmp(n, vn, vl) == 0 && (n[vl] == ' ' || n[vl] == '\n');
		}
		if (start && (is_verb || is_this))
			return unroff(start, (size_t)(p - start));
		if (is_this)
			start = p;
		p++;
	}
	return start ? unroff(start, (size_t)(end - start)) : NULL;
}

/* The options a part of the man page defines: ".TP" and a line that starts with one. */
static void man_defined(const char *text, struct optset *s)
{
	for (const char *p = text; (p = strstr(p, "\n.TP"));) {
		const char *l = strchr(p + 1, '\n');
		if (!l)
			break;
		l++;
		if (l[0] == '.' && l[1] == 'B') {
			const char *a = strchr(l, ' '), *nl = strchrnul(l, '\n');
			if (a && a < nl && a[1] == '-') {
				/* ".BR \-J ", " \-\-json": every option of the term */
				optset_scan(s, a, (size_t)(nl - a));
			}
		}
		p = l;
	}
}

static char *man_part(const char *man, const char *sh)
{
	const char *p = strstr(man, sh);
	cr_assert(p, "kvmcg(8) has no %s", sh);
	const char *end = strstr(p + 1, "\n.SH ");
	return unroff(p, (size_t)((end ? end : p + strlen(p)) - p));
}

Test(help, man_page_matches)
{
	char *man = read_man();
	char *opts = man_part(man, "\n.SH OPTIONS\n"), *vmsel = man_part(man, "\n.SH VMSEL\n"),
	     *tables = man_part(man, "\n.SH TABLES\n");
	struct optset shared = {0};
	man_defined(opts, &shared);
	man_defined(vmsel, &shared);
	man_defined(tables, &shared);
	int failures = 0;
	for (size_t i = 0; i < cli_n_verbs; i++) {
		const struct cli_verb *v = &cli_verbs[i];
		char *syn = man_synopsis(man, v->name);
		char *sec = man_section(man, v->name);
		if (!syn || !sec) {
			cr_log_error("%s: kvmcg(8) has no %s", v->name, !syn ? "SYNOPSIS line" : "section in COMMANDS");
			failures++;
		}
		if (!v->cmd || !syn || !sec) {
			free(syn);
			free(sec);
			continue;
		}
		struct optset parser = {0}, pc = {0}, s = {0}, sc = {0}, defined = {0}, mentioned = {0};
		parser_options(v->cmd, &parser);
		canonical_set(v->cmd, &parser, &pc);
		optset_scan(&s, syn, strlen(syn));
		add_vmsel_if(&s, syn, strlen(syn));
		canonical_set(v->cmd, &s, &sc);
		man_defined(sec, &defined);
		optset_scan(&mentioned, sec, strlen(sec));
		compare(v->name, "the parser", &pc, "kvmcg(8)'s SYNOPSIS", &sc, &failures);
		compare(v->name, "kvmcg(8)'s SYNOPSIS", &sc, "the parser", &pc, &failures);
		compare(v->name, "the options kvmcg(8)'s section defines", &defined, "the parser", &parser, &failures);
		for (size_t k = 0; k < parser.n; k++) {
			const char *o = parser.v[k];
			if (is_shared(o) && !optset_has(&shared, o)) {
				cr_log_error("%s: %s is not described in kvmcg(8)'s OPTIONS, VMSEL or TABLES", v->name, o);
				failures++;
			} else if (!is_shared(o) && !optset_has(&mentioned, o)) {
				cr_log_error("%s: %s is not in kvmcg(8)'s section for %s", v->name, o, v->name);
				failures++;
			}
		}
		free(syn);
		free(sec);
		optset_done(&parser);
		optset_done(&pc);
		optset_done(&s);
		optset_done(&sc);
		optset_done(&defined);
		optset_done(&mentioned);
	}
	optset_done(&shared);
	free(opts);
	free(vmsel);
	free(tables);
	free(man);
	cr_assert_eq(failures, 0, "%d differences between kvmcg(8) and the parsers (above)", failures);
}

/* ---- options given twice ---- */

/* A value each option with one takes; an option missing here fails the test, so that
 * a new option is tried too. */
static const char *const option_values[][2] = {
	{"pid", "1"},		    {"pidfile", "/nonexistent"}, {"name", "x"},		 {"qmp", "/nonexistent"},
	{"wait", "1"},		    {"qmp-timeout", "100"},	 {"sysroot", "/nonexistent"}, {"output", "PID"},
	{"lock-timeout", "100"},    {"emulator", "0"},		 {"mems", "0"},		 {"mem-policy", "strict"},
	{"cgroup-root", "x"},	    {"policy", "/nonexistent"},	 {"cpu-weight", "100"},	 {"cpu-quota", "100%"},
	{"cpu-period", "100000"},   {"vcpu-scheduler", "other"}, {"policy-dir", "/nonexistent"},
	{"reconcile-interval", "60"}, {"log-format", "text"},
};

static const char *value_of(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(option_values); i++)
		if (strcmp(option_values[i][0], name) == 0)
			return option_values[i][1];
	return NULL;
}

/* Runs kvmcg ARGS; its stderr, and the exit status in *status. */
static char *kvmcg_stderr(const char *args, int *status)
{
	char kvmcg[4096], cmd[8192];
	if (!find_kvmcg(kvmcg, sizeof(kvmcg)))
		cr_skip_test("build/kvmcg is not built (run make first)");
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1 >/dev/null", kvmcg, args);
	char *out = run_capture(cmd, status);
	cr_assert_not_null(out);
	return out;
}

Test(help, every_option_with_a_value_given_twice_is_refused)
{
	int failures = 0;
	for (size_t i = 0; i < cli_n_verbs; i++) {
		const struct cli_verb *v = &cli_verbs[i];
		for (const struct option *o = v->cmd ? v->cmd->options : NULL; o && o->name; o++) {
			if (o->has_arg == no_argument || !strcmp(o->name, "vcpu") || !strcmp(o->name, "iothread"))
				continue;
			const char *val = value_of(o->name);
			if (!val) {
				cr_log_error("%s: --%s: no value to try it with (option_values)", v->name, o->name);
				failures++;
				continue;
			}
			/* the trailing unknown option stops the command if the second one passed */
			char args[512], want[128];
			snprintf(args, sizeof(args), "%s --%s=%s --%s=%s --no-such-option", v->name, o->name, val, o->name,
				 val);
			snprintf(want, sizeof(want), "kvmcg: %s: --%s is given twice ('%s' and '%s')", v->name, o->name, val,
				 val);
			int status = -1;
			char *err = kvmcg_stderr(args, &status);
			if (status != 2 || !strstr(err, want)) {
				cr_log_error("%s: --%s given twice: exit %d, '%s'", v->name, o->name, status, err);
				failures++;
			}
			free(err);
		}
	}
	cr_assert_eq(failures, 0, "%d options given twice were not refused as kvmcg(8) says (above)", failures);
}

Test(help, repeated_and_conflicting_options)
{
	static const char *const cases[][2] = {
		{"pin --pid 1 --vcpu 0:0 --vcpu 0:1", "--vcpu '0:0' and --vcpu '0:1' both pin vCPU 0"},
		{"pin --pid 1 --vcpu 0-3:0 --vcpu 2:1", "--vcpu '0-3:0' and --vcpu '2:1' both pin vCPU 2"},
		{"pin --pid 1 --vcpu all:0 --vcpu all:1", "--vcpu 'all:1': all is given twice"},
		{"run --vcpu 1:0 --vcpu 1:1 -- true", "--vcpu '1:0' and --vcpu '1:1' both pin vCPU 1"},
		{"pin --pid 1 --iothread io0:0 --iothread io0:1", "--iothread 'io0:1': iothread io0 is given twice"},
		{"pin --pid 1 --name x", "--pid and --name each select a VM; give one"},
		{"apply --qmp /x --pidfile /y", "--qmp and --pidfile each select a VM; give one"},
		{"show --pid 1 --wait --wait=2", "--wait is given twice ('(no value)' and '2')"},
		{"show --pid 1 --json -o PID", "--output shapes the table; it does not go with --json"},
		{"list -J -r", "--raw shapes the table; it does not go with --json"},
		{"run --policy /x --policy-dir /y -- true", "--policy and --policy-dir exclude each other"},
		{"watch --json --log-format text", "--json and --log-format text: one log format"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int status = -1;
		char *err = kvmcg_stderr(cases[i][0], &status);
		cr_expect(status == 2 && strstr(err, cases[i][1]), "kvmcg %s: exit %d, '%s'; expected exit 2 and '%s'",
			  cases[i][0], status, err, cases[i][1]);
		free(err);
	}
}

/* all:CPUS is the default for the vCPUs the others do not name, whatever the order:
 * it is kept first, and plan_merge_spec applies the pins in order. */
Test(help, vcpu_all_goes_first)
{
	static const char *const orders[][2] = {{"all:2-5", "0:6"}, {"0:6", "all:2-5"}};
	for (size_t k = 0; k < ARRAY_SIZE(orders); k++) {
		struct cli c = {.command = "pin"};
		struct pin_args a = {.command = "pin"};
		cr_assert_eq(pin_parse_option(&c, OPT_VCPU, orders[k][0], &a), 1);
		cr_assert_eq(pin_parse_option(&c, OPT_VCPU, orders[k][1], &a), 1);
		cr_assert_eq(pin_parse_option(&c, OPT_VCPU, "1-2:7", &a), 1);
		cr_assert_eq(a.req.n_vcpus, 3);
		cr_expect_eq(a.req.vcpus[0].first, -1, "%s then %s: all is not first", orders[k][0], orders[k][1]);
		cr_expect_eq(a.req.vcpus[1].first, 0);
		cr_expect_eq(a.req.vcpus[2].first, 1);
		cr_expect_eq(a.req.vcpus[2].last, 2);
		pin_args_done(&a);
	}
}
