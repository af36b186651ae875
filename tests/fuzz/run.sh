#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs libFuzzer targets one after another for a bounded time each (make fuzz,
# make check-fuzz; tests/fuzz/README.md):
#
#   tests/fuzz/run.sh [-q] SECONDS NAME:MAX_LEN...
#
# For each NAME, build/fuzz/fuzz-NAME runs for SECONDS on build/fuzz/corpus-NAME (the
# seeds of tests/fuzz/corpus-NAME copied there first; what earlier runs found stays),
# with tests/fuzz/NAME.dict when there is one. Its output goes to build/fuzz/NAME.log
# and, without -q, to the terminal as well; with -q only a failure's report is shown.
# Then one line per target:
#
#   fuzz-NAME: Done N runs in S second(s); K UBSan report(s); exit status R (log: ...)
#
# and last "P passed, F failed, 0 skipped" (a target passes when libFuzzer exits 0).
# The exit status is 1 when any target failed. UBSAN_OPTIONS comes from
# FUZZ_UBSAN_OPTIONS; FUZZ_DIR (build/fuzz) and FUZZ_SRC (tests/fuzz) set the places.
set -u
quiet=0
if [ "${1:-}" = -q ]; then
	quiet=1
	shift
fi
[ $# -ge 2 ] || { echo "usage: $0 [-q] SECONDS NAME:MAX_LEN..." >&2; exit 2; }
seconds=$1
shift
dir=${FUZZ_DIR:-build/fuzz}
src=${FUZZ_SRC:-tests/fuzz}
ubsan=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}

passed=0 failed=0
summaries=()
for spec in "$@"; do
	name=${spec%%:*}
	max_len=${spec#*:}
	bin=$dir/fuzz-$name
	corpus=$dir/corpus-$name
	artifacts=$dir/artifacts/$name
	log=$dir/$name.log
	rm -rf "$artifacts"
	mkdir -p "$corpus" "$artifacts"
	cp "$src/corpus-$name"/* "$corpus"/
	dict=()
	[ -f "$src/$name.dict" ] && dict=(-dict="$src/$name.dict")
	cmd=("$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048
		"${dict[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus")
	if [ "$quiet" = 1 ]; then
		UBSAN_OPTIONS=$ubsan "${cmd[@]}" >"$log" 2>&1
		rc=$?
	else
		UBSAN_OPTIONS=$ubsan "${cmd[@]}" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	fi
	ub=$(grep -c 'runtime error:' "$log")
	done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1)
	line="fuzz-$name: ${done_line:-stopped before the time was up}; $ub UBSan report(s); exit status $rc (log: $log)"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		if [ "$quiet" = 1 ]; then
			# the report: from the first sanitizer or check line on
			sed -n '/ERROR: \|runtime error:\|check failed\|^==[0-9]*==/,$p' "$log" | head -60
		fi
		line="$line; input: $(ls "$artifacts" | sed "s|^|$artifacts/|" | paste -sd " ")"
	fi
	echo "$line"
	summaries+=("$line")
done
# all the lines again together when the logs were shown in between
if [ "$quiet" = 0 ] && [ $# -gt 1 ]; then
	echo
	printf '%s\n' "${summaries[@]}"
fi
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
