#!/usr/bin/env python3
"""Capture real `skb:kfree_skb` drop events on this machine (run as root).

Redo the capture with:

    sudo python3 tests/tools/capture_trace.py tests/data/runtime-6.18

What it does (everything on loopback, nothing leaves the machine):

1. finds tracefs (or mounts it on a temporary directory) and creates a private
   trace *instance* (``instances/skbdrop_capture``) so the global buffer and
   other users of tracefs are left alone;
2. saves ``events/skb/kfree_skb/format`` and ``events/skb/consume_skb/format``;
3. enables ``skb/kfree_skb`` in the instance and makes drops, one scenario at a
   time, writing a marker line into the instance's ``trace_marker`` before each
   one (``skbdrop-scenario: NAME``) so every event can be attributed to the
   scenario that caused it;
4. reads the instance's ``trace``, disables the event, removes the instance;
5. writes ``trace.txt`` (the raw ``trace`` file), ``kallsyms.txt`` (the
   /proc/kallsyms lines of the functions in the trace), ``uname.txt``,
   ``kernel-version.txt``, ``kfree_skb.format``, ``consume_skb.format`` and
   ``scenarios.json`` (what each scenario did) into the output directory.

Optionally (``--perf``) records the same scenarios with ``perf record -e
skb:kfree_skb`` and keeps ``perf script`` output as ``perf-script.real.txt``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

INSTANCE = "skbdrop_capture"


# --------------------------------------------------------------------------- tracefs
def find_tracefs() -> tuple[str, str | None]:
    """(path, mounted_by_us) of a tracefs mount."""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "tracefs":
                return parts[1], None
    d = tempfile.mkdtemp(prefix="tracefs-")
    subprocess.run(["mount", "-t", "tracefs", "nodev", d], check=True)
    return d, d


def write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------- scenarios
def free_port(family: int, kind: int) -> int:
    """A port nobody listens on: bind, read the port, close."""
    s = socket.socket(family, kind)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_closed_port(family: int, addr: str, n: int = 3) -> str:
    port = free_port(family, socket.SOCK_DGRAM)
    s = socket.socket(family, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"x" * 32, (addr, port))
    s.close()
    return f"{n} UDP datagrams to closed port {addr}:{port}"


def udp_tiny_rcvbuf(family: int, addr: str, n: int = 200) -> str:
    r = socket.socket(family, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)   # clamped to SOCK_MIN_RCVBUF
    r.bind((addr, 0))
    port = r.getsockname()[1]
    s = socket.socket(family, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"y" * 1000, (addr, port))
    s.close()
    r.close()        # whatever was queued is freed on close (purge, not a drop event)
    return f"{n} x 1000-byte UDP datagrams to a socket with SO_RCVBUF=1 on {addr}:{port}, never read"


def udp_socket_filter(family: int, addr: str, n: int = 3) -> str:
    r = socket.socket(family, socket.SOCK_DGRAM)
    # classic BPF: "ret #0" -> drop everything
    prog = struct.pack("HBBI", 0x06, 0, 0, 0)
    buf = __import__("ctypes").create_string_buffer(prog)
    fprog = struct.pack("HL", 1, __import__("ctypes").addressof(buf))
    r.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
    r.bind((addr, 0))
    port = r.getsockname()[1]
    s = socket.socket(family, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"f" * 16, (addr, port))
    s.close()
    time.sleep(0.05)
    r.close()
    return f"{n} UDP datagrams to a socket whose attached classic BPF filter returns 0, on {addr}:{port}"


def tcp_closed_port(family: int, addr: str) -> str:
    port = free_port(family, socket.SOCK_STREAM)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((addr, port))
    except OSError as e:
        res = type(e).__name__
    else:
        res = "connected?!"
    s.close()
    return f"TCP connect to closed port {addr}:{port} -> {res}"


def tcp_reset_with_unread(family: int, addr: str) -> str:
    """Server closes an accepted connection with unread data -> RST to the client."""
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.bind((addr, 0))
    ls.listen(1)
    c = socket.socket(family, socket.SOCK_STREAM)
    c.connect(ls.getsockname()[:2])
    a, _ = ls.accept()
    c.sendall(b"unread" * 10)
    time.sleep(0.05)
    a.close()                 # unread data -> RST
    time.sleep(0.05)
    try:
        c.sendall(b"more")    # data after the RST arrives at a closed port
        time.sleep(0.05)
        c.sendall(b"more")
    except OSError:
        pass
    c.close()
    ls.close()
    return f"TCP: server closed with unread data (RST), client wrote after it, on {addr}"


def unix_stream_close_queued(n: int = 4) -> str:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for i in range(n):
        a.send(b"q" * 100)
    b.close()                 # receiver closed with data queued
    a.close()
    return f"unix stream socketpair, {n} messages queued, receiver closed"


def unix_dgram_close_queued(n: int = 4) -> str:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for i in range(n):
        a.send(b"d" * 100)
    b.close()
    a.close()
    return f"unix dgram socketpair, {n} messages queued, receiver closed"


def raw_ip_noproto(n: int = 2) -> str:
    """IPv4 packet with an unused protocol number (253) to 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src = dst = socket.inet_aton("127.0.0.1")
    payload = b"p" * 8
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, 0, 64, 253, 0, src, dst)
    for i in range(n):
        s.sendto(hdr + payload, ("127.0.0.1", 0))
    s.close()
    return f"{n} raw IPv4 packets with protocol 253 to 127.0.0.1"


def udp_bad_checksum(n: int = 2) -> str:
    """A hand-made UDP datagram with a wrong checksum to a bound UDP socket."""
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", 0))
    port = r.getsockname()[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src = dst = socket.inet_aton("127.0.0.1")
    payload = b"c" * 8
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0xdead) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4321, 0, 64, 17, 0, src, dst)
    for i in range(n):
        s.sendto(hdr + udp, ("127.0.0.1", 0))
    s.close()
    time.sleep(0.05)
    r.close()
    return f"{n} raw IPv4/UDP datagrams with checksum 0xdead to bound 127.0.0.1:{port}"


SCENARIOS = [
    ("udp4_closed_port", lambda: udp_closed_port(socket.AF_INET, "127.0.0.1")),
    ("udp6_closed_port", lambda: udp_closed_port(socket.AF_INET6, "::1")),
    ("udp4_tiny_rcvbuf", lambda: udp_tiny_rcvbuf(socket.AF_INET, "127.0.0.1")),
    ("udp6_tiny_rcvbuf", lambda: udp_tiny_rcvbuf(socket.AF_INET6, "::1")),
    ("udp4_socket_filter", lambda: udp_socket_filter(socket.AF_INET, "127.0.0.1")),
    ("tcp4_closed_port", lambda: tcp_closed_port(socket.AF_INET, "127.0.0.1")),
    ("tcp6_closed_port", lambda: tcp_closed_port(socket.AF_INET6, "::1")),
    ("tcp4_reset_unread", lambda: tcp_reset_with_unread(socket.AF_INET, "127.0.0.1")),
    ("unix_stream_close_queued", unix_stream_close_queued),
    ("unix_dgram_close_queued", unix_dgram_close_queued),
    ("ip4_raw_noproto", raw_ip_noproto),
    ("udp4_bad_checksum", udp_bad_checksum),
]


def run_scenarios(marker: str | None) -> list[dict]:
    done = []
    for name, fn in SCENARIOS:
        if marker:
            write(marker, f"skbdrop-scenario: {name}\n")
        try:
            what = fn()
        except OSError as e:
            what = f"failed: {type(e).__name__}: {e}"
        time.sleep(0.2)
        done.append({"scenario": name, "did": what})
    if marker:
        write(marker, "skbdrop-scenario: end\n")
    return done


def save_kallsyms(trace: str, path: str) -> None:
    """The /proc/kallsyms lines of the functions named in the trace's locations
    (same boot as the capture, so the converters can print real addresses)."""
    import re
    names = set(re.findall(r"location=([A-Za-z0-9_.]+)\+", trace))
    out = []
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] in names:
                out.append(line if line.endswith("\n") else line + "\n")
    with open(path, "w") as f:
        f.writelines(sorted(out, key=lambda ln: ln.split()[2]))


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--perf", action="store_true", help="also record with perf and keep `perf script`")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.stderr.write("capture_trace: must run as root\n")
        return 2
    os.makedirs(a.outdir, exist_ok=True)
    root, mounted = find_tracefs()
    inst = os.path.join(root, "instances", INSTANCE)
    try:
        for ev in ("kfree_skb", "consume_skb"):
            shutil.copyfile(os.path.join(root, "events/skb", ev, "format"),
                            os.path.join(a.outdir, f"{ev}.format"))
        if os.path.isdir(inst):
            os.rmdir(inst)
        os.mkdir(inst)
        write(os.path.join(inst, "buffer_size_kb"), "4096")
        write(os.path.join(inst, "trace"), "")                 # clear
        write(os.path.join(inst, "events/skb/kfree_skb/enable"), "1")
        write(os.path.join(inst, "tracing_on"), "1")
        done = run_scenarios(os.path.join(inst, "trace_marker"))
        write(os.path.join(inst, "tracing_on"), "0")
        write(os.path.join(inst, "events/skb/kfree_skb/enable"), "0")
        with open(os.path.join(inst, "trace")) as f:
            trace = f.read()
    finally:
        if os.path.isdir(inst):
            try:
                write(os.path.join(inst, "events/skb/kfree_skb/enable"), "0")
            except OSError:
                pass
            os.rmdir(inst)
        if mounted:
            subprocess.run(["umount", mounted], check=False)
            os.rmdir(mounted)
    with open(os.path.join(a.outdir, "trace.txt"), "w") as f:
        f.write(trace)
    save_kallsyms(trace, os.path.join(a.outdir, "kallsyms.txt"))
    u = platform.uname()
    with open(os.path.join(a.outdir, "uname.txt"), "w") as f:
        f.write(subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout)
    with open(os.path.join(a.outdir, "kernel-version.txt"), "w") as f:
        f.write(u.release + "\n")
    with open(os.path.join(a.outdir, "scenarios.json"), "w") as f:
        json.dump({"kernel": u.release, "scenarios": done}, f, indent=1)
        f.write("\n")
    if a.perf and shutil.which("perf"):
        data = os.path.join(tempfile.mkdtemp(prefix="skbdrop-perf-"), "perf.data")
        p = subprocess.Popen(["perf", "record", "-q", "-a", "-e", "skb:kfree_skb", "-o", data],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        done = run_scenarios(None)
        time.sleep(0.5)
        p.send_signal(2)
        p.wait()
        out = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True).stdout
        with open(os.path.join(a.outdir, "perf-script.real.txt"), "w") as f:
            f.write(out)
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    n = sum(1 for ln in trace.splitlines() if "kfree_skb:" in ln)
    print(f"captured {n} kfree_skb events into {a.outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
