// SPDX-License-Identifier: GPL-2.0-or-later
/* The network step of a pin, and its undo: the VM's taps as they are (vmm/taps.h, in
 * the VM's own network namespace through kernel/rtnl.h), the plan from there
 * (plan/nettune.h), each step carried out with rtnetlink and rolled back when a later
 * one fails, and at unpin, or once the VM has exited, every qdisc and device kvmcg
 * added removed (and an operator's qdisc it replaced with --force put back), found
 * again by the namespace's inode. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/err.h"
#include "basic/util.h"
#include "core/txn-internal.h"
#include "exec/exec.h"
#include "kernel/rtnl.h"
#include "plan/nettune.h"
#include "vmm/taps.h"

void txn_net_done(struct txn_net *n)
{
	net_plan_done(&n->plan);
	net_obs_done(&n->obs);
	if (n->rtnl)
		rtnl_close(n->rtnl);
	*n = (struct txn_net){0};
}

/* One tap as it is: its link and its qdiscs; the IFB kvmcg would use for it. */
static int observe_bridge(struct rtnl *r, const struct vm *vm, const struct vm_state *st, const struct vm_tap *tap,
			  int master, struct net_tap_obs *t);

static int observe_tap(struct rtnl *r, const struct vm *vm, const struct vm_state *st, const struct vm_tap *tap,
		       const struct nettune *want, struct net_tap_obs *t)
{
	struct rtnl_link l;
	int k = rtnl_link_get(r, tap->kind == VM_TAP_MACVTAP ? tap->ifindex : 0,
			      tap->kind == VM_TAP_MACVTAP ? NULL : tap->ifname, &l);
	if (k < 0)
		return k;
	/* a device of the tap's name that is no tun (or macvtap) device is not the VM's:
	 * its tap was moved to another namespace */
	if (strcmp(l.kind, tap->kind == VM_TAP_MACVTAP ? "macvtap" : "tun") != 0)
		return -ENODEV;
	*t = (struct net_tap_obs){.ifindex = l.ifindex, .mtu = l.mtu};
	snprintf(t->ifname, sizeof(t->ifname), "%s", l.name);
	struct rtnl_qdisc *q = NULL;
	size_t n = 0;
	k = rtnl_qdisc_list(r, l.ifindex, &q, &n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n; i++) {
		if (q[i].parent == RTNL_H_ROOT && !t->has_root) {
			t->has_root = true;
			t->root = q[i];
			q[i].options = NULL;
		} else if (q[i].parent == RTNL_H_INGRESS) {
			t->ingress = true;
			snprintf(t->ingress_kind, sizeof(t->ingress_kind), "%s", q[i].kind);
		}
	}
	rtnl_qdiscs_free(q, n);
	t->root_ours = t->has_root && t->root.handle == NET_HANDLE &&
		       record_find_net(st, NET_ADDED_ROOT, t->ifname, t->ifindex);
	t->ingress_ours = t->ingress && record_find_net(st, NET_ADDED_INGRESS, t->ifname, t->ifindex);
	net_ifb_name(vm->pid, vm->starttime_ticks, t->ifname, t->ifb);
	struct rtnl_link ifb;
	int f = rtnl_link_get(r, 0, t->ifb, &ifb);
	if (f == 0 && strcmp(ifb.kind, "ifb") != 0)
		snprintf(t->ifb_foreign, sizeof(t->ifb_foreign), "%s", ifb.kind[0] ? ifb.kind : "no kind");
	if (f == 0 && strcmp(ifb.kind, "ifb") == 0) {
		/* named for this VM and tap, but not in its record: a run that died made it */
		t->ifb_stale = !record_find_net(st, NET_ADDED_IFB, t->ifb, 0);
		t->ifb_ours = !t->ifb_stale;
		struct rtnl_qdisc root = {0};
		t->ifb_root_ours = rtnl_root_qdisc(r, ifb.ifindex, &root) >= 0 && root.handle == NET_HANDLE;
		free(root.options);
	}
	if ((want && want->weight && nettune_matches(want, t->ifname)) ||
	    record_find_net(st, NET_ADDED_CLASS, NULL, t->ifindex)) {
		k = observe_bridge(r, vm, st, tap, l.master, t);
		if (k < 0) { /* the caller keeps only the taps observed */
			free(t->used);
			free(t->macs);
			free(t->mac_filters);
			free(t->root.options);
			*t = (struct net_tap_obs){0};
		}
		return k;
	}
	return 0;
}

/* The guest's MACs behind tap t: its NIC's mac= on the command line, else those the
 * bridge learned on the port. */
static int observe_macs(struct rtnl *r, const struct vm *vm, const struct vm_tap *tap, struct net_tap_obs *t)
{
	for (size_t i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		bool same = n->ifname[0] ? strcmp(n->ifname, t->ifname) == 0 : n->fd >= 0 && n->fd == tap->fd;
		if (same && n->has_mac) {
			if (!(t->macs = malloc(sizeof(*t->macs))))
				return -ENOMEM;
			memcpy(t->macs[0], n->mac, 6);
			t->n_macs = 1;
			return 0;
		}
	}
	return rtnl_fdb_macs(r, t->ifindex, &t->macs, &t->n_macs);
}

static int push_used(struct net_tap_obs *t, uint16_t m)
{
	for (size_t i = 0; i < t->n_used; i++)
		if (t->used[i] == m)
			return 0;
	uint16_t *v = realloc(t->used, (t->n_used + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->used = v;
	v[t->n_used++] = m;
	return 0;
}

/* The bridge tap t is enslaved to (master), as Weight= needs it: its root qdisc,
 * kvmcg's classes and filters there, the record's class for t; the guest's MACs. */
static int observe_bridge(struct rtnl *r, const struct vm *vm, const struct vm_state *st, const struct vm_tap *tap,
			  int master, struct net_tap_obs *t)
{
	struct rtnl_link b;
	int k = master ? rtnl_link_get(r, master, NULL, &b) : -ENODEV;
	if (k == -ENODEV || (k == 0 && strcmp(b.kind, "bridge") != 0))
		return 0; /* on no bridge (or a bond's): no share to have */
	if (k < 0)
		return k;
	t->bridge = b.ifindex;
	snprintf(t->bridge_name, sizeof(t->bridge_name), "%s", b.name);
	t->bridge_mtu = b.mtu;
	struct rtnl_qdisc q = {0};
	k = rtnl_root_qdisc(r, b.ifindex, &q);
	if (k == 1) {
		t->bridge_root = net_bridge_htb_ours(&q) ? 1 : -1;
		snprintf(t->bridge_root_kind, sizeof(t->bridge_root_kind), "%s %x:", q.kind, q.handle >> 16);
	}
	free(q.options);
	if (k < 0 && k != -ENOENT)
		return k;
	const struct net_change *rec = record_find_net(st, NET_ADDED_CLASS, NULL, t->ifindex);
	if (t->bridge_root == 1) {
		struct rtnl_class *v = NULL;
		size_t n = 0;
		if ((k = rtnl_class_list(r, b.ifindex, &v, &n)) < 0)
			return k;
		for (size_t i = 0; k == 0 && i < n; i++) {
			if (v[i].classid >> 16 != NET_HANDLE_MAJOR)
				continue;
			uint16_t m = (uint16_t)(v[i].classid & 0xFFFFu);
			bool own = rec && rec->ifindex == b.ifindex && rec->handle == v[i].classid;
			if (m == 1)
				t->bridge_total = v[i].rate;
			else
				t->bridge_classes++;
			if (m >= 2 && !own && v[i].parent == RTNL_H(NET_HANDLE_MAJOR, 1))
				t->bridge_weights += net_class_weight(v[i].quantum);
			if (own) {
				t->class_ours = true;
				t->class = v[i];
			}
			k = push_used(t, m);
		}
		free(v);
		struct rtnl_filter *f = NULL;
		n = 0;
		if (k == 0 && (k = rtnl_filter_list(r, b.ifindex, NET_HANDLE, &f, &n)) == 0)
			for (size_t i = 0; k == 0 && i < n; i++)
				k = push_used(t, f[i].prio);
		free(f);
		if (k == 0)
			k = rtnl_u32_mac_filters(r, b.ifindex, NET_HANDLE, &t->mac_filters, &t->n_mac_filters);
		if (k < 0)
			return k;
	}
	return observe_macs(r, vm, tap, t);
}

static int net_fail(const char *what, int r, const struct rtnl *rt)
{
	const char *ext = rt ? rtnl_ext_msg(rt) : NULL;
	if (!err_get())
		err_set("%s: %s%s%s", what, strerror(-r), ext ? ": " : "", ext ? ext : "");
	return r;
}

int txn_net_prepare(const struct txn_env *env, const struct vm *vm, const struct vm_state *st,
		    const struct nettune *want, const struct nettune *had, bool force, struct txn_net *ret,
		    struct pin_result *res)
{
	*ret = (struct txn_net){0};
	struct vm_tap *taps = NULL;
	size_t n = 0;
	err_clear();
	int r = vm_taps_collect(env->proc_fd, vm->pid, &taps, &n);
	if (r < 0)
		return net_fail("cannot read the VM's taps", r, NULL);
	_cleanup_close_ int ns = vm_netns_open(env->proc_fd, vm->pid);
	struct stat s;
	if (ns < 0 || fstat(ns, &s) < 0) {
		free(taps);
		return net_fail("cannot open the VM's network namespace", ns < 0 ? ns : -errno, NULL);
	}
	ret->obs.netns_dev = s.st_dev;
	ret->obs.netns_ino = s.st_ino;
	r = rtnl_open(ns, &ret->rtnl);
	if (r < 0) {
		free(taps);
		return net_fail("cannot open rtnetlink in the VM's network namespace", r, NULL);
	}
	ret->obs.taps = n ? calloc(n, sizeof(*ret->obs.taps)) : NULL;
	if (n && !ret->obs.taps) {
		free(taps);
		return -ENOMEM;
	}
	bool probe = false; /* outbound to make, or a weight on a bridge without kvmcg's HTB */
	for (size_t i = 0; i < n; i++) {
		struct net_tap_obs *t = &ret->obs.taps[ret->obs.n_taps];
		r = observe_tap(ret->rtnl, vm, st, &taps[i], want, t);
		if (r == -ENODEV) { /* moved to another namespace since (or closed) */
			const char *name = taps[i].ifname[0] ? taps[i].ifname : "a macvtap";
			_cleanup_free_ char *line = NULL;
			if (want && nettune_any(want) && nettune_matches(want, name) &&
			    (asprintf(&line, "[Network] on %s (the VM holds it, but it is not in the VM's network "
					     "namespace: moved to another one)",
				      name) < 0 ||
			     strv_push(&res->skipped, &res->n_skipped, line) < 0)) {
				free(taps);
				return -ENOMEM;
			}
			continue;
		}
		if (r < 0) {
			free(taps);
			return net_fail(taps[i].ifname[0] ? taps[i].ifname : "the VM's macvtap", r, ret->rtnl);
		}
		ret->obs.n_taps++;
		if (want && want->out.average && nettune_matches(want, t->ifname) &&
		    !net_outbound_as_recorded(t, &want->out, had && had->out.average ? &had->out : NULL))
			probe = true;
		/* a bridge without kvmcg's HTB yet: whether the kernel has HTB at all */
		if (want && want->weight && nettune_matches(want, t->ifname) && t->bridge && t->bridge_root == 0)
			probe = true;
	}
	free(taps);
	for (int f = 0; f < RTNL_FEAT_N; f++)
		ret->obs.feat[f] = -EOPNOTSUPP;
	if (probe) {
		/* what the kernel has decides what is made: an error while asking it is no
		 * answer, and nothing is planned on a guess */
		r = rtnl_probe(ret->rtnl, ret->obs.feat);
		for (int f = 0; r == 0 && f < RTNL_FEAT_N; f++)
			if (ret->obs.feat[f] < 0 && ret->obs.feat[f] != -EOPNOTSUPP)
				r = ret->obs.feat[f];
		if (r < 0) {
			err_set("cannot tell which tc actions this kernel has: %s", strerror(-r));
			return r == -ENOMEM ? r : -EIO;
		}
	}
	size_t matched = 0;
	for (size_t i = 0; want && i < ret->obs.n_taps; i++)
		matched += nettune_matches(want, ret->obs.taps[i].ifname);
	if (want && nettune_any(want) && matched == 0) {
		_cleanup_free_ char *globs = txn_joined(want->interfaces, want->n_interfaces, ", ");
		_cleanup_free_ char *line = NULL;
		if (asprintf(&line, "[Network] (pid %d holds no tap%s%s: %zu tap%s in all)", (int)vm->pid,
			     strcmp(globs ? globs : "", "*") ? " named " : "", strcmp(globs ? globs : "", "*") ? globs : "",
			     ret->obs.n_taps, ret->obs.n_taps == 1 ? "" : "s") < 0 ||
		    strv_push(&res->skipped, &res->n_skipped, line) < 0)
			return -ENOMEM;
	}
	char **warnings = NULL;
	size_t n_warnings = 0;
	r = plan_nettune(want, had, &ret->obs, st, force, &ret->plan, &warnings, &n_warnings, &res->skipped,
			 &res->n_skipped);
	for (size_t i = 0; i < n_warnings; i++)
		txn_warn(res, "%s", warnings[i]);
	strv_free(warnings);
	return r;
}

int txn_net_execute(struct txn_net *n, char **ret_failed)
{
	return exec_net_plan(n->rtnl, &n->plan, &n->done, ret_failed);
}

int txn_net_rollback(struct txn_net *n)
{
	int r = exec_net_rollback(n->rtnl, &n->plan, n->done);
	n->done = 0;
	return r;
}

int txn_net_record(struct vm_state *st, const struct net_change *prev, size_t n_prev, const struct txn_net *n,
		   bool planned)
{
	struct vm_state tmp = {0};
	int r = net_record_apply(prev, n_prev, &n->plan, n->done, planned, &tmp);
	if (r < 0) {
		net_changes_free(tmp.net, tmp.n_net);
		return r;
	}
	net_changes_free(st->net, st->n_net);
	st->net = tmp.net;
	st->n_net = tmp.n_net;
	return 0;
}

/* ---- undo ---------------------------------------------------------------------------------- */

/* An fd of a bind mount of the namespace dev:ino that /proc/self/mountinfo lists (an
 * nsfs mount whose root is "net:[INO]"), or -ENOENT. */
static int netns_mounted(int proc_fd, uint64_t dev, uint64_t ino)
{
	_cleanup_close_ int mfd = openat(proc_fd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
	FILE *f = mfd >= 0 ? fdopen(mfd, "r") : NULL;
	if (!f)
		return -ENOENT;
	mfd = -1;
	char want[48], *line = NULL;
	size_t size = 0;
	int found = -ENOENT;
	snprintf(want, sizeof(want), "net:[%llu]", (unsigned long long)ino);
	while (found < 0 && getline(&line, &size, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPER */
		char root[64], point[4096];
		if (!strstr(line, " - nsfs ") || sscanf(line, "%*s %*s %*s %63s %4095s", root, point) != 2 ||
		    strcmp(root, want) != 0)
			continue;
		_cleanup_free_ char *path = unescape_octal(point, strlen(point));
		struct stat s;
		int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
		if (fd >= 0 && fstat(fd, &s) == 0 && s.st_dev == dev && s.st_ino == ino)
			found = fd;
		else if (fd >= 0)
			close(fd);
	}
	free(line);
	fclose(f);
	return found;
}

/* An fd of the network namespace dev:ino: the caller's own, the VM's (pid, while it
 * lives), or one a bind mount in /run/netns or any process holds. -ENOENT when none
 * does: the namespace is gone, and every device in it. */
static int netns_find(int proc_fd, pid_t pid, uint64_t dev, uint64_t ino)
{
	struct stat s;
	int fd = openat(proc_fd, "thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &s) == 0 && s.st_dev == dev && s.st_ino == ino)
		return fd;
	if (fd >= 0)
		close(fd);
	if (pid > 0) {
		fd = vm_netns_open(proc_fd, pid);
		if (fd >= 0 && fstat(fd, &s) == 0 && s.st_dev == dev && s.st_ino == ino)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	static const char *const dirs[] = {"/run/netns", "/var/run/netns"};
	for (size_t k = 0; k < ARRAY_SIZE(dirs); k++) {
		_cleanup_closedir_ DIR *d = opendir(dirs[k]);
		for (struct dirent *e; d && (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd >= 0 && fstat(fd, &s) == 0 && s.st_dev == dev && s.st_ino == ino)
				return fd;
			if (fd >= 0)
				close(fd);
		}
	}
	/* a bind mount of it anywhere this mount namespace sees (/var/run/docker/netns...):
	 * mountinfo names it "net:[INO]" on an nsfs file system */
	fd = netns_mounted(proc_fd, dev, ino);
	if (fd >= 0)
		return fd;
	int pfd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = pfd >= 0 ? fdopendir(pfd) : NULL;
	if (!d && pfd >= 0)
		close(pfd);
	for (struct dirent *e; d && (e = readdir(d));) {
		pid_t p;
		if (parse_pid(e->d_name, &p) < 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "%d/ns/net", (int)p);
		struct stat ls;
		if (fstatat(proc_fd, path, &ls, 0) < 0 || ls.st_dev != dev || ls.st_ino != ino)
			continue;
		fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &s) == 0 && s.st_dev == dev && s.st_ino == ino)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -ENOENT;
}

int txn_net_undo(const struct txn_env *env, pid_t pid, struct vm_state *st, char ***notes, size_t *n_notes,
		 char **ret_failed)
{
	*ret_failed = NULL;
	struct vm_state left = {0};
	int rc = 0;
	bool ingress_left = false;
	/* newest first: a filter's qdisc before the IFB it sends to */
	for (size_t i = st->n_net; i-- > 0;) {
		const struct net_change *c = &st->net[i];
		int k;
		_cleanup_close_ int ns = netns_find(env->proc_fd, pid, c->netns_dev, c->netns_ino);
		if (ns == -ENOENT)
			continue; /* the namespace went, and its devices */
		_cleanup_rtnl_ struct rtnl *r = NULL;
		k = ns < 0 ? ns : rtnl_open(ns, &r);
		_cleanup_free_ char *note = NULL;
		/* an IFB stays while a redirect to it may: a tap's traffic would go nowhere */
		if (k == 0 && c->what == NET_ADDED_IFB && ingress_left)
			k = -EBUSY;
		else if (k == 0)
			k = exec_net_remove(r, c, &note);
		if (k < 0 && c->what == NET_ADDED_INGRESS)
			ingress_left = true;
		if (note && notes)
			(void)strv_push(notes, n_notes, note);
		if (k < 0) {
			if (!*ret_failed &&
			    asprintf(ret_failed, "%s %s: %s%s%s", net_added_name(c->what), c->dev, strerror(-k),
				     r && rtnl_ext_msg(r) ? ": " : "", r && rtnl_ext_msg(r) ? rtnl_ext_msg(r) : "") < 0)
				*ret_failed = NULL;
			if (record_add_net(&left, c) < 0)
				rc = -ENOMEM;
			if (rc == 0)
				rc = -EBUSY;
		}
	}
	/* left was filled newest first: back in the order they were made */
	for (size_t i = 0; i < left.n_net / 2; i++) {
		struct net_change t = left.net[i];
		left.net[i] = left.net[left.n_net - 1 - i];
		left.net[left.n_net - 1 - i] = t;
	}
	net_changes_free(st->net, st->n_net);
	st->net = left.net;
	st->n_net = left.n_net;
	return rc;
}
