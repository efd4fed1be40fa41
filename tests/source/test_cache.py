"""The cache cannot lie (issue 14): keys from content and code, data-only entries, a bad
entry is a miss, an unsafe cache directory is not used, the manifest sees every change,
concurrent scans agree, and a cold and a warm scan of a real tree give the same bytes."""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import msgspec
import pytest

from analyzer.c.collect import collect_facts
from analyzer.c.extract import extract
from analyzer.c.facts import FileFacts
from analyzer.cli import main
from analyzer.link.relink import _index_from_data, _index_to_data, build_index
from analyzer.model import Analysis
from analyzer.source import cache as cache_mod, codec, manifest as manifest_mod
from analyzer.source.tree import DirTree, cache_dir

from conftest import REPO, TEST_CACHE, USER_CACHE
from helpers import DEB612, TESTS

IDIOMS = os.path.join(TESTS, "fixtures", "idioms")
PY = sys.executable


def _env(cache: str, **kw) -> dict:
    env = dict(os.environ, SKBDROP_CACHE=str(cache), PYTHONPATH=REPO)
    env.update(kw)
    return env


def _cli(args, cache, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "analyzer.cli", *args], capture_output=True, text=True,
                          env=_env(cache), **kw)


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture()
def tree(tmp_path):
    t = tmp_path / "k"
    shutil.copytree(IDIOMS, t)
    return t


@pytest.fixture()
def no_racy(monkeypatch):
    """Files copied a moment ago are 'racily clean' and never recorded; tests of the
    manifest record them all the same."""
    monkeypatch.setattr(manifest_mod, "RACY_NS", -10**18)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The fixture's analysis without any cache."""
    out = tmp_path_factory.mktemp("ref") / "a.json"
    r = _cli(["scan", IDIOMS, "-o", str(out), "--no-cache", "-j", "1"], "/nonexistent")
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def _scan_bytes(tree, cache, tmp_path, name="a.json", jobs="2") -> bytes:
    out = tmp_path / name
    r = _cli(["scan", str(tree), "-o", str(out), "-j", jobs], cache)
    assert r.returncode == 0, r.stderr
    return out.read_bytes().replace(str(tree).encode(), IDIOMS.encode())


# --- the session's own cache -------------------------------------------------------------
def test_session_uses_its_own_cache():
    assert cache_dir() == TEST_CACHE
    assert os.path.realpath(TEST_CACHE) != os.path.realpath(USER_CACHE)
    assert not os.path.realpath(TEST_CACHE).startswith(os.path.realpath(USER_CACHE) + os.sep)


# --- the format ----------------------------------------------------------------------------
def test_codec_round_trips_real_facts():
    d = os.path.join(IDIOMS, "net", "idioms")
    n = 0
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            facts = extract(name, f.read())
        plain = json.loads(json.dumps(codec.encoder(FileFacts)(facts)))
        # the worker's encoder writes the same JSON (it leaves tuples to msgspec)
        assert msgspec.json.decode(msgspec.json.encode(codec.json_encoder(FileFacts)(facts))) == plain
        back = codec.decoder(FileFacts)(plain)
        assert back == facts and type(back) is FileFacts
        n += len(facts.calls)
    assert n > 50


@dataclass(frozen=True)
class Inner:
    a: int
    b: str | None


@dataclass(frozen=True)
class Outer:
    terms: tuple[tuple, ...]
    inner: tuple[Inner, ...]
    pair: tuple[int, tuple[str, ...]]
    maybe: tuple[str, ...] | None
    table: dict[str, tuple[int, int]]
    flag: bool = False


def test_codec_is_generic():
    """A new field of any supported type needs no serializer change."""
    v = Outer(terms=(("const", "X"), ("out", "f", 2), ("nest", ("a", (1, None)))),
              inner=(Inner(1, None), Inner(2, "x")), pair=(3, ("p", "q")), maybe=None,
              table={"k": (1, 2)}, flag=True)
    assert codec.decoder(Outer)(json.loads(json.dumps(codec.encoder(Outer)(v)))) == v
    assert msgspec.json.encode(codec.json_encoder(Outer)(v)) == msgspec.json.encode(codec.encoder(Outer)(v))
    # every dataclass the cache holds builds (an unsupported field type fails here)
    for cls in (FileFacts, Analysis):
        codec.encoder(cls), codec.decoder(cls)


def test_link_index_round_trips(tree):
    facts = collect_facts(DirTree(str(tree)), jobs=1, use_cache=False)
    ix = build_index(facts)
    back = _index_from_data(json.loads(json.dumps(_index_to_data(ix))))
    for name in ("defs", "callers", "mentions"):
        assert getattr(back, name).text == getattr(ix, name).text
    assert (back.catalogue, back.family, back.skipped, back.scanned) == \
        (ix.catalogue, ix.family, ix.skipped, ix.scanned)
    assert back.defs.get("idiom_constant") == ix.defs.get("idiom_constant") != ()


@pytest.mark.parametrize("bad", [
    None, 1, "x", [], {}, [1] * 9, ["p"] + [[]] * 8,
    ["p", [], [], [["a", "b", "x"]], [], [], None, False, False],      # edge line not an int
    ["p", [], [], [], [], [], None, 0, False],                           # int for a bool
    ["p", [], [], [], [], [], {"__reduce__": 1}, False, False],          # dict for a str
])
def test_codec_rejects_wrong_shapes(bad):
    with pytest.raises(codec.BadEntry):
        codec.decoder(FileFacts)(bad)


def test_entries_name_kind_key_and_code(tmp_path):
    c = cache_mod.FactsCache(str(tmp_path))
    f = FileFacts(path="x.c", parsed=True)
    c.put("ab" * 20, f)
    assert c.get("ab" * 20) == f
    path = c._path("ab" * 20)
    data = open(path, "rb").read()
    # the same entry under another key (a copied file) is not trusted
    other = c._path("cd" * 20)
    os.makedirs(os.path.dirname(other))
    shutil.copy(path, other)
    assert c.get("cd" * 20) is None
    # another code version's entry is not trusted either
    v = json.loads(data)
    v[2] = "0" * 16
    open(path, "w").write(json.dumps(v))
    assert c.get("ab" * 20) is None


# --- hostile and corrupt entries ----------------------------------------------------------------
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _patch_for(tree, tmp_path) -> str:
    f = tree / "net" / "idioms" / "constant.c"
    old = f.read_text()
    new = old.replace("\treturn 0;\n}", "\tkfree_skb(skb);\n\treturn 0;\n}")
    assert new != old
    diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                "a/net/idioms/constant.c", "b/net/idioms/constant.c")
    p = tmp_path / "x.patch"
    p.write_text("".join(diff))
    return str(p)


@pytest.mark.parametrize("plant", ["pickle", "random", "truncated", "empty", "symlink"])
def test_planted_entries_change_nothing_and_run_nothing(tree, tmp_path, plant):
    cache = tmp_path / "cache"
    patch = _patch_for(tree, tmp_path)
    first = _scan_bytes(tree, cache, tmp_path, "1.json")
    r = _cli(["check", "--base", str(tree), "--patch", patch, "--format", "json"], cache)
    assert r.returncode == 1, r.stderr
    check_first = r.stdout
    files = [os.path.join(cache, f) for f in _files(cache)]
    kinds = {os.path.relpath(f, cache).split("-")[0] for f in files}
    assert {"facts", "link"} <= kinds, kinds
    marker = tmp_path / "RAN"
    evil = pickle.dumps(_Evil(marker))
    assert b"system" in evil
    secret = tmp_path / "secret"
    secret.write_text("[1]")
    for f in files:
        data = open(f, "rb").read()
        payload = {"pickle": evil, "random": os.urandom(len(data) or 64),
                   "truncated": data[: len(data) // 2], "empty": b""}.get(plant)
        if plant == "symlink":
            os.unlink(f)
            os.symlink(secret, f)
        else:
            with open(f, "wb") as fh:
                fh.write(payload)
    second = _scan_bytes(tree, cache, tmp_path, "2.json")
    r = _cli(["check", "--base", str(tree), "--patch", patch, "--format", "json"], cache)
    assert r.returncode == 1 and r.stdout == check_first, r.stderr
    assert second == first
    assert not marker.exists()
    if plant != "symlink":
        # every planted entry was replaced by a good one again (facts and check index)
        for f in files:
            if "facts-" in f or "link-index" in f:
                assert open(f, "rb").read().startswith(b'["skbdrop-cache"'), f


def test_cold_warm_and_reference_agree(tree, tmp_path, reference):
    cache = tmp_path / "cache"
    assert _scan_bytes(tree, cache, tmp_path, "cold.json") == reference
    assert _scan_bytes(tree, cache, tmp_path, "warm.json") == reference
    assert _scan_bytes(tree, cache, tmp_path, "warm1.json", jobs="1") == reference


# --- the cache directory ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["other-user", "world-writable"])
def test_unsafe_cache_dir_is_not_used(tree, tmp_path, reference, how):
    if os.geteuid() != 0 and how == "other-user":
        pytest.skip("needs root to give a directory to another user")
    cache = tmp_path / "cache"
    cache.mkdir()
    if how == "other-user":
        os.chown(cache, 65534, 65534)
    else:
        os.chmod(cache, 0o777)
    out = tmp_path / "a.json"
    r = _cli(["scan", str(tree), "-o", str(out), "-j", "2"], cache)
    assert r.returncode == 0
    warnings = [ln for ln in r.stderr.splitlines() if "cache" in ln]
    assert len(warnings) == 1 and "not using it" in warnings[0], r.stderr
    assert str(cache) in warnings[0]
    assert os.listdir(cache) == []
    assert out.read_bytes().replace(str(tree).encode(), IDIOMS.encode()) == reference


def test_new_cache_dir_is_private(tmp_path):
    root = tmp_path / "new" / "cache"
    assert cache_mod.usable_root(str(root)) == str(root)
    assert (os.stat(root).st_mode & 0o777) == 0o700


# --- the manifest -----------------------------------------------------------------------------
def _collect(tree, cache, monkeypatch):
    monkeypatch.setenv("SKBDROP_CACHE", str(cache))
    return collect_facts(DirTree(str(tree)), jobs=1)


def test_manifest_sees_same_size_same_mtime_changes(tree, tmp_path, monkeypatch, no_racy):
    cache = tmp_path / "cache"
    cache_mod._check_root.cache_clear()
    f = tree / "net" / "idioms" / "constant.c"
    first = _collect(tree, cache, monkeypatch)
    assert first.parsed > 0
    again = _collect(tree, cache, monkeypatch)
    assert again.parsed == 0 and again.cached == first.parsed
    st = os.stat(f)
    # same size, same mtime, same inode: another reason at the first site
    text = f.read_text()
    new = text.replace("SKB_DROP_REASON_PKT_TOO_SMALL", "SKB_DROP_REASON_PKT_TOO_SMALX")
    assert len(new) == len(text) and new != text
    with open(f, "r+") as fh:
        fh.write(new)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_ino == st.st_ino and os.stat(f).st_size == st.st_size
    third = _collect(tree, cache, monkeypatch)
    assert third.parsed == 1
    assert any("PKT_TOO_SMALX" in a for c in third["net/idioms/constant.c"].calls for a in c.args)
    # same size and mtime, another inode (a file renamed over it)
    tmp = tree / "net" / "idioms" / "constant.c.new"
    tmp.write_text(text)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, f)
    fourth = _collect(tree, cache, monkeypatch)
    assert fourth["net/idioms/constant.c"] == first["net/idioms/constant.c"]


def test_racily_clean_files_are_not_recorded(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    f = tree / "net" / "idioms" / "constant.c"
    os.utime(f)                                   # written just now
    _collect(tree, cache, monkeypatch)
    man = [p for p in _files(cache) if p.startswith("manifest-")]
    recorded = json.loads(open(os.path.join(cache, man[0])).read())[4] if man else {}
    assert "net/idioms/constant.c" not in recorded
    again = _collect(tree, cache, monkeypatch)        # read again, found in the facts cache
    assert again.parsed == 0 and "net/idioms/constant.c" in again


def test_corrupt_manifest_is_an_empty_one(tree, tmp_path, monkeypatch, no_racy):
    cache = tmp_path / "cache"
    first = _collect(tree, cache, monkeypatch)
    man = [os.path.join(cache, p) for p in _files(cache) if p.startswith("manifest-")]
    assert len(man) == 1
    v = json.loads(open(man[0]).read())
    v[4]["net/idioms/constant.c"] = [1, 2, 3, "x", "key"]        # wrong types
    open(man[0], "w").write(json.dumps(v))
    again = _collect(tree, cache, monkeypatch)
    assert dict(again) == dict(first)


# --- concurrency -------------------------------------------------------------------------------
def test_two_scans_sharing_a_cache_at_once(tree, tmp_path, reference):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([PY, "-m", "analyzer.cli", "scan", str(tree), "-o",
                               str(tmp_path / f"{i}.json"), "-j", "2"],
                              env=_env(cache), stderr=subprocess.PIPE) for i in range(3)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    outs = {(tmp_path / f"{i}.json").read_bytes().replace(str(tree).encode(), IDIOMS.encode())
            for i in range(3)}
    assert outs == {reference}
    assert not [f for f in _files(cache) if ".tmp" in f or ".part" in f]
    assert _scan_bytes(tree, cache, tmp_path, "after.json") == reference


# --- the code hash -----------------------------------------------------------------------------
def test_changed_code_misses(tree, tmp_path):
    """A copy of the package with one changed line in the facts code: a new code version,
    every entry parsed again, nothing of the old code's entries used."""
    cache = tmp_path / "cache"
    _scan_bytes(tree, cache, tmp_path, "a.json")
    before = {p.split("/")[0] for p in _files(cache)}
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(REPO, "analyzer"), pkg / "analyzer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / "analyzer" / "c" / "facts.py", "a") as f:
        f.write("\n# a change\n")
    code = ("from analyzer.source.cache import code_version as v; import analyzer; "
            "print(v('facts'), v('analysis'), analyzer.__file__)")
    # -S: no site hooks, so the editable install cannot map `analyzer` to the repository
    site = os.pathsep.join(p for p in sys.path if p.endswith("site-packages"))
    copy = _env(cache, PYTHONPATH=os.pathsep.join([str(pkg), site]))
    old = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=_env(cache),
                         check=True, cwd=tmp_path).stdout.split()
    new = subprocess.run([PY, "-S", "-c", code], capture_output=True, text=True, env=copy,
                         check=True, cwd=tmp_path).stdout.split()
    assert new[2].startswith(str(pkg))
    assert old[0] != new[0] and old[1] != new[1]
    r = subprocess.run([PY, "-S", "-m", "analyzer.cli", "scan", str(tree), "-o",
                        str(tmp_path / "b.json")], capture_output=True, text=True, env=copy,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = {p.split("/")[0] for p in _files(cache)}
    assert f"facts-{new[0]}" in after - before and f"facts-{old[0]}" in before
    n_old = len([p for p in _files(cache) if p.startswith(f"facts-{old[0]}/")])
    n_new = len([p for p in _files(cache) if p.startswith(f"facts-{new[0]}/")])
    assert n_old == n_new > 10


def test_code_version_covers_the_code():
    assert set(cache_mod._CODE["facts"]) >= {"c/*.py", "c/queries/*.scm", "source/codec.py"}
    for stage, pats in cache_mod._CODE.items():
        for pat in pats:
            assert list(cache_mod._PKG.glob(pat)), (stage, pat)


# --- a real tree: cold and warm give the same bytes ------------------------------------------------
@pytest.mark.realtree
def test_debian_612_cold_and_warm_are_byte_identical(tmp_path):
    cold, warm = tmp_path / "cold.json", tmp_path / "warm.json"
    assert main(["scan", DEB612, "--no-cache", "-o", str(cold)]) == 0
    assert main(["scan", DEB612, "-o", str(warm)]) == 0        # fills the cache if empty
    assert main(["scan", DEB612, "-o", str(warm)]) == 0        # warm for certain
    assert cold.read_bytes() == warm.read_bytes()
    from analyzer.source.tree import open_tree
    facts = collect_facts(open_tree(DEB612))
    assert facts.parsed == 0 and facts.cached > 4000
    assert json.loads(cold.read_bytes())["files"]["skipped"] == []


# --- the analysis of a whole tree ----------------------------------------------------------
def test_unchanged_tree_is_answered_from_the_analysis_cache(tree, tmp_path, monkeypatch, no_racy,
                                                            reference):
    """A rescan whose every file the manifest knows unchanged writes the stored analysis
    without loading facts or linking; a changed file, a corrupt entry or other code is a
    miss, and every answer equals the uncached scan's."""
    from analyzer import pipeline
    monkeypatch.setenv("SKBDROP_CACHE", str(tmp_path / "cache"))
    cache_mod._check_root.cache_clear()
    linked = []
    real_scan = pipeline._scan
    monkeypatch.setattr(pipeline, "_scan", lambda *a: linked.append(1) or real_scan(*a))

    def text() -> bytes:
        out = pipeline.scan_text(str(tree), jobs=1).encode()
        return out.replace(str(tree).encode(), IDIOMS.encode())

    assert text() == reference and len(linked) == 1           # cold: linked, entry kept
    root = tmp_path / "cache" / f"analysis-{cache_mod.code_version('analysis')}"
    entries = [os.path.join(root, f) for f in _files(root)]
    assert len(entries) == 1
    assert text() == reference and len(linked) == 1           # warm: from the entry alone

    # a corrupt entry (one byte of the text) is a miss, recomputed and replaced
    data = bytearray(open(entries[0], "rb").read())
    data[-10] ^= 1
    open(entries[0], "wb").write(bytes(data))
    assert text() == reference and len(linked) == 2
    assert text() == reference and len(linked) == 2

    # a changed file: linked again, the change in the answer, a second entry
    f = tree / "net" / "idioms" / "constant.c"
    f.write_text(f.read_text().replace("SKB_DROP_REASON_PKT_TOO_SMALL", "SKB_DROP_REASON_NO_SOCKET", 1))
    changed = text()
    assert len(linked) == 3 and changed != reference
    assert len(_files(root)) == 2
    assert text() == changed and len(linked) == 3

    # --no-cache never reads it
    out = pipeline.scan_text(str(tree), jobs=1, use_cache=False).encode()
    assert out.replace(str(tree).encode(), IDIOMS.encode()) == changed and len(linked) == 4

    # other code (another hash of the stages' sources): another directory, a miss
    real_version = cache_mod.code_version
    monkeypatch.setattr(cache_mod, "code_version",
                        lambda stage="facts": real_version(stage) + ("x" if stage == "analysis" else ""))
    assert text() == changed and len(linked) == 5
    assert os.path.isdir(str(root) + "x")


def test_check_index_follows_the_trees_content(tree, tmp_path, monkeypatch, no_racy, capsys):
    """check's link index of a directory is keyed by every file's content, not by the
    Makefile's mtime: a base file edited after the scan (a checkout of another branch)
    gives a new index, and check's answer equals the uncached one."""
    from analyzer.link import relink
    monkeypatch.setenv("SKBDROP_CACHE", str(tmp_path / "cache"))
    cache_mod._check_root.cache_clear()
    built = []
    real_build = relink.build_index
    monkeypatch.setattr(relink, "build_index", lambda f: built.append(1) or real_build(f))
    # the index the manifest names is taken on trust while a child stats the tree:
    # (the tree's fingerprint now, the trusted one) of each check that did so
    trusted = []
    real_fp = relink._TreeState.fingerprint
    monkeypatch.setattr(relink._TreeState, "fingerprint",
                        lambda st: trusted.append((real_fp(st), st.trusted)) or trusted[-1][0])
    patch = tmp_path / "x.patch"
    patch.write_text("--- a/net/idioms/plain.c\n+++ b/net/idioms/plain.c\n@@ -1,1 +1,2 @@\n"
                     " // SPDX-License-Identifier: GPL-2.0\n+/* a comment */\n")
    index_dir = tmp_path / "cache" / f"link-index-{cache_mod.code_version('analysis')}"

    def check(*extra) -> str:
        capsys.readouterr()
        main(["check", "--base", str(tree), "--patch", str(patch), "--format", "json",
              "-j", "1", *extra])
        return capsys.readouterr().out

    assert main(["scan", str(tree), "-o", str(tmp_path / "a.json"), "-j", "1"]) == 0
    def indexes() -> int:                                      # besides the note of the last one
        return len([f for f in _files(index_dir) if not os.path.basename(f).startswith("last-")])
    assert indexes() == 1                                      # kept by the scan
    first = check()
    assert built == []                                          # check used it
    assert len(trusted) == 1 and trusted[0][0] == trusted[0][1]  # on trust, confirmed
    assert first == check("--no-cache")
    built.clear()
    # a base file changes; the Makefile does not
    f = tree / "net" / "idioms" / "constant.c"
    f.write_text(f.read_text() + "\nvoid idiom_late(struct sk_buff *skb)\n{\n"
                 "\tkfree_skb_reason(skb, SKB_DROP_REASON_NO_SOCKET);\n}\n")
    r = relink.Relinker(DirTree(str(tree)))                    # refused once, then done with
    assert r.confirmed() is False and r.confirmed() is True and r._index is None
    trusted.clear()
    again = check()
    assert len(built) == 1 and indexes() == 2                  # a new index, a new key
    assert len(set(trusted)) == 1 and trusted[0][0] != trusted[0][1]  # the trusted one refused
    trusted.clear()
    assert check() == again and len(built) == 1                 # kept, not built again
    assert len(trusted) == 1 and trusted[0][0] == trusted[0][1]  # and now trusted
    assert again == check("--no-cache")


def test_a_check_that_never_asks_reaps_its_child(tree, tmp_path, monkeypatch, no_racy):
    """The child that confirms a trusted index is reaped even when the check ends before
    it asks (a patch that does not apply): no zombie, no open pipe."""
    import gc
    from analyzer.link import relink
    monkeypatch.setenv("SKBDROP_CACHE", str(tmp_path / "cache"))
    cache_mod._check_root.cache_clear()
    assert main(["scan", str(tree), "-o", str(tmp_path / "a.json"), "-j", "1"]) == 0
    r = relink.Relinker(DirTree(str(tree)))
    pid = r._state._child.pid                   # trusted: the scan noted its index
    del r
    gc.collect()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)             # already reaped


def test_other_code_versions_are_removed_once_unused(tmp_path, monkeypatch, tree):
    """Every code change makes new entry directories; those of other versions that no run
    has used for STALE_DAYS days are removed by the next run, this code's are marked used,
    and nothing else in the cache is touched."""
    root = tmp_path / "cache"
    old = time.time() - (cache_mod.STALE_DAYS + 1) * 86400
    for name in ("facts-0123456789abcdef", "link-index-0123456789abcdef", "debian", "notes-1"):
        (root / name / "ab").mkdir(parents=True)
        (root / name / "ab" / "x.json").write_text("[]")
        os.utime(root / name, (old, old))
    (root / "analysis-fedcba9876543210").mkdir()             # another version, used lately
    ours = root / f"facts-{cache_mod.code_version('facts')}"
    ours.mkdir()
    os.utime(ours, (old, old))
    r = _cli(["scan", str(tree), "-o", str(tmp_path / "a.json"), "-j", "1"], root)
    assert r.returncode == 0, r.stderr
    left = set(os.listdir(root))
    assert not left & {"facts-0123456789abcdef", "link-index-0123456789abcdef"}
    assert {"debian", "notes-1", "analysis-fedcba9876543210", ours.name} <= left
    assert os.stat(ours).st_mtime > time.time() - 600
    assert (root / "debian" / "ab" / "x.json").read_text() == "[]"
