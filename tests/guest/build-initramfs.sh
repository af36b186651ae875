#!/usr/bin/env bash
# Build the test guest's initramfs: a static busybox, the kernel modules that
# are needed to mount the host's root over virtio-9p, and tests/guest/init.sh
# as /init, packed as a gzip'd newc cpio archive.
#
# usage: build-initramfs.sh KERNEL_VERSION BUSYBOX OUTPUT [MODULES_ROOT]
#
# The modules are looked up in MODULES_ROOT/lib/modules/KERNEL_VERSION
# (default /: the host's own; a kernel unpacked into the build directory
# passes its unpacked tree).
#
# Everything else (QEMU, numactl, the project's build) comes from the host's
# root filesystem, which the guest mounts read-only, so modules needed later
# (tun, sch_htb, ...) are loaded from there with the ordinary modprobe.
set -euo pipefail

if [[ $# -ne 3 && $# -ne 4 ]]; then
	echo "usage: $0 KERNEL_VERSION BUSYBOX OUTPUT [MODULES_ROOT]" >&2
	exit 2
fi
kver=$1
busybox=$2
out=$3
modroot=${4:-/}
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin

# virtio-pci transport, the 9p virtio transport and the 9p filesystem, each
# with its dependencies, in load order; overlay for a host with no /lib/modules
# (init.sh).
wanted=(virtio_pci 9pnet_virtio 9p overlay)

stage=$(mktemp -d "${out%/*}/.initramfs-stage.XXXXXX")
tmp=
trap 'rm -rf -- "$stage" ${tmp:+"$tmp"}' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,newroot,results,lib/modules}
cp -- "$busybox" "$stage/bin/busybox"
chmod 0755 "$stage/bin/busybox"
cp -- "$here/init.sh" "$stage/init"
chmod 0755 "$stage/init"

declare -A seen=()
list=$stage/lib/modules/modules.list
: >"$list"
for m in "${wanted[@]}"; do
	deps=$(modprobe -d "$modroot" -S "$kver" --show-depends "$m") || {
		echo "build-initramfs: modprobe cannot resolve module $m for kernel $kver in $modroot" >&2
		exit 1
	}
	while read -r kind path params; do
		[[ $kind == insmod ]] || continue # "builtin NAME" needs nothing
		[[ -z ${seen[$path]:-} ]] || continue
		seen[$path]=1
		base=${path##*/}
		case $base in
		*.ko) cp -- "$path" "$stage/lib/modules/$base" ;;
		*.ko.xz)
			base=${base%.xz}
			xz -dc -- "$path" >"$stage/lib/modules/$base"
			;;
		*.ko.zst)
			base=${base%.zst}
			zstd -qdc -- "$path" >"$stage/lib/modules/$base"
			;;
		*.ko.gz)
			base=${base%.gz}
			gzip -dc -- "$path" >"$stage/lib/modules/$base"
			;;
		*)
			echo "build-initramfs: unexpected module file $path" >&2
			exit 1
			;;
		esac
		printf '%s %s\n' "$base" "$params" >>"$list"
	done <<<"$deps"
done

tmp=$(mktemp "${out%/*}/.initramfs.XXXXXX")
(
	cd "$stage"
	find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null --quiet -o -H newc -R 0:0
) | gzip -6 >"$tmp"
mv -f -- "$tmp" "$out"
