#!/bin/bash
# [IO] on a v1 or hybrid host: the v1 blkio hierarchy, in a tree kvmcg/<vm> beside the
# cpuset one, every thread of the VM in that one cgroup. Everything is read back from
# the kernel: blkio.throttle.* and blkio.bfq.weight_device with cat, each thread's
# blkio cgroup from /proc/PID/task/TID/cgroup, and the cap measured with a direct-I/O
# writer (dd) placed in the VM's blkio cgroup. Undo is exact: unpin and a rollback at
# every action leave every thread in its original blkio cgroup (two of them here) and
# no directory of kvmcg's; a forged record naming another hierarchy, directory or
# origin is refused. Where no v1 hierarchy carries blkio (the pure-v2 test guest), a
# visible skip: [IO] goes to io.max/io.weight there (t-io.sh).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools "v1 blkio" qemu-system-x86_64 losetup dd jq awk
tl_v1_tree blkio
blkio_mount=$v1_mount top_before=$v1_top_before
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"

blkio_snapshot() { tl_v1_snapshot blkio "$1"; }
not_in() { tl_v1_not_in blkio "$1" "$2"; }

modprobe loop 2>/dev/null
img=$TL_TMP/disk.img
truncate -s 64M "$img"
dev=$(losetup -f --show "$img") || {
	tl_fail "a loop device over $img: losetup failed"
	tl_done
}
tl_on_exit "losetup -d '$dev' 2>/dev/null"
num=$(printf '%d:%d' "0x$(stat -c %t "$dev")" "0x$(stat -c %T "$dev")")
sched=/sys/block/${dev#/dev/}/queue/scheduler
echo none >"$sched" 2>/dev/null

name=t-v1io-$$
pid=$(tl_qemu v "-name" guest="$name",debug-threads=on -smp 2 -drive file="$dev",format=raw,if=none,id=d0) || {
	tl_fail "QEMU with -drive file=$dev starts"
	tl_done
}
tl_settle "$pid" 2 || echo "# the VM did not settle in 10 s"

# the VM's threads start in two blkio cgroups of the test's own: threads of one process
# may sit in different v1 cgroups, and each must go back to its own
home=t-v1io-home-$$ other=t-v1io-other-$$
mkdir "$blkio_mount/$home" "$blkio_mount/$other"
tl_on_exit "tl_rmcg '$blkio_mount/$home'; tl_rmcg '$blkio_mount/$other'"
for t in /proc/"$pid"/task/*; do echo "${t##*/}" >"$blkio_mount/$home/tasks"; done
vcpu1=$(grep -lE '^CPU 1/(TCG|KVM)$' /proc/"$pid"/task/*/comm | awk -F/ '{ print $5 }')
[ -n "$vcpu1" ] && echo "$vcpu1" >"$blkio_mount/$other/tasks"
blkio_before=$(blkio_snapshot "$pid") before=$(snapshot "$pid")
echo "# $name ($pid) on $dev ($num): $(awk '{ print $2 }' <<<"$blkio_before" | sort | uniq -c | paste -sd,)"

policy() { # policy NAME LINES...: a policy file with [IO] LINES
	local f=$TL_TMP/$1.policy
	shift
	{
		printf '[Match]\nName=%s\n[IO]\n' "$name"
		printf '%s\n' "$@"
	} >"$f"
	echo "$f"
}

# --- values -------------------------------------------------------------------------------------
vmdir=$blkio_mount/kvmcg/$name
f=$(policy caps "WriteBandwidthMax=$dev 10M" "ReadIOPSMax=auto 1000")
dry=$("$KVMCG" pin --pid "$pid" --policy "$f" --dry-run --json 2>/dev/null)
tl_eq "dry run: the blkio tree's actions (its directory, 2 lines, a move per thread), nothing made" \
	"$(jq '[.actions[] | select(.hierarchy == "blkio")] | length' <<<"$dry"):$([ -e "$vmdir" ] && echo there)" \
	"$((3 + $(ls /proc/"$pid"/task | wc -l)  + $([ "$top_before" = absent ] && echo 1 || echo 0))):"
"$KVMCG" pin --pid "$pid" --policy "$f" >"$TL_TMP/out" 2>&1
tl_eq "pin --policy with [IO] WriteBandwidthMax= ReadIOPSMax=: exit 0 (carried out)" "$?" 0 ||
	sed 's/^/#   /' "$TL_TMP/out"
tl_eq "WriteBandwidthMax=10M -> blkio.throttle.write_bps_device '$num 10485760' (M is 2^20)" \
	"$(cat "$vmdir/blkio.throttle.write_bps_device" 2>&1)" "$num 10485760"
tl_eq "ReadIOPSMax=auto 1000 (the VM's -drive) -> blkio.throttle.read_iops_device" \
	"$(cat "$vmdir/blkio.throttle.read_iops_device" 2>&1)" "$num 1000"
tl_eq "every task of the VM is in its one blkio cgroup" "$(not_in "$pid" "kvmcg/$name")" 0
tl_eq "... and nothing else is" "$(sort -n "$vmdir/tasks" | paste -sd' ')" "$(ls /proc/"$pid"/task | sort -n | paste -sd' ')"
show=$("$KVMCG" show --pid "$pid" --json)
tl_eq "show --json: kvmcg.io is the blkio tree's" \
	"$(jq -c '.kvmcg.io | [.hierarchy, .cgroup, .write_bps_device, .read_iops_device]' <<<"$show")" \
	"[\"v1 blkio\",\"/kvmcg/$name\",[\"$num 10485760\"],[\"$num 1000\"]]"
tl_check "show: a 'kvmcg io:' line with the throttle" \
	sh -c "'$KVMCG' show --pid $pid | grep -q '^kvmcg io: *write_bps_device: $num 10485760; read_iops_device: $num 1000'"
out=$("$KVMCG" pin --pid "$pid" --policy "$f" 2>&1)
tl_eq "the same pin again: nothing changed, exit 0" "$?:$out" "0:pid $pid is already pinned as asked: nothing changed"

# --- the cap measured: 24 MiB of direct I/O at 10 MiB/s should take 2.4 s --------------------
write_in() { # write_in BLKIO_DIR: seconds a 24 MiB direct write to $dev takes there, by dd
	sh -c 'echo $$ >"$1/tasks" && exec dd if=/dev/zero of="$2" bs=1M count=24 oflag=direct' \
		sh "$1" "$dev" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }'
}
secs=$(write_in "$vmdir")
rate=$(awk -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f\n", 24 / s; else print 0 }')
echo "# a writer in /kvmcg/$name of the blkio hierarchy: 24 MiB in $secs s, $rate MiB/s"
tl_check "a direct-I/O writer in the VM's blkio cgroup: $rate MiB/s, within 20% of 10" \
	awk -v r="$rate" 'BEGIN { exit !(r >= 8 && r <= 12) }'
free_secs=$(write_in "$blkio_mount")
tl_check "... while in the root blkio cgroup the same write takes $free_secs s, under half as long" \
	awk -v a="$free_secs" -v b="$secs" 'BEGIN { exit !(a > 0 && a < b / 2) }'

# --- weights: BFQ's where the disk has BFQ, named as not carried out where nothing would ------
f2=$(policy dw "DeviceWeight=$dev 500")
"$KVMCG" pin --pid "$pid" --policy "$f2" >/dev/null 2>"$TL_TMP/dw.err"
tl_eq "DeviceWeight= on a disk without BFQ (v1 has no iocost): exit 3" "$?" 3
tl_check "... named as not carried out, with how to make it count: $(grep -m1 DeviceWeight "$TL_TMP/dw.err")" \
	grep -q "not carried out: \[IO\] DeviceWeight=$dev (a weight takes no effect on $num: scheduler none, and cgroup v1 has no iocost; to make it count: echo bfq" "$TL_TMP/dw.err"
f3=$(policy w "Weight=200")
"$KVMCG" pin --pid "$pid" --policy "$f3" >/dev/null 2>"$TL_TMP/w.err"
tl_eq "Weight= where no disk of the VM has BFQ: exit 3, named as not carried out" \
	"$?:$(grep -c 'not carried out: \[IO\] Weight= (on cgroup v1 only BFQ carries a weight' "$TL_TMP/w.err")" "3:1"
if echo bfq >"$sched" 2>/dev/null && grep -q '\[bfq\]' "$sched" && [ -e "$vmdir/blkio.bfq.weight_device" ]; then
	"$KVMCG" pin --pid "$pid" --policy "$f2" >"$TL_TMP/out" 2>&1
	tl_eq "DeviceWeight=500 on a BFQ disk: exit 0, blkio.bfq.weight_device '$num 136' (BFQ's scale)" \
		"$?:$(grep -x "$num [0-9]*" "$vmdir/blkio.bfq.weight_device")" "0:$num 136" || sed 's/^/#   /' "$TL_TMP/out"
	"$KVMCG" pin --pid "$pid" --policy "$f3" >"$TL_TMP/out" 2>&1
	tl_eq "Weight=200 on the VM's BFQ disk: a line of its own, '$num 109'; BFQ's default not written" \
		"$?:$(grep -x "$num [0-9]*" "$vmdir/blkio.bfq.weight_device"):$(cat "$vmdir/blkio.bfq.weight")" "0:$num 109:100"
	echo none >"$sched"
else
	tl_skip "a BFQ weight in blkio.bfq.weight_device" "BFQ cannot be the scheduler of $dev here ($(cat "$sched"))"
fi
# an [IO] section replaces the VM's I/O settings: the caps the weight files no longer
# give were taken back ("MAJ:MIN 0"), and the kernel lists them no more
tl_eq "the caps the weight-only files do not give are taken back (write_bps, read_iops list nothing)" \
	"$(cat "$vmdir/blkio.throttle.write_bps_device" "$vmdir/blkio.throttle.read_iops_device" | wc -l)" 0
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1
f5=$(policy less "WriteBandwidthMax=$dev 10M")
"$KVMCG" pin --pid "$pid" --policy "$f5" >"$TL_TMP/out" 2>&1
tl_eq "a re-pin whose file no longer gives ReadIOPSMax=: exit 0, read_iops_device empty, write_bps kept" \
	"$?:$(cat "$vmdir/blkio.throttle.read_iops_device"):$(cat "$vmdir/blkio.throttle.write_bps_device")" \
	"0::$num 10485760" || sed 's/^/#   /' "$TL_TMP/out"
tl_check "... and once more, nothing changes" grep -q "nothing changed\|already" <<<"$("$KVMCG" pin --pid "$pid" --policy "$f5" 2>&1)"
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1

# --- undo ---------------------------------------------------------------------------------------
"$KVMCG" unpin --pid "$pid" >"$TL_TMP/out" 2>&1
tl_eq "unpin: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
tl_eq "unpin: every thread back in its original blkio cgroup (two of them), as /proc had it" \
	"$(blkio_snapshot "$pid")" "$blkio_before"
tl_eq "unpin: every thread's cpuset cgroup, CPUs and class as before" "$(snapshot "$pid")" "$before"
tl_check "unpin: its blkio directory is gone" test ! -e "$vmdir"

# a rollback at each action of a pin puts the blkio hierarchy back as it was
n=$(jq '.actions | length' <<<"$dry")
bad=$(tl_v1_fail_each blkio "$pid" "$n" "$vmdir" pin --pid "$pid" --policy "$f")
tl_eq "a failure at each of the $n actions: exit 1, threads and cgroups of both trees as before" "$bad" 0

# a rollback on a tree that is there: a new limit taken back is "MAJ:MIN 0" (no limit),
# the one that was there stays
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1
f4=$(policy more "WriteBandwidthMax=$dev 10M" "ReadIOPSMax=auto 1000" "WriteIOPSMax=$dev 500")
m=$("$KVMCG" pin --pid "$pid" --policy "$f4" --dry-run --json 2>/dev/null | jq '.actions | length')
KVMCG_TEST_FAIL_AT=$m "$KVMCG_TEST" pin --pid "$pid" --policy "$f4" >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a re-pin adding WriteIOPSMax=, failing at its last action: exit 1, the new limit gone, the others kept" \
	"$rc:$(cat "$vmdir/blkio.throttle.write_iops_device"):$(cat "$vmdir/blkio.throttle.write_bps_device")" \
	"1::$num 10485760" || sed 's/^/#   /' "$TL_TMP/err"

# --- forged records: the blkio tree's keys are held to what kvmcg writes -----------------------
rec=$(compgen -G "$KVMCG_STATE_DIR/$pid-*.state" | head -1)
cp "$rec" "$TL_TMP/good.json"
pinned=$(blkio_snapshot "$pid")
forge() { # jq program on the good record
	jq "$1" "$TL_TMP/good.json" >"$rec" && chmod 0600 "$rec"
}
refuse() { # description needle
	"$KVMCG" unpin --pid "$pid" >/dev/null 2>"$TL_TMP/err"
	local rc=$?
	tl_eq "forged ($1): unpin exits 1, one line, nothing touched" \
		"$rc:$(wc -l <"$TL_TMP/err"):$([ "$(blkio_snapshot "$pid")" = "$pinned" ] && echo same)" "1:1:same"
	tl_check "forged ($1): ... that says why: $(cat "$TL_TMP/err")" grep -q -- "$2" "$TL_TMP/err"
}
forge ".blkio_mount = \"$mount\""
refuse "blkio_mount is the cpuset hierarchy's" "not the mount point of the v1 cgroup hierarchy that has blkio"
forge '.blkio_vm_dir = "system.slice" | .blkio_created = ["system.slice"]'
refuse "blkio_vm_dir outside kvmcg/" "its VM directory in the v1 blkio hierarchy is not kvmcg/<name>"
forge '.blkio_created = ["kvmcg"]'
refuse "blkio_created lists kvmcg/ itself" "a directory made in the v1 blkio hierarchy that is not the VM's"
forge "(.threads[] | select(.tid == $pid) | .blkio_cgroup) = \"/kvmcg/someone-else\""
refuse "a thread's blkio origin in a kvmcg/ tree" "v1 blkio cgroup that is not a plain path outside"
cp "$TL_TMP/good.json" "$rec" && chmod 0600 "$rec"
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
tl_eq "the good record again: unpin puts every thread back, the directory gone" \
	"$(blkio_snapshot "$pid"):$([ -e "$vmdir" ] && echo there)" "$blkio_before:"

# --- the VM exits while pinned: the next kvmcg command removes its blkio directory --------------
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1
kill -KILL "$pid"
for _ in $(seq 50); do [ -e /proc/"$pid" ] || break; sleep 0.1; done
"$KVMCG" list >/dev/null 2>&1
tl_check "exited: after the next kvmcg command its blkio directory is gone" test ! -e "$vmdir"
tl_eq "exited: no record is left" "$(ls "$KVMCG_STATE_DIR" | grep -v '^shared')" ""
if [ "$top_before" = absent ]; then
	tl_check "kvmcg/ of the blkio hierarchy, made for this VM, is gone with it" test ! -e "$blkio_mount/kvmcg"
else
	tl_skip "kvmcg/ of the blkio hierarchy gone with the last VM" "it was there before this test"
fi
tl_done
