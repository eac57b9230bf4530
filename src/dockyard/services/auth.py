"""Who is calling: access keys for the ECR API, registry tokens for `/v2/`.

Access keys come from a TOML file (`--auth-file`) or, when none is given, from the one account
and key generated in the metadata database on the first start on it (and copied to the data
directory's `credentials.toml` for the user), so servers sharing a database share it. A registry token is what
GetAuthorizationToken returns: base64("AWS:" + password), where the password is a signed,
self-contained statement "account A until time T". Any server process sharing the database's
token key can check it, with no session table.

Registry tokens and download-URL signatures (GetDownloadUrlForLayer) are different kinds of
credential: each is signed with its own key, derived from the token key with its purpose, so
one presented as the other fails its MAC like any forgery. Whatever is presented, a malformed
credential (non-ASCII, bad base64, claims of the wrong shape) is `NotAuthorized`, never a crash.
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
from enum import StrEnum
from pathlib import Path
from typing import Any

from dockyard.domain.errors import NotAuthorized
from dockyard.ports import AccountStore
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
    #: The registry a `/v2/` token was issued for (GetAuthorizationToken's registryIds), when
    #: it names another account's; None: the caller's own.
    registry_id: str | None = None


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
    return parse_auth_document(document, str(path))


def parse_auth_document(document: dict[str, Any], source: str) -> KeyRing:
    """The keys of an auth document (a parsed auth file); `source` names it in errors."""
    keys: dict[str, AccessKey] = {}
    for number, account in enumerate(document.get("accounts", []), 1):
        account_id = str(_field(account, "id", f"{source}: account #{number}"))
        if not (len(account_id) == 12 and account_id.isdigit()):
            raise ValueError(f"{source}: account id {account_id!r} must be 12 digits")
        for index, entry in enumerate(account.get("keys", []), 1):
            key = _access_key(entry, account_id, f"{source}: account {account_id}, key #{index}")
            if key.access_key_id in keys:
                other = keys[key.access_key_id].account_id
                raise ValueError(
                    f"{source}: access_key_id {key.access_key_id!r} appears twice "
                    f"(accounts {other} and {account_id}); each key must be unique"
                )
            keys[key.access_key_id] = key
    if not keys:
        raise ValueError(f"{source}: no [[accounts.keys]] found")
    return KeyRing(list(keys.values()))


def _access_key(entry: dict[str, Any], account_id: str, where: str) -> AccessKey:
    return AccessKey(
        str(_field(entry, "access_key_id", where)),
        str(_field(entry, "secret_access_key", where)),
        account_id,
        str(entry.get("principal_arn", "")),
    )


def _field(table: object, name: str, where: str) -> object:
    if not isinstance(table, dict) or table.get(name) in (None, ""):
        raise ValueError(f"{where} has no {name}")
    return table[name]


#: Where the generated account lives in the metadata database (AccountStore.secret), so every
#: server on one database (several data directories on one PostgreSQL) shares it.
DEFAULT_CREDENTIALS_SECRET = "default-credentials"


def new_credentials_text() -> str:
    """A fresh account and key as an auth file, the way `credentials.toml` holds them."""
    account = "".join(secrets.choice("0123456789") for _ in range(12))
    key_id = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    return (
        "# Created by dockyard on first start. Use these with the AWS CLI or SDKs.\n"
        f'[[accounts]]\nid = "{account}"\n\n[[accounts.keys]]\n'
        f'access_key_id = "{key_id}"\nsecret_access_key = "{secrets.token_urlsafe(30)}"\n'
    )


def default_credentials(accounts: AccountStore, data_dir: Path) -> tuple[KeyRing, Path, bool]:
    """The generated account of the metadata database, copied to `data_dir/credentials.toml`.

    The database holds the truth: the first server on it stores an account (the one already in
    its credentials file, from before the account moved into the database, or a new one), and
    every later server, whatever its data directory, uses that one; the race between first
    servers is settled by AccountStore.secret. Returns the keys, the file and whether it was
    written now. A credentials file naming another account is refused rather than ignored.
    """
    path = data_dir / CREDENTIALS_FILE
    local = path.read_text() if path.exists() else None
    stored = accounts.secret(
        DEFAULT_CREDENTIALS_SECRET, (local or new_credentials_text()).encode()
    ).decode()
    keys = parse_auth_document(tomllib.loads(stored), "the database's generated account")
    if local is not None:
        if tomllib.loads(local) != tomllib.loads(stored):
            raise ValueError(
                f"{path} holds other credentials than the metadata database's generated account "
                f"{keys.accounts[0]}: servers sharing a database share its account; remove the "
                "file to get the database's, or pass --auth-file"
            )
        return keys, path, False
    _write_private(path, stored)
    return keys, path, True


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class Purpose(StrEnum):
    """What a signed credential is for; each purpose signs with a key of its own."""

    REGISTRY_TOKEN = "dockyard registry token v1"
    DOWNLOAD_URL = "dockyard download url v1"


class AuthService:
    def __init__(
        self,
        keys: KeyRing,
        token_key: bytes,
        clock: Clock,
        accept_any: bool,
        default_account: str,
        wall_clock: Clock | None = None,
    ) -> None:
        self.keys, self.token_key, self.clock = keys, token_key, clock
        # Request signatures are dated by the client's real clock, so they are checked against
        # real time even when the registry's clock is moved forward (--test-clock).
        self.wall_clock = wall_clock or clock
        self.accept_any, self.default_account = accept_any, default_account
        self._purpose_keys = {
            purpose: hmac.new(token_key, purpose.encode(), hashlib.sha256).digest()
            for purpose in Purpose
        }

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

    def caller_for_secret(self, access_key_id: str, secret: str) -> Caller:
        """Who holds this key id and secret (the console's sign-in): the key ring the ECR API
        checks signatures against, compared in constant time. A server that accepts any
        credentials accepts these as the API would."""
        key = self.keys.get(access_key_id)
        if key is not None and hmac.compare_digest(key.secret_access_key.encode(), secret.encode()):
            return Caller(key.account_id, key.principal)
        if self.accept_any:
            return self.caller_for_key(access_key_id)
        raise NotAuthorized("The access key id or secret access key is not valid.")

    # -- registry tokens (GetAuthorizationToken) -------------------------------------------------

    def issue_registry_token(
        self, account_id: str, principal: str, registry_id: str | None = None
    ) -> tuple[str, float]:
        """A token for `account_id`'s `principal`; `registry_id` names the registry it
        addresses when that is another account's (access is checked at each request)."""
        expires = self.clock.now() + TOKEN_LIFETIME
        claims = {
            "a": account_id,
            "p": principal,
            "e": round(expires, 3),
            "n": secrets.token_hex(8),
        }
        if registry_id and registry_id != account_id:
            claims["r"] = registry_id
        password = self._sign(Purpose.REGISTRY_TOKEN, json.dumps(claims, separators=(",", ":")))
        return base64.b64encode(f"AWS:{password}".encode()).decode(), expires

    def caller_from_basic(self, authorization: str | None) -> Caller:
        """Who a `/v2/` request acts for, from its `Authorization: Basic` header."""
        if self.accept_any:
            return Caller(self.default_account, root_principal(self.default_account))
        user, password = _basic_credentials(authorization)
        if user != "AWS":
            raise NotAuthorized("the user name must be AWS")
        claims = self._claims(Purpose.REGISTRY_TOKEN, password, ("a", "p", "e"))
        if claims["e"] < self.clock.now():
            raise NotAuthorized("expired registry token")
        return Caller(claims["a"], claims["p"], claims.get("r"))

    # -- signed download URLs (GetDownloadUrlForLayer) ------------------------------------------

    def signed_blob_path(self, account_id: str, name: str, digest: str) -> str:
        """A `/v2/` blob path anyone may GET for the next hour, like a presigned S3 URL."""
        claims = json.dumps(
            {"a": account_id, "r": name, "d": digest, "e": round(self.clock.now() + 3600)},
            separators=(",", ":"),
        )
        signature = self._sign(Purpose.DOWNLOAD_URL, claims)
        return f"/v2/{name}/blobs/{digest}?X-Dockyard-Signature={signature}"

    def caller_from_signed_blob(self, name: str, digest: str, signature: str) -> Caller:
        claims = self._claims(Purpose.DOWNLOAD_URL, signature, ("a", "r", "d", "e"))
        if (claims["r"], claims["d"]) != (name, digest) or claims["e"] < self.clock.now():
            raise NotAuthorized("the download URL is expired or not for this blob")
        return Caller(claims["a"], root_principal(claims["a"]))

    def _sign(self, purpose: Purpose, text: str) -> str:
        body = _b64(text.encode())
        return f"{body}.{_b64(self._mac(purpose, body))}"

    def _claims(self, purpose: Purpose, signed: str, names: tuple[str, ...]) -> dict[str, Any]:
        """The claims of a credential signed for `purpose`, which must hold `names`."""
        claims = _json_object(self._verify(purpose, signed))
        if not all(name in claims for name in names) or not _is_number(claims["e"]):
            raise NotAuthorized("malformed credentials")
        return claims

    def _verify(self, purpose: Purpose, signed: str) -> bytes:
        if not signed.isascii():  # compare_digest refuses non-ASCII text; no MAC has any
            raise NotAuthorized("malformed credentials")
        body, _, mac = signed.partition(".")
        if not hmac.compare_digest(_b64(self._mac(purpose, body)), mac):
            raise NotAuthorized("forged or malformed credentials")
        return _unb64(body)

    def _mac(self, purpose: Purpose, body: str) -> bytes:
        return hmac.new(self._purpose_keys[purpose], body.encode(), hashlib.sha256).digest()


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise NotAuthorized("basic credentials required")
    try:
        # A str with non-ASCII characters makes b64decode raise a plain ValueError.
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise NotAuthorized("malformed basic credentials") from None
    return user, password


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except ValueError:
        raise NotAuthorized("malformed credentials") from None
    if not isinstance(found, dict):
        raise NotAuthorized("malformed credentials")
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise NotAuthorized("malformed registry token") from None
