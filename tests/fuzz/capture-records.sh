#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Undo records written by the real kvmcg, as seeds for fuzz-record:
#
#   tests/fuzz/capture-records.sh DEST_DIR     (as root, after `make all`)
#
# Starts a throwaway QEMU (TCG, two vCPUs and an iothread, named by thread), pins
# it in several ways with KVMCG_STATE_DIR set to a temporary directory, copies the
# record each pin leaves to DEST_DIR/NAME.state, and unpins it after each. The
# QEMU, its cgroups and the temporary directory are removed on every exit path.
set -eu
dest=${1:?usage: $0 DEST_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
kvmcg=${KVMCG:-$root/build/kvmcg}
[ -x "$kvmcg" ] || { echo "no $kvmcg: run make all first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "as root: kvmcg pins through cgroups" >&2; exit 1; }
mkdir -p "$dest"

tmp=$(mktemp -d)
export KVMCG_STATE_DIR=$tmp/state
pid=
cleanup() {
	[ -n "$pid" ] && "$kvmcg" unpin --pid "$pid" >/dev/null 2>&1 || true
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

head -c 65520 /dev/zero >"$tmp/halt.bin"
printf '\xfa\xf4\xeb\xfd' >>"$tmp/halt.bin"
head -c 12 /dev/zero >>"$tmp/halt.bin"

name="seed $$ 100%"
qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults -no-user-config \
	-bios "$tmp/halt.bin" -smp 2 -name "guest=$name,debug-threads=on" \
	-object iothread,id=io0 -object iothread,id=io.odd_id-2 \
	-qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
	-pidfile "$tmp/qemu.pid" -daemonize
pid=$(cat "$tmp/qemu.pid")
sleep 1

# capture NAME PIN-ARGS...: pin, keep the record, unpin.
capture() {
	local seed=$1
	shift
	local rc=0
	"$kvmcg" pin --pid "$pid" "$@" >/dev/null 2>"$tmp/err" || rc=$?
	# 3: done in part (a setting this host cannot carry out); the record is there
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
		echo "$seed: pin failed ($rc): $(cat "$tmp/err")" >&2
		return 1
	fi
	cp "$KVMCG_STATE_DIR"/*.state "$dest/$seed.state"
	echo "$seed: $(wc -c <"$dest/$seed.state") bytes"
	"$kvmcg" unpin --pid "$pid" >/dev/null
}

capture pin-vcpus-emulator --vcpu 0:0 --vcpu 1:1 --emulator 0-1
capture pin-iothreads-mems --vcpu all:0-1 --iothread io0:1 --iothread io.odd_id-2:0 --mems 0
capture pin-affinity-only --affinity-only --vcpu 0:1 --vcpu 1:0 --emulator 0
capture pin-sched-fifo --vcpu all:1 --vcpu-scheduler fifo:10
capture pin-cpu-bandwidth --vcpu 0:0 --cpu-weight 200 --cpu-quota 150% --cpu-period 50000 || true
# a taskset from someone else first: the record keeps that mask as the origin
taskset -a -pc 1 "$pid" >/dev/null
capture pin-after-taskset --vcpu 0-1:0 --emulator 1
# --cgroup-root: a directory of the cpuset hierarchy made for it (the record names it)
mount=$(awk '$9 == "cgroup" && $NF ~ /(^|,)cpuset(,|$)/ { print $5; exit }' /proc/self/mountinfo)
[ -n "$mount" ] || mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
croot=$mount/seed-root-$$
mkdir "$croot"
[ -f "$croot/cpuset.cpus" ] && cat "$mount/cpuset.cpus" >"$croot/cpuset.cpus" && cat "$mount/cpuset.mems" >"$croot/cpuset.mems"
capture pin-cgroup-root --cgroup-root "$croot" --vcpu 0:0 --emulator 1 || true
rmdir "$croot"
