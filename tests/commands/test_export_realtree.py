"""`skbdrop export` on Debian's 6.1 and 6.12: CSV and JSON agree row for row."""
from __future__ import annotations

import json

import pytest

from analyzer.commands import export
from test_export import as_csv_cells, csv_records

pytestmark = pytest.mark.realtree


@pytest.fixture(scope="module", params=["analysis_61", "analysis_612"])
def analysis(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("table", ["reasons", "sites"])
def test_csv_json_round_trip(analysis, table):
    j = json.loads(export.to_json(analysis, table))
    c = csv_records(export.to_csv(analysis, table))         # Python's csv module
    assert len(c) == len(j["rows"]) > 0
    for i, (rc, rj) in enumerate(zip(c, j["rows"])):
        assert rc == as_csv_cells(rj), i


def test_reason_table_counts(analysis):
    rows = export.reason_rows(analysis)
    # 6.1.192: 66 reasons (67 enumerators less SKB_DROP_REASON_MAX); 6.12.117: 104 core
    # (106 less MAX and SUBSYS_MASK) + 46 + 1 (RX_DROP_MONITOR) + 3 mac80211 + 11 openvswitch,
    # read from the headers
    assert len(rows) == {"6.1": 66, "6.12": 165}[".".join(analysis.kernel.version.split(".")[:2])]
    assert len({r["value"] for r in rows}) == len(rows)
    # the site counts are the analysis's own: the sum over reasons equals the sum of the
    # (distinct) reasons each site can produce
    assert sum(r["sites"] for r in rows) == sum(
        len({x for x in s.reasons if x in {r["short"] for r in rows}}) for s in analysis.sites)
