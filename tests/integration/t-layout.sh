#!/bin/bash
# Where a VM's cgroups go, and that every check is made against that place:
#  - a VM alone in a cgroup of its own (a container-style launcher's, with limits)
#    gets its tree inside it, and the limits keep applying (in the guest, pure v2:
#    memory.max and pids.max; on a hybrid host, the v1 cpuset's CPUs);
#  - a VM that shares its cgroup with another process is refused, naming the limits
#    and the option that forces it; --cgroup-root forces it, with a warning;
#  - a request is checked against the cgroup the VM is pinned under, and an explicit
#    --cgroup-root that differs from it is refused, never ignored.
# Everything is read back from the kernel: /proc/PID/task/TID/cgroup, cgroup.type,
# subtree_control, cpuset files, pids.current, memory.current.
. "$(dirname "$0")/../lib/testlib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "layout" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "layout" "no cpuset controller: kvmcg makes no cgroups here"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
last=$((ncpu - 1))
echo "# mode $mode at $mount, $ncpu CPUs"

# start_in DIR NAME ARGS...: a QEMU started from inside the cgroup DIR (its launcher's).
start_in() {
	local dir=$1
	shift
	(echo "$BASHPID" >"$dir/cgroup.procs" && tl_qemu "$@")
}
# A cgroup of the test's, removed at exit after its processes are gone.
new_cgroup() {
	mkdir "$1" || return 1
	tl_on_exit "tl_rmcg '$1'"
	if [ "$mode" = v1 ]; then
		cat "$(dirname "$1")/cpuset.cpus" >"$1/cpuset.cpus"
		cat "$(dirname "$1")/cpuset.mems" >"$1/cpuset.mems"
	fi
}
vcpu_tids() { "$KVMCG" show --pid "$1" --json | jq -r '.threads[] | select(.kind == "vcpu") | .tid'; }
all_cgroups() { # pid: the sorted set of cgroups its threads are in
	local t
	for t in /proc/"$1"/task/*; do thread_cgroup "$1" "${t##*/}"; done | sort -u | paste -sd' '
}

# --- a VM alone in its launcher's cgroup: the tree goes inside it -----------------------
lim=$mount/kvmcg-t-lim-$$
rel=${lim#"$mount"}
if [ "$mode" = v2 ]; then
	# The launcher's limits: domain controllers enabled from the root down.
	before_root=$(cat "$mount"/cgroup.subtree_control)
	tl_on_exit "echo '-memory -pids' >'$mount/cgroup.subtree_control' 2>/dev/null; for c in $before_root; do echo +\$c >'$mount/cgroup.subtree_control'; done"
	echo "+memory +pids" >"$mount"/cgroup.subtree_control
	new_cgroup "$lim"
	echo 314572800 >"$lim"/memory.max
	echo 100 >"$lim"/pids.max
else
	# v1: the launcher restricts the VM's CPUs with its own cpuset.
	new_cgroup "$lim"
	echo 0 >"$lim"/cpuset.cpus
fi
pid=$(start_in "$lim" lim -smp 2 -name t-lim -qmp unix:"$TL_TMP"/lim.qmp,server=on,wait=off)
tl_settle "$pid" 2
before=$(snapshot "$pid")
subtree_before=$([ "$mode" = v1 ] || cat "$lim"/cgroup.subtree_control)
tl_eq "alone: the VM starts in its launcher's cgroup" "$(all_cgroups "$pid")" "$rel"

want_vcpu=$last want_emu=0
[ "$mode" = v1 ] && want_vcpu=0 # its cpuset allows CPU 0 only
out=$("$KVMCG" pin --pid "$pid" --vcpu all:"$want_vcpu" --emulator "$want_emu" --json)
tl_eq "alone: pin exits 0" "$?" 0
tl_eq "alone: the tree is built inside the VM's cgroup" \
	"$(jq -r '"\(.layout) \(.vm_cgroup)"' <<<"$out")" "in-place $rel/kvmcg"
# The vCPUs as QEMU reports them, so that the loop below cannot pass on an empty list.
own=$(tl_qmp_vcpus "$TL_TMP"/lim.qmp)
tl_eq "alone: QEMU itself reports the 2 vCPUs it was started with (query-cpus-fast)" "$(grep -c . <<<"$own")" 2
tl_eq "alone: kvmcg's vCPU TIDs are QEMU's own" "$(vcpu_tids "$pid" | sort -n | paste -sd' ')" \
	"$(awk '{ print $2 }' <<<"$own" | sort -n | paste -sd' ')"
bad=0
for t in $(awk '{ print $2 }' <<<"$own"); do
	cg=$(thread_cgroup "$pid" "$t")
	[[ $cg == "$rel"/kvmcg/vcpu* ]] || { echo "#   vCPU $t in $cg"; bad=1; }
	[ "$(allowed "$pid" "$t")" = "$want_vcpu" ] || { echo "#   vCPU $t allowed $(allowed "$pid" "$t")"; bad=1; }
done
tl_eq "alone: every vCPU in $rel/kvmcg/vcpuN with its CPU (kernel)" "$bad" 0
tl_eq "alone: the main thread in $rel/kvmcg/emulator" "$(thread_cgroup "$pid" "$pid")" "$rel/kvmcg/emulator"
if [ "$mode" = v2 ]; then
	tl_eq "alone: the launcher's cgroup is the threaded domain" "$(cat "$lim"/cgroup.type)" "domain threaded"
	tl_eq "alone: kvmcg's directory in it is threaded" "$(cat "$lim"/kvmcg/cgroup.type)" threaded
	tl_eq "alone: memory.max of the launcher's cgroup still there" "$(cat "$lim"/memory.max)" 314572800
	n=$(ls /proc/"$pid"/task | wc -l)
	tl_check "alone: pids.current of the launcher's cgroup counts the VM's $n threads" \
		test "$(cat "$lim"/pids.current)" -ge "$n"
	tl_check "alone: memory.current of the launcher's cgroup holds the VM's memory" \
		test "$(cat "$lim"/memory.current)" -gt 1048576
else
	tl_eq "alone: the launcher's cpuset still bounds the VM" "$(cat "$lim"/kvmcg/cpuset.cpus)" 0
fi
# a request outside what the launcher's cgroup allows fails before anything is written
if [ "$mode" = v1 ]; then
	"$KVMCG" pin --pid "$pid" --vcpu 0:1 >/dev/null 2>"$TL_TMP/err"
	tl_eq "alone: a CPU the launcher's cpuset does not allow: exit 2" "$?" 2
	tl_check "alone: ... says which" grep -q "outside what kvmcg's cgroup may use" "$TL_TMP/err"
else
	tl_skip "alone: a CPU the launcher's cpuset does not allow" "on v2 this launcher limits memory and pids, not CPUs (the place checks below cover CPUs)"
fi
out=$("$KVMCG" unpin --pid "$pid" --json)
tl_eq "alone: unpin" "$(jq -r .result <<<"$out")" applied
tl_eq "alone: unpin puts every thread back exactly" "$(snapshot "$pid")" "$before"
tl_check "alone: unpin removed kvmcg's directory" test ! -e "$lim/kvmcg"
if [ "$mode" = v2 ]; then
	tl_eq "alone: the launcher's subtree_control is as it was" "$(cat "$lim"/cgroup.subtree_control)" \
		"$subtree_before"
	tl_eq "alone: the launcher's cgroup is a plain domain again" "$(cat "$lim"/cgroup.type)" domain
else
	tl_skip "alone: the launcher's subtree_control and cgroup.type as they were" "cgroup v1 has neither file"
fi
tl_check "alone: no record left" test -z "$(ls "$KVMCG_STATE_DIR")"

# --- a VM that shares its cgroup: refused, nothing written; --cgroup-root forces it -------
shared=$mount/kvmcg-t-shared-$$
new_cgroup "$shared"
[ "$mode" = v2 ] && echo 104857600 >"$shared"/memory.max
[ "$mode" = v1 ] && echo 0 >"$shared"/cpuset.cpus
(echo "$BASHPID" >"$shared/cgroup.procs" && exec sleep 600) &
sleeper=$!
tl_register_pid "$sleeper"
spid=$(start_in "$shared" shared -smp 2 -name t-shared -qmp unix:"$TL_TMP"/shared.qmp,server=on,wait=off)
tl_settle "$spid" 2
sbefore=$(snapshot "$spid")
"$KVMCG" pin --pid "$spid" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "shared: pin refuses, exit 2" "$?" 2
tl_eq "shared: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
limit=memory.max=104857600
[ "$mode" = v1 ] && limit=cpuset.cpus=0
tl_check "shared: names the other process, the limit and --cgroup-root" \
	grep -q "pids $sleeper.*${rel%lim-$$}shared-$$: $limit.*--cgroup-root" "$TL_TMP/err"
"$KVMCG" pin --pid "$spid" --vcpu all:0 --dry-run >/dev/null 2>&1
tl_eq "shared: the dry run refuses too" "$?" 2
tl_eq "shared: nothing changed" "$(snapshot "$spid")" "$sbefore"
tl_check "shared: no cgroup made" test ! -e "$shared/kvmcg" -a ! -e "$mount/kvmcg/t-shared"
forced=$mount/kvmcg-t-forced-$$
tl_on_exit "tl_rmcg '$forced'"
out=$("$KVMCG" pin --pid "$spid" --cgroup-root "$forced" --vcpu all:0 --json 2>"$TL_TMP/err")
tl_eq "shared, --cgroup-root: pinned there" "$?:$(jq -r .vm_cgroup <<<"$out")" "0:${forced#"$mount"}/t-shared"
tl_check "shared, --cgroup-root: a warning names the limit left behind" \
	grep -q "^kvmcg: warning: .*$limit" "$TL_TMP/err"
"$KVMCG" unpin --pid "$spid" >/dev/null
tl_eq "shared, --cgroup-root: unpin restores" "$(snapshot "$spid")" "$sbefore"

# --- checks against the place the VM is pinned under ------------------------------------
q=$mount/kvmcg-t-q-$$
# The test enables cpuset in the root itself, for q's own CPUs: it takes it back at
# exit, after q is gone (exit commands run last first).
if [ "$mode" = v2 ] && ! grep -qw cpuset "$mount"/cgroup.subtree_control; then
	tl_on_exit "echo -cpuset >'$mount/cgroup.subtree_control' 2>/dev/null"
fi
new_cgroup "$q"
tl_on_exit "tl_rmcg '$q'"
if [ "$mode" = v2 ]; then
	grep -qw cpuset "$mount"/cgroup.subtree_control || echo +cpuset >"$mount"/cgroup.subtree_control
	qcpus=0-$((last > 2 ? 2 : last - 1))
	[ "$last" -eq 0 ] && qcpus=0
	echo "$qcpus" >"$q"/cpuset.cpus
else
	qcpus=0
	echo 0 >"$q"/cpuset.cpus
fi
qlast=${qcpus##*-}
outside=$((qlast + 1))
qpid=$(tl_qemu qvm -smp 2 -name t-q -qmp unix:"$TL_TMP"/q.qmp,server=on,wait=off)
tl_settle "$qpid" 2
qbefore=$(snapshot "$qpid")
out=$("$KVMCG" pin --pid "$qpid" --cgroup-root "$q/kv" --vcpu 0:"$qlast" --json)
tl_eq "place: pinned under --cgroup-root" "$?:$(jq -r .vm_cgroup <<<"$out")" "0:${q#"$mount"}/kv/t-q"
if [ "$outside" -le "$last" ]; then
	pinned=$(snapshot "$qpid")
	"$KVMCG" pin --pid "$qpid" --vcpu 1:"$outside" --dry-run >/dev/null 2>"$TL_TMP/err"
	tl_eq "place: a CPU its root does not allow, dry run: exit 2" "$?" 2
	"$KVMCG" pin --pid "$qpid" --vcpu 1:"$outside" >/dev/null 2>"$TL_TMP/err"
	tl_eq "place: the same for real: exit 2, before anything is written" "$?" 2
	tl_check "place: ... says the CPU is outside what the VM's cgroups may use" \
		grep -q "outside what kvmcg's cgroup may use" "$TL_TMP/err"
	tl_eq "place: nothing changed" "$(snapshot "$qpid")" "$pinned"
else
	tl_skip "place: a CPU outside its root" "one CPU only"
fi
pinned=$(snapshot "$qpid")
"$KVMCG" pin --pid "$qpid" --cgroup-root "$q/other" --vcpu 1:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "place: another --cgroup-root than where it is pinned: exit 2" "$?" 2
tl_check "place: ... says where it is pinned" grep -q "is pinned under ${q#"$mount"}/kv" "$TL_TMP/err"
tl_eq "place: ... and did not move it" "$(snapshot "$qpid")" "$pinned"
tl_check "place: ... nor make the other root" test ! -e "$q/other"
"$KVMCG" pin --pid "$qpid" --cgroup-root "$q/kv" --vcpu 1:0 >/dev/null
tl_eq "place: the same --cgroup-root again is fine" "$?" 0
"$KVMCG" unpin --pid "$qpid" >/dev/null
tl_eq "place: unpin restores" "$(snapshot "$qpid")" "$qbefore"

tl_done
