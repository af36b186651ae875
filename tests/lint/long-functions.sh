#!/bin/bash
# Functions over 100 lines in src/, as TAP. A long function is allowed when the
# comment just above it says why, in a line that begins " * Long: ".
set -u
cd "$(dirname "$0")/../../src" || exit 1
n=0 bad=0
while IFS=: read -r file line len name reason; do
	n=$((n + 1))
	if [ -n "$reason" ]; then
		echo "ok $n - $file:$line $name is $len lines # long, because: $reason"
	else
		bad=1
		echo "not ok $n - $file:$line $name is $len lines, over 100, and no comment says why"
	fi
done < <(awk '
	FNR == 1 { start = 0; reason = ""; why = "" }
	/^ \* Long: / { why = substr($0, 10) }
	/^[a-z_].*\(/ && !/;$/ && start == 0 { start = FNR; name = $0; sub(/\(.*/, "", name); sub(/.* \**/, "", name); reason = why }
	/^}/ && start { len = FNR - start + 1; if (len > 100) print FILENAME ":" start ":" len ":" name ":" reason; start = 0; why = "" }
	/^$/ && !start { why = why }
' */*.c)
if [ "$n" -eq 0 ]; then
	echo "ok 1 - no function in src/ is over 100 lines"
	n=1
fi
echo "1..$n"
exit "$bad"
