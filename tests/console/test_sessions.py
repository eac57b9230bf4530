"""Sign in, sign out, expiry, cookies and CSRF refusals."""

from __future__ import annotations

from dockyard.app import create_app
from dockyard.services.console_sessions import SESSION_LIFETIME
from dockyard.settings import Settings
from tests.console.conftest import ACCOUNT_A, KEYS, REPO, _client, form_value, push, sign_in


def test_sign_in_sets_a_strict_httponly_secure_cookie_and_never_echoes_the_secret(app, registry):
    with _client(app) as client:
        page = client.get("/ui/sign-in")
        key_id, secret = KEYS[ACCOUNT_A]
        answer = client.post(
            "/ui/sign-in",
            data={
                "login_token": form_value(page.text, "login_token"),
                "next": "/ui/storage",
                "access_key_id": key_id,
                "secret": secret,
            },
            follow_redirects=False,
        )
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/storage")
    cookie = next(
        v
        for k, v in answer.headers.multi_items()
        if k == "set-cookie" and v.startswith("dockyard_console=")
    )
    for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/ui"):
        assert attribute.lower() in cookie.lower()
    assert secret not in answer.text


def test_wrong_secret_is_refused_and_not_shown(app, registry):
    with _client(app) as client:
        page = client.get("/ui/sign-in")
        key_id, _ = KEYS[ACCOUNT_A]
        answer = client.post(
            "/ui/sign-in",
            data={
                "login_token": form_value(page.text, "login_token"),
                "access_key_id": key_id,
                "secret": "guessed-secret",
            },
            follow_redirects=False,
        )
        assert answer.status_code == 401 and "not valid" in answer.text
        assert "guessed-secret" not in answer.text
        assert client.get("/ui/repositories", follow_redirects=False).status_code == 303


def test_sign_in_without_its_form_token_is_refused(app, registry):
    with _client(app) as client:
        key_id, secret = KEYS[ACCOUNT_A]
        answer = client.post(
            "/ui/sign-in", data={"access_key_id": key_id, "secret": secret}, follow_redirects=False
        )
        assert answer.status_code == 403
        assert client.get("/ui/repositories", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_console(app, registry):
    with _client(app) as client:
        page = client.get("/ui/sign-in?next=https://evil.example/")
        assert form_value(page.text, "next") == "/ui/repositories"
        page = client.get("/ui/sign-in?next=//evil.example/ui/")
        assert form_value(page.text, "next") == "/ui/repositories"


def test_sign_out_ends_the_session_on_the_server(app, registry):
    with _client(app) as client:
        csrf = sign_in(client, ACCOUNT_A)
        stolen = client.cookies.get("dockyard_console")
        assert (
            client.post(
                "/ui/sign-out", data={"csrf_token": csrf}, follow_redirects=False
            ).status_code
            == 303
        )
    with _client(app) as replay:
        replay.cookies.set("dockyard_console", stolen, domain="console.test", path="/ui")
        assert replay.get("/ui/repositories", follow_redirects=False).status_code == 303


def test_sessions_expire(app, registry, monkeypatch):
    with _client(app) as client:
        sign_in(client, ACCOUNT_A)
        assert client.get("/ui/repositories", follow_redirects=False).status_code == 200
        clock = app.state.services.console_sessions.clock
        now = clock.now()
        monkeypatch.setattr(clock, "now", lambda: now + SESSION_LIFETIME + 1)
        assert client.get("/ui/repositories", follow_redirects=False).status_code == 303


def test_every_form_post_without_the_csrf_token_is_refused(browser, registry):
    image = push(registry, "v1")
    base = f"/ui/repositories/{REPO}/-"
    posts = [
        f"{base}/images/{image.digest}/{name}"
        for name in ("add-tag", "remove-tag", "delete", "archive", "restore", "scan")
    ]
    posts += [
        f"{base}/settings/{name}" for name in ("mutability", "scanning", "policy", "policy/delete")
    ]
    posts.append("/ui/sign-out")
    for url in posts:
        for token in (None, "wrong"):
            data = {"tag": "v1", "mutability": "IMMUTABLE", "policy": "{}"}
            if token:
                data["csrf_token"] = token
            answer = browser.post(url, data=data, follow_redirects=False)
            assert answer.status_code == 403, url
    describe = browser.get(f"{base}/images/{image.digest}").text
    assert "v1" in describe and "archived" not in describe
    assert "MUTABLE" in browser.get(f"{base}/settings").text


def test_sessions_are_shared_by_every_process_of_one_database(app, registry, tmp_path):
    """Sessions are rows: a second app on the same data directory (another worker) knows them."""
    with _client(app) as client:
        sign_in(client, ACCOUNT_A)
        cookie = client.cookies.get("dockyard_console")
    second = create_app(
        Settings(data_dir=tmp_path / "data", create_on_push=True, auth_file=tmp_path / "auth.toml"),
        single_process=False,
    )
    with _client(second) as other:
        other.cookies.set("dockyard_console", cookie, domain="console.test", path="/ui")
        assert other.get("/ui/repositories", follow_redirects=False).status_code == 200
