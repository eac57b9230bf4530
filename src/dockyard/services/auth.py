"""Who is calling: access keys for the ECR API, registry tokens for `/v2/`.

Access keys come from a TOML file (`--auth-file`) or, when none is given, from one account and
key created in the data directory on first start. A registry token is what
GetAuthorizationToken returns: base64("AWS:" + password), where the password is a signed,
self-contained statement "account A until time T". Any server process sharing the database's
token key can check it, with no session table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dockyard.domain.errors import NotAuthorized
from dockyard.services.clock import Clock

TOKEN_LIFETIME = 12 * 3600
CREDENTIALS_FILE = "credentials.toml"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    account_id: str
    principal_arn: str = ""

    @property
    def principal(self) -> str:
        return self.principal_arn or root_principal(self.account_id)


@dataclass(frozen=True)
class Caller:
    account_id: str
    principal: str


def root_principal(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


class KeyRing:
    """Access keys by id."""

    def __init__(self, keys: list[AccessKey]) -> None:
        self._keys = {key.access_key_id: key for key in keys}

    def get(self, access_key_id: str) -> AccessKey | None:
        return self._keys.get(access_key_id)

    @property
    def accounts(self) -> list[str]:
        return sorted({key.account_id for key in self._keys.values()})


def load_auth_file(path: Path) -> KeyRing:
    """Read `[[accounts]] id=... [[accounts.keys]] access_key_id=... secret_access_key=...`.

    A mistake is a ValueError naming the account and key (never a secret): a missing field,
    an id that is not 12 digits, or one access_key_id in two places (which would make one of
    them silently unusable).
    """
    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    keys: dict[str, AccessKey] = {}
    for number, account in enumerate(document.get("accounts", []), 1):
        account_id = str(_field(account, "id", f"{path}: account #{number}"))
        if not (len(account_id) == 12 and account_id.isdigit()):
            raise ValueError(f"{path}: account id {account_id!r} must be 12 digits")
        for index, entry in enumerate(account.get("keys", []), 1):
            key = _access_key(entry, account_id, f"{path}: account {account_id}, key #{index}")
            if key.access_key_id in keys:
                other = keys[key.access_key_id].account_id
                raise ValueError(f"{path}: access_key_id {key.access_key_id} appears twice "
                                 f"(accounts {other} and {account_id}); each key must be unique")
            keys[key.access_key_id] = key
    if not keys:
        raise ValueError(f"{path}: no [[accounts.keys]] found")
    return KeyRing(list(keys.values()))


def _access_key(entry: dict, account_id: str, where: str) -> AccessKey:
    return AccessKey(str(_field(entry, "access_key_id", where)),
                     str(_field(entry, "secret_access_key", where)), account_id,
                     str(entry.get("principal_arn", "")))


def _field(table: object, name: str, where: str) -> object:
    if not isinstance(table, dict) or table.get(name) in (None, ""):
        raise ValueError(f"{where} has no {name}")
    return table[name]


def ensure_local_credentials(data_dir: Path) -> tuple[Path, bool]:
    """The data directory's own credentials file, created (mode 0600) on first start."""
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        return path, False
    account = "".join(secrets.choice("0123456789") for _ in range(12))
    key_id = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    text = (
        "# Created by dockyard on first start. Use these with the AWS CLI or SDKs.\n"
        f'[[accounts]]\nid = "{account}"\n\n[[accounts.keys]]\n'
        f'access_key_id = "{key_id}"\nsecret_access_key = "{secrets.token_urlsafe(30)}"\n'
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path, True


class AuthService:
    def __init__(self, keys: KeyRing, token_key: bytes, clock: Clock, accept_any: bool,
                 default_account: str) -> None:
        self.keys, self.token_key, self.clock = keys, token_key, clock
        self.accept_any, self.default_account = accept_any, default_account

    def secret_for(self, access_key_id: str) -> str | None:
        key = self.keys.get(access_key_id)
        return key.secret_access_key if key else None

    def caller_for_key(self, access_key_id: str) -> Caller:
        key = self.keys.get(access_key_id)
        if key is None:
            if self.accept_any:
                return Caller(self.default_account, root_principal(self.default_account))
            raise NotAuthorized("The security token included in the request is invalid.")
        return Caller(key.account_id, key.principal)

    # -- registry tokens (GetAuthorizationToken) -------------------------------------------------

    def issue_registry_token(self, account_id: str, principal: str) -> tuple[str, float]:
        expires = self.clock.now() + TOKEN_LIFETIME
        claims = {"a": account_id, "p": principal, "e": round(expires, 3),
                  "n": secrets.token_hex(8)}
        password = self._sign(json.dumps(claims, separators=(",", ":")))
        return base64.b64encode(f"AWS:{password}".encode()).decode(), expires

    def caller_from_basic(self, authorization: str | None) -> Caller:
        """Who a `/v2/` request acts for, from its `Authorization: Basic` header."""
        if self.accept_any:
            return Caller(self.default_account, root_principal(self.default_account))
        user, password = _basic_credentials(authorization)
        if user != "AWS":
            raise NotAuthorized("the user name must be AWS")
        claims = json.loads(self._verify(password))
        if claims["e"] < self.clock.now():
            raise NotAuthorized("expired registry token")
        return Caller(claims["a"], claims["p"])

    # -- signed download URLs (GetDownloadUrlForLayer) ------------------------------------------

    def signed_blob_path(self, account_id: str, name: str, digest: str) -> str:
        """A `/v2/` blob path anyone may GET for the next hour, like a presigned S3 URL."""
        claims = json.dumps({"a": account_id, "r": name, "d": digest,
                             "e": round(self.clock.now() + 3600)}, separators=(",", ":"))
        return f"/v2/{name}/blobs/{digest}?X-Dockyard-Signature={self._sign(claims)}"

    def caller_from_signed_blob(self, name: str, digest: str, signature: str) -> Caller:
        claims = json.loads(self._verify(signature))
        if (claims["r"], claims["d"]) != (name, digest) or claims["e"] < self.clock.now():
            raise NotAuthorized("the download URL is expired or not for this blob")
        return Caller(claims["a"], root_principal(claims["a"]))

    def _sign(self, text: str) -> str:
        body = _b64(text.encode())
        return f"{body}.{_b64(self._mac(body))}"

    def _verify(self, signed: str) -> bytes:
        body, _, mac = signed.partition(".")
        if not hmac.compare_digest(_b64(self._mac(body)), mac):
            raise NotAuthorized("forged or malformed credentials")
        return _unb64(body)

    def _mac(self, body: str) -> bytes:
        return hmac.new(self.token_key, body.encode(), hashlib.sha256).digest()


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise NotAuthorized("basic credentials required")
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise NotAuthorized("malformed basic credentials") from None
    return user, password


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise NotAuthorized("malformed registry token") from None
