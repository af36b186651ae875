/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg numastat: each VM's memory per NUMA node. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_NUMASTAT_H
#define KVMCG_CMD_NUMASTAT_H

int cmd_numastat(int argc, char **argv);

#endif
