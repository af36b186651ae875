#!/bin/bash
# Pins at a glance, in libvirt's words, against a real QEMU (2 vCPUs, an iothread):
#  - `kvmcg pin VMSEL` with no setting asked prints the pins as virsh vcpupin and
#    emulatorpin do, from the kernel's affinities, and creates nothing (no record,
#    no cgroup); --json has every vCPU QEMU reports;
#  - `show` has a "Pins" line (the kernel's) and a "kvmcg pins" line (the record's,
#    in virsh's words), thread states and CPU times as virsh vcpuinfo words them
#    (the raw values in JSON);
#  - `list`'s PINS column, chosen with -o, in its compact form.
# Every expected value is computed from /proc, not from kvmcg's answers.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools qemu-system-x86_64 jq
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
last=$((ncpu - 1))
online=$(cat /sys/devices/system/cpu/online)

pid=$(tl_qemu g -smp 2 -name guest=t-glance,debug-threads=on -object iothread,id=io0 \
	-qmp unix:"$TL_TMP"/g.qmp,server=on,wait=off)
tl_settle "$pid" 2

# tid_of COMM: the thread of the VM named so
tid_of() {
	local t
	for t in /proc/"$pid"/task/*; do
		[ "$(cat "$t"/comm 2>/dev/null)" = "$1" ] && echo "${t##*/}" && return
	done
}
aff() { awk '/^Cpus_allowed_list:/ { print $2 }' /proc/"$pid"/task/"$1"/status; }
vcpus=$(tl_qmp_vcpus "$TL_TMP"/g.qmp)
tl_eq "QEMU reports 2 vCPUs (query-cpus-fast)" "$(wc -l <<<"$vcpus")" 2
v0=$(awk '$1 == 0 { print $2 }' <<<"$vcpus") v1=$(awk '$1 == 1 { print $2 }' <<<"$vcpus")
io=$(tid_of "IO io0")
tl_check "the iothread is there (IO io0, tid $io)" test -n "$io"

# virsh's form, from /proc
expected_pins() {
	printf 'VCPU: CPU Affinity\n   0: %s\n   1: %s\nemulator: %s\niothread io0: %s\n' \
		"$(aff "$v0")" "$(aff "$v1")" "$(aff "$pid")" "$(aff "$io")"
}

# --- pin VMSEL alone, before any pin ----------------------------------------------------------
out=$("$KVMCG" pin --name t-glance 2>"$TL_TMP/err")
tl_eq "pin --name alone: exit 0" "$?" 0
tl_eq "... prints the pins as virsh vcpupin and emulatorpin do (all CPUs: not pinned)" "$out" "$(expected_pins)"
tl_eq "... nothing on stderr" "$(cat "$TL_TMP/err")" ""
tl_eq "... and makes no record" "$(ls "$KVMCG_STATE_DIR")" ""
tl_cgroups_only tl_check "... nor a cgroup" test ! -e "$mount/kvmcg/t-glance"
tl_eq "list -o NAME,PINS: nothing pinned is -" \
	"$("$KVMCG" list -n -r -o NAME,PINS --no-qmp | awk '$1 == "t-glance" { print $2 }')" -

# --- pinned: vCPU 0 on CPU 0, vCPU 1 on the last, the emulator on 0, io0 on the last -----------
"$KVMCG" pin --name t-glance --vcpu 0:0 --vcpu 1:"$last" --emulator 0 --iothread io0:"$last" >/dev/null
tl_eq "pin: exit 0" "$?" 0
tl_eq "... vCPU 1's affinity is $last (/proc)" "$(aff "$v1")" "$last"
out=$("$KVMCG" pin --name t-glance)
tl_eq "pin --name alone, pinned: the kernel's pins, virsh's form" "$out" "$(expected_pins)"
json=$("$KVMCG" pin --name t-glance --json)
tl_eq "pin --json: every vCPU QEMU reports, with its tid and CPUs" \
	"$(jq -r '.vcpupin[] | "\(.vcpu) \(.tid) \(.cpulist)"' <<<"$json")" \
	"0 $v0 $(aff "$v0")
1 $v1 $(aff "$v1")"
tl_eq "pin --json: the emulator and the iothread" \
	"$(jq -r '"\(.emulatorpin.tid) \(.emulatorpin.cpulist) \(.iothreadpin[0].id) \(.iothreadpin[0].tid) \(.iothreadpin[0].cpulist)"' <<<"$json")" \
	"$pid $(aff "$pid") io0 $io $(aff "$io")"
tl_eq "pin --json: kvmcg's record, as show has it" "$(jq -r .kvmcg.pins.vcpus.\"1\" <<<"$json")" "$last"

# The compact form, from /proc: vCPUs with one affinity in a row as one item.
if [ "$last" = 0 ]; then
	compact="0-1:0 emu:0 io0:0"
else
	compact="0:0 1:$last emu:0 io0:$last"
fi
# on a 1-CPU host nothing is narrower than the online CPUs
[ "$online" = 0 ] && compact=-
tl_eq "list: the PINS column (-o)" \
	"$("$KVMCG" list -n -r -o NAME,PINS --no-qmp | awk '$1 == "t-glance" { $1 = ""; print substr($0, 2) }')" \
	"$(sed 's/ /\\x20/g' <<<"$compact")"
tl_eq "list --json: pins" "$("$KVMCG" list --json --no-qmp | jq -r '.vms[] | select(.name == "t-glance") | .pins')" "$compact"

# --- show ------------------------------------------------------------------------------------
"$KVMCG" show --name t-glance >"$TL_TMP/show" 2>&1
tl_eq "show: exit 0" "$?" 0
tl_eq "show: Pins, the kernel's" "$(sed -n 's/^Pins: *//p' "$TL_TMP/show")" "$compact"
tl_eq "show: kvmcg pins, the record's in virsh's words" "$(sed -n 's/^kvmcg pins: *//p' "$TL_TMP/show")" \
	"vCPU 0 -> 0, vCPU 1 -> $last, emulator -> 0, iothread io0 -> $last"
json=$("$KVMCG" show --name t-glance --json)
tl_eq "show --json: kvmcg.pins.text" "$(jq -r .kvmcg.pins.text <<<"$json")" \
	"vCPU 0 -> 0, vCPU 1 -> $last, emulator -> 0, iothread io0 -> $last"
n=$(ls /proc/"$pid"/task | wc -l)
tl_eq "show --json: a row per thread of /proc ($n)" "$(jq '.threads | length' <<<"$json")" "$n"
tl_check "show --json: the raw state letter and nanoseconds" \
	jq -e '[.threads[] | (.state | test("^[RSDTtZXIP]$")) and (.cpu_time_ns | type == "number")] | all' <<<"$json"
# the text table, in vcpuinfo's words
rows=$(awk '/^KIND/ { t = 1; next } t && NF' "$TL_TMP/show")
tl_eq "show: a row per thread in the text too" "$(wc -l <<<"$rows")" "$n"
states=$("$KVMCG" show --name t-glance -n -r -o STATE,TIME)
tl_check "show: STATE in words (running, sleeping, ...): $(tr '\n' ' ' <<<"$states")" \
	awk '$1 !~ /^(running|sleeping|blocked|stopped|traced|zombie|dead|idle|parked)$/ { exit 1 }' <<<"$states"
tl_check "show: TIME as virsh vcpuinfo's (0.1s)" awk '$2 !~ /^[0-9]+\.[0-9]s$/ { exit 1 }' <<<"$states"
# the main thread's CPU time, from /proc (utime + stime, ticks) against show's, in 0.1 s
ticks=$(getconf CLK_TCK)
want=$(awk -v t="$ticks" '{ sub(/.*\) /, ""); printf "%.1f", ($12 + $13) / t }' /proc/"$pid"/task/"$pid"/stat)
got=$("$KVMCG" show --name t-glance --json | jq -r --argjson p "$pid" '.threads[] | select(.tid == $p) | .cpu_time_ns')
tl_check "show: the main thread's CPU time agrees with /proc (${want}s, show $got ns)" \
	awk -v w="$want" -v g="$got" 'BEGIN { d = g / 1e9 - w; exit !(d > -0.5 && d < 0.5) }'

"$KVMCG" unpin --name t-glance >/dev/null
tl_eq "unpin: exit 0" "$?" 0
tl_eq "... pin --name alone shows every thread on the online CPUs again" "$("$KVMCG" pin --name t-glance)" \
	"$(printf 'VCPU: CPU Affinity\n   0: %s\n   1: %s\nemulator: %s\niothread io0: %s\n' "$online" "$online" "$online" "$online")"
tl_done
