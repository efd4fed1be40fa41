"""`skbdrop verify` against the running kernel of this machine (6.18.44), captured in
tests/data/runtime-6.18/: its BTF enums (bpftool -j format, btf-drop-reasons.json) and the
`format` file of skb/kfree_skb (kfree_skb.format).

* tests/fixtures/layouts/6.18/ holds that kernel's catalogue headers (vendored; see its
  README): scanned, its catalogue must match both captures with zero mismatches.
* Debian's 6.12.117 must show the real differences.  Read from the 6.12 headers and the
  6.18 BTF: 6.18 inserted SKB_DROP_REASON_UNIX_DISCONNECT at 7, so UNIX_SKIP_OOB moves 7 -> 8
  and NETFILTER_DROP 11 -> 12; SKB_DROP_REASON_SKB_BAD_GSO (67 in 6.12) is gone;
  mac80211's MONITOR subsystem was removed (6.15) so OPENVSWITCH went from id 3 to 2.
  The complete lists must equal an independent comparison: gcc's values of the 6.12
  headers (tests/helpers/oracle.py) against the JSON read with the json module.
"""
from __future__ import annotations

import os
import sys

import pytest

from analyzer import cli
from analyzer.pipeline import load_analysis
from analyzer.commands.verify import verify

from helpers import DEB612, TESTS, live_kernel, oracle

RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")
BTF = os.path.join(RUNTIME, "btf-drop-reasons.json")
FORMAT = os.path.join(RUNTIME, "kfree_skb.format")
TREE_618 = os.path.join(TESTS, "fixtures", "layouts", "6.18")


@pytest.fixture(scope="module")
def analysis_618():
    return load_analysis(TREE_618, use_cache=False)


def test_618_catalogue_matches_the_running_kernel_btf(analysis_618, capsys):
    res = verify(analysis_618, TREE_618, btf=BTF)
    assert res.mismatches == ()
    # 128 reasons (130 enumerators less MAX and SUBSYS_MASK) + 3 subsystem ids
    # (CORE, MAC80211_UNUSABLE, OPENVSWITCH; NUM is a bound)
    assert res.compared == 128 + 3
    # the capture has vmlinux's BTF only: mac80211 and openvswitch are modules, not loaded
    assert {u.subsystem for u in res.unchecked} <= {"mac80211_unusable", "openvswitch"}
    assert cli.main(["verify", TREE_618, "--btf", BTF, "--no-cache"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: 131 names compared, no mismatch"


def test_618_catalogue_matches_the_running_kernel_tracepoint(analysis_618, capsys):
    res = verify(analysis_618, TREE_618, tracefs_format=FORMAT)
    assert res.mismatches == ()
    # the tracepoint lists the DEFINE_DROP_REASON entries: NOT_SPECIFIED (2) .. 127, plus MAX
    assert res.compared == 126
    assert cli.main(["verify", TREE_618, "--tracefs-format", FORMAT, "--no-cache"]) == 0
    capsys.readouterr()


def expected_612_vs_btf(root_612: str, run: dict | None = None
                        ) -> set[tuple[str, str, str, int | None, int | None]]:
    """(enum, kind, name, catalogue, runtime) from gcc's 6.12 values and the raw JSON."""
    res = oracle.compiler_enums(root_612)
    run = run or live_kernel.captured()
    out = set()
    for enum in ("skb_drop_reason", "skb_drop_reason_subsys"):
        e = res.enum(enum)
        out |= live_kernel.differences(enum, dict(zip(e.enumerators, e.values)), run[enum])
    return out


@pytest.mark.realtree
def test_612_against_the_running_kernel_btf(analysis_612, root_612, capsys, tmp_path):
    res = verify(analysis_612, DEB612, btf=BTF)
    got = {(m.enum, m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches}
    # a handful read by hand (see the module docstring)
    assert ("skb_drop_reason", "extra", "SKB_DROP_REASON_UNIX_DISCONNECT", None, 7) in got
    assert ("skb_drop_reason", "value", "SKB_DROP_REASON_UNIX_SKIP_OOB", 7, 8) in got
    assert ("skb_drop_reason", "value", "SKB_DROP_REASON_NETFILTER_DROP", 11, 12) in got
    assert ("skb_drop_reason", "missing", "SKB_DROP_REASON_SKB_BAD_GSO", 67, None) in got
    assert ("skb_drop_reason_subsys", "missing", "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR",
            2, None) in got
    assert ("skb_drop_reason_subsys", "value", "SKB_DROP_REASON_SUBSYS_OPENVSWITCH", 3, 2) in got
    # and all of them, as an independent comparison finds them
    assert got == expected_612_vs_btf(root_612)
    saved = tmp_path / "a612.json"          # the CLI on the saved analysis: no second scan
    saved.write_text(analysis_612.to_json())
    assert cli.main(["verify", str(saved), "--btf", BTF]) == 1
    out = capsys.readouterr().out
    assert "value    skb_drop_reason: SKB_DROP_REASON_NETFILTER_DROP = 11 in the catalogue, " \
           "12 in the running kernel (+1)" in out


@pytest.mark.realtree
def test_612_against_the_running_kernel_tracepoint(analysis_612, root_612):
    res = verify(analysis_612, DEB612, tracefs_format=FORMAT)
    got = {(m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches}
    assert ("extra", "UNIX_DISCONNECT", None, 7) in got
    assert ("value", "NETFILTER_DROP", 11, 12) in got
    assert ("missing", "SKB_BAD_GSO", 67, None) in got
    # the same core differences as BTF shows, by short name; the tracepoint has no
    # NOT_DROPPED_YET / CONSUMED (declared before the X-macro list) and no subsystems
    core = {(k, n[len("SKB_DROP_REASON_"):], c, r) for e, k, n, c, r in expected_612_vs_btf(root_612)
            if e == "skb_drop_reason"}
    assert got == core


@pytest.mark.skipif(live_kernel.unlike_capture() is not None,
                    reason=str(live_kernel.unlike_capture()))
def test_618_catalogue_matches_the_live_raw_btf(analysis_618):
    """The raw blob (read through bpftool), not the saved JSON: zero mismatches on the
    captured kernel; on a local build of it, exactly the names its BTF has otherwise than
    the capture (found by the json module alone: helpers/live_kernel.py)."""
    res = verify(analysis_618, TREE_618, btf="/sys/kernel/btf/vmlinux")
    got = {(m.enum, m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches}
    assert got == live_kernel.drift()
    assert res.compared == 128 + 3 - sum(k == "missing" for _, k, *_ in live_kernel.drift())


LIVE = "/sys/kernel/btf/vmlinux"


def _live_enums() -> dict[str, dict[str, int]]:
    """The running kernel's enums, as bpftool dumps them, read with the json module."""
    run = live_kernel.live()
    assert not isinstance(run, str), run + " (the Makefile installs bpftool)"
    return run


@pytest.mark.realtree
@pytest.mark.skipif(not os.access(LIVE, os.R_OK), reason=f"{LIVE} absent: no BTF of a running kernel")
def test_612_against_this_machines_kernel(analysis_612, root_612):
    """Any Linux with BTF: verify Debian 6.12's catalogue against the running kernel's raw
    BTF (read through bpftool by skbdrop) and compare with an independent comparison of
    gcc's 6.12 values and bpftool's JSON of the same BTF."""
    live = _live_enums()
    if "skb_drop_reason" not in live:
        pytest.skip(f"the running kernel ({os.uname().release}) has no enum skb_drop_reason")
    res = verify(analysis_612, DEB612, btf=LIVE)
    got = {(m.enum, m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches}
    assert got == expected_612_vs_btf(root_612, live)
    assert res.compared > 60
