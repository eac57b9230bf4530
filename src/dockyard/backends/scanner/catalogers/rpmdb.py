"""RPM databases read in pure Python: the header blobs, whatever the storage format.

| file           | format                               | written by                        |
|----------------|--------------------------------------|-----------------------------------|
| `rpmdb.sqlite` | SQLite, `Packages(hnum, blob)`       | rpm >= 4.16: RHEL 9, Alma/Rocky 9 |
| `Packages`     | BerkeleyDB hash, header per value    | RHEL/CentOS <= 8                  |
| `Packages.db`  | ndb                                  | SUSE: not read (no fixture maker) |

BerkeleyDB hash file (libdb `dbinc/db_page.h`; the same walk as knqyf263/go-rpmdb `pkg/bdb`,
MIT, which matched `rpm -qa` on CentOS 5-8 databases):

    page 0: metadata   magic 0x061561 @12 (its byte order is the file's), page size @20,
                       last page number @32, page type 8 @25
    hash page (type 2 or 13): entry count @20 (u16), then u16 offsets @26, key/value pairs;
        a value item starting with type 3 (H_OFFPAGE) = {type, pad[3], pgno u32, tlen u32}
        a value item starting with type 1 (H_KEYDATA) = the bytes themselves (small values)
    overflow page (type 7): next page @16, bytes used @22, data from @26

Every offset and chain is checked against the file, so a hostile database is a `ScanFailed`,
never an exception or an endless loop.
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

from dockyard.domain.scanning import ScanFailed

BDB_HASH_MAGIC = 0x061561
_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))
_HASH_PAGES = (2, 13)  # unsorted (before libdb 4.6) and sorted hash pages
_OVERFLOW, _H_KEYDATA, _H_OFFPAGE, _HEADER = 7, 1, 3, 26


# --------------------------------------------------------------------------- SQLite


def never() -> bool:
    """A deadline that never passes (for callers without a scan budget)."""
    return False


def sqlite_blobs(data: bytes, wal: bytes | None, expired: Callable[[], bool]) -> list[bytes]:
    """Header blobs of an `rpmdb.sqlite` (and its `-wal`, whose commits may not be merged yet).

    The database is copied to a private temporary directory so SQLite can replay the WAL; the
    schema is untrusted, so `Packages` must be a table (not a view that computes forever) and a
    progress handler stops any query past the scan's deadline.
    """
    with tempfile.TemporaryDirectory(prefix="dockyard-rpmdb-") as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        path.write_bytes(data)
        if wal:
            Path(f"{path}-wal").write_bytes(wal)
        try:
            return _select_blobs(path, expired)
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # SQLite's messages quote the file
            raise ScanFailed(f"rpmdb.sqlite cannot be read ({exc!r})") from None


def _select_blobs(path: Path, expired: Callable[[], bool]) -> list[bytes]:
    connection = sqlite3.connect(path)
    try:
        connection.text_factory = bytes  # a corrupt schema's text must not fail to decode
        connection.set_progress_handler(lambda: 1 if expired() else 0, 10_000)
        connection.execute("PRAGMA trusted_schema = OFF")
        kind = connection.execute(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'"
        ).fetchone()
        if kind is None or kind[0] != b"table":
            raise ScanFailed("rpmdb.sqlite has no Packages table")
        rows = connection.execute("SELECT blob FROM Packages").fetchall()
        return [bytes(row[0]) for row in rows if isinstance(row[0], bytes)]
    finally:
        connection.close()


# --------------------------------------------------------------------------- BerkeleyDB hash


def bdb_blobs(data: bytes) -> list[bytes]:
    """Every value of a BerkeleyDB hash database (for rpm: one header blob per package)."""
    order, page_size, last = _bdb_meta(data)
    blobs = []
    for page_no in range(1, last + 1):
        page = data[page_no * page_size : (page_no + 1) * page_size]
        if len(page) == page_size and page[25] in _HASH_PAGES:
            blobs += _page_values(data, page, order, page_size, last)
    return blobs


def _bdb_meta(data: bytes) -> tuple[str, int, int]:
    if len(data) < 512:
        raise ScanFailed("rpm Packages database is too short")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, 12)[0] == BDB_HASH_MAGIC:
            break
    else:
        raise ScanFailed("rpm Packages is not a BerkeleyDB hash database")
    page_size, last = (
        struct.unpack_from(order + "I", data, 20)[0],
        struct.unpack_from(order + "I", data, 32)[0],
    )
    if page_size not in _PAGE_SIZES or data[25] != 8:
        raise ScanFailed("rpm Packages has a bad BerkeleyDB metadata page")
    if data[24] != 0:
        raise ScanFailed("rpm Packages is encrypted")
    # A file shorter than its last page is truncated; the walk stops where the data does.
    return order, page_size, min(last, len(data) // page_size - 1)


def _page_values(data: bytes, page: bytes, order: str, page_size: int, last: int) -> list[bytes]:
    """The values of one hash page: items are key, value, key, value ... from the page end down.

    rpm keys each header by its instance number; key 0 holds a counter, not a header.
    """
    count = struct.unpack_from(order + "H", page, 20)[0]
    if count % 2 or _HEADER + 2 * count > page_size:
        raise ScanFailed("rpm Packages has a corrupt hash page")
    offsets = (*struct.unpack_from(f"{order}{count}H", page, _HEADER), page_size)
    values = []
    for index in range(0, count, 2):
        key = _item(page, offsets[index], offsets[index - 1] if index else page_size)
        value = _item(page, offsets[index + 1], offsets[index])
        if key == b"\1\0\0\0\0":  # H_KEYDATA of instance 0
            continue
        if value[0] == _H_OFFPAGE and len(value) >= 12:
            page_no, length = struct.unpack_from(order + "II", value, 4)
            values.append(_overflow(data, order, page_size, last, page_no, length))
        elif value[0] == _H_KEYDATA:
            values.append(value[1:])
    return values


def _item(page: bytes, start: int, end: int) -> bytes:
    """One item's bytes, its type byte first; items never overlap the header or each other."""
    if not _HEADER <= start < end <= len(page):
        raise ScanFailed("rpm Packages has a corrupt hash item")
    return page[start:end]


def _overflow(
    data: bytes, order: str, page_size: int, last: int, page_no: int, length: int
) -> bytes:
    """Follow an overflow chain; at most `last` pages, so a cycle cannot loop forever."""
    parts, total = [], 0
    for _ in range(last):
        if not 0 < page_no <= last:
            break
        page = data[page_no * page_size : (page_no + 1) * page_size]
        if page[25] != _OVERFLOW:
            raise ScanFailed("rpm Packages has a broken overflow chain")
        used = min(struct.unpack_from(order + "H", page, 22)[0], page_size - _HEADER)
        parts.append(page[_HEADER : _HEADER + used])
        total += used
        page_no = struct.unpack_from(order + "I", page, 16)[0]
        if page_no == 0 or total >= length:
            break
    value = b"".join(parts)
    if len(value) < length:
        raise ScanFailed("rpm Packages has a truncated overflow chain")
    return value[:length]
