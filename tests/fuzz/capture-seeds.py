#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Captures seeds for fuzz-qmp, fuzz-cmdline and fuzz-proc from real QEMUs.

    tests/fuzz/capture-seeds.py DIR          (DIR is tests/fuzz)

Starts throwaway QEMUs one after another (TCG, paused with -S, a 64 KiB BIOS that
halts; no root, no KVM needed) and writes:

  DIR/corpus-qmp/NAME.qmp       every byte QEMU sent on its QMP socket, unchanged,
                                while it was talked to as kvmcg's client does
                                (qmp_capabilities, query-name, query-cpus-fast,
                                query-iothreads with ids 1 to 4, qmp.c
                                qmp_query_vm()), sometimes with other commands in
                                between (events, errors, answers to other ids);
  DIR/corpus-cmdline/NAME.cmdline  its /proc/PID/cmdline;
  DIR/corpus-proc/K-NAME        /proc files of its threads (stat, status, syscall,
                                thread names), K being fuzz-proc's selector byte.

and, from the captured trees of tests/fixtures, their distinct cmdline, stat,
status, cgroup, syscall and exe.stat files in the same forms.
"""
import glob
import hashlib
import json
import re
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time


def halt_bios(tmp):
    path = os.path.join(tmp, "halt.bin")
    with open(path, "wb") as f:
        f.write(bytes(65520) + b"\xfa\xf4\xeb\xfd" + bytes(12))
    return path


class Session:
    def __init__(self, sock_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(100):
            try:
                self.sock.connect(sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.05)
        else:
            raise RuntimeError("no QMP socket at " + sock_path)
        self.raw = bytearray()
        self.pending = bytearray()
        self.decoder = json.JSONDecoder()

    def _messages(self):
        """Complete messages received so far (the raw bytes are kept as they came)."""
        out = []
        text = self.pending.decode("utf-8", "replace")
        pos = 0
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos >= len(text):
                break
            try:
                obj, end = self.decoder.raw_decode(text, pos)
            except ValueError:
                break
            out.append(obj)
            pos = end
        self.pending = bytearray(text[pos:].encode())
        return out

    def read_until(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.raw += data
                self.pending += data
                for m in self._messages():
                    seen.append(m)
                    if pred(m):
                        return seen
        raise RuntimeError("no answer in time; got %r" % seen)

    def greeting(self):
        self.read_until(lambda m: "QMP" in m)

    def execute(self, command, id_, arguments=None):
        msg = {"execute": command, "id": id_}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return self.read_until(lambda m: m.get("id") == id_)

    def linger(self, seconds):
        """Whatever else arrives (events) within seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.raw += data
                self.pending += data
                self._messages()


def kvmcg_queries(s, first_id=2):
    """kvmcg's own conversation after the capabilities (qmp.c qmp_query_vm())."""
    s.execute("query-name", first_id)
    s.execute("query-cpus-fast", first_id + 1)
    s.execute("query-iothreads", first_id + 2)


_written = set()


def put(dest, sub, name, data):
    """Writes a seed, once per content."""
    if (sub, data) in _written:
        return
    _written.add((sub, data))
    os.makedirs(os.path.join(dest, sub), exist_ok=True)
    with open(os.path.join(dest, sub, name), "wb") as f:
        f.write(data)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


# The QEMUs whose threads give /proc seeds: thread names by debug-threads, and a
# process renamed by -name process=.
PROC_FROM = ("session-names-iothreads", "cmdline-chardev-mon")


def capture_proc(dest, name, pid):
    """The process's cmdline; stat, status and syscall of its main thread and of
    one thread of each name (the same name gives the same shapes)."""
    put(dest, "corpus-cmdline", name + ".cmdline", read("/proc/%d/cmdline" % pid))
    if name not in PROC_FROM:
        return
    names = set()
    for task in sorted(glob.glob("/proc/%d/task/*" % pid)):
        comm = (read(task + "/comm") or b"").rstrip(b"\n")
        kind = comm.split(b" ")[0].split(b"/")[0]
        if kind in names:
            continue
        names.add(kind)
        tag = "%s-%s" % (name, kind.decode(errors="replace").replace("_", "-") or "main")
        put(dest, "corpus-proc", "n-" + tag, b"n" + comm)
        for sel, f in (("s", "stat"), ("S", "status"), ("y", "syscall")):
            data = read(task + "/" + f)
            if data is not None:
                put(dest, "corpus-proc", "%s-%s" % (sel, tag), sel.encode() + data)


def run(tmp, dest, name, qemu_args, talk, qmp_opt="-qmp", with_proc=False):
    sock = os.path.join(tmp, name + ".sock")
    # TCG, unless the arguments choose (-machine accel= and -accel exclude each other)
    accel = [] if any("accel=" in a for a in qemu_args) else ["-accel", "tcg"]
    cmd = ["qemu-system-x86_64"] + accel + ["-m", "64", "-display", "none",
           "-nodefaults", "-no-user-config", "-bios", halt_bios(tmp), "-S",
           qmp_opt, "unix:%s,server=on,wait=off" % sock] + qemu_args
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            s = Session(sock)
        except RuntimeError:
            proc.kill()
            sys.exit("%s: QEMU did not start: %s" % (name, proc.communicate()[1].decode()))
        s.greeting()
        talk(s)
        put(dest, "corpus-qmp", name + ".qmp", bytes(s.raw))
        s.sock.close()
        if with_proc:
            capture_proc(dest, name, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("%s: %d bytes of QMP" % (name, len(s.raw)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest = sys.argv[1]
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        def plain(s):
            s.execute("qmp_capabilities", 1)
            kvmcg_queries(s)

        # kvmcg's conversation with a named VM that has iothreads.
        run(tmp, dest, "session-names-iothreads",
            ["-smp", "2", "-name", "guest=fuzz-seed,debug-threads=on",
             "-object", "iothread,id=io0", "-object", "iothread,id=iothread-with-a-long-id"],
            plain, with_proc=True)
        # No -name: query-name returns {}; no iothreads: [].
        run(tmp, dest, "session-unnamed", ["-smp", "1"], plain, with_proc=True)
        # -qmp-pretty: every message spread over lines, indented.
        run(tmp, dest, "session-pretty",
            ["-smp", "2", "-name", "guest=pretty", "-object", "iothread,id=io1"],
            plain, qmp_opt="-qmp-pretty", with_proc=True)
        # -machine none: no CPUs at all.
        run(tmp, dest, "session-machine-none", ["-machine", "none"], plain)

        # Events and answers to other ids in between: stop/cont give STOP and
        # RESUME events, a vCPU hot-plug gives cpu-indexes 0 and 3.
        def events(s):
            s.execute("qmp_capabilities", 1)
            s.execute("cont", "other")
            s.execute("stop", 100)
            s.linger(0.3)
            s.execute("device_add", 101, {"driver": "qemu64-x86_64-cpu", "id": "cpu3",
                                          "socket-id": 3, "core-id": 0, "thread-id": 0})
            s.linger(0.3)
            kvmcg_queries(s)
        run(tmp, dest, "session-events-hotplug",
            ["-machine", "pc", "-smp", "1,maxcpus=4,sockets=4", "-name", "guest=hotplug"],
            events, with_proc=True)

        # Errors: query-cpus-fast refused before the capabilities are negotiated
        # (an answer to another id), then a command QEMU does not know under the id
        # kvmcg's query-name expects.
        def errors(s):
            s.execute("query-cpus-fast", "early")
            s.execute("qmp_capabilities", 1)
            s.execute("query-nothing", 2)
            s.execute("query-cpus-fast", 3)
            s.execute("qmp_capabilities", 4)
        run(tmp, dest, "session-errors", ["-smp", "2"], errors)
        # The capabilities refused: a second qmp_capabilities.
        def caps_refused(s):
            s.execute("qmp_capabilities", "first")
            s.execute("qmp_capabilities", 1)
        run(tmp, dest, "session-caps-refused", [], caps_refused)

        # Many vCPUs (a long query-cpus-fast answer).
        run(tmp, dest, "session-64-vcpus",
            ["-machine", "q35", "-smp", "64,sockets=2,cores=16,threads=2", "-name", "guest=big"],
            plain, with_proc=True)

        # Command lines in the other spellings kvmcg reads: a monitor as -chardev
        # socket + -mon mode=control (one of them abstract), -object as JSON,
        # -machine accel=, ",," in -name, a topology with dies, --double-dash.
        run(tmp, dest, "cmdline-chardev-mon",
            ["-machine", "q35,accel=tcg", "-smp", "4,sockets=1,dies=2,cores=1,threads=2",
             "-name", "guest=a,,b,process=qemu-ab,debug-threads=on",
             "-chardev", "socket,id=mon0,path=%s/mon0.sock,server=on,wait=off" % tmp,
             "-mon", "chardev=mon0,mode=control",
             "-chardev", "socket,id=mon1,path=kvmcg-seed-%d,abstract=on,server=on,wait=off" % os.getpid(),
             "-mon", "chardev=mon1,mode=control,pretty=on",
             "-chardev", "socket,id=hmp,path=%s/hmp.sock,server=on,wait=off" % tmp,
             "-mon", "chardev=hmp,mode=readline",
             "-object", '{"qom-type":"iothread","id":"io-json"}',
             "-object", "iothread,id=io1,poll-max-ns=0",
             "-pidfile", "%s/qemu.pid" % tmp],
            plain, with_proc=True)
        run(tmp, dest, "cmdline-double-dash",
            ["--machine", "pc,accel=kvm:tcg", "--smp", "cpus=2,maxcpus=8,cores=2,threads=2",
             "--name", "double", "--object", "iothread,id=io2"],
            plain, qmp_opt="--qmp-pretty", with_proc=True)

    from_fixtures(dest)
    mountinfo(dest)


def shape_of(sel, data):
    """What makes two files of a kind different to a parser, numbers aside."""
    if sel == b"S":  # status: which keys, not their values
        return b" ".join(line.split(b":")[0] for line in data.splitlines())
    if sel == b"s":  # stat: the name and the number of fields
        close = data.rindex(b")")
        return data[:close + 1].split(b" ", 1)[1] + b" %d" % len(data[close:].split())
    return re.sub(rb"(0x)?[0-9a-f]+", b"0", data)


def from_fixtures(dest):
    """The distinct files of the captured trees (tests/fixtures)."""
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    seen = set()
    n = 0
    for path in sorted(glob.glob(fixtures + "/*/proc/**", recursive=True)):
        base = os.path.basename(path)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        data = read(path)
        if base == "cmdline":
            sub, sel = "corpus-cmdline", b""
        elif base in ("stat", "status", "cgroup", "syscall", "exe.stat"):
            sub, sel = "corpus-proc", {"stat": b"s", "status": b"S", "cgroup": b"c",
                                       "syscall": b"y", "exe.stat": b"e"}[base]
        else:
            continue
        # one seed per shape: the same file with other numbers adds nothing
        shape = sel + shape_of(sel, data)
        if shape in seen or not data:
            continue
        seen.add(shape)
        tree = os.path.relpath(path, fixtures).split(os.sep)[0]
        digest = hashlib.sha1(data).hexdigest()[:8]
        name = ("%s-%s.cmdline" % (tree, digest) if not sel
                else "%s-fixture-%s-%s" % (sel.decode(), tree, digest))
        put(dest, sub, name, sel + data)
        if sel == b"s":
            comm = data[data.index(b"(") + 1:data.rindex(b")")]
            put(dest, "corpus-proc", "n-fixture-%s-%s" % (tree, digest), b"n" + comm)
        n += 1
    # exe evidence: the exe link's text, exe.stat, argv[0] and the name, as the
    # trees give them to vm_exe_evidence()
    for exe in sorted(glob.glob(fixtures + "/*/proc/*/exe")):
        d = os.path.dirname(exe)
        argv0 = (read(d + "/cmdline") or b"").split(b"\0")[0]
        stat = read(d + "/stat") or b"()"
        comm = stat[stat.index(b"(") + 1:stat.rindex(b")")]
        estat = (read(d + "/exe.stat") or b"").strip()
        tree = os.path.relpath(d, fixtures).split(os.sep)[0]
        data = b"\n".join((os.readlink(exe).encode(), estat, argv0, comm))
        put(dest, "corpus-proc", "x-fixture-%s-%s" % (tree, hashlib.sha1(data).hexdigest()[:8]), b"x" + data)
    print("fixtures: %d distinct files" % n)


def mountinfo(dest):
    """This host's cgroup mounts (and those of /proc and /sys) from
    /proc/self/mountinfo; other mounts say nothing about cgroups."""
    keep = []
    for line in (read("/proc/self/mountinfo") or b"").splitlines(True):
        fields = line.split(b" - ")
        fstype = fields[1].split(b" ")[0] if len(fields) > 1 else b""
        if fstype in (b"cgroup", b"cgroup2", b"proc", b"sysfs") or b" /sys/fs/cgroup " in line:
            keep.append(line)
    put(dest, "corpus-proc", "m-this-host", b"m" + b"".join(keep))


if __name__ == "__main__":
    main()
