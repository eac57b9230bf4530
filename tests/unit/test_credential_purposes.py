"""AuthService: a registry token and a download-URL signature are different credentials, and
whatever is presented, a malformed one is NotAuthorized (a 401 at the edge), never a crash."""

from __future__ import annotations

import base64

import pytest

from dockyard.domain.errors import NotAuthorized
from dockyard.services.auth import AccessKey, AuthService, KeyRing
from dockyard.services.clock import FixedClock

ACCOUNT = "123456789012"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def auth() -> AuthService:
    keys = KeyRing([AccessKey("AKIDUNITTESTS0000001", "secret", ACCOUNT)])
    return AuthService(keys, b"k" * 32, FixedClock(1_800_000_000.0), False, ACCOUNT)


def token_password(auth: AuthService) -> str:
    token, _ = auth.issue_registry_token(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
    return base64.b64decode(token).decode().partition(":")[2]


def url_signature(auth: AuthService) -> str:
    return auth.signed_blob_path(ACCOUNT, "team/app", DIGEST).partition("=")[2]


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()


def test_each_credential_is_accepted_where_it_belongs(auth: AuthService) -> None:
    assert auth.caller_from_basic(basic(token_password(auth))).account_id == ACCOUNT
    caller = auth.caller_from_signed_blob("team/app", DIGEST, url_signature(auth))
    assert caller.account_id == ACCOUNT


def test_a_download_signature_is_not_a_registry_password(auth: AuthService) -> None:
    with pytest.raises(NotAuthorized):
        auth.caller_from_basic(basic(url_signature(auth)))


def test_a_registry_password_is_not_a_download_signature(auth: AuthService) -> None:
    with pytest.raises(NotAuthorized):
        auth.caller_from_signed_blob("team/app", DIGEST, token_password(auth))


def test_another_token_key_signs_other_credentials(auth: AuthService) -> None:
    other = AuthService(auth.keys, b"o" * 32, auth.clock, False, ACCOUNT)
    with pytest.raises(NotAuthorized):
        auth.caller_from_basic(basic(token_password(other)))


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic \u00e9t\u00e9==",
        basic("\u00e9t\u00e9.\u00e9"),
        "Basic " + base64.b64encode(b"AWS:\xff\xfe").decode(),
        basic("e30.\u00e9"),
        basic("no-dot-at-all"),
        basic("."),
        "Bearer abc",
        "",
    ],
)
def test_malformed_basic_credentials(auth: AuthService, authorization: str) -> None:
    with pytest.raises(NotAuthorized):
        auth.caller_from_basic(authorization)


@pytest.mark.parametrize("signature", ["\u00e9", "x.\u00e9", "\u00e9.x", "", ".", "@@@.@@@"])
def test_malformed_download_signatures(auth: AuthService, signature: str) -> None:
    with pytest.raises(NotAuthorized):
        auth.caller_from_signed_blob("team/app", DIGEST, signature)
