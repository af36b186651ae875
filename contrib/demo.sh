#!/bin/bash
# make demo: starts a throwaway QEMU (KVM when /dev/kvm works, else TCG; no disk)
# with kvmcg run, so that it is placed before its guest runs; shows it, moves a vCPU
# with kvmcg pin, then unpins it. The QEMU (and with it every cgroup the demo made)
# is gone on every exit path.
set -euo pipefail
KVMCG=${KVMCG:-$(cd "$(dirname "$0")/.." && pwd)/build/kvmcg}
tmp=$(mktemp -d /tmp/kvmcg-demo.XXXXXX)
pid=

cleanup() {
	# unpin if a step failed half-way; harmless when already unpinned
	[ -n "$pid" ] && KVMCG_STATE_DIR=$tmp/state "$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
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
