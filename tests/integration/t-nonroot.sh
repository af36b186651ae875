#!/bin/bash
# kvmcg run by a user that is not root (nobody), beside a root QEMU and one of nobody's
# own: list and show print what they can read and one line saying the rest needs root;
# pin VMSEL alone shows nobody's own VM's pins; every command that changes a VM says
# "needs root" before it tries anything, and nothing changes. As root, no such line.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools qemu-system-x86_64 setpriv jq
id nobody >/dev/null 2>&1 || {
	tl_skip "kvmcg as a user that is not root" "there is no user nobody"
	tl_done
}
uid=$(id -u nobody) gid=$(id -g nobody)
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
# nobody reaches its own directory below $TL_TMP (0700 by mktemp) but lists nothing
chmod 0711 "$TL_TMP"
mine=$TL_TMP/nobody
mkdir -m 0755 "$mine"
cp "$KVMCG" "$mine"/kvmcg
cp "$(tl_halt_bios)" "$mine"/bios.bin
chmod 0755 "$mine"/kvmcg
chmod 0644 "$mine"/bios.bin
as_nobody() {
	env PATH=/usr/sbin:/usr/bin:/sbin:/bin KVMCG_STATE_DIR="$KVMCG_STATE_DIR" \
		setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
}

root=$(tl_qemu r -smp 2 -name guest=t-nonroot-root,debug-threads=on)
# nobody's own QEMU, daemonized into a pidfile nobody writes
dir=$TL_TMP/nobody-run
mkdir -m 0777 "$dir"
as_nobody qemu-system-x86_64 -accel tcg -m 64 -smp 2 -display none -nodefaults -no-user-config \
	-bios "$mine"/bios.bin -name guest=t-nonroot-own,debug-threads=on -daemonize -pidfile "$dir"/own.pid \
	2>"$TL_TMP/own.err"
own=$(cat "$dir"/own.pid 2>/dev/null)
[ -n "$own" ] && tl_register_pid "$own"
tl_check "nobody's QEMU runs (pid $own, uid $uid)" test "$(stat -c %u /proc/"$own" 2>/dev/null)" = "$uid"
tl_settle "$root" 2
tl_settle "$own" 2
aff() { tl_named_vcpus "$1" | while read -r _ t; do awk '/^Cpus_allowed_list:/ { print $2 }' /proc/"$1"/task/"$t"/status; done | tr '\n' ' '; }
root_before=$(aff "$root")

# --- list --------------------------------------------------------------------------------------
as_nobody "$mine"/kvmcg list -n -r -o PID,NAME --no-qmp >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "list as nobody: exit 0" "$?" 0
tl_check "... lists nobody's own VM" grep -qx "$own t-nonroot-own" "$TL_TMP/out"
tl_check "... not root's, which it cannot examine" sh -c "! grep -q '^$root ' '$TL_TMP/out'"
tl_eq "... and says so in one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
tl_check "... naming root's QEMU and that it needs root: $(cat "$TL_TMP/err")" \
	grep -q "named like QEMU (pids\? [0-9, ]*$root[0-9, .]*) .*another user's.*needs root" "$TL_TMP/err"
tl_check "... and kvmcg's records" grep -q "kvmcg's records in $KVMCG_STATE_DIR are root's" "$TL_TMP/err"
json=$(as_nobody "$mine"/kvmcg list --json --no-qmp 2>/dev/null)
tl_check "list --json as nobody: not_root names root's QEMU" \
	jq -e --argjson p "$root" '.not_root.records_unreadable and (.not_root.unexamined_pids | index($p))' <<<"$json"
"$KVMCG" list --no-qmp >/dev/null 2>"$TL_TMP/err"
tl_eq "list as root: nothing said about root" "$(cat "$TL_TMP/err")" ""
tl_eq "list --json as root: not_root is null" "$("$KVMCG" list --json --no-qmp | jq -c .not_root)" null

# --- show ----------------------------------------------------------------------------------------
as_nobody "$mine"/kvmcg show --pid "$own" --no-qmp >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "show of nobody's own VM: exit 0" "$?" 0
tl_check "... its threads shown" grep -q "^vcpu  *1 " "$TL_TMP/out"
tl_check "... and one line: kvmcg's records need root" grep -q "kvmcg's records in .* are root's" "$TL_TMP/err"
as_nobody "$mine"/kvmcg show --pid "$root" --no-qmp >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "show of root's VM: exit 1" "$?" 1
tl_eq "... says why in one line" "$(cat "$TL_TMP/err")" \
	"kvmcg: pid $root is another user's: whether it is a VM cannot be told without root (its /proc/$root/exe and file descriptors need it)"

as_nobody "$mine"/kvmcg show --name t-nonroot-root --no-qmp >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "show --name of root's VM: exit 1" "$?" 1
tl_check "... not 'no such VM' but that telling needs root: $(cat "$TL_TMP/err")" \
	grep -q "^kvmcg: no VM kvmcg can examine is named 't-nonroot-root'; [0-9]* process.* named like QEMU .*another user's, and telling whether .* needs root$" "$TL_TMP/err"

# --- pin VMSEL alone: pins at a glance, read-only ------------------------------------------------
as_nobody "$mine"/kvmcg pin --pid "$own" --no-qmp >"$TL_TMP/out" 2>/dev/null
tl_eq "pin --pid (nobody's own VM) alone: exit 0, its pins" "$?:$(head -1 "$TL_TMP/out")" "0:VCPU: CPU Affinity"

# --- what changes a VM: needs root, said first ------------------------------------------------------
for cmd in "pin --pid $root --vcpu 0:0" "pin --pid $own --vcpu 0:0" "unpin --pid $root" "apply --policy-dir $mine" \
	"watch --policy-dir $mine" "run -- qemu-system-x86_64 -version"; do
	# shellcheck disable=SC2086 # the command's words
	as_nobody "$mine"/kvmcg $cmd >"$TL_TMP/out" 2>"$TL_TMP/err"
	rc=$?
	word=${cmd%% *}
	tl_eq "$cmd as nobody: exit 1, one line: needs root" "$rc:$(cat "$TL_TMP/err")" \
		"1:kvmcg: $word needs root: it writes cgroups, other users' threads' affinity and kvmcg's records in $KVMCG_STATE_DIR (run it as root)"
done
tl_eq "... root's VM untouched (its vCPUs' affinity, /proc)" "$(aff "$root")" "$root_before"
tl_eq "... no record made" "$(ls "$KVMCG_STATE_DIR")" ""
tl_done
