#!/bin/bash
# kvmcg numastat: a VM's memory per NUMA node, against the test's own sums from
# /proc/PID/numa_maps and /proc/PID/maps, read without kvmcg. Runs on the host (one
# node) and in the test guest (two nodes, where the VM's RAM is faulted on node 0
# with numactl --membind=0 and -mem-prealloc, and nothing of it may be on node 1).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools numastat qemu-system-x86_64 numactl jq awk

nodes_online=$(cat /sys/devices/system/node/online)
n_nodes=$(tl_cpulist_expand "$nodes_online" | wc -w)
RAM_MIB=192

# The VM: its guest RAM faulted in on node 0 at start (-mem-prealloc), under a bind
# policy the test sets itself.
pidfile=$TL_TMP/n.pid
if ! numactl --membind=0 qemu-system-x86_64 -accel tcg -m "$RAM_MIB" -smp 1 -mem-prealloc -display none \
	-nodefaults -no-user-config -bios "$(tl_halt_bios)" -name guest=t-numastat \
	-qmp unix:"$TL_TMP"/n.qmp,server=on,wait=off -pidfile "$pidfile" -daemonize 2>"$TL_TMP/n.err"; then
	tl_fail "a QEMU with -mem-prealloc under numactl --membind=0 starts: $(tail -1 "$TL_TMP/n.err")"
	tl_done
fi
pid=$(cat "$pidfile")
tl_register_pid "$pid"
tl_settle "$pid" 1

# own_node_bytes FILTER NODE: bytes on NODE of the numa_maps lines whose start
# address FILTER (an awk regexp over "start-end", from maps) selects; "." for all.
own_node_bytes() {
	awk -v want="$2" -v sel="$1" '
		FNR == NR { split($1, a, "-"); if ($1 ~ sel) keep[a[1]] = 1; next }
		{ if (!($1 in keep)) next
		  ps = 4; for (i = 3; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, k, "="); ps = k[2] }
		  for (i = 3; i <= NF; i++) if ($i ~ "^N" want "=") { split($i, v, "="); s += v[2] * ps * 1024 } }
		END { printf "%.0f\n", s }' "/proc/$pid/maps" "/proc/$pid/numa_maps"
}
# The guest RAM mapping, as the test finds it: the mapping of exactly RAM_MIB.
ram_range=''
while read -r range _; do
	if (( 0x${range#*-} - 0x${range%-*} == RAM_MIB * 1024 * 1024 )); then
		ram_range=$range
		break
	fi
done <"/proc/$pid/maps"
tl_check "maps has one mapping of exactly -m $RAM_MIB MiB (the guest RAM)" test -n "$ram_range"

# within1 A B: A and B within 1% of each other (or both under 1 MiB apart: a VM's
# own memory moves a little between two reads).
within1() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a > b ? a : b)
	exit !(d <= m / 100 || d < 1048576) }'; }

# A running QEMU's own memory grows a little between two reads (TCG's code buffer):
# the test reads every node's pages just before and just after kvmcg does, and
# kvmcg's figure must lie between the two (1% either side).
declare -A own_all_before own_all_after
for node in $(tl_cpulist_expand "$nodes_online"); do own_all_before[$node]=$(own_node_bytes . "$node"); done
json=$("$KVMCG" numastat --pid "$pid" --json --qmp-timeout 15000)
for node in $(tl_cpulist_expand "$nodes_online"); do own_all_after[$node]=$(own_node_bytes . "$node"); done
# between X LO HI: X within [min(LO,HI) - 1%, max(LO,HI) + 1%].
between() { awk -v x="$1" -v a="$2" -v b="$3" 'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a
	exit !(x >= lo - lo / 100 - 1048576 && x <= hi + hi / 100 + 1048576) }'; }
tl_eq "numastat --json: the pid" "$(jq .pid <<<"$json")" "$pid"
tl_eq "numastat --json: guest RAM from the monitor" "$(jq -r .guest_ram_source <<<"$json")" query-memdev
tl_eq "numastat --json: guest RAM is -m" "$(jq .guest_ram_bytes <<<"$json")" "$((RAM_MIB * 1024 * 1024))"
tl_check "numastat --json: nothing of it is not resident (-mem-prealloc)" \
	within1 "$(jq .not_resident_bytes <<<"$json")" 0
tl_eq "numastat --json: a row per online node ($nodes_online)" "$(jq '.nodes | length' <<<"$json")" "$n_nodes"
tl_eq "numastat --json: the allowed nodes are the main thread's Mems_allowed_list" \
	"$(jq -r .allowed_nodes <<<"$json")" "$(awk '/^Mems_allowed_list:/ { print $2 }' "/proc/$pid/status")"
for node in $(tl_cpulist_expand "$nodes_online"); do
	have_ram=$(jq --argjson n "$node" '.nodes[] | select(.node == $n) | .guest_ram_bytes' <<<"$json")
	own_ram=$(own_node_bytes "^${ram_range}\$" "$node")
	tl_check "node $node: guest RAM agrees with numa_maps within 1% (kvmcg $have_ram, own $own_ram)" \
		within1 "$have_ram" "$own_ram"
	have_all=$(jq --argjson n "$node" '.nodes[] | select(.node == $n) | .guest_ram_bytes + .other_bytes + .file_bytes' <<<"$json")
	tl_check "node $node: every page agrees with numa_maps read just before and after (kvmcg $have_all, own ${own_all_before[$node]}..${own_all_after[$node]})" \
		between "$have_all" "${own_all_before[$node]}" "${own_all_after[$node]}"
done
if [ "$n_nodes" -ge 2 ]; then
	tl_check "node 0 holds the guest RAM (numactl --membind=0)" \
		within1 "$(jq '.nodes[] | select(.node == 0) | .guest_ram_bytes' <<<"$json")" "$((RAM_MIB * 1024 * 1024))"
	tl_eq "node 1 holds none of it" "$(jq '.nodes[] | select(.node == 1) | .guest_ram_bytes' <<<"$json")" 0
else
	tl_skip "the guest RAM is where numactl put it, and not on another node" "one NUMA node here ($nodes_online)"
fi

# Text: the VM's lines, then a table with a row per node.
text=$("$KVMCG" numastat --pid "$pid" --qmp-timeout 15000)
tl_check "text: says where the guest RAM's size came from" grep -qE "^Guest RAM: +[0-9.]+ MiB \(query-memdev\)" <<<"$text"
tl_check "text: a table headed NODE GUEST-RAM OTHER HUGE FILE ALLOWED" \
	grep -qE '^ *NODE +GUEST-RAM +OTHER +HUGE +FILE +ALLOWED$' <<<"$text"
tl_eq "text -rn -o NODE: one line per node" "$("$KVMCG" numastat --pid "$pid" -rn -o NODE | paste -sd' ')" \
	"$(tl_cpulist_expand "$nodes_online")"

# Without the monitor: the size of -m.
nq=$("$KVMCG" numastat --pid "$pid" --json --no-qmp)
tl_eq "--no-qmp: guest RAM from -m" "$(jq -r .guest_ram_source <<<"$nq")" -m
tl_check "--no-qmp: the same guest RAM on node 0" within1 \
	"$(jq '.nodes[] | select(.node == 0) | .guest_ram_bytes' <<<"$nq")" \
	"$(jq '.nodes[] | select(.node == 0) | .guest_ram_bytes' <<<"$json")"

tl_eq "--no-qmp: nothing said on stderr" "$("$KVMCG" numastat --pid "$pid" --no-qmp 2>&1 >/dev/null)" ""

# A monitor that does not answer (QEMU stopped): -m's size, and it says why.
kill -STOP "$pid"
stuck=$("$KVMCG" numastat --pid "$pid" --json --qmp-timeout 300 2>"$TL_TMP/err")
kill -CONT "$pid"
tl_eq "a stopped QEMU's monitor: guest RAM from -m" "$(jq -r .guest_ram_source <<<"$stuck")" -m
tl_check "... and stderr says the monitor did not answer: $(cat "$TL_TMP/err")" \
	grep -q "^kvmcg: warning: pid $pid: its monitor did not tell its memory backends (no answer in time" "$TL_TMP/err"

# Every VM: this one among them, with the same figures.
all=$("$KVMCG" numastat --json)
tl_check "numastat --json without VMSEL lists the VM" \
	jq -e --argjson p "$pid" '[.vms[] | select(.pid == $p)] | length == 1' <<<"$all"
tl_check "... with the same guest RAM" within1 \
	"$(jq --argjson p "$pid" '.vms[] | select(.pid == $p) | .nodes[0].guest_ram_bytes' <<<"$all")" \
	"$(jq '.nodes[0].guest_ram_bytes' <<<"$json")"
tl_check "text without VMSEL: a row for the VM" \
	grep -qE "^ *$pid +t-numastat " <<<"$("$KVMCG" numastat)"

# Errors: one line, the documented exit code, nothing on stdout.
"$KVMCG" numastat --pid "$$" >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "a process that is not a VM: exit 1" "$?" 1
tl_check "... says so" grep -q "is not a VM" "$TL_TMP/err"
tl_eq "... prints nothing" "$(wc -c <"$TL_TMP/out")" 0
"$KVMCG" numastat --pid "$pid" --name t-numastat >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "two VMSELs: exit 2" "$?" 2
tl_eq "... in one line" "$(wc -l <"$TL_TMP/err")" 1
"$KVMCG" numastat --pid "$pid" --json -o NODE >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "--json with -o: exit 2" "$?" 2
"$KVMCG" numastat -o NODE >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "-o without a VM (the table of every VM has its own columns): exit 2" "$?" 2
tl_check "... says to select a VM" grep -q "select a VM" "$TL_TMP/err"

tl_done
