#!/bin/bash
# make demo: starts a throwaway QEMU (KVM when /dev/kvm works, else TCG; no disk)
# and shows what kvmcg sees. The QEMU is stopped on every exit path.
set -euo pipefail
KVMCG=${KVMCG:-$(cd "$(dirname "$0")/.." && pwd)/build/kvmcg}
tmp=$(mktemp -d /tmp/kvmcg-demo.XXXXXX)
pid=

cleanup() {
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

echo "Starting a throwaway QEMU (${accel[1]}, 2 vCPUs, one iothread, QMP at $tmp/demo.qmp)"
qemu-system-x86_64 "${accel[@]}" -m 128 -smp 2 -display none -nodefaults \
	-name guest=kvmcg-demo -object iothread,id=io0 \
	-qmp unix:"$tmp"/demo.qmp,server=on,wait=off \
	-pidfile "$tmp"/demo.pid -daemonize 2>"$tmp/qemu.err" || {
	cat "$tmp/qemu.err" >&2
	exit 1
}
pid=$(cat "$tmp"/demo.pid)
sleep 1

run "$KVMCG" list
run "$KVMCG" show --name kvmcg-demo
echo
echo "The same, as JSON (first thread only):"
"$KVMCG" show --pidfile "$tmp"/demo.pid --json | jq '.threads |= .[:1]'
echo
echo "Without QMP, kvmcg falls back to names, then to the KVM vCPU fds:"
run "$KVMCG" show --pid "$pid" --no-qmp
echo
echo "Stopping the demo QEMU (pid $pid)."
