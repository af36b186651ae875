#!/bin/bash
# Part of tests/bench/floor-bench.sh: the `list` and `apply` rows, on many small QEMUs.
#
# floor-bench.sh runs this in a PID namespace of its own with a private /proc
# (unshare --pid --fork --mount-proc --kill-child), so kvmcg sees exactly the VMs
# started here and no other QEMU on the host (whose monitors it would otherwise ask),
# and every QEMU started here dies with the namespace, however this script ends.
#
# Environment (all set by floor-bench.sh):
#   KVMCG TIMEIT    the binaries
#   WORK            a private directory: sockets, pidfiles, times
#   BIOS            the halting BIOS image
#   ACCEL           QEMU's accelerator options, e.g. "-accel tcg"
#   TAG             a name unique to this run; VMs are named TAG-vmN
#   MANY_VMS        how many QEMUs to start
#   LIST_ITER       interleaved pairs of `list` and `list --no-qmp`
#   APPLY_ITER      runs of `apply` with policies that match nothing
#   WARMUP          untimed runs before each
# Writes $WORK/many.times (timeit lines) and $WORK/many.info (key=value).
set -euo pipefail

die() {
	echo "many-vms: $*" >&2
	exit 1
}
[ "$$" = 1 ] || die "run me in a PID namespace of my own (see floor-bench.sh)"

dir=$WORK/many
mkdir -p "$dir"
export KVMCG_STATE_DIR=$WORK/state-many
# shellcheck disable=SC2153 # ACCEL comes from floor-bench.sh
read -r -a accel <<<"$ACCEL"

# --- the VMs -----------------------------------------------------------------------

# One small QEMU: 1 vCPU, 32 MiB, a -name and a QMP socket, halted in its BIOS.
start_vm() {
	qemu-system-x86_64 "${accel[@]}" -m 32 -smp 1 -display none -nodefaults \
		-no-user-config -bios "$BIOS" -name "guest=$TAG-vm$1" \
		-qmp "unix:$dir/vm$1.qmp,server=on,wait=off" \
		-pidfile "$dir/vm$1.pid" -daemonize 2>"$dir/vm$1.err"
}

# Four at a time: each start is mostly QEMU's own initialisation.
t0=$EPOCHREALTIME
running=0
for i in $(seq "$MANY_VMS"); do
	start_vm "$i" &
	running=$((running + 1))
	if [ "$running" -ge 4 ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait || true
started=0
for i in $(seq "$MANY_VMS"); do
	if [ -s "$dir/vm$i.pid" ]; then
		started=$((started + 1))
	else
		grep -v warning "$dir/vm$i.err" >&2 || true
	fi
done
[ "$started" = "$MANY_VMS" ] || die "only $started of $MANY_VMS QEMUs started"

# Ready when kvmcg finds every one of them through its monitor.
ready=0
for _ in $(seq 120); do
	ready=$("$KVMCG" list --json 2>/dev/null |
		jq '[.vms[] | select(.discovery == "qmp" and .vcpus == 1)] | length' || echo 0)
	[ "$ready" = "$MANY_VMS" ] && break
	sleep 0.5
done
[ "$ready" = "$MANY_VMS" ] || die "kvmcg list finds $ready of $MANY_VMS VMs through QMP"
listed=$("$KVMCG" list --json | jq '.vms | length')
[ "$listed" = "$MANY_VMS" ] || die "kvmcg list shows $listed VMs, not $MANY_VMS"
start_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# --- list against list --no-qmp, interleaved ------------------------------------------

out=$WORK/many.times
: >"$out"
# The QEMUs' own CPU time (ns, every thread's schedstat), summed: what answering the
# monitors costs them, which kvmcg's timing cannot show and a host with few CPUs
# has to fit in beside kvmcg's own.
qemu_pids=()
for i in $(seq "$MANY_VMS"); do qemu_pids+=("$(cat "$dir/vm$i.pid")"); done
qemu_ns() {
	# shellcheck disable=SC2046 # the globs are to expand: every task of every QEMU
	awk '{ s += $1 } END { printf "%.0f\n", s }' $(printf '/proc/%s/task/*/schedstat ' "${qemu_pids[@]}") 2>/dev/null
}
qemu_ns_qmp=0 qemu_ns_noqmp=0
run_list() { # WHICH FILE
	local a b
	a=$(qemu_ns)
	case $1 in
	qmp) "$TIMEIT" "$2" list "$KVMCG" list >/dev/null ;;
	noqmp) "$TIMEIT" "$2" list-noqmp "$KVMCG" list --no-qmp >/dev/null ;;
	esac || die "kvmcg list ($1) failed"
	b=$(qemu_ns)
	if [ "$2" = "$out" ]; then
		case $1 in
		qmp) qemu_ns_qmp=$((qemu_ns_qmp + b - a)) ;;
		noqmp) qemu_ns_noqmp=$((qemu_ns_noqmp + b - a)) ;;
		esac
	fi
}
for i in $(seq $((WARMUP + LIST_ITER))); do
	f=$out
	[ "$i" -le "$WARMUP" ] && f=$WORK/warmup.times
	if [ $((i % 2)) = 1 ]; then
		run_list qmp "$f"
		run_list noqmp "$f"
	else
		run_list noqmp "$f"
		run_list qmp "$f"
	fi
done

# --- apply with policies that match nothing ---------------------------------------

pol=$WORK/policies
mkdir -p "$pol"
chmod 0755 "$pol"
cat >"$pol/by-name.policy" <<EOF
[Match]
Name=$TAG-nomatch-*

[CPU]
VCPUPin=0:1
EmulatorPin=0
EOF
cat >"$pol/by-cmdline.policy" <<EOF
[Match]
Cmdline=*-name guest=$TAG-nomatch*

[CPU]
VCPUPin=0-63:1
EmulatorPin=0
EOF
cat >"$pol/by-pidfile.policy" <<EOF
[Match]
Name=$TAG-vm*
PidFile=$dir/nomatch.pid

[CPU]
VCPUPin=0:1
EOF
chmod 0644 "$pol"/*.policy
"$KVMCG" check "$pol"/*.policy >/dev/null || die "the bench's policies do not pass kvmcg check"
"$KVMCG" apply --policy-dir "$pol" >"$WORK/apply.out" 2>&1 ||
	die "kvmcg apply failed: $(cat "$WORK/apply.out")"
for i in $(seq $((WARMUP + APPLY_ITER))); do
	f=$out
	[ "$i" -le "$WARMUP" ] && f=$WORK/warmup.times
	"$TIMEIT" "$f" apply "$KVMCG" apply --policy-dir "$pol" >/dev/null 2>&1 ||
		die "kvmcg apply failed"
done
# Nothing may have been pinned.
pinned=$("$KVMCG" list --json --no-qmp | jq '[.vms[] | select(.kvmcg != null and .kvmcg != "-")] | length')

{
	echo "vms=$MANY_VMS"
	echo "start_s=$start_s"
	echo "pinned_after_apply=$pinned"
	# ms of the QEMUs' CPU per list, with their monitors asked and without
	awk -v q="$qemu_ns_qmp" -v n="$qemu_ns_noqmp" -v k="$LIST_ITER" \
		'BEGIN { printf "qemu_ms_qmp=%.1f\nqemu_ms_noqmp=%.1f\n", q / k / 1e6, n / k / 1e6 }'
	echo "apply_says=$(head -1 "$WORK/apply.out")"
} >"$WORK/many.info"
