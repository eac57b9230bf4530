"""Blobs in a dict: a real, complete implementation for tests (it passes the contract suite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

CHUNK = 1024 * 1024


class MemoryUploadWriter:
    def __init__(self, buffer: bytearray, offset: int) -> None:
        del buffer[offset:]
        self._buffer, self._start = buffer, offset

    def write(self, data: bytes) -> None:
        self._buffer += data

    def close(self) -> int:
        return len(self._buffer)

    def abort(self) -> None:
        del self._buffer[self._start :]


class MemoryBlobStore:
    reads_are_local = True

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, bytearray] = {}
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

    def list(self) -> Iterator[str]:
        return iter(sorted(self._blobs))

    def start_upload(self, upload_id: str) -> None:
        self._uploads[upload_id] = bytearray()

    def open_upload(self, upload_id: str, offset: int) -> MemoryUploadWriter:
        buffer = self._uploads.setdefault(upload_id, bytearray())
        return MemoryUploadWriter(buffer, offset)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        data = bytes(self._uploads[upload_id][:size])
        return (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))

    def publish_upload(self, upload_id: str, digest: str, size: int) -> None:
        with self._lock:
            data = self._uploads.pop(upload_id)
            self._blobs.setdefault(digest, bytes(data[:size]))

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> None:
        with self._lock:
            self._uploads.pop(upload_id, None)
            self._blobs.setdefault(digest, bytes(data))

    def abort_upload(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)
