#!/bin/bash
# The layering of src/ (src/README.md), checked from the #include lines as TAP:
#   - a file includes only headers of its own layer or of layers below it;
#   - no two files include each other, directly or around a circle.
# Layers, lowest first; cli is the only one that may include every other.
set -u
cd "$(dirname "$0")/../../src" || exit 1
layers=(basic kernel vmm tune plan exec state core cli)
rank() {
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}

n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); bad=1; echo "not ok $n - $1"; }

# Every folder is a known layer.
for d in */; do
	d=${d%/}
	if [ "$(rank "$d")" -ge 0 ]; then ok "src/$d is a layer"; else notok "src/$d is not a known layer"; fi
done

# Upward includes.
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
up=()
for f in */*.[ch]; do
	from=${f%%/*}
	while read -r inc; do
		to=${inc%%/*}
		if [ "$(rank "$to")" -lt 0 ]; then
			up+=("$f includes $inc, which is in no layer")
		elif [ "$(rank "$to")" -gt "$(rank "$from")" ]; then
			up+=("$f ($from) includes $inc ($to), a higher layer")
		fi
		# the module graph: a.c, a.h and a-internal.h are one node
		from_mod=${f%.*} to_mod=${inc%.h}
		echo "${from_mod%-internal} ${to_mod%-internal}" >>"$edges"
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
if [ ${#up[@]} -eq 0 ]; then
	ok "no file includes a header of a higher layer"
else
	notok "no file includes a header of a higher layer"
	printf '#   %s\n' "${up[@]}"
fi

# Cycles between modules: tsort(1) reports any.
cyc=$(awk '$1 != $2' "$edges" | tsort 2>&1 >/dev/null)
if [ -z "$cyc" ]; then
	ok "no include cycle between modules"
else
	notok "no include cycle between modules"
	sed 's/^/#   /' <<<"$cyc"
fi
echo "1..$n"
exit "$bad"
