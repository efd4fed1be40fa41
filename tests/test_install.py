"""The package as users install it: a wheel, in a virtual environment of its own, run from
outside the source tree (cwd /).

The wheel is built offline from a copy of the package sources (`pip wheel --no-deps
--no-build-isolation --no-index`), installed with `--no-deps --no-index` into a fresh venv;
the dependencies (tree-sitter, jinja2, msgspec, …) come from the project venv through a
.pth line, so nothing is downloaded and the source tree is not on the path.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import jsonschema
import pytest

import analyzer
from analyzer import schemas
from analyzer.model.data import SCHEMA

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
IDIOMS = os.path.join(HERE, "fixtures", "idioms")


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin dir, environment) of a venv holding only the built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(os.path.join(REPO, "pyproject.toml"), src)
    shutil.copytree(os.path.join(REPO, "analyzer"), src / "analyzer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
              "--no-index", "-w", str(dist), str(src)])
    assert r.returncode == 0, r.stderr
    wheels = list(dist.glob("skbdrop-*.whl"))
    assert len(wheels) == 1
    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    r = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
              "--no-index", "--disable-pip-version-check", str(wheels[0])])
    assert r.returncode == 0, r.stderr
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                   ).stdout.strip()
    # the project venv's packages (not its editable skbdrop: a plain path line runs no .pth)
    with open(os.path.join(purelib, "_skbdrop_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SKBDROP_CACHE"] = str(tmp / "cache")
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    return wheels[0], venv / "bin", env, tmp


def test_wheel_carries_the_package_data(installed):
    whl = installed[0]
    names = zipfile.ZipFile(whl).namelist()
    for needle in ("analyzer/formats/templates/index.html", "analyzer/formats/templates/uapi_header.h.j2",
                   "analyzer/formats/assets/report.js", "analyzer/formats/assets/report.css",
                   "analyzer/c/queries/calls.scm"):
        assert needle in names, needle
    assert sorted(n.split("/")[-1] for n in names if n.startswith("analyzer/schemas/")
                  and n.endswith(".json")) == sorted(f"{n}.schema.json" for n in schemas.names())
    assert not any(n.startswith("tests/") for n in names)


def test_runs_outside_the_source_tree(installed, tmp_path):
    _whl, bindir, env, _tmp = installed
    exe = str(bindir / "skbdrop")

    def sk(*args, ok=(0,)):
        r = _run([exe, *args], cwd="/", env=env)
        assert r.returncode in ok, (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
        return r

    where = _run([str(bindir / "python"), "-c", "import analyzer; print(analyzer.__file__)"],
                 cwd="/", env=env).stdout.strip()
    assert where.startswith(str(bindir.parent)) and not where.startswith(REPO), where
    assert sk("--version").stdout.strip() == f"skbdrop {analyzer.__version__} (analysis schema {SCHEMA})"

    a = tmp_path / "a.json"
    sk("scan", IDIOMS, "-o", str(a))
    doc = json.loads(a.read_text())
    jsonschema.Draft202012Validator(json.loads(sk("schema", "analysis").stdout)).validate(doc)
    assert doc["summary"]["drop_sites"] > 20 and doc["kernel"]["layout"] == "dropreason-core"

    out = tmp_path / "report"
    r = sk("report", IDIOMS, "-o", str(out))
    assert "pages" in r.stdout
    index = (out / "index.html").read_text()
    assert "6.12-idioms" in index
    assert (out / ".skbdrop-report").exists()
    assets = {p.name for p in out.rglob("*") if p.suffix in (".css", ".js")}
    assert {"report.css", "report.js"} <= assets
    assert list(out.rglob("*cast.c*.html")), "file pages"

    rel = "net/idioms/cast.c"
    with open(os.path.join(IDIOMS, rel), encoding="utf-8") as f:
        old = f.read()
    new = re.sub(r"kfree_skb_reason\(skb, \(__force u32\)SKB_DROP_REASON_TC_INGRESS\);.*",
                 "kfree_skb(skb);", old)
    patch = tmp_path / "fix.patch"
    patch.write_text(f"diff --git a/{rel} b/{rel}\n" + "".join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}")))
    r = sk("check", "--base", IDIOMS, "--patch", str(patch), "--paths", "net/",
           "--format", "json", ok=(1,))
    rep = json.loads(r.stdout)
    jsonschema.Draft202012Validator(json.loads(sk("schema", "check").stdout)).validate(rep)
    assert [f["code"] for f in rep["patches"][0]["findings"]] == ["SKBDROP_BECAME_UNSPECIFIED"]

    h = sk("header", IDIOMS).stdout
    assert "enum skbdrop_reason {" in h
    r = sk("schema", "nope", ok=(2,))
    assert "unknown schema" in r.stderr
