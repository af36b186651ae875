// SPDX-License-Identifier: GPL-2.0-or-later
#include "tune/policy-dir.h"
#include "tune/policy-match.h"
#include "vmm/discover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/trust.h"
#include "basic/util.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int policy_dir_load(const char *dir, bool trust, struct policy_file **ret, size_t *ret_n, char **why)
{
	_cleanup_free_ char *reason = NULL;
	_cleanup_close_ int dfd = trust_open_reason(dir, O_RDONLY | O_DIRECTORY, 0, trust, "the policy directory",
						    &reason);
	int dup_fd = dfd < 0 ? dfd : fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		int r = dfd < 0 ? dfd : -errno;
		if (dup_fd >= 0)
			close(dup_fd);
		if (asprintf(why, "policy directory %s: %s", dir, reason ? reason : strerror(-r)) < 0)
			*why = NULL;
		return r;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 8 || strcmp(de->d_name + l - 7, ".policy") != 0)
			continue;
		char *full = NULL;
		if (asprintf(&full, "%s/%s", dir, de->d_name) < 0 || strv_push(&names, &n, full) < 0) {
			free(full);
			closedir(d);
			strv_free(names);
			return -ENOMEM;
		}
		free(full);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(char *), cmp_str);
	struct policy_file *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		strv_free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		v[i].path = names[i];
		names[i] = NULL;
		const char *name = v[i].path + strlen(dir) + 1;
		if (policy_load_at(dfd, name, v[i].path, trust, &v[i].policy, &v[i].diags) < 0) {
			strv_free(names);
			*ret = v;
			*ret_n = i + 1;
			return -ENOMEM;
		}
		if (v[i].diags.errors) {
			policy_free(v[i].policy);
			v[i].policy = NULL;
		}
	}
	strv_free(names);
	*ret = v;
	*ret_n = n;
	return 0;
}

void policy_dir_free(struct policy_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		policy_free(v[i].policy);
		diags_done(&v[i].diags);
	}
	free(v);
}


bool policy_dir_may_match(const struct policy_file *v, size_t n, const struct vm *vm, int proc_fd)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].policy && (policy_matches(v[i].policy, vm, proc_fd) || (!vm->name && v[i].policy->match_name)))
			return true;
	return false;
}

int policy_dir_match(const struct policy_file *v, size_t n, const struct vm *vm, int proc_fd,
		     const struct policy_file **ret_first, const struct policy_file **ret_second)
{
	int k = 0;
	*ret_first = *ret_second = NULL;
	for (size_t i = 0; i < n && k < 2; i++) {
		if (!v[i].policy || !policy_matches(v[i].policy, vm, proc_fd))
			continue;
		if (k++ == 0)
			*ret_first = &v[i];
		else
			*ret_second = &v[i];
	}
	return k;
}
