#!/bin/bash
# Policy paths: kvmcg reads no policy through a symbolic link in any component of
# its path, nor through "..", and as root refuses a path that others could change
# (every directory on the way owned by root and not group/other-writable unless
# sticky; the policy directory and file not group/other-writable at all). The same
# walk serves `pin --policy FILE`, `check FILE`, `apply --policy-dir DIR` and each
# DIR/*.policy. A refusal is exit 2 with one line naming the path and the component
# at fault, and leaves every VM as it was (read back from the kernel). As another
# user, `check` keeps only the link and ".." rules. Runs on the host and in the test
# guest.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "policy paths are the same on any cgroup mode"

command -v qemu-system-x86_64 >/dev/null || {
	tl_skip "policy paths" "qemu-system-x86_64 is not installed"
	tl_done
}
export KVMCG_STATE_DIR=$TL_TMP/state
tl_detect_cgroups
last=$((ncpu - 1))

# run ARGS...: kvmcg ARGS, with $rc, and stdout/stderr in $TL_TMP/out and err.
run() {
	"$KVMCG" "$@" >"$TL_TMP/out" 2>"$TL_TMP/err"
	rc=$?
}

# refused DESC PATH COMPONENT ARGS...: exit 2, and stderr is one line that starts
# with "kvmcg: " and names both PATH and COMPONENT (fixed strings).
refused() {
	local desc=$1 path=$2 comp=$3
	shift 3
	run "$@"
	tl_eq "$desc: exit 2" "$rc" 2
	tl_eq "$desc: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
	local line
	line=$(head -1 "$TL_TMP/err")
	if [[ $line == "kvmcg: "* && $line == *"$path"* && $line == *"$comp"* ]]; then
		tl_ok "$desc: names $path and $comp"
	else
		tl_fail "$desc: names $path and $comp"
		echo "#   stderr: $line"
	fi
}

# check_refused DESC FILE COMPONENT [RUNAS...]: `kvmcg check FILE` exits 2 and its
# first line is "kvmcg: FILE: error: ..." naming COMPONENT.
check_refused() {
	local desc=$1 file=$2 comp=$3
	shift 3
	"$@" "$KVMCG" check "$file" >"$TL_TMP/out" 2>"$TL_TMP/err"
	rc=$?
	tl_eq "$desc: exit 2" "$rc" 2
	local line
	line=$(head -1 "$TL_TMP/out")
	if [[ $line == "kvmcg: $file: error: "* && $line == *"$comp"* ]]; then
		tl_ok "$desc: 'kvmcg: FILE: error:' naming $comp"
	else
		tl_fail "$desc: 'kvmcg: FILE: error:' naming $comp"
		echo "#   stdout: $line"
	fi
	tl_eq "$desc: summary counts the error" "$(tail -1 "$TL_TMP/out")" "1 file checked: 1 error, 0 warnings"
}

untouched() { # DESC: the VM, its cgroups and kvmcg's state as before
	tl_eq "$1: the VM is untouched (kernel)" "$(snapshot "$vm")" "$before"
	tl_eq "$1: no state recorded" "$(ls -A "$KVMCG_STATE_DIR" 2>/dev/null)" ""
}

# The user nobody must reach its own directory below $TL_TMP (0700 by mktemp);
# 0711 lets it through without letting it list or write anything here.
chmod 0711 "$TL_TMP"

name=t-paths-$$
vm=$(tl_qemu vm -smp 2 -name "$name" -qmp unix:"$TL_TMP"/vm.qmp,server=on,wait=off)
tl_settle "$vm" 2
before=$(snapshot "$vm")

good=$TL_TMP/good
mkdir -m 0755 "$good"
cat >"$good"/vm.policy <<EOF
[Match]
Name=$name
[CPU]
VCPUPin=all:0
EmulatorPin=$last
EOF
chmod 0644 "$good"/vm.policy

# --- the good directory and file are read and used: the refusals below are the links'
run check "$good"/vm.policy
tl_eq "good file: check exits 0" "$rc" 0
run apply --policy-dir "$good" --dry-run --json
tl_eq "good directory: apply --dry-run exits 6 (the VM would change)" "$rc" 6
tl_eq "good directory: the VM is planned from vm.policy" \
	"$(jq -r --argjson p "$vm" '.vms[] | select(.pid == $p) | "\(.result) \(.policy)"' "$TL_TMP/out")" \
	"dry-run $good/vm.policy"

# --- example 1: --policy-dir that is a symbolic link to the good directory ----------------
ln -s good "$TL_TMP"/link
refused "--policy-dir LINK" "$TL_TMP/link" "$TL_TMP/link: it is a symbolic link" \
	apply --policy-dir "$TL_TMP"/link
tl_eq "--policy-dir LINK: nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0
untouched "--policy-dir LINK"
refused "--policy-dir LINK/ (trailing slash)" "$TL_TMP/link/" "$TL_TMP/link: it is a symbolic link" \
	apply --policy-dir "$TL_TMP"/link/ --dry-run

# --- example 2: --policy LINK/file.policy, LINK a symlinked directory ----------------------
refused "pin --policy LINK/vm.policy" "$TL_TMP/link/vm.policy" "$TL_TMP/link: it is a symbolic link" \
	pin --pid "$vm" --policy "$TL_TMP"/link/vm.policy
untouched "pin --policy LINK/vm.policy"

# --- a symbolic link in a middle component -------------------------------------------------
ln -s . "$TL_TMP"/here
refused "--policy-dir with a link in the middle" "$TL_TMP/here/good" "$TL_TMP/here: it is a symbolic link" \
	apply --policy-dir "$TL_TMP"/here/good
refused "pin --policy with a link in the middle" "$TL_TMP/here/good/vm.policy" \
	"$TL_TMP/here: it is a symbolic link" pin --pid "$vm" --policy "$TL_TMP"/here/good/vm.policy
untouched "a link in the middle"

# --- a symlinked policy file inside a good directory: apply names it and refuses it ---------
mixed=$TL_TMP/mixed
mkdir -m 0755 "$mixed"
ln -s ../good/vm.policy "$mixed"/vm.policy
run apply --policy-dir "$mixed" --json
tl_eq "symlinked file in DIR: apply exits 2" "$rc" 2
tl_eq "symlinked file in DIR: one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
tl_check "symlinked file in DIR: the line names the file and says why" \
	grep -qxF "kvmcg: $mixed/vm.policy: error: refusing $mixed/vm.policy: it is a symbolic link, and kvmcg follows none; name the real path" "$TL_TMP/err"
tl_eq "symlinked file in DIR: listed with its error" \
	"$(jq -r '.policies[] | "\(.file) \(.errors)"' "$TL_TMP/out")" "$mixed/vm.policy 1"
tl_eq "symlinked file in DIR: no VM matched" "$(jq '.vms | length' "$TL_TMP/out")" 0
untouched "symlinked file in DIR"
refused "pin --policy DIR/symlinked-file" "$mixed/vm.policy" "it is a symbolic link" \
	pin --pid "$vm" --policy "$mixed"/vm.policy
untouched "pin --policy DIR/symlinked-file"

# --- a group-writable directory above that is not sticky; a sticky one is fine --------------
mkdir -m 0755 "$TL_TMP"/gw "$TL_TMP"/gw/pol
cp -p "$good"/vm.policy "$TL_TMP"/gw/pol/
chmod 0775 "$TL_TMP"/gw
refused "group-writable ancestor" "$TL_TMP/gw/pol" \
	"refusing the directory $TL_TMP/gw above it: writable by its group and not sticky (mode 0775)" \
	apply --policy-dir "$TL_TMP"/gw/pol
refused "group-writable ancestor (pin --policy)" "$TL_TMP/gw/pol/vm.policy" \
	"refusing the directory $TL_TMP/gw above it: writable by its group and not sticky" \
	pin --pid "$vm" --policy "$TL_TMP"/gw/pol/vm.policy
untouched "group-writable ancestor"
chmod 1777 "$TL_TMP"/gw
run apply --policy-dir "$TL_TMP"/gw/pol --dry-run
tl_eq "sticky world-writable ancestor (like /tmp): accepted (exit 6: the VM would change)" "$rc" 6
refused "sticky world-writable policy directory itself" "$TL_TMP/gw" \
	"refusing the policy directory $TL_TMP/gw: writable by others (mode 1777)" \
	apply --policy-dir "$TL_TMP"/gw --dry-run
chmod 0755 "$TL_TMP"/gw

# --- a file owned by nobody -------------------------------------------------------------------
mkdir -m 0755 "$TL_TMP"/theirs
cp -p "$good"/vm.policy "$TL_TMP"/theirs/
chown 65534:65534 "$TL_TMP"/theirs/vm.policy
refused "policy file owned by nobody (pin --policy)" "$TL_TMP/theirs/vm.policy" "owned by uid 65534, not root" \
	pin --pid "$vm" --policy "$TL_TMP"/theirs/vm.policy
run apply --policy-dir "$TL_TMP"/theirs
tl_eq "policy file owned by nobody (apply): exit 2" "$rc" 2
tl_check "policy file owned by nobody (apply): named" \
	grep -qF "kvmcg: $TL_TMP/theirs/vm.policy: error: refusing policy file $TL_TMP/theirs/vm.policy: owned by uid 65534, not root" "$TL_TMP/err"
check_refused "check of a file owned by nobody" "$TL_TMP/theirs/vm.policy" "owned by uid 65534, not root"
untouched "policy file owned by nobody"

# --- ".." in the path ----------------------------------------------------------------------------
refused "--policy-dir with '..'" "$good/../good" "'..' in the path" apply --policy-dir "$good"/../good
refused "pin --policy with '..'" "$good/../good/vm.policy" "'..' in the path" \
	pin --pid "$vm" --policy "$good"/../good/vm.policy
check_refused "check with '..'" "$good/../good/vm.policy" "'..' in the path"
untouched "'..' in the path"

# --- kvmcg check as root on symlinked paths ------------------------------------------------------
check_refused "check LINK/file (root)" "$TL_TMP/link/vm.policy" "refusing $TL_TMP/link: it is a symbolic link"
check_refused "check of a symlinked file (root)" "$mixed/vm.policy" "refusing $mixed/vm.policy: it is a symbolic link"
(cd "$TL_TMP" && "$KVMCG" check link/vm.policy >"$TL_TMP/out" 2>&1)
tl_eq "check of a relative path through a link: exit 2" "$?" 2
tl_check "check of a relative path through a link: names the link by its absolute path" \
	grep -qF "kvmcg: link/vm.policy: error: refusing $TL_TMP/link: it is a symbolic link" "$TL_TMP/out"
(cd "$good" && "$KVMCG" check vm.policy >/dev/null 2>&1)
tl_eq "check of a relative path to the real file: exit 0" "$?" 0

# --- the default directory goes through the same walk ---------------------------------------------
if [ ! -e /etc/kvmcg ]; then
	refused "default policy directory, missing" "/etc/kvmcg/policies" "/etc/kvmcg: No such file or directory" \
		apply --dry-run
else
	tl_skip "default policy directory" "/etc/kvmcg exists on this host; not touching it"
fi

# --- kvmcg check as the user nobody: its own file is fine, a link is not ------------------------
user=$TL_TMP/user
mkdir -m 0755 "$user"
cp "$good"/vm.policy "$user"/mine.policy
ln -s mine.policy "$user"/link.policy
ln -s . "$user"/dir
chown -hR 65534:65534 "$user"
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if ! command -v setpriv >/dev/null; then
	tl_skip "check as nobody" "setpriv (util-linux) is not installed"
elif ! "${as_nobody[@]}" test -x "$KVMCG"; then
	tl_skip "check as nobody" "the user nobody cannot run $KVMCG"
else
	"${as_nobody[@]}" "$KVMCG" check "$user"/mine.policy >"$TL_TMP/out" 2>&1
	tl_eq "check as nobody, its own file: exit 0" "$?" 0
	tl_eq "check as nobody, its own file: no errors" "$(tail -1 "$TL_TMP/out")" "1 file checked: 0 errors, 0 warnings"
	chmod 0777 "$user"
	"${as_nobody[@]}" "$KVMCG" check "$user"/mine.policy >/dev/null 2>&1
	tl_eq "check as nobody: no owner or mode checks for a user's own files" "$?" 0
	chmod 0755 "$user"
	check_refused "check as nobody through a symlinked file" "$user/link.policy" \
		"refusing $user/link.policy: it is a symbolic link" "${as_nobody[@]}"
	check_refused "check as nobody through a symlinked directory" "$user/dir/mine.policy" \
		"refusing $user/dir: it is a symbolic link" "${as_nobody[@]}"
fi

# --- the real path is used: the policy is carried out, then undone --------------------------------
run pin --pid "$vm" --policy "$good"/vm.policy
tl_eq "pin --policy by the real path: exit 0" "$rc" 0
v0=$("$KVMCG" show --pid "$vm" --json | jq -r '.threads[] | select(.kind == "vcpu" and .index == 0) | .tid')
tl_eq "pin --policy by the real path: vCPU 0 on CPU 0 (kernel)" "$(allowed "$vm" "$v0")" 0
"$KVMCG" unpin --pid "$vm" >/dev/null
tl_eq "unpin restores the VM" "$(snapshot "$vm")" "$before"
tl_done
