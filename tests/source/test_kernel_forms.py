"""KERNEL forms beyond a source tree: an exact Debian package version, a kernel headers
tree, and `btf:FILE` (the running kernel's reason table, without its source).

No test touches the network: apt is replaced by stand-ins on PATH where a download would
happen, and the real `debian:6.12.117-1~deb12u1` is the tree `make kernels` put in the cache.
The BTF test reads /sys/kernel/btf/vmlinux and compares the compiled header with what
`bpftool btf dump … format raw` prints (its own text parsed here, not the product's reader).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from analyzer.cli import main
from analyzer.errors import InputError
from analyzer.source import tree as tree_mod
from analyzer.source.tree import DirTree, open_tree

from helpers import TESTS

IDIOMS = os.path.join(TESTS, "fixtures", "idioms")
LAYOUTS = os.path.join(TESTS, "fixtures", "layouts")
RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")
VMLINUX = "/sys/kernel/btf/vmlinux"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]

MADISON = """\
linux-source-6.12 | 6.12.117-1~deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
linux-source-6.12 | 6.12.115-2~deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
linux-source-6.12 | 6.12.113-1~deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
"""


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- debian:<exact version> ---------------------------------------------------------------

@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """apt-get and apt-cache stand-ins: madison lists MADISON, every download fails as
    apt does for an unknown version; calls are logged."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "apt.log"
    (tmp_path / "madison.txt").write_text(MADISON)
    (bindir / "apt-cache").write_text(
        f"#!/bin/sh\necho \"apt-cache $*\" >> {log}\n"
        f"[ \"$1\" = madison ] && [ \"$2\" = linux-source-6.12 ] && cat {tmp_path}/madison.txt\n"
        "exit 0\n")
    (bindir / "apt-get").write_text(
        f"#!/bin/sh\necho \"apt-get $*\" >> {log}\n"
        "echo \"E: Version '${2#*=}' for '${2%%=*}' was not found\" >&2\nexit 100\n")
    for f in ("apt-cache", "apt-get"):
        (bindir / f).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("SKBDROP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SKBDROP_KERNELS", os.path.join(str(tmp_path / "cache"), "debian"))
    return log


def test_unknown_version_lists_what_apt_offers(fake_apt, capsys, tmp_path):
    code, out, err = run_cli(["scan", "debian:6.12.999-1~deb12u1", "-o", str(tmp_path / "a.json")],
                             capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ("apt offers no linux-source-6.12 version 6.12.999-1~deb12u1; it offers "
            "6.12.117-1~deb12u1, 6.12.115-2~deb12u1, 6.12.113-1~deb12u1") in err
    assert "apt-get download linux-source-6.12=6.12.999-1~deb12u1" in fake_apt.read_text()
    assert not (tmp_path / "a.json").exists()


def test_upstream_version_without_revision(fake_apt, capsys):
    # debian:6.12.113 is the newest Debian revision of 6.12.113 apt offers
    code, _, err = run_cli(["header", "debian:6.12.113"], capsys)
    assert code == 2
    assert "apt-get download linux-source-6.12=6.12.113-1~deb12u1" in fake_apt.read_text()
    code, _, err = run_cli(["header", "debian:6.12.5"], capsys)
    assert code == 2 and "apt offers no linux-source-6.12 of 6.12.5; it offers 6.12.117-1~deb12u1" in err


def test_no_such_package(fake_apt, capsys):
    code, _, err = run_cli(["header", "debian:6.99.1-1"], capsys)
    assert code == 2 and "apt offers no package linux-source-6.99" in err


@pytest.mark.parametrize("spec", ["debian:6.12.x", "debian:6", "debian:6.12.1-1 2", "debian:../x"])
def test_malformed_versions(spec, capsys):
    code, _, err = run_cli(["header", spec], capsys)
    assert code == 2 and "not a Debian kernel version" in err


def test_exact_version_from_the_cache(fake_apt, tmp_path):
    """An exact version already unpacked is read from the cache, apt untouched; a series
    cache holding that very version (debian:6.12) is shared."""
    base = tmp_path / "cache" / "debian"
    exact = base / "exact" / "linux-source-6.12_6.12.113-1~deb12u1" / "tree"
    shutil.copytree(IDIOMS, exact / "linux-source-6.12")
    (exact / ".complete").touch()
    t = open_tree("debian:6.12.113-1~deb12u1")
    assert isinstance(t, DirTree) and t.root == str(exact / "linux-source-6.12")
    assert t.source.startswith("debian:6.12.113-1~deb12u1 (linux-source-6.12_6.12.113-1~deb12u1_all.deb)")
    series = base / "tree-6.12"
    shutil.copytree(IDIOMS, series / "linux-source-6.12")
    (series / ".complete").touch()
    (base / "linux-source-6.12_6.12.117-1~deb12u1_all.deb").write_bytes(b"")
    t = open_tree("debian:6.12.117-1~deb12u1")
    assert t.root == str(series / "linux-source-6.12")
    assert not fake_apt.exists()
    with pytest.raises(InputError, match="not in the cache"):
        tree_mod.debian_tree("6.12.115-2~deb12u1", fetch=False)


@pytest.mark.realtree
def test_exact_version_is_the_cached_debian_tree(tree_612):
    """debian:6.12.117-1~deb12u1 is the tree debian:6.12 unpacked (no second copy)."""
    ver = os.path.basename(tree_612.source.split("(")[1].rstrip(")"))
    pkgver = re.match(r"linux-source-6\.12_(.+)_all\.deb", ver).group(1)
    t = open_tree(f"debian:{pkgver}")
    assert t.root == tree_612.root and t.version == tree_612.version


# --- a kernel headers tree ------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["6.18", "6.12.117"])
def test_headers_tree(fixture, capsys, tmp_path):
    """layouts/6.18 is a headers tree as Debian ships it (Makefile, include/); 6.12.117
    adds net/*/drop.h but no .c: the reason table works, a scan says there is no source."""
    root = os.path.join(LAYOUTS, fixture)
    assert not DirTree(root).has_sources() and DirTree(IDIOMS).has_sources()
    code, out, err = run_cli(["scan", root, "-o", str(tmp_path / "a.json")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "a kernel headers tree" in err and "no sources to scan" in err
    assert not (tmp_path / "a.json").exists()
    code, out, _ = run_cli(["header", root], capsys)
    assert code == 0 and "SKBDROP_REASON_NOT_SPECIFIED = 2," in out
    code, out, _ = run_cli(["export", root, "--table", "reasons", "--format", "csv"], capsys)
    assert code == 0 and out.startswith("name,short,value,") and out.count("\n") > 100
    fmt = os.path.join(RUNTIME, "kfree_skb.format")
    code, out, _ = run_cli(["verify", root, "--tracefs-format", fmt], capsys)
    assert code == (0 if fixture == "6.18" else 1)


# --- btf:FILE -----------------------------------------------------------------------------------

def _raw_oracle(text: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(reason name as the kernel prints it, value), (subsystem name, id) from the text of
    `bpftool btf dump file F format raw`."""
    enums: dict[str, list[tuple[str, int]]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"\[\d+\] (\w+) '([^']*)'", line)
        if m:
            cur = m.group(2) if m.group(1) in ("ENUM", "ENUM64") else None
            if cur is not None and cur not in enums:
                enums[cur] = []
            elif cur is not None:
                cur = None          # a second enum of that name: keep the first
            continue
        m = re.match(r"\s+'(\w+)' val=(-?\d+)", line)
        if m and cur is not None:
            enums[cur].append((m.group(1), int(m.group(2))))
    core = enums["skb_drop_reason"]
    bounds = {"SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK"}
    reasons = [(re.sub(r"^SKB_(DROP_REASON_)?", "", n), v) for n, v in core if n not in bounds]
    subs = [(n[len("SKB_DROP_REASON_SUBSYS_"):].lower(), v)
            for n, v in enums.get("skb_drop_reason_subsys", [])
            if not n.endswith("_NUM")]
    ids = {v for _, v in subs if v}
    for name, vals in enums.items():      # a subsystem's own enum: its values at id << 16
        if name in ("skb_drop_reason", "skb_drop_reason_subsys"):
            continue
        sids = {v >> 16 for _, v in vals if v > 1}
        if len(sids) == 1 and (sid := sids.pop()) in ids and (sid << 16) in {v for _, v in vals}:
            reasons += [(n, v) for n, v in vals
                        if v >> 16 == sid and v & 0xFFFF and not n.startswith("_")
                        and not n.endswith("_MAX")]
    return sorted(reasons, key=lambda p: (p[1], p[0])), sorted(subs, key=lambda p: p[1])


PRINTER = r"""
#include <stdio.h>
#include "drop.h"
#define R(id, val, name) printf("R %s %u\n", name, (unsigned)(val));
#define S(id, val, name) printf("S %s %u\n", name, (unsigned)(val));
int main(void)
{
	SKBDROP_REASON_LIST(R)
#ifdef SKBDROP_REASON_SUBSYS_LIST
	SKBDROP_REASON_SUBSYS_LIST(S)
#endif
	printf("N %u %s\n", (unsigned)SKBDROP_REASON_COUNT,
	       skbdrop_reason_name(SKBDROP_REASON_NOT_SPECIFIED));
	return 0;
}
"""


def _compile_and_run(header: str, tmp_path) -> list[str]:
    (tmp_path / "drop.h").write_text(header)
    (tmp_path / "p.c").write_text(PRINTER)
    r = subprocess.run(["gcc", *CFLAGS, "-o", str(tmp_path / "p"), str(tmp_path / "p.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return subprocess.run([str(tmp_path / "p")], capture_output=True, text=True,
                          check=True).stdout.splitlines()


@pytest.mark.skipif(not os.path.exists(VMLINUX),
                    reason=f"{VMLINUX} is absent: the kernel was built without CONFIG_DEBUG_INFO_BTF")
def test_header_from_running_kernel_btf(tmp_path, capsys):
    code, header, err = run_cli(["header", f"btf:{VMLINUX}"], capsys)
    assert code == 0, err
    assert f'#define SKBDROP_REASON_KERNEL_VERSION "{os.uname().release}"' in header
    assert "NO DOCUMENTATION" in header and "catalogue layout: btf" in header
    lines = _compile_and_run(header, tmp_path)
    exe = shutil.which("bpftool") or "/usr/sbin/bpftool"
    raw = subprocess.run([exe, "btf", "dump", "file", VMLINUX, "format", "raw"],
                         capture_output=True, text=True, check=True).stdout
    want_reasons, want_subs = _raw_oracle(raw)
    got_reasons = [(ln.split()[1], int(ln.split()[2])) for ln in lines if ln.startswith("R ")]
    got_subs = [(ln.split()[1], int(ln.split()[2])) for ln in lines if ln.startswith("S ")]
    assert sorted(got_reasons, key=lambda p: (p[1], p[0])) == want_reasons
    assert got_subs == want_subs
    assert lines[-1] == f"N {len(want_reasons)} NOT_SPECIFIED"
    # the same table through export, as JSON
    code, out, _ = run_cli(["export", f"btf:{VMLINUX}", "--table", "reasons"], capsys)
    assert code == 0
    rows = json.loads(out)["rows"]
    assert sorted((r["short"], r["value"]) for r in rows) == sorted(want_reasons)
    assert all(r["doc"] == "" for r in rows)


def test_btf_json_dump_and_source_agree(tmp_path, capsys):
    """A saved `bpftool btf dump -j` of the 6.18 kernel gives the same reason table as
    that kernel's headers (layouts/6.18): names and values; docs only from the source."""
    dump = os.path.join(RUNTIME, "btf-drop-reasons.json")
    code, from_btf, _ = run_cli(["header", f"btf:{dump}"], capsys)
    assert code == 0
    code, from_src, _ = run_cli(["header", os.path.join(LAYOUTS, "6.18")], capsys)
    assert code == 0

    def table(h, core):
        return [x for x in re.findall(r"^\tX\((\w+), (\d+), \"(\w+)\"\)", h, re.M)
                if (int(x[1]) < 1 << 16) == core]
    # the dump holds the enums of vmlinux; the subsystems' reasons live in modules
    assert table(from_btf, True) == table(from_src, True) and len(table(from_btf, True)) > 100
    assert table(from_btf, False) == [x for x in table(from_src, False) if "SUBSYS" in x[0]]
    assert "NO DOCUMENTATION" in from_btf and "NO DOCUMENTATION" not in from_src
    _compile_and_run(from_btf, tmp_path)


@pytest.mark.parametrize("argv,needle", [
    (["scan", "btf:/sys/kernel/btf/vmlinux"], "BTF has no sources to scan"),
    (["export", "btf:/sys/kernel/btf/vmlinux", "--table", "sites"], "not the sources"),
    (["report", "btf:/sys/kernel/btf/vmlinux", "-o", "{tmp}/r"], "not the sources"),
    (["header", "btf:{tmp}/nope"], "no such file"),
    (["header", "btf:{tmp}/junk"], "not BTF"),
])
def test_btf_bad_uses_one_line_exit_2(argv, needle, tmp_path, capsys):
    (tmp_path / "junk").write_bytes(b"hello")
    code, out, err = run_cli([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err



def _fake_source_deb(tmp_path, series: str, pkgver: str) -> str:
    """A linux-source-SERIES .deb as Debian builds it: usr/src/linux-source-X.tar.xz
    holding linux-source-X/ (here the idioms fixture) plus hostile members."""
    import io
    import tarfile
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: linux-source-{series}\nVersion: {pkgver}\nArchitecture: all\n"
        "Maintainer: t <t@t>\nDescription: test\n")
    (root / "usr" / "src").mkdir(parents=True)
    with tarfile.open(root / "usr" / "src" / f"linux-source-{series}.tar.xz", "w:xz") as tf:
        tf.add(IDIOMS, arcname=f"linux-source-{series}")
        for name in ("../escape.c", "/abs.c"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"bad"))
        link = tarfile.TarInfo(f"linux-source-{series}/net/link.c")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    deb = tmp_path / f"linux-source-{series}_{pkgver}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root), str(deb)], check=True,
                   capture_output=True)
    return str(deb)


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed (not Debian)")
def test_exact_version_unpacks_a_downloaded_deb(fake_apt, tmp_path, capsys):
    """The download is stubbed (the .deb already in its cache directory); the rest is the
    real path: dpkg-deb -x, the tarball unpacked safely (no `..`, absolute or link
    members: Debian 12's python3 has no tarfile extraction filters), read as a tree."""
    pkgver = "6.12.113-1~deb12u1"
    d = tmp_path / "cache" / "debian" / "exact" / f"linux-source-6.12_{pkgver}"
    d.mkdir(parents=True)
    shutil.move(_fake_source_deb(tmp_path, "6.12", pkgver), d)
    code, out, err = run_cli(["header", f"debian:{pkgver}"], capsys)
    assert code == 0, err
    assert f"debian:{pkgver} (linux-source-6.12_{pkgver}_all.deb)" in out
    tree = d / "tree" / "linux-source-6.12"
    assert (tree / "net" / "idioms" / "cast.c").is_file()
    assert not (tree / "net" / "link.c").exists() and not (d / "tree" / "escape.c").exists()
    assert not (tmp_path / "cache" / "debian" / "exact" / "escape.c").exists()
    assert not fake_apt.exists()
