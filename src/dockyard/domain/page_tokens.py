"""Opaque, tamper-evident page tokens.

A token is `base64url(json(payload) + hmac_sha256(key, json))`. The payload carries the last key
of the page and the scope it belongs to (operation, account, repository, filter); decoding with a
different scope, a modified token or a token from another server key fails. Keyset positions,
not offsets, so concurrent pushes and deletes never shift a listing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from dockyard.domain.errors import ParameterInvalid

_MAC = 32


def encode_token(key: bytes, scope: dict[str, Any], position: dict[str, Any]) -> str:
    body = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def decode_token(key: bytes, token: str, scope: dict[str, Any]) -> dict[str, Any]:
    """The position stored in `token`, which must have been issued for exactly `scope`."""
    raw = _unbase64(token)
    body, mac = raw[:-_MAC], raw[-_MAC:]
    if len(raw) <= _MAC or not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise _invalid()
    document = json.loads(body)
    if document.get("s") != json.loads(json.dumps(scope)):
        raise _invalid()
    position: dict[str, Any] = document["p"]
    return position


def _unbase64(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid() from None


def _invalid() -> ParameterInvalid:
    return ParameterInvalid(
        "Invalid parameter at 'nextToken' failed to satisfy constraint: "
        "'Member must be a token returned by a previous call with the same parameters'"
    )
