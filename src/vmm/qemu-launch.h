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
	int nodeid;   /* nodeid=, or QEMU's implicit numbering (the count of -numa node so far) */
	char *memdev; /* memdev=, NULL when absent */
	bool legacy_mem; /* mem= (no backend: host-nodes cannot be given per cell) */
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
 * qemu-options.def says). -EINVAL with err_set() naming the argument for what QEMU
 * itself would refuse and run cannot reason about (an -object or -numa value that does
 * not parse); -ENOMEM. */
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
 * *ret_added (NULL-terminated, may be NULL), each addition as one human-readable
 * item ("-S", "-qmp unix:/run/kvmcg/...,server=on,wait=off", "host-nodes=1,policy=bind
 * on -object memory-backend-ram,id=m1"). Errors, with err_set() saying which:
 *   -ENOENT  a cell in add->cells that the arguments do not have (-numa node,nodeid=)
 *   -EINVAL  a cell with no memdev (legacy mem=, or none), or whose memdev names no
 *            -object in argv
 *   -EEXIST  the backend already sets host-nodes= or policy= differently (the same
 *            values are accepted and not added twice) */
int qemu_launch_build(char *const *argv, size_t argc, const struct qemu_launch_info *info,
		      const struct qemu_launch_add *add, char ***ret_argv, char ***ret_added);

#endif
