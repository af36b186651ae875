/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cgroup layout kvmcg builds, in one place: where a VM's directory goes, what its
 * children are called, which file moves a thread, which cgroups are kvmcg's own.
 *
 *   kvmcg/<vm>/{emulator,vcpuN,iothread-ID}   the VM was in the root cgroup
 *   <its cgroup>/kvmcg/{emulator,...}         the VM was alone in a cgroup of its own
 *                                             (a container-style launcher's): the
 *                                             tree stays inside it, so its limits
 *                                             (memory.max, pids.max, io...) still apply
 *   <--cgroup-root>/<vm>/{emulator,...}       where the user said
 *
 * Every name kvmcg derives is at most LAYOUT_NAME_MAX bytes and stays distinct for
 * distinct inputs: a longer one is cut and given a hash of the whole. */
#ifndef KVMCG_LAYOUT_H
#define KVMCG_LAYOUT_H

#include <stdbool.h>
#include <sys/types.h>

#include "kernel/cgroupfs.h"
#include "vmm/discover.h"

/* The top-level root, and the VM's directory inside its own cgroup. */
#define LAYOUT_ROOT "kvmcg"
#define LAYOUT_NAME_MAX 64

/* A VM's directory name from its -name (text its owner chose): letters, digits, '-'
 * and '_' kept, anything else '_' ('.' too: no "..", no hidden names, no clash with
 * "controller.file" names); longer than LAYOUT_NAME_MAX, it is cut and "-" and 8 hex
 * digits of a hash of the whole name are appended. NULL when nothing usable remains
 * (the caller falls back to the pid) or out of memory. */
char *layout_vm_name(const char *name);

/* The child cgroup of the emulator, its workers and any thread not identified. */
#define LAYOUT_EMULATOR "emulator"

/* The child cgroup of a thread within the VM's directory: "emulator" (emulator,
 * workers, unknown), "vcpu3", "iothread-<id>" with the id encoded injectively
 * (letters, digits, '-' kept, any other byte "_XX"), bounded like layout_vm_name.
 * NULL only when out of memory. */
char *layout_child_name(const struct vm_thread *t);

/* "VM_DIR/CHILD": the cgroup of thread t, or with t NULL (a thread discovery did not
 * see) the emulator's; relative to the mount like vm_dir (NULL or "" for none: then
 * "CHILD"). NULL only when out of memory. */
char *layout_child_path(const char *vm_dir, const struct vm_thread *t);

/* Whether name could be one of layout_child_name()'s: "emulator", "vcpuN",
 * "iothread-<encoded id>". What a record may list below a VM's directory. */
bool layout_child_shaped(const char *name);

/* The file a TID is written to to move one thread: cgroup.threads (v2), tasks (v1). */
const char *layout_move_file(enum pin_backend backend);

/* The part of a cgroup path that is not kvmcg's: cut before its first component named
 * LAYOUT_ROOT. "a/b/kvmcg/emulator" -> "a/b", "kvmcg/vm/vcpu0" -> "", "a/b" -> "a/b".
 * A leading '/' is accepted and dropped. NULL only when out of memory. */
char *layout_home(const char *path);

/* Whether path is inside a kvmcg/ tree (a component named LAYOUT_ROOT): one of
 * kvmcg's own cgroups, which is never a thread's origin. */
bool layout_in_kvmcg_tree(const char *path);

/* Whether a VM directory is a tree built inside the VM's own cgroup (LAYOUT_IN_PLACE:
 * "<its cgroup>/kvmcg"), whose parent is then the VM's domain: its launcher's cgroup. */
bool layout_built_in_place(const char *vm_dir);

/* "a/b/c" -> "a/b", "a" -> "". NULL only when out of memory. */
char *layout_parent(const char *path);

enum layout_kind {
	LAYOUT_KEPT,     /* pinned before: the record's directory, whatever else is asked */
	LAYOUT_GIVEN,    /* --cgroup-root */
	LAYOUT_TOP,      /* kvmcg/<vm>: the VM is in the root cgroup */
	LAYOUT_IN_PLACE, /* <home>/kvmcg: the VM is alone in its cgroup */
};
const char *layout_kind_name(enum layout_kind k);

/* What decides where a VM's directory goes; paths relative to the mount. */
struct layout_facts {
	const char *recorded_vm_dir; /* from the VM's record, NULL when it has none */
	const char *cgroup_root;     /* --cgroup-root, NULL when not given */
	const char *home;            /* layout_home() of the VM's main thread's cgroup */
	bool alone;                  /* home holds no process but the VM, below it neither */
};

/* Pure. The kind of place and the directory the VM's own directory goes into
 * (allocated; for LAYOUT_KEPT the record's parent). Errors, for the caller to explain:
 *   -EEXIST  pinned before under another parent than --cgroup-root asks
 *   -EBUSY   home is a cgroup of its own (not the root) that other processes share */
int layout_choose(const struct layout_facts *f, enum layout_kind *ret_kind, char **ret_parent);

/* The cgroups of kvmcg's own below which a VM's threads may be found for this place:
 * LAYOUT_TOP: "kvmcg"; LAYOUT_IN_PLACE and LAYOUT_KEPT: the VM's directory;
 * LAYOUT_GIVEN: the --cgroup-root. A thread found there without a record came from
 * its parent, never from a cgroup of kvmcg's. */
const char *layout_owned_root(enum layout_kind k, const char *vm_dir, const char *cgroup_root);

/* The VM's directory in the v1 cpu hierarchy, beside its cpuset tree: always
 * "kvmcg/<leaf>" below that hierarchy's root (the VM's cpuset place, inside its own
 * cgroup or below a --cgroup-root, need not exist there). For a vm_dir "kvmcg/<vm>"
 * the same "<vm>" (distinct among living VMs: core/place.c); for any other place
 * (built in place, a --cgroup-root: two such VMs may share a leaf) layout_vm_name(NAME)
 * "." PID, or PID when name is NULL: '.' is in no layout_vm_name, so the two forms never
 * meet. NULL only when out of memory. */
char *layout_v1tree_dir(const char *vm_dir, const char *name, pid_t pid);

/* A hash for names: FNV-1a, 32 bits. */
unsigned layout_hash(const char *s);

#endif
