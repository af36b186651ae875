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
	bool quiet;          /* -q: errors only */
	bool verbose;        /* -v: each VM's cgroup writes too */
};

static void apply_help(void)
{
	fputs("Usage:\n"
	      " kvmcg apply [VMSEL] [--policy-dir DIR] [--dry-run] [--force] [--lock-timeout MS]\n"
	      "             [-q|-v] [--no-syslog] [--json] [--no-qmp] [--qmp-timeout MS]\n"
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
	      "Each VM gets one line as it is done, in virsh's words:\n"
	      "  win7-ent: vCPU 0 -> 22, vCPU 1 -> 23, emulator -> 18-23 (applied)\n"
	      "(applied, unchanged, would change, partly applied); a VM that failed or was left\n"
	      "alone is said on stderr. Last comes a summary: how many VMs were applied,\n"
	      "unchanged, partly applied and failed, how many matched no policy, and the\n"
	      "policies that matched no VM (a typo in [Match] is the common cause).\n"
	      "\n"
	      "VMSEL (at most one; that VM alone):\n" CLI_VMSEL_HELP
	      "\n"
	      "Options:\n"
	      "     --policy-dir <dir>  where the policies are (default " POLICY_DIR_DEFAULT ")\n"
	      "     --dry-run           plan and report; change nothing (exit 6 when a VM would\n"
	      "                         change)\n"
	      "     --force             go on when a policy's memory nodes look too small for\n"
	      "                         its VM (free memory, free huge pages)\n"
	      "     --lock-timeout <ms> wait this long for another kvmcg run on a VM (5000)\n"
	      " -q, --quiet             print errors only\n"
	      " -v, --verbose           also print each VM's cgroup writes, as a table\n"
	      "     --no-syslog         do not log the changes to syslog (kvmcg(8), AUDIT\n"
	      "                         TRAIL)\n"
	      "     --json              print JSON: {\"vms\", \"policies\", \"summary\"}\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help              display this help\n"
	      "\n"
	      "Exit status, the first that holds (a dry run exits as the real run would):\n"
	      "1 a VM failed (rolled back) and none was pinned; 2 a policy file has errors, a\n"
	      "VM matched two policies, an Exclusive= conflict, a request that cannot work\n"
	      "here, or no policy matches the VM VMSEL selects; 3 partly: some VMs were pinned\n"
	      "and others failed, or a setting was not carried out; 6 with --dry-run, a VM is\n"
	      "not as its policy asks (drift: a real run would change it); 0 every matched VM\n"
	      "is as its policy asks.\n"
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
	if (opt == 'q' || opt == 'v') {
		*(opt == 'q' ? &a->quiet : &a->verbose) = true;
		return 1;
	}
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
 * left alone: which one should yield is the operator's call. Each is told its own
 * policy, the other VM and its policy, and which of the two says Exclusive=yes. */
static void clash_in_run(struct outcome *o, size_t i, size_t k, const char *list)
{
	for (size_t x = 0; x < 2; x++) {
		struct outcome *me = x ? &o[k] : &o[i], *other = x ? &o[i] : &o[k];
		bool mine = me->policy->policy->exclusive == 1, theirs = other->policy->policy->exclusive == 1;
		char label[128];
		vm_label(other->vm, label, sizeof(label));
		/* the pair seen from the other side: said already */
		if (me->result == TXN_CONFLICT && me->message && strstr(me->message, label))
			continue;
		/* a second VM it collides with: named too, not instead */
		static const char tail[] = "; left alone";
		size_t len = me->message ? strlen(me->message) : 0, t = sizeof(tail) - 1;
		if (me->result == TXN_CONFLICT && len > t && strcmp(me->message + len - t, tail) == 0) {
			me->message[len - t] = '\0';
			_cleanup_free_ char *before = me->message;
			me->message = NULL;
			set_failed(me, EXIT_USAGE, TXN_CONFLICT, "%s; and %s's policy %s pins CPUs %s too; left alone",
				   before, label, other->policy->path, list ? list : "?");
			continue;
		}
		set_failed(me, EXIT_USAGE, TXN_CONFLICT,
			   "its policy %s and %s's policy %s both pin CPUs %s, and %s Exclusive=yes; left alone",
			   me->policy->path, label, other->policy->path,
			   list ? list : "?",
			   mine && theirs ? "both say"
			   : mine	  ? "its own says"
					  : "the other says");
	}
}

static void check_exclusive(struct outcome *o, size_t n, int state_fd)
{
	struct vm_state *states = NULL;
	size_t n_states = 0;
	if (state_fd >= 0)
		(void)state_load_all(state_fd, &states, &n_states);
	for (size_t i = 0; i < n; i++) {
		if (!o[i].cpus || o[i].policy->policy->exclusive != 1)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (k == i || !o[k].cpus)
				continue;
			struct idset *common _cleanup_cpuset_ = idset_intersect(o[i].cpus, o[k].cpus);
			if (!common || idset_count(common) == 0)
				continue;
			_cleanup_free_ char *list = idset_format(common);
			clash_in_run(o, i, k, list);
		}
		for (size_t s = 0; s < n_states; s++) {
			bool in_run = false;
			for (size_t k = 0; k < n; k++)
				in_run |= o[k].vm->pid == states[s].pid;
			if (in_run)
				continue;
			struct idset *theirs _cleanup_cpuset_ = vm_tune_cpus(&states[s].tune);
			struct idset *common _cleanup_cpuset_ = theirs ? idset_intersect(o[i].cpus, theirs) : NULL;
			_cleanup_free_ char *list = common && idset_count(common) ? idset_format(common) : NULL;
			if (list)
				set_failed(&o[i], EXIT_USAGE, TXN_CONFLICT,
					   "its policy %s says Exclusive=yes, and CPUs %s are already pinned for pid %d "
					   "(%s), which this run does not pin; left alone",
					   o[i].policy->path, list, (int)states[s].pid,
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
	/* a VM left alone (failed, in conflict) has no mode or cgroup of kvmcg's */
	bool placed = r->result && txn_result_ok(o->result);
	json_object_object_add(j, "mode", placed ? json_object_new_string(backend_name(r->backend)) : NULL);
	json_object_object_add(j, "vm_cgroup", placed && r->vm_dir ? cgroup_json(r->vm_dir) : NULL);
	_cleanup_free_ char *pins = placed ? vm_tune_describe(NULL, &r->tune) : NULL;
	json_object_object_add(j, "pins", pins ? json_object_new_string(pins) : NULL);
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
		     size_t n_pol, int proc_fd, struct outcome *o, size_t *n, const struct vm **alone, size_t *untouched,
		     bool *matched)
{
	const struct policy_file *first, *second;
	if (policy_dir_match(pol, n_pol, vm, proc_fd, &first, &second) == 0) {
		alone[(*untouched)++] = vm;
		return;
	}
	matched[first - pol] = true;
	if (second)
		matched[second - pol] = true;
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
		x->result = x->planned.plan.n_actions || x->planned.n_net_steps ? TXN_DRY_RUN : TXN_UNCHANGED;
		free(x->message);
		x->message = strdup_or_null(x->planned.message);
		return;
	}
	/* the VM's policy is in force again: a watch that runs keeps it so, even after
	 * a kvmcg unpin */
	struct pin_args a = {.command = "apply", .force = aa->force, .lock_timeout_ms = aa->lock_timeout_ms,
			     .policy = x->policy->path, .ends_unpinned = true};
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

/* One VM's line as it is done, in virsh's words: "win7-ent: vCPU 0 -> 22, vCPU 1 ->
 * 23, emulator -> 18-23 (applied)"; with --verbose its cgroup writes below it. A VM
 * that failed or was left alone is said on stderr (report_problems) instead. */
static void say_outcome(const struct apply_args *aa, const struct outcome *x)
{
	if (aa->quiet || !txn_result_ok(x->result))
		return;
	const struct pin_result *r = aa->dry_run ? &x->planned : &x->done;
	_cleanup_free_ char *pins = vm_tune_describe(NULL, &r->tune);
	char who[32], result[96];
	snprintf(who, sizeof(who), "pid %d", (int)x->vm->pid);
	_cleanup_free_ char *name = str_escape(x->vm->name ? x->vm->name : who);
	bool partial = x->n_skipped || x->result == TXN_PARTIAL;
	if (partial)
		snprintf(result, sizeof(result), "%s; %zu setting%s not carried out",
			 aa->dry_run ? "would change" : "partly applied", x->n_skipped, x->n_skipped == 1 ? "" : "s");
	else
		snprintf(result, sizeof(result), "%s",
			 x->result == TXN_DRY_RUN ? "would change" : txn_result_name(x->result));
	printf("%s: %s (%s)\n", name ? name : who, pins && *pins ? pins : "no pins", result);
	if (aa->verbose && r->plan.n_actions) {
		int e = print_plan_table(stdout, &r->plan);
		if (e < 0)
			log_error("cannot print the plan: %s", strerror(-e));
	}
	fflush(stdout);
}

/* What the run did, for the summary: counts of VMs, and the policies no VM matched
 * (named: a typo in [Match] is the common cause). */
struct apply_counts {
	size_t applied, unchanged, partial, failed, untouched, skipped_settings;
	size_t conflicts;  /* of failed: left alone (two policies, Exclusive=) */
	size_t bad_files;  /* policy files refused */
	const char **lone; /* the paths of policies that matched no VM */
	size_t n_lone;
	const struct vm **alone; /* the untouched VMs: no policy matched them */
};

/* The summary names this many of the VMs no policy matched (JSON: all of them). */
#define APPLY_ALONE_NAMED 8

/* ": web1, pid 4242, ... and 3 more" (the VMs no policy matched, by name, else pid). */
static void say_alone(FILE *f, const struct apply_counts *k)
{
	for (size_t i = 0; i < k->untouched && i < APPLY_ALONE_NAMED; i++) {
		fprintf(f, "%s", i ? ", " : ": ");
		if (k->alone[i]->name)
			fprintf(f, "%s", k->alone[i]->name);
		else
			fprintf(f, "pid %d", (int)k->alone[i]->pid);
	}
	if (k->untouched > APPLY_ALONE_NAMED)
		fprintf(f, " and %zu more", k->untouched - APPLY_ALONE_NAMED);
}

/* ", 2 policies matched no VM: a.policy, b.policy" (basenames). */
static void say_lone(FILE *f, const struct apply_counts *k)
{
	if (!k->n_lone)
		return;
	fprintf(f, "; %zu polic%s matched no VM:", k->n_lone, k->n_lone == 1 ? "y" : "ies");
	for (size_t i = 0; i < k->n_lone; i++) {
		const char *base = strrchr(k->lone[i], '/');
		fprintf(f, "%s %s", i ? "," : "", base ? base + 1 : k->lone[i]);
	}
}

/* The last line of the text report. NULL when out of memory. */
static char *summary_line(const struct apply_counts *k, size_t n, const char *dir, size_t n_pol, size_t n_vms,
			  bool dry_run)
{
	struct cli_text t;
	if (!cli_text_open(&t))
		return NULL;
	if (n == 0)
		fprintf(t.f, "no running VM matches a policy in %s (%zu file%s, %zu VM%s)", dir, n_pol,
			n_pol == 1 ? "" : "s", n_vms, n_vms == 1 ? "" : "s");
	else if (k->applied == 0 && k->failed == 0 && k->partial == 0)
		fprintf(t.f, "nothing %s: %zu VM%s already as %s; %zu VM%s matched no policy",
			dry_run ? "would change" : "changed", k->unchanged, k->unchanged == 1 ? " is" : "s are",
			k->unchanged == 1 ? "its policy asks" : "their policies ask", k->untouched,
			k->untouched == 1 ? "" : "s");
	else
		fprintf(t.f,
			"%s%zu %s, %zu unchanged, %zu with settings %s, %zu failed%s; %zu VM%s matched no policy",
			dry_run ? "dry run (nothing changed): " : "", k->applied, dry_run ? "would change" : "applied",
			k->unchanged, k->partial, dry_run ? "that would not be carried out" : "not carried out", k->failed,
			k->conflicts ? " (left alone for a conflict: said above)" : "", k->untouched,
			k->untouched == 1 ? "" : "s");
	if (n) {
		say_alone(t.f, k);
		say_lone(t.f, k);
	}
	if (k->bad_files)
		fprintf(t.f, "; %zu policy file%s refused (said above)", k->bad_files, k->bad_files == 1 ? "" : "s");
	return cli_text_close(&t);
}

/* "summary" of the JSON report: the counts, and the policies that matched no VM. */
static json_object *summary_json(const struct apply_counts *k, bool dry_run)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "applied", json_object_new_int(dry_run ? 0 : (int)k->applied));
	json_object_object_add(o, "would_change", json_object_new_int(dry_run ? (int)k->applied : 0));
	json_object_object_add(o, "unchanged", json_object_new_int((int)k->unchanged));
	json_object_object_add(o, "partial", json_object_new_int((int)k->partial));
	json_object_object_add(o, "failed", json_object_new_int((int)k->failed));
	json_object_object_add(o, "conflicts", json_object_new_int((int)k->conflicts));
	json_object_object_add(o, "policy_files_refused", json_object_new_int((int)k->bad_files));
	json_object_object_add(o, "settings_not_carried_out", json_object_new_int((int)k->skipped_settings));
	json_object_object_add(o, "vms_without_policy", json_object_new_int((int)k->untouched));
	json_object *alone = json_object_new_array();
	for (size_t i = 0; i < k->untouched; i++) {
		json_object *v = json_object_new_object();
		json_object_object_add(v, "pid", json_object_new_int((int)k->alone[i]->pid));
		json_object_object_add(v, "name", k->alone[i]->name ? json_object_new_string(k->alone[i]->name) : NULL);
		json_object_array_add(alone, v);
	}
	json_object_object_add(o, "vms_without_policy_named", alone);
	json_object *lone = json_object_new_array();
	for (size_t i = 0; i < k->n_lone; i++)
		json_object_array_add(lone, json_object_new_string(k->lone[i]));
	json_object_object_add(o, "policies_without_vm", lone);
	return o;
}

/* The JSON report on stdout: every VM, every policy file, the summary. */
static void print_json_report(struct outcome *o, size_t n, const struct policy_file *pol, size_t n_pol,
			      const struct apply_counts *k, bool dry_run)
{
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
	json_object_object_add(top, "summary", summary_json(k, dry_run));
	print_json(stdout, top);
	json_object_put(top);
}

/* VMSEL given: the VMs listed less every other one. 0, or the exit code with the
 * selector's error said. */
static int keep_selected(struct cli *c, struct vm **vms, size_t *n_vms)
{
	struct vm *one _cleanup_vm_ = NULL;
	struct discover_opts opts;
	err_clear();
	int r = vmsel_identify(&c->discover, &c->sel, &one, &opts);
	if (r < 0) {
		log_error("%s", err_get() ? err_get() : strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	size_t k = 0;
	for (size_t i = 0; i < *n_vms; i++) {
		if (vms[i]->pid == one->pid)
			vms[k++] = vms[i];
		else
			vm_free(vms[i]);
	}
	*n_vms = k;
	if (k == 0) {
		log_error("pid %d is not among the VMs this host runs now", (int)one->pid);
		return EXIT_FAILURE_RUNTIME;
	}
	return 0;
}

/* The VMs running (asking QMP of those a policy may match), or the one VMSEL names.
 * 0, or the exit code with the error said. */
static int list_vms(struct cli *c, const struct policy_file *pol, size_t n_pol, struct vm ***ret, size_t *ret_n)
{
	struct policies wanted = {.v = pol, .n = n_pol, .proc_fd = c->proc_fd};
	c->discover.qmp_wanted = matched_by_any;
	c->discover.qmp_wanted_data = &wanted;
	c->discover.want_memdevs = has_memory_nodes(pol, n_pol);
	int r = vm_list_all(&c->discover, ret, ret_n);
	c->discover.qmp_wanted = NULL;
	if (r < 0)
		return cli_runtime_error(r, "cannot list VMs");
	if (vmsel_count(&c->sel) && (r = keep_selected(c, *ret, ret_n)) != 0) {
		vm_list_free(*ret, *ret_n);
		*ret = NULL;
		*ret_n = 0;
		return r;
	}
	return 0;
}

/* Carries out the planned VMs one after the other, saying each as it is done, and
 * counts them. */
static void carry_out_all(const struct cli *c, const struct txn_env *env, const struct apply_args *aa,
			  struct outcome *o, size_t n, struct apply_counts *k, size_t *config_errors, size_t *exited)
{
	for (size_t i = 0; i < n; i++) {
		struct outcome *x = &o[i];
		if (x->result == TXN_PLANNED)
			carry_out(env, aa, x);
		if (txn_result_ok(x->result))
			numa_warn_bound(c, x->vm, aa->dry_run ? &x->planned.tune : &x->done.tune);
		/* A VM whose policy was carried out but for some settings is "partial": it
		 * counts as such in the summary, and makes the exit status 3. */
		if (!txn_result_ok(x->result)) {
			k->failed++;
			k->conflicts += x->result == TXN_CONFLICT;
			*config_errors += x->exit_code == EXIT_USAGE;
			*exited += x->exit_code == EXIT_PARTIAL; /* the VM exited during its run */
		} else if (x->n_skipped || x->result == TXN_PARTIAL) {
			k->partial++;
		} else if (x->result == TXN_UNCHANGED) {
			k->unchanged++;
		} else {
			k->applied++;
		}
		k->skipped_settings += x->n_skipped;
		/* what was not done goes to stderr, one line each, in either output form */
		report_problems(x, aa->dry_run);
		if (!c->json)
			say_outcome(aa, x);
	}
}

/* The exit status of a run (kvmcg(8) apply), the same for a dry run and a real one:
 * 1 a VM failed and none was pinned; else 2 what the admin must fix (a refused file,
 * a VM two policies match, an Exclusive= conflict, a request that cannot work here,
 * the selected VM matched by no policy); else 3 partly (a VM failed while others
 * were pinned, exited during its run, or a setting was not carried out); else 6 a
 * dry run that finds a VM not as its policy asks (drift, as diff(1) says); else 0. */
static int apply_status(const struct apply_counts *k, size_t config_errors, size_t exited, size_t bad_files,
			bool dry_run)
{
	size_t runtime = k->failed - config_errors - exited;
	if (runtime && !k->applied && !k->partial)
		return EXIT_FAILURE_RUNTIME;
	if (config_errors || bad_files)
		return EXIT_USAGE;
	if (runtime || exited || k->partial)
		return EXIT_PARTIAL;
	return dry_run && k->applied ? EXIT_DRIFT : EXIT_OK;
}

/* Reads the policy directory; 0, or the exit code with the error said. Each file's
 * diagnostics are printed (with -q, only those of files that have errors). */
static int load_policies(const struct apply_args *aa, const char *dir, struct policy_file **pol, size_t *n_pol,
			 size_t *bad_files)
{
	char *why = NULL;
	int r = policy_dir_load(dir, geteuid() == 0, pol, n_pol, &why);
	if (r < 0) {
		log_error("%s", why ? why : strerror(-r));
		free(why);
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	for (size_t i = 0; i < *n_pol; i++) {
		*bad_files += (*pol)[i].diags.errors > 0;
		if ((*pol)[i].diags.n && (!aa->quiet || (*pol)[i].diags.errors))
			diags_print(&(*pol)[i].diags, (*pol)[i].path, stderr);
	}
	return 0;
}

static int run_apply(struct cli *c, const struct apply_args *aa)
{
	/* the transaction reads each thread's placement once, under the VM's lock */
	c->discover.placement_later = true;
	const struct txn_env env = cli_txn_env(c);
	const char *dir = aa->dir ? aa->dir : POLICY_DIR_DEFAULT;
	struct policy_file *pol = NULL;
	size_t n_pol = 0, bad_files = 0;
	struct vm **vms = NULL;
	size_t n_vms = 0;
	int r = load_policies(aa, dir, &pol, &n_pol, &bad_files);
	if (r == 0)
		r = list_vms(c, pol, n_pol, &vms, &n_vms);
	struct outcome *o = r == 0 ? calloc(n_vms ? n_vms : 1, sizeof(*o)) : NULL;
	bool *matched = o ? calloc(n_pol ? n_pol : 1, sizeof(*matched)) : NULL;
	const char **lone = matched ? calloc(n_pol ? n_pol : 1, sizeof(*lone)) : NULL;
	const struct vm **alone = lone ? calloc(n_vms ? n_vms : 1, sizeof(*alone)) : NULL;
	if (r == 0 && !alone)
		r = cli_runtime_error(-ENOMEM, "out of memory");
	if (r != 0) {
		free(o), free(matched), free(lone), free(alone);
		vm_list_free(vms, n_vms);
		policy_dir_free(pol, n_pol);
		return r;
	}
	/* Match, then plan every VM (a dry run each), before anything is written. */
	size_t n = 0;
	struct apply_counts counts = {.lone = lone, .alone = alone, .bad_files = bad_files};
	for (size_t v = 0; v < n_vms; v++)
		plan_one(&env, aa, vms[v], pol, n_pol, c->proc_fd, o, &n, alone, &counts.untouched, matched);
	/* with VMSEL the other VMs were not looked at: no policy is lone then */
	for (size_t i = 0; i < n_pol && !vmsel_count(&c->sel); i++)
		if (!matched[i] && pol[i].policy && !pol[i].diags.errors)
			lone[counts.n_lone++] = pol[i].path;
	_cleanup_close_ int state_fd = state_dir_open(false);
	check_exclusive(o, n, state_fd);

	size_t config_errors = 0, exited = 0;
	carry_out_all(c, &env, aa, o, n, &counts, &config_errors, &exited);
	/* the VM asked for by name (a start script's): no policy for it is an error */
	if (vmsel_count(&c->sel) && n_vms == 1 && n == 0) {
		char label[128];
		log_error("%s: no policy in %s matches it (%zu file%s; see their [Match] sections)",
			  vm_label(vms[0], label, sizeof(label)), dir, n_pol, n_pol == 1 ? "" : "s");
		config_errors++; /* the admin's to fix */
		counts.failed++;
	}
	if (c->json) {
		print_json_report(o, n, pol, n_pol, &counts, aa->dry_run);
	} else if (!aa->quiet) {
		_cleanup_free_ char *summary = summary_line(&counts, n, dir, n_pol, n_vms, aa->dry_run);
		_cleanup_free_ char *line = summary ? str_escape(summary) : NULL;
		printf("%s\n", line ? line : "out of memory");
	}
	int rc = apply_status(&counts, config_errors, exited, bad_files, aa->dry_run);
	for (size_t i = 0; i < n; i++)
		outcome_done(&o[i]);
	free(o), free(matched), free(lone), free(alone);
	vm_list_free(vms, n_vms);
	policy_dir_free(pol, n_pol);
	return rc;
}

static const struct option apply_options[] = {
	CLI_LIVE_OPTIONS,
	CLI_VMSEL_OPTIONS,
	{"policy-dir", required_argument, NULL, OPT_POLICY_DIR},
	{"dry-run", no_argument, NULL, OPT_APPLY_DRY_RUN},
	{"force", no_argument, NULL, OPT_APPLY_FORCE},
	{"lock-timeout", required_argument, NULL, OPT_APPLY_LOCK_TIMEOUT},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	CLI_CHANGE_OPTIONS,
	{0},
};
const struct cli_command apply_command = {.options = apply_options,
					  .help = apply_help,
					  .vmsel_optional = true,
					  .extra = apply_option,
					  .short_options = "qv"};

int cmd_apply(int argc, char **argv)
{
	struct apply_args aa = {0};
	struct cli_command cmd = apply_command;
	cmd.userdata = &aa;
	struct cli c = {.command = "apply", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if (aa.quiet && (aa.verbose || c.json))
		return cli_usage_error(&c, "--quiet prints errors only; it does not go with %s",
				       aa.verbose ? "--verbose" : "--json");
	log_set_quiet(aa.quiet);
	if (c.sysroot)
		rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to apply there");
	else if (!(rc = cli_require_root(&c)) && (rc = cli_open_roots(&c)) == 0)
		rc = run_apply(&c, &aa);
	cli_done(&c);
	return rc;
}
