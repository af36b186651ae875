// SPDX-License-Identifier: GPL-2.0-or-later
/* Running the built kvmcg from a unit test (cli-run.h). */
#include "cli-run.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"

bool find_kvmcg(char *out, size_t size)
{
	const char *env = getenv("KVMCG");
	if (env && access(env, X_OK) == 0) {
		snprintf(out, size, "%s", env);
		return true;
	}
	const char *dir = getenv("KVMCG_BUILD_DIR");
	if (dir) {
		snprintf(out, size, "%s/kvmcg", dir);
		if (access(out, X_OK) == 0)
			return true;
	}
	static const char *const candidates[] = {
#if defined(__SANITIZE_ADDRESS__)
		FIXTURES "/../../build/asan/kvmcg",
#endif
		FIXTURES "/../../build/kvmcg",
	};
	for (size_t i = 0; i < ARRAY_SIZE(candidates); i++)
		if (access(candidates[i], X_OK) == 0) {
			snprintf(out, size, "%s", candidates[i]);
			return true;
		}
	return false;
}

/* What a command prints on stdout (stderr too with "2>&1" in cmd), and its exit status. */
char *run_capture(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_not_null(m);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	int st = pclose(p);
	cr_assert(WIFEXITED(st), "%s", cmd);
	*status = WEXITSTATUS(st);
	return buf;
}
