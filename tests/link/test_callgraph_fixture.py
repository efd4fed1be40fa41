"""The call graph from C, on a small tree written here: static and global functions of
the same name, calls through an ops struct, entry points. Expected values are read from
the C below by hand."""
from __future__ import annotations

import os
import shutil

import pytest

from analyzer.pipeline import scan

from helpers import TESTS

IDIOMS = os.path.join(TESTS, "fixtures", "idioms")

A = """// SPDX-License-Identifier: GPL-2.0
#include "../idioms/idioms.h"

static int helper(struct sk_buff *skb)
{
	if (skb->len) {
		kfree_skb(skb);
		return 1;
	}
	return 0;
}

int a_entry(struct sk_buff *skb)
{
	return helper(skb);
}
"""
B = """// SPDX-License-Identifier: GPL-2.0
#include "../idioms/idioms.h"

int helper(struct sk_buff *skb)
{
	kfree_skb_reason(skb, SKB_DROP_REASON_NO_SOCKET);
	return 0;
}

int b_entry(struct sk_buff *skb)
{
	return helper(skb);
}

static int b_xmit(struct sk_buff *skb, struct net_device *dev)
{
	return helper(skb);
}

static const struct net_device_ops b_ops = {
	.ndo_start_xmit = b_xmit,
};
"""
C = """// SPDX-License-Identifier: GPL-2.0
#include "../idioms/idioms.h"

int c_caller(struct sk_buff *skb)
{
	return helper(skb);
}

int c_xmit_all(struct sk_buff *skb, struct net_device *dev)
{
	return dev->netdev_ops->ndo_start_xmit(skb, dev);
}
"""


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    t = tmp_path_factory.mktemp("cg") / "k"
    shutil.copytree(IDIOMS, t)
    os.makedirs(t / "net" / "cg")
    for name, text in (("a.c", A), ("b.c", B), ("c.c", C)):
        (t / "net" / "cg" / name).write_text(text)
    a = scan(str(t), use_cache=False, jobs=1)
    nodes = {n.id: n for n in a.callgraph.nodes}
    edges = {(e.caller, e.callee, e.kind): e for e in a.callgraph.edges
             if e.file.startswith("net/cg/") or e.caller.startswith(".")}
    return a, nodes, edges


def test_static_and_global_of_one_name(graph):
    a, nodes, edges = graph
    st, gl = nodes["net/cg/a.c:helper"], nodes["helper"]
    assert st.static and st.file == "net/cg/a.c" and st.line == 4 and st.has_sites
    assert not gl.static and gl.file == "net/cg/b.c" and gl.line == 4 and gl.has_sites
    # a call resolves to the static function of its own file, else to the global one
    assert ("a_entry", "net/cg/a.c:helper", "call") in edges
    assert ("a_entry", "helper", "call") not in edges
    for caller in ("b_entry", "c_caller", "net/cg/b.c:b_xmit"):
        assert (caller, "helper", "call") in edges, caller
        assert (caller, "net/cg/a.c:helper", "call") not in edges
    assert edges[("c_caller", "helper", "call")].line == 6
    sites = {(s.file, s.function): s for s in a.sites if s.file.startswith("net/cg/")}
    assert sites[("net/cg/a.c", "helper")].reasons == ("NOT_SPECIFIED",)
    assert sites[("net/cg/b.c", "helper")].reasons == ("NO_SOCKET",)


def test_ops_struct_edges(graph):
    _, nodes, edges = graph
    # the initialiser `.ndo_start_xmit = b_xmit`: an ops edge from the member's node
    assert (".ndo_start_xmit", "net/cg/b.c:b_xmit", "ops") in edges
    # the call through the member goes to the member's node
    assert ("c_xmit_all", ".ndo_start_xmit", "call") in edges
    assert edges[("c_xmit_all", ".ndo_start_xmit", "call")].line == 11


def test_entry_points(graph):
    _, nodes, _ = graph
    for f in ("a_entry", "b_entry", "c_caller", "c_xmit_all"):
        assert nodes[f].entry, f                  # nobody in the tree calls them
    assert not nodes["helper"].entry and not nodes["net/cg/a.c:helper"].entry
    assert not nodes["net/cg/b.c:b_xmit"].entry   # reached through the ops member
