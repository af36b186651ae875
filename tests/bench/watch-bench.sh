#!/bin/bash
# make bench, daemon part: how fast kvmcg watch places a VM, and what it costs.
#   reaction  N QEMUs started one after another (2 vCPUs, debug-threads): from the
#             kernel's event that made the VM ready (its last vCPU thread named;
#             the timestamp the process events connector carries) to the pin's end,
#             as the daemon says it in its log; median and 99th percentile. Also
#             from QEMU's start (the command) to the line in the log, wall clock.
#   floor     the same connector's own delay, event to a listener's read, 100 renames
#             (build/procev-probe): what no daemon can beat.
#   idle      the daemon's CPU time (utime+stime, /proc/PID/stat) over an idle
#             window of BENCH_WATCH_IDLE seconds (30), scaled to an hour (said so);
#             against the other way to keep VMs pinned without events, a loop that
#             runs `kvmcg apply` every BENCH_WATCH_APPLY_EVERY seconds (10): its CPU
#             per run times the runs in an hour.
#   storm     two shell loops forking and executing /bin/true for BENCH_WATCH_STORM
#             seconds (10): the forks per second achieved, the daemon's CPU share,
#             and the reaction of QEMUs started during it.
#
#   tests/bench/watch-bench.sh   figures into BENCHMARKS.md between this script's markers
#
# Environment: KVMCG, PROBE (build/procev-probe), BENCH_WATCH_N (100), BENCH_OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
PROBE=${PROBE:-$root/build/procev-probe}
N=${BENCH_WATCH_N:-100}
IDLE=${BENCH_WATCH_IDLE:-30}
APPLY_EVERY=${BENCH_WATCH_APPLY_EVERY:-10}
STORM=${BENCH_WATCH_STORM:-10}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
. "$here/lib.sh"

bench_init watch-bench "$KVMCG" "$PROBE"
wpid= storm_pids=()
cleanup() {
	local rc=$?
	set +e
	[ ${#storm_pids[@]} -gt 0 ] && kill "${storm_pids[@]}" 2>/dev/null
	[ -s "$tmp/vm.pid" ] && kill -KILL "$(cat "$tmp/vm.pid")" 2>/dev/null
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
	"$KVMCG" list >/dev/null 2>&1
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup

bench_qemu
pol=$tmp/policies
mkdir -m 0755 "$pol"
printf '[Match]\nName=watchbench\n[CPU]\nVCPUPin=all:0\nEmulatorPin=%s\n' "$(($(nproc) - 1))" >"$pol/b.policy"
chmod 0644 "$pol/b.policy"
log=$tmp/watch.log

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime
hz=$(getconf CLK_TCK)

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

note "reaction: $N QEMUs"
one_vm "$tmp/warm" # warm-up, not counted
for _ in $(seq "$N"); do one_vm "$tmp/react"; done
n_r=$(awk '$1 != "NA"' "$tmp/react" | wc -l)

note "floor: the connector's own delay"
floor=$("$PROBE" | awk '$1 == "latency_us" { print $2, $3, $4 }')

note "idle: $IDLE s"
c0=$(cpu_ticks "$wpid")
sleep "$IDLE"
c1=$(cpu_ticks "$wpid")
idle_ms_h=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$IDLE" 'BEGIN { printf "%.1f", d * 1000 / hz * 3600 / s }')
note "the alternative: kvmcg apply every $APPLY_EVERY s (CPU of 10 runs)"
apply_cpu=$( (
	for _ in $(seq 10); do "$KVMCG" apply --policy-dir "$pol" >/dev/null 2>&1 || true; done
	times | tail -1
) | awk '{ split($1, u, "m"); split($2, s, "m"); print (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 / 10 }')
apply_ms_h=$(awk -v a="$apply_cpu" -v e="$APPLY_EVERY" 'BEGIN { printf "%.0f", a * 3600 / e }')

note "storm: $STORM s of fork+exec, with QEMUs started in it"
storm() { while :; do /bin/true; done; }
f0=$(awk '/^processes/ { print $2 }' /proc/stat)
c0=$(cpu_ticks "$wpid")
storm &
storm_pids+=($!)
storm &
storm_pids+=($!)
t_end=$((SECONDS + STORM))
: >"$tmp/storm"
while [ $SECONDS -lt $t_end ]; do one_vm "$tmp/storm"; done
kill "${storm_pids[@]}" 2>/dev/null || true
wait "${storm_pids[@]}" 2>/dev/null || true
storm_pids=()
c1=$(cpu_ticks "$wpid")
f1=$(awk '/^processes/ { print $2 }' /proc/stat)
forks_s=$(((f1 - f0) / STORM))
storm_cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$STORM" 'BEGIN { printf "%.1f", d / hz / s * 100 }')
lost=$(grep -c '"event":"lost-events"' "$log" || true)

echo "RESULT watch n=$n_r reaction_ms=$(pct "$tmp/react" 1 0.5),$(pct "$tmp/react" 1 0.99) start_to_log_ms=$(pct "$tmp/react" 2 0.5),$(pct "$tmp/react" 2 0.99) floor_us=${floor// /,} idle_cpu_ms_per_h=$idle_ms_h apply_loop_cpu_ms_per_h=$apply_ms_h storm_forks_s=$forks_s storm_cpu_pct=$storm_cpu storm_n=$(wc -l <"$tmp/storm") storm_reaction_ms=$(pct "$tmp/storm" 1 0.5),$(pct "$tmp/storm" 1 0.99) lost=$lost"
r() { pct "$tmp/react" "$1" "$2"; }
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev with local changes in src/"
section=$tmp/section
{
	echo "$BEGIN_MARK"
	echo
	echo "### The daemon: kvmcg watch"
	echo
	echo "Written by \`make bench\` (\`tests/bench/watch-bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), tree $git_rev;"
	echo "host Linux $(uname -r | sed 's/-.*//'), $(nproc) CPUs, QEMU ${accel[1]}. $n_r QEMUs (2 vCPUs, debug-threads) started one after another."
	echo
	echo "| Figure | median | 99th percentile |"
	echo "|---|---|---|"
	echo "| reaction: the kernel's event (last vCPU thread named) to the pin's end, ms (goal: median under 1) | $(r 1 0.5) | $(r 1 0.99) |"
	echo "| floor: the connector's event to a listener's read, µs (procev-probe, 100 renames; max $(awk '{ print $3 }' <<<"$floor")) | $(awk '{ print $1 }' <<<"$floor") | p90 $(awk '{ print $2 }' <<<"$floor") |"
	echo "| QEMU's start (the command) to the log line, ms | $(r 2 0.5) | $(r 2 0.99) |"
	echo "| during a fork storm ($forks_s forks/s): reaction, ms, over $(wc -l <"$tmp/storm") QEMUs | $(pct "$tmp/storm" 1 0.5) | $(pct "$tmp/storm" 1 0.99) |"
	echo
	echo "CPU: idle, $idle_ms_h ms per hour (measured over $IDLE s and scaled); a loop running \`kvmcg apply\` every"
	echo "$APPLY_EVERY s instead would use $apply_ms_h ms per hour ($apply_cpu ms per run, measured over 10 runs) and react"
	echo "in $APPLY_EVERY s at worst. During the storm the daemon used $storm_cpu% of one CPU; it reported $lost lost-event rescans."
	echo
	echo "$END_MARK"
} >"$section"
write_section "$section"
note "figures written to $OUT"
