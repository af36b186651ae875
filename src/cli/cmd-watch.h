/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcg watch: the daemon that keeps VMs as their policies ask (core/watch.h). Exit
 * codes: basic/err.h. */
#ifndef KVMCG_CMD_WATCH_H
#define KVMCG_CMD_WATCH_H

int cmd_watch(int argc, char **argv);

#endif
