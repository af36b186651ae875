#!/bin/bash
# Monitors that never answer cost one --qmp-timeout in all, not one each: `kvmcg list`
# (and apply) ask every VM's monitor at once under one deadline, and a single VM's
# whole conversation (its next socket included) shares one budget. Real QEMUs whose
# monitors are held by another client (QEMU greets one client at a time).
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "monitor deadlines do not depend on the cgroup mode"

for tool in qemu-system-x86_64 socat jq; do
	command -v "$tool" >/dev/null || {
		tl_skip "QMP deadline" "$tool is not installed"
		tl_done
	}
done

# hold SOCKET: connects an idle client to the monitor and keeps it there (registered).
hold() {
	socat -u UNIX-CONNECT:"$1" OPEN:/dev/null &
	tl_register_pid "$!"
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }

pids=()
for i in 1 2 3; do
	pids+=("$(tl_qemu busy$i -smp 1 -name t-deadline-$i -qmp unix:"$TL_TMP"/busy$i.qmp,server=on,wait=off)")
done
for p in "${pids[@]}"; do tl_settle "$p" 1; done

# Free monitors first: every VM is discovered through QMP.
list=$("$KVMCG" list --json)
for p in "${pids[@]}"; do
	tl_eq "free monitor of $p: discovery qmp" \
		"$(jq -r --argjson p "$p" '.vms[] | select(.pid == $p) | .discovery' <<<"$list")" qmp
done

for i in 1 2 3; do hold "$TL_TMP"/busy$i.qmp; done
sleep 0.3

# What list costs without monitors (reading /proc; slow in the TCG test guest), to
# tell the wait for the monitors from the rest.
t0=$(ms_now)
"$KVMCG" list --json --no-qmp >/dev/null
base=$(($(ms_now) - t0))
t0=$(ms_now)
list=$("$KVMCG" list --json --qmp-timeout 1500)
rc=$?
elapsed=$(($(ms_now) - t0))
echo "# kvmcg list with 3 busy monitors, --qmp-timeout 1500: $elapsed ms (without monitors: $base ms)"
tl_eq "list with 3 busy monitors: exit 0" "$rc" 0
tl_check "list with 3 busy monitors: waited for them (>= 1400 ms, took $elapsed)" test "$elapsed" -ge 1400
tl_check "list with 3 busy monitors: one deadline for all (< 2400 ms beyond the $base ms of /proc, took $elapsed)" \
	test $((elapsed - base)) -lt 2400
for p in "${pids[@]}"; do
	tl_check "busy monitor of $p: still listed, qmp_error says why" \
		jq -e --argjson p "$p" '[.vms[] | select(.pid == $p and (.qmp_error // "" | test("no answer in time")))] | length == 1' \
		<<<"$list"
	tl_check "busy monitor of $p: discovery falls back" \
		jq -e --argjson p "$p" '.vms[] | select(.pid == $p) | .discovery != "qmp"' <<<"$list"
done

# One VM, two monitors, both held: the second socket gets what is left of one budget.
two=$(tl_qemu two -smp 1 -name t-deadline-two -qmp unix:"$TL_TMP"/two-a.qmp,server=on,wait=off \
	-qmp unix:"$TL_TMP"/two-b.qmp,server=on,wait=off)
tl_settle "$two" 1
hold "$TL_TMP"/two-a.qmp
hold "$TL_TMP"/two-b.qmp
sleep 0.3
t0=$(ms_now)
"$KVMCG" show --pid "$two" --json --no-qmp >/dev/null
base=$(($(ms_now) - t0))
t0=$(ms_now)
json=$("$KVMCG" show --pid "$two" --json --qmp-timeout 1000)
elapsed=$(($(ms_now) - t0))
echo "# kvmcg show, 2 busy monitors of one VM, --qmp-timeout 1000: $elapsed ms (without monitors: $base ms)"
tl_check "show, two busy monitors of one VM: one budget (< 1600 ms beyond $base, took $elapsed)" \
	test $((elapsed - base)) -lt 1600
tl_check "show, two busy monitors of one VM: waited (>= 900 ms, took $elapsed)" test "$elapsed" -ge 900
tl_check "show, two busy monitors: qmp_error names the first socket" \
	jq -e --arg s "$TL_TMP/two-a.qmp" '.qmp_error | startswith("QMP socket \($s): no answer in time")' <<<"$json"

# --qmp SOCKET on a held monitor: finding the pid and asking it share the budget.
t0=$(ms_now)
"$KVMCG" show --qmp "$TL_TMP"/busy1.qmp --qmp-timeout 1000 >/dev/null 2>"$TL_TMP/err"
rc=$?
elapsed=$(($(ms_now) - t0))
tl_eq "show --qmp on a held monitor: exit 1" "$rc" 1
tl_check "show --qmp on a held monitor: within one budget (< 1600 ms beyond $base, took $elapsed)" \
	test $((elapsed - base)) -lt 1600

tl_done
