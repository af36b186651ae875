#!/bin/bash
# make bench, network part: a policy's [Network] on a VM's tap against what a user
# would otherwise run, interleaved (ABBA), and an unchanged re-pin against reading the
# tap's qdiscs back.
#
# One QEMU in a network namespace of the bench's own with one tap (up, the kernel's
# default qdisc), and a policy of InboundAverage=20Mbit, OutboundAverage=10Mbit.
#   A  kvmcg pin --pid P --policy FILE      (finds the tap and the namespace, probes the
#                                           kernel's tc, plans, records, makes it)
#   B  the same qdiscs with tc, one sh -c in the namespace (ip netns exec): the root
#      TBF, the ingress qdisc, and the filter kvmcg chose on this kernel (police; or
#      an IFB device, its TBF and a mirred filter), as a shell script of tc and ip
#      commands would, knowing the tap's name and namespace beforehand
# undone between runs, untimed (kvmcg unpin; tc qdisc del, ip link del). Both sides
# must leave the same qdisc kinds on the tap (checked once before timing).
#   C  kvmcg pin again, nothing to change (the VM is shaped)
#   D  tc -j qdisc show dev TAP in the namespace (reading it back, the least a check
#      can do)
#
# Environment: KVMCG TIMEIT, BENCH_NET_ITER (interleaved pairs, 20), BENCH_WARMUP
# (2), BENCH_OUT (the report).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
KVMCG=${KVMCG:-$root/build/kvmcg}
TIMEIT=${TIMEIT:-$root/build/bench/timeit}
ITER=${BENCH_NET_ITER:-20}
WARMUP=${BENCH_WARMUP:-2}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
. "$here/lib.sh"
t() { "$TIMEIT" "$@"; }

bench_init net-bench "$KVMCG" "$TIMEIT"
ns=kvmcg-netbench-$$
tap=nbtap$$
pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$pid" ] && "$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
	exit "$rc"
}
traps cleanup
bench_qemu
command -v tc >/dev/null || die "tc is not installed"
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null || true
ip netns add "$ns" || die "cannot make a network namespace"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" qemu-system-x86_64 "${accel[@]}" -m 32 -display none -nodefaults -no-user-config \
	-bios "$bios" -name "netbench,debug-threads=on" -pidfile "$tmp/q.pid" -daemonize \
	-netdev tap,id=t0,ifname="$tap",script=no,downscript=no -device virtio-net-pci,netdev=t0 2>"$tmp/q.err" ||
	die "QEMU did not start: $(tail -1 "$tmp/q.err")"
pid=$(cat "$tmp/q.pid")
ip -n "$ns" link set "$tap" up
pol=$tmp/net.policy
printf '[Match]\nName=netbench\n\n[Network]\nInboundAverage=20Mbit\nOutboundAverage=10Mbit\n' >"$pol"

kinds() { ip netns exec "$ns" tc -j qdisc show dev "$tap" | jq -r '[.[].kind] | sort | join(",")'; }
before=$(kinds)
# what kvmcg does on this kernel, read from its own dry run: the tc side does the same
"$KVMCG" pin --pid "$pid" --policy "$pol" --dry-run --json >"$tmp/dry.json" || die "kvmcg pin --dry-run failed"
ifb=$(jq -r '.net_steps[] | select(endswith("add ifb device")) | split(":")[0]' "$tmp/dry.json")
if [ -n "$ifb" ]; then
	out="ip link add $ifb type ifb && ip link set $ifb up && tc qdisc add dev $ifb root handle 6b76: tbf rate 10mbit burst 12500 latency 50ms && tc qdisc add dev $tap ingress && tc filter add dev $tap parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev $ifb"
	undo_out="tc qdisc del dev $tap ingress; ip link del $ifb"
	method=ifb
else
	out="tc qdisc add dev $tap ingress && tc filter add dev $tap parent ffff: protocol all prio 1 u32 match u32 0 0 action police rate 10mbit burst 12500 drop"
	undo_out="tc qdisc del dev $tap ingress"
	method=police
fi
tc_script="tc qdisc add dev $tap root handle 6b76: tbf rate 20mbit burst 25000 latency 50ms && $out"
tc_undo="tc qdisc del dev $tap root; $undo_out"

side_kvmcg() { # FILE
	t "$1" kvmcg "$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null || die "kvmcg pin failed"
	"$KVMCG" unpin --pid "$pid" >/dev/null || die "kvmcg unpin failed"
}
side_tc() { # FILE
	t "$1" tc ip netns exec "$ns" sh -c "$tc_script" || die "the tc script failed"
	ip netns exec "$ns" sh -c "$tc_undo" 2>/dev/null
}
# like for like: both leave the same qdiscs on the tap, and both undo to what was there
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null
k_kinds=$(kinds)
"$KVMCG" unpin --pid "$pid" >/dev/null
[ "$(kinds)" = "$before" ] || die "kvmcg unpin did not leave the tap as it was"
ip netns exec "$ns" sh -c "$tc_script"
[ "$(kinds)" = "$k_kinds" ] || die "the tc script leaves $(kinds), kvmcg $k_kinds"
ip netns exec "$ns" sh -c "$tc_undo" 2>/dev/null
[ "$(kinds)" = "$before" ] || die "the tc undo did not leave the tap as it was"

times=$tmp/times warm=$tmp/warm
for _ in $(seq "$WARMUP"); do
	side_kvmcg "$warm"
	side_tc "$warm"
done
for i in $(seq "$ITER"); do
	if [ $((i % 2)) = 1 ]; then
		side_kvmcg "$times"
		side_tc "$times"
	else
		side_tc "$times"
		side_kvmcg "$times"
	fi
done
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null
"$KVMCG" pin --pid "$pid" --policy "$pol" --json | jq -e '.result == "unchanged"' >/dev/null ||
	die "a second pin is not unchanged"
for _ in $(seq "$WARMUP"); do
	t "$warm" repin "$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null
	t "$warm" show ip netns exec "$ns" tc -j qdisc show dev "$tap" >/dev/null
done
for i in $(seq "$ITER"); do
	if [ $((i % 2)) = 1 ]; then
		t "$times" repin "$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null
		t "$times" show ip netns exec "$ns" tc -j qdisc show dev "$tap" >/dev/null
	else
		t "$times" show ip netns exec "$ns" tc -j qdisc show dev "$tap" >/dev/null
		t "$times" repin "$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null
	fi
done

read -r n m_k q1_k q3_k < <(stats "$times" kvmcg 2)
read -r _ cpu_k _ _ < <(stats "$times" kvmcg 5)
read -r _ m_t q1_t q3_t < <(stats "$times" tc 2)
read -r _ cpu_t _ _ < <(stats "$times" tc 5)
read -r _ m_r q1_r q3_r < <(stats "$times" repin 2)
read -r _ m_s q1_s q3_s < <(stats "$times" show 2)
read -r p_m p_q1 p_q3 < <(paired "$times" kvmcg tc)
read -r r_m r_q1 r_q3 < <(paired "$times" repin show)
echo "PEER net: kvmcg pin --policy $(fmt "$m_k") ms ($(fmt "$q1_k")–$(fmt "$q3_k")), the same with tc $(fmt "$m_t") ms ($(fmt "$q1_t")–$(fmt "$q3_t")): ratio $(ratio "$m_k" "$m_t"), paired $p_m ($p_q1–$p_q3), n=$n, outbound by $method"
echo "PEER net re-pin: unchanged kvmcg pin $(fmt "$m_r") ms against tc -j qdisc show $(fmt "$m_s") ms: ratio $(ratio "$m_r" "$m_s"), paired $r_m ($r_q1–$r_q3)"

cat >"$tmp/section" <<EOF
$BEGIN_MARK
## Network: a policy's [Network] against tc

\`tests/bench/net-bench.sh\` (part of \`make bench\`), $(date -u +%Y-%m-%d), Linux $(uname -r), ${accel[1]}, $n
interleaved pairs. One QEMU in a network namespace with one tap; InboundAverage=20Mbit and
OutboundAverage=10Mbit (outbound by $method on this kernel). The tc side is a shell script
that already knows the tap's name and namespace and runs the same qdiscs in one
\`ip netns exec ... sh -c\`; kvmcg finds the tap and the namespace from the QEMU's
file descriptors, probes the kernel's tc support, plans, writes its record, then makes
them; a pin also places the VM in its cgroup tree (the tc side does not), and unpin
takes it out again between runs. Wall time per run, median (quartiles), ms; CPU is
user+sys.

| Row | kvmcg | the other side | ratio of medians | paired ratio |
|---|---|---|---|---|
| Shape a tap | \`pin --policy\` $(fmt "$m_k") ($(fmt "$q1_k")–$(fmt "$q3_k")), CPU $(fmt "$cpu_k") | tc script $(fmt "$m_t") ($(fmt "$q1_t")–$(fmt "$q3_t")), CPU $(fmt "$cpu_t") | $(ratio "$m_k" "$m_t") | $p_m ($p_q1–$p_q3) |
| Unchanged re-pin | \`pin --policy\` $(fmt "$m_r") ($(fmt "$q1_r")–$(fmt "$q3_r")) | \`tc -j qdisc show\` $(fmt "$m_s") ($(fmt "$q1_s")–$(fmt "$q3_s")) | $(ratio "$m_r" "$m_s") | $r_m ($r_q1–$r_q3) |
$END_MARK
EOF
write_section "$tmp/section"
