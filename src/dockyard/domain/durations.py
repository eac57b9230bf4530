"""Durations on the command line: `90`, `30s`, `15m`, `1h`, `7d` (a number and one unit)."""

from __future__ import annotations

import re

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError with what is accepted otherwise."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"expected a duration such as 90s, 15m, 1h or 7d, not {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]
