#!/bin/bash
# Every test suite of kvmcg, in order, each reported as it runs:
#   1. unit tests (Criterion), plain and under ASan+UBSan
#   2. the layering lints and a short libFuzzer pass of every fuzz target
#   3. integration tests on this host (real QEMU, real /proc, cgroupfs)
#   4. the same integration tests under ASan+UBSan, with KVMCG_CHECK_SANITIZE=1
#      (CI; make check-sanitize)
#   5. integration tests inside the test guest (pure cgroup v2, 2 NUMA nodes): those
#      that depend on the kernel on Linux 6.12, then kvmcg watch as a service under
#      systemd as PID 1 on Linux 6.1, both beside 2-4 (their output is printed when
#      they end), then every script on Linux 6.1
# The last line sums them up: "N passed, N failed, N skipped".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
build=${KVMCG_BUILD_DIR:-$root/build}
asan=$root/build/asan
total_p=0 total_f=0 total_s=0
failed_suites=()
# Each failed check, named with its suite (and script), repeated just above the last
# line: CI may keep only the end of this output, and the end then says what failed.
failed_checks=()

add() { # suite passed failed skipped
	total_p=$((total_p + $2)) total_f=$((total_f + $3)) total_s=$((total_s + $4))
	[ "$3" -gt 0 ] && failed_suites+=("$1")
	echo "## $1: $2 passed, $3 failed, $4 skipped"
}

# Criterion's results as TAP (--tap=FILE): "ok - suite::test", "not ok - suite::test"
# (a failed assertion, a timeout, or "unexpected signal" for a crash), "ok - ... #
# SKIP why". Every "not ok" is a failure, crashes included, and so is each test the
# plan ("1..N") promised that never reported (the runner itself died).
run_unit() { # label binary
	echo "## $1"
	local tap rc
	tap=$(mktemp)
	"$2" --jobs 2 --tap="$tap" 2>&1
	rc=$?
	local out
	out=$(awk '
		/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; has_plan = 1; next }
		/^not ok( |$)/ { f++; if (/ unexpected signal /) c++; print; next }
		/^ok( |$)/ { if (toupper($0) ~ /#[ \t]*SKIP/) s++; else p++; next }
		END {
			seen = p + f + s
			if (!has_plan) { print "not ok - no TAP plan: the tests did not run"; f++ }
			else if (seen < plan) {
				printf "not ok - %d of the %d planned tests never reported (the runner died)\n", plan - seen, plan
				f += plan - seen
			}
			if (c) printf "# %d of the failures are crashes\n", c
			printf "%d %d %d\n", p, f, s
		}' "$tap")
	rm -f "$tap"
	local counts=${out##*$'\n'} p f s
	[ "$counts" = "$out" ] || printf '%s\n' "${out%$'\n'*}"
	read -r p f s <<<"$counts"
	local line
	while IFS= read -r line; do
		failed_checks+=("$1: $line")
	done < <(grep '^not ok' <<<"$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $1: exit status $rc, yet no test failed"
		failed_checks+=("$1: exit status $rc, yet no test failed")
		f=1
	fi
	add "$1" "$p" "$f" "$s"
}

# The counts of a suite from its output (the last "N passed, N failed, N skipped"
# line) and its exit status.
suite_result() { # label log rc
	local label=$1 log=$2 rc=$3 line p f s
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
	s=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<<"$line")
	if [ -z "$p" ]; then
		echo "not ok - $label: ended without a summary line (exit $rc)"
		failed_checks+=("$label: ended without a summary line (exit $rc)")
		add "$label" 0 1 0
		return
	fi
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	note_failed_checks "$label" "$log" "$f"
	add "$label" "$p" "$f" "${s:-0}"
}

# The failed checks of a suite's log: the integration runner's "# failed in t-X: not
# ok ..." lines where it printed them, else every "not ok" line; a suite that failed
# with none of either is named as a whole.
note_failed_checks() { # label log failed
	local line n=0
	while IFS= read -r line; do
		failed_checks+=("$1: ${line#\# failed in }")
		n=$((n + 1))
	done < <(if grep -q '^# failed in ' "$2"; then grep '^# failed in ' "$2"; else grep '^not ok' "$2"; fi)
	[ "$3" -gt 0 ] && [ "$n" -eq 0 ] && failed_checks+=("$1: failed with no \"not ok\" line (its output above)")
}

run_suite() { # label command...
	local label=$1
	shift
	echo "## $label"
	local log
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	suite_result "$label" "$log" "$rc"
	rm -f "$log"
}

# A suite that runs beside the others: the 6.12 test guest. Its QEMU runs every
# vCPU on one TCG thread (tests/guest/run.sh says why), so it keeps one host CPU
# busy while the host's suites mostly wait on QEMU and the kernel. Its output is
# kept and printed whole once it has ended (bg_finish); the host's streams as it
# comes. The 6.1 guest (one host thread per vCPU) runs alone afterwards: with
# another guest beside it, both starved on 2 CPUs.
bg_labels=() bg_logs=() bg_pids=()
bg_start() { # label command...
	local log
	log=$(mktemp)
	"${@:2}" >"$log" 2>&1 </dev/null &
	bg_pids+=($!) bg_labels+=("$1") bg_logs+=("$log")
	echo "## $1: started, its output follows when it ends"
}
# bg_then label command...: as bg_start, once the previous background suite has
# ended (one guest at a time).
bg_then() {
	local log prev=${bg_pids[-1]:-}
	log=$(mktemp)
	(
		while [ -n "$prev" ] && kill -0 "$prev" 2>/dev/null; do sleep 1; done
		exec "${@:2}"
	) >"$log" 2>&1 </dev/null &
	bg_pids+=($!) bg_labels+=("$1") bg_logs+=("$log")
	echo "## $1: starts after the one before, its output follows when it ends"
}
bg_finish() {
	local i rc
	for i in "${!bg_pids[@]}"; do
		wait "${bg_pids[$i]}"
		rc=$?
		echo "## ${bg_labels[$i]}"
		cat -- "${bg_logs[$i]}"
		suite_result "${bg_labels[$i]}" "${bg_logs[$i]}" "$rc"
		rm -f -- "${bg_logs[$i]}"
	done
	bg_pids=()
}
# Interrupted: the guests go too (tests/guest/run.sh kills its QEMU on TERM).
trap '[ ${#bg_pids[@]} -gt 0 ] && kill "${bg_pids[@]}" 2>/dev/null; wait; exit 130' INT TERM

run_unit "unit tests" "$build/unit-tests"
# On 6.12 (Debian 13's kernel, fetched into the build dir; a visible skip when it
# cannot be) only the scripts whose checks depend on the kernel: the whole suite
# twice would not fit in half an hour on 2 CPUs. `make check-guest-6.12` runs all.
# tests/guest/README.md says why each is here. It starts as soon as the plain build
# is tested, and runs beside the sanitizer build, the lints, fuzzing and the host
# suites.
guest_612=(t-kernel t-pin t-refusals t-mempolicy t-numastat t-topology t-numa-balancing t-run t-proc-events)
guests=1
if [ "${KVMCG_SKIP_GUEST:-0}" = 1 ]; then
	echo "ok - test guest # SKIP KVMCG_SKIP_GUEST=1"
	add "test guest" 0 0 1
	guests=0
else
	bg_start "test guest, Linux 6.12: the kernel-dependent scripts (${guest_612[*]})" \
		env KVMCG_BUILD_DIR="$build" KVMCG_GUEST_KERNEL=6.12 \
		KVMCG_GUEST_CMD="bash tests/integration/run.sh $(printf 'tests/integration/%s.sh ' "${guest_612[@]}")" \
		tests/guest/run.sh
	# Then the service under a real systemd as PID 1 (Debian 12's kernel and systemd):
	# the unit as installed, hardening and all (tests/integration/t-systemd.sh).
	bg_then "test guest, Linux 6.1, systemd as PID 1: kvmcg watch as a service (t-systemd)" \
		env KVMCG_BUILD_DIR="$build" KVMCG_GUEST_KERNEL=6.1 KVMCG_GUEST_INIT=systemd \
		KVMCG_GUEST_CMD="bash tests/integration/run.sh tests/integration/t-systemd.sh" \
		tests/guest/run.sh
fi
if make --no-print-directory -s SANITIZE=1 all build/asan/kvmcg-test build/asan/unit-tests build/asan/mini-vmm build/asan/procev-probe build/asan/blockdev-probe build/asan/rtnl-probe >/dev/null; then
	run_unit "unit tests (ASan+UBSan)" "$asan/unit-tests"
else
	echo "not ok - the sanitizer build failed"
	failed_checks+=("sanitizer build: failed")
	add "sanitizer build" 0 1 0
fi
# The layering of src/ and the length of its functions (tests/lint/).
run_lint() {
	local label=$1 script=$2
	echo "## $label"
	local out rc p f
	out=$("$script" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(grep -c '^ok ' <<<"$out")
	f=$(grep -c '^not ok ' <<<"$out")
	local line
	while IFS= read -r line; do
		failed_checks+=("$label: $line")
	done < <(grep '^not ok ' <<<"$out")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	add "$label" "$p" "$f" 0
}
run_lint "lint: layers" tests/lint/layers.sh
run_lint "lint: function length" tests/lint/long-functions.sh
# A short libFuzzer pass of each target (make fuzz runs longer): its last line is
# "N passed, N failed, 0 skipped", one per target.
fuzz_seconds=${FUZZ_CHECK_SECONDS:-10}
run_suite "fuzz (every target, $fuzz_seconds s each)" \
	make --no-print-directory -s check-fuzz FUZZ_CHECK_SECONDS="$fuzz_seconds"
KVMCG_BUILD_DIR=$build run_suite "host integration" tests/integration/run.sh
# The host suite again with the ASan+UBSan build: in CI (.ci/run sets
# KVMCG_CHECK_SANITIZE=1) and in `make check-sanitize`; left out of a plain
# `make check` to keep it within half an hour (the unit tests run under ASan above).
if [ "${KVMCG_CHECK_SANITIZE:-0}" = 1 ] && [ -x "$asan/kvmcg" ]; then
	run_suite "host integration (ASan+UBSan)" make --no-print-directory -s check-sanitize
elif [ "${KVMCG_CHECK_SANITIZE:-0}" != 1 ]; then
	echo "# host integration under ASan+UBSan: not in a plain make check (make check-sanitize; CI runs it)"
fi
bg_finish
if [ "$guests" = 1 ]; then
	KVMCG_BUILD_DIR=$build KVMCG_GUEST_KERNEL=6.1 KVMCG_GUEST_CMD="bash tests/integration/run.sh" \
		run_suite "test guest, Linux 6.1: every script (cgroup v2, 2 NUMA nodes)" tests/guest/run.sh
fi

echo
[ ${#failed_suites[@]} -gt 0 ] && echo "## failed: ${failed_suites[*]}"
# At most 15 lines of 200 characters: enough to say what failed within the end of a
# log that is all CI may keep.
for i in "${!failed_checks[@]}"; do
	if [ "$i" -ge 15 ]; then
		echo "##   ... and $((${#failed_checks[@]} - 15)) more failed checks (above)"
		break
	fi
	echo "##   ${failed_checks[$i]:0:200}"
done
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
