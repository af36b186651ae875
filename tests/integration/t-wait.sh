#!/bin/bash
# --wait: a VM that is still starting, as an init script starts one (`qemu ... &`, then
# kvmcg at once). Checked against a real QEMU started in the background right before
# kvmcg: by its -pidfile (not written yet when kvmcg starts), by $!, and by --name
# (show started before the QEMU); the vCPUs' affinity read from /proc. A pidfile that
# never comes: exit 5 after the deadline, saying what was missing; a --pid that names
# no process: the usual error at once, not after the deadline; --wait without a VM,
# or with a bad value: exit 2.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools qemu-system-x86_64
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"

# start NAME [QEMU ARGS...]: a QEMU in the background, as `qemu ... &`; its pid
start() {
	local name=$1
	shift
	local accel=(-accel tcg)
	tl_have_kvm && accel=(-accel kvm -cpu qemu64)
	qemu-system-x86_64 "${accel[@]}" -m 64 -display none -nodefaults -no-user-config -bios "$(tl_halt_bios)" \
		-smp 2 -name "$name,debug-threads=on" "$@" >/dev/null 2>"$TL_TMP/$name.err" &
	local pid=$!
	tl_register_pid "$pid"
	echo "$pid"
}
# the CPUs of each vCPU thread, "0 0" when both are on CPU 0
vcpus_on() {
	local pid=$1 t out=()
	for t in /proc/"$pid"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in
		"CPU "*) out+=("$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status")") ;;
		esac
	done
	echo "${out[*]}"
}

# --- by its pidfile, not there yet --------------------------------------------------------
pidfile=$TL_TMP/vm1.pid
pid=$(start t-wait1 -pidfile "$pidfile")
"$KVMCG" pin --pidfile "$pidfile" --wait=30 --vcpu all:0 >"$TL_TMP/out" 2>&1
tl_eq "qemu -pidfile F & kvmcg pin --pidfile F --wait at once: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
tl_eq "... both vCPUs pinned to CPU 0 (/proc)" "$(vcpus_on "$pid")" "0 0"
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
kill "$pid"

# --- by $! --------------------------------------------------------------------------------
pid=$(start t-wait2)
"$KVMCG" pin --pid "$pid" --wait=30 --vcpu all:0 >"$TL_TMP/out" 2>&1
tl_eq "qemu & kvmcg pin --pid \$! --wait at once: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
tl_eq "... both vCPUs pinned to CPU 0 (/proc)" "$(vcpus_on "$pid")" "0 0"
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
kill "$pid"

# --- by name, asked before the VM starts --------------------------------------------------
"$KVMCG" show --name "t-wait3-$$" --wait=30 --json >"$TL_TMP/show.json" 2>"$TL_TMP/show.err" &
show=$!
sleep 0.3
pid=$(start "t-wait3-$$")
wait "$show"
tl_eq "show --name N --wait, the VM started after it: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/show.err"
tl_eq "... it shows that VM" "$(jq -r '.pid // .[0].pid // empty' "$TL_TMP/show.json" 2>/dev/null)" "$pid"
kill "$pid"

# --- apply to one VM, as its start script would: the other VM its policies match stays --
mkdir "$TL_TMP/policies"
printf '[Match]\nName=t-wait4-%s\n[CPU]\nVCPUPin=all:0\n' $$ >"$TL_TMP/policies/a.policy"
printf '[Match]\nName=t-wait5-%s\n[CPU]\nVCPUPin=all:0\n' $$ >"$TL_TMP/policies/b.policy"
other=$(start "t-wait5-$$")
tl_settle "$other" 2 || true
other_before=$(vcpus_on "$other")
pid=$(start "t-wait4-$$" -pidfile "$TL_TMP/vm4.pid")
"$KVMCG" apply --policy-dir "$TL_TMP/policies" --pidfile "$TL_TMP/vm4.pid" --wait=30 >"$TL_TMP/out" 2>&1
tl_eq "apply --pidfile F --wait, the VM starting: exit 0" "$?" 0 || sed 's/^/#   /' "$TL_TMP/out"
tl_eq "... its vCPUs pinned to CPU 0, the other VM's as they were" "$(vcpus_on "$pid") / $(vcpus_on "$other")" \
	"0 0 / $other_before"
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
kill "$pid" "$other"

# --- what is not coming -------------------------------------------------------------------
start_s=$SECONDS
"$KVMCG" pin --pidfile "$TL_TMP/never.pid" --wait=1 --vcpu all:0 >"$TL_TMP/out" 2>&1
rc=$?
took=$((SECONDS - start_s))
tl_eq "a pidfile that never comes, --wait=1: exit 5 (not ready)" "$rc" 5
tl_check "... saying what was missing: $(head -1 "$TL_TMP/out")" \
	grep -q "not ready after 1.000 s: cannot read pidfile $TL_TMP/never.pid: No such file or directory" "$TL_TMP/out"
tl_check "... after about a second ($took s)" test "$took" -le 3
true &
dead=$!
wait "$dead"
start_s=$SECONDS
"$KVMCG" pin --pid "$dead" --wait=30 --vcpu all:0 >"$TL_TMP/out" 2>&1
rc=$?
tl_eq "a --pid that names no process, --wait=30: exit 1 at once ($((SECONDS - start_s)) s), not after the deadline" \
	"$rc:$([ $((SECONDS - start_s)) -le 2 ] && echo soon)" "1:soon"
tl_check "... with the usual words" grep -q "pid $dead: no such process" "$TL_TMP/out"
# a TCG QEMU with neither a monitor nor thread names: nothing will ever tell its vCPUs
# apart, so --wait does not wait for it
blind=$(TL_QEMU_ACCEL=tcg tl_qemu blind -smp 2 -name t-wait-blind)
start_s=$SECONDS
"$KVMCG" pin --pid "$blind" --wait=30 --vcpu all:0 >"$TL_TMP/out" 2>&1
rc=$?
tl_eq "a TCG VM with no monitor and no thread names, --wait=30: exit 1 at once ($((SECONDS - start_s)) s)" \
	"$rc:$([ $((SECONDS - start_s)) -le 3 ] && echo soon)" "1:soon"
tl_check "... saying why and what to do: $(head -1 "$TL_TMP/out")" \
	grep -q "its vCPUs cannot be told apart: give kvmcg a QMP socket (--qmp) or run QEMU with -name debug-threads=on" "$TL_TMP/out"
"$KVMCG" show --wait >"$TL_TMP/out" 2>&1
tl_eq "show --wait without a VM selected: exit 2" "$?" 2
"$KVMCG" show --pid 1 --wait=soon >"$TL_TMP/out" 2>&1
tl_eq "--wait=soon: exit 2" "$?:$(grep -c "not a number of seconds" "$TL_TMP/out")" "2:1"
tl_done
