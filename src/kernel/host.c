// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/host.h"

#include <errno.h>
#include <unistd.h>

#include "basic/util.h"

int host_read(int sys_fd, struct host *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct host h = {0};
	int r = read_file_at(sys_fd, "devices/system/cpu/online", &buf, NULL);
	if (r < 0)
		return r;
	r = idset_parse(buf, &h.online_cpus, NULL);
	if (r < 0)
		return r;
	free(buf);
	buf = NULL;
	r = read_file_at(sys_fd, "devices/system/node/online", &buf, NULL);
	if (r == 0)
		r = idset_parse(buf, &h.online_mems, NULL);
	else if (r == -ENOENT && (h.online_mems = idset_new()))
		r = idset_set(h.online_mems, 0);
	if (r < 0) {
		host_done(&h);
		return r;
	}
	long t = sysconf(_SC_CLK_TCK);
	h.clock_ticks = t > 0 ? (unsigned long)t : 100;
	*ret = h;
	return 0;
}

void host_done(struct host *h)
{
	idset_free(h->online_cpus);
	idset_free(h->online_mems);
	h->online_cpus = h->online_mems = NULL;
}
