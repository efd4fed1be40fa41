"""Hostile input and faults lose nothing (issue 14): wrong-shape JSON to every command,
Ctrl-C at any moment, a closed pipe, patch paths out of the tree, git symlinks out of the
tree, and names from the tree in HTML, SARIF and JSON."""
from __future__ import annotations

import glob
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO

HERE = os.path.dirname(os.path.abspath(__file__))
IDIOMS = os.path.join(HERE, "fixtures", "idioms")
PY = sys.executable
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}


def _env(**kw) -> dict:
    return dict(os.environ, PYTHONPATH=REPO, **kw)


def _cli(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "analyzer.cli", *args], capture_output=True, text=True,
                          env=_env(), **kw)


@pytest.fixture(scope="module")
def analysis_json(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("a") / "a.json"
    r = _cli(["scan", IDIOMS, "-o", str(out), "--no-cache", "-j", "1"])
    assert r.returncode == 0, r.stderr
    return str(out)


# --- valid JSON of the wrong shape, another schema -----------------------------------------
def _kernel(**over):
    return {"version": "6.12", "source": "x", "layout": "dropreason-core", **over}


SHAPES = {
    "list": [],
    "string": "analysis",
    "number": 1,
    "empty-object": {},
    "schema-2": {"schema": 2, "kernel": _kernel()},
    "schema-string": {"schema": "1", "kernel": _kernel()},
    "no-kernel": {"schema": 1},
    "kernel-list": {"schema": 1, "kernel": []},
    "sites-string": {"schema": 1, "kernel": _kernel(), "sites": "abc"},
    "reason-value-str": {"schema": 1, "kernel": _kernel(), "reasons": [
        {"name": "SKB_DROP_REASON_X", "short": "X", "value": "7", "subsystem": "core",
         "doc": "", "file": "f", "line": 1}]},
    "site-reasons-int": {"schema": 1, "kernel": _kernel(), "sites": [
        {"file": "f.c", "line": 1, "column": 1, "function": "f", "callee": "kfree_skb",
         "kind": "drop", "reason_arg": None, "reasons": 5, "resolution": "unspecified",
         "complete": True}]},
    "line-bool": {"schema": 1, "kernel": _kernel(), "callgraph": {"nodes": [], "edges": [
        {"caller": "a", "callee": "b", "file": "f", "line": True, "kind": "call"}]}},
}


def _commands(j: str, tmp) -> dict[str, list[str]]:
    return {
        "header": ["header", j],
        "export": ["export", j, "--format", "csv", "--table", "sites"],
        "verify": ["verify", j, "--tracefs-format", os.devnull],
        "diff-old": ["diff", j, j],
        "explain": ["explain", j, "NO_SOCKET"],
        "report": ["report", j, "-o", str(tmp / "rep")],
    }


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_wrong_shape_json_to_every_command(tmp_path, shape):
    j = tmp_path / "w.json"
    j.write_text(json.dumps(SHAPES[shape]))
    for name, args in _commands(str(j), tmp_path).items():
        r = _cli(args)
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"skbdrop: {j}: "), (name, r.stderr)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
        assert not (tmp_path / "rep").exists()


def test_wrong_shape_messages_say_what_is_wrong(tmp_path):
    cases = {"list": "a JSON list", "schema-2": "analysis schema 2", "no-kernel": "kernel",
             "reason-value-str": "Reason.value: expected int",
             "line-bool": "Edge.line: expected int", "site-reasons-int": "not a skbdrop analysis"}
    for shape, needle in cases.items():
        j = tmp_path / f"{shape}.json"
        j.write_text(json.dumps(SHAPES[shape]))
        r = _cli(["header", str(j)])
        assert needle in r.stderr, (shape, r.stderr)


def test_other_json_inputs(tmp_path, analysis_json):
    """The other JSON a command reads: a saved bpftool dump for verify, a pwru JSON trace."""
    j = tmp_path / "btf.json"
    j.write_text("[1, 2]")
    r = _cli(["verify", analysis_json, "--btf", str(j)])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(j) in r.stderr, r.stderr
    j.write_text('{"types": "x"}')
    r = _cli(["verify", analysis_json, "--btf", str(j)])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(j) in r.stderr, r.stderr
    # scan and check take trees, not analyses: a JSON file there is a bad KERNEL
    patch = tmp_path / "x.patch"
    patch.write_text(_patch("a/net/x.c", "b/net/x.c"))
    for args in (["scan", analysis_json], ["check", "--base", analysis_json, "--patch", str(patch)]):
        r = _cli(args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and analysis_json in r.stderr, r.stderr


# --- Ctrl-C at any moment ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_tree(tmp_path_factory):
    """The idiom tree and 300 more files to parse: a scan long enough to interrupt."""
    t = tmp_path_factory.mktemp("big") / "k"
    shutil.copytree(IDIOMS, t)
    src = (t / "net" / "idioms" / "udp.c").read_text()
    os.makedirs(t / "net" / "gen")
    for i in range(300):
        (t / "net" / "gen" / f"g{i}.c").write_text(src.replace("idiom_", f"gen{i}_"))
    return t


def _interrupt(args, delay, cwd, cache) -> subprocess.CompletedProcess:
    p = subprocess.Popen([PY, "-m", "analyzer.cli", *args],
                         env=_env(PYTHONFAULTHANDLER="1", SKBDROP_CACHE=str(cache)),
                         cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(delay)
    try:
        os.killpg(p.pid, signal.SIGINT)              # what a terminal's Ctrl-C does
    except ProcessLookupError:
        pass
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGABRT)             # faulthandler: where it hangs
        out, err = p.communicate()
        pytest.fail(f"hangs after Ctrl-C at {delay:.2f} s:\n{err.decode()[-4000:]}")
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode(), err.decode())


def _leftovers(*dirs) -> list[str]:
    out = []
    for d in dirs:
        for dp, dns, fns in os.walk(d):
            out += [os.path.join(dp, n) for n in fns + dns
                    if ".tmp" in n or ".part" in n or n.startswith(".skbdrop-")
                    or ".skbdrop-" in n or ".old-" in n]
    return out


@pytest.mark.parametrize("cmd", ["scan", "report"])
def test_ctrl_c_at_any_moment(tmp_path, big_tree, cmd):
    """SIGINT to the whole process group, as a terminal sends it, at moments spread over
    the run (after the interpreter itself has started: before that, Python's own default
    applies and no code of ours runs). Each moment starts from an empty cache (a finished
    run's cache would make the later ones too quick to interrupt), and after each
    interrupt the next run, on the cache it left, gives what an uninterrupted one gives."""
    ref = tmp_path / "ref"
    r = _cli(["scan", str(big_tree), "-o", str(ref), "--no-cache", "-j", "2"])
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    _cli(["--version"])
    start = time.monotonic() - t0
    t0 = time.monotonic()
    _cli([cmd, str(big_tree), "-o", str(tmp_path / "timing"), "--no-cache", "-j", "2"])
    total = time.monotonic() - t0
    shutil.rmtree(tmp_path / "timing", ignore_errors=True)
    interrupted = 0
    for i, frac in enumerate((0.1, 0.25, 0.4, 0.55, 0.7, 0.85)):
        cache = tmp_path / f"cache{i}"
        out = tmp_path / ("out.json" if cmd == "scan" else "rep")
        r = _interrupt([cmd, str(big_tree), "-o", str(out), "-j", "2"],
                       start + (total - start) * frac, tmp_path, cache)
        if r.returncode == 0:
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink()
            continue                                       # finished before the signal
        interrupted += 1
        assert r.returncode == 130, r.stderr
        assert r.stderr == "skbdrop: interrupted\n", r.stderr
        # no partial output: none at all, or (interrupted after the final rename) all of it
        if out.exists() and cmd == "scan":
            assert out.read_bytes() == ref.read_bytes()
            out.unlink()
        elif out.exists():
            assert (out / "index.html").is_file() and (out / ".skbdrop-report").exists()
            shutil.rmtree(out)
        assert _leftovers(tmp_path, cache) == []
        # the next run gives what an uninterrupted one gives
        after = tmp_path / "after.json"
        r = subprocess.run([PY, "-m", "analyzer.cli", "scan", str(big_tree), "-o", str(after),
                            "-j", "2"], capture_output=True, text=True,
                           env=_env(SKBDROP_CACHE=str(cache)))
        assert r.returncode == 0, r.stderr
        assert after.read_bytes() == ref.read_bytes()
        after.unlink()
    assert interrupted >= 3


def test_ctrl_c_inside_exec_of_a_string():
    """CPython kills a `-m` program with SIGINT at exit when a KeyboardInterrupt passed
    through exec() of a string, even if it was caught (CI saw exit -2 after the line)."""
    r = subprocess.run([PY, "-m", "exec_interrupt", "schema"], capture_output=True, text=True,
                       env=dict(_env(), PYTHONPATH=os.pathsep.join([REPO, f"{REPO}/tests/helpers"])))
    assert (r.returncode, r.stderr) == (130, "skbdrop: interrupted\n")


def test_ctrl_c_while_the_skbdrop_script_loads():
    """The `skbdrop` script's wrapper imports analyzer.cli, then calls main: a Ctrl-C
    during that import is the one line and 130 too (it was a traceback)."""
    code = ("import sys\n"
            "class Boom:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'analyzer.model.data':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Boom())\n"
            "sys.argv[0] = '/usr/local/bin/skbdrop'\n"
            "from analyzer.cli import main\n"
            "sys.exit(main())\n")
    r = subprocess.run([PY, "-c", code, "schema"], capture_output=True, text=True, env=_env(),
                       timeout=60)
    assert (r.returncode, r.stderr) == (130, "skbdrop: interrupted\n")
    # imported by anyone else, the exception is theirs
    r = subprocess.run([PY, "-c", code.replace("'/usr/local/bin/skbdrop'", "'tool'")],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == -signal.SIGINT and "KeyboardInterrupt" in r.stderr


def test_stopped_worker_leaves_from_anywhere():
    """An interrupted scan stops its workers with SIGTERM. A worker must leave even where
    the pool's own code catches BaseException (its result sender does, then sends again,
    blocked for ever on a pipe no one reads: the hang CI saw)."""
    code = ("import os, signal, time\n"
            "from analyzer.c.collect import _ignore_sigint\n"
            "_ignore_sigint()\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    time.sleep(30)\n"
            "except BaseException:\n"
            "    time.sleep(30)\n")
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=_env(), timeout=20)
    assert (r.returncode, r.stderr) == (143, "")


# --- a closed pipe -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_analysis(tmp_path_factory, analysis_json) -> str:
    """An analysis whose exports are far larger than a pipe's buffer."""
    d = json.loads(open(analysis_json).read())
    sites = d["sites"]
    d["sites"] = [dict(s, line=s["line"] + 10000 * i) for i in range(300) for s in sites]
    out = tmp_path_factory.mktemp("big") / "big.json"
    out.write_text(json.dumps(d))
    return str(out)


@pytest.mark.parametrize("args", [
    ["export", "{a}", "--format", "csv", "--table", "sites"],
    ["export", "{a}", "--format", "json", "--table", "sites"],
    ["scan", "{tree}", "-o", "-", "--no-cache"],
    ["explain", "{a}", "NO_SOCKET"],
])
def test_closed_pipe_is_quiet(big_analysis, args):
    args = [a.format(a=big_analysis, tree=IDIOMS) for a in args]
    cmd = " ".join([PY, "-m", "analyzer.cli", *args]) + " | head -c 10 >/dev/null; echo ${PIPESTATUS[0]} >&2"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=_env())
    assert r.stderr.strip() == "0", r.stderr


def test_scan_to_stdout_equals_file(tmp_path):
    r = _cli(["scan", IDIOMS, "-o", "-", "--no-cache"])
    f = tmp_path / "a.json"
    assert _cli(["scan", IDIOMS, "-o", str(f), "--no-cache"]).returncode == 0
    assert r.returncode == 0 and r.stdout == f.read_text()


# --- patch paths and git symlinks --------------------------------------------------------------------
def _patch(old: str, new: str, body="+\tkfree_skb(skb);\n") -> str:
    return (f"--- {old}\n+++ {new}\n@@ -1,1 +1,2 @@\n // SPDX-License-Identifier: GPL-2.0\n{body}")


@pytest.mark.parametrize("old,new", [
    ("a/../outside.c", "b/../outside.c"),
    ("a/net/../../outside.c", "b/net/../../outside.c"),
    ("/tmp/outside.c", "/tmp/outside.c"),
    ("/dev/null", "b/../../../tmp/new-outside.c"),
])
def test_patch_paths_outside_the_base_are_refused(tmp_path, old, new):
    base = tmp_path / "base" / "k"
    shutil.copytree(IDIOMS, base)
    outside = tmp_path / "base" / "outside.c"
    outside.write_text("// SPDX-License-Identifier: GPL-2.0\n")
    p = tmp_path / "x.patch"
    p.write_text(_patch(old, new))
    before = sorted(glob.glob(str(tmp_path / "**"), recursive=True))
    r = _cli(["check", "--base", str(base), "--patch", str(p), "--no-cache"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "outside the tree" in r.stderr
    assert outside.read_text() == "// SPDX-License-Identifier: GPL-2.0\n"
    assert sorted(glob.glob(str(tmp_path / "**"), recursive=True)) == before


def test_patch_through_a_symlink_in_the_base(tmp_path):
    base = tmp_path / "k"
    shutil.copytree(IDIOMS, base)
    secret = tmp_path / "secret.c"
    secret.write_text("// SPDX-License-Identifier: GPL-2.0\nvoid leak(struct sk_buff *skb) { kfree_skb(skb); }\n")
    os.symlink(secret, base / "net" / "link.c")
    p = tmp_path / "x.patch"
    p.write_text(_patch("a/net/link.c", "b/net/link.c"))
    r = _cli(["check", "--base", str(base), "--patch", str(p), "--no-cache", "--format", "json"])
    assert r.returncode == 2, r.stdout + r.stderr          # no such file in the base: does not apply
    assert "leak" not in r.stdout + r.stderr
    assert secret.read_text().startswith("// SPDX")


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, env=dict(os.environ, **GIT_ENV),
                   capture_output=True)


def test_git_tree_symlinks_out_of_the_tree(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(IDIOMS, repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.c").write_text("void leak(struct sk_buff *skb) { kfree_skb(skb); }\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    os.symlink(outside / "leak.c", repo / "net" / "leak.c")
    os.symlink(outside, repo / "net" / "outdir")
    os.symlink("../../../outside/leak.c", repo / "net" / "rel.c")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "links")
    a = tmp_path / "a.json"
    r = _cli(["scan", f"{repo}@HEAD", "-o", str(a), "--no-cache"])
    assert r.returncode == 0, r.stderr
    d = json.loads(a.read_text())
    assert not [s for s in d["sites"] if s["function"] == "leak" or "leak" in s["file"]
                or "outdir" in s["file"] or "rel.c" in s["file"]]
    r = _cli(["check", "--git", str(repo), "HEAD~1..HEAD", "--no-cache", "--format", "json"])
    assert r.returncode in (0, 1), r.stderr
    assert "leak(" not in r.stdout and "kfree_skb(skb); }" not in r.stdout


# --- names from the tree in HTML, SARIF and JSON -------------------------------------------------------
EVIL = "<script>alert(1)</script>"


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad: list = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not dict(attrs).get("src"):
            self.bad.append(tag)          # an inline script is ours only if it has no alert
        if tag == "img" or any(k.startswith("on") for k, _ in attrs):
            self.bad.append((tag, attrs))

    def handle_data(self, data):
        if self.lasttag == "script" and "alert(1)" in data:
            self.bad.append(data)


def test_tree_names_are_escaped_everywhere(tmp_path):
    t = tmp_path / "k"
    shutil.copytree(IDIOMS, t)
    mk = (t / "Makefile").read_text().replace("EXTRAVERSION = -idioms",
                                              "EXTRAVERSION = -<img/src=x/onerror=alert(1)>")
    (t / "Makefile").write_text(mk)
    core = t / "include" / "net" / "dropreason-core.h"
    core.write_text(core.read_text().replace(
        "no valid socket that can be used.", f"no valid socket {EVIL} & \"quotes\" 'too'"))
    evil_dir = t / "net" / "<img src=x onerror=alert(2)>"
    evil_dir.mkdir()
    shutil.copy(t / "net" / "idioms" / "constant.c", evil_dir / "a\"b'<c>&.c")
    out = tmp_path / "rep"
    r = _cli(["report", str(t), "-o", str(out), "--no-cache"])
    assert r.returncode == 0, r.stderr
    pages = glob.glob(str(out / "**" / "*.html"), recursive=True)
    assert len(pages) > 10
    seen_evil_text = False
    for page in pages:
        text = open(page, encoding="utf-8").read()
        assert EVIL not in text and "<img src=x" not in text and "<img/src" not in text, page
        p = _Tags()
        p.feed(text)
        assert [b for b in p.bad if "alert" in str(b)] == [], page
        seen_evil_text |= "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert seen_evil_text
    # JSON and CSV exports, and SARIF from check: valid, names intact
    a = tmp_path / "a.json"
    assert _cli(["scan", str(t), "-o", str(a), "--no-cache"]).returncode == 0
    d = json.loads(a.read_text())
    assert any("a\"b'<c>&.c" in s["file"] for s in d["sites"])
    assert "<img/src=x/onerror=alert(1)>" in d["kernel"]["version"]
    r = _cli(["export", str(a), "--format", "json", "--table", "reasons"])
    reasons = json.loads(r.stdout)
    reasons = reasons["rows"]
    assert any(EVIL in x["doc"] for x in reasons)
    f = evil_dir / "a\"b'<c>&.c"
    old = f.read_text()
    new = old.replace("\treturn 0;\n}", "\tkfree_skb(skb);\n\treturn 0;\n}")
    import difflib
    rel = os.path.relpath(f, t)
    p = tmp_path / "x.patch"
    p.write_text("".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                              "a/" + rel, "b/" + rel)))
    r = _cli(["check", "--base", str(t), "--patch", str(p), "--format", "sarif", "--no-cache",
              "--paths", "net/"])
    assert r.returncode == 1, r.stderr
    sarif = json.loads(r.stdout)
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in sarif["runs"][0]["results"] for loc in res.get("locations", [])]
    assert uris and all("<" not in u and '"' not in u for u in uris), uris
