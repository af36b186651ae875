// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg pin / kvmcg unpin: discovery -> plan -> state -> execute -> verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/cgroupfs.h"
#include "cli/cmd-pin.h"

#include "cli/cli.h"
#include "basic/err.h"
#include "plan/layout.h"
#include "basic/log.h"
#include "cli/output.h"
#include "core/txn.h"
#include "tune/policy-match.h"
#include "tune/policy.h"
#include "plan/plan.h"
#include "state/state.h"
#include "basic/util.h"


static void pin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg pin VMSEL [--vcpu N:CPUS]... [--emulator CPUS] [--iothread ID:CPUS]...\n"
	      "                 [--mems NODES [--mem-policy MODE] [--no-migrate]] [--force]\n"
	      "                 [--cpu-weight N] [--cpu-quota N%|max] [--cpu-period USEC]\n"
	      "                 [--vcpu-scheduler CLASS] [--policy FILE] [--cgroup-root DIR]\n"
	      "                 [--affinity-only] [--lock-timeout MS] [--dry-run] [--json]\n"
	      "                 [--no-syslog] [--no-qmp] [--qmp-timeout MS]\n"
	      "\n"
	      "Pin a VM's threads, like virsh vcpupin, emulatorpin and iothreadpin: each vCPU,\n"
	      "the emulator and each iothread get a cgroup under <cgroup-root>/<vm>/ with its\n"
	      "cpuset, then their affinity is set and everything is read back. What was pinned\n"
	      "before stays pinned unless named again; an identical second pin changes nothing.\n"
	      "With no setting asked, pin VMSEL changes nothing and prints the VM's pins as\n"
	      "virsh vcpupin and emulatorpin do: one line per vCPU (\"   0: 22\"), then the\n"
	      "emulator's and each iothread's CPUs.\n"
	      "\n"
	      "VMSEL (exactly one):\n" CLI_VMSEL_HELP
	      "\n"
	      "Options:\n"
	      "     --vcpu <N|A-B|all>:<cpus>  pin vCPU N (or a range, or all) to CPUs\n"
	      "     --emulator <cpus>          pin the emulator's threads (QEMU's own, workers)\n"
	      "     --iothread <id>:<cpus>     pin an iothread\n"
	      "     --mems <nodes>             allow memory only on these NUMA nodes (cpuset.mems)\n"
	      "     --mem-policy <mode>        with --mems: strict (every page moved there, at\n"
	      "                                least 99% must be), restrictive (cpuset.mems,\n"
	      "                                measured), interleave (pages spread over the\n"
	      "                                nodes now) or preferred (pages moved to them\n"
	      "                                where there is room, cpuset.mems unchanged)\n"
	      "     --no-migrate               with --mems: leave the pages where they are\n"
	      "                                (cgroup v1's memory_migrate=0; refused on v2)\n"
	      "     --force                    go on when the nodes look too small for the VM;\n"
	      "                                with --policy, replace an operator's classless\n"
	      "                                qdisc on a tap (put back at unpin)\n"
	      "     --cpu-weight <1-10000>     cpu.weight of the VM's cgroup (v2); on v1,\n"
	      "                                cpu.shares = N x 1024 / 100 in the v1 cpu\n"
	      "                                hierarchy\n"
	      "     --cpu-quota <N%|max>       cpu.max: N% of one CPU (v2); on v1,\n"
	      "                                cpu.cfs_quota_us\n"
	      "     --cpu-period <usec>        the cpu.max period (1000-1000000; default 100000)\n"
	      "     --vcpu-scheduler <class>   other, batch, idle, fifo:PRIO or rr:PRIO for vCPUs\n"
	      "     --dry-run                  print the plan; change nothing\n"
	      "     --cgroup-root <dir>        the cgroup kvmcg owns (default: kvmcg/ at the top\n"
	      "                                of the hierarchy that has cpuset)\n"
	      "     --affinity-only            no cgroups: sched_setaffinity alone (also what\n"
	      "                                kvmcg does when no cpuset controller is usable)\n"
	      "     --policy <file>            carry out a policy file's [CPU], [Memory], [IO]\n"
	      "                                and [Network] sections (kvmcg.policy(5)); options\n"
	      "                                given here win over it; [Match] is not consulted\n"
	      "     --lock-timeout <ms>        wait this long for another kvmcg run on the same\n"
	      "                                VM to finish (default 5000)\n"
	      "     --no-syslog                do not log the change to syslog (kvmcg(8),\n"
	      "                                AUDIT TRAIL)\n"
	      "     --json                     print JSON\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help                     display this help\n"
	      "\n"
	      "CPU lists: 2, 18-23, 0-31:2 (every 2nd), 1,3,5.\n"
	      "Where the cgroups go: kvmcg/<vm>/ when the VM is in the root cgroup; <its\n"
	      "cgroup>/kvmcg/ when it is alone in a cgroup of its own (its limits keep\n"
	      "applying); a VM that shares its cgroup with other processes is refused unless\n"
	      "--cgroup-root says where. A pinned VM stays where it is.\n"
	      "Exit status: 0 done or nothing to do; 1 failed (rolled back), or another run\n"
	      "holds the VM; 2 bad request (nothing written); 3 partly: the VM exited during\n"
	      "the run (rolled back), a setting was not carried out (said on stderr), or what\n"
	      "could not be undone is kept in the record for the next run; 5 --wait ran out.\n"
	      "See kvmcg(8).\n",
	      stdout);
}

static void unpin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg unpin VMSEL [--migrate-back] [--lock-timeout MS] [--no-syslog] [--json]\n"
	      "                   [--no-qmp] [--qmp-timeout MS]\n"
	      "\n"
	      "Undo kvmcg pin: put every thread back in the cgroup and affinity it had before\n"
	      "kvmcg first pinned it, and remove the VM's cgroups. A VM that has exited leaves\n"
	      "only its cgroups, which are removed. A cgroup that cannot be removed yet (a\n"
	      "process that is not the VM's holds it) stays in the record, exit 3, and the next\n"
	      "unpin removes it. The VM's memory may again come from any node, but the pages\n"
	      "it has stay where they are (said, with where they are) unless --migrate-back.\n"
	      "\n"
	      "VMSEL (exactly one):\n" CLI_VMSEL_HELP
	      "\n"
	      "Options:\n"
	      "     --migrate-back             move the VM's pages back to the nodes they were\n"
	      "                                on before kvmcg first moved them, in the same\n"
	      "                                proportions\n"
	      "     --lock-timeout <ms>        wait this long for another kvmcg's hold on the VM\n"
	      "                                (default 5000)\n"
	      "     --no-syslog                do not log the change to syslog (kvmcg(8),\n"
	      "                                AUDIT TRAIL)\n"
	      "     --json                     print JSON\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help                     display this help\n"
	      "\n"
	      "Exit status: 0 done or nothing to do; 1 failed (rolled back), or another run\n"
	      "holds the VM; 2 bad request; 3 partly: the VM exited during the run, or a\n"
	      "cgroup that cannot be removed yet is kept in the record for the next unpin; 5\n"
	      "--wait ran out.\n"
	      "See kvmcg(8).\n",
	      stdout);
}


/* ---- output ------------------------------------------------------------------------------- */

/* [{"node": N, "bytes": B}...]: guest RAM and QEMU's other memory per node. */
static json_object *per_node_json(const struct vm_memory *m)
{
	json_object *a = json_object_new_array();
	for (unsigned k = 0; k < m->n_nodes; k++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "node", json_object_new_int((int)k));
		json_object_object_add(e, "bytes", json_object_new_uint64(m->nodes[k].guest_ram + m->nodes[k].other));
		json_object_array_add(a, e);
	}
	return a;
}

/* The memory step's figures (kvmcg(8) pin --mem-policy); NULL when there was none. */
static json_object *memory_json(const struct mem_report *m)
{
	if (m->policy == MEM_POLICY_UNSET)
		return NULL;
	json_object *o = json_object_new_object();
	_cleanup_free_ char *nodes = idset_format(m->nodes);
	json_object_object_add(o, "policy", json_object_new_string(mem_policy_name(m->policy)));
	json_object_object_add(o, "nodes", json_object_new_string(nodes ? nodes : ""));
	json_object_object_add(o, "before", per_node_json(&m->before));
	json_object_object_add(o, "after", per_node_json(&m->after));
	json_object_object_add(o, "moved_bytes", json_object_new_uint64(mem_report_moved(m)));
	json_object_object_add(o, "not_moved_pages", m->not_moved >= 0 ? json_object_new_int64(m->not_moved) : NULL);
	if (m->spread_done) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "resident", json_object_new_uint64(m->spread.resident));
		json_object_object_add(p, "moved", json_object_new_uint64(m->spread.moved));
		json_object_object_add(p, "stayed", json_object_new_uint64(m->spread.failed));
		json_object_object_add(p, "stayed_pinned", json_object_new_uint64(m->spread.busy));
		json_object_object_add(p, "stayed_no_room", json_object_new_uint64(m->spread.no_room));
		json_object_object_add(p, "stayed_shared", json_object_new_uint64(m->spread.shared));
		json_object_object_add(p, "stayed_other", json_object_new_uint64(m->spread.other));
		json_object_object_add(p, "released", json_object_new_uint64(m->spread.gone));
		json_object_object_add(o, "move_pages", p);
	}
	json_object_object_add(o, "allowed_share", json_object_new_double(m->share));
	uint64_t resident = vm_memory_guest_resident(&m->after);
	json_object_object_add(o, "not_resident_bytes", json_object_new_uint64(
								m->after.guest_ram_size > resident ? m->after.guest_ram_size - resident : 0));
	json_object_object_add(o, "guest_ram_source", json_object_new_string(vm_ram_source_name(m->after.source)));
	return o;
}

/* One report for pin and unpin: JSON or text on stdout; a failure as one line on
 * stderr; settings not carried out and warnings on stderr, each one line. In text, a
 * run that changed something says so in one line (a 64-vCPU pin is some 400
 * actions, which an init script's log does not want); a dry run prints the plan as a
 * table first, and --json gives every action in either case. */
json_object *pin_result_json(const struct vm *vm, const struct pin_result *res)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", vm->name ? json_object_new_string(vm->name) : NULL);
	json_object_object_add(o, "result", json_object_new_string(txn_result_name(res->result)));
	json_object_object_add(o, "mode", res->not_pinned ? NULL : json_object_new_string(backend_name(res->backend)));
	json_object_object_add(o, "layout", res->backend == BACKEND_AFFINITY || !res->vm_dir
						    ? NULL
						    : json_object_new_string(layout_kind_name(res->layout)));
	json_object_object_add(o, "cgroup_mount", res->mount ? json_object_new_string(res->mount) : NULL);
	json_object_object_add(o, "vm_cgroup", res->vm_dir ? cgroup_json(res->vm_dir) : NULL);
	json_object_object_add(o, "actions", plan_to_json(&res->plan));
	if (res->message)
		json_object_object_add(o, "message", json_object_new_string(res->message));
	if (res->problem)
		json_object_object_add(o, "problem", json_object_new_string(res->problem));
	json_object *sk = json_object_new_array();
	for (size_t i = 0; i < res->n_skipped; i++)
		json_object_array_add(sk, json_object_new_string(res->skipped[i]));
	json_object_object_add(o, "skipped_settings", sk);
	json_object *ns = json_object_new_array();
	for (size_t i = 0; i < res->n_net_steps; i++)
		json_object_array_add(ns, json_object_new_string(res->net_steps[i]));
	json_object_object_add(o, "net_steps", ns);
	json_object *w = json_object_new_array();
	for (size_t i = 0; i < res->n_warnings; i++)
		json_object_array_add(w, json_object_new_string(res->warnings[i]));
	json_object_object_add(o, "warnings", w);
	json_object *mem = memory_json(&res->memory);
	if (mem)
		json_object_object_add(o, "memory", mem);
	return o;
}

void pin_report(const struct cli *c, const struct vm *vm, const struct pin_result *res)
{
	for (size_t i = 0; i < res->n_warnings; i++)
		log_warning("%s", res->warnings[i]);
	if (res->result == TXN_FAILED) {
		log_error("%s", res->message ? res->message : "failed");
		/* strict below its share: the pin stays, and --json still gives the figures */
		if (!c->json || res->memory.policy == MEM_POLICY_UNSET || !res->memory.after.n_nodes)
			return;
	}
	for (size_t i = 0; i < res->n_skipped; i++)
		log_error("pid %d: %s: %s", (int)vm->pid,
			  res->result == TXN_DRY_RUN ? "would not be carried out" : "not carried out",
			  res->skipped[i]);
	if (res->problem)
		log_error("%s", res->problem);
	if (!c->json) {
		if (res->result == TXN_DRY_RUN && res->plan.n_actions) {
			int r = print_plan_table(stdout, &res->plan);
			if (r < 0)
				log_error("cannot print the plan: %s", strerror(-r));
			putchar('\n');
		}
		if (res->result == TXN_DRY_RUN && res->n_net_steps) {
			for (size_t i = 0; i < res->n_net_steps; i++) {
				_cleanup_free_ char *l = str_escape(res->net_steps[i]);
				printf("tc  %s\n", l ? l : "?");
			}
			putchar('\n');
		}
		_cleanup_free_ char *m = res->message ? str_escape(res->message) : NULL;
		if (m)
			printf("%s\n", m);
		return;
	}
	json_object *o = pin_result_json(vm, res);
	print_json(stdout, o);
	json_object_put(o);
}

/* ---- pin ---------------------------------------------------------------------------------- */

/* --mems, --mem-policy, --no-migrate, --force: 1 when opt was one, 0 when not. */
static int parse_memory_option(struct cli *c, int opt, const char *arg, struct pin_args *a)
{
	size_t off = 0;
	switch (opt) {
	case OPT_MEMS:
		idset_free(a->req.mems);
		a->req.mems = NULL;
		if (idset_parse(arg, &a->req.mems, &off) < 0 || idset_count(a->req.mems) == 0)
			return -cli_usage_error(c, "--mems '%s': not a non-empty node list", arg);
		return 1;
	case OPT_MEM_POLICY:
		if (mem_policy_parse(arg, &a->req.mem_policy) < 0)
			return -cli_usage_error(c, "--mem-policy '%s': not strict, restrictive, preferred or interleave",
						arg);
		return 1;
	case OPT_NO_MIGRATE:
		a->req.no_migrate = true;
		return 1;
	case OPT_FORCE:
		a->force = true;
		return 1;
	}
	return 0;
}

/* --vcpu and --iothread add up, one pin per vCPU and per iothread as virsh vcpupin and
 * iothreadpin take them: a vCPU or an iothread named twice is a usage error, and so
 * is all:CPUS twice. all:CPUS is the default for the vCPUs the others do not name,
 * whatever the order: it is kept first, so that the explicit ones win (plan_merge_spec
 * applies them in order). 1, or the negated exit code (said). */
static int add_vcpu_pin(struct cli *c, struct pin_args *a, const char *arg, const struct vcpu_arg *v)
{
	for (size_t i = 0; i < a->req.n_vcpus; i++) {
		const struct vcpu_arg *p = &a->req.vcpus[i];
		bool all = v->first < 0, p_all = p->first < 0;
		if (all && p_all)
			return -cli_usage_error(c, "--vcpu '%s': all is given twice; give it once", arg);
		if (!all && !p_all && v->first <= p->last && p->first <= v->last) {
			int n = v->first > p->first ? v->first : p->first;
			_cleanup_free_ char *cpus = idset_format(p->cpus);
			char first[48];
			if (p->first == p->last)
				snprintf(first, sizeof(first), "%d", p->first);
			else
				snprintf(first, sizeof(first), "%d-%d", p->first, p->last);
			return -cli_usage_error(c, "--vcpu '%s:%s' and --vcpu '%s' both pin vCPU %d; give each vCPU once",
						first, cpus ? cpus : "?", arg, n);
		}
	}
	if (tune_request_add_vcpu(&a->req, v) < 0)
		return -EXIT_FAILURE_RUNTIME;
	if (v->first < 0 && a->req.n_vcpus > 1) {
		struct vcpu_arg all = a->req.vcpus[a->req.n_vcpus - 1];
		memmove(&a->req.vcpus[1], &a->req.vcpus[0], (a->req.n_vcpus - 1) * sizeof(all));
		a->req.vcpus[0] = all;
	}
	return 1;
}

int pin_parse_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct pin_args *a = userdata;
	size_t off = 0;
	int m = parse_memory_option(c, opt, arg, a);
	if (m)
		return m;
	switch (opt) {
	case OPT_VCPU: {
		struct vcpu_arg v;
		if (parse_vcpu_arg(arg, "--vcpu", &v, NULL) < 0)
			return -cli_usage_error(c, "%s", err_get());
		int r = add_vcpu_pin(c, a, arg, &v);
		idset_free(v.cpus);
		return r;
	}
	case OPT_EMULATOR:
		idset_free(a->req.emulator);
		a->req.emulator = NULL;
		if (idset_parse(arg, &a->req.emulator, &off) < 0 || idset_count(a->req.emulator) == 0)
			return -cli_usage_error(c, "--emulator '%s': not a non-empty CPU list", arg);
		return 1;
	case OPT_IOTHREAD: {
		char *id;
		struct idset *cpus;
		if (parse_iothread_arg(arg, "--iothread", &id, &cpus, NULL) < 0)
			return -cli_usage_error(c, "%s", err_get());
		int r = 0;
		for (size_t i = 0; i < a->req.n_iothreads && r == 0; i++)
			if (strcmp(a->req.iothread_ids[i], id) == 0)
				r = -cli_usage_error(c, "--iothread '%s': iothread %s is given twice; give it once", arg, id);
		if (r < 0) {
			free(id);
			idset_free(cpus);
			return r;
		}
		r = tune_request_add_iothread(&a->req, id, cpus);
		free(id);
		idset_free(cpus);
		return r < 0 ? -EXIT_FAILURE_RUNTIME : 1;
	}
	case OPT_DRY_RUN:
		a->dry_run = true;
		return 1;
	case OPT_CGROUP_ROOT:
		a->cgroup_root = arg;
		return 1;
	case OPT_AFFINITY_ONLY:
		a->affinity_only = true;
		return 1;
	case OPT_POLICY:
		a->policy = arg;
		return 1;
	case OPT_CPU_WEIGHT: {
		int w;
		if (parse_int(arg, &w) < 0 || cputune_check_weight(w) < 0)
			return -cli_usage_error(c, "--cpu-weight '%s': expected a weight from %u to %u", arg,
						CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX);
		a->req.cputune.weight = (unsigned)w;
		return 1;
	}
	case OPT_CPU_QUOTA: {
		uint64_t pct;
		size_t l = strlen(arg);
		char num[24];
		a->req.cputune.quota_set = true;
		if (strcmp(arg, "max") == 0) {
			a->req.cputune.quota_percent = 0;
			return 1;
		}
		if (l < 2 || l > sizeof(num) || arg[l - 1] != '%' ||
		    (memcpy(num, arg, l - 1), num[l - 1] = '\0', parse_u64(num, &pct) < 0) ||
		    cputune_check_quota_percent(pct) < 0)
			return -cli_usage_error(c, "--cpu-quota '%s': expected a share of one CPU such as 200%% (%u%%-%u%%), or max",
						arg, CPU_QUOTA_PERCENT_MIN, CPU_QUOTA_PERCENT_MAX);
		a->req.cputune.quota_percent = pct;
		return 1;
	}
	case OPT_CPU_PERIOD: {
		int us;
		if (parse_int(arg, &us) < 0 || cputune_check_period(us) < 0)
			return -cli_usage_error(c, "--cpu-period '%s': expected microseconds from %u to %u", arg,
						CPU_PERIOD_US_MIN, CPU_PERIOD_US_MAX);
		a->req.cputune.period_us = (unsigned)us;
		return 1;
	}
	case OPT_LOCK_TIMEOUT:
		return cli_lock_timeout_option(c, arg, &a->lock_timeout_ms);
	case OPT_VCPU_SCHED:
		if (sched_parse(arg, &a->req.cputune.sched_policy, &a->req.cputune.sched_priority) < 0)
			return -cli_usage_error(c, "--vcpu-scheduler '%s': expected other, batch, idle, fifo:PRIO or rr:PRIO (PRIO %d-%d)",
						arg, SCHED_RT_PRIORITY_MIN, SCHED_RT_PRIORITY_MAX);
		a->req.cputune.sched_set = true;
		return 1;
	}
	return 0;
}


/* The policy's request first, then the command line's on top: later pins win. */
int pin_with_policy(const struct pin_args *cli, struct pin_args *out)
{
	struct diags d = {0};
	struct policy *p = NULL;
	int r = policy_load(cli->policy, geteuid() == 0, &p, &d);
	if (r < 0 || d.errors) {
		diags_print(&d, cli->policy, stderr);
		diags_done(&d);
		policy_free(p);
		return r < 0 ? -r : EXIT_USAGE;
	}
	diags_print(&d, cli->policy, stderr); /* warnings */
	diags_done(&d);
	*out = (struct pin_args){.dry_run = cli->dry_run, .affinity_only = cli->affinity_only, .force = cli->force,
				 .cgroup_root = cli->cgroup_root, .lock_timeout_ms = cli->lock_timeout_ms,
				 .command = cli->command, .policy = cli->policy};
	r = policy_to_request(p, &out->req, &out->req.skipped, &out->req.n_skipped);
	policy_free(p);
	/* the command line's tuning wins over the file's */
	if (cli->req.cputune.weight)
		out->req.cputune.weight = cli->req.cputune.weight;
	if (cli->req.cputune.quota_set) {
		out->req.cputune.quota_set = true;
		out->req.cputune.quota_percent = cli->req.cputune.quota_percent;
	}
	if (cli->req.cputune.period_us)
		out->req.cputune.period_us = cli->req.cputune.period_us;
	if (cli->req.cputune.sched_set) {
		out->req.cputune.sched_set = true;
		out->req.cputune.sched_policy = cli->req.cputune.sched_policy;
		out->req.cputune.sched_priority = cli->req.cputune.sched_priority;
	}
	for (size_t i = 0; r == 0 && i < cli->req.n_vcpus; i++)
		r = tune_request_add_vcpu(&out->req, &cli->req.vcpus[i]);
	return r < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

/* The VM exiting while it was being read is the run's "the VM exited", exit 3, as
 * when it exits later; anything else about selecting it is a runtime failure. */
static int selection_failed(int r)
{
	int rc = cli_runtime_error(r, "cannot select the VM");
	return r == -EOWNERDEAD ? EXIT_PARTIAL : rc;
}

static bool use_mems(const struct pin_args *a)
{
	return a->req.mems && a->req.mem_policy != MEM_POLICY_UNSET;
}

/* A pin by hand while kvmcg watch runs: if a policy of its directory matches the
 * VM, the watch puts that policy back at its next event or reconcile (the ruling of
 * README.md, "Keeping VMs placed"). Said, so that it is no surprise. */
static void warn_watch_overrides(const struct vm *vm)
{
	_cleanup_close_ int dir = state_dir_open(false);
	pid_t watcher = 0;
	if (dir < 0 || state_watch_running(dir, &watcher) < 0 || watcher == 0)
		return;
	log_warning("kvmcg watch (pid %d) runs: if a policy in its directory matches pid %d, it puts that policy "
		    "back at its next event or reconcile ('kvmcg unpin' makes it leave the VM alone)",
		    (int)watcher, (int)vm->pid);
}

/* Whether the command line asks for nothing to change: pin VMSEL alone (--dry-run,
 * --json, --lock-timeout, --cgroup-root, --affinity-only, --force say how, not what). */
static bool asks_nothing(const struct pin_args *a)
{
	const struct tune_request *r = &a->req;
	const struct cputune *t = &r->cputune;
	return !a->policy && !r->n_vcpus && !r->emulator && !r->n_iothreads && !r->mems && !r->mem_policy &&
	       !r->no_migrate && !t->weight && !t->quota_set && !t->period_us && !t->sched_set;
}

/* The VM's pins as the kernel has them (each thread's affinity), as virsh vcpupin,
 * emulatorpin and iothreadpin list them: {"pid", "name", "vcpupin": [{"vcpu", "tid",
 * "cpulist"}], "emulatorpin": {"tid", "cpulist"}, "iothreadpin": [{"id", "tid",
 * "cpulist"}], "kvmcg": kvmcg's record (null when kvmcg has not pinned it)}. */
static json_object *pins_json(const struct vm *vm)
{
	json_object *o = json_object_new_object(), *v = json_object_new_array(), *io = json_object_new_array();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", vm->name ? json_object_new_string(vm->name) : NULL);
	for (int i = 0;; i++) {
		const struct vm_thread *t = vm_find_vcpu(vm, i);
		if (!t && i >= (int)vm->n_vcpus_expected)
			break;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "vcpu", json_object_new_int(i));
		json_object_object_add(e, "tid", t ? json_object_new_int(t->tid) : NULL);
		json_object_object_add(e, "cpulist", t ? cpulist_json(t->affinity) : NULL);
		json_object_array_add(v, e);
	}
	json_object_object_add(o, "vcpupin", v);
	json_object *emu = NULL;
	for (size_t k = 0; k < vm->n_threads; k++) {
		const struct vm_thread *t = &vm->threads[k];
		json_object *e = t->tid == vm->pid || t->kind == THREAD_IOTHREAD ? json_object_new_object() : NULL;
		if (!e)
			continue;
		if (t->kind == THREAD_IOTHREAD)
			json_object_object_add(e, "id", json_object_new_string(t->iothread_id ? t->iothread_id : "?"));
		json_object_object_add(e, "tid", json_object_new_int(t->tid));
		json_object_object_add(e, "cpulist", cpulist_json(t->affinity));
		if (t->kind == THREAD_IOTHREAD)
			json_object_array_add(io, e);
		else
			emu = e;
	}
	json_object_object_add(o, "emulatorpin", emu);
	json_object_object_add(o, "iothreadpin", io);
	return o;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

/* pins_json() as virsh prints it: "VCPU: CPU Affinity", then "   0: 22" per vCPU
 * ("?" for one not identified), "emulator: 18-23", "iothread ID: 4"; names escaped. */
static void print_pins_text(json_object *o)
{
	json_object *a, *e;
	puts("VCPU: CPU Affinity");
	json_object_object_get_ex(o, "vcpupin", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		const char *l = get_str(e, "cpulist");
		printf("%4s: %s\n", get_str(e, "vcpu"), l ? l : "? (its thread was not identified)");
	}
	if (json_object_object_get_ex(o, "emulatorpin", &e) && e)
		printf("emulator: %s\n", get_str(e, "cpulist") ? get_str(e, "cpulist") : "?");
	json_object_object_get_ex(o, "iothreadpin", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		_cleanup_free_ char *id = str_escape(get_str(e, "id"));
		printf("iothread %s: %s\n", id ? id : "?", get_str(e, "cpulist") ? get_str(e, "cpulist") : "?");
	}
}

/* pin VMSEL alone: the VM's pins, as virsh vcpupin DOMAIN shows them. */
static int print_pins(struct cli *c)
{
	struct vm *vm _cleanup_vm_ = NULL;
	int r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) /* as show says it: nothing was to be done to the VM */
		return cli_runtime_error(r, "cannot select the VM");
	json_object *o = pins_json(vm);
	_cleanup_close_ int state_fd = state_dir_open(false);
	json_object_object_add(o, "kvmcg", cli_pin_state_json(state_fd, vm, NULL));
	cli_note_not_root(NULL, state_fd, o);
	if (c->json)
		print_json(stdout, o);
	else
		print_pins_text(o);
	json_object_put(o);
	return EXIT_OK;
}

static int run_pin(struct cli *c, struct pin_args *a)
{
	if (asks_nothing(a))
		return print_pins(c);
	/* the transaction reads each thread's placement once, under the VM's lock */
	c->discover.placement_later = true;
	struct txn_env env = cli_txn_env(c);
	struct pin_args merged = {0};
	if (a->policy) {
		if (a->req.emulator || a->req.n_iothreads || a->req.mems || a->req.mem_policy || a->req.no_migrate) {
			return cli_usage_error(c, "with --policy, only --vcpu may add to the file's pins");
		}
		int rc = pin_with_policy(a, &merged);
		if (rc != EXIT_OK) {
			pin_args_done(&merged);
			return rc;
		}
	}
	/* The VM is identified now and its threads read once its lock is held. */
	struct vm *vm = NULL;
	struct discover_opts later;
	int r = vmsel_identify(&c->discover, &c->sel, &vm, &later);
	if (r < 0) {
		pin_args_done(&merged);
		return selection_failed(r);
	}
	later.placement_later = false;
	/* a memory policy measures the VM: its backends' sizes come with its threads */
	later.want_memdevs = use_mems(a->policy ? &merged : a);
	env.discover = &later;
	struct pin_args *use = a->policy ? &merged : a;
	use->threads_unread = true;
	struct pin_result res;
	int rc = pin_vm(&env, vm, use, &res);
	pin_report(c, vm, &res);
	if (!use->dry_run && (res.result == TXN_APPLIED || res.result == TXN_PARTIAL))
		warn_watch_overrides(vm);
	pin_result_done(&res);
	pin_args_done(&merged);
	vm_free(vm);
	return rc;
}

int pin_check_args(struct cli *c, struct pin_args *a)
{
	if (a->affinity_only && a->cgroup_root)
		return cli_usage_error(c, "--affinity-only and --cgroup-root exclude each other");
	if (a->affinity_only && a->req.mems)
		return cli_usage_error(c, "--mems needs a cpuset cgroup; --affinity-only has none");
	if (a->req.mem_policy && !a->req.mems && !a->policy)
		return cli_usage_error(c, "--mem-policy says how to hold the VM to --mems NODES; give them");
	if (a->req.no_migrate && !a->req.mems && !a->policy)
		return cli_usage_error(c, "--no-migrate says what --mems NODES does to the pages; give them");
	if (a->req.no_migrate && a->req.mem_policy && a->req.mem_policy != MEM_POLICY_RESTRICTIVE)
		return cli_usage_error(c, "--no-migrate leaves the pages where they are; --mem-policy %s moves "
					  "them (use restrictive)",
				       mem_policy_name(a->req.mem_policy));
	/* --mems alone: libvirt's default mode, strict (restrictive with --no-migrate,
	 * which leaves the pages), measured and checked */
	if (a->req.mems && !a->req.mem_policy)
		a->req.mem_policy = a->req.no_migrate ? MEM_POLICY_RESTRICTIVE : MEM_POLICY_STRICT;
	return CLI_RUN;
}

static const struct option pin_options[] = {
	CLI_LIVE_OPTIONS,
	CLI_VMSEL_OPTIONS,
	PIN_OPTIONS,
	CLI_CHANGE_OPTIONS,
	{0},
};
const struct cli_command pin_command = {
	.options = pin_options, .help = pin_help, .vmsel = true, .extra = pin_parse_option,
};

int cmd_pin(int argc, char **argv)
{
	struct cli c = {.command = "pin", .proc_fd = -1, .sys_fd = -1};
	struct pin_args a = {.command = "pin"};
	struct cli_command cmd = pin_command;
	cmd.userdata = &a;
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc == CLI_RUN) {
		if (c.sysroot)
			rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to pin there");
		else if ((rc = pin_check_args(&c, &a)) == CLI_RUN && (asks_nothing(&a) || !(rc = cli_require_root(&c)))) {
			if ((rc = cli_open_roots(&c)) == 0)
				rc = run_pin(&c, &a);
		}
	}
	cli_done(&c);
	pin_args_done(&a);
	return rc;
}

/* ---- unpin -------------------------------------------------------------------------------- */

struct unpin_args {
	int lock_timeout_ms;
	bool migrate_back;
};

/* What unpin_vm() told a kvmcg watch that runs. */
static void say_watch_told(const struct vm *vm, const struct pin_result *res)
{
	if (res->watcher == 0)
		return;
	if (res->watcher_told < 0)
		log_warning("kvmcg watch (pid %d) runs and may pin pid %d again: it could not be told to leave it alone: %s",
			    (int)res->watcher, (int)vm->pid, strerror(-res->watcher_told));
	else
		log_info("kvmcg watch (pid %d) runs: it leaves pid %d alone until the VM restarts or its policy file "
			 "changes", (int)res->watcher, (int)vm->pid);
}

static int run_unpin(struct cli *c, const struct unpin_args *ua)
{
	/* the transaction reads each thread's placement once, under the VM's lock */
	c->discover.placement_later = true;
	const struct txn_env env = cli_txn_env(c);
	struct vm *vm = NULL;
	int r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) {
		/* the selection's own sentence, which the collection below would replace */
		_cleanup_free_ char *why = err_get() ? strdup(err_get()) : NULL;
		/* A VM that is gone may have left cgroups behind: clean those up, and say
		 * what cannot go yet. */
		int state_fd = state_dir_open(false);
		char **problems = NULL, mine[48];
		int removed = state_fd >= 0 ? pin_collect_stale(&env, state_fd, &problems) : 0;
		if (state_fd >= 0)
			close(state_fd);
		snprintf(mine, sizeof(mine), "pid %d has exited", (int)c->sel.pid);
		int kept = 0;
		for (char **p = problems; p && *p; p++) {
			bool ours = c->sel.pid > 0 && startswith(*p, mine);
			if (ours)
				log_error("%s", *p);
			else
				log_warning("%s", *p);
			kept += ours;
		}
		strv_free(problems);
		if (r == -ESRCH && kept)
			return EXIT_PARTIAL;
		if (r == -ESRCH && c->sel.pid > 0 && removed > 0) {
			printf("pid %d is gone; removed the cgroups kvmcg had made for it\n", (int)c->sel.pid);
			return EXIT_OK;
		}
		err_clear();
		if (why)
			err_set("%s", why);
		return selection_failed(r);
	}
	struct pin_result res;
	int rc = unpin_vm(&env, vm, ua->lock_timeout_ms, ua->migrate_back, &res);
	pin_report(c, vm, &res);
	say_watch_told(vm, &res);
	pin_result_done(&res);
	vm_free(vm);
	return rc;
}

static int parse_unpin_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct unpin_args *ua = userdata;
	if (opt == OPT_MIGRATE_BACK) {
		ua->migrate_back = true;
		return 1;
	}
	if (opt != OPT_LOCK_TIMEOUT)
		return 0;
	return cli_lock_timeout_option(c, arg, &ua->lock_timeout_ms);
}

static const struct option unpin_options[] = {CLI_LIVE_OPTIONS,
					CLI_VMSEL_OPTIONS,
					{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
					{"migrate-back", no_argument, NULL, OPT_MIGRATE_BACK},
					CLI_CHANGE_OPTIONS,
					{0}};
const struct cli_command unpin_command = {.options = unpin_options, .help = unpin_help, .vmsel = true,
				.extra = parse_unpin_option};

int cmd_unpin(int argc, char **argv)
{
	struct unpin_args ua = {0};
	struct cli_command cmd = unpin_command;
	cmd.userdata = &ua;
	struct cli c = {.command = "unpin", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if (c.sysroot)
		rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to unpin there");
	else if (!(rc = cli_require_root(&c)) && (rc = cli_open_roots(&c)) == 0)
		rc = run_unpin(&c, &ua);
	cli_done(&c);
	return rc;
}
