#!/bin/bash
# Exit codes and messages tell the truth: for bad input across every command, the
# documented exit code (2 usage, 1 runtime), exactly one line on stderr that starts
# with "kvmcg: " (or FILE:LINE:COL: for a located policy error), no raw control
# byte in it however the input was made (names and paths with a newline or ESC are
# escaped as \x0a, \x1b), nothing on stdout; each line leaves in a single write(2).
# Runs on the host and in the test guest; needs no VM.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "messages and exit codes do not depend on the cgroup mode"

# The shell running this script is a process that is not a VM.
not_vm=$$

# raw_controls FILE: the number of control bytes in FILE other than line ends.
raw_controls() { LC_ALL=C tr -d '\n\040-\176\200-\377' <"$1" | wc -c; }

# one_line DESC CODE PREFIX ARGS...: kvmcg ARGS exits CODE and writes exactly one
# line to stderr, starting with PREFIX, with no raw control byte; nothing on stdout.
one_line() {
	local desc=$1 code=$2 prefix=$3
	shift 3
	"$KVMCG" "$@" >"$TL_TMP/out" 2>"$TL_TMP/err"
	local rc=$?
	tl_eq "$desc: exit $code" "$rc" "$code"
	tl_eq "$desc: one line on stderr" "$(wc -l <"$TL_TMP/err") $(tail -c 1 "$TL_TMP/err" | od -An -c | tr -d ' ')" '1 \n'
	local line
	line=$(head -1 "$TL_TMP/err")
	if [[ $line == "$prefix"* ]]; then
		tl_ok "$desc: starts with '$prefix'"
	else
		tl_fail "$desc: starts with '$prefix'"
		echo "#   stderr: $line"
	fi
	tl_eq "$desc: no raw control byte" "$(raw_controls "$TL_TMP/err")" 0
	tl_eq "$desc: nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0
}

# --- usage errors: exit 2, "kvmcg: [COMMAND: ]WHAT; try 'kvmcg [COMMAND] --help'" ------------
one_line "no command" 2 "kvmcg: no command given; try 'kvmcg --help'"
one_line "unknown command" 2 "kvmcg: unknown command 'frobnicate'; try 'kvmcg --help'" frobnicate
one_line "unknown top-level option" 2 "kvmcg: unknown option '--frob'" --frob
one_line "help for an unknown command" 2 "kvmcg: help: unknown command 'frob'" help frob
one_line "unknown option" 2 "kvmcg: show: unknown option '--bogus'; try 'kvmcg show --help'" show --bogus
one_line "unknown short option in a group" 2 "kvmcg: list: unknown option '-x'" list -hx
one_line "missing value" 2 "kvmcg: show: option '--pid' needs a value; try 'kvmcg show --help'" show --pid
one_line "a value for a flag" 2 "kvmcg: list: option '--json' takes no value" list --json=yes
one_line "malformed pid" 2 "kvmcg: show: --pid: '12x' is not a process id" show --pid 12x
one_line "no VMSEL" 2 "kvmcg: pin: select one VM" pin --vcpu 0:0
one_line "bad --vcpu" 2 "kvmcg: pin: --vcpu 'x'" pin --pid "$not_vm" --vcpu x
one_line "bad --vcpu list" 2 "kvmcg: pin: --vcpu '0:1-'" pin --pid "$not_vm" --vcpu 0:1-
one_line "bad --qmp-timeout" 2 "kvmcg: show: --qmp-timeout" show --pid "$not_vm" --qmp-timeout 0
one_line "stray argument" 2 "kvmcg: unpin: unexpected argument 'extra'" unpin --pid "$not_vm" extra
one_line "check without a file" 2 "kvmcg: check: name at least one policy file" check
one_line "a newline in a bad option value" 2 "kvmcg: pin: --cpu-weight 'a\\x0akvmcg: forged'" \
	pin --pid "$not_vm" --cpu-weight $'a\nkvmcg: forged'

one_line "an option's prefix is not the option" 2 \
	"kvmcg: apply: unknown option '--policy' (did you mean --policy-dir? options are written in full)" \
	apply --policy /nonexistent
one_line "... nor with its value after =" 2 "kvmcg: pin: unknown option '--emu' (did you mean --emulator?" \
	pin --pid "$not_vm" --emu=0
one_line "--wait's value after a blank" 2 \
	"kvmcg: show: unexpected argument '30' (--wait takes its value as --wait=SECONDS)" show --pid "$not_vm" --wait 30
one_line "a setting given twice" 2 "kvmcg: show: --pid is given twice" show --pid 1 --pid 2
one_line "--emulator given twice" 2 "kvmcg: pin: --emulator is given twice" \
	pin --pid "$not_vm" --emulator 0 --emulator 1
one_line "unpin takes no captured tree" 2 "kvmcg: unpin: unknown option '--sysroot'" \
	unpin --pid "$not_vm" --sysroot /
"$KVMCG" pin --pid "$not_vm" --vcpu 0:0 --vcpu 1:0 >/dev/null 2>"$TL_TMP/err"
tl_check "--vcpu may be given more than once (then: not a VM)" grep -q "is not a VM" "$TL_TMP/err"

# --- output that cannot be written is a failure ---------------------------------------------------
if [ -w /dev/full ]; then
	"$KVMCG" list --no-qmp >/dev/full 2>"$TL_TMP/err"
	tl_eq "list >/dev/full: exit 1" "$?" 1
	tl_check "list >/dev/full: says it could not write" grep -q "^kvmcg: cannot write the output: No space left" \
		"$TL_TMP/err"
	"$KVMCG" --version >/dev/full 2>/dev/null
	tl_eq "--version >/dev/full: exit 1" "$?" 1
else
	tl_skip "output to /dev/full" "there is no /dev/full"
fi
# A reader that is gone by the time kvmcg writes: the same, not a death by SIGPIPE.
{
	sleep 0.3
	"$KVMCG" list --no-qmp 2>"$TL_TMP/err"
	echo $? >"$TL_TMP/rc"
} | true
tl_eq "list into a closed pipe: exit 1, not killed by SIGPIPE (141)" "$(cat "$TL_TMP/rc")" 1
tl_check "list into a closed pipe: says it could not write" grep -q "^kvmcg: cannot write the output: Broken pipe" \
	"$TL_TMP/err"

# --- runtime errors: exit 1 ----------------------------------------------------------------------
one_line "--name with a newline" 1 "kvmcg: no running VM is named 'a\\x0akvmcg: forged'" \
	show --name $'a\nkvmcg: forged'
one_line "--name with ESC" 1 "kvmcg: no running VM is named '\\x1b[31mred\\x1b[0m'" \
	pin --name $'\e[31mred\e[0m' --vcpu 0:0
one_line "--pid of a non-VM" 1 "kvmcg: pid $not_vm is not a VM" show --pid "$not_vm"
one_line "--pid of a non-VM (pin)" 1 "kvmcg: pid $not_vm is not a VM" pin --pid "$not_vm" --vcpu 0:0
one_line "missing --pidfile with a newline" 1 "kvmcg: cannot read pidfile $TL_TMP/a\\x0ab.pid" \
	show --pidfile "$TL_TMP"/$'a\nb.pid'

# --- policy paths: exit 2 ------------------------------------------------------------------------
one_line "--policy of a missing file" 2 "kvmcg: $TL_TMP/x.policy: error: No such file or directory" \
	pin --pid "$not_vm" --policy "$TL_TMP"/x.policy
one_line "--policy with a newline in the path" 2 "kvmcg: $TL_TMP/x\\x0akvmcg: forged.policy: error: " \
	pin --pid "$not_vm" --policy "$TL_TMP"/$'x\nkvmcg: forged.policy'
one_line "--policy-dir missing" 2 "kvmcg: policy directory $TL_TMP/none: No such file or directory" \
	apply --policy-dir "$TL_TMP"/none
one_line "--policy-dir with ESC in its name" 2 "kvmcg: policy directory $TL_TMP/\\x1b[2Jnone: " \
	apply --policy-dir "$TL_TMP"/$'\e[2Jnone'
mkdir -m 0700 "$TL_TMP"/pol
printf '[Match]\nName=x\n[CPU]\nWeight=99999\n' >"$TL_TMP"/pol/broken.policy
one_line "--policy with an error at a line and column" 2 "$TL_TMP/pol/broken.policy:4:8: error: Weight=" \
	pin --pid "$not_vm" --policy "$TL_TMP"/pol/broken.policy

# --- kvmcg check prints file-level problems as "kvmcg: FILE: error: ..." -------------------------
"$KVMCG" check "$TL_TMP"/missing.policy >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "check of a missing file: exit 2" "$?" 2
tl_eq "check of a missing file: kvmcg: FILE: error: ..." "$(cat "$TL_TMP/out")" \
	"kvmcg: $TL_TMP/missing.policy: error: No such file or directory
1 file checked: 1 error, 0 warnings"
tl_eq "check of a missing file: nothing on stderr" "$(wc -c <"$TL_TMP/err")" 0
"$KVMCG" check "$TL_TMP"/$'new\nline.policy' >"$TL_TMP/out" 2>&1
tl_eq "check of a path with a newline: the name is escaped" "$(head -1 "$TL_TMP/out")" \
	"kvmcg: $TL_TMP/new\\x0aline.policy: error: No such file or directory"
tl_eq "check of a path with a newline: no raw control byte" "$(raw_controls "$TL_TMP/out")" 0

# --- one line, one write(2) ------------------------------------------------------------------------
# LeakSanitizer cannot run under ptrace: a sanitizer build is traced without it.
traced() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=write -e signal=none -o "$TL_TMP/strace" "$KVMCG" "$@" >/dev/null 2>&1
	grep -c '^[0-9]* *write(2, ' "$TL_TMP/strace"
}
if command -v strace >/dev/null && strace -f -qq -e trace=none true 2>/dev/null; then
	tl_eq "a runtime error is one write(2) to stderr" "$(traced show --name $'a\nkvmcg: forged')" 1
	tl_eq "a usage error is one write(2) to stderr" "$(traced show --bogus)" 1
	tl_eq "a policy diagnostic on stderr is one write(2)" \
		"$(traced pin --pid "$not_vm" --policy "$TL_TMP"/pol/broken.policy)" 1
else
	tl_skip "single write(2)" "strace is not installed or cannot trace here"
fi
tl_done
