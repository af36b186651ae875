// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmm/qemu-argv.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/util.h"

void qemu_config_done(struct qemu_config *c)
{
	free(c->name);
	free(c->process_name);
	strv_free(c->qmp_paths);
	free(c->pidfile);
	strv_free(c->iothread_ids);
	free(c->accel);
	free(c->backend_bytes);
	*c = (struct qemu_config){0};
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static bool is_qemu_name(const char *name)
{
	return fnmatch("qemu-system-*", name, 0) == 0 || strcmp(name, "qemu-kvm") == 0 ||
	       strcmp(name, "kvm") == 0;
}

bool qemu_is_qemu_name(const char *path)
{
	return path && is_qemu_name(basename_of(path));
}

int qemu_opts_foreach(const char *s, const char *implied_key, qemu_opt_cb cb, void *userdata)
{
	size_t len = strlen(s);
	_cleanup_free_ char *elem = malloc(len + 1);
	if (!elem)
		return -ENOMEM;
	bool first = true;
	const char *p = s;
	while (*p) {
		/* Copy one element, turning ",," into ','. */
		size_t n = 0;
		while (*p) {
			if (*p == ',') {
				if (p[1] == ',') {
					elem[n++] = ',';
					p += 2;
					continue;
				}
				break;
			}
			elem[n++] = *p++;
		}
		elem[n] = '\0';
		if (*p == ',')
			p++;

		char *eq = strchr(elem, '=');
		int r;
		if (eq) {
			*eq = '\0';
			r = cb(elem, eq + 1, userdata);
		} else if (first && implied_key) {
			r = cb(implied_key, elem, userdata);
		} else if (startswith(elem, "no") && elem[2]) {
			r = cb(elem + 2, "off", userdata);
		} else {
			r = cb(elem, "on", userdata);
		}
		if (r)
			return r;
		first = false;
	}
	return 0;
}

/* QEMU's options that take a value: HAS_ARG in qemu-options.hx (QEMU 7.2), with
 * those of older versions (soundhw, tb-size, writeconfig, ...) and of newer ones
 * (run-with), which change nothing for a QEMU that does not have them: it refuses
 * them. Sorted (strcmp) for bsearch; the unit tests check the order. */
static const char *const opts_with_arg[] = {
	"D", "L", "M", "accel", "acpitable", "action", "add-fd", "append", "audio", "audiodev",
	"bios", "blockdev", "boot", "bt", "cdrom", "chardev", "chroot", "compat", "cpu", "d",
	"debugcon", "device", "dfilter", "display", "drive", "dtb", "dump-vmstate", "echr",
	"fda", "fdb", "fsdev", "fw_cfg", "g", "gdb", "global", "hda", "hdb", "hdc", "hdd",
	"icount", "incoming", "initrd", "iscsi", "k", "kernel", "loadvm", "m", "machine",
	"mem-path", "mon", "monitor", "msg", "mtdblock", "name", "net", "netdev", "nic", "numa",
	"object", "option-rom", "overcommit", "parallel", "pflash", "pidfile", "plugin",
	"prom-env", "qmp", "qmp-pretty", "qtest", "qtest-log", "readconfig", "rotate", "rtc",
	"run-with", "runas", "sandbox", "sd", "seed", "semihosting-config", "serial", "set",
	"smbios", "smp", "soundhw", "spice", "tb-size", "tpmdev", "trace", "usbdevice", "uuid",
	"vga", "virtfs", "vnc", "watchdog", "watchdog-action", "writeconfig", "xen-domid",
};

static int cmp_opt(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

bool qemu_opt_takes_arg(const char *name)
{
	return bsearch(name, opts_with_arg, ARRAY_SIZE(opts_with_arg), sizeof(opts_with_arg[0]), cmp_opt);
}

bool qemu_argv_next(char *const *argv, size_t argc, size_t *i, struct qemu_arg *ret)
{
	if (*i >= argc)
		return false;
	const char *s = argv[*i];
	struct qemu_arg a = {.opt_i = *i};
	if (s[0] != '-' || s[1] == '\0') {
		a.val = s; /* lookup_opt(): an image, as -hda */
		a.val_i = *i;
		(*i)++;
		*ret = a;
		return true;
	}
	a.opt = s[1] == '-' ? s + 2 : s + 1;
	(*i)++;
	if (qemu_opt_takes_arg(a.opt) && *i < argc) {
		a.val = argv[*i];
		a.val_i = (*i)++;
	}
	*ret = a;
	return true;
}

static bool is_on(const char *v)
{
	return strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	       strcmp(v, "y") == 0;
}

struct parse_state {
	struct qemu_config *cfg;
	/* -chardev socket ids with a unix path, and -mon chardev ids in control mode:
	 * matched at the end since their order on the command line is free. */
	char **chardev_ids, **chardev_paths;
	size_t n_chardevs, n_chardev_paths;
	char **control_mons;
	size_t n_control_mons;
};

static void parse_state_done(struct parse_state *st)
{
	strv_free(st->chardev_ids);
	strv_free(st->chardev_paths);
	strv_free(st->control_mons);
}

static int name_opt(const char *key, const char *value, void *userdata)
{
	struct qemu_config *c = userdata;
	if (strcmp(key, "guest") == 0)
		return free_and_strdup(&c->name, value);
	if (strcmp(key, "process") == 0)
		return free_and_strdup(&c->process_name, value);
	if (strcmp(key, "debug-threads") == 0)
		c->debug_threads = is_on(value);
	return 0;
}

/* More than any QEMU machine takes (q35's 4096, the largest KVM_MAX_VCPUS): QEMU
 * would have refused such a -smp value. Bounds the topology's products, and the
 * vCPUs discovery looks for. */
#define SMP_MAX 4096

struct smp_opts {
	struct qemu_config *cfg;
	int cpus;
};

static int smp_opt(const char *key, const char *value, void *userdata)
{
	struct smp_opts *o = userdata;
	int v;
	if (parse_int(value, &v) < 0 || v < 1 || v > SMP_MAX)
		return 0; /* QEMU would have refused it; nothing to learn */
	if (strcmp(key, "cpus") == 0)
		o->cpus = v;
	else if (strcmp(key, "maxcpus") == 0)
		o->cfg->smp_maxcpus = v;
	else if (strcmp(key, "sockets") == 0)
		o->cfg->smp_sockets = v;
	else if (strcmp(key, "dies") == 0)
		o->cfg->smp_dies = v;
	else if (strcmp(key, "cores") == 0)
		o->cfg->smp_cores = v;
	else if (strcmp(key, "threads") == 0)
		o->cfg->smp_threads = v;
	return 0;
}

struct chardev_opts {
	char *backend, *id, *path;
	bool abstract;
};

static int chardev_opt(const char *key, const char *value, void *userdata)
{
	struct chardev_opts *o = userdata;
	if (strcmp(key, "backend") == 0)
		return free_and_strdup(&o->backend, value);
	if (strcmp(key, "id") == 0)
		return free_and_strdup(&o->id, value);
	if (strcmp(key, "path") == 0)
		return free_and_strdup(&o->path, value);
	if (strcmp(key, "abstract") == 0)
		o->abstract = is_on(value);
	return 0;
}

static void chardev_opts_done(struct chardev_opts *o)
{
	free(o->backend);
	free(o->id);
	free(o->path);
}

/* "@name" marks an abstract socket, as ss(8) prints them. */
static int push_socket_path(char ***v, size_t *n, const char *path, bool abstract)
{
	if (!abstract)
		return strv_push(v, n, path);
	_cleanup_free_ char *s = malloc(strlen(path) + 2);
	if (!s)
		return -ENOMEM;
	s[0] = '@';
	strcpy(s + 1, path);
	return strv_push(v, n, s);
}

/* -qmp takes the legacy chardev form "unix:PATH[,server=on,...]". */
static int parse_qmp(struct parse_state *st, const char *spec)
{
	struct chardev_opts o = {0};
	int r = qemu_opts_foreach(spec, "backend", chardev_opt, &o);
	if (r == 0 && o.backend && startswith(o.backend, "unix:") && o.backend[5])
		r = push_socket_path(&st->cfg->qmp_paths, &st->cfg->n_qmp_paths, o.backend + 5,
				     o.abstract);
	chardev_opts_done(&o);
	return r;
}

static int parse_chardev(struct parse_state *st, const char *spec)
{
	struct chardev_opts o = {0};
	int r = qemu_opts_foreach(spec, "backend", chardev_opt, &o);
	if (r == 0 && o.backend && strcmp(o.backend, "socket") == 0 && o.id && o.path) {
		r = strv_push(&st->chardev_ids, &st->n_chardevs, o.id);
		if (r == 0) {
			size_t n = st->n_chardev_paths;
			r = push_socket_path(&st->chardev_paths, &n, o.path, o.abstract);
			st->n_chardev_paths = n;
		}
	}
	chardev_opts_done(&o);
	return r;
}

struct mon_opts {
	char *chardev;
	bool control;
};

static int mon_opt(const char *key, const char *value, void *userdata)
{
	struct mon_opts *o = userdata;
	if (strcmp(key, "chardev") == 0)
		return free_and_strdup(&o->chardev, value);
	if (strcmp(key, "mode") == 0)
		o->control = strcmp(value, "control") == 0;
	return 0;
}

static int parse_mon(struct parse_state *st, const char *spec)
{
	struct mon_opts o = {0};
	int r = qemu_opts_foreach(spec, "chardev", mon_opt, &o);
	if (r == 0 && o.control && o.chardev)
		r = strv_push(&st->control_mons, &st->n_control_mons, o.chardev);
	free(o.chardev);
	return r;
}

/* A size: "N" in units of 1 << shift, or with a K, M, G or T suffix (binary
 * multiples, as QEMU's qemu_strtosz() and qemu_strtosz_MiB()); 0 for anything else. */
static uint64_t parse_size(const char *value, unsigned shift)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(value, &end, 10);
	if (*end) {
		static const char units[] = "KMGT";
		const char *u = strchr(units, toupper((unsigned char)*end));
		shift = u && *u ? 10 * (unsigned)(u - units + 1) : 64;
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (errno || end == value || *end || shift == 64 || value[0] == '-' || n > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)n << shift;
}

struct object_opts {
	bool iothread, backend;
	char *id;
	uint64_t size;
};

static int object_opt(const char *key, const char *value, void *userdata)
{
	struct object_opts *o = userdata;
	if (strcmp(key, "qom-type") == 0) {
		o->iothread = strcmp(value, "iothread") == 0;
		o->backend = strncmp(value, "memory-backend-", 15) == 0;
	} else if (strcmp(key, "id") == 0) {
		return free_and_strdup(&o->id, value);
	} else if (strcmp(key, "size") == 0) {
		o->size = parse_size(value, 0); /* a property: bytes without a suffix */
	}
	return 0;
}

/* A memory backend's size, kept in the order given. */
static int add_backend(struct qemu_config *c, uint64_t size)
{
	if (!size)
		return 0;
	uint64_t *n = realloc(c->backend_bytes, (c->n_backend_bytes + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[c->n_backend_bytes++] = size;
	c->backend_bytes = n;
	return 0;
}

static int parse_object(struct qemu_config *c, const char *spec)
{
	struct object_opts o = {0};
	int r = 0;
	if (spec[0] == '{') {
		/* QEMU 6.0+ also takes -object as JSON. */
		json_object *j = json_tokener_parse(spec);
		json_object *type, *id;
		if (j && json_object_object_get_ex(j, "qom-type", &type) &&
		    json_object_object_get_ex(j, "id", &id) && json_object_is_type(type, json_type_string) &&
		    json_object_is_type(id, json_type_string) &&
		    strcmp(json_object_get_string(type), "iothread") == 0)
			r = strv_push(&c->iothread_ids, &c->n_iothread_ids, json_object_get_string(id));
		json_object_put(j);
		return r;
	}
	r = qemu_opts_foreach(spec, "qom-type", object_opt, &o);
	if (r == 0 && o.iothread && o.id)
		r = strv_push(&c->iothread_ids, &c->n_iothread_ids, o.id);
	if (r == 0 && o.backend)
		r = add_backend(c, o.size);
	free(o.id);
	return r;
}

static int accel_opt(const char *key, const char *value, void *userdata)
{
	struct qemu_config *c = userdata;
	if (strcmp(key, "accel") != 0)
		return 0;
	/* "kvm:tcg" means "kvm, else tcg": keep the first choice. */
	size_t n = strcspn(value, ":");
	_cleanup_free_ char *first = strndup(value, n);
	return first ? free_and_strdup(&c->accel, first) : -ENOMEM;
}

/* -m's size: MiB without a suffix. */
static int ram_opt(const char *key, const char *value, void *userdata)
{
	struct qemu_config *c = userdata;
	if (strcmp(key, "size") == 0)
		c->ram_bytes = parse_size(value, 20);
	return 0;
}

int qemu_config_parse(char *const *argv, size_t argc, struct qemu_config *ret)
{
	struct qemu_config cfg = {.smp_cpus = 1};
	struct parse_state st = {.cfg = &cfg};
	struct qemu_arg a;
	int r = 0;

	for (size_t i = 1; r == 0 && qemu_argv_next(argv, argc, &i, &a);) {
		const char *opt = a.opt, *val = a.val;
		if (!opt)
			continue;
		if (strcmp(opt, "enable-kvm") == 0) {
			r = free_and_strdup(&cfg.accel, "kvm");
			continue;
		}
		if (!val)
			continue;
		if (strcmp(opt, "name") == 0)
			r = qemu_opts_foreach(val, "guest", name_opt, &cfg);
		else if (strcmp(opt, "qmp") == 0 || strcmp(opt, "qmp-pretty") == 0)
			r = parse_qmp(&st, val);
		else if (strcmp(opt, "chardev") == 0)
			r = parse_chardev(&st, val);
		else if (strcmp(opt, "mon") == 0)
			r = parse_mon(&st, val);
		else if (strcmp(opt, "pidfile") == 0)
			r = free_and_strdup(&cfg.pidfile, val);
		else if (strcmp(opt, "m") == 0)
			r = qemu_opts_foreach(val, "size", ram_opt, &cfg);
		else if (strcmp(opt, "object") == 0)
			r = parse_object(&cfg, val);
		else if (strcmp(opt, "accel") == 0)
			r = qemu_opts_foreach(val, "accel", accel_opt, &cfg);
		else if (strcmp(opt, "machine") == 0 || strcmp(opt, "M") == 0)
			r = qemu_opts_foreach(val, "type", accel_opt, &cfg);
		else if (strcmp(opt, "smp") == 0) {
			struct smp_opts o = {.cfg = &cfg};
			cfg.smp_maxcpus = cfg.smp_sockets = cfg.smp_dies = cfg.smp_cores =
				cfg.smp_threads = 0;
			r = qemu_opts_foreach(val, "cpus", smp_opt, &o);
			/* QEMU 7.2 smp_parse(): cpus defaults to maxcpus, which defaults to
			 * the product of the topology. */
			long long product = (long long)(cfg.smp_sockets ? cfg.smp_sockets : 1) *
					    (cfg.smp_dies ? cfg.smp_dies : 1) *
					    (cfg.smp_cores ? cfg.smp_cores : 1) *
					    (cfg.smp_threads ? cfg.smp_threads : 1);
			cfg.smp_cpus = o.cpus ? o.cpus : cfg.smp_maxcpus ? cfg.smp_maxcpus
					   : product <= SMP_MAX ? (int)product : 1;
		}
	}

	/* QMP monitors given as -chardev socket + -mon mode=control. */
	for (size_t m = 0; m < st.n_control_mons && r == 0; m++)
		for (size_t c = 0; c < st.n_chardevs && r == 0; c++)
			if (strcmp(st.control_mons[m], st.chardev_ids[c]) == 0)
				r = strv_push(&cfg.qmp_paths, &cfg.n_qmp_paths, st.chardev_paths[c]);

	parse_state_done(&st);
	if (r < 0) {
		qemu_config_done(&cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

int qemu_apic_id_to_cpu_index(const struct qemu_config *c, unsigned apic_id)
{
	unsigned maxcpus = (unsigned)(c->smp_maxcpus ? c->smp_maxcpus : c->smp_cpus);
	unsigned threads = (unsigned)(c->smp_threads ? c->smp_threads : 1);
	unsigned dies = (unsigned)(c->smp_dies ? c->smp_dies : 1);
	unsigned cores = (unsigned)c->smp_cores, sockets = (unsigned)c->smp_sockets;
	/* Missing values as QEMU fills them for current machine types: cores before
	 * sockets. */
	/* No topology QEMU accepts has more; bounded, the products below fit. */
	if (maxcpus > SMP_MAX || threads > SMP_MAX || dies > SMP_MAX || cores > SMP_MAX || sockets > SMP_MAX)
		return -1;
	if (!sockets && !cores)
		sockets = 1;
	if (!cores)
		cores = (unsigned)(maxcpus / ((unsigned long long)sockets * dies * threads));
	if (!sockets)
		sockets = (unsigned)(maxcpus / ((unsigned long long)cores * dies * threads));
	if (!cores || !sockets)
		return -1;
	unsigned tb = bits_for(threads), cb = bits_for(cores), db = bits_for(dies);
	if (tb + cb + db >= 32)
		return -1;
	unsigned thread = apic_id & ((1u << tb) - 1);
	unsigned core = (apic_id >> tb) & ((1u << cb) - 1);
	unsigned die = (apic_id >> (tb + cb)) & ((1u << db) - 1);
	unsigned socket = apic_id >> (tb + cb + db);
	if (thread >= threads || core >= cores || die >= dies || socket >= sockets)
		return -1;
	unsigned long index = (((unsigned long)socket * dies + die) * cores + core) * threads + thread;
	return index < maxcpus ? (int)index : -1;
}
