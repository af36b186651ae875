#!/usr/bin/env bash
# Run the project's guest-side tests inside a real Linux guest booted under
# QEMU (TCG): 4 vCPUs, 2 NUMA nodes, pure cgroup v2, with the host's root
# filesystem shared read-only. See tests/guest/README.md.
#
# usage: tests/guest/run.sh            run $KVMCG_GUEST_CMD (default:
#                                      bash tests/integration/run.sh)
#        tests/guest/run.sh --shell    interactive shell in the guest
#
# KVMCG_GUEST_INIT=systemd boots the host's systemd as PID 1 (with the
# kvmcg-watch unit as `make install-service` installs it, in /run/systemd/system)
# and runs the test command as a service of it; the default is a plain chroot.
#
# KVMCG_GUEST_KERNEL picks the kernel: 6.1 (default: Debian 12's) or 6.12
# (Debian's bookworm-backports kernel), each fetched from Debian's archive into
# the build directory on first use by fetch-kernel.sh, never installed on the
# host (when it cannot be fetched the run is one visible skip), or the path of
# a kernel image.
#
# The test command's output goes to stdout and its exit status is this
# script's exit status; harness messages go to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
proj=$(cd "$(dirname "$0")/../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

t0=$EPOCHREALTIME

mode="test"
case ${1:-} in
'') ;;
--shell) mode=shell ;;
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
*)
	echo "usage: $0 [--shell]" >&2
	exit 2
	;;
esac

note() { printf 'guest: %s\n' "$*" >&2; }

# elapsed SINCE: seconds since an $EPOCHREALTIME value, with one decimal.
elapsed() {
	local now=${EPOCHREALTIME/[.,]/} then=${1/[.,]/}
	local ds=$(((now - then) / 100000))
	printf '%d.%d' $((ds / 10)) $((ds % 10))
}

missing() { # missing PACKAGE WHAT
	echo "guest tests: missing package $1 ($2); install it (make deps)" >&2
	exit 1
}

# ---------------------------------------------------------------- checks

qemu=$(command -v qemu-system-x86_64 || true)
[[ -n $qemu ]] || missing qemu-system-x86 "no qemu-system-x86_64"

build=${KVMCG_BUILD_DIR:-$proj/build}
mkdir -p "$build/guest"
guest_dir=$(cd "$build/guest" && pwd)

series=${KVMCG_GUEST_KERNEL:-6.1}
case $series in
6.1 | 6.12)
	# Fetched once into the build dir; without it the run is a visible skip.
	frc=0
	kernel=$(KVMCG_BUILD_DIR=$build "$here/fetch-kernel.sh" "$series" 2>"$guest_dir/fetch-$series.log") || frc=$?
	cat -- "$guest_dir/fetch-$series.log" >&2
	if ((frc == 3)); then
		why=$(tail -n 1 "$guest_dir/fetch-$series.log")
		echo "ok 1 - test guest on Linux $series # SKIP $why (tests/guest/fetch-kernel.sh)"
		echo "1..1"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	elif ((frc != 0)); then
		echo "not ok 1 - test guest on Linux $series: tests/guest/fetch-kernel.sh exited $frc"
		echo "1..1"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	;;
*)
	kernel=$KVMCG_GUEST_KERNEL
	[[ -f $kernel ]] || {
		echo "guest tests: KVMCG_GUEST_KERNEL=$kernel is neither 6.1, 6.12 nor a file" >&2
		exit 1
	}
	;;
esac
kver=${kernel##*/vmlinuz-}
# The logs a run leaves, one pair per kernel so that guests of two kernels can run
# at once (tests/run-all.sh does): console-<kernel>.log and output-<kernel>.log.
log_tag=${KVMCG_GUEST_KERNEL:-6.1}
log_tag=${log_tag##*/}
# The accelerator: TCG, one host thread per vCPU (MTTCG), except for 6.12. Its
# kernel, under QEMU 7.2's MTTCG, once died of "Oops: int3" in
# __alloc_pages_noprof: a vCPU ran a breakpoint the kernel had already patched
# away while flipping a static key (text_poke_bp; cpusets_enabled() flips as the
# tests make and remove cpusets). One TCG thread for all vCPUs cannot race so:
# the guest still has 4 vCPUs and 2 nodes, and takes about twice as long.
# KVMCG_GUEST_ACCEL overrides it.
case $kver in
6.12.*) accel=${KVMCG_GUEST_ACCEL:-tcg,thread=single} ;;
*) accel=${KVMCG_GUEST_ACCEL:-tcg} ;;
esac
# A kernel unpacked from its package (DIR/boot/vmlinuz-VER) has its modules
# and config beside it, in DIR/lib/modules/VER and DIR/boot/config-VER; a
# kernel in /boot has them in /lib/modules and /boot. The guest sees the
# former over its /lib/modules (init.sh), so modprobe works there too.
kroot=$(cd "$(dirname "$kernel")/.." && pwd)
if [[ $kroot != / && -f $kroot/lib/modules/$kver/modules.dep ]]; then
	modroot=$kroot
	kconfig=$kroot/boot/config-$kver
else
	modroot=/
	kconfig=/boot/config-$kver
fi
[[ -f $modroot/lib/modules/$kver/modules.dep ]] ||
	{
		echo "guest tests: no modules for $kernel in $modroot/lib/modules/$kver" >&2
		exit 1
	}
[[ -r $kernel ]] || {
	echo "guest tests: cannot read $kernel (run as root or make it readable)" >&2
	exit 1
}

busybox=
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b && $(LC_ALL=C ldd "$b" 2>&1 || true) == *'not a dynamic'* ]]; then
		busybox=$b
		break
	fi
done
[[ -n $busybox ]] || missing busybox-static "no statically linked busybox"
command -v cpio >/dev/null || missing cpio "no cpio"
command -v modprobe >/dev/null || missing kmod "no modprobe"
command -v gzip >/dev/null || missing gzip "no gzip"

timeout=${KVMCG_GUEST_TIMEOUT:-2400}
[[ $timeout =~ ^[0-9]+$ ]] || {
	echo "guest tests: KVMCG_GUEST_TIMEOUT must be a number of seconds" >&2
	exit 2
}
cmd=${KVMCG_GUEST_CMD:-bash tests/integration/run.sh}
init=${KVMCG_GUEST_INIT:-chroot}
[[ $init == systemd ]] && log_tag=$log_tag-systemd
case $init in
chroot) ;;
systemd)
	[[ -x /lib/systemd/systemd ]] || missing systemd "no /lib/systemd/systemd to boot"
	[[ $mode == test ]] || {
		echo "guest tests: KVMCG_GUEST_INIT=systemd runs tests, not --shell" >&2
		exit 2
	}
	;;
*)
	echo "guest tests: KVMCG_GUEST_INIT must be chroot or systemd" >&2
	exit 2
	;;
esac

# ---------------------------------------------------------------- initramfs

# Rebuilt when the kernel, the init script, the builder or busybox changes.
key=$(
	{
		printf '%s\n' "$kver"
		printf '%s\n' "$modroot"
		stat -c '%s %Y' "$modroot/lib/modules/$kver/modules.dep"
		cat "$here/init.sh" "$here/build-initramfs.sh" "$busybox"
	} | sha256sum
)
initrd=$guest_dir/initramfs-$kver-${key:0:16}.cpio.gz
if [[ ! -s $initrd ]]; then
	note "building $initrd"
	bash "$here/build-initramfs.sh" "$kver" "$busybox" "$initrd" "$modroot"
	for old in "$guest_dir/initramfs-$kver-"*.cpio.gz; do
		[[ $old == "$initrd" ]] || rm -f -- "$old"
	done
fi

# ---------------------------------------------------------------- kernel

# Under TCG the bzImage's own decompressor takes ~5 s. When the kernel has a
# PVH entry point, QEMU can boot the uncompressed ELF directly: extract it
# once (cached) and fall back to the bzImage if anything does not fit.
# Debian's 6.1 payload is xz, its 6.12 payload zstd (CONFIG_KERNEL_*).
boot_kernel=$kernel
unpack=()
if grep -qx 'CONFIG_KERNEL_XZ=y' "$kconfig" 2>/dev/null && command -v xz >/dev/null; then
	magic='\xfd7zXZ\x00' unpack=(xz -dc --single-stream)
elif grep -qx 'CONFIG_KERNEL_ZSTD=y' "$kconfig" 2>/dev/null && command -v zstd >/dev/null; then
	# zstd stops with an error at the size trailer after the frame; the
	# ELF check below decides.
	magic='\x28\xb5\x2f\xfd' unpack=(zstd -dcq)
fi
if grep -qx 'CONFIG_PVH=y' "$kconfig" 2>/dev/null && ((${#unpack[@]})); then
	vmlinux=$guest_dir/vmlinux-$kver-$(stat -c '%s-%Y' "$kernel")
	if [[ ! -s $vmlinux ]]; then
		off=$(LC_ALL=C grep -obUaP "$magic" "$kernel" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
		if [[ $off =~ ^[0-9]+$ ]]; then
			tmp=$(mktemp "$guest_dir/.vmlinux.XXXXXX")
			tail -c "+$((off + 1))" "$kernel" | "${unpack[@]}" >"$tmp" 2>/dev/null || true
			if [[ $(head -c 4 "$tmp" | od -An -tx1) == ' 7f 45 4c 46' ]]; then
				for old in "$guest_dir/vmlinux-$kver-"*; do
					rm -f -- "$old"
				done
				mv -f -- "$tmp" "$vmlinux"
			else
				rm -f -- "$tmp"
			fi
		fi
	fi
	if [[ -s $vmlinux ]]; then boot_kernel=$vmlinux; fi
fi

# ---------------------------------------------------------------- the run

run_dir=$(mktemp -d "$guest_dir/run.XXXXXX")
share=$run_dir/share
console=$run_dir/console.log
mkdir "$share"
chmod 0777 "$share"
qemu_pid=
out_done=0

# shellcheck disable=SC2317 # called from the traps
cleanup() {
	local pid i
	trap - EXIT INT TERM
	for pid in "$qemu_pid" "$(cat "$run_dir/qemu.pid" 2>/dev/null || true)"; do
		[[ $pid =~ ^[0-9]+$ ]] || continue
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $mode == shell && -t 0 ]]; then
		stty sane 2>/dev/null || true
	fi
	[[ -f $console ]] && mv -f -- "$console" "$guest_dir/console-$log_tag.log"
	[[ -f $share/output.log ]] && mv -f -- "$share/output.log" "$guest_dir/output-$log_tag.log"
	rm -rf -- "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shq STRING: STRING single-quoted for a POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

{
	printf 'PROJ=%s\n' "$(shq "$proj")"
	printf 'MODE=%s\n' "$mode"
	printf 'INIT=%s\n' "$init"
	printf 'GUEST_TERM=%s\n' "$(shq "${TERM:-vt100}")"
	# Modules of a kernel that is not the host's: bound over /lib/modules.
	if [[ $modroot != / ]]; then
		printf 'MODULES=%s\n' "$(shq "$modroot/lib/modules/$kver")"
	fi
} >"$share/guest.conf"

{
	echo '# written by tests/guest/run.sh'
	# Pass the project's own settings through (KVMCG_TEST_ENV is forced).
	while IFS= read -r var; do
		[[ $var == KVMCG_TEST_ENV ]] && continue
		printf 'export %s=%s\n' "$var" "$(shq "${!var}")"
	done < <(compgen -e | grep '^KVMCG_' || true)
	echo 'export KVMCG_TEST_ENV=guest'
	# The guest kernel's build configuration (no /proc/config.gz in Debian's kernels).
	printf 'export KVMCG_GUEST_KCONFIG=%s\n' "$(shq "$kconfig")"
	printf 'cd -- %s || exit 125\n' "$(shq "$proj")"
	if [[ $mode == shell ]]; then
		if [[ -t 0 ]] && size=$(stty size 2>/dev/null); then
			printf 'stty rows %d cols %d 2>/dev/null\n' "${size% *}" "${size#* }"
		fi
		echo 'echo "guest shell: exit to power off (or Ctrl-A X to kill QEMU)"'
		echo 'exec /bin/bash -i'
	else
		printf '%s\n' "$cmd"
	fi
} >"$share/job.sh"

# systemd: the unit as `make install-service` writes it, for init.sh to put in
# /run/systemd/system. Its ExecStart is a copy of the build's binary in the results
# share (SBINDIR /run/kvmcg-guest/sbin, init.sh's GUEST_RES_DIR): the build may be
# below /tmp (a CI checkout), which the unit's PrivateTmp= hides from it.
if [[ $init == systemd ]]; then
	mkdir -p "$share/sbin"
	cp -- "$build/kvmcg" "$share/sbin/kvmcg"
	make -C "$proj" --no-print-directory -s install-service DESTDIR="$run_dir/units" \
		SBINDIR=/run/kvmcg-guest/sbin SYSTEMDUNITDIR=/ INITDIR=/init.d >/dev/null || {
		echo "guest tests: make install-service failed" >&2
		exit 1
	}
	cp -- "$run_dir/units/kvmcg-watch.service" "$share/kvmcg-watch.service"
fi

# systemd as PID 1: no fstab (the root is the host's, read-only over 9p), no
# getty, its status on the console
init_append=
[[ $init == systemd ]] && init_append=" fstab=0 systemd.show_status=1 systemd.mask=getty.target"
qemu_args=(
	-name kvmcg-guest-tests
	-accel "$accel" -m 2048 -smp "4,sockets=2,cores=2,threads=1"
	-object "memory-backend-ram,id=m0,size=1G"
	-object "memory-backend-ram,id=m1,size=1G"
	-numa "node,nodeid=0,cpus=0-1,memdev=m0"
	-numa "node,nodeid=1,cpus=2-3,memdev=m1"
	-kernel "$boot_kernel" -initrd "$initrd"
	-append "console=ttyS0 quiet panic=-1 mitigations=off cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1${init_append:-}"
	-nographic -no-reboot -vga none -nic none
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$share,mount_tag=results,security_model=none,multidevs=remap"
	-pidfile "$run_dir/qemu.pid"
)

note "kernel $kver (${boot_kernel##*/}), initramfs ${initrd##*/}"
t_boot=$EPOCHREALTIME
if [[ $mode == shell ]]; then
	# Background (so signals reach our trap) but on this terminal.
	exec 3<&0
	"$qemu" "${qemu_args[@]}" <&3 3<&- &
else
	"$qemu" "${qemu_args[@]}" </dev/null >"$console" 2>&1 &
fi
qemu_pid=$!

# stream_output [final]: print the new complete lines of output.log. The
# newest line is held back while output is still arriving, and a summary
# line ("N passed, N failed") until the end, so that the harness's timing
# lines (stderr) come before the test command's last line.
out_size=-1
out_changed=$SECONDS
stream_output() {
	local f=$share/output.log n upto size last
	[[ -f $f ]] || return 0
	if [[ ${1:-} == final ]]; then
		tail -n "+$((out_done + 1))" -- "$f"
		if [[ -s $f && -n $(tail -c 1 -- "$f") ]]; then echo; fi
		out_done=$(wc -l <"$f")
		return 0
	fi
	size=$(stat -c %s -- "$f")
	if [[ $size != "$out_size" ]]; then
		out_size=$size
		out_changed=$SECONDS
	fi
	n=$(wc -l <"$f")
	upto=$((n - 1))
	if ((n > out_done && SECONDS - out_changed >= 2)); then
		last=$(sed -n "${n}p" -- "$f")
		[[ $last =~ [0-9]+\ passed,\ [0-9]+\ failed ]] || upto=$n
	fi
	if ((upto > out_done)); then
		sed -n "$((out_done + 1)),${upto}p" -- "$f"
		out_done=$upto
	fi
}

fail() {
	stream_output final
	{
		echo "guest: $*"
		if [[ -s $console ]]; then
			echo "guest: last lines of the console ($guest_dir/console-$log_tag.log):"
			tail -n 40 -- "$console" | sed 's/^/  | /'
		fi
		echo "guest: total wall time $(elapsed "$t0") s"
	} >&2
	echo "0 passed, 1 failed"
	exit 1
}

booted=
rc_seen=
deadline=$((SECONDS + timeout))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [[ -z $booted && -f $share/started ]]; then
		booted=$(elapsed "$t_boot")
		note "booted to the test command in $booted s (guest uptime $(cat "$share/started") s)"
	fi
	[[ $mode == test ]] && stream_output
	if [[ -z $rc_seen && -f $share/rc ]]; then
		rc_seen=$SECONDS
	fi
	# The guest powers off right after writing rc; do not wait forever.
	if [[ -n $rc_seen ]] && ((SECONDS - rc_seen > 30)); then
		note "the guest did not power off after the test command; killing QEMU"
		break
	fi
	if [[ $mode == test ]] && ((SECONDS >= deadline)); then
		fail "timed out after $timeout s (KVMCG_GUEST_TIMEOUT)"
	fi
	sleep 0.2
done
qemu_rc=0
if kill -0 "$qemu_pid" 2>/dev/null; then
	kill -KILL "$qemu_pid" 2>/dev/null || true
fi
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=

if [[ -z $booted ]]; then
	fail "the guest did not boot to the test command (QEMU exit status $qemu_rc)"
fi
rc=$(cat "$share/rc" 2>/dev/null || true)
if ! [[ $rc =~ ^[0-9]+$ ]]; then
	fail "the test command did not report an exit status (QEMU exit status $qemu_rc)"
fi
note "test command exit status $rc; total wall time $(elapsed "$t0") s"
[[ $mode == test ]] && stream_output final
exit "$rc"
