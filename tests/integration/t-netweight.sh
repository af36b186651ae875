#!/bin/bash
# [Network] Weight= measured: two VMs on one bridge share the bridge's
# BridgeInboundAverage= in proportion to their weights (1:3 here).
#
# Topology, all in namespaces this script makes: namespace BR holds the bridge br0
# (10.77.0.1/24). Two QEMUs run inside BR, each with two taps joined by its own hub
# (-netdev hubport), so frames cross the QEMU as they would cross a guest; the first
# tap of each is enslaved to br0, the second moves to a namespace of its own (N1:
# 10.77.0.11, N2: 10.77.0.12), which stands for the guest. A datagram from BR to each
# (ping(8) may be missing) makes it answer br0's ARP request, which teaches br0's FDB
# the guest's MAC on its tap's port. Then two iperf3 UDP clients in BR send at once,
# each at twice the total, to iperf3 servers in N1 and N2: the
# traffic the host itself sends through the bridge device, the only traffic that
# passes br0's qdisc (a frame bridged from port to port does not).
#
# What kvmcg puts in the kernel for Weight= is done here by hand, with tc, in
# kvmcg pin --policy with [Network] Weight= and BridgeInboundAverage=: HTB at br0's
# root (6b76:, no default class: unclassified traffic passes unshaped), a parent class
# at the total, per VM a class with rate total*weight/(the sum of the weights there),
# ceil total and a quantum of 20 bytes a unit of weight (where kvmcg keeps it), and a
# u32 filter on the guest's destination MAC as the FDB learned it. UDP and TCP.
#
# Checked: the FDB entries; the state read back with tc (the qdisc, classes, bursts,
# filters and the MACs they match); unshaped, both flows get the same (so the split
# below is the shaper's doing); shaped, over the middle of the run, the receivers'
# shares of their sum are within 20-30% / 70-80% (the issue's bounds; measured 25.0 /
# 75.0 on the host) and their sum is within 15% of the total on the wire; the
# classes' own byte counters over the same stretch agree. Rates are read from the
# iperf3 servers' reports and the kernel's counters. The total is 20 Mbit/s on the
# host and 4 Mbit/s in the TCG test guest (TL_NETWEIGHT_MBIT, TL_NETWEIGHT_SECS).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools network-weight ip tc bridge jq iperf3 nsenter qemu-system-x86_64
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null
if [ ! -c /dev/net/tun ]; then
	tl_skip "network-weight" "no /dev/net/tun on this host"
	tl_done
fi

# The total and how hard each client sends. The TCG test guest forwards through a
# nested TCG QEMU's hub, far slower than the host: a lower total there.
if [ "$KVMCG_TEST_ENV" = guest ]; then
	total_mbit=${TL_NETWEIGHT_MBIT:-4}
else
	total_mbit=${TL_NETWEIGHT_MBIT:-20}
fi
# the shaped run's length: its middle is measured
if [ "$KVMCG_TEST_ENV" = guest ]; then
	secs=${TL_NETWEIGHT_SECS:-8}
else
	secs=${TL_NETWEIGHT_SECS:-6}
fi
send_bps=$((total_mbit * 2))M # each client, twice the bridge's total
w1=100 w2=300

nsbr=kvmcg-nwbr-$$ ns1=kvmcg-nw1-$$ ns2=kvmcg-nw2-$$
tl_netns network-weight "$nsbr" "$ns1" "$ns2"
inbr() { ip netns exec "$nsbr" "$@"; }
in1() { ip netns exec "$ns1" "$@"; }
in2() { ip netns exec "$ns2" "$@"; }

if ! ip -n "$nsbr" link add br0 type bridge 2>"$TL_TMP/br.err"; then
	tl_skip "network-weight" "cannot make a bridge: $(cat "$TL_TMP/br.err")"
	tl_done
fi
ip -n "$nsbr" addr add 10.77.0.1/24 dev br0
ip -n "$nsbr" link set br0 up

# start_vm N: a QEMU in BR whose hub joins tap kvw<pid>aN (to br0) and kvw<pid>bN (to
# namespace N<N>, 10.77.0.1N); prints its pid. It runs (no -S): its hub forwards while
# the halt BIOS keeps the vCPU asleep.
start_vm() {
	local n=$1 tap=kvw$$a$1 far=kvw$$b$1 ns pidfile=$TL_TMP/vm$1.pid pid
	ns=$([ "$n" = 1 ] && echo "$ns1" || echo "$ns2")
	if ! nsenter --net="/run/netns/$nsbr" qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults \
		-no-user-config -bios "$(tl_halt_bios)" -pidfile "$pidfile" -daemonize -name "nw$n-$$,debug-threads=on" \
		-netdev tap,id=t0,ifname="$tap",script=no,downscript=no -netdev tap,id=t1,ifname="$far",script=no,downscript=no \
		-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=t1 2>"$TL_TMP/vm$n.err"; then
		echo "# QEMU $n: $(grep -v warning "$TL_TMP/vm$n.err" | tail -1)" >&2
		return 1
	fi
	pid=$(cat "$pidfile")
	tl_register_pid "$pid"
	tl_settle "$pid" 1 || true
	ip -n "$nsbr" link set "$tap" master br0
	ip -n "$nsbr" link set "$tap" up
	ip -n "$nsbr" link set "$far" netns "$ns"
	ip -n "$ns" addr add "10.77.0.1$n/24" dev "$far"
	ip -n "$ns" link set "$far" up
	echo "$pid"
}
if ! pid1=$(start_vm 1) || ! pid2=$(start_vm 2); then
	tl_fail "two QEMUs with two taps on a hub start in $nsbr"
	tl_done
fi
tl_ok "two QEMUs (pids $pid1, $pid2) run in $nsbr, each hub joining br0 to a guest namespace"

# the guests' MACs, as the guests' ends (the far taps) have them
mac1=$(ip -n "$ns1" -j link show "kvw$$b1" | jq -r '.[0].address')
mac2=$(ip -n "$ns2" -j link show "kvw$$b2" | jq -r '.[0].address')
# dynamic FDB entries on a port (no "state": permanent ones are the port's own)
learned() { inbr bridge -j fdb show br br0 brport "$1" | jq -r '.[] | select((.state // "") == "" and (.flags // [] | index("self") | not)) | .mac'; }
# a datagram from BR to each guest, in place of a ping (no ping(8) here): br0's ARP
# request floods, each guest answers from its MAC, and the bridge learns it
for _ in $(seq 50); do
	inbr bash -c 'echo x >/dev/udp/10.77.0.11/9; echo x >/dev/udp/10.77.0.12/9' 2>/dev/null
	sleep 0.1
	[ -n "$(learned "kvw$$a1")" ] && [ -n "$(learned "kvw$$a2")" ] && break
done
tl_eq "after a datagram to each guest, br0's FDB has each guest's MAC (and only it) on its tap's port" \
	"$(learned "kvw$$a1") $(learned "kvw$$a2")" "$mac1 $mac2"

for n in 1 2; do
	"in$n" iperf3 -s -J -D -p 5201 -I "$TL_TMP/iperf$n.pid" --logfile "$TL_TMP/iperf$n.log"
	for _ in $(seq 50); do [ -s "$TL_TMP/iperf$n.pid" ] && break; sleep 0.05; done
	tl_register_pid "$(cat "$TL_TMP/iperf$n.pid")"
done

# class_bytes: the time, then the bytes sent by class 6b76:2 and 6b76:3 (0 without)
class_bytes() {
	local t=$EPOCHREALTIME
	inbr tc -s class show dev br0 | awk -v t="${t/,/.}" '$1 == "class" { c = $3 } $1 == "Sent" { b[c] = $2 }
		END { print t, b["6b76:2"] + 0, b["6b76:3"] + 0 }'
}
# both BITS SECS [sample]: two UDP clients in BR at once, each at BITS per second for SECS s,
# 1400 bytes a datagram (a 1442-byte frame); prints the bits per second of data each
# receiver got while both flows ran: from the servers' own one-second intervals
# (--get-server-output), all but the first second and the last, part, one. The
# totals of the whole run would count the starts (the clients do not start at the
# same instant, and the first alone gets all) and the end (what HTB still queues
# drains after the senders stop, the lighter flow's last).
both() {
	local n pids=()
	for n in 1 2; do
		(
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				# shellcheck disable=SC2046 # BITS "tcp": no UDP options
				inbr iperf3 -c "10.77.0.1$n" -p 5201 $([ "$1" = tcp ] || echo "-u -b $1 -l 1400") -t "$2" --get-server-output -J \
					>"$TL_TMP/c$n.json" 2>/dev/null && break
				sleep 0.3 # the server is not up yet
			done
		) &
		pids+=($!)
	done
	# with a third argument, the classes' byte counters over the middle of the run:
	# from 1 s after both classes send (iperf3 starts slowly in the TCG guest) to
	# 2 s before the run's end
	if [ -n "${3:-}" ]; then
		local c0 c2 c3
		read -r _ c0 <<<"$(class_bytes)"
		local until=$((SECONDS + $2 / 2))
		while [ "$SECONDS" -lt "$until" ]; do
			read -r _ c2 c3 <<<"$(class_bytes)"
			[ "$c2" -gt "${c0% *}" ] && [ "$c3" -gt "${c0#* }" ] && break
			sleep 0.05
		done
		sleep 1
		class_bytes >"$TL_TMP/kern.a"
		sleep $(($2 > 6 ? $2 - 4 : 2))
		class_bytes >"$TL_TMP/kern.b"
		# valid only if both still send: each tc costs a lot in the TCG guest
		kill -0 "${pids[@]}" 2>/dev/null || echo late >>"$TL_TMP/kern.b"
	fi
	wait
	for n in 1 2; do
		jq -r --argjson t "$2" '[.server_output_json.intervals[]?.sum | select(.start >= 0.9 and .end <= $t - 0.5)] |
			if length == 0 then 0 else (map(.bytes) | add) * 8 / (map(.seconds) | add) | floor end' "$TL_TMP/c$n.json"
	done | paste -sd' '
}
# what each client sent and each server received in the whole run, for the log
iperf_diag() {
	local n
	for n in 1 2; do
		echo "# VM$n's iperf3, whole run: $(jq -r '.end | "sent \(.sum_sent.bytes) B in \(.sum_sent.seconds) s, received \(.sum_received.bytes) B in \(.sum_received.seconds) s"' "$TL_TMP/c$n.json")"
	done
}
mbit() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b > 0 ? 100 * a / (a + b) : 0) }'; }
# between X LOW HIGH
between() { awk -v x="$1" -v l="$2" -v h="$3" 'BEGIN { exit !(x >= l && x <= h) }'; }

read -r u1 u2 <<<"$(both "$send_bps" 3)"
s=$(share "$u1" "$u2")
if between "$s" 40 60 && [ "$u1" -gt $((total_mbit * 1000000)) ]; then
	tl_ok "unshaped, each flow gets about the same: VM1 $(mbit "$u1"), VM2 $(mbit "$u2") Mbit/s ($s% / $(share "$u2" "$u1")%), both above the ${total_mbit} Mbit/s total"
else
	tl_fail "unshaped, each flow gets about the same, both above the ${total_mbit} Mbit/s total: VM1 $(mbit "$u1"), VM2 $(mbit "$u2") Mbit/s ($s%)"
	tl_done
fi

# ---------------------------------------------------------------------------------
# burst_of RATE: the bytes a class may send at once, 50 ms of RATE (bit/s) and no less
# than one full frame (1514 bytes). A bucket that small loses tokens whenever HTB's
# timer fires late: in the TCG test guest at 4 Mbit/s, tc's default (one frame) let
# 80% of the total through, 10 ms 76-95% (six runs), 50 ms 97%.
burst_of() { local b=$(($1 / 160)); echo $((b > 1514 ? b : 1514)); }
# quantum_of WEIGHT: 20 bytes a unit of weight (where kvmcg keeps a class's weight)
quantum_of() { echo $((20 * $1)); }
# tc_rate BITS: as tc prints a rate
tc_rate() { if [ $(($1 % 1000000)) = 0 ]; then echo "$(($1 / 1000000))Mbit"; elif [ $(($1 % 1000)) = 0 ]; then echo "$(($1 / 1000))Kbit"; else echo "${1}bit"; fi; }

# ---------------------------------------------------------------------------------

for n in 1 2; do
	w=$([ "$n" = 1 ] && echo "$w1" || echo "$w2")
	cat >"$TL_TMP/vm$n.policy" <<EOF
[Match]
Name=nw$n-$$

[Network]
Interface=kvw$$a$n
Weight=$w
BridgeInboundAverage=${total_mbit}Mbit
EOF
done
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
tl_on_exit "'$KVMCG' unpin --pid $pid1 >/dev/null 2>&1; '$KVMCG' unpin --pid $pid2 >/dev/null 2>&1"
br_state() { inbr tc -j qdisc show dev br0 | jq -c '[.[] | {kind, handle}]'; }
br_before=$(br_state)

# --dry-run: the tc steps, nothing changed
"$KVMCG" pin --pid "$pid1" --policy "$TL_TMP/vm1.policy" --dry-run >"$TL_TMP/dry.out" 2>&1
tl_eq "pin --dry-run with Weight=: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/dry.out"
tl_check "... lists the bridge's HTB and the VM's class on its guest's MAC" \
	grep -q "br0: add htb class 6b76:2 rate .* u32 filter on ether dst $mac1 (the guest behind kvw$$a1)" "$TL_TMP/dry.out"
tl_eq "... and changes nothing on br0" "$(br_state)" "$br_before"

for n in 1 2; do
	pid=$([ "$n" = 1 ] && echo "$pid1" || echo "$pid2")
	"$KVMCG" pin --pid "$pid" --policy "$TL_TMP/vm$n.policy" >"$TL_TMP/shape$n.out" 2>&1
	rc=$? # (the description's $(...) would reset $?)
	tl_eq "kvmcg pin --policy: VM$n shaped with Weight=$([ "$n" = 1 ] && echo "$w1" || echo "$w2") (exit status)" "$rc" 0 ||
		sed 's/^/#   /' "$TL_TMP/shape$n.out"
done

total=$((total_mbit * 1000000))
tl_eq "br0's root is HTB 6b76: with no default class (tc -j)" \
	"$(inbr tc -j qdisc show dev br0 root | jq -c '.[] | {kind, handle, default: .options.default}')" \
	'{"kind":"htb","handle":"6b76:","default":"0"}'
# (this iproute2's tc -j class show prints htb classes as text: read either)
classes() {
	inbr tc -d -j class show dev br0 >"$TL_TMP/classes" 2>&1
	if jq -e . "$TL_TMP/classes" >/dev/null 2>&1; then
		jq -r '.[] | (.options // .) as $o | "\(.handle) \(.parent // "root") \($o.rate) \($o.ceil) \($o.quantum // "-") \($o.burst) \($o.cburst)"' "$TL_TMP/classes"
	else
		inbr tc -d class show dev br0 | awk '$1 == "class" {
			for (i = 1; i <= NF; i++) v[$i] = $(i + 1)
			sub(/\/.*/, "", v["burst"]); sub(/\/.*/, "", v["cburst"])
			print $3, ($4 == "root" ? "root" : v["parent"]), v["rate"], v["ceil"], ("quantum" in v ? v["quantum"] : "-"), v["burst"], v["cburst"]
			delete v }'
	fi | sort
}
cls=$(classes)
tb=$(burst_of "$total")b
exp_cls=$(printf '%s\n' \
	"6b76:1 root ${total_mbit}Mbit ${total_mbit}Mbit - $tb $tb" \
	"6b76:2 6b76:1 $(tc_rate $((total * w1 / (w1 + w2)))) ${total_mbit}Mbit $(quantum_of "$w1") $(burst_of $((total * w1 / (w1 + w2))))b $tb" \
	"6b76:3 6b76:1 $(tc_rate $((total * w2 / (w1 + w2)))) ${total_mbit}Mbit $(quantum_of "$w2") $(burst_of $((total * w2 / (w1 + w2))))b $tb")
# (the parent's quantum is not shown: an inner class's is not used)
tl_eq "classes: the total, then one per VM: rate total*weight/(sum of the weights), ceil total, quantum 20*weight" \
	"$(cut -d' ' -f1-5 <<<"$cls" | paste -sd';')" "$(cut -d' ' -f1-5 <<<"$exp_cls" | paste -sd';')"
# tc reads a burst back from the kernel's time in ticks: a byte off, at times
if paste -d' ' <(cut -d' ' -f6,7 <<<"$cls") <(cut -d' ' -f6,7 <<<"$exp_cls") | tr -d b |
	awk 'function abs(x) { return x < 0 ? -x : x } abs($1 - $3) > 2 || abs($2 - $4) > 2 { bad = 1 } END { exit bad }'; then
	tl_ok "bursts: 50 ms of each rate, one frame at least (burst cburst: $(cut -d' ' -f1,6,7 <<<"$cls" | paste -sd';'))"
else
	tl_fail "bursts: 50 ms of each rate, one frame at least"
	echo "#   expected: $(cut -d' ' -f1,6,7 <<<"$exp_cls" | paste -sd';')"
	echo "#   actual:   $(cut -d' ' -f1,6,7 <<<"$cls" | paste -sd';')"
fi
filters=$(inbr tc -j filter show dev br0 | jq -c '[.[] | select(.options.flowid) | {pref, protocol, flowid: .options.flowid}] | sort_by(.pref)')
tl_eq "filters: one u32 per VM, priority = class minor, on all protocols" "$filters" \
	'[{"pref":2,"protocol":"all","flowid":"6b76:2"},{"pref":3,"protocol":"all","flowid":"6b76:3"}]'
# the MAC each filter matches ("*flowid": a terminal one): its u32 keys at -16 (mask 0000ffff) and -12, the
# destination's 6 bytes. From tc's text: tc -j prints each key as a "match" member of
# one object, and jq keeps only the last of members of the same name.
fmac() {
	inbr tc filter show dev br0 | awk -v f="$1" '
		$1 == "filter" { mine = 0; for (i = 1; i < NF; i++) if ($i ~ /^\*?flowid$/ && $(i + 1) == f) mine = 1 }
		mine && $1 == "match" && $3 == "at" { split($2, vm, "/"); k[$4] = vm[1] }
		END { h = substr(k["-16"], 5, 4) k["-12"]; gsub(/../, "&:", h); sub(/:$/, "", h); print h }'
}
tl_eq "each filter matches its guest's MAC" "$(fmac 6b76:2) $(fmac 6b76:3)" "$mac1 $mac2"

sample=sample
[ "$KVMCG_TEST_ENV" = guest ] && sample=
read -r r1 r2 <<<"$(both "$send_bps" "$secs" $sample)"
iperf_diag
s1=$(share "$r1" "$r2") s2=$(share "$r2" "$r1")
sum=$((r1 + r2))
summary="VM1 (Weight=$w1) $(mbit "$r1"), VM2 (Weight=$w2) $(mbit "$r2") Mbit/s: $s1% / $s2%"
if between "$s1" 20 30 && between "$s2" 70 80; then
	tl_ok "shaped, the receivers split the bridge 1:3 (within 20-30 / 70-80%): $summary"
else
	tl_fail "shaped, the receivers split the bridge 1:3 (within 20-30 / 70-80%): $summary"
fi
# 1400 bytes of data in a 1442-byte frame: HTB counts frames
want=$((total * 1400 / 1442))
if between "$sum" $((want * 85 / 100)) $((want * 115 / 100)); then
	tl_ok "their sum, $(mbit "$sum") Mbit/s of data, is within 15% of the ${total_mbit} Mbit/s total on the wire ($(mbit "$want") of data)"
else
	tl_fail "their sum, $(mbit "$sum") Mbit/s of data, is within 15% of the ${total_mbit} Mbit/s total on the wire ($(mbit "$want") of data)"
fi
# TCP backs off where UDP keeps the queues full: the rates, not the quanta, hold it
read -r t1 t2 <<<"$(both tcp "$secs")"
ts1=$(share "$t1" "$t2") ts2=$(share "$t2" "$t1")
tsum="VM1 $(mbit "$t1"), VM2 $(mbit "$t2") Mbit/s: $ts1% / $ts2%"
if between "$ts1" 20 30 && between "$ts2" 70 80; then
	tl_ok "TCP too: the receivers split the bridge 1:3 (within 20-30 / 70-80%): $tsum"
else
	tl_fail "TCP too: the receivers split the bridge 1:3 (within 20-30 / 70-80%): $tsum"
	iperf_diag
fi
counters_check() {
	# the classes' own counters over the middle of the run: the traffic went through the
	# VMs' classes, 1:3, at the total
	if [ -z "$sample" ]; then
		tl_guest_skips "the classes' counters split the same, at the total" \
			"one tc costs about a second in the TCG guest: the counters are not read while both flows run"
		return
	fi
	read -r ta a2 a3 <"$TL_TMP/kern.a"
	read -r tb b2 b3 <"$TL_TMP/kern.b"
	if grep -q late "$TL_TMP/kern.b"; then
		tl_skip "the classes' counters split the same, at the total" "the counters were not read while both flows ran (slow: $(mbit $((b2 - a2))) and $(mbit $((b3 - a3))) MB in $(awk -v s="$ta" -v e="$tb" 'BEGIN { printf "%.1f", e - s }') s)"
		return
	fi
	k2=$(awk -v a="$a2" -v b="$b2" -v s="$ta" -v e="$tb" 'BEGIN { printf "%.0f", (b - a) * 8 / (e - s) }')
	k3=$(awk -v a="$a3" -v b="$b3" -v s="$ta" -v e="$tb" 'BEGIN { printf "%.0f", (b - a) * 8 / (e - s) }')
	cs=$(share "$k2" "$k3")
	direct=$(inbr tc -s -j qdisc show dev br0 root | jq -r '.[0].options.direct_packets_stat')
	kdesc="the classes' counters split the same, at the total: 6b76:2 $(mbit "$k2"), 6b76:3 $(mbit "$k3") Mbit/s of frames ($cs%, sum $(mbit $((k2 + k3)))); unclassified (direct) packets: $direct"
	if between "$cs" 20 30 && between $((k2 + k3)) $((total * 85 / 100)) $((total * 115 / 100)); then
		tl_ok "$kdesc"
	else
		tl_fail "$kdesc"
	fi
}
counters_check

# --- what kvmcg shows, refuses, and leaves -----------------------------------------
"$KVMCG" show --pid "$pid2" --json >"$TL_TMP/show.json" 2>&1
tl_eq "show --json: VM2's class on br0, as the kernel has it" \
	"$(jq -c '.. | objects | select(has("devices")) | .devices[] | {what, dev, present, class, port, quantum}' "$TL_TMP/show.json")" \
	"{\"what\":\"class\",\"dev\":\"br0\",\"present\":true,\"class\":\"6b76:3\",\"port\":\"kvw$$a2\",\"quantum\":$(quantum_of "$w2")}"
"$KVMCG" show --pid "$pid2" >"$TL_TMP/show.txt" 2>&1
tl_check "show: a kvmcg net line with the share" grep -q "kvmcg net: *br0: share of br0's inbound for kvw$$a2: htb class 6b76:3" "$TL_TMP/show.txt"

# VM2 asking for another total while VM1 shares the bridge at this one: refused
sed "s/^BridgeInboundAverage=.*/BridgeInboundAverage=$((total_mbit * 2))Mbit/" "$TL_TMP/vm2.policy" >"$TL_TMP/vm2b.policy"
cls_before=$(classes)
"$KVMCG" pin --pid "$pid2" --policy "$TL_TMP/vm2b.policy" >"$TL_TMP/total.out" 2>&1
tl_eq "another BridgeInboundAverage= than the VMs on br0 share: exit 2" "$?" 2 || sed 's/^/#   /' "$TL_TMP/total.out"
tl_check "... naming both totals" grep -q "br0 is shared at $total bit/s by 1 other VM tap kvmcg gave a weight there; this policy's BridgeInboundAverage= is $((total * 2)) bit/s" "$TL_TMP/total.out"
tl_eq "... and br0's classes are as they were" "$(classes)" "$cls_before"

# unpin: VM1's class and filter go, VM2's and the shared root stay; then VM2's, and the root
"$KVMCG" unpin --pid "$pid1" >"$TL_TMP/unpin1.out" 2>&1
tl_eq "unpin VM1: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/unpin1.out"
tl_eq "... its class and filter are gone, VM2's and the root stay" \
	"$(classes | cut -d' ' -f1 | paste -sd' ') / $(inbr tc -j filter show dev br0 | jq -c '[.[] | select(.options.flowid) | .pref]')" \
	"6b76:1 6b76:3 / [3]"
tl_eq "... and VM2's class has all of the total now" "$(classes | awk '$1 == "6b76:3" { print $3 }')" "${total_mbit}Mbit"
# the root put by kvmcg is every weighted VM's: an operator's in its place is refused
"$KVMCG" unpin --pid "$pid2" >/dev/null 2>&1
tl_eq "unpin VM2 too: br0 has its qdiscs as before the pins" "$(br_state)" "$br_before"

# a guest that sends from its neighbour's MAC (the bridge learns it on its port): that
# MAC, already in the neighbour's class, is not taken into its own
"$KVMCG" pin --pid "$pid2" --policy "$TL_TMP/vm2.policy" >/dev/null 2>&1
inbr bridge fdb replace "$mac2" dev "kvw$$a1" master dynamic
"$KVMCG" pin --pid "$pid1" --policy "$TL_TMP/vm1.policy" >"$TL_TMP/spoof.out" 2>&1
tl_check "VM1 behind a port where VM2's MAC was learned too: said" \
	grep -q "kvw$$a1: the MAC $mac2 behind it is another VM's class's on br0 (6b76:2)" "$TL_TMP/spoof.out"
tl_eq "... VM1's class filters its own MAC only, VM2's still its own" "$(fmac 6b76:3) $(fmac 6b76:2)" "$mac1 $mac2"
inbr bridge fdb replace "$mac2" dev "kvw$$a2" master dynamic
"$KVMCG" unpin --pid "$pid1" >/dev/null 2>&1
"$KVMCG" unpin --pid "$pid2" >/dev/null 2>&1
tl_eq "... and both unpinned, br0 is as before" "$(br_state)" "$br_before"
inbr tc qdisc add dev br0 root handle 1: pfifo limit 100
"$KVMCG" pin --pid "$pid1" --policy "$TL_TMP/vm1.policy" --force >"$TL_TMP/op.out" 2>&1
tl_eq "an operator's qdisc at br0's root: refused even with --force, exit 2" "$?" 2 || sed 's/^/#   /' "$TL_TMP/op.out"
tl_check "... saying why" grep -q "br0 has a root qdisc kvmcg did not put there (pfifo 1:); Weight= needs kvmcg's htb" "$TL_TMP/op.out"
tl_eq "... and it is kept" "$(inbr tc -j qdisc show dev br0 root | jq -r '.[0].kind')" pfifo
inbr tc qdisc del dev br0 root
# an HTB of kvmcg's handle that kvmcg did not make (no mark of kvmcg's in it): refused too
inbr tc qdisc add dev br0 root handle 6b76: htb
"$KVMCG" pin --pid "$pid1" --policy "$TL_TMP/vm1.policy" >"$TL_TMP/op2.out" 2>&1
tl_eq "an operator's htb 6b76: at br0's root: refused, exit 2" "$?" 2 || sed 's/^/#   /' "$TL_TMP/op2.out"
tl_eq "... and left without classes" "$(inbr tc class show dev br0 | wc -l)" 0
inbr tc qdisc del dev br0 root

# the VM exits while shaped: the next kvmcg run collects its class and the root
"$KVMCG" pin --pid "$pid1" --policy "$TL_TMP/vm1.policy" >/dev/null 2>&1
tl_eq "VM1 shaped again: br0 has kvmcg's HTB" "$(inbr tc -j qdisc show dev br0 root | jq -r '.[0].handle')" "6b76:"
kill "$pid1"
for _ in $(seq 50); do kill -0 "$pid1" 2>/dev/null || break; sleep 0.1; done
"$KVMCG" list >/dev/null 2>&1
tl_eq "VM1 exited and kvmcg list ran: br0's qdiscs are as before, its record gone" \
	"$(br_state) $(ls "$KVMCG_STATE_DIR" | grep -c "^$pid1-")" "$br_before 0"
tl_done
