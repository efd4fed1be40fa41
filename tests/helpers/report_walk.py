"""The walk through one kernel's report in chromium (the fixture report in
tests/formats/test_report_browser.py, Debian 6.12's in tests/commands/test_report_realtree.py)
and the small steps it is made of. Imports selenium: import it once
helpers.browser.available() has said a browser session can start."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from helpers.browser import console_errors, screenshot
from helpers.counts import counted_totals


def wait_for(b, css, timeout=10):
    return WebDriverWait(b, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def search(b, term, expect):
    """Type into the search box, return the first result's link once it shows ``expect``."""
    q = b.find_element(By.ID, "q")
    q.clear()
    q.send_keys(term)
    WebDriverWait(b, 10).until(
        lambda d: any(expect == e.text for e in d.find_elements(By.CSS_SELECTOR, "#qres .name")))
    return [a for a in b.find_elements(By.CSS_SELECTOR, "#qres a")
            if a.find_element(By.CSS_SELECTOR, ".name").text == expect][0]


def totals_on_page(b) -> dict[str, int]:
    out = {}
    for dd in b.find_elements(By.CSS_SELECTOR, "#totals dd[id^='t-']"):
        key = dd.get_attribute("id")[2:]
        if key != "coverage":
            out[key] = int(dd.text.replace(",", ""))
    return out


def walk(b, out, analysis, fn_name, shots_prefix):
    """The walk the issue asks for, on any report of one kernel."""
    b.get((out / "index.html").as_uri())
    wait_for(b, "#totals")
    assert console_errors(b) == []
    want = counted_totals(analysis)          # from the sites, not from the summary
    assert totals_on_page(b) == want
    screenshot(b, f"{shots_prefix}-index")
    # down the directory tree until a file page, each time into the row with the most
    # sites with a specific reason (column 3 of the table)
    b.set_window_size(1280, 900)
    for depth in range(12):
        if depth == 1:
            screenshot(b, f"{shots_prefix}-directory")
            b.set_window_size(1280, 900)
        rows = b.find_elements(By.CSS_SELECTOR, "#tree tbody tr")
        best = max(rows, key=lambda r: int(r.find_elements(By.CSS_SELECTOR, "td")[1]
                                             .get_attribute("data-sort")))
        is_file = "file" in best.get_attribute("class").split()
        link = best.find_element(By.CSS_SELECTOR, "th a")
        b.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        if is_file:
            break
        wait_for(b, "#tree")
        assert console_errors(b) == []
    wait_for(b, "pre.src")
    assert console_errors(b) == []
    assert "/f/" in b.current_url
    screenshot(b, f"{shots_prefix}-file", full_page=False)
    # a site's reason link (in its note under the source line) reaches the reason page
    links = b.find_elements(By.CSS_SELECTOR, "pre.src .ann a.reason")
    assert links, "no site with a reason link on " + b.current_url
    name = links[0].text
    b.execute_script("arguments[0].scrollIntoView({block: 'center'})", links[0])
    links[0].click()
    wait_for(b, "h1 code")
    assert "/r/" in b.current_url and b.find_element(By.CSS_SELECTOR, "h1 code").text == name
    assert console_errors(b) == []
    screenshot(b, f"{shots_prefix}-reason")
    # search (client-side index, loaded by a script tag: file:// friendly)
    b.set_window_size(1280, 900)
    link = search(b, fn_name, fn_name)
    link.click()
    wait_for(b, "#callers")
    assert b.find_element(By.CSS_SELECTOR, "h1 code").text == fn_name + "()"
    assert console_errors(b) == []
    screenshot(b, f"{shots_prefix}-function")
