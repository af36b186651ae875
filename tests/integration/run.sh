#!/bin/bash
# Runs every integration test script (tests/integration/t-*.sh, or those named as
# arguments) with prove(1), Perl's TAP harness, and ends with one line:
# "N passed, N failed, N skipped".
# Runs on the host and, unchanged, inside the test guest (KVMCG_TEST_ENV=guest),
# which sees the host's /usr/bin/prove through its read-only share of the host's root.
#
# Each script prints TAP (tests/lib/testlib.sh): "ok N - what", "not ok N - what",
# "ok N - what # SKIP why", and the plan "1..N" last. prove -v shows every line as it
# comes; the counts below are read from the same lines, and prove's own summary says
# which scripts failed as a whole: a script that exits non-zero, prints no plan (it
# died), or runs a number of checks other than its plan counts as one failure more
# when none of its checks failed. Before that last line, each failed check is named
# again with its script ("# failed in t-pin: not ok 3 - ..."), so that the end of a
# long log says what failed (tests/run-all.sh repeats them at its own end).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export KVMCG_TEST_ENV=${KVMCG_TEST_ENV:-host}

if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 - integration tests # SKIP they need root (cgroups, other processes' /proc)"
	echo "1..1"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if ! command -v prove >/dev/null; then
	echo "not ok 1 - integration tests: prove(1) is missing (Debian package perl; make deps installs it)"
	echo "1..1"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

scripts=("$@")
[ ${#scripts[@]} -eq 0 ] && scripts=("$here"/t-*.sh)

echo "# integration tests ($KVMCG_TEST_ENV, Linux $(uname -r)): ${#scripts[@]} scripts"
# --norc: no ~/.proverc or ./.proverc changes what runs. stdout only is read: what a
# script prints on stderr passes through and is never taken for a result.
prove --norc -v --timer --exec bash "${scripts[@]}" | awk '
	function flush() {
		if (file != "")
			printf "# %s: %d passed, %d failed, %d skipped\n", file, p[file], f[file], s[file]
		file = ""
	}
	# a script starts: "[12:00:00] /path/t-pin.sh .. " (--timer)
	!summary && /^(\[[0-9:]+\] )?[^ ]+\.sh \.+ ?$/ {
		flush(); print
		file = $0
		sub(/^\[[0-9:]+\] /, "", file); sub(/ \.+ ?$/, "", file); sub(/.*\//, "", file); sub(/\.sh$/, "", file)
		order[++n] = file
		fflush()
		next
	}
	/^Test Summary Report/ { flush(); print; summary = 1; next }
	summary {
		print
		# "/path/t-pin.sh (Wstat: 256 (exited 1) Tests: 12 Failed: 0)"
		if (match($0, /^[^ ]+\.sh +\(Wstat: .* Failed: [0-9]+\)$/)) {
			bad = $1; sub(/.*\//, "", bad); sub(/\.sh$/, "", bad)
			nf = $NF; sub(/\)$/, "", nf)
			if (nf + 0 == 0) {
				printf "not ok - %s: exited, died or broke its plan without a failed check (above)\n", bad
				f[bad]++
				failed[++nfailed] = bad ": exited, died or broke its plan without a failed check"
			}
		}
		next
	}
	# flushed line by line: the test guest streams this output as it comes
	{ print; fflush() }
	file != "" && /^not ok [0-9]+( |$)/ { f[file]++; failed[++nfailed] = file ": " $0; next }
	file != "" && /^ok [0-9]+( |$)/ {
		line = $0
		gsub(/\\#/, "", line) # an escaped "#" is part of the description
		if (line ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) s[file]++; else p[file]++
		next
	}
	END {
		flush()
		for (i = 1; i <= n; i++) { tp += p[order[i]]; tf += f[order[i]]; ts += s[order[i]] }
		if (n == 0) tf++
		for (i = 1; i <= nfailed; i++) printf "# failed in %s\n", failed[i]
		printf "%d passed, %d failed, %d skipped\n", tp, tf, ts
		exit tf > 0
	}'
