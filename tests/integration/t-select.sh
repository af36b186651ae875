#!/bin/bash
# VMSEL (--pid, --pidfile, --name, --qmp), `kvmcg list`, and the error paths: each
# bad input gives one line on stderr and the documented exit code, never a crash.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "VM selection does not depend on the cgroup mode"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "selection" "qemu-system-x86_64 is not installed"
	tl_done
}

# expect_fail DESC CODE PATTERN ARGS...: exit code CODE, one stderr line matching PATTERN.
expect_fail() {
	local desc=$1 code=$2 pattern=$3
	shift 3
	"$KVMCG" "$@" >"$TL_TMP/out" 2>"$TL_TMP/err"
	local rc=$?
	tl_eq "$desc: exit code" "$rc" "$code"
	tl_check "$desc: says '$pattern'" grep -q -- "$pattern" "$TL_TMP/err"
	tl_eq "$desc: prints nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0
}

a=$(tl_qemu a -smp 1 -name 'guest=sel,,a,debug-threads=on' -qmp unix:"$TL_TMP"/a.qmp,server=on,wait=off)
b=$(tl_qemu b -smp 1 -name 'dup,process=renamed-vm')
c=$(tl_qemu c -smp 1 -name dup)
tl_settle "$a" 1

# --- every selector finds the same VM ------------------------------------------
tl_eq "--pid" "$("$KVMCG" show --pid "$a" --json | jq .pid)" "$a"
tl_eq "--pidfile (locked by the running QEMU)" "$("$KVMCG" show --pidfile "$TL_TMP"/a.pid --json | jq .pid)" "$a"
tl_eq "--name with an escaped comma (guest=sel,,a)" "$("$KVMCG" show --name sel,a --json | jq .pid)" "$a"
tl_eq "--qmp SOCKET" "$("$KVMCG" show --qmp "$TL_TMP"/a.qmp --json | jq .pid)" "$a"
tl_eq "a process renamed by -name process= is still a VM" \
	"$("$KVMCG" show --pid "$b" --json | jq -r '"\(.comm) \(.hypervisor)"')" "renamed-vm qemu"

# --- a thread's id is not a process's ----------------------------------------------
# /proc/TID answers for any thread, though only processes are listed: a TID copied
# out of `show` is refused, naming the process, by every command that takes VMSEL.
tid=$(ls /proc/"$a"/task | grep -vx "$a" | head -1)
tl_check "the VM has a thread other than its main one (from /proc, not kvmcg)" test -n "$tid"
expect_fail "show --pid of a thread" 1 "pid $tid is a thread of process $a, not a process" show --pid "$tid"
expect_fail "pin --pid of a thread (dry run)" 1 "is a thread of process $a" pin --pid "$tid" --vcpu all:0 --dry-run
expect_fail "unpin --pid of a thread" 1 "is a thread of process $a" unpin --pid "$tid"
expect_fail "numastat --pid of a thread" 1 "is a thread of process $a" numastat --pid "$tid"

# --- list --------------------------------------------------------------------------
list=$("$KVMCG" list --json)
for p in "$a" "$b" "$c"; do
	tl_eq "list --json has VM $p" "$(jq --argjson p "$p" '[.vms[] | select(.pid == $p)] | length' <<<"$list")" 1
done
tl_eq "list --json: discovery of the QMP VM" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | .discovery' <<<"$list")" qmp
tl_check "list --json: host online CPUs match /sys" \
	test "$(jq -r .host.online_cpus <<<"$list")" = "$(cat /sys/devices/system/cpu/online)"
text=$("$KVMCG" list)
tl_check "list text: header" grep -qE '^PID +NAME +VCPUS +THREADS +DISCOVERY +CGROUP +PINNED +PINS +KVMCG +LAUNCHED$' <<<"$text"
tl_check "list text: a line for VM $a named sel,a" grep -qE "^$a +sel,a +1/1 " <<<"$text"
tl_check "list does not list itself or non-VMs" \
	jq -e --argjson p "$$" 'all(.vms[]; .pid != $p and .pid != 1)' <<<"$list"

# list while VMs come and go: never an error, never a crash.
churn() {
	for _ in 1 2 3 4 5; do
		local p
		p=$(tl_qemu churn -smp 1) && kill -KILL "$p"
	done
}
churn &
churn_pid=$!
bad=0
for _ in $(seq 20); do
	"$KVMCG" list --json >/dev/null 2>"$TL_TMP/churn.err" || bad=1
done
wait "$churn_pid"
tl_eq "list during VM churn: always exit 0" "$bad" 0

# --- error paths ---------------------------------------------------------------------
expect_fail "two VMs share a name" 1 "2 VMs are named 'dup'" show --name dup
expect_fail "unknown name" 1 "no running VM is named 'nope'" show --name nope
expect_fail "not a VM" 1 "is not a VM" show --pid $$
expect_fail "missing pid" 1 "no such process" show --pid 4194000
expect_fail "malformed pid" 2 "is not a process id" show --pid 12x
expect_fail "no selector" 2 "exactly one of" show
expect_fail "two selectors: both named" 2 "--pid and --name each select a VM; give one" show --pid "$a" --name sel,a
expect_fail "unknown option" 2 "try 'kvmcg show --help'" show --bogus
expect_fail "unknown command" 2 "unknown command" frobnicate
expect_fail "missing pidfile" 1 "cannot read pidfile" show --pidfile "$TL_TMP"/none.pid
expect_fail "pidfile is a directory" 1 "Is a directory" show --pidfile "$TL_TMP"
printf 'hello\n' >"$TL_TMP"/junk.pid
expect_fail "pidfile without a pid" 1 "does not hold a pid" show --pidfile "$TL_TMP"/junk.pid
expect_fail "socket that is not there" 1 "QMP socket" show --qmp "$TL_TMP"/none.qmp

# A QEMU killed with SIGKILL leaves its pidfile and its socket behind.
kill -KILL "$a"
while kill -0 "$a" 2>/dev/null; do sleep 0.05; done
expect_fail "stale pidfile (nobody holds the lock)" 1 "is stale" show --pidfile "$TL_TMP"/a.pid
expect_fail "dead QMP socket" 1 "connection refused" show --qmp "$TL_TMP"/a.qmp
expect_fail "exited pid" 1 "no such process" show --pid "$a"

# A monitor held by another client: the QMP VM is still shown, from its fallback.
d=$(tl_qemu d -smp 1 -name busy -qmp unix:"$TL_TMP"/d.qmp,server=on,wait=off)
tl_settle "$d" 1
sleep 5 | socat - UNIX-CONNECT:"$TL_TMP"/d.qmp >/dev/null &
holder=$!
sleep 0.3
json=$("$KVMCG" show --pid "$d" --qmp-timeout 300 --json)
tl_check "busy monitor: the reason is reported" jq -e '.qmp_error | test("another client")' <<<"$json"
tl_check "busy monitor: discovery falls back" jq -e '.discovery != "qmp"' <<<"$json"
expect_fail "busy monitor given with --qmp" 1 "another client" show --qmp "$TL_TMP"/d.qmp --qmp-timeout 300
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

tl_eq "--help exits 0" "$("$KVMCG" show --help >/dev/null; echo $?)" 0
tl_check "--version" grep -q '^kvmcg [0-9]' <<<"$("$KVMCG" --version)"

tl_done
