// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/sysctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/util.h"

static const struct {
	const char *mode; /* JSON and the command line */
	const char *text; /* what people read */
	const char *alias;
} numa_modes[] = {
	[NUMA_BALANCING_DISABLED] = {"off", "off", NULL},
	[NUMA_BALANCING_NORMAL] = {"normal", "on (normal)", "on"},
	[NUMA_BALANCING_MEMORY_TIERING] = {"memory-tiering", "memory-tiering", NULL},
	[NUMA_BALANCING_NORMAL | NUMA_BALANCING_MEMORY_TIERING] = {"normal+memory-tiering",
								   "on (normal) + memory-tiering", NULL},
};

const char *numa_balancing_mode(int value)
{
	return value >= 0 && value <= NUMA_BALANCING_MODES ? numa_modes[value].mode : "unknown";
}

const char *numa_balancing_text(int value)
{
	return value >= 0 && value <= NUMA_BALANCING_MODES ? numa_modes[value].text : "unknown";
}

int numa_balancing_parse(const char *s, int *ret)
{
	for (int v = 0; v <= NUMA_BALANCING_MODES; v++) {
		char digit[2] = {(char)('0' + v), 0};
		if (strcmp(s, numa_modes[v].mode) == 0 || strcmp(s, digit) == 0 ||
		    (numa_modes[v].alias && strcmp(s, numa_modes[v].alias) == 0)) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

int numa_balancing_read(int proc_fd, int *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = read_file_at(proc_fd, NUMA_BALANCING_PATH, &buf, NULL);
	if (r < 0)
		return r;
	buf[strcspn(buf, "\n")] = 0;
	int v;
	if (parse_int(buf, &v) < 0)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int numa_balancing_write(int proc_fd, int value)
{
	if (value < 0 || value > NUMA_BALANCING_MODES)
		return -EINVAL;
	char buf[16];
	snprintf(buf, sizeof(buf), "%d\n", value);
	return write_file_at(proc_fd, NUMA_BALANCING_PATH, buf);
}
