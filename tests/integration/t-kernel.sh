#!/bin/bash
# What the kernel under test does where Linux 6.1 and 6.12 differ, seen without
# kvmcg: the premises the other scripts and kvmcg's order of writes rest on. Each
# check names the kernel it expects and why (tl_kernel_expect), so a guest kernel
# that behaves otherwise fails here, by name, rather than somewhere in t-pin.
#  - a thread's sched_setaffinity mask on a cpuset.cpus change and a cgroup move:
#    6.1 resets it to the cpuset's CPUs; 6.2 and later keep the requested mask,
#    intersected with the cpuset, and give it back when the cpuset grows again
#    (commits 8f9ea86fdf99, da019032819a). kvmcg writes cgroups first and affinity
#    last, and must give the same result on both (t-pin, t-refusals, t-record);
#  - cpuset.cpus.exclusive (6.7); isolated partitions (both);
#  - MPOL_PREFERRED_MANY (5.15: both), as numa_maps names it ("prefer (many)").
# In the test guest only: the host's cpuset is cgroup v1.
. "$(dirname "$0")/../lib/testlib.sh"

tl_detect_cgroups
if [ "$KVMCG_TEST_ENV" != guest ] || [ "$mode" != v2 ]; then
	tl_skip "kernel behaviour" "in the test guest only (pure cgroup v2 with cpuset); here: $mode"
	tl_done
fi
[ "$ncpu" -ge 4 ] || {
	tl_skip "kernel behaviour" "needs 4 CPUs (the test guest has them); here: $ncpu"
	tl_done
}
tl_need_tools "kernel behaviour" taskset numactl

if tl_affinity_kept; then
	tl_kernel_expect "a cpuset change or a cgroup move keeps a thread's requested CPUs (6.2 and later)"
	keep=1
else
	tl_kernel_expect "a cpuset change or a cgroup move resets a thread's CPUs to the cpuset's (6.1)"
	keep=0
fi

if ! grep -qw cpuset "$mount"/cgroup.subtree_control; then
	tl_on_exit "echo -cpuset >'$mount/cgroup.subtree_control' 2>/dev/null"
	echo +cpuset >"$mount"/cgroup.subtree_control
fi

# --- cpuset.cpus.exclusive and partitions -----------------------------------------------------
# An isolated partition of CPU 3 directly below the root (a partition's parent must
# be a partition root, and no sibling may hold CPU 3: before the cgroups below),
# taken, then given back.
part=$mount/kvmcg-t-kernel-part-$$
mkdir "$part"
tl_on_exit "echo member >'$part/cpuset.cpus.partition' 2>/dev/null; tl_rmcg '$part'"
echo 3 >"$part"/cpuset.cpus
if tl_kernel_at_least 6.7; then
	tl_check "cpuset.cpus.exclusive exists (6.7 and later)" test -e "$part/cpuset.cpus.exclusive"
else
	tl_check "cpuset.cpus.exclusive does not exist (before 6.7)" test ! -e "$part/cpuset.cpus.exclusive"
fi
if tl_kernel_at_least 6.7; then
	echo 3 >"$part"/cpuset.cpus.exclusive
fi
echo isolated >"$part"/cpuset.cpus.partition 2>/dev/null
tl_eq "an isolated partition of CPU 3 below the root is valid (every kernel here)" \
	"$(cat "$part"/cpuset.cpus.partition)" isolated
echo member >"$part"/cpuset.cpus.partition
tl_eq "... and becomes a member again" "$(cat "$part"/cpuset.cpus.partition)" member

cg=$mount/kvmcg-t-kernel-$$
mkdir "$cg" "$cg/a" "$cg/b"
tl_on_exit "tl_rmcg '$cg'"
echo +cpuset >"$cg"/cgroup.subtree_control
echo 0-3 >"$cg"/cpuset.cpus
echo 0-3 >"$cg"/a/cpuset.cpus
echo 0-3 >"$cg"/b/cpuset.cpus

sleep 600 &
pid=$!
tl_register_pid "$pid"
echo "$pid" >"$cg"/a/cgroup.procs
mask() { tl_cpulist_expand "$(taskset -pc "$pid" | sed 's/.*: //')"; }
# expect_mask WHAT KEPT RESET: after WHAT, the thread's mask is KEPT where the kernel
# keeps requested masks (6.2 and later), RESET where it resets them (6.1).
expect_mask() {
	if [ "$keep" = 1 ]; then
		tl_eq "$1: the thread has CPUs $2, as asked for before (6.2 and later keep the mask)" "$(mask)" "$2"
	else
		tl_eq "$1: the thread is reset to CPUs $3, the cpuset's (6.1 resets the mask)" "$(mask)" "$3"
	fi
}

# --- affinity on a cpuset.cpus change -----------------------------------------------------
taskset -pc 1 "$pid" >/dev/null
tl_eq "setup: the thread runs on CPU 1 (sched_setaffinity)" "$(mask)" 1
echo 1-3 >"$cg"/a/cpuset.cpus
expect_mask "cpuset.cpus 0-3 -> 1-3" 1 "1 2 3"
# A cpuset without the thread's CPU: every kernel falls back to the cpuset.
taskset -pc 1 "$pid" >/dev/null
echo 2-3 >"$cg"/a/cpuset.cpus
tl_eq "cpuset.cpus -> 2-3, without CPU 1: the thread gets 2-3 (every kernel)" "$(mask)" "2 3"
echo 0-3 >"$cg"/a/cpuset.cpus
expect_mask "cpuset.cpus back to 0-3" 1 "0 1 2 3"

# --- affinity on a cgroup move --------------------------------------------------------------
taskset -pc 1 "$pid" >/dev/null
echo "$pid" >"$cg"/b/cgroup.procs
expect_mask "a move to a cgroup with CPUs 0-3" 1 "0 1 2 3"
# sched_setaffinity outside the cpuset: EINVAL on every kernel, the mask stays.
echo 2-3 >"$cg"/b/cpuset.cpus
taskset -pc 2 "$pid" >/dev/null
tl_check "sched_setaffinity to CPU 0, outside the cpuset 2-3: refused (every kernel)" \
	bash -c "! taskset -pc 0 $pid"
tl_eq "... and the mask stays CPU 2" "$(mask)" 2
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# --- MPOL_PREFERRED_MANY -----------------------------------------------------------------
# numactl sets it for the process; numa_maps shows the task's policy on mappings
# without one of their own. "prefer (many)" holds a blank: t-numastat's parsers and
# kvmcg's read the policy up to the first field.
pol=$(numactl --preferred-many=0-1 awk 'NR == 1 { s = $2; for (i = 3; i <= NF && $i !~ /=/; i++) s = s " " $i; print s; exit }' /proc/self/numa_maps 2>&1)
tl_eq "MPOL_PREFERRED_MANY: numa_maps shows 'prefer (many):0-1' (5.15 and later)" "$pol" "prefer (many):0-1"

tl_done
