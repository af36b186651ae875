#!/bin/sh
# Installs what kvmcg needs to build, to run its demo and to run every test, on
# Debian 12 (or a close relative), as root. Does nothing when all is present.
set -eu

packages="gcc make pkgconf libc6-dev libjson-c-dev libsmartcols-dev libcriterion-dev libnuma-dev libmnl-dev
qemu-system-x86 debian-archive-keyring busybox-static cpio kmod zstd
socat jq numactl iproute2 iperf3 procps util-linux fdisk e2fsprogs hyperfine strace time python3 perl systemd
clang libclang-rt-14-dev
debhelper dpkg-dev lintian
tmux bash-completion zsh fish"

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "kvmcg: these packages are missing:$missing" >&2
	echo "kvmcg: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -q --no-install-recommends $missing >/dev/null
