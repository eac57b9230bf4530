"""Decimal numbers as HTTP carries them (query parameters, `Range`, `Content-Length`).

`str.isdigit` and `int` accept far more than HTTP's `1*DIGIT`: superscripts (`²`), other
scripts' digits (`٣`), and numbers of any length (until `int` refuses one past 4,300 digits).
Here only ASCII digits count, and a value too large for any size the registry stores is
clamped to `HUGE`, which every caller already refuses or caps as too large.
"""

from __future__ import annotations

import re

#: Larger than any size or count a registry holds (and than a signed 64-bit SQL integer).
HUGE = 2**63
_DIGITS = re.compile(r"[0-9]+")
_MAX_DIGITS = len(str(HUGE))


def is_decimal(text: str) -> bool:
    """True for a non-empty run of ASCII digits."""
    return _DIGITS.fullmatch(text) is not None


def decimal_value(text: str) -> int:
    """The value of ASCII digits (check `is_decimal` first), clamped to `HUGE`."""
    significant = text.lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return HUGE
    return min(int(significant or "0"), HUGE)


def parse_decimal(text: str | None) -> int | None:
    """The clamped value of `text` when it is ASCII digits; None otherwise."""
    if text is None or not is_decimal(text):
        return None
    return decimal_value(text)
