"""Blobs as files under one directory: write to uploads/, fsync, then rename into blobs/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from dockyard.backends.blobs import paths
from dockyard.backends.blobs.direct_io import DirectAppender, open_direct
from dockyard.backends.blobs.file_reads import read_range
from dockyard.backends.blobs.writeback import start_writeback

CHUNK = 1024 * 1024
WRITE_SLICE = 1024 * 1024
# Writes this large switch an upload to direct I/O (see direct_io.py).
DIRECT_MIN = 1024 * 1024


class FileUploadWriter:
    def __init__(self, path: Path, offset: int) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        # Bytes past the acknowledged offset come from a write that was never acknowledged.
        os.ftruncate(fd, offset)
        self._fd, self._start, self._size = fd, offset, offset
        self._direct: DirectAppender | None = None
        self._tried_direct = False

    def write(self, data: bytes | memoryview) -> None:
        if self._direct is None and not self._tried_direct and len(data) >= DIRECT_MIN:
            # Large uploads bypass the page cache; small blobs are not worth a direct write.
            self._tried_direct = True
            self._direct = open_direct(self._fd, self._size)
        if self._direct is not None:
            self._direct.write(data)
        else:
            self._write_buffered(data)
        self._size += len(data)

    def _write_buffered(self, data: bytes | memoryview) -> None:
        view, offset = memoryview(data), self._size
        while view:
            # 1 MiB at a time: one huge write() costs the kernel far more page-cache work.
            written = os.pwrite(self._fd, view[:WRITE_SLICE], offset)
            view, offset = view[written:], offset + written
        # Start writing this batch to disk now, so the fsync before acknowledging is short.
        start_writeback(self._fd, self._size, len(data))

    def close(self) -> int:
        try:
            if self._direct is not None:
                self._direct.finish()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        return self._size

    def abort(self) -> None:
        try:
            os.ftruncate(self._fd, self._start)
        finally:
            os.close(self._fd)


class FilesystemBlobStore:
    reads_are_local = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def probe(self) -> None:
        for sub in ("blobs", "uploads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise RuntimeError(f"blob directory {self.root} is not writable")

    def stat(self, digest: str) -> int | None:
        try:
            return paths.blob_path(self.root, digest).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return read_range(paths.blob_path(self.root, digest), offset, length, CHUNK)

    def redirect_url(self, digest: str) -> str | None:
        return None

    def delete(self, digest: str) -> None:
        paths.blob_path(self.root, digest).unlink(missing_ok=True)

    def list(self) -> Iterator[str]:
        base = paths.blobs_root(self.root)
        for path in sorted(base.glob("*/*/*")):
            yield f"{path.parent.parent.name}:{path.name}"

    def start_upload(self, upload_id: str) -> None:
        path = paths.upload_path(self.root, upload_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def open_upload(self, upload_id: str, offset: int) -> FileUploadWriter:
        return FileUploadWriter(paths.upload_path(self.root, upload_id), offset)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        return read_range(paths.upload_path(self.root, upload_id), 0, size, CHUNK)

    def publish_upload(self, upload_id: str, digest: str, size: int) -> None:
        source = paths.upload_path(self.root, upload_id)
        target = paths.blob_path(self.root, digest)
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.truncate(source, size)
        os.replace(source, target)
        _fsync_dir(target.parent)

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> None:
        # The upload's own file is the temporary: written, made durable, renamed into place.
        if self.stat(digest) is None:
            writer = self.open_upload(upload_id, 0)
            try:
                writer.write(data)
            except BaseException:
                writer.abort()
                raise
            writer.close()
        self.publish_upload(upload_id, digest, len(data))

    def abort_upload(self, upload_id: str) -> None:
        paths.upload_path(self.root, upload_id).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
