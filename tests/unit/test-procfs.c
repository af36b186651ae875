// SPDX-License-Identifier: GPL-2.0-or-later
/* procfs: the pure parsers on buffers, then the readers on captured trees and on
 * this process's own /proc. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/procfs.h"
#include "basic/util.h"

/* A full stat line as Linux 6.x prints it: 52 fields. */
struct stat_fields {
	int pid;
	const char *comm;
	char state;
	int ppid;
	unsigned long flags;
	unsigned long long utime, stime, starttime;
	int processor;
	unsigned rt_priority, policy;
};

static char *stat_line(const struct stat_fields *f)
{
	char *s = NULL;
	int n = asprintf(&s,
			 "%d (%s) %c %d %d %d 0 -1 %lu 4193 0 0 0 %llu %llu 0 0 20 0 6 0 %llu "
			 "439463936 8435 18446744073709551615 94168184844288 94168190704725 "
			 "140722535766384 0 0 0 268444224 4096 16963 0 0 0 17 %d %u %u 0 0 0 "
			 "94168193816824 94168199020976 94168522358784 140722535774660 "
			 "140722535774854 140722535774854 140722535776220 0\n",
			 f->pid, f->comm, f->state, f->ppid, f->pid, f->pid, f->flags, f->utime,
			 f->stime, f->starttime, f->processor, f->rt_priority, f->policy);
	cr_assert_gt(n, 0);
	return s;
}

static void check_stat(const struct stat_fields *f, const struct proc_stat *st)
{
	cr_assert_str_eq(st->comm, f->comm);
	cr_assert_eq(st->state, f->state);
	cr_assert_eq(st->ppid, f->ppid);
	cr_assert_eq(st->flags, f->flags);
	cr_assert_eq(st->utime_ticks, f->utime);
	cr_assert_eq(st->stime_ticks, f->stime);
	cr_assert_eq(st->starttime_ticks, f->starttime);
	cr_assert_eq(st->processor, f->processor);
	cr_assert_eq(st->rt_priority, f->rt_priority);
	cr_assert_eq(st->policy, f->policy);
}

static void parse_and_check(const struct stat_fields *f)
{
	_cleanup_free_ char *line = stat_line(f);
	struct proc_stat st;
	memset(&st, 0x5a, sizeof(st));
	cr_assert_eq(proc_stat_parse(line, &st), 0, "parsing: %s", line);
	check_stat(f, &st);
}

Test(proc_stat, vcpu_name_with_space_and_slash)
{
	struct stat_fields f = {.pid = 1234, .comm = "CPU 0/KVM", .state = 'S', .ppid = 1,
				.flags = 0x840000c0, .utime = 917, .stime = 3002, .starttime = 47155,
				.processor = 3, .rt_priority = 0, .policy = 0};
	parse_and_check(&f);
}

Test(proc_stat, name_with_parentheses)
{
	/* the name itself holds ") b (" : only the LAST ')' ends it */
	struct stat_fields f = {.pid = 77, .comm = "a) b (c)", .state = 'R', .ppid = 2,
				.flags = 0x400040, .utime = 1, .stime = 2, .starttime = 3,
				.processor = 1, .rt_priority = 10, .policy = 1};
	parse_and_check(&f);
	_cleanup_free_ char *line = stat_line(&f);
	cr_assert(strncmp(line, "77 (a) b (c)) R ", 16) == 0, "the line reads as in the kernel");
}

Test(proc_stat, name_with_newline_and_state_lookalike)
{
	struct stat_fields f = {.pid = 9, .comm = "x\ny) S 1 (", .state = 'D', .ppid = 5,
				.flags = 0x40, .utime = 11, .stime = 12, .starttime = 13,
				.processor = 0, .rt_priority = 0, .policy = 3};
	parse_and_check(&f);
}

Test(proc_stat, empty_name)
{
	struct stat_fields f = {.pid = 9, .comm = "", .state = 'Z', .ppid = 5, .flags = 0x40,
				.starttime = 13, .policy = 5};
	parse_and_check(&f);
}

Test(proc_stat, kernel_thread_and_user_worker_flags)
{
	/* kthreadd's flags, as captured */
	struct stat_fields k = {.pid = 2, .comm = "kthreadd", .state = 'S', .flags = 2129984};
	_cleanup_free_ char *kl = stat_line(&k);
	struct proc_stat st;
	cr_assert_eq(proc_stat_parse(kl, &st), 0);
	cr_assert(st.flags & PF_KTHREAD_FLAG);
	cr_assert_not(st.flags & PF_USER_WORKER_FLAG);

	/* KVM's kvm-nx-lpage-recovery thread, a vhost_task in the VM's thread group */
	struct stat_fields w = {.pid = 7286, .comm = "kvm-nx-lpage-re", .state = 'S', .ppid = 7249,
				.flags = 138428608};
	_cleanup_free_ char *wl = stat_line(&w);
	cr_assert_eq(proc_stat_parse(wl, &st), 0);
	cr_assert(st.flags & PF_USER_WORKER_FLAG);
	cr_assert_not(st.flags & PF_KTHREAD_FLAG);

	/* a plain QEMU thread has neither */
	struct stat_fields q = {.pid = 7279, .comm = "CPU 0/KVM", .state = 'S', .flags = 138412224};
	_cleanup_free_ char *ql = stat_line(&q);
	cr_assert_eq(proc_stat_parse(ql, &st), 0);
	cr_assert_not(st.flags & (PF_KTHREAD_FLAG | PF_USER_WORKER_FLAG));
}

Test(proc_stat, huge_rsslim_and_negative_fields)
{
	/* rsslim (field 25) is RLIM_INFINITY and tpgid (8) is -1 in stat_line(); a real
	 * time task also has a negative priority (18). Fields after them still land. */
	struct stat_fields f = {.pid = 5, .comm = "rt", .state = 'S', .ppid = 1, .flags = 0x40,
				.utime = 18446744073709551615ull, .stime = 4, .starttime = 99,
				.processor = 7, .rt_priority = 99, .policy = 2};
	_cleanup_free_ char *line = stat_line(&f);
	cr_assert_not_null(strstr(line, " 18446744073709551615 "));
	char *prio = strstr(line, " 20 0 6 0 ");
	cr_assert_not_null(prio);
	memcpy(prio, " -2 ", 4); /* "20" -> "-2" keeps the length */
	struct proc_stat st;
	cr_assert_eq(proc_stat_parse(line, &st), 0);
	check_stat(&f, &st);
}

Test(proc_stat, truncated_and_malformed)
{
	struct stat_fields f = {.pid = 1234, .comm = "CPU 0/KVM", .state = 'S', .ppid = 1,
				.flags = 0x40, .processor = 3};
	_cleanup_free_ char *line = stat_line(&f);
	struct proc_stat st;

	/* cut after some 20 fields: processor (39) and what follows are missing */
	char *cut = strdup(line);
	cr_assert_not_null(cut);
	char *p = cut;
	for (int field = 0; field < 20; field++) {
		p = strchr(p + 1, ' ');
		cr_assert_not_null(p);
	}
	*p = '\0';
	cr_assert_eq(proc_stat_parse(cut, &st), -EINVAL, "truncated: %s", cut);
	free(cut);

	cr_assert_eq(proc_stat_parse("", &st), -EINVAL);
	cr_assert_eq(proc_stat_parse("1234 CPU S 1 2 3", &st), -EINVAL, "no parentheses");
	cr_assert_eq(proc_stat_parse("1234 (abc", &st), -EINVAL, "no ')'");
	cr_assert_eq(proc_stat_parse("1234 )abc( S", &st), -EINVAL, "')' before '('");
	cr_assert_eq(proc_stat_parse("1234 (abc) S", &st), -EINVAL, "no fields");

	/* a non-number where a number belongs */
	char *bad = strdup(line);
	cr_assert_not_null(bad);
	char *ppid = strstr(bad, ") S 1 ");
	cr_assert_not_null(ppid);
	ppid[4] = 'x';
	cr_assert_eq(proc_stat_parse(bad, &st), -EINVAL, "garbage: %s", bad);
	free(bad);
}

Test(proc_stat, long_name_is_cut_not_overflowed)
{
	char name[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct stat_fields f = {.pid = 3, .comm = name, .state = 'S', .ppid = 1, .processor = 1};
	_cleanup_free_ char *line = stat_line(&f);
	struct proc_stat st;
	cr_assert_eq(proc_stat_parse(line, &st), 0);
	cr_assert_eq(strlen(st.comm), sizeof(st.comm) - 1);
	cr_assert_eq(strncmp(st.comm, name, sizeof(st.comm) - 1), 0);
	cr_assert_eq(st.processor, 1);
}

/* ---- cmdline ------------------------------------------------------------------------ */

static void check_argv(char **argv, size_t argc, const char *const *expected, size_t n)
{
	cr_assert_eq(argc, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(argv[i], expected[i], "argv[%zu]", i);
	cr_assert_null(argv[argc], "NULL-terminated");
}

Test(proc_cmdline, with_trailing_nul)
{
	static const char buf[] = "qemu-system-x86_64\0-name\0guest=vm,debug-threads=on\0";
	static const char *const exp[] = {"qemu-system-x86_64", "-name", "guest=vm,debug-threads=on"};
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	cr_assert_eq(proc_cmdline_split(buf, sizeof(buf) - 1, &argv, &argc), 0);
	check_argv(argv, argc, exp, ARRAY_SIZE(exp));
}

Test(proc_cmdline, without_trailing_nul)
{
	/* a process that rewrote its argv (setproctitle) */
	static const char buf[] = "firecracker\0--api-sock\0/run/fc.sock";
	static const char *const exp[] = {"firecracker", "--api-sock", "/run/fc.sock"};
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	cr_assert_eq(proc_cmdline_split(buf, sizeof(buf) - 1, &argv, &argc), 0);
	check_argv(argv, argc, exp, ARRAY_SIZE(exp));

	static const char one[] = "sshd: root@pts/0";
	static const char *const exp1[] = {"sshd: root@pts/0"};
	_cleanup_strv_ char **argv1 = NULL;
	cr_assert_eq(proc_cmdline_split(one, sizeof(one) - 1, &argv1, &argc), 0);
	check_argv(argv1, argc, exp1, 1);
}

Test(proc_cmdline, empty_arguments_are_kept)
{
	static const char buf[] = "prog\0\0last\0";
	static const char *const exp[] = {"prog", "", "last"};
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	cr_assert_eq(proc_cmdline_split(buf, sizeof(buf) - 1, &argv, &argc), 0);
	check_argv(argv, argc, exp, ARRAY_SIZE(exp));
}

Test(proc_cmdline, empty)
{
	/* a kernel thread or a zombie */
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 99;
	cr_assert_eq(proc_cmdline_split("", 0, &argv, &argc), 0);
	cr_assert_eq(argc, 0);
	cr_assert_not_null(argv);
	cr_assert_null(argv[0]);
}

/* ---- status ------------------------------------------------------------------------- */

static const char status_buf[] = "Name:\tCPU 0/KVM\n"
				 "State:\tS (sleeping)\n"
				 "Tgid:\t5681\n"
				 "Cpus_allowed:\t3\n"
				 "Cpus_allowed_list:\t0-1\n"
				 "Mems_allowed_list:\t0\n"
				 "Groups:\t \n"
				 "voluntary_ctxt_switches:\t16";

Test(proc_status, fields)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
		{"Name", "CPU 0/KVM"},
		{"State", "S (sleeping)"},
		{"Cpus_allowed", "3"},           /* not confused with Cpus_allowed_list */
		{"Cpus_allowed_list", "0-1"},
		{"Groups", ""},                  /* blanks only */
		{"voluntary_ctxt_switches", "16"}, /* last line, no newline */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *v = NULL;
		cr_assert_eq(proc_status_field(status_buf, cases[i].key, &v), 0, "%s", cases[i].key);
		cr_assert_str_eq(v, cases[i].value, "%s", cases[i].key);
	}
}

Test(proc_status, absent_or_partial_keys)
{
	char *v = NULL;
	cr_assert_eq(proc_status_field(status_buf, "Cpus", &v), -ENOENT, "a key prefix is no match");
	cr_assert_eq(proc_status_field(status_buf, "Cpus_allowed_lis", &v), -ENOENT);
	cr_assert_eq(proc_status_field(status_buf, "Missing", &v), -ENOENT);
	cr_assert_eq(proc_status_field(status_buf, "allowed_list", &v), -ENOENT,
		     "only matches at the start of a line");
	cr_assert_eq(proc_status_field("", "Name", &v), -ENOENT);
	cr_assert_null(v);
}

/* ---- cgroup ----------------------------------------------------------------------------- */

static void check_cgroup(const char *buf, const char *path, bool v1)
{
	_cleanup_free_ char *p = NULL;
	bool is_v1 = !v1;
	cr_assert_eq(proc_cgroup_parse(buf, &p, &is_v1), 0, "parsing %s", buf);
	cr_assert_str_eq(p, path);
	cr_assert_eq(is_v1, v1);
}

Test(proc_cgroup, pure_v2)
{
	check_cgroup("0::/kvmcg/vm/vcpu0\n", "/kvmcg/vm/vcpu0", false);
	check_cgroup("0::/\n", "/", false);
	check_cgroup("0::/no/newline", "/no/newline", false);
}

Test(proc_cgroup, hybrid_prefers_v1_cpuset)
{
	/* a hybrid host as captured: v1 controllers plus the unified hierarchy */
	static const char buf[] = "9:name=systemd:/\n"
				  "8:pids:/\n"
				  "4:memory:/\n"
				  "3:cpuset:/x\n"
				  "2:cpuacct:/\n"
				  "1:cpu:/\n"
				  "0::/\n";
	check_cgroup(buf, "/x", true);
}

Test(proc_cgroup, cpuset_in_a_controller_list)
{
	check_cgroup("4:cpu,cpuset:/y\n0::/z\n", "/y", true);
	check_cgroup("4:cpuset,cpu:/y\n0::/z\n", "/y", true);
	check_cgroup("0::/z\n4:cpu,cpuset,cpuacct:/y\n", "/y", true);
	/* a word that merely contains "cpuset" is another controller */
	check_cgroup("4:cpusetx:/no\n5:xcpuset:/no\n6:name=cpuset:/no\n0::/z\n", "/z", false);
}

Test(proc_cgroup, path_with_colons)
{
	check_cgroup("0::/machine.slice/vm:1/a:b\n", "/machine.slice/vm:1/a:b", false);
	check_cgroup("3:cpuset:/c:d\n0::/e\n", "/c:d", true);
}

Test(proc_cgroup, nothing_usable)
{
	char *p = NULL;
	bool v1;
	cr_assert_eq(proc_cgroup_parse("", &p, &v1), -ENOENT);
	cr_assert_eq(proc_cgroup_parse("4:memory:/\n1:cpu:/\n", &p, &v1), -ENOENT,
		     "v1 without cpuset and no unified line");
	cr_assert_eq(proc_cgroup_parse("garbage\n", &p, &v1), -ENOENT);
	cr_assert_null(p);
}

/* ---- syscall ------------------------------------------------------------------------------- */

Test(proc_syscall, running)
{
	struct proc_syscall sc;
	memset(&sc, 0x5a, sizeof(sc));
	cr_assert_eq(proc_syscall_parse("running\n", &sc), 0);
	cr_assert(sc.running);
	cr_assert_eq(sc.nr, -1);
}

Test(proc_syscall, blocked_in_kvm_run)
{
	struct proc_syscall sc;
	cr_assert_eq(proc_syscall_parse("16 0x1b 0xae80 0x0 0x0 0x0 0x0 0x7ff 0x7ff\n", &sc), 0);
	cr_assert_not(sc.running);
	cr_assert_eq(sc.nr, SYS_ioctl);
	cr_assert_eq(sc.args[0], 0x1b);
	cr_assert_eq(sc.args[1], 0xae80);
	for (int i = 2; i < 6; i++)
		cr_assert_eq(sc.args[i], 0);

	/* as captured: a user-space address among the arguments */
	cr_assert_eq(proc_syscall_parse("16 0xb 0xae80 0x0 0x0 0x55a53d9e5290 0x0 0x7fb16d339530 "
					"0x7fb16f0d7d6b\n",
					&sc),
		     0);
	cr_assert_eq(sc.args[0], 0xb);
	cr_assert_eq(sc.args[4], 0x55a53d9e5290ul);
}

Test(proc_syscall, blocked_outside_a_syscall)
{
	struct proc_syscall sc;
	memset(&sc, 0x5a, sizeof(sc));
	cr_assert_eq(proc_syscall_parse("-1 0x7ff 0x7ff\n", &sc), 0);
	cr_assert_not(sc.running);
	cr_assert_eq(sc.nr, -1);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(sc.args[i], 0);
}

Test(proc_syscall, garbage)
{
	struct proc_syscall sc;
	cr_assert_eq(proc_syscall_parse("", &sc), -EINVAL);
	cr_assert_eq(proc_syscall_parse("garbage", &sc), -EINVAL);
	cr_assert_eq(proc_syscall_parse("16 0x1b", &sc), -EINVAL, "arguments cut short");
	cr_assert_eq(proc_syscall_parse("16 0x1b 0xae80 zz 0x0 0x0 0x0 0x1 0x2", &sc), -EINVAL);
	cr_assert_eq(proc_syscall_parse("99999999999999999999999 0x0", &sc), -EINVAL, "overflow");
}

/* ---- readers on a captured tree --------------------------------------------------------------- */

#define NAMES_TREE FIXTURES "/qemu-names"

static int tree_fd = -1;

static void open_tree(void)
{
	tree_fd = open(NAMES_TREE "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tree_fd, 0, "open %s/proc: %s", NAMES_TREE, strerror(errno));
}

static void close_tree(void)
{
	if (tree_fd >= 0)
		close(tree_fd);
	tree_fd = -1;
}

/* Sorted numeric entries of a directory, read without the code under test. */
static size_t numeric_entries(const char *path, pid_t *out, size_t max)
{
	DIR *d = opendir(path);
	cr_assert_not_null(d, "opendir %s", path);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name)
			continue;
		cr_assert_lt(n, max);
		out[n++] = (pid_t)v;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			pid_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static pid_t the_pid(void)
{
	pid_t pids[8];
	size_t n = numeric_entries(NAMES_TREE "/proc", pids, 8);
	cr_assert_eq(n, 1, "the qemu-names tree holds one process");
	return pids[0];
}

/* The "Key:\t" line of a captured file, read by hand. */
static void file_line(const char *path, const char *prefix, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "fopen %s", path);
	char line[4096];
	bool found = false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, size, "%s", line + strlen(prefix));
			found = true;
			break;
		}
	fclose(f);
	cr_assert(found, "%s has no '%s'", path, prefix);
}

/* The cgroup line that places a task on CPUs, found by hand: a v1 hierarchy whose
 * controller list names cpuset, else the unified "0::" line. */
static void expected_cgroup(const char *path, char *out, size_t size, bool *v1)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "fopen %s", path);
	char line[4096], v2path[4096] = "";
	bool have_v1 = false, have_v2 = false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		if (strcmp(line, "0") == 0 && c1 + 1 == c2) {
			snprintf(v2path, sizeof(v2path), "%s", c2 + 1);
			have_v2 = true;
		}
		for (char *w = strtok(c1 + 1, ","); w; w = strtok(NULL, ","))
			if (strcmp(w, "cpuset") == 0) {
				snprintf(out, size, "%s", c2 + 1);
				have_v1 = true;
			}
	}
	fclose(f);
	cr_assert(have_v1 || have_v2, "%s places the task nowhere", path);
	if (!have_v1)
		snprintf(out, size, "%s", v2path);
	*v1 = have_v1;
}

TestSuite(proc_tree, .init = open_tree, .fini = close_tree);

Test(proc_tree, list_pids_and_tasks)
{
	pid_t expected[64];
	size_t n_exp = numeric_entries(NAMES_TREE "/proc", expected, 64);
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	cr_assert_eq(proc_list_pids(tree_fd, &pids, &n), 0);
	cr_assert_eq(n, n_exp);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(pids[i], expected[i]);

	pid_t pid = the_pid();
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/task", NAMES_TREE, (int)pid);
	n_exp = numeric_entries(path, expected, 64);
	cr_assert_geq(n_exp, 5, "main, call_rcu, iothread and two vCPUs at least");
	_cleanup_free_ pid_t *tids = NULL;
	cr_assert_eq(proc_list_tasks(tree_fd, pid, &tids, &n), 0);
	cr_assert_eq(n, n_exp);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(tids[i], expected[i]);
		if (i)
			cr_assert_lt(tids[i - 1], tids[i], "sorted");
	}
	cr_assert_eq(tids[0], pid, "the main thread's tid is the pid");

	_cleanup_free_ pid_t *none = NULL;
	cr_assert_eq(proc_list_tasks(tree_fd, 4194303, &none, &n), -ENOENT);
}

Test(proc_tree, read_stat_of_every_task_matches_status)
{
	pid_t pid = the_pid(), tids[64];
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/task", NAMES_TREE, (int)pid);
	size_t n = numeric_entries(path, tids, 64);
	for (size_t i = 0; i < n; i++) {
		struct proc_stat st;
		cr_assert_eq(proc_read_stat(tree_fd, pid, tids[i], &st), 0, "tid %d", (int)tids[i]);
		char name[64], ppid[32], status[256];
		snprintf(status, sizeof(status), "%s/proc/%d/task/%d/status", NAMES_TREE, (int)pid,
			 (int)tids[i]);
		file_line(status, "Name:\t", name, sizeof(name));
		file_line(status, "PPid:\t", ppid, sizeof(ppid));
		cr_assert_str_eq(st.comm, name);
		cr_assert_eq(st.ppid, atoi(ppid));
	}
	struct proc_stat st, main_st;
	cr_assert_eq(proc_read_stat(tree_fd, pid, 0, &st), 0, "tid 0 reads the process");
	cr_assert_eq(proc_read_stat(tree_fd, pid, pid, &main_st), 0);
	cr_assert_eq(st.starttime_ticks, main_st.starttime_ticks);
	cr_assert_eq(proc_read_stat(tree_fd, 4194303, 0, &st), -ENOENT);
}

Test(proc_tree, read_cmdline)
{
	pid_t pid = the_pid();
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	cr_assert_eq(proc_read_cmdline(tree_fd, pid, &argv, &argc), 0);

	/* the same bytes, split by hand */
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/cmdline", NAMES_TREE, (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char buf[8192];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	size_t k = 0;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1, k++) {
		cr_assert_lt(k, argc);
		cr_assert_str_eq(argv[k], buf + off);
	}
	cr_assert_eq(k, argc);
	cr_assert_not_null(strstr(argv[0], "qemu-system-"));
}

Test(proc_tree, read_affinity_and_cgroup)
{
	pid_t pid = the_pid(), tids[64];
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/task", NAMES_TREE, (int)pid);
	size_t n = numeric_entries(path, tids, 64);
	for (size_t i = 0; i < n; i++) {
		char status[256], list[128];
		snprintf(status, sizeof(status), "%s/proc/%d/task/%d/status", NAMES_TREE, (int)pid,
			 (int)tids[i]);
		file_line(status, "Cpus_allowed_list:\t", list, sizeof(list));
		struct idset *aff _cleanup_cpuset_ = NULL;
		cr_assert_eq(proc_read_affinity(tree_fd, pid, tids[i], &aff), 0);
		_cleanup_free_ char *fmt = idset_format(aff);
		cr_assert_str_eq(fmt, list, "the kernel prints the canonical form too");

		char cgfile[256], expected[256];
		bool expected_v1;
		snprintf(cgfile, sizeof(cgfile), "%s/proc/%d/task/%d/cgroup", NAMES_TREE, (int)pid,
			 (int)tids[i]);
		expected_cgroup(cgfile, expected, sizeof(expected), &expected_v1);
		_cleanup_free_ char *cg = NULL;
		bool v1 = !expected_v1;
		cr_assert_eq(proc_read_cgroup(tree_fd, pid, tids[i], &cg, &v1), 0);
		cr_assert_str_eq(cg, expected);
		cr_assert_eq(v1, expected_v1);
		/* the captured host is hybrid: its v1 cpuset line governs */
		cr_assert(v1);
	}
}

/* A held task directory (PROC_TASK_DIR) reads what the paths through /proc/PID do. */
Test(proc_tree, held_task_directory)
{
	pid_t pid = the_pid(), tids[64];
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/task", NAMES_TREE, (int)pid);
	size_t n = numeric_entries(path, tids, 64);
	cr_assert_gt(n, 1, "the captured QEMU has threads");
	int task_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(task_fd, 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert(proc_task_exists(task_fd, PROC_TASK_DIR, tids[i]));
		cr_assert(proc_task_exists(tree_fd, pid, tids[i]));
		_cleanup_free_ char *held = NULL, *through = NULL;
		bool v1_held = false, v1_through = false;
		cr_assert_eq(proc_read_cgroup(task_fd, PROC_TASK_DIR, tids[i], &held, &v1_held), 0);
		cr_assert_eq(proc_read_cgroup(tree_fd, pid, tids[i], &through, &v1_through), 0);
		cr_assert_str_eq(held, through);
		cr_assert_eq(v1_held, v1_through);
		struct proc_stat a, b;
		cr_assert_eq(proc_read_stat(task_fd, PROC_TASK_DIR, tids[i], &a), 0);
		cr_assert_eq(proc_read_stat(tree_fd, pid, tids[i], &b), 0);
		cr_assert_str_eq(a.comm, b.comm);
		cr_assert_eq(a.starttime_ticks, b.starttime_ticks);
	}
	/* a TID that is not one of its threads is not found under it */
	pid_t other = 1;
	while (proc_task_exists(task_fd, PROC_TASK_DIR, other))
		other++;
	cr_assert_not(proc_task_exists(task_fd, PROC_TASK_DIR, other));
	_cleanup_free_ char *none = NULL;
	bool v1 = false;
	cr_assert_eq(proc_read_cgroup(task_fd, PROC_TASK_DIR, other, &none, &v1), -ENOENT);
	close(task_fd);
}

Test(proc_tree, read_syscall)
{
	pid_t pid = the_pid(), tids[64];
	char path[256];
	snprintf(path, sizeof(path), "%s/proc/%d/task", NAMES_TREE, (int)pid);
	size_t n = numeric_entries(path, tids, 64);
	size_t in_kvm_run = 0;
	for (size_t i = 0; i < n; i++) {
		char file[512];
		snprintf(file, sizeof(file), "%s/%d/syscall", path, (int)tids[i]);
		FILE *f = fopen(file, "r");
		cr_assert_not_null(f);
		long nr = 0;
		unsigned long a0 = 0, a1 = 0;
		int got = fscanf(f, "%ld %lx %lx", &nr, &a0, &a1);
		fclose(f);
		cr_assert_geq(got, 1);
		struct proc_syscall sc;
		cr_assert_eq(proc_read_syscall(tree_fd, pid, tids[i], &sc), 0);
		cr_assert_eq(sc.nr, nr);
		if (got == 3) {
			cr_assert_eq(sc.args[0], a0);
			cr_assert_eq(sc.args[1], a1);
		}
		in_kvm_run += sc.nr == SYS_ioctl && sc.args[1] == 0xae80;
	}
	cr_assert_geq(in_kvm_run, 2, "both vCPUs were captured inside KVM_RUN");
}

struct fd_list {
	int fds[256];
	char targets[256][128];
	size_t n;
	size_t stop_after;
};

static int collect_fd(int fd, const char *target, void *userdata)
{
	struct fd_list *l = userdata;
	cr_assert_lt(l->n, 256);
	l->fds[l->n] = fd;
	snprintf(l->targets[l->n], sizeof(l->targets[0]), "%s", target);
	l->n++;
	return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

Test(proc_tree, foreach_fd_gives_every_link)
{
	pid_t pid = the_pid(), fds[256];
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/proc/%d/fd", NAMES_TREE, (int)pid);
	size_t n = numeric_entries(dir, fds, 256);
	cr_assert_gt(n, 3);

	struct fd_list *l = calloc(1, sizeof(*l));
	cr_assert_not_null(l);
	cr_assert_eq(proc_foreach_fd(tree_fd, pid, collect_fd, l), 0);
	cr_assert_eq(l->n, n);
	size_t kvm_vm = 0;
	for (size_t i = 0; i < l->n; i++) {
		char link[512], target[256];
		snprintf(link, sizeof(link), "%s/%d", dir, l->fds[i]);
		ssize_t t = readlink(link, target, sizeof(target) - 1);
		cr_assert_gt(t, 0);
		target[t] = '\0';
		cr_assert_str_eq(l->targets[i], target, "fd %d", l->fds[i]);
		kvm_vm += strcmp(target, "anon_inode:kvm-vm") == 0;
	}
	cr_assert_eq(kvm_vm, 1);

	/* a non-zero return stops the walk and is passed through */
	memset(l, 0, sizeof(*l));
	l->stop_after = 2;
	cr_assert_eq(proc_foreach_fd(tree_fd, pid, collect_fd, l), 42);
	cr_assert_eq(l->n, 2);
	free(l);

	cr_assert_eq(proc_foreach_fd(tree_fd, 4194303, collect_fd, NULL), -ENOENT);
}

Test(proc_tree, exe_name)
{
	pid_t pid = the_pid();
	char link[256], target[256];
	snprintf(link, sizeof(link), "%s/proc/%d/exe", NAMES_TREE, (int)pid);
	ssize_t t = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(t, 0);
	target[t] = '\0';
	struct proc_exe exe = {0};
	cr_assert_eq(proc_read_exe(tree_fd, pid, &exe), 0);
	cr_assert_str_eq(strrchr(exe.path, '/') + 1, strrchr(target, '/') + 1);
	proc_exe_done(&exe);
	cr_assert_eq(proc_read_exe(tree_fd, 4194303, &exe), -ENOENT);
}

/* Scratch directories are named /tmp/kvmcg-unit-RUNNER-WHAT.XXXXXX, RUNNER being the
 * pid of the Criterion runner that forked this test: a hook in test-util.c removes
 * what a crashed test could not. */
static void make_tmpdir(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "/tmp/kvmcg-unit-%d-%s.XXXXXX", (int)getppid(), what);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

/* exe links of a process whose binary was replaced on disk end in " (deleted)". */
Test(proc_exe, deleted_suffix_is_dropped)
{
	char root[64];
	make_tmpdir(root, sizeof(root), "exe");
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	static const struct {
		const char *pid, *target, *name;
	} cases[] = {
		{"10", "/usr/bin/qemu-system-x86_64 (deleted)", "qemu-system-x86_64"},
		{"11", "/usr/libexec/qemu-kvm", "qemu-kvm"},
		{"12", "/opt/my (deleted) vmm", "my (deleted) vmm"}, /* only a suffix counts */
		{"13", "relative-name", "relative-name"},
	};
	int failures = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char link[64];
		mkdirat(fd, cases[i].pid, 0755);
		snprintf(link, sizeof(link), "%s/exe", cases[i].pid);
		if (symlinkat(cases[i].target, fd, link) < 0) {
			failures++;
			continue;
		}
		struct proc_exe exe = {0};
		int r = proc_read_exe(fd, atoi(cases[i].pid), &exe);
		const char *name = r == 0 && exe.path ? strrchr(exe.path, '/') : NULL;
		name = name ? name + 1 : exe.path;
		if (r != 0 || strcmp(name, cases[i].name) != 0) {
			cr_log_error("%s -> %s: r=%d name=%s", cases[i].target, cases[i].name, r,
				     name ? name : "(null)");
			failures++;
		}
		proc_exe_done(&exe);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char link[64];
		snprintf(link, sizeof(link), "%s/exe", cases[i].pid);
		unlinkat(fd, link, 0);
		unlinkat(fd, cases[i].pid, AT_REMOVEDIR);
	}
	close(fd);
	rmdir(root);
	cr_assert_eq(failures, 0);
}

/* ---- readers on this process's own /proc -------------------------------------------------- */

Test(proc_live, own_process)
{
	int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	pid_t self = getpid();

	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct proc_stat st;
	cr_assert_eq(proc_read_stat(proc_fd, self, 0, &st), 0);
	char comm[64] = "";
	FILE *f = fopen("/proc/self/comm", "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	cr_assert_str_eq(st.comm, comm);
	cr_assert_eq(st.ppid, getppid());
	struct proc_stat tst;
	cr_assert_eq(proc_read_stat(proc_fd, self, tid, &tst), 0);
	cr_assert_eq(tst.state, 'R', "we are running while we read our own stat");
	cr_assert_eq(tst.starttime_ticks >= st.starttime_ticks, true);

	struct proc_syscall sc;
	cr_assert_eq(proc_read_syscall(proc_fd, self, tid, &sc), 0);
	/* a task that reads its own syscall file sees itself inside that read(2) */
	cr_assert_not(sc.running);
	cr_assert_eq(sc.nr, SYS_read);

	_cleanup_free_ pid_t *tids = NULL;
	size_t n = 0;
	cr_assert_eq(proc_list_tasks(proc_fd, self, &tids, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= tids[i] == tid;
	cr_assert(found, "our own thread is listed");

	struct idset *aff _cleanup_cpuset_ = NULL;
	cr_assert_eq(proc_read_affinity(proc_fd, self, 0, &aff), 0);
	cr_assert_gt(idset_count(aff), 0);
	cr_assert(idset_isset(aff, (unsigned)sched_getcpu()), "we run on a CPU we may use");
	close(proc_fd);
}

/* A held /proc/PID/task answers for that process only: once it has exited and been
 * reaped, its own pid is no longer found under it, whatever now has that pid. */
Test(proc_live, held_task_directory_outlives_nothing)
{
	int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	char path[32];
	snprintf(path, sizeof(path), "%d/task", (int)child);
	int task_fd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(task_fd, 0);
	cr_assert(proc_task_exists(task_fd, PROC_TASK_DIR, child));
	cr_assert_not(proc_task_exists(task_fd, PROC_TASK_DIR, getpid()), "not a thread of the child");
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	cr_assert_not(proc_task_exists(task_fd, PROC_TASK_DIR, child), "gone with its process");
	_cleanup_free_ char *cg = NULL;
	bool v1;
	cr_assert_eq(proc_read_cgroup(task_fd, PROC_TASK_DIR, child, &cg, &v1), -ENOENT);
	close(task_fd);
	close(proc_fd);
}

/* ---- what a process executes, and who owns it ------------------------------------------ */

Test(proc_exe, stat_record_parse)
{
	struct proc_exe e = {0};
	cr_assert_eq(proc_exe_stat_parse("uid=0 gid=0 mode=0x81ed dev=65024 ino=10977347\n", &e), 0);
	cr_assert(e.have_stat);
	cr_assert(e.have_id);
	cr_assert_eq(e.uid, 0);
	cr_assert_eq(e.mode, (mode_t)(S_IFREG | 0755));
	cr_assert_eq(e.dev, (dev_t)65024);
	cr_assert_eq(e.ino, (ino_t)10977347);

	/* any order, octal and decimal, unknown keys ignored; no dev/ino: no identity */
	struct proc_exe f = {0};
	cr_assert_eq(proc_exe_stat_parse("mode=0100775 future=1 uid=65534", &f), 0);
	cr_assert(f.have_stat);
	cr_assert_not(f.have_id);
	cr_assert_eq(f.uid, 65534);
	cr_assert_eq(f.mode, (mode_t)(S_IFREG | 0775));

	static const char *const bad[] = {
		"",                          /* nothing */
		"gid=0 mode=0x81ed",         /* no uid */
		"uid=0",                     /* no mode */
		"uid=-1 mode=0x81ed",        /* negative */
		"uid=0 mode=0x81edz",        /* trailing garbage */
		"uid=4294967296 mode=0x81ed", /* beyond uid_t */
		"uid=0 mode=0x10000",        /* beyond st_mode's bits */
		"uid=0 mode",                /* no value */
		"uid= mode=0x81ed",          /* empty value */
		"=0 uid=0 mode=0x81ed",      /* empty key */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proc_exe g = {0};
		cr_assert_eq(proc_exe_stat_parse(bad[i], &g), -EINVAL, "'%s'", bad[i]);
		cr_assert_not(g.have_stat, "'%s' left the output alone", bad[i]);
	}
}

Test(proc_status, effective_uid)
{
	uid_t u = 7;
	cr_assert_eq(proc_status_euid("Name:\tx\nUid:\t1000\t65534\t1000\t65534\nGid:\t0\t0\t0\t0\n", &u), 0);
	cr_assert_eq(u, 65534, "the effective uid, second of four");
	cr_assert_eq(proc_status_euid("Name:\tx\n", &u), -ENOENT);
	cr_assert_eq(proc_status_euid("Uid:\t1000\n", &u), -EINVAL, "one field only");
	cr_assert_eq(proc_status_euid("Uid:\tx\ty\n", &u), -EINVAL);
	cr_assert_eq(proc_status_euid("Uid:\t1\t99999999999\t1\t1\n", &u), -EINVAL);
	cr_assert_eq(u, 65534, "untouched on failure");
}

/* A captured tree: the exe link's text and the exe.stat record, never the link
 * followed into this host (the fixture names a python of the capture host). */
Test(proc_exe, captured_tree)
{
	int fd = open(FIXTURES "/impersonators/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_not(proc_is_live(fd));
	pid_t pids[8];
	size_t n = numeric_entries(FIXTURES "/impersonators/proc", pids, 8);
	cr_assert_eq(n, 3, "the impersonators tree holds three processes");
	for (size_t i = 0; i < n; i++) {
		char path[512], target[PATH_MAX], rec[256];
		snprintf(path, sizeof(path), FIXTURES "/impersonators/proc/%d/exe", (int)pids[i]);
		ssize_t l = readlink(path, target, sizeof(target) - 1);
		cr_assert_gt(l, 0);
		target[l] = '\0';
		snprintf(path, sizeof(path), FIXTURES "/impersonators/proc/%d/exe.stat", (int)pids[i]);
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f);
		cr_assert_not_null(fgets(rec, sizeof(rec), f));
		fclose(f);
		unsigned uid, gid, mode;
		unsigned long long dev, ino;
		cr_assert_eq(sscanf(rec, "uid=%u gid=%u mode=%x dev=%llu ino=%llu", &uid, &gid, &mode, &dev,
				    &ino), 5, "%s", rec);

		struct proc_exe e = {0};
		cr_assert_eq(proc_read_exe(fd, pids[i], &e), 0);
		cr_assert_str_eq(e.path, target);
		cr_assert(e.have_stat);
		cr_assert(e.have_id);
		cr_assert_eq(e.uid, uid);
		cr_assert_eq(e.mode, mode);
		cr_assert_eq(e.dev, (dev_t)dev);
		cr_assert_eq(e.ino, (ino_t)ino);
		proc_exe_done(&e);
	}
	struct proc_exe e = {0};
	cr_assert_eq(proc_read_exe(fd, 4194303, &e), -ENOENT);
	close(fd);
}

/* The live /proc: this process's own executable, as stat(2) and readlink(2) see it. */
Test(proc_exe, live_self)
{
	int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert(proc_is_live(fd));
	char target[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", target, sizeof(target) - 1);
	cr_assert_gt(l, 0);
	target[l] = '\0';
	struct stat st;
	cr_assert_eq(stat("/proc/self/exe", &st), 0);

	struct proc_exe e = {0};
	cr_assert_eq(proc_read_exe(fd, getpid(), &e), 0);
	cr_assert_str_eq(e.path, target);
	cr_assert_not(e.deleted);
	cr_assert(e.have_stat && e.have_id);
	cr_assert_eq(e.uid, st.st_uid);
	cr_assert_eq(e.mode, st.st_mode);
	cr_assert_eq(e.dev, st.st_dev);
	cr_assert_eq(e.ino, st.st_ino);
	proc_exe_done(&e);

	uid_t owner;
	cr_assert_eq(proc_read_owner(fd, getpid(), &owner), 0);
	cr_assert_eq(owner, geteuid());
	close(fd);
}

/* An executable replaced on disk (a package upgrade) is still the file the process
 * runs: its path loses " (deleted)", its stat is the old inode's. */
Test(proc_exe, live_deleted_executable)
{
	char dir[64], bin[128];
	make_tmpdir(dir, sizeof(dir), "deleted");
	snprintf(bin, sizeof(bin), "%s/sleeper", dir);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", bin);
	cr_assert_eq(system(cmd), 0);
	struct stat st;
	cr_assert_eq(stat(bin, &st), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		execl(bin, "sleeper", "30", (char *)NULL);
		_exit(127);
	}
	/* until the exec happened */
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)child);
	for (int i = 0; i < 200; i++) {
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l > 0 && (target[l] = '\0', strcmp(target, bin) == 0))
			break;
		usleep(10000);
	}
	unlink(bin);
	rmdir(dir);

	int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct proc_exe e = {0};
	int r = proc_read_exe(fd, child, &e);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fd);
	cr_assert_eq(r, 0);
	cr_assert_str_eq(e.path, bin);
	cr_assert(e.deleted);
	cr_assert(e.have_id);
	cr_assert_eq(e.ino, st.st_ino, "the deleted inode the process runs");
	cr_assert_eq(e.dev, st.st_dev);
	proc_exe_done(&e);
}
