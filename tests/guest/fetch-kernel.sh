#!/usr/bin/env bash
# Fetch a kernel for the test guest: Debian 12's Linux 6.1 (bookworm) or
# Linux 6.12 from bookworm-backports (the kernel Debian 13 ships), downloaded
# and unpacked into the build directory. Nothing is installed: the host's
# /boot, its /lib/modules and its apt configuration stay as they are.
#
# usage: fetch-kernel.sh [6.1|6.12]
#
# Prints the path of the kernel image (DIR/boot/vmlinuz-VERSION; its modules
# are in DIR/lib/modules/VERSION, with modules.dep made by depmod -b) and
# exits 0. Exits 3 with one line on stderr saying why when the kernel cannot
# be had (no network, no such package, apt-get missing); the caller skips.
#
# Cached: once unpacked (DIR/.complete exists) no network is used. Delete
# $KVMCG_BUILD_DIR/guest/kernel-SERIES to fetch the newest of that series again.
#
# apt-get runs with a private sources list (the one suite), package lists and
# archive cache, all under $KVMCG_BUILD_DIR/guest/apt-SERIES (one per series,
# so that two fetches can run at once), so the host's sources and lists are
# neither read nor changed.
set -euo pipefail

proj=$(cd "$(dirname "$0")/../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

series=${1:-6.12}
case $series in
6.1) suite=bookworm ;;
6.12) suite=bookworm-backports ;;
*)
	echo "usage: $0 [6.1|6.12]" >&2
	exit 2
	;;
esac
mirror=${KVMCG_GUEST_APT_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

cannot() {
	echo "cannot fetch Linux $series: $*" >&2
	exit 3
}

build=${KVMCG_BUILD_DIR:-$proj/build}
mkdir -p "$build/guest"
guest_dir=$(cd "$build/guest" && pwd)
dest=$guest_dir/kernel-$series

# kernel_image DIR: the one DIR/boot/vmlinuz-* (empty if none).
kernel_image() { printf '%s\n' "$1"/boot/vmlinuz-* | sort -V | tail -n 1; }

if [[ -f $dest/.complete ]]; then
	image=$(kernel_image "$dest")
	if [[ -f $image ]]; then
		printf '%s\n' "$image"
		exit 0
	fi
fi

for tool in apt-get apt-cache dpkg-deb depmod; do
	command -v "$tool" >/dev/null || cannot "no $tool on this machine"
done
[[ -r $keyring ]] || cannot "no $keyring (package debian-archive-keyring)"

apt_dir=$guest_dir/apt-$series
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$apt_dir/sources.list"
apt_opts=(
	-o "Dir::Etc::sourcelist=$apt_dir/sources.list"
	-o Dir::Etc::sourceparts=/dev/null
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
	-o APT::Sandbox::User=root
	-o Acquire::Retries=1
	-o Acquire::http::Timeout=20
)

echo "guest: fetching Linux $series from Debian's $suite into $dest" >&2
if ! out=$(apt-get "${apt_opts[@]}" -q update 2>&1) ||
	grep -qE '^(W|E): (Failed|Some index files failed)' <<<"$out"; then
	cannot "apt-get update of $suite failed: $(grep -E '^(W|E):' <<<"$out" | head -n 1)"
fi

# The suite's linux-image-amd64 names its current package of the series (or,
# once the suite has moved on, the newest linux-image-SERIES.*-amd64 it still has);
# take its -unsigned twin (the same kernel without the Secure Boot signature).
dep=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
	sed -n "s/^ *Depends: \(linux-image-$series\.[0-9][^ ]*-amd64\)\$/\1/p" | head -n 1)
if [[ -z $dep ]]; then
	dep=$(apt-cache "${apt_opts[@]}" pkgnames "linux-image-$series." 2>/dev/null |
		grep -E "^linux-image-${series//./\\.}\.[0-9]+(\+[a-z0-9.~]+)?-amd64\$" | sort -V | tail -n 1 || true)
fi
[[ -n $dep ]] || cannot "$suite has no linux-image-$series.*-amd64 package"
pkg=$dep-unsigned
apt-cache "${apt_opts[@]}" show "$pkg" >/dev/null 2>&1 || pkg=$dep

rm -f -- "$apt_dir/debs"/*.deb
if ! out=$(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -q download "$pkg" 2>&1); then
	cannot "apt-get download $pkg failed: $(grep -E '^(W|E):' <<<"$out" | head -n 1)"
fi
deb=$(printf '%s\n' "$apt_dir/debs"/*.deb | head -n 1)
[[ -f $deb ]] || cannot "apt-get download $pkg left no .deb"

# Unpack next to the destination, then rename: a cut-short run leaves no
# half tree that looks complete.
stage=$(mktemp -d "$guest_dir/.kernel-$series.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT
dpkg-deb -x "$deb" "$stage" || cannot "dpkg-deb -x $deb failed"
image=$(kernel_image "$stage")
[[ -f $image ]] || cannot "$deb holds no boot/vmlinuz-*"
kver=${image##*/vmlinuz-}
[[ -d $stage/lib/modules/$kver ]] || cannot "$deb holds no lib/modules/$kver"
# The package's postinst would run depmod; do it here, on the unpacked tree.
depmod -b "$stage" "$kver" || cannot "depmod -b $stage $kver failed"
rm -rf -- "${stage:?}/usr"
touch "$stage/.complete"
rm -rf -- "$dest"
mv -- "$stage" "$dest"
trap - EXIT
rm -f -- "$deb"
echo "guest: Linux $kver ($pkg) unpacked in $dest" >&2
printf '%s\n' "$dest/boot/vmlinuz-$kver"
