// SPDX-License-Identifier: GPL-2.0-or-later
/* audit_format: the audit trail's one line (basic/audit.h). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "basic/audit.h"

static void expect(const struct audit_change *c, const struct audit_who *w, const char *want)
{
	char *got = audit_format(c, w);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want);
	free(got);
}

static const struct audit_who root_by_sudo = {.uid = 0, .user = "root", .loginuid = 1000, .login_user = "alice",
					      .sudo_user = "alice"};

Test(audit, a_first_pin_names_vm_change_command_and_who)
{
	struct audit_change c = {.command = "pin", .pid = 812, .vm = "web1",
				 .what = "vCPU 0 -> 22, vCPU 1 -> 23, emulator -> 18-23"};
	expect(&c, &root_by_sudo,
	       "pid 812 (web1): pin: vCPU 0 -> 22, vCPU 1 -> 23, emulator -> 18-23; by uid 0 (root), loginuid 1000 "
	       "(alice), SUDO_USER alice");
	cr_expect_eq(audit_priority(&c), LOG_DAEMON | LOG_INFO);
	cr_expect_eq(audit_priority(&c), 30);
}

Test(audit, policy_memory_and_partial)
{
	struct audit_change c = {.command = "apply", .policy = "/etc/kvmcg/policies/db.policy", .pid = 7,
				 .vm = "db", .what = "vCPU 0: 0-3 -> 2, nodeset -> 1 (strict)",
				 .memory_moved = 190ull * 1024 * 1024, .partial = "not carried out: cpu weight"};
	struct audit_who w = {.uid = 0, .user = "root", .loginuid = AUDIT_UID_UNSET};
	expect(&c, &w,
	       "pid 7 (db): apply, policy /etc/kvmcg/policies/db.policy: vCPU 0: 0-3 -> 2, nodeset -> 1 (strict); "
	       "memory moved 190.0 MiB; partial: not carried out: cpu weight; by uid 0 (root), loginuid unset");
	cr_expect_eq(audit_priority(&c), LOG_DAEMON | LOG_WARNING);
}

Test(audit, unnamed_vm_unknown_users_and_empty_sudo_user)
{
	struct audit_change c = {.command = "unpin", .pid = 9, .what = "vCPU 0: 2 -> -"};
	struct audit_who w = {.uid = 4242, .loginuid = 4243, .sudo_user = ""};
	expect(&c, &w, "pid 9: unpin: vCPU 0: 2 -> -; by uid 4242, loginuid 4243");
}

Test(audit, control_bytes_cannot_forge_a_second_line)
{
	struct audit_change c = {.command = "watch", .policy = "/p/a\nb.policy", .pid = 1, .vm = "evil\nvm",
				 .what = "iothread io\x1b -> 1"};
	struct audit_who w = {.uid = 0, .user = "root", .loginuid = AUDIT_UID_UNSET, .sudo_user = "x\ny"};
	expect(&c, &w,
	       "pid 1 (evil\\x0avm): watch, policy /p/a\\x0ab.policy: iothread io\\x1b -> 1; by uid 0 (root), "
	       "loginuid unset, SUDO_USER x\\x0ay");
}

Test(audit, who_self_reads_this_process)
{
	const struct audit_who *w = audit_who_self();
	cr_expect_eq(w->uid, getuid());
	cr_expect_eq(audit_who_self(), w, "read once");
}
