"""HTTP byte ranges for blob downloads (RFC 9110 §14), reduced to what registries need."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.domain.errors import RangeInvalid, UploadInvalid

_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


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
        raise RangeInvalid(f"unsupported range {header!r}", size=size)
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeInvalid(f"unsatisfiable range {header!r}", size=size)
        return ByteRange(max(0, size - count), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeInvalid(f"unsatisfiable range {header!r}", size=size)
    return ByteRange(start, end)


def parse_content_range(header: str) -> tuple[int, int]:
    """The `start-end` of an upload chunk (both inclusive), as the OCI spec writes it."""
    match = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?", header.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        raise UploadInvalid(f"invalid Content-Range {header!r}")
    start, end = int(match.group(1)), int(match.group(2))
    return start, end
