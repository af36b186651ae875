#!/bin/bash
# The kernel's process events connector through kernel/proc-events.c, without kvmcg:
# build/procev-probe listens, forks a child that calls setsid(), names itself, starts a
# thread named as QEMU names a vCPU thread ("CPU 0/KVM"), renames itself 100 times and
# executes sh -c 'exit 7'. Every event of the child's process must arrive, once, with
# the right pids, names and exit codes, in each task's order; nothing else may be
# reported for it. Linux 6.6 and later filter by kind in the kernel (the child's setsid
# never reaches the socket); older kernels send everything and the module drops it.
# The latency from a prctl(PR_SET_NAME) to the event read is printed, not checked.
. "$(dirname "$0")/../lib/testlib.sh"

probe=$KVMCG_BUILD_DIR/procev-probe
if [ ! -x "$probe" ]; then
	tl_skip "process events" "no $probe (make $probe)"
	tl_done
fi
if [ "$(id -u)" -ne 0 ] && ! tl_kernel_at_least 6.6; then
	tl_skip "process events" "needs root (CAP_NET_ADMIN) before Linux 6.6; here $TL_KERNEL, uid $(id -u)"
	tl_done
fi

out=$("$probe" 2>"$TL_TMP/probe.err")
rc=$?
if [ "$rc" -eq 77 ]; then
	tl_skip "process events" "$(sed -n 's/^skip //p' <<<"$out")"
	tl_done
fi
tl_eq "procev-probe ran to its end (stderr: $(tr '\n' ' ' <"$TL_TMP/probe.err"))" "$rc" 0
field() { awk -v k="$1" '$1 == k { print $2; exit }' <<<"$out"; }
parent=$(field parent) child=$(field child) thread=$(field thread)
echo "# parent $parent, child $child, its thread $thread"
sed -n 's/^ev /#   /p' <<<"$out"

if tl_kernel_at_least 6.6; then
	tl_kernel_expect "the connector filters by kind per socket (6.6 and later)"
	tl_eq "the kernel filters by kind" "$(field filters)" yes
else
	tl_kernel_expect "the connector sends every kind to every listener (before 6.6)"
	tl_eq "the kernel does not filter" "$(field filters)" no
fi

# Each task's events, in the order read. The thread's exit may be read after the
# process's exec (exec waits for the other threads to be released, not for their
# exit events, kernel/exit.c do_exit()), so the two tasks are checked apart.
task_events() { awk -v t="$1" '$1 == "ev" && $4 == t { $1 = ""; print substr($0, 2) }' <<<"$out"; }
tl_eq "the child's own events: fork (parent: the probe), comm, exec, exit with status 7<<8 and SIGCHLD" \
	"$(task_events "$child")" \
	"fork $child $child $parent $parent
comm $child $child procev-child
exec $child $child
exit $child $child 1792 17"
tl_eq "its thread's: fork (parent: the process's parent, the probe, not the thread that created it), \
\"CPU 0/KVM\" with its tid, exit (signal -1)" \
	"$(task_events "$thread")" \
	"fork $child $thread $parent $parent
comm $child $thread CPU 0/KVM
exit $child $thread 0 -1"
tl_eq "nothing else for the child's process (7 events besides the renames)" \
	"$(grep -c '^ev ' <<<"$out")" 7
first=$(grep -m1 '^ev ' <<<"$out")
tl_eq "the first event of the process is its fork" "$first" "ev fork $child $child $parent $parent"
tl_check "the thread's fork comes after the child named itself" \
	awk -v c="$child" -v t="$thread" '$1 == "ev" && $2 == "comm" && $4 == c { n = NR }
		$1 == "ev" && $2 == "fork" && $4 == t { exit !(n && n < NR) }' <<<"$out"
tl_eq "all 100 renames read, each with the child's tid and the name it set" "$(field renames)" 100

read -r _ events skipped foreign malformed overruns < <(grep '^stats ' <<<"$out")
if [ "$(field filters)" = yes ]; then
	tl_eq "no event of a kind not asked for reached the socket (the child's setsid was filtered)" "$skipped" 0
else
	tl_check "events of kinds not asked for were received and dropped (the child's setsid at least): $skipped" \
		test "${skipped:-0}" -ge 1
fi
tl_eq "no datagram from elsewhere, none malformed, no overrun" "$foreign $malformed $overruns" "0 0 0"
echo "# events given to the callback: $events"

read -r _ med p90 max < <(grep '^latency_us ' <<<"$out")
read -r _ kmed kp90 kmax < <(grep '^kernel_us ' <<<"$out")
echo "# latency, prctl(PR_SET_NAME) to the event read (poll wake-up, recvmsg, decode), 100 renames:" \
	"median ${med:-?} us, p90 ${p90:-?} us, max ${max:-?} us"
echo "# of which prctl to the kernel's event timestamp: median ${kmed:-?} us, p90 ${kp90:-?} us, max ${kmax:-?} us"
tl_done
