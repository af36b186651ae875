#!/bin/bash
# pin --mems NODES --mem-policy strict|restrictive on a running VM: the share of its
# pages on the nodes, measured by the test itself from /proc/PID/numa_maps (not by
# kvmcg). In the test guest (two nodes) the VM's RAM is faulted on node 0 first
# (numactl --membind=0, -mem-prealloc), then strict puts it on node 1; on a one-node
# host the moves cannot be shown and say so.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools mempolicy qemu-system-x86_64 numactl jq awk
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "mempolicy" "no usable cpuset controller here: --mems needs one"
	tl_done
fi

nodes_online=$(cat /sys/devices/system/node/online)
n_nodes=$(tl_cpulist_expand "$nodes_online" | wc -w)
RAM_MIB=192

# start_vm NAME: a QEMU whose guest RAM is faulted in on node 0 at start.
start_vm() {
	local pidfile=$TL_TMP/$1.pid
	numactl --membind=0 qemu-system-x86_64 -accel tcg -m "$RAM_MIB" -smp 2 -mem-prealloc -display none \
		-nodefaults -no-user-config -bios "$(tl_halt_bios)" -name "guest=$1" \
		-qmp unix:"$TL_TMP/$1.qmp",server=on,wait=off -pidfile "$pidfile" -daemonize 2>"$TL_TMP/$1.err" ||
		return 1
	tl_register_pid "$(cat "$pidfile")"
	cat "$pidfile"
}

# own_share PID NODES: the share (0..1) of the VM's anonymous pages (not file-backed:
# the binary and libraries do not count) on NODES, from numa_maps, read by awk.
own_share() {
	awk -v nodes=",$2," '
		/ file=/ && !/ heap/ && !/ stack/ { next }
		{ ps = 4; for (i = 3; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, k, "="); ps = k[2] }
		  for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), v, "=")
			b = v[2] * ps; all += b; if (index(nodes, "," v[1] ",")) on += b } }
		END { printf "%.4f\n", all ? on / all : 1 }' "/proc/$1/numa_maps"
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

pid=$(start_vm t-strict) || {
	tl_fail "a QEMU with -mem-prealloc under numactl --membind=0 starts: $(tail -1 "$TL_TMP/t-strict.err")"
	tl_done
}
tl_settle "$pid" 2

if [ "$n_nodes" -ge 2 ]; then
	tl_check "before: the guest RAM is on node 0 (the test's own count: $(own_share "$pid" 0))" \
		ge "$(own_share "$pid" 0)" 0.99
	out=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --mems 1 --mem-policy strict --json)
	tl_eq "strict on node 1: exit 0" "$?" 0
	share=$(own_share "$pid" 1)
	tl_check "strict on node 1: at least 99% of the VM's pages are there (the test's own count: $share)" \
		ge "$share" 0.99
	tl_check "the report's share agrees with the test's within 1%" \
		awk -v a="$(jq .memory.allowed_share <<<"$out")" -v b="$share" 'BEGIN { d = a - b; exit !(d < 0.01 && d > -0.01) }'
	tl_check "the report says what moved (most of -m $RAM_MIB MiB)" \
		ge "$(jq .memory.moved_bytes <<<"$out")" "$((RAM_MIB * 1024 * 1024 * 9 / 10))"
	tl_check "the report has the figures before: most on node 0" \
		jq -e '[.memory.before[] | select(.node == 0) | .bytes][0] > ([.memory.before[] | select(.node == 1) | .bytes][0] // 0)' <<<"$out"
	tl_check "the text says it" grep -q "memory (strict): .* on node 1" \
		<<<"$("$KVMCG" pin --pid "$pid" --vcpu all:0 --mems 1 --mem-policy strict)"
	tl_eq "numastat agrees: the share on the allowed node" \
		"$("$KVMCG" numastat --pid "$pid" --json | jq '.allowed_share >= 0.99')" true
	"$KVMCG" unpin --pid "$pid" >/dev/null
	tl_eq "unpin: exit 0" "$?" 0

	# restrictive: cpuset.mems only, measured and not enforced
	pid2=$(start_vm t-restrictive)
	tl_settle "$pid2" 2
	out=$("$KVMCG" pin --pid "$pid2" --vcpu all:0 --mems 0-1 --mem-policy restrictive --json)
	tl_eq "restrictive on nodes 0-1: exit 0" "$?" 0
	tl_eq "restrictive moves nothing (migrate_pages not asked)" "$(jq .memory.not_moved_pages <<<"$out")" null
	tl_check "restrictive reports the share" jq -e '.memory.allowed_share >= 0.99' <<<"$out"
	"$KVMCG" unpin --pid "$pid2" >/dev/null
else
	tl_skip "strict moves a VM's pages to another node" "one NUMA node here ($nodes_online): the test guest has two"
	out=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --mems 0 --mem-policy strict --json)
	tl_eq "strict on the only node: exit 0" "$?" 0
	tl_check "strict on the only node: the report's share is the test's own ($(own_share "$pid" 0))" \
		awk -v a="$(jq .memory.allowed_share <<<"$out")" -v b="$(own_share "$pid" 0)" 'BEGIN { d = a - b; exit !(d < 0.01 && d > -0.01) }'
	tl_eq "nothing to move" "$(jq .memory.not_moved_pages <<<"$out")" null
	"$KVMCG" unpin --pid "$pid" >/dev/null
fi

# Refusals: one line, the documented code.
"$KVMCG" pin --pid "$pid" --vcpu all:0 --mem-policy strict >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "--mem-policy without --mems: exit 2" "$?" 2
tl_check "... says to give the nodes" grep -q "give them" "$TL_TMP/err"
"$KVMCG" pin --pid "$pid" --vcpu all:0 --mems 0 --mem-policy bind >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "--mem-policy bind (libvirt says strict): exit 2" "$?" 2
"$KVMCG" pin --pid "$pid" --vcpu all:0 --mems 0 --mem-policy interleave >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "--mem-policy interleave on a running VM: not carried out, exit 3" "$?" 3
tl_check "... and it says why" grep -q "interleave (a memory policy takes a process started under it" "$TL_TMP/err"
"$KVMCG" unpin --pid "$pid" >/dev/null

tl_done
