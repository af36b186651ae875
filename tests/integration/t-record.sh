#!/bin/bash
# The undo record and the bookkeeping around it, against the real kernel:
#  - a record is acted on only when kvmcg may trust it: root's, not writable by
#    others, its mount the cgroup hierarchy kvmcg uses, its directories below its
#    VM directory; anything else is refused in one line and nothing is touched;
#    in JSON (version 1, as kvmcg writes it) and in the text format of earlier
#    versions, which a run holding the VM's lock rewrites as JSON;
#  - a VM killed in the middle of a pin gives exit 3, never 1, and leaves no cgroup
#    that no record lists (kvmcg list removes them once it is gone);
#  - a cgroup that cannot be removed yet keeps its record, and the next run finishes;
#  - every action kind is undone exactly, at every position of a plan (the whole
#    cgroup tree, every thread and the record compared before and after).
. "$(dirname "$0")/../lib/testlib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "record" "qemu-system-x86_64 is not installed"
	tl_done
}
tl_detect_cgroups
export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
other=$((ncpu > 1 ? 1 : 0))

record_of() { echo "$KVMCG_STATE_DIR/$1-$(awk '{ print $22 }' /proc/"$1"/stat).state"; }
# A JSON record in the text format earlier versions wrote ("kvmcg-state 2"): fields
# separated by one space, '%', blanks and an empty field escaped.
to_text() {
	jq -r 'def esc: if . == "" then "-" elif . == "-" then "%2D"
		else gsub("%"; "%25") | gsub(" "; "%20") | gsub("\n"; "%0A") | gsub("\t"; "%09") end;
	"kvmcg-state 2", "pid \(.pid)", "starttime \(.starttime)", "name \((.name // "") | esc)",
	"mode \(.backend)",
	(if .mount then "mount \(.mount | esc)", "vm-dir \((.vm_dir // "") | esc)" else empty end),
	(if .root then "root \(.root | esc)" else empty end),
	(.created[] | "created \(esc)"),
	(.enabled[] | "enabled \(.dir | esc) \(.controller | esc)"),
	(.threads[] | "thread \(.tid) \(.cgroup | esc) \(.affinity | esc)"),
	(.tune.vcpupin | to_entries[] | "pin-vcpu \(.key) \(.value)"),
	(.tune.emulatorpin // empty | "pin-emulator \(.)"),
	(.tune.iothreadpin | to_entries[] | "pin-iothread \(.key | esc) \(.value)"),
	(.tune.memory_nodeset // empty | "pin-mems \(.)"),
	(.threads[] | select(.scheduler) | "thread-sched \(.tid) \(.scheduler)"),
	(.tune.cpu_weight // empty | "pin-cpu-weight \(.)"),
	(.tune.cpu_quota_percent // empty | "pin-cpu-quota \(if . == "max" then 0 else . end)"),
	(.tune.cpu_period_us // empty | "pin-cpu-period \(.)"),
	(.tune.vcpu_scheduler // empty | "pin-vcpu-sched \(.)"),
	"end"'
}
# The root's and kvmcg/'s subtree_control, and every cgroup whose path starts with
# PREFIX (below the mount) with the files kvmcg writes: what a rollback must put back
# exactly.
tree() { # PREFIX
	[ "$mode" = affinity ] && return 0
	(
		cd "$mount" || exit
		cat cgroup.subtree_control 2>/dev/null
		echo "kvmcg: $(cat kvmcg/cgroup.subtree_control 2>/dev/null)"
		# the directories, then every line of their files (one grep: the rollback
		# checks read this once per action)
		local dirs=() files=() d f
		mapfile -t dirs < <(find ./"$1"* -type d 2>/dev/null | sort)
		printf '%s\n' "${dirs[@]}"
		for d in "${dirs[@]}"; do
			for f in cgroup.type cgroup.subtree_control cpuset.cpus cpuset.mems cpu.weight cpu.max \
				cpuset.memory_migrate; do
				[ -f "$d/$f" ] && files+=("$d/$f")
			done
		done
		[ ${#files[@]} -eq 0 ] || grep -H '' -- "${files[@]}"
	)
}

# --- forged records are refused, and nothing is touched -------------------------------------
pid=$(tl_qemu f -smp 2 -name t-forged -qmp unix:"$TL_TMP"/f.qmp,server=on,wait=off)
tl_settle "$pid" 2
if ! tl_guest_skips "forged records" "the checks of a record do not depend on the cgroup mode"; then
	before=$(snapshot "$pid")
	"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null
	pinned=$(snapshot "$pid")
	rec=$(record_of "$pid")
	tl_check "the record is JSON of version 1, whole (jq)" jq -e '.version == 1 and .end == true' "$rec"
	tl_eq "the record's mode is 0600" "$(stat -c %a "$rec")" 600
	cp "$rec" "$TL_TMP/good.json"
	# the forgeries below start from the same record in the text format
	to_text <"$TL_TMP/good.json" >"$TL_TMP/good.state"
	# The example: a record for a live VM pointing at an ordinary directory.
	victim=$TL_TMP/some-dir
	mkdir -p "$victim/x" "$victim/d"
	: >"$victim/x/tasks"
	forge() { # sed program on the good record
		sed "$1" "$TL_TMP/good.state" >"$rec"
		chmod 0600 "$rec"
	}
	refuse() { # description needle [command...]
		local desc=$1 needle=$2
		shift 2
		"$KVMCG" "${@:-unpin}" --pid "$pid" >/dev/null 2>"$TL_TMP/err"
		local rc=$?
		tl_eq "forged ($desc): ${1:-unpin} exits 1" "$rc" 1
		tl_eq "forged ($desc): one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
		tl_check "forged ($desc): ... that says why" grep -q -- "$needle" "$TL_TMP/err"
		tl_eq "forged ($desc): the VM's threads untouched" "$(snapshot "$pid")" "$pinned"
	}
	forge "s|^mount .*|mount $victim|; s|^thread \([0-9]*\) [^ ]*|thread \1 /x|"
	refuse "mount is an ordinary directory" "not the mount point"
	forge "s|^mount .*|mount $victim|; s|^vm-dir .*|vm-dir d|; s|^created .*|created d|; s|^thread \([0-9]*\) [^ ]*|thread \1 /x|"
	refuse "mount an ordinary directory, VM directory one that kvmcg never names" "neither inside a kvmcg/ tree"
	tl_eq "forged: no TID written into the ordinary file" "$(cat "$victim/x/tasks")" ""
	tl_check "forged: the ordinary directory is still there" test -d "$victim/d"
	# a record that does not parse: list and show say so, once, instead of showing the
	# VM as kvmcg never placed it
	sed 's/"end": true/"end": tru/' "$TL_TMP/good.json" >"$rec"
	"$KVMCG" show --pid "$pid" >/dev/null 2>"$TL_TMP/err"
	tl_check "a record that does not parse: show says so in one line ($(head -1 "$TL_TMP/err"))" \
		sh -c "[ \$(wc -l <'$TL_TMP/err') = 1 ] && grep -q 'pid $pid: refusing the record' '$TL_TMP/err'"
	"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
	tl_check "... and so does list" grep -q "pid $pid: refusing the record" "$TL_TMP/err"
	if [ "$mode" != affinity ]; then
		forge "s|^mount .*|mount $mount/kvmcg|"
		refuse "mount is a cgroup below the hierarchy's root" "not the mount point"
		ln -s "$mount" "$TL_TMP/cglink"
		forge "s|^mount .*|mount $TL_TMP/cglink|"
		refuse "mount through a symbolic link" "not the mount point"
		forge '/^end$/i created kvmcg/someone-else'
		refuse "a directory outside the VM's own" "neither its directory"
		forge '/^end$/i created kvmcg/t-forged/not-a-child-name'
		refuse "a directory below the VM's that kvmcg never names" "neither its directory"
		forge "s|^vm-dir .*|vm-dir victim|; s|^created .*|created victim|"
		refuse "a VM directory someone else made" "neither inside a kvmcg/ tree"
		forge '/^end$/d'
		refuse "cut short (no end line)" "damaged"
		forge "/^thread\\(-sched\\)\\? $pid /d"
		refuse "the main thread's origin removed" "where the VM's main thread"
		forge "s|^thread \\([0-9]*\\) [^ ]*|thread \\1 /../../tmp|"
		refuse "a thread origin with .." "'..'"
	else
		tl_skip "forged records that name cgroups" "affinity mode (no usable cpuset controller): kvmcg makes no cgroups"
	fi
	# The same forgeries in JSON.
	jforge() { # jq program on the good record
		jq "$1" "$TL_TMP/good.json" >"$rec"
		chmod 0600 "$rec"
	}
	jforge ".mount = \"$victim\" | .threads[].cgroup = \"/x\""
	refuse "JSON, mount is an ordinary directory" "not the mount point"
	jforge ".mount = \"$victim\" | .vm_dir = \"d\" | .created = [\"d\"] | .threads[].cgroup = \"/x\""
	refuse "JSON, mount an ordinary directory, VM directory one that kvmcg never names" "neither inside a kvmcg/ tree"
	tl_eq "forged in JSON: no TID written into the ordinary file" "$(cat "$victim/x/tasks")" ""
	tl_check "forged in JSON: the ordinary directory is still there" test -d "$victim/d"
	if [ "$mode" != affinity ]; then
		jforge ".mount = \"$mount/kvmcg\""
		refuse "JSON, mount is a cgroup below the hierarchy's root" "not the mount point"
		jforge ".mount = \"$TL_TMP/cglink\""
		refuse "JSON, mount through a symbolic link" "not the mount point"
		jforge '.created += ["kvmcg/someone-else"]'
		refuse "JSON, a directory outside the VM's own" "neither its directory"
		jforge '.created += ["kvmcg/t-forged/not-a-child-name"]'
		refuse "JSON, a directory below the VM's that kvmcg never names" "neither its directory"
		jforge '.vm_dir = "victim" | .created = ["victim"]'
		refuse "JSON, a VM directory someone else made" "neither inside a kvmcg/ tree"
		jforge 'del(.end)'
		refuse "JSON, incomplete (no end)" "incomplete"
		head -c "$(($(stat -c %s "$TL_TMP/good.json") / 2))" "$TL_TMP/good.json" >"$rec"
		refuse "JSON, cut short" "cut short"
		jforge "del(.threads[] | select(.tid == $pid))"
		refuse "JSON, the main thread's origin removed" "where the VM's main thread"
		jforge '.threads[].cgroup = "/../../tmp"'
		refuse "JSON, a thread origin with .." "'..'"
	fi
	jforge '.tune.cpu_weight = 1000000'
	refuse "JSON, a weight the command line refuses" "out of range (1 to 10000)"
	jforge '.tune.vcpupin["0"] = "0-"'
	refuse "JSON, a CPU list that is not one" "is not a CPU list"
	jforge '.pid = -1'
	refuse "JSON, a negative pid" "is not a process id"
	jforge '. + {"extra": 1}'
	refuse "JSON, an unknown key" 'unknown key "extra"'
	jforge '.threads[0].tid = "1"'
	refuse "JSON, a value of the wrong type" "is not an integer"
	# A newer kvmcg's record: refused in one line that says so, and left as it is.
	jforge '.version = 2'
	cp "$rec" "$TL_TMP/v2.json"
	refuse "version 2" "has version 2; this kvmcg reads version 1"
	tl_check "version 2: ... in the words that name the file" \
		grep -q "^kvmcg: refusing the record ${rec##*/}: it has version 2; this kvmcg reads version 1; nothing was changed$" "$TL_TMP/err"
	refuse "version 2, pin" "has version 2; this kvmcg reads version 1" pin --vcpu all:"$other"
	tl_check "version 2: the record is left as it was" cmp -s "$rec" "$TL_TMP/v2.json"
	cp "$TL_TMP/good.json" "$rec"
	chmod 0666 "$rec"
	refuse "JSON, writable by others" "writable by others"
	cp "$TL_TMP/good.state" "$rec"
	chmod 0666 "$rec"
	refuse "writable by others" "writable by others"
	chmod 0600 "$rec"
	chown 65534 "$rec"
	refuse "owned by nobody" "owned by uid 65534"
	refuse "owned by nobody, pin" "owned by uid 65534" pin --vcpu all:"$other"
	chown 0 "$rec"
	chmod 0777 "$KVMCG_STATE_DIR"
	refuse "the state directory writable by all" "writable by others"
	chmod 0700 "$KVMCG_STATE_DIR"
	# A record in the text format, as an earlier kvmcg left it (root's, 0600): a dry
	# run reads it and leaves it; a pin, which holds the lock, rewrites it as JSON.
	cp "$TL_TMP/good.state" "$rec"
	chmod 0600 "$rec"
	out=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --dry-run --json)
	tl_eq "text record: a dry run reads it (nothing to do)" "$(jq '.actions | length' <<<"$out")" 0
	tl_eq "text record: ... and leaves it as it is" "$(head -n 1 "$rec")" "kvmcg-state 2"
	out=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --json)
	tl_eq "text record: a pin reads it (the same pin: unchanged)" "$(jq -r .result <<<"$out")" unchanged
	tl_check "text record: after the pin it is JSON of version 1 (jq)" jq -e '.version == 1 and .end == true' "$rec"
	tl_eq "text record: ... the same record as before, every field" "$(jq -S . "$rec")" "$(jq -S . "$TL_TMP/good.json")"
	tl_eq "text record: ... still root's and 0600" "$(stat -c %u:%a "$rec")" 0:600
	tl_eq "text record: ... and the VM's threads untouched" "$(snapshot "$pid")" "$pinned"
	cp "$TL_TMP/good.state" "$rec"
	out=$("$KVMCG" unpin --pid "$pid" --json)
	tl_eq "the good record back: unpin works" "$(jq -r .result <<<"$out")" applied
	tl_eq "the good record back: every thread restored" "$(snapshot "$pid")" "$before"

	# A record of a VM that is gone, with "mount /": list must not remove anything.
	gone=$TL_TMP/gone-vm
	mkdir -p "$gone/vm/vcpu0"
	dead=$(sh -c 'echo $$')
	cat >"$KVMCG_STATE_DIR/$dead-1.state" <<-EOF2
	kvmcg-state 2
	pid $dead
	starttime 1
	name x
	mode v1
	mount /
	vm-dir ${gone#/}/vm
	root ${gone#/}
	created ${gone#/}/vm
	created ${gone#/}/vm/vcpu0
	thread $dead / 0
	end
	EOF2
	chmod 0600 "$KVMCG_STATE_DIR/$dead-1.state"
	"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
	tl_eq "dead VM, mount /: list still exits 0" "$?" 0
	tl_check "dead VM, mount /: nothing outside cgroupfs removed" test -d "$gone/vm/vcpu0"
	tl_check "dead VM, mount /: its record is left for the admin" test -f "$KVMCG_STATE_DIR/$dead-1.state"
	tl_check "dead VM, mount /: list names it as a warning, in one line" \
		grep -q "^kvmcg: warning: refusing the record $dead-1.state: / is not the mount point" "$TL_TMP/err"
	rm -f "$KVMCG_STATE_DIR/$dead-1.state"
	# the same in JSON
	jq -n --argjson pid "$dead" --arg dir "${gone#/}" '{version: 1, pid: $pid, starttime: 1, name: "x",
		backend: "v1", mount: "/", vm_dir: "\($dir)/vm", root: $dir,
		created: ["\($dir)/vm", "\($dir)/vm/vcpu0"], enabled: [],
		threads: [{tid: $pid, cgroup: "/", affinity: "0"}], tune: {}, end: true}' >"$KVMCG_STATE_DIR/$dead-1.state"
	chmod 0600 "$KVMCG_STATE_DIR/$dead-1.state"
	"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
	tl_eq "dead VM, mount /, JSON: list still exits 0" "$?" 0
	tl_check "dead VM, mount /, JSON: nothing outside cgroupfs removed" test -d "$gone/vm/vcpu0"
	tl_check "dead VM, mount /, JSON: its record is left for the admin" test -f "$KVMCG_STATE_DIR/$dead-1.state"
	tl_check "dead VM, mount /, JSON: list names it as a warning, in one line" \
		grep -q "^kvmcg: warning: refusing the record $dead-1.state: / is not the mount point" "$TL_TMP/err"
	rm -f "$KVMCG_STATE_DIR/$dead-1.state"
fi

# --- a VM killed during a pin: exit 3, and no cgroup without a record ---------------------------
dry=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --emulator 0 --dry-run --json)
n=$(jq '.actions | length' <<<"$dry")
tl_check "kill: the plan has several actions ($n)" test "$n" -gt 3
kill "$pid"
leaks=0 codes= want=
step=1
[ "$KVMCG_TEST_ENV" = guest ] && step=3 # TCG is slow: every third position
for ((at = 1; at <= n; at += step)); do
	want=${want}3
	kp=$(tl_qemu k$at -smp 2 -name t-killed -qmp unix:"$TL_TMP"/k$at.qmp,server=on,wait=off)
	tl_settle "$kp" 2
	KVMCG_TEST_KILL_AT=$at "$KVMCG_TEST" pin --pid "$kp" --vcpu all:0 --emulator 0 >/dev/null 2>"$TL_TMP/err"
	codes="$codes$?"
	# what is left is listed in a record, and goes once list sees the VM is gone
	"$KVMCG" list >/dev/null 2>&1
	if [ "$mode" != affinity ] && [ -e "$mount/kvmcg/t-killed" ]; then
		echo "#   killed before action $at: $mount/kvmcg/t-killed left"
		leaks=$((leaks + 1))
	fi
done
tl_eq "killed before each of the $n actions (every $step): exit 3 every time" "$codes" "$want"
tl_eq "killed before each action: no cgroup left after list" "$leaks" 0
tl_check "killed before each action: no record left" test -z "$(ls "$KVMCG_STATE_DIR")"

# The same without a hook: a real SIGKILL at a random moment of a pin.
rounds=${KVMCG_TEST_KILL_ROUNDS:-30}
[ "$KVMCG_TEST_ENV" = guest ] && rounds=${KVMCG_TEST_KILL_ROUNDS:-4}
bad=0 leaks=0 seen=
for ((i = 0; i < rounds; i++)); do
	kp=$(tl_qemu r$i -smp 2 -name t-race -qmp unix:"$TL_TMP"/r$i.qmp,server=on,wait=off)
	tl_settle "$kp" 2
	(sleep "0.0$((RANDOM % 6))$((RANDOM % 10))" && kill -KILL "$kp") &
	killer=$!
	"$KVMCG" pin --pid "$kp" --vcpu all:0 --emulator 0 >/dev/null 2>"$TL_TMP/err"
	rc=$?
	wait "$killer"
	seen="$seen$rc"
	case $rc in
	0 | 3) ;;
	# gone before kvmcg read anything of it (a slow start, in the guest): no VM to
	# speak of, and it says so
	1) grep -q "^kvmcg: pid $kp: no such process$" "$TL_TMP/err" || {
		echo "#   round $i: exit 1: $(cat "$TL_TMP/err")"
		bad=$((bad + 1))
	} ;;
	*)
		echo "#   round $i: exit $rc: $(cat "$TL_TMP/err")"
		bad=$((bad + 1))
		;;
	esac
	while [ -e /proc/"$kp" ] && ! grep -q '^State:.*Z' /proc/"$kp"/status 2>/dev/null; do sleep 0.02; done
	"$KVMCG" list >/dev/null 2>&1
	[ "$mode" = affinity ] || [ ! -e "$mount/kvmcg/t-race" ] || leaks=$((leaks + 1))
done
echo "# exit codes of $rounds killed pins: $seen"
tl_eq "killed at a random moment, $rounds rounds: exit 0 or 3 (1 only when it was gone before kvmcg read it)" "$bad" 0
tl_eq "killed at a random moment: no cgroup left once list has seen it gone" "$leaks" 0
tl_check "killed at a random moment: no record left" test -z "$(ls "$KVMCG_STATE_DIR")"

# --- a cgroup that cannot be removed yet keeps its record ----------------------------------------
if ! tl_guest_skips "a cgroup that cannot be removed yet keeps its record" "on v2 no foreign process can join a threaded cgroup of the VM"; then
	if [ "$mode" = affinity ]; then
		tl_skip "busy cgroups" "no cgroups in affinity mode"
	else
		pid=$(tl_qemu b -smp 2 -name t-busy -qmp unix:"$TL_TMP"/b.qmp,server=on,wait=off)
		tl_settle "$pid" 2
		before=$(snapshot "$pid")
		sleep 600 &
		sleeper=$!
		tl_register_pid "$sleeper"
		mv_file=cgroup.procs
		dir=$mount/kvmcg/t-busy
		"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null
		echo "$sleeper" >"$dir/emulator/$mv_file"
		"$KVMCG" unpin --pid "$pid" >/dev/null 2>"$TL_TMP/err"
		tl_eq "busy unpin: exit 3" "$?" 3
		tl_eq "busy unpin: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
		tl_check "busy unpin: ... that names the cgroup kept" grep -q "kvmcg/t-busy/emulator.*the record keeps" "$TL_TMP/err"
		tl_eq "busy unpin: every thread of the VM is back" "$(snapshot "$pid")" "$before"
		tl_check "busy unpin: the record lists what is left" \
			jq -e '.created | index("kvmcg/t-busy/emulator")' "$(record_of "$pid")"
		tl_eq "busy unpin: show no longer reports a pin" \
			"$("$KVMCG" show --pid "$pid" --json | jq -c '.kvmcg.pins.vcpus')" '{}'
		echo "$sleeper" >"$mount/$mv_file"
		out=$("$KVMCG" unpin --pid "$pid" --json)
		tl_eq "busy unpin, once free: the next unpin finishes" "$(jq -r .result <<<"$out")" applied
		tl_check "busy unpin, once free: the cgroups are gone" test ! -e "$dir"
		tl_check "busy unpin, once free: so is the record" test -z "$(ls "$KVMCG_STATE_DIR")"

		# The same in a rollback: the emulator cgroup gets a foreign task right after it
		# is made, then an action fails.
		dry=$("$KVMCG" pin --pid "$pid" --vcpu all:0 --dry-run --json)
		at=$(jq '[.actions[] | .action == "move-thread" or .action == "move-process"] | index(true) + 1' <<<"$dry")
		KVMCG_TEST_RUN_AT=$at KVMCG_TEST_RUN="echo $sleeper >$dir/emulator/$mv_file" KVMCG_TEST_FAIL_AT=$((at + 1)) \
			"$KVMCG_TEST" pin --pid "$pid" --vcpu all:0 >/dev/null 2>"$TL_TMP/err"
		tl_eq "busy rollback: exit 3" "$?" 3
		tl_check "busy rollback: says not everything could be undone" grep -q "not everything could be undone" "$TL_TMP/err"
		tl_eq "busy rollback: every thread of the VM is back" "$(snapshot "$pid")" "$before"
		tl_check "busy rollback: the record lists the cgroup left" \
			jq -e 'any(.created[]; startswith("kvmcg/t-busy"))' "$(record_of "$pid")"
		echo "$sleeper" >"$mount/$mv_file"
		"$KVMCG" unpin --pid "$pid" >/dev/null
		tl_eq "busy rollback, once free: unpin exits 0" "$?" 0
		tl_check "busy rollback, once free: nothing left" test ! -e "$dir" -a -z "$(ls "$KVMCG_STATE_DIR")"
		kill "$pid"
	fi
fi

# --- a VM that exits while a cgroup of its tree is busy: said, kept, and finished later -----------
if ! tl_guest_skips "a VM that exits while a cgroup of its tree is busy" "on v2 no foreign process can join a threaded cgroup of the VM"; then
	if [ "$mode" != affinity ]; then
		pid=$(tl_qemu d -smp 2 -name t-dead -qmp unix:"$TL_TMP"/d.qmp,server=on,wait=off)
		tl_settle "$pid" 2
		sleep 600 &
		holder=$!
		tl_register_pid "$holder"
		"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null
		echo "$holder" >"$mount/kvmcg/t-dead/vcpu0/cgroup.procs"
		kill -KILL "$pid"
		while [ -e /proc/"$pid" ] && ! grep -q '^State:.*Z' /proc/"$pid"/status 2>/dev/null; do sleep 0.02; done
		"$KVMCG" list >/dev/null 2>"$TL_TMP/err"
		tl_eq "dead VM, busy cgroup: list still exits 0" "$?" 0
		tl_check "dead VM, busy cgroup: list says what it keeps, as a warning" \
			grep -q "^kvmcg: warning: pid $pid has exited, and kvmcg could not remove .*/kvmcg/t-dead/vcpu0 yet (.*busy" "$TL_TMP/err"
		"$KVMCG" unpin --pid "$pid" >/dev/null 2>"$TL_TMP/err"
		tl_eq "dead VM, busy cgroup: unpin --pid of it exits 3" "$?" 3
		tl_check "dead VM, busy cgroup: ... in one line that says so" \
			sh -c "test \$(wc -l <'$TL_TMP/err') -eq 1 && grep -q '^kvmcg: pid $pid has exited' '$TL_TMP/err'"
		echo "$holder" >"$mount/cgroup.procs"
		"$KVMCG" unpin --pid "$pid" >"$TL_TMP/out" 2>&1
		tl_eq "dead VM, once free: unpin --pid of it removes the rest" "$?" 0
		tl_check "dead VM, once free: nothing left" test ! -e "$mount/kvmcg/t-dead" -a -z "$(ls "$KVMCG_STATE_DIR")"
	else
		tl_skip "a VM that exits while a cgroup of its tree is busy" "affinity mode (no usable cpuset controller): kvmcg makes no cgroups"
	fi
fi

# --- a vCPU hot-plugged after the first pin gets its own origin -----------------------------------
if ! tl_guest_skips "a vCPU hot-plugged after the first pin gets its own origin" "origins do not depend on the cgroup mode"; then
	pid=$(tl_qemu h -smp 1,maxcpus=2 -name t-hotplug -qmp unix:"$TL_TMP"/h.qmp,server=on,wait=off)
	tl_settle "$pid" 1
	before_sched=$(for t in /proc/"$pid"/task/*; do chrt -p "${t##*/}" | sed -n 's/.*policy: //p'; done | sort -u)
	"$KVMCG" pin --pid "$pid" --vcpu all:0 >/dev/null
	props=$(tl_qmp "$TL_TMP"/h.qmp query-hotpluggable-cpus | jq -c '[.[] | select(.["qom-path"] == null)][0].props')
	drv=$(tl_qmp "$TL_TMP"/h.qmp query-hotpluggable-cpus | jq -r '[.[] | select(.["qom-path"] == null)][0].type')
	printf '{"execute":"qmp_capabilities"}\n{"execute":"device_add","arguments":%s}\n' \
		"$(jq -c --arg d "$drv" '. + {driver: $d, id: "hp1"}' <<<"$props")" | socat -t 2 - UNIX-CONNECT:"$TL_TMP"/h.qmp >/dev/null
	for _ in $(seq 50); do
		[ "$(tl_qmp "$TL_TMP"/h.qmp query-cpus-fast | jq length)" = 2 ] && break
		sleep 0.1
	done
	tl_eq "hot-plug: QEMU has 2 vCPUs now (QMP)" "$(tl_qmp "$TL_TMP"/h.qmp query-cpus-fast | jq length)" 2
	"$KVMCG" pin --pid "$pid" --vcpu all:0 --vcpu-scheduler fifo:7 >/dev/null 2>"$TL_TMP/err"
	tl_eq "hot-plug: the re-pin with a real-time class exits 0" "$?" 0
	hp=$(tl_qmp "$TL_TMP"/h.qmp query-cpus-fast | jq -r '.[] | select(.["cpu-index"] == 1) | .["thread-id"]')
	tl_check "hot-plug: the new vCPU is SCHED_FIFO (chrt)" sh -c "chrt -p $hp | grep -q SCHED_FIFO"
	"$KVMCG" unpin --pid "$pid" >/dev/null
	tl_eq "hot-plug: after unpin every thread, the new vCPU too, has its class back (chrt)" \
		"$(for t in /proc/"$pid"/task/*; do chrt -p "${t##*/}" | sed -n 's/.*policy: //p'; done | sort -u)" "$before_sched"
	kill "$pid"
fi

# --- a record lost: the next pin adopts the tree, and its unpin restores the threads --------------
if ! tl_guest_skips "a record lost" "adoption does not depend on the cgroup mode"; then
	if [ "$mode" != affinity ]; then
		pid=$(tl_qemu a -smp 2 -name t-adopt -qmp unix:"$TL_TMP"/a.qmp,server=on,wait=off)
		tl_settle "$pid" 2
		before=$(snapshot "$pid")
		"$KVMCG" pin --pid "$pid" --vcpu all:0 --emulator 0 >/dev/null
		other_state=$TL_TMP/state2
		mkdir -m 0700 "$other_state"
		KVMCG_STATE_DIR=$other_state "$KVMCG" pin --pid "$pid" --vcpu all:0 --emulator 0 >/dev/null 2>"$TL_TMP/err"
		tl_eq "lost record: a pin with another state directory exits 0" "$?" 0
		tl_check "lost record: it says it adopts the tree" grep -q "^kvmcg: warning: adopting /kvmcg/t-adopt" "$TL_TMP/err"
		KVMCG_STATE_DIR=$other_state "$KVMCG" unpin --pid "$pid" >/dev/null
		tl_eq "lost record: its unpin puts every thread back (cgroup and CPUs)" "$(snapshot "$pid")" "$before"
		tl_check "lost record: and removes the tree" test ! -e "$mount/kvmcg/t-adopt"
		# the first state directory's record, and what it made for all VMs (kvmcg/
		# at the top), go with its own unpin
		"$KVMCG" unpin --pid "$pid" >/dev/null 2>"$TL_TMP/err"
		tl_eq "lost record: the first record's unpin exits 0" "$?" 0
		tl_eq "lost record: ... and leaves its state directory empty" "$(ls -A "$KVMCG_STATE_DIR")" ""
		kill "$pid"
	else
		tl_skip "a record lost: the next pin adopts the tree" "affinity mode (no usable cpuset controller): kvmcg makes no cgroups"
	fi
fi

# --- apply, when its VM is killed mid-run, says so as pin does: exit 3 ---------------------------
if ! tl_guest_skips "apply, when its VM is killed mid-run" "exit codes do not depend on the cgroup mode"; then
	pid=$(tl_qemu p -smp 2 -name t-apply-killed -qmp unix:"$TL_TMP"/p.qmp,server=on,wait=off)
	tl_settle "$pid" 2
	pol=$TL_TMP/pol
	mkdir -m 0755 "$pol"
	printf '[Match]\nName=t-apply-killed\n[CPU]\nVCPUPin=all:0\n' >"$pol"/k.policy
	chmod 0644 "$pol"/k.policy
	KVMCG_TEST_KILL_AT=2 "$KVMCG_TEST" apply --policy-dir "$pol" >/dev/null 2>"$TL_TMP/err"
	tl_eq "apply, VM killed during its run: exit 3" "$?" 3
	tl_check "apply, VM killed: says it exited" grep -q "exited during the pin" "$TL_TMP/err"
	"$KVMCG" list >/dev/null 2>&1
	tl_check "apply, VM killed: nothing left" test -z "$(ls "$KVMCG_STATE_DIR")"
fi

# --- every action kind undone exactly, at every position -------------------------------------------
pid=$(tl_qemu u -smp 2 -name t-undo -object iothread,id=io1 -qmp unix:"$TL_TMP"/u.qmp,server=on,wait=off)
tl_settle "$pid" 2
tune=(--vcpu-scheduler rr:2)
[ "$mode" = v2 ] && tune+=(--cpu-weight 300 --cpu-quota 150%)
# A root of its own, so that its controllers are enabled by this plan whatever other
# tests enabled elsewhere: +cpu included.
root=kvmcg-t-undo-$$
tl_on_exit "tl_rmcg '$mount/$root'"
args=(--vcpu 0:0 --vcpu 1:"$other" --emulator 0 --iothread io1:"$other" "${tune[@]}")
[ "$mode" = affinity ] || args+=(--cgroup-root "$mount/$root")
before=$(snapshot "$pid")
tree_before=$(tree "$root")
dry=$("$KVMCG" pin --pid "$pid" "${args[@]}" --dry-run --json)
n=$(jq '.actions | length' <<<"$dry")
kinds=$(jq -r '[.actions[].action] | unique | join(" ")' <<<"$dry")
echo "# $n actions of kinds: $kinds"
if [ "$mode" = v2 ]; then
	tl_check "undo: the plan enables +cpu (the kind a rollback once forgot)" \
		jq -e '[.actions[] | select(.action == "enable-controller" and .value == "+cpu")] | length > 0' <<<"$dry"
else
	tl_skip "undo: the plan enables +cpu" "cgroup.subtree_control is cgroup v2's; this is $mode"
fi
bad=0
for ((at = 1; at <= n; at++)); do
	KVMCG_TEST_FAIL_AT=$at "$KVMCG_TEST" pin --pid "$pid" "${args[@]}" >/dev/null 2>"$TL_TMP/err"
	rc=$?
	if [ "$rc" -ne 1 ] || [ "$(snapshot "$pid")" != "$before" ] || [ "$(tree "$root")" != "$tree_before" ] ||
		[ -n "$(ls "$KVMCG_STATE_DIR")" ]; then
		echo "#   failure at action $at: exit $rc; $(cat "$TL_TMP/err")"
		diff <(echo "$tree_before") <(tree "$root") | sed 's/^/#     /' | head -10
		bad=$((bad + 1))
	fi
	sched=$(snapshot_threads "$pid" | awk '{ print $NF }' | sort -u)
	[ "$sched" = other/0 ] || { echo "#   failure at action $at: scheduling classes $sched"; bad=$((bad + 1)); }
done
tl_eq "undo: a failure at each of the $n actions puts back every thread, cgroup file and the record" "$bad" 0
tl_cgroups_only tl_check "undo: ... and the root it made is gone again" test ! -e "$mount/$root"
tl_done
