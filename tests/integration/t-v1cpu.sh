#!/bin/bash
# [CPU] Weight=/Quota=/Period= on a v1 or hybrid host: the v1 cpu hierarchy, in a tree
# kvmcg/<vm> beside the cpuset one. Everything is read back from the kernel: cpu.shares,
# cpu.cfs_quota_us and cpu.cfs_period_us with cat, each thread's cpu cgroup from
# /proc/PID/task/TID/cgroup, the share of one CPU two busy loops get from
# /proc/PID/stat (utime + stime). Undo is exact: unpin, a rollback at every action, and
# the VM exiting leave every thread in its original cpu cgroup (two of them here) and
# no directory of kvmcg's. Where no v1 hierarchy carries cpu (the pure-v2 test guest),
# a visible skip: [CPU] goes to cpu.weight/cpu.max there (t-apply.sh).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools "v1 cpu" qemu-system-x86_64 jq taskset
export KVMCG_STATE_DIR=$TL_TMP/state

tl_v1_tree cpu
cpu_mount=$v1_mount top_before=$v1_top_before

cpu_snapshot() { tl_v1_snapshot cpu "$1"; }
not_in() { tl_v1_not_in cpu "$1" "$2"; }

a_name=t-v1cpu-a-$$ b_name=t-v1cpu-b-$$
a=$(tl_qemu a -name guest="$a_name",debug-threads=on -smp 2) || { tl_fail "start QEMU a"; tl_done; }
b=$(tl_qemu b -name guest="$b_name",debug-threads=on -smp 1) || { tl_fail "start QEMU b"; tl_done; }
tl_settle "$a" 2 && tl_settle "$b" 1 || echo "# the VMs did not settle in 10 s"

# a's threads start in two cpu cgroups of the test's own: threads of one process may
# sit in different v1 cgroups, and each must go back to its own
home=t-v1cpu-home-$$ other=t-v1cpu-other-$$
mkdir "$cpu_mount/$home" "$cpu_mount/$other"
tl_on_exit "tl_rmcg '$cpu_mount/$home'; tl_rmcg '$cpu_mount/$other'"
for t in /proc/"$a"/task/*; do echo "${t##*/}" >"$cpu_mount/$home/tasks"; done
a_vcpu1=$(grep -lE '^CPU 1/(TCG|KVM)$' /proc/"$a"/task/*/comm | awk -F/ '{ print $5 }')
echo "$a_vcpu1" >"$cpu_mount/$other/tasks"
a_cpu_before=$(cpu_snapshot "$a") a_before=$(snapshot "$a")
echo "# a ($a): $(awk '{ print $2 }' <<<"$a_cpu_before" | sort | uniq -c | paste -sd,)"

# --- values ------------------------------------------------------------------------------------
"$KVMCG" pin --pid "$a" --cpu-weight 300 --cpu-quota 250% --cpu-period 200000 >"$TL_TMP/out" 2>&1
tl_eq "pin --cpu-weight 300 --cpu-quota 250% --cpu-period 200000: exit 0 (carried out)" "$?" 0 ||
	sed 's/^/#   /' "$TL_TMP/out"
adir=$cpu_mount/kvmcg/$a_name
tl_eq "Weight=300 -> cpu.shares 3072 (x 1024 / 100)" "$(cat "$adir/cpu.shares" 2>&1)" 3072
tl_eq "Period=200000 -> cpu.cfs_period_us" "$(cat "$adir/cpu.cfs_period_us" 2>&1)" 200000
tl_eq "Quota=250% -> cpu.cfs_quota_us 500000 (2.5 CPUs per period)" "$(cat "$adir/cpu.cfs_quota_us" 2>&1)" 500000
tl_eq "every task of the VM is in its one cpu cgroup" "$(not_in "$a" "kvmcg/$a_name")" 0
tl_eq "... and nothing else is" "$(sort -n "$adir/tasks" | paste -sd' ')" "$(ls /proc/"$a"/task | sort -n | paste -sd' ')"
tl_eq "the cpuset tree beside it: vCPU 1 in /kvmcg/$a_name/vcpu1" "$(thread_cgroup "$a" "$a_vcpu1")" "/kvmcg/$a_name/vcpu1"
show=$("$KVMCG" show --pid "$a" --json)
tl_eq "show --json: kvmcg.cpu has the tree's values" \
	"$(jq -c '.kvmcg.cpu | [.hierarchy, .cgroup, .shares, .cfs_quota_us, .cfs_period_us]' <<<"$show")" \
	"[\"v1 cpu\",\"/kvmcg/$a_name\",3072,500000,200000]"
tl_check "show: a 'kvmcg cpu:' line with cpu.shares" sh -c "'$KVMCG' show --pid $a | grep -q '^kvmcg cpu: *cpu.shares 3072, cpu.cfs_quota_us 500000'"
out=$("$KVMCG" pin --pid "$a" --cpu-weight 300 --cpu-quota 250% --cpu-period 200000 2>&1)
tl_eq "the same pin again: nothing changed, exit 0" "$?:$out" "0:pid $a is already pinned as asked: nothing changed"
"$KVMCG" pin --pid "$a" --vcpu 0:0 >/dev/null 2>&1
tl_eq "a re-pin of a vCPU alone keeps the cpu tree and its values" \
	"$(cat "$adir/cpu.shares"):$(not_in "$a" "kvmcg/$a_name")" "3072:0"

# a thread that leaves the VM's cpu cgroup during a run (as one born elsewhere would
# be) is put back by the read-back
KVMCG_TEST_RUN_AT=1 KVMCG_TEST_RUN="echo $a_vcpu1 >$cpu_mount/tasks" \
	"$KVMCG_TEST" pin --pid "$a" --vcpu 0:1 >"$TL_TMP/out" 2>&1
tl_eq "a thread moved out of the VM's cpu cgroup mid-run: the read-back puts it back (exit 0)" \
	"$?:$(not_in "$a" "kvmcg/$a_name")" "0:0" || sed 's/^/#   /' "$TL_TMP/out"

# b through a policy file's [CPU]
printf '[CPU]\nWeight=100\nQuota=max\n' >"$TL_TMP/b.policy"
"$KVMCG" pin --pid "$b" --policy "$TL_TMP/b.policy" >"$TL_TMP/out" 2>&1
tl_eq "pin --policy with [CPU] Weight=100 Quota=max: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
bdir=$cpu_mount/kvmcg/$b_name
tl_eq "Weight=100 -> cpu.shares 1024, Quota=max -> cpu.cfs_quota_us -1" \
	"$(cat "$bdir/cpu.shares" "$bdir/cpu.cfs_quota_us" 2>&1 | paste -sd' ')" "1024 -1"
tl_eq "every task of b in its cpu cgroup" "$(not_in "$b" "kvmcg/$b_name")" 0

# --- the split: a CPU-bound process in each VM's cpu cgroup, on one CPU -------------------------
cpu=$((ncpu - 1))
taskset -c "$cpu" bash -c 'while :; do :; done' &
busy_a=$!
taskset -c "$cpu" bash -c 'while :; do :; done' &
busy_b=$!
tl_register_pid "$busy_a"
tl_register_pid "$busy_b"
echo "$busy_a" >"$adir/tasks"
echo "$busy_b" >"$bdir/tasks"
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' /proc/"$1"/stat; }
sleep 1
a0=$(ticks "$busy_a") b0=$(ticks "$busy_b")
sleep 4
a1=$(ticks "$busy_a") b1=$(ticks "$busy_b")
da=$((a1 - a0)) db=$((b1 - b0))
share=$((da + db > 0 ? 100 * da / (da + db) : 0))
echo "# CPU $cpu over 4 s: a's loop $da ticks, b's $db ticks: a has $share% (Weight=300 vs 100: 75%)"
tl_check "Weight=300 vs Weight=100 split one CPU 75/25 within 10 points (a has $share%)" \
	test "$share" -ge 65 -a "$share" -le 85
kill -KILL "$busy_a" "$busy_b" 2>/dev/null
wait "$busy_a" "$busy_b" 2>/dev/null

# --- undo ------------------------------------------------------------------------------------------
"$KVMCG" unpin --pid "$a" >"$TL_TMP/out" 2>&1
tl_eq "unpin a: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
tl_eq "unpin a: every thread back in its original cpu cgroup (two of them)" "$(cpu_snapshot "$a")" "$a_cpu_before"
tl_eq "unpin a: every thread's cpuset cgroup, CPUs and class as before" "$(snapshot "$a")" "$a_before"
tl_check "unpin a: its cpu directory is gone" test ! -e "$adir"
tl_check "unpin a: b's is still there" test -d "$bdir"

# a quota the kernel would refuse (below 1000 us a period): refused before anything is written
"$KVMCG" pin --pid "$a" --cpu-quota 1% --cpu-period 1000 >"$TL_TMP/q.out" 2>&1
tl_eq "pin --cpu-quota 1% --cpu-period 1000 (10 us): exit 2" "$?" 2 || sed 's/^/#   /' "$TL_TMP/q.out"
tl_check "... saying the kernel's minimum" grep -q "is 10 us, below the 1000 us the kernel takes" "$TL_TMP/q.out"

# a rollback at each action of a pin puts the cpu hierarchy back as it was
dry=$("$KVMCG" pin --pid "$a" --cpu-weight 300 --cpu-quota 50% --dry-run --json)
n=$(jq '.actions | length' <<<"$dry")
tl_eq "the plan has its cpu tree's actions (mkdir, 3 writes, a move per thread)" \
	"$(jq '[.actions[] | select(.hierarchy == "cpu")] | length' <<<"$dry")" "$((4 + $(ls /proc/"$a"/task | wc -l)))"
bad=$(tl_v1_fail_each cpu "$a" "$n" "$adir" pin --pid "$a" --cpu-weight 300 --cpu-quota 50%)
tl_eq "a failure at each of the $n actions: exit 1, threads and cgroups of both trees as before" "$bad" 0

# below a --cgroup-root, the cpu tree is kvmcg/NAME.PID: another root may have a VM of the same name
root=t-v1cpu-root-$$
tl_on_exit "tl_rmcg '$mount/$root'"
"$KVMCG" pin --pid "$a" --cgroup-root "$mount/$root" --cpu-weight 50 >"$TL_TMP/out" 2>&1
tl_eq "pin --cgroup-root --cpu-weight 50: exit 0, cpu.shares 512 in kvmcg/$a_name.$a" \
	"$?:$(cat "$cpu_mount/kvmcg/$a_name.$a/cpu.shares" 2>&1)" "0:512" || sed 's/^/#   /' "$TL_TMP/out"
"$KVMCG" unpin --pid "$a" >/dev/null 2>&1
tl_eq "... unpin: threads back, the directory gone" \
	"$(cpu_snapshot "$a"):$([ -e "$cpu_mount/kvmcg/$a_name.$a" ] && echo there)" "$a_cpu_before:"

# RT group scheduling: a cgroup kvmcg makes has no real-time runtime (cpu.rt_runtime_us 0);
# a VM of its own, in the root cpu cgroup (the only one with real-time runtime here)
if [ -e "$cpu_mount/cpu.rt_runtime_us" ]; then
	c_name=t-v1cpu-c-$$
	c=$(tl_qemu c -name guest="$c_name",debug-threads=on -smp 1) && tl_settle "$c" 1
	c_cpu_before=$(cpu_snapshot "$c")
	"$KVMCG" pin --pid "$c" --cpu-weight 300 --vcpu-scheduler fifo:3 >/dev/null 2>"$TL_TMP/err"
	tl_eq "weight beside a fifo class (RT group scheduling): exit 3, the weight not carried out, said" \
		"$?:$(grep -c 'not carried out: \[CPU\] Weight=.*real-time' "$TL_TMP/err"):$([ -e "$cpu_mount/kvmcg/$c_name" ] && echo tree)" "3:1:"
	"$KVMCG" unpin --pid "$c" >/dev/null 2>&1
	"$KVMCG" pin --pid "$c" --cpu-weight 300 >/dev/null 2>&1
	before_rt=$(snapshot "$c")
	"$KVMCG" pin --pid "$c" --vcpu-scheduler fifo:3 >/dev/null 2>"$TL_TMP/err"
	tl_eq "a fifo class for a VM in its v1 cpu cgroup: refused before anything is written (exit 2)" \
		"$?:$(grep -c 'unpin it first' "$TL_TMP/err"):$([ "$(snapshot "$c")" = "$before_rt" ] && echo same)" "2:1:same"
	"$KVMCG" unpin --pid "$c" >/dev/null 2>&1
	tl_eq "... unpin: every thread back in its cpu cgroup, the directory gone" \
		"$(cpu_snapshot "$c"):$([ -e "$cpu_mount/kvmcg/$c_name" ] && echo there)" "$c_cpu_before:"
	kill -KILL "$c"
else
	tl_skip "a real-time vCPU class beside a v1 cpu cgroup" "no RT group scheduling in this kernel (no cpu.rt_runtime_us)"
fi

# a VM killed before each action of a pin: exit 3, and nothing left in either hierarchy
# once list has seen it gone
k_name=t-v1cpu-k-$$
codes= want= leaks=0
for ((at = 1; ; at++)); do
	kp=$(tl_qemu k$at -name guest="$k_name",debug-threads=on -smp 1) || break
	tl_settle "$kp" 1
	n_k=${n_k:-$("$KVMCG" pin --pid "$kp" --cpu-weight 200 --dry-run --json | jq '.actions | length')}
	KVMCG_TEST_KILL_AT=$at "$KVMCG_TEST" pin --pid "$kp" --cpu-weight 200 >/dev/null 2>"$TL_TMP/err"
	codes=$codes$? want=${want}3
	for _ in $(seq 50); do [ -e /proc/"$kp" ] || break; sleep 0.1; done
	"$KVMCG" list >/dev/null 2>&1
	for d in "$cpu_mount/kvmcg/$k_name" "$mount/kvmcg/$k_name"; do
		[ -e "$d" ] && { echo "#   killed before action $at: $d left"; leaks=$((leaks + 1)); }
	done
	[ "$at" -ge "$n_k" ] && break
done
tl_eq "killed before each of the $n_k actions: exit 3 every time" "$codes" "$want"
tl_eq "killed before each action: nothing of it left in either hierarchy after list" "$leaks" 0
tl_check "killed before each action: no record of it left" sh -c "! ls '$KVMCG_STATE_DIR' | grep -qv '^$b-\|^shared'"

# b exits while pinned: the next kvmcg command removes what it had
kill -KILL "$b"
for _ in $(seq 50); do [ -e /proc/"$b" ] || break; sleep 0.1; done
"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
tl_check "b exited: after the next kvmcg command its cpu directory is gone" test ! -e "$bdir"
tl_check "b exited: ... and its cpuset one" test ! -e "$mount/kvmcg/$b_name"
tl_eq "b exited: no record is left" "$(ls "$KVMCG_STATE_DIR")" ""
if [ "$top_before" = absent ] && [ -z "$(find "$cpu_mount/kvmcg" -mindepth 1 -type d 2>/dev/null)" ]; then
	tl_check "kvmcg/ of the cpu hierarchy, made for these VMs, is gone with the last one" test ! -e "$cpu_mount/kvmcg"
else
	tl_skip "kvmcg/ of the cpu hierarchy gone with the last VM" "it was there before, or another VM uses it"
fi
tl_done
