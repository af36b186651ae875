// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/taps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "kernel/procfs.h"

int taps_parse_fdinfo(const char *buf, char *ret_ifname)
{
	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!startswith(l, "iff:"))
			continue;
		const char *v = l + 4;
		v += strspn(v, " \t");
		size_t n = strcspn(v, "\n");
		if (n == 0)
			return -ENXIO;
		if (n >= IF_NAMESIZE)
			return -EINVAL;
		memcpy(ret_ifname, v, n);
		ret_ifname[n] = '\0';
		return 1;
	}
	return 0;
}

/* The path a /proc/PID/fd link gives is the file's path from the reader's root, so a
 * process in another root or mount namespace (a chroot, `ip netns exec`, a container)
 * shows its device with a prefix: "/newroot/dev/net/tun". Only the end is compared. */
static const char *dev_suffix(const char *target, const char *dev)
{
	const char *at = NULL;
	for (const char *p = strstr(target, dev); p; p = strstr(p + 1, dev))
		at = p;
	return at;
}

static bool is_tun_path(const char *target)
{
	const char *at = dev_suffix(target, "/dev/net/tun");
	return at && strcmp(at, "/dev/net/tun") == 0;
}

int taps_parse_macvtap_path(const char *target, int *ret_ifindex)
{
	target = dev_suffix(target, "/dev/tap");
	if (!target)
		return -EINVAL;
	int n;
	if (parse_int(target + 8, &n) < 0 || n <= 0 || target[8] == '+' || target[8] == '0')
		return -EINVAL;
	*ret_ifindex = n;
	return 0;
}

struct collect {
	int proc_fd;
	pid_t pid;
	struct vm_tap *v;
	size_t n;
	int err;
};

static int add_tap(struct collect *c, const struct vm_tap *t)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].kind == t->kind && c->v[i].ifindex == t->ifindex && strcmp(c->v[i].ifname, t->ifname) == 0) {
			c->v[i].nfds++;
			if (t->fd < c->v[i].fd)
				c->v[i].fd = t->fd;
			return 0;
		}
	struct vm_tap *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	c->v[c->n++] = *t;
	return 0;
}

static int on_fd(int fd, const char *target, void *userdata)
{
	struct collect *c = userdata;
	struct vm_tap t = {.nfds = 1, .fd = fd};
	if (is_tun_path(target)) {
		char path[64];
		snprintf(path, sizeof(path), "%d/fdinfo/%d", (int)c->pid, fd);
		_cleanup_free_ char *buf = NULL;
		size_t len;
		int r = read_file_at(c->proc_fd, path, &buf, &len);
		if (r < 0)
			return r == -ENOENT ? 0 : (c->err = r); /* closed meanwhile */
		if (taps_parse_fdinfo(buf, t.ifname) <= 0)
			return 0;
		t.kind = VM_TAP_TUN;
	} else if (taps_parse_macvtap_path(target, &t.ifindex) == 0) {
		t.kind = VM_TAP_MACVTAP;
	} else {
		return 0;
	}
	int r = add_tap(c, &t);
	return r < 0 ? (c->err = r) : 0;
}

int vm_taps_collect(int proc_fd, pid_t pid, struct vm_tap **ret, size_t *ret_n)
{
	struct collect c = {.proc_fd = proc_fd, .pid = pid};
	int r = proc_foreach_fd(proc_fd, pid, on_fd, &c);
	if (r < 0 || c.err < 0) {
		free(c.v);
		return r < 0 ? r : c.err;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int vm_netns_open(int proc_fd, pid_t pid)
{
	char path[48];
	snprintf(path, sizeof(path), "%d/ns/net", (int)pid);
	int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	return fd;
}
