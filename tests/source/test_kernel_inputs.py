"""KERNEL inputs (directory, tarball, REPO@REV) and bad input: one line, exit 2."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from analyzer.cli import main
from analyzer.pipeline import scan

from helpers import TESTS

IDIOMS = os.path.join(TESTS, "fixtures", "idioms")


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _site_key(a):
    return [(s.file, s.line, s.column, s.callee, s.reasons) for s in a.sites]


@pytest.fixture(scope="module")
def dir_analysis():
    return scan(IDIOMS, use_cache=False, jobs=1)


def _make_tar(path: str, root: str, prefix: str = "linux-x/", extra=None, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for d, _, files in os.walk(root):
            for f in sorted(files):
                full = os.path.join(d, f)
                tf.add(full, arcname=prefix + os.path.relpath(full, root))
        for info, data in (extra or []):
            tf.addfile(info, io.BytesIO(data) if data is not None else None)


def test_tarball_equals_directory(tmp_path, dir_analysis):
    tgz = tmp_path / "k.tar.gz"
    _make_tar(str(tgz), IDIOMS)
    a = scan(str(tgz), use_cache=False, jobs=1)
    assert a.kernel.version == dir_analysis.kernel.version
    assert _site_key(a) == _site_key(dir_analysis)
    assert len(dir_analysis.sites) > 10
    txz = tmp_path / "k.tar.xz"
    _make_tar(str(txz), IDIOMS, mode="w:xz")
    assert _site_key(scan(str(txz), use_cache=False, jobs=1)) == _site_key(dir_analysis)


def test_git_revision_equals_directory(tmp_path, dir_analysis):
    repo = tmp_path / "repo"
    shutil.copytree(IDIOMS, repo)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"],
                ["git", "tag", "v1"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    # a later commit that removes a file must not change what v1 shows
    os.remove(repo / "net" / "idioms" / "constant.c")
    subprocess.run(["git", "commit", "-qam", "rm"], cwd=repo, check=True, env=env)
    a = scan(f"{repo}@v1", use_cache=False, jobs=1)
    assert _site_key(a) == _site_key(dir_analysis)
    b = scan(f"{repo}@HEAD", use_cache=False, jobs=1)
    assert len(b.sites) < len(a.sites)


def test_hostile_tarball_stays_inside(tmp_path):
    """../ paths, absolute paths and symlinks out of the tree are never followed."""
    outside = tmp_path / "secret.c"
    outside.write_text("void leak(struct sk_buff *skb) { kfree_skb(skb); }\n")
    evil = []
    ti = tarfile.TarInfo("linux-x/../../evil.c")
    data = b"void evil(struct sk_buff *skb) { kfree_skb(skb); }\n"
    ti.size = len(data)
    evil.append((ti, data))
    ti = tarfile.TarInfo("/abs/evil2.c")
    ti.size = len(data)
    evil.append((ti, data))
    ti = tarfile.TarInfo("linux-x/net/link.c")
    ti.type = tarfile.SYMTYPE
    ti.linkname = str(outside)
    evil.append((ti, None))
    tgz = tmp_path / "evil.tar.gz"
    _make_tar(str(tgz), IDIOMS, extra=evil)
    a = scan(str(tgz), use_cache=False, jobs=1)
    files = {s.file for s in a.sites}
    assert not any("evil" in f or "link.c" in f for f in files)
    assert not any(s.function in ("leak", "evil") for s in a.sites)
    # the three hostile members are not counted as files of the tree at all
    n = sum(1 for _, _, fs in os.walk(IDIOMS) for f in fs if f.endswith((".c", ".h")))
    assert a.files.scanned == n


def test_symlink_in_directory_not_followed(tmp_path):
    tree = tmp_path / "k"
    shutil.copytree(IDIOMS, tree)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.c").write_text("void leak(struct sk_buff *skb) { kfree_skb(skb); }\n")
    os.symlink(outside, tree / "net" / "linked")
    os.symlink(outside / "leak.c", tree / "net" / "leak.c")
    a = scan(str(tree), use_cache=False, jobs=1)
    assert not any(s.function == "leak" for s in a.sites)


@pytest.mark.parametrize("make,needle", [
    (lambda t: str(t / "nope"), "no such file"),
    (lambda t: str(t), "not a kernel tree"),
    (lambda t: _write(t / "x.tar.xz", b"\xfd7zXZ\x00garbage"), "tarball"),
    (lambda t: _truncated(t), "tarball"),
    (lambda t: _write(t / "x.txt", b"hello"), "not a kernel tree"),
    (lambda t: _offline_debian(t), "cannot download linux-source-9.99"),
    (lambda t: "debian:latest", "not a Debian kernel version"),
    (lambda t: _git_repo(t) + "@no-such-rev", "unknown revision"),
    (lambda t: str(t) + "@v1", "not a git repository"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, make, needle):
    spec = make(tmp_path)
    code, out, err = run_cli(["scan", spec, "-o", str(tmp_path / "out.json")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("skbdrop: "), err
    assert needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def _offline_debian(t) -> str:
    """debian:9.99 with no network: an `apt-get` first in PATH that logs its arguments and
    fails as apt does for an unknown package; the tool must not run `apt-get update`."""
    bin_ = t / "bin"
    bin_.mkdir()
    log = t / "apt.log"
    (bin_ / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                                  "echo 'E: Unable to locate package linux-source-9.99' >&2\nexit 100\n")
    os.chmod(bin_ / "apt-get", 0o755)
    os.environ["PATH"] = f"{bin_}:{os.environ['PATH']}"
    os.environ["SKBDROP_KERNELS"] = str(t / "kernels")
    return "debian:9.99"


@pytest.fixture(autouse=True)
def _restore_env():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_debian_fetch_never_updates_apt(tmp_path, capsys):
    spec = _offline_debian(tmp_path)
    code, out, err = run_cli(["scan", spec], capsys)
    assert code == 2 and "Unable to locate package" in err
    assert (tmp_path / "apt.log").read_text().split("\n")[:-1] == ["download linux-source-9.99"]


def _write(p, data: bytes) -> str:
    p.write_bytes(data)
    return str(p)


def _truncated(t) -> str:
    full = t / "full.tar.gz"
    _make_tar(str(full), IDIOMS)
    data = full.read_bytes()
    return _write(t / "trunc.tar.gz", data[: len(data) // 2])


def _git_repo(t) -> str:
    repo = t / "repo"
    shutil.copytree(IDIOMS, repo)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, check=True, env=env)
    return str(repo)


def test_binary_skipped_non_utf8_mined(tmp_path, capsys):
    """A binary file is skipped with one warning; a Latin-1 file is read and its drop counts."""
    tree = tmp_path / "k"
    shutil.copytree(IDIOMS, tree)
    (tree / "net" / "blob.c").write_bytes(b"\x7fELF\x00\x00skb\x00")
    (tree / "net" / "latin.c").write_bytes(b"/* caf\xe9 */\nint f(struct sk_buff *skb)\n{\n"
                                           b"\tif (skb->len)\n\t\treturn 0;\n\tkfree_skb(skb);\n"
                                           b"\treturn 1; /* d\xe9j\xe0 */\n}\n")
    code, out, err = run_cli(["scan", str(tree), "-o", str(tmp_path / "a.json"), "--no-cache"], capsys)
    assert code == 0
    a = json.loads((tmp_path / "a.json").read_text())
    skipped = {s["file"]: s["error"] for s in a["files"]["skipped"]}
    assert list(skipped) == ["net/blob.c"] and "binary" in skipped["net/blob.c"]
    assert [(s["function"], s["callee"]) for s in a["sites"] if s["file"] == "net/latin.c"] == \
        [("f", "kfree_skb")]
    assert err.count("\n") == 1 and "net/blob.c" in err and "Traceback" not in err


def test_output_is_deterministic_and_atomic(tmp_path, capsys):
    o1, o2 = tmp_path / "1.json", tmp_path / "2.json"
    assert run_cli(["scan", IDIOMS, "-o", str(o1), "--no-cache", "-j", "2"], capsys)[0] == 0
    assert run_cli(["scan", IDIOMS, "-o", str(o2)], capsys)[0] == 0
    assert o1.read_bytes() == o2.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    from analyzer.formats import atomic
    target = tmp_path / "out.json"

    class Boom(Exception):
        pass

    def boom(*a, **k):
        raise Boom()
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(Boom):
        atomic.write_text(str(target), "x" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_cli_has_no_traceback_on_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["scan"])
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "scan", "/nonexistent"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("where", ["missing-dir/out.json", "."])
def test_unwritable_output_is_an_input_error(tmp_path, capsys, where):
    target = str(tmp_path / where) if where != "." else str(tmp_path)
    code, out, err = run_cli(["scan", IDIOMS, "-o", target], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"skbdrop: {target}: ")
    assert "internal error" not in err and "Traceback" not in err
