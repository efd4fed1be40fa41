"""The report in headless Debian chromium (tests/helpers/browser.py): on the fixture report.

Renders with no console errors; totals equal the analysis; a directory click reaches a
file page; a site links to its reason page; search and keyboard work; a screenshot of
each page type goes to test-artifacts/. The same walk over the real 6.12 report is in
tests/commands/test_report_realtree.py (the walk: tests/helpers/report_walk.py).
"""
from __future__ import annotations

import pytest

from helpers.browser import available, chromium, console_errors, screenshot
from helpers.report_fixture import build, fixture_analysis

pytestmark = pytest.mark.browser
why = available()


@pytest.fixture(autouse=True)
def _browser_required():
    # a missing browser fails every check here, it never makes them vanish (the Makefile
    # installs chromium and chromium-driver)
    if why:
        pytest.fail(f"browser check cannot run: {why}")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from helpers.report_walk import search, wait_for, walk  # noqa: E402


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory):
    a = fixture_analysis()
    out, _ = build(tmp_path_factory.mktemp("rep"), [a])
    return a, out


def test_walk_fixture_report(fixture_report):
    a, out = fixture_report
    with chromium() as b:
        walk(b, out, a, "foo_rcv", "fixture")


def test_kernel_html_shows_as_text(fixture_report):
    """<script> in a C comment is text on the page: visible as written, never run."""
    a, out = fixture_report
    with chromium() as b:
        b.get((out / "f/net/ipv4/foo.c.html").as_uri())
        wait_for(b, "pre.src")
        src = b.find_element(By.ID, "src").text
        assert '<script>alert("comment")</script> & <b>bold</b>' in src
        assert "<script>alert('string')</script>" in src
        assert b.find_elements(By.CSS_SELECTOR, "pre.src script, pre.src b") == []
        b.get((out / "r/NO_SOCKET.html").as_uri())
        assert '<script>alert("doc")</script>' in b.find_element(By.CSS_SELECTOR, "pre.doc").text
        assert console_errors(b) == []


def test_sort_filter_keyboard(fixture_report):
    a, out = fixture_report
    with chromium() as b:
        b.get((out / "files.html").as_uri())
        wait_for(b, "#files")
        rows = lambda: [r.find_element(By.CSS_SELECTOR, "th").text  # noqa: E731
                        for r in b.find_elements(By.CSS_SELECTOR, "#files tbody tr") if r.is_displayed()]
        assert rows() == sorted(rows())
        # sort by drop sites, descending on the second click
        btn = b.find_elements(By.CSS_SELECTOR, "#files thead th button")[1]
        btn.click()
        btn.click()
        th = b.find_elements(By.CSS_SELECTOR, "#files thead th")[1]
        assert th.get_attribute("aria-sort") == "descending"
        assert rows()[0] == "net/ipv4/foo.c"          # 3 drops against bar.c's 1
        b.find_element(By.CSS_SELECTOR, "input[data-filter=files]").send_keys("bar")
        assert rows() == ["drivers/net/bar/bar.c"]
        # "/" focuses the search box; arrows and Enter open a result
        b.find_element(By.TAG_NAME, "body").send_keys("/")
        assert b.switch_to.active_element.get_attribute("id") == "q"
        q = b.switch_to.active_element
        q.send_keys("NO_SOCK")
        WebDriverWait(b, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qres li[role=option]"))
        q.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
        WebDriverWait(b, 10).until(lambda d: "/r/NO_SOCKET.html" in d.current_url)
        assert console_errors(b) == []


def test_site_keys(fixture_report):
    """n / p step through the sites of a file page (the URL follows: #L<line>)."""
    a, out = fixture_report
    lines = [s.line for s in a.sites if s.file == "net/ipv4/foo.c"]
    with chromium() as b:
        b.get((out / "f/net/ipv4/foo.c.html").as_uri())
        wait_for(b, "pre.src")
        body = b.find_element(By.TAG_NAME, "body")
        seen = []
        for key in "nnnp":
            body.send_keys(key)
            seen.append(int(b.current_url.rsplit("#L", 1)[1]))
        assert seen == [lines[0], lines[1], lines[2], lines[1]]
        # any line can be linked to, not only those with an id in the HTML
        b.get((out / "f/net/ipv4/foo.c.html").as_uri() + "#L5")
        el = b.find_element(By.ID, "L5")
        assert el.text.startswith("static const char banner[]")
        assert console_errors(b) == []


def test_phone_width(fixture_report):
    """Readable on a phone: no horizontal scrolling of the page itself on the index."""
    a, out = fixture_report
    with chromium(width=390, height=844) as b:
        b.get((out / "index.html").as_uri())
        wait_for(b, "#totals")
        sw, cw = b.execute_script("return [document.documentElement.scrollWidth, "
                                  "document.documentElement.clientWidth]")
        assert sw <= cw + 1
        screenshot(b, "fixture-index-phone")


def test_trend_and_diff_render(tmp_path):
    old = fixture_analysis("6.11.0-old", values={"NO_SOCKET": 3, "TCP_CSUM": 9})
    new = fixture_analysis("6.12.0-new", convert_bar=True)
    out, _ = build(tmp_path, [old, new])
    with chromium() as b:
        for page, shot in (("index.html", "fixture-overview"), ("trend.html", "fixture-trend"),
                           ("diff-6.11.0-old-6.12.0-new.html", "fixture-diff")):
            b.get((out / page).as_uri())
            wait_for(b, "h1")
            assert console_errors(b) == [], page
            screenshot(b, shot)
        # search from an overview page opens the newest kernel's pages
        b.get((out / "trend.html").as_uri())
        search(b, "foo_rcv", "foo_rcv").click()
        WebDriverWait(b, 10).until(lambda d: "/k/6.12.0-new/fn/foo_rcv.html" in d.current_url)
