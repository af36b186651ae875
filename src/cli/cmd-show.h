/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg show: one VM and its threads. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_SHOW_H
#define KVMCG_CMD_SHOW_H

int cmd_show(int argc, char **argv);

#endif
