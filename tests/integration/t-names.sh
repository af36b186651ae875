#!/bin/bash
# Names kvmcg derives stay bounded and distinct, and a limit that cannot be met is
# named with the value at fault (exit 2), never an ENOMEM: long iothread ids (QEMU
# takes any length), long VM names, an over-long --cgroup-root component.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "derived names do not depend on the cgroup mode"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "names" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
last=$((ncpu - 1))

id65=$(printf 'i%.0s' $(seq 65))
id200=$(printf 'j%.0s' $(seq 199))x
name300=$(printf 'n%.0s' $(seq 300))
pid=$(tl_qemu n -smp 2 -name guest="$name300" -object iothread,id="$id65" -object iothread,id="$id200" \
	-object iothread,id=short -qmp unix:"$TL_TMP"/n.qmp,server=on,wait=off)
tl_settle "$pid" 2
before=$(snapshot "$pid")
json=$("$KVMCG" show --pid "$pid" --json)
tl_eq "QEMU runs three iothreads (QMP, read independently)" \
	"$(tl_qmp "$TL_TMP"/n.qmp query-iothreads | jq 'length')" 3
tl_eq "kvmcg sees them" "$(jq '[.threads[] | select(.kind == "iothread")] | length' <<<"$json")" 3

"$KVMCG" pin --pid "$pid" --vcpu all:"$last" --dry-run >/dev/null 2>"$TL_TMP/err"
tl_eq "a 65-byte iothread id: pin --dry-run exits 0" "$?" 0
out=$("$KVMCG" pin --pid "$pid" --vcpu all:"$last" --iothread "$id65":0 --iothread "$id200":"$last" --json 2>"$TL_TMP/err")
tl_eq "long ids and name: pin exits 0" "$?" 0
tl_eq "... with nothing on stderr" "$(cat "$TL_TMP/err")" ""
if [ "$mode" != affinity ]; then
	dir=$(jq -r .vm_cgroup <<<"$out")
	base=${dir##*/}
	tl_check "the VM's directory name is at most 64 bytes (${#base})" test "${#base}" -le 64
	tl_check "... and starts with the name" test "${base:0:20}" = "${name300:0:20}"
	long=0 distinct=
	for id in "$id65" "$id200"; do
		t=$(jq -r --arg id "$id" '.threads[] | select(.kind == "iothread" and .id == $id) | .tid' <<<"$json")
		cg=$(thread_cgroup "$pid" "$t")
		leaf=${cg##*/}
		[ "${#leaf}" -le 64 ] || long=1
		distinct="$distinct $leaf"
	done
	tl_eq "each iothread's cgroup name is at most 64 bytes" "$long" 0
	tl_eq "... and the two are distinct" "$(tr ' ' '\n' <<<"$distinct" | sed '/^$/d' | sort -u | wc -l)" 2
fi
t65=$(jq -r --arg id "$id65" '.threads[] | select(.kind == "iothread" and .id == $id) | .tid' <<<"$json")
tl_eq "the 65-byte iothread runs where asked (kernel)" "$(allowed "$pid" "$t65")" 0
again=$("$KVMCG" pin --pid "$pid" --vcpu all:"$last" --iothread "$id65":0 --iothread "$id200":"$last" --json)
tl_eq "the same again changes nothing" "$(jq -r .result <<<"$again")" unchanged
"$KVMCG" unpin --pid "$pid" >/dev/null
tl_eq "unpin restores" "$(snapshot "$pid")" "$before"

# two VMs with one long name: the second's directory ("-PID" added) is still bounded
if [ "$mode" != affinity ]; then
	p1=$(tl_qemu n1 -smp 1 -name guest="$name300" -qmp unix:"$TL_TMP"/n1.qmp,server=on,wait=off)
	p2=$(tl_qemu n2 -smp 1 -name guest="$name300" -qmp unix:"$TL_TMP"/n2.qmp,server=on,wait=off)
	tl_settle "$p1" 1
	tl_settle "$p2" 1
	d1=$("$KVMCG" pin --pid "$p1" --vcpu all:0 --json | jq -r .vm_cgroup)
	d2=$("$KVMCG" pin --pid "$p2" --vcpu all:0 --json | jq -r .vm_cgroup)
	b1=${d1##*/} b2=${d2##*/}
	tl_check "two VMs of one long name: two directories (${#b1} and ${#b2} bytes)" test "$d1" != "$d2"
	tl_check "two VMs of one long name: both at most 64 bytes" test "${#b1}" -le 64 -a "${#b2}" -le 64
	"$KVMCG" unpin --pid "$p1" >/dev/null
	"$KVMCG" unpin --pid "$p2" >/dev/null
	kill "$p1" "$p2"
fi

if [ "$mode" != affinity ]; then
	comp=$(printf 'c%.0s' $(seq 300))
	"$KVMCG" pin --pid "$pid" --cgroup-root "$mount/$comp" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
	tl_eq "a 300-byte --cgroup-root component: exit 2" "$?" 2
	tl_check "... naming the limit" grep -q "255 bytes" "$TL_TMP/err"
	tl_check "... in one line" test "$(wc -l <"$TL_TMP/err")" -eq 1
	tl_eq "... nothing changed" "$(snapshot "$pid")" "$before"
fi
tl_done
