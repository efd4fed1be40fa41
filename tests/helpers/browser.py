"""Headless Debian chromium through selenium + the system chromedriver, for report tests.

    with chromium() as b:
        b.get(Path("out/index.html").as_uri())
        errors = console_errors(b)

No network: every flag that would make chromium phone home is off, and each session
gets a fresh profile directory that is removed afterwards.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from helpers import REPO

CHROMIUM = os.environ.get("SKBDROP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SKBDROP_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps"]
ARTIFACTS = Path(REPO) / "test-artifacts"


def available() -> str | None:
    """None when a browser session can be started, else why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            return f"{p} missing (apt-get install chromium chromium-driver)"
    return None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="skbdrop-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (JS errors, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver, name: str, full_page: bool = True) -> Path:
    """Save a PNG under test-artifacts/ (git-ignored); the whole page height by default."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:
        h = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 6000)")
        w = driver.get_window_size()["width"]
        driver.set_window_size(w, max(int(h) + 120, 600))
    driver.save_screenshot(str(path))
    return path
