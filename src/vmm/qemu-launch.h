/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU command line `kvmcg run` starts: what the user's arguments already say
 * that run must know (-S, -daemonize, -pidfile, QMP monitors, NUMA cells and the
 * memory backends behind them), and the final argument vector with what run adds
 * (-S, a private QMP monitor, host-nodes= and policy= on a cell's backend). Pure
 * functions: nothing here touches the system. */
#ifndef KVMCG_QEMU_LAUNCH_H
#define KVMCG_QEMU_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>

#include "basic/idset.h"

/* QEMU's MAX_NODES (include/sysemu/numa.h): guest NUMA cells are 0 to 127, and so are
 * the host nodes a backend's host-nodes= may name (backends/hostmem.c refuses 128
 * and above: "Invalid host-nodes value"). */
#define QEMU_MAX_NODES 128

/* QEMU's memory-backend policy= values (qapi/machine.json HostMemPolicy). */
enum qemu_host_policy {
	QEMU_HOST_POLICY_DEFAULT,
	QEMU_HOST_POLICY_PREFERRED,
	QEMU_HOST_POLICY_BIND,
	QEMU_HOST_POLICY_INTERLEAVE,
};
/* "default", "preferred", "bind", "interleave". */
const char *qemu_host_policy_name(enum qemu_host_policy p);

/* One -object memory-backend-*,... (keyval or JSON syntax). */
struct qemu_backend {
	size_t argi;          /* index in argv of the option's value */
	bool json;            /* given as -object '{"qom-type": ...}' */
	char *type;           /* "memory-backend-ram", -file, -memfd, -epc */
	char *id;
	struct idset *host_nodes; /* host-nodes=, NULL when not given */
	enum qemu_host_policy policy; /* policy=, DEFAULT when not given */
	bool policy_given;
};

/* One -numa node,... */
struct qemu_numa_cell {
	size_t argi;  /* index in argv of the option's value */
	int nodeid;   /* nodeid=, or QEMU's implicit numbering (the count of -numa node so far);
		       * 0 to QEMU_MAX_NODES - 1 */
	char *memdev; /* memdev=, NULL when absent */
	bool legacy_mem; /* mem= (no backend: host-nodes cannot be given per cell) */
	char *mem;    /* mem= as given ("512M"), NULL when absent */
};

struct qemu_launch_info {
	bool has_S;        /* -S: the guest starts paused */
	bool daemonize;    /* -daemonize */
	char *pidfile;     /* -pidfile FILE, as given */
	char *name;        /* -name NAME or guest=NAME; NULL when absent */
	char **qmp_paths;  /* unix sockets of the QMP monitors the user configured (-qmp,
			    * -qmp-pretty, -chardev socket,path= with -mon mode=control), as given */
	size_t n_qmp_paths;
	struct qemu_backend *backends;
	size_t n_backends;
	struct qemu_numa_cell *cells;
	size_t n_cells;
};
void qemu_launch_info_done(struct qemu_launch_info *i);

/* Reads argv[1..argc-1] (argv[0] is the binary) in QEMU's own syntax: options with one
 * or two leading dashes, "-opt value" pairs for options that take one (as QEMU's
 * qemu-options.hx says; qemu_argv_next() in qemu-argv.h), so a value that looks like
 * an option ("-append -S") is a value. -name, -pidfile and the QMP sockets are
 * qemu_config_parse()'s. Options a -readconfig file gives are not seen.
 * -EINVAL with err_set() naming the argument for what QEMU itself would refuse and
 * run cannot reason about: an option that takes a value last with none (what run
 * appends would become its value), a memory backend's host-nodes= or policy= that does not
 * parse, a JSON -object that is not a JSON object, two backends with one id, a -numa
 * node whose nodeid= is not 0 to QEMU_MAX_NODES - 1 or is given twice, or that has
 * both mem= and memdev= (softmmu/vl.c object_option_parse(), hw/core/numa.c
 * parse_numa_node()). -ENOMEM. *ret is untouched on failure. */
int qemu_launch_inspect(char *const *argv, size_t argc, struct qemu_launch_info *ret);

/* One guest NUMA cell's host placement: the cell's backend gets host-nodes=NODES and
 * policy=POLICY. */
struct qemu_cell_nodes {
	int cell;
	const struct idset *nodes;
	enum qemu_host_policy policy;
};

/* What run adds. */
struct qemu_launch_add {
	bool add_S;             /* -S, placed right after argv[0] */
	const char *qmp_path;   /* NULL, or a private monitor: -qmp unix:PATH,server=on,wait=off */
	const struct qemu_cell_nodes *cells;
	size_t n_cells;
};

/* The final argument vector (NULL-terminated, caller frees with strv_free) and, in
 * *ret_added (NULL-terminated, empty when nothing is added; ret_added may be NULL),
 * each addition as one human-readable item ("-S", "-qmp
 * unix:/run/kvmcg/...,server=on,wait=off", "host-nodes=1,policy=bind on -object
 * memory-backend-ram,id=m1 (guest NUMA cell 1)"). argv and argc are those given to
 * qemu_launch_inspect() for info. -S is not added twice when argv has it. A keyval
 * backend gets ",host-nodes=A[-B],host-nodes=C[-D]...,policy=P" appended: one
 * host-nodes= per range of the set, which QEMU 7.2's -object parser (softmmu/vl.c
 * object_option_parse(): QemuOpts, util/qemu-option.c, read by the opts visitor,
 * qapi/opts-visitor.c) gathers into one list; "host-nodes.0=" is refused there. A JSON
 * backend gets "host-nodes":[...] and "policy":"P" and is written out again compactly.
 * Errors, with err_set() saying which:
 *   -ENOENT  a cell in add->cells that the arguments do not have (-numa node,nodeid=)
 *   -EINVAL  a cell with no memdev (legacy mem=, or none), or whose memdev names no
 *            -object in argv; two cells of add->cells on one backend; no host nodes,
 *            or QEMU_HOST_POLICY_DEFAULT with them (QEMU refuses both); an empty
 *            argv (no argv[0]) or qmp_path
 *   -ERANGE  a host node of QEMU_MAX_NODES or above
 *   -EEXIST  the backend already sets host-nodes= or policy= differently (the same
 *            values are accepted and not added twice)
 *   -ENOMEM
 * Nothing is returned in *ret_argv or *ret_added on failure. */
int qemu_launch_build(char *const *argv, size_t argc, const struct qemu_launch_info *info,
		      const struct qemu_launch_add *add, char ***ret_argv, char ***ret_added);

#endif
