#!/bin/bash
# make bench: times `kvmcg pin`, `pin` again (nothing to change), `unpin` and
# `show --json` on real QEMU processes with 2, 16 and 64 vCPUs, next to a
# `taskset -pc` loop over the same threads, and writes the figures to BENCHMARKS.md.
#
# Run as root. Every QEMU, cgroup and temporary file it creates is removed on every
# exit path; kvmcg's state goes to a temporary KVMCG_STATE_DIR, never /run/kvmcg.
#
# Environment:
#   KVMCG          the kvmcg binary (default: build/kvmcg)
#   BENCH_VCPUS    vCPU counts to measure (default: "2 16 64")
#   BENCH_RUNS     timed runs per command (default: 30)
#   BENCH_WARMUP   untimed warm-up runs per command (default: 3)
#   BENCH_PAUSE    seconds of rest before each timed first pin and unpin (default: 0.2)
#   BENCH_OUT      the report (default: BENCHMARKS.md at the top of the tree)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/lib.sh" # halt_bios
KVMCG=${KVMCG:-$root/build/kvmcg}
SIZES=${BENCH_VCPUS:-2 16 64}
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}
# Moving threads between cgroups is much slower when no move happened just before
# (the kernel's cgroup lock then waits for RCU), so the first pin and the unpin are
# timed after this pause, as when a VM is pinned once after it starts.
PAUSE=${BENCH_PAUSE:-0.2}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
MARKER='<!-- Everything below this line is written by tests/bench/pin-bench.sh (make bench). Edit above it. -->'
# The pin every row measures: all vCPUs on CPU 1, QEMU's other threads on CPU 0.
VCPU_CPU=1
EMU_CPU=0

die() {
	echo "pin-bench: $*" >&2
	exit 1
}
note() { echo "pin-bench: $*"; }

# --- preflight ---------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root: kvmcg pin writes cgroups and other processes' affinity"
[ -x "$KVMCG" ] || die "$KVMCG is not built (run make, or set KVMCG)"
missing=()
for tool in qemu-system-x86_64 jq taskset; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (contrib/install-deps.sh installs them)"
if [ "$(nproc)" -lt 2 ]; then
	die "needs at least 2 online CPUs (vCPUs go to CPU $VCPU_CPU, the rest to CPU $EMU_CPU)"
fi
have_hyperfine=0
if command -v hyperfine >/dev/null; then
	have_hyperfine=1
else
	note "hyperfine is not installed (apt-get install hyperfine); timing with a built-in loop instead"
fi
have_strace=0
if command -v strace >/dev/null; then
	have_strace=1
else
	note "strace is not installed (apt-get install strace); the syscall count is skipped"
fi
have_time=0
if [ -x /usr/bin/time ]; then
	have_time=1
else
	note "/usr/bin/time is not installed (apt-get install time); peak RSS is skipped"
fi

# --- cleanup -----------------------------------------------------------------

load_at_start=$(cut -d' ' -f1 /proc/loadavg)
tmp=$(mktemp -d /tmp/kvmcg-bench.XXXXXX)
export KVMCG_STATE_DIR=$tmp/state
# A private copy, so that a rebuild during the run cannot change what is measured.
cp "$KVMCG" "$tmp/kvmcg"
KVMCG=$tmp/kvmcg
qemu_pids=()   # every QEMU started
vm_cgroups=()  # every VM cgroup directory kvmcg reported (absolute paths)
cg_parent=     # kvmcg's root cgroup, and whether it existed before we ran
cg_parent_existed=1

# ours PID: PID is still one of our QEMUs (its command line names our temp dir), not
# a process that got the pid after ours exited.
ours() {
	[ -n "$1" ] && tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$tmp/"
}

# stop_qemu PID: SIGTERM, then SIGKILL after 5 s; returns once it is gone.
stop_qemu() {
	ours "$1" || return 0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 50); do
		ours "$1" || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	for _ in $(seq 20); do
		ours "$1" || return 0
		sleep 0.1
	done
}

cleanup() {
	local rc=$? pid dir
	set +e
	for pid in "${qemu_pids[@]}"; do
		ours "$pid" && "$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
		stop_qemu "$pid"
	done
	# kvmcg unpin removes the VM's cgroups; these are left only if it could not run.
	for dir in "${vm_cgroups[@]}"; do
		[ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$dir" ] && echo "pin-bench: could not remove cgroup $dir" >&2
	done
	if [ -n "$cg_parent" ] && [ "$cg_parent_existed" = 0 ] && [ -d "$cg_parent" ]; then
		rmdir "$cg_parent" 2>/dev/null
	fi
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup

# --- QEMU --------------------------------------------------------------------

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
	note "/dev/kvm is not usable: QEMU runs under TCG (-accel tcg); figures are not comparable to KVM ones"
fi

# start_qemu N: starts a VM with N vCPUs; sets $pid. Not in $(...): it records the pid.
start_qemu() {
	local n=$1
	if ! qemu-system-x86_64 "${accel[@]}" -m 128 -smp "$n" -display none -nodefaults \
		-no-user-config -bios "$bios" -name guest="pinbench-$$-$n" \
		-qmp unix:"$tmp/bench-$n.qmp",server=on,wait=off \
		-pidfile "$tmp/bench-$n.pid" -daemonize 2>"$tmp/bench-$n.err"; then
		grep -v warning "$tmp/bench-$n.err" >&2 || true
		die "QEMU with $n vCPUs did not start"
	fi
	pid=$(cat "$tmp/bench-$n.pid")
	qemu_pids+=("$pid")
	# Wait until every vCPU sits in ioctl(KVM_RUN) (0xae80); TCG: give it a second.
	if [ "$accel_name" = kvm ]; then
		local c=0
		for _ in $(seq 100); do
			c=$(cat /proc/"$pid"/task/*/syscall 2>/dev/null | grep -c ' 0xae80 ' || true)
			[ "$c" -ge "$n" ] && break
			sleep 0.1
		done
		[ "$c" -ge "$n" ] || die "only $c of $n vCPUs of pid $pid reached KVM_RUN"
	else
		sleep 1
	fi
}

# --- timing ------------------------------------------------------------------

q() { printf '%q' "$1"; }
K=$(q "$KVMCG")

# bench LABEL SHELL(0|1) PREPARE COMMAND: WARMUP + RUNS runs of COMMAND, each after an
# untimed PREPARE; writes the times in seconds, one a line, to $tmp/times.LABEL.
# SHELL=1 runs COMMAND through sh (hyperfine subtracts the shell's own start-up).
bench() {
	local label=$1 shell=$2 prep=$3 cmd=$4 out=$tmp/times.$1
	if [ "$have_hyperfine" = 1 ]; then
		local opt=()
		[ "$shell" = 0 ] && opt=(-N)
		hyperfine "${opt[@]}" --style basic --warmup "$WARMUP" --runs "$RUNS" \
			--prepare "$prep" --command-name "$label" --export-json "$tmp/$label.json" \
			"$cmd" >"$tmp/$label.log" 2>&1 || {
			cat "$tmp/$label.log" >&2
			die "hyperfine failed on: $cmd"
		}
		jq -r '.results[0].times[]' "$tmp/$label.json" >"$out"
	else
		local i t0 t1
		: >"$out"
		for i in $(seq $((WARMUP + RUNS))); do
			eval "$prep" >/dev/null 2>&1 || die "failed: $prep"
			t0=$EPOCHREALTIME
			eval "$cmd" >/dev/null 2>&1 || die "failed: $cmd"
			t1=$EPOCHREALTIME
			[ "$i" -gt "$WARMUP" ] && echo "$t0 $t1" | awk '{ printf "%.9f\n", $2 - $1 }' >>"$out"
		done
	fi
}

# stats LABEL: "median min max" in ms.
stats() {
	sort -g "$tmp/times.$1" | awk '{ t[NR] = $1 * 1000 }
		END { m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
		      printf "%.1f %.1f %.1f\n", m, t[1], t[NR] }'
}
median() { stats "$1" | cut -d' ' -f1; }

# affinity_ok PID: every vCPU on $VCPU_CPU, every other thread on $EMU_CPU.
affinity_ok() {
	"$KVMCG" show --pid "$1" --json | jq -e --arg v "$VCPU_CPU" --arg e "$EMU_CPU" \
		'all(.threads[]; .affinity == (if .kind == "vcpu" then $v else $e end))' >/dev/null
}

# --- run -----------------------------------------------------------------------

declare -A threads
mode='' cgroup_mount=''
strace_n='' strace_sum='' strace_top='' rss_kb=

for n in $SIZES; do
	note "$n vCPUs: starting QEMU"
	start_qemu "$n"
	pin_cmd="$K pin --pid $pid --vcpu all:$VCPU_CPU --emulator $EMU_CPU"
	unpin_cmd="$K unpin --pid $pid"
	show_cmd="$K show --pid $pid --json"

	"$KVMCG" show --pid "$pid" --json >"$tmp/show-$n.json"
	jq -e --argjson n "$n" '.vcpus == $n and ([.threads[] | select(.kind == "vcpu")] | length) == $n' \
		"$tmp/show-$n.json" >/dev/null ||
		die "kvmcg show found $(jq -c '{discovery, vcpus, vcpus_unidentified}' "$tmp/show-$n.json") for $n vCPUs"
	threads[$n]=$(jq '.threads | length' "$tmp/show-$n.json")

	# Where kvmcg will put the VM, so the cleanup can find it whatever happens.
	"$KVMCG" pin --pid "$pid" --vcpu all:$VCPU_CPU --emulator $EMU_CPU --dry-run --json >"$tmp/dry-$n.json"
	cgroup_mount=$(jq -r .cgroup_mount "$tmp/dry-$n.json")
	vm_cgroups+=("$cgroup_mount$(jq -r .vm_cgroup "$tmp/dry-$n.json")")
	if [ -z "$cg_parent" ]; then
		cg_parent=$(dirname "${vm_cgroups[-1]}")
		[ -d "$cg_parent" ] || cg_parent_existed=0
	fi

	# The taskset loop: the same threads to the same CPUs, affinity only.
	jq -r --arg v "$VCPU_CPU" --arg e "$EMU_CPU" \
		'.threads[] | "\(if .kind == "vcpu" then $v else $e end) \(.tid)"' \
		"$tmp/show-$n.json" >"$tmp/plan-$n.txt"
	note "$n vCPUs: taskset loop over ${threads[$n]} threads"
	bench "taskset-$n" 1 "taskset -apc 0-$(($(nproc) - 1)) $pid" \
		"while read -r cpu tid; do taskset -pc \"\$cpu\" \"\$tid\"; done <$(q "$tmp/plan-$n.txt")"
	affinity_ok "$pid" || die "the taskset loop did not leave pid $pid pinned as planned"
	taskset -apc "0-$(($(nproc) - 1))" "$pid" >/dev/null

	note "$n vCPUs: kvmcg pin (first), pin (unchanged), show --json, unpin"
	printf '%s >/dev/null 2>&1\nsleep %s\n' "$unpin_cmd" "$PAUSE" >"$tmp/unpin-pause-$n.sh"
	printf '%s >/dev/null 2>&1\nsleep %s\n' "$pin_cmd" "$PAUSE" >"$tmp/pin-pause-$n.sh"
	bench "pin-$n" 0 "sh $(q "$tmp/unpin-pause-$n.sh")" "$pin_cmd"
	bench "pinnow-$n" 0 "$unpin_cmd" "$pin_cmd"
	affinity_ok "$pid" || die "kvmcg pin did not leave pid $pid pinned as asked"
	"$KVMCG" pin --pid "$pid" --vcpu all:$VCPU_CPU --emulator $EMU_CPU --json >"$tmp/again-$n.json"
	result=$(jq -r .result "$tmp/again-$n.json")
	[ "$result" = unchanged ] || die "a second identical kvmcg pin reported \"$result\", not \"unchanged\""
	mode=$(jq -r .mode "$tmp/again-$n.json")
	bench "repin-$n" 0 "$pin_cmd" "$pin_cmd"
	bench "show-$n" 0 "$pin_cmd" "$show_cmd"
	bench "unpin-$n" 0 "sh $(q "$tmp/pin-pause-$n.sh")" "$unpin_cmd"
	"$KVMCG" show --pid "$pid" --json | jq -e '.pinned == "no" or .pinned == false' >/dev/null ||
		die "kvmcg unpin left pid $pid pinned"

	if [ "$n" = "${SIZES##* }" ]; then
		if [ "$have_strace" = 1 ]; then
			note "$n vCPUs: counting syscalls of one first pin"
			strace -c -f -S calls -o "$tmp/strace.txt" "$KVMCG" pin --pid "$pid" \
				--vcpu all:$VCPU_CPU --emulator $EMU_CPU >/dev/null
			"$KVMCG" unpin --pid "$pid" >/dev/null
			# Rows: % seconds usecs/call calls [errors] syscall; sum them (strace's
			# own total line changed format across versions).
			awk '/^-/ { sep++; next } sep == 1 && NF >= 5 { print $4, (NF == 6 ? $5 : 0), $NF }' \
				"$tmp/strace.txt" >"$tmp/strace.rows"
			strace_sum=$(awk '{ c += $1; e += $2 } END { print c, e }' "$tmp/strace.rows")
			strace_n=$(wc -l <"$tmp/strace.rows")
			strace_top=$(head -8 "$tmp/strace.rows")
		fi
		if [ "$have_time" = 1 ]; then
			/usr/bin/time -v -o "$tmp/time.txt" "$KVMCG" pin --pid "$pid" \
				--vcpu all:$VCPU_CPU --emulator $EMU_CPU >/dev/null
			"$KVMCG" unpin --pid "$pid" >/dev/null
			rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt")
		fi
	fi
	# This VM is done: stop it now so the next, bigger one has the host to itself.
	stop_qemu "$pid"
done

# --- report --------------------------------------------------------------------

last=${SIZES##* }
{
	if [ -f "$OUT" ] && grep -qxF "$MARKER" "$OUT"; then
		awk -v m="$MARKER" '{ print } $0 == m { exit }' "$OUT"
	else
		printf '# Benchmarks\n\nHow to read these figures: tests/bench/README.md.\n\n%s\n' "$MARKER"
	fi
	echo
	echo "### Results"
	echo
	echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	echo "| Machine | |"
	echo "|---|---|"
	echo "| CPUs (\`nproc\`) | $(nproc) |"
	echo "| CPU model | $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) |"
	echo "| Kernel | Linux $(uname -r | sed "s/-.*//") |"
	echo "| Load average (1 min) at start / end | $load_at_start / $(cut -d' ' -f1 /proc/loadavg) |"
	echo "| cgroup mode of \`kvmcg pin\` (\`--json\` field \`mode\`) | $mode (cpuset at \`$cgroup_mount\`) |"
	echo "| QEMU accelerator | $accel_name |"
	echo "| QEMU | $(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //') |"
	rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$root" diff --quiet HEAD -- src 2>/dev/null || rev="$rev with local changes in src/"
	echo "| kvmcg | $("$KVMCG" --version 2>&1 | head -1 | sed "s/^kvmcg //"), tree $rev |"
	if [ "$have_hyperfine" = 1 ]; then
		echo "| Timer | $(hyperfine --version), $RUNS runs after $WARMUP warm-up runs |"
	else
		echo "| Timer | bash \`\$EPOCHREALTIME\` loop (hyperfine not installed), $RUNS runs after $WARMUP warm-up runs |"
	fi
	[ "$accel_name" = kvm ] || echo "| Note | /dev/kvm was not usable: QEMU ran under TCG |"
	echo
	if awk -v l="$load_at_start" -v n="$(nproc)" 'BEGIN { exit !(l >= n / 2) }'; then
		echo "**Run under load** (load average $load_at_start at the start): the times include waiting for a CPU."
		echo
	fi
	echo "#### Summary (median, ms)"
	echo
	echo "| vCPUs | threads | kvmcg pin (first) | kvmcg pin (unchanged) | kvmcg unpin | kvmcg show --json | taskset loop |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for n in $SIZES; do
		echo "| $n | ${threads[$n]} | $(median "pin-$n") | $(median "repin-$n") | $(median "unpin-$n") | $(median "show-$n") | $(median "taskset-$n") |"
	done
	for n in $SIZES; do
		echo
		echo "#### $n vCPUs (${threads[$n]} threads)"
		echo
		echo "| Command | median (ms) | min (ms) | max (ms) |"
		echo "|---|---:|---:|---:|"
		for row in "pin:kvmcg pin (first)" "pinnow:kvmcg pin (first, right after an unpin)" \
			"repin:kvmcg pin (unchanged)" "unpin:kvmcg unpin" \
			"show:kvmcg show --json" "taskset:taskset loop (affinity only)"; do
			read -r med min max < <(stats "${row%%:*}-$n")
			echo "| ${row#*:} | $med | $min | $max |"
		done
	done
	echo
	echo "#### Commands"
	echo
	echo "Each VM:"
	echo
	echo '```sh'
	echo "qemu-system-x86_64 ${accel[*]} -m 128 -smp \$N -display none -nodefaults -no-user-config \\"
	echo "    -bios halt.bin -name guest=pinbench-\$\$-\$N -qmp unix:bench-\$N.qmp,server=on,wait=off \\"
	echo "    -pidfile bench-\$N.pid -daemonize"
	echo '```'
	echo
	pin_doc="kvmcg pin --pid \$PID --vcpu all:$VCPU_CPU --emulator $EMU_CPU"
	echo "Each row times the command in its middle column; the last column runs, untimed,"
	echo "before each run. \`\$PID\` is the VM's pid; \`\$PLAN\` has one line \`CPU TID\` per"
	echo "thread (vCPUs $VCPU_CPU, every other thread $EMU_CPU), TIDs from \`kvmcg show --json\`."
	if [ "$have_hyperfine" = 1 ]; then
		echo "kvmcg runs without a shell (\`hyperfine -N\`); the taskset loop runs in \`sh\`,"
		echo "whose start-up hyperfine measures and subtracts."
	fi
	echo
	echo "| Row | Timed | Before each run |"
	echo "|---|---|---|"
	echo "| kvmcg pin (first) | \`$pin_doc\` | \`kvmcg unpin --pid \$PID; sleep $PAUSE\` |"
	echo "| kvmcg pin (first, right after an unpin) | \`$pin_doc\` | \`kvmcg unpin --pid \$PID\` |"
	echo "| kvmcg pin (unchanged) | \`$pin_doc\` | the same pin |"
	echo "| kvmcg unpin | \`kvmcg unpin --pid \$PID\` | \`$pin_doc; sleep $PAUSE\` |"
	echo "| kvmcg show --json | \`kvmcg show --pid \$PID --json\` | the same pin |"
	echo "| taskset loop | \`while read -r cpu tid; do taskset -pc \"\$cpu\" \"\$tid\"; done <\$PLAN\` | \`taskset -apc 0-$(($(nproc) - 1)) \$PID\` |"
	echo
	echo "#### One first pin of the $last-vCPU VM, in detail"
	echo
	if [ -n "$strace_sum" ]; then
		read -r calls errs <<<"$strace_sum"
		echo "\`strace -c -f -S calls kvmcg pin --pid \$PID --vcpu all:$VCPU_CPU --emulator $EMU_CPU\`:"
		echo "$calls system calls of $strace_n kinds, $errs of them failed. The most frequent:"
		echo
		echo "| syscall | calls | failed |"
		echo "|---|---:|---:|"
		while read -r c e s; do echo "| $s | $c | $e |"; done <<<"$strace_top"
	else
		echo "Syscall count skipped: strace is not installed."
	fi
	echo
	if [ -n "$rss_kb" ]; then
		echo "Peak RSS (\`/usr/bin/time -v\`, \"Maximum resident set size\"): $rss_kb KiB."
	else
		echo "Peak RSS skipped: /usr/bin/time is not installed (Debian package \`time\`)."
	fi
} >"$tmp/report.md"
mv "$tmp/report.md" "$OUT"
note "wrote $OUT"
sed -n '/^#### Summary/,/^#### [0-9]/p' "$OUT" | sed '$d'
