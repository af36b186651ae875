#!/bin/bash
# Real refusals by the kernel, not simulated ones (t-pin's KVMCG_TEST_FAIL_AT fakes an
# EIO). For each, kvmcg must exit with the documented code, say why in one line, and
# leave every thread (cgroup, CPUs, scheduling class), every cgroup.subtree_control,
# cgroup and record as it found them. The refusals are provoked between plan and
# execution with the test build's KVMCG_TEST_RUN_AT hook, so that none of kvmcg's own
# checks, made before anything is written, can catch them first (or, where a plain
# request is refused, without it); strace(1), where there is one, shows the errno the
# kernel returned.
#
#   a CPU outside the parent's set   v1 refuses the child's cpuset.cpus (EACCES);
#                                    v2 takes it, and sched_setaffinity refuses (EINVAL)
#   EINVAL   sched_setaffinity to a CPU the thread's cpuset no longer has
#   ENOSPC   a thread moved into a v1 cpuset whose cpuset.mems is empty
#   EBUSY    v1: a cpuset.cpus that a child cpuset still uses (a re-pin);
#            v2: +cpuset in a cgroup with processes and a populated child
#   ESRCH    a thread that exits between plan and execution (an iothread deleted
#            through QMP): no error when that is all; undone when a refusal follows
. "$(dirname "$0")/../lib/testlib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "refusals" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "refusals" "no usable cpuset controller: kvmcg writes no cgroup for the kernel to refuse"
	tl_done
fi
if [ "$ncpu" -lt 2 ]; then
	tl_skip "refusals" "one CPU only: no CPU can be outside a set"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
echo "# mode $mode at $mount, $ncpu CPUs"

# The parent of the --cgroup-root, made by the test; kvmcg makes and removes the rest.
top=$mount/kvmcg-t-refusals-$$
mkdir "$top"
tl_on_exit "tl_rmcg '$top'"
if [ "$mode" = v1 ]; then
	cat "$mount"/cpuset.cpus >"$top"/cpuset.cpus
	cat "$mount"/cpuset.mems >"$top"/cpuset.mems
fi
croot=$top/kv

qmp=$TL_TMP/r.qmp
pid=$(tl_qemu r -smp 2 -name t-refuse -object iothread,id=io1 -qmp unix:"$qmp",server=on,wait=off)
tl_settle "$pid" 2
own=$(tl_qmp_vcpus "$qmp")
tl_eq "QEMU itself reports the 2 vCPUs it was started with (query-cpus-fast)" "$(grep -c . <<<"$own")" 2
tl_eq "kvmcg's vCPU TIDs are QEMU's own" "$("$KVMCG" show --pid "$pid" --json | tl_json_vcpus)" "$own"
vcpu1=$(awk '$1 == 1 { print $2 }' <<<"$own")
iothread_tid() { tl_qmp "$qmp" query-iothreads | jq -r --arg id "$1" '.[] | select(.id == $id) | .["thread-id"]'; }
io1=$(iothread_tid io1)
tl_check "QEMU reports iothread io1 (query-iothreads)" test -n "$io1"

# A hook command that deletes an iothread through QMP and waits for its thread to go.
cat >"$TL_TMP/del-iothread" <<EOF
printf '{"execute":"qmp_capabilities"}\n{"execute":"object-del","arguments":{"id":"%s"}}\n' "\$1" |
	socat -t 2 - UNIX-CONNECT:'$qmp' >/dev/null
for _ in \$(seq 100); do [ -e /proc/$pid/task/"\$2" ] || exit 0; sleep 0.05; done
exit 1
EOF

# A long monitor deadline: the test guest runs QEMU under TCG, slowly.
req=(--qmp-timeout 20000 --cgroup-root "$croot" --vcpu 0:0 --vcpu 1:1 --emulator 0 --iothread io1:0)
dry=$("$KVMCG" pin --pid "$pid" "${req[@]}" --dry-run --json)
vm=$mount$(jq -r .vm_cgroup <<<"$dry")
tl_eq "the plan puts the VM below the --cgroup-root" "$vm" "$croot/t-refuse"
# action_at CONDITION: the position (from 1) in the plan of the first action that
# matches the jq CONDITION; 0 when none does.
action_at() { jq "([.actions[] | $1] | index(true) // -1) + 1" <<<"$dry"; }

have_strace=$(command -v strace)
# LeakSanitizer cannot run under ptrace: a sanitizer build keeps its leak checks and
# goes untraced (the plain build's run shows the errnos).
no_strace_why="strace is not installed"
if [ -n "$have_strace" ] && grep -q __asan_init "$KVMCG_TEST"; then
	have_strace=
	no_strace_why="a sanitizer build: LeakSanitizer cannot run under ptrace"
fi
# run_pin AT COMMAND ARGS...: the test build's pin with COMMAND run just before action
# AT (0: no hook), under strace when there is one (stopping at the traced calls
# only: --seccomp-bpf); exit status in rc.
run_pin() {
	local at=$1 cmd=$2
	shift 2
	local tracer=()
	[ -n "$have_strace" ] &&
		tracer=(strace -f --seccomp-bpf -qq -o "$TL_TMP/strace"
			-e trace=write,sched_setaffinity,sched_getaffinity,newfstatat -e status=failed)
	: >"$TL_TMP/strace"
	KVMCG_TEST_RUN_AT=$at KVMCG_TEST_RUN=$cmd "${tracer[@]}" "$KVMCG_TEST" pin --pid "$pid" "$@" \
		>"$TL_TMP/out" 2>"$TL_TMP/err"
	rc=$?
	# what discovery saw, when kvmcg refused the request itself
	[ "$rc" -eq 2 ] && "$KVMCG" show --pid "$pid" --qmp-timeout 20000 --json |
		jq -r '"#   show: discovery \(.discovery), qmp_error \(.qmp_error)"'
	return 0
}
# kernel_said LABEL ERRNO: a write(2) or sched_{set,get}affinity(2) of the run got ERRNO.
kernel_said() {
	if [ -n "$have_strace" ]; then
		tl_check "$1: the kernel answered $2 (strace)" \
			grep -qE "(write|sched_[gs]etaffinity)\(.*= -1 $2 " "$TL_TMP/strace"
	else
		tl_skip "$1: the kernel answered $2" "$no_strace_why"
	fi
}
one_line() { # LABEL PATTERN: stderr is one line, kvmcg's, and matches PATTERN
	tl_eq "$1: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
	tl_check "$1: it says why: $2" grep -qE "^kvmcg: $2" "$TL_TMP/err"
}
top_subtree() { cat "$top"/cgroup.subtree_control 2>/dev/null; }

before=$(snapshot "$pid")
# refused LABEL ERRNO PATTERN AT COMMAND: a pin that the kernel refuses (COMMAND run
# just before action AT makes it so) exits 1, says why, and undoes everything: the
# snapshot after is the one before (or $expect, when a thread goes meanwhile), and the
# --cgroup-root's parent is as it was (an unpin takes away a --cgroup-root kvmcg made,
# and what it enabled above it, as a rollback does).
refused() {
	local label=$1 errno=$2 pattern=$3 at=$4 cmd=$5
	local snap_before top_before
	snap_before=$(snapshot "$pid")
	top_before=$(top_subtree)
	tl_check "$label: the plan has the action to provoke it before" test "$at" -gt 0
	run_pin "$at" "$cmd" "${req[@]}"
	echo "#   kvmcg said: $(cat "$TL_TMP/err")"
	tl_eq "$label: exit 1" "$rc" 1
	one_line "$label" "pin failed, everything done was undone: $pattern"
	kernel_said "$label" "$errno"
	tl_eq "$label: every thread's cgroup, CPUs and class, and each subtree_control above it, as before" \
		"$(snapshot "$pid")" "${expect:-$snap_before}"
	tl_eq "$label: the --cgroup-root's parent's subtree_control as before" "$(top_subtree)" "$top_before"
	tl_check "$label: no cgroup of kvmcg's left" test ! -e "$croot"
	tl_check "$label: no record left" test -z "$(ls -A "$KVMCG_STATE_DIR")"
}

# --- a CPU outside the parent's set -------------------------------------------------------------
# kvmcg checks the request against the parent before it writes anything (t-layout); here
# the parent (the VM's cgroup) loses CPU 1 after that check, just before vCPU 1's
# cpuset.cpus is written.
at=$(action_at '.action == "write" and (.cgroup | endswith("/vcpu1")) and .file == "cpuset.cpus"')
if [ "$mode" = v1 ]; then
	# cgroup v1 refuses a child's CPUs outside its parent's with EACCES, not EINVAL
	refused "a CPU outside the parent's set (v1)" EACCES \
		"write /[^ ]*/vcpu1/cpuset.cpus: not inside the parent cpuset's CPUs or nodes" \
		"$at" "echo 0 >'$vm/cpuset.cpus'"
else
	# cgroup v2 takes the write (the effective set is what is restricted), and the
	# vCPU's sched_setaffinity to CPU 1 is what the kernel refuses
	refused "a CPU outside the parent's set (v2)" EINVAL "set-affinity $vcpu1: no CPU of the set is allowed" \
		"$at" "echo 0 >'$vm/cpuset.cpus'"
fi

# --- EINVAL: sched_setaffinity to a CPU the thread's cpuset no longer has --------------------------
at=$(action_at ".action == \"set-affinity\" and .tid == $vcpu1")
refused "EINVAL (vCPU 1's cpuset loses CPU 1 before its affinity is set)" EINVAL \
	"set-affinity $vcpu1: no CPU of the set is allowed by the thread's cpuset" \
	"$at" "echo 0 >'$vm/vcpu1/cpuset.cpus'"

# --- ENOSPC: a thread moved into a v1 cpuset without mems -----------------------------------------
if [ "$mode" = v1 ]; then
	at=$(action_at ".action == \"move-thread\" and .tid == $vcpu1")
	refused "ENOSPC (vCPU 1's cpuset loses its mems before the vCPU moves in)" ENOSPC \
		"move-thread $vcpu1 to /[^ ]*/vcpu1: the cpuset has no cpus or mems yet" \
		"$at" "echo >'$vm/vcpu1/cpuset.mems'"
else
	tl_skip "ENOSPC: a thread moved into a cpuset without mems" \
		"cgroup v2 takes it (an empty cpuset.mems means the parent's): only v1 refuses with ENOSPC"
fi

# --- EBUSY ----------------------------------------------------------------------------------------
if [ "$mode" = v1 ]; then
	# A re-pin that shrinks vCPU 1's cpuset while a child cpuset (someone else's) uses
	# the CPU it gives up: the kernel refuses the write, the first pin stays whole.
	run_pin 0 "" "${req[@]}"
	tl_eq "EBUSY: the first pin succeeds" "$rc" 0
	pinned=$(snapshot "$pid")
	record=$(cat "$KVMCG_STATE_DIR"/*.state)
	mkdir "$vm"/vcpu1/foreign
	echo 1 >"$vm"/vcpu1/foreign/cpuset.cpus
	cat "$vm"/vcpu1/cpuset.mems >"$vm"/vcpu1/foreign/cpuset.mems
	run_pin 0 "" --qmp-timeout 20000 --vcpu 1:0
	tl_eq "EBUSY (re-pin, a child cpuset uses the CPU given up): exit 1" "$rc" 1
	one_line "EBUSY (re-pin)" \
		"pin failed, everything done was undone: write /[^ ]*/vcpu1/cpuset.cpus: busy: a cpuset below still uses"
	kernel_said "EBUSY (re-pin)" EBUSY
	tl_eq "EBUSY (re-pin): every thread as the first pin left it" "$(snapshot "$pid")" "$pinned"
	tl_eq "EBUSY (re-pin): the record as the first pin left it" "$(cat "$KVMCG_STATE_DIR"/*.state)" "$record"
	tl_check "EBUSY (re-pin): the child cpuset is left alone" test -d "$vm"/vcpu1/foreign
	rmdir "$vm"/vcpu1/foreign
	"$KVMCG" unpin --pid "$pid" >/dev/null
	tl_eq "EBUSY (re-pin): unpin after it restores the start" "$(snapshot "$pid")" "$before"
	tl_check "EBUSY (re-pin): the unpin took away the --cgroup-root kvmcg made" test ! -e "$croot"
	tl_skip "EBUSY: +cpuset in a cgroup with processes and a populated child" \
		"cgroup.subtree_control is cgroup v2's; this is v1 (the re-pin above is v1's EBUSY)"
else
	tl_skip "EBUSY: a re-pin that shrinks a cpuset a child cpuset uses" \
		"cgroup v2 lets a parent's cpuset.cpus leave a child's out (the subtree_control case below is v2's EBUSY)"
	# The --cgroup-root's parent gets a process of its own and a child with another,
	# just before kvmcg enables cpuset in it: cgroup v2 then refuses the controller.
	mkdir "$top"/busy
	sleep 600 &
	s1=$!
	sleep 600 &
	s2=$!
	tl_register_pid "$s1"
	tl_register_pid "$s2"
	at=$(action_at ".action == \"enable-controller\" and .cgroup == \"${top#"$mount"}\"")
	refused "EBUSY (+cpuset in a cgroup that got processes and a populated child)" EBUSY \
		"enable-controller /[^ ]*/cgroup.subtree_control: busy: the cgroup has processes of its own" \
		"$at" "echo $s1 >'$top/cgroup.procs' && echo $s2 >'$top/busy/cgroup.procs'"
	echo "$s1" >"$mount"/cgroup.procs
	echo "$s2" >"$mount"/cgroup.procs
	kill "$s1" "$s2"
	rmdir "$top"/busy
fi

# --- ESRCH: a thread that exits between plan and execution ----------------------------------------
# io1 is deleted through QMP after its thread was moved, just before its affinity is
# set.
# A thread that is gone is not an error (README: a thread on its way out is never
# taken for a misplaced one): the pin goes on for every other thread.
at=$(action_at ".action == \"set-affinity\" and .tid == $io1")
tl_check "ESRCH (io1 deleted before its affinity is set): the plan sets it" test "$at" -gt 0
run_pin "$at" "sh '$TL_TMP/del-iothread' io1 $io1" "${req[@]}"
tl_eq "ESRCH (io1 deleted before its affinity is set): exit 0" "$rc" 0
tl_eq "ESRCH (io1 deleted): nothing on stderr" "$(cat "$TL_TMP/err")" ""
# Before it acts on a TID, kvmcg looks it up under the VM's task directory, held open
# (/proc/PID/task: exec/ops.c; a TID is free for reuse the moment its thread exits),
# so the kernel's answer is ENOENT there, or ESRCH from sched_[gs]etaffinity when the
# thread exits between the two.
if [ -n "$have_strace" ]; then
	tl_check "ESRCH (io1 deleted): the kernel said the thread is gone (strace: ENOENT from /proc, or ESRCH)" \
		grep -qE "(newfstatat\(.*\"($pid/task/)?$io1\".*= -1 ENOENT |sched_[gs]etaffinity\($io1,.*= -1 ESRCH )" \
		"$TL_TMP/strace"
else
	tl_skip "ESRCH (io1 deleted): the kernel said the thread is gone" "$no_strace_why"
fi
tl_check "ESRCH (io1 deleted): its thread is gone" test ! -e /proc/"$pid"/task/"$io1"
bad=0
for t in /proc/"$pid"/task/*; do
	t=${t##*/}
	case $t in
	"$vcpu1") want="$vm/vcpu1 1" ;;
	"$(awk '$1 == 0 { print $2 }' <<<"$own")") want="$vm/vcpu0 0" ;;
	*) want="$vm/emulator 0" ;;
	esac
	have="$mount$(thread_cgroup "$pid" "$t") $(allowed "$pid" "$t")"
	[ "$have" = "$want" ] || { echo "#   tid $t: $have, want $want"; bad=1; }
done
tl_eq "ESRCH (io1 deleted): every other thread in its cgroup, on its CPUs (kernel)" "$bad" 0
"$KVMCG" unpin --pid "$pid" >/dev/null 2>"$TL_TMP/err"
tl_eq "ESRCH (io1 deleted): unpin exits 0" "$?" 0
tl_eq "ESRCH (io1 deleted): unpin restores every thread that is left" "$(snapshot "$pid")" \
	"$(grep -v "^$io1 " <<<"$before")"
tl_check "ESRCH (io1 deleted): the unpin took away the --cgroup-root kvmcg made" test ! -e "$croot"

# The same after the move, and then a real refusal: the rollback meets a thread that is
# gone (ESRCH) and still puts every other thread back.
printf '{"execute":"qmp_capabilities"}\n{"execute":"object-add","arguments":{"qom-type":"iothread","id":"io2"}}\n' |
	socat -t 2 - UNIX-CONNECT:"$qmp" >/dev/null
io2=
for _ in $(seq 50); do
	io2=$(iothread_tid io2)
	[ -n "$io2" ] && [ -e /proc/"$pid"/task/"$io2" ] && break
	sleep 0.1
done
tl_check "QEMU reports iothread io2, added through QMP" test -n "$io2"
before=$(snapshot "$pid")
req=(--qmp-timeout 20000 --cgroup-root "$croot" --vcpu 0:0 --vcpu 1:1 --emulator 0 --iothread io2:0)
dry=$("$KVMCG" pin --pid "$pid" "${req[@]}" --dry-run --json)
at=$(action_at ".action == \"set-affinity\" and .tid == $vcpu1")
expect=$(grep -v "^$io2 " <<<"$before")
refused "ESRCH in a rollback (io2 deleted after its move, then vCPU 1's cpuset loses CPU 1)" EINVAL \
	"set-affinity $vcpu1: no CPU of the set is allowed" \
	"$at" "sh '$TL_TMP/del-iothread' io2 $io2 && echo 0 >'$vm/vcpu1/cpuset.cpus'"
if [ -n "$have_strace" ]; then
	tl_check "ESRCH in a rollback: moving io2's thread back, the kernel answered ESRCH (strace)" \
		grep -qE "write\(.*\"$io2\".*= -1 ESRCH " "$TL_TMP/strace"
else
	tl_skip "ESRCH in a rollback: moving io2's thread back, the kernel answered ESRCH" "$no_strace_why"
fi
tl_check "ESRCH in a rollback: io2's thread is gone" test ! -e /proc/"$pid"/task/"$io2"

tl_done
