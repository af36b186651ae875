#!/bin/bash
# A hypervisor that is not QEMU (build/mini-vmm: real KVM vCPUs, blocked in KVM_RUN)
# is found through its anon_inode:kvm-vm fd, and its vCPUs through Firecracker-style
# names or, unnamed, through the kvm-fd heuristic. The VMM writes its own truth.
. "$(dirname "$0")/../lib/testlib.sh"

vmm=$KVMCG_BUILD_DIR/mini-vmm
if ! tl_have_kvm; then
	tl_skip "non-QEMU VMM" "needs /dev/kvm (absent in the TCG test guest)"
	tl_done
fi
[ -x "$vmm" ] || {
	tl_fail "non-QEMU VMM: $vmm is not built (make $vmm)"
	tl_done
}

start_vmm() { # names-mode n truthfile
	"$vmm" --names "$1" "$2" "$3" >/dev/null 2>>"$TL_TMP/vmm.err" &
	local pid=$!
	tl_register_pid "$pid"
	for _ in $(seq 100); do
		[ "$(wc -l <"$3" 2>/dev/null)" = "$2" ] &&
			[ "$(cat /proc/"$pid"/task/*/syscall 2>/dev/null | grep -c ' 0xae80 ')" -ge "$2" ] && break
		sleep 0.05
	done
	echo "$pid"
}

for mode in fc none; do
	truth=$TL_TMP/truth-$mode
	pid=$(start_vmm "$mode" 3 "$truth")
	expected_source=names
	[ "$mode" = none ] && expected_source=kvm-fd
	json=$("$KVMCG" show --pid "$pid" --json)
	tl_eq "$mode: found though not QEMU" "$(jq -r '"\(.hypervisor) \(.accel)"' <<<"$json")" "mini-vmm kvm"
	tl_eq "$mode: discovery source" "$(jq -r .discovery <<<"$json")" "$expected_source"
	tl_eq "$mode: vCPU TIDs equal the VMM's own" "$(tl_json_vcpus <<<"$json")" \
		"$(awk '{ print $2, $3 }' "$truth" | sort -n)"
	tl_eq "$mode: listed by kvmcg list" \
		"$("$KVMCG" list --json | jq --argjson p "$pid" '[.vms[] | select(.pid == $p)] | length')" 1
	kill "$pid"
done
tl_done
