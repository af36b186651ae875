// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/disks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/util.h"
#include "vmm/qemu-argv.h"

void vm_disks_free(struct vm_disk *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

struct disks {
	struct vm_disk *v;
	size_t n;
};

/* QEMU's block drivers that open a host file or device (block/file-posix.c). */
static bool local_driver(const char *d)
{
	return strcmp(d, "file") == 0 || strcmp(d, "host_device") == 0 || strcmp(d, "host_cdrom") == 0;
}

/* Protocol drivers that reach no host block device: the network ones, and nvme (a
 * PCI device driven from QEMU through VFIO, past the host's block layer). */
static bool remote_driver(const char *d)
{
	static const char *const names[] = {"nbd",  "iscsi", "rbd",     "http",     "https", "ftp",
					    "ftps", "ssh",   "gluster", "nfs",      "curl",  "sheepdog",
					    "vxhs", "nvme",  "nvme-io_uring", "virtio-blk-vfio-pci",
					    "virtio-blk-vhost-user", "virtio-blk-vhost-vdpa", "libblkio"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(d, names[i]) == 0)
			return true;
	return false;
}

/* The protocol prefix of a filename as QEMU's path_has_protocol() (block.c) sees it:
 * a ':' before any '/'. Its length, or 0 for none. */
static size_t protocol_len(const char *f)
{
	size_t l = strcspn(f, ":/");
	return f[l] == ':' ? l : 0;
}

static int add(struct disks *d, const char *path, const char *option, bool local, bool cdrom, bool readonly)
{
	if (!path || !*path)
		return 0; /* an empty drive: a CD-ROM without a medium */
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].path, path) == 0) {
			d->v[i].cdrom |= cdrom;
			return 0;
		}
	struct vm_disk *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	d->v = nv;
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	d->v[d->n++] = (struct vm_disk){.path = p, .option = option, .local = local, .cdrom = cdrom,
					 .readonly = readonly};
	return 0;
}

static int add_json(struct disks *d, const char *json, const char *option, bool cdrom, bool readonly);

/* A filename that may carry a protocol: "file:/x" is /x, "nbd://h/e" is not local,
 * "json:{...}" is read as JSON. */
static int add_filename(struct disks *d, const char *f, const char *option, bool cdrom, bool readonly)
{
	size_t pl = protocol_len(f);
	if (pl == 0)
		return add(d, f, option, true, cdrom, readonly);
	_cleanup_free_ char *proto = strndup(f, pl);
	if (!proto)
		return -ENOMEM;
	if (strcmp(proto, "json") == 0)
		return add_json(d, f + pl + 1, option, cdrom, readonly);
	if (local_driver(proto))
		return add(d, f + pl + 1, option, true, cdrom || strcmp(proto, "host_cdrom") == 0, readonly);
	return add(d, f, option, false, cdrom, readonly);
}

/* A protocol node without a filename: "nbd://HOST" from its host, or the driver. */
static int add_remote(struct disks *d, const char *driver, const char *host, const char *option, bool readonly)
{
	_cleanup_free_ char *s = NULL;
	if (asprintf(&s, "%s%s%s", driver, host ? "://" : "", host ? host : "") < 0)
		return -ENOMEM;
	return add(d, s, option, false, false, readonly);
}

static const char *json_str(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One node of a -blockdev JSON tree and the nodes nested in it ("file", "backing",
 * "data-file", arrays of children). */
static int walk_json(struct disks *d, json_object *o, const char *option, bool cdrom, bool readonly, int depth)
{
	if (depth > 16)
		return 0;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			int r = walk_json(d, json_object_array_get_idx(o, i), option, cdrom, readonly, depth + 1);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	const char *driver = json_str(o, "driver"), *filename = json_str(o, "filename");
	int r = 0;
	if (filename && driver && local_driver(driver))
		r = add(d, filename, option, true, cdrom || strcmp(driver, "host_cdrom") == 0, readonly);
	else if (filename && driver && remote_driver(driver))
		r = add(d, filename, option, false, cdrom, readonly);
	else if (filename && !driver)
		r = add_filename(d, filename, option, cdrom, readonly);
	else if (driver && remote_driver(driver)) {
		json_object *server;
		const char *host = json_str(o, "host");
		if (!host && json_object_object_get_ex(o, "server", &server) &&
		    json_object_is_type(server, json_type_object))
			host = json_str(server, "host");
		r = add_remote(d, driver, host, option, readonly);
	}
	if (r < 0)
		return r;
	json_object_object_foreach(o, key, val)
	{
		(void)key;
		if (json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array)) {
			r = walk_json(d, val, option, cdrom, readonly, depth + 1);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int add_json(struct disks *d, const char *json, const char *option, bool cdrom, bool readonly)
{
	json_object *o = json_tokener_parse(json);
	if (!o)
		return 0; /* QEMU refuses what does not parse */
	json_object *ro;
	if (json_object_object_get_ex(o, "read-only", &ro) && json_object_get_boolean(ro))
		readonly = true;
	int r = walk_json(d, o, option, cdrom, readonly, 0);
	json_object_put(o);
	return r;
}

/* The key=value pairs of one QemuOpts string, ",," undone (qemu_opts_foreach). */
struct kv {
	char **k, **v;
	size_t n;
};

static void kv_done(struct kv *kv)
{
	for (size_t i = 0; i < kv->n; i++) {
		free(kv->k[i]);
		free(kv->v[i]);
	}
	free(kv->k);
	free(kv->v);
}

static int kv_collect(const char *key, const char *value, void *userdata)
{
	struct kv *kv = userdata;
	char **nk = realloc(kv->k, (kv->n + 1) * sizeof(char *));
	if (!nk)
		return -ENOMEM;
	kv->k = nk;
	char **nv = realloc(kv->v, (kv->n + 1) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	kv->v = nv;
	kv->k[kv->n] = strdup(key);
	kv->v[kv->n] = strdup(value);
	kv->n++;
	return kv->k[kv->n - 1] && kv->v[kv->n - 1] ? 0 : -ENOMEM;
}

/* The last value of key (QemuOpts: the last one wins), or NULL. */
static const char *kv_get(const struct kv *kv, const char *key)
{
	for (size_t i = kv->n; i-- > 0;)
		if (strcmp(kv->k[i], key) == 0)
			return kv->v[i];
	return NULL;
}

/* key with a prefix ("file." for "file.filename"), in buf. */
static const char *kv_get_at(const struct kv *kv, const char *prefix, size_t plen, const char *key)
{
	char buf[256];
	if (plen + strlen(key) >= sizeof(buf))
		return NULL;
	memcpy(buf, prefix, plen);
	strcpy(buf + plen, key);
	return kv_get(kv, buf);
}

static bool on(const char *v)
{
	return v && (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

/* The nodes of a dotted -drive or -blockdev: every "[P.]filename" with its
 * "[P.]driver", and protocol drivers without a filename. A -drive's own "file" is a
 * filename; a -blockdev's is the name of another node, which has its own -blockdev. */
static int add_dotted(struct disks *d, const struct kv *kv, const char *option, bool drive)
{
	bool cdrom = drive && kv_get(kv, "media") && strcmp(kv_get(kv, "media"), "cdrom") == 0;
	bool ro = on(kv_get(kv, "readonly")) || on(kv_get(kv, "read-only"));
	int r = 0;
	if (drive && kv_get(kv, "file"))
		r = add_filename(d, kv_get(kv, "file"), option, cdrom, ro);
	for (size_t i = 0; r == 0 && i < kv->n; i++) {
		const char *k = kv->k[i];
		size_t kl = strlen(k), plen;
		bool is_filename = false, is_driver = false;
		if (kl >= 8 && strcmp(k + kl - 8, "filename") == 0 && (kl == 8 || k[kl - 9] == '.'))
			is_filename = true, plen = kl - 8;
		else if (kl >= 6 && strcmp(k + kl - 6, "driver") == 0 && (kl == 6 || k[kl - 7] == '.'))
			is_driver = true, plen = kl - 6;
		else
			continue;
		/* a -drive's top-level driver= is its format (qcow2), never a protocol node
		 * with a filename of its own; the last value counts, once */
		if (kv_get(kv, k) != kv->v[i])
			continue;
		if (is_filename) {
			const char *drv = kv_get_at(kv, k, plen, "driver");
			if (drv && local_driver(drv))
				r = add(d, kv->v[i], option, true, cdrom || strcmp(drv, "host_cdrom") == 0, ro);
			else if (drv && remote_driver(drv))
				r = add(d, kv->v[i], option, false, cdrom, ro);
			else
				r = add_filename(d, kv->v[i], option, cdrom, ro);
		} else if (is_driver && remote_driver(kv->v[i]) && !kv_get_at(kv, k, plen, "filename")) {
			const char *host = kv_get_at(kv, k, plen, "server.host");
			r = add_remote(d, kv->v[i], host ? host : kv_get_at(kv, k, plen, "host"), option, ro);
		}
	}
	return r;
}

static int add_opts(struct disks *d, const char *val, const char *option, bool drive)
{
	if (!drive && val[0] == '{')
		return add_json(d, val, option, false, false);
	struct kv kv = {0};
	int r = qemu_opts_foreach(val, NULL, kv_collect, &kv);
	if (r == 0)
		r = add_dotted(d, &kv, option, drive);
	kv_done(&kv);
	return r;
}

/* The options that take one image file name, as -hda does. */
static const char *const file_options[] = {"hda", "hdb", "hdc", "hdd", "fda", "fdb", "cdrom", "sd", "mtdblock",
					   "pflash"};

int vm_disks_parse(char *const *argv, size_t argc, struct vm_disk **ret, size_t *ret_n)
{
	struct disks d = {0};
	struct qemu_arg a;
	int r = 0;
	for (size_t i = 1; r == 0 && qemu_argv_next(argv, argc, &i, &a);) {
		if (!a.val)
			continue;
		if (!a.opt) {
			r = add_filename(&d, a.val, "hda", false, false);
			continue;
		}
		if (strcmp(a.opt, "drive") == 0 || strcmp(a.opt, "blockdev") == 0) {
			r = add_opts(&d, a.val, strcmp(a.opt, "drive") == 0 ? "drive" : "blockdev",
				     strcmp(a.opt, "drive") == 0);
			continue;
		}
		for (size_t k = 0; k < ARRAY_SIZE(file_options); k++)
			if (strcmp(a.opt, file_options[k]) == 0)
				r = add_filename(&d, a.val, file_options[k], strcmp(a.opt, "cdrom") == 0, false);
	}
	if (r < 0) {
		vm_disks_free(d.v, d.n);
		return r;
	}
	*ret = d.v;
	*ret_n = d.n;
	return 0;
}
