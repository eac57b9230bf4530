"""Hypothesis strategies for values any request may carry: JSON of any shape, numbers that
break parsers, and text that breaks encoders. Shared by the OCI and ECR strategies."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Numbers past every limit the code has: a signed 64-bit SQL integer, int()'s 4,300 digits.
EDGE_INTEGERS = st.sampled_from(
    [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40]
)
INTEGERS = st.one_of(st.integers(-(2**70), 2**70), EDGE_INTEGERS)
# Strings HTTP and JSON permit but storage, regexes or `int` choke on.
EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "²",
        "٣",
        "\u202e",
        "\ufeff",
        "é" * 300,
        "x" * 5000,
        "9" * 5000,
        "../../etc/passwd",
        "%00",
        "%2F",
        "{}",
        "[]",
        "null",
        "true",
        "-1",
        "1e309",
        "NaN",
        "sha256:",
        "sha256:" + "a" * 64,
        "\ud800",
    ]
)
TEXT = st.one_of(st.text(max_size=40), EDGE_TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, st.floats(allow_nan=False), TEXT)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (Python's json also writes NaN and Infinity, which it reads back)."""
    return st.recursive(
        st.one_of(SCALARS, st.floats()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def nested(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return (b'{"a":' * depth) + b"1" + b"}" * depth
    return (opener * depth + closer * depth).encode()


DEEP_JSON = st.sampled_from([nested(1_000), nested(10_000), nested(100_000), nested(3_000, "{")])


def dumps(value: Any) -> bytes:
    """JSON bytes of `value`; lone surrogates are kept as `\\ud800` escapes (valid JSON)."""
    return json.dumps(value).encode()


_CONTROLS = bytes(c for c in range(32) if c != 9) + b"\x7f"


def latin1(text: str) -> bytes:
    """A header value as HTTP carries it (ASGI servers decode headers as latin-1), without the
    control characters HTTP forbids there (clients refuse to send them, servers to read them)."""
    return text.encode("latin-1", errors="replace").translate(None, _CONTROLS).strip()
