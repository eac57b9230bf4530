"""HTTP byte ranges for blob downloads (RFC 9110 §14), reduced to what registries need."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.domain.errors import RangeInvalid, UploadInvalid
from dockyard.domain.numbers import decimal_value

# ASCII digits only (`\d` would take any script's); values are clamped by `decimal_value`, so a
# 5,000-digit number is just "past the end", not an error of `int`.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def requested_range(header: str | None, size: int) -> ByteRange | None:
    """The range a download asks for; None for no header or a unit other than bytes.

    RFC 9110 §14.2: a server MUST ignore a Range header whose unit it does not understand.
    """
    if not header or header.split("=", 1)[0].strip().lower() != "bytes":
        return None
    return parse_range(header, size)


def parse_range(header: str, size: int) -> ByteRange:
    """One range of a blob of `size` bytes; multi-range and unsatisfiable ranges are refused."""
    match = _RANGE.fullmatch(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        raise RangeInvalid(f"unsupported range {_shown(header)}", size=size)
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        count = decimal_value(last)
        if count == 0 or size == 0:
            raise RangeInvalid(f"unsatisfiable range {_shown(header)}", size=size)
        return ByteRange(max(0, size - count), size - 1)
    start = decimal_value(first)
    end = min(decimal_value(last), size - 1) if last else size - 1
    if start >= size or (last and decimal_value(last) < start):
        raise RangeInvalid(f"unsatisfiable range {_shown(header)}", size=size)
    return ByteRange(start, end)


def parse_content_range(header: str) -> tuple[int, int]:
    """The `start-end` of an upload chunk (both inclusive), as the OCI spec writes it."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise UploadInvalid(f"invalid Content-Range {_shown(header)}")
    start, end = decimal_value(match.group(1)), decimal_value(match.group(2))
    if end < start:
        raise UploadInvalid(f"invalid Content-Range {_shown(header)}")
    return start, end


def _shown(header: str) -> str:
    """The header for a message, shortened: a client may send kilobytes of it."""
    return repr(header if len(header) <= 100 else header[:100] + "...")
