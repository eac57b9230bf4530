"""Layer blobs as untrusted byte streams: limits, decompression, a forward-only tar stream.

    open_blob(digest) ─► _Source (compressed bytes, counted)
                      ─► decoder (gzip | zstd | plain, picked by magic bytes, media type as a check)
                      ─► LayerStream (forward-only file object: read, seek forward, peek)
                      ─► view.read_layer (tar members ─► LayerDelta)

Nothing is written to disk, and view.py keeps only entries on the catalogers' allowlists, so
memory stays small whatever the layer size. Skipped entry data is inflated and dropped in 1 MiB
steps (gzip cannot seek); the inflater is the ceiling, so ISA-L's (`isal`, much faster than
zlib's; benchmarks/README.md) is used when installed.

Every limit lives in `Limits` and is charged to one `Budget` per image. Breaking any limit, a
corrupt stream, a truncated tar (one that ends without its end-of-archive block) or a path that
climbs out of the image root raises `ScanFailed` with the reason; no other exception is meant
to escape (inventory.py converts any that still do).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dockyard.domain.scanning import ScanFailed

_inflate: ModuleType = zlib
try:  # ISA-L's inflate is much faster than zlib's; the API is zlib's.
    from isal import isal_zlib

    _inflate = isal_zlib
except ImportError:  # pragma: no cover - isal ships wheels for the usual platforms
    pass

MiB = 1 << 20
GiB = 1 << 30
CHUNK = MiB  # inflated bytes per step: big enough that per-call overhead vanishes
READ = 256 * 1024  # compressed bytes per read from the blob store
ZERO_BLOCK = bytes(512)  # a tar block of zeros: the end of the archive
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Limits:
    """Caps on the work one image may cause; every one of them is a `ScanFailed` when broken."""

    max_layers: int = 256
    max_compressed_bytes: int = 16 * GiB  # read from the blob store, all layers
    max_uncompressed_bytes: int = 64 * GiB  # inflated tar bytes, all layers
    max_entries: int = 2_000_000  # tar members, all layers
    max_file_bytes: int = MiB  # one kept small file: os-release, METADATA, package.json ...
    max_db_bytes: int = 128 * MiB  # one kept package database: dpkg status, apk, rpmdb
    max_kept_bytes: int = 1 * GiB  # all kept file data together (held in memory)
    max_config_bytes: int = 8 * MiB
    max_symlink_hops: int = 40  # as Linux's MAXSYMLINKS
    max_seconds: float = 600.0


def size_text(n: int) -> str:
    """Bytes for people: 64 MiB, 1.5 GiB, 512 bytes."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


class Budget:
    """What one image has used so far; every charge checks its cap and the deadline."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.deadline = clock() + limits.max_seconds
        self.compressed = self.uncompressed = self.entries = self.kept = 0

    def read(self, n: int) -> None:
        self.compressed += n
        self._cap(self.compressed, self.limits.max_compressed_bytes, "compressed layer bytes")

    def inflated(self, n: int) -> None:
        self.uncompressed += n
        self._cap(self.uncompressed, self.limits.max_uncompressed_bytes, "uncompressed layer bytes")
        self.check_time()

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ScanFailed(f"image has more than {self.limits.max_entries} tar entries")
        if self.entries & 255 == 0:  # the clock is cheap, but not free per entry
            self.check_time()

    def keep(self, n: int) -> None:
        self.kept += n
        self._cap(self.kept, self.limits.max_kept_bytes, "bytes of package metadata")

    def expired(self) -> bool:
        return self.clock() > self.deadline

    def check_time(self) -> None:
        if self.expired():
            raise ScanFailed(f"image inventory took longer than {self.limits.max_seconds:g} s")

    @staticmethod
    def _cap(used: int, cap: int, what: str) -> None:
        if used > cap:
            raise ScanFailed(f"image has more than {size_text(cap)} of {what}")


# --------------------------------------------------------------------------- compressed bytes


class _Source:
    """A blob's bytes as `read(n)`, whether `open_blob` gave a file object or an iterator."""

    def __init__(self, opened: Any, budget: Budget, where: str) -> None:
        self._file = opened if hasattr(opened, "read") else None
        self._chunks = None if self._file is not None else iter(opened)
        self._view = memoryview(b"")  # bytes taken from the source but not yet handed out
        self._budget, self._where = budget, where

    def head(self, n: int) -> bytes:
        """The first bytes, left in place for the next `read` (to sniff the compression)."""
        data = b""
        while len(data) < n and (more := self.read(n - len(data))):
            data += more
        self._view = memoryview(data + bytes(self._view))
        return data

    def read(self, n: int = READ) -> bytes:
        if not self._view:
            self._view = memoryview(self._pull(n))
        data, self._view = bytes(self._view[:n]), self._view[n:]
        return data

    def _pull(self, n: int) -> bytes:
        try:
            if self._file is not None:
                data = self._file.read(n)
            else:
                data = next(self._chunks, b"")  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any blob store error means the same to a scan
            raise ScanFailed(f"{self._where} cannot be read from storage ({exc!r})") from None
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ScanFailed(f"blob store returned {type(data).__name__}, not bytes")
        self._budget.read(len(data))
        return bytes(data)


class _Plain:
    def __init__(self, source: _Source, where: str) -> None:
        self._source = source

    def chunk(self) -> bytes:
        return self._source.read(CHUNK)


class _Gzip:
    """Inflate gzip members one after another (pigz and others write several), bounded output."""

    def __init__(self, source: _Source, where: str) -> None:
        self._source, self._where = source, where
        self._inflater = _inflate.decompressobj(16 + zlib.MAX_WBITS)

    def chunk(self) -> bytes:
        try:
            while True:
                out = self._step()
                if out is None or out:
                    return out or b""
        except (zlib.error, _inflate.error) as exc:  # type: ignore[misc] # both are exceptions
            raise ScanFailed(f"{self._where}: corrupt gzip data ({exc})") from None

    def _step(self) -> bytes | None:
        """Inflated bytes (maybe none yet), or None at the end of the last member."""
        inflater = self._inflater
        if inflater.eof:
            return self._next_member(inflater.unused_data)
        data = inflater.unconsumed_tail or self._source.read(READ)
        if not data:
            raise ScanFailed(f"{self._where}: gzip stream is truncated")
        # max_length bounds what one call may produce: a few bytes of a bomb cannot allocate GiBs.
        return inflater.decompress(data, CHUNK)

    def _next_member(self, rest: bytes) -> bytes | None:
        if len(rest) < len(GZIP_MAGIC):
            rest += self._source.read(READ)
        if not rest.strip(b"\0"):  # the end, or the zero padding some writers append
            self._drain_zeros()
            return None
        if not rest.startswith(GZIP_MAGIC):
            raise ScanFailed(f"{self._where}: data after the end of the gzip stream")
        self._inflater = _inflate.decompressobj(16 + zlib.MAX_WBITS)
        return self._inflater.decompress(rest, CHUNK)

    def _drain_zeros(self) -> None:
        while data := self._source.read(READ):
            if data.strip(b"\0"):
                raise ScanFailed(f"{self._where}: data after the end of the gzip stream")


class _Zstd:
    def __init__(self, source: _Source, where: str) -> None:
        import zstandard  # imported here: only zstd layers need it

        self._where, self._error = where, zstandard.ZstdError
        # A 128 MiB window is zstd's default cap for decoders; larger ones are refused.
        decompressor = zstandard.ZstdDecompressor(max_window_size=128 * MiB)
        self._reader = decompressor.stream_reader(  # any object with read(n) will do
            source,  # type: ignore[arg-type]
            read_size=READ,
            read_across_frames=True,
        )

    def chunk(self) -> bytes:
        try:
            return self._reader.read(CHUNK)
        except self._error as exc:
            raise ScanFailed(f"{self._where}: corrupt zstd data ({exc})") from None


def _decoder_for(media_type: str, head: bytes) -> type[_Plain | _Gzip | _Zstd] | None:
    """Magic bytes decide; the media type only says what a stream without them must be."""
    if head.startswith(GZIP_MAGIC):
        return _Gzip
    if head.startswith(ZSTD_MAGIC):
        return _Zstd
    claims = media_type.rsplit("+", 1)[-1] if "+" in media_type else media_type.rsplit(".", 1)[-1]
    return None if claims in ("gzip", "zstd") else _Plain


# --------------------------------------------------------------------------- tar bytes


class LayerStream:
    """The inflated tar as a forward-only file object: `read`, `seek` forward, `peek`, `tell`.

    The tar reader (view.members) only moves forward, so skipping an entry's data means
    inflating and dropping it here, a chunk at a time, without copying it anywhere.
    """

    def __init__(self, decoder: _Plain | _Gzip | _Zstd, budget: Budget, where: str) -> None:
        self._next, self._budget, self._where = decoder.chunk, budget, where
        # A zero-byte blob is an empty layer; zero bytes out of a compressed stream mean the
        # stream was cut (zstd's reader reports an unfinished frame as a plain end).
        self.empty_ok = isinstance(decoder, _Plain)
        self._buf = b""
        self._off = 0  # read position inside _buf
        self._base = 0  # stream offset of _buf[0]
        # Bounds every read, tar headers (PAX, GNU long names) included: no header allocates GiBs.
        self.max_read = max(budget.limits.max_db_bytes, MiB)

    def tell(self) -> int:
        return self._base + self._off

    def _fill(self) -> bool:
        """Replace the (consumed) buffer with the next inflated chunk; False at the end."""
        chunk = self._next()
        if not chunk:
            return False
        self._budget.inflated(len(chunk))
        self._base += len(self._buf)
        self._buf, self._off = chunk, 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.max_read:
            raise ScanFailed(
                f"{self._where}: a tar entry or header is larger than {size_text(self.max_read)}"
            )
        end = self._off + n
        if end <= len(self._buf):
            self._off = end
            return self._buf[end - n : end]
        parts, wanted = [self._buf[self._off :]], n - (len(self._buf) - self._off)
        self._off = len(self._buf)
        while wanted > 0 and self._fill():
            take = min(wanted, len(self._buf))
            parts.append(self._buf[:take])
            self._off, wanted = take, wanted - take
        return b"".join(parts)

    def seek(self, pos: int, whence: int = 0) -> int:
        skip = pos - self.tell()
        if whence != 0 or skip < 0:
            raise ScanFailed(f"{self._where}: tar reader tried to seek backwards")
        while skip > 0:
            if self._off == len(self._buf) and not self._fill():
                raise ScanFailed(f"{self._where}: tar is truncated inside an entry")
            step = min(skip, len(self._buf) - self._off)
            self._off += step
            skip -= step
        return pos

    def peek(self, n: int) -> bytes:
        """The next `n` bytes (fewer at the end) without consuming them."""
        while len(self._buf) - self._off < n:
            rest = self._buf[self._off :]
            if not self._fill():
                break
            self._base -= len(rest)
            self._buf = rest + self._buf
        return self._buf[self._off : self._off + n]

    def drain(self) -> None:
        """Inflate what follows the end-of-archive blocks, so gzip's CRC check runs."""
        while self._fill():
            self._off = len(self._buf)


def open_layer(
    open_blob: Callable[[str], Any], digest: str, media_type: str, budget: Budget
) -> LayerStream:
    """A `LayerStream` over one layer blob; ScanFailed if the blob is missing or not a layer."""
    where = f"layer {digest}"
    try:
        source = _Source(open_blob(digest), budget, where)
        head = source.head(len(ZSTD_MAGIC))
    except ScanFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any blob store error means the same to a scan
        raise ScanFailed(f"{where} cannot be read from storage ({exc!r})") from None
    decoder = _decoder_for(media_type, head)
    if decoder is None:
        raise ScanFailed(f"{where}: not {media_type.rsplit('+', 1)[-1]} data (bad magic bytes)")
    return LayerStream(decoder(source, where), budget, where)
