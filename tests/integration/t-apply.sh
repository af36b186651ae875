#!/bin/bash
# Policy files against real QEMUs: kvmcg check on the shipped examples, kvmcg apply
# with one policy per VM (verified through /proc and cgroupfs), idempotence,
# dry runs, a VM matched twice, Exclusive= conflicts, untrusted files, and
# pin --policy. Runs on the host and in the test guest.
. "$(dirname "$0")/../lib/testlib.sh"

# --- the shipped examples are valid --------------------------------------------------
examples=("$TL_ROOT"/policies/*.policy)
if [ -e "${examples[0]}" ]; then
	out=$("$KVMCG" check "${examples[@]}")
	tl_eq "kvmcg check policies/*.policy: exit 0" "$?" 0
	tl_check "kvmcg check policies/*.policy: no errors" grep -q ' 0 errors' <<<"$out"
else
	tl_fail "policies/ has no example .policy files"
fi

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "apply" "qemu-system-x86_64 is not installed"
	tl_done
}
export KVMCG_STATE_DIR=$TL_TMP/state
tl_detect_cgroups
last=$((ncpu - 1))

a=$(tl_qemu a -smp 2 -name t-apply-a -qmp unix:"$TL_TMP"/a.qmp,server=on,wait=off)
b=$(tl_qemu b -smp 2 -name t-apply-b -qmp unix:"$TL_TMP"/b.qmp,server=on,wait=off)
o=$(tl_qemu o -smp 1 -name t-apply-other -qmp unix:"$TL_TMP"/o.qmp,server=on,wait=off)
tl_settle "$a" 2
tl_settle "$b" 2
# Threads alone (snapshot_threads): the root cgroup's subtree_control is shared by the
# VMs this script pins, so it is not one VM's to compare.
before_a=$(snapshot_threads "$a")
before_b=$(snapshot_threads "$b")
before_o=$(snapshot_threads "$o")

pol=$TL_TMP/policies
mkdir -m 0755 "$pol"
# A by its name, B by its QMP socket.
cat >"$pol"/a.policy <<EOF
# VM a: every vCPU on CPU 0, the emulator on the last CPU
[Match]
Name=t-apply-a
[CPU]
VCPUPin=all:0
EmulatorPin=$last
EOF
cat >"$pol"/b.policy <<EOF
[Match]
QMP=$TL_TMP/b.qmp
[CPU]
VCPUPin=0:$last 1:0
EmulatorPin=0
EOF
chmod 0644 "$pol"/*.policy

vcpu_tid() { "$KVMCG" show --pid "$1" --json | jq -r --argjson i "$2" '.threads[] | select(.kind == "vcpu" and .index == $i) | .tid'; }
a0=$(vcpu_tid "$a" 0) a1=$(vcpu_tid "$a" 1) b0=$(vcpu_tid "$b" 0) b1=$(vcpu_tid "$b" 1)

# --- dry run -------------------------------------------------------------------------------
out=$("$KVMCG" apply --policy-dir "$pol" --dry-run --json)
tl_eq "apply --dry-run: exit 0" "$?" 0
tl_eq "apply --dry-run: both VMs planned" "$(jq -r '[.vms[] | .result] | sort | join(",")' <<<"$out")" "dry-run,dry-run"
tl_eq "apply --dry-run: nothing changed" "$(snapshot_threads "$a")$(snapshot_threads "$b")" "$before_a$before_b"

# --- apply ------------------------------------------------------------------------------------
out=$("$KVMCG" apply --policy-dir "$pol" --json)
tl_eq "apply: exit 0" "$?" 0
tl_eq "apply: VM a applied from a.policy" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | "\(.result) \(.policy | split("/") | last)"' <<<"$out")" "applied a.policy"
tl_eq "apply: VM b applied from b.policy (matched by QMP socket)" \
	"$(jq -r --argjson p "$b" '.vms[] | select(.pid == $p) | "\(.result) \(.policy | split("/") | last)"' <<<"$out")" "applied b.policy"
tl_eq "apply: the VM no policy matches is not listed" \
	"$(jq --argjson p "$o" '[.vms[] | select(.pid == $p)] | length' <<<"$out")" 0
tl_eq "apply: ... and untouched" "$(snapshot_threads "$o")" "$before_o"
tl_eq "apply: a's vCPU 0 on CPU 0 (kernel)" "$(allowed "$a" "$a0")" 0
tl_eq "apply: a's vCPU 1 on CPU 0 (kernel)" "$(allowed "$a" "$a1")" 0
tl_eq "apply: a's main thread on CPU $last (kernel)" "$(allowed "$a" "$a")" "$last"
tl_eq "apply: b's vCPU 0 on CPU $last (kernel)" "$(allowed "$b" "$b0")" "$last"
tl_eq "apply: b's vCPU 1 on CPU 0 (kernel)" "$(allowed "$b" "$b1")" 0
if [ "$mode" != affinity ]; then
	tl_eq "apply: a's vCPU 0 in its cgroup" "$(thread_cgroup "$a" "$a0")" /kvmcg/t-apply-a/vcpu0
	tl_eq "apply: b's vCPU 1 in its cgroup" "$(thread_cgroup "$b" "$b1")" /kvmcg/t-apply-b/vcpu1
	tl_eq "apply: b's vcpu0 cpuset.cpus" "$(cat "$mount"/kvmcg/t-apply-b/vcpu0/cpuset.cpus)" "$last"
else
	tl_skip "apply: each VM's vCPUs in its cgroups" "affinity mode (no usable cpuset controller): kvmcg makes no cgroups"
fi

# --- twice: nothing changes, and it says so -------------------------------------------------------
pinned=$(snapshot "$a")$(snapshot "$b")
out=$("$KVMCG" apply --policy-dir "$pol")
tl_eq "apply again: exit 0" "$?" 0
tl_check "apply again: says nothing changed" grep -q '^nothing changed' <<<"$out"
tl_eq "apply again: nothing changed in the kernel" "$(snapshot "$a")$(snapshot "$b")" "$pinned"

# --- a setting kvmcg does not carry out ([Network] for now): exit 3, said on stderr, counted, every time ---
cp "$pol"/a.policy "$TL_TMP/a.policy.full"
printf '[Network]\nInboundAverage=100Mbit\n' >>"$pol"/a.policy
out=$("$KVMCG" apply --policy-dir "$pol" --json 2>"$TL_TMP/err")
tl_eq "not carried out: exit 3" "$?" 3
tl_eq "not carried out: a's result is partial" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | .result' <<<"$out")" partial
tl_check "not carried out: named in the JSON, not dropped" \
	jq -e --argjson p "$a" '.vms[] | select(.pid == $p) | .skipped_settings | map(startswith("[Network]")) | any' <<<"$out"
tl_check "not carried out: stderr names the VM and the setting" \
	grep -q "^kvmcg: t-apply-a (pid $a): not carried out: \[Network\]" "$TL_TMP/err"
tl_eq "not carried out: counted" "$(jq -c '.counts | del(.without_policy)' <<<"$out")" \
	'{"applied":0,"unchanged":1,"partial":1,"failed":0}'
out=$("$KVMCG" apply --policy-dir "$pol" 2>/dev/null)
tl_eq "not carried out, again: still exit 3" "$?" 3
tl_check "not carried out, again: never 'nothing changed'" sh -c "! grep -q '^nothing changed' <<'EOF2'
$out
EOF2"
tl_check "not carried out, again: the summary counts it" grep -q '1 with settings not carried out' <<<"$out"
# a refused file beside it: the file is the admin's to fix, exit 2 (not 3)
printf '[Match]\nName=nothing-here\n' >"$pol"/z-writable.policy
chmod 0666 "$pol"/z-writable.policy
"$KVMCG" apply --policy-dir "$pol" >/dev/null 2>"$TL_TMP/err"
tl_eq "not carried out, and a refused policy file: exit 2" "$?" 2
tl_check "... says which file" grep -q "refusing policy file.*z-writable.policy" "$TL_TMP/err"
rm "$pol"/z-writable.policy
"$KVMCG" apply --policy-dir "$pol" --dry-run >/dev/null 2>"$TL_TMP/err"
tl_eq "not carried out, dry run: exit 3 too" "$?" 3
tl_check "not carried out, dry run: says it would not be carried out" \
	grep -q "would not be carried out: \[Network\]" "$TL_TMP/err"
if [ "$mode" = v1 ]; then
	# the field report's own example: cpu.weight on a host whose cpu controller is v1
	out=$("$KVMCG" pin --name t-apply-a --vcpu 0:1 --cpu-weight 200 --json 2>"$TL_TMP/err")
	tl_eq "pin --cpu-weight on a v1 host: exit 3" "$?" 3
	tl_check "pin --cpu-weight on a v1 host: said on stderr" grep -q "not carried out: \[CPU\] Weight=" "$TL_TMP/err"
	tl_eq "pin --cpu-weight on a v1 host: the rest was done" "$(allowed "$a" "$a0")" 1
else
	tl_skip "pin --cpu-weight on a v1 host: exit 3, said, the rest done" "the cpu controller is not on cgroup v1 here ($mode)"
fi
cp "$TL_TMP/a.policy.full" "$pol"/a.policy
"$KVMCG" apply --policy-dir "$pol" >/dev/null
tl_eq "fully carried out again: exit 0" "$?" 0

# --- a VM two policies match is left alone; the others are applied ---------------------------------
"$KVMCG" unpin --pid "$a" >/dev/null
cat >"$pol"/c.policy <<EOF
[Match]
Cmdline=*-name t-apply-a *
[CPU]
VCPUPin=all:$last
EOF
chmod 0644 "$pol"/c.policy
out=$("$KVMCG" apply --policy-dir "$pol" --json)
tl_eq "two policies match a: exit 2" "$?" 2
tl_check "two policies match a: both files named" \
	jq -e --argjson p "$a" '.vms[] | select(.pid == $p) | .message | test("a.policy") and test("c.policy")' <<<"$out"
tl_eq "two policies match a: a untouched" "$(snapshot_threads "$a")" "$before_a"
tl_eq "two policies match a: b still as its policy asks" \
	"$(jq -r --argjson p "$b" '.vms[] | select(.pid == $p) | .result' <<<"$out")" unchanged
rm "$pol"/c.policy

# --- Exclusive=yes: a conflict is found before anything is written -----------------------------------
sed -i 's/^VCPUPin=all:0$/VCPUPin=all:0\nExclusive=yes/' "$pol"/a.policy
out=$("$KVMCG" apply --policy-dir "$pol" --json)
tl_eq "Exclusive conflict: exit 2" "$?" 2
tl_check "Exclusive conflict: a's report names b" \
	jq -e --argjson p "$a" --argjson q "$b" '.vms[] | select(.pid == $p) | .result == "conflict" and (.message | test("pid \($q)"))' <<<"$out"
tl_eq "Exclusive conflict: a untouched" "$(snapshot_threads "$a")" "$before_a"
sed -i '/^Exclusive=yes$/d' "$pol"/a.policy

# --- untrusted files are refused --------------------------------------------------------------------
chmod 0666 "$pol"/a.policy
"$KVMCG" apply --policy-dir "$pol" >/dev/null 2>"$TL_TMP/err"
tl_eq "world-writable policy: exit 2" "$?" 2
tl_check "world-writable policy: says why" grep -q "refusing policy file.*writable by others" "$TL_TMP/err"
tl_eq "world-writable policy: its VM untouched" "$(snapshot_threads "$a")" "$before_a"
chmod 0644 "$pol"/a.policy
chmod 0777 "$pol"
"$KVMCG" apply --policy-dir "$pol" >/dev/null 2>"$TL_TMP/err"
tl_eq "world-writable policy directory: exit 2" "$?" 2
tl_check "world-writable policy directory: says why" grep -q "refusing the policy directory" "$TL_TMP/err"
chmod 0755 "$pol"

# --- pin --policy: one file, one VM, [Match] not consulted; --vcpu on top wins ---------------------
out=$("$KVMCG" pin --pid "$a" --policy "$pol"/b.policy --vcpu 1:"$last" --json)
tl_eq "pin --policy: exit 0" "$?" 0
tl_eq "pin --policy: the file's pin for vCPU 0" "$(allowed "$a" "$a0")" "$last"
tl_eq "pin --policy: --vcpu given after it wins for vCPU 1" "$(allowed "$a" "$a1")" "$last"
printf '[CPU]\nVCPUPin=0:%s\nWeight=99999\n' "$last" >"$pol"/broken.policy
chmod 0644 "$pol"/broken.policy
"$KVMCG" pin --pid "$b" --policy "$pol"/broken.policy >/dev/null 2>"$TL_TMP/err"
tl_eq "pin --policy with an invalid file: exit 2" "$?" 2
tl_check "pin --policy with an invalid file: file:line:col" grep -q "broken.policy:3:8: error: Weight=" "$TL_TMP/err"

for p in "$a" "$b"; do "$KVMCG" unpin --pid "$p" >/dev/null; done
tl_eq "unpin after apply restores a" "$(snapshot_threads "$a")" "$before_a"
tl_eq "unpin after apply restores b" "$(snapshot_threads "$b")" "$before_b"
tl_done
