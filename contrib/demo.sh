#!/bin/bash
# make demo: starts a throwaway QEMU (KVM when /dev/kvm works, else TCG; no disk)
# with kvmcg run, so that it is placed before its guest runs; shows it, moves a vCPU
# with kvmcg pin, then unpins it. Then a network cap: a second QEMU whose two taps sit
# in two network namespaces of the demo's own (it forwards between them through its
# hub, as a guest would), measured with iperf3 before, with and after a policy's
# InboundAverage=; no device of the host is touched. The QEMUs, the namespaces and
# every cgroup the demo made are gone on every exit path.
set -euo pipefail
KVMCG=${KVMCG:-$(cd "$(dirname "$0")/.." && pwd)/build/kvmcg}
tmp=$(mktemp -d /tmp/kvmcg-demo.XXXXXX)
pid= netpid=
nsa=kvmcg-demo-a-$$ nsb=kvmcg-demo-b-$$

cleanup() {
	# unpin if a step failed half-way; harmless when already unpinned
	[ -n "$pid" ] && { KVMCG_STATE_DIR=$tmp/state "$KVMCG" unpin --pid "$pid" >/dev/null 2>&1 || true; }
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ -n "$netpid" ]; then
		KVMCG_STATE_DIR=$tmp/state "$KVMCG" unpin --pid "$netpid" >/dev/null 2>&1 || true
		kill "$netpid" 2>/dev/null || true
	fi
	pkill -f "iperf3 -s -D -p 5201 --logfile $tmp/" 2>/dev/null || true
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() {
	printf '\n$ %s\n' "$*"
	"$@"
}

accel=(-accel tcg)
if [ -c /dev/kvm ] && qemu-system-x86_64 -accel kvm -machine none -display none -S \
	-daemonize -pidfile "$tmp/probe.pid" 2>/dev/null; then
	kill "$(cat "$tmp/probe.pid")"
	accel=(-accel kvm -cpu qemu64)
fi

# Pinning must not touch the state of real VMs' pins on this host.
export KVMCG_STATE_DIR=$tmp/state
ncpu=$(nproc)
last=$((ncpu - 1))
qemu=(qemu-system-x86_64 "${accel[@]}" -m 128 -smp 2 -display none -nodefaults
	-name guest=kvmcg-demo -object iothread,id=io0
	-qmp unix:"$tmp"/demo.qmp,server=on,wait=off -pidfile "$tmp"/demo.pid -daemonize)
pins=(--vcpu 0:0 --vcpu 1:"$last" --emulator 0 --iothread io0:0)

echo "A throwaway QEMU (${accel[1]}, 2 vCPUs, one iothread, QMP at $tmp/demo.qmp), started"
echo "by kvmcg run: vCPU 0 on CPU 0, vCPU 1 on CPU $last, emulator and iothread on CPU 0."
echo
echo "=== Before it starts: the command line kvmcg runs and what it does first ==="
run "$KVMCG" run --dry-run "${pins[@]}" -- "${qemu[@]}"

echo
echo "=== Start it: placed before the guest runs its first instruction ==="
run "$KVMCG" run "${pins[@]}" -- "${qemu[@]}"
pid=$(cat "$tmp"/demo.pid)

echo
echo "=== After: every thread in its cgroup, with its CPUs ==="
run "$KVMCG" list
run "$KVMCG" show --name kvmcg-demo

echo
echo "=== Pin a running VM: vCPU 1 moves to CPU 0 (a dry run first) ==="
run "$KVMCG" pin --name kvmcg-demo --vcpu 1:0 --dry-run
run "$KVMCG" pin --name kvmcg-demo --vcpu 1:0
run "$KVMCG" show --name kvmcg-demo -o KIND,ID,TID,NAME,AFFINITY,CGROUP

echo
echo "=== Pinning again changes nothing ==="
run "$KVMCG" pin --name kvmcg-demo --vcpu 1:0

echo
echo "=== Unpin: every thread back where it would have been without kvmcg ==="
run "$KVMCG" unpin --name kvmcg-demo
run "$KVMCG" show --pid "$pid" -o KIND,ID,TID,NAME,AFFINITY,CGROUP
echo
echo "Stopping the demo QEMU (pid $pid)."
kill "$pid"

echo
echo "=== A network cap: InboundAverage=20Mbit on a VM's tap ==="
if ! command -v iperf3 >/dev/null || ! ip netns add "$nsa" 2>/dev/null || ! ip netns add "$nsb" 2>/dev/null; then
	echo "(skipped: this needs iperf3 and network namespaces; make deps installs iperf3)"
	exit 0
fi
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null || true
head -c 65520 /dev/zero >"$tmp/halt.bin"
printf '\xfa\xf4\xeb\xfd' >>"$tmp/halt.bin"
head -c 12 /dev/zero >>"$tmp/halt.bin"
ip -n "$nsa" link set lo up
ip -n "$nsb" link set lo up
echo "A second QEMU, in a network namespace A ($nsa), with two taps joined by its own"
echo "hub; the tap dtap1 moves to namespace B ($nsb), so that traffic from A to B"
echo "crosses the QEMU as it would cross a guest, entering it through dtap0: the guest's"
echo "inbound."
nsenter --net="/run/netns/$nsa" qemu-system-x86_64 "${accel[@]}" -m 64 -display none -nodefaults \
	-bios "$tmp/halt.bin" -name kvmcg-demo-net,debug-threads=on -pidfile "$tmp/net.pid" -daemonize \
	-netdev tap,id=t0,ifname=dtap0,script=no,downscript=no -netdev tap,id=t1,ifname=dtap1,script=no,downscript=no \
	-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=t1 2>/dev/null
netpid=$(cat "$tmp/net.pid")
ip -n "$nsa" link set dtap1 netns "$nsb"
ip -n "$nsa" addr add 10.81.0.1/24 dev dtap0
ip -n "$nsb" addr add 10.81.0.2/24 dev dtap1
ip -n "$nsa" link set dtap0 up
ip -n "$nsb" link set dtap1 up
ip netns exec "$nsb" iperf3 -s -D -p 5201 --logfile "$tmp/iperf.log"
# iperf3 for 2 s from A to B: what B received, in Mbit/s
measure() {
	local out=
	for _ in $(seq 20); do
		out=$(ip netns exec "$nsa" iperf3 -c 10.81.0.2 -p 5201 -t 2 -J 2>/dev/null) && break
		sleep 0.2 # the server is not up yet
	done
	jq -r '.end.sum_received.bits_per_second // 0 | . / 1000000 | floor | "\(.) Mbit/s received"' <<<"$out"
}
printf '[Match]\nName=kvmcg-demo-net\n\n[Network]\nInterface=dtap0\nInboundAverage=20Mbit\n' >"$tmp/net.policy"
echo
echo "Before: the tap has the kernel's default qdisc; the guest's inbound is as fast as the QEMU forwards."
run ip netns exec "$nsa" tc qdisc show dev dtap0
echo "iperf3 from A to B: $(measure)"
run cat "$tmp/net.policy"
run "$KVMCG" pin --name kvmcg-demo-net --policy "$tmp/net.policy"
run ip netns exec "$nsa" tc qdisc show dev dtap0
echo "iperf3 from A to B: $(measure)"
echo
echo "=== Unpin: the tap as it was ==="
run "$KVMCG" unpin --name kvmcg-demo-net
run ip netns exec "$nsa" tc qdisc show dev dtap0
echo "iperf3 from A to B: $(measure)"
