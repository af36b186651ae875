#!/bin/busybox sh
# PID 1 of the test guest's initramfs (busybox sh, not bash).
#
# Loads the virtio/9p modules, mounts the host's root filesystem read-only
# at /newroot, gives it writable tmpfs scratch areas, proc/sys/dev and a pure
# cgroup v2 hierarchy, then runs the job written by tests/guest/run.sh into
# the writable "results" share, chrooted into /newroot. The job's exit
# status is written back to the share, then the guest powers itself off.
#
# Files in the results share (host side: a temp dir under the build dir):
#   guest.conf  written by the host: PROJ=..., MODE=test|shell, and
#               MODULES=... (the guest kernel's modules when they are not
#               in the host's /lib/modules: an unpacked kernel package)
#   job.sh      written by the host: environment, cd, the test command
#   kvmcg-watch.service  (INIT=systemd) the unit as make install-service writes it
#   started     written here when the job starts (guest uptime in seconds)
#   output.log  the job's stdout+stderr (test mode)
#   rc          the job's exit status, written last

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

RES=/results
NEWROOT=/newroot
GUEST_RES_DIR=/run/kvmcg-guest

log() { echo "kvmcg-guest: $*"; }

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	poweroff -f
	while :; do sleep 60; done
}

die() {
	echo "kvmcg-guest: FATAL: $*"
	poweroff_now
}

mount -t proc proc /proc || die "cannot mount /proc"
mount -t sysfs sysfs /sys || die "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || die "cannot mount /dev"
echo 1 >/proc/sys/kernel/sysrq

# modules.list: one "file.ko [params]" per line, in load order.
while read -r mod params; do
	[ -n "$mod" ] || continue
	# shellcheck disable=SC2086 # params are split on purpose
	insmod "/lib/modules/$mod" $params || die "insmod $mod failed"
done </lib/modules/modules.list

p9opts=trans=virtio,version=9p2000.L,msize=262144
mkdir -p "$NEWROOT" "$RES"
mount -t 9p -o "$p9opts,ro,cache=loose" hostroot "$NEWROOT" ||
	die "cannot mount the host root (9p tag hostroot)"
mount -t 9p -o "$p9opts,rw,cache=none" results "$RES" ||
	die "cannot mount the results share (9p tag results)"
[ -r "$RES/guest.conf" ] || die "no guest.conf in the results share"
PROJ=
MODE="test"
INIT=chroot
MODULES=
# shellcheck disable=SC1091 # guest.conf exists only inside the guest
. "$RES/guest.conf"
[ -n "$PROJ" ] || die "guest.conf does not set PROJ"
[ -d "$NEWROOT$PROJ" ] || die "project root $PROJ is not visible in the guest"

# A tmpfs over DIR hides whatever the host has there. If the project itself
# lives below DIR (e.g. a checkout under /tmp), bind it back from a view of
# the host root taken before the tmpfs went on.
mkdir -p /hostview
mount -o bind "$NEWROOT" /hostview || die "cannot bind the host root"
scratch() { # scratch DIR [MODE]
	d=$1
	[ -d "$NEWROOT$d" ] || return 0
	mount -t tmpfs -o "mode=${2:-0755},nosuid,nodev" tmpfs "$NEWROOT$d" ||
		die "cannot mount a tmpfs on $d"
	case "$PROJ/" in
	"$d"/*)
		if ! mkdir -p "$NEWROOT$PROJ" ||
			! mount -o bind "/hostview$PROJ" "$NEWROOT$PROJ"; then
			die "cannot bind $PROJ back over the tmpfs on $d"
		fi
		;;
	esac
}
scratch /tmp 1777
scratch /var/tmp 1777
scratch /run 0755
scratch /root 0700

# A host with no kernel installed (a container or a microVM host) has no
# /lib/modules to mount on: an overlay with a tmpfs upper layer over the
# directory that holds it (/usr/lib on a merged-/usr system) lets it appear,
# the host's files unchanged below.
if [ -n "$MODULES" ] && [ ! -d "$NEWROOT/lib/modules" ]; then
	libdir=/lib
	[ -L "$NEWROOT/lib" ] && libdir=/usr/lib
	mkdir -p /ovl
	mount -t tmpfs -o mode=0755 tmpfs /ovl || die "cannot mount a tmpfs for the overlay on $libdir"
	mkdir -p /ovl/upper /ovl/work
	mount -t overlay -o "lowerdir=/hostview$libdir,upperdir=/ovl/upper,workdir=/ovl/work" overlay "$NEWROOT$libdir" ||
		die "cannot mount an overlay on $libdir (for /lib/modules)"
	mkdir -p "$NEWROOT/lib/modules" || die "cannot make /lib/modules in the overlay on $libdir"
fi

# A kernel that is not the host's has its modules elsewhere (the build dir):
# a tmpfs on /lib/modules with the host's trees and that one bound in, so
# modprobe finds /lib/modules/$(uname -r) as on an installed kernel.
if [ -n "$MODULES" ]; then
	kver=$(uname -r)
	[ -f "/hostview$MODULES/modules.dep" ] || die "no modules.dep in $MODULES"
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$NEWROOT/lib/modules" ||
		die "cannot mount a tmpfs on /lib/modules"
	for m in /hostview/lib/modules/*; do
		[ -d "$m" ] || continue
		[ "${m##*/}" = "$kver" ] && continue
		mkdir -p "$NEWROOT/lib/modules/${m##*/}"
		mount -o bind "$m" "$NEWROOT/lib/modules/${m##*/}" ||
			die "cannot bind $m over /lib/modules"
	done
	mkdir -p "$NEWROOT/lib/modules/$kver"
	mount -o bind "/hostview$MODULES" "$NEWROOT/lib/modules/$kver" ||
		die "cannot bind $MODULES over /lib/modules/$kver"
fi
umount /hostview 2>/dev/null || umount -l /hostview 2>/dev/null

mount -t proc proc "$NEWROOT/proc" || die "cannot mount proc in the new root"
mount -t sysfs sysfs "$NEWROOT/sys" || die "cannot mount sysfs in the new root"
mount -t devtmpfs devtmpfs "$NEWROOT/dev" || die "cannot mount devtmpfs in the new root"
mkdir -p "$NEWROOT/dev/pts" "$NEWROOT/dev/shm"
# What udev would create: bash's <(...) and tools that open /dev/stdin need these.
ln -sf /proc/self/fd "$NEWROOT/dev/fd"
ln -sf /proc/self/fd/0 "$NEWROOT/dev/stdin"
ln -sf /proc/self/fd/1 "$NEWROOT/dev/stdout"
ln -sf /proc/self/fd/2 "$NEWROOT/dev/stderr"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$NEWROOT/dev/pts" ||
	die "cannot mount devpts"
[ -e "$NEWROOT/dev/ptmx" ] || ln -s pts/ptmx "$NEWROOT/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$NEWROOT/dev/shm" || die "cannot mount /dev/shm"
mount -t cgroup2 -o nsdelegate cgroup2 "$NEWROOT/sys/fs/cgroup" ||
	die "cannot mount cgroup2 on /sys/fs/cgroup"
[ -d "$NEWROOT/run/lock" ] || mkdir -p "$NEWROOT/run/lock"
mkdir -p "$NEWROOT$GUEST_RES_DIR"
mount -o bind "$RES" "$NEWROOT$GUEST_RES_DIR" || die "cannot bind the results share"

# The kernel loads a module on demand (a qdisc kind, an action, a filesystem) by running
# /proc/sys/kernel/modprobe from its own root: this initramfs, whose modprobe has no
# modules. A wrapper runs the new root's modprobe, which has, as on an installed host.
if [ "$INIT" != systemd ]; then
	printf '#!/bin/sh\nexec chroot %s /sbin/modprobe "$@"\n' "$NEWROOT" >/sbin/kvmcg-modprobe &&
		chmod 0755 /sbin/kvmcg-modprobe && echo /sbin/kvmcg-modprobe >/proc/sys/kernel/modprobe ||
		log "cannot set a modprobe for the kernel's module requests"
fi

hostname kvmcg-guest 2>/dev/null
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

read -r up _ </proc/uptime
echo "$up" >"$RES/started.tmp" && mv "$RES/started.tmp" "$RES/started"

env_args="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root"
env_args="$env_args LANG=C.UTF-8 KVMCG_TEST_ENV=guest"

# INIT=systemd: the host's systemd becomes PID 1 in the new root, with kvmcg-watch
# and a unit that runs the job (then writes rc and powers off as below); a target
# of their own keeps the host's other services out.
if [ "$INIT" = systemd ]; then
	units=$NEWROOT/run/systemd/system
	mkdir -p "$units" || die "cannot make /run/systemd/system"
	cp "$RES/kvmcg-watch.service" "$units/" || die "no kvmcg-watch.service in the results share"
	cat >"$units/kvmcg-guest.target" <<-EOF
		[Unit]
		Description=kvmcg test guest
		Requires=basic.target kvmcg-guest-job.service
		Wants=kvmcg-watch.service
		After=basic.target
		AllowIsolate=yes
	EOF
	cat >"$units/kvmcg-guest-job.service" <<-EOF
		[Unit]
		Description=kvmcg guest test command
		After=basic.target kvmcg-watch.service
		[Service]
		Type=oneshot
		ExecStart=/bin/sh $GUEST_RES_DIR/systemd-job.sh
		StandardOutput=journal+console
		TimeoutStartSec=infinity
	EOF
	cat >"$RES/systemd-job.sh" <<-EOF
		/usr/bin/env -i $env_args TERM=dumb /bin/bash $GUEST_RES_DIR/job.sh </dev/null >$GUEST_RES_DIR/output.log 2>&1
		rc=\$?
		echo "kvmcg-guest: command exited with status \$rc"
		echo "\$rc" >$GUEST_RES_DIR/rc.tmp && mv $GUEST_RES_DIR/rc.tmp $GUEST_RES_DIR/rc
		sync
		echo o >/proc/sysrq-trigger
	EOF
	log "up in ${up}s; starting systemd in the new root for the test command in $PROJ"
	exec switch_root "$NEWROOT" /lib/systemd/systemd --unit=kvmcg-guest.target
fi
if [ "$MODE" = shell ]; then
	log "up in ${up}s; starting an interactive shell in $PROJ (exit it to power off)"
	# shellcheck disable=SC2086 # env_args are split on purpose
	setsid cttyhack chroot "$NEWROOT" /usr/bin/env -i $env_args TERM="${GUEST_TERM:-vt100}" \
		/bin/bash "$GUEST_RES_DIR/job.sh"
	rc=$?
else
	log "up in ${up}s; running the test command in $PROJ"
	# shellcheck disable=SC2086 # env_args are split on purpose
	chroot "$NEWROOT" /usr/bin/env -i $env_args TERM=dumb \
		/bin/bash "$GUEST_RES_DIR/job.sh" </dev/null >"$RES/output.log" 2>&1
	rc=$?
fi
log "command exited with status $rc"
echo "$rc" >"$RES/rc.tmp" && mv "$RES/rc.tmp" "$RES/rc"
poweroff_now
