"""Driving Debian's Chromium with Selenium for the console's browser tests.

chromium(tmp)        a headless Chromium with a fresh profile, no network beyond the test
AXE_PATH / axe_run   axe-core (installed from npm by scripts/test.sh into a cache directory,
                     never committed) injected into the page; its violations returned
save_screenshot      a failing test's screenshot under its tmp dir (see conftest's hook)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CACHE = Path(os.environ.get("DOCKYARD_TEST_CACHE", Path.home() / ".cache" / "dockyard-tests"))
AXE_PATH = CACHE / "node_modules" / "axe-core" / "axe.min.js"
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in HEADLESS_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver


def axe_source() -> str:
    if not AXE_PATH.exists():
        raise AssertionError(
            f"axe-core is missing at {AXE_PATH}: run scripts/test.sh, or "
            f"`npm install --prefix {CACHE} axe-core`"
        )
    return AXE_PATH.read_text()


def axe_run(driver: webdriver.Chrome, source: str) -> list[dict[str, Any]]:
    """Serious and critical axe violations of the current page (WCAG 2 A and AA rules)."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice']}})"
        ".then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical',"
        " description: String(e), nodes: []}]));"
    )
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['description']} at "
        f"{[n.get('target') for n in v.get('nodes', [])][:3]}"
        for v in violations
    )


def save_screenshot(driver: webdriver.Chrome, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
