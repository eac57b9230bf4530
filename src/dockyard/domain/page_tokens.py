"""Opaque, tamper-evident page tokens.

A token is `base64url(json(payload) + hmac_sha256(key, json))`. The payload carries the last key
of the page and the scope it belongs to (operation, account, repository, filter); decoding with a
different scope, a modified token or a token from another server key fails. Keyset positions,
not offsets, so concurrent pushes and deletes never shift a listing (offsets only into a fixed
result, such as a scan's findings or a finished preview).

    pager = Pager(key, scope)
    after = pager.position(token)                  # None on the first page
    found = store.list(after, limit + 1)           # one more than a page: is there a next?
    items, next_token = pager.page(found, limit, lambda last: {"name": last.name})

    items, next_token = Pager(key, scope).window(fixed_list, token, limit)   # by offset
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dockyard.domain.errors import ParameterInvalid

_MAC = 32
T = TypeVar("T")


@dataclass(frozen=True)
class Pager:
    """The page tokens of one listing: `scope` names the operation and everything that shapes
    the result (account, repository, filters), so a token serves only the listing it came from."""

    key: bytes
    scope: dict[str, Any]

    def position(self, token: str | None) -> dict[str, Any] | None:
        """Where the page starts: the position `token` holds, or None for the first page."""
        return decode_token(self.key, token, self.scope) if token else None

    def page(
        self, found: Sequence[T], limit: int, position_of: Callable[[T], dict[str, Any]]
    ) -> tuple[list[T], str | None]:
        """The first `limit` of `found` (up to `limit + 1` items after the position), and the
        token of the next page when there is one: the position of this page's last item."""
        if len(found) <= limit:
            return list(found), None
        items = list(found[:limit])
        return items, encode_token(self.key, self.scope, position_of(items[-1]))

    def window(
        self, items: Sequence[T], token: str | None, limit: int, field: str = "offset"
    ) -> tuple[list[T], str | None]:
        """`limit` items of a fixed result from the offset `token` holds (under `field`)."""
        position = self.position(token)
        start = int(position[field]) if position else 0
        end = start + limit
        following = encode_token(self.key, self.scope, {field: end}) if end < len(items) else None
        return list(items[start:end]), following


def encode_token(key: bytes, scope: dict[str, Any], position: dict[str, Any]) -> str:
    body = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def decode_token(key: bytes, token: str, scope: dict[str, Any]) -> dict[str, Any]:
    """The position stored in `token`, which must have been issued for exactly `scope`."""
    raw = _unbase64(token)
    body, mac = raw[:-_MAC], raw[-_MAC:]
    if len(raw) <= _MAC or not hmac.compare_digest(
        mac, hmac.new(key, body, hashlib.sha256).digest()
    ):
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
