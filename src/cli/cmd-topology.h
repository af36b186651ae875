/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg topology: the host's NUMA nodes, cores, SMT siblings and L3 groups, and which
 * VM sits where. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_TOPOLOGY_H
#define KVMCG_CMD_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cli/output.h"
#include "kernel/topology.h"
#include "tune/tune.h"
#include "vmm/discover.h"
#include "vmm/memory.h"

/* Its options and help, for cli_parse and tests/unit/test-help.c (cli/commands.h). */
struct cli_command;
extern const struct cli_command topology_command;
int cmd_topology(int argc, char **argv);

/* One VM as topology places it: its threads as discovery read them (each one's real
 * affinity), what kvmcg's record pins (NULL: no record), its memory per node (NULL:
 * not measured). */
struct topology_vm {
	const struct vm *vm;
	const struct vm_tune *pins;
	const struct vm_memory *memory;
};

/* The JSON model of kvmcg(8) TOPOLOGY: {"nodes": [...], "cpus": [...]}. A VM is on a
 * CPU when the affinity of one of its vCPU, emulator, iothread or unidentified
 * threads has the CPU, or when kvmcg's record pins one there. with_memory false:
 * every node's "vms" is null (a captured tree has no memory maps). NULL when out of
 * memory. */
json_object *topology_json(const struct topology *t, const struct topology_vm *vms, size_t n, bool with_memory);

/* The text of that model (kvmcg(8) topology) to f: the node table, a blank line, the
 * core table, and "On every online CPU: ..." when threads may run anywhere; with
 * opts->noheadings or opts->raw the core table alone. Adds the text's fields to doc.
 * 0, or negative errno from the table. */
int topology_print_text(FILE *f, json_object *doc, const struct table_opts *opts);

#endif
