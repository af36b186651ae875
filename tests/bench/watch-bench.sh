#!/bin/bash
# make bench, daemon part: how fast kvmcg watch places what appears, and what it costs.
#   hot-plug  BENCH_WATCH_HOTPLUG vCPUs (100) hot-added with QMP device_add to
#             running QEMUs (-smp 1,maxcpus=64, debug-threads, 50 per QEMU) by
#             tests/bench/hotplug.py, which holds the monitor all along as an
#             orchestrator does; from the kernel's event that names the new vCPU
#             thread (the timestamp the process events connector carries) to the
#             pin's end, as the daemon says it in its log; median and 99th
#             percentile. Also from device_add's reply to the pinned affinity seen
#             by the client (QEMU replies once the thread exists).
#   reaction  N QEMUs started one after another (2 vCPUs, debug-threads): from the
#             kernel's event that made the VM ready (its last vCPU thread named) to
#             the pin's end, and from QEMU's start (the command) to the line in the
#             log, wall clock.
#   floor     the same connector's own delay, event to a listener's read, 100 renames
#             (build/procev-probe): what no daemon can beat.
#   idle      the daemon's CPU time (schedstat's ns of every thread) over an idle
#             window of BENCH_WATCH_IDLE seconds (60) with the hot-plug QEMUs still
#             running and managed, scaled to an hour (said so); against the other way to keep VMs pinned without
#             events, a loop that runs `kvmcg apply` every BENCH_WATCH_APPLY_EVERY
#             seconds (10): its CPU per run, over 10 runs on the same VMs, times the
#             runs in an hour.
#   storm     two build/bench/forkstorm processes (fork, child exits at once) for
#             BENCH_WATCH_STORM seconds (10): the forks per second achieved, the
#             daemon's CPU share, and the reaction of QEMUs started during it.
# The state directory is a tmpfs, as /run is wherever kvmcg's service files run it.
#
#   tests/bench/watch-bench.sh   figures into BENCHMARKS.md between this script's markers
#
# Environment: KVMCG, PROBE (build/procev-probe), STORM (build/bench/forkstorm),
# BENCH_WATCH_N (100), BENCH_WATCH_HOTPLUG (100), BENCH_OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
PROBE=${PROBE:-$root/build/procev-probe}
FORKSTORM=${STORM:-$root/build/bench/forkstorm}
N=${BENCH_WATCH_N:-100}
HOTPLUG=${BENCH_WATCH_HOTPLUG:-100}
IDLE=${BENCH_WATCH_IDLE:-60}
APPLY_EVERY=${BENCH_WATCH_APPLY_EVERY:-10}
STORM=${BENCH_WATCH_STORM:-10}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
. "$here/lib.sh"

bench_init watch-bench "$KVMCG" "$PROBE" "$FORKSTORM"
wpid= storm_pids=() hp_pids=() state_mounted=
cleanup() {
	local rc=$?
	set +e
	[ ${#storm_pids[@]} -gt 0 ] && kill "${storm_pids[@]}" 2>/dev/null
	[ -s "$tmp/vm.pid" ] && kill -KILL "$(cat "$tmp/vm.pid")" 2>/dev/null
	[ ${#hp_pids[@]} -gt 0 ] && kill -KILL "${hp_pids[@]}" 2>/dev/null
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
	"$KVMCG" list >/dev/null 2>&1
	[ -n "$state_mounted" ] && umount "$KVMCG_STATE_DIR"
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup
mount -t tmpfs -o mode=0700,size=16m kvmcg-bench-state "$KVMCG_STATE_DIR" || die "cannot mount a tmpfs on $KVMCG_STATE_DIR"
state_mounted=1

bench_qemu
pol=$tmp/policies
mkdir -m 0755 "$pol"
printf '[Match]\nName=watchbench\n[CPU]\nVCPUPin=all:0\nEmulatorPin=%s\n' "$(($(nproc) - 1))" >"$pol/b.policy"
printf '[Match]\nName=watchhp-*\n[CPU]\nVCPUPin=all:0\nEmulatorPin=%s\n' "$(($(nproc) - 1))" >"$pol/hp.policy"
chmod 0644 "$pol/b.policy" "$pol/hp.policy"
log=$tmp/watch.log

# cpu_ns PID: the ns its threads have run (/proc/PID/task/*/schedstat, first field:
# the scheduler's sum_exec_runtime, in ns, unlike stat's ticks of 1/CLK_TCK s)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }

"$KVMCG" watch --foreground --policy-dir "$pol" --reconcile-interval 0 --log-format json 2>"$log" &
wpid=$!
for _ in $(seq 200); do grep -q '"event":"start"' "$log" && break; sleep 0.05; done
grep -q '"event":"start"' "$log" || die "kvmcg watch did not start: $(tail -2 "$log")"

# one_vm FILE: starts a QEMU, waits for its "pinned" line, stops it, waits for
# "exited"; appends "REACTION_MS START_TO_LOG_MS" to FILE.
one_vm() {
	local t0 p line
	t0=$(date +%s%N)
	qemu-system-x86_64 "${accel[@]}" -m 64 -smp 2 -display none -nodefaults -no-user-config -bios "$bios" \
		-name guest=watchbench,debug-threads=on -pidfile "$tmp/vm.pid" -daemonize
	p=$(cat "$tmp/vm.pid")
	for _ in $(seq 400); do
		line=$(grep "\"pid\":$p," "$log" | grep '"event":"pinned"' || true)
		[ -n "$line" ] && break
		sleep 0.005
	done
	[ -n "$line" ] || die "VM $p was not pinned in 2 s: $(tail -2 "$log")"
	local t1 r
	t1=$(date +%s%N)
	r=$(sed -n 's/.*(\([0-9.]*\) ms after the kernel.s event).*/\1/p' <<<"$line")
	echo "${r:-NA} $(((t1 - t0) / 1000000))" >>"$1"
	kill "$p"
	for _ in $(seq 400); do grep "\"pid\":$p," "$log" | grep -q '"event":"exited"' && break; sleep 0.005; done
	rm -f "$tmp/vm.pid"
}
# pct FILE COLUMN P: the P-th percentile (nearest rank) of a column
pct() { awk -v c="$2" '$c != "NA" { print $c }' "$1" | sort -g | awk -v p="$3" '{ v[NR] = $1 } END { if (!NR) { print "NA"; exit } k = int(p * NR + 0.999999); if (k < 1) k = 1; print v[k] }'; }

note "hot-plug: $HOTPLUG vCPUs"
: >"$tmp/hp"
per=50 k=0
while [ "$k" -lt "$HOTPLUG" ]; do
	i=${#hp_pids[@]}
	qemu-system-x86_64 "${accel[@]}" -m 64 -smp 1,maxcpus=64 -display none -nodefaults -no-user-config -bios "$bios" \
		-name guest=watchhp-$i,debug-threads=on -qmp unix:"$tmp/hp$i.qmp",server=on,wait=off \
		-pidfile "$tmp/hp$i.pid" -daemonize
	p=$(cat "$tmp/hp$i.pid")
	hp_pids+=("$p")
	for _ in $(seq 400); do grep "\"pid\":$p," "$log" | grep -q '"event":"pinned"' && break; sleep 0.005; done
	m=$((HOTPLUG - k < per ? HOTPLUG - k : per))
	"$here/hotplug.py" "$tmp/hp$i.qmp" "$p" "$m" 0 >"$tmp/hp$i.out" || die "hotplug.py failed"
	# the daemon's figure for each new vCPU thread, by its tid
	while read -r tid wall; do
		r=$(grep "\"pid\":$p," "$log" | grep '"event":"pinned"' | grep -F "(tid $tid):" |
			sed -n 's/.*(\([0-9.]*\) ms after the kernel.s event).*/\1/p' | head -1)
		echo "${r:-NA} $wall" >>"$tmp/hp"
	done <"$tmp/hp$i.out"
	k=$((k + m))
done
n_hp=$(awk '$1 != "NA"' "$tmp/hp" | wc -l)
hp_threads=$(($(ls /proc/"${hp_pids[0]}"/task | wc -l)))

note "reaction: $N QEMUs"
one_vm "$tmp/warm" # warm-up, not counted
for _ in $(seq "$N"); do one_vm "$tmp/react"; done
n_r=$(awk '$1 != "NA"' "$tmp/react" | wc -l)

note "floor: the connector's own delay"
floor=$("$PROBE" | awk '$1 == "latency_us" { print $2, $3, $4 }')

note "idle: $IDLE s"
c0=$(cpu_ns "$wpid")
sleep "$IDLE"
c1=$(cpu_ns "$wpid")
idle_ms_h=$(awk -v d=$((c1 - c0)) -v s="$IDLE" 'BEGIN { printf "%.2f", d / 1e6 * 3600 / s }')
note "the alternative: kvmcg apply every $APPLY_EVERY s (CPU of 10 runs)"
# times's second line: the CPU of the subshell's children (the 10 runs), "XmY.YYYs"
apply_cpu=$( (
	for _ in $(seq 10); do "$KVMCG" apply --policy-dir "$pol" >/dev/null 2>&1 || true; done
	times
) | tail -1 | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.1f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 / 10 }')
apply_ms_h=$(awk -v a="$apply_cpu" -v e="$APPLY_EVERY" 'BEGIN { printf "%.0f", a * 3600 / e }')
idle_us=$(((c1 - c0) / 1000))
idle_vms=${#hp_pids[@]}
kill -KILL "${hp_pids[@]}" 2>/dev/null || true
hp_pids=()

note "storm: $STORM s of forks, with QEMUs started in it"
f0=$(awk '/^processes/ { print $2 }' /proc/stat)
c0=$(cpu_ns "$wpid")
"$FORKSTORM" "$STORM" >/dev/null &
storm_pids+=($!)
"$FORKSTORM" "$STORM" >/dev/null &
storm_pids+=($!)
t_end=$((SECONDS + STORM))
: >"$tmp/storm"
while [ $SECONDS -lt $t_end ]; do one_vm "$tmp/storm"; done
wait "${storm_pids[@]}" 2>/dev/null || true
storm_pids=()
c1=$(cpu_ns "$wpid")
f1=$(awk '/^processes/ { print $2 }' /proc/stat)
forks_s=$(((f1 - f0) / STORM))
storm_cpu=$(awk -v d=$((c1 - c0)) -v s="$STORM" 'BEGIN { printf "%.1f", d / 1e9 / s * 100 }')
lost=$(grep -c '"event":"lost-events"' "$log" || true)

hp() { pct "$tmp/hp" "$1" "$2"; }
r() { pct "$tmp/react" "$1" "$2"; }
echo "RESULT watch hotplug_n=$n_hp hotplug_ms=$(hp 1 0.5),$(hp 1 0.99) hotplug_reply_ms=$(hp 2 0.5),$(hp 2 0.99) n=$n_r reaction_ms=$(r 1 0.5),$(r 1 0.99) start_to_log_ms=$(r 2 0.5),$(r 2 0.99) floor_us=${floor// /,} idle_us=$idle_us idle_cpu_ms_per_h=$idle_ms_h apply_loop_cpu_ms_per_h=$apply_ms_h storm_forks_s=$forks_s storm_cpu_pct=$storm_cpu storm_n=$(wc -l <"$tmp/storm") storm_reaction_ms=$(pct "$tmp/storm" 1 0.5),$(pct "$tmp/storm" 1 0.99) lost=$lost"
verdict=$(awk -v m="$(hp 1 0.5)" 'BEGIN { print (m != "NA" && m < 1 ? "PASS" : "MISS") }')
echo "GOAL watch-hotplug: median $(hp 1 0.5) ms from the kernel's event to the pin's end (goal < 1) $verdict"
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev with local changes in src/"
section=$tmp/section
{
	echo "$BEGIN_MARK"
	echo
	echo "### The daemon: kvmcg watch"
	echo
	echo "Written by \`make bench\` (\`tests/bench/watch-bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), tree $git_rev;"
	echo "host Linux $(uname -r | sed 's/-.*//'), $(nproc) CPUs, QEMU ${accel[1]}, the state directory on a tmpfs (as /run is)."
	echo
	echo "| Figure | median | 99th percentile | goal |"
	echo "|---|---|---|---|"
	echo "| hot-plug: $n_hp vCPUs added with QMP \`device_add\` ($((HOTPLUG < 50 ? HOTPLUG : 50)) per QEMU, up to $hp_threads threads each), the kernel's event (the new thread named) to the pin's end, ms | $(hp 1 0.5) | $(hp 1 0.99) | median < 1: $verdict |"
	echo "| hot-plug: \`device_add\`'s reply to the pinned affinity, seen by the client that holds the monitor, ms | $(hp 2 0.5) | $(hp 2 0.99) | |"
	echo "| new VM: $n_r QEMUs (2 vCPUs) started one after another, the kernel's event (last vCPU named) to the pin's end, ms | $(r 1 0.5) | $(r 1 0.99) | |"
	echo "| new VM: QEMU's start (the command) to the log line, ms | $(r 2 0.5) | $(r 2 0.99) | |"
	echo "| new VM during a fork storm ($forks_s forks/s, unrelated processes), over $(wc -l <"$tmp/storm") QEMUs, ms | $(pct "$tmp/storm" 1 0.5) | $(pct "$tmp/storm" 1 0.99) | |"
	echo "| floor: the connector's event to a listener's read, µs (procev-probe, 100 renames; max $(awk '{ print $3 }' <<<"$floor")) | $(awk '{ print $1 }' <<<"$floor") | p90 $(awk '{ print $2 }' <<<"$floor") | |"
	echo
	echo "CPU while idle, $idle_vms QEMUs managed: $idle_us µs in $IDLE s (the scheduler's own count, /proc/PID/task/*/schedstat),"
	echo "that is $idle_ms_h ms per hour, scaled from $IDLE s. A loop running \`kvmcg apply\` every $APPLY_EVERY s on the same VMs would use"
	echo "$apply_ms_h ms per hour ($apply_cpu ms per run, over 10 runs) and react in $APPLY_EVERY s at worst. During the storm the"
	echo "daemon used $storm_cpu% of one CPU and reported $lost lost-event rescans."
	echo
	echo "$END_MARK"
} >"$section"
write_section "$section"
note "figures written to $OUT"
