#!/bin/bash
# Runs every integration test script (tests/integration/t-*.sh, or those named as
# arguments) and ends with one line: "N passed, N failed, N skipped".
# Runs on the host and, unchanged, inside the test guest (KVMCG_TEST_ENV=guest).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export KVMCG_TEST_ENV=${KVMCG_TEST_ENV:-host}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip - integration tests: they need root (cgroups, other processes' /proc)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

scripts=("$@")
[ ${#scripts[@]} -eq 0 ] && scripts=("$here"/t-*.sh)

passed=0 failed=0 skipped=0
for t in "${scripts[@]}"; do
	name=$(basename "$t" .sh)
	echo "# $name ($KVMCG_TEST_ENV)"
	out=$(mktemp)
	start=$(date +%s.%N)
	bash "$t" 2>&1 | tee "$out" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $name: /"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^ok - ' "$out")
	f=$(grep -c '^not ok - ' "$out")
	s=$(grep -c '^skip - ' "$out")
	# A script that died without saying what failed still failed.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exited with status $rc"
		f=1
	fi
	printf '# %s: %d passed, %d failed, %d skipped in %.1f s\n' "$name" "$p" "$f" "$s" \
		"$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	rm -f "$out"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
