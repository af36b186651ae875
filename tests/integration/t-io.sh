#!/bin/bash
# [IO] of a policy on a real QEMU: io.max, io.weight and io.bfq.weight of the VM's
# cgroup (its domain: the io controller cannot be set on the threaded children),
# read back from cgroupfs; a direct-I/O writer placed in the VM's cgroup measured
# against WriteBandwidthMax=; paths resolved to their whole disk (a partition, an
# image on a filesystem on a loop device); "auto" from the VM's -drive; a file on
# tmpfs said not carried out; BFQ's weight file chosen when the disk uses BFQ; unpin
# leaving nothing. Pure cgroup v2 runs in the test guest; on a host whose cpuset is
# on v1, [IO] goes to the v1 blkio hierarchy (t-v1io.sh), or is named as not carried
# out where no v1 hierarchy carries blkio.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools io qemu-system-x86_64 losetup sfdisk mkfs.ext4 dd jq awk
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "io" "no usable cpuset controller here: kvmcg makes no cgroups"
	tl_done
fi

export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
pol=$TL_TMP/policies
mkdir -m 0755 "$pol"

modprobe loop 2>/dev/null
# new_loop FILE [ARGS]: a loop device over FILE, detached at exit. Prints its path.
new_loop() {
	local dev
	dev=$(losetup -f --show "$@") || return 1
	tl_on_exit "losetup -d '$dev' 2>/dev/null"
	echo "$dev"
}
# devnum DEV: MAJ:MIN in decimal, from stat (not from kvmcg).
devnum() { printf '%d:%d\n' "0x$(stat -c %t "$1")" "0x$(stat -c %T "$1")"; }

img=$TL_TMP/disk.img
truncate -s 64M "$img"
dev=$(new_loop "$img") || {
	tl_fail "a loop device over $img: losetup failed"
	tl_done
}
num=$(devnum "$dev")
name=${dev#/dev/}

pid=$(tl_qemu t-io -name guest=t-io,debug-threads=on -smp 1 \
	-drive file="$dev",format=raw,if=none,id=d0 -qmp unix:"$TL_TMP/t-io.qmp",server=on,wait=off) || {
	tl_fail "QEMU with -drive file=$dev starts"
	tl_done
}
tl_settle "$pid" 1

policy() { # policy NAME LINES...: the policy file for VM t-io
	local f=$pol/$1.policy
	shift
	{
		printf '[Match]\nName=t-io\n[IO]\n'
		printf '%s\n' "$@"
	} >"$f"
	echo "$f"
}

if [ "$mode" != v2 ]; then
	# cpuset on v1 (a hybrid host): [IO] goes to the v1 blkio hierarchy (t-v1io.sh), or,
	# where no v1 hierarchy carries blkio, is named as not carried out
	if [ -n "$(tl_v1_mount blkio)" ]; then
		tl_skip "io on cgroup v2" "cpuset is on v1 ($mount): [IO] goes to the v1 blkio hierarchy, t-v1io.sh"
		tl_done
	fi
	f=$(policy v1 "WriteBandwidthMax=$dev 10M")
	"$KVMCG" pin --pid "$pid" --policy "$f" >"$TL_TMP/v1.out" 2>"$TL_TMP/v1.err"
	tl_eq "cgroup v1 ($mount) without blkio: a pin with [IO] exits 3 (a setting not carried out)" "$?" 3
	tl_check "... and names it, with why: $(grep -m1 'IO' "$TL_TMP/v1.err")" \
		grep -q "not carried out: \[IO\] (needs the io controller: no v1 hierarchy carries blkio" "$TL_TMP/v1.err"
	"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
	tl_done
fi

vmcg=$mount/kvmcg/t-io
f=$(policy io "Weight=300" "WriteBandwidthMax=auto 10M" "ReadIOPSMax=$dev 1000")
echo none >/sys/block/"$name"/queue/scheduler 2>/dev/null
"$KVMCG" pin --pid "$pid" --policy "$f" >"$TL_TMP/pin.out" 2>"$TL_TMP/pin.err"
rc=$?
tl_eq "pin --policy with [IO]: exit 0 (stderr: $(tr '\n' ' ' <"$TL_TMP/pin.err"))" "$rc" 0
tl_eq "io.max of the VM's cgroup: WriteBandwidthMax=auto (its -drive) and ReadIOPSMax= on $dev ($num)" \
	"$(cat "$vmcg/io.max")" "$num rbps=max wbps=10485760 riops=1000 wiops=max"
tl_check "io.weight: Weight=300 as the default" grep -qx "default 300" "$vmcg/io.weight"
tl_check "... which the VM's disk (no BFQ, no iocost) would not feel: said, with how to make it count" \
	grep -q "Weight= on the VM's disk $dev.*takes no effect.*io.cost.qos" "$TL_TMP/pin.err"
# A disk's own weight there: the kernel would refuse it, so it is not carried out.
f2=$(policy dw "DeviceWeight=$dev 500")
"$KVMCG" pin --pid "$pid" --policy "$f2" >/dev/null 2>"$TL_TMP/dw.err"
tl_eq "DeviceWeight= on a disk with neither BFQ nor iocost: exit 3" "$?" 3
tl_check "... not carried out, with how to make it count: $(grep -m1 DeviceWeight "$TL_TMP/dw.err")" \
	grep -q "not carried out: \[IO\] DeviceWeight=$dev (a weight takes no effect on $num.*io.cost.qos" "$TL_TMP/dw.err"
tl_check "... and io.weight has no line for it" sh -c "! grep -q '^$num ' '$vmcg/io.weight'"
# an [IO] section replaces the VM's I/O settings: the caps and the default weight the
# first file gave, which this one does not, were taken back
tl_eq "... the caps and Weight= the first file gave are taken back (io.max empty, io.weight default 100)" \
	"$(wc -l <"$vmcg/io.max"):$(cat "$vmcg/io.weight")" "0:default 100"
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1
tl_eq "... and the first file again gives them back" "$(cat "$vmcg/io.max")" "$num rbps=max wbps=10485760 riops=1000 wiops=max"
tl_check "the threads' own cgroups carry no io file (io is a domain controller)" test ! -e "$vmcg/emulator/io.max"

# The cap measured: a writer placed in the VM's cgroup, 24 MiB of direct I/O at
# 10 MiB/s should take 2.4 s; within +-20%. Unthrottled, the same write is faster.
# Writes of 1 MiB: a loop device's cost per write is what bounds it under TCG.
write_in() { # write_in CGROUP_DIR: seconds a 24 MiB direct write to $dev takes there, by dd
	sh -c 'echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs=1M count=24 oflag=direct' \
		sh "$1" "$dev" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }'
}
secs=$(write_in "$vmcg")
rate=$(awk -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f\n", 24 / s; else print 0 }')
if awk -v r="$rate" 'BEGIN { exit !(r >= 8 && r <= 12) }'; then
	tl_ok "a direct-I/O writer in the VM's cgroup: $rate MiB/s (24 MiB in $secs s by dd), within 20% of 10"
else
	tl_fail "a direct-I/O writer in the VM's cgroup: $rate MiB/s (24 MiB in $secs s by dd), not within 20% of 10"
fi
free_secs=$(write_in "$mount")
tl_check "... while in the root cgroup the same write takes $free_secs s, under half as long" \
	awk -v a="$free_secs" -v b="$secs" 'BEGIN { exit !(a > 0 && a < b / 2) }'

json=$("$KVMCG" show --pid "$pid" --json)
tl_eq "show --json: kvmcg.io.max is the kernel's io.max" "$(jq -r '.kvmcg.io.max[0]' <<<"$json")" \
	"$num rbps=max wbps=10485760 riops=1000 wiops=max"
tl_check "show (text): the kvmcg io line" sh -c "'$KVMCG' show --pid $pid | grep -q '^kvmcg io:.*wbps=10485760'"

# Pinned again with the same policy: nothing to do.
"$KVMCG" pin --pid "$pid" --policy "$f" >"$TL_TMP/again.out" 2>&1
tl_eq "the same policy again: exit 0" "$?" 0
tl_check "... nothing changed" grep -q "already pinned as asked" "$TL_TMP/again.out"

# A partition resolves to its disk; a file on ext4 on a loop device to that device.
pimg=$TL_TMP/part.img
truncate -s 32M "$pimg"
printf 'label: dos\n,16M\n,\n' | sfdisk -q "$pimg" >/dev/null 2>&1
pdev=$(new_loop -P "$pimg")
if [ -b "${pdev}p1" ]; then
	f=$(policy part "WriteBandwidthMax=${pdev}p1 20M")
	"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/part.err"
	tl_eq "WriteBandwidthMax=${pdev}p1: exit 0" "$?" 0
	tl_check "... io.max names its disk, $(devnum "$pdev"), not the partition $(devnum "${pdev}p1")" \
		grep -qx "$(devnum "$pdev") rbps=max wbps=20971520 riops=max wiops=max" "$vmcg/io.max"
else
	tl_skip "WriteBandwidthMax= on a partition" "losetup -P made no ${pdev}p1 here"
fi
eimg=$TL_TMP/ext4.img
truncate -s 32M "$eimg"
edev=$(new_loop "$eimg")
mkdir "$TL_TMP/mnt"
modprobe ext4 2>/dev/null
if ! mkfs.ext4 -q -F "$edev" >"$TL_TMP/mkfs.err" 2>&1 || ! mount -t ext4 "$edev" "$TL_TMP/mnt" 2>>"$TL_TMP/mkfs.err"; then
	tl_fail "ext4 on $edev, mounted: $(tr '\n' ' ' <"$TL_TMP/mkfs.err")"
else
	tl_on_exit "umount '$TL_TMP/mnt'"
	truncate -s 8M "$TL_TMP/mnt/vm.img"
	f=$(policy ext4 "ReadBandwidthMax=$TL_TMP/mnt/vm.img 30M")
	"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/ext4.err"
	rc=$?
	tl_eq "ReadBandwidthMax= of a disk image on ext4 on $edev: exit 0 ($(tr '\n' ' ' <"$TL_TMP/ext4.err"))" "$rc" 0
	tl_check "... io.max names $edev ($(devnum "$edev"))" \
		grep -qx "$(devnum "$edev") rbps=31457280 wbps=max riops=max wiops=max" "$vmcg/io.max"
fi

# An image on tmpfs has no block device under it: said, the rest carried out.
fs=$(stat -f -c %T "$img")
f=$(policy tmpfs "WriteBandwidthMax=$img 5M" "WriteIOPSMax=$dev 500")
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/tmpfs.err"
rc=$?
if [ "$fs" = tmpfs ]; then
	tl_eq "WriteBandwidthMax= of an image on tmpfs: exit 3 (not carried out)" "$rc" 3
	tl_check "... said with why: $(grep -m1 "$img" "$TL_TMP/tmpfs.err")" \
		grep -q "not carried out: \[IO\] WriteBandwidthMax=$img (.*tmpfs" "$TL_TMP/tmpfs.err"
	tl_check "... and the rest carried out: WriteIOPSMax= on $dev" grep -q "^$num .*wiops=500" "$vmcg/io.max"
else
	tl_skip "an image on tmpfs" "$img is on $fs here"
fi

# BFQ: a disk that uses it takes the weight in io.bfq.weight.
modprobe bfq 2>/dev/null
if echo bfq >/sys/block/"$name"/queue/scheduler 2>/dev/null && [ -e "$vmcg/io.bfq.weight" ]; then
	f=$(policy bfq "Weight=200" "DeviceWeight=$dev 700")
	"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/bfq.err"
	tl_eq "DeviceWeight= on a disk with BFQ: exit 0" "$?" 0
	tl_check "... in io.bfq.weight, on BFQ's scale (700 of 1..10000 is 154 of 1..1000): $(tr '\n' ' ' <"$vmcg/io.bfq.weight")" \
		grep -qx "$num 154" "$vmcg/io.bfq.weight"
	tl_check "... io.bfq.weight's default line left alone (writing it drops every disk's own BFQ weight)" \
		grep -qx "default 100" "$vmcg/io.bfq.weight"
	tl_check "... and no warning that it takes no effect" sh -c "! grep -q 'takes no effect' '$TL_TMP/bfq.err'"
	f=$(policy bfq2 "Weight=250" "DeviceWeight=$dev 700")
	"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>&1
	tl_check "a new Weight=: the disk's own BFQ weight stays" grep -qx "$num 154" "$vmcg/io.bfq.weight"
	"$KVMCG" pin --pid "$pid" --policy "$f" >"$TL_TMP/bfq3.out" 2>&1
	tl_check "... and the same policy again changes nothing" grep -q "already pinned as asked" "$TL_TMP/bfq3.out"
	f=$(policy bfq4 "DeviceWeight=$dev 2000")
	"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/bfq4.err"
	tl_eq "DeviceWeight= 2000 on a BFQ disk (whose own range ends at 1000): exit 0, as 272" \
		"$?:$(grep -x "$num [0-9]*" "$vmcg/io.bfq.weight")" "0:$num 272"
	echo none >/sys/block/"$name"/queue/scheduler
else
	tl_skip "DeviceWeight= on a disk with BFQ" "no BFQ scheduler for $name on this kernel"
fi

# Two settings that give one disk two values: refused, both named, nothing written.
f=$(policy two "WriteBandwidthMax=$dev 10M" "WriteBandwidthMax=auto 20M")
before=$(cat "$vmcg/io.max")
"$KVMCG" pin --pid "$pid" --policy "$f" >/dev/null 2>"$TL_TMP/two.err"
tl_eq "WriteBandwidthMax= on $dev and on auto (the same disk), two values: exit 2" "$?" 2
tl_check "... both named: $(head -1 "$TL_TMP/two.err")" \
	grep -q "WriteBandwidthMax=$dev (line 4) and WriteBandwidthMax=auto (line 5) give disk $num ($name) two values" "$TL_TMP/two.err"
tl_eq "... and io.max as it was" "$(cat "$vmcg/io.max")" "$before"

"$KVMCG" unpin --pid "$pid" >"$TL_TMP/unpin.out" 2>&1
tl_eq "unpin: exit 0" "$?" 0
tl_check "... the VM's cgroup, and its io settings with it, are gone" test ! -e "$vmcg"
tl_eq "... its threads are back in the root cgroup" "$(sed -n 's/^0:://p' /proc/"$pid"/cgroup)" /

# A VM alone in a cgroup of its own (a launcher's, as systemd-run makes one): kvmcg
# builds its tree inside it, and that cgroup is the VM's io domain. What kvmcg writes
# there goes back as it was at unpin; what the launcher set and the policy does not
# name stays.
home=$mount/t-io-home
mkdir "$home"
tl_on_exit "tl_rmcg '$home'"
grep -qw io "$mount/cgroup.subtree_control" || echo +io >"$mount/cgroup.subtree_control"
echo "$num rbps=1048576" >"$home/io.max"
echo "default 50" >"$home/io.weight"
# the VM's disk on BFQ, with a weight of the launcher's own for it there
bfq_home=
if echo bfq >/sys/block/"$name"/queue/scheduler 2>/dev/null && echo "$num 55" >"$home/io.bfq.weight" 2>/dev/null; then
	bfq_home=1
fi
io_before=$(cat "$home/io.max" "$home/io.weight" "$home/io.bfq.weight" 2>/dev/null)
pidfile2=$TL_TMP/t-io2.pid
# Its disk named relative to where it started (/dev); -daemonize moves it to / after.
sh -c 'echo $$ >"$1/cgroup.procs" && cd /dev && shift && exec "$@"' sh "$home" qemu-system-x86_64 -accel tcg \
	-m 64 -display none -nodefaults -no-user-config -bios "$(tl_halt_bios)" -name guest=t-io,debug-threads=on \
	-drive file="$name",format=raw,if=none,id=d0 -pidfile "$pidfile2" -daemonize 2>"$TL_TMP/t-io2.err"
pid2=$(cat "$pidfile2")
tl_register_pid "$pid2"
tl_settle "$pid2" 1
f=$(policy home "Weight=200" "WriteBandwidthMax=auto 10M")
"$KVMCG" pin --pid "$pid2" --policy "$f" --json >"$TL_TMP/home.json" 2>"$TL_TMP/home.err"
rc=$?
tl_eq "a VM in a cgroup of its own, pinned with [IO]: exit 0 ($(grep -v 'takes no effect' "$TL_TMP/home.err" | tr '\n' ' '))" "$rc" 0
tl_eq "... its tree is inside that cgroup" "$(jq -r .vm_cgroup "$TL_TMP/home.json" 2>/dev/null)" "/t-io-home/kvmcg"
tl_eq "... io.max of that cgroup: auto found its disk (-drive file=$name, opened from /dev), the launcher's rbps= stays, the policy's wbps= added" "$(cat "$home/io.max")" \
	"$num rbps=1048576 wbps=10485760 riops=max wiops=max"
tl_check "... io.weight: default 200" grep -qx "default 200" "$home/io.weight"
if [ -n "$bfq_home" ]; then
	tl_check "... its BFQ disk takes Weight=200 as a line of its own in io.bfq.weight, 109 on BFQ's scale: $(tr "\n" " " <"$home/io.bfq.weight")" \
		grep -qx "$num 109" "$home/io.bfq.weight"
else
	tl_skip "Weight= on a BFQ disk in a launcher's cgroup" "no BFQ for $name here"
fi
tl_check "... and show prints that cgroup's io files" \
	sh -c "'$KVMCG' show --pid $pid2 --json | jq -e '.kvmcg.io.max | index(\"$num rbps=1048576 wbps=10485760 riops=max wiops=max\") != null'"
rec=$KVMCG_STATE_DIR/$pid2-$(awk '{ print $22 }' /proc/"$pid2"/stat).state
# what it writes back: each line as it was, of io.max only the limit kvmcg set
want_restore=$({
	echo "t-io-home io.max $num wbps=max"
	echo "t-io-home io.weight default 50"
	[ -n "$bfq_home" ] && echo "t-io-home io.bfq.weight $num 55"
} | sort)
tl_eq "... the record keeps what to write back ($rec)" \
	"$(jq -r '.restore[] | "\(.dir) \(.file) \(.line)"' "$rec" 2>/dev/null | sort)" "$want_restore"
"$KVMCG" unpin --pid "$pid2" >"$TL_TMP/unpin2.out" 2>&1
rc=$?
tl_eq "unpin: exit 0 ($(tr '\n' ' ' <"$TL_TMP/unpin2.out"))" "$rc" 0
tl_eq "... that cgroup's io.max, io.weight and io.bfq.weight are as the launcher left them" \
	"$(cat "$home/io.max" "$home/io.weight" "$home/io.bfq.weight" 2>/dev/null)" "$io_before"
echo none >/sys/block/"$name"/queue/scheduler 2>/dev/null
tl_check "... and kvmcg's tree in it is gone" test ! -e "$home/kvmcg"

# kvmcg run: QEMU starts in its cgroup with the policy's io settings already there.
printf '[Match]\nName=t-io-run\n[IO]\nWriteIOPSMax=auto 300\n' >"$pol/run.policy"
"$KVMCG" run --policy "$pol/run.policy" -- qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults \
	-no-user-config -bios "$(tl_halt_bios)" -name guest=t-io-run,debug-threads=on \
	-drive file="$dev",format=raw,if=none,id=d0 -pidfile "$TL_TMP/run.pid" -daemonize >"$TL_TMP/run.out" 2>&1
rc=$?
[ -s "$TL_TMP/run.pid" ] && tl_register_pid "$(cat "$TL_TMP/run.pid")"
tl_eq "kvmcg run --policy with [IO]: exit 0 ($(tr '\n' ' ' <"$TL_TMP/run.out" | cut -c1-300))" "$rc" 0
tl_eq "... its cgroup's io.max has the policy's line" "$(cat "$mount/kvmcg/t-io-run/io.max" 2>/dev/null)" \
	"$num rbps=max wbps=max riops=max wiops=300"
"$KVMCG" unpin --name t-io-run >/dev/null 2>&1
tl_done
