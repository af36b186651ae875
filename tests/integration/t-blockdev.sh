#!/bin/bash
# kernel/blockdev.c against the real kernel, through build/blockdev-probe: a loop
# device the test makes over a file in its own temporary directory, with a partition
# table (sfdisk when installed, else an MBR written with printf; partx -a where the
# kernel reads no table) and ext4 on the partition; a device-mapper linear device on a
# second loop device (when dmsetup and dm-mod are there) with ext4 on it; files on a
# tmpfs and an overlay the test mounts; a file on btrfs on a third loop device (when
# mkfs.btrfs is there). Each device number is compared with lsblk's and stat's, the
# scheduler with /sys/block/NAME/queue/scheduler, and the kernel itself is asked: the
# io.max (v2) or blkio.throttle.read_bps_device (v1) line the module writes for the
# resolved device is taken by a cgroup of the test's and read back, and the same line
# for the partition is refused (ENODEV, block/blk-cgroup.c). Every loop device,
# mapping, mount and cgroup is removed at exit, whatever happens.
. "$(dirname "$0")/../lib/testlib.sh"

probe=$KVMCG_BUILD_DIR/blockdev-probe
if [ ! -x "$probe" ]; then
	tl_skip "block devices" "no $probe (make $probe)"
	tl_done
fi
if [ "$(id -u)" -ne 0 ]; then
	tl_skip "block devices" "needs root for losetup and mount; uid $(id -u)"
	tl_done
fi
tl_need_tools "block devices" losetup lsblk stat mkfs.ext4 mount umount

show() { while IFS= read -r l; do echo "#   $l"; done <<<"$1"; }
# field OUT N KEY: the rest of probe line "N KEY ..."
field() { awk -v n="$2" -v k="$3" '$1 == n && $2 == k { sub("^[^ ]+ [^ ]+ ", ""); print; exit }' <<<"$1"; }
# majmin DEV: MAJ:MIN of a device node from stat (hex) in decimal
majmin() { local t T; read -r t T < <(stat -L -c '%t %T' "$1") && printf '%d:%d\n' "0x$t" "0x$T"; }
lsblk_mm() { lsblk -dno MAJ:MIN "$1" | tr -d ' '; }
active_sched() { sed -n 's/.*\[\(.*\)\].*/\1/p; t; /^none$/p' "/sys/block/$1/queue/scheduler"; }

# An image with one partition from sector 2048 to the end.
img=$TL_TMP/disk.img
truncate -s 64M "$img"
if command -v sfdisk >/dev/null; then
	echo 'start=2048, type=83' | sfdisk -q "$img" >/dev/null 2>&1
	how=sfdisk
else
	# the MBR by hand: one entry at 446 (type 0x83, LBA 2048, 129024 sectors), 0x55AA at 510
	printf '\x00\x00\x02\x00\x83\xff\xff\xff\x00\x08\x00\x00\x00\xf8\x01\x00' |
		dd of="$img" bs=1 seek=446 conv=notrunc status=none
	printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
	how="an MBR written with printf (no sfdisk)"
fi
# loop as a module (Debian's kernels): its control node appears once it is loaded
[ -e /dev/loop-control ] || modprobe loop 2>/dev/null
loop=$(losetup -f --show -P "$img" 2>"$TL_TMP/losetup.err")
if [ -z "$loop" ]; then
	tl_skip "block devices" "losetup -f -P failed: $(cat "$TL_TMP/losetup.err")"
	tl_done
fi
tl_on_exit "losetup -d $loop"
lname=${loop#/dev/}
echo "# $loop over $img, partitioned with $how"

out=$("$probe" "$loop")
show "$out"
tl_eq "loop device: MAJ:MIN as stat gives it" "$(field "$out" 1 dev)" "$(majmin "$loop")"
tl_eq "loop device: MAJ:MIN as lsblk gives it" "$(field "$out" 1 dev)" "$(lsblk_mm "$loop")"
tl_eq "loop device: its name" "$(field "$out" 1 name)" "$lname"
tl_eq "loop device: the chain names its backing file" "$(field "$out" 1 chain)" "$loop (backing file $img)"
tl_eq "loop device: the scheduler /sys/block/$lname/queue/scheduler marks" "$(field "$out" 1 scheduler)" \
	"$(active_sched "$lname")"

# The partition: the kernel makes its node at once (devtmpfs). A kernel that reads no
# partition table (CONFIG_MSDOS_PARTITION=n) is told of it with partx -a (the BLKPG
# ioctl), which any kernel takes on a loop device made with -P.
part=${loop}p1
for _ in $(seq 10); do [ -b "$part" ] && break; sleep 0.1; done
if [ ! -b "$part" ] && command -v partx >/dev/null && partx -a "$loop" 2>/dev/null; then
	echo "# the kernel read no partition table; $part added with partx -a"
	for _ in $(seq 10); do [ -b "$part" ] && break; sleep 0.1; done
fi
if [ -b "$part" ]; then
	out=$("$probe" "$part")
	show "$out"
	tl_eq "partition: resolves to its disk's MAJ:MIN (lsblk)" "$(field "$out" 1 dev)" "$(lsblk_mm "$loop")"
	tl_eq "partition: ... which is not its own (stat)" \
		"$([ "$(field "$out" 1 dev)" != "$(majmin "$part")" ] && echo differs)" differs
	tl_eq "partition: the chain" "$(field "$out" 1 chain)" \
		"$part, partition of $loop (backing file $img)"
	fsdev=$part
else
	tl_skip "partition of a loop device" "no $part after losetup -P and partx -a"
	fsdev=$loop
fi

# A file on ext4 on the partition
mnt=$TL_TMP/mnt
mkdir -p "$mnt"
if mkfs.ext4 -q -F "$fsdev" >"$TL_TMP/mkfs.out" 2>&1 && mount "$fsdev" "$mnt"; then
	tl_on_exit "umount $mnt"
	echo data >"$mnt/vm.img"
	out=$("$probe" "$mnt/vm.img")
	show "$out"
	tl_eq "file on ext4: its filesystem's device is $fsdev (findmnt)" \
		"$(findmnt -no MAJ:MIN --target "$mnt/vm.img" | tr -d ' ')" "$(majmin "$fsdev")"
	tl_eq "file on ext4: resolves to the loop device (lsblk)" "$(field "$out" 1 dev)" "$(lsblk_mm "$loop")"
	if [ "$fsdev" = "$part" ]; then
		want="$mnt/vm.img (ext4) on $part, partition of $loop (backing file $img)"
	else
		want="$mnt/vm.img (ext4) on $loop (backing file $img)"
	fi
	tl_eq "file on ext4: the chain" "$(field "$out" 1 chain)" "$want"
else
	tl_fail "mkfs.ext4 and mount of $fsdev"
	sed 's/^/#   /' "$TL_TMP/mkfs.out"
fi

# A file on tmpfs: no block device
tmp=$TL_TMP/tmpfs
mkdir -p "$tmp"
if mount -t tmpfs -o size=1M kvmcg-test "$tmp"; then
	tl_on_exit "umount $tmp"
	: >"$tmp/vm.img"
	out=$("$probe" "$tmp/vm.img")
	show "$out"
	tl_check "file on tmpfs: ENODEV, naming tmpfs, saying no io setting applies" \
		grep -q "^1 error ENODEV $tmp/vm.img is on a tmpfs filesystem, which has no block device .*: no io setting can apply to it" <<<"$out"
else
	tl_fail "mount a tmpfs"
fi

# overlay: no block device of its own either
ovl=$TL_TMP/ovl
mkdir -p "$ovl"/lower "$ovl"/upper "$ovl"/work "$ovl"/merged
if mount -t overlay kvmcg-test -o "lowerdir=$ovl/lower,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/merged" 2>"$TL_TMP/ovl.err"; then
	tl_on_exit "umount $ovl/merged"
	: >"$ovl/merged/vm.img"
	out=$("$probe" "$ovl/merged/vm.img")
	tl_check "file on overlay: ENODEV, naming overlay" \
		grep -q "^1 error ENODEV $ovl/merged/vm.img is on an overlay filesystem, which has no block device" <<<"$out"
else
	tl_skip "file on overlay" "mount -t overlay failed: $(tr '\n' ' ' <"$TL_TMP/ovl.err")"
fi

# btrfs: an anonymous device number; its devices are named from /sys/fs/btrfs/UUID/devices
if ! command -v mkfs.btrfs >/dev/null; then
	tl_skip "file on btrfs" "mkfs.btrfs is not installed (btrfs-progs)"
else
	img3=$TL_TMP/btrfs.img
	truncate -s 128M "$img3"
	loop3=$(losetup -f --show "$img3")
	tl_on_exit "losetup -d $loop3"
	mnt3=$TL_TMP/mnt3
	mkdir -p "$mnt3"
	if mkfs.btrfs -q -f "$loop3" >"$TL_TMP/mkfs3.out" 2>&1 && mount -t btrfs "$loop3" "$mnt3" 2>>"$TL_TMP/mkfs3.out"; then
		tl_on_exit "umount $mnt3"
		: >"$mnt3/vm.img"
		uuid=$(findmnt -no UUID --target "$mnt3")
		out=$("$probe" "$mnt3/vm.img")
		show "$out"
		d=$(stat -c %d "$mnt3/vm.img")
		anon=$(((d >> 8) & 0xfff)):$(((d & 0xff) | ((d >> 12) & 0xfff00)))
		tl_check "file on btrfs: ENODEV, naming btrfs and its anonymous device $anon (stat)" \
			grep -q "^1 error ENODEV $mnt3/vm.img is on a btrfs filesystem, which has no block device (its device number is $anon)" <<<"$out"
		tl_check "file on btrfs: the sentence names /sys/fs/btrfs/$uuid/devices and $loop3 ($(lsblk_mm "$loop3")) to name instead" \
			grep -qF "(/sys/fs/btrfs/$uuid/devices): $loop3 ($(lsblk_mm "$loop3")); name those disks instead." <<<"$out"
	else
		tl_skip "file on btrfs" "mkfs.btrfs or mount failed: $(tr '\n' ' ' <"$TL_TMP/mkfs3.out")"
	fi
fi

# The scheduler switched by the test on its own loop device
if grep -qw bfq "/sys/block/$lname/queue/scheduler" || { modprobe bfq 2>/dev/null && grep -qw bfq "/sys/block/$lname/queue/scheduler"; }; then
	if echo bfq >"/sys/block/$lname/queue/scheduler" 2>/dev/null; then
		out=$("$probe" "$loop")
		tl_eq "bfq set on $lname: read as the active scheduler" "$(field "$out" 1 scheduler)" bfq
		if [ "$(field "$out" 0 cgroup2-io)" = yes ] || grep -q "^cgroup2-io yes" <<<"$out"; then
			tl_eq "bfq: a weight goes to io.bfq.weight" "$(field "$out" 1 weight)" "bfq io.bfq.weight"
		else
			tl_eq "bfq: a weight goes to blkio.bfq.weight (v1)" "$(field "$out" 1 weight)" "bfq blkio.bfq.weight"
		fi
		echo none >"/sys/block/$lname/queue/scheduler"
		out=$("$probe" "$loop")
		tl_eq "none set on $lname: read as none" "$(field "$out" 1 scheduler)" none
		tl_eq "none: the weight would do nothing (iocost is not enabled on a loop device made now)" \
			"$(field "$out" 1 weight)" nothing
		tl_check "none: the advice names the commands" \
			grep -q "^1 advice .*echo bfq > /sys/block/$lname/queue/scheduler" <<<"$out"
	else
		tl_skip "switching $lname to bfq" "the kernel refused echo bfq > /sys/block/$lname/queue/scheduler"
	fi
else
	tl_skip "switching $lname to bfq" "no bfq scheduler in this kernel ($(cat "/sys/block/$lname/queue/scheduler"))"
fi

# device-mapper: a linear device over a second loop device, ext4 on it
if ! command -v dmsetup >/dev/null; then
	tl_skip "device-mapper" "dmsetup is not installed"
else
	img2=$TL_TMP/dm.img
	truncate -s 32M "$img2"
	loop2=$(losetup -f --show "$img2")
	tl_on_exit "losetup -d $loop2"
	dmname=kvmcg-test-$$
	modprobe dm-mod 2>/dev/null
	if dmsetup create "$dmname" --table "0 $((32 * 2048)) linear $loop2 0" 2>"$TL_TMP/dm.err"; then
		tl_on_exit "dmsetup remove $dmname"
		dmdev=/dev/mapper/$dmname
		for _ in $(seq 20); do [ -b "$dmdev" ] && break; sleep 0.1; done
		[ -b "$dmdev" ] || dmdev=/dev/$(basename "$(readlink -f "/sys/dev/block/$(dmsetup info -c --noheadings -o major,minor "$dmname" | tr -d ' ')")")
		dmmm=$(dmsetup info -c --noheadings -o major,minor "$dmname" | tr -d ' ')
		dmk=$(basename "$(readlink "/sys/dev/block/$dmmm")")
		out=$("$probe" "$dmdev")
		show "$out"
		tl_eq "dm device: MAJ:MIN as dmsetup gives it" "$(field "$out" 1 dev)" "$dmmm"
		tl_eq "dm device: the chain names the mapping and the loop device below" "$(field "$out" 1 chain)" \
			"/dev/$dmk ($dmname) on $loop2 (backing file $img2)"
		tl_check "dm device: a weight does nothing there, and the advice says to use the disks below" \
			grep -q "^1 advice /dev/$dmk is a device-mapper device" <<<"$out"
		mnt2=$TL_TMP/mnt2
		mkdir -p "$mnt2"
		if mkfs.ext4 -q -F "$dmdev" >"$TL_TMP/mkfs2.out" 2>&1 && mount "$dmdev" "$mnt2"; then
			tl_on_exit "umount $mnt2"
			: >"$mnt2/vm.img"
			out=$("$probe" "$mnt2/vm.img")
			tl_eq "file on ext4 on dm: the dm device is the one written" "$(field "$out" 1 dev)" "$dmmm"
			tl_eq "file on ext4 on dm: the chain" "$(field "$out" 1 chain)" \
				"$mnt2/vm.img (ext4) on /dev/$dmk ($dmname) on $loop2 (backing file $img2)"
		else
			tl_fail "mkfs.ext4 and mount of $dmdev"
			sed 's/^/#   /' "$TL_TMP/mkfs2.out"
		fi
	else
		tl_skip "device-mapper" "dmsetup create failed: $(tr '\n' ' ' <"$TL_TMP/dm.err")"
	fi
fi

# The kernel takes the module's line for the resolved device and refuses a partition's.
out=$("$probe" "$loop")
v2=$(awk '$3 == "cgroup2" { print $2 }' /proc/mounts | while read -r m; do
	grep -qw io "$m/cgroup.subtree_control" 2>/dev/null && echo "$m" && break
done)
v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)blkio(,|$)/ { print $2; exit }' /proc/mounts)
partmm=$([ -b "$part" ] && majmin "$part")
# refused FILE LINE: the write fails with ENODEV ("No such device", bash's message).
refused() {
	if (echo "$2" >"$1") 2>"$TL_TMP/w.err"; then
		echo "the kernel took \"$2\""
		return 1
	fi
	grep 'No such device' "$TL_TMP/w.err"
}
if [ -n "$v2" ]; then
	cg=$v2/kvmcg-test-blk.$$
	mkdir "$cg" && tl_on_exit "tl_rmcg $cg"
	line=$(field "$out" 1 io.max)
	tl_check "io.max takes \"$line\"" sh -c "echo '$line' >$cg/io.max"
	tl_eq "io.max reads it back as written" "$(grep "^${line%% *} " "$cg/io.max")" "$line"
	if [ -n "$partmm" ]; then
		tl_check "io.max refuses the partition $partmm (ENODEV)" refused "$cg/io.max" "$partmm rbps=1048576"
	fi
elif [ -n "$v1" ]; then
	cg=$v1/kvmcg-test-blk.$$
	mkdir "$cg" && tl_on_exit "tl_rmcg $cg"
	line=$(field "$out" 1 blkio)
	tl_check "blkio.throttle.read_bps_device takes \"$line\"" \
		sh -c "echo '$line' >$cg/blkio.throttle.read_bps_device"
	tl_eq "blkio.throttle.read_bps_device reads it back as written" \
		"$(grep "^${line%% *} " "$cg/blkio.throttle.read_bps_device")" "$line"
	if [ -n "$partmm" ]; then
		tl_check "blkio.throttle.read_bps_device refuses the partition $partmm (ENODEV)" \
			refused "$cg/blkio.throttle.read_bps_device" "$partmm 1048576"
	fi
else
	tl_skip "the kernel takes the io.max line" "no io controller: neither a cgroup2 mount with io in subtree_control nor a v1 blkio mount"
fi

tl_done
