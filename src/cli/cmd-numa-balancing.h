/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg numa-balancing: read or set kernel.numa_balancing. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_NUMA_BALANCING_H
#define KVMCG_CMD_NUMA_BALANCING_H

int cmd_numa_balancing(int argc, char **argv);

#endif
