// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg pin / kvmcg unpin: discovery -> plan -> state -> execute -> verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs.h"
#include "cli.h"
#include "err.h"
#include "exec.h"
#include "output.h"
#include "pin.h"
#include "policy-use.h"
#include "policy.h"
#include "plan.h"
#include "state.h"
#include "util.h"

enum {
	OPT_VCPU = 0x200,
	OPT_EMULATOR,
	OPT_IOTHREAD,
	OPT_MEMS,
	OPT_DRY_RUN,
	OPT_CGROUP_ROOT,
	OPT_AFFINITY_ONLY,
	OPT_POLICY,
	OPT_CPU_WEIGHT,
	OPT_CPU_QUOTA,
	OPT_CPU_PERIOD,
	OPT_VCPU_SCHED,
};

static void pin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg pin VMSEL [--vcpu N:CPUS]... [--emulator CPUS] [--iothread ID:CPUS]...\n"
	      "                 [--mems NODES] [--dry-run] [--json]\n"
	      "\n"
	      "Pin a VM's threads, like virsh vcpupin, emulatorpin and iothreadpin: each vCPU,\n"
	      "the emulator and each iothread get a cgroup under <cgroup-root>/<vm>/ with its\n"
	      "cpuset, then their affinity is set and everything is read back. What was pinned\n"
	      "before stays pinned unless named again; an identical second pin changes nothing.\n"
	      "\n"
	      "VMSEL (exactly one): --pid PID, --pidfile FILE, --name NAME, --qmp SOCKET\n"
	      "\n"
	      "Options:\n"
	      "     --vcpu <N|A-B|all>:<cpus>  pin vCPU N (or a range, or all) to CPUs\n"
	      "     --emulator <cpus>          pin the emulator's threads (QEMU's own, workers)\n"
	      "     --iothread <id>:<cpus>     pin an iothread\n"
	      "     --mems <nodes>             allow memory only on these NUMA nodes (cpuset.mems)\n"
	      "     --cpu-weight <1-10000>     cpu.weight of the VM's cgroup (cgroup v2)\n"
	      "     --cpu-quota <N%|max>       cpu.max: N% of one CPU (cgroup v2)\n"
	      "     --cpu-period <usec>        the cpu.max period (1000-1000000; default 100000)\n"
	      "     --vcpu-scheduler <class>   other, batch, idle, fifo:PRIO or rr:PRIO for vCPUs\n"
	      "     --dry-run                  print the plan; change nothing\n"
	      "     --cgroup-root <dir>        the cgroup kvmcg owns (default: kvmcg/ at the top\n"
	      "                                of the hierarchy that has cpuset)\n"
	      "     --affinity-only            no cgroups: sched_setaffinity alone (also what\n"
	      "                                kvmcg does when no cpuset controller is usable)\n"
	      "     --policy <file>            take the pins from a policy file's [CPU] and\n"
	      "                                [Memory] sections (kvmcg.policy(5)); options\n"
	      "                                given here win over it; [Match] is not consulted\n"
	      "     --json                     print JSON\n"
	      "     --no-qmp, --qmp-timeout <ms>  as for show\n"
	      " -h, --help                     display this help\n"
	      "\n"
	      "CPU lists: 2, 18-23, 0-31:2 (every 2nd), 1,3,5.\n"
	      "Exit status: 0 done or nothing to do, 1 failed (rolled back), 2 bad request\n"
	      "(nothing written), 3 the VM exited during the run (rolled back).\n"
	      "See kvmcg(8).\n",
	      stdout);
}

static void unpin_help(void)
{
	fputs("Usage:\n"
	      " kvmcg unpin VMSEL [--json]\n"
	      "\n"
	      "Undo kvmcg pin: put every thread back in the cgroup and affinity it had before\n"
	      "kvmcg first pinned it, and remove the VM's cgroups. A VM that has exited leaves\n"
	      "only its cgroups, which are removed.\n"
	      "\n"
	      "VMSEL (exactly one): --pid PID, --pidfile FILE, --name NAME, --qmp SOCKET\n"
	      "See kvmcg(8).\n",
	      stdout);
}


/* ---- output ------------------------------------------------------------------------------- */

static void print_plan_text(const struct plan *p)
{
	static const struct column cols[] = {
		{"ACTION", "action", COL_TEXT}, {"CGROUP", "cgroup", COL_TEXT},
		{"FILE", "file", COL_TEXT},     {"VALUE", "value|cpus", COL_TEXT},
		{"TID", "tid", COL_TEXT},
	};
	json_object *rows = plan_to_json(p);
	print_table(stdout, cols, ARRAY_SIZE(cols), rows);
	json_object_put(rows);
}

static void print_result(const struct cli *c, const char *result, const struct vm *vm,
			 const struct plan *p, enum cgroup_mode mode, const char *mount,
			 const char *vm_dir, const char *message, char **skipped, size_t n_skipped)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", vm->name ? json_object_new_string(vm->name) : NULL);
	json_object_object_add(o, "result", json_object_new_string(result));
	json_object_object_add(o, "mode", json_object_new_string(cgroup_mode_name(mode)));
	json_object_object_add(o, "cgroup_mount", mount ? json_object_new_string(mount) : NULL);
	json_object_object_add(o, "vm_cgroup", vm_dir ? cgroup_json(vm_dir) : NULL);
	json_object_object_add(o, "actions", p ? plan_to_json(p) : json_object_new_array());
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	json_object *sk = json_object_new_array();
	for (size_t i = 0; i < n_skipped; i++)
		json_object_array_add(sk, json_object_new_string(skipped[i]));
	json_object_object_add(o, "skipped_settings", sk);
	if (c->json) {
		print_json(stdout, o);
	} else {
		if (p && p->n_actions) {
			print_plan_text(p);
			putchar('\n');
		}
		printf("%s\n", message);
		for (size_t i = 0; i < n_skipped; i++)
			printf("not carried out yet: %s\n", skipped[i]);
	}
	json_object_put(o);
}

/* ---- pin ---------------------------------------------------------------------------------- */

static int parse_pin_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct pin_args *a = userdata;
	size_t off = 0;
	switch (opt) {
	case OPT_VCPU: {
		struct vcpu_arg v;
		if (parse_vcpu_arg(arg, "--vcpu", &v, NULL) < 0)
			return -cli_usage_error(c, "%s", err_get());
		int r = pin_args_add_vcpu(a, &v);
		cpuset_free(v.cpus);
		return r < 0 ? -EXIT_FAILURE_RUNTIME : 1;
	}
	case OPT_EMULATOR:
		cpuset_free(a->emulator);
		a->emulator = NULL;
		if (cpuset_parse(arg, &a->emulator, &off) < 0 || cpuset_count(a->emulator) == 0)
			return -cli_usage_error(c, "--emulator '%s': not a non-empty CPU list", arg);
		return 1;
	case OPT_IOTHREAD: {
		char *id;
		struct cpuset *cpus;
		if (parse_iothread_arg(arg, "--iothread", &id, &cpus, NULL) < 0)
			return -cli_usage_error(c, "%s", err_get());
		int r = pin_args_add_iothread(a, id, cpus);
		free(id);
		cpuset_free(cpus);
		return r < 0 ? -EXIT_FAILURE_RUNTIME : 1;
	}
	case OPT_MEMS:
		cpuset_free(a->mems);
		a->mems = NULL;
		if (cpuset_parse(arg, &a->mems, &off) < 0 || cpuset_count(a->mems) == 0)
			return -cli_usage_error(c, "--mems '%s': not a non-empty node list", arg);
		return 1;
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
		if (parse_int(arg, &w) < 0 || w < 1 || w > 10000)
			return -cli_usage_error(c, "--cpu-weight '%s': expected a weight from 1 to 10000", arg);
		a->tune.weight = (unsigned)w;
		return 1;
	}
	case OPT_CPU_QUOTA: {
		uint64_t pct;
		size_t l = strlen(arg);
		char num[24];
		a->tune.quota_set = true;
		if (strcmp(arg, "max") == 0) {
			a->tune.quota_percent = 0;
			return 1;
		}
		if (l < 2 || l > sizeof(num) || arg[l - 1] != '%' ||
		    (memcpy(num, arg, l - 1), num[l - 1] = '\0', parse_u64(num, &pct) < 0) || pct == 0 ||
		    pct > 100000)
			return -cli_usage_error(c, "--cpu-quota '%s': expected a share of one CPU such as 200%% (1%%-100000%%), or max", arg);
		a->tune.quota_percent = pct;
		return 1;
	}
	case OPT_CPU_PERIOD: {
		int us;
		if (parse_int(arg, &us) < 0 || us < 1000 || us > 1000000)
			return -cli_usage_error(c, "--cpu-period '%s': expected microseconds from 1000 to 1000000", arg);
		a->tune.period_us = (unsigned)us;
		return 1;
	}
	case OPT_VCPU_SCHED:
		if (sched_parse(arg, &a->tune.sched_policy, &a->tune.sched_priority) < 0)
			return -cli_usage_error(c, "--vcpu-scheduler '%s': expected other, batch, idle, fifo:PRIO or rr:PRIO (PRIO 1-99)", arg);
		a->tune.sched_set = true;
		return 1;
	}
	return 0;
}


/* The policy's request first, then the command line's on top: later pins win. */
static int with_policy(const struct pin_args *cli, struct pin_args *out, char ***skipped, size_t *n_skipped)
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
	*out = (struct pin_args){.dry_run = cli->dry_run, .affinity_only = cli->affinity_only,
				 .cgroup_root = cli->cgroup_root};
	r = policy_to_pin_args(p, out, skipped, n_skipped);
	policy_free(p);
	/* the command line's tuning wins over the file's */
	if (cli->tune.weight)
		out->tune.weight = cli->tune.weight;
	if (cli->tune.quota_set) {
		out->tune.quota_set = true;
		out->tune.quota_percent = cli->tune.quota_percent;
	}
	if (cli->tune.period_us)
		out->tune.period_us = cli->tune.period_us;
	if (cli->tune.sched_set) {
		out->tune.sched_set = true;
		out->tune.sched_policy = cli->tune.sched_policy;
		out->tune.sched_priority = cli->tune.sched_priority;
	}
	for (size_t i = 0; r == 0 && i < cli->n_vcpus; i++)
		r = pin_args_add_vcpu(out, &cli->vcpus[i]);
	return r < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

static int run_pin(struct cli *c, struct pin_args *a)
{
	struct pin_args merged = {0};
	char **skipped = NULL;
	size_t n_skipped = 0;
	if (a->policy) {
		if (a->emulator || a->n_iothreads || a->mems) {
			fprintf(stderr, "kvmcg: with --policy, only --vcpu may add to the file's pins\n");
			return EXIT_USAGE;
		}
		int rc = with_policy(a, &merged, &skipped, &n_skipped);
		if (rc != EXIT_OK) {
			pin_args_done(&merged);
			strv_free(skipped);
			return rc;
		}
	}
	struct vm *vm = NULL;
	int r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) {
		pin_args_done(&merged);
		strv_free(skipped);
		return cli_runtime_error(r, "cannot select the VM");
	}
	struct pin_result res;
	int rc = pin_vm(c, vm, a->policy ? &merged : a, &res);
	for (size_t i = 0; i < res.n_skipped; i++)
		(void)strv_push(&skipped, &n_skipped, res.skipped[i]);
	if (rc == EXIT_OK)
		print_result(c, res.result, vm, &res.plan, res.mode, res.mount, res.vm_dir, res.message,
			     skipped, n_skipped);
	else
		fprintf(stderr, "kvmcg: %s\n", res.message ? res.message : "pin failed");
	if (res.warning)
		fprintf(stderr, "kvmcg: warning: pinned, but the state file could not be updated: %s\n",
			res.warning);
	pin_result_done(&res);
	pin_args_done(&merged);
	strv_free(skipped);
	vm_free(vm);
	return rc;
}

int cmd_pin(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CLI_VMSEL_OPTIONS,
		{"vcpu", required_argument, NULL, OPT_VCPU},
		{"emulator", required_argument, NULL, OPT_EMULATOR},
		{"iothread", required_argument, NULL, OPT_IOTHREAD},
		{"mems", required_argument, NULL, OPT_MEMS},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
		{"affinity-only", no_argument, NULL, OPT_AFFINITY_ONLY},
		{"policy", required_argument, NULL, OPT_POLICY},
		{"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},
		{"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},
		{"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
		{"vcpu-scheduler", required_argument, NULL, OPT_VCPU_SCHED},
		{0},
	};
	struct cli c = {.command = "pin", .proc_fd = -1, .sys_fd = -1};
	struct pin_args a = {0};
	const struct cli_command cmd = {
		.options = options, .help = pin_help, .vmsel = true, .extra = parse_pin_option, .userdata = &a,
	};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc == CLI_RUN) {
		if (c.sysroot)
			rc = cli_usage_error(&c, "--sysroot reads a captured tree; there is nothing to pin there");
		else if (a.affinity_only && a.cgroup_root)
			rc = cli_usage_error(&c, "--affinity-only and --cgroup-root exclude each other");
		else if (a.affinity_only && a.mems)
			rc = cli_usage_error(&c, "--mems needs a cpuset cgroup; --affinity-only has none");
		else if ((rc = cli_open_roots(&c)) == 0)
			rc = run_pin(&c, &a);
	}
	cli_done(&c);
	pin_args_done(&a);
	return rc;
}

/* ---- unpin -------------------------------------------------------------------------------- */

static int run_unpin(struct cli *c)
{
	int state_fd = state_dir_open(false);
	struct vm *vm = NULL;
	struct vm_state st = {0};
	struct plan plan = {0};
	struct exec_ctx ex = {.mount_fd = -1, .pidfd = -1, .proc_fd = c->proc_fd};
	struct pin_spec none = {0};
	char msg[160];
	int rc = EXIT_FAILURE_RUNTIME;

	int r = vmsel_resolve(&c->discover, &c->sel, &vm);
	if (r < 0) {
		/* A VM that is gone may have left cgroups behind: clean those up. */
		int removed = state_fd >= 0 ? cli_collect_stale(c, state_fd) : 0;
		if (r == -ESRCH && c->sel.pid > 0 && removed > 0) {
			printf("pid %d is gone; removed the cgroups kvmcg had made for it\n", (int)c->sel.pid);
			rc = EXIT_OK;
		} else {
			rc = cli_runtime_error(r, "cannot select the VM");
		}
		goto out;
	}
	if (state_fd >= 0)
		cli_collect_stale(c, state_fd);
	r = state_fd >= 0 ? state_load(state_fd, vm->pid, vm->starttime_ticks, &st) : state_fd;
	if (r == -ENOENT) {
		print_result(c, "unchanged", vm, NULL, CGROUP_MODE_AFFINITY, NULL, NULL,
			     "kvmcg has not pinned this VM: nothing to undo", NULL, 0);
		rc = EXIT_OK;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "kvmcg: cannot read the state of pid %d: %s\n", (int)vm->pid,
			r == -EBADMSG ? "the state file is damaged" : strerror(-r));
		goto out;
	}
	r = plan_unpin(&st, vm, &plan);
	if (r < 0) {
		rc = cli_runtime_error(r, "cannot plan");
		goto out;
	}
	if (st.mount) {
		ex.mount_fd = open(st.mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (ex.mount_fd < 0) {
			fprintf(stderr, "kvmcg: cannot open %s: %s\n", st.mount, strerror(errno));
			goto out;
		}
	}
	ex.pid = vm->pid;
	ex.starttime = vm->starttime_ticks;
	ex.mode = st.mode;
	ex.vm = vm;
	ex.spec = &none;
	ex.all_cpus = c->host.online_cpus;
	ex.fail_at = pin_test_hook("KVMCG_TEST_FAIL_AT");
	ex.kill_at = pin_test_hook("KVMCG_TEST_KILL_AT");
	r = exec_hold_vm(&ex);
	if (r == 0)
		r = exec_plan(&ex, &plan);
	if (r < 0) {
		fprintf(stderr, "kvmcg: unpin failed, the pin was left as it was: %s\n",
			ex.failed[0] ? ex.failed : strerror(-r));
		rc = r == -ESRCH ? EXIT_PARTIAL : EXIT_FAILURE_RUNTIME;
		goto out;
	}
	(void)state_remove(state_fd, vm->pid, vm->starttime_ticks);
	snprintf(msg, sizeof(msg), "unpinned pid %d: every thread is back in its cgroup and affinity", (int)vm->pid);
	print_result(c, "applied", vm, &plan, st.mode, st.mount, st.vm_dir, msg, NULL, 0);
	rc = EXIT_OK;
out:
	exec_done(&ex);
	if (ex.pidfd >= 0)
		close(ex.pidfd);
	if (ex.mount_fd >= 0)
		close(ex.mount_fd);
	plan_done(&plan);
	vm_state_done(&st);
	vm_free(vm);
	if (state_fd >= 0)
		close(state_fd);
	return rc;
}

int cmd_unpin(int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, CLI_VMSEL_OPTIONS, {0}};
	static const struct cli_command cmd = {.options = options, .help = unpin_help, .vmsel = true};
	struct cli c = {.command = "unpin", .proc_fd = -1, .sys_fd = -1};
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if ((rc = cli_open_roots(&c)) == 0)
		rc = run_unpin(&c);
	cli_done(&c);
	return rc;
}
