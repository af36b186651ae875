/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The undo record as JSON, version 1 (kvmcg(8), FILES):
 *
 *   {"version": 1, "pid": 4242, "starttime": 123456, "name": "win7",
 *    "backend": "v2" | "v1" | "affinity",
 *    "mount": "/sys/fs/cgroup", "vm_dir": "kvmcg/win7", "root": "DIR", "launched": true,
 *    "created": ["kvmcg/win7", "kvmcg/win7/emulator"],
 *    "enabled": [{"dir": "lim", "controller": "cpuset"}],
 *    "threads": [{"tid": 4242, "cgroup": "/", "affinity": "0-7", "scheduler": "other"}],
 *    "tune": {"vcpupin": {"0": "2-3"}, "emulatorpin": "0-1", "iothreadpin": {"io1": "4"},
 *             "memory_nodeset": "0", "cpu_weight": 300, "cpu_quota_percent": 150 | "max",
 *             "cpu_period_us": 100000, "vcpu_scheduler": "fifo:10"},
 *    "memory_origin": {"0": 536870912},
 *    "end": true}
 *
 * mount and vm_dir only in the cgroup backends, root only below a --cgroup-root,
 * launched only for a VM kvmcg run started, a
 * thread's scheduler and each tune key only when known or set. CPU and node sets
 * are lists in the kernel's syntax ("0-3,8"); a thread's affinity may be "" (not
 * read). */
#ifndef KVMCG_RECORD_JSON_H
#define KVMCG_RECORD_JSON_H

#include <stddef.h>

#include "plan/record.h"

#define RECORD_VERSION 1

/* Pretty-printed, with a final newline. NULL when out of memory. */
char *record_json_format(const struct vm_state *s);

/* Strict: one JSON object and nothing after it; every key known, given once and of
 * its type; every value checked as the command line and policies check it (tune.h,
 * idset_parse, parse_pid); "end": true present. Returns 0; -ENOMEM; -EBADMSG with a
 * sentence in *ret_why (caller frees; "its tune.cpu_weight is 1000000, out of range
 * (1 to 10000)") and, when the JSON itself is at fault, its 1-based line in *err_line
 * (else 0); or -EPROTONOSUPPORT for a record of another version, *ret_why then
 * "it has version N; this kvmcg reads version 1". */
int record_json_parse(const char *buf, struct vm_state *ret, size_t *err_line, char **ret_why);

#endif
