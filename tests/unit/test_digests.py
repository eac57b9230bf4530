"""Digest grammar: only digests we can verify (sha256, sha512, lowercase hex of the right length)."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.domain.digests import Digest, digest_of, is_digest, parse_digest
from dockyard.domain.errors import DigestInvalid

SHA256_HEX = hashlib.sha256(b"dockyard").hexdigest()
SHA512_HEX = hashlib.sha512(b"dockyard").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "encoded"),
    [
        (f"sha256:{SHA256_HEX}", "sha256", SHA256_HEX),
        (f"sha512:{SHA512_HEX}", "sha512", SHA512_HEX),
        ("sha256:" + "0" * 64, "sha256", "0" * 64),
    ],
)
def test_valid_digests_parse_into_their_parts(text: str, algorithm: str, encoded: str) -> None:
    digest = parse_digest(text)
    assert digest == Digest(algorithm, encoded)
    assert str(digest) == text


@pytest.mark.parametrize(
    "text",
    [
        f"sha256:{SHA256_HEX.upper()}",  # the OCI spec requires lowercase hex for sha256
        f"sha256:{SHA256_HEX[:-1]}A",
        f"SHA256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX[:-1]}",  # 63 hex digits
        f"sha256:{SHA256_HEX}0",  # 65 hex digits
        f"sha512:{SHA256_HEX}",  # a sha256-long value under sha512
        f"sha256:{SHA512_HEX}",
        f"sha256:{SHA256_HEX[:-1]}g",
        f"md5:{hashlib.md5(b'x').hexdigest()}",  # an algorithm we do not accept
        f"sha384:{hashlib.sha384(b'x').hexdigest()}",
        f"sha256+b64u:{SHA256_HEX}",  # grammatical, but not a registered algorithm
        SHA256_HEX,  # no algorithm
        f":{SHA256_HEX}",
        "sha256:",
        "",
        f" sha256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX}\n",  # fullmatch, not match-with-$ (which allows a final newline)
        f"sha256:{SHA256_HEX}:{SHA256_HEX}",
    ],
)
def test_invalid_digest_strings_are_refused(text: str) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(text)


@pytest.mark.parametrize("value", [None, 42, b"sha256:" + SHA256_HEX.encode(), ["sha256"], {}])
def test_non_strings_are_refused_as_invalid_digests(value: object) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(value)  # type: ignore[arg-type]


def test_unknown_algorithm_message_names_the_algorithm() -> None:
    with pytest.raises(DigestInvalid, match="unsupported digest algorithm: md5"):
        parse_digest("md5:" + "a" * 32)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_digest_of_hashes_the_bytes(algorithm: str) -> None:
    data = b"some layer bytes"
    expected = hashlib.new(algorithm, data).hexdigest()
    assert digest_of(data, algorithm) == Digest(algorithm, expected)
    assert str(digest_of(data, algorithm)) == f"{algorithm}:{expected}"


def test_hasher_matches_the_algorithm() -> None:
    hasher = parse_digest(f"sha512:{SHA512_HEX}").hasher()
    hasher.update(b"dockyard")
    assert hasher.hexdigest() == SHA512_HEX


@pytest.mark.parametrize(
    ("reference", "expected"),
    [(f"sha256:{SHA256_HEX}", True), ("latest", False), ("v1.2.3", False), ("sha256", False)],
)
def test_is_digest_tells_digests_from_tags(reference: str, expected: bool) -> None:
    assert is_digest(reference) is expected
