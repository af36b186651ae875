// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg apply: every running VM gets the policy that matches it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd-apply.h"

#include "cli/cli.h"
#include "cli/numa-warn.h"
#include "basic/log.h"
#include "cli/output.h"
#include "core/txn.h"
#include "tune/policy-match.h"
#include "tune/policy-dir.h"
#include "tune/policy.h"
#include "state/state.h"
#include "basic/trust.h"
#include "basic/util.h"


enum { OPT_POLICY_DIR = 0x300, OPT_APPLY_DRY_RUN, OPT_APPLY_LOCK_TIMEOUT, OPT_APPLY_FORCE };

struct apply_args {
	const char *dir;
	bool dry_run;
	bool force;          /* as pin_args' */
	int lock_timeout_ms; /* as pin_args' */
};

static void apply_help(void)
{
	fputs("Usage:\n"
	      " kvmcg apply [--policy-dir DIR] [--dry-run] [--force] [--lock-timeout MS] [--json]\n"
	      "\n"
	      "Give every running VM the policy that matches it: read DIR/*.policy, match each\n"
	      "VM against each file's [Match] section, plan every VM, then pin each VM as one\n"
	      "transaction (all or nothing). A VM no policy matches is left alone; a VM two\n"
	      "policies match is left alone and both files are named. Exclusive=yes CPUs that\n"
	      "another VM would use are found before anything is written. A setting kvmcg does\n"
	      "not carry out is said on stderr for its VM, counted in the summary and makes\n"
	      "the exit status 3. Running apply twice changes nothing the second time, and\n"
	      "says so. Policy paths are read through no symbolic link (kvmcg.policy(5)).\n"
	      "\n"
	      "Options:\n"
	      "     --policy-dir <dir>  where the policies are (default " POLICY_DIR_DEFAULT ")\n"
	      "     --dry-run           plan and report; change nothing\n"
	      "     --force             go on when a policy's memory nodes look too small for\n"
	      "                         its VM (free memory, free huge pages)\n"
	      "     --lock-timeout <ms> wait this long for another kvmcg run on a VM (5000)\n"
	      "     --json              print JSON\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help              display this help\n"
	      "\n"
	      "Exit status: 0 every matched VM is as its policy asks; 1 a VM failed (rolled\n"
	      "back); 2 a policy file has errors, a VM matched two policies, or a request\n"
	      "cannot work on this host; 3 partly: some VMs were pinned and others failed, or\n"
	      "a setting was not carried out.\n"
	      "See kvmcg(8) and kvmcg.policy(5).\n",
	      stdout);
}

static int apply_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct apply_args *a = userdata;
	if (opt == OPT_POLICY_DIR) {
		a->dir = arg;
		return 1;
	}
	if (opt == OPT_APPLY_DRY_RUN) {
		a->dry_run = true;
		return 1;
	}
	if (opt == OPT_APPLY_FORCE) {
		a->force = true;
		return 1;
	}
	if (opt == OPT_APPLY_LOCK_TIMEOUT)
		return cli_lock_timeout_option(c, arg, &a->lock_timeout_ms);
	return 0;
}

/* Whether a policy holds memory to nodes ([Memory] Nodes=): its VMs' memory is
 * measured, and their backends' sizes are asked with their threads. */
static bool has_memory_nodes(const struct policy_file *pol, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pol[i].policy && pol[i].policy->mem_nodes)
			return true;
	return false;
}

/* One VM's fate in this run. */
struct outcome {
	struct vm *vm;
	const struct policy_file *policy; /* the one that matched */
	enum txn_result result;
	int exit_code;
	char *message;
	char **skipped;
	size_t n_skipped;
	char **warnings;
	size_t n_warnings;
	struct pin_result planned; /* the dry run */
	struct pin_result done;    /* the real run */
	struct idset *cpus;       /* what its pin would use, for Exclusive= */
};

static void outcome_done(struct outcome *o)
{
	free(o->message);
	strv_free(o->skipped);
	strv_free(o->warnings);
	pin_result_done(&o->planned);
	pin_result_done(&o->done);
	idset_free(o->cpus);
}

__attribute__((format(printf, 4, 5))) static void set_failed(struct outcome *o, int code, enum txn_result result,
							    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(o->message);
	if (vasprintf(&o->message, fmt, ap) < 0)
		o->message = NULL;
	va_end(ap);
	o->result = result;
	o->exit_code = code;
}

static const char *vm_label(const struct vm *vm, char *buf, size_t size)
{
	snprintf(buf, size, "%s (pid %d)", vm->name ? vm->name : vm->comm, (int)vm->pid);
	return buf;
}

/* Exclusive=yes: the VM's CPUs may not be used by any other VM that kvmcg pins,
 * whether in this run or pinned earlier. Both VMs of a conflict in this run are
 * left alone: which one should yield is the operator's call. */
static void check_exclusive(struct outcome *o, size_t n, int state_fd)
{
	struct vm_state *states = NULL;
	size_t n_states = 0;
	if (state_fd >= 0)
		(void)state_load_all(state_fd, &states, &n_states);
	for (size_t i = 0; i < n; i++) {
		if (!o[i].cpus || o[i].policy->policy->exclusive != 1)
			continue;
		char a[128], b[128];
		for (size_t k = 0; k < n; k++) {
			if (k == i || !o[k].cpus)
				continue;
			struct idset *common _cleanup_cpuset_ = idset_intersect(o[i].cpus, o[k].cpus);
			if (!common || idset_count(common) == 0)
				continue;
			_cleanup_free_ char *list = idset_format(common);
			for (size_t x = 0; x < 2; x++) {
				struct outcome *me = x ? &o[k] : &o[i], *other = x ? &o[i] : &o[k];
				set_failed(me, EXIT_USAGE, TXN_CONFLICT,
					   "Exclusive=yes (%s): CPUs %s are also pinned for %s by %s; left alone",
					   o[i].policy->path, list ? list : "?", vm_label(other->vm, x ? a : b, 128),
					   other->policy->path);
			}
		}
		for (size_t s = 0; s < n_states; s++) {
			bool in_run = false;
			for (size_t k = 0; k < n; k++)
				in_run |= o[k].vm->pid == states[s].pid;
			if (in_run)
				continue;
			struct idset *theirs _cleanup_cpuset_ = vm_tune_cpus(&states[s].tune);
			struct idset *common _cleanup_cpuset_ = theirs ? idset_intersect(o[i].cpus, theirs) : NULL;
			if (common && idset_count(common))
				set_failed(&o[i], EXIT_USAGE, TXN_CONFLICT,
					   "Exclusive=yes (%s): its CPUs are already pinned for pid %d (%s); left alone",
					   o[i].policy->path, (int)states[s].pid,
					   states[s].name ? states[s].name : "unnamed");
		}
	}
	vm_states_free(states, n_states);
}

static json_object *strv_json(char **v, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *outcome_json(const struct outcome *o)
{
	json_object *j = json_object_new_object();
	const struct pin_result *r = o->done.result ? &o->done : &o->planned;
	json_object_object_add(j, "pid", json_object_new_int(o->vm->pid));
	json_object_object_add(j, "name", o->vm->name ? json_object_new_string(o->vm->name) : NULL);
	json_object_object_add(j, "policy", o->policy ? json_object_new_string(o->policy->path) : NULL);
	json_object_object_add(j, "result", json_object_new_string(txn_result_name(o->result)));
	json_object_object_add(j, "mode", r->result ? json_object_new_string(backend_name(r->backend)) : NULL);
	json_object_object_add(j, "vm_cgroup", r->vm_dir ? cgroup_json(r->vm_dir) : NULL);
	json_object_object_add(j, "actions", r->result ? plan_to_json(&r->plan) : json_object_new_array());
	json_object_object_add(j, "skipped_settings", strv_json(o->skipped, o->n_skipped));
	json_object_object_add(j, "message", o->message ? json_object_new_string(o->message) : NULL);
	return j;
}

struct policies {
	const struct policy_file *v;
	size_t n;
	int proc_fd;
};

/* Whether a policy could match vm: every [Match] key is decided by its command line,
 * pidfile and sockets, except Name= for a VM whose -name is not on its command line
 * (a -readconfig file may set it): its monitor's query-name tells. Only these VMs'
 * monitors are asked. */
static bool matched_by_any(const struct vm *vm, void *userdata)
{
	const struct policies *p = userdata;
	return policy_dir_may_match(p->v, p->n, vm, p->proc_fd);
}

/* Matches vm against the policies and, when exactly one matches, plans it (a dry
 * run) into the next outcome. */
static void plan_one(const struct txn_env *env, const struct apply_args *aa, struct vm *vm, const struct policy_file *pol,
		     size_t n_pol, int proc_fd, struct outcome *o, size_t *n, size_t *untouched)
{
	const struct policy_file *first, *second;
	if (policy_dir_match(pol, n_pol, vm, proc_fd, &first, &second) == 0) {
		(*untouched)++;
		return;
	}
	struct outcome *x = &o[(*n)++];
	x->vm = vm;
	x->policy = first;
	if (second) {
		set_failed(x, EXIT_USAGE, TXN_CONFLICT, "matched by both %s and %s; left alone",
			   first->path, second->path);
		return;
	}
	struct pin_args a = {.dry_run = true, .force = aa->force, .command = "apply"};
	int r = policy_to_request(first->policy, &a.req, &a.req.skipped, &a.req.n_skipped);
	if (r == 0)
		r = pin_vm(env, vm, &a, &x->planned);
	pin_args_done(&a);
	if (r < 0 || x->planned.result == TXN_FAILED) {
		set_failed(x, r < 0 ? EXIT_FAILURE_RUNTIME : r, TXN_FAILED, "%s",
			   x->planned.message ? x->planned.message : "cannot plan");
		return;
	}
	x->result = TXN_PLANNED;
	x->cpus = vm_tune_cpus(&x->planned.tune);
	for (size_t k = 0; k < x->planned.n_skipped; k++)
		(void)strv_push(&x->skipped, &x->n_skipped, x->planned.skipped[k]);
}

/* A planned VM: the dry run's outcome with --dry-run, else the real run. */
static void carry_out(const struct txn_env *env, const struct apply_args *aa, struct outcome *x)
{
	if (aa->dry_run) {
		x->result = x->planned.plan.n_actions ? TXN_DRY_RUN : TXN_UNCHANGED;
		free(x->message);
		x->message = strdup_or_null(x->planned.message);
		return;
	}
	struct pin_args a = {.command = "apply", .force = aa->force, .lock_timeout_ms = aa->lock_timeout_ms};
	int r = policy_to_request(x->policy->policy, &a.req, &a.req.skipped, &a.req.n_skipped);
	if (r == 0)
		r = pin_vm(env, x->vm, &a, &x->done);
	pin_args_done(&a);
	x->exit_code = r < 0 ? EXIT_FAILURE_RUNTIME : r;
	x->result = x->done.result ? x->done.result : TXN_FAILED;
	free(x->message);
	x->message = strdup_or_null(x->done.message);
	for (size_t k = 0; k < x->done.n_warnings; k++)
		(void)strv_push(&x->warnings, &x->n_warnings, x->done.warnings[k]);
}

static void report_problems(const struct outcome *x, bool dry_run)
{
	char label[128];
	vm_label(x->vm, label, sizeof(label));
	for (size_t w = 0; w < x->n_warnings; w++)
		log_warning("%s: %s", label, x->warnings[w]);
	if (x->message && !txn_result_ok(x->result))
		log_error("%s: %s", label, x->message);
	for (size_t s = 0; s < x->n_skipped; s++)
		log_error("%s: %s: %s", label, dry_run ? "would not be carried out" : "not carried out", x->skipped[s]);
}

struct apply_counts {
	size_t applied, unchanged, partial, failed, untouched;
};

/* The last line of the text report, and "summary" in JSON. NULL when out of memory. */
static char *summary_line(const struct apply_counts *k, size_t n, const char *dir, size_t n_pol, size_t n_vms,
			  bool dry_run)
{
	char *s = NULL;
	int r;
	if (n == 0)
		r = asprintf(&s, "no running VM matches a policy in %s (%zu file%s, %zu VM%s)", dir, n_pol,
			     n_pol == 1 ? "" : "s", n_vms, n_vms == 1 ? "" : "s");
	else if (k->applied == 0 && k->failed == 0 && k->partial == 0 && !dry_run)
		r = asprintf(&s, "nothing changed: %zu VM%s already as their policies ask", k->unchanged,
			     k->unchanged == 1 ? " is" : "s are");
	else
		r = asprintf(&s, "%s%zu %s, %zu unchanged, %zu with settings %snot carried out, %zu failed; %zu VM%s "
			     "without a policy",
			     dry_run ? "dry run (nothing changed): " : "", k->applied, dry_run ? "to change" : "applied",
			     k->unchanged, k->partial, dry_run ? "that would be " : "", k->failed, k->untouched,
			     k->untouched == 1 ? "" : "s");
	return r < 0 ? NULL : s;
}

/* The report on stdout: the JSON document, or the table and the summary line. */
static void print_report(bool json, struct outcome *o, size_t n, const struct policy_file *pol, size_t n_pol,
			 const struct apply_counts *k, const char *summary)
{
	int r;
	if (json) {
		json_object *top = json_object_new_object();
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, outcome_json(&o[i]));
		json_object_object_add(top, "vms", arr);
		json_object *files = json_object_new_array();
		for (size_t i = 0; i < n_pol; i++) {
			json_object *f = json_object_new_object();
			json_object_object_add(f, "file", json_object_new_string(pol[i].path));
			json_object_object_add(f, "errors", json_object_new_int((int)pol[i].diags.errors));
			json_object_array_add(files, f);
		}
		json_object_object_add(top, "policies", files);
		json_object *counts = json_object_new_object();
		json_object_object_add(counts, "applied", json_object_new_int((int)k->applied));
		json_object_object_add(counts, "unchanged", json_object_new_int((int)k->unchanged));
		json_object_object_add(counts, "partial", json_object_new_int((int)k->partial));
		json_object_object_add(counts, "failed", json_object_new_int((int)k->failed));
		json_object_object_add(counts, "without_policy", json_object_new_int((int)k->untouched));
		json_object_object_add(top, "counts", counts);
		json_object_object_add(top, "summary", summary ? json_object_new_string(summary) : NULL);
		print_json(stdout, top);
		json_object_put(top);
	} else {
		/* A plan's cgroups and policy paths wrap on a narrow terminal, never cut. */
		static const struct column cols[] = {
			{.name = "PID", .keys = "pid"},
			{.name = "NAME", .keys = "name"},
			{.name = "POLICY", .keys = "policy", .flags = SCOLS_FL_WRAP},
			{.name = "RESULT", .keys = "result"},
			{.name = "MODE", .keys = "mode"},
			{.name = "CGROUP", .keys = "vm_cgroup", .flags = SCOLS_FL_WRAP},
		};
		json_object *rows = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(rows, outcome_json(&o[i]));
		if (n && (r = print_table(stdout, cols, ARRAY_SIZE(cols), rows, NULL)) < 0)
			log_error("cannot print the table: %s", strerror(-r));
		json_object_put(rows);
		_cleanup_free_ char *line = summary ? str_escape(summary) : NULL;
		printf("%s\n", line ? line : "out of memory");
	}
}

static int run_apply(struct cli *c, const struct apply_args *aa)
{
	/* the transaction reads each thread's placement once, under the VM's lock */
	c->discover.placement_later = true;
	const struct txn_env env = cli_txn_env(c);
	bool trust = geteuid() == 0;
	const char *dir = aa->dir ? aa->dir : POLICY_DIR_DEFAULT;
	struct policy_file *pol = NULL;
	size_t n_pol = 0;
	char *why = NULL;
	int r = policy_dir_load(dir, trust, &pol, &n_pol, &why);
	if (r < 0) {
		log_error("%s", why ? why : strerror(-r));
		free(why);
		policy_dir_free(pol, n_pol);
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	size_t bad_files = 0;
	for (size_t i = 0; i < n_pol; i++) {
		bad_files += pol[i].diags.errors > 0;
		if (pol[i].diags.n)
			diags_print(&pol[i].diags, pol[i].path, stderr);
	}

	struct vm **vms = NULL;
	size_t n_vms = 0;
	struct policies wanted = {.v = pol, .n = n_pol, .proc_fd = c->proc_fd};
	c->discover.qmp_wanted = matched_by_any;
	c->discover.qmp_wanted_data = &wanted;
	c->discover.want_memdevs = has_memory_nodes(pol, n_pol);
	r = vm_list_all(&c->discover, &vms, &n_vms);
	c->discover.qmp_wanted = NULL;
	if (r < 0) {
		policy_dir_free(pol, n_pol);
		return cli_runtime_error(r, "cannot list VMs");
	}
	struct outcome *o = calloc(n_vms ? n_vms : 1, sizeof(*o));
	size_t n = 0, untouched = 0;
	if (!o) {
		vm_list_free(vms, n_vms);
		policy_dir_free(pol, n_pol);
		return cli_runtime_error(-ENOMEM, "out of memory");
	}

	/* Match, then plan every VM (a dry run each), before anything is written. */
	for (size_t v = 0; v < n_vms; v++)
		plan_one(&env, aa, vms[v], pol, n_pol, c->proc_fd, o, &n, &untouched);
	int state_fd = state_dir_open(false);
	check_exclusive(o, n, state_fd);
	if (state_fd >= 0)
		close(state_fd);

	size_t applied = 0, unchanged = 0, partial = 0, failed = 0, config_errors = 0, exited = 0;
	for (size_t i = 0; i < n; i++) {
		struct outcome *x = &o[i];
		if (x->result == TXN_PLANNED)
			carry_out(&env, aa, x);
		if (txn_result_ok(x->result))
			numa_warn_bound(c, x->vm, aa->dry_run ? &x->planned.tune : &x->done.tune);
		/* A VM whose policy was carried out but for some settings is "partial": it
		 * counts as such in the summary, and makes the exit status 3. */
		if (!txn_result_ok(x->result)) {
			failed++;
			config_errors += x->exit_code == EXIT_USAGE;
			exited += x->exit_code == EXIT_PARTIAL; /* the VM exited during its run */
		} else if (x->n_skipped || x->result == TXN_PARTIAL) {
			partial++;
		} else if (x->result == TXN_UNCHANGED) {
			unchanged++;
		} else {
			applied++;
		}
	}

	struct apply_counts counts = {applied, unchanged, partial, failed, untouched};
	_cleanup_free_ char *summary = summary_line(&counts, n, dir, n_pol, n_vms, aa->dry_run);

	/* What was not done goes to stderr, one line each, in either output form. */
	for (size_t i = 0; i < n; i++)
		report_problems(&o[i], aa->dry_run);
	print_report(c->json, o, n, pol, n_pol, &counts, summary);

	int rc = EXIT_OK;
	if (failed && (applied || partial))
		rc = EXIT_PARTIAL;
	else if (failed)
		rc = config_errors == failed ? EXIT_USAGE : exited == failed ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME;
	else if (partial)
		rc = EXIT_PARTIAL;
	/* A refused file is the admin's to fix, and its VMs were not looked at: that
	 * says more than "partly" (3), less than a VM that failed (1). */
	if ((rc == EXIT_OK || rc == EXIT_PARTIAL) && bad_files)
		rc = EXIT_USAGE;
	for (size_t i = 0; i < n; i++)
		outcome_done(&o[i]);
	free(o);
	vm_list_free(vms, n_vms);
	policy_dir_free(pol, n_pol);
	return rc;
}

int cmd_apply(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{"policy-dir", required_argument, NULL, OPT_POLICY_DIR},
		{"dry-run", no_argument, NULL, OPT_APPLY_DRY_RUN},
		{"force", no_argument, NULL, OPT_APPLY_FORCE},
		{"lock-timeout", required_argument, NULL, OPT_APPLY_LOCK_TIMEOUT},
		{0},
	};
	struct apply_args aa = {0};
	const struct cli_command cmd = {
		.options = options, .help = apply_help, .extra = apply_option, .userdata = &aa};
	struct cli c = {.command = "apply", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if (c.sysroot)
		rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to apply there");
	else if ((rc = cli_open_roots(&c)) == 0)
		rc = run_apply(&c, &aa);
	cli_done(&c);
	return rc;
}
