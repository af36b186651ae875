// SPDX-License-Identifier: GPL-2.0-or-later
/* kvmcg run: start QEMU already placed (core/launch.h), then stay in the foreground
 * as its supervisor: forward signals, relay its stderr, exit with its status, and
 * remove its cgroups and record once it is gone. */
#include "cli/cmd-run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/trust.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/cmd-pin.h"
#include "cli/output.h"
#include "core/launch.h"
#include "state/state.h"
#include "tune/policy-dir.h"
#include "tune/policy-match.h"
#include "vmm/qemu-launch.h"

enum { OPT_POLICY_DIR = 0x300, OPT_VERBOSE };

/* How long QEMU may take to open its monitor (--qmp-timeout), by default: a guest
 * with -mem-prealloc touches all of its RAM first. */
#define RUN_QMP_TIMEOUT_MS 60000

static void run_help(void)
{
	fputs("Usage:\n"
	      " kvmcg run [--policy FILE | --policy-dir DIR] [--name NAME] [--vcpu N:CPUS]...\n"
	      "           [--emulator CPUS] [--iothread ID:CPUS]... [--mems NODES\n"
	      "           [--mem-policy MODE] [--no-migrate]] [--force] [--cpu-weight N]\n"
	      "           [--cpu-quota N%|max] [--cpu-period USEC] [--vcpu-scheduler CLASS]\n"
	      "           [--cgroup-root DIR] [--affinity-only] [--lock-timeout MS]\n"
	      "           [--qmp-timeout MS] [--dry-run] [--json] [--verbose] [--no-syslog]\n"
	      "           -- QEMU-BINARY ARGS...\n"
	      "\n"
	      "Start QEMU already placed: its process is made and put in its cgroup with the\n"
	      "emulator's CPUs and its memory policy before QEMU executes, and every vCPU and\n"
	      "iothread is pinned before the guest runs its first instruction. kvmcg then\n"
	      "stays in the foreground: it forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT to\n"
	      "QEMU, exits with QEMU's exit status (128+N after signal N), and removes the\n"
	      "VM's cgroups when QEMU is gone. With QEMU's -daemonize it returns once the\n"
	      "VM is placed.\n"
	      "\n"
	      "kvmcg adds to QEMU's command line, and says so on stderr: -S, unless it is\n"
	      "there (the guest waits until it is pinned; kvmcg resumes it then), and a QMP\n"
	      "monitor of its own (a socket in a directory only root can enter).\n"
	      "\n"
	      "Options:\n"
	      "     --policy <file>          the policy to start the VM with (kvmcg.policy(5));\n"
	      "                              when its [Match] keys cannot match the VM, refused\n"
	      "     --policy-dir <dir>       without --policy: the policy whose Name= or\n"
	      "                              Cmdline= matches the VM (default\n"
	      "                              " POLICY_DIR_DEFAULT "; none matching is fine)\n"
	      "     --name <name>            the VM's name: matched against policies, and given\n"
	      "                              to QEMU as -name when its arguments have none\n"
	      "     --vcpu, --emulator, --iothread, --mems, --mem-policy, --no-migrate,\n"
	      "     --cpu-weight, --cpu-quota, --cpu-period, --vcpu-scheduler, --cgroup-root,\n"
	      "     --affinity-only, --force,\n"
	      "     --lock-timeout           as for kvmcg pin; with a policy, --vcpu and the\n"
	      "                              CPU tuning options add to it\n"
	      "     --qmp-timeout <ms>       how long QEMU may take to start and answer on its\n"
	      "                              monitor (default 60000)\n"

	      "     --dry-run                print the command line and the plan; start nothing\n"
	      "     --verbose                say how the process was made and each step\n"
	      "     --no-syslog              do not log the VM's placement to syslog (kvmcg(8),\n"
	      "                              AUDIT TRAIL)\n"
	      "     --json                   print JSON\n"
	      " -h, --help                   display this help\n"
	      "\n"
	      "Memory: strict binds QEMU (set_mempolicy MPOL_BIND) before it executes, so its\n"
	      "first page is on the nodes; preferred and interleave set MPOL_PREFERRED (or\n"
	      "MPOL_PREFERRED_MANY) and MPOL_INTERLEAVE; restrictive sets cpuset.mems only.\n"
	      "Exit status: QEMU's, once it ran; 1 QEMU could not be started or placed (it is\n"
	      "stopped, nothing is left); 2 bad request (nothing started). See kvmcg(8).\n",
	      stdout);
}

struct run_args {
	struct pin_args pin; /* what pin's options asked */
	const char *policy_dir;
	bool verbose;
};

static int parse_run_option(struct cli *c, int opt, const char *arg, void *userdata)
{
	struct run_args *ra = userdata;
	switch (opt) {
	case OPT_POLICY_DIR:
		ra->policy_dir = arg;
		return 1;
	case OPT_VERBOSE:
		ra->verbose = true;
		return 1;
	case OPT_AFFINITY_ONLY:
		return -cli_usage_error(c, "--affinity-only: run places QEMU in cgroups before it starts");
	}
	return pin_parse_option(c, opt, arg, &ra->pin);
}

/* ---- QEMU's stderr ---------------------------------------------------------------------------- */

/* QEMU's stderr goes through a pipe that a thread copies to kvmcg's own, keeping the
 * last line: what QEMU said before it died during placement. */
struct relay {
	int rd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	char last[512];
	char partial[512];
	size_t n_partial;
};

static void relay_line(struct relay *r, const char *s, size_t n)
{
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (!n)
		return;
	if (n >= sizeof(r->last))
		n = sizeof(r->last) - 1;
	pthread_mutex_lock(&r->lock);
	memcpy(r->last, s, n);
	r->last[n] = '\0';
	pthread_mutex_unlock(&r->lock);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	char buf[4096];
	for (;;) {
		ssize_t n = read(r->rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(n - off));
			if (w <= 0)
				break;
			off += w;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (r->n_partial < sizeof(r->partial))
				r->partial[r->n_partial++] = buf[i];
			if (buf[i] == '\n') {
				relay_line(r, r->partial, r->n_partial);
				r->n_partial = 0;
			}
		}
	}
	relay_line(r, r->partial, r->n_partial);
	return NULL;
}

/* The write end for QEMU, or -1 (QEMU then writes to kvmcg's stderr directly). */
static int relay_start(struct relay *r)
{
	int p[2];
	*r = (struct relay){.rd = -1};
	pthread_mutex_init(&r->lock, NULL);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	r->rd = p[0];
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		close(p[0]);
		close(p[1]);
		r->rd = -1;
		return -1;
	}
	r->started = true;
	return p[1];
}

/* Waits up to 200 ms for the copy to end (QEMU's helpers may hold the pipe open);
 * a thread that ended is joined once. */
static void relay_stop(struct relay *r)
{
	for (int i = 0; r->started && i < 40; i++) {
		if (pthread_tryjoin_np(r->thread, NULL) != EBUSY)
			r->started = false;
		else
			usleep(5000);
	}
}

static void relay_last(struct relay *r, char *buf, size_t size)
{
	pthread_mutex_lock(&r->lock);
	snprintf(buf, size, "%s", r->last);
	pthread_mutex_unlock(&r->lock);
}

/* ---- the request ------------------------------------------------------------------------------ */

/* What run executes as root must be root's to change, as the VM evidence of
 * discovery asks of QEMU's executable (discover.h VM_EVIDENCE_EXE): its real path
 * (symbolic links resolved), every directory on the way and the file owned by root
 * and not writable by group or others (basic/trust.h). *path becomes the real path,
 * which is what is executed. EXIT_OK, or EXIT_USAGE after saying why. */
static int trusted_binary(char **path)
{
	_cleanup_free_ char *real = realpath(*path, NULL);
	if (!real) {
		log_error("run: %s: %s", *path, strerror(errno));
		return EXIT_USAGE;
	}
	_cleanup_free_ char *why = NULL;
	_cleanup_close_ int fd = trust_open_reason(real, O_PATH | O_CLOEXEC, 0, geteuid() == 0, "QEMU's binary", &why);
	if (fd < 0) {
		log_error("run: %s", why ? why : strerror(-fd));
		return EXIT_USAGE;
	}
	free(*path);
	*path = TAKE_PTR(real);
	return EXIT_OK;
}

/* argv[0] as execvp(3) would find it: a path with '/' as it is, else the first
 * executable regular file of that name in $PATH. EXIT_OK, or EXIT_USAGE after saying why. */
static int find_binary(const char *name, char **ret)
{
	struct stat st;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0) {
			log_error("run: %s: %s", name, strerror(errno));
			return EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode) || access(name, X_OK) < 0) {
			log_error("run: %s: not an executable file", name);
			return EXIT_USAGE;
		}
		*ret = strdup(name);
		return *ret ? EXIT_OK : EXIT_FAILURE_RUNTIME;
	}
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return EXIT_FAILURE_RUNTIME;
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = NULL;
		if (asprintf(&full, "%s/%s", *dir ? dir : ".", name) < 0)
			return EXIT_FAILURE_RUNTIME;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
			*ret = full;
			return EXIT_OK;
		}
		free(full);
	}
	log_error("run: %s: not found in PATH", name);
	return EXIT_USAGE;
}

/* The policy the VM starts with: --policy's (refused when its [Match] keys cannot
 * match the VM), else the one of the policy directory that matches it, else none
 * (*ret_path NULL). EXIT_OK or the exit code, reported. */
static int choose_policy(const struct run_args *ra, const char *name, char *const *argv, size_t argc,
			 char **ret_path)
{
	bool trust = geteuid() == 0;
	*ret_path = NULL;
	if (ra->pin.policy) {
		struct diags d = {0};
		struct policy *p = NULL;
		int r = policy_load(ra->pin.policy, trust, &p, &d);
		diags_print(&d, ra->pin.policy, stderr);
		bool bad = r < 0 || d.errors;
		diags_done(&d);
		if (bad) {
			policy_free(p);
			return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
		}
		bool has_match = p->match_name || p->match_cmdline || p->match_pidfile || p->match_qmp;
		bool late = p->match_pidfile || p->match_qmp;
		bool ok = !has_match || policy_matches_launch(p, name, argv, argc);
		policy_free(p);
		if (!ok && late) {
			log_error("run: %s: its [Match] has %s, which cannot be known before QEMU starts; match by Name= "
				  "or Cmdline= (apply can use the policy as it is once the VM runs)",
				  ra->pin.policy, "PidFile= or QMP=");
			return EXIT_USAGE;
		}
		if (!ok) {
			if (name)
				log_error("run: %s does not match this VM (-name %s): its [Match] says which VMs it is "
					  "for", ra->pin.policy, name);
			else
				log_error("run: %s does not match this VM, which has no -name: its [Match] says which "
					  "VMs it is for (give --name or -name)", ra->pin.policy);
			return EXIT_USAGE;
		}
		*ret_path = strdup(ra->pin.policy);
		return *ret_path ? EXIT_OK : EXIT_FAILURE_RUNTIME;
	}
	const char *dir = ra->policy_dir ? ra->policy_dir : POLICY_DIR_DEFAULT;
	struct policy_file *pol = NULL;
	size_t n = 0;
	_cleanup_free_ char *why = NULL;
	int r = policy_dir_load(dir, trust, &pol, &n, &why);
	if (r == -ENOENT && !ra->policy_dir)
		return EXIT_OK; /* no policy directory: nothing to match */
	if (r < 0) {
		log_error("run: %s", why ? why : strerror(-r));
		policy_dir_free(pol, n);
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	/* A file that cannot be read or has errors may be this VM's own policy: the VM
	 * is not started without it. Each problem is said, as check and apply say it. */
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (pol[i].diags.n)
			diags_print(&pol[i].diags, pol[i].path, stderr);
		bad += !pol[i].policy;
	}
	if (bad) {
		log_error("run: %zu polic%s in %s cannot be used (said above), and one may be this VM's; fix %s, or "
			  "name the VM's policy with --policy", bad, bad == 1 ? "y" : "ies", dir, bad == 1 ? "it" : "them");
		policy_dir_free(pol, n);
		return EXIT_USAGE;
	}
	const char *found = NULL;
	int rc = EXIT_OK;
	for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
		if (!pol[i].policy || !policy_matches_launch(pol[i].policy, name, argv, argc))
			continue;
		if (found) {
			log_error("run: two policies match this VM: %s and %s; make their [Match] keys tell them apart",
				  found, pol[i].path);
			rc = EXIT_USAGE;
		}
		found = pol[i].path;
	}
	if (rc == EXIT_OK && found && !(*ret_path = strdup(found)))
		rc = EXIT_FAILURE_RUNTIME;
	policy_dir_free(pol, n);
	return rc;
}

/* The first pin's request: all of it but the vCPUs' scheduling class (there are no
 * vCPU threads yet; their pins are checked against the command line's vCPUs and
 * recorded, their cgroups made by the second pin). */
static int held_request(const struct pin_args *all, struct pin_args *ret)
{
	*ret = (struct pin_args){.cgroup_root = all->cgroup_root, .lock_timeout_ms = all->lock_timeout_ms,
				 .force = all->force, .command = "run"};
	struct tune_request *r = &ret->req;
	r->mem_policy = all->req.mem_policy;
	r->no_migrate = all->req.no_migrate;
	r->cputune = all->req.cputune;
	r->cputune.sched_set = false;
	int e = 0;
	for (size_t i = 0; e == 0 && i < all->req.n_vcpus; i++)
		e = tune_request_add_vcpu(r, &all->req.vcpus[i]);
	for (size_t i = 0; e == 0 && i < all->req.n_iothreads; i++)
		e = tune_request_add_iothread(r, all->req.iothread_ids[i], all->req.iothreads[i]);
	if (e == 0 && ((all->req.emulator && !(r->emulator = idset_dup(all->req.emulator))) ||
		       (all->req.mems && !(r->mems = idset_dup(all->req.mems)))))
		e = -ENOMEM;
	return e;
}

/* The memory policy QEMU sets for itself before it executes. 0 (*ret untouched
 * when none), or an exit code after saying why. */
static int memory_policy(const struct tune_request *req, struct mempolicy_self *ret, bool *ret_set)
{
	*ret_set = false;
	if (!req->mems)
		return 0;
	enum mempolicy_self_mode m;
	switch (req->mem_policy) {
	case MEM_POLICY_STRICT:
		m = MEMPOLICY_SELF_BIND;
		break;
	case MEM_POLICY_PREFERRED:
		m = MEMPOLICY_SELF_PREFERRED;
		break;
	case MEM_POLICY_INTERLEAVE:
		m = MEMPOLICY_SELF_INTERLEAVE;
		break;
	default:
		return 0; /* restrictive: cpuset.mems alone */
	}
	int r = mempolicy_self_prepare(m, req->mems, ret);
	if (r < 0) {
		log_error("run: memory policy %s: %s", mem_policy_name(req->mem_policy),
			  err_get() ? err_get() : strerror(-r));
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	*ret_set = true;
	return 0;
}

/* ---- output ----------------------------------------------------------------------------------- */

static char *quoted_command(char *const *argv)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; argv[i]; i++) {
		_cleanup_free_ char *q = shell_quote(argv[i]);
		fprintf(f, "%s%s", i ? " " : "", q ? q : "''");
	}
	fclose(f);
	return out;
}

static json_object *strv_json(char *const *v)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* --dry-run: the command line, what kvmcg adds, and the first pin's plan, as it
 * would be made for a process in kvmcg's own place. */
static int print_dry_run(const struct cli *c, const char *binary, char *const *argv, char *const *added,
			 const struct pin_result *held,
			 const struct pin_args *all, const struct mempolicy_self *mp, bool paused, bool named)
{
	_cleanup_free_ char *cmd = quoted_command(argv);
	if (c->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "binary", json_object_new_string(binary));
		json_object_object_add(o, "command", strv_json(argv));
		json_object_object_add(o, "added", strv_json(added));
		json_object_object_add(o, "memory_policy", mp ? json_object_new_string(mempolicy_self_name(mp)) : NULL);
		json_object_object_add(o, "before_exec", plan_to_json(&held->plan));
		/* planned for kvmcg's own process: its TIDs are kvmcg's, not QEMU's */
		json_object_object_add(o, "planned_pid", json_object_new_int(getpid()));
		json_object_object_add(o, "result", json_object_new_string(txn_result_name(held->result)));
		print_json(stdout, o);
		json_object_put(o);
		return EXIT_OK;
	}
	printf("binary: %s\n", binary);
	printf("command: %s\n", cmd ? cmd : "(out of memory)");
	for (size_t i = 0; added && added[i]; i++)
		printf("added: %s\n", added[i]);
	if (mp)
		printf("memory policy before exec: %s\n", mempolicy_self_name(mp));
	printf("before QEMU executes (planned for kvmcg's own process, pid %d, in the place QEMU's will have: the "
	       "real run's TID is QEMU's%s):\n",
	       (int)getpid(), named ? "" : ", and so is the name of the VM's cgroup, as it has no -name");
	if (held->plan.n_actions)
		print_plan_table(stdout, &held->plan);
	else
		printf("  nothing to change\n");
	printf("once QEMU's monitor is up: every vCPU and iothread in its cgroup");
	for (size_t i = 0; i < all->req.n_vcpus; i++) {
		_cleanup_free_ char *cpus = idset_format(all->req.vcpus[i].cpus);
		const struct vcpu_arg *v = &all->req.vcpus[i];
		char which[32];
		if (v->first < 0)
			snprintf(which, sizeof(which), "every vCPU");
		else if (v->first == v->last)
			snprintf(which, sizeof(which), "vCPU %d", v->first);
		else
			snprintf(which, sizeof(which), "vCPUs %d-%d", v->first, v->last);
		printf("%s %s -> %s", i ? "," : ";", which, cpus ? cpus : "?");
	}
	for (size_t i = 0; i < all->req.n_iothreads; i++) {
		_cleanup_free_ char *cpus = idset_format(all->req.iothreads[i]);
		printf("%s iothread %s -> %s", i || all->req.n_vcpus ? "," : ";", all->req.iothread_ids[i],
		       cpus ? cpus : "?");
	}
	printf("; then %s\n", paused ? "the guest stays paused (-S was given)" : "cont");
	return EXIT_OK;
}

/* ---- the run ---------------------------------------------------------------------------------- */

static int signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Foreground: forward signals until QEMU exits; its status as run's exit code. */
static int supervise(struct launch *l, int sfd)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = l->sp.pidfd, .events = POLLIN}};
		int n = poll(p, l->sp.pidfd >= 0 ? 2 : 1, l->sp.pidfd >= 0 ? -1 : 100);
		if (n < 0 && errno != EINTR)
			return EXIT_FAILURE_RUNTIME;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			spawn_signal(&l->sp, (int)si.ssi_signo);
		int status;
		if (spawn_wait(&l->sp, true, &status) == 0)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	}
}

struct run_ctx {
	struct cli *c;
	struct run_args *ra;
	char **user_argv; /* argv[0] and the user's arguments, with -name when run added it */
	size_t user_argc;
	char *binary;
	struct qemu_launch_info info;
	char **argv;  /* the final command line */
	char **added; /* what run added, in words */
	char *launch_dir;
	int launch_lock_fd; /* held while run lives (state.h state_launch_dir()) */
	char *qmp_path;
	struct pin_args all;  /* the whole request */
	struct pin_args held; /* the first pin's */
	struct mempolicy_self mp;
	bool mp_set;
	struct qemu_cell_nodes *cells; /* CellNodes=, for the cells' backends */
	const char *policy_path;       /* the policy the VM starts with, NULL: none */
	char *policy;                  /* the same, kept for the pin's audit line (all.policy) */
};

static void run_ctx_done(struct run_ctx *x)
{
	strv_free(x->user_argv);
	free(x->binary);
	qemu_launch_info_done(&x->info);
	strv_free(x->argv);
	strv_free(x->added);
	if (x->launch_dir)
		state_launch_dir_remove(x->launch_dir);
	free(x->launch_dir);
	if (x->launch_lock_fd >= 0)
		close(x->launch_lock_fd);
	free(x->qmp_path);
	pin_args_done(&x->all);
	pin_args_done(&x->held);
	free(x->policy);
	free(x->cells);
}

static enum qemu_host_policy host_policy(enum mem_policy m)
{
	switch (m) {
	case MEM_POLICY_PREFERRED:
		return QEMU_HOST_POLICY_PREFERRED;
	case MEM_POLICY_INTERLEAVE:
		return QEMU_HOST_POLICY_INTERLEAVE;
	default:
		return QEMU_HOST_POLICY_BIND;
	}
}

/* CellNodes=: run carries it out (so it is not a skipped setting here), and the VM's
 * cpuset.mems holds every cell's nodes (Nodes= when given, which the policy checked
 * holds them; else their union, with QEMU's own memory then free among them). */
static int take_cells(struct run_ctx *x)
{
	struct tune_request *r = &x->all.req;
	size_t k = 0;
	for (size_t i = 0; i < r->n_skipped; i++) {
		if (strcmp(r->skipped[i], POLICY_SKIPPED_CELL_NODES) == 0)
			free(r->skipped[i]);
		else
			r->skipped[k++] = r->skipped[i];
	}
	r->n_skipped = k;
	if (r->skipped)
		r->skipped[k] = NULL;
	if (!r->n_cells)
		return 0;
	/* each cell's nodes exist and have memory, said in the policy's words */
	const struct idset *with = x->c->host.memory_mems ? x->c->host.memory_mems : x->c->host.online_mems;
	for (size_t i = 0; i < r->n_cells; i++)
		for (int n = 0; n <= idset_last(r->cells[i].nodes); n++)
			if (idset_isset(r->cells[i].nodes, (unsigned)n) && !idset_isset(with, (unsigned)n)) {
				_cleanup_free_ char *have = idset_format(with);
				log_error("run: %2$s: [Memory] CellNodes= of guest cell %1$u: node %3$d %4$s (nodes with memory: %5$s)",
					  r->cells[i].cell, x->policy_path ? x->policy_path : "the policy", n,
					  idset_isset(x->c->host.online_mems, (unsigned)n) ? "has no memory" : "is not online",
					  have ? have : "?");
				return -EINVAL;
			}
	if (!(x->cells = calloc(r->n_cells, sizeof(*x->cells))))
		return -ENOMEM;
	struct idset *all = r->mems ? NULL : idset_new();
	if (!r->mems && !all)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_cells; i++) {
		x->cells[i] = (struct qemu_cell_nodes){.cell = (int)r->cells[i].cell, .nodes = r->cells[i].nodes,
						       .policy = host_policy(r->cells[i].mode)};
		for (int n = 0; all && n <= idset_last(r->cells[i].nodes); n++)
			if (idset_isset(r->cells[i].nodes, (unsigned)n) && idset_set(all, (unsigned)n) < 0) {
				idset_free(all);
				return -ENOMEM;
			}
	}
	if (all)
		r->mems = all;
	return 0;
}

/* The user's command, with -name NAME after the binary when --name gave one it lacks. */
static int user_command(struct run_ctx *x, char **argv, size_t argc)
{
	const char *name = x->c->sel.name;
	int r = strv_push(&x->user_argv, &x->user_argc, argv[0]);
	if (r == 0 && name && !x->info.name) {
		r = strv_push(&x->user_argv, &x->user_argc, "-name");
		if (r == 0)
			r = strv_push(&x->user_argv, &x->user_argc, name);
	}
	for (size_t i = 1; r == 0 && i < argc; i++)
		r = strv_push(&x->user_argv, &x->user_argc, argv[i]);
	return r;
}

/* A second VM of one name: an init script that started it twice, and a name that no
 * longer selects one VM (pin --name, a policy's Name=). EXIT_OK, or EXIT_USAGE
 * after saying so. */
static int refuse_same_name(struct cli *c, const char *name)
{
	struct vm_selector same = {.name = name};
	struct vm *other = NULL;
	struct discover_opts later;
	int r = vmsel_identify(&c->discover, &same, &other, &later);
	if (r == 0 || r == -ENOTUNIQ) {
		log_error("run: a VM named '%s' runs already (pid %d): two VMs of one name cannot be told apart "
			  "(kvmcg pin --name, a policy's Name=); give this one another -name",
			  name, other ? (int)other->pid : 0);
		vm_free(other);
		return EXIT_USAGE;
	}
	err_clear();
	return EXIT_OK;
}

/* Everything before anything starts: binary, name, policy, request, memory
 * policy, command line. EXIT_OK or the exit code, reported. */
static int prepare(struct run_ctx *x, char **argv, size_t argc)
{
	struct cli *c = x->c;
	int rc = find_binary(argv[0], &x->binary);
	if (rc == EXIT_OK)
		rc = trusted_binary(&x->binary);
	if (rc != EXIT_OK)
		return rc;
	int r = qemu_launch_inspect(argv, argc, &x->info);
	if (r < 0) {
		log_error("run: %s", err_get() ? err_get() : strerror(-r));
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	if (c->sel.name && x->info.name && strcmp(c->sel.name, x->info.name) != 0)
		return cli_usage_error(c, "--name %s, but QEMU's arguments say -name %s", c->sel.name, x->info.name);
	if (user_command(x, argv, argc) < 0)
		return EXIT_FAILURE_RUNTIME;
	const char *name = c->sel.name ? c->sel.name : x->info.name;
	if (name && (rc = refuse_same_name(c, name)) != EXIT_OK)
		return rc;

	_cleanup_free_ char *policy = NULL;
	rc = choose_policy(x->ra, name, x->user_argv, x->user_argc, &policy);
	if (rc != EXIT_OK)
		return rc;
	if (policy) {
		struct pin_args with = x->ra->pin;
		with.policy = policy;
		with.command = "run";
		if (x->ra->pin.req.emulator || x->ra->pin.req.n_iothreads || x->ra->pin.req.mems ||
		    x->ra->pin.req.mem_policy || x->ra->pin.req.no_migrate)
			return cli_usage_error(c, "with a policy (%s), only --vcpu and the CPU tuning options may add to "
						  "its pins", policy);
		rc = pin_with_policy(&with, &x->all);
		if (rc != EXIT_OK)
			return rc;
		if (c->json == false)
			log_info("run: policy %s", policy);
	} else {
		x->all = x->ra->pin;
		x->ra->pin = (struct pin_args){0}; /* moved */
	}
	x->all.command = "run";
	x->policy_path = policy;
	r = take_cells(x);
	x->policy_path = NULL;
	x->all.policy = x->policy = TAKE_PTR(policy);
	if (r == -EINVAL)
		return EXIT_USAGE;
	if (r < 0)
		return EXIT_FAILURE_RUNTIME;
	if (x->all.req.no_migrate && x->all.req.mems)
		x->all.req.no_migrate = false; /* nothing to migrate: QEMU's pages are born in place */
	if (held_request(&x->all, &x->held) < 0)
		return EXIT_FAILURE_RUNTIME;
	rc = memory_policy(&x->all.req, &x->mp, &x->mp_set);
	if (rc != EXIT_OK)
		return rc;

	/* the private monitor: in a directory of its own, made only for a real run */
	if (!x->all.dry_run) {
		r = state_launch_dir(&x->launch_dir, &x->launch_lock_fd);
		if (r < 0) {
			log_error("run: %s", err_get() ? err_get() : strerror(-r));
			return EXIT_FAILURE_RUNTIME;
		}
	}
	if (asprintf(&x->qmp_path, "%s/qmp.sock",
		     x->launch_dir ? x->launch_dir : STATE_DIR_DEFAULT "/" STATE_LAUNCH_DIR "/run-XXXXXX") < 0)
		return EXIT_FAILURE_RUNTIME;
	struct qemu_launch_add add = {.add_S = !x->info.has_S, .qmp_path = x->qmp_path, .cells = x->cells,
				       .n_cells = x->all.req.n_cells};
	r = qemu_launch_build(x->user_argv, x->user_argc, &x->info, &add, &x->argv, &x->added);
	if (r < 0) {
		log_error("run: %s", err_get() ? err_get() : strerror(-r));
		return r == -ENOMEM ? EXIT_FAILURE_RUNTIME : EXIT_USAGE;
	}
	if (c->sel.name && !x->info.name) {
		char *w = NULL;
		size_t n = 0;
		while (x->added && x->added[n])
			n++;
		if (asprintf(&w, "-name %s", c->sel.name) < 0 || strv_push(&x->added, &n, w) < 0) {
			free(w);
			return EXIT_FAILURE_RUNTIME;
		}
		free(w);
	}
	return EXIT_OK;
}

static int dry_run(struct run_ctx *x)
{
	const struct txn_env env = cli_txn_env(x->c);
	struct vm *self = NULL;
	const char *name = x->c->sel.name ? x->c->sel.name : x->info.name;
	int r = launch_held_vm(env.discover, getpid(), name, x->argv, &self);
	if (r < 0)
		return cli_runtime_error(r, "cannot read kvmcg's own process");
	struct pin_args a = x->held;
	a.dry_run = true;
	a.launch = PIN_HELD;
	struct pin_result res;
	int rc = pin_vm(&env, self, &a, &res);
	if (rc == EXIT_OK || rc == EXIT_PARTIAL)
		rc = print_dry_run(x->c, x->binary, x->argv, x->added, &res, &x->all, x->mp_set ? &x->mp : NULL, x->info.has_S,
				   name != NULL);
	else
		pin_report(x->c, self, &res);
	pin_result_done(&res);
	vm_free(self);
	return rc;
}

static void report_placed(const struct run_ctx *x, const struct launch *l)
{
	if (x->c->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int(l->pid));
		json_object_object_add(o, "command", strv_json(x->argv));
		json_object_object_add(o, "added", strv_json(x->added));
		json_object_object_add(o, "spawn", json_object_new_string(spawn_how_name(l->sp.how)));
		json_object_object_add(o, "memory_policy",
				       x->mp_set ? json_object_new_string(mempolicy_self_name(&x->mp)) : NULL);
		json_object_object_add(o, "paused", json_object_new_boolean(l->paused));
		json_object_object_add(o, "pin", l->vm ? pin_result_json(l->vm, &l->placed) : NULL);
		print_json(stdout, o);
		json_object_put(o);
		fflush(stdout);
		return;
	}
	for (size_t i = 0; i < l->placed.n_warnings; i++)
		log_warning("%s", l->placed.warnings[i]);
	for (size_t i = 0; i < l->placed.n_skipped; i++)
		log_error("pid %d: not carried out: %s", (int)l->pid, l->placed.skipped[i]);
	_cleanup_free_ char *m = l->placed.message ? str_escape(l->placed.message) : NULL;
	log_info("run: QEMU pid %d placed before the guest ran%s: %s", (int)l->pid,
		 l->paused ? " (left paused: -S was given)" : "", m ? m : "");
}

/* What run added, said once QEMU's process is placed and about to execute it. */
static void say_added(void *arg)
{
	const struct run_ctx *x = arg;
	for (size_t i = 0; x->added && x->added[i]; i++)
		log_info("run: added to QEMU's command line: %s", x->added[i]);
}

static int run_launch(struct run_ctx *x)
{
	struct cli *c = x->c;
	const struct txn_env env = cli_txn_env(c);
	sigset_t set;
	int sfd = signals_block(&set);
	if (sfd < 0)
		return cli_runtime_error(sfd, "cannot take signals");
	/* static: a copy still going after run_launch (a helper of QEMU's holding its
	 * stderr) reads into memory that stays */
	static struct relay relay;
	int stderr_w = relay_start(&relay);
	struct launch_req req = {
		.path = x->binary, .argv = x->argv, .name = c->sel.name ? c->sel.name : x->info.name,
		.qmp_path = x->qmp_path, .cont = !x->info.has_S, .daemonize = x->info.daemonize,
		.mempolicy = x->mp_set ? &x->mp : NULL, .held = x->held, .placed = x->all,
		.start_timeout_ms = c->qmp_timeout_ms ? c->qmp_timeout_ms : RUN_QMP_TIMEOUT_MS,
		.stderr_fd = stderr_w, .interrupt_fd = sfd,
		/* in the foreground kvmcg is QEMU's supervisor: QEMU stops with it */
		.deathsig = x->info.daemonize ? 0 : SIGTERM,
		.before_exec = say_added, .before_exec_arg = x,
	};
	struct launch l = LAUNCH_INIT;
	bool daemon_runs = false;
	int rc = launch_start(&env, &req, &l);
	if (stderr_w >= 0)
		close(stderr_w);
	if (x->ra->verbose)
		log_info("run: QEMU's process made with %s, placed before it executed", spawn_how_name(l.sp.how));
	if (rc == -EINTR && x->info.daemonize) {
		/* a signal while a daemonizing QEMU starts: nothing is to be left running */
		struct signalfd_siginfo si = {0};
		(void)!read(sfd, &si, sizeof(si));
		launch_abort(&env, &l);
		log_error("run: stopped by signal %u while QEMU started; QEMU was stopped", si.ssi_signo);
		rc = 128 + (int)si.ssi_signo;
	} else if (rc == -EINTR) {
		/* a signal while QEMU started: it is QEMU's, and so is the exit */
		rc = supervise(&l, sfd);
	} else if (rc != EXIT_OK && rc != EXIT_PARTIAL) {
		relay_stop(&relay);
		char last[512];
		relay_last(&relay, last, sizeof(last));
		if (l.held_done && !l.placed_done && l.held.result == TXN_FAILED) {
			struct vm held = {.pid = l.sp.pid, .name = (char *)req.name};
			pin_report(c, &held, &l.held);
		} else
			log_error("run: %s%s%s", err_get() ? err_get() : "failed", *last ? "; QEMU said: " : "", last);
	} else {
		report_placed(x, &l);
		if (!x->info.daemonize)
			rc = supervise(&l, sfd);
		/* else the daemon runs on (rc: 0, or 3 for a setting not carried out); its
		 * cgroups are collected after it exits */
		daemon_runs = x->info.daemonize;
	}
	relay_stop(&relay);
	if (!daemon_runs) {
		char **problems = NULL;
		launch_collect(&env, &problems);
		for (char **p = problems; p && *p; p++)
			log_warning("%s", *p);
		strv_free(problems);
	} else {
		/* the daemon keeps its monitor: the socket stays where it is */
		free(x->launch_dir);
		x->launch_dir = NULL;
	}
	launch_done(&l);
	close(sfd);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return rc;
}

static const struct option run_options[] = {
	/* no --no-qmp: the VM is started and read through kvmcg's own monitor */
	CLI_JSON_OPTION,
	CLI_HELP_OPTION,
	{"qmp-timeout", required_argument, NULL, OPT_TIMEOUT},
	PIN_OPTIONS,
	{"name", required_argument, NULL, OPT_NAME},
	{"policy-dir", required_argument, NULL, OPT_POLICY_DIR},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	CLI_CHANGE_OPTIONS,
	{0},
};
const struct cli_command run_command = {
	.options = run_options, .help = run_help, .command_line = true, .extra = parse_run_option,
};

int cmd_run(int argc, char **argv)
{
	struct cli c = {.command = "run", .proc_fd = -1, .sys_fd = -1};
	struct run_args ra = {.pin = {.command = "run"}};
	struct cli_command cmd = run_command;
	cmd.userdata = &ra;
	int rc = cli_parse(&c, &cmd, argc, argv);
	if (rc == CLI_RUN) {
		struct run_ctx x = {.c = &c, .ra = &ra, .launch_lock_fd = -1};
		if (c.sysroot)
			rc = cli_usage_error(&c, "--sysroot reads a captured tree; nothing can be started there");
		else if (ra.pin.policy && ra.policy_dir)
			rc = cli_usage_error(&c, "--policy and --policy-dir exclude each other");
		else if ((rc = pin_check_args(&c, &ra.pin)) == CLI_RUN && !(rc = cli_require_root(&c)) &&
			 (rc = cli_open_roots(&c)) == 0 &&
			 (rc = prepare(&x, argv + optind, (size_t)(argc - optind))) == EXIT_OK)
			rc = x.all.dry_run ? dry_run(&x) : run_launch(&x);
		run_ctx_done(&x);
	}
	cli_done(&c);
	pin_args_done(&ra.pin);
	return rc;
}
