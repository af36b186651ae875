#!/bin/bash
# kvmcg watch as a systemd service under a real systemd as PID 1 (the test guest
# booted with KVMCG_GUEST_INIT=systemd; make check does that for Linux 6.12): the
# unit exactly as `make install-service` writes it, hardening and all, with only its
# ExecStart changed by a drop-in (a policy directory of the test's own):
#  - as booted, with no /etc/kvmcg/policies, the service fails with the reason in
#    the journal;
#  - with policies it runs, with exactly the four capabilities the unit names;
#  - a QEMU started as its own unit (systemd-run, Delegate=yes) is pinned within 30 s
#    (the vCPUs' affinity, read from /proc) inside that unit's cgroup, and the
#    journal says so;
#  - reload is SIGHUP; stop leaves the VM running and pinned; a start again finds it
#    managed; the VM's unit stopped, its record goes.
# Anywhere else (PID 1 not systemd) it is one visible skip.
. "$(dirname "$0")/../lib/testlib.sh"

pid1=$(cat /proc/1/comm)
if [ "$pid1" != systemd ]; then
	tl_skip "kvmcg watch under systemd" \
		"PID 1 is $pid1, not systemd: KVMCG_GUEST_INIT=systemd tests/guest/run.sh boots one (make check does, in the test guest)"
	tl_done
fi
tl_need_tools qemu-system-x86_64 systemctl systemd-run journalctl
tl_detect_cgroups
# The service's own state directory (RuntimeDirectory=kvmcg): the test reads it too.
unset KVMCG_STATE_DIR
state=/run/kvmcg
svc=kvmcg-watch.service
vmunit=t-sd-vm.service
# Outside /tmp (the unit has PrivateTmp=yes) and readable by the service.
dir=$(mktemp -d /run/kvmcg-systemd-test.XXXXXX)
chmod 0755 "$dir"
pol=$dir/policies
mkdir -m 0755 "$pol"
dropin=/run/systemd/system/$svc.d
tl_on_exit "rm -rf '$dir' '$dropin'; systemctl daemon-reload"
tl_on_exit "systemctl stop $vmunit 2>/dev/null; systemctl reset-failed $vmunit 2>/dev/null"

journal() { journalctl -u "$svc" -o cat --no-pager 2>/dev/null; }
until_ok() { # until_ok SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.2
	done
}
journal_has() { journal | grep -q -- "$1"; }
# The daemon logs after it acts, and journald stores the line a moment later: wait for it.
journal_says() { until_ok 10 journal_has "$1"; }

# --- as booted ---------------------------------------------------------------------------
# The unit's binary: a copy of this build's outside /tmp (tests/guest/run.sh), since
# the unit's PrivateTmp= hides /tmp, where a CI checkout may be.
bin=$(systemctl cat "$svc" | sed -n 's/^ExecStart=\([^ ]*\) watch --foreground --log-format text$/\1/p')
tl_check "the unit is the one make install-service wrote: ExecStart=$bin watch --foreground --log-format text" \
	test -n "$bin"
tl_check "... and runs this build's binary" cmp "$bin" "$KVMCG"
until_ok 60 journal_has "/etc/kvmcg/policies"
tl_check "as booted, with no /etc/kvmcg/policies, it says why it cannot run: $(journal | grep -m1 /etc/kvmcg/policies)" \
	journal_has "/etc/kvmcg/policies"

# --- with policies ------------------------------------------------------------------------
printf '[Match]\nName=t-sd\n[CPU]\nVCPUPin=all:1\nEmulatorPin=0\n' >"$pol/sd.policy"
# for the VM started in a network namespace of its own, at the end
printf '[Match]\nName=t-sd-net\n[Network]\nInboundAverage=20Mbit\nOutboundAverage=10Mbit\n' >"$pol/net.policy"
chmod 0644 "$pol/sd.policy" "$pol/net.policy"
mkdir -p "$dropin"
printf '[Service]\nExecStart=\nExecStart=%s watch --foreground --log-format text --policy-dir %s --reconcile-interval 2\n' \
	"$bin" "$pol" >"$dropin/test.conf"
systemctl daemon-reload
systemctl reset-failed "$svc" 2>/dev/null
systemctl restart "$svc"
tl_eq "with a policy directory: systemctl restart, exit 0" "$?" 0
active() { [ "$(systemctl is-active "$svc")" = active ] && journal_has "watching (pid"; }
until_ok 30 active
tl_eq "... it is active" "$(systemctl is-active "$svc")" active
main=$(systemctl show -p MainPID --value "$svc")
# CAP_DAC_OVERRIDE 1, CAP_NET_ADMIN 12, CAP_SYS_PTRACE 19, CAP_SYS_ADMIN 21, CAP_SYS_NICE 23
caps=$(printf '%016x' $(((1 << 1) | (1 << 12) | (1 << 19) | (1 << 21) | (1 << 23))))
tl_eq "... with exactly the unit's five capabilities (CapBnd of pid $main)" \
	"$(awk '/^CapBnd:/ { print $2 }' /proc/"$main"/status)" "$caps"
tl_eq "... and none effective beyond them" "$(awk '/^CapEff:/ { print $2 }' /proc/"$main"/status)" "$caps"

# --- a VM in a unit of its own --------------------------------------------------------------
bios=$(tl_halt_bios)
systemd-run --quiet --unit="$vmunit" --property=Delegate=yes -- \
	qemu-system-x86_64 -accel tcg -m 64 -smp 2 -display none -nodefaults -no-user-config -bios "$bios" \
	-name guest=t-sd,debug-threads=on
tl_eq "systemd-run of a QEMU (Delegate=yes): exit 0" "$?" 0
vm_main() { systemctl show -p MainPID --value "$vmunit"; }
until_ok 30 sh -c "[ \"\$(systemctl show -p MainPID --value $vmunit)\" -gt 0 ]"
p=$(vm_main)
vcpus() { tl_named_vcpus "$p" | wc -l; }
until_ok 30 sh -c "[ \$(ls /proc/$p/task | wc -l) -gt 0 ]"
vcpu_affinity() {
	local tid
	tl_named_vcpus "$p" | while read -r _ tid; do
		awk '/^Cpus_allowed_list:/ { print $2 }' /proc/"$p"/task/"$tid"/status
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}
pinned() { [ "$(vcpus)" = 2 ] && [ "$(vcpu_affinity)" = 1 ]; }
if until_ok 30 pinned; then
	tl_ok "the VM (pid $p) is pinned by the service: both vCPUs on 1 (/proc)"
else
	tl_fail "the VM (pid $p) is pinned by the service: vCPUs $(vcpus), affinity '$(vcpu_affinity)'; journal: $(journal | tail -3 | tr '\n' ' ')"
fi
tid=$(tl_named_vcpus "$p" | awk 'NR == 1 { print $2 }')
cg=$(awk -F: '$1 == 0 { print $3 }' /proc/"$p"/task/"$tid"/cgroup)
case $cg in
/system.slice/$vmunit/?*) tl_ok "... its vCPU thread's cgroup is inside the VM's own unit: $cg" ;;
*) tl_fail "... its vCPU thread's cgroup is inside the VM's own unit: $cg" ;;
esac
tl_check "... and the journal says it was pinned" journal_says "pid $p (t-sd): pinned"
# the audit trail: one line to /dev/log, which journald serves here (ident kvmcg)
audit_has() { journalctl -t kvmcg -o cat --no-pager 2>/dev/null | grep -qF -- "$1"; }
if until_ok 10 audit_has "pid $p (t-sd): watch, policy $pol/sd.policy: vCPU 0-1 -> 1, emulator -> 0; by uid 0 (root)"; then
	tl_ok "... and the audit trail in journald (journalctl -t kvmcg) says what changed and who"
else
	tl_fail "... and the audit trail in journald (journalctl -t kvmcg) says what changed and who"
	journalctl -t kvmcg -o cat --no-pager 2>&1 | tail -5 | sed 's/^/#   /' >&2
fi

# --- reload, stop, start --------------------------------------------------------------------
systemctl reload "$svc"
tl_eq "systemctl reload: exit 0" "$?" 0
tl_check "... the daemon read its policies again (SIGHUP)" journal_says "SIGHUP"
systemctl stop "$svc"
tl_eq "systemctl stop: exit 0" "$?" 0
tl_eq "... the service is inactive" "$(systemctl is-active "$svc")" inactive
tl_eq "... the VM's unit still runs" "$(systemctl is-active "$vmunit")" active
tl_eq "... and the VM stays pinned" "$(vcpu_affinity)" 1
rec=$state/$p-$(awk '{ print $22 }' /proc/"$p"/stat).state
tl_check "... and keeps its record ($rec)" test -f "$rec"
systemctl start "$svc"
until_ok 30 active
tl_check "systemctl start: the daemon finds the VM it manages" journal_says "start: 1 VMs, 1 managed"

# --- the VM's unit stopped: its record goes -------------------------------------------------
systemctl stop "$vmunit"
tl_eq "systemctl stop of the VM's unit: exit 0" "$?" 0
if until_ok 30 test ! -e "$rec"; then
	tl_ok "... its record is gone"
else
	tl_fail "... its record is gone: $(journal | tail -3 | tr '\n' ' ')"
fi
# The exit event, or a rescan when the daemon missed it ("exited (found by a
# rescan); ..."): either says what was removed.
if journal_says "pid $p.*exited.*its cgroups and record are removed"; then
	tl_ok "... and the journal says it exited, its cgroups and record removed"
else
	tl_fail "... and the journal says it exited, its cgroups and record removed"
	journal | tail -25 | sed 's/^/#   /' >&2
fi
tl_eq "... and no cgroup of it is left" "$(find /sys/fs/cgroup/system.slice -path "*$vmunit*" -type d 2>/dev/null | wc -l)" 0

# --- a VM in a network namespace of its own (NetworkNamespacePath=) ------------------------
# The unit's RestrictNamespaces=net and CAP_SYS_ADMIN let the service enter it for
# the VM's tap; the device of that name nowhere else.
ns=t-sd-net-$$
netunit=t-sd-netvm.service
if ip netns add "$ns"; then
	tl_on_exit "systemctl stop $netunit 2>/dev/null; systemctl reset-failed $netunit 2>/dev/null; ip netns del $ns 2>/dev/null"
	[ -c /dev/net/tun ] || modprobe tun 2>/dev/null
	systemd-run --quiet --unit="$netunit" --property=NetworkNamespacePath=/run/netns/"$ns" -- \
		qemu-system-x86_64 -accel tcg -m 64 -display none -nodefaults -no-user-config -bios "$bios" \
		-name guest=t-sd-net,debug-threads=on -netdev tap,id=n0,ifname=sdtap0,script=no,downscript=no \
		-device virtio-net-pci,netdev=n0
	shaped() { ip netns exec "$ns" tc -j qdisc show dev sdtap0 2>/dev/null | grep -q '"handle":"6b76:"'; }
	if until_ok 30 shaped; then
		tl_ok "a VM in a network namespace of its own: the service puts its TBF on the VM's tap there"
	else
		tl_fail "a VM in a network namespace of its own: its tap shaped by the service; tc: $(ip netns exec "$ns" tc qdisc show dev sdtap0 2>&1 | tr '\n' ' ')"
		ip netns exec "$ns" tc -j qdisc show dev sdtap0 2>&1 | sed 's/^/#   tc -j: /' >&2
		journal | tail -15 | sed 's/^/#   /' >&2
	fi
	tl_check "... and an ingress qdisc for its outbound" sh -c "ip netns exec $ns tc qdisc show dev sdtap0 ingress | grep -q ingress"
	np=$(systemctl show -p MainPID --value "$netunit")
	nrec=$state/$np-$(awk '{ print $22 }' /proc/"$np"/stat 2>/dev/null).state
	systemctl stop "$netunit"
	if until_ok 30 test ! -e "$nrec"; then
		tl_ok "... stopped, its record is gone"
	else
		tl_fail "... stopped, its record is gone: $(journal | tail -3 | tr '\n' ' ')"
	fi
	tl_eq "... and nothing kvmcg made is left in the namespace" "$(ip -n "$ns" -o link | grep -c kvmcg)" 0
else
	tl_skip "a VM in a network namespace of its own" "ip netns add failed"
fi
if journal | grep -q ': failed: '; then
	tl_fail "the daemon reported no failed pin"
	journal | grep -B2 -A2 ': failed: ' | sed 's/^/#   /' >&2
else
	tl_ok "the daemon reported no failed pin"
fi

systemctl stop "$svc"
tl_done
