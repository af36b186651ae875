#!/bin/bash
# kernel/rtnl.c and vmm/taps.c against the real kernel, without kvmcg: a QEMU started
# in a network namespace of this script's own holds two taps (one with two queues);
# build/rtnl-probe, which stays in the host's namespace, finds them through /proc and
# works on them through the QEMU's /proc/PID/ns/net. Everything is read back with
# ip(8) and tc(8) inside the namespace: HTB on a tap's egress (a 32-bit and a 64-bit
# rate), ingress shaping through an IFB device and a mirred redirect, police where
# the kernel has act_police (a visible skip where not), an operator's qdisc reported
# as the operator's and put back from its raw options, and a device of the same name
# in the host's namespace left untouched. What is added is removed, and each tap's
# qdiscs are then as they were.
. "$(dirname "$0")/../lib/testlib.sh"

probe=$KVMCG_BUILD_DIR/rtnl-probe
if [ ! -x "$probe" ]; then
	tl_skip "rtnetlink" "no $probe (make $probe)"
	tl_done
fi
tl_need_tools "rtnetlink" ip tc jq nsenter qemu-system-x86_64
# tun as a module (Debian's kernels): its node appears once it is loaded
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null
if [ ! -c /dev/net/tun ]; then
	tl_skip "rtnetlink" "no /dev/net/tun on this host"
	tl_done
fi

ns=kvmcg-rtnl-$$
# tap names: short (IFNAMSIZ is 16), unique to this run; the first one also names a
# device in the host's namespace
tapa=kvr$$a tapb=kvr$$b ifb=kvr$$i
tl_netns rtnetlink "$ns"

# the host's device of the same name: a tap with no holder (this kernel may have no
# dummy driver), up, with its default qdisc
ip tuntap add dev "$tapa" mode tap && tl_on_exit "ip link del $tapa 2>/dev/null"
ip link set "$tapa" up
host_before=$(tc -j qdisc show dev "$tapa"; ip -j link show dev "$tapa" | jq -c '.[] | {ifindex, ifname, flags, mtu}')

pidfile=$TL_TMP/qemu.pid
# Into the namespace with nsenter, which changes the network namespace only (ip netns
# exec also makes a mount namespace, where QEMU's executable would read, from this
# script's root in the test guest's chroot, as a path with a prefix).
if ! nsenter --net="/run/netns/$ns" qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults -no-user-config \
	-bios "$(tl_halt_bios)" -S -pidfile "$pidfile" -daemonize \
	-netdev tap,id=n0,ifname="$tapa",script=no,downscript=no \
	-netdev tap,id=n1,ifname="$tapb",script=no,downscript=no,queues=2 \
	-device virtio-net-pci,netdev=n0 -device virtio-net-pci,netdev=n1,mq=on,vectors=6 2>"$TL_TMP/qemu.err"; then
	tl_fail "QEMU with two taps starts in $ns: $(tail -1 "$TL_TMP/qemu.err")"
	tl_done
fi
pid=$(cat "$pidfile")
tl_register_pid "$pid"
# QEMU with script=no leaves its taps down, where the kernel has attached no qdisc yet
ip -n "$ns" link set "$tapa" up
ip -n "$ns" link set "$tapb" up

# run SUBCOMMAND ARGS: the probe on QEMU's namespace; its output in $out, status in $rc
run() {
	out=$("$probe" "$1" "$pid" "${@:2}" 2>"$TL_TMP/probe.err")
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || sed 's/^/#   /' "$TL_TMP/probe.err"
}
field() { awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }' <<<"$out"; }
qdiscs() { ip netns exec "$ns" tc -j qdisc show dev "$1"; }

# ---- the taps, from /proc ----
run taps
tl_eq "the probe reads QEMU's taps" "$rc" 0
tl_eq "QEMU's namespace is not the probe's" "$(field netns)" other
want=$(ip -n "$ns" -j link show type tun | jq -r '.[] | "\(.ifname) \(.ifindex)"' | sort)
tl_eq "the same taps, with their ifindexes in QEMU's namespace, as ip link show type tun says" \
	"$(awk '$1 == "tap" && $2 == "tun" { print $3, $4 }' <<<"$out" | sort)" "$want" ||
	sed 's/^/#   probe: /' <<<"$out"
fdinfo=$(grep -h '^iff:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort | uniq -c | awk '{ print $2, $1 }')
tl_eq "each with as many fds as fdinfo's iff: lines name it (two queues on $tapb)" \
	"$(awk '$1 == "tap" { print $3, $5 }' <<<"$out" | sort)" "$fdinfo"

run link "$tapa"
idx=$(ip -n "$ns" -j link show dev "$tapa" | jq -r '.[0].ifindex')
tl_eq "link $tapa: its ifindex, its name back from the ifindex, kind tun, no master, MTU 1500" \
	"$(field link)" "$idx $tapa tun 0 1500"

# ---- kvmcg show: the taps, and the namespace they are in ----
json=$("$KVMCG" show --pid "$pid" --json --no-qmp 2>/dev/null)
tl_eq "kvmcg show: the VM's taps, as ip link show type tun says" "$(jq -r '.taps[].name' <<<"$json" | sort)" \
	"$(ip -n "$ns" -j link show type tun | jq -r '.[].ifname' | sort)"
tl_eq "... $tapb with its 2 queues" "$(jq -r --arg t "$tapb" '.taps[] | select(.name == $t) | .queues' <<<"$json")" 2
tl_eq "... in a namespace of its own, the one ip netns made (by inode)" \
	"$(jq -r '"\(.netns) \(.netns_inode)"' <<<"$json")" "own $(stat -L -c %i "/run/netns/$ns")"
tl_check "... and the text view says so" \
	sh -c "'$KVMCG' show --pid $pid --no-qmp | grep -q '^Taps:.*$tapa.*network namespace of its own'"

# ---- what this kernel has ----
run features
tl_eq "probing ran" "$rc" 0
sed -n 's/^feature /#   /p' <<<"$out"
for f in htb tbf ingress mirred ifb; do
	tl_eq "the kernel has $f (found by trying)" "$(field feature | awk -v f="$f" '$1 == f { print $2 }')" yes
done
police=$(field feature | awk '$1 == "police" { print $2 }')
# The kernel's configuration: its own (/proc/config.gz), or the test guest's (given).
kconfig() {
	if [ -r /proc/config.gz ]; then zcat /proc/config.gz
	elif [ -r "${KVMCG_GUEST_KCONFIG:-}" ]; then cat "$KVMCG_GUEST_KCONFIG"
	fi
}
if [ -r /proc/config.gz ] || [ -r "${KVMCG_GUEST_KCONFIG:-}" ]; then
	cfg=$(kconfig | sed -n 's/^CONFIG_NET_ACT_POLICE=\(.\)$/\1/p')
	tl_kernel_expect "act_police ${cfg:-not configured} in the kernel's configuration"
	tl_eq "police found exactly when the kernel is built with act_police" "$police" "$([ -n "$cfg" ] && echo yes || echo no)"
else
	tl_check "police is yes or no: $police" grep -qx 'yes\|no' <<<"$police"
fi
tl_eq "the probe left no device behind" "$(ip -n "$ns" -j link show | jq -r '.[].ifname' | grep -c '^kvmcgp')" 0

# ---- a kernel default root, then HTB ----
before_a=$(qdiscs "$tapa")
before_b=$(qdiscs "$tapb")
run root "$tapa"
tl_eq "$tapa's root qdisc is the kernel's default, handle 0:" \
	"$(cut -d' ' -f1-4 <<<"$(field root)")" "$(jq -r '.[] | select(.root) | "\(.kind) \(.handle)"' <<<"$before_a") ffffffff default"

run htb "$tapa" 1000000 2000000 16000 32000
tl_eq "HTB applied on $tapa (1000000 B/s, ceil 2000000, bursts 16000 and 32000 bytes)" "$rc" 0
tl_eq "the kernel holds HTB 1: at the root, default class 0x10" \
	"$(qdiscs "$tapa" | jq -c '.[] | select(.root) | [.kind, .handle, .options.default]')" '["htb","1:","0x10"]'
tl_eq "class 1:10 with exactly those rates and bursts (tc prints bits: 8 and 16 Mbit)" \
	"$(ip netns exec "$ns" tc class show dev "$tapa" | sed 's/ *$//')" \
	"class htb 1:10 root prio 0 rate 8Mbit ceil 16Mbit burst 16000b cburst 32000b"
run root "$tapa"
tl_eq "an HTB put there is no default: reported as the operator's" "$(awk '{ print $1, $2, $4 }' <<<"$(field root)")" "htb 1: operator"

run htb "$tapb" 5000000000 5000000000 1000000 1000000
tl_eq "HTB with a 64-bit rate on $tapb (5000000000 B/s, TCA_HTB_RATE64)" "$rc" 0
tl_eq "class 1:10 at 40 Gbit, both rates past 2^32-1 bytes per second" \
	"$(ip netns exec "$ns" tc class show dev "$tapb" | sed 's/ *$//')" \
	"class htb 1:10 root prio 0 rate 40Gbit ceil 40Gbit burst 1000000b cburst 1000000b"

tl_eq "the host's $tapa, same name, untouched" \
	"$(tc -j qdisc show dev "$tapa"; ip -j link show dev "$tapa" | jq -c '.[] | {ifindex, ifname, flags, mtu}')" "$host_before"

run undo "$tapa"
tl_eq "undo on $tapa" "$rc" 0
tl_eq "$tapa's qdiscs as before" "$(qdiscs "$tapa")" "$before_a"
run undo "$tapb"
tl_eq "$tapb's qdiscs as before" "$(qdiscs "$tapb")" "$before_b"

# ---- ingress through IFB + mirred ----
run ifb "$tapa" "$ifb" 250000 8000
if [ "$rc" -eq 77 ]; then
	tl_skip "ingress shaping through IFB and mirred" "$(field skip)"
else
	tl_eq "IFB $ifb with HTB, ingress on $tapa redirected to it" "$rc" 0
	tl_eq "$ifb is an ifb device, up" \
		"$(ip -n "$ns" -d -j link show dev "$ifb" | jq -c '.[0] | [.linkinfo.info_kind, (.flags | index("UP") != null)]')" \
		'["ifb",true]'
	tl_eq "$ifb's class 1:10 at 250000 B/s (2 Mbit), burst 8000 bytes" \
		"$(ip netns exec "$ns" tc class show dev "$ifb" | awk '{ print $2, $3, $7, $8, $11, $12 }')" \
		"htb 1:10 rate 2Mbit burst 8000b"
	tl_eq "$tapa has the ingress qdisc ffff:" \
		"$(qdiscs "$tapa" | jq -c '.[] | select(.kind == "ingress") | [.handle, .parent]')" '["ffff:","ffff:fff1"]'
	tl_eq "its filter: u32, all protocols, match 0/0, mirred egress redirect to $ifb, stolen" \
		"$(ip netns exec "$ns" tc -j filter show dev "$tapa" ingress | jq -c '.[] | select(.options.actions) |
			[.kind, .protocol, .options.match.value, .options.match.mask, (.options.actions[] |
			.kind, .mirred_action, .direction, .to_dev, .control_action.type)]')" \
		"[\"u32\",\"all\",\"0\",\"0\",\"mirred\",\"redirect\",\"egress\",\"$ifb\",\"stolen\"]"
	tl_eq "the host's $tapa still untouched" \
		"$(tc -j qdisc show dev "$tapa"; ip -j link show dev "$tapa" | jq -c '.[] | {ifindex, ifname, flags, mtu}')" \
		"$host_before"
	run undo "$tapa" "$ifb"
	tl_eq "undo: $tapa's qdiscs as before" "$(qdiscs "$tapa")" "$before_a"
	tl_eq "undo: $ifb is gone" "$(ip -n "$ns" -j link show | jq -r '.[].ifname' | grep -cx "$ifb")" 0
fi

# ---- ingress police ----
run police "$tapa" 125000 10000
if [ "$rc" -eq 77 ]; then
	tl_skip "ingress police on $tapa" "$(field skip)"
else
	tl_eq "ingress police on $tapa" "$rc" 0
	# tc's text: its JSON of a police action has no rate on some kernels' dumps (6.1)
	filters=$(ip netns exec "$ns" tc filter show dev "$tapa" ingress)
	tl_check "its filter: u32 with police at 125000 B/s (1 Mbit), burst 10000 bytes, exceeding packets dropped" \
		grep -Eq "police .*rate 1Mbit burst 10000b .*action drop" <<<"$filters" ||
		sed 's/^/#   /' <<<"$filters"
	run undo "$tapa"
	tl_eq "undo: $tapa's qdiscs as before" "$(qdiscs "$tapa")" "$before_a"
fi

# ---- an operator's qdisc: reported so, replaced, put back from its raw options ----
ip netns exec "$ns" tc qdisc add dev "$tapa" root handle 5: tbf rate 1mbit burst 10kb latency 50ms
op_before=$(qdiscs "$tapa")
run root "$tapa"
tl_eq "the operator's tbf 5: is reported as the operator's" "$(awk '{ print $1, $2, $4 }' <<<"$(field root)")" "tbf 5: operator"
run swap "$tapa"
tl_eq "saved, replaced by HTB 1:, put back" "$rc $(field replaced-by)" "0 htb 1:"
tl_eq "the operator's tbf as it was (kind, handle, rate, burst, latency)" "$(qdiscs "$tapa")" "$op_before"
ip netns exec "$ns" tc qdisc del dev "$tapa" root
tl_eq "with it removed, $tapa's qdiscs as at the start" "$(qdiscs "$tapa")" "$before_a"

# ---- the burst an MTU-sized packet needs ----
tl_eq "the minimum burst at 1 Mbit for MTU 1500: one 1514-byte frame" "$("$probe" burst 125000 1500)" "burst 1514"

tl_done
