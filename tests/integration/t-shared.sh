#!/bin/bash
# What kvmcg changes for all VMs at once (the top kvmcg/ directory, a --cgroup-root
# it made, controllers it enabled in the root's subtree_control on v2) stays while a
# VM needs it and goes with the last one: after every VM is unpinned the hierarchy
# is as it was before the first pin. A controller another cgroup has come to rely on
# meanwhile stays, with that cgroup's settings. Read back from the kernel: the
# directories, cgroup.subtree_control, cpuset.cpus.
. "$(dirname "$0")/../lib/testlib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "shared" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "shared" "no cpuset controller: kvmcg makes no cgroups here"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
echo "# mode $mode at $mount"

subtree() { [ "$mode" = v2 ] && cat "$mount/cgroup.subtree_control"; }
# The root's subtree_control, and which of kvmcg's top directories exist.
hierarchy() {
	echo "root: $(subtree)"
	echo "kvmcg/: $([ -d "$mount/kvmcg" ] && echo there || echo none)"
	echo "given: $([ -d "$mount/kvmcg-t-shared-$$" ] && echo there || echo none)"
}
tl_on_exit "tl_rmcg '$mount/kvmcg-t-shared-$$'; tl_rmcg '$mount/t-shared-other-$$'"
if [ "$mode" = v2 ]; then
	before_root=$(subtree)
	tl_on_exit "for c in cpuset cpu; do grep -qw \$c <<<'$before_root' || echo -\$c >'$mount/cgroup.subtree_control' 2>/dev/null; done"
fi
top_before=$([ -d "$mount/kvmcg" ] && echo there || echo none)
[ "$top_before" = there ] && echo "# $mount/kvmcg was there before: kvmcg did not make it, so it stays"

vcpu_tid() { "$KVMCG" show --pid "$1" --json | jq -r --argjson i "$2" '.threads[] | select(.kind == "vcpu" and .index == $i) | .tid'; }
a=$(tl_qemu t-shared-a -smp 1 -name t-shared-a -qmp unix:"$TL_TMP"/a.qmp,server=on,wait=off)
b=$(tl_qemu t-shared-b -smp 1 -name t-shared-b -qmp unix:"$TL_TMP"/b.qmp,server=on,wait=off)
tl_settle "$a" 1
tl_settle "$b" 1
before=$(hierarchy)

# the cpu controller too, on v2 (on a hybrid host cpu is another v1 hierarchy)
weight=()
[ "$mode" = v2 ] && weight=(--cpu-weight 200)
"$KVMCG" pin --pid "$a" --vcpu all:0 "${weight[@]}" >/dev/null 2>"$TL_TMP/err"
tl_eq "pin a exits 0" "$?" 0
"$KVMCG" pin --pid "$b" --vcpu all:0 >/dev/null 2>>"$TL_TMP/err"
tl_eq "pin b exits 0" "$?" 0
tl_eq "both VMs' trees are in kvmcg/" "$(ls -d "$mount"/kvmcg/t-shared-? | wc -l)" 2
if [ "$mode" = v2 ]; then
	tl_check "the root enables cpuset for them (kernel)" grep -qw cpuset "$mount/cgroup.subtree_control"
	tl_check "and cpu, for a's weight (kernel)" grep -qw cpu "$mount/cgroup.subtree_control"
fi
if [ "$top_before" = none ] || [ "$mode" = v2 ]; then
	tl_check "the state directory lists what the VMs share" test -s "$KVMCG_STATE_DIR/shared.json"
else
	tl_skip "the state directory lists what the VMs share" "kvmcg/ and everything it needs were there before"
fi

"$KVMCG" unpin --pid "$a" >/dev/null 2>>"$TL_TMP/err"
tl_eq "unpin a exits 0" "$?" 0
tl_check "b's tree is still there" test -d "$mount/kvmcg/t-shared-b"
tl_eq "b's vCPU still on CPU 0 in its cgroup (kernel)" \
	"$(thread_cgroup "$b" "$(vcpu_tid "$b" 0)")" /kvmcg/t-shared-b/vcpu0
[ "$mode" = v2 ] && tl_check "the root still enables cpuset, which b needs (kernel)" \
	grep -qw cpuset "$mount/cgroup.subtree_control"

"$KVMCG" unpin --pid "$b" >/dev/null 2>>"$TL_TMP/err"
tl_eq "unpin b exits 0" "$?" 0
tl_eq "after the last unpin the hierarchy is as before the first pin" "$(hierarchy)" "$before"
tl_eq "the state directory is empty" "$(ls -A "$KVMCG_STATE_DIR")" ""
tl_eq "nothing was said on stderr" "$(cat "$TL_TMP/err")" ""

# --- a --cgroup-root kvmcg made, two levels deep, goes with its VM ---------------------
"$KVMCG" pin --pid "$a" --vcpu all:0 --cgroup-root "$mount/kvmcg-t-shared-$$/sub" >/dev/null 2>"$TL_TMP/err"
tl_eq "pin under a new --cgroup-root exits 0" "$?" 0
tl_eq "the VM is in it (kernel)" "$(thread_cgroup "$a" "$(vcpu_tid "$a" 0)")" \
	"/kvmcg-t-shared-$$/sub/t-shared-a/vcpu0"
"$KVMCG" unpin --pid "$a" >/dev/null 2>>"$TL_TMP/err"
tl_eq "unpin exits 0" "$?" 0
tl_eq "the --cgroup-root kvmcg made is gone, and what it enabled above" "$(hierarchy)" "$before"
tl_eq "the state directory is empty" "$(ls -A "$KVMCG_STATE_DIR")" ""

# --- only what kvmcg is known to have made, on the way to a VM, is ever taken back ---------
# A run killed after noting its changes and before making them: the directory named
# is someone else's by the time of the unpin (found by a reviewer: it was removed).
other=$mount/kvmcg-t-shared-$$
KVMCG_TEST_RUN_AT=1 KVMCG_TEST_RUN='kill -9 $PPID' "$KVMCG_TEST" pin --pid "$a" --vcpu all:0 \
	--cgroup-root "$other/sub" >/dev/null 2>&1
tl_eq "a pin killed before its first action: killed" "$?" 137
mkdir "$other"
[ "$mode" = v1 ] && cat "$mount/cpuset.cpus" >"$other/cpuset.cpus" && cat "$mount/cpuset.mems" >"$other/cpuset.mems"
"$KVMCG" unpin --pid "$a" >/dev/null 2>"$TL_TMP/err"
tl_eq "its unpin exits 0" "$?" 0
tl_check "a directory of the same name made since by someone else stays" test -d "$other"
rmdir "$other"
tl_eq "the state directory is empty" "$(ls -A "$KVMCG_STATE_DIR")" ""
# A list that names cgroups off the VM's way (a damaged or forged one) moves nothing.
"$KVMCG" pin --pid "$a" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
tl_eq "pin a exits 0" "$?" 0
mkdir "$other"
ino=$(stat -c %i "$other")
jq --arg m "$mount" --arg d "${other#"$mount"/}" --argjson i "$ino" \
	'.changes += [{"mount": $m, "dir": $d, "made": true, "done": true, "inode": $i}]' \
	"$KVMCG_STATE_DIR/shared.json" >"$TL_TMP/forged" 2>/dev/null ||
	jq -n --arg m "$mount" --arg d "${other#"$mount"/}" --argjson i "$ino" \
		'{"version": 1, "changes": [{"mount": $m, "dir": $d, "made": true, "done": true, "inode": $i}]}' >"$TL_TMP/forged"
install -m 0600 "$TL_TMP/forged" "$KVMCG_STATE_DIR/shared.json"
"$KVMCG" unpin --pid "$a" >/dev/null 2>>"$TL_TMP/err"
tl_eq "unpin a exits 0" "$?" 0
tl_check "a cgroup the list names off the VM's way stays" test -d "$other"
tl_check "... and stays listed, untouched" grep -q "kvmcg-t-shared-$$" "$KVMCG_STATE_DIR/shared.json"
rmdir "$other"
rm -f "$KVMCG_STATE_DIR/shared.json" "$KVMCG_STATE_DIR/shared.lock"
tl_eq "the hierarchy is as before" "$(hierarchy)" "$before"

# --- a controller another cgroup relies on meanwhile stays --------------------------------
if [ "$mode" = v2 ] && ! grep -qw cpuset <<<"$before_root"; then
	"$KVMCG" pin --pid "$a" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
	tl_eq "pin a again exits 0" "$?" 0
	other=$mount/t-shared-other-$$
	mkdir "$other" && echo 0 >"$other/cpuset.cpus"
	"$KVMCG" unpin --pid "$a" >/dev/null 2>>"$TL_TMP/err"
	tl_eq "unpin a exits 0" "$?" 0
	tl_check "the root still enables cpuset: another cgroup set its CPUs meanwhile (kernel)" \
		grep -qw cpuset "$mount/cgroup.subtree_control"
	tl_eq "that cgroup keeps its CPUs (kernel)" "$(cat "$other/cpuset.cpus")" 0
	tl_check "still listed for a later run" grep -q '"enabled": "cpuset"' "$KVMCG_STATE_DIR/shared.json"
	rmdir "$other"
	"$KVMCG" pin --pid "$b" --vcpu all:0 >/dev/null 2>>"$TL_TMP/err" &&
		"$KVMCG" unpin --pid "$b" >/dev/null 2>>"$TL_TMP/err"
	tl_eq "pin and unpin b exit 0" "$?" 0
	tl_eq "once nothing else relies on it, the next unpin takes it back" "$(hierarchy)" "$before"
	tl_eq "the state directory is empty" "$(ls -A "$KVMCG_STATE_DIR")" ""
else
	tl_skip "a controller another cgroup relies on meanwhile stays" \
		"$([ "$mode" = v2 ] && echo "the root enabled cpuset before the test" || echo "cgroup v1 has no subtree_control")"
fi
tl_done
