# shellcheck shell=bash
# Helpers for kvmcg's integration tests (bash). Each test script sources this file,
# reports one line per check, and ends with tl_done. The same scripts run on the
# host (hybrid or whatever cgroups it has, KVM when /dev/kvm works) and inside the
# test guest (pure cgroup v2, two NUMA nodes, TCG); KVMCG_TEST_ENV says which.
#
# Output is TAP (the Test Anything Protocol), read by prove(1) in
# tests/integration/run.sh:
#   ok N - <what>      not ok N - <what>      ok N - <what> # SKIP <why>
#   # <diagnostics>    1..N (the plan, printed last by tl_done)
# A script that dies before tl_done prints no plan, and the harness counts it failed.

set -u

TL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KVMCG_BUILD_DIR=${KVMCG_BUILD_DIR:-$TL_ROOT/build}
KVMCG=${KVMCG:-$KVMCG_BUILD_DIR/kvmcg}
# The same program with the executor's fault hooks (KVMCG_TEST_FAIL_AT...): only
# this one reads them.
KVMCG_TEST=${KVMCG_TEST:-$KVMCG_BUILD_DIR/kvmcg-test}
KVMCG_TEST_ENV=${KVMCG_TEST_ENV:-host}
TL_TMP=$(mktemp -d /tmp/kvmcg-test.XXXXXX)
TL_FAILED=0
# The number of the last check and how many failed: files, so that a check made in a
# subshell is numbered and counted too.
TL_COUNTFILE=$TL_TMP/checks
echo "0 0" >"$TL_COUNTFILE"
# Pids to kill at exit. A file, not an array: tl_qemu runs inside $(...).
TL_PIDFILE=$TL_TMP/cleanup.pids
: >"$TL_PIDFILE"

tl_register_pid() { echo "$1" >>"$TL_PIDFILE"; }

# The kernel under test. Where a check's expectation depends on it, the script says
# which kernel it expects and why (tl_kernel_expect, one "#" line) and branches on
# tl_kernel_at_least; the test guest runs Linux 6.1 and 6.12 (tests/guest/README.md).
TL_KERNEL=$(uname -r)
# tl_kernel_at_least MAJOR.MINOR: true when the running kernel is that one or newer.
tl_kernel_at_least() {
	local have=${TL_KERNEL%%[!0-9.]*} hmaj hmin wmaj=${1%%.*} wmin=${1#*.}
	hmaj=${have%%.*} hmin=${have#*.}
	hmin=${hmin%%.*}
	((hmaj > wmaj || (hmaj == wmaj && hmin >= wmin)))
}
# tl_kernel_expect WHAT: "# kernel VERSION: WHAT", the expectation this run checks.
tl_kernel_expect() { echo "# kernel $TL_KERNEL: $*"; }
# tl_affinity_kept: true when a cpuset.cpus change or a cgroup move keeps a thread's
# sched_setaffinity mask (intersected with the cpuset, and given back when the cpuset
# grows again): Linux 6.2 and later, commits 8f9ea86fdf99 and da019032819a. Linux 6.1
# resets the mask to the cpuset's CPUs (the reason kvmcg sets affinity last).
tl_affinity_kept() { tl_kernel_at_least 6.2; }

# Commands run at exit after every registered process is gone (cgroups can only be
# removed once empty), newest first. A file, like the pids.
TL_EXITFILE=$TL_TMP/cleanup.cmds
: >"$TL_EXITFILE"
tl_on_exit() { printf '%s\n' "$1" >>"$TL_EXITFILE"; }

# tl_rmcg DIR: removes a cgroup and everything below it, deepest first (cgroupfs has
# no recursive rmdir), after waiting a moment for exiting tasks to leave.
tl_rmcg() {
	[ -d "$1" ] || return 0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null
		[ -d "$1" ] || return 0
		sleep 0.1
	done
	echo "# could not remove cgroup $1" >&2
}

tl_cleanup() {
	local pid pids
	mapfile -t pids <"$TL_PIDFILE"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	# VMs killed while pinned: kvmcg's own collection (list) removes their cgroups
	# and what kvmcg made for all VMs (kvmcg/ at the top), as it would on a host
	if [ -n "${KVMCG_STATE_DIR:-}" ] && [ -d "$KVMCG_STATE_DIR" ] && [ -n "${KVMCG:-}" ]; then
		case $KVMCG_STATE_DIR in "$TL_TMP"/*) "$KVMCG" list >/dev/null 2>&1 ;; esac
	fi
	local cmds
	mapfile -t cmds <"$TL_EXITFILE"
	for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do
		eval "${cmds[i]}"
	done
	local left
	left=$(tl_left_behind)
	rm -rf "$TL_TMP"
	if [ -n "$left" ]; then
		# after the plan: no TAP line, but the script's status says it
		echo "# processes the script left behind (killed now): $left"
		exit 1
	fi
}

# tl_left_behind: the processes (pid and command line) still running that name the
# script's own directory on their command line, after its cleanup: a daemon started
# through a shell function run with & (whose $! is the subshell's, not the
# daemon's), say. They get 2 s to go, then are killed. Read with builtins only.
tl_left_behind() {
	local p args left=() try
	for try in 1 2 3 4 5 6 7 8 9 10 11; do
		left=()
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
			mapfile -d '' -t args <"/proc/$p/cmdline" 2>/dev/null || continue
			[[ " ${args[*]} " == *"$TL_TMP"* ]] && left+=("$p (${args[*]:0:4})")
		done
		[ ${#left[@]} -eq 0 ] && return 0
		[ "$try" -lt 11 ] && sleep 0.2
	done
	for p in "${left[@]}"; do kill -KILL "${p%% *}" 2>/dev/null; done
	echo "${left[*]}"
}
trap tl_cleanup EXIT
trap 'exit 130' INT TERM

# tl_result RESULT FAILED DESCRIPTION [DIRECTIVE]: one numbered TAP line. A "#" in
# the description is escaped (TAP reads "# SKIP" there as a directive), and the line
# stays one line.
tl_result() {
	local n f desc=${3//$'\n'/ }
	read -r n f <"$TL_COUNTFILE"
	n=$((n + 1)) f=$((f + $2))
	echo "$n $f" >"$TL_COUNTFILE"
	desc=${desc//\#/\\#}
	echo "$1 $n - $desc${4:+ # $4}"
}
tl_ok() { tl_result ok 0 "$*"; }
tl_fail() {
	tl_result "not ok" 1 "$*"
	TL_FAILED=1
}
# tl_skip WHAT WHY: a check that does not run here, and why.
tl_skip() { tl_result ok 0 "$1" "SKIP ${2//$'\n'/ }"; }

# tl_check DESCRIPTION COMMAND...: ok when the command succeeds; status 1 when it
# does not, for a caller's diagnostics.
tl_check() {
	local desc=$1
	shift
	if "$@" >"$TL_TMP/check.out" 2>&1; then
		tl_ok "$desc"
	else
		tl_fail "$desc"
		sed 's/^/#   /' "$TL_TMP/check.out" | head -20
		return 1
	fi
}

# tl_eq DESCRIPTION ACTUAL EXPECTED: status 1 when they differ, for a caller's diagnostics.
tl_eq() {
	if [ "$2" = "$3" ]; then
		tl_ok "$1"
	else
		tl_fail "$1"
		echo "#   expected: $3"
		echo "#   actual:   $2"
		return 1
	fi
}

# tl_done: the plan line, then the exit status (1 when a check failed).
tl_done() {
	local n f
	read -r n f <"$TL_COUNTFILE"
	echo "1..$n"
	[ "$f" -eq 0 ] && [ "$TL_FAILED" -eq 0 ]
	exit $?
}

# The test guest (TCG, slow) runs what depends on cgroup v2 or on its kernel; checks
# that are the same on any cgroup mode run on the host only, and say so:
#   tl_host_only REASON          at the top of such a script
#   tl_guest_skips WHAT REASON   true (after a visible skip) in the guest
tl_host_only() {
	if [ "$KVMCG_TEST_ENV" = guest ]; then
		tl_skip "$(basename "$0" .sh)" "on the host only: $1"
		tl_done
	fi
}
tl_guest_skips() {
	[ "$KVMCG_TEST_ENV" = guest ] || return 1
	tl_skip "$1" "on the host only: $2"
}

# tl_need_tools WHAT TOOL...: the script's checks, skipped visibly, when a tool is missing.
tl_need_tools() {
	local what=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			tl_skip "$what" "$tool is not installed"
			tl_done
		}
	done
}

tl_have_kvm() {
	[ "$KVMCG_TEST_ENV" != guest ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# tl_netns WHAT NAME...: network namespaces of the test's own, each with its loopback
# up, deleted on exit; where one cannot be made, WHAT is one visible skip and the
# script ends.
tl_netns() {
	local what=$1 ns
	shift
	for ns in "$@"; do
		if ! ip netns add "$ns" 2>"$TL_TMP/netns.err"; then
			tl_skip "$what" "cannot make a network namespace: $(cat "$TL_TMP/netns.err")"
			tl_done
		fi
		tl_on_exit "ip netns del $ns 2>/dev/null"
		ip -n "$ns" link set lo up
	done
}

# A 64 KiB BIOS that disables interrupts and halts: every vCPU then blocks in the
# kernel (KVM_RUN) or idles (TCG) instead of spinning in SeaBIOS, so tests burn no
# CPU and the kvm-fd heuristic can see every vCPU.
tl_halt_bios() {
	local f=$TL_TMP/halt.bin
	if [ ! -f "$f" ]; then
		head -c 65520 /dev/zero >"$f"
		# reset vector at 0xFFFF0: cli; hlt; jmp back to hlt
		printf '\xfa\xf4\xeb\xfd' >>"$f"
		head -c 12 /dev/zero >>"$f"
	fi
	echo "$f"
}

# tl_qemu NAME ARGS...: starts a QEMU that daemonizes, with its pidfile at
# $TL_TMP/NAME.pid, registered for cleanup. Prints the pid.
tl_qemu() {
	local name=$1
	shift
	local accel=(-accel tcg)
	# TL_QEMU_ACCEL=tcg forces TCG even where KVM works (a path that needs it).
	[ "${TL_QEMU_ACCEL:-}" != tcg ] && tl_have_kvm && accel=(-accel kvm -cpu qemu64)
	local pidfile=$TL_TMP/$name.pid
	if ! qemu-system-x86_64 "${accel[@]}" -m 64 -display none -nodefaults -no-user-config \
		-bios "$(tl_halt_bios)" -pidfile "$pidfile" -daemonize "$@" \
		2>"$TL_TMP/$name.err"; then
		echo "# qemu $name failed to start: $(tail -1 "$TL_TMP/$name.err")" >&2
		return 1
	fi
	local pid
	pid=$(cat "$pidfile")
	tl_register_pid "$pid"
	echo "$pid"
}

# tl_settle PID N: waits (up to 10 s) until N threads of PID sit in ioctl(KVM_RUN),
# or under TCG until N vCPU threads ("CPU K/TCG", or the one "ALL CPUs/TCG" of
# single-threaded TCG) exist and sleep (the halt BIOS has run: qemu_wait_io_event);
# without debug-threads, until more than N threads exist and all sleep. Then
# discovery sees a settled VM. 0, or 1 when it did not settle in 10 s.
tl_settle() {
	local pid=$1 n=$2
	if ! tl_have_kvm; then
		for _ in $(seq 500); do
			grep -H '' /proc/"$pid"/task/*/comm /proc/"$pid"/task/*/stat 2>/dev/null | awk -v n="$n" '
				{ i = index($0, ":"); split(substr($0, 1, i - 1), f, "/"); line = substr($0, i + 1) }
				f[6] == "comm" && line ~ /^(CPU [0-9]+|ALL CPUs)\/TCG$/ { vcpu[f[5]] = 1; if (line ~ /^ALL/) all = 1 }
				f[6] == "stat" { sub(/.*\) /, "", line); state[f[5]] = substr(line, 1, 1) }
				END { for (t in vcpu) { c++; if (state[t] != "S") exit 1 }
				      if (c) exit !(c >= n || (all && c == 1))
				      # unnamed (no debug-threads): more threads than vCPUs, all asleep
				      for (t in state) { k++; if (state[t] != "S") exit 1 }
				      exit !(k > n) }' && return 0
			sleep 0.02
		done
		return 1
	fi
	for _ in $(seq 100); do
		local c
		c=$(cat /proc/"$pid"/task/*/syscall 2>/dev/null | grep -c ' 0xae80 ')
		[ "$c" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# tl_qmp SOCKET COMMAND: runs one QMP command with socat, prints the return value
# as compact JSON. Independent of kvmcg's own QMP client.
tl_qmp() {
	printf '{"execute":"qmp_capabilities"}\n{"execute":"%s","id":"t"}\n' "$2" |
		socat -t 2 - UNIX-CONNECT:"$1" | jq -c 'select(.id == "t") | .return'
}

# QEMU's own vCPUs, independent of kvmcg: "index tid" lines, sorted.
#   tl_qmp_vcpus SOCKET   from QMP query-cpus-fast
#   tl_named_vcpus PID    from the thread names debug-threads=on gives ("CPU 1/KVM",
#                         "CPU 1/TCG"), read from /proc
tl_qmp_vcpus() {
	tl_qmp "$1" query-cpus-fast | jq -r '.[] | "\(.["cpu-index"]) \(.["thread-id"])"' | sort -n
}
tl_named_vcpus() {
	local t comm n
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t"/comm 2>/dev/null) || continue
		case $comm in
		"CPU "*/KVM | "CPU "*/TCG)
			n=${comm#CPU }
			echo "${n%%/*} ${t##*/}"
			;;
		esac
	done | sort -n
}

# tl_hmp SOCKET COMMAND: runs one human-monitor command, prints its output.
tl_hmp() {
	(
		printf '%s\n' "$2"
		sleep 0.5
	) | socat -t 2 - UNIX-CONNECT:"$1" | tr -d '\r'
}

# tl_cpulist_expand LIST: "0-2,5" -> "0 1 2 5", to compare lists written differently.
tl_cpulist_expand() {
	awk -v l="$1" 'BEGIN { n = split(l, p, ","); out = ""
		for (i = 1; i <= n; i++) { split(p[i], r, "-"); if (r[2] == "") r[2] = r[1]
			for (c = r[1]; c <= r[2]; c++) out = out (out == "" ? "" : " ") c }
		print out }'
}

# "vcpu-index tid" pairs, sorted, from kvmcg's JSON on stdin.
tl_json_vcpus() {
	jq -r '.threads[] | select(.kind == "vcpu") | "\(.index) \(.tid)"' | sort -n
}

# tl_detect_cgroups: sets mode (v2, v1 or affinity), mount and ncpu from what the
# kernel offers, found without kvmcg.
tl_detect_cgroups() {
	mode=affinity mount=
	local v2 v1
	v2=$(awk '$3 == "cgroup2" { print $2 }' /proc/mounts | while read -r m; do
		grep -qw cpuset "$m/cgroup.controllers" 2>/dev/null && echo "$m" && break
	done)
	v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/mounts)
	if [ -n "$v2" ]; then
		mode=v2 mount=$v2
	elif [ -n "$v1" ]; then
		mode=v1 mount=$v1
	fi
	ncpu=$(nproc)
}

# tl_v1_mount CTRL: the mount point of the v1 hierarchy that carries controller CTRL
# ("cpu", also when combined as cpu,cpuacct; "blkio"); empty when none does.
tl_v1_mount() { awk -v c="$1" '$3 == "cgroup" && $4 ~ "(^|,)" c "(,|$)" { print $2; exit }' /proc/mounts; }
# tl_v1_tree CTRL: for the tests of a VM's v1 tree of CTRL: tl_detect_cgroups, then
# v1_mount, that hierarchy's mount point, and v1_top_before ("there" or "absent": its
# kvmcg/ before the test); a visible skip, and the script's end, where cpuset is not
# on v1 or no v1 hierarchy carries CTRL (the pure-v2 test guest).
tl_v1_tree() {
	tl_detect_cgroups
	v1_mount=$(tl_v1_mount "$1")
	if [ "$mode" != v1 ] || [ -z "$v1_mount" ]; then
		tl_skip "v1 $1" "no v1 hierarchy carries the $1 controller here (cpuset: $mode)"
		tl_done
	fi
	echo "# v1 $1 hierarchy at $v1_mount; cpuset at $mount; $ncpu CPUs"
	v1_top_before=$([ -d "$v1_mount/kvmcg" ] && echo there || echo absent)
}
# tl_v1_snapshot CTRL PID: each thread of PID's cgroup in the v1 hierarchy of CTRL,
# "tid path" lines: what an undo must put back.
tl_v1_snapshot() {
	grep -H '' /proc/"$2"/task/*/cgroup 2>/dev/null |
		awk -F: -v c="$1" '$3 ~ "(^|,)" c "(,|$)" { split($1, f, "/"); print f[5], $4 }' | sort -n
}
# tl_v1_fail_each CTRL PID N DIR ARGS...: runs "$KVMCG_TEST ARGS" failing at each of its
# actions 1..N (KVMCG_TEST_FAIL_AT); prints how many runs did not exit 1 with every
# thread of PID in its cgroups of CTRL's v1 hierarchy and the cpuset one, CPUs and
# class as before, DIR absent and no record of PID (each said on stderr).
tl_v1_fail_each() {
	local ctrl=$1 pid=$2 n=$3 dir=$4 at rc bad=0 v1_before before
	shift 4
	v1_before=$(tl_v1_snapshot "$ctrl" "$pid") before=$(snapshot "$pid")
	for ((at = 1; at <= n; at++)); do
		KVMCG_TEST_FAIL_AT=$at "$KVMCG_TEST" "$@" >/dev/null 2>"$TL_TMP/err"
		rc=$?
		if [ "$rc" -ne 1 ] || [ "$(tl_v1_snapshot "$ctrl" "$pid")" != "$v1_before" ] ||
			[ "$(snapshot "$pid")" != "$before" ] || [ -e "$dir" ] ||
			compgen -G "$KVMCG_STATE_DIR/$pid-*" >/dev/null; then
			echo "#   failure at action $at: exit $rc; $(cat "$TL_TMP/err")" >&2
			bad=$((bad + 1))
		fi
	done
	echo "$bad"
}
# tl_v1_not_in CTRL PID DIR: how many tasks of PID are not in the cgroup DIR (relative)
# of CTRL's v1 hierarchy.
tl_v1_not_in() { tl_v1_snapshot "$1" "$2" | awk -v d="/$3" '$2 != d' | wc -l; }

# The cgroup of a thread in the hierarchy kvmcg uses, as /proc shows it.
thread_cgroup() { # pid tid
	if [ "$mode" = v2 ]; then
		sed -n 's/^0:://p' /proc/"$1"/task/"$2"/cgroup
	else
		awk -F: '$2 ~ /(^|,)cpuset(,|$)/ { print $3 }' /proc/"$1"/task/"$2"/cgroup
	fi
}
allowed() { # pid tid
	tl_cpulist_expand "$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/"$1"/task/"$2"/status)"
}
# The scheduling class of a thread as the kernel reports it (policy and rt_priority,
# fields 41 and 40 of /proc/PID/task/TID/stat): other/0, fifo/3, rr/2, batch/0...
sched_of() { # pid tid
	local s
	s=$(cat /proc/"$1"/task/"$2"/stat 2>/dev/null) || return 0
	# shellcheck disable=SC2086 # split into fields on purpose; the first is field 3
	set -- ${s##*) }
	local names=(other fifo rr batch 4 idle deadline)
	echo "${names[${39}]:-${39}}/${38}"
}
# What a pin may change and an unpin or a rollback must put back, read from the
# kernel: "tid cgroup cpus class" for every thread (snapshot_threads), then
# "subtree_control CGROUP: VALUE" for each cgroup those threads are in and every
# cgroup above it (cgroup v2; a v1 hierarchy has no such file). The root's is shared
# with every other VM kvmcg pins (what kvmcg enabled there stays while a VM needs it):
# a test that pins more than one VM compares threads alone, or unpins them all first.
# One grep and one awk for all threads (the same fields as thread_cgroup, allowed
# and sched_of give one thread at a time): a fork costs tens of milliseconds in the
# TCG test guest, and the rollback checks take a snapshot per action. A thread
# that exits while it is read keeps the fields read before it went.
snapshot_threads() {
	local pid=$1
	grep -H '' /proc/"$pid"/task/*/cgroup /proc/"$pid"/task/*/status /proc/"$pid"/task/*/stat 2>/dev/null |
		awk -v mode="${mode:-}" '
		function expand(l,   p, n, i, r, c, out) {
			n = split(l, p, ","); out = ""
			for (i = 1; i <= n; i++) { split(p[i], r, "-"); if (r[2] == "") r[2] = r[1]
				for (c = r[1] + 0; c <= r[2] + 0; c++) out = out (out == "" ? "" : ",") c }
			return out
		}
		BEGIN { split("other fifo rr batch 4 idle deadline", names, " ") }
		{
			i = index($0, ":"); n = split(substr($0, 1, i - 1), f, "/"); line = substr($0, i + 1)
			tid = f[5]; kind = f[6]; seen[tid] = 1
			if (kind == "cgroup") {
				if (mode == "v2") { if (substr(line, 1, 3) == "0::") cg[tid] = substr(line, 4) }
				else { split(line, c, ":"); if (c[2] ~ /(^|,)cpuset(,|$)/) cg[tid] = substr(line, length(c[1]) + length(c[2]) + 3) }
			} else if (kind == "status" && line ~ /^Cpus_allowed_list:/) {
				split(line, c, /[ \t]+/); cpus[tid] = expand(c[2])
			} else if (kind == "stat") {
				sub(/.*\) /, "", line); split(line, x, " ")
				cls[tid] = ((x[39] + 1) in names ? names[x[39] + 1] : x[39]) "/" x[38]
			}
		}
		END { for (t in seen) print t, cg[t], cpus[t], cls[t] }' | sort -n
}
snapshot() {
	local pid=$1 cg d threads
	threads=$(snapshot_threads "$pid")
	echo "$threads"
	[ -n "${mount:-}" ] || return 0
	awk '$2 != "" { print $2 }' <<<"$threads" | sort -u | while read -r cg; do
		d=$cg
		while [ -n "$d" ]; do
			echo "$d"
			[ "$d" = / ] && break
			# only a path walks up: a thread that reads as "-" (gone) has no parents
			case $d in /*) ;; *) break ;; esac
			d=${d%/*}
			d=${d:-/}
		done
	done | sort -u | while read -r d; do
		[ -f "${mount%/}${d%/}/cgroup.subtree_control" ] &&
			echo "subtree_control $d: $(cat "${mount%/}${d%/}/cgroup.subtree_control")"
	done
}

# tl_cgroups_only CHECK DESCRIPTION ARGS...: runs a check about kvmcg's cgroups (CHECK
# is tl_eq, tl_check...), or, in affinity mode, where kvmcg makes no cgroups, says it
# was skipped and why. Needs tl_detect_cgroups.
tl_cgroups_only() {
	if [ "$mode" = affinity ]; then
		tl_skip "$2" "affinity mode (no usable cpuset controller): kvmcg makes no cgroups"
	else
		"$@"
	fi
}

