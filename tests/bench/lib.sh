# Sourced by the bench scripts: the figures of timeit's lines (timeit.c:
# "LABEL WALL_MS USER_MS SYS_MS STATUS"), and the QEMUs' BIOS.

# halt_bios FILE: a 64 KiB BIOS whose reset vector (0xFFFF0) is cli; hlt; jmp back to
# hlt: every vCPU blocks in the kernel instead of spinning, so the host stays idle.
halt_bios() {
	head -c 65520 /dev/zero >"$1"
	printf '\xfa\xf4\xeb\xfd' >>"$1"
	head -c 12 /dev/zero >>"$1"
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
