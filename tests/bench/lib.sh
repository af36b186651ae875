# Sourced by the bench scripts: the figures of timeit's lines (timeit.c:
# "LABEL WALL_MS USER_MS SYS_MS STATUS"), and the QEMUs' BIOS.

# bench_init NAME BINARY...: for the script tests/bench/NAME.sh, die and note speak
# as NAME; it must run as root and every BINARY be built; $tmp is a new directory
# with the state directory (KVMCG_STATE_DIR) in it; BEGIN_MARK and END_MARK bound
# its part of BENCHMARKS.md.
bench_init() {
	bench_name=$1
	shift
	BEGIN_MARK="<!-- Begin: written by tests/bench/$bench_name.sh (make bench). -->"
	END_MARK="<!-- End: written by tests/bench/$bench_name.sh. -->"
	[ "$(id -u)" = 0 ] || die "run me as root"
	local b
	for b in "$@"; do
		[ -x "$b" ] || die "$b is not built (make bench builds it)"
	done
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
	export KVMCG_STATE_DIR=$tmp/state
	mkdir -m 0700 "$KVMCG_STATE_DIR"
}
die() {
	echo "$bench_name: $*" >&2
	exit 1
}
note() { echo "$bench_name: $*" >&2; }

# halt_bios FILE: a 64 KiB BIOS whose reset vector (0xFFFF0) is cli; hlt; jmp back to
# hlt: every vCPU blocks in the kernel instead of spinning, so the host stays idle.
halt_bios() {
	head -c 65520 /dev/zero >"$1"
	printf '\xfa\xf4\xeb\xfd' >>"$1"
	head -c 12 /dev/zero >>"$1"
}

# bench_qemu: $bios, the halt BIOS in $tmp, and accel, the accelerator for the QEMUs
# a bench starts: KVM where /dev/kvm works (not in the test guest), else TCG.
bench_qemu() {
	bios=$tmp/halt.bin
	halt_bios "$bios"
	accel=(-accel tcg)
	if [ -w /dev/kvm ] && [ "${KVMCG_TEST_ENV:-}" != guest ]; then accel=(-accel kvm -cpu qemu64); fi
}

# stats FILE LABEL COLUMN: "n median q1 q3" of a column (2 wall, 3 user, 4 sys,
# 5 user+sys) over FILE's lines for LABEL; quartiles interpolated (R type 7).
stats() {
	awk -v l="$2" -v c="$3" '$1 == l { print (c == 5 ? $3 + $4 : $c) }' "$1" | sort -g |
		awk '{ v[NR] = $1 }
		function q(p,  h, i) { h = (NR - 1) * p + 1; i = int(h); return i >= NR ? v[NR] : v[i] + (h - i) * (v[i + 1] - v[i]) }
		END { if (NR == 0) { print "0 0 0 0"; exit } printf "%d %.3f %.3f %.3f\n", NR, q(0.5), q(0.25), q(0.75) }'
}
# paired FILE A B: quartiles of the per-iteration ratio A/B (k-th A over k-th B).
paired() {
	awk -v a="$2" -v b="$3" '$1 == a { x[++na] = $2 } $1 == b { y[++nb] = $2 }
		END { for (i = 1; i <= na && i <= nb; i++) if (y[i] > 0) print x[i] / y[i] }' "$1" | sort -g |
		awk '{ v[NR] = $1 }
		function q(p,  h, i) { h = (NR - 1) * p + 1; i = int(h); return i >= NR ? v[NR] : v[i] + (h - i) * (v[i + 1] - v[i]) }
		END { if (NR == 0) { print "0 0 0"; exit } printf "%.2f %.2f %.2f\n", q(0.5), q(0.25), q(0.75) }'
}
# fmt X: 2 decimals below 10, else 1.
fmt() { awk -v x="$1" 'BEGIN { printf (x < 10 ? "%.2f" : "%.1f"), x }'; }
# ratio A B: A / B with 2 decimals (0 when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# traps CLEANUP: CLEANUP runs on every exit, Ctrl-C and TERM included.
traps() {
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# The RESULT lines a bench script collected in $results, read back:
#   field ROW KEY   the value of KEY=... in "RESULT ROW ..."
#   item LIST N     item N of a comma list
#   mq LIST         "median (q1–q3)" of a "median,q1,q3,..." list
field() { grep "^RESULT $1 " "$results" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
item() { cut -d, -f"$2" <<<"$1"; }
mq() { echo "$(fmt "$(item "$1" 1)") ($(fmt "$(item "$1" 2)")–$(fmt "$(item "$1" 3)"))"; }

# write_section FILE: FILE (the script's part, its BEGIN_MARK and END_MARK lines
# included) replaces what is between those markers in $OUT, or goes before
# pin-bench.sh's part when $OUT has no such markers yet. Uses $tmp.
write_section() {
	if grep -qF "$BEGIN_MARK" "$OUT"; then
		awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$1" '
			$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip' "$OUT" >"$tmp/out"
	else
		awk -v f="$1" '/^## Sizes: kvmcg against a taskset loop/ && !done {
			while ((getline l < f) > 0) print l; print ""; done = 1 } { print }' "$OUT" >"$tmp/out"
	fi
	cat "$tmp/out" >"$OUT"
}
