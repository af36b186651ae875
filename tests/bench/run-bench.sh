#!/bin/bash
# make bench, launcher part: the time from nothing to a running, fully placed VM,
#   A  kvmcg run --vcpu all:0 --emulator E -- qemu ... -daemonize
#      (returns once every thread is placed and the guest runs)
#   B  qemu ... -daemonize; then kvmcg pin --pid P --vcpu all:0 --emulator E
#      (what a user without run does: start QEMU, then pin it)
# interleaved (ABBA), each followed (untimed) by stopping the QEMU and collecting its
# cgroups. Two rows:
#   start   on the host, a 2-vCPU QEMU with 64 MiB
#   strict  in the test guest (two nodes), 512 MiB of guest RAM with -mem-prealloc
#           and --mems 1 --mem-policy strict on both sides: A binds QEMU before
#           its first page (nothing to migrate); B starts QEMU from a launcher
#           running on node 0 (numactl --cpunodebind=0: its pages are faulted
#           there, first touch) and pin then migrates them. After each side the
#           test's own count from numa_maps must say at least 99% on node 1.
#
#   tests/bench/run-bench.sh          both rows (strict in the guest), figures into
#                                     BENCHMARKS.md between this script's markers
#   tests/bench/run-bench.sh start    the host row alone; prints a RESULT line
#   tests/bench/run-bench.sh strict   the guest row alone (two nodes); RESULT line
#
# Environment: KVMCG TIMEIT (the binaries), BENCH_RUN_ITER (pairs, 8), BENCH_WARMUP
# (untimed pairs first, 2), BENCH_OUT (the report).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
TIMEIT=${TIMEIT:-$root/build/bench/timeit}
ITER=${BENCH_RUN_ITER:-8}
WARMUP=${BENCH_WARMUP:-2}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
STRICT_MIB=512
. "$here/lib.sh"

bench_init run-bench "$KVMCG" "$TIMEIT"
cleanup() {
	local rc=$?
	set +e
	[ -s "$tmp/vm.pid" ] && kill -KILL "$(cat "$tmp/vm.pid")" 2>/dev/null
	"$KVMCG" list >/dev/null 2>&1
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup

bench_qemu
last=$(($(nproc) - 1))

share1() { # PID: the share of its anonymous and guest RAM pages on node 1
	awk '/ file=/ && !/ heap/ && !/ stack/ { next }
		{ for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), v, "="); all += v[2]; if (v[1] == 1) on += v[2] } }
		END { printf "%.4f\n", all ? on / all : 0 }' "/proc/$1/numa_maps"
}
stop_vm() {
	local p
	p=$(cat "$tmp/vm.pid")
	kill "$p"
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
	rm -f "$tmp/vm.pid"
	"$KVMCG" list >/dev/null 2>&1 # collects its cgroups
}

# one ROW FILE: A then B (or B then A with a third argument)
one() {
	local row=$1 file=$2 mem=() qemu pin=(--vcpu all:0 --emulator "$last")
	qemu=(qemu-system-x86_64 "${accel[@]}" -m 64 -smp 2 -display none -nodefaults -no-user-config -bios "$bios"
		-name guest=runbench,debug-threads=on -pidfile "$tmp/vm.pid" -daemonize)
	if [ "$row" = strict ]; then
		qemu=(qemu-system-x86_64 "${accel[@]}" -m "$STRICT_MIB" -mem-prealloc -smp 2 -display none -nodefaults
			-no-user-config -bios "$bios" -name guest=runbench,debug-threads=on -pidfile "$tmp/vm.pid" -daemonize)
		mem=(--mems 1 --mem-policy strict)
	fi
	side_a() {
		"$TIMEIT" "$file" run "$KVMCG" run "${pin[@]}" "${mem[@]}" -- "${qemu[@]}" >/dev/null 2>&1 ||
			die "kvmcg run failed"
		[ "$row" != strict ] || at_least "$(share1 "$(cat "$tmp/vm.pid")")" 0.99 || die "run: not on node 1"
		stop_vm
	}
	side_b() {
		local launcher=()
		[ "$row" = strict ] && launcher=(numactl --cpunodebind=0)
		"$TIMEIT" "$file" start-then-pin sh -c '"$@" >/dev/null 2>&1 && exec "$KVMCG" pin --pidfile "$PIDFILE" '"${pin[*]} ${mem[*]}"' >/dev/null' \
			sh "${launcher[@]}" "${qemu[@]}" || die "start then pin failed"
		[ "$row" != strict ] || at_least "$(share1 "$(cat "$tmp/vm.pid")")" 0.99 || die "pin: not on node 1"
		stop_vm
	}
	if [ -z "${3:-}" ]; then
		side_a
		side_b
	else
		side_b
		side_a
	fi
}
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

bench_row() { # ROW
	export KVMCG PIDFILE=$tmp/vm.pid
	local times=$tmp/$1.times warm=$tmp/warm.times
	: >"$times"
	for _ in $(seq "$WARMUP"); do one "$1" "$warm"; done
	for i in $(seq "$ITER"); do
		if [ $((i % 2)) = 1 ]; then one "$1" "$times"; else one "$1" "$times" reversed; fi
	done
	local n ma q1a q3a ca mb q1b q3b cb
	read -r n ma q1a q3a < <(stats "$times" run 2)
	read -r _ ca _ _ < <(stats "$times" run 5)
	read -r _ mb q1b q3b < <(stats "$times" start-then-pin 2)
	read -r _ cb _ _ < <(stats "$times" start-then-pin 5)
	echo "RESULT $1 n=$n run=$ma,$q1a,$q3a,$ca startpin=$mb,$q1b,$q3b,$cb paired=$(paired "$times" run start-then-pin | tr ' ' ',') kernel=$(uname -r) accel=${accel[1]}"
}

case ${1:-} in
start)
	bench_row start
	exit 0
	;;
strict)
	[ -d /sys/devices/system/node/node1 ] || die "strict needs two NUMA nodes (the test guest has them)"
	bench_row strict
	exit 0
	;;
'') ;;
*) die "usage: $0 [start|strict]" ;;
esac

results=$tmp/results
note "start a QEMU placed: kvmcg run against QEMU then kvmcg pin (host)"
"$0" start | tee -a "$results"
note "the same with $STRICT_MIB MiB bound strict to node 1 (test guest)"
KVMCG_GUEST_CMD="KVMCG=$KVMCG TIMEIT=$TIMEIT BENCH_RUN_ITER=$ITER BENCH_WARMUP=$WARMUP bash tests/bench/run-bench.sh strict" \
	"$root/tests/guest/run.sh" | grep '^RESULT' | tee -a "$results" || die "the strict row failed in the guest"

pq() { field "$1" paired | tr ',' ' ' | awk '{ print $1 ", " $2 "–" $3 }'; }

sa=$(field start run) sb=$(field start startpin) ta=$(field strict run) tb=$(field strict startpin)
r_s=$(ratio "$(item "$sa" 1)" "$(item "$sb" 1)")
r_t=$(ratio "$(item "$ta" 1)" "$(item "$tb" 1)")
echo "RUN start: kvmcg run $(fmt "$(item "$sa" 1)") ms / qemu then pin $(fmt "$(item "$sb" 1)") ms = ratio $r_s"
echo "RUN strict-${STRICT_MIB}MiB: kvmcg run $(fmt "$(item "$ta" 1)") ms / qemu then pin (migrating) $(fmt "$(item "$tb" 1)") ms = ratio $r_t"

git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev with local changes in src/"
section=$tmp/section
{
	echo "$BEGIN_MARK"
	echo
	echo "### Starting a VM placed: kvmcg run"
	echo
	echo "Written by \`make bench\` (\`tests/bench/run-bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), tree $git_rev;"
	echo "host Linux $(uname -r | sed 's/-.*//'), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg) at the end."
	echo "From the command to a running guest with every thread placed. Median (interquartile range) of"
	echo "the wall-clock time, ms; CPU is user+sys of the command and its children, median."
	echo
	echo "| Row | \`kvmcg run\` | QEMU, then \`kvmcg pin\` | ratio (per-iteration: median, q1–q3) |"
	echo "|---|---|---|---|"
	echo "| 2 vCPUs, 64 MiB, host ($(field start accel)), $(field start n) pairs | $(mq "$sa"), CPU $(fmt "$(item "$sa" 4)") | $(mq "$sb"), CPU $(fmt "$(item "$sb" 4)") | $r_s ($(pq start)) |"
	echo "| 2 vCPUs, $STRICT_MIB MiB \`-mem-prealloc\`, strict on node 1, test guest (Linux $(field strict kernel | sed 's/-.*//'), TCG), $(field strict n) pairs: run binds before the first page; the other way starts on node 0 and migrates | $(mq "$ta"), CPU $(fmt "$(item "$ta" 4)") | $(mq "$tb"), CPU $(fmt "$(item "$tb" 4)") | $r_t ($(pq strict)) |"
	echo
	echo "$END_MARK"
} >"$section"
write_section "$section"
note "figures written to $OUT"
