"""KERNEL specs -> a set of source files with stable relative paths.

  DIR                a kernel source directory
  FILE.tar.xz|.tar.gz|.tar.bz2|.tar   a kernel tarball, read in place (one streaming pass)
  REPO@REV           a git repository at a revision, read with git (no checkout)
  debian:VER         Debian's linux-source-VER: `apt-get download` into the cache, its
                     tarball unpacked once into the cache (safely) and read as a directory

Nothing is ever read or written outside the tree and the cache: symlinks are not
followed, tar members with absolute paths or `..` are ignored, git symlinks are skipped.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from analyzer.errors import InputError
from analyzer.c.facts import CATALOGUE_MARKERS, PREFILTER


# the same test with fewer passes over the ~55,000 files that hold none of them (each pass
# over the tree's 1.3 GB costs ~0.6 CPU s): a marker holding a prefilter word is implied
_WORTH = PREFILTER + tuple(m for m in CATALOGUE_MARKERS if not any(p in m for p in PREFILTER))


def worth_keeping(data: bytes) -> bool:
    """Could this file hold a site, a family member or the catalogue (a PREFILTER word or
    one of the CATALOGUE_MARKERS)?"""
    return any(p in data for p in _WORTH)

SOURCE_EXT = (".c", ".h")
TAR_EXT = (".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar", ".txz")


def cache_dir() -> str:
    base = os.environ.get("SKBDROP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "skbdrop")
    return base


def kernels_dir() -> str:
    """Where `debian:X` trees are downloaded and unpacked: $SKBDROP_KERNELS, or the
    cache's debian/. Separate from the facts cache so that a test session can use its
    own cache with trees fetched once (`make kernels`)."""
    return os.environ.get("SKBDROP_KERNELS") or os.path.join(cache_dir(), "debian")


@dataclass
class Tree:
    """A kernel tree: iterate its .c/.h files once, or read one by path."""
    source: str
    version: str
    kind: str

    def iter_files(self) -> Iterator[tuple[str, bytes | None, str | None]]:
        """(relative path, content or None, absolute path or None) for every .c/.h file."""
        raise NotImplementedError

    def read(self, path: str) -> bytes:
        raise NotImplementedError


def _version_from_makefile(text: str) -> str | None:
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=[ \t]*(\S*)", text, re.M)
        vals[key] = m.group(1) if m else None
    if not (vals["VERSION"] and vals["VERSION"].isdigit() and vals["PATCHLEVEL"]
            and vals["PATCHLEVEL"].isdigit()):
        return None
    v = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    if vals["SUBLEVEL"] and vals["SUBLEVEL"] != "0":
        v += f".{vals['SUBLEVEL']}"
    return v + (vals["EXTRAVERSION"] or "")


# --------------------------------------------------------------------------------------
class DirTree(Tree):
    def __init__(self, root: str, source: str | None = None):
        self.root = os.path.realpath(root)
        mk = os.path.join(self.root, "Makefile")
        version = None
        if os.path.isfile(mk) and not os.path.islink(mk):
            with open(mk, "rb") as f:
                version = _version_from_makefile(f.read(4096).decode("utf-8", "replace"))
        if version is None:
            raise InputError(f"{root}: not a kernel tree (no top-level Makefile with VERSION/PATCHLEVEL)")
        super().__init__(source=source or os.path.abspath(root), version=version, kind="dir")

    def has_sources(self) -> bool:
        """False for a headers tree (Debian's linux-headers-*-common: the top-level Makefile
        and include/, no net/*.c): enough for the reason table, not for sites."""
        for _dp, dns, fns in os.walk(os.path.join(self.root, "net"), followlinks=False):
            if any(f.endswith(".c") for f in fns):
                return True
            dns.sort()
        return False

    def iter_files(self):
        prefix = os.path.join(self.root, "")           # what os.path.join(root, path) gives
        for path in self.paths():
            yield path, None, prefix + path

    def paths(self) -> list[str]:
        """The .c/.h regular files under the root, sorted, as relative paths; hidden and
        symlinked directories and symlinked files are left out. os.scandir's entry types
        come with the directory listing (no stat per file)."""
        out: list[str] = []
        stack = [("", self.root)]
        while stack:
            rel, full = stack.pop()
            try:
                entries = list(os.scandir(full))
            except OSError:
                continue
            for e in entries:
                name = e.name
                try:
                    if e.is_dir(follow_symlinks=False):
                        if not name.startswith("."):
                            stack.append((rel + name + "/", e.path))
                    elif name.endswith(SOURCE_EXT) and e.is_file(follow_symlinks=False):
                        out.append(rel + name)
                except OSError:
                    continue
        out.sort()
        return out

    def read(self, path: str) -> bytes:
        full = os.path.realpath(os.path.join(self.root, path))
        if not full.startswith(self.root + os.sep) or os.path.islink(os.path.join(self.root, path)):
            raise InputError(f"{path}: outside the tree")
        with open(full, "rb") as f:
            return f.read()


# --------------------------------------------------------------------------------------
def _safe_member_name(name: str) -> str | None:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    if not name or name.startswith("/") or any(p == ".." for p in name.split("/")):
        return None
    return name


class TarTree(Tree):
    """A tarball read in place: one streaming pass keeps the files worth parsing."""

    def __init__(self, path: str):
        self.path = path
        self._contents: dict[str, bytes] = {}
        self.count = 0
        self._prefix = ""
        version = None
        try:
            with tarfile.open(path, "r:*") as tf:
                first = True
                for m in tf:
                    name = _safe_member_name(m.name)
                    if name is None or not m.isfile():
                        continue
                    if first:
                        self._prefix = name.split("/", 1)[0] + "/" if "/" in name else ""
                        first = False
                    rel = name[len(self._prefix):] if name.startswith(self._prefix) else name
                    if rel == "Makefile":
                        version = _version_from_makefile(
                            tf.extractfile(m).read(4096).decode("utf-8", "replace"))
                    elif rel.endswith(SOURCE_EXT):
                        data = tf.extractfile(m).read()
                        self.count += 1
                        if worth_keeping(data):       # the rest could not hold a site
                            self._contents[rel] = data
        except (tarfile.TarError, EOFError, OSError, ValueError) as e:
            why = str(e).split("\n")[0].rstrip(":") or type(e).__name__
            raise InputError(f"{path}: corrupt or truncated tarball ({why})") from None
        except Exception as e:  # lzma.LZMAError, zlib.error
            raise InputError(f"{path}: corrupt tarball: {e}") from None
        if version is None:
            raise InputError(f"{path}: not a kernel tarball (no top-level Makefile with VERSION)")
        super().__init__(source=os.path.abspath(path), version=version, kind="tarball")

    def iter_files(self):
        for p in sorted(self._contents):
            yield p, self._contents[p], None

    def read(self, path: str) -> bytes:
        try:
            return self._contents[path]
        except KeyError:
            raise InputError(f"{path}: not in {self.path}") from None


# --------------------------------------------------------------------------------------
class GitTree(Tree):
    """REPO@REV read with git itself: ls-tree and cat-file, no checkout."""

    def __init__(self, repo: str, rev: str):
        if not os.path.isdir(repo):
            raise InputError(f"{repo}: no such repository")
        self.repo, self.rev = repo, rev
        r = self._git("rev-parse", "--verify", "--quiet", rev + "^{commit}", check=False)
        if r.returncode != 0:
            if self._git("rev-parse", "--git-dir", check=False).returncode != 0:
                raise InputError(f"{repo}: not a git repository")
            raise InputError(f"{repo}: unknown revision {rev!r}")
        self.commit = r.stdout.decode().strip()
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", self.commit).stdout
        self._blobs: dict[str, str] = {}
        mk_blob = None
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            mode, typ, sha = meta.decode().split()
            p = path.decode("utf-8", "replace")
            if typ != "blob" or mode == "120000" or _safe_member_name(p) != p:
                continue
            if p == "Makefile":
                mk_blob = sha
            elif p.endswith(SOURCE_EXT):
                self._blobs[p] = sha
        version = None
        if mk_blob:
            version = _version_from_makefile(self._git("cat-file", "blob", mk_blob).stdout[:4096]
                                             .decode("utf-8", "replace"))
        if version is None:
            raise InputError(f"{repo}@{rev}: not a kernel tree (no top-level Makefile with VERSION)")
        super().__init__(source=f"{os.path.abspath(repo)}@{rev} ({self.commit[:12]})",
                         version=version, kind="git")

    def _git(self, *args, check=True):
        try:
            r = subprocess.run(["git", "-C", self.repo, *args], capture_output=True, check=False)
        except FileNotFoundError:
            raise InputError("git is not installed") from None
        if check and r.returncode != 0:
            raise InputError(f"git {args[0]} failed: {r.stderr.decode(errors='replace').strip()[:200]}")
        return r

    def iter_files(self):
        paths = sorted(self._blobs)
        proc = subprocess.Popen(["git", "-C", self.repo, "cat-file", "--batch"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            for p in paths:
                proc.stdin.write(self._blobs[p].encode() + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline().split()
                size = int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)
                yield p, data, None
        finally:
            # git waits for EOF on its stdin, but worker processes forked while this
            # generator runs hold a copy of the pipe's write end: closing ours is not
            # enough, and waiting would hang. Every answer has been read: end it.
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            proc.kill()
            proc.wait()

    def read(self, path: str) -> bytes:
        if path not in self._blobs:
            raise InputError(f"{path}: not in {self.source}")
        return self._git("cat-file", "blob", self._blobs[path]).stdout


# --------------------------------------------------------------------------------------
# debian:6.12 (the newest linux-source-6.12 apt offers) and debian:6.12.113-1~deb12u1 (an
# exact package version). Layout under the kernels directory (kernels_dir()):
#   linux-source-X_<ver>_all.deb, x-X/, tree-X/linux-source-X/            debian:X
#   exact/linux-source-X_<ver>/{*.deb, x/, tree/linux-source-X/}         debian:<ver>
SERIES = re.compile(r"(\d+)\.(\d+)")
PKG_VERSION = re.compile(r"(\d+)\.(\d+)\.\d+(?:-[0-9A-Za-z.+~]+)?")


def debian_tree(version: str, fetch: bool = True, apt_update: bool = False) -> DirTree:
    """Debian's linux-source-VERSION from the kernels directory, downloaded first if
    needed; APT_UPDATE (the explicit fetch step, `make kernels`) refreshes the package
    lists once when the download fails; the tool never does that unasked."""
    if PKG_VERSION.fullmatch(version):
        return debian_exact_tree(version, fetch=fetch, apt_update=apt_update)
    if not SERIES.fullmatch(version):
        raise InputError(f"debian:{version}: not a Debian kernel version (use e.g. debian:6.12 "
                         "or an exact package version such as debian:6.12.113-1~deb12u1)")
    base = kernels_dir()
    os.makedirs(base, exist_ok=True)
    tree_dir = os.path.join(base, f"tree-{version}", f"linux-source-{version}")
    done = os.path.join(base, f"tree-{version}", ".complete")
    if os.path.isfile(done) or (os.path.isfile(os.path.join(tree_dir, "Makefile"))
                                and os.path.isdir(os.path.join(tree_dir, "net"))):
        return DirTree(tree_dir, source=f"debian:{version} ({_deb_version(base, version)})")
    if not fetch:
        raise InputError(f"debian:{version}: not in the cache ({base})")
    debs = glob.glob(os.path.join(base, f"linux-source-{version}_*.deb"))
    if not debs:
        # never `apt-get update` unasked: it changes the machine's package lists
        r = _apt_download(f"linux-source-{version}", base)
        if r.returncode != 0 and apt_update and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            r = _apt_download(f"linux-source-{version}", base)
        debs = glob.glob(os.path.join(base, f"linux-source-{version}_*.deb"))
        if r.returncode != 0 or not debs:
            msg = (r.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
            raise InputError(f"debian:{version}: cannot download linux-source-{version}: {msg}"
                             " (no package lists yet? run apt-get update)")
    deb = sorted(debs)[-1]
    _unpack(deb, version, os.path.join(base, f"x-{version}"),
            os.path.join(base, f"tree-{version}"), f"debian:{version}")
    return DirTree(tree_dir, source=f"debian:{version} ({_deb_version(base, version)})")


def debian_exact_tree(pkgver: str, fetch: bool = True, apt_update: bool = False) -> DirTree:
    """debian:6.12.113-1~deb12u1: that version of linux-source-6.12; debian:6.12.113 takes
    the newest Debian revision of 6.12.113 that apt offers."""
    m = PKG_VERSION.fullmatch(pkgver)
    series = f"{m.group(1)}.{m.group(2)}"
    pkg = f"linux-source-{series}"
    base = kernels_dir()
    if "-" not in pkgver:
        pkgver = _pick_revision(pkg, pkgver)
    fname = f"{pkg}_{pkgver.replace(':', '%3a')}_all.deb"
    spec = f"debian:{pkgver}"
    # the series cache (debian:6.12) may hold exactly this version already
    series_tree = os.path.join(base, f"tree-{series}", pkg)
    if (os.path.isfile(os.path.join(base, fname)) and _deb_version(base, series) == fname
            and os.path.isfile(os.path.join(base, f"tree-{series}", ".complete"))):
        return DirTree(series_tree, source=f"{spec} ({fname})")
    d = os.path.join(base, "exact", f"{pkg}_{pkgver}")
    tree_dir = os.path.join(d, "tree", pkg)
    if os.path.isfile(os.path.join(d, "tree", ".complete")):
        return DirTree(tree_dir, source=f"{spec} ({fname})")
    if not fetch:
        raise InputError(f"{spec}: not in the cache ({d})")
    os.makedirs(d, exist_ok=True)
    deb = os.path.join(d, fname)
    if not os.path.isfile(deb):
        r = _apt_download(f"{pkg}={pkgver}", d)
        if r.returncode != 0 or not os.path.isfile(deb):
            offered = apt_versions(pkg)
            if not offered:
                raise InputError(f"{spec}: apt offers no package {pkg} "
                                 "(`apt-cache madison` lists none; run apt-get update?)")
            if pkgver not in offered:
                raise InputError(f"{spec}: apt offers no {pkg} version {pkgver}; it offers "
                                 + ", ".join(offered))
            msg = (r.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
            raise InputError(f"{spec}: cannot download {pkg}={pkgver}: {msg}")
    _unpack(deb, series, os.path.join(d, "x"), os.path.join(d, "tree"), spec)
    return DirTree(tree_dir, source=f"{spec} ({fname})")


def apt_versions(pkg: str) -> list[str]:
    """The versions of PKG apt offers, newest first (`apt-cache madison PKG`)."""
    try:
        r = subprocess.run(["apt-cache", "madison", pkg], capture_output=True, text=True)
    except FileNotFoundError:
        raise InputError(f"{pkg}: apt-cache is not available on this machine") from None
    out = []
    for line in r.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0] == pkg and parts[1] not in out:
            out.append(parts[1])
    return out


def _pick_revision(pkg: str, upstream: str) -> str:
    offered = apt_versions(pkg)
    hits = [v for v in offered if v.split(":", 1)[-1].split("-", 1)[0] == upstream]
    if not hits:
        if not offered:
            raise InputError(f"debian:{upstream}: apt offers no package {pkg} "
                             "(`apt-cache madison` lists none; run apt-get update?)")
        raise InputError(f"debian:{upstream}: apt offers no {pkg} of {upstream}; it offers "
                         + ", ".join(offered))
    return hits[0]


def _unpack(deb: str, series: str, xdir: str, tree_parent: str, spec: str) -> None:
    """The deb's linux-source tarball, unpacked (safely) into TREE_PARENT, atomically."""
    tarball = _tarball_from_deb(deb, xdir, series)
    tmp = tree_parent + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with tarfile.open(tarball, "r:*") as tf:
            _extract_data(tf, tmp)
    except (tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{spec}: corrupt tarball {tarball}: {e}") from None
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(tree_parent, ignore_errors=True)
    os.replace(tmp, tree_parent)


def _extract_data(tf: tarfile.TarFile, dest: str) -> None:
    """Regular files and directories only, never outside DEST (the "data" filter of
    Python >= 3.11.4 / 3.12; Debian 12's python3 3.11.2 has no extraction filters, so the
    same rules are applied here): no absolute or `..` names, no links, devices or fifos."""
    made: set[str] = set()
    for m in tf:
        name = _safe_member_name(m.name)
        if name is None:
            continue
        target = os.path.join(dest, *name.split("/"))
        if m.isdir():
            os.makedirs(target, exist_ok=True)
            continue
        if not m.isfile():
            continue            # symlinks and hard links are not followed when reading anyway
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        src = tf.extractfile(m)
        with open(target, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
        os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)


def _apt_download(what: str, where: str):
    try:
        return subprocess.run(["apt-get", "download", what], cwd=where,
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise InputError(f"{what}: apt-get is not available on this machine") from None


def _deb_version(base: str, version: str) -> str:
    debs = sorted(glob.glob(os.path.join(base, f"linux-source-{version}_*.deb")))
    return os.path.basename(debs[-1]) if debs else f"linux-source-{version}"


def _tarball_from_deb(deb: str, out: str, version: str) -> str:
    tarball = os.path.join(out, "usr", "src", f"linux-source-{version}.tar.xz")
    if os.path.isfile(tarball):
        return tarball
    r = subprocess.run(["dpkg-deb", "-x", deb, out], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.isfile(tarball):
        raise InputError(f"{deb}: cannot unpack: {r.stderr.strip()[:200] or 'no tarball inside'}")
    return tarball


def open_tree(spec: str) -> Tree:
    if spec.startswith("debian:"):
        return debian_tree(spec.split(":", 1)[1])
    if os.path.isdir(spec):
        return DirTree(spec)
    if os.path.isfile(spec):
        if spec.endswith(TAR_EXT):
            return TarTree(spec)
        raise InputError(f"{spec}: not a kernel tree, tarball (.tar.xz/.tar.gz) or REPO@REV")
    if "@" in spec:
        repo, _, rev = spec.rpartition("@")
        if repo and rev:
            return GitTree(repo, rev)
    raise InputError(f"{spec}: no such file or directory")
