#!/bin/bash
# kvmcg watch as a service: the files `make install` puts where Debian would
# (contrib/systemd, contrib/sysvinit, contrib/openrc; README.md, "Running kvmcg watch
# as a service"), checked where they land, in a temporary DESTDIR:
#  - the systemd unit passes `systemd-analyze verify` (binary and man pages of the
#    same install) and `systemd-analyze security --offline=yes` stays in systemd's
#    "OK" band, with the settings the job needs (cgroupfs writable, real-time
#    classes allowed, the four capabilities) and no others;
#  - the LSB script parses (dash, bash), has its LSB header, answers status, reload
#    and an unknown action as LSB says when nothing runs; the OpenRC script parses
#    and defines what openrc-run reads;
#  - PREFIX moves the path of the binary in the installed copies, and only there;
#  - `make uninstall` leaves no file behind.
# Nothing is started: `kvmcg watch` is never run, and the host's cgroups are not
# touched. The build is never redone: `make install` (which depends on `all`) runs
# only when `make -q` says $KVMCG_BUILD_DIR/kvmcg is up to date, else the files
# alone (`make install-service`) are checked.
. "$(dirname "$0")/../lib/testlib.sh"

tl_host_only "installs files into a temporary directory; nothing depends on the kernel"
tl_need_tools "service files" make sed find cmp

unit=kvmcg-watch.service
mk() { make -C "$TL_ROOT" --no-print-directory -s BUILD="$KVMCG_BUILD_DIR" "$@"; }
# files_left ROOT: every file and symbolic link below ROOT (directories do not count)
files_left() { (cd "$1" && find . ! -type d | sort); }

full=0
if [ -x "$KVMCG_BUILD_DIR/kvmcg" ] && mk -q "$KVMCG_BUILD_DIR/kvmcg" 2>/dev/null; then
	full=1
	target=install
else
	echo "# $KVMCG_BUILD_DIR/kvmcg is missing or out of date: make install would build it; the service files alone (make install-service)"
	target=install-service
fi

# --- PREFIX=/usr: the files as they are in the source -----------------------------------
root=$TL_TMP/root
tl_check "make $target PREFIX=/usr DESTDIR=... (the default INIT=sysvinit)" \
	mk "$target" PREFIX=/usr DESTDIR="$root"
tl_check "the unit is in /lib/systemd/system, unchanged (PREFIX=/usr: the source's own path)" \
	cmp "$TL_ROOT/contrib/systemd/$unit" "$root/lib/systemd/system/$unit"
tl_check "the LSB script is /etc/init.d/kvmcg-watch, unchanged" \
	cmp "$TL_ROOT/contrib/sysvinit/kvmcg-watch" "$root/etc/init.d/kvmcg-watch"
tl_eq "the unit keeps /run/kvmcg across restarts and may write only cgroupfs and it" \
	"$(grep -E '^(RuntimeDirectory|RuntimeDirectoryMode|RuntimeDirectoryPreserve|ReadWritePaths|ProtectSystem)=' "$root/lib/systemd/system/$unit" | sort | tr '\n' ' ')" \
	"ProtectSystem=strict ReadWritePaths=/sys/fs/cgroup /run/kvmcg RuntimeDirectory=kvmcg RuntimeDirectoryMode=0700 RuntimeDirectoryPreserve=yes "
tl_eq "modes: the unit 644, the script 755" \
	"$(stat -c %a "$root/lib/systemd/system/$unit" "$root/etc/init.d/kvmcg-watch" | tr '\n' ' ')" "644 755 "
if [ "$full" = 1 ]; then
	tl_check "make install put the binary the unit runs there: /usr/sbin/kvmcg" test -x "$root/usr/sbin/kvmcg"
	tl_eq "... and the empty policy directory the service reads, mode 755" \
		"$(stat -c %a "$root/etc/kvmcg/policies" 2>&1) $(find "$root/etc/kvmcg/policies" -mindepth 1 2>&1 | wc -l)" "755 0"
else
	tl_skip "make install put the binary the unit runs there" "the build is not up to date (make -j2 first)"
fi

# --- systemd-analyze verify --------------------------------------------------------------
# systemd 252's `verify --root=DESTDIR` looks for everything below that root: the
# units the default dependencies name (sysinit.target...) and /bin/kill of
# ExecReload=, which a DESTDIR does not have. So the installed unit is verified as
# a copy whose ExecStart= names the binary installed in DESTDIR (verify checks that
# it exists and is executable), against the host's units, with MANPATH pointing at
# the man pages of the same install (Documentation=man:kvmcg(8)...). Any output,
# a warning about an unknown key included, is a failure: verify exits 0 on those.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TL_TMP/verify"
	if [ "$full" = 1 ]; then
		bin=$root/usr/sbin/kvmcg
		man_opts=()
	else
		bin=$KVMCG_BUILD_DIR/kvmcg
		man_opts=(--man=no)
	fi
	sed "s|^ExecStart=/usr/sbin/kvmcg |ExecStart=$bin |" "$root/lib/systemd/system/$unit" >"$TL_TMP/verify/$unit"
	out=$(cd "$TL_TMP" && MANPATH=$root/usr/share/man systemd-analyze verify "${man_opts[@]}" "$TL_TMP/verify/$unit" 2>&1)
	rc=$?
	tl_eq "systemd-analyze verify: exit 0 and no word ($(systemd-analyze --version | head -1))" "$rc:$out" "0:"
	[ "$full" = 1 ] || tl_skip "systemd-analyze verify: the man pages Documentation= names" "no make install here (--man=no)"
	# the check is real: a unit whose binary is missing fails
	sed "s|^ExecStart=[^ ]*|ExecStart=$TL_TMP/no-such-kvmcg|" "$TL_TMP/verify/$unit" >"$TL_TMP/verify/missing.service"
	tl_check "... and it fails for a unit whose ExecStart= binary is missing" \
		bash -c "cd '$TL_TMP' && ! systemd-analyze verify --man=no '$TL_TMP/verify/missing.service'"

	# systemd-analyze security --offline=yes (systemd 250 and later) reads the file
	# alone, without systemd as PID 1. systemd's bands: 0 PERFECT, below 1 SAFE,
	# below 5 OK, below 7.5 MEDIUM. Below 5.0 (--threshold=49, in tenths) is systemd's
	# "OK", the best a root daemon can reach whose job is to write any cgroup,
	# change other processes' scheduling and memory (CAP_SYS_NICE, CAP_SYS_PTRACE),
	# reach other users' monitors (CAP_DAC_OVERRIDE), listen on netlink in the
	# host's network namespace and shape the VMs' taps (CAP_NET_ADMIN), and enter a
	# VM's network namespace for its taps (CAP_SYS_ADMIN, RestrictNamespaces=net). The score moves little per line
	# (tried: ProtectSystem= or NoNewPrivileges= dropped cost 0.1 each, 4.6 -> 4.7;
	# RestrictAddressFamilies= or RestrictNamespaces= dropped pass 5.0), so the
	# settings are then checked one by one: the items systemd scores as not set must
	# be exactly those the job needs open.
	if sec=$(cd "$TL_TMP" && systemd-analyze security --offline=yes --threshold=49 --no-pager \
		"$TL_TMP/verify/$unit" 2>&1); then
		rc=0
	else
		rc=$?
	fi
	level=$(sed -n 's/^→ Overall exposure level for [^:]*: //p' <<<"$sec")
	echo "# systemd-analyze security --offline=yes: $level"
	if [ -z "$level" ]; then
		tl_skip "systemd-analyze security --offline=yes" "$(head -1 <<<"$sec")"
	else
		tl_eq "exposure below 5.0, systemd's OK band (--threshold=49 passes)" "$rc" 0
		if command -v jq >/dev/null; then
			json=$(cd "$TL_TMP" && systemd-analyze security --offline=yes --json=short "$TL_TMP/verify/$unit" 2>/dev/null)
			set_of() { jq -r --arg n "$1" '.[] | select(.name == $n) | .set' <<<"$json"; }
			tl_eq "RestrictRealtime= is not set (it would forbid SCHED_FIFO/RR on vCPU threads)" \
				"$(set_of RestrictRealtime=)" false
			tl_eq "ProtectControlGroups= is off (it would make /sys/fs/cgroup read-only)" \
				"$(set_of ProtectControlGroups=)" false
			tl_eq "no Delegate= (kvmcg writes outside its own cgroup, and puts nothing below it)" \
				"$(set_of Delegate=)" true
			# What stays open, and why (the unit's comments say more). Every other
			# item is set; the system call filter groups, which the unit leaves open
			# on purpose, are left out of the list. A newer systemd scores new items:
			# they show up here, to be decided on.
			open_ok="CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)
CapabilityBoundingSet=~CAP_NET_ADMIN
CapabilityBoundingSet=~CAP_SYS_ADMIN
CapabilityBoundingSet=~CAP_SYS_(NICE|RESOURCE)
CapabilityBoundingSet=~CAP_SYS_PTRACE
DeviceAllow=
IPAddressDeny=
PrivateDevices=
PrivateNetwork=
PrivateUsers=
ProcSubset=
ProtectControlGroups=
ProtectKernelTunables=
ProtectProc=
RestrictAddressFamilies=~AF_NETLINK
RestrictAddressFamilies=~AF_UNIX
RestrictNamespaces=~net
RestrictRealtime=
RootDirectory=/RootImage=
User=/DynamicUser="
			tl_eq "what systemd-analyze security finds open: only what the job needs" \
				"$(jq -r '.[] | select(.set == false) | .name' <<<"$json" | grep -v '^SystemCallFilter=' | LC_ALL=C sort | tr '\n' ' ')" \
				"$(LC_ALL=C sort <<<"$open_ok" | tr '\n' ' ')"
		else
			tl_skip "the settings systemd-analyze security reads" "jq is not installed"
		fi
	fi
	tl_eq "the capabilities: exactly CAP_SYS_NICE CAP_SYS_PTRACE CAP_DAC_OVERRIDE CAP_NET_ADMIN CAP_SYS_ADMIN" \
		"$(sed -n 's/^CapabilityBoundingSet=//p' "$root/lib/systemd/system/$unit")" \
		"CAP_SYS_NICE CAP_SYS_PTRACE CAP_DAC_OVERRIDE CAP_NET_ADMIN CAP_SYS_ADMIN"
else
	tl_skip "systemd-analyze verify and security" "systemd-analyze is not installed (Debian package systemd)"
fi

# --- the LSB script ------------------------------------------------------------------
lsb=$root/etc/init.d/kvmcg-watch
if command -v dash >/dev/null; then
	tl_check "LSB script: dash -n" dash -n "$lsb"
else
	tl_skip "LSB script: dash -n" "dash is not installed"
fi
tl_check "LSB script: bash -n" bash -n "$lsb"
tl_eq "LSB header: Provides, Required-Start/Stop, Default-Start/Stop, Short-Description" \
	"$(awk '/^### BEGIN INIT INFO/ { on = 1; next } /^### END INIT INFO/ { on = 0 } on && /^# [A-Z][A-Za-z-]*:/ { k = $2; sub(/:$/, "", k); print k }' "$lsb" |
		grep -xE 'Provides|Required-Start|Required-Stop|Default-Start|Default-Stop|Short-Description' | sort | tr '\n' ' ')" \
	"Default-Start Default-Stop Provides Required-Start Required-Stop Short-Description "
tl_eq "LSB header: Provides kvmcg-watch, runlevels 2 3 4 5 and 0 1 6" \
	"$(sed -n 's/^# \(Provides\|Default-Start\|Default-Stop\): *//p' "$lsb" | tr '\n' '|')" "kvmcg-watch|2 3 4 5|0 1 6|"
if command -v shellcheck >/dev/null; then
	tl_check "shellcheck: the LSB and OpenRC scripts" \
		shellcheck -s sh "$lsb" "$TL_ROOT/contrib/openrc/kvmcg-watch"
else
	tl_skip "shellcheck: the LSB and OpenRC scripts" "shellcheck is not installed"
fi
# Run, with nothing running: status says "not running" (LSB: 3), reload fails with
# 7, an unknown action is a usage error (3). A copy whose DAEMON= is the binary in
# DESTDIR (the script exits 0 at once when DAEMON is missing). Never start: that
# would run kvmcg watch on this host. Skipped where /lib/lsb/init-functions would
# hand the script to systemctl (systemd as PID 1), or where a kvmcg watch runs.
if [ -d /run/systemd/system ]; then
	tl_skip "LSB script: status, reload, usage with nothing running" "systemd is PID 1: init-functions hands the script to systemctl"
elif [ -e /run/kvmcg-watch.pid ]; then
	tl_skip "LSB script: status, reload, usage with nothing running" "/run/kvmcg-watch.pid exists: a kvmcg watch may run here"
elif [ ! -r /lib/lsb/init-functions ] || ! command -v start-stop-daemon >/dev/null; then
	tl_skip "LSB script: status, reload, usage with nothing running" "no /lib/lsb/init-functions or start-stop-daemon"
else
	sbin=$TL_TMP/sbin-root
	mk install-service DESTDIR="$sbin" SBINDIR="$TL_TMP/bin" >/dev/null
	mkdir -p "$TL_TMP/bin"
	cp "${bin:-$KVMCG_BUILD_DIR/kvmcg}" "$TL_TMP/bin/kvmcg"
	run_lsb() {
		local out rc
		out=$(sh "$sbin/etc/init.d/kvmcg-watch" "$@" 2>&1)
		rc=$?
		echo "$rc $(tr '\n' ' ' <<<"$out" | sed 's/ *$//')"
	}
	s=$(run_lsb status)
	tl_eq "LSB script: status with nothing running exits 3 ($s)" "${s%% *}" 3
	s=$(run_lsb reload)
	tl_eq "LSB script: reload with nothing running exits 7 ($s)" "${s%% *}" 7
	s=$(run_lsb frobnicate)
	tl_eq "LSB script: an unknown action exits 3 with its usage ($s)" \
		"$s" "3 Usage: /etc/init.d/kvmcg-watch {start|stop|status|restart|reload|force-reload}"
fi

# --- the OpenRC script ----------------------------------------------------------------
openrc=$TL_ROOT/contrib/openrc/kvmcg-watch
tl_check "OpenRC script: sh -n" sh -n "$openrc"
# What openrc-run reads from it, with stand-ins for the functions depend() calls.
got=$(RC_SVCNAME=kvmcg-watch sh -c '
	need() { echo "need $*"; }; after() { echo "after $*"; }; use() { echo "use $*"; }; before() { echo "before $*"; }
	. "$1"
	echo "supervisor=$supervisor"
	echo "command=$command $command_args"
	echo "extra_started_commands=$extra_started_commands"
	command -v reload >/dev/null && echo "reload()"
	depend' sh "$openrc" 2>&1)
tl_eq "OpenRC script: supervise-daemon runs kvmcg watch in the foreground; reload; depend()" "$got" \
	"supervisor=supervise-daemon
command=/usr/sbin/kvmcg watch --foreground --log-format text 
extra_started_commands=reload
reload()
need localmount
after bootmisc cgroups
use logger
before libvirtd"
# Debian 12's openrc (0.45.2) would install here without removing anything
# (apt-get -s install openrc: openrc, insserv, libeinfo1, librc1), but the tests
# install no init system on a machine they share.
if command -v openrc-run >/dev/null; then
	tl_check "OpenRC script: openrc-run describes it" \
		env RC_SVCNAME=kvmcg-watch openrc-run "$openrc" describe
else
	tl_skip "OpenRC script: openrc-run describes it" "openrc-run is not installed (Debian package openrc; not installed by the tests)"
fi

# --- uninstall ----------------------------------------------------------------------------
if [ "$full" = 1 ]; then
	# a policy of the admin's keeps the directory through an uninstall
	cp "$TL_ROOT/policies/win7-ent.policy" "$root/etc/kvmcg/policies/"
	tl_check "make uninstall with a policy in /etc/kvmcg/policies" mk uninstall PREFIX=/usr DESTDIR="$root"
	tl_eq "... keeps that policy, and nothing else" "$(files_left "$root")" "./etc/kvmcg/policies/win7-ent.policy"
	rm "$root/etc/kvmcg/policies/win7-ent.policy"
fi
tl_check "make uninstall PREFIX=/usr DESTDIR=..." mk uninstall PREFIX=/usr DESTDIR="$root"
tl_eq "... leaves no file behind (only directories)" "$(files_left "$root")" ""
tl_check "... and the empty policy directory is gone" test ! -e "$root/etc/kvmcg"

# --- INIT=openrc, and the default PREFIX (/usr/local) ------------------------------------
root2=$TL_TMP/root2
tl_check "make install-service INIT=openrc DESTDIR=... (PREFIX=/usr/local)" \
	mk install-service INIT=openrc DESTDIR="$root2"
tl_eq "INIT=openrc: the unit and the OpenRC script, not the LSB one" "$(files_left "$root2" | tr '\n' ' ')" \
	"./etc/init.d/kvmcg-watch ./lib/systemd/system/kvmcg-watch.service "
tl_check "... the OpenRC script, the same but for the binary's path" \
	bash -c "diff '$openrc' '$root2/etc/init.d/kvmcg-watch' | grep -q '^> command=/usr/local/sbin/kvmcg\$'"
tl_eq "PREFIX=/usr/local: the installed files differ from the source on the lines that run kvmcg, only" \
	"$(diff "$TL_ROOT/contrib/systemd/$unit" "$root2/lib/systemd/system/$unit" | grep '^[<>]';
	   diff "$openrc" "$root2/etc/init.d/kvmcg-watch" | grep '^[<>]')" \
	"< ExecStart=/usr/sbin/kvmcg watch --foreground --log-format text
> ExecStart=/usr/local/sbin/kvmcg watch --foreground --log-format text
< command=/usr/sbin/kvmcg
> command=/usr/local/sbin/kvmcg"
tl_check "make install-service INIT=runit is refused" bash -c "! make -C '$TL_ROOT' -s install-service INIT=runit DESTDIR='$root2' 2>/dev/null"
tl_check "make uninstall (without INIT=) removes the OpenRC script too" mk uninstall DESTDIR="$root2"
tl_eq "... no file left" "$(files_left "$root2")" ""

tl_done
