#!/usr/bin/python3
"""Hot-plugs vCPUs into a running QEMU over one QMP connection, held open all along
(as an orchestrator holds its monitor), and times each until its thread is pinned.

    hotplug.py SOCKET PID COUNT CPUS

For each of COUNT free slots of query-hotpluggable-cpus: device_add, then polls
(every 0.2 ms, for at most 2 s) until a new thread named "CPU N/KVM" or "CPU N/TCG"
(debug-threads=on) exists in /proc/PID/task and its affinity is CPUS (a comma list of
CPU numbers). Prints one line per vCPU: "TID WALL_MS", WALL_MS from device_add's
reply to the affinity seen; "TID NA" when it was not pinned in 2 s. Python's standard
library only."""
import json
import os
import socket
import sys
import time


def main():
    path, pid, count, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    want = {int(c) for c in cpus.split(",")}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rw")

    def cmd(name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        f.write(json.dumps(msg) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise SystemExit("hotplug.py: %s: %s" % (name, r["error"]["desc"]))

    json.loads(f.readline())  # the greeting
    cmd("qmp_capabilities")
    task = "/proc/%d/task" % pid

    def vcpu_threads():
        out = set()
        for t in os.listdir(task):
            try:
                with open("%s/%s/comm" % (task, t)) as c:
                    if c.read().startswith("CPU "):
                        out.add(int(t))
            except OSError:
                pass
        return out

    for i in range(count):
        free = [c for c in cmd("query-hotpluggable-cpus") if "qom-path" not in c]
        if not free:
            raise SystemExit("hotplug.py: no free vCPU slot left after %d" % i)
        slot = free[-1]
        before = vcpu_threads()
        args = dict(slot["props"])
        args["driver"] = slot["type"]
        args["id"] = "hp%d" % i
        cmd("device_add", args)
        t0 = time.monotonic()
        tid, ms = None, "NA"
        while time.monotonic() - t0 < 2:
            if tid is None:
                new = vcpu_threads() - before
                tid = new.pop() if new else None
            if tid is not None:
                try:
                    if os.sched_getaffinity(tid) == want:
                        ms = "%.3f" % ((time.monotonic() - t0) * 1000)
                        break
                except OSError:
                    break
            time.sleep(0.0002)
        print(tid if tid is not None else "none", ms, flush=True)


main()
