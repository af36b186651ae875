/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg run: start QEMU already placed. Exit codes: kvmcg(8). */
#ifndef KVMCG_CMD_RUN_H
#define KVMCG_CMD_RUN_H

int cmd_run(int argc, char **argv);

#endif
