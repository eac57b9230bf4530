"""Fixtures of the console's ASGI suite: a registry of two accounts, a signed-in browser-like
client per account, and a registry client that pushes images as account A."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.console.browser import save_screenshot
from tests.support import ociapi
from tests.support.images import Image, build_image

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
KEYS = {
    ACCOUNT_A: ("AKIAAAAAAAAAAAAAAAAA", "secret-of-a"),
    ACCOUNT_B: ("AKIABBBBBBBBBBBBBBBB", "secret-of-b"),
}
REPO = "team/app"


def write_auth_file(path: Path) -> Path:
    text = "".join(
        f'[[accounts]]\nid = "{account}"\n[[accounts.keys]]\n'
        f'access_key_id = "{key_id}"\nsecret_access_key = "{secret}"\n\n'
        for account, (key_id, secret) in KEYS.items()
    )
    path.write_text(text)
    return path


def form_value(html: str, name: str) -> str:
    """The value of the first hidden input called `name` in a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(client: TestClient, account: str) -> str:
    """Sign in through the form as a browser would; the session's CSRF token."""
    page = client.get("/ui/sign-in")
    key_id, secret = KEYS[account]
    answer = client.post(
        "/ui/sign-in",
        data={
            "login_token": form_value(page.text, "login_token"),
            "next": "/ui/repositories",
            "access_key_id": key_id,
            "secret": secret,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return form_value(client.get("/ui/repositories").text, "csrf_token")


@pytest.fixture
def app(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path / "data",
        create_on_push=True,
        auth_file=write_auth_file(tmp_path / "auth.toml"),
    )
    return create_app(settings)


def _client(app, **kwargs) -> TestClient:
    # https: cookies are Secure there, as a browser would send them.
    return TestClient(app, base_url="https://console.test", **kwargs)


@pytest.fixture
def registry(app) -> Iterator[TestClient]:
    """A `/v2/` client of account A."""
    with _client(app) as client:
        token, _ = app.state.services.auth.issue_registry_token(
            ACCOUNT_A, f"arn:aws:iam::{ACCOUNT_A}:root"
        )
        client.headers["Authorization"] = f"Basic {token}"
        yield client


@pytest.fixture
def browser(app, registry) -> Iterator[TestClient]:
    """A console client signed in as account A (registry first: it runs the lifespan)."""
    with _client(app) as client:
        client.csrf = sign_in(client, ACCOUNT_A)  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def intruder(app, registry) -> Iterator[TestClient]:
    """A console client signed in as account B."""
    with _client(app) as client:
        client.csrf = sign_in(client, ACCOUNT_B)  # type: ignore[attr-defined]
        yield client


def push(
    registry: TestClient, tag: str, labels: dict[str, str] | None = None, repo: str = REPO
) -> Image:
    image = build_image([{f"file-{tag}.txt": tag.encode()}], labels=labels or {"tag": tag})
    ociapi.push(registry, repo, image, tag)
    return image


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing browser test leaves a screenshot of what the browser showed, under its tmp
    dir, and says where (the `driver` fixture of test_browser.py is the browser)."""
    outcome = yield
    report = outcome.get_result()
    driver = getattr(item, "funcargs", {}).get("driver") or getattr(item, "funcargs", {}).get(
        "signed_in"
    )
    if report.when == "call" and report.failed and driver is not None:
        directory = item.funcargs.get("tmp_path") or Path(tempfile.mkdtemp(prefix="console-"))
        path = save_screenshot(driver, directory, item.name)
        report.sections.append(("screenshot", f"saved {path}"))
        print(f"\nscreenshot of the failure: {path}")
