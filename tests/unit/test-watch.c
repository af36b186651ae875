// SPDX-License-Identifier: GPL-2.0-or-later
/* watch: what each process event does to the table of processes kvmcg watch knows
 * (an unrelated process is never remembered; an exec of QEMU is a candidate due at
 * once; its forked child too; an exit forgets), and the policy directory's reloads
 * (a broken file keeps its last good version, a gone file is said, a directory that
 * cannot be read keeps the policies in force). The /proc here is a scratch tree
 * whose PID/exe links name the executables; the VMs themselves, their pins and
 * repairs are tests/integration/t-watch.sh's, on real QEMUs. */
#include <criterion/criterion.h>

#include "scratch.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "core/watch.h"

static char root[256], proc[300], state[300], pdir[300];
static int proc_fd = -1;
static struct discover_opts dopts;
static struct txn_env env;
static struct watch *w;

/* Every report, one per line: "LEVEL EVENT PID message". */
static char *said;
static size_t said_len;
static FILE *said_f;

static void capture(const struct watch_report *r, void *userdata)
{
	(void)userdata;
	fprintf(said_f, "%d %s %d %s\n", (int)r->level, watch_event_name(r->event), (int)r->pid, r->message);
	fflush(said_f);
}

/* proc/PID/exe -> target (a dangling link is enough for readlinkat) */
static void exe(pid_t pid, const char *target)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%d", proc, (int)pid);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/exe", proc, (int)pid);
	(void)unlink(path);
	cr_assert_eq(symlink(target, path), 0, "symlink %s: %s", path, strerror(errno));
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	scratch_make(root, sizeof(root), "watch");
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(state, sizeof(state), "%s/state", root);
	snprintf(pdir, sizeof(pdir), "%s/policies", root);
	cr_assert_eq(mkdir(proc, 0755), 0);
	cr_assert_eq(mkdir(state, 0700), 0);
	cr_assert_eq(mkdir(pdir, 0755), 0);
	setenv("KVMCG_STATE_DIR", state, 1);
	proc_fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(proc_fd, 0);
	discover_opts_init(&dopts, proc_fd);
	dopts.no_qmp = true;
	env = (struct txn_env){.proc_fd = proc_fd, .sys_fd = -1, .host = NULL, .discover = &dopts};
	said_f = open_memstream(&said, &said_len);
	cr_assert_not_null(said_f);
	struct watch_config cfg = {.policy_dir = pdir, .trust = false, .lock_timeout_ms = 100, .say = capture};
	cr_assert_eq(watch_new(&env, &cfg, &w), 0);
}

static void teardown(void)
{
	watch_free(w);
	w = NULL;
	if (said_f)
		fclose(said_f);
	said_f = NULL;
	free(said);
	said = NULL;
	if (proc_fd >= 0)
		close(proc_fd);
	proc_fd = -1;
	unsetenv("KVMCG_STATE_DIR");
	scratch_remove(root);
}

TestSuite(watch, .init = setup, .fini = teardown);

static void event(enum proc_ev_kind kind, pid_t pid, pid_t tid, pid_t parent, const char *comm)
{
	struct proc_ev ev = {.kind = kind, .pid = pid, .tid = tid, .parent_pid = parent, .parent_tid = parent,
			     .timestamp_ns = now_ns()};
	if (comm)
		snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	watch_on_event(w, &ev);
}

Test(watch, unrelated_processes_are_never_remembered)
{
	exe(200, "/usr/bin/bash");
	event(PROC_EV_FORK, 200, 200, 1, NULL);
	event(PROC_EV_EXEC, 200, 200, 0, NULL);
	event(PROC_EV_FORK, 200, 201, 1, NULL);      /* a thread of it */
	event(PROC_EV_COMM, 200, 201, 0, "CPU 0/KVM"); /* a vCPU's name, but not a known VM */
	event(PROC_EV_EXIT, 200, 201, 0, NULL);
	event(PROC_EV_EXIT, 200, 200, 0, NULL);
	event(PROC_EV_EXEC, 999, 999, 0, NULL);        /* gone before its exe was read: */
	cr_assert_eq(watch_n_known(w), 1);             /* kept for a fork it may have made */
	cr_assert_eq(watch_next_due(w), UINT64_MAX);   /* and never tried */
	event(PROC_EV_EXIT, 999, 999, 0, NULL);        /* ... until its exit */
	cr_assert_eq(watch_n_known(w), 0);
	cr_assert_eq(watch_next_due(w), UINT64_MAX);
	fflush(said_f);
	cr_assert_eq(said_len, 0, "said: %s", said);
}

Test(watch, an_exec_of_qemu_is_a_candidate_due_at_once)
{
	exe(100, "/usr/bin/qemu-system-x86_64");
	exe(101, "/usr/bin/qemu-system-x86_64");
	exe(102, "/usr/bin/sh");
	uint64_t before = now_ns();
	event(PROC_EV_EXEC, 100, 100, 0, NULL);
	cr_assert_eq(watch_n_known(w), 1);
	uint64_t due = watch_next_due(w);
	cr_assert(due >= before && due <= now_ns(), "due %llu, not between %llu and now",
		  (unsigned long long)due, (unsigned long long)before);

	/* QEMU -daemonize: the exec'd process forks the VM, which is a candidate too;
	 * a helper it runs is not */
	event(PROC_EV_FORK, 101, 101, 100, NULL);
	cr_assert_eq(watch_n_known(w), 2);
	event(PROC_EV_FORK, 102, 102, 100, NULL);
	cr_assert_eq(watch_n_known(w), 2);

	/* a thread's exit is not the process's */
	event(PROC_EV_EXIT, 101, 105, 0, NULL);
	cr_assert_eq(watch_n_known(w), 2);
	event(PROC_EV_EXIT, 101, 101, 0, NULL);
	cr_assert_eq(watch_n_known(w), 1);

	/* an exec of another program: forgotten */
	exe(100, "/usr/bin/true");
	event(PROC_EV_EXEC, 100, 100, 0, NULL);
	cr_assert_eq(watch_n_known(w), 0);
	cr_assert_eq(watch_next_due(w), UINT64_MAX);
	cr_assert_eq(watch_n_managed(w), 0);
}

/* QEMU's os_daemonize() forks twice and the middle process exits at once; on a busy
 * host the events are read after the processes they tell of are gone. The VM is a
 * candidate all the same (the field report: a daemonizing QEMU left unpinned). */
Test(watch, a_daemonizing_qemu_is_found_when_its_parents_are_gone)
{
	exe(100, "/usr/bin/qemu-system-x86_64");
	exe(102, "/usr/bin/qemu-system-x86_64");
	event(PROC_EV_EXEC, 100, 100, 0, NULL);
	event(PROC_EV_FORK, 101, 101, 100, NULL); /* the middle one: no exe link, gone */
	event(PROC_EV_FORK, 102, 102, 101, NULL); /* the VM */
	event(PROC_EV_EXIT, 101, 101, 0, NULL);
	cr_assert_eq(watch_n_known(w), 2, "known %zu: the exec'd QEMU and the VM", watch_n_known(w));
	cr_assert_neq(watch_next_due(w), UINT64_MAX);

	/* the exec read after its process exited: its fork still leads to the VM */
	exe(200, "/usr/bin/qemu-system-x86_64");
	event(PROC_EV_EXEC, 198, 198, 0, NULL);
	event(PROC_EV_FORK, 199, 199, 198, NULL);
	event(PROC_EV_FORK, 200, 200, 199, NULL);
	event(PROC_EV_EXIT, 199, 199, 0, NULL);
	event(PROC_EV_EXIT, 198, 198, 0, NULL);
	cr_assert_eq(watch_n_known(w), 3, "known %zu", watch_n_known(w));

	/* a gone process's other children that are not QEMU are not kept */
	exe(301, "/usr/bin/sh");
	event(PROC_EV_EXEC, 300, 300, 0, NULL);
	event(PROC_EV_FORK, 301, 301, 300, NULL);
	event(PROC_EV_EXIT, 300, 300, 0, NULL);
	cr_assert_eq(watch_n_known(w), 3, "known %zu", watch_n_known(w));
}

Test(watch, names_are_matched_by_their_last_component)
{
	exe(100, "/opt/qemu/bin/qemu-kvm");
	exe(101, "/usr/bin/qemu-img");
	exe(102, "/home/u/qemu-system-x86_64/not-qemu");
	event(PROC_EV_EXEC, 100, 100, 0, NULL);
	event(PROC_EV_EXEC, 101, 101, 0, NULL);
	event(PROC_EV_EXEC, 102, 102, 0, NULL);
	cr_assert_eq(watch_n_known(w), 1, "known %zu: only qemu-kvm is QEMU", watch_n_known(w));
}

Test(watch, a_candidate_that_is_gone_is_forgotten_at_its_exit)
{
	/* an exe link and nothing else: the process "exited" before its try */
	exe(100, "/usr/bin/qemu-system-x86_64");
	event(PROC_EV_EXEC, 100, 100, 0, NULL);
	cr_assert_eq(watch_n_known(w), 1);
	watch_run_due(w, now_ns());
	/* kept, never tried again, until its exit event: a fork it made first may be
	 * in the events not read yet */
	cr_assert_eq(watch_n_known(w), 1);
	cr_assert_eq(watch_next_due(w), UINT64_MAX);
	cr_assert_eq(watch_n_managed(w), 0);
	event(PROC_EV_EXIT, 100, 100, 0, NULL);
	cr_assert_eq(watch_n_known(w), 0);
	fflush(said_f);
	cr_assert_eq(said_len, 0, "said: %s", said);
}

#define GOOD "[Match]\nName=vm-a\n[CPU]\nEmulatorPin=0\n"
#define BROKEN "[Match]\nName=vm-a\n[CPU]\nEmulatorPin=zero\n"

Test(watch, a_broken_file_keeps_its_last_good_version)
{
	write_file(pdir, "a.policy", GOOD);
	cr_assert_eq(watch_load_policies(w), 0);
	fflush(said_f);
	cr_assert_not_null(strstr(said, "0 policy 0 1 policies in force from"), "said: %s", said);

	write_file(pdir, "a.policy", BROKEN);
	cr_assert_eq(watch_load_policies(w), 0);
	fflush(said_f);
	/* the diagnostic in check's form, file:line:col */
	char where[400];
	snprintf(where, sizeof(where), "2 policy 0 %s/a.policy:4:13: error:", pdir);
	cr_assert_not_null(strstr(said, where), "no '%s' in: %s", where, said);
	cr_assert_not_null(strstr(said, "a.policy has errors: its last good version stays in force"), "said: %s",
			   said);
	cr_assert_not_null(strstr(said, "1 policies in force from"), "said: %s", said);
	cr_assert_not_null(strstr(said, "(1 of them a last good version)"), "said: %s", said);

	/* broken again: the same good version still stands */
	cr_assert_eq(watch_load_policies(w), 0);
	fflush(said_f);
	const char *last = strstr(said, "policies in force from");
	for (const char *p = last; p; p = strstr(p + 1, "policies in force from"))
		last = p;
	cr_assert_not_null(strstr(last, "(1 of them a last good version)"), "said: %s", said);
}

Test(watch, a_new_broken_file_manages_nothing)
{
	write_file(pdir, "b.policy", BROKEN);
	cr_assert_eq(watch_load_policies(w), 0);
	fflush(said_f);
	cr_assert_not_null(strstr(said, "b.policy has errors: it manages no VM until they are fixed"), "said: %s",
			   said);
	cr_assert_not_null(strstr(said, "0 policies in force from"), "said: %s", said);
}

Test(watch, a_removed_file_is_said)
{
	write_file(pdir, "a.policy", GOOD);
	cr_assert_eq(watch_load_policies(w), 0);
	char path[400];
	snprintf(path, sizeof(path), "%s/a.policy", pdir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(watch_load_policies(w), 0);
	fflush(said_f);
	cr_assert_not_null(strstr(said, "a.policy is gone: the VMs it managed keep their pins"), "said: %s", said);
	cr_assert_not_null(strstr(said, "0 policies in force from"), "said: %s", said);
}

Test(watch, a_directory_that_cannot_be_read_keeps_the_policies_in_force)
{
	write_file(pdir, "a.policy", GOOD);
	cr_assert_eq(watch_load_policies(w), 0);
	char path[400], moved[400];
	snprintf(path, sizeof(path), "%s/a.policy", pdir);
	cr_assert_eq(unlink(path), 0);
	snprintf(moved, sizeof(moved), "%s/elsewhere", root);
	cr_assert_eq(rename(pdir, moved), 0);
	cr_assert_lt(watch_load_policies(w), 0);
	fflush(said_f);
	cr_assert_not_null(strstr(said, "; the policies in force stay"), "said: %s", said);
	cr_assert_null(strstr(said, "is gone"), "said: %s", said);
	cr_assert_eq(rename(moved, pdir), 0);
}

Test(watch, a_reconcile_of_a_host_without_vms)
{
	exe(200, "/usr/bin/bash");
	cr_assert_eq(watch_load_policies(w), 0);
	cr_assert_eq(watch_reconcile(w, "start"), 0);
	fflush(said_f);
	cr_assert_not_null(strstr(said, "0 reconcile 0 start: 0 VMs, 0 managed, 0 that no policy matches, 0 not ready yet"),
			   "said: %s", said);
	cr_assert_eq(watch_n_known(w), 0);
}
