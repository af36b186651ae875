#!/bin/bash
# [Network] of a policy on a real QEMU's taps, in network namespaces this script makes:
# the QEMU runs in namespace A with two taps joined by its own hub (-netdev hubport),
# one tap stays in A and the other moves to namespace B, so traffic between A and B
# crosses the QEMU as it would cross a guest. InboundAverage= (A to the guest: the
# tap's egress, TBF) and OutboundAverage= (the guest to A: the tap's ingress, police
# or an IFB device) are measured with iperf3 and read back with tc -j; a re-pin
# changes nothing; --dry-run lists the tc steps and changes nothing; an operator's
# root qdisc is refused and kept, replaced with --force and put back at unpin; a
# device of the tap's name in this script's own namespace is never touched; unpin,
# and the VM's exit, leave each device as it was. Only the script's namespaces carry
# traffic.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools network ip tc jq iperf3 nsenter qemu-system-x86_64
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null
if [ ! -c /dev/net/tun ]; then
	tl_skip "network" "no /dev/net/tun on this host"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"

nsa=kvmcg-neta-$$ nsb=kvmcg-netb-$$
tap=kvn$$a far=kvn$$b
tl_netns network "$nsa" "$nsb"
# a device of the tap's name in this namespace, which kvmcg must never touch
ip tuntap add dev "$tap" mode tap && tl_on_exit "ip link del $tap 2>/dev/null"
ip link set "$tap" up
host_before=$(tc -j qdisc show dev "$tap")

# inside A with nsenter (network namespace only: QEMU's executable path stays the
# same in the test guest's chroot)
name=net$$
pidfile=$TL_TMP/qemu.pid
if ! nsenter --net="/run/netns/$nsa" qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults \
	-no-user-config -bios "$(tl_halt_bios)" -pidfile "$pidfile" -daemonize -name "$name,debug-threads=on" \
	-netdev tap,id=t0,ifname="$tap",script=no,downscript=no -netdev tap,id=t1,ifname="$far",script=no,downscript=no \
	-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=t1 2>"$TL_TMP/qemu.err"; then
	tl_fail "QEMU with two taps on a hub starts in $nsa: $(grep -v warning "$TL_TMP/qemu.err" | tail -1)"
	tl_done
fi
pid=$(cat "$pidfile")
tl_register_pid "$pid"
tl_settle "$pid" 1
ip -n "$nsa" link set "$far" netns "$nsb"
ip -n "$nsa" addr add 10.79.0.1/24 dev "$tap"
ip -n "$nsb" addr add 10.79.0.2/24 dev "$far"
ip -n "$nsa" link set "$tap" up
ip -n "$nsb" link set "$far" up

ina() { ip netns exec "$nsa" "$@"; }
inb() { ip netns exec "$nsb" "$@"; }
# the tap's qdiscs and the links of A, as tc and ip see them (kvmcg's IFB included)
state_a() { ina tc -j qdisc show dev "$tap" | jq -c '[.[] | {kind, handle, parent, options}]'; ip -n "$nsa" -j link | jq -c '[.[].ifname]'; }
ina iperf3 -s -D -p 5201 --logfile "$TL_TMP/iperf-a.log"
inb iperf3 -s -D -p 5201 --logfile "$TL_TMP/iperf-b.log"
tl_on_exit "pkill -f 'iperf3 -s -D -p 5201 --logfile $TL_TMP' 2>/dev/null"
# rate FROM-NS-FN TO-ADDR [BITS]: bits per second the far end received, from iperf3's
# own report: TCP; with BITS, UDP sent at BITS per second (above a shaper's rate, so
# that what arrives is what the shaper lets through: a policer drops what TCP would
# have to back off from, and the slow test guest's TCP never fills a small queue)
rate() {
	local out udp=()
	[ -n "${3:-}" ] && udp=(-u -b "$3" -l 1400)
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		out=$("$1" iperf3 -c "$2" -p 5201 -t 4 "${udp[@]}" -J 2>/dev/null) && break
		sleep 0.3 # the server is not up yet
	done
	jq -r '.end.sum_received.bits_per_second // 0 | floor' <<<"$out"
}
# within RATE WANT PERCENT
within() { awk -v r="$1" -v w="$2" -v p="$3" 'BEGIN { d = (r - w) / w * 100; if (d < 0) d = -d; exit !(d <= p) }'; }

base_in=$(rate ina 10.79.0.2)
base_out=$(rate inb 10.79.0.1)
if [ "${base_in:-0}" -lt 40000000 ] || [ "${base_out:-0}" -lt 40000000 ]; then
	tl_fail "the QEMU carries traffic both ways, unshaped, well above the rates asked (in $base_in, out $base_out bit/s)"
	tl_done
fi
tl_ok "unshaped, the QEMU carries $((base_in / 1000000)) Mbit/s in and $((base_out / 1000000)) Mbit/s out"

# Which action carries outbound here, asked of the kernel directly: a police
# filter on a scratch device in a namespace of this script's.
police=no
ip netns add "kvmcg-netp-$$" && tl_on_exit "ip netns del kvmcg-netp-$$ 2>/dev/null"
if ip netns exec "kvmcg-netp-$$" tc qdisc add dev lo ingress 2>/dev/null &&
	ip netns exec "kvmcg-netp-$$" tc filter add dev lo parent ffff: protocol all u32 match u32 0 0 \
		action police rate 1mbit burst 10k drop 2>/dev/null; then
	police=yes
fi
ip netns del "kvmcg-netp-$$" 2>/dev/null
echo "# act_police on this kernel: $police"

pol=$TL_TMP/net.policy
cat >"$pol" <<EOF
[Match]
Name=$name

[Network]
Interface=$tap
InboundAverage=20Mbit
OutboundAverage=10Mbit
OutboundBurst=64K
EOF
before=$(state_a)

"$KVMCG" pin --pid "$pid" --policy "$pol" --dry-run --json >"$TL_TMP/dry.json" 2>"$TL_TMP/dry.err"
rc=$?
tl_eq "pin --dry-run exits 0" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/dry.err"
tl_eq "--dry-run lists the tc steps, the tap's tbf first" \
	"$(jq -r '.net_steps[0]' "$TL_TMP/dry.json")" "$tap: add tbf root 6b76: rate 2500000 bytes/s burst 25000 bytes limit 150000 bytes"
tl_eq "--dry-run changes nothing on the tap or in A" "$(state_a)" "$before"

"$KVMCG" pin --pid "$pid" --policy "$pol" >"$TL_TMP/pin.out" 2>&1
rc=$?
tl_eq "pin --policy with [Network] exits 0" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/pin.out"
root=$(ina tc -j qdisc show dev "$tap" | jq -c '.[] | select(.root) | {kind, handle, rate: .options.rate, burst: .options.burst}')
tl_eq "the tap's root qdisc is kvmcg's TBF at 20 Mbit/s (tc -j, in A)" "$root" \
	'{"kind":"tbf","handle":"6b76:","rate":2500000,"burst":25000}'
tl_eq "the tap has an ingress qdisc" "$(ina tc -j qdisc show dev "$tap" ingress | jq -r '.[0].kind')" ingress
filter=$(ina tc -j filter show dev "$tap" ingress)
ifbs=$(ip -n "$nsa" -j -d link show type ifb | jq -r '.[].ifname')
if [ "$police" = yes ]; then
	tl_eq "outbound: a police action on the tap's ingress (the kernel has act_police)" \
		"$(jq -r '[.. | objects | select(.kind? == "police")] | length' <<<"$filter")" 1
	tl_eq "no IFB device made" "$ifbs" ""
else
	tl_eq "outbound: every packet redirected to kvmcg's IFB device (no act_police here)" \
		"$(jq -r '[.. | objects | select(.kind? == "mirred") | .to_dev] | .[0]' <<<"$filter")" "$ifbs"
	tl_eq "the IFB device's root is kvmcg's TBF at 10 Mbit/s" \
		"$(ina tc -j qdisc show dev "$ifbs" | jq -c '.[] | select(.root) | {kind, rate: .options.rate}')" \
		'{"kind":"tbf","rate":1250000}'
fi
tl_eq "the device of the same name in this namespace is untouched" "$(tc -j qdisc show dev "$tap")" "$host_before"
"$KVMCG" show --pid "$pid" --json >"$TL_TMP/show.json" 2>/dev/null
tl_eq "show --json: the tap's TBF as the kernel has it" \
	"$(jq -c --arg t "$tap" '.kvmcg.net.devices[] | select(.dev == $t and .what == "root") | {present, qdisc, rate, burst}' "$TL_TMP/show.json")" \
	'{"present":true,"qdisc":"tbf","rate":2500000,"burst":25000}'
tl_eq "show --json: every device kvmcg changed is listed, present" \
	"$(jq -c '[.kvmcg.net.devices[] | .present] | unique' "$TL_TMP/show.json"):$(jq '.kvmcg.net.devices | length' "$TL_TMP/show.json")" \
	"[true]:$([ "$police" = yes ] && echo 2 || echo 3)"
tl_check "show: a 'kvmcg net' line with the inbound rate" grep -q "^kvmcg net: *$tap: inbound tbf 20 Mbit/s burst 25000 B" <("$KVMCG" show --pid "$pid")

# 1400 bytes of data in a 1442-byte frame: the shaper counts frames
r_in=$(rate ina 10.79.0.2 30M)
within "$r_in" $((20000000 * 1400 / 1442)) 15 && tl_ok "inbound measured $r_in bit/s of data, within 15% of 20 Mbit/s on the wire" ||
	tl_fail "inbound measured $r_in bit/s of data, within 15% of 20 Mbit/s on the wire"
r_out=$(rate inb 10.79.0.1 15M)
within "$r_out" $((10000000 * 1400 / 1442)) 15 && tl_ok "outbound measured $r_out bit/s of data, within 15% of 10 Mbit/s on the wire" ||
	tl_fail "outbound measured $r_out bit/s of data, within 15% of 10 Mbit/s on the wire"
echo "# TCP, for comparison: in $(rate ina 10.79.0.2), out $(rate inb 10.79.0.1) bit/s"

shaped=$(state_a)
"$KVMCG" pin --pid "$pid" --policy "$pol" >"$TL_TMP/again.out" 2>&1
rc=$?
tl_eq "the same pin again exits 0" "$rc" 0
tl_check "and changes nothing" grep -q "already pinned as asked" "$TL_TMP/again.out"
tl_eq "tc state as it was" "$(state_a)" "$shaped"

"$KVMCG" unpin --pid "$pid" >"$TL_TMP/unpin.out" 2>&1
rc=$?
tl_eq "unpin exits 0" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/unpin.out"
tl_eq "unpin leaves the tap's qdiscs and A's links as they were" "$(state_a)" "$before"

# An operator's root qdisc: refused, kept; replaced with --force, put back at unpin.
ina tc qdisc add dev "$tap" root handle 7: tbf rate 300mbit burst 300k latency 80ms
operator=$(state_a)
"$KVMCG" pin --pid "$pid" --policy "$pol" >"$TL_TMP/op.out" 2>&1
rc=$?
tl_eq "a root qdisc of the operator's is refused (exit 2)" "$rc" 2
tl_check "the refusal names it and says --force" grep -q "root qdisc kvmcg did not put there (tbf, handle 7:).*--force" "$TL_TMP/op.out"
tl_eq "and it is kept as it was" "$(state_a)" "$operator"
tl_eq "nothing recorded for the VM" "$(ls "$KVMCG_STATE_DIR" | grep -c '\.state$')" 0
"$KVMCG" pin --pid "$pid" --policy "$pol" --force >"$TL_TMP/force.out" 2>&1
rc=$?
tl_eq "with --force, pin exits 0" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/force.out"
tl_check "and says it replaced the operator's qdisc" grep -q "root qdisc tbf 7: is replaced (--force); unpin puts it back" "$TL_TMP/force.out"
tl_eq "kvmcg's TBF is the root now" "$(ina tc -j qdisc show dev "$tap" | jq -r '.[] | select(.root) | .handle')" 6b76:
"$KVMCG" unpin --pid "$pid" >"$TL_TMP/unpin2.out" 2>&1
tl_eq "unpin puts the operator's qdisc back, parameters and all" "$(state_a)" "$operator"
ina tc qdisc del dev "$tap" root

# a classful qdisc of the operator's: kvmcg could not put its classes back, so not even --force
ina tc qdisc add dev "$tap" root handle 7: htb default 10
ina tc class add dev "$tap" parent 7: classid 7:10 htb rate 10mbit
operator=$(state_a)
"$KVMCG" pin --pid "$pid" --policy "$pol" --force >"$TL_TMP/htb.out" 2>&1
rc=$?
tl_eq "an operator's htb, even with --force: exit 2" "$rc" 2
tl_check "the refusal says why" grep -q "(htb, handle 7:), which kvmcg could not put back as it was" "$TL_TMP/htb.out"
tl_eq "and the htb is kept" "$(state_a)" "$operator"
# (text: this iproute2's tc -j class show prints htb classes as text)
tl_eq "... with its class" "$(ina tc class show dev "$tap" | awk '{ print $3 }')" "7:10"
ina tc qdisc del dev "$tap" root

# the tap renamed while shaped: unpin finds it by its index, and removes everything
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null 2>&1
ip -n "$nsa" link set "$tap" down
ip -n "$nsa" link set "$tap" name "${tap}r"
ip -n "$nsa" link set "${tap}r" up
"$KVMCG" show --pid "$pid" --json >"$TL_TMP/rename.json" 2>&1
tl_eq "show finds what kvmcg put on the renamed tap, under its new name" \
	"$(jq -c '[.. | objects | select(has("devices")) | .devices[] | select(.what == "root") | {present, name}]' "$TL_TMP/rename.json")" \
	"[{\"present\":true,\"name\":\"${tap}r\"}]"
"$KVMCG" unpin --pid "$pid" >"$TL_TMP/rename.out" 2>&1
rc=$?
tl_eq "unpin of a VM whose tap was renamed: exit 0" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/rename.out"
tl_check "it says the tap's new name" grep -q "$tap is named ${tap}r now" "$TL_TMP/rename.out"
ip -n "$nsa" link set "${tap}r" down
ip -n "$nsa" link set "${tap}r" name "$tap"
ip -n "$nsa" link set "$tap" up
ina ip addr replace 10.79.0.1/24 dev "$tap"
tl_eq "and the renamed tap has no qdisc and no device of kvmcg's left" "$(state_a)" "$before"

# an ingress qdisc the operator put in place of kvmcg's: left, with its filter
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null 2>&1
ina tc qdisc del dev "$tap" ingress
ina tc qdisc add dev "$tap" ingress
ina tc filter add dev "$tap" parent ffff: protocol all prio 7 u32 match u32 0 0 flowid 1:7
"$KVMCG" unpin --pid "$pid" >"$TL_TMP/ing.out" 2>&1
tl_check "unpin leaves an ingress qdisc that holds no filter of kvmcg's, and says so" \
	grep -q "$tap: its ingress qdisc holds no filter of kvmcg's: left as it is" "$TL_TMP/ing.out"
tl_eq "... its filter is still there" "$(ina tc -j filter show dev "$tap" ingress | jq -c '[.[].pref] | unique')" "[7]"
ina tc qdisc del dev "$tap" ingress
tl_eq "... and kvmcg's own root qdisc (and IFB) went" "$(state_a)" "$before"

# a device of another kind with the name kvmcg gives the tap's IFB device: refused,
# and left alone
if [ "$police" = no ]; then
	ifbname=$("$KVMCG" pin --pid "$pid" --policy "$pol" --dry-run 2>&1 | grep -o 'kvmcg[0-9a-f]\{8\}' | head -1)
	ip -n "$nsa" link add "$ifbname" type veth peer name "kvn$$p"
	"$KVMCG" pin --pid "$pid" --policy "$pol" >"$TL_TMP/foreign.out" 2>&1
	tl_eq "a veth named $ifbname, the tap's IFB device's name: the pin is refused, exit 2" "$?" 2 ||
		sed 's/^/#   /' "$TL_TMP/foreign.out"
	tl_check "... saying whose name it is" grep -q "a device named $ifbname (veth), not kvmcg's" "$TL_TMP/foreign.out"
	tl_eq "... and the veth is still there" "$(ip -n "$nsa" -o link show type veth | grep -c "$ifbname@")" 1
	ip -n "$nsa" link del "$ifbname"
fi

# an operator's filter put beside kvmcg's on kvmcg's own ingress qdisc: unpin removes
# kvmcg's filter only, and keeps the qdisc with the operator's. Before it, a probe's
# throwaway device left by a kvmcg killed midway (its pid is no process's) goes at the
# next probe; one of a live pid stays.
true &
dead=$!
wait "$dead"
ip -n "$nsa" link add "kvmcgp$dead" type ifb
ip -n "$nsa" link add "kvmcgp$$" type ifb
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null 2>&1
tl_eq "a probe removes a dead probe's device (kvmcgp$dead) and keeps a live pid's (kvmcgp$$)" \
	"$(ip -n "$nsa" -o link show type ifb | grep -o 'kvmcgp[0-9]*' | sort | tr '\n' ' ')" "kvmcgp$$ "
ip -n "$nsa" link del "kvmcgp$$"
ina tc filter add dev "$tap" parent ffff: protocol all prio 7 u32 match u32 0 0 flowid 1:7
"$KVMCG" unpin --pid "$pid" >"$TL_TMP/ing2.out" 2>&1
tl_check "unpin of an ingress qdisc that holds the operator's filter beside kvmcg's says only kvmcg's goes" \
	grep -q "$tap: its ingress qdisc holds other filters than kvmcg's: only kvmcg's is removed" "$TL_TMP/ing2.out"
tl_eq "... the operator's filter is still there, kvmcg's is not" \
	"$(ina tc -j filter show dev "$tap" ingress | jq -c '[.[].pref] | unique')" "[7]"
ina tc qdisc del dev "$tap" ingress
tl_eq "... and kvmcg's own root qdisc (and IFB) went" "$(state_a)" "$before"

# a record edited to name another device: refused, nothing removed
if [ "$police" = no ]; then
	"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null 2>&1
	ip -n "$nsa" link add kvnifb$$ type ifb
	rec=$(ls "$KVMCG_STATE_DIR"/*.state)
	cp "$rec" "$TL_TMP/rec.good"
	jq '.net |= map(if .what == "ifb" then .dev = "kvnifb'$$'" else . end)' "$TL_TMP/rec.good" >"$rec"
	"$KVMCG" unpin --pid "$pid" >"$TL_TMP/forged.out" 2>&1
	tl_check "a record that names an IFB device kvmcg does not make is refused" \
		grep -q "not a name kvmcg gives" "$TL_TMP/forged.out"
	tl_eq "... and that device is still there" "$(ip -n "$nsa" -o link show kvnifb$$ | wc -l)" 1
	cp "$TL_TMP/rec.good" "$rec"
	"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
	ip -n "$nsa" link del kvnifb$$
	tl_eq "... the true record unpins as ever" "$(state_a)" "$before"
else
	tl_skip "a record naming an IFB device kvmcg does not make" "outbound goes by police here: no IFB"
fi

# no tap by that name: not carried out (exit 3), nothing made
sed "s/^Interface=.*/Interface=nosuch*/" "$pol" >"$TL_TMP/none.policy"
"$KVMCG" pin --pid "$pid" --policy "$TL_TMP/none.policy" >"$TL_TMP/none.out" 2>&1
rc=$?
tl_eq "Interface= that matches none of the VM's taps: exit 3" "$rc" 3
tl_check "said as not carried out, with the count of taps" grep -q "not carried out: \[Network\] (pid $pid holds no tap named nosuch\*: 1 tap in all)" "$TL_TMP/none.out"
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1

# the VM exits while shaped: the next kvmcg command removes what is left in A
"$KVMCG" pin --pid "$pid" --policy "$pol" >/dev/null 2>&1
kill "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
"$KVMCG" list >/dev/null 2>&1
tl_eq "after the VM exits, kvmcg list removes its IFB device (when it had one) and its record" \
	"$(ip -n "$nsa" -j -d link show type ifb | jq -r 'length'):$(ls "$KVMCG_STATE_DIR" | grep -c '\.state$')" "0:0"
tl_eq "the host's device of that name is still untouched" "$(tc -j qdisc show dev "$tap")" "$host_before"
tl_done
