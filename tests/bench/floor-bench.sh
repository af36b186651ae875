#!/bin/bash
# make bench, first part: kvmcg against the syscall floor, in one interleaved run.
#
# On one real QEMU with 64 vCPUs it times, alternating the two sides every
# iteration (ABBA) so that whatever else the host does falls on both alike:
#   - kvmcg pin (first)      against floor pin   (tests/bench/floor.c: only the kernel work)
#   - kvmcg pin (unchanged)  against floor check (only the read-back and compare)
#   - qemu-affinity          against kvmcg pin --affinity-only, when ../shared/peers has it
# and counts the syscalls of each side with strace -c -f. On many small QEMUs, in a
# PID namespace of their own (tests/bench/many-vms.sh):
#   - kvmcg list             against kvmcg list --no-qmp
#   - kvmcg apply whose policies match nothing: CPU time per VM
# Prints one line per goal, "GOAL name: ... ratio X.XX (goal <= Y) PASS|MISS", and
# writes the figures to BENCHMARKS.md between its markers. A MISS is a measurement,
# not a failure: the script fails only when it cannot measure.
#
# Run as root. Every QEMU, cgroup and file it makes is removed on every exit path;
# kvmcg's records go to a temporary KVMCG_STATE_DIR, never /run/kvmcg.
#
# Environment:
#   KVMCG FLOOR TIMEIT   the binaries (default: build/kvmcg, build/bench/{floor,timeit})
#   BENCH_ITER           interleaved pairs for the first pin (default 40)
#   BENCH_REPIN_ITER     pairs for the unchanged re-pin (default 60)
#   BENCH_PEER_ITER      pairs for qemu-affinity (default 30)
#   BENCH_LIST_VMS       small QEMUs for list and apply (default 60; fewer if memory is short)
#   BENCH_LIST_ITER      pairs for list (default 30)
#   BENCH_APPLY_ITER     runs of apply (default 15)
#   BENCH_WARMUP         untimed runs before each row (default 3)
#   BENCH_PAUSE          seconds of rest before each timed first pin (default 0.2)
#   BENCH_PEER           qemu-affinity's script (default ../shared/peers/qemu-affinity/
#                        qemu_affinity.py, relative to the top of the tree)
#   BENCH_OUT            the report (default BENCHMARKS.md at the top of the tree)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
FLOOR=${FLOOR:-$root/build/bench/floor}
TIMEIT=${TIMEIT:-$root/build/bench/timeit}
VCPUS=64
ITER=${BENCH_ITER:-40}
REPIN_ITER=${BENCH_REPIN_ITER:-60}
PEER_ITER=${BENCH_PEER_ITER:-30}
LIST_VMS=${BENCH_LIST_VMS:-60}
LIST_ITER=${BENCH_LIST_ITER:-30}
APPLY_ITER=${BENCH_APPLY_ITER:-15}
WARMUP=${BENCH_WARMUP:-3}
PAUSE=${BENCH_PAUSE:-0.2}
PEER=${BENCH_PEER:-$root/../shared/peers/qemu-affinity/qemu_affinity.py}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
BEGIN_MARK='<!-- Begin: written by tests/bench/floor-bench.sh (make bench). -->'
END_MARK='<!-- End: written by tests/bench/floor-bench.sh. -->'
# The pin every row measures: all vCPUs on CPU 1, QEMU's other threads on CPU 0.
VCPU_CPU=1
EMU_CPU=0
# The goals (issue "Close to the syscall floor").
GOAL_PIN=1.5 GOAL_REPIN=2 GOAL_LIST=1.5 GOAL_APPLY_MS=1

bench_name=floor-bench # die and note (lib.sh)
# stats, paired, fmt, ratio, halt_bios
. "$here/lib.sh"

# --- preflight ---------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root: pinning writes cgroups and other processes' affinity"
for b in "$KVMCG" "$FLOOR" "$TIMEIT"; do
	[ -x "$b" ] || die "$b is not built (make bench builds it)"
done
missing=()
for tool in qemu-system-x86_64 jq taskset strace unshare; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (contrib/install-deps.sh installs them)"
[ "$(nproc)" -ge 2 ] || die "needs 2 online CPUs (vCPUs go to CPU $VCPU_CPU, the rest to CPU $EMU_CPU)"

load_at_start=$(cut -d' ' -f1 /proc/loadavg)
# Host CPU time, to say how busy the host was while this ran: fields of "cpu" in
# /proc/stat, idle + iowait against the rest.
cpu_stat() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
read -r busy0 idle0 < <(cpu_stat)
started_at=$EPOCHREALTIME

tmp=$(mktemp -d /tmp/kvmcg-floor-bench.XXXXXX)
# The state directory on a tmpfs of its own, as /run is on a host (a file system in
# memory: kvmcg's lock files and records cost what they cost there, not a journal's
# work on a disk), whatever /tmp is here.
export KVMCG_STATE_DIR=$tmp/state
state_mounted=''
# Private copies, so that a rebuild during the run cannot change what is measured.
cp "$KVMCG" "$tmp/kvmcg"
cp "$FLOOR" "$tmp/floor"
KVMCG=$tmp/kvmcg FLOOR=$tmp/floor
TAG=floorbench-$$
pid=''              # the 64-vCPU QEMU
ns_pid=''           # unshare, while the many small QEMUs run
floor_mount='' floor_dir='' orig_cg=/ orig_cpus=''
cg_parent='' cg_parent_existed=1

# ours PID: still our QEMU (its command line names our temporary directory).
ours() {
	[ -n "$1" ] && tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$tmp/"
}

cleanup() {
	local rc=$?
	set +e
	if [ -n "$ns_pid" ]; then
		# unshare ignores SIGTERM while it waits; its child dies with it.
		kill -KILL "$ns_pid" 2>/dev/null
		wait "$ns_pid" 2>/dev/null
	fi
	if ours "$pid"; then
		"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
		[ -n "$floor_dir" ] && "$FLOOR" clean "$floor_mount" "$floor_dir" "$orig_cg" "$orig_cpus" 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do ours "$pid" || break; sleep 0.1; done
		ours "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	if [ -n "$floor_dir" ] && [ -d "$floor_mount$floor_dir" ]; then
		find "$floor_mount$floor_dir" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$floor_mount$floor_dir" ] && echo "floor-bench: could not remove cgroup $floor_mount$floor_dir" >&2
	fi
	if [ -n "$cg_parent" ] && [ "$cg_parent_existed" = 0 ] && [ -d "$cg_parent" ]; then
		rmdir "$cg_parent" 2>/dev/null
	fi
	[ -n "$state_mounted" ] && umount "$KVMCG_STATE_DIR" 2>/dev/null
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup
mkdir "$KVMCG_STATE_DIR"
if mount -t tmpfs -o mode=0700,size=16m kvmcg-bench "$KVMCG_STATE_DIR" 2>/dev/null; then
	state_mounted=yes
else
	note "cannot mount a tmpfs for the state directory; it stays on $(stat -f -c %T "$tmp")"
fi

# --- the 64-vCPU QEMU ------------------------------------------------------------------

bios=$tmp/halt.bin
halt_bios "$bios"

accel=(-accel tcg)
accel_name=tcg
if [ -c /dev/kvm ] && qemu-system-x86_64 -accel kvm -machine none -display none -nodefaults \
	-no-user-config -S -daemonize -pidfile "$tmp/probe.pid" 2>/dev/null; then
	kill "$(cat "$tmp/probe.pid")" 2>/dev/null || true
	accel=(-accel kvm -cpu qemu64)
	accel_name=kvm
else
	note "/dev/kvm is not usable: QEMU runs under TCG (-accel tcg); the figures are not KVM ones"
fi

note "starting a QEMU with $VCPUS vCPUs"
# debug-threads=on names the threads "CPU n/KVM" (or "CPU n/TCG"), which
# qemu-affinity needs; kvmcg finds the vCPUs through QMP either way.
qemu-system-x86_64 "${accel[@]}" -m 128 -smp "$VCPUS" -display none -nodefaults \
	-no-user-config -bios "$bios" -name "guest=$TAG-$VCPUS,debug-threads=on" \
	-qmp "unix:$tmp/vm.qmp,server=on,wait=off" -pidfile "$tmp/vm.pid" -daemonize \
	2>"$tmp/vm.err" || { grep -v warning "$tmp/vm.err" >&2; die "QEMU did not start"; }
pid=$(cat "$tmp/vm.pid")
for _ in $(seq 60); do
	"$KVMCG" show --pid "$pid" --json >"$tmp/show.json" 2>/dev/null &&
		jq -e --argjson n "$VCPUS" '.vcpus == $n and ([.threads[] | select(.kind == "vcpu")] | length) == $n' \
			"$tmp/show.json" >/dev/null && break
	sleep 0.5
done
jq -e --argjson n "$VCPUS" '([.threads[] | select(.kind == "vcpu")] | length) == $n' "$tmp/show.json" >/dev/null ||
	die "kvmcg show found $(jq -c '{discovery, vcpus, vcpus_unidentified}' "$tmp/show.json") for $VCPUS vCPUs"
jq -e 'all(.threads[] | select(.kind == "vcpu"); (.comm | split("/")[0]) == "CPU \(.index)")' \
	"$tmp/show.json" >/dev/null || die "kvmcg's vCPU indexes do not match QEMU's thread names"
threads=$(jq '.threads | length' "$tmp/show.json")
pin=("$KVMCG" pin --pid "$pid" --vcpu "all:$VCPU_CPU" --emulator "$EMU_CPU")

# Where kvmcg puts the VM, and what its plan does.
"${pin[@]}" --dry-run --json >"$tmp/dry.json"
mode=$(jq -r .mode "$tmp/dry.json")
floor_mount=$(jq -r .cgroup_mount "$tmp/dry.json")
vm_cgroup=$(jq -r .vm_cgroup "$tmp/dry.json")
cg_parent=$floor_mount$(dirname "$vm_cgroup")
[ -d "$cg_parent" ] || cg_parent_existed=0
if [ "$cg_parent_existed" = 0 ] && [ "$mode" = v1 ]; then
	# The parent VMs share (kvmcg/), as on a host where another VM is pinned: made
	# here once for both sides, so that each times one VM's own work (kvmcg makes it
	# and takes it back with the last VM otherwise); removed at exit.
	mkdir "$cg_parent" && cat "$floor_mount/cpuset.cpus" >"$cg_parent/cpuset.cpus" &&
		cat "$floor_mount/cpuset.mems" >"$cg_parent/cpuset.mems" || die "cannot make $cg_parent"
	"${pin[@]}" --dry-run --json >"$tmp/dry.json"
fi
if [ "$mode" != v1 ]; then
	note "skipped: kvmcg plans a $mode pin here, and the floor program knows the cgroup-v1 cpuset layout only"
	exit 0
fi
vm_value() { jq -r --arg cg "$vm_cgroup" --arg f "$1" \
	'first(.actions[] | select(.action == "write" and .cgroup == $cg and .file == $f) | .value)' "$tmp/dry.json"; }
vm_cpus=$(vm_value cpuset.cpus)
vm_mems=$(vm_value cpuset.mems)
orig_cg=$(awk -F: '$2 ~ /(^|,)cpuset(,|$)/ { print $3 }' "/proc/$pid/cgroup")
orig_cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$pid/status")

# The floor's arguments: TID=CHILD:CPUS per thread, in kvmcg's order (emulator first).
mapfile -t tid_args < <(jq -r --arg v "$VCPU_CPU" --arg e "$EMU_CPU" '.threads
	| (map(select(.kind != "vcpu")) + map(select(.kind == "vcpu")))[]
	| if .kind == "vcpu" then "\(.tid)=vcpu\(.index):\($v)" else "\(.tid)=emulator:\($e)" end' "$tmp/show.json")
floor_args=("$floor_mount" "$vm_cgroup" "$pid" "$vm_cpus" "$vm_mems" "${tid_args[@]}")
floor_dir=$vm_cgroup

# The floor's kernel work, line for line, against kvmcg's plan (its own steps, such as
# "rescan", are not kernel writes and are left out).
{
	echo "mkdir $vm_cgroup"
	echo "write $vm_cgroup cpuset.cpus $vm_cpus"
	echo "write $vm_cgroup cpuset.mems $vm_mems"
	for a in "${tid_args[@]}"; do
		c=${a#*=} c=${c%:*} cpus=${a##*:} t=${a%%=*}
		echo "child $vm_cgroup/$c $cpus"
		echo "move $vm_cgroup/$c $t"
		echo "affinity $t $cpus"
	done | awk -v m="$vm_mems" '$1 == "child" { if (!seen[$2]++) {
			print "mkdir " $2; print "write " $2 " cpuset.cpus " $3
			print "write " $2 " cpuset.mems " m; print "write " $2 " cpuset.memory_migrate 1" }
			next } { print }'
} | sort >"$tmp/plan.floor"
jq -r '.actions[] | select(.action != "rescan") |
	if .action == "mkdir" then "mkdir \(.cgroup)"
	elif .action == "write" then "write \(.cgroup) \(.file) \(.value)"
	elif .action == "move-thread" then "move \(.cgroup) \(.tid)"
	elif .action == "set-affinity" then "affinity \(.tid) \(.cpus)"
	else "\(.action) \(.cgroup // "") \(.file // "") \(.value // "") \(.tid // "")" end' \
	"$tmp/dry.json" | sort >"$tmp/plan.kvmcg"
plan_same=yes
if ! diff -q "$tmp/plan.kvmcg" "$tmp/plan.floor" >/dev/null; then
	plan_same=no
	note "kvmcg's plan and the floor's kernel work differ (< kvmcg, > floor):"
	diff "$tmp/plan.kvmcg" "$tmp/plan.floor" | grep '^[<>]' | head -10 >&2 || true
fi
count_kind() { awk -v k="$1" '$1 == k' "$2" | wc -l; }
plan_counts() { echo "$(count_kind mkdir "$1") mkdir, $(count_kind write "$1") writes, $(count_kind move "$1") moves, $(count_kind affinity "$1") set-affinity"; }
plan_kvmcg=$(plan_counts "$tmp/plan.kvmcg")
plan_floor=$(plan_counts "$tmp/plan.floor")

# --- both sides leave the same state ----------------------------------------------

"${pin[@]}" --json >"$tmp/pin.json" || die "kvmcg pin failed: $(cat "$tmp/pin.json")"
"$FLOOR" check "${floor_args[@]}" 2>"$tmp/check.err" ||
	die "after kvmcg pin, floor check finds differences, so the floor is not like for like: $(head -3 "$tmp/check.err")"
"${pin[@]}" --json >"$tmp/again.json"
[ "$(jq -r .result "$tmp/again.json")" = unchanged ] ||
	die "a second identical kvmcg pin reported \"$(jq -r .result "$tmp/again.json")\", not \"unchanged\""
"$KVMCG" unpin --pid "$pid" >/dev/null
"$FLOOR" pin "${floor_args[@]}" || die "floor pin failed"
"$FLOOR" check "${floor_args[@]}" || die "floor check fails right after floor pin"
"$FLOOR" clean "$floor_mount" "$floor_dir" "$orig_cg" "$orig_cpus"
[ ! -d "$floor_mount$floor_dir" ] || die "floor clean left $floor_mount$floor_dir"

# --- timing helpers ------------------------------------------------------------------

# t FILE LABEL CMD...: one timed run; its line goes to FILE (see timeit.c).
t() { "$TIMEIT" "$@"; }

# --- first pin against floor pin ------------------------------------------------------

times=$tmp/times
: >"$times"
warm=$tmp/warmup.times

first_kvmcg() { # FILE
	sleep "$PAUSE"
	t "$1" pin-kvmcg "${pin[@]}" >/dev/null || die "kvmcg pin failed"
	"$KVMCG" unpin --pid "$pid" >/dev/null || die "kvmcg unpin failed"
}
first_floor() { # FILE
	sleep "$PAUSE"
	t "$1" pin-floor "$FLOOR" pin "${floor_args[@]}" || die "floor pin failed"
	"$FLOOR" clean "$floor_mount" "$floor_dir" "$orig_cg" "$orig_cpus" || die "floor clean failed"
}
note "first pin: kvmcg pin against floor pin, $ITER pairs, ${PAUSE}s rest before each"
for i in $(seq $((WARMUP + ITER))); do
	f=$times
	[ "$i" -le "$WARMUP" ] && f=$warm
	if [ $((i % 2)) = 1 ]; then first_kvmcg "$f"; first_floor "$f"; else first_floor "$f"; first_kvmcg "$f"; fi
done

# --- unchanged re-pin against floor check ----------------------------------------------

note "unchanged re-pin: kvmcg pin against floor check, $REPIN_ITER pairs"
"${pin[@]}" >/dev/null || die "kvmcg pin failed"
repin_kvmcg() { t "$1" repin-kvmcg "${pin[@]}" >/dev/null || die "kvmcg pin (unchanged) failed"; }
repin_floor() { t "$1" repin-floor "$FLOOR" check "${floor_args[@]}" || die "floor check found the pin changed"; }
for i in $(seq $((WARMUP + REPIN_ITER))); do
	f=$times
	[ "$i" -le "$WARMUP" ] && f=$warm
	if [ $((i % 2)) = 1 ]; then repin_kvmcg "$f"; repin_floor "$f"; else repin_floor "$f"; repin_kvmcg "$f"; fi
done
"${pin[@]}" --json >"$tmp/again.json"
[ "$(jq -r .result "$tmp/again.json")" = unchanged ] || die "the re-pins changed something"

# --- syscall counts ---------------------------------------------------------------------

note "counting syscalls (strace -c -f)"
# strace_count LABEL CMD...: "calls kinds" of one run, rows kept in $tmp/strace.LABEL
# ("calls name"). The total line's layout changed across strace versions: sum the rows.
strace_count() {
	local label=$1
	shift
	strace -c -f -o "$tmp/strace.$label.raw" "$@" >/dev/null || die "failed under strace: $*"
	awk '/^-/ { sep++; next } sep == 1 && NF >= 5 { print $4, $NF }' "$tmp/strace.$label.raw" >"$tmp/strace.$label"
	awk '{ c += $1 } END { print c, NR }' "$tmp/strace.$label"
}
read -r sc_repin_kvmcg _ < <(strace_count repin-kvmcg "${pin[@]}")
read -r sc_repin_floor _ < <(strace_count repin-floor "$FLOOR" check "${floor_args[@]}")
"$KVMCG" unpin --pid "$pid" >/dev/null
sleep "$PAUSE"
read -r sc_pin_kvmcg _ < <(strace_count pin-kvmcg "${pin[@]}")
"$KVMCG" unpin --pid "$pid" >/dev/null
sleep "$PAUSE"
read -r sc_pin_floor _ < <(strace_count pin-floor "$FLOOR" pin "${floor_args[@]}")
"$FLOOR" clean "$floor_mount" "$floor_dir" "$orig_cg" "$orig_cpus"

# --- qemu-affinity against kvmcg pin --affinity-only ------------------------------------

peer_ran=0
peer_why=''
if [ ! -f "$PEER" ]; then
	peer_why="$PEER is not there"
elif ! python=$(command -v /usr/bin/python3 || command -v python3); then
	peer_why="python3 is not installed"
else
	peer_ran=1
	# Its -t selects threads by name: every thread but the main one to CPU $EMU_CPU
	# ('*'), each vCPU by its name to CPU $VCPU_CPU; -p sets the main thread. Under TCG
	# the vCPUs are "CPU n/TCG", which its -k (made for "CPU n/KVM") does not match.
	mapfile -t peer_sel < <(jq -r --arg v "$VCPU_CPU" '.threads[] | select(.kind == "vcpu") | "\(.comm):\($v)"' "$tmp/show.json")
	# The distribution's python3 first: a version manager's shim earlier in PATH can
	# cost more than the tool itself.
	peer=("$python" "$PEER" "$pid" -p "$EMU_CPU" -t "*:$EMU_CPU" "${peer_sel[@]}")
	aonly=("${pin[@]}" --affinity-only)
	reset_affinity() { taskset -apc "$orig_cpus" "$pid" >/dev/null; }
	affinity_ok() {
		"$KVMCG" show --pid "$pid" --json --no-qmp | jq -e --arg v "$VCPU_CPU" --arg e "$EMU_CPU" \
			'all(.threads[]; .affinity == (if .kind == "vcpu" then $v else $e end))' >/dev/null
	}
	"${peer[@]}" || die "qemu-affinity failed: ${peer[*]}"
	affinity_ok || die "qemu-affinity did not leave pid $pid as kvmcg pins it"
	reset_affinity
	"${aonly[@]}" >/dev/null || die "kvmcg pin --affinity-only failed"
	affinity_ok || die "kvmcg pin --affinity-only did not leave pid $pid pinned as asked"
	"$KVMCG" unpin --pid "$pid" >/dev/null
	note "qemu-affinity against kvmcg pin --affinity-only, $PEER_ITER pairs"
	peer_kvmcg() {
		t "$1" peer-kvmcg "${aonly[@]}" >/dev/null || die "kvmcg pin --affinity-only failed"
		"$KVMCG" unpin --pid "$pid" >/dev/null
	}
	peer_peer() {
		t "$1" peer-peer "${peer[@]}" >/dev/null || die "qemu-affinity failed"
		reset_affinity
	}
	for i in $(seq $((WARMUP + PEER_ITER))); do
		f=$times
		[ "$i" -le "$WARMUP" ] && f=$warm
		if [ $((i % 2)) = 1 ]; then peer_kvmcg "$f"; peer_peer "$f"; else peer_peer "$f"; peer_kvmcg "$f"; fi
	done
	read -r sc_peer _ < <(strace_count peer "${peer[@]}")
	reset_affinity
	read -r sc_aonly _ < <(strace_count aonly "${aonly[@]}")
	"$KVMCG" unpin --pid "$pid" >/dev/null
	peer_version="qemu-affinity (${PEER#"$root/"}), $python ($("$python" --version 2>&1))"
fi
[ "$peer_ran" = 1 ] || note "qemu-affinity row skipped: $peer_why"

# This VM is done: stop it so the many small ones have the host to themselves.
kill -TERM "$pid"
for _ in $(seq 50); do ours "$pid" || break; sleep 0.1; done

# --- list and apply on many small QEMUs ----------------------------------------------------

# Each small TCG QEMU takes about 30 MiB; keep a wide margin.
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
many=$LIST_VMS
if [ $((avail_mb / 80)) -lt "$many" ]; then
	many=$((avail_mb / 80))
	note "memory for $many small QEMUs only ($avail_mb MiB available)"
fi
[ "$many" -ge 2 ] || die "not enough memory for the list row"
note "list and apply: starting $many small QEMUs in a PID namespace of their own"
# In the background, so that a signal to this script is handled at once: the
# cleanup stops unshare, and --kill-child takes the namespace and its QEMUs with it.
WORK=$tmp BIOS=$bios ACCEL="${accel[*]}" TAG=$TAG MANY_VMS=$many LIST_ITER=$LIST_ITER \
	APPLY_ITER=$APPLY_ITER WARMUP=$WARMUP KVMCG=$KVMCG TIMEIT=$TIMEIT \
	unshare --pid --fork --mount-proc --kill-child bash "$here/many-vms.sh" &
ns_pid=$!
wait "$ns_pid" || die "the list and apply rows failed"
ns_pid=''
cat "$tmp/many.times" >>"$times"
many_start_s=$(sed -n 's/^start_s=//p' "$tmp/many.info")
many_pinned=$(sed -n 's/^pinned_after_apply=//p' "$tmp/many.info")
apply_says=$(sed -n 's/^apply_says=//p' "$tmp/many.info")
qemu_ms_qmp=$(sed -n 's/^qemu_ms_qmp=//p' "$tmp/many.info")
qemu_ms_noqmp=$(sed -n 's/^qemu_ms_noqmp=//p' "$tmp/many.info")
[ "$many_pinned" = 0 ] || die "apply pinned $many_pinned VMs although no policy matches"

# --- figures -------------------------------------------------------------------------------

read -r busy1 idle1 < <(cpu_stat)
host_busy=$(awk -v b="$((busy1 - busy0))" -v i="$((idle1 - idle0))" 'BEGIN { printf "%.0f", 100 * b / (b + i) }')
elapsed=$(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
load_at_end=$(cut -d' ' -f1 /proc/loadavg)

# row LABEL: "n median q1 q3 cpu_median" in ms.
row() {
	local n m q1 q3 cpu
	read -r n m q1 q3 < <(stats "$times" "$1" 2)
	read -r _ cpu _ _ < <(stats "$times" "$1" 5)
	echo "$n $m $q1 $q3 $cpu"
}
verdict() { awk -v r="$1" -v g="$2" -v strict="${3:-0}" 'BEGIN { print ((strict ? r < g : r <= g) ? "PASS" : "MISS") }'; }

read -r n_pin m_pin_k q1_pin_k q3_pin_k cpu_pin_k < <(row pin-kvmcg)
read -r _ m_pin_f q1_pin_f q3_pin_f cpu_pin_f < <(row pin-floor)
read -r n_repin m_repin_k q1_repin_k q3_repin_k cpu_repin_k < <(row repin-kvmcg)
read -r _ m_repin_f q1_repin_f q3_repin_f cpu_repin_f < <(row repin-floor)
read -r n_list m_list_k q1_list_k q3_list_k cpu_list_k < <(row list)
read -r _ m_list_n q1_list_n q3_list_n cpu_list_n < <(row list-noqmp)
read -r n_apply m_apply q1_apply q3_apply cpu_apply < <(row apply)
read -r _ _ cpu_apply_q1 cpu_apply_q3 < <(stats "$times" apply 5)
r_pin=$(ratio "$m_pin_k" "$m_pin_f")
r_repin=$(ratio "$m_repin_k" "$m_repin_f")
r_list=$(ratio "$m_list_k" "$m_list_n")
# What no list that asks the monitors can beat here, on idle CPUs: the CPU work any
# list does (kvmcg's list --no-qmp: /proc) and the QEMUs' answering (beyond what they
# do anyway, as during list --no-qmp), spread perfectly over every CPU, with a QMP
# client that costs nothing; and never less than list --no-qmp itself. It compares
# CPU time with wall-clock time: under load the host's other work comes on top.
ncpu=$(nproc)
list_bound=$(awk -v k="$cpu_list_n" -v q="$qemu_ms_qmp" -v z="$qemu_ms_noqmp" -v n="$ncpu" -v w="$m_list_n" \
	'BEGIN { b = (k + q - z) / n; if (b < w) b = w; printf "%.1f", b }')
r_list_bound=$(ratio "$list_bound" "$m_list_n")
apply_per_vm=$(awk -v c="$cpu_apply" -v n="$many" 'BEGIN { printf "%.3f", c / n }')
apply_per_vm_q1=$(awk -v c="$cpu_apply_q1" -v n="$many" 'BEGIN { printf "%.3f", c / n }')
apply_per_vm_q3=$(awk -v c="$cpu_apply_q3" -v n="$many" 'BEGIN { printf "%.3f", c / n }')
r_apply=$(ratio "$apply_per_vm" "$GOAL_APPLY_MS")
p_pin=$(paired "$times" pin-kvmcg pin-floor)
p_repin=$(paired "$times" repin-kvmcg repin-floor)
p_list=$(paired "$times" list list-noqmp)
v_pin=$(verdict "$r_pin" "$GOAL_PIN")
v_repin=$(verdict "$r_repin" "$GOAL_REPIN")
v_list=$(verdict "$r_list" "$GOAL_LIST")
v_apply=$(verdict "$r_apply" 1 1)
if [ "$peer_ran" = 1 ]; then
	read -r n_peer m_peer_p q1_peer_p q3_peer_p cpu_peer_p < <(row peer-peer)
	read -r _ m_peer_k q1_peer_k q3_peer_k cpu_peer_k < <(row peer-kvmcg)
	r_peer=$(ratio "$m_peer_p" "$m_peer_k")
	p_peer=$(paired "$times" peer-peer peer-kvmcg)
fi
r_sc_pin=$(ratio "$sc_pin_kvmcg" "$sc_pin_floor")
r_sc_repin=$(ratio "$sc_repin_kvmcg" "$sc_repin_floor")

goal_lines() {
	echo "GOAL first-pin: kvmcg pin $(fmt "$m_pin_k") ms / floor pin $(fmt "$m_pin_f") ms = ratio $r_pin (goal <= $GOAL_PIN) $v_pin"
	echo "GOAL re-pin: kvmcg pin (unchanged) $(fmt "$m_repin_k") ms / floor check $(fmt "$m_repin_f") ms = ratio $r_repin (goal <= $GOAL_REPIN) $v_repin"
	echo "GOAL list-$many: kvmcg list $(fmt "$m_list_k") ms / list --no-qmp $(fmt "$m_list_n") ms = ratio $r_list (goal <= $GOAL_LIST) $v_list"
	echo "GOAL apply-nothing: $apply_per_vm ms CPU per VM / $GOAL_APPLY_MS ms = ratio $r_apply (goal < 1) $v_apply"
	if [ "$peer_ran" = 1 ]; then
		echo "PEER qemu-affinity $(fmt "$m_peer_p") ms / kvmcg pin --affinity-only $(fmt "$m_peer_k") ms = ratio $r_peer (kvmcg is ${r_peer}x as fast)"
	fi
	echo "BOUND list-$many: the QEMUs spend $qemu_ms_qmp ms of CPU per list answering ($qemu_ms_noqmp without QMP), list --no-qmp $(fmt "$cpu_list_n"): on $ncpu idle CPUs no list that asks the monitors can take less than $list_bound ms = ratio $r_list_bound"
	echo "SYSCALLS first pin: kvmcg $sc_pin_kvmcg / floor $sc_pin_floor = ratio $r_sc_pin; unchanged re-pin: kvmcg $sc_repin_kvmcg / floor check $sc_repin_floor = ratio $r_sc_repin"
}

# --- the report ------------------------------------------------------------------------------

# "median (q1-q3)" in ms.
mq() { echo "$(fmt "$1") ($(fmt "$2")–$(fmt "$3"))"; }
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev with local changes in src/"
{
	echo "$BEGIN_MARK"
	echo
	echo "### Results"
	echo
	echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'), in ${elapsed} s."
	echo
	echo "| Machine | |"
	echo "|---|---|"
	echo "| CPU | $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online |"
	echo "| Kernel | Linux $(uname -r | sed 's/-.*//') |"
	echo "| QEMU | $(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //'), accelerator **$accel_name** |"
	echo "| cgroups | kvmcg mode \`$mode\`, cpuset at \`$floor_mount\` |"
	echo "| kvmcg | $("$KVMCG" --version 2>&1 | head -1 | sed 's/^kvmcg //'), tree $git_rev |"
	echo "| Host load | load average $load_at_start at the start, $load_at_end at the end; the host's CPUs were ${host_busy}% busy during the run, this run included |"
	[ "$accel_name" = kvm ] || echo "| Note | /dev/kvm was not usable: every QEMU ran under TCG |"
	echo
	if awk -v l="$load_at_start" -v b="$host_busy" -v n="$(nproc)" 'BEGIN { exit !(l >= n / 2 || b >= 75) }'; then
		echo "**Run under load.** Other work kept this host busy while the bench ran (load"
		echo "average $load_at_start at the start, CPUs ${host_busy}% busy). Every absolute time below is"
		echo "inflated by waiting for a CPU, and the spread is wide; compare the ratios, the"
		echo "paired ratios and the CPU columns, not the times, with an idle host's."
		echo
	fi
	echo "Each time is the median of the runs, with the interquartile range in brackets, in"
	echo "milliseconds of wall-clock time; CPU is user + system time of the process and its"
	echo "threads (median). *Paired* is the median (and IQR) of the ratio within each"
	echo "iteration, which drifting load does not move."
	echo
	echo "| Goal | kvmcg | yardstick | ratio | paired | goal | |"
	echo "|---|---|---|---:|---|---:|---|"
	read -r pm pq1 pq3 <<<"$p_pin"
	echo "| First pin, $VCPUS vCPUs ($threads threads), n=$n_pin | \`kvmcg pin\` $(mq "$m_pin_k" "$q1_pin_k" "$q3_pin_k"), CPU $(fmt "$cpu_pin_k") | \`floor pin\` $(mq "$m_pin_f" "$q1_pin_f" "$q3_pin_f"), CPU $(fmt "$cpu_pin_f") | $r_pin | $pm ($pq1–$pq3) | ≤ $GOAL_PIN | $v_pin |"
	read -r pm pq1 pq3 <<<"$p_repin"
	echo "| Unchanged re-pin, n=$n_repin | \`kvmcg pin\` $(mq "$m_repin_k" "$q1_repin_k" "$q3_repin_k"), CPU $(fmt "$cpu_repin_k") | \`floor check\` $(mq "$m_repin_f" "$q1_repin_f" "$q3_repin_f"), CPU $(fmt "$cpu_repin_f") | $r_repin | $pm ($pq1–$pq3) | ≤ $GOAL_REPIN | $v_repin |"
	read -r pm pq1 pq3 <<<"$p_list"
	echo "| \`list\`, $many VMs, n=$n_list | \`kvmcg list\` $(mq "$m_list_k" "$q1_list_k" "$q3_list_k"), CPU $(fmt "$cpu_list_k") | \`kvmcg list --no-qmp\` $(mq "$m_list_n" "$q1_list_n" "$q3_list_n"), CPU $(fmt "$cpu_list_n") | $r_list | $pm ($pq1–$pq3) | ≤ $GOAL_LIST | $v_list |"
	echo "| \`apply\` that matches nothing, $many VMs, n=$n_apply | CPU $apply_per_vm ms per VM ($apply_per_vm_q1–$apply_per_vm_q3); wall $(mq "$m_apply" "$q1_apply" "$q3_apply") | 1 ms per VM | $r_apply | | < 1 | $v_apply |"
	echo
	if [ "$peer_ran" = 1 ]; then
		read -r pm pq1 pq3 <<<"$p_peer"
		echo "| Peer, $VCPUS vCPUs, n=$n_peer | time | CPU | syscalls |"
		echo "|---|---|---:|---:|"
		echo "| qemu-affinity (\`$(basename "$python") qemu_affinity.py PID -p $EMU_CPU -t '*:$EMU_CPU' 'CPU n/${accel_name^^}:$VCPU_CPU'...\`) | $(mq "$m_peer_p" "$q1_peer_p" "$q3_peer_p") | $(fmt "$cpu_peer_p") | $sc_peer |"
		echo "| \`kvmcg pin --affinity-only\` | $(mq "$m_peer_k" "$q1_peer_k" "$q3_peer_k") | $(fmt "$cpu_peer_k") | $sc_aonly |"
		echo
		echo "kvmcg is **${r_peer}x** as fast as qemu-affinity like for like (ratio of medians; paired $pm, IQR $pq1–$pq3). Peer: $peer_version."
	else
		echo "The qemu-affinity row did not run: $peer_why."
	fi
	echo
	echo "Syscalls (\`strace -c -f\`, one run each):"
	echo
	echo "| Syscall | kvmcg pin (first) | floor pin | kvmcg pin (unchanged) | floor check |"
	echo "|---|---:|---:|---:|---:|"
	echo "| **all** | **$sc_pin_kvmcg** | **$sc_pin_floor** | **$sc_repin_kvmcg** | **$sc_repin_floor** |"
	# The ten syscalls kvmcg makes most often over its two runs.
	awk 'FNR == 1 { f++ } { c[f, $2] = $1; names[$2] = 1 }
		END { for (n in names) printf "%d %s %d %d %d %d\n", c[1, n] + c[3, n], n, c[1, n], c[2, n], c[3, n], c[4, n] }' \
		"$tmp/strace.pin-kvmcg" "$tmp/strace.pin-floor" "$tmp/strace.repin-kvmcg" "$tmp/strace.repin-floor" |
		sort -k1,1nr | head -10 | while read -r _ n a b c d; do echo "| $n | $a | $b | $c | $d |"; done
	echo
	echo "Kernel work of one first pin: kvmcg's plan (\`pin --dry-run --json\`) has $plan_kvmcg;"
	echo "the floor does $plan_floor ($( [ "$plan_same" = yes ] && echo "the same steps" || echo "**not** the same steps: see the run's output"))."
	echo "Before timing, \`floor check\` passed on kvmcg's pin, so both leave the same state."
	echo
	echo "$many small QEMUs (\`-m 32 -smp 1\`, each with \`-name\` and \`-qmp\`) took $many_start_s s to start."
	echo "\`kvmcg apply\` said: \"$apply_says\"."
	echo
	echo "While \`list\` asked their monitors, the $many QEMUs used $qemu_ms_qmp ms of CPU per \`list\`"
	echo "($qemu_ms_noqmp ms during \`list --no-qmp\`: their own background work). With the $(fmt "$cpu_list_n") ms"
	echo "of CPU that \`list --no-qmp\` itself takes (the \`/proc\` work every \`list\` does), and a QMP"
	echo "client that would cost nothing, that work spread perfectly over $ncpu idle CPUs takes at"
	echo "least $list_bound ms: no \`list\` that asks the monitors can beat a ratio of **$r_list_bound** on this"
	echo "host. kvmcg's own QMP client costs $(fmt "$cpu_list_k") - $(fmt "$cpu_list_n") ms of CPU more than \`--no-qmp\`."
	echo
	echo "Goal lines as the run printed them:"
	echo
	echo '```'
	goal_lines
	echo '```'
	echo
	echo "$END_MARK"
} >"$tmp/section.md"

# Replace the section between the markers, or put it before pin-bench.sh's marker,
# or at the end.
{
	if [ -f "$OUT" ] && grep -qxF "$BEGIN_MARK" "$OUT" && grep -qxF "$END_MARK" "$OUT"; then
		awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$tmp/section.md" '
			$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip { print }' "$OUT"
	elif [ -f "$OUT" ] && grep -q '^<!-- Everything below this line is written by tests/bench/pin-bench.sh' "$OUT"; then
		awk -v f="$tmp/section.md" '/^<!-- Everything below this line is written by tests\/bench\/pin-bench.sh/ && !done {
			while ((getline l < f) > 0) print l; print ""; done = 1 } { print }' "$OUT"
	else
		[ -f "$OUT" ] && cat "$OUT" && echo
		cat "$tmp/section.md"
	fi
} >"$tmp/out.md"
cp "$tmp/out.md" "$OUT"
note "wrote $OUT"
goal_lines
