"""Range headers of blob downloads (RFC 9110 §14) and Content-Range of upload chunks."""

from __future__ import annotations

import pytest

from dockyard.domain.errors import RangeInvalid, UploadInvalid
from dockyard.domain.numbers import HUGE, parse_decimal
from dockyard.domain.ranges import ByteRange, parse_content_range, parse_range, requested_range

SIZE = 10


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=5-", 5, 9),
        ("bytes=-3", 7, 9),  # suffix: the last three bytes
        ("bytes=-10", 0, 9),
        ("bytes=-50", 0, 9),  # a suffix longer than the blob is the whole blob
        ("bytes=0-0", 0, 0),
        ("bytes=9-9", 9, 9),
        ("bytes=3-100", 3, 9),  # the end is clamped to the last byte
        ("bytes=0-", 0, 9),
        ("  bytes=0-4  ", 0, 4),
        ("Bytes=0-4", 0, 4),  # range units compare case-insensitively
    ],
)
def test_satisfiable_ranges(header: str, start: int, end: int) -> None:
    byte_range = parse_range(header, SIZE)
    assert byte_range == ByteRange(start, end)
    assert byte_range.length == end - start + 1


@pytest.mark.parametrize(
    "header",
    [
        "bytes=10-",  # starts at the end
        "bytes=10-20",
        "bytes=100-",
        "bytes=5-3",  # inverted
        "bytes=-0",  # an empty suffix
        "bytes=0-1,3-4",  # multi-range is not supported
        "bytes=0-4, 6-7",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes 0-4",
        "0-4",
    ],
)
def test_unsatisfiable_or_malformed_ranges_carry_the_size(header: str) -> None:
    with pytest.raises(RangeInvalid) as caught:
        parse_range(header, SIZE)
    assert caught.value.detail == {"size": SIZE}


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=-1", "bytes=0-0"])
def test_nothing_is_satisfiable_in_an_empty_blob(header: str) -> None:
    with pytest.raises(RangeInvalid) as caught:
        parse_range(header, 0)
    assert caught.value.detail == {"size": 0}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("items=0-4", None),  # RFC 9110 §14.2: a unit the server does not know MUST be ignored
        ("garbage", None),
        ("bytes=2-3", ByteRange(2, 3)),
        ("BYTES=-2", ByteRange(8, 9)),
    ],
)
def test_requested_range_ignores_unknown_units(
    header: str | None, expected: ByteRange | None
) -> None:
    assert requested_range(header, SIZE) == expected


def test_requested_range_still_refuses_bad_byte_ranges() -> None:
    with pytest.raises(RangeInvalid):
        requested_range("bytes=20-", SIZE)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0-99", (0, 99)),
        ("100-199", (100, 199)),
        ("bytes 0-99/100", (0, 99)),
        ("bytes=0-99", (0, 99)),
        ("0-99/*", (0, 99)),
        ("5-5", (5, 5)),
        (" 1-2 ", (1, 2)),
    ],
)
def test_content_range_of_upload_chunks(header: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(header) == expected


@pytest.mark.parametrize(
    "header", ["", "abc", "5-3", "-5", "0-", "0-99/abc", "bytes 0-99/100/1", "0-1,2-3", "x0-1"]
)
def test_malformed_content_range_is_refused(header: str) -> None:
    with pytest.raises(UploadInvalid):
        parse_content_range(header)


# -- numbers HTTP cannot mean, and numbers too long for int() (issue 10: each was a 500) ------

LONG = "9" * 5000


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        (f"bytes=0-{LONG}", 0, 9),
        (f"bytes=-{LONG}", 0, 9),
        ("bytes=0000000000000000000000002-3", 2, 3),
    ],
    ids=["long-end", "long-suffix", "zero-padded"],
)
def test_long_numbers_in_ranges_are_clamped_not_fatal(header: str, start: int, end: int) -> None:
    assert parse_range(header, SIZE) == ByteRange(start, end)


@pytest.mark.parametrize(
    "header",
    [f"bytes={LONG}-", f"bytes={LONG}-{LONG}", "bytes=²-", "bytes=٣-4"],
    ids=["long-start", "long-both", "superscript", "arabic-indic"],
)
def test_long_or_non_ascii_range_starts_are_refused(header: str) -> None:
    with pytest.raises(RangeInvalid) as caught:
        parse_range(header, SIZE)
    assert len(caught.value.message) < 200  # a 5,000-digit header is not echoed whole


def test_long_content_ranges_parse_to_a_clamped_end_or_are_refused() -> None:
    start, end = parse_content_range(f"0-{LONG}")
    assert start == 0 and end == HUGE
    with pytest.raises(UploadInvalid):
        parse_content_range(f"{LONG}-0")
    with pytest.raises(UploadInvalid):
        parse_content_range("0-²")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("0042", 42),
        (str(HUGE - 1), HUGE - 1),
        (str(HUGE + 1), HUGE),
        (LONG, HUGE),
        ("0" * 5000 + "7", 7),
        ("", None),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_000", None),
        (None, None),
    ],
    ids=lambda v: repr(v) if len(repr(v)) < 30 else f"{len(v)} chars",
)
def test_parse_decimal_takes_ascii_digits_only(text: str | None, value: int | None) -> None:
    assert parse_decimal(text) == value
