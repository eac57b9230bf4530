"""Durations of `--gc-grace`, `--gc-interval` and `--upload-ttl`, and `dockyard gc --now`."""

from __future__ import annotations

import argparse

import pytest

from dockyard.arguments import duration, instant, positive_duration
from dockyard.domain.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("90", 90.0),
        ("30s", 30.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        ("0.5", 0.5),
        (" 2h ", 7200.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-1h", "1h30m", "1.h", "one"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="such as 90s, 15m, 1h or 7d"):
        parse_duration(text)


def test_now_is_utc_unless_it_says_otherwise() -> None:
    assert instant("2026-12-24T00:00:00Z") == 1798070400.0
    assert instant("2026-12-24T00:00:00") == 1798070400.0
    assert instant("2026-12-24T01:00:00+01:00") == 1798070400.0
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601"):
        instant("yesterday")


def test_command_line_durations_share_one_grammar() -> None:
    assert duration("0") == 0.0 and duration("2h") == 7200.0
    assert positive_duration("90s") == 90.0
    with pytest.raises(argparse.ArgumentTypeError, match="positive duration"):
        positive_duration("0s")
    with pytest.raises(argparse.ArgumentTypeError, match="such as 90s, 15m, 1h or 7d"):
        duration("1w")
