/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg pin and kvmcg unpin: one VM. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_PIN_H
#define KVMCG_CMD_PIN_H

int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);

#endif
