#!/bin/bash
# Discovery against real QEMU processes started three ways: debug-threads on,
# off with QMP, off without QMP. kvmcg's vCPU and iothread TIDs must equal what
# QEMU itself reports (QMP query-cpus-fast / HMP "info cpus", read with socat).
. "$(dirname "$0")/../lib/testlib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "discovery" "qemu-system-x86_64 is not installed"
	tl_done
}

# QEMU's own truth, from its human monitor: "index tid" lines.
hmp_vcpus() {
	tl_hmp "$1" "info cpus" | sed -n 's/^[* ] CPU #\([0-9]*\): thread_id=\([0-9]*\).*/\1 \2/p' | sort -n
}
hmp_iothread_tid() {
	tl_hmp "$1" "info iothreads" | awk -v id="$2:" '$1 == id { getline; sub(/.*=/, ""); print }'
}
qmp_vcpus() {
	tl_qmp "$1" query-cpus-fast | jq -r '.[] | "\(.["cpu-index"]) \(.["thread-id"])"' | sort -n
}

check_common() { # label json pid
	local label=$1 json=$2 pid=$3
	tl_eq "$label: JSON pid" "$(jq .pid <<<"$json")" "$pid"
	tl_eq "$label: main thread is the emulator" \
		"$(jq -r --argjson p "$pid" '.threads[] | select(.tid == $p) | .kind' <<<"$json")" emulator
	tl_check "$label: every thread has tid, kind, comm, cpu, affinity, cgroup" \
		jq -e 'all(.threads[]; has("tid") and has("kind") and has("comm") and has("cpu")
			and has("affinity") and has("cgroup"))' <<<"$json"
	tl_check "$label: vcpus have an index, iothreads an id" \
		jq -e 'all(.threads[] | select(.kind == "vcpu"); .index >= 0) and
			all(.threads[] | select(.kind == "iothread"); .id | type == "string")' <<<"$json"
	# Every task of the VM is in the JSON (so the loop below cannot pass on a short
	# list), and every TID in it is a task of the VM whose affinity and cgroup are what
	# the kernel reports for that task (sched_getaffinity via taskset, /proc cgroup).
	tl_eq "$label: kvmcg lists every task of the VM (/proc/PID/task)" \
		"$(jq -r '.threads[].tid' <<<"$json" | sort -n | paste -sd' ')" \
		"$(ls /proc/"$pid"/task | sort -n | paste -sd' ')"
	local bad=0 tid aff cg
	while read -r tid aff cg; do
		[ -d /proc/"$pid"/task/"$tid" ] || { echo "# $tid not a task"; bad=1; continue; }
		local real
		real=$(taskset -pc "$tid" | sed 's/.*: //')
		[ "$(tl_cpulist_expand "$real")" = "$(tl_cpulist_expand "$aff")" ] || { echo "# $tid affinity $aff, kernel says $real"; bad=1; }
		grep -q ":$cg\$" /proc/"$pid"/task/"$tid"/cgroup || { echo "# $tid cgroup $cg"; bad=1; }
	done < <(jq -r '.threads[] | "\(.tid) \(.affinity) \(.cgroup)"' <<<"$json")
	tl_eq "$label: TIDs, affinity and cgroup match the kernel's" "$bad" 0
	# Kernel user workers (kvm-nx-lpage-re) must never be taken for vCPUs.
	tl_check "$label: kernel workers are classified as workers" \
		jq -e 'all(.threads[] | select(.comm == "kvm-nx-lpage-re"); .kind == "worker")' <<<"$json"
}

# --- 1. debug-threads on (names) -------------------------------------------------
pid=$(tl_qemu names -smp 2 -name guest=t-names,debug-threads=on -object iothread,id=io1 \
	-monitor unix:"$TL_TMP"/names.hmp,server=on,wait=off)
tl_settle "$pid" 2
json=$("$KVMCG" show --pid "$pid" --json)
tl_eq "names: discovery source" "$(jq -r .discovery <<<"$json")" names
tl_eq "names: VM name" "$(jq -r .name <<<"$json")" t-names
tl_eq "names: vCPU TIDs equal QEMU's" "$(tl_json_vcpus <<<"$json")" "$(hmp_vcpus "$TL_TMP"/names.hmp)"
tl_eq "names: iothread io1 TID equals QEMU's" \
	"$(jq -r '.threads[] | select(.kind == "iothread" and .id == "io1") | .tid' <<<"$json")" \
	"$(hmp_iothread_tid "$TL_TMP"/names.hmp io1)"
tl_eq "names: call_rcu is the emulator's" \
	"$(jq -r '.threads[] | select(.comm == "call_rcu") | .kind' <<<"$json")" emulator
check_common names "$json" "$pid"

# --- 2. no names, QMP ---------------------------------------------------------------
pid=$(tl_qemu qmp -smp 3 -name t-qmp -object iothread,id=iox \
	-qmp unix:"$TL_TMP"/qmp.sock,server=on,wait=off)
tl_settle "$pid" 3
json=$("$KVMCG" show --pid "$pid" --json)
tl_eq "qmp: discovery source" "$(jq -r .discovery <<<"$json")" qmp
tl_eq "qmp: socket found on the command line" "$(jq -r .qmp_socket <<<"$json")" "$TL_TMP/qmp.sock"
tl_eq "qmp: vCPU TIDs equal query-cpus-fast" "$(tl_json_vcpus <<<"$json")" "$(qmp_vcpus "$TL_TMP"/qmp.sock)"
tl_eq "qmp: iothread TID equals query-iothreads" \
	"$(jq -r '.threads[] | select(.kind == "iothread") | "\(.id) \(.tid)"' <<<"$json")" \
	"$(tl_qmp "$TL_TMP"/qmp.sock query-iothreads | jq -r '.[] | "\(.id) \(.["thread-id"])"')"
tl_eq "qmp: no unknown threads" "$(jq '[.threads[] | select(.kind == "unknown")] | length' <<<"$json")" 0
check_common qmp "$json" "$pid"
# The same VM selected by its socket: the pid comes from SO_PEERCRED.
tl_eq "qmp: --qmp SOCKET selects the same VM" \
	"$("$KVMCG" show --qmp "$TL_TMP"/qmp.sock --json | jq .pid)" "$pid"
# Forced off QMP, the fallback must still agree with QMP (or say what it missed).
json=$("$KVMCG" show --pid "$pid" --no-qmp --json)
if tl_have_kvm; then
	tl_eq "qmp --no-qmp: falls back to kvm-fd" "$(jq -r .discovery <<<"$json")" kvm-fd
	tl_eq "qmp --no-qmp: kvm-fd TIDs equal query-cpus-fast" "$(tl_json_vcpus <<<"$json")" \
		"$(qmp_vcpus "$TL_TMP"/qmp.sock)"
else
	tl_eq "qmp --no-qmp (TCG): nothing identifies vCPUs" "$(jq -r .discovery <<<"$json")" none
	tl_eq "qmp --no-qmp (TCG): all 3 vCPUs reported unidentified" \
		"$(jq -c .vcpus_unidentified <<<"$json")" "[0,1,2]"
	tl_eq "qmp --no-qmp (TCG): unclassified threads are 'unknown', not 'emulator'" \
		"$(jq '[.threads[] | select(.kind == "emulator")] | length' <<<"$json")" 1
fi

# --- 3. no names, no QMP (HMP only, for the truth) ------------------------------
pid=$(tl_qemu bare -smp 4 -name t-bare -monitor unix:"$TL_TMP"/bare.hmp,server=on,wait=off)
tl_settle "$pid" 4
json=$("$KVMCG" show --pid "$pid" --json)
if tl_have_kvm; then
	tl_eq "kvm-fd: discovery source" "$(jq -r .discovery <<<"$json")" kvm-fd
	tl_eq "kvm-fd: vCPU TIDs equal QEMU's" "$(tl_json_vcpus <<<"$json")" "$(hmp_vcpus "$TL_TMP"/bare.hmp)"
	tl_eq "kvm-fd: nothing unidentified" "$(jq -c .vcpus_unidentified <<<"$json")" "[]"
else
	tl_eq "no QMP, TCG: discovery source" "$(jq -r .discovery <<<"$json")" none
	tl_eq "no QMP, TCG: 4 vCPUs reported unidentified" "$(jq -c .vcpus_unidentified <<<"$json")" "[0,1,2,3]"
fi
check_common bare "$json" "$pid"

# --- text output carries the same facts --------------------------------------
text=$("$KVMCG" show --pid "$pid")
tl_check "text show names the VM" grep -qE "^PID: +$pid\$" <<<"$text"
tl_eq "text show has one row per thread" \
	"$(grep -cE '^(vcpu|emulator|iothread|worker|unknown) ' <<<"$text")" "$(jq '.threads | length' <<<"$json")"

# --- tables: -o, -n, -r, -J, names in UTF-8 and with control bytes -----------
upid=$(tl_qemu utf8 -smp 1 -name guest=日本語-vm,debug-threads=on)
cpid=$(tl_qemu ctl -smp 1 -name guest=$'ctl\e[31m\nx')
tl_settle "$upid" 1
tl_eq "list -o PID,NAME -n: the pid and the name, no heading" \
	"$("$KVMCG" list -o PID,NAME -n | awk -v p="$pid" '$1 == "PID" || $1 == p { $1 = $1; print }')" "$pid t-bare"
raw=$("$KVMCG" list -r)
tl_eq "list -r: the header" "$(head -1 <<<"$raw")" "PID NAME VCPUS THREADS DISCOVERY CGROUP PINNED PINS KVMCG LAUNCHED"
tl_eq "list -r: a VM's fields, one space apart" "$(grep "^$pid " <<<"$raw")" "$(jq -r '[.pid, .name,
	"\([.threads[] | select(.kind == "vcpu")] | length)/\(.vcpus)", .thread_count, .discovery, .cgroup,
	.pinned, (.pins | gsub(" "; "\\x20")), .kvmcg.mode // "-", (if .kvmcg then (if .kvmcg.launched then "yes" else "no" end) else "-" end)]
	| map(tostring) | join(" ")' <<<"$("$KVMCG" show --pid "$pid" --json)")"
tl_eq "list -r: UTF-8 and control bytes escaped" "$("$KVMCG" list -r -o PID,NAME | grep -E "^($upid|$cpid) ")" \
	"$upid \\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e-vm"$'\n'"$cpid ctl\\x1b[31m\\x0ax"
steady='del(.. | objects | (.cpu, .cpu_time_ns, .state)?)'
tl_eq "list -J equals list --json" \
	"$("$KVMCG" list -J | jq -S --argjson p "$upid" ".vms[] | select(.pid == \$p) | $steady")" \
	"$("$KVMCG" list --json | jq -S --argjson p "$upid" ".vms[] | select(.pid == \$p) | $steady")"
tl_eq "show -J equals show --json" "$("$KVMCG" show --pid "$pid" -J | jq -S "$steady")" \
	"$("$KVMCG" show --pid "$pid" --json | jq -S "$steady")"
tl_eq "show -n -o TID: one line per thread" "$("$KVMCG" show --pid "$pid" -n -o TID | sort -n)" \
	"$(jq -r '.threads[].tid' <<<"$json" | sort -n)"
tl_check "list: the UTF-8 name as it is" grep -qE "^$upid +日本語-vm +1/1$" \
	<<<"$(LC_ALL=C.UTF-8 "$KVMCG" list -o PID,NAME,VCPUS)"
tl_eq "list: every line one display width (UTF-8 names aligned)" "$(LC_ALL=C.UTF-8 "$KVMCG" list -o PID,NAME,VCPUS |
	python3 -c 'import sys, unicodedata as u
print(len({sum(2 if u.east_asian_width(c) in "WF" else 1 for c in l) for l in sys.stdin.buffer.read().decode().splitlines()}))')" 1
for args in "list" "list -r" "show --pid $cpid" "show --pid $cpid -r"; do
	tl_eq "$args: no control byte on a terminal" \
		"$(LC_ALL=C.UTF-8 "$KVMCG" $args 2>&1 | LC_ALL=C tr -d '\n\040-\176\200-\377' | wc -c)" 0
done
tl_check "show: the control bytes of a name escaped" grep -qE '^Name: +ctl\\x1b\[31m\\x0ax$' \
	<<<"$("$KVMCG" show --pid "$cpid")"

tl_done
