"""Blobs in a dict: a real, complete implementation for tests (it passes the contract suite).

_blobs[digest]                      published bytes
_uploads[upload id][segment name]   one bytearray per writer (see ports.BlobStore)
_quarantine[digest]                 blobs moved aside by `quarantine`
_stored_at, _opened_at              when each blob was published, each upload last written to
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from dockyard.backends.blobs.segment_names import segment_name
from dockyard.ports import StoredBlob

CHUNK = 1024 * 1024


class MemoryUploadWriter:
    def __init__(self, segments: dict[str, bytearray], offset: int) -> None:
        self.segment = segment_name(offset)
        self._segments, self._start = segments, offset
        self._buffer = segments[self.segment] = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self._buffer += data

    def close(self) -> int:
        return self._start + len(self._buffer)

    def abort(self) -> None:
        self._segments.pop(self.segment, None)


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, dict[str, bytearray]] = {}
        self._quarantine: dict[str, bytes] = {}
        self._stored_at: dict[str, float] = {}
        self._opened_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def probe(self) -> None:
        return None

    def stat(self, digest: str) -> int | None:
        blob = self._blobs.get(digest)
        return None if blob is None else len(blob)

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        blob = self._blobs[digest]
        end = len(blob) if length is None else min(len(blob), offset + length)
        return (blob[i : min(i + CHUNK, end)] for i in range(offset, end, CHUNK))

    def redirect_url(self, digest: str) -> str | None:
        return None

    def delete(self, digest: str) -> None:
        self._blobs.pop(digest, None)
        self._stored_at.pop(digest, None)

    def list(self) -> Iterator[str]:
        return iter(sorted(self._blobs))

    def stored_digest(
        self, digest: str, progress: Callable[[int], None] | None = None
    ) -> str | None:
        blob = self._blobs.get(digest)
        if blob is None:
            return None
        if progress is not None:
            progress(len(blob))
        return hashlib.new(digest.split(":", 1)[0], blob).hexdigest()

    def corrupt(self, digest: str, data: bytes) -> None:
        """Replace a blob's bytes behind the store's back (for tests of `dockyard verify`)."""
        self._blobs[digest] = data

    def quarantine(self, digest: str) -> str | None:
        with self._lock:
            blob = self._blobs.pop(digest, None)
            if blob is None:
                return None
            self._quarantine[digest] = blob
        return f"memory:quarantine/{digest}"

    def stored_blobs(self) -> Iterator[StoredBlob]:
        for digest in sorted(self._blobs):
            yield StoredBlob(digest, len(self._blobs[digest]), self._stored_at.get(digest, 0.0))

    def idle_uploads(self, idle_since: float) -> Iterator[str]:
        """By the last start or new segment (this store cannot see a writer still open)."""
        return iter(sorted(u for u in self._uploads if self._opened_at.get(u, 0.0) < idle_since))

    def start_upload(self, upload_id: str) -> None:
        self._uploads[upload_id] = {}
        self._opened_at[upload_id] = time.time()

    def open_upload(self, upload_id: str, offset: int) -> MemoryUploadWriter:
        self._opened_at[upload_id] = time.time()
        return MemoryUploadWriter(self._uploads.setdefault(upload_id, {}), offset)

    def read_upload(self, upload_id: str, segments: Sequence[str], size: int) -> Iterator[bytes]:
        data = self._joined(upload_id, segments)[:size]
        return (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))

    def publish_upload(
        self, upload_id: str, segments: Sequence[str], digest: str, size: int
    ) -> bool:
        data = self._joined(upload_id, segments)
        if len(data) < size:
            raise OSError(f"upload {upload_id} holds {len(data)} bytes, not {size}")
        return self._publish(upload_id, digest, data[:size])

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> bool:
        return self._publish(upload_id, digest, bytes(data))

    def abort_upload(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)
        self._opened_at.pop(upload_id, None)

    def _joined(self, upload_id: str, segments: Sequence[str]) -> bytes:
        held = self._uploads.get(upload_id)
        if held is None or any(name not in held for name in segments):
            raise FileNotFoundError(f"upload {upload_id} or a segment of it is gone")
        return b"".join(bytes(held[name]) for name in segments)

    def _publish(self, upload_id: str, digest: str, data: bytes) -> bool:
        with self._lock:
            self._uploads.pop(upload_id, None)
            self._opened_at.pop(upload_id, None)
            created = digest not in self._blobs
            self._blobs.setdefault(digest, data)
            self._stored_at.setdefault(digest, time.time())
        return created
