#!/bin/bash
# The project's source example, end to end, as an admin of a bare-QEMU host runs it:
# a 2-vCPU guest named Win7-ent, vCPU 0 on one CPU, vCPU 1 on another, the emulator
# on a range, kept in a policy file. Its start script starts QEMU in the background
# and pins it at once with `kvmcg pin --wait --policy`; the VM is stopped and started
# again and comes back pinned; `apply --dry-run` finds no drift; then, with
# `kvmcg watch` running, a start with nothing else comes back pinned too. Every
# placement is read from /proc, the vCPUs named by QEMU itself (QMP, thread names).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools qemu-system-x86_64 jq socat
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
last=$((ncpu - 1))
# vCPU 0 and 1 on CPUs of their own, the emulator on a range: the other CPUs when
# there are at least four, else all of them
if [ "$ncpu" -ge 4 ]; then
	emu=2-$last
elif [ "$ncpu" -ge 2 ]; then
	emu=0-$last
else
	tl_skip "the source example" "it pins two vCPUs to two CPUs; this host has $ncpu"
	tl_done
fi
v1cpu=1

pol=$TL_TMP/policies
mkdir -m 0755 "$pol"
cat >"$pol"/win7-ent.policy <<EOF
# The source example: Win7-ent's vCPUs on CPUs of their own, its emulator on a range.
[Match]
Name=Win7-ent
[CPU]
VCPUPin=0:0
VCPUPin=1:$v1cpu
EmulatorPin=$emu
EOF
chmod 0644 "$pol"/win7-ent.policy
"$KVMCG" check "$pol"/win7-ent.policy >/dev/null
tl_eq "kvmcg check of the policy: exit 0" "$?" 0

# The VM's start script, as an init script would have it: QEMU in the background,
# kvmcg at once (the pidfile is not there yet when kvmcg starts).
start=$TL_TMP/win7-ent.start
cat >"$start" <<EOF
#!/bin/sh
rm -f "$TL_TMP/win7.pid"
$(command -v qemu-system-x86_64) -accel tcg -m 64 -smp 2 -display none -nodefaults -no-user-config \\
	-bios "$(tl_halt_bios)" -name guest=Win7-ent,debug-threads=on -pidfile "$TL_TMP/win7.pid" \\
	-qmp unix:$TL_TMP/win7.qmp,server=on,wait=off </dev/null >/dev/null 2>"$TL_TMP/win7.err" &
echo \$! >"$TL_TMP/win7.started"
exec "$KVMCG" pin --pidfile "$TL_TMP/win7.pid" --wait=30 --policy "$pol/win7-ent.policy"
EOF
chmod 0755 "$start"

aff() { awk '/^Cpus_allowed_list:/ { print $2 }' /proc/"$1"/task/"$2"/status; }
# "vCPU0 vCPU1 emulator" as the kernel has them, the vCPUs as QMP names them
placement() {
	local pid=$1 vcpus v0 v1
	vcpus=$(tl_qmp_vcpus "$TL_TMP"/win7.qmp)
	[ "$(wc -l <<<"$vcpus")" = 2 ] || {
		echo "QMP reports: $vcpus"
		return
	}
	v0=$(awk '$1 == 0 { print $2 }' <<<"$vcpus") v1=$(awk '$1 == 1 { print $2 }' <<<"$vcpus")
	echo "$(aff "$pid" "$v0") $(aff "$pid" "$v1") $(aff "$pid" "$pid")"
}
expected="0 $v1cpu $emu"
[ "$emu" = "0-1" ] && [ "$ncpu" = 2 ] && expected="0 1 0-1"

# boot PASS: runs the start script; sets $vm
boot() {
	"$start" >"$TL_TMP/start.out" 2>&1
	local rc=$?
	vm=$(cat "$TL_TMP/win7.started")
	tl_register_pid "$vm"
	tl_eq "$1: the start script (qemu & kvmcg pin --wait --policy): exit 0" "$rc" 0 ||
		sed 's/^/#   /' "$TL_TMP/start.out"
	tl_eq "$1: vCPU 0 on 0, vCPU 1 on $v1cpu, the emulator on $emu (/proc; vCPUs by QMP)" \
		"$(placement "$vm")" "$expected"
}
stop() {
	kill "$vm"
	for _ in $(seq 100); do
		[ -e /proc/"$vm" ] || return 0
		sleep 0.05
	done
	return 1
}

boot "first boot"
tl_eq "pin Win7-ent alone: the pins as virsh vcpupin shows them" "$("$KVMCG" pin --name Win7-ent)" \
	"$(printf 'VCPU: CPU Affinity\n   0: 0\n   1: %s\nemulator: %s' "$v1cpu" "$emu")"
"$KVMCG" apply --policy-dir "$pol" --name Win7-ent --dry-run >"$TL_TMP/out" 2>&1
tl_eq "apply --dry-run: no drift, exit 0" "$?" 0
tl_check "... and says so in virsh's words: $(head -1 "$TL_TMP/out")" \
	grep -qx "Win7-ent: vCPU 0 -> 0, vCPU 1 -> $v1cpu, emulator -> $emu (unchanged)" "$TL_TMP/out"
first=$vm
rec1=$(ls "$KVMCG_STATE_DIR"/"$first"-*.state 2>/dev/null)
tl_check "its record is kept ($rec1)" test -n "$rec1"

stop
tl_eq "stopped (pid $first gone)" "$([ -e /proc/"$first" ] && echo running || echo gone)" gone
boot "started again"
tl_check "a new QEMU (pid $vm, was $first)" test "$vm" != "$first"
"$KVMCG" list >/dev/null 2>&1 # collects what the exited VM left
tl_check "the first boot's record is gone" test ! -e "$rec1"
tl_cgroups_only tl_eq "one cgroup tree for the VM (the new one)" \
	"$(find "$mount"/kvmcg -maxdepth 1 -name 'Win7-ent*' -type d 2>/dev/null | wc -l)" 1

# --- with kvmcg watch running, the start needs nothing else -----------------------------------
stop
"$KVMCG" watch --foreground --policy-dir "$pol" --reconcile-interval 0 >"$TL_TMP/watch.out" 2>"$TL_TMP/watch.log" &
wpid=$!
tl_register_pid "$wpid"
for _ in $(seq 100); do
	grep -q "watching" "$TL_TMP/watch.log" && break
	sleep 0.1
done
tl_check "kvmcg watch runs: $(head -1 "$TL_TMP/watch.log")" grep -q watching "$TL_TMP/watch.log"
qemu-system-x86_64 -accel tcg -m 64 -smp 2 -display none -nodefaults -no-user-config -bios "$(tl_halt_bios)" \
	-name guest=Win7-ent,debug-threads=on -qmp unix:"$TL_TMP"/win7.qmp,server=on,wait=off \
	</dev/null >/dev/null 2>"$TL_TMP/win7.err" &
vm=$!
tl_register_pid "$vm"
got=
for _ in $(seq 300); do
	tl_qmp_vcpus "$TL_TMP"/win7.qmp >/dev/null 2>&1 && got=$(placement "$vm") && [ "$got" = "$expected" ] && break
	sleep 0.1
done
tl_eq "started with nothing but QEMU: pinned by the watch within 30 s (/proc)" "$got" "$expected"
tl_check "... and the daemon said so: $(grep -m1 "pid $vm" "$TL_TMP/watch.log")" grep -q "pid $vm (Win7-ent): pinned" "$TL_TMP/watch.log"
stop
kill "$wpid"
wait "$wpid"
tl_eq "kvmcg watch: SIGTERM, exit 0" "$?" 0
"$KVMCG" list >/dev/null 2>&1
tl_eq "nothing of the VM is left in the state directory" "$(ls "$KVMCG_STATE_DIR" | grep -v '^watch' | grep -c state)" 0
tl_done
