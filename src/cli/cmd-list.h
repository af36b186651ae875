/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg list: every VM on the host. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_LIST_H
#define KVMCG_CMD_LIST_H

int cmd_list(int argc, char **argv);

#endif
