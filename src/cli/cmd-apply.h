/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg apply: every policy of a directory onto the VMs it matches. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_APPLY_H
#define KVMCG_CMD_APPLY_H

int cmd_apply(int argc, char **argv);

#endif
