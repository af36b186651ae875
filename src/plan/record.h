/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What kvmcg changed for one VM, so that unpin restores exactly what was there (the
 * undo record): each thread's cgroup, affinity and scheduling class before kvmcg first
 * touched it, the cgroups kvmcg made, the controllers it enabled, and the tuning the
 * VM has now. Plain data: plan_unpin() reads it, core/ fills it, state/ stores it. */
#ifndef KVMCG_RECORD_H
#define KVMCG_RECORD_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/idset.h"
#include "kernel/cgroupfs.h"
#include "tune/tune.h"

struct thread_origin {
	pid_t tid;
	char *cgroup;           /* "" in affinity mode */
	/* in each v1 hierarchy of a second tree (vm_state.v1[t]; [V1_TREE_NONE] unused):
	 * NULL when the record has no such tree, or the thread was gone before it was
	 * read */
	char *v1_cgroup[V1_TREE_N];
	struct idset *affinity;
	bool sched_known;
	int sched_policy;
	unsigned sched_priority;
};

/* The VM's tree in one v1 hierarchy (cgroupfs.h enum v1_tree), beside the cpuset
 * one: its mount point, the VM's directory relative to it (NULL: none), the
 * directories kvmcg made there (creation order). Each thread's origin there is
 * thread_origin.v1_cgroup[tree]. */
struct v1_tree_record {
	char *mount;
	char *vm_dir;
	char **created;
	size_t n_created;
};

/* A controller kvmcg enabled in a cgroup that is not its own (the VM's cgroup, when
 * the tree is built inside it): disabled again when the tree goes. */
struct enabled_controller {
	char *dir; /* relative to the mount */
	char *controller;
};

/* A line kvmcg wrote to a keyed file (io.max, io.weight...) of a cgroup that is not
 * its own (the VM's launcher's, which is the VM's io domain when kvmcg's tree is built
 * inside it), and the line that puts back what was there before kvmcg first wrote
 * that key: unpin, or the cleanup after the VM exits, writes it. */
struct restore_line {
	char *dir;  /* relative to the mount */
	char *file; /* "io.max", "io.weight", "io.bfq.weight" */
	char *line; /* "8:16 rbps=max wbps=max riops=max wiops=max", "default 100" */
};
/* Frees n lines and the array. */
void record_restore_free(struct restore_line *v, size_t n);
struct vm_state;
/* Adds one, unless st has a line of the same dir, file and key (the first word): the
 * earliest is what was there before kvmcg, and a "name=value" field it lacks is added
 * to it (io.max: each limit as it was before kvmcg first set it). 0 or -ENOMEM. */
int record_add_restore(struct vm_state *st, const char *dir, const char *file, const char *line);

/* A tc object kvmcg added to a network device for a VM's [Network] shaping (or a
 * device it made), kept so that unpin and the cleanup after the VM exits remove it,
 * and nothing else: in the network namespace of netns_dev:netns_ino (the nsfs inode
 * of /proc/PID/ns/net, found again through /run/netns/ or any process in it once the
 * VM is gone; gone with the namespace when nothing holds it). */
enum net_added {
	NET_ADDED_ROOT,    /* a root qdisc on dev (a tap, or kvmcg's IFB): kind, handle */
	NET_ADDED_INGRESS, /* the ingress qdisc of a tap, with the filter kvmcg put on it */
	NET_ADDED_IFB,     /* the IFB device dev, made for a tap's outbound shaping */
	NET_ADDED_CLASS,   /* the HTB class handle (NET_HANDLE_MAJOR:minor, minor >= 2) on
			    * the bridge dev for the tap port, with the u32 filter of
			    * priority minor that sends the guest's frames to it (Weight=);
			    * the bridge's HTB root and its class :1 are every such VM's,
			    * removed with the last class */
};
const char *net_added_name(enum net_added a); /* "root", "ingress", "ifb", "class" */
int net_added_parse(const char *s, enum net_added *ret);
struct net_change {
	enum net_added what;
	uint64_t netns_dev, netns_ino;
	char dev[16];       /* IF_NAMESIZE: the device, as named in its namespace */
	int ifindex;        /* the device's; 0 for an IFB not made yet (it is then known by
			     * its name, which kvmcg derives and no one else uses) */
	char *kind;         /* NET_ADDED_ROOT: the qdisc's kind ("tbf") */
	uint32_t handle;    /* NET_ADDED_ROOT: its handle; NET_ADDED_CLASS: the classid */
	int port;           /* NET_ADDED_CLASS: the tap's ifindex */
	/* With --force: the operator's qdisc it replaced (kind NULL: none), which undo puts
	 * back: kind, handle and TCA_OPTIONS as the kernel dumped them. */
	char *was_kind;
	uint32_t was_handle;
	void *was_options;
	size_t was_len;
};
/* Frees one change's strings and options; net_changes_free() n of them and the array. */
void net_change_done(struct net_change *c);
void net_changes_free(struct net_change *v, size_t n);
/* st's change of what on a tap by its ifindex (dev is not compared: a tap may have
 * been renamed since), on an IFB by its name dev, or a bridge class for the tap port
 * ifindex. NULL when there is none (st may be NULL). */
const struct net_change *record_find_net(const struct vm_state *st, enum net_added what, const char *dev,
					 int ifindex);
/* The IFB device's name for a tap: "kvmcg" and 8 hex digits of a hash of the VM's pid,
 * its start time and the tap's name (13 bytes, below IF_NAMESIZE). */
void net_ifb_name(pid_t pid, uint64_t starttime, const char *tap, char ret[IF_NAMESIZE]);
/* Whether name is one net_ifb_name() gives: "kvmcg" and 8 lowercase hex digits. The
 * only IFB devices kvmcg ever deletes. */
bool net_ifb_name_valid(const char *name);
/* Appends a deep copy of c to st's. 0 or -ENOMEM. */
int record_add_net(struct vm_state *st, const struct net_change *c);

/* The highest vCPU index a record may pin: far above any VM, low enough that a
 * damaged record cannot ask for a table of millions. */
#define RECORD_VCPU_INDEX_MAX (1 << 20)

struct vm_state {
	pid_t pid;
	uint64_t starttime;
	char *name;
	enum pin_backend backend;
	char *mount;   /* cgroup mount point; NULL in affinity mode */
	char *vm_dir;  /* relative to mount */
	char *root;    /* the --cgroup-root vm_dir is directly below, relative to mount;
			* NULL when vm_dir is inside a kvmcg/ tree (layout.h) */
	bool launched;  /* kvmcg run started the VM, placed before QEMU ran */
	/* v1 or hybrid host: the VM's second trees, beside the cpuset one, by v1 hierarchy
	 * (v1[V1_TREE_CPU] for [CPU] bandwidth, v1[V1_TREE_BLKIO] for [IO];
	 * v1[V1_TREE_NONE] unused). */
	struct v1_tree_record v1[V1_TREE_N];
	char **created; /* directories kvmcg made for this VM, in creation order */
	size_t n_created;
	struct enabled_controller *enabled;
	size_t n_enabled;
	struct restore_line *restore; /* what unpin writes back in cgroups not kvmcg's */
	size_t n_restore;
	struct net_change *net; /* what unpin removes from network devices, in the order made */
	size_t n_net;
	/* Each thread's cgroup and affinity before kvmcg first touched it. */
	struct thread_origin *threads;
	size_t n_threads;
	struct vm_tune tune; /* what is pinned now */
	/* Where the VM's memory (guest RAM and QEMU's other anonymous memory) was, bytes
	 * per node, before kvmcg first moved it: unpin --migrate-back returns it there.
	 * NULL when kvmcg never moved it. */
	uint64_t *mem_origin;
	unsigned n_mem_origin;
};
void vm_state_done(struct vm_state *s);
/* A deep copy into *ret (the caller's to vm_state_done); created stays
 * NULL-terminated. 0 or -ENOMEM. */
int vm_state_copy(const struct vm_state *s, struct vm_state *ret);

/* The v1 trees of a record (each of cpu and blkio), as kvmcg makes them: on a v1
 * backend only, an absolute mount, a directory "kvmcg/<name>" (layout_v1tree_dir),
 * nothing made there but that directory (kvmcg/ itself is the host's:
 * state/shared.h), and thread origins there that are plain paths outside any kvmcg/
 * tree, named only with a tree. 0, or -EBADMSG with a sentence in *ret_why (caller
 * frees; NULL when out of memory). */
int record_check_v1trees(const struct vm_state *s, char **ret_why);

/* The first of s's v1 trees that lists a directory kvmcg made; NULL when none does. */
const struct v1_tree_record *record_v1_left(const struct vm_state *s);

const struct thread_origin *record_find_thread(const struct vm_state *s, pid_t tid);

#endif
