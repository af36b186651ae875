#!/bin/bash
# Completion as a person meets it: a real interactive bash (bash --norc --noprofile)
# in tmux, keys sent with send-keys and the screen read with capture-pane, once
# without the bash-completion package's functions and once with them; fish through
# `complete -C`; zsh by its syntax check, and in tmux too when zsh is installed. The
# VMs offered are real QEMUs, one named with a space; every name completed is then
# used, by pressing Enter, to show that kvmcg selects that VM with it.
. "$(dirname "$0")/../lib/testlib.sh"
tl_host_only "completion does not depend on the kernel or the cgroup mode"
tl_need_tools "completion" qemu-system-x86_64 tmux

export KVMCG_STATE_DIR=$TL_TMP/state
mkdir -m 0700 "$KVMCG_STATE_DIR"
BASH_COMP=$TL_ROOT/contrib/bash-completion/kvmcg
ZSH_COMP=$TL_ROOT/contrib/zsh/_kvmcg
FISH_COMP=$TL_ROOT/contrib/fish/kvmcg.fish
BIN_DIR=$(cd "$(dirname "$KVMCG")" && pwd)
# the kvmcg under test first on PATH, as "kvmcg"
[ "$(basename "$KVMCG")" = kvmcg ] || {
	tl_fail "the build's kvmcg is named kvmcg ($KVMCG)"
	tl_done
}

one=$(tl_qemu hc-comp-one -smp 1 -name 'guest=hc-comp one,debug-threads=on' \
	-object iothread,id=hc-io0 -object iothread,id=hc-io1)
two=$(tl_qemu hc-comp-two -smp 1 -name 'guest=hc-comp two,debug-threads=on' -object iothread,id=hc-io9)
tl_check "two QEMUs started (hc-comp one: $one, hc-comp two: $two)" test -n "$one" -a -n "$two" || tl_done
tl_settle "$one" 1
tl_settle "$two" 1

# Files to complete: policies (one with a space), a non-policy, a directory.
work=$TL_TMP/work
mkdir -p "$work/sub dir"
printf '[Match]\nName=hc-comp one\n[CPU]\nVCPU=all:0\n' >"$work/hc-one.policy"
cp "$work/hc-one.policy" "$work/my vm.policy"
echo not a policy >"$work/hc-notes.txt"
mkdir -p "$TL_TMP/home"

# --- tmux: one server of the test's own ------------------------------------------
TM_SOCK=kvmcg-test-$$
# a shell that exits leaves its pane, with what it printed and its status, to be shown
echo "set -g remain-on-exit on" >"$TL_TMP/tmux.conf"
tm() { tmux -L "$TM_SOCK" -f "$TL_TMP/tmux.conf" "$@"; }
tl_on_exit "tmux -L $TM_SOCK kill-server 2>/dev/null; rm -f /tmp/tmux-$(id -u)/$TM_SOCK"

# term_start SESSION SHELL...: SHELL in a new 200x50 tmux session, in $work, with the
# build's kvmcg first on PATH and nothing else of the caller's environment. A shell
# that is gone within a second of its start (seen once in a full run: zsh's session
# vanished) is shown, then started again, once.
term_start() {
	local s=$1 try
	shift
	for try in 1 2; do
		tm new-session -d -s "$s" -x 200 -y 50 -c "$work" -- env -i HOME="$TL_TMP/home" TERM=screen LANG=C.UTF-8 \
			PS1='$ ' PATH="$BIN_DIR:$PATH" KVMCG_STATE_DIR="$KVMCG_STATE_DIR" "$@"
		sleep 1
		[ "$(tm display-message -p -t "$s" '#{pane_dead}' 2>&1)" = 0 ] && return 0
		echo "# the session $s ($*) did not stay: $(tm display-message -p -t "$s" 'pane dead, status #{pane_dead_status}' 2>&1); its screen:"
		tm capture-pane -p -t "$s" 2>&1 | sed 's/^/#   | /'
		tm kill-session -t "$s" 2>/dev/null
	done
	return 1
}
# term_screen SESSION: what the screen shows, trailing blank lines dropped.
term_screen() { tm capture-pane -p -t "$1" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
# term_wait SESSION ERE: polls the screen (5 s at most) until a line matches ERE;
# status 1, and the screen as diagnostics, when none does.
term_wait() {
	local end=$((${EPOCHREALTIME/./} + 5000000))
	while ((${EPOCHREALTIME/./} < end)); do
		term_screen "$1" | grep -qE -- "$2" && return 0
		sleep 0.05
	done
	echo "no line matched: $2; the screen:"
	term_screen "$1" | sed 's/^/| /'
	return 1
}
# term_clear SESSION: an empty command line on a cleared screen.
term_clear() {
	local now end=$((${EPOCHREALTIME/./} + 10000000)) next=0
	while now=${EPOCHREALTIME/./} && ((now < end)); do
		# again every second: keys that came while a completion ran can be lost
		if ((now >= next)); then
			tm send-keys -t "$1" C-c
			tm send-keys -t "$1" C-l
			next=$((now + 1000000))
		fi
		[ "$(term_screen "$1")" = '$' ] && break
		sleep 0.05
	done
	tm clear-history -t "$1"
}
# term_run SESSION COMMAND: runs COMMAND, waits until it is done. A ^C of term_clear
# that the shell takes late flushes the keys typed after it (the tty's ISIG): the
# command is typed again, up to three times, until its end is seen.
term_run() {
	local try
	for try in 1 2 3; do
		term_clear "$1"
		tm send-keys -t "$1" -l "$2; echo hc-done-\$?"
		tm send-keys -t "$1" Enter
		term_wait "$1" '^hc-done-[0-9]+$' >/dev/null && return 0
	done
	return 1
}
# term_tab SESSION TEXT [N]: types TEXT on a fresh line, then Tab N times (1).
term_tab() {
	local n=${3:-1}
	term_clear "$1"
	tm send-keys -t "$1" -l "$2"
	while ((n-- > 0)); do
		tm send-keys -t "$1" Tab
		sleep 0.1 # a person's pace between two Tabs; what they give is polled for
	done
}
# term_list SESSION TEXT [KEY]: types TEXT, Tab Tab (or KEY), and prints the candidates listed, one a
# line (the listing is in columns of two spaces or more), once the prompt is back.
# TEXT must not be completed further by the first Tab; KEY asks for the list alone
# (bash: M-?, readline's possible-completions; zsh: C-d, delete-char-or-list) where
# the first Tab could insert a prefix that the VMs of others share.
term_list() {
	if [ -n "${3:-}" ]; then
		term_clear "$1"
		tm send-keys -t "$1" -l "$2"
		tm send-keys -t "$1" "$3"
	else
		term_tab "$1" "$2" 2
	fi
	local prompt="\$ $2"
	# the line, the listing, the line again
	local end=$((${EPOCHREALTIME/./} + 5000000))
	while ((${EPOCHREALTIME/./} < end)); do
		[ "$(term_screen "$1" | grep -cxF -- "${prompt% }")" -ge 2 ] && break
		sleep 0.05
	done
	term_screen "$1" | awk -v p="${prompt% }" '$0 == p { n++; next } n == 1 && NF' | sed 's/   */\n/g; s/^ *//' | grep .
}
# term_enter SESSION [TEXT]: types TEXT (if any) after what is there, then Enter.
term_enter() {
	[ -n "${2:-}" ] && tm send-keys -t "$1" -l "$2"
	tm send-keys -t "$1" Enter
}
# offered LIST: the candidates seen, as diagnostics.
offered() {
	local w
	while IFS= read -r w; do echo "#   offered: $w"; done <<<"$1"
}
# term_line SESSION: the command line as it stands (the last line).
term_line() { term_screen "$1" | tail -1; }

commands=$("$KVMCG" --help | awk '/^Commands:/ { on = 1; next } /^[^ ]/ { on = 0 } on && NF { print $1 }')
tl_check "kvmcg --help lists commands (${commands//$'\n'/ })" test "$(wc -w <<<"$commands")" -ge 10

# bash_checks SESSION LABEL: the same checks in each bash session.
bash_checks() {
	local s=$1 l=$2 out

	term_run "$s" "type -P kvmcg"
	tl_check "$l: the build's kvmcg is first on PATH" term_wait "$s" "^$BIN_DIR/kvmcg\$"

	# commands
	out=$(term_list "$s" "kvmcg ")
	local c missing=""
	for c in $commands help; do
		grep -qxF -- "$c" <<<"$out" || missing+=" $c"
	done
	tl_eq "$l: 'kvmcg ' Tab Tab offers every command of kvmcg --help, and help" "${missing:-none missing}" "none missing" ||
		offered "$out"
	term_tab "$s" "kvmcg topo"
	tl_check "$l: 'kvmcg topo' Tab completes the command" term_wait "$s" '^\$ kvmcg topology$'

	# options, from the command's --help; each offered one is accepted by kvmcg's
	# parser (OPTION=x, or a short one alone, then an unknown option: nothing runs)
	term_tab "$s" "kvmcg pin --cpu-w"
	tl_check "$l: 'kvmcg pin --cpu-w' Tab completes --cpu-weight" term_wait "$s" '^\$ kvmcg pin --cpu-weight$'
	term_tab "$s" "kvmcg unpin --migr"
	tl_check "$l: 'kvmcg unpin --migr' Tab completes --migrate-back" term_wait "$s" '^\$ kvmcg unpin --migrate-back$'
	local cmd opt bad want
	for cmd in show pin apply; do
		out=$(term_list "$s" "kvmcg $cmd -")
		bad=""
		for opt in $out; do
			case $opt in
			--*) "$KVMCG" "$cmd" "$opt=x" --hc-no-such-option >/dev/null 2>"$TL_TMP/opt.err" ;;
			*) "$KVMCG" "$cmd" "$opt" --hc-no-such-option >/dev/null 2>"$TL_TMP/opt.err" ;;
			esac
			grep -q "unknown option '$opt" "$TL_TMP/opt.err" && bad+=" $opt"
		done
		tl_eq "$l: every option offered after 'kvmcg $cmd -' is one kvmcg $cmd accepts (${out//$'\n'/ })" "${bad:-none refused}" "none refused"
		missing=""
		case $cmd in
		show) want="--pid --pidfile --name --qmp --wait --json -o --output --no-qmp --help" ;;
		pin) want="--pid --name --vcpu --emulator --iothread --mems --mem-policy --vcpu-scheduler --policy --dry-run" ;;
		apply) want="--policy-dir --dry-run --force --json" ;;
		esac
		for opt in $want; do grep -qxF -- "$opt" <<<"$out" || missing+=" $opt"; done
		tl_eq "$l: 'kvmcg $cmd -' Tab Tab offers $want" "${missing:-none missing}" "none missing"
	done

	# one VMSEL a command: once one is on the line, the others are not offered
	out=$(term_list "$s" "kvmcg show --pid $one --")
	tl_check "$l: 'kvmcg show --pid N --' Tab Tab offers no second VMSEL, and --json (${out//$'\n'/ })" \
		test -z "$(grep -xE -- '--(pid|pidfile|name|qmp)' <<<"$out")" -a -n "$(grep -xF -- --json <<<"$out")"

	# VM names: the one with a space, completed escaped, then quoted; Enter shows it
	out=$(term_list "$s" "kvmcg pin --name hc-comp\\ ")
	tl_check "$l: 'kvmcg pin --name hc-comp\\ ' Tab Tab offers 'hc-comp one' and 'hc-comp two'" \
		test "$(grep -cxE 'hc-comp (one|two)' <<<"$out")" = 2 || offered "$out"
	term_tab "$s" "kvmcg show --no-qmp -J --name hc-comp\\ o"
	tl_check "$l: '--name hc-comp\\ o' Tab completes to 'hc-comp\\ one'" \
		term_wait "$s" '^\$ kvmcg show --no-qmp -J --name hc-comp\\ one$' &&
		term_enter "$s" " | jq .pid" &&
		tl_check "$l: ... and Enter shows that VM (pid $one)" term_wait "$s" "^$one\$"
	term_tab "$s" "kvmcg show --no-qmp -J --name 'hc-comp t"
	tl_check "$l: \"--name 'hc-comp t\" Tab completes to \"'hc-comp two'\"" \
		term_wait "$s" "^\\\$ kvmcg show --no-qmp -J --name 'hc-comp two'\$" &&
		term_enter "$s" " | jq .pid" &&
		tl_check "$l: ... and Enter shows that VM (pid $two)" term_wait "$s" "^$two\$"

	# pids
	out=$(term_list "$s" "kvmcg unpin --pid " M-?)
	tl_check "$l: 'kvmcg unpin --pid ' M-? offers both VMs' pids ($one $two)" \
		test "$(grep -cxE "$one|$two" <<<"$out")" = 2 || offered "$out"

	# iothreads of the VM selected on the line, as QEMU was given them
	out=$(term_list "$s" "kvmcg pin --name 'hc-comp one' --iothread hc-io")
	tl_eq "$l: \"--name 'hc-comp one' --iothread hc-io\" Tab Tab offers that VM's iothreads, not the other's" \
		"$(sort <<<"$out" | paste -sd ' ')" "hc-io0: hc-io1:"
	term_tab "$s" "kvmcg pin --pid $two --iothread "
	tl_check "$l: '--pid $two --iothread ' Tab completes that VM's one iothread, hc-io9:" \
		term_wait "$s" "^\\\$ kvmcg pin --pid $two --iothread hc-io9:\$"
	out=$(term_list "$s" "kvmcg pin --pidfile $TL_TMP/hc-comp-one.pid --iothread hc-io")
	tl_eq "$l: '--pidfile ... --iothread hc-io' Tab Tab offers hc-io0: and hc-io1:" \
		"$(sort <<<"$out" | paste -sd ' ')" "hc-io0: hc-io1:"

	# columns: a comma list and +LIST; Enter shows the column
	term_tab "$s" "kvmcg list --no-qmp -n -r -o NAME,HYPER"
	tl_check "$l: '-o NAME,HYPER' Tab completes the column" \
		term_wait "$s" '^\$ kvmcg list --no-qmp -n -r -o NAME,HYPERVISOR$' &&
		tm send-keys -t "$s" Enter &&
		tl_check "$l: ... and Enter lists it (hc-comp\\x20one qemu)" term_wait "$s" '^hc-comp\\x20one qemu$'
	term_tab "$s" "kvmcg show -o +aff"
	tl_check "$l: 'kvmcg show -o +aff' Tab completes +AFFINITY" term_wait "$s" '^\$ kvmcg show -o \+AFFINITY$'

	# policy files: check's FILE arguments and --policy
	out=$(term_list "$s" "kvmcg check ")
	tl_check "$l: 'kvmcg check ' Tab Tab offers the .policy files and the directory" \
		test "$(grep -cxE 'hc-one\.policy|my vm\.policy|sub dir/' <<<"$out")" = 3 || offered "$out"
	tl_check "$l: ... and not hc-notes.txt" test "$(grep -c 'hc-notes' <<<"$out")" = 0
	term_tab "$s" "kvmcg check my"
	tl_check "$l: 'kvmcg check my' Tab completes 'my\\ vm.policy'" term_wait "$s" '^\$ kvmcg check my\\ vm\.policy$' &&
		tm send-keys -t "$s" Enter &&
		tl_check "$l: ... and Enter checks that file" term_wait "$s" 'my vm\.policy'
	term_tab "$s" "kvmcg pin --policy hc-"
	tl_check "$l: 'kvmcg pin --policy hc-' Tab completes hc-one.policy" term_wait "$s" '^\$ kvmcg pin --policy hc-one\.policy$'
	term_tab "$s" "kvmcg show --pidfile $TL_TMP/hc-comp-one.p"
	tl_check "$l: '--pidfile DIR/hc-comp-one.p' Tab completes the pidfile" term_wait "$s" "^\\\$ kvmcg show --pidfile $TL_TMP/hc-comp-one\\.pid\$"

	# values of enum options; each is a word of the command's --help
	local what line vals
	for what in "watch --log-format" "pin --mem-policy" "pin --vcpu-scheduler" "numa-balancing"; do
		vals=$(term_list "$s" "kvmcg $what ")
		missing=""
		for v in $vals; do
			"$KVMCG" "${what%% *}" --help | grep -qw -- "${v%:}" || missing+=" $v"
		done
		tl_check "$l: 'kvmcg $what ' Tab Tab offers values (${vals//$'\n'/ })" test -n "$vals"
		tl_eq "$l: ... each of them in kvmcg ${what%% *} --help" "${missing:-all there}" "all there"
	done
	line=$(term_tab "$s" "kvmcg watch --log-format j" && term_wait "$s" 'format json$' >/dev/null && term_line "$s")
	tl_eq "$l: '--log-format j' Tab completes json" "$line" '$ kvmcg watch --log-format json'
}

# --- bash without the bash-completion package -------------------------------------
term_start plain bash --norc --noprofile
term_run plain ". '$BASH_COMP' && complete -p kvmcg && declare -F _init_completion _filedir | wc -l"
loaded() { term_wait "$1" '^complete -F _kvmcg kvmcg$' && term_wait "$1" "^$2\$"; }
tl_check "plain bash: the completion loads (complete -F _kvmcg kvmcg); no _init_completion or _filedir there" \
	loaded plain 0
bash_checks plain "plain bash"

# --- bash with it -----------------------------------------------------------------
bc=/usr/share/bash-completion/bash_completion
if [ -r "$bc" ]; then
	term_start full bash --norc --noprofile
	term_run full ". $bc; . '$BASH_COMP'; declare -F _init_completion _filedir | wc -l"
	if ! term_wait full '^2$' >/dev/null; then
		# Seen once in a full run, never alone: bash could not read the package's
		# file ("Permission denied"). What the shell saw is shown, then it is read
		# again, once: the test is of kvmcg's completion, not of that file.
		echo "# the first read of $bc in the shell failed; the screen, then the file and the shell's ids:"
		term_screen full | sed 's/^/#   | /'
		term_run full "ls -l $bc; id; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/\$\$/status | tr '\t' ' '"
		term_screen full | sed 's/^/#   | /'
		term_run full ". $bc; . '$BASH_COMP'; declare -F _init_completion _filedir | wc -l"
	fi
	tl_check "bash with bash-completion: _init_completion and _filedir are there" term_wait full '^2$'
	bash_checks full "bash + bash-completion"
else
	tl_skip "bash with the bash-completion package" "$bc is missing (Debian package bash-completion; make deps installs it)"
fi

# --- fish ---------------------------------------------------------------------------
if command -v fish >/dev/null; then
	fish_complete() { # LINE: the candidates fish offers, one a line, without descriptions
		# shellcheck disable=SC2016 # fish expands them
		(cd "$work" && env -i HOME="$TL_TMP/home" PATH="$BIN_DIR:$PATH" KVMCG_STATE_DIR="$KVMCG_STATE_DIR" \
			LINE="$1" COMP="$FISH_COMP" fish --no-config -c 'source $COMP; complete -C "$LINE"') | cut -f1
	}
	tl_check "fish: the completion parses (fish --no-execute)" fish --no-execute "$FISH_COMP"
	out=$(fish_complete "kvmcg ")
	missing=""
	for c in $commands; do grep -qxF -- "$c" <<<"$out" || missing+=" $c"; done
	tl_eq "fish: 'kvmcg ' offers every command" "${missing:-none missing}" "none missing"
	out=$(fish_complete "kvmcg pin --name ")
	tl_check "fish: 'kvmcg pin --name ' offers 'hc-comp one' and 'hc-comp two'" \
		test "$(grep -cxE 'hc-comp (one|two)' <<<"$out")" = 2 || offered "$out"
	out=$(fish_complete "kvmcg unpin --pid ")
	tl_check "fish: 'kvmcg unpin --pid ' offers both pids" test "$(grep -cxE "$one|$two" <<<"$out")" = 2
	out=$(fish_complete "kvmcg show --pid $one --qm")
	tl_eq "fish: 'kvmcg show --pid N --qm' offers --qmp-timeout alone (--qmp is a second VMSEL)" "${out//$'\n'/ }" --qmp-timeout
	out=$(fish_complete "kvmcg pin --cpu-w")
	tl_eq "fish: 'kvmcg pin --cpu-w' completes --cpu-weight" "$out" "--cpu-weight"
	out=$(fish_complete "kvmcg pin --name 'hc-comp one' --iothread ")
	tl_eq "fish: the selected VM's iothreads" "$(sort <<<"$out" | paste -sd ' ')" "hc-io0: hc-io1:"
	out=$(fish_complete "kvmcg list -o NAME,HYPER")
	tl_eq "fish: '-o NAME,HYPER' completes the column" "$out" "NAME,HYPERVISOR"
	out=$(fish_complete "kvmcg check ")
	tl_check "fish: 'kvmcg check ' offers the .policy files, not hc-notes.txt" \
		test "$(grep -cxE 'hc-one\.policy|my vm\.policy' <<<"$out")" = 2 -a "$(grep -c hc-notes <<<"$out")" = 0 ||
		offered "$out"
	out=$(fish_complete "kvmcg pin --mem-policy ")
	tl_check "fish: --mem-policy's values (${out//$'\n'/ })" grep -qx strict <<<"$out"
else
	tl_skip "fish completion" "fish is not installed (make deps installs it)"
fi

# --- zsh ----------------------------------------------------------------------------
if command -v zsh >/dev/null; then
	tl_check "zsh: the completion parses (zsh -n)" zsh -n "$ZSH_COMP"
	# an interactive zsh with compinit and the completion's directory first in fpath
	term_start zsh zsh -f
	term_run zsh "PS1='\$ '; fpath=('$(dirname "$ZSH_COMP")' \$fpath); autoload -Uz compinit; compinit -u -D; whence -w _kvmcg"
	tl_check "zsh: compinit finds _kvmcg" term_wait zsh '^_kvmcg: function$'
	term_tab zsh "kvmcg topo"
	tl_check "zsh: 'kvmcg topo' Tab completes the command" term_wait zsh '^\$ kvmcg topology$'
	term_tab zsh "kvmcg pin --cpu-w"
	tl_check "zsh: 'kvmcg pin --cpu-w' Tab completes --cpu-weight" term_wait zsh '^\$ kvmcg pin --cpu-weight$'
	term_tab zsh "kvmcg show --no-qmp -J --name hc-comp\\ o"
	tl_check "zsh: '--name hc-comp\\ o' Tab completes to 'hc-comp\\ one'" \
		term_wait zsh '^\$ kvmcg show --no-qmp -J --name hc-comp\\ one$' &&
		term_enter zsh " | jq .pid" &&
		tl_check "zsh: ... and Enter shows that VM (pid $one)" term_wait zsh "^$one\$"
	# C-d (delete-char-or-list) lists below the line, which stays
	term_clear zsh
	tm send-keys -t zsh -l "kvmcg unpin --pid "
	tm send-keys -t zsh C-d
	tl_check "zsh: 'kvmcg unpin --pid ' C-d lists VM $one's pid" term_wait zsh "^($one|.* $one)( .*)?\$"
	tl_check "zsh: ... and VM $two's" term_wait zsh "^($two|.* $two)( .*)?\$"
	term_tab zsh "kvmcg pin --pid $two --iothread hc"
	tl_check "zsh: '--pid $two --iothread hc' Tab completes hc-io9:" term_wait zsh "^\\\$ kvmcg pin --pid $two --iothread hc-io9:\$"
	term_tab zsh "kvmcg list -o NAME,HYPER"
	tl_check "zsh: '-o NAME,HYPER' Tab completes the column" term_wait zsh '^\$ kvmcg list -o NAME,HYPERVISOR$'
	term_tab zsh "kvmcg check my"
	tl_check "zsh: 'kvmcg check my' Tab completes 'my\\ vm.policy'" term_wait zsh '^\$ kvmcg check my\\ vm\.policy$'
	term_tab zsh "kvmcg pin --mem-policy interl"
	tl_check "zsh: --mem-policy's values" term_wait zsh '^\$ kvmcg pin --mem-policy interleave$'
	# a second VMSEL is not offered: of --qmp and --qmp-timeout only the second is left
	term_tab zsh "kvmcg show --pid $one --qm"
	tl_check "zsh: 'kvmcg show --pid N --qm' Tab completes --qmp-timeout (--qmp is a second VMSEL)" \
		term_wait zsh "^\\\$ kvmcg show --pid $one --qmp-timeout ?\$"
else
	tl_skip "zsh completion" "zsh is not installed (make deps installs it)"
fi

tl_done
