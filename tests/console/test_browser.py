"""The console in a real browser: Debian's Chromium driven by Selenium against a real server.

skopeo pushes the images; vulnerability data is imported with `dockyard vulndb import` (real
OSV records, tests/fixtures/osv), and a scan is started from the console itself. Every page
visited is checked with axe-core for serious or critical accessibility violations. A failing
test leaves a screenshot under its tmp dir (the path is printed; see conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.console.browser import axe_run, axe_source, chromium, describe_violations
from tests.support import fixture_images as fx
from tests.support.images import build_image, write_layout
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo
from tests.unit.scanner.osv_fixtures import zip_fixtures

pytestmark = pytest.mark.e2e

XSS_LABEL = "<img src=x onerror=alert(document.domain)>"
SCANNED, PLAIN = "shop/debian", "shop/evil"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    server = DockyardServer(extra_args=("--create-on-push", "--accept-any-credentials"))
    try:
        server.start()
        zips = {p.parent.name: p for p in zip_fixtures(tmp_path_factory.mktemp("osv"))}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dockyard",
                "vulndb",
                "import",
                str(zips["Debian"]),
                "--data-dir",
                str(server.data_dir),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        _push_images(server, tmp_path_factory.mktemp("layouts"))
        yield server
    finally:
        server.close()


def _push_images(server: DockyardServer, tmp: Path) -> None:
    skopeo = Skopeo()
    debian = write_layout(tmp / "debian", {"v1": fx.image_of(fx.debian12_files())})
    skopeo.copy(f"oci:{debian}:v1", f"docker://{server.address}/{SCANNED}:v1")
    evil = build_image([{"app.txt": b"hello"}], labels={"description": XSS_LABEL})
    layout = write_layout(tmp / "evil", {"v1": evil})
    for tag in ("v1", "doomed"):
        skopeo.copy(f"oci:{layout}:v1", f"docker://{server.address}/{PLAIN}:{tag}")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    browser = chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(autouse=True)
def _screenshot_dir(tmp_path: Path) -> Path:
    """Each test's tmp dir, where conftest's hook saves a failing test's screenshot."""
    return tmp_path


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture(scope="module")
def signed_in(server: DockyardServer, driver, axe):
    """Sign in through the form with the data directory's own access key."""
    document = tomllib.loads((server.data_dir / "credentials.toml").read_text())
    key = document["accounts"][0]["keys"][0]
    driver.get(f"{server.url}/")  # GET / with a browser's Accept: the console
    assert driver.current_url.startswith(f"{server.url}/ui/sign-in")
    assert_accessible(driver, axe)
    driver.find_element(By.ID, "access_key_id").send_keys(key["access_key_id"])
    driver.find_element(By.ID, "secret").send_keys(key["secret_access_key"])
    follow(driver, By.CSS_SELECTOR, "form button[type=submit]")
    WebDriverWait(driver, 30).until(EC.url_to_be(f"{server.url}/ui/repositories"))
    assert key["secret_access_key"] not in driver.page_source
    return driver


def assert_accessible(driver, axe: str) -> None:
    violations = axe_run(driver, axe)
    assert not violations, f"{driver.current_url}:\n{describe_violations(violations)}"


def assert_no_alert(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading it is the check)


def follow(driver, by: str, selector: str) -> None:
    """Click a link or a form's button and wait until the browser has left the page: a click
    only starts the page load, and reading the page before it finishes reads the old one."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, selector).click()
    WebDriverWait(driver, 30).until(EC.staleness_of(page))


def open_link(driver, text: str) -> None:
    follow(driver, By.LINK_TEXT, text)


def test_browse_repositories_and_images(signed_in, server, axe):
    driver = signed_in
    assert_accessible(driver, axe)
    names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody th a")]
    assert names == [SCANNED, PLAIN]
    open_link(driver, PLAIN)
    assert driver.find_element(By.TAG_NAME, "h1").text == PLAIN
    assert_accessible(driver, axe)
    tags = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody .tag")}
    assert tags == {"v1", "doomed"}
    pull = driver.find_element(By.CSS_SELECTOR, ".copyable code").text
    assert pull == f"docker pull {server.address}/{PLAIN}:TAG"
    follow(driver, By.CSS_SELECTOR, "tbody th a")
    WebDriverWait(driver, 30).until(EC.url_contains("/-/images/sha256:"))
    assert_accessible(driver, axe)


def test_hostile_label_is_text_and_runs_nothing(signed_in, server, axe):
    driver = signed_in
    driver.get(f"{server.url}/ui/repositories/{PLAIN}/-/images")
    follow(driver, By.CSS_SELECTOR, "tbody th a")
    cells = driver.find_elements(By.CSS_SELECTOR, "table.labels td")
    assert XSS_LABEL in [cell.text for cell in cells]
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
    assert_no_alert(driver)


def test_remove_a_tag_with_confirmation(signed_in, server, axe):
    driver = signed_in
    driver.get(f"{server.url}/ui/repositories/{PLAIN}/-/images")
    follow(driver, By.CSS_SELECTOR, "tbody th a")
    WebDriverWait(driver, 30).until(EC.url_contains("/-/images/sha256:"))
    image_url = driver.current_url
    Select(driver.find_element(By.ID, "old-tag")).select_by_visible_text("doomed")
    follow(driver, By.XPATH, "//button[normalize-space()='Remove tag…']")
    WebDriverWait(driver, 30).until(EC.url_contains("/confirm?action=remove-tag"))
    assert_accessible(driver, axe)
    follow(driver, By.XPATH, "//button[normalize-space()='Yes, remove tag']")
    WebDriverWait(driver, 30).until(EC.url_to_be(image_url + "?done=remove-tag"))
    assert driver.find_element(By.CSS_SELECTOR, "p.notice").text == "The tag was removed."
    tags = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "dl.facts .tag")]
    assert tags == ["v1"]


def test_scan_from_the_console_and_read_the_findings(signed_in, server, axe):
    driver = signed_in
    driver.get(f"{server.url}/ui/repositories/{SCANNED}/-/images")
    follow(driver, By.CSS_SELECTOR, "tbody th a")
    follow(driver, By.XPATH, "//button[normalize-space()='Start scan…']")
    follow(driver, By.XPATH, "//button[normalize-space()='Yes, start scan']")
    WebDriverWait(driver, 30).until(EC.url_contains("?done=scan"))
    deadline = time.monotonic() + 60
    while not driver.find_elements(By.LINK_TEXT, "Findings"):
        assert time.monotonic() < deadline, "the scan did not complete within 60 s"
        time.sleep(1)
        driver.refresh()
    open_link(driver, "Findings")
    assert_accessible(driver, axe)
    ids = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody th")}
    assert {"CVE-2022-48303", "CVE-2023-39804"} <= ids  # GNU tar, as tests/e2e/test_scanning.py
    chart = driver.find_element(By.CSS_SELECTOR, "figure.chart svg title").get_attribute(
        "textContent"
    )
    assert chart.startswith("Findings by severity:")
    driver.find_element(By.ID, "package").send_keys("tar")
    follow(driver, By.XPATH, "//button[normalize-space()='Filter']")
    packages = {
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert packages == {"tar"}


LIFECYCLE_POLICY = (
    '{"rules": [{"rulePriority": 3, "description": "old releases", "selection": '
    '{"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", '
    '"countNumber": 1}, "action": {"type": "expire"}}]}'
)


def test_edit_a_lifecycle_policy_and_check_its_preview(signed_in, server, axe, tmp_path):
    driver = signed_in
    newer = write_layout(tmp_path / "newer", {"v2": build_image([{"app.txt": b"v2"}])})
    Skopeo().copy(f"oci:{newer}:v2", f"docker://{server.address}/{PLAIN}:v2")
    page = f"{server.url}/ui/repositories/{PLAIN}/-/lifecycle"
    driver.get(page)
    policy = driver.find_element(By.ID, "policy")
    policy.clear()
    rule = (
        '{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": '
        '"imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}'
    )
    policy.send_keys(f'{{"rules": [{rule}, {rule}]}}')  # two rules of one priority
    follow(driver, By.XPATH, "//button[normalize-space()='Save policy']")
    error = driver.find_element(By.CSS_SELECTOR, "p.error").text
    assert "Lifecycle policy validation failure" in error  # the API's own message
    policy = driver.find_element(By.ID, "policy")
    policy.clear()
    policy.send_keys(LIFECYCLE_POLICY)
    follow(driver, By.XPATH, "//button[normalize-space()='Preview']")
    assert_accessible(driver, axe)
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.preview-row")
    assert len(rows) == 1  # of the two images tagged v*, the older one (v1)
    cells = [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells[3:5] == ["EXPIRE", "3"] and "v1" in cells[1]
    follow(driver, By.XPATH, "//button[normalize-space()='Save policy']")
    WebDriverWait(driver, 30).until(EC.url_contains("done=saved"))
    assert driver.find_element(By.CSS_SELECTOR, "p.notice").text == "Lifecycle policy saved."
    assert '"rulePriority": 3' in driver.find_element(By.ID, "policy").get_attribute("value")
    driver.get(f"{server.url}/ui/repositories/{PLAIN}/-/images")  # a preview expires nothing
    assert driver.find_elements(By.CSS_SELECTOR, "tbody th a")


def test_settings_storage_and_lifecycle_pages_are_accessible(signed_in, server, axe):
    driver = signed_in
    for path in (
        f"/ui/repositories/{PLAIN}/-/settings",
        f"/ui/repositories/{PLAIN}/-/lifecycle",
        "/ui/storage",
    ):
        driver.get(server.url + path)
        assert driver.find_element(By.TAG_NAME, "h1").text
        assert_accessible(driver, axe)


def test_narrow_screen_keeps_the_page_within_the_viewport(signed_in, server):
    driver = signed_in
    driver.set_window_size(375, 800)
    try:
        driver.get(f"{server.url}/ui/repositories/{PLAIN}/-/images")
        pages = [
            driver.current_url,
            driver.find_element(By.CSS_SELECTOR, "tbody th a").get_attribute("href"),
            f"{server.url}/ui/repositories/{PLAIN}/-/settings",
        ]
        for url in pages:
            driver.get(url)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, url  # wide tables scroll inside their own box
    finally:
        driver.set_window_size(1280, 900)


def test_the_accessibility_check_sees_a_violation(signed_in, server, axe):
    """The axe check is not vacuous: an unlabelled field added to a page is reported."""
    driver = signed_in
    driver.get(f"{server.url}/ui/storage")
    driver.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<input type=text>');"
    )
    assert "label" in {v["id"] for v in axe_run(driver, axe)}


def test_sign_out(signed_in, server):
    driver = signed_in
    driver.get(f"{server.url}/ui/repositories")
    follow(driver, By.XPATH, "//button[normalize-space()='Sign out']")
    assert driver.current_url.startswith(f"{server.url}/ui/sign-in")
    driver.get(f"{server.url}/ui/repositories")
    WebDriverWait(driver, 30).until(EC.url_contains("/ui/sign-in"))
