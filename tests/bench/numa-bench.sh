#!/bin/bash
# make bench, NUMA part: memory placement against what a user would otherwise run,
# interleaved (ABBA), and the time numastat and topology take on many VMs.
#
#   tests/bench/numa-bench.sh            as root on the host: the "stat" rows here, the
#                                        "migrate" row in the test guest (two nodes,
#                                        tests/guest/run.sh), then the figures go to
#                                        BENCHMARKS.md between this script's markers
#   tests/bench/numa-bench.sh migrate    the migration row alone (needs two nodes with
#                                        memory); prints RESULT lines
#   tests/bench/numa-bench.sh stat       the numastat/topology rows alone, in a PID
#                                        namespace of their own; prints RESULT lines
#
# migrate: one QEMU whose 512 MiB of guest RAM are faulted on node 0 (numactl
# --membind=0, -mem-prealloc). Each iteration moves it to node 1 with
#   A  kvmcg pin --pid P --mems 1 --mem-policy strict    (cgroup, move, measure, record)
#   B  migratepages P 0 1                                 (numactl's: migrate_pages alone)
# and back, untimed (kvmcg unpin --migrate-back; migratepages P 1 0). Before each
# timed run the test's own count from numa_maps must say at least 99% on node 0, and
# after it at least 99% on node 1.
#
# stat: BENCH_NUMA_VMS small QEMUs (20), and interleaved:
#   kvmcg numastat (every VM)   against numastat -c qemu-system-x86_64 (numactl's)
#   kvmcg topology              against numactl --hardware; lscpu -e (one sh -c)
#
# Environment: KVMCG TIMEIT (the binaries), BENCH_NUMA_ITER (interleaved pairs of
# the migration, 8), BENCH_STAT_ITER (pairs of the stat rows, 15), BENCH_NUMA_VMS
# (20), BENCH_WARMUP (untimed runs before each row, 2), BENCH_OUT (the report).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
TIMEIT=${TIMEIT:-$root/build/bench/timeit}
ITER=${BENCH_NUMA_ITER:-8}
STAT_ITER=${BENCH_STAT_ITER:-15}
VMS=${BENCH_NUMA_VMS:-20}
WARMUP=${BENCH_WARMUP:-2}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
RAM_MIB=512
. "$here/lib.sh"
t() { "$TIMEIT" "$@"; }

bench_init numa-bench "$KVMCG" "$TIMEIT"
pids=()
cleanup() {
	local rc=$?
	set +e
	for p in "${pids[@]}"; do
		"$KVMCG" unpin --pid "$p" >/dev/null 2>&1
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup

bench_qemu

# share PID NODE: the share (0..1) of the process's anonymous and guest RAM pages on
# NODE, from numa_maps, by awk (not by kvmcg).
share() {
	awk -v n="$2" '/ file=/ && !/ heap/ && !/ stack/ { next }
		{ ps = 4; for (i = 3; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, k, "="); ps = k[2] }
		  for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), v, "="); b = v[2] * ps; all += b; if (v[1] == n) on += b } }
		END { printf "%.4f\n", all ? on / all : 0 }' "/proc/$1/numa_maps"
}
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# row FILE LABEL: "n median q1 q3 cpu_median" in ms.
row() {
	local n m q1 q3 cpu
	read -r n m q1 q3 < <(stats "$1" "$2" 2)
	read -r _ cpu _ _ < <(stats "$1" "$2" 5)
	echo "$n $m $q1 $q3 $cpu"
}

# ---------------------------------------------------------------- migrate

run_migrate() {
	[ "$(tr ',' '\n' </sys/devices/system/node/has_memory | wc -l)" -ge 1 ] &&
		[ -d /sys/devices/system/node/node1 ] || die "migrate needs two NUMA nodes with memory (the test guest has them)"
	command -v migratepages >/dev/null || die "migratepages (numactl) is not installed"
	numactl --membind=0 qemu-system-x86_64 "${accel[@]}" -m "$RAM_MIB" -smp 1 -mem-prealloc -display none \
		-nodefaults -no-user-config -bios "$bios" -name guest=numabench,debug-threads=on \
		-qmp "unix:$tmp/vm.qmp,server=on,wait=off" -pidfile "$tmp/vm.pid" -daemonize ||
		die "cannot start a $RAM_MIB MiB QEMU on node 0"
	local pid
	pid=$(cat "$tmp/vm.pid")
	pids+=("$pid")
	at_least "$(share "$pid" 0)" 0.99 || die "the VM did not start on node 0 ($(share "$pid" 0))"
	local times=$tmp/migrate.times warm=$tmp/warm.times
	: >"$times"
	side_kvmcg() { # FILE
		at_least "$(share "$pid" 0)" 0.99 || die "before kvmcg: not on node 0 ($(share "$pid" 0))"
		t "$1" kvmcg "$KVMCG" pin --pid "$pid" --mems 1 --mem-policy strict >/dev/null || die "kvmcg pin failed"
		at_least "$(share "$pid" 1)" 0.99 || die "after kvmcg: not on node 1 ($(share "$pid" 1))"
		"$KVMCG" unpin --pid "$pid" --migrate-back >/dev/null || die "kvmcg unpin --migrate-back failed"
	}
	side_migratepages() { # FILE
		at_least "$(share "$pid" 0)" 0.99 || die "before migratepages: not on node 0 ($(share "$pid" 0))"
		t "$1" migratepages migratepages "$pid" 0 1 || die "migratepages failed"
		at_least "$(share "$pid" 1)" 0.99 || die "after migratepages: not on node 1 ($(share "$pid" 1))"
		migratepages "$pid" 1 0 || die "migratepages back failed"
	}
	for _ in $(seq "$WARMUP"); do
		side_kvmcg "$warm"
		side_migratepages "$warm"
	done
	for i in $(seq "$ITER"); do
		if [ $((i % 2)) = 1 ]; then
			side_kvmcg "$times"
			side_migratepages "$times"
		else
			side_migratepages "$times"
			side_kvmcg "$times"
		fi
	done
	local n m_k q1_k q3_k cpu_k m_m q1_m q3_m cpu_m
	read -r n m_k q1_k q3_k cpu_k < <(row "$times" kvmcg)
	read -r _ m_m q1_m q3_m cpu_m < <(row "$times" migratepages)
	echo "RESULT migrate n=$n kvmcg=$m_k,$q1_k,$q3_k,$cpu_k migratepages=$m_m,$q1_m,$q3_m,$cpu_m paired=$(paired "$times" kvmcg migratepages | tr ' ' ',') ram_mib=$RAM_MIB kernel=$(uname -r) accel=${accel[1]}"
}

# ---------------------------------------------------------------- stat

run_stat() {
	[ "$$" = 1 ] || {
		# a PID namespace of our own: kvmcg and numastat see exactly these VMs, and
		# every QEMU dies with it
		exec unshare --pid --fork --mount-proc --kill-child "$0" stat
	}
	local started=0 i
	for i in $(seq "$VMS"); do
		qemu-system-x86_64 "${accel[@]}" -m 32 -smp 1 -display none -nodefaults -no-user-config -bios "$bios" \
			-name "guest=numabench-vm$i" -qmp "unix:$tmp/vm$i.qmp,server=on,wait=off" \
			-pidfile "$tmp/vm$i.pid" -daemonize 2>"$tmp/vm$i.err" && started=$((started + 1))
	done
	[ "$started" = "$VMS" ] || die "only $started of $VMS QEMUs started: $(cat "$tmp"/vm*.err | tail -1)"
	local seen
	seen=$("$KVMCG" numastat --json | jq ".vms | length")
	[ "$seen" = "$VMS" ] || die "kvmcg numastat sees $seen VMs, not $VMS"
	local times=$tmp/stat.times warm=$tmp/warm.times have_topology=0
	"$KVMCG" topology --help >/dev/null 2>&1 && have_topology=1
	: >"$times"
	one() { # FILE
		t "$1" numastat-kvmcg "$KVMCG" numastat >/dev/null
		t "$1" numastat-numactl numastat -c qemu-system-x86_64 >/dev/null
		if [ "$have_topology" = 1 ]; then
			t "$1" topology-kvmcg "$KVMCG" topology >/dev/null
			t "$1" topology-tools sh -c 'numactl --hardware; lscpu -e' >/dev/null
		fi
	}
	for _ in $(seq "$WARMUP"); do one "$warm"; done
	for _ in $(seq "$STAT_ITER"); do one "$times"; done
	local line="RESULT stat vms=$VMS"
	for l in numastat-kvmcg numastat-numactl topology-kvmcg topology-tools; do
		local n m q1 q3 cpu
		read -r n m q1 q3 cpu < <(row "$times" "$l")
		[ "$n" = 0 ] || line="$line $l=$m,$q1,$q3,$cpu"
	done
	echo "$line paired_numastat=$(paired "$times" numastat-kvmcg numastat-numactl | tr ' ' ',') paired_topology=$(paired "$times" topology-kvmcg topology-tools | tr ' ' ',')"
}

case ${1:-} in
migrate)
	run_migrate
	exit 0
	;;
stat)
	run_stat
	exit 0
	;;
'') ;;
*) die "usage: $0 [migrate|stat]" ;;
esac

# ---------------------------------------------------------------- both, and the report

results=$tmp/results
note "numastat and topology on $VMS VMs (host)"
"$0" stat | tee -a "$results"
note "moving $RAM_MIB MiB from node 0 to node 1 (test guest)"
KVMCG_GUEST_CMD="KVMCG=$KVMCG TIMEIT=$TIMEIT BENCH_NUMA_ITER=$ITER BENCH_WARMUP=$WARMUP bash tests/bench/numa-bench.sh migrate" \
	"$root/tests/guest/run.sh" | grep '^RESULT' | tee -a "$results" || die "the migration row failed in the guest"


mk=$(field migrate kvmcg) mm=$(field migrate migratepages)
nk=$(field stat numastat-kvmcg) nn=$(field stat numastat-numactl)
tk=$(field stat topology-kvmcg) tt=$(field stat topology-tools)
r_mig=$(ratio "$(item "$mk" 1)" "$(item "$mm" 1)")
r_num=$(ratio "$(item "$nk" 1)" "$(item "$nn" 1)")
echo "NUMA migrate-${RAM_MIB}MiB: kvmcg pin --mem-policy strict $(fmt "$(item "$mk" 1)") ms / migratepages $(fmt "$(item "$mm" 1)") ms = ratio $r_mig"
echo "NUMA numastat-$VMS: kvmcg numastat $(fmt "$(item "$nk" 1)") ms / numastat -c $(fmt "$(item "$nn" 1)") ms = ratio $r_num"
if [ -n "$tk" ]; then
	r_top=$(ratio "$(item "$tk" 1)" "$(item "$tt" 1)")
	echo "NUMA topology-$VMS: kvmcg topology $(fmt "$(item "$tk" 1)") ms / numactl --hardware + lscpu -e $(fmt "$(item "$tt" 1)") ms = ratio $r_top"
fi

git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev with local changes in src/"
section=$tmp/section
{
	echo "$BEGIN_MARK"
	echo
	echo "### NUMA results"
	echo
	echo "Written by \`make bench\` (\`tests/bench/numa-bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), tree $git_rev;"
	echo "host Linux $(uname -r | sed 's/-.*//'), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg) at the end."
	echo "Median (interquartile range) of the wall-clock time, ms; CPU is user+sys, median."
	echo
	echo "| Row | kvmcg | the other side | ratio (per-iteration: median, q1–q3) |"
	echo "|---|---|---|---|"
	echo "| Move a VM's $RAM_MIB MiB from node 0 to node 1, test guest (Linux $(field migrate kernel | sed 's/-.*//'), 2 nodes, TCG), $(field migrate n) pairs | \`kvmcg pin --mems 1 --mem-policy strict\` $(mq "$mk"), CPU $(fmt "$(item "$mk" 4)") | \`migratepages P 0 1\` $(mq "$mm"), CPU $(fmt "$(item "$mm" 4)") | $r_mig ($(field migrate paired | tr ',' ' ' | awk '{ print $1 ", " $2 "–" $3 }')) |"
	echo "| numastat, $(field stat vms) VMs (host) | \`kvmcg numastat\` $(mq "$nk"), CPU $(fmt "$(item "$nk" 4)") | \`numastat -c qemu-system-x86_64\` $(mq "$nn"), CPU $(fmt "$(item "$nn" 4)") | $r_num ($(field stat paired_numastat | tr ',' ' ' | awk '{ print $1 ", " $2 "–" $3 }')) |"
	if [ -n "$tk" ]; then
		echo "| topology, $VMS VMs (host) | \`kvmcg topology\` $(mq "$tk"), CPU $(fmt "$(item "$tk" 4)") | \`numactl --hardware; lscpu -e\` $(mq "$tt"), CPU $(fmt "$(item "$tt" 4)") | $r_top ($(field stat paired_topology | tr ',' ' ' | awk '{ print $1 ", " $2 "–" $3 }')) |"
	fi
	echo
	echo "$END_MARK"
} >"$section"
write_section "$section"
note "figures written to $OUT"
