// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/nics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/util.h"
#include "vmm/qemu-argv.h"

int mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != ':' && i < 5)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* One option's keys: the ones a netdev, a NIC or -nic may carry. */
struct opts {
	char type[16], id[64], netdev[64], ifname[IF_NAMESIZE];
	int fd;
	uint8_t mac[6];
	bool has_mac, bad;
};

static int opt_cb(const char *key, const char *value, void *userdata)
{
	struct opts *o = userdata;
	if (strcmp(key, "type") == 0 || strcmp(key, "driver") == 0)
		snprintf(o->type, sizeof(o->type), "%s", value);
	else if (strcmp(key, "id") == 0)
		snprintf(o->id, sizeof(o->id), "%s", value);
	else if (strcmp(key, "netdev") == 0)
		snprintf(o->netdev, sizeof(o->netdev), "%s", value);
	else if (strcmp(key, "ifname") == 0)
		o->bad |= snprintf(o->ifname, sizeof(o->ifname), "%s", value) >= (int)sizeof(o->ifname);
	else if (strcmp(key, "fd") == 0 || (strcmp(key, "fds") == 0 && o->fd < 0)) {
		int fd = -1;
		if (sscanf(value, "%d", &fd) == 1 && fd >= 0)
			o->fd = fd;
	} else if (strcmp(key, "mac") == 0 || strcmp(key, "macaddr") == 0)
		o->has_mac = mac_parse(value, o->mac) == 0;
	return 0;
}

/* An option's value in QEMU's JSON form ('{"driver": "virtio-net-pci", "netdev":
 * "n0", "mac": "..."}', as libvirt writes -device and -netdev), each string or
 * number member given to opt_cb as key=value would be. True when val was JSON. */
static bool json_opts(const char *val, struct opts *o)
{
	if (val[0] != '{')
		return false;
	json_object *j = json_tokener_parse(val);
	if (!j || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		o->bad = true;
		return true;
	}
	json_object_object_foreach(j, key, v)
	{
		if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
			(void)opt_cb(key, json_object_get_string(v), o);
	}
	json_object_put(j);
	return true;
}

struct nics {
	struct vm_nic *v;
	char (*ids)[64]; /* the netdev id of each */
	size_t n;
};

static int add(struct nics *l, const struct opts *o)
{
	struct vm_nic *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	char(*ids)[64] = realloc(l->ids, (l->n + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	l->ids = ids;
	v[l->n] = (struct vm_nic){.fd = o->fd, .has_mac = o->has_mac};
	snprintf(v[l->n].ifname, sizeof(v[l->n].ifname), "%s", o->ifname);
	memcpy(v[l->n].mac, o->mac, 6);
	snprintf(ids[l->n], sizeof(ids[l->n]), "%s", o->id);
	l->n++;
	return 0;
}

int vm_nics_parse(char *const *argv, size_t argc, struct vm_nic **ret, size_t *ret_n)
{
	struct nics l = {0};
	struct qemu_arg a;
	int r = 0;
	/* the tap netdevs first: a NIC may name one given after it */
	for (size_t i = 1; r == 0 && qemu_argv_next(argv, argc, &i, &a);) {
		if (!a.opt || !a.val || (strcmp(a.opt, "netdev") != 0 && strcmp(a.opt, "nic") != 0))
			continue;
		struct opts o = {.fd = -1};
		if (!json_opts(a.val, &o))
			(void)qemu_opts_foreach(a.val, "type", opt_cb, &o);
		if (!o.bad && strcmp(o.type, "tap") == 0 && (o.ifname[0] || o.fd >= 0)) {
			if (strcmp(a.opt, "netdev") == 0)
				o.has_mac = false; /* a netdev has no MAC: its NIC does */
			r = add(&l, &o);
		}
	}
	for (size_t i = 1; r == 0 && qemu_argv_next(argv, argc, &i, &a);) {
		if (!a.opt || !a.val || (strcmp(a.opt, "device") != 0 && strcmp(a.opt, "net") != 0))
			continue;
		struct opts o = {.fd = -1};
		if (!json_opts(a.val, &o))
			(void)qemu_opts_foreach(a.val, strcmp(a.opt, "device") == 0 ? "driver" : "type", opt_cb, &o);
		if (!o.has_mac || !o.netdev[0])
			continue;
		for (size_t k = 0; k < l.n; k++)
			if (strcmp(l.ids[k], o.netdev) == 0 && !l.v[k].has_mac) {
				memcpy(l.v[k].mac, o.mac, 6);
				l.v[k].has_mac = true;
			}
	}
	free(l.ids);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
