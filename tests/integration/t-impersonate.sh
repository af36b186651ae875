#!/bin/bash
# A process that only LOOKS like QEMU is not a VM. An ordinary user (nobody) can set
# argv[0] (exec -a), thread names (prctl PR_SET_NAME), -name on its command line, a
# locked pidfile and a socket that speaks QMP; none of that may make root's kvmcg
# raise its threads to SCHED_FIFO or move them between cgroups. A VM is what the
# kernel's /proc/PID/exe says (a root-owned QEMU executable) or a holder of a KVM VM.
# The same user's REAL QEMU stays a VM, listed with its owner.
# Every check reads the kernel directly (chrt, /proc), not kvmcg.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "what makes a process a VM is read from /proc, the same on any cgroup mode"

for tool in qemu-system-x86_64 python3 setpriv chrt jq; do
	command -v "$tool" >/dev/null || {
		tl_skip "impersonation" "$tool is not installed"
		tl_done
	}
done
id nobody >/dev/null 2>&1 || {
	tl_skip "impersonation" "there is no user nobody"
	tl_done
}
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
export KVMCG_STATE_DIR=$TL_TMP/state
tl_detect_cgroups
# Nothing here may be pinned; should kvmcg pin something anyway, its cgroups go too,
# after tl_cleanup has stopped every process.
VM_NAMES=(x x2 x3 x4 x5 x6 x7 x8 x9 x10 realx)
rm_cgroups() {
	[ -n "$mount" ] || return 0
	local n
	for n in "${VM_NAMES[@]}"; do
		[ -d "$mount/kvmcg/$n" ] && find "$mount/kvmcg/$n" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}
trap 'tl_cleanup; rm_cgroups' EXIT

# The test's directory: nobody may enter it (to run the script in it) but not list or
# change it. nb/ is nobody's own: pidfiles, sockets, its copies of programs.
chmod 0711 "$TL_TMP"
nb=$TL_TMP/nb
mkdir -m 0755 "$nb"
chown "$NOBODY_UID:$NOBODY_GID" "$nb"
python=$(readlink -f /usr/bin/python3)

# The impersonator: two threads named "CPU n/KVM"; with -pidfile it keeps a locked
# pidfile as QEMU does; with -qmp it answers QMP, naming its own threads as vCPUs;
# IMP_COMM renames its main thread.
script=$TL_TMP/vcpus.py
cat >"$script" <<'PY'
import ctypes, fcntl, json, os, socket, sys, threading, time
libc = ctypes.CDLL(None)
def setname(name):
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1] if name in args else None
tids = []
def vcpu(i):
    setname("CPU %d/KVM" % i)
    tids.append(threading.get_native_id())
    time.sleep(86400)
for i in range(2):
    threading.Thread(target=vcpu, args=(i,), daemon=True).start()
if os.environ.get("IMP_COMM"):
    setname(os.environ["IMP_COMM"])
if opt("-pidfile"):
    pf = open(opt("-pidfile"), "w")
    fcntl.lockf(pf, fcntl.LOCK_EX)
    pf.write("%d\n" % os.getpid())
    pf.flush()
if opt("-qmp"):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(opt("-qmp")[len("unix:"):].split(",")[0])
    srv.listen(1)
    def serve():
        while True:
            c, _ = srv.accept()
            r, w = c.makefile("r"), c.makefile("w")
            w.write(json.dumps({"QMP": {"version": {}, "capabilities": []}}) + "\n")
            w.flush()
            while True:
                line = r.readline()
                if not line:
                    break
                req = json.loads(line)
                cmd, ret = req.get("execute"), {}
                if cmd == "query-name":
                    ret = {"name": "x"}
                elif cmd == "query-cpus-fast":
                    ret = [{"cpu-index": i, "thread-id": t} for i, t in enumerate(tids)]
                elif cmd == "query-iothreads":
                    ret = []
                w.write(json.dumps({"return": ret, "id": req.get("id")}) + "\n")
                w.flush()
            c.close()
    threading.Thread(target=serve, daemon=True).start()
time.sleep(86400)
PY
chmod 0644 "$script"

# as_nobody CMD...: runs CMD as nobody, with no supplementary group, in its own session.
as_nobody() {
	env PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid setpriv --reuid="$NOBODY_UID" \
		--regid="$NOBODY_GID" --clear-groups "$@"
}

# start_nobody CMD...: starts CMD as nobody in the background, registered for cleanup;
# prints its pid once a thread named "CPU 1/..." exists.
start_nobody() {
	# a simple command, not a function, in the background: $! is the pid that
	# env, setsid (not a group leader: no fork) and setpriv exec into
	env PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid setpriv --reuid="$NOBODY_UID" \
		--regid="$NOBODY_GID" --clear-groups "$@" </dev/null >/dev/null 2>>"$TL_TMP/nobody.err" &
	local pid=$!
	tl_register_pid "$pid"
	for _ in $(seq 100); do
		grep -qs '^CPU 1/' /proc/"$pid"/task/*/comm && break
		sleep 0.05
	done
	echo "$pid"
}

# "tid policy" of every thread of PID, from chrt (sched_getscheduler), not kvmcg.
sched_of() {
	local t
	for t in /proc/"$1"/task/*; do
		t=${t##*/}
		echo "$t $(chrt -p "$t" | sed -n 's/.*scheduling policy: //p')"
	done
}

# expect_refused DESC PID PATTERN ARGS...: kvmcg ARGS exits 1 with one line on stderr
# matching PATTERN, nothing on stdout; PID's threads keep their policy, affinity and
# cgroup.
expect_refused() {
	local desc=$1 pid=$2 pattern=$3
	shift 3
	local before_sched before_snap
	before_sched=$(sched_of "$pid")
	before_snap=$(snapshot "$pid")
	"$KVMCG" "$@" >"$TL_TMP/out" 2>"$TL_TMP/err"
	tl_eq "$desc: exit code 1" "$?" 1
	tl_eq "$desc: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
	tl_check "$desc: says '$pattern'" grep -q -- "$pattern" "$TL_TMP/err"
	tl_eq "$desc: nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0
	tl_eq "$desc: every thread keeps its scheduling policy" "$(sched_of "$pid")" "$before_sched"
	tl_eq "$desc: every thread keeps its affinity and cgroup" "$(snapshot "$pid")" "$before_snap"
}

# not_listed DESC PID: kvmcg list --json leaves PID out.
not_listed() {
	tl_eq "$1: not in kvmcg list --json" \
		"$("$KVMCG" list --json | jq --argjson p "$2" '[.vms[] | select(.pid == $p)] | length')" 0
}

# --- 1. the reported example: exec -a qemu-system-x86_64 python3 SCRIPT -name guest=x ------------
imp=$(start_nobody bash -c 'exec -a qemu-system-x86_64 python3 "$0" -name guest=x' "$script")
tl_eq "example: argv[0] says QEMU" "$(tr '\0' '\n' </proc/"$imp"/cmdline | head -1)" qemu-system-x86_64
tl_eq "example: three threads, two named CPU n/KVM (from /proc)" \
	"$(ls /proc/"$imp"/task | wc -l) $(grep -c '^CPU [01]/KVM$' /proc/"$imp"/task/*/comm | awk -F: '{ s += $2 } END { print s }')" "3 2"
tl_eq "example: run by nobody" "$(stat -c %u /proc/"$imp")" "$NOBODY_UID"
tl_eq "example: every thread starts as SCHED_OTHER (chrt)" "$(sched_of "$imp" | awk '{ print $2 }' | sort -u)" SCHED_OTHER
exe=$(readlink /proc/"$imp"/exe)
expect_refused "example: pin --name x --vcpu-scheduler fifo:10" "$imp" "no running VM is named 'x'" \
	pin --name x --vcpu all:0 --vcpu-scheduler fifo:10
expect_refused "example: pin --pid" "$imp" "pid $imp is not a VM" \
	pin --pid "$imp" --vcpu all:0 --vcpu-scheduler fifo:10
# unpin's selection says the same, though it looks for exited VMs' records first
expect_refused "example: unpin --pid" "$imp" "pid $imp is not a VM" unpin --pid "$imp"
expect_refused "example: show --pid" "$imp" \
	"pid $imp is not a VM: its command line says qemu-system-x86_64 but its executable is $exe, and it holds no KVM VM" \
	show --pid "$imp"
not_listed "example" "$imp"

# ... and with a policy that matches Name=x (root-owned, as apply requires).
pol=$TL_TMP/policies
mkdir -m 0755 "$pol"
cat >"$pol"/x.policy <<'EOF'
[Match]
Name=x
[CPU]
VCPUPin=all:0
VCPUScheduler=fifo:10
EOF
chmod 0644 "$pol"/x.policy
before_sched=$(sched_of "$imp")
before_snap=$(snapshot "$imp")
out=$("$KVMCG" apply --policy-dir "$pol" --json 2>"$TL_TMP/err")
tl_eq "example: apply --policy-dir (Name=x) exits 0" "$?" 0
tl_eq "example: apply matched no VM" "$(jq '[.vms[]? | select(.pid == '"$imp"')] | length' <<<"$out")" 0
tl_eq "example: apply: every thread keeps its scheduling policy" "$(sched_of "$imp")" "$before_sched"
tl_eq "example: apply: every thread keeps its affinity and cgroup" "$(snapshot "$imp")" "$before_snap"

# --- 2. a copy of python named qemu-system-x86_64 in nobody's directory ------------------------
cp "$python" "$nb"/qemu-system-x86_64
chown "$NOBODY_UID:$NOBODY_GID" "$nb"/qemu-system-x86_64
copy=$(start_nobody "$nb"/qemu-system-x86_64 "$script" -name guest=x2)
tl_eq "copy: the kernel names the copy" "$(readlink /proc/"$copy"/exe)" "$nb/qemu-system-x86_64"
expect_refused "copy: show --pid" "$copy" \
	"its executable $nb/qemu-system-x86_64 is owned by uid $NOBODY_UID, not root" show --pid "$copy"
expect_refused "copy: pin --name x2" "$copy" "no running VM is named 'x2'" \
	pin --name x2 --vcpu all:0 --vcpu-scheduler fifo:10
not_listed "copy" "$copy"

# --- 3. a symbolic link named qemu-system-x86_64 to python, a shebang script so named -------------
mkdir "$nb"/link
ln -s "$python" "$nb"/link/qemu-system-x86_64
chown -h -R "$NOBODY_UID:$NOBODY_GID" "$nb"/link
link=$(start_nobody "$nb"/link/qemu-system-x86_64 "$script" -name guest=x3)
tl_eq "symlink: the kernel names python" "$(readlink /proc/"$link"/exe)" "$python"
expect_refused "symlink: show --pid" "$link" "its executable is $python" show --pid "$link"
expect_refused "symlink: pin --name x3" "$link" "no running VM is named 'x3'" \
	pin --name x3 --vcpu all:0 --vcpu-scheduler fifo:10
mkdir "$nb"/sh
{
	echo "#!$python"
	cat "$script"
} >"$nb"/sh/qemu-system-x86_64
chmod 0755 "$nb"/sh/qemu-system-x86_64
chown -R "$NOBODY_UID:$NOBODY_GID" "$nb"/sh
shebang=$(start_nobody "$nb"/sh/qemu-system-x86_64 -name guest=x4)
expect_refused "shebang script: pin --name x4" "$shebang" "no running VM is named 'x4'" \
	pin --name x4 --vcpu all:0 --vcpu-scheduler fifo:10
not_listed "shebang script" "$shebang"

# --- 4. comm renamed by prctl, a locked pidfile, a socket that speaks QMP --------------------------
talker=$(IMP_COMM=qemu-system-x86 start_nobody python3 "$script" -name guest=x5 \
	-pidfile "$nb"/x5.pid -qmp unix:"$nb"/x5.qmp,server=on,wait=off)
for _ in $(seq 50); do [ -S "$nb"/x5.qmp ] && [ -s "$nb"/x5.pid ] && break; sleep 0.05; done
tl_eq "talker: its main thread calls itself qemu-system-x86" "$(cat /proc/"$talker"/comm)" qemu-system-x86
tl_check "talker: its socket answers QMP with its own threads as vCPUs (socat)" \
	test "$(tl_qmp "$nb"/x5.qmp query-cpus-fast | jq length)" = 2
expect_refused "talker: show --pid" "$talker" "its name says qemu-system-x86 but its executable is" \
	show --pid "$talker"
expect_refused "talker: pin --pidfile (locked by it)" "$talker" "pid $talker is not a VM" \
	pin --pidfile "$nb"/x5.pid --vcpu all:0 --vcpu-scheduler fifo:10
expect_refused "talker: pin --qmp (it listens there)" "$talker" "pid $talker is not a VM" \
	pin --qmp "$nb"/x5.qmp --vcpu all:0 --vcpu-scheduler fifo:10
cat >"$pol"/x5.policy <<EOF
[Match]
PidFile=$nb/x5.pid
[CPU]
VCPUScheduler=fifo:10
EOF
chmod 0644 "$pol"/x5.policy
before_sched=$(sched_of "$talker")
"$KVMCG" apply --policy-dir "$pol" >/dev/null 2>&1
tl_eq "talker: apply (PidFile=) keeps every thread's policy" "$(sched_of "$talker")" "$before_sched"
rm -f "$pol"/x5.policy
not_listed "talker" "$talker"

# --- 5. nobody's REAL QEMU (root's binary) is a VM, owned by nobody ----------------------------
bios=$(tl_halt_bios)
chmod 0644 "$bios"
real_args=(-accel tcg -m 64 -display none -nodefaults -no-user-config -bios "$bios" -smp 2)
real=$(start_nobody qemu-system-x86_64 "${real_args[@]}" -name guest=realx,process=renamed,debug-threads=on)
# and an impersonator that takes the same name
twin=$(start_nobody bash -c 'exec -a qemu-system-x86_64 python3 "$0" -name guest=realx' "$script")
json=$("$KVMCG" show --name realx --json)
tl_eq "real QEMU run by nobody: --name realx finds it, not the impersonator of the same name" \
	"$(jq .pid <<<"$json")" "$real"
tl_eq "real QEMU run by nobody: evidence exe (TCG holds no KVM fd)" "$(jq -c .evidence <<<"$json")" '["exe"]'
tl_eq "real QEMU run by nobody: owner" "$(jq -c .owner <<<"$json")" \
	"{\"uid\":$NOBODY_UID,\"user\":\"$(id -un "$NOBODY_UID")\"}"
tl_eq "real QEMU run by nobody: exe_path is the kernel's" "$(jq -r .exe_path <<<"$json")" \
	"$(readlink /proc/"$real"/exe)"
tl_eq "real QEMU run by nobody: -name process= renamed it, still found" "$(jq -r .comm <<<"$json")" renamed
text=$("$KVMCG" show --pid "$real")
tl_check "show text: an Evidence line" grep -qE '^Evidence: +exe$' <<<"$text"
tl_check "show text: an Owner line" grep -qE "^Owner: +$(id -un "$NOBODY_UID") \\(uid $NOBODY_UID\\)$" <<<"$text"
list=$("$KVMCG" list --json)
tl_eq "list --json: the real QEMU with its owner and evidence" \
	"$(jq -c --argjson p "$real" '.vms[] | select(.pid == $p) | [.owner.uid, .evidence]' <<<"$list")" \
	"[$NOBODY_UID,[\"exe\"]]"
tl_eq "list --json: not its impersonating twin" \
	"$(jq --argjson p "$twin" '[.vms[] | select(.pid == $p)] | length' <<<"$list")" 0
"$KVMCG" pin --name realx --vcpu all:0 --vcpu-scheduler fifo:10 --dry-run >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "real QEMU run by nobody: pin --dry-run plans (exit 0)" "$?" 0

# --- 6. the real QEMU binary, copied into nobody's directory ---------------------------------------
cp "$(command -v qemu-system-x86_64)" "$nb"/qemu-system-x86_64.real
chown "$NOBODY_UID:$NOBODY_GID" "$nb"/qemu-system-x86_64.real
mkdir "$nb"/q
mv "$nb"/qemu-system-x86_64.real "$nb"/q/qemu-system-x86_64
chown "$NOBODY_UID:$NOBODY_GID" "$nb"/q
# a QEMU outside /usr/bin finds its modules and ROMs only when told where they are
moddir=$(dirname "$(find /usr/lib* -name 'accel-tcg-x86_64.so' -path '*qemu*' 2>/dev/null | head -1)")
export QEMU_MODULE_DIR=$moddir
tcgcopy=$(start_nobody "$nb"/q/qemu-system-x86_64 -L /usr/share/qemu "${real_args[@]}" \
	-name guest=x6,debug-threads=on)
tl_eq "nobody's copy of QEMU runs (TCG)" "$(cat /proc/"$tcgcopy"/comm 2>/dev/null)" qemu-system-x86
expect_refused "nobody's copy of QEMU, TCG (no KVM VM): show --pid" "$tcgcopy" \
	"owned by uid $NOBODY_UID, not root, and it holds no KVM VM" show --pid "$tcgcopy"
expect_refused "nobody's copy of QEMU, TCG: pin --name x6" "$tcgcopy" "no running VM is named 'x6'" \
	pin --name x6 --vcpu all:0 --vcpu-scheduler fifo:10
if tl_have_kvm && as_nobody test -r /dev/kvm -a -w /dev/kvm; then
	kvmcopy=$(start_nobody "$nb"/q/qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu qemu64 \
		"${real_args[@]:2}" -name guest=x7)
	tl_settle "$kvmcopy" 2
	json=$("$KVMCG" show --pid "$kvmcopy" --json)
	tl_eq "nobody's copy of QEMU with KVM: a VM by its KVM fd alone" "$(jq -c .evidence <<<"$json")" '["kvm-fd"]'
else
	tl_skip "nobody's copy of QEMU with KVM" "/dev/kvm is not usable by nobody here"
fi

# --- 7. a name the user arranged: root's python bound onto qemu-system-x86_64 in a mount
# namespace of its own user namespace, or hard-linked into a directory it can write ---------------
mkdir -m 0755 "$nb"/u "$nb"/hl
: >"$nb"/u/qemu-system-x86_64
chown -R "$NOBODY_UID:$NOBODY_GID" "$nb"/u "$nb"/hl
if as_nobody unshare -Urm true 2>/dev/null; then
	bound=$(start_nobody unshare -Urm sh -c 'mount --bind "$1" "$2" && exec "$2" "$3" -name guest=x8' \
		sh "$python" "$nb"/u/qemu-system-x86_64 "$script")
	tl_eq "user namespace bind mount: the kernel names qemu-system-x86_64" \
		"$(readlink /proc/"$bound"/exe)" "$nb/u/qemu-system-x86_64"
	tl_eq "user namespace bind mount: ... and the file is root's python" \
		"$(stat -L -c '%u %i' /proc/"$bound"/exe)" "$(stat -c '%u %i' "$python")"
	expect_refused "user namespace bind mount: show --pid" "$bound" "user namespace of its own" \
		show --pid "$bound"
	expect_refused "user namespace bind mount: pin --name x8" "$bound" "no running VM is named 'x8'" \
		pin --name x8 --vcpu all:0 --vcpu-scheduler fifo:10
	not_listed "user namespace bind mount" "$bound"
else
	tl_skip "user namespace bind mount" "nobody may not create a user namespace here"
fi
# root makes the link (a user can, where fs.protected_hardlinks=0)
if ln "$python" "$nb"/hl/qemu-system-x86_64 2>/dev/null; then
	linked=$(start_nobody "$nb"/hl/qemu-system-x86_64 "$script" -name guest=x9)
	tl_eq "hard link: the kernel names the link" "$(readlink /proc/"$linked"/exe)" "$nb/hl/qemu-system-x86_64"
	expect_refused "hard link in a directory nobody writes: show --pid" "$linked" \
		"path root does not control" show --pid "$linked"
	expect_refused "hard link: pin --name x9" "$linked" "no running VM is named 'x9'" \
		pin --name x9 --vcpu all:0 --vcpu-scheduler fifo:10
else
	tl_skip "hard link" "python is on another filesystem than $nb"
fi
# root's own mount namespace is root's arrangement: its QEMU is a VM
if unshare -m --propagation private true 2>/dev/null; then
	unshare -m --propagation private qemu-system-x86_64 "${real_args[@]}" -name guest=x10 \
		-pidfile "$TL_TMP"/x10.pid -daemonize 2>>"$TL_TMP/nobody.err"
	rootns=$(cat "$TL_TMP"/x10.pid)
	tl_register_pid "$rootns"
	tl_check "root's mount namespace: QEMU runs in another one" \
		test "$(readlink /proc/"$rootns"/ns/mnt)" != "$(readlink /proc/self/ns/mnt)"
	tl_eq "root's mount namespace: still a VM, by its executable" \
		"$("$KVMCG" show --pid "$rootns" --json | jq -c .evidence)" '["exe"]'
else
	tl_skip "root's mount namespace" "unshare -m is not possible here"
fi

tl_done
