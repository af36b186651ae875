/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg check: policy files, checked without a VM. Exit codes: basic/err.h. */
#ifndef KVMCG_CMD_CHECK_H
#define KVMCG_CMD_CHECK_H

int cmd_check(int argc, char **argv);

#endif
