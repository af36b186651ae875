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
tl_eq "apply --dry-run: exit 6, both VMs would change (drift)" "$?" 6
tl_eq "apply --dry-run: both VMs planned" "$(jq -r '[.vms[] | .result] | sort | join(",")' <<<"$out")" "dry-run,dry-run"
tl_eq "apply --dry-run: nothing changed" "$(snapshot_threads "$a")$(snapshot_threads "$b")" "$before_a$before_b"

# --- apply ------------------------------------------------------------------------------------
# A policy with a typo in Name= beside them: it matches no VM, and is named.
printf '[Match]\nName=t-apply-aa\n[CPU]\nVCPUPin=all:0\n' >"$pol"/typo.policy
chmod 0644 "$pol"/typo.policy
"$KVMCG" apply --policy-dir "$pol" >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "apply: exit 0" "$?" 0
tl_eq "apply: one line per VM in virsh's words, as each is done, and the summary" \
	"$(grep '^t-apply-' "$TL_TMP/out" | sort)" \
	"t-apply-a: vCPU 0-1 -> 0, emulator -> $last (applied)
t-apply-b: vCPU 0 -> $last, vCPU 1 -> 0, emulator -> 0 (applied)"
tl_check "apply: the summary counts them and names the policy that matched no VM: $(tail -1 "$TL_TMP/out")" \
	grep -q '^2 applied, 0 unchanged, 0 with settings not carried out, 0 failed; [0-9]* VMs\? matched no policy: [^;]*t-apply-other[^;]*; 1 policy matched no VM: typo.policy$' "$TL_TMP/out"
tl_eq "apply: three lines on stdout, none on stderr" "$(wc -l <"$TL_TMP/out") $(wc -c <"$TL_TMP/err")" "3 0"
out=$("$KVMCG" apply --policy-dir "$pol" --json)
tl_eq "apply --json again: exit 0" "$?" 0
tl_eq "apply: VM a is as a.policy asks" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | "\(.result) \(.policy | split("/") | last)"' <<<"$out")" "unchanged a.policy"
tl_eq "apply: VM b is as b.policy asks (matched by QMP socket)" \
	"$(jq -r --argjson p "$b" '.vms[] | select(.pid == $p) | "\(.result) \(.policy | split("/") | last)"' <<<"$out")" "unchanged b.policy"
tl_eq "apply --json: the summary's counts and the policy that matched no VM" \
	"$(jq -c '.summary | del(.vms_without_policy, .vms_without_policy_named)' <<<"$out")" \
	'{"applied":0,"would_change":0,"unchanged":2,"partial":0,"failed":0,"conflicts":0,"policy_files_refused":0,"settings_not_carried_out":0,"policies_without_vm":["'"$pol"'/typo.policy"]}'
tl_check "apply --json: VMs without a policy counted (t-apply-other at least)" \
	jq -e '.summary.vms_without_policy >= 1' <<<"$out"
tl_eq "apply --json: ... and each named, t-apply-other among them (pid $o)" \
	"$(jq -r --argjson p "$o" '.summary | [(.vms_without_policy_named | length) == .vms_without_policy,
		(.vms_without_policy_named[] | select(.pid == $p) | .name)] | map(tostring) | join(" ")' <<<"$out")" "true t-apply-other"
rm "$pol"/typo.policy
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
"$KVMCG" apply --policy-dir "$pol" --dry-run >"$TL_TMP/out" 2>&1
tl_eq "apply --dry-run, no drift: exit 0" "$?" 0
tl_check "... says nothing would change" grep -q '^nothing would change: 2 VMs are already as their policies ask' "$TL_TMP/out"
"$KVMCG" apply --policy-dir "$pol" -q >"$TL_TMP/out" 2>&1
tl_eq "apply -q: exit 0, nothing printed" "$?:$(cat "$TL_TMP/out")" "0:"
"$KVMCG" apply --policy-dir "$pol" -q --json >/dev/null 2>"$TL_TMP/err"
tl_eq "apply -q --json: a usage error" "$?" 2
# one VM: VMSEL
"$KVMCG" unpin --pid "$b" >/dev/null
"$KVMCG" apply --policy-dir "$pol" --name t-apply-b -v >"$TL_TMP/out" 2>&1
tl_eq "apply --name t-apply-b -v: exit 0" "$?" 0
tl_check "... b applied, said in one line" grep -qx "t-apply-b: vCPU 0 -> $last, vCPU 1 -> 0, emulator -> 0 (applied)" "$TL_TMP/out"
tl_check "... with its actions below it (--verbose)" grep -q '^set-affinity' "$TL_TMP/out"
tl_check "... and a alone is not looked at" sh -c "! grep -q t-apply-a '$TL_TMP/out'"
tl_check "... the summary counts one VM" grep -q '^1 applied, 0 unchanged' "$TL_TMP/out"
"$KVMCG" apply --policy-dir "$pol" --name t-apply-nosuch >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "apply --name of no VM: exit 1, one line on stderr" "$?:$(cat "$TL_TMP/err")" \
	"1:kvmcg: no running VM is named 't-apply-nosuch'"
"$KVMCG" apply --policy-dir "$pol" --name t-apply-other >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "apply --name of a VM no policy matches (a start script's typo): exit 2" "$?" 2
tl_check "... said: $(cat "$TL_TMP/err")" \
	grep -q "^kvmcg: t-apply-other (pid $o): no policy in $pol matches it" "$TL_TMP/err"
tl_eq "... and it is untouched" "$(snapshot_threads "$o")" "$before_o"

# --- a setting kvmcg does not carry out (a [Network] Weight= for a VM that holds no tap): exit 3, said on stderr, counted, every time ---
cp "$pol"/a.policy "$TL_TMP/a.policy.full"
printf '[Network]\nWeight=200\nBridgeInboundAverage=1Gbit\n' >>"$pol"/a.policy
out=$("$KVMCG" apply --policy-dir "$pol" --json 2>"$TL_TMP/err")
tl_eq "not carried out: exit 3" "$?" 3
tl_eq "not carried out: a's result is partial" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | .result' <<<"$out")" partial
tl_check "not carried out: named in the JSON, not dropped" \
	jq -e --argjson p "$a" '.vms[] | select(.pid == $p) | .skipped_settings | map(startswith("[Network]")) | any' <<<"$out"
tl_check "not carried out: stderr names the VM and the setting" \
	grep -q "^kvmcg: t-apply-a (pid $a): not carried out: \[Network\]" "$TL_TMP/err"
tl_eq "not carried out: counted" \
	"$(jq -c '.summary | {applied, unchanged, partial, failed, settings_not_carried_out}' <<<"$out")" \
	'{"applied":0,"unchanged":1,"partial":1,"failed":0,"settings_not_carried_out":1}'
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
v1_cpu=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ { print $2; exit }' /proc/mounts)
if [ "$mode" = v1 ] && [ -z "$v1_cpu" ]; then
	# the field report's own example: cpu.weight on a host whose cpu controller is nowhere
	out=$("$KVMCG" pin --name t-apply-a --vcpu 0:1 --cpu-weight 200 --json 2>"$TL_TMP/err")
	tl_eq "pin --cpu-weight on a v1 host without a cpu hierarchy: exit 3" "$?" 3
	tl_check "pin --cpu-weight on a v1 host without a cpu hierarchy: said on stderr" grep -q "not carried out: \[CPU\] Weight=" "$TL_TMP/err"
	tl_eq "pin --cpu-weight on a v1 host without a cpu hierarchy: the rest was done" "$(allowed "$a" "$a0")" 1
elif [ "$mode" = v1 ]; then
	# a v1 cpu hierarchy carries it: cpu.shares of the VM's cgroup there (t-v1cpu.sh has the rest)
	out=$("$KVMCG" pin --name t-apply-a --vcpu 0:1 --cpu-weight 200 --json 2>"$TL_TMP/err")
	tl_eq "pin --cpu-weight on a v1 host: exit 0, carried out by the v1 cpu hierarchy" "$?" 0
	tl_eq "pin --cpu-weight on a v1 host: cpu.shares 2048 (x 1024 / 100)" \
		"$(cat "$v1_cpu/kvmcg/t-apply-a/cpu.shares" 2>&1)" 2048
	tl_eq "pin --cpu-weight on a v1 host: the rest was done" "$(allowed "$a" "$a0")" 1
else
	tl_skip "pin --cpu-weight on a v1 host: carried out, or exit 3 and said" "the cpu controller is not on cgroup v1 here ($mode)"
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
"$KVMCG" apply --policy-dir "$pol" --dry-run >/dev/null 2>&1
tl_eq "two policies match a, dry run: exit 2, as the real run" "$?" 2
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
# both use CPU 0 and the last one
both=0,$last
[ "$last" = 1 ] && both=0-1
tl_eq "Exclusive conflict: a is told its own policy, b's, and whose says Exclusive=yes" \
	"$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | .message' <<<"$out")" \
	"its policy $pol/a.policy and t-apply-b (pid $b)'s policy $pol/b.policy both pin CPUs $both, and its own says Exclusive=yes; left alone"
tl_eq "Exclusive conflict: b is told its own policy, a's, and whose says it" \
	"$(jq -r --argjson p "$b" '.vms[] | select(.pid == $p) | .message' <<<"$out")" \
	"its policy $pol/b.policy and t-apply-a (pid $a)'s policy $pol/a.policy both pin CPUs $both, and the other says Exclusive=yes; left alone"
tl_eq "Exclusive conflict: neither VM is shown with a cgroup or mode" \
	"$(jq -c '[.vms[] | select(.result == "conflict") | [.vm_cgroup, .mode]]' <<<"$out")" '[[null,null],[null,null]]'
tl_eq "Exclusive conflict: a untouched" "$(snapshot_threads "$a")" "$before_a"
# a third VM on CPU 0 too: a is told of both, not of the last one alone
printf '[Match]\nName=t-apply-other\n[CPU]\nVCPUPin=all:0\n' >"$pol"/o.policy
chmod 0644 "$pol"/o.policy
out=$("$KVMCG" apply --policy-dir "$pol" --json)
tl_eq "Exclusive conflict with two VMs: exit 2" "$?" 2
msg=$(jq -r --argjson p "$a" '.vms[] | select(.pid == $p) | .message' <<<"$out")
tl_check "... a's report names both: $msg" sh -c "grep -q 'pid $b' <<'EOF2'
$msg
EOF2
grep -q 'pid $o' <<'EOF2'
$msg
EOF2"
tl_eq "... and the summary counts three left alone" "$(jq -c '.summary | [.failed, .conflicts]' <<<"$out")" "[3,3]"
tl_eq "... t-apply-other untouched" "$(snapshot_threads "$o")" "$before_o"
rm "$pol"/o.policy
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
