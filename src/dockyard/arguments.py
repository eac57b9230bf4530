"""Argument types the commands share: durations (in domain/durations.py's grammar) and instants.

One parser each, so `serve`, `gc` and `lifecycle` accept and refuse the same texts alike.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from dockyard.domain.durations import parse_duration


def duration(text: str) -> float:
    """A duration, zero included (`0` turns a periodic task off)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_duration(text: str) -> float:
    seconds = duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration such as 90s, 15m, 1h or 7d, not {text!r}"
        )
    return seconds


def instant(text: str) -> float:
    """An ISO 8601 time as a POSIX timestamp; UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-24T10:00:00Z, not {text!r}"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
