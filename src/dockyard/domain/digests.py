"""Content digests (`algorithm:encoded`) as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.domain.errors import DigestInvalid

# Grammar from the OCI image spec (descriptor.md); we verify only the registered algorithms.
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_ENCODED = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(text: object) -> Digest:
    """Parse and validate a digest string; anything we cannot verify is `DigestInvalid`."""
    if not isinstance(text, str) or not _GRAMMAR.fullmatch(text):
        raise DigestInvalid(f"invalid digest: {text!r}")
    algorithm, encoded = text.split(":", 1)
    pattern = _ENCODED.get(algorithm)
    if pattern is None:
        raise DigestInvalid(f"unsupported digest algorithm: {algorithm}")
    if not pattern.fullmatch(encoded):
        raise DigestInvalid(f"invalid {algorithm} digest: {text!r}")
    return Digest(algorithm, encoded)


def is_digest(text: str) -> bool:
    """True when a manifest reference looks like a digest rather than a tag."""
    return ":" in text


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
