#!/bin/bash
# One kvmcg run at a time per VM: concurrent pins of the same VM serialise on its
# lock (flock on <state dir>/<pid>-<starttime>.lock) and leave one consistent result;
# a run that cannot get the lock in --lock-timeout exits 1 naming who holds it.
# The example of the field report, 50 rounds: a pinned VM, two pins at once, unpin.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "the lock does not depend on the cgroup mode (t-pin runs pin and unpin on v2)"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "lock" "qemu-system-x86_64 is not installed"
	tl_done
}
command -v flock >/dev/null || {
	tl_skip "lock" "flock(1) (util-linux) is not installed"
	tl_done
}
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
other=$((ncpu > 1 ? 1 : 0))
rounds=${KVMCG_TEST_LOCK_ROUNDS:-50}
# TCG in the test guest is slow; the host runs the full count.
[ "$KVMCG_TEST_ENV" = guest ] && rounds=${KVMCG_TEST_LOCK_ROUNDS:-10}

pid=$(tl_qemu l -smp 2 -name t-lock -qmp unix:"$TL_TMP"/l.qmp,server=on,wait=off)
tl_settle "$pid" 2
before=$(snapshot "$pid")
vmdir=/kvmcg/t-lock

bad_exit=0 stayed=0 left=0 lost=0 wrong=0
for ((i = 0; i < rounds; i++)); do
	"$KVMCG" pin --pid "$pid" --vcpu all:0 --emulator 0 >/dev/null 2>>"$TL_TMP/errs" || bad_exit=$((bad_exit + 1))
	"$KVMCG" pin --pid "$pid" --vcpu all:0 --emulator "$other" >/dev/null 2>>"$TL_TMP/errs" &
	a=$!
	"$KVMCG" pin --pid "$pid" --vcpu all:"$other" --emulator 0 >/dev/null 2>>"$TL_TMP/errs" &
	b=$!
	wait "$a" || bad_exit=$((bad_exit + 1))
	wait "$b" || bad_exit=$((bad_exit + 1))
	# Whichever ran last, the record holds its pin of both vCPUs.
	rec=$(jq '.tune.vcpupin | length' "$KVMCG_STATE_DIR"/*.state 2>/dev/null || echo 0)
	[ "$rec" -eq 2 ] || lost=$((lost + 1))
	out=$("$KVMCG" unpin --pid "$pid" --json 2>>"$TL_TMP/errs") || bad_exit=$((bad_exit + 1))
	[ "$(jq -r .result <<<"$out")" = applied ] || stayed=$((stayed + 1))
	[ "$mode" = affinity ] || [ ! -e "$mount$vmdir" ] || left=$((left + 1))
	[ "$(snapshot "$pid")" = "$before" ] || wrong=$((wrong + 1))
done
tl_eq "$rounds rounds: every pin and unpin exits 0 (the second pin waits)" "$bad_exit" 0
tl_eq "$rounds rounds: the record always holds the pin (2 vCPUs)" "$lost" 0
tl_eq "$rounds rounds: unpin always finds the record" "$stayed" 0
tl_eq "$rounds rounds: unpin always removes the VM's cgroups" "$left" 0
tl_eq "$rounds rounds: every thread back exactly, every round" "$wrong" 0
tl_eq "$rounds rounds: nothing said on stderr" "$(cat "$TL_TMP/errs")" ""
tl_check "$rounds rounds: no record, lock or temporary file left" test -z "$(ls -A "$KVMCG_STATE_DIR")"

# --- a run that cannot get the lock says who has it --------------------------------------
"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null
start=$(awk '{ print $22 }' /proc/"$pid"/stat)
lock=$KVMCG_STATE_DIR/$pid-$start.lock
tl_check "the VM's lock file is where the README says" test -f "$lock"
pinned=$(snapshot "$pid")
# another holder, as another kvmcg would write itself in
(
	exec 9<>"$lock"
	flock 9
	printf 'pid %d (kvmcg apply)\n' "$BASHPID" >"$lock"
	echo locked >"$TL_TMP/locked"
	sleep 30
) &
holder=$!
tl_register_pid "$holder"
for _ in $(seq 50); do [ -f "$TL_TMP/locked" ] && break; sleep 0.1; done
t0=$(date +%s%N)
"$KVMCG" pin --pid "$pid" --vcpu all:"$other" --lock-timeout 700 >/dev/null 2>"$TL_TMP/err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
tl_eq "locked: pin exits 1" "$rc" 1
tl_check "locked: it waited the --lock-timeout (700 ms), not much more ($ms ms)" test "$ms" -ge 700 -a "$ms" -lt 3000
tl_check "locked: one line naming the holder" \
	sh -c "[ \$(wc -l <'$TL_TMP/err') -eq 1 ] && grep -q 'pid [0-9]* (kvmcg apply)' '$TL_TMP/err'"
"$KVMCG" unpin --pid "$pid" --lock-timeout 0 >/dev/null 2>"$TL_TMP/err"
tl_eq "locked: unpin --lock-timeout 0 does not wait: exit 1" "$?" 1
tl_eq "locked: nothing changed" "$(snapshot "$pid")" "$pinned"
kill "$holder"
wait "$holder" 2>/dev/null
"$KVMCG" unpin --pid "$pid" >/dev/null
tl_eq "once free: unpin restores" "$(snapshot "$pid")" "$before"
tl_check "once free: no lock file left" test ! -e "$lock"

# --- a lock file that is not kvmcg's own is refused, and nothing is written to it ------------------
echo "precious" >"$TL_TMP/victim"
ln "$TL_TMP/victim" "$lock"
"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "hard-linked lock file: pin exits 1" "$?" 1
tl_check "hard-linked lock file: says why" grep -q "refusing the lock file .*hard link" "$TL_TMP/err"
tl_eq "hard-linked lock file: the file it links to is untouched" "$(cat "$TL_TMP/victim")" precious
tl_eq "hard-linked lock file: nothing changed" "$(snapshot "$pid")" "$before"
rm -f "$lock"
: >"$lock"
chown 65534 "$lock"
chmod 0666 "$lock"
"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "a lock file nobody owns: pin exits 1" "$?" 1
tl_check "a lock file nobody owns: says why" grep -q "refusing the lock file" "$TL_TMP/err"
rm -f "$lock"
ln -s "$TL_TMP/victim" "$lock"
"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "a symbolic link as lock file: pin exits 1" "$?" 1
tl_eq "a symbolic link as lock file: its target untouched" "$(cat "$TL_TMP/victim")" precious
rm -f "$lock"
tl_done
