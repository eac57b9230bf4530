"""Direct I/O for upload files, and blob reads: any alignment of offset, length and buffer
gives the same bytes, cached or not. The page-cache policy: a blob's bytes below the writer's
cache limit are written through the page cache (and stay there), past it around it."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.backends.blobs.fs import direct_io
from dockyard.backends.blobs.fs import reads as file_reads
from dockyard.backends.blobs.fs.direct_io import ALIGN, aligned_buffer, open_direct
from dockyard.backends.blobs.fs.store import CACHE_LIMIT, DIRECT_MIN, FileUploadWriter

MiB = 1024 * 1024


def _direct_supported(directory: Path) -> bool:
    fd = os.open(directory / "probe", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        appender = open_direct(fd, 0)
        if appender is not None:
            appender.finish()
        return appender is not None
    finally:
        os.close(fd)


@pytest.fixture
def disk_dir(tmp_path: Path) -> Path:
    if not _direct_supported(tmp_path):
        pytest.skip(f"{tmp_path} does not support O_DIRECT")  # e.g. a tmpfs TMPDIR
    return tmp_path


def _aligned(data: bytes):
    buffer = aligned_buffer(len(data))
    buffer[:] = data
    return memoryview(buffer)


def _write_all(path: Path, offset: int, pieces, cache_limit: int = 0) -> int:
    writer = FileUploadWriter(path, offset, cache_limit)
    for piece in pieces:
        writer.write(piece)
    return writer.close()


def test_aligned_buffers_are_written_in_place(disk_dir: Path) -> None:
    data = os.urandom(4 * MiB)
    path = disk_dir / "upload"
    writer = FileUploadWriter(path, 0, cache_limit=0)
    writer.write(_aligned(data))
    assert writer._direct is not None  # the large write switched the writer to direct I/O
    assert writer.close() == len(data)
    assert path.read_bytes() == data


@pytest.mark.parametrize("sizes", [[DIRECT_MIN + 1, 3, ALIGN - 1, 2 * MiB + 17], [MiB, MiB + 5]])
def test_unaligned_lengths_and_addresses(disk_dir: Path, sizes: list[int]) -> None:
    pieces = [os.urandom(n) for n in sizes]
    # bytes objects are not page-aligned: they go through the staging buffer.
    size = _write_all(disk_dir / "upload", 0, pieces)
    assert size == sum(sizes)
    assert (disk_dir / "upload").read_bytes() == b"".join(pieces)


def test_a_segment_at_an_unaligned_upload_offset(disk_dir: Path) -> None:
    first, second = os.urandom(DIRECT_MIN + 1234), os.urandom(2 * MiB + 99)
    assert _write_all(disk_dir / "first", 0, [first]) == len(first)
    # A second writer (a later PATCH) starts mid-block in upload terms, at 0 in its own file.
    total = _write_all(disk_dir / "second", len(first), [_aligned(second)])
    assert total == len(first) + len(second)
    assert (disk_dir / "second").read_bytes() == second


def test_small_writes_stay_buffered(disk_dir: Path) -> None:
    writer = FileUploadWriter(disk_dir / "upload", 0, cache_limit=0)
    writer.write(b"x" * 1000)
    assert writer._direct is None
    assert writer.close() == 1000


def test_abort_drops_the_segment_written_directly(disk_dir: Path) -> None:
    path = disk_dir / "segment"
    writer = FileUploadWriter(path, 5000, cache_limit=0)
    writer.write(os.urandom(3 * MiB + 3))
    writer.abort()
    assert not path.exists()


def test_a_writer_never_opens_a_file_that_exists(disk_dir: Path) -> None:
    # Each writer's segment is its own: another request's bytes are never written over.
    path = disk_dir / "segment"
    _write_all(path, 0, [b"someone else's chunk"])
    with pytest.raises(FileExistsError):
        FileUploadWriter(path, 0)
    assert path.read_bytes() == b"someone else's chunk"


def _resident_bytes(path: Path) -> int:
    """How many bytes of `path` are in the page cache (util-linux `fincore`)."""
    if shutil.which("fincore") is None:
        pytest.fail("fincore is missing (apt-get install util-linux)")
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def test_bytes_below_the_cache_limit_stay_cached_and_the_rest_goes_around(disk_dir: Path) -> None:
    data, path = os.urandom(6 * MiB), disk_dir / "upload"
    writer = FileUploadWriter(path, 0, cache_limit=2 * MiB)
    for start in range(0, len(data), MiB):
        writer.write(_aligned(data[start : start + MiB]))
    assert writer.close() == len(data)
    assert _resident_bytes(path) == 2 * MiB  # what was written directly never entered it
    assert path.read_bytes() == data


def test_a_segment_that_starts_past_the_limit_is_written_directly(disk_dir: Path) -> None:
    path = disk_dir / "later-segment"
    writer = FileUploadWriter(path, 5 * MiB, cache_limit=2 * MiB)
    writer.write(_aligned(os.urandom(2 * MiB)))
    assert writer._direct is not None
    writer.close()
    assert _resident_bytes(path) == 0


def test_a_blob_below_the_default_limit_is_cached_whole(disk_dir: Path) -> None:
    assert CACHE_LIMIT >= 256 * MiB  # the policy the benchmarks chose (fs/store.py)
    data, path = os.urandom(8 * MiB + 5), disk_dir / "upload"
    pieces = [_aligned(data[: 8 * MiB]), data[8 * MiB :]]
    assert _write_all(path, 0, pieces, CACHE_LIMIT) == len(data)
    page = os.sysconf("SC_PAGE_SIZE")
    assert _resident_bytes(path) == -(-len(data) // page) * page  # whole pages


def test_filesystems_without_direct_io_get_buffered_writes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(direct_io, "O_DIRECT", 0)  # as on a platform without O_DIRECT
    data = os.urandom(3 * MiB + 1)
    writer = FileUploadWriter(tmp_path / "upload", 0, cache_limit=0)
    writer.write(data)
    assert writer._direct is None
    assert writer.close() == len(data)
    assert (tmp_path / "upload").read_bytes() == data


def test_tmpfs_uploads_are_correct_either_way() -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    path = shm / f"dockyard-direct-{os.getpid()}"
    try:
        data = os.urandom(2 * MiB + 5)
        assert _write_all(path, 0, [_aligned(data[: 2 * MiB]), data[2 * MiB :]]) == len(data)
        assert path.read_bytes() == data
    finally:
        path.unlink(missing_ok=True)


# -- reads ----------------------------------------------------------------------------------


def _cold_file(directory: Path, size: int) -> tuple[Path, bytes]:
    """A file written with direct I/O, so none of it is in the page cache."""
    data = os.urandom(size)
    (directory / "blob").unlink(missing_ok=True)
    _write_all(directory / "blob", 0, [_aligned(data)])
    return directory / "blob", data


def _read(path: Path, offset: int, length: int | None) -> bytes:
    return b"".join(file_reads.read_range(path, offset, length, MiB))


def test_reads_advise_the_kernel_ahead_within_the_range(disk_dir: Path, monkeypatch) -> None:
    path, data = _cold_file(disk_dir, 200 * MiB + 77)
    advice: list[tuple[int, int, int]] = []
    real = file_reads._ADVISE
    monkeypatch.setattr(file_reads, "_ADVISE", lambda *a: advice.append(a[1:]) or real(*a))
    offset, length = 3 * MiB + 5, 150 * MiB
    assert _read(path, offset, length) == data[offset : offset + length]
    will_need = [(start, size) for start, size, kind in advice if kind == os.POSIX_FADV_WILLNEED]
    assert will_need[0][0] == offset
    for (start, size), (following, _) in itertools.pairwise(will_need):
        assert following == start + size  # contiguous, each part advised once
    assert will_need[-1][0] + will_need[-1][1] == offset + length  # and never past the range
    assert max(size for _, size in will_need) == file_reads.ADVICE_STEP


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 1), (1, 100), (4095, 2 * MiB + 3), (3 * MiB, 77), (3 * MiB + 70, 100), (5, None)],
)
def test_ranges_of_cold_and_cached_files(disk_dir: Path, offset: int, length: int | None) -> None:
    path, data = _cold_file(disk_dir, 3 * MiB + 77)
    expected = data[offset:] if length is None else data[offset : offset + length]
    assert _read(path, offset, length) == expected  # cold
    assert _read(path, offset, length) == expected  # the same, whatever is cached by now
    cached = disk_dir / "cached"
    cached.write_bytes(data)
    assert _read(cached, offset, length) == expected


def test_a_missing_file_raises_when_the_read_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_reads.read_range(tmp_path / "missing", 0, None, MiB)


def test_an_abandoned_read_closes_its_file(disk_dir: Path) -> None:
    path, data = _cold_file(disk_dir, 8 * MiB)
    before = len(os.listdir("/proc/self/fd"))
    chunks = file_reads.read_range(path, 0, None, MiB)
    assert next(chunks) == data[:MiB]
    assert len(os.listdir("/proc/self/fd")) == before + 1
    chunks.close()  # the client went away
    assert len(os.listdir("/proc/self/fd")) == before
    assert _read(path, 0, None) == data
