// SPDX-License-Identifier: GPL-2.0-or-later
/* layout: the names kvmcg derives for cgroups (bounded, distinct, never escaping),
 * kvmcg's own subtrees, and the choice of where a VM's tree goes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan/layout.h"
#include "basic/util.h"

/* ---- layout_vm_name ----------------------------------------------------------------------- */

static void sanitized(const char *in, const char *want)
{
	_cleanup_free_ char *out = layout_vm_name(in);
	if (!want) {
		cr_assert_null(out, "\"%s\" gives nothing usable, got \"%s\"", in, out ? out : "");
		return;
	}
	cr_assert_not_null(out, "\"%s\"", in);
	cr_assert_str_eq(out, want, "\"%s\"", in);
}

Test(layout_vm_name, kept_and_replaced)
{
	sanitized("win7-ent", "win7-ent");
	sanitized("Fedora_39", "Fedora_39");
	sanitized("a/b", "a_b");
	sanitized("a b", "a_b");
	sanitized("x\x01y\tz\x7f", "x_y_z_");
	sanitized("cgroup.procs", "cgroup_procs");
	sanitized(".hidden", "_hidden");
}

Test(layout_vm_name, never_escapes)
{
	static const char *const evil[] = {"../etc", "..", "a/../../b", "/etc/passwd", "./.", "x/./y"};
	for (size_t i = 0; i < ARRAY_SIZE(evil); i++) {
		_cleanup_free_ char *out = layout_vm_name(evil[i]);
		if (!out)
			continue;
		cr_assert_null(strstr(out, ".."), "\"%s\" -> %s", evil[i], out);
		cr_assert_null(strchr(out, '/'), "\"%s\" -> %s", evil[i], out);
		cr_assert_neq(out[0], '.', "\"%s\" -> %s", evil[i], out);
		for (const char *p = out; *p; p++)
			cr_assert(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", *p),
				  "\"%s\" -> %s", evil[i], out);
	}
	sanitized("../etc", "___etc");
}

Test(layout_vm_name, nothing_usable)
{
	sanitized(NULL, NULL);
	sanitized("", NULL);
	sanitized("...", NULL);
	sanitized("//", NULL);
	sanitized("-_-", NULL);
	sanitized("\n", NULL);
	/* v1 interface files without a dot */
	sanitized("tasks", NULL);
	sanitized("notify_on_release", NULL);
	sanitized("release_agent", NULL);
	sanitized("tasks2", "tasks2");
}

Test(layout_vm_name, bounded_and_distinct)
{
	/* Long names are cut to 64 bytes, and two that differ only past the cut still get
	 * two names: the last 9 bytes are "-" and a hash of the whole name. */
	char a[201], b[201];
	memset(a, 'a', 200);
	a[200] = '\0';
	memcpy(b, a, sizeof(a));
	b[150] = 'b';
	_cleanup_free_ char *na = layout_vm_name(a), *nb = layout_vm_name(b);
	cr_assert_not_null(na);
	cr_assert_not_null(nb);
	cr_assert_eq(strlen(na), LAYOUT_NAME_MAX);
	cr_assert_eq(strlen(nb), LAYOUT_NAME_MAX);
	for (size_t i = 0; i < LAYOUT_NAME_MAX - 9; i++)
		cr_assert_eq(na[i], 'a');
	cr_assert_eq(na[LAYOUT_NAME_MAX - 9], '-');
	cr_assert_str_neq(na, nb, "two long names that differ after the cut: %s", na);

	/* 64 bytes exactly: kept whole */
	a[64] = '\0';
	_cleanup_free_ char *exact = layout_vm_name(a);
	cr_assert_str_eq(exact, a);

	/* a multi-byte name: every byte replaced, still at most 64 */
	char utf8[301] = "";
	for (int i = 0; i < 100; i++)
		strcat(utf8, "\xc3\xa9"); /* é */
	strcat(utf8, "x");
	_cleanup_free_ char *out2 = layout_vm_name(utf8);
	cr_assert_not_null(out2);
	cr_assert_leq(strlen(out2), LAYOUT_NAME_MAX);
}


Test(layout, in_kvmcg_tree)
{
	cr_assert(layout_in_kvmcg_tree("/kvmcg/vm/vcpu0"));
	cr_assert(layout_in_kvmcg_tree("launch/kvmcg/emulator"));
	cr_assert(layout_in_kvmcg_tree("a/kvmcg"));
	cr_assert_not(layout_in_kvmcg_tree("/"));
	cr_assert_not(layout_in_kvmcg_tree("/kvmcg-t-root/vm"));
	cr_assert_not(layout_in_kvmcg_tree("/a/xkvmcg/b"));
	cr_assert_not(layout_in_kvmcg_tree(NULL));
}
