#!/bin/bash
# kvmcg numa-balancing against the real /proc/sys/kernel/numa_balancing: read, set off,
# on and memory-tiering, each value read back by the test with cat; refusals (a bad
# mode, a user who is not root, a kernel without the file); and the one warning of
# show, numastat and apply when balancing is on and a VM's memory is bound strict to nodes
# (pin --mems 0 --mem-policy strict on a real QEMU), none when it is off or the VM is
# not bound. The value the kernel had is put back at exit, whatever happens.
# Runs on the host and in the test guest (two nodes).
. "$(dirname "$0")/../lib/testlib.sh"

F=/proc/sys/kernel/numa_balancing

# The mode names are kvmcg's interface (kvmcg(8)), the values the kernel's
# (include/linux/sched/sysctl.h): 0 off, 1 normal, 2 memory tiering, 3 both.
mode_of() {
	case $1 in
	0) echo off ;; 1) echo normal ;; 2) echo memory-tiering ;; 3) echo normal+memory-tiering ;; *) echo unknown ;;
	esac
}

# A captured tree without the file reads as a kernel built without CONFIG_NUMA_BALANCING.
root=$TL_TMP/sysroot
mkdir -p "$root"/proc/sys/kernel "$root"/sys/devices/system/cpu "$root"/sys/devices/system/node
cp /sys/devices/system/cpu/online "$root"/sys/devices/system/cpu/online
echo 0 >"$root"/sys/devices/system/node/online
"$KVMCG" numa-balancing --sysroot "$root" >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "no numa_balancing file (CONFIG_NUMA_BALANCING=n): exit 4" "$?" 4
tl_eq "... one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
tl_check "... that says the kernel has no automatic NUMA balancing" \
	grep -q "no automatic NUMA balancing .*CONFIG_NUMA_BALANCING" "$TL_TMP/err"
tl_eq "... and nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0

if [ ! -e "$F" ]; then
	"$KVMCG" numa-balancing >/dev/null 2>&1
	tl_eq "this kernel has no $F: exit 4" "$?" 4
	tl_skip "numa-balancing read and set" "this kernel ($(uname -r)) has no $F (CONFIG_NUMA_BALANCING=n)"
	tl_done
fi

orig=$(cat "$F")
# Put back what the kernel had, at any exit (testlib's EXIT trap runs these).
tl_on_exit "echo $orig >$F"
nodes=$(tl_cpulist_expand "$(cat /sys/devices/system/node/online)" | wc -w)
echo "# $F was $orig; $nodes NUMA node(s); kernel $(uname -r)"

# --- reading -------------------------------------------------------------------------------
out=$("$KVMCG" numa-balancing --json)
tl_eq "read: exit 0" "$?" 0
tl_eq "read --json: numa_balancing is what cat reads" "$(jq .numa_balancing <<<"$out")" "$orig"
tl_eq "read --json: mode names it" "$(jq -r .mode <<<"$out")" "$(mode_of "$orig")"
tl_eq "read --json: numa_nodes is the host's" "$(jq .numa_nodes <<<"$out")" "$nodes"
tl_check "read (text): says kernel.numa_balancing = $orig" \
	grep -q "^numa balancing: .*, kernel.numa_balancing = $orig" <<<"$("$KVMCG" numa-balancing)"

# --- setting -------------------------------------------------------------------------------
out=$("$KVMCG" numa-balancing off --json)
tl_eq "set off: exit 0" "$?" 0
tl_eq "set off: cat reads 0" "$(cat "$F")" 0
tl_eq "set off --json: before is what was there" "$(jq .before.numa_balancing <<<"$out")" "$orig"
tl_eq "set off --json: after" "$(jq -c '[.numa_balancing, .mode]' <<<"$out")" '[0,"off"]'

out=$("$KVMCG" numa-balancing on)
tl_eq "set on: exit 0" "$?" 0
tl_eq "set on: cat reads 1" "$(cat "$F")" 1
tl_check "set on (text): before -> after" \
	grep -q "^numa balancing: off -> on (normal), kernel.numa_balancing 0 -> 1" <<<"$out"
out=$("$KVMCG" numa-balancing normal --json)
tl_eq "set normal when on: unchanged, exit 0" "$?" 0
tl_eq "... --json says so" "$(jq -c '[.changed, .numa_balancing, .before.numa_balancing]' <<<"$out")" '[false,1,1]'
tl_eq "... cat still reads 1" "$(cat "$F")" 1
"$KVMCG" numa-balancing 0 >/dev/null
tl_eq "set 0: cat reads 0" "$(cat "$F")" 0

# Memory tiering (2) is a value the kernel takes from Linux 5.18 on.
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
if [ "$kmaj" -gt 5 ] || { [ "$kmaj" -eq 5 ] && [ "${kmin%%[!0-9]*}" -ge 18 ]; }; then
	out=$("$KVMCG" numa-balancing memory-tiering --json)
	tl_eq "set memory-tiering (Linux 5.18+): exit 0" "$?" 0
	tl_eq "... cat reads 2" "$(cat "$F")" 2
	tl_eq "... --json mode" "$(jq -r .mode <<<"$out")" memory-tiering
	"$KVMCG" numa-balancing 3 >/dev/null
	tl_eq "set 3: cat reads 3" "$(cat "$F")" 3
	tl_eq "read 3: normal+memory-tiering" "$("$KVMCG" numa-balancing --json | jq -r .mode)" normal+memory-tiering
	"$KVMCG" numa-balancing off >/dev/null
else
	"$KVMCG" numa-balancing memory-tiering >/dev/null 2>"$TL_TMP/err"
	tl_eq "set memory-tiering before Linux 5.18: exit 4" "$?" 4
	tl_check "... says it needs 5.18" grep -q "5.18" "$TL_TMP/err"
fi
tl_eq "back off: cat reads 0" "$(cat "$F")" 0

# --- refusals: one line each, the value untouched ------------------------------------------
for bad in 4 yes ON -1 ""; do
	"$KVMCG" numa-balancing "$bad" >"$TL_TMP/out" 2>"$TL_TMP/err"
	tl_eq "mode '$bad': exit 2" "$?" 2
	tl_eq "... one line on stderr, nothing on stdout" "$(wc -l <"$TL_TMP/err") $(wc -c <"$TL_TMP/out")" "1 0"
done
"$KVMCG" numa-balancing on off >/dev/null 2>&1
tl_eq "two modes: exit 2" "$?" 2
"$KVMCG" numa-balancing on --sysroot "$root" >/dev/null 2>&1
tl_eq "set with --sysroot: exit 2" "$?" 2
tl_eq "the refusals left it off" "$(cat "$F")" 0

if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMCG" numa-balancing on >"$TL_TMP/out" 2>"$TL_TMP/err"
	tl_eq "set as uid 65534: exit 1" "$?" 1
	tl_eq "... one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
	tl_check "... that says it needs root" grep -q "^kvmcg: numa-balancing: .*needs root" "$TL_TMP/err"
	tl_eq "... and cat still reads 0" "$(cat "$F")" 0
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMCG" numa-balancing --json)
	tl_eq "read as uid 65534: works" "$(jq .numa_balancing <<<"$out")" 0
else
	tl_skip "set as another user" "setpriv (util-linux) is not installed"
fi

# --- the warning ---------------------------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "the warning of show, numastat, apply" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "the warning of show, numastat, apply" "no usable cpuset controller here: --mems needs one"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state

bound=$(tl_qemu bound -smp 1 -name t-nb-bound -qmp unix:"$TL_TMP"/bound.qmp,server=on,wait=off)
free=$(tl_qemu free -smp 1 -name t-nb-free -qmp unix:"$TL_TMP"/free.qmp,server=on,wait=off)
tl_settle "$bound" 1
tl_settle "$free" 1
"$KVMCG" pin --pid "$bound" --mems 0 --mem-policy strict >/dev/null 2>"$TL_TMP/err"
tl_eq "pin --mems 0 --mem-policy strict: exit 0" "$?" 0
pol=$TL_TMP/policies
mkdir -m 0755 "$pol"
printf '[Match]\nName=t-nb-bound\n[Memory]\nNodes=0\nPolicy=strict\n' >"$pol"/bound.policy
chmod 0644 "$pol"/bound.policy

WARNING="warning: automatic NUMA balancing is on"
# warnings CMD...: how many times the command's stderr warns (its stdout is kept).
warnings() {
	"$KVMCG" "$@" >"$TL_TMP/stdout" 2>"$TL_TMP/stderr"
	echo "$?" >"$TL_TMP/status"
	grep -c "$WARNING" "$TL_TMP/stderr"
}
runs=(
	"show --pid $bound"
	"show --pid $bound --json"
	"numastat --pid $bound"
	"numastat"
	"apply --policy-dir $pol"
	"apply --policy-dir $pol --dry-run"
)

"$KVMCG" numa-balancing on >/dev/null
tl_eq "balancing on for the warnings: cat reads 1" "$(cat "$F")" 1
for run in "${runs[@]}"; do
	# shellcheck disable=SC2086
	tl_eq "on, VM bound to node 0: kvmcg $run warns exactly once" "$(warnings $run)" 1 ||
		sed "s/^/#   exit $(cat "$TL_TMP/status"), stderr: /" "$TL_TMP/stderr"
done
warnings show --pid "$bound" --json >/dev/null
tl_check "the warning names the VM and its node" \
	grep -q "$WARNING (kernel.numa_balancing = 1, normal) while VM $bound (t-nb-bound) has its memory bound strict to node 0" \
	"$TL_TMP/stderr"
tl_check "show --json: stdout stays one JSON document" jq -e ".pid == $bound" "$TL_TMP/stdout"
tl_eq "on, a VM kvmcg has not bound: show warns not" "$(warnings show --pid "$free")" 0
tl_eq "on, that VM: numastat warns not" "$(warnings numastat --pid "$free")" 0
"$KVMCG" pin --pid "$free" --mems 0 --mem-policy restrictive >/dev/null 2>&1
tl_eq "on, a VM held restrictive (balancing may still move it): show warns not" "$(warnings show --pid "$free")" 0
"$KVMCG" unpin --pid "$free" >/dev/null 2>&1

"$KVMCG" numa-balancing off >/dev/null
tl_eq "balancing off again: cat reads 0" "$(cat "$F")" 0
for run in "${runs[@]}"; do
	# shellcheck disable=SC2086
	tl_eq "off: kvmcg $run warns not" "$(warnings $run)" 0
done

"$KVMCG" unpin --pid "$bound" >/dev/null
tl_eq "unpin: exit 0" "$?" 0
tl_done
