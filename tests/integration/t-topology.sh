#!/bin/bash
# kvmcg topology: the host's nodes and CPUs against numactl --hardware, lscpu and
# /sys, each read without kvmcg; then a real QEMU pinned by kvmcg must appear on the
# CPUs its threads' masks (taskset) and kvmcg's record name, and its memory on the
# nodes numa_maps names. Runs on the host (one node, 2 CPUs) and in the test guest
# (two nodes, 4 CPUs, an L3 per socket).
. "$(dirname "$0")/../lib/testlib.sh"

tl_need_tools "kvmcg topology" numactl jq awk qemu-system-x86_64 taskset
export KVMCG_STATE_DIR=$TL_TMP/state

# numactl --hardware just before and just after kvmcg: free memory moves meanwhile
hw=$(numactl --hardware)
json=$("$KVMCG" topology --json)
tl_eq "topology --json: exit 0" "$?" 0
hw_after=$(numactl --hardware)
sys=/sys/devices/system

# --- nodes, against numactl --hardware --------------------------------------------
hw_nodes=$(sed -n 's/^available: [0-9]* nodes (\(.*\))$/\1/p' <<<"$hw")
tl_eq "nodes: numactl's ($hw_nodes)" "$(jq -r '[.nodes[].node] | map(tostring) | join(" ")' <<<"$json")" \
	"$(tl_cpulist_expand "$hw_nodes")"
for node in $(tl_cpulist_expand "$hw_nodes"); do
	n=$(jq -c --argjson n "$node" '.nodes[] | select(.node == $n)' <<<"$json")
	tl_eq "node $node: CPUs as numactl lists them" "$(tl_cpulist_expand "$(jq -r .cpus <<<"$n")")" \
		"$(sed -n "s/^node $node cpus: *//p" <<<"$hw" | sed 's/ *$//')"
	tl_eq "node $node: size in MB as numactl says" "$(jq '.memory_total_bytes / 1048576 | floor' <<<"$n")" \
		"$(sed -n "s/^node $node size: \([0-9]*\) MB$/\1/p" <<<"$hw")"
	# free memory: between numactl's two readings, 64 MB either side
	free_a=$(sed -n "s/^node $node free: \([0-9]*\) MB$/\1/p" <<<"$hw")
	free_b=$(sed -n "s/^node $node free: \([0-9]*\) MB$/\1/p" <<<"$hw_after")
	free_kv=$(jq '.memory_free_bytes / 1048576 | floor' <<<"$n")
	tl_check "node $node: free memory between numactl's before and after (kvmcg $free_kv MB, numactl $free_a..$free_b MB)" \
		awk -v x="$free_kv" -v a="$free_a" -v b="$free_b" 'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a
		exit !(x >= lo - 64 && x <= hi + 64) }'
	# numactl's distance table: the row of this node, every column
	row=$(awk -v n="$node" '/^node distances:/ { t = 1; next } t && $1 == n ":" { $1 = ""; print }' <<<"$hw" | xargs)
	tl_eq "node $node: distances as numactl's table" "$(jq -r '.distances | map(tostring) | join(" ")' <<<"$n")" "$row"
done

# --- CPUs, against /sys read by the test --------------------------------------------
present=$(cat $sys/cpu/present)
online=$(cat $sys/cpu/online)
isolated=$(cat $sys/cpu/isolated 2>/dev/null)
nohz=$(cat $sys/cpu/nohz_full 2>/dev/null)
[ "$nohz" = "(null)" ] && nohz=
tl_eq "cpus: every present CPU ($present)" "$(jq -r '[.cpus[].cpu] | map(tostring) | join(" ")' <<<"$json")" \
	"$(tl_cpulist_expand "$present")"
in_list() { case " $(tl_cpulist_expand "$2") " in *" $1 "*) echo true ;; *) echo false ;; esac; }
# same_list A B: the same CPUs, however written ("null" for none)
same_list() { [ "$(tl_cpulist_expand "${1#null}")" = "$(tl_cpulist_expand "${2#null}")" ]; }
bad=''
for cpu in $(tl_cpulist_expand "$present"); do
	c=$(jq -c --argjson c "$cpu" '.cpus[] | select(.cpu == $c)' <<<"$json")
	d=$sys/cpu/cpu$cpu
	[ "$(jq .online <<<"$c")" = "$(in_list "$cpu" "$online")" ] || bad+=" cpu$cpu:online"
	want_iso=$( (
		[ "$(in_list "$cpu" "$isolated")" = true ] && echo isolcpus
		[ "$(in_list "$cpu" "$nohz")" = true ] && echo nohz_full
	) | paste -sd,)
	[ "$(jq -r '.isolated | join(",")' <<<"$c")" = "$want_iso" ] || bad+=" cpu$cpu:isolated"
	link=$(find "$d"/ -maxdepth 1 -name 'node[0-9]*' -printf '%f\n' | sed 's/node//' | head -1)
	[ "$(jq -r .node <<<"$c")" = "${link:-null}" ] || bad+=" cpu$cpu:node"
	sib=$(cat "$d"/topology/thread_siblings_list 2>/dev/null || echo null)
	same_list "$(jq -r .siblings <<<"$c")" "$sib" || bad+=" cpu$cpu:siblings"
	pkg=$(cat "$d"/topology/physical_package_id 2>/dev/null || echo null)
	[ "$(jq -r .package <<<"$c")" = "$pkg" ] || bad+=" cpu$cpu:package"
	l3=null
	for i in "$d"/cache/index*; do
		[ -e "$i/level" ] || continue
		if [ "$(cat "$i"/level)" = 3 ] && [ "$(cat "$i"/type)" != Instruction ]; then l3=$(cat "$i"/shared_cpu_list); fi
	done
	same_list "$(jq -r .l3 <<<"$c")" "$l3" || bad+=" cpu$cpu:l3"
done
tl_eq "every CPU's online, isolated, node, siblings, package and L3 as /sys says" "${bad:-none}" none
# cores: one number per set of siblings
tl_eq "CPUs share a core number exactly when they share thread_siblings_list" \
	"$(jq -r '[.cpus[] | select(.core != null) | {core, siblings}] | group_by(.core) | map(map(.siblings) | unique | length) | unique | map(tostring) | join(" ")' <<<"$json")" 1
if command -v lscpu >/dev/null; then
	# lscpu's own reading: node, socket and online per CPU; its cores group CPUs the same way
	lj=$(lscpu -J -e=CPU,NODE,SOCKET,CORE,ONLINE)
	tl_eq "lscpu -e: the same node and online per CPU" \
		"$(jq -r '.cpus[] | "\(.cpu) \(.node // "-") \(.online)"' <<<"$json")" \
		"$(jq -r '.cpus[] | "\(.cpu) \(.node // "-") \(.online == "yes" or .online == true)"' <<<"$lj")"
	tl_eq "lscpu -e: the same CPUs share a core" \
		"$(jq -r '[.cpus[] | select(.core != null)] | group_by(.core) | map(map(.cpu) | join(",")) | sort | join(" ")' <<<"$json")" \
		"$(jq -r '[.cpus[] | select(.core != null and .core != "-") | {cpu: (.cpu | tonumber), core: "\(.socket):\(.core)"}] | group_by(.core) | map(map(.cpu) | join(",")) | sort | join(" ")' <<<"$lj")"
else
	tl_skip "lscpu -e agrees" "lscpu is not installed"
fi

# Text: one line per core (an offline CPU alone)
tl_eq "text -rn -o CPUS: one line per core" "$("$KVMCG" topology -rn -o CPUS | wc -l)" \
	"$(jq '([.cpus[] | select(.core != null) | .core] | unique | length) + ([.cpus[] | select(.core == null)] | length)' <<<"$json")"

# --- a real QEMU, pinned by kvmcg ---------------------------------------------------
mapfile -t cpus < <(tl_cpulist_expand "$online" | tr ' ' '\n')
first=${cpus[0]} last=${cpus[-1]}
pid=$(tl_qemu t-topo -smp 2 -name guest=t-topology,debug-threads=on -qmp unix:"$TL_TMP"/t.qmp,server=on,wait=off)
if [ -z "$pid" ]; then
	tl_fail "a QEMU starts"
	tl_done
fi
tl_settle "$pid" 2
declare -A vcpu_tid
while read -r idx tid; do vcpu_tid[$idx]=$tid; done < <(tl_named_vcpus "$pid")
tl_eq "QEMU has 2 named vCPUs" "${#vcpu_tid[@]}" 2
out=$("$KVMCG" pin --pid "$pid" --vcpu 0:"$last" --vcpu 1:"$first" --emulator "$first" --json 2>"$TL_TMP/pin.err")
tl_check "kvmcg pin vCPU 0 to $last, vCPU 1 and the emulator to $first ($(head -c 200 "$TL_TMP/pin.err"))" \
	jq -e '.result == "applied" or .result == "partial"' <<<"$out"
json=$("$KVMCG" topology --json)
# The test's own view: each vCPU's mask from taskset, the emulator's from the main thread
mask() { taskset -pc "$1" | sed 's/.*: //'; }
bad=''
for cpu in "${cpus[@]}"; do
	# the VM's entry on the CPU; {} when it has none (nothing of it may run there)
	e=$(jq -c --argjson c "$cpu" --argjson p "$pid" '[.cpus[] | select(.cpu == $c) | .vms[] | select(.pid == $p)] | .[0] // {}' <<<"$json")
	want=$(for i in 0 1; do [ "$(in_list "$cpu" "$(mask "${vcpu_tid[$i]}")")" = true ] && echo "$i"; done | paste -sd' ')
	[ "$(jq -r '(.vcpus // []) | map(tostring) | join(" ")' <<<"$e")" = "$want" ] || bad+=" cpu$cpu:vcpus"
	[ "$(jq -r '.emulator // false' <<<"$e")" = "$(in_list "$cpu" "$(mask "$pid")")" ] || bad+=" cpu$cpu:emulator"
	[ "$e" = "{}" ] || [ "$(jq -r '.name' <<<"$e")" = t-topology ] || bad+=" cpu$cpu:name"
	# kvmcg's record: vCPU 0 on $last, vCPU 1 and the emulator on $first
	wantk=$( (
		[ "$cpu" = "$last" ] && echo 0
		[ "$cpu" = "$first" ] && echo 1
	) | paste -sd' ')
	[ "$(jq -r '(.kvmcg.vcpus // []) | map(tostring) | join(" ")' <<<"$e")" = "$wantk" ] || bad+=" cpu$cpu:kvmcg"
	[ "$(jq -r '.kvmcg.emulator // false' <<<"$e")" = "$([ "$cpu" = "$first" ] && echo true || echo false)" ] ||
		bad+=" cpu$cpu:kvmcg-emulator"
done
tl_eq "pinned: on each CPU the vCPUs and emulator whose masks (taskset) have it, and what kvmcg pins there" \
	"${bad:-none}" none
tl_check "pinned: the VM is on no CPU outside its pins" \
	jq -e --argjson p "$pid" --argjson f "$first" --argjson l "$last" \
	'[.cpus[] | select(.cpu != $f and .cpu != $l) | .vms[] | select(.pid == $p)] | length == 0' <<<"$json"
# Its memory: every page numa_maps shows, on the node it shows it (read before and after)
own_node() { awk -v n="$1" '{ ps = 4; for (i = 3; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, k, "="); ps = k[2] }
	for (i = 3; i <= NF; i++) if ($i ~ "^N" n "=") { split($i, v, "="); s += v[2] * ps * 1024 } } END { printf "%.0f\n", s }' \
	"/proc/$pid/numa_maps"; }
declare -A before after
for node in $(tl_cpulist_expand "$hw_nodes"); do before[$node]=$(own_node "$node"); done
mj=$("$KVMCG" topology --json)
for node in $(tl_cpulist_expand "$hw_nodes"); do after[$node]=$(own_node "$node"); done
for node in $(tl_cpulist_expand "$hw_nodes"); do
	got=$(jq --argjson n "$node" --argjson p "$pid" '[.nodes[] | select(.node == $n) | .vms[] | select(.pid == $p) | .resident_bytes] | add // 0' <<<"$mj")
	tl_check "node $node: the VM's resident memory as numa_maps (kvmcg $got, own ${before[$node]}..${after[$node]})" \
		awk -v x="$got" -v a="${before[$node]}" -v b="${after[$node]}" 'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a
		exit !(x >= lo - lo / 100 - 1048576 && x <= hi + hi / 100 + 1048576) }'
done
text=$("$KVMCG" topology)
tl_check "text: vCPU 0 pinned by kvmcg on CPU $last" grep -qE "t-topology\[v0\*" <<<"$text"
tl_check "text: the emulator pinned by kvmcg on CPU $first" grep -qE "t-topology\[[^]]*e\*" <<<"$text"

# Unpinned: kvmcg's record is gone, the masks are what they were (every CPU)
"$KVMCG" unpin --pid "$pid" >/dev/null 2>&1
json=$("$KVMCG" topology --json)
tl_check "unpinned: no CPU names a pin of kvmcg for the VM" \
	jq -e --argjson p "$pid" '[.cpus[].vms[] | select(.pid == $p) | .kvmcg] | all(. == null)' <<<"$json"
tl_eq "unpinned: the VM's vCPUs on every CPU their masks allow" \
	"$(jq -r --argjson p "$pid" '[.cpus[] | select(.vms | map(.pid == $p and (.vcpus | length == 2)) | any) | .cpu] | map(tostring) | join(" ")' <<<"$json")" \
	"$(for c in "${cpus[@]}"; do [ "$(in_list "$c" "$(mask "${vcpu_tid[0]}")")" = true ] &&
		[ "$(in_list "$c" "$(mask "${vcpu_tid[1]}")")" = true ] && echo "$c"; done | paste -sd' ')"

# --- a VM's name is its owner's words: no control character reaches the terminal ---------
evil=$(tl_qemu t-evil -smp 1 -name "guest=$(printf 'evil\033[31mRED\nfake line')")
tl_settle "$evil" 1
text=$("$KVMCG" topology)
tl_check "the VM with an escape and a newline in its name is shown" grep -q 'evil' <<<"$text"
tl_eq "... and the text has no ESC byte" "$(printf '%s' "$text" | tr -cd '\033' | wc -c)" 0
tl_check "... nor a line of its own made by its newline" bash -c '! grep -q "^fake line" <<<"$1"' _ "$text"
kill "$evil"

# --- errors: one line, exit 2, nothing on stdout ----------------------------------------
"$KVMCG" topology --bogus >"$TL_TMP/out" 2>"$TL_TMP/err"
tl_eq "an unknown option: exit 2" "$?" 2
tl_eq "... one line on stderr" "$(wc -l <"$TL_TMP/err")" 1
tl_eq "... nothing on stdout" "$(wc -c <"$TL_TMP/out")" 0
"$KVMCG" topology extra >/dev/null 2>"$TL_TMP/err"
tl_eq "a stray argument: exit 2" "$?" 2
"$KVMCG" topology --json -o CPUS >/dev/null 2>"$TL_TMP/err"
tl_eq "--json with -o: exit 2" "$?" 2
tl_check "--help names every JSON key's section" grep -q "kvmcg(8)" <<<"$("$KVMCG" topology --help)"
tl_done
