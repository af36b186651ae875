#!/bin/bash
# kvmcg run: QEMU started already placed. Every check reads the kernel itself
# (/proc/PID/task/*/status, the threads' cgroups, numa_maps, /proc/vmstat) and QEMU
# itself (its own QMP socket, with socat): never kvmcg's own account. On the host
# the cgroups are whatever it has (cgroup v1's cpuset on a hybrid host); in the test
# guest pure v2 and two NUMA nodes, where the memory policies are shown.
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools run qemu-system-x86_64 socat jq awk numactl
tl_detect_cgroups
if [ "$mode" = affinity ]; then
	tl_skip "run" "no usable cpuset controller here: run places QEMU in cgroups"
	tl_done
fi
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"

nodes_online=$(cat /sys/devices/system/node/online)
n_nodes=$(tl_cpulist_expand "$nodes_online" | wc -w)
last_cpu=$((ncpu - 1))
vm_dir() { echo "${mount%/}/kvmcg/$1"; }
# The QEMU of a run in the foreground: kvmcg's child (its only one).
qemu_of() { pgrep -P "$1" | head -1; }
# A QEMU by its -name, when it is one (not kvmcg, whose command line holds the same).
qemu_named() { pgrep -x qemu-system-x86 -f | while read -r p; do
	tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | grep -q -- "-name guest=$1" && echo "$p"; done | head -1; }
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
	local n=$(($1 * 20))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
sock_up() { [ -S "$1" ] && tl_qmp "$1" query-status >/dev/null 2>&1; }
status_of() { tl_qmp "$1" query-status | jq -r .status; }
# Every vCPU of QEMU, from its own QMP, has exactly CPUS and sits in vcpuN below the
# VM's directory: "ok" or what differs.
vcpus_placed() { # SOCKET PID NAME CPUS
	local idx tid out='' want
	want=$(tl_cpulist_expand "$4")
	while read -r idx tid; do
		[ "$(allowed "$2" "$tid")" = "$want" ] || out+="vCPU $idx has $(allowed "$2" "$tid"); "
		[ "$(thread_cgroup "$2" "$tid")" = "/kvmcg/$3/vcpu$idx" ] ||
			out+="vCPU $idx in $(thread_cgroup "$2" "$tid"); "
	done < <(tl_qmp_vcpus "$1")
	echo "${out:-ok}"
}
QEMU_ARGS=(-accel tcg -m 64 -smp 2 -display none -nodefaults -no-user-config -bios "$(tl_halt_bios)")

# --- --dry-run: the command line with what run adds, the plan; nothing starts -----
out=$("$KVMCG" run --dry-run --vcpu 0:0 --emulator "$last_cpu" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" \
	-name guest=t-dry 2>"$TL_TMP/err")
rc=$?
tl_eq "run --dry-run: exit 0 ($(head -c 200 "$TL_TMP/err"))" "$rc" 0
tl_check "... prints the command with -S and a private monitor added: $(grep '^command:' <<<"$out" | head -c 300)" \
	grep -q '^command: qemu-system-x86_64 -S .*-qmp unix:.*/qmp.sock' <<<"$out"
tl_check "... and the plan: the emulator's cgroup before QEMU executes" grep -q 'kvmcg/t-dry/emulator' <<<"$out"
tl_check "... starts no QEMU" test -z "$(qemu_named t-dry)"
tl_check "... makes no cgroup" test ! -e "$(vm_dir t-dry)"
json=$("$KVMCG" run --dry-run --json -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name 'guest=t dry' 2>/dev/null)
tl_check "run --dry-run --json: the command as an array, -S right after the binary" \
	jq -e '.command[0] == "qemu-system-x86_64" and .command[1] == "-S" and (.command | index(["-name", "guest=t dry"]) != null)' <<<"$json"
tl_eq "... two additions, said" "$(jq '.added | length' <<<"$json")" 2
qline=$("$KVMCG" run --dry-run -- qemu-system-x86_64 -name 'guest=t dry' -S 2>/dev/null | sed -n 's/^command: //p')
eval "words=($qline)"
tl_eq "... the text command is shell-quoted (it reads back as the same words)" "${words[2]}" "guest=t dry"
tl_check "... an -S the user gave is not added again" test "$(grep -o -- ' -S' <<<"$qline" | wc -l)" = 1

# --- the user's -S: placed while paused, and left paused ---------------------------
usock=$TL_TMP/u1.qmp
"$KVMCG" run --vcpu all:0 --emulator "$last_cpu" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" \
	-S -name guest=t-paused,debug-threads=on -qmp unix:"$usock",server=on,wait=off >"$TL_TMP/o1" 2>"$TL_TMP/e1" &
kpid=$!
tl_register_pid "$kpid"
if wait_for 30 sock_up "$usock" && wait_for 30 grep -q 'placed before the guest ran' "$TL_TMP/e1"; then
	qpid=$(qemu_of "$kpid")
	tl_register_pid "$qpid"
	tl_eq "QEMU's own QMP lists the 2 vCPUs of -smp 2" "$(tl_qmp_vcpus "$usock" | wc -l)" 2
	tl_eq "while the guest is paused (QEMU says $(status_of "$usock"))" "$(status_of "$usock")" prelaunch
	tl_eq "... vCPU 0 and 1 already have their CPUs and cgroups" "$(vcpus_placed "$usock" "$qpid" t-paused 0)" ok
	tl_eq "... the emulator's thread has its CPUs" "$(allowed "$qpid" "$qpid")" "$last_cpu"
	tl_eq "... in the emulator's cgroup" "$(thread_cgroup "$qpid" "$qpid")" /kvmcg/t-paused/emulator
	tl_check "... and run said it added only its monitor (the user's -S was there): $(grep -c 'added to' "$TL_TMP/e1")" \
		test "$(grep -c 'added to QEMU' "$TL_TMP/e1")" = 1
	tl_eq "show: launched by kvmcg" "$("$KVMCG" show --pid "$qpid" --json | jq -r .kvmcg.launched)" true
	tl_eq "list: the LAUNCHED column" "$("$KVMCG" list -o PID,LAUNCHED -n | awk -v p="$qpid" '$1 == p { print $2 }')" yes
	tl_qmp "$usock" cont >/dev/null
	tl_eq "the user's cont runs it" "$(status_of "$usock")" running
	# SIGINT to kvmcg reaches QEMU, which names the sender
	kill -INT "$kpid"
	wait "$kpid"
	rc=$?
	tl_check "SIGINT to kvmcg is forwarded: QEMU says $(grep -o 'terminating on signal.*' "$TL_TMP/e1")" \
		grep -q "terminating on signal 2 from pid $kpid" "$TL_TMP/e1"
	tl_eq "... and run exits with QEMU's status (QEMU exits 0 on SIGINT)" "$rc" 0
	tl_check "... QEMU is gone" wait_for 5 sh -c "! kill -0 $qpid 2>/dev/null"
	tl_check "... its cgroups are removed" test ! -e "$(vm_dir t-paused)"
	tl_eq "... and its record" "$(ls "$KVMCG_STATE_DIR" | grep -c '\.state$')" 0
	tl_eq "... and run's private monitor's directory" "$(ls "$KVMCG_STATE_DIR/launch" 2>/dev/null | wc -l)" 0
else
	tl_fail "run with the user's -S starts and places QEMU: $(tail -3 "$TL_TMP/e1")"
fi

# --- run's own -S: no sample shows the guest running unpinned ------------------------
usock=$TL_TMP/u2.qmp
"$KVMCG" run --vcpu all:0 --emulator "$last_cpu" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" \
	-name guest=t-cont,debug-threads=on -qmp unix:"$usock",server=on,wait=off >"$TL_TMP/o2" 2>"$TL_TMP/e2" &
kpid=$!
tl_register_pid "$kpid"
samples=0 bad=0 seen_paused=0
if wait_for 30 sock_up "$usock"; then
	qpid=$(qemu_of "$kpid")
	tl_register_pid "$qpid"
	for _ in $(seq 400); do
		st=$(status_of "$usock")
		placed=$(vcpus_placed "$usock" "$qpid" t-cont 0)
		samples=$((samples + 1))
		[ "$st" = prelaunch ] && seen_paused=$((seen_paused + 1))
		[ "$st" = running ] && [ "$placed" != ok ] && bad=$((bad + 1))
		[ "$st" = running ] && [ "$placed" = ok ] && break
	done
	tl_eq "run's -S: in $samples samples of QEMU's status and its vCPUs ($seen_paused paused), none running unpinned" "$bad" 0
	tl_eq "... the guest runs once placed (run sent cont)" "$(status_of "$usock")" running
	tl_eq "... with every vCPU placed" "$(vcpus_placed "$usock" "$qpid" t-cont 0)" ok
	tl_check "... and run said it added -S: $(grep 'added to' "$TL_TMP/e2" | head -1)" \
		grep -q 'added to QEMU.s command line: -S$' "$TL_TMP/e2"
	# QEMU killed from outside: 128+9
	kill -KILL "$qpid"
	wait "$kpid"
	tl_eq "QEMU killed by SIGKILL: run exits 137" "$?" 137
	tl_check "... its cgroups are removed" test ! -e "$(vm_dir t-cont)"
else
	tl_fail "run without -S starts QEMU: $(tail -3 "$TL_TMP/e2")"
fi

# --- -daemonize: run returns once placed --------------------------------------------
"$KVMCG" run --vcpu all:0 --emulator "$last_cpu" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" \
	-name guest=t-daemon,debug-threads=on -daemonize -pidfile "$TL_TMP/d.pid" \
	-qmp unix:"$TL_TMP/d.qmp",server=on,wait=off >"$TL_TMP/o3" 2>"$TL_TMP/e3"
rc=$?
tl_eq "-daemonize: run returns 0 ($(tail -1 "$TL_TMP/e3" | head -c 200))" "$rc" 0
dpid=$(cat "$TL_TMP/d.pid" 2>/dev/null)
if [ -n "$dpid" ]; then
	tl_register_pid "$dpid"
	tl_eq "... the daemon (pid $dpid, from QEMU's own pidfile) is placed" \
		"$(vcpus_placed "$TL_TMP/d.qmp" "$dpid" t-daemon 0)" ok
	tl_eq "... and running" "$(status_of "$TL_TMP/d.qmp")" running
	tl_eq "... its record is the daemon's: show says launched" \
		"$("$KVMCG" show --pid "$dpid" --json | jq -r .kvmcg.launched)" true
	kill "$dpid"
	wait_for 5 sh -c "! kill -0 $dpid 2>/dev/null"
	"$KVMCG" list >/dev/null 2>&1
	tl_check "... once it exits, the next kvmcg command removes its cgroups" test ! -e "$(vm_dir t-daemon)"
	tl_eq "... and run's private directory" "$(ls "$KVMCG_STATE_DIR/launch" 2>/dev/null | wc -l)" 0
fi

# --- kvmcg killed: in the foreground it is QEMU's supervisor, and QEMU stops with it ---
usock=$TL_TMP/k9.qmp
"$KVMCG" run --vcpu all:0 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-k9 \
	-qmp unix:"$usock",server=on,wait=off >/dev/null 2>"$TL_TMP/ek9" &
kpid=$!
tl_register_pid "$kpid"
if wait_for 30 sock_up "$usock" && wait_for 30 grep -q 'placed before the guest ran' "$TL_TMP/ek9"; then
	qpid=$(qemu_of "$kpid")
	tl_register_pid "$qpid"
	kill -KILL "$kpid"
	tl_check "kvmcg SIGKILLed: its QEMU gets SIGTERM and stops ($(grep -o 'terminating on signal [0-9]*' "$TL_TMP/ek9"))" \
		wait_for 10 sh -c "! kill -0 $qpid 2>/dev/null"
	"$KVMCG" list >/dev/null 2>&1
	tl_check "... and the next kvmcg command removes its cgroups" test ! -e "$(vm_dir t-k9)"
	tl_eq "... and run's private directory" "$(ls "$KVMCG_STATE_DIR/launch" 2>/dev/null | wc -l)" 0
else
	tl_fail "run for the SIGKILL case starts QEMU: $(tail -2 "$TL_TMP/ek9")"
fi

# --- from a service's own cgroup, as systemd's ExecStart= runs it --------------------
# kvmcg run and the QEMU it starts share that cgroup; the launcher is not another
# tenant, so the VM's tree goes inside it (where its limits keep applying)
svc=$mount/t-run-svc
mkdir "$svc"
tl_on_exit "tl_rmcg $svc"
if [ "$mode" = v1 ]; then
	cat "$mount/cpuset.cpus" >"$svc/cpuset.cpus"
	cat "$mount/cpuset.mems" >"$svc/cpuset.mems"
fi
usock=$TL_TMP/svc.qmp
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$svc" timeout 120 "$KVMCG" run --vcpu all:0 --emulator "$last_cpu" -- \
	qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-svc,debug-threads=on \
	-qmp unix:"$usock",server=on,wait=off >/dev/null 2>"$TL_TMP/esvc" &
kpid=$!
tl_register_pid "$kpid"
if wait_for 30 sock_up "$usock" && wait_for 30 grep -q 'placed before the guest ran' "$TL_TMP/esvc"; then
	# the service's main process is timeout(1), which started kvmcg: a launcher too
	rpid=$(qemu_of "$kpid")
	qpid=$(qemu_of "$rpid")
	tl_register_pid "$qpid"
	tl_eq "in a service's cgroup, started by a wrapper (timeout): kvmcg run stays in it" \
		"$(thread_cgroup "$rpid" "$rpid")" /t-run-svc
	tl_eq "... QEMU's emulator goes into kvmcg/ inside it" "$(thread_cgroup "$qpid" "$qpid")" /t-run-svc/kvmcg/emulator
	idx_tid=$(tl_qmp_vcpus "$usock" | head -1)
	tl_eq "... and vCPU 0 into kvmcg/vcpu0 there" "$(thread_cgroup "$qpid" "${idx_tid#* }")" /t-run-svc/kvmcg/vcpu0
	kill -TERM "$kpid"
	wait "$kpid"
	tl_eq "... SIGTERM: QEMU's exit status" "$?" 0
	tl_check "... and the tree inside the service's cgroup is gone" test ! -e "$svc/kvmcg"
else
	tl_fail "run from a service's cgroup places QEMU: $(tail -2 "$TL_TMP/esvc")"
fi

# --- a second VM of a name that runs already; a binary others could change ------------
"$KVMCG" run --vcpu all:0 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-dup -daemonize \
	-pidfile "$TL_TMP/dup.pid" >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a VM named t-dup: exit 0" "$rc" 0
[ -s "$TL_TMP/dup.pid" ] && tl_register_pid "$(cat "$TL_TMP/dup.pid")"
"$KVMCG" run --vcpu all:0 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-dup -daemonize \
	-pidfile "$TL_TMP/dup2.pid" >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a second VM of that name: exit 2 ($(tail -1 "$TL_TMP/err" | head -c 200))" "$rc" 2
tl_check "... nothing started" test ! -s "$TL_TMP/dup2.pid"
dup=$(cat "$TL_TMP/dup.pid" 2>/dev/null)
if [ -n "$dup" ]; then
	kill "$dup"
	wait_for 10 sh -c "! kill -0 $dup 2>/dev/null"
fi
mkdir -p "$TL_TMP/wbin"
printf '#!/bin/sh\nexec qemu-system-x86_64 "$@"\n' >"$TL_TMP/wbin/qemu-system-x86_64"
chmod 777 "$TL_TMP/wbin/qemu-system-x86_64"
"$KVMCG" run -- "$TL_TMP/wbin/qemu-system-x86_64" "${QEMU_ARGS[@]}" -name guest=t-ww >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a binary others may change (mode 0777): exit 2, not executed ($(tail -1 "$TL_TMP/err" | head -c 200))" "$rc" 2
tl_eq "... no QEMU of it" "$(qemu_named t-ww)" ""

# --- kvmcg run SIGKILLed while a -daemonize QEMU starts: the QEMU it never placed ---------
# QEMU's first process waits for its daemon to be ready (-mem-prealloc makes that long)
# and kvmcg dies meanwhile: the daemon would stay paused and unplaced, so the next kvmcg
# command kills it and removes what the launch left
"$KVMCG" run --vcpu all:0 -- qemu-system-x86_64 -accel tcg -m 512 -mem-prealloc -smp 1 -display none -nodefaults \
	-no-user-config -bios "$(tl_halt_bios)" -name guest=t-orph -daemonize -pidfile "$TL_TMP/orph.pid" \
	>/dev/null 2>"$TL_TMP/eorph" &
kpid=$!
first=''
daemon=''
# the daemon: QEMU named t-orph that is not kvmcg's own child (QEMU forks twice)
orph_daemon() { pgrep -x qemu-system-x86 | while read -r q; do
	[ "$q" != "$first" ] && tr '\0' ' ' </proc/"$q"/cmdline 2>/dev/null | grep -q -- "-name guest=t-orph" && echo "$q"
	done | head -1; }
has_daemon() { [ -n "$(orph_daemon)" ]; }
wait_for 30 sh -c "pgrep -P $kpid >/dev/null" && first=$(pgrep -P "$kpid" | head -1)
[ -n "$first" ] && wait_for 30 has_daemon && daemon=$(orph_daemon)
if [ -n "$daemon" ]; then
	# the daemon is held still (SIGSTOP) while kvmcg dies, so that run cannot have
	# placed it first; then it goes on, finishes starting, and waits paused (-S)
	kill -STOP "$daemon"
	kill -KILL "$kpid" 2>/dev/null
	wait "$kpid" 2>/dev/null
	kill -CONT "$daemon"
	tl_register_pid "$daemon"
	wait_for 60 sh -c "! kill -0 $first 2>/dev/null"
	if [ -e "$KVMCG_STATE_DIR/$daemon-$(awk '{ print $22 }' /proc/"$daemon"/stat).state" ]; then
		tl_skip "a daemon kvmcg run never placed" "run placed it before the SIGKILL came"
		kill "$daemon"
		wait_for 10 sh -c "! kill -0 $daemon 2>/dev/null"
		"$KVMCG" list >/dev/null 2>&1
	else
		"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
		tl_check "kvmcg run SIGKILLed before placing its -daemonize QEMU: the next command kills it ($(head -c 200 "$TL_TMP/err"))" \
			wait_for 10 sh -c "! kill -0 $daemon 2>/dev/null"
		tl_check "... and says so" grep -q "killed pid $daemon, left paused" "$TL_TMP/err"
		"$KVMCG" list >/dev/null 2>&1
		tl_check "... its cgroups are removed" test ! -e "$(vm_dir t-orph)"
		tl_eq "... and its record" "$(ls "$KVMCG_STATE_DIR" | grep -c '\.state$')" 0
	fi
else
	tl_fail "kvmcg run -daemonize with -mem-prealloc: QEMU's daemon appears ($(tail -1 "$TL_TMP/eorph"))"
fi

# --- refusals before anything starts (exit 2) and failures during start (exit 1) ---
n_qemu=$(pgrep -c qemu-system)
"$KVMCG" run -- /nonexistent/qemu-system-x86_64 -m 64 >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a binary that does not exist: exit 2 ($(cat "$TL_TMP/err"))" "$rc" 2
printf 'not a program\n' >"$TL_TMP/plain"
chmod 644 "$TL_TMP/plain"
"$KVMCG" run -- "$TL_TMP/plain" -m 64 >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a file that is not executable: exit 2 ($(cat "$TL_TMP/err"))" "$rc" 2
"$KVMCG" run --vcpu 0:99 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-cpu >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a CPU that does not exist: exit 2 ($(head -c 200 "$TL_TMP/err"))" "$rc" 2
"$KVMCG" run --emulator 99 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-cpu >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "an emulator CPU that does not exist: exit 2 ($(head -c 200 "$TL_TMP/err"))" "$rc" 2
"$KVMCG" run --mems 7 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-node >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a node that does not exist: exit 2 ($(head -c 200 "$TL_TMP/err"))" "$rc" 2
# a policy directory with a file that cannot be used: it may be this VM's policy,
# so the VM is not started without it, and the file's errors are said
mkdir -p "$TL_TMP/pol-bad"
printf '[Match]\nName=t-pb\n[CPU]\nEmulatorPin=0\n' >"$TL_TMP/pol-bad/good.policy"
printf '[Match]\nName=t-pb\n[Bogus]\n' >"$TL_TMP/pol-bad/broken.policy"
chmod 600 "$TL_TMP/pol-bad"/*.policy
"$KVMCG" run --dry-run --policy-dir "$TL_TMP/pol-bad" -- qemu-system-x86_64 -m 64 -name guest=t-pb >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a policy directory with a broken file: exit 2 ($(tail -1 "$TL_TMP/err" | head -c 300))" "$rc" 2
tl_check "... the file's error is said, file:line" grep -q "broken.policy:3:" "$TL_TMP/err"
printf '[Match]\nName=t-late\nPidFile=/run/t-late.pid\n[CPU]\nEmulatorPin=0\n' >"$TL_TMP/late.policy"
"$KVMCG" run --dry-run --policy "$TL_TMP/late.policy" -- qemu-system-x86_64 -m 64 -name guest=t-late >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "--policy whose [Match] has PidFile=: exit 2 ($(cat "$TL_TMP/err"))" "$rc" 2
tl_check "... and it says PidFile= cannot be known before QEMU starts" grep -q "PidFile= or QMP=, which cannot be known" "$TL_TMP/err"
"$KVMCG" run --vcpu 6:0 -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -smp 2,maxcpus=8 -name guest=t-slot >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a pin of a hot-plug slot (vCPU 6 of -smp 2,maxcpus=8): exit 2 before QEMU starts ($(tail -1 "$TL_TMP/err" | head -c 200))" "$rc" 2
printf '[Match]\nName=t-cn\n[Memory]\nCellNodes=0:7\n' >"$TL_TMP/cn.policy"
"$KVMCG" run --policy "$TL_TMP/cn.policy" -- qemu-system-x86_64 -m 64 -object memory-backend-ram,id=c0,size=64M \
	-numa node,nodeid=0,memdev=c0 -name guest=t-cn >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "CellNodes= on a node that does not exist: exit 2 ($(cat "$TL_TMP/err" | head -c 300))" "$rc" 2
tl_check "... said in the policy's words" grep -q "CellNodes= of guest cell 0: node 7 is not online" "$TL_TMP/err"
# guest RAM larger than the node's free memory (the kernel's MemFree for it, read by
# the test): refused before QEMU starts, with both figures
free_kib=$(awk '/MemFree:/ { print $4 }' /sys/devices/system/node/node0/meminfo)
big_mib=$((free_kib / 1024 + 1024))
"$KVMCG" run --mems 0 -- qemu-system-x86_64 -accel tcg -m "$big_mib" -smp 1 -display none -nodefaults \
	-no-user-config -bios "$(tl_halt_bios)" -name guest=t-big >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "guest RAM ($big_mib MiB) larger than node 0's free memory: exit 2 ($(tail -1 "$TL_TMP/err" | head -c 300))" "$rc" 2
tl_check "... says both figures" grep -q "$big_mib.0 MiB.*free" "$TL_TMP/err"
cat >"$TL_TMP/other.policy" <<'EOF'
[Match]
Name=someone-else
[CPU]
EmulatorPin=0
EOF
"$KVMCG" run --policy "$TL_TMP/other.policy" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-pol \
	>/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a policy whose [Match] is for another VM: exit 2 ($(cat "$TL_TMP/err"))" "$rc" 2
"$KVMCG" run -- qemu-system-x86_64 "${QEMU_ARGS[@]}" -name guest=t-bad -no-such-option >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "QEMU that refuses its arguments: exit 1" "$rc" 1
tl_check "... with QEMU's own last words: $(grep 'QEMU said' "$TL_TMP/err" | head -c 300)" \
	grep -q 'QEMU said: .*no-such-option' "$TL_TMP/err"
# a "QEMU" that never opens its monitor
mkdir -p "$TL_TMP/fake"
printf '#!/bin/sh\nexec sleep 30\n' >"$TL_TMP/fake/qemu-system-x86_64"
chmod 755 "$TL_TMP/fake/qemu-system-x86_64"
"$KVMCG" run --qmp-timeout 700 -- "$TL_TMP/fake/qemu-system-x86_64" -name guest=t-slow >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a monitor that does not come up within --qmp-timeout: exit 1 ($(head -c 200 "$TL_TMP/err"))" "$rc" 1
tl_check "... the process it started is gone" test -z "$(pgrep -f "$TL_TMP/fake/qemu-system-x86_64")"
tl_eq "after all of these: no QEMU left" "$(pgrep -c qemu-system)" "$n_qemu"
tl_eq "... no record" "$(ls "$KVMCG_STATE_DIR" | grep -c '\.state$')" 0
tl_check "... no cgroup" sh -c "! ls -d $(vm_dir 't-*') 2>/dev/null | grep -q ."

# --- a policy from the directory, by -name ------------------------------------------
mkdir -p "$TL_TMP/policies"
cat >"$TL_TMP/policies/t-dir.policy" <<EOF
[Match]
Name=t-dir
[CPU]
VCPUPin=all:$last_cpu
EmulatorPin=0
EOF
chmod 600 "$TL_TMP/policies/t-dir.policy"
"$KVMCG" run --policy-dir "$TL_TMP/policies" -- qemu-system-x86_64 "${QEMU_ARGS[@]}" \
	-name guest=t-dir,debug-threads=on -daemonize -pidfile "$TL_TMP/dir.pid" \
	-qmp unix:"$TL_TMP/dir.qmp",server=on,wait=off >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "--policy-dir: the policy whose Name= matches: exit 0 ($(tail -1 "$TL_TMP/err" | head -c 200))" "$rc" 0
if [ -s "$TL_TMP/dir.pid" ]; then
	p=$(cat "$TL_TMP/dir.pid")
	tl_register_pid "$p"
	tl_eq "... its VCPUPin= holds" "$(vcpus_placed "$TL_TMP/dir.qmp" "$p" t-dir "$last_cpu")" ok
	tl_eq "... and its EmulatorPin=" "$(allowed "$p" "$p")" 0
	kill "$p"
fi

# --- CellNodes=: each guest NUMA cell's backend on its host nodes --------------------
cell1=$(tl_cpulist_expand "$nodes_online" | awk '{ print $NF }')
cat >"$TL_TMP/cells.policy" <<EOF
[Match]
Name=t-cells
[CPU]
VCPUPin=all:0
[Memory]
Policy=strict
CellNodes=0:0
CellNodes=1:$cell1
EOF
CELL_ARGS=(-accel tcg -m 128 -smp 2 -mem-prealloc -display none -nodefaults -no-user-config
	-bios "$(tl_halt_bios)"
	-object memory-backend-ram,id=c0,size=64M -object memory-backend-ram,id=c1,size=64M
	-numa node,nodeid=0,cpus=0,memdev=c0 -numa node,nodeid=1,cpus=1,memdev=c1)
"$KVMCG" run --policy "$TL_TMP/cells.policy" -- qemu-system-x86_64 "${CELL_ARGS[@]}" -name guest=t-cells \
	-daemonize -pidfile "$TL_TMP/cells.pid" >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "CellNodes=0:0 and 1:$cell1: exit 0 ($(tail -1 "$TL_TMP/err" | head -c 300))" "$rc" 0
tl_check "... run said what it added to each backend" \
	grep -q "host-nodes=$cell1,policy=bind on -object memory-backend-ram,id=c1" "$TL_TMP/err"
if [ -s "$TL_TMP/cells.pid" ]; then
	p=$(cat "$TL_TMP/cells.pid")
	tl_register_pid "$p"
	# the two 64 MiB mappings are the cells' RAM: QEMU maps each backend whole
	mapfile -t cells < <(while read -r range _; do
		((0x${range#*-} - 0x${range%-*} == 64 * 1048576)) && echo "${range%-*}"; done <"/proc/$p/maps")
	tl_eq "maps has two 64 MiB mappings (the cells' backends)" "${#cells[@]}" 2
	pols=$(for a in "${cells[@]}"; do awk -v a="$a" '$1 == a { print $2 }' "/proc/$p/numa_maps"; done | sort | tr '\n' ' ')
	tl_eq "... numa_maps: one bound to node 0, one to node $cell1" "$pols" "$(printf 'bind:%s\n' 0 "$cell1" | sort | tr '\n' ' ')"
	for a in "${cells[@]}"; do
		want=$(awk -v a="$a" '$1 == a { sub("bind:", "", $2); print $2 }' "/proc/$p/numa_maps")
		share=$(awk -v a="$a" -v n="$want" '$1 == a { for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) {
			split(substr($i, 2), v, "="); all += v[2]; if (v[1] == n) on += v[2] } }
			END { printf "%.4f\n", all ? on / all : 0 }' "/proc/$p/numa_maps")
		tl_check "... the cell bound to node $want has at least 99% of its pages there (the test's count: $share)" \
			awk -v s="$share" 'BEGIN { exit !(s >= 0.99) }'
	done
	kill "$p"
fi
"$KVMCG" run --policy "$TL_TMP/cells.policy" -- qemu-system-x86_64 -accel tcg -m 128 -smp 2 \
	-numa node,nodeid=0,cpus=0,mem=64M -numa node,nodeid=1,cpus=1,mem=64M -name guest=t-cells >/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a cell without a memory backend (legacy mem=): exit 2 ($(tail -1 "$TL_TMP/err" | head -c 300))" "$rc" 2
"$KVMCG" run --policy "$TL_TMP/cells.policy" -- qemu-system-x86_64 -accel tcg -m 128 -smp 2 \
	-object memory-backend-ram,id=c0,size=64M,host-nodes=0,policy=interleave \
	-object memory-backend-ram,id=c1,size=64M \
	-numa node,nodeid=0,cpus=0,memdev=c0 -numa node,nodeid=1,cpus=1,memdev=c1 -name guest=t-cells \
	>/dev/null 2>"$TL_TMP/err"
rc=$?
tl_eq "a backend that already sets another policy: exit 2 ($(tail -1 "$TL_TMP/err" | head -c 300))" "$rc" 2
tl_eq "... neither started a QEMU" "$(qemu_named t-cells)" ""

# --- memory policy from the first page -------------------------------------------------
# guest_ram_share PID NODES: the share of the mapping of exactly MiB bytes (the guest
# RAM) on NODES, from numa_maps, by the test.
# ram_start PID MIB: the start address (as maps writes it) of the mapping of exactly
# MIB MiB, the guest RAM.
ram_start() {
	local range
	while read -r range _; do
		if ((0x${range#*-} - 0x${range%-*} == $2 * 1048576)); then
			echo "${range%-*}"
			return
		fi
	done <"/proc/$1/maps"
}
# ram_share PID MIB NODES: the share of the guest RAM's resident pages on NODES,
# from numa_maps, counted by the test.
ram_share() {
	awk -v start="$(ram_start "$1" "$2")" -v nodes=" $(tl_cpulist_expand "$3") " '
		$1 == start { for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), v, "=")
			all += v[2]; if (index(nodes, " " v[1] " ")) on += v[2] } }
		END { printf "%.4f\n", all ? on / all : 0 }' /proc/"$1"/numa_maps
}
# ram_policy PID MIB: the memory policy numa_maps gives the guest RAM's mapping.
ram_policy() { awk -v start="$(ram_start "$1" "$2")" '$1 == start { print $2 }' /proc/"$1"/numa_maps; }
# mem_run NAME NODES MODE: kvmcg run of a 128 MiB guest with -mem-prealloc (every
# page faulted in at start) and that memory policy, daemonized; its pid in p, or ""
# after a failed check.
# The monitor's budget is a loaded guest's: in the 6.12 guest (one TCG thread) beside
# the host suites, QEMU once took more than run's default 60 s to fault 128 MiB in.
mem_run() {
	"$KVMCG" run --qmp-timeout 300000 --vcpu all:0 --mems "$2" --mem-policy "$3" -- qemu-system-x86_64 -accel tcg -m 128 \
		-mem-prealloc -smp 1 -display none -nodefaults -no-user-config -bios "$(tl_halt_bios)" \
		-name guest="$1" -daemonize -pidfile "$TL_TMP/$1.pid" >/dev/null 2>"$TL_TMP/$1.err"
	local rc=$?
	tl_eq "$3 on node(s) $2 with -mem-prealloc: exit 0 ($(tail -1 "$TL_TMP/$1.err" | head -c 300))" "$rc" 0
	p=$(cat "$TL_TMP/$1.pid" 2>/dev/null)
	[ -z "$p" ] || tl_register_pid "$p"
}
last_node=$(tl_cpulist_expand "$nodes_online" | awk '{ print $NF }')
# the kernel's automatic NUMA balancing moves pages on its own: off while the
# migration counter is read
nb=/proc/sys/kernel/numa_balancing
if [ -w "$nb" ]; then
	tl_on_exit "echo $(cat "$nb") >$nb"
	echo 0 >"$nb"
fi
mig0=$(awk '/^pgmigrate_success/ { print $2 }' /proc/vmstat)
mem_run t-strict "$last_node" strict
mig1=$(awk '/^pgmigrate_success/ { print $2 }' /proc/vmstat)
if [ -n "$p" ]; then
	tl_eq "... numa_maps: the guest RAM is bound from the first page" "$(ram_policy "$p" 128)" "bind=static:$last_node"
	tl_eq "... numastat says so: the policy numa_maps gives, and launched" \
		"$("$KVMCG" numastat --pid "$p" --json | jq -c '[.guest_ram_policy, .launched]')" "[\"bind=static:$last_node\",true]"
	tl_check "... at least 99% of it on node $last_node (the test's count: $(ram_share "$p" 128 "$last_node"))" \
		awk -v s="$(ram_share "$p" 128 "$last_node")" 'BEGIN { exit !(s >= 0.99) }'
	tl_check "... without migration: pgmigrate_success grew by $((mig1 - mig0)) pages (at most 1% of 32768)" \
		test $((mig1 - mig0)) -le 327
	"$KVMCG" unpin --pid "$p" >"$TL_TMP/out" 2>&1
	tl_check "unpin says QEMU's own policy stays ($(head -c 300 "$TL_TMP/out"))" grep -q "QEMU's own memory policy, set before it started (kvmcg run), stays" "$TL_TMP/out"
	tl_eq "... as numa_maps shows" "$(ram_policy "$p" 128)" "bind=static:$last_node"
	kill "$p"
fi
if ((n_nodes >= 2)); then
	mem_run t-il "$nodes_online" interleave
	if [ -n "$p" ]; then
		tl_eq "... numa_maps: the guest RAM interleaved" "$(ram_policy "$p" 128)" "interleave=static:$nodes_online"
		tl_check "... node 0 holds 45-55% of it (the test's count: $(ram_share "$p" 128 0))" \
			awk -v s="$(ram_share "$p" 128 0)" 'BEGIN { exit !(s >= 0.45 && s <= 0.55) }'
		kill "$p"
	fi
	mem_run t-pref 1 preferred
	if [ -n "$p" ]; then
		tl_eq "... numa_maps: the guest RAM prefers node 1" "$(ram_policy "$p" 128)" "prefer=static:1"
		tl_check "... at least 99% of it there (the test's count: $(ram_share "$p" 128 1))" \
			awk -v s="$(ram_share "$p" 128 1)" 'BEGIN { exit !(s >= 0.99) }'
		kill "$p"
	fi
else
	tl_skip "interleave and preferred from the first page" "one NUMA node here ($nodes_online): the test guest has two"
fi

tl_done
