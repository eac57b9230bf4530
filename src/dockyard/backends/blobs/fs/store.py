"""Blobs as files under one directory (key space in paths.py).

    open_upload      a new file uploads/<id>/<start>-<token>, created exclusively (O_EXCL): no
                     other request ever writes it; closed with fsync
    publish_upload   one segment of the right size is hard-linked into blobs/ as it is; several
                     are first joined (copy_file_range, in the kernel) into a private
                     uploads/<id>/joined-<token>, fsynced, then linked
    publish_data     the same, from bytes at hand, through a private segment
    stored_blobs, idle_uploads   what the collector's stray pass looks at (fs/inventory.py)

Publishing is `os.link`, which fails if the blob exists: a blob is never replaced, so the bytes
under a digest are the bytes that were verified for it, whoever publishes it later. Dropping
the upload's directory is the caller's business once the session is settled (`abort_upload`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from dockyard.backends.blobs.fs import inventory as file_inventory
from dockyard.backends.blobs.fs import paths
from dockyard.backends.blobs.fs.direct_io import DirectAppender, open_direct
from dockyard.backends.blobs.fs.hashing import hash_file
from dockyard.backends.blobs.fs.reads import read_range
from dockyard.backends.blobs.fs.writeback import start_writeback
from dockyard.backends.blobs.segment_names import segment_name
from dockyard.ports import StoredBlob

CHUNK = 1024 * 1024
WRITE_SLICE = 1024 * 1024
# Writes this large switch an upload to direct I/O (see fs/direct_io.py) ...
DIRECT_MIN = 1024 * 1024
# ... once the upload is past this offset. Below it, bytes go through the page cache (with
# early write-back), so a layer just pushed is served from memory on its first pull, as
# distribution's are. Direct I/O saved under a tenth of the upload's CPU but sent every first
# pull to the disk, well behind distribution's; above the limit it keeps one huge push from
# evicting everything else. Measured: benchmarks/README.md (run.py, "Page-cache policy").
CACHE_LIMIT = 1024 * 1024 * 1024
JOIN_STEP = 64 * 1024 * 1024


class FileUploadWriter:
    """Writes one segment: the upload's bytes from `offset` on, at the start of its own file."""

    def __init__(self, path: Path, offset: int, cache_limit: int = CACHE_LIMIT) -> None:
        self.segment, self._path = path.name, path
        # O_EXCL: the name is this writer's alone (a missing directory: the upload is gone).
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        # Held until close: the collector never reclaims a file a writer holds, however long
        # the request stalls (fs/inventory.py). A new file: the lock is always free.
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._start, self._written = offset, 0
        self._direct: DirectAppender | None = None
        self._tried_direct = False
        self._cache_limit = cache_limit

    def write(self, data: bytes | memoryview) -> None:
        if self._direct is None and self._goes_direct(len(data)):
            self._tried_direct = True
            self._direct = open_direct(self._fd, self._written)
        if self._direct is not None:
            self._direct.write(data)
        else:
            self._write_buffered(data)
        self._written += len(data)

    def _goes_direct(self, length: int) -> bool:
        # Past the cached part of a blob, large writes bypass the page cache; small ones are
        # not worth a direct write.
        past_limit = self._start + self._written >= self._cache_limit
        return past_limit and not self._tried_direct and length >= DIRECT_MIN

    def _write_buffered(self, data: bytes | memoryview) -> None:
        view, offset = memoryview(data), self._written
        while view:
            # 1 MiB at a time: one huge write() costs the kernel far more page-cache work.
            written = os.pwrite(self._fd, view[:WRITE_SLICE], offset)
            view, offset = view[written:], offset + written
        # Start writing this batch to disk now, so the fsync before acknowledging is short.
        start_writeback(self._fd, self._written, len(data))

    def close(self) -> int:
        try:
            if self._direct is not None:
                self._direct.finish()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        return self._start + self._written

    def abort(self) -> None:
        os.close(self._fd)
        self._path.unlink(missing_ok=True)


class FilesystemBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)

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

    def local_file(self, digest: str) -> str:
        return str(paths.blob_path(self.root, digest))

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.blob_file(self._root_text, digest))

    def list(self) -> Iterator[str]:
        base = paths.blobs_root(self.root)
        for path in sorted(base.glob("*/*/*")):
            yield f"{path.parent.parent.name}:{path.name}"

    def stored_blobs(self) -> Iterator[StoredBlob]:
        return file_inventory.stored_blobs(paths.blobs_root(self.root))

    def idle_uploads(self, idle_since: float) -> Iterator[str]:
        return file_inventory.idle_uploads(self.root / "uploads", idle_since)

    def quarantine(self, digest: str) -> str | None:
        target = paths.quarantine_path(self.root, digest, time.time_ns())
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(paths.blob_path(self.root, digest), target)
        except FileNotFoundError:
            return None
        return str(target)

    def stored_digest(
        self, digest: str, progress: Callable[[int], None] | None = None
    ) -> str | None:
        try:
            return hash_file(paths.blob_path(self.root, digest), digest.split(":", 1)[0], progress)
        except FileNotFoundError:
            return None

    # -- uploads --------------------------------------------------------------------------------

    def start_upload(self, upload_id: str) -> None:
        paths.upload_dir(self.root, upload_id).mkdir(parents=True, exist_ok=True)

    def open_upload(self, upload_id: str, offset: int) -> FileUploadWriter:
        segment = paths.staged_path(self.root, upload_id, segment_name(offset))
        return FileUploadWriter(segment, offset)

    def read_upload(self, upload_id: str, segments: Sequence[str], size: int) -> Iterator[bytes]:
        if not paths.upload_dir(self.root, upload_id).is_dir():
            raise FileNotFoundError(f"upload {upload_id} is not in {self.root}")
        return self._read_chain(upload_id, segments, size)

    def publish_upload(
        self, upload_id: str, segments: Sequence[str], digest: str, size: int
    ) -> bool:
        target = paths.blob_path(self.root, digest)
        if target.exists():
            return False
        source = self._single_segment(upload_id, segments, size)
        if source is None:
            source = self._join(upload_id, segments, size)
        return _link(source, target)

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> bool:
        if self.stat(digest) is not None:
            with contextlib.suppress(OSError):
                paths.upload_dir(self.root, upload_id).rmdir()
            return False
        self.start_upload(upload_id)
        writer = self.open_upload(upload_id, 0)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        own = paths.staged_path(self.root, upload_id, writer.segment)
        try:
            return self.publish_upload(upload_id, [writer.segment], digest, len(data))
        finally:
            # Only this call's file, then the directory if nothing else is in it: a racing
            # request of the same upload may be writing there.
            own.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                paths.upload_dir(self.root, upload_id).rmdir()

    def abort_upload(self, upload_id: str) -> None:
        shutil.rmtree(paths.upload_dir(self.root, upload_id), ignore_errors=True)

    # -- internals ------------------------------------------------------------------------------

    def _read_chain(self, upload_id: str, segments: Sequence[str], size: int) -> Iterator[bytes]:
        left = size
        for name in segments:
            if left <= 0:
                return
            for chunk in read_range(paths.staged_path(self.root, upload_id, name), 0, left, CHUNK):
                left -= len(chunk)
                yield chunk

    def _single_segment(self, upload_id: str, segments: Sequence[str], size: int) -> Path | None:
        """The one segment that is the whole blob, published as it is (no copy)."""
        if len(segments) != 1:
            return None
        path = paths.staged_path(self.root, upload_id, segments[0])
        return path if path.stat().st_size == size else None

    def _join(self, upload_id: str, segments: Sequence[str], size: int) -> Path:
        """The chain's first `size` bytes in a new private file, durable."""
        joined = paths.staged_path(self.root, upload_id, "joined-" + os.urandom(8).hex())
        out = os.open(joined, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            left = size
            for name in segments:
                left -= _copy_into(out, paths.staged_path(self.root, upload_id, name), left)
            if left:
                raise OSError(f"upload {upload_id} holds {size - left} bytes, not {size}")
            os.fsync(out)
        except BaseException:
            joined.unlink(missing_ok=True)
            raise
        finally:
            os.close(out)
        return joined


def _copy_into(out: int, source: Path, limit: int) -> int:
    """Append up to `limit` bytes of `source` to `out` inside the kernel; how many."""
    copied = 0
    with open(source, "rb", buffering=0) as handle:
        while copied < limit:
            step = os.copy_file_range(handle.fileno(), out, min(JOIN_STEP, limit - copied))
            if step == 0:
                break
            copied += step
    return copied


def _link(source: Path, target: Path) -> bool:
    """Publish `source` as `target` unless it exists (the first copy stays); durable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    _fsync_dir(target.parent)
    return True


def _fsync_dir(path: Path) -> None:
    # The new name is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
