#!/bin/bash
# The audit trail (kvmcg(8), AUDIT TRAIL): every change kvmcg makes to a VM is one
# line to syslog, read here as syslog gets it. Each kvmcg runs in a mount namespace
# of its own (unshare --mount) whose /dev is an overlay of the host's /dev with
# /dev/log bind-mounted to a datagram socket this script listens on: the host's /dev
# (and its /dev/log, when it has one) is never touched, and the namespace goes with
# the process. Checked: the <PRI> (LOG_DAEMON|LOG_INFO = 30), the ident and pid
# (kvmcg[PID]), the VM's name and pid, the change in virsh's words (vCPU 0 -> 0 at a
# first pin, vCPU 0: 0 -> 1 at a re-pin), the policy file, who ran it (uid, the
# loginuid of /proc/self/loginuid, SUDO_USER); and no line for a pin that changes
# nothing, a dry run, a failed pin that was rolled back, or --no-syslog. pin, unpin,
# apply (one line per VM), run and watch.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools qemu-system-x86_64 jq python3 socat unshare
# The test guest's root is a chroot of the host's: in a mount namespace of kvmcg's own
# there, QEMU's executable is not where its /proc/PID/exe says. t-systemd reads the
# trail from the guest's real journald instead.
tl_host_only "the mount namespace that stands in for /dev/log needs the host's root (the guest's journald is checked by t-systemd)"
tl_detect_cgroups
if [ "$ncpu" -lt 2 ]; then
	tl_skip "audit" "needs 2 CPUs, this host has $ncpu"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
last=$((ncpu - 1))

devlog=$(ls -la /dev/log 2>&1)
echo "# the host's /dev/log: $devlog"

# --- the listener: /dev/log as the namespaces see it ---------------------------------
sock=$TL_TMP/log.sock
log=$TL_TMP/syslog.txt
: >"$log"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        d = s.recv(65536)
        f.write(d.replace(b"\n", b"\\n") + b"\n")
' "$sock" "$log" &
tl_register_pid $!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

# in_ns COMMAND...: runs COMMAND with the listener as /dev/log. in_ns_exec replaces
# the calling shell with it (unshare, bash and COMMAND are one process, one pid): in
# the background, `(in_ns_exec ...) &` makes $! COMMAND's own pid, which a function
# run with & would not (the subshell's, and COMMAND outlives its kill).
mkdir "$TL_TMP/ns"
in_ns() { (in_ns_exec "$@"); }
in_ns_exec() {
	exec unshare --mount --propagation private bash -c '
		set -e
		ns=$1 sock=$2
		shift 2
		mount -t tmpfs -o mode=0700 kvmcg-audit "$ns"
		mkdir "$ns/up" "$ns/work" "$ns/dev"
		mount --rbind /dev "$ns/dev"
		mount -t overlay kvmcg-audit -o lowerdir=/dev,upperdir="$ns/up",workdir="$ns/work" /dev
		for m in pts shm mqueue hugepages; do
			if mountpoint -q "$ns/dev/$m"; then mount --rbind "$ns/dev/$m" "/dev/$m"; fi
		done
		rm -f /dev/log
		: >/dev/log
		mount --bind "$sock" /dev/log
		exec "$@"' in_ns "$TL_TMP/ns" "$sock" "$@"
}
if ! in_ns true 2>"$TL_TMP/ns.err"; then
	tl_skip "audit" "no private /dev/log can be made here: $(tail -1 "$TL_TMP/ns.err")"
	tl_done
fi

# with_env NAME=VALUE COMMAND...: COMMAND (a function too) with NAME in its environment.
with_env() { (
	export "$1"
	shift
	"$@"
); }

# lines_of COMMAND...: runs COMMAND, then the lines syslog got meanwhile (a marker
# sent after it, through the same socket, says when all of them are in).
marks=0
lines_of() {
	local before
	before=$(wc -l <"$log")
	"$@" >"$TL_TMP/cmd.out" 2>"$TL_TMP/cmd.err"
	echo "$?" >"$TL_TMP/cmd.rc"
	marks=$((marks + 1))
	printf 'MARK %d' "$marks" | socat -u - UNIX-SENDTO:"$sock"
	for _ in $(seq 200); do grep -qx "MARK $marks" "$log" && break; sleep 0.05; done
	tail -n +$((before + 1)) "$log" | grep -v '^MARK '
}
# The message of a line, after "<PRI>Mmm dd hh:mm:ss kvmcg[PID]: ".
message() { sed -E 's/^<[0-9]+>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} kvmcg\[[0-9]+\]: //' <<<"$1"; }

# Who ran it, found without kvmcg: the test's uid and loginuid and their names.
uid=$(id -u)
who="by uid $uid ($(id -un))"
luid=$(cat /proc/self/loginuid 2>/dev/null || echo 4294967295)
if [ "$luid" = 4294967295 ]; then
	who+=", loginuid unset"
else
	lname=$(getent passwd "$luid" | cut -d: -f1)
	who+=", loginuid $luid${lname:+ ($lname)}"
fi
echo "# expected identity: $who (/proc/self/loginuid: $luid)"

# --- pin ----------------------------------------------------------------------------
pid=$(tl_qemu ha-audit1 -smp 2 -name guest=ha-audit1,debug-threads=on)
tl_settle "$pid" 2
out=$(lines_of with_env SUDO_USER=ha-auditor in_ns "$KVMCG" pin --pid "$pid" --vcpu 0:0 --vcpu 1:1 --emulator 0-$last)
tl_eq "a first pin exits 0 ($(tail -1 "$TL_TMP/cmd.err"))" "$(cat "$TL_TMP/cmd.rc")" 0
tl_eq "... and logs one line" "$(grep -c . <<<"$out")" 1
echo "# $out"
tl_check "... with <30> (LOG_DAEMON|LOG_INFO), ident kvmcg, a pid and a timestamp" \
	grep -Eq '^<30>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} kvmcg\[[0-9]+\]: ' <<<"$out"
tl_eq "... saying the VM, the change from nothing, the command and who (SUDO_USER from the environment)" \
	"$(message "$out")" \
	"pid $pid (ha-audit1): pin: vCPU 0 -> 0, vCPU 1 -> 1, emulator -> 0-$last; $who, SUDO_USER ha-auditor"

out=$(lines_of in_ns "$KVMCG" pin --pid "$pid" --vcpu 0:1)
tl_eq "a re-pin with a change logs it with the old value: vCPU 0: 0 -> 1" "$(message "$out")" \
	"pid $pid (ha-audit1): pin: vCPU 0: 0 -> 1; $who"

# a login's uid, kept across sudo and su: set in a subshell of this script alone (root
# may set its own /proc/self/loginuid), read by kvmcg from its own
with_loginuid() { (
	echo "$1" >/proc/self/loginuid 2>/dev/null || exit 99
	shift
	"$@"
); }
out=$(lines_of with_loginuid 65534 in_ns "$KVMCG" pin --pid "$pid" --vcpu 1:0)
if [ "$(cat "$TL_TMP/cmd.rc")" = 99 ]; then
	tl_skip "a set loginuid is logged with its name" "/proc/self/loginuid cannot be written here"
	"$KVMCG" pin --pid "$pid" --vcpu 1:0 --no-syslog >/dev/null 2>&1
else
	nobody=$(getent passwd 65534 | cut -d: -f1)
	tl_eq "a set loginuid is logged with its name" "$(message "$out")" \
		"pid $pid (ha-audit1): pin: vCPU 1: 1 -> 0; by uid $uid ($(id -un)), loginuid 65534${nobody:+ ($nobody)}"
fi

out=$(lines_of in_ns "$KVMCG" pin --pid "$pid" --vcpu 0:1)
tl_eq "a pin with nothing to change logs nothing ($(head -1 "$TL_TMP/cmd.out"))" "$out" ""
out=$(lines_of in_ns "$KVMCG" pin --pid "$pid" --vcpu 0:0 --dry-run)
tl_eq "a dry run logs nothing" "$out" ""
out=$(lines_of in_ns "$KVMCG" pin --pid "$pid" --vcpu 0:0 --no-syslog)
tl_eq "--no-syslog: a change, exit 0" "$(cat "$TL_TMP/cmd.rc")" 0
tl_eq "... and no line" "$out" ""
out=$(lines_of with_env KVMCG_TEST_FAIL_AT=1 in_ns "$KVMCG_TEST" pin --pid "$pid" --vcpu 0:1)
tl_eq "a pin that failed and was rolled back exits 1" "$(cat "$TL_TMP/cmd.rc")" 1
tl_eq "... and logs nothing" "$out" ""

printf '[CPU]\nVCPUPin=0:1 1:0\nEmulatorPin=%s\n' "$last" >"$TL_TMP/a.policy"
chmod 0644 "$TL_TMP/a.policy"
out=$(lines_of in_ns "$KVMCG" pin --pid "$pid" --policy "$TL_TMP/a.policy")
tl_eq "pin --policy names its file; the change is from the pin --no-syslog made" "$(message "$out")" \
	"pid $pid (ha-audit1): pin, policy $TL_TMP/a.policy: vCPU 0: 0 -> 1, emulator: 0-$last -> $last; $who"

out=$(lines_of in_ns "$KVMCG" unpin --pid "$pid")
tl_eq "unpin exits 0" "$(cat "$TL_TMP/cmd.rc")" 0
tl_check "... and logs one line at <30>" grep -q '^<30>' <<<"$out"
tl_eq "... each pin to none" "$(message "$out")" \
	"pid $pid (ha-audit1): unpin: vCPU 0: 1 -> -, vCPU 1: 0 -> -, emulator: $last -> -; $who"
out=$(lines_of in_ns "$KVMCG" unpin --pid "$pid")
tl_eq "an unpin of a VM kvmcg has not pinned logs nothing" "$out" ""

# --- apply: one line per VM, with its policy file --------------------------------------
pid2=$(tl_qemu ha-audit2 -smp 1 -name guest=ha-audit2,debug-threads=on)
tl_settle "$pid2" 1
pol=$TL_TMP/policies
mkdir -m 0755 "$pol"
printf '[Match]\nName=ha-audit1\n[CPU]\nVCPUPin=all:0\n' >"$pol/a1.policy"
printf '[Match]\nName=ha-audit2\n[CPU]\nVCPUPin=all:%s\n' "$last" >"$pol/a2.policy"
chmod 0644 "$pol"/*.policy
out=$(lines_of in_ns "$KVMCG" apply --policy-dir "$pol")
tl_eq "apply exits 0 ($(tail -1 "$TL_TMP/cmd.out"))" "$(cat "$TL_TMP/cmd.rc")" 0
tl_eq "... and logs one line per VM" "$(message "$out" | sort)" \
	"$(printf '%s\n' "pid $pid (ha-audit1): apply, policy $pol/a1.policy: vCPU 0-1 -> 0; $who" \
		"pid $pid2 (ha-audit2): apply, policy $pol/a2.policy: vCPU 0 -> $last; $who" | sort)"
out=$(lines_of in_ns "$KVMCG" apply --policy-dir "$pol")
tl_eq "apply again changes nothing and logs nothing" "$out" ""
in_ns "$KVMCG" unpin --pid "$pid" --no-syslog >/dev/null 2>&1
in_ns "$KVMCG" unpin --pid "$pid2" --no-syslog >/dev/null 2>&1

# --- watch: the daemon's pins ---------------------------------------------------------
wpol=$TL_TMP/wpolicies
mkdir -m 0755 "$wpol"
printf '[Match]\nName=ha-audit3\n[CPU]\nVCPUPin=all:%s\nEmulatorPin=0\n' "$last" >"$wpol/w.policy"
chmod 0644 "$wpol/w.policy"
(in_ns_exec "$KVMCG" watch --foreground --policy-dir "$wpol" --reconcile-interval 0 --log-format json >"$TL_TMP/watch.out" 2>"$TL_TMP/watch.err") &
wpid=$!
tl_register_pid "$wpid"
for _ in $(seq 200); do grep -q '"event":"start"' "$TL_TMP/watch.err" && break; sleep 0.05; done
pid3=$(tl_qemu ha-audit3 -smp 2 -name guest=ha-audit3,debug-threads=on)
limit=10
[ "$KVMCG_TEST_ENV" = guest ] && limit=60
got=''
for _ in $(seq $((limit * 10))); do
	got=$(grep -F "pid $pid3 (ha-audit3): watch" "$log")
	[ -n "$got" ] && break
	sleep 0.1
done
echo "# $got"
# the first line is the VM's pin, whole: the watch waits for every vCPU -smp gives,
# though under KVM each vCPU thread makes its own vcpu fd as it starts
tl_eq "watch's pin is logged, with its policy file" "$(message "$(head -n 1 <<<"$got")")" \
	"pid $pid3 (ha-audit3): watch, policy $wpol/w.policy: vCPU 0-1 -> $last, emulator -> 0; $who"
kill -TERM "$wpid"
wait "$wpid" 2>/dev/null
tl_eq "kvmcg watch: SIGTERM, exit 0, and it is gone (pid $wpid)" "$? $(ps -o comm= -p "$wpid")" "0 "
# later lines (a thread born after the pin: KVM's kvm-nx-lpage-recovery worker on
# Linux 6.x) say so, not that someone's change was put back
got=$(grep -F "pid $pid3 (ha-audit3): watch" "$log" | tail -n +2)
echo "${got:+# }${got//$'\n'/$'\n'# }"
tl_eq "... and a later one places the new threads: none says 'put back'" "$(grep -c 'put back' <<<"$got")" 0
in_ns "$KVMCG" unpin --pid "$pid3" --no-syslog >/dev/null 2>&1

# --- run: the VM it starts, once placed ----------------------------------------------
rpid=$TL_TMP/ha-audit4.pid
out=$(lines_of in_ns "$KVMCG" run --vcpu all:0 --emulator "$last" -- qemu-system-x86_64 -accel tcg -m 64 -smp 2 \
	-display none -nodefaults -no-user-config -bios "$(tl_halt_bios)" -name guest=ha-audit4,debug-threads=on \
	-pidfile "$rpid" -daemonize)
[ -s "$rpid" ] && tl_register_pid "$(cat "$rpid")"
if [ "$(cat "$TL_TMP/cmd.rc")" = 0 ] && [ -s "$rpid" ]; then
	p4=$(cat "$rpid")
	tl_eq "run logs the VM it started and placed, once" "$(message "$out")" \
		"pid $p4 (ha-audit4): run: vCPU 0-1 -> 0, emulator -> $last; $who"
	in_ns "$KVMCG" unpin --pid "$p4" --no-syslog >/dev/null 2>&1
	kill -TERM "$p4"
else
	tl_fail "run starts QEMU with -daemonize: $(tail -2 "$TL_TMP/cmd.err")"
fi

# --- journald, where it is PID 1's (KVMCG_GUEST_INIT=systemd tests/guest/run.sh) ------
pid1=$(cat /proc/1/comm)
if [ "$pid1" = systemd ] && command -v journalctl >/dev/null; then
	p5=$(tl_qemu ha-audit5 -smp 1 -name guest=ha-audit5,debug-threads=on)
	tl_settle "$p5" 1
	"$KVMCG" pin --pid "$p5" --vcpu 0:0 >/dev/null 2>&1
	j=''
	for _ in $(seq 100); do
		j=$(journalctl -t kvmcg -o json --no-pager 2>/dev/null |
			jq -r --arg m "pid $p5 (ha-audit5): pin: vCPU 0 -> 0;" \
				'select(.MESSAGE | startswith($m)) | "\(.SYSLOG_FACILITY) \(.PRIORITY)"' | head -1)
		[ -n "$j" ] && break
		sleep 0.1
	done
	tl_eq "journald has the pin's line (journalctl -t kvmcg): facility 3 (daemon), priority 6 (info)" "$j" "3 6"
	"$KVMCG" unpin --pid "$p5" --no-syslog >/dev/null 2>&1
else
	tl_skip "journald has the pin's line (journalctl -t kvmcg)" \
		"PID 1 is $pid1, not systemd (KVMCG_GUEST_INIT=systemd tests/guest/run.sh boots one)"
fi

tl_eq "the host's /dev/log is as it was" "$(ls -la /dev/log 2>&1)" "$devlog"
tl_done
