"""The BlobStore contract: what every blob backend must do, whatever holds the bytes.

A backend's test module subclasses `BlobStoreContract` (as a `Test*` class) and provides one
fixture, `store`, yielding a ready store. Optionally it overrides `upload_exists` when reading an
unknown upload does not raise `LookupError` or `OSError` (S3 keeps nothing for an upload without
bytes, so it cannot tell an unknown upload from an empty one; the metadata store can).

The suite fails if a test leaves data behind: after each test the store must hold no blobs and
none of the uploads the test started. Tests therefore delete what they publish, which also lets
the suite run against a shared bucket. What the suite relies on, beyond the port's docstrings:

- `read_upload(id, chain, n)` never returns bytes past the chain's end;
- reading an upload that does not exist (never started, or aborted) raises, unless the backend
  overrides `upload_exists`;
- `abort_upload` of an unknown upload is a no-op.

An upload here is a `Staging`: its id and the chain of segments a test acknowledged, as the
metadata store keeps it for the upload service.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from dockyard.ports import BlobStore

MiB = 1024 * 1024
MAX_CHUNK = MiB  # "chunks of about 1 MiB": never more, so a 10 GiB read has constant memory
EVERYTHING = 1 << 40  # a `size` larger than any upload here: read_upload gives what there is


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def joined(chunks: Iterator[bytes]) -> bytes:
    return b"".join(chunks)


@dataclass
class Staging:
    """An upload and its acknowledged chain of segments."""

    id: str
    segments: list[str] = field(default_factory=list)


class BlobStoreContract:
    """Subclass as `Test<Backend>BlobStore` with a `store` fixture."""

    # -- hooks -----------------------------------------------------------------------------------

    def upload_exists(self, store: BlobStore, upload_id: str) -> bool:
        """Whether the store still holds the upload; override for stores that raise otherwise."""
        try:
            joined(store.read_upload(upload_id, [], 0))
        except (LookupError, OSError):
            return False
        return True

    def drop_quarantined(self, store: BlobStore, where: str) -> None:
        """Remove what `quarantine` moved aside (a shared bucket must be left empty)."""

    def assert_clean(self, store: BlobStore, upload_ids: list[str]) -> None:
        """The store holds no blobs and none of `upload_ids`."""
        assert list(store.list()) == [], "blobs left behind"
        left = [u for u in upload_ids if self.upload_exists(store, u)]
        assert left == [], "uploads left behind"

    # -- fixtures --------------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def started(self, store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
        """Upload ids the test started (recorded by wrapping start_upload), checked afterwards."""
        ids: list[str] = []
        original = store.start_upload

        def start_upload(upload_id: str) -> None:
            ids.append(upload_id)
            original(upload_id)

        monkeypatch.setattr(store, "start_upload", start_upload)
        yield ids
        self.assert_clean(store, ids)

    @pytest.fixture
    def new_upload(self, store: BlobStore) -> Callable[..., Staging]:
        """Start an upload, optionally holding `data` (written, closed, acknowledged)."""

        def make(data: bytes = b"") -> Staging:
            upload = Staging(str(uuid.uuid4()))
            store.start_upload(upload.id)
            if data:
                write(store, upload, 0, data)
            return upload

        return make

    @pytest.fixture
    def publish(self, store: BlobStore, new_upload: Callable[..., str]) -> Callable[[bytes], str]:
        """Publish `data` as a blob and return its digest (the test deletes it)."""

        def make(data: bytes) -> str:
            digest, upload = sha256(data), new_upload(data)
            store.publish_upload(upload.id, upload.segments, digest, len(data))
            store.abort_upload(upload.id)
            return digest

        return make

    # -- probe and stat --------------------------------------------------------------------------

    def test_probe_passes_on_a_usable_store(self, store: BlobStore) -> None:
        assert store.probe() is None

    def test_stat_of_a_missing_blob_is_none(self, store: BlobStore) -> None:
        assert store.stat(sha256(b"never stored")) is None

    def test_an_empty_store_lists_nothing(self, store: BlobStore) -> None:
        assert list(store.list()) == []

    # -- writing uploads -------------------------------------------------------------------------

    def test_close_returns_the_upload_size_across_writers(
        self, store: BlobStore, new_upload
    ) -> None:
        upload = new_upload()
        writer = store.open_upload(upload.id, 0)
        writer.write(b"abc")
        writer.write(b"de")
        assert writer.close() == 5
        upload.segments.append(writer.segment)
        assert write(store, upload, 5, b"fg") == 7
        assert joined(store.read_upload(upload.id, upload.segments, 7)) == b"abcdefg"
        store.abort_upload(upload.id)

    def test_a_segment_left_out_of_the_chain_is_not_read(
        self, store: BlobStore, new_upload
    ) -> None:
        # " world" reached storage but was never acknowledged (its process died, or another
        # request won the upload): the chain goes on from byte 5 without it.
        upload = new_upload(b"hello")
        lost = store.open_upload(upload.id, 5)
        lost.write(b" world")
        lost.close()
        assert write(store, upload, 5, b"!!") == 7
        assert joined(store.read_upload(upload.id, upload.segments, EVERYTHING)) == b"hello!!"
        store.abort_upload(upload.id)

    def test_two_writers_at_one_offset_never_share_a_segment(
        self, store: BlobStore, new_upload
    ) -> None:
        upload = new_upload(b"abc")
        first, second = store.open_upload(upload.id, 3), store.open_upload(upload.id, 3)
        assert first.segment != second.segment
        first.write(b"AAA")
        second.write(b"BBBB")
        assert (first.close(), second.close()) == (6, 7)
        for writer, expected in ((first, b"abcAAA"), (second, b"abcBBBB")):
            chain = [*upload.segments, writer.segment]
            assert joined(store.read_upload(upload.id, chain, EVERYTHING)) == expected
        store.abort_upload(upload.id)

    def test_writers_racing_on_one_offset_keep_their_own_bytes(
        self, store: BlobStore, new_upload
    ) -> None:
        upload, writers = new_upload(b"head"), 4
        barrier, segments = threading.Barrier(writers), {}

        def race(i: int) -> None:
            writer = store.open_upload(upload.id, 4)
            barrier.wait()
            for _ in range(8):
                writer.write(bytes([i]) * 1000)
            writer.close()
            segments[i] = writer.segment

        threads = [threading.Thread(target=race, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, segment in segments.items():
            chain = [*upload.segments, segment]
            assert (
                joined(store.read_upload(upload.id, chain, EVERYTHING))
                == b"head" + bytes([i]) * 8000
            )
        store.abort_upload(upload.id)

    def test_abort_drops_the_writers_segment(self, store: BlobStore, new_upload) -> None:
        upload = new_upload(b"abc")
        writer = store.open_upload(upload.id, 3)
        writer.write(b"def")
        writer.abort()
        assert joined(store.read_upload(upload.id, upload.segments, EVERYTHING)) == b"abc"
        assert write(store, upload, 3, b"g") == 4
        assert joined(store.read_upload(upload.id, upload.segments, EVERYTHING)) == b"abcg"
        store.abort_upload(upload.id)

    def test_read_upload_returns_the_first_size_bytes(self, store: BlobStore, new_upload) -> None:
        upload = new_upload(b"01234")
        write(store, upload, 5, b"56789")
        assert joined(store.read_upload(upload.id, upload.segments, 4)) == b"0123"
        assert joined(store.read_upload(upload.id, upload.segments, 7)) == b"0123456"
        assert joined(store.read_upload(upload.id, upload.segments, 10)) == b"0123456789"
        assert joined(store.read_upload(upload.id, upload.segments, 0)) == b""
        store.abort_upload(upload.id)

    def test_read_upload_streams_in_chunks(self, store: BlobStore, new_upload) -> None:
        data = pattern(3 * MiB + 5)
        upload = new_upload(data)
        chunks = list(store.read_upload(upload.id, upload.segments, len(data)))
        assert max(map(len, chunks)) <= MAX_CHUNK
        assert b"".join(chunks) == data
        store.abort_upload(upload.id)

    def test_abort_upload_removes_it_and_is_idempotent(self, store: BlobStore, new_upload) -> None:
        upload = new_upload(b"bytes")
        assert self.upload_exists(store, upload.id)
        store.abort_upload(upload.id)
        assert not self.upload_exists(store, upload.id)
        store.abort_upload(upload.id)
        store.abort_upload(str(uuid.uuid4()))

    def test_a_started_upload_reads_as_empty(self, store: BlobStore, new_upload) -> None:
        upload = new_upload()
        assert joined(store.read_upload(upload.id, [], EVERYTHING)) == b""
        assert write(store, upload, 0, b"then bytes") == 10
        store.abort_upload(upload.id)

    def test_uploads_are_independent(self, store: BlobStore, new_upload) -> None:
        first, second = new_upload(b"first"), new_upload(b"second")
        store.abort_upload(first.id)
        assert joined(store.read_upload(second.id, second.segments, EVERYTHING)) == b"second"
        store.abort_upload(second.id)

    # -- publishing ------------------------------------------------------------------------------

    def test_nothing_is_visible_before_publish(self, store: BlobStore, new_upload) -> None:
        data = b"complete but unpublished"
        upload = new_upload(data)
        assert store.stat(sha256(data)) is None
        assert sha256(data) not in list(store.list())
        store.abort_upload(upload.id)

    def test_publish_makes_the_exact_bytes_visible(self, store: BlobStore, new_upload) -> None:
        data = b"layer bytes"
        digest, upload = sha256(data), new_upload(data)
        assert store.publish_upload(upload.id, upload.segments, digest, len(data)) is True
        assert store.stat(digest) == len(data)
        assert joined(store.read(digest)) == data
        assert list(store.list()) == [digest]
        store.abort_upload(upload.id)  # the caller drops the staging once the session is settled
        assert not self.upload_exists(store, upload.id)
        assert joined(store.read(digest)) == data
        store.delete(digest)

    def test_publish_joins_the_chain(self, store: BlobStore, new_upload) -> None:
        data = pattern(2 * MiB + 77)
        upload = new_upload(data[:MiB])
        write(store, upload, MiB, data[MiB : MiB + 5])
        write(store, upload, MiB + 5, data[MiB + 5 :])
        digest = sha256(data)
        assert store.publish_upload(upload.id, upload.segments, digest, len(data)) is True
        store.abort_upload(upload.id)
        assert joined(store.read(digest)) == data
        store.delete(digest)

    def test_publish_takes_only_the_first_size_bytes(self, store: BlobStore, new_upload) -> None:
        digest, upload = sha256(b"hello"), new_upload(b"hello world")
        store.publish_upload(upload.id, upload.segments, digest, 5)
        store.abort_upload(upload.id)
        assert store.stat(digest) == 5
        assert joined(store.read(digest)) == b"hello"
        store.delete(digest)

    def test_publish_refuses_a_chain_shorter_than_the_size(
        self, store: BlobStore, new_upload
    ) -> None:
        upload = new_upload(b"short")
        with pytest.raises((OSError, LookupError)):
            store.publish_upload(upload.id, upload.segments, sha256(b"short!"), 6)
        assert store.stat(sha256(b"short!")) is None
        store.abort_upload(upload.id)

    def test_publishing_an_upload_dropped_meanwhile_raises_file_not_found(
        self, store: BlobStore, new_upload
    ) -> None:
        # A racing request of the same upload finished it and dropped its staging first.
        upload = new_upload(b"raced")
        store.abort_upload(upload.id)
        with pytest.raises(FileNotFoundError):
            store.publish_upload(upload.id, upload.segments, sha256(b"raced"), 5)
        with pytest.raises(FileNotFoundError):
            joined(store.read_upload(upload.id, upload.segments, 5))
        assert store.stat(sha256(b"raced")) is None

    def test_publishing_an_existing_digest_keeps_the_original(
        self, store: BlobStore, new_upload, publish
    ) -> None:
        digest = publish(b"original")
        # The store trusts the digest it is given (services verify); content already there wins.
        duplicate = new_upload(b"impostor")
        assert store.publish_upload(duplicate.id, duplicate.segments, digest, 8) is False
        store.abort_upload(duplicate.id)
        assert joined(store.read(digest)) == b"original"
        assert store.stat(digest) == len(b"original")
        assert list(store.list()) == [digest]
        store.delete(digest)

    def test_racing_publishers_of_one_digest_never_replace_each_other(
        self, store: BlobStore, new_upload
    ) -> None:
        # Each publisher has its own bytes under one digest (as if both had been verified):
        # exactly one creates the blob, and the blob is that one's bytes, whole.
        racers = 4
        uploads = [new_upload(bytes([65 + i]) * (1000 + i)) for i in range(racers)]
        digest, barrier, created = sha256(b"contested"), threading.Barrier(racers), {}

        def race(i: int) -> None:
            barrier.wait()
            up = uploads[i]
            created[i] = store.publish_upload(up.id, up.segments, digest, 1000 + i)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [i for i, made in created.items() if made]
        if store.stat(digest) is not None and len(winners) == 1:
            assert joined(store.read(digest)) == bytes([65 + winners[0]]) * (1000 + winners[0])
        else:  # a store without conditional writes: still one racer's bytes, whole
            assert joined(store.read(digest)) in {bytes([65 + i]) * (1000 + i) for i in created}
        for up in uploads:
            store.abort_upload(up.id)
        store.delete(digest)

    def test_publish_an_empty_blob(self, store: BlobStore, publish) -> None:
        digest = publish(b"")
        assert store.stat(digest) == 0
        assert joined(store.read(digest)) == b""
        store.delete(digest)

    def test_sha512_digests_are_keys_too(self, store: BlobStore, new_upload) -> None:
        data = b"sha512 content"
        digest, upload = "sha512:" + hashlib.sha512(data).hexdigest(), new_upload(data)
        store.publish_upload(upload.id, upload.segments, digest, len(data))
        store.abort_upload(upload.id)
        assert store.stat(digest) == len(data)
        assert list(store.list()) == [digest]
        store.delete(digest)

    # -- quarantine ------------------------------------------------------------------------------

    def test_quarantine_takes_a_blob_out_of_service(self, store: BlobStore, publish) -> None:
        keep, bad = publish(b"good bytes"), publish(b"bad bytes")
        where = store.quarantine(bad)
        assert where and bad.split(":", 1)[1] in where
        assert store.stat(bad) is None
        assert list(store.list()) == [keep]
        assert store.quarantine(bad) is None  # nothing left to move
        self.drop_quarantined(store, where)
        store.delete(keep)

    # -- publishing a whole blob at once (one-request uploads) ------------------------------------

    def test_publish_data_makes_the_bytes_visible_and_ends_the_upload(
        self, store: BlobStore, new_upload
    ) -> None:
        data = b"a whole small layer"
        digest, upload = sha256(data), new_upload()
        assert store.stat(digest) is None
        assert store.publish_data(upload.id, digest, data) is True
        assert store.stat(digest) == len(data)
        assert joined(store.read(digest)) == data
        assert list(store.list()) == [digest]
        assert not self.upload_exists(store, upload.id)
        store.delete(digest)

    def test_publish_data_keeps_an_existing_blob(
        self, store: BlobStore, new_upload, publish
    ) -> None:
        digest = publish(b"original")
        duplicate = new_upload()
        assert store.publish_data(duplicate.id, digest, b"impostor") is False
        assert joined(store.read(digest)) == b"original"
        assert list(store.list()) == [digest]
        assert not self.upload_exists(store, duplicate.id)
        store.delete(digest)

    def test_publish_data_copies_a_buffer_the_caller_reuses(
        self, store: BlobStore, new_upload
    ) -> None:
        # The service hands over a view of its batch buffer and fills it again afterwards.
        buffer = bytearray(b"batch contents")
        digest = sha256(bytes(buffer))
        store.publish_data(new_upload().id, digest, memoryview(buffer))
        buffer[:] = b"x" * len(buffer)
        assert joined(store.read(digest)) == b"batch contents"
        store.delete(digest)

    def test_publish_data_of_an_empty_blob(self, store: BlobStore, new_upload) -> None:
        digest = sha256(b"")
        store.publish_data(new_upload().id, digest, b"")
        assert store.stat(digest) == 0
        assert joined(store.read(digest)) == b""
        store.delete(digest)

    # -- reading blobs ---------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("offset", "length", "expected"),
        [
            (0, None, b"0123456789"),
            (3, None, b"3456789"),
            (2, 3, b"234"),
            (0, 1, b"0"),
            (9, 1, b"9"),
            (8, 10, b"89"),  # a length past the end stops at the end
            (10, None, b""),
            (0, 0, b""),
        ],
    )
    def test_read_ranges(self, store: BlobStore, publish, offset, length, expected) -> None:
        digest = publish(b"0123456789")
        assert joined(store.read(digest, offset, length)) == expected
        store.delete(digest)

    def test_large_reads_stream_in_chunks_of_at_most_1_mib(self, store: BlobStore, publish) -> None:
        data = pattern(5 * MiB + 123)
        digest = publish(data)
        chunks = list(store.read(digest))
        assert len(chunks) >= 6
        assert max(map(len, chunks)) <= MAX_CHUNK
        assert b"".join(chunks) == data
        ranged = list(store.read(digest, MiB // 2, 3 * MiB))
        assert max(map(len, ranged)) <= MAX_CHUNK
        assert b"".join(ranged) == data[MiB // 2 : MiB // 2 + 3 * MiB]
        store.delete(digest)

    # -- delete and list -------------------------------------------------------------------------

    def test_delete_removes_the_blob_and_is_idempotent(self, store: BlobStore, publish) -> None:
        digest = publish(b"to delete")
        store.delete(digest)
        assert store.stat(digest) is None
        assert list(store.list()) == []
        store.delete(digest)
        store.delete(sha256(b"never stored"))

    def test_list_yields_every_published_digest_once(self, store: BlobStore, publish) -> None:
        digests = {publish(bytes([i]) * (i + 1)) for i in range(5)}
        listed = list(store.list())
        assert sorted(listed) == sorted(digests)
        for digest in digests:
            store.delete(digest)

    def test_delete_leaves_other_blobs_alone(self, store: BlobStore, publish) -> None:
        keep, drop = publish(b"keep"), publish(b"drop")
        store.delete(drop)
        assert list(store.list()) == [keep]
        assert joined(store.read(keep)) == b"keep"
        store.delete(keep)

    # -- the leftover check itself ---------------------------------------------------------------

    def test_leftovers_fail_the_suite(self, store: BlobStore, new_upload, publish) -> None:
        digest = publish(b"left behind")
        with pytest.raises(AssertionError, match="blobs left behind"):
            self.assert_clean(store, [])
        store.delete(digest)
        upload = new_upload(b"half")
        with pytest.raises(AssertionError, match="uploads left behind"):
            self.assert_clean(store, [upload.id])
        store.abort_upload(upload.id)
        self.assert_clean(store, [upload.id])


def write(store: BlobStore, upload: Staging, offset: int, data: bytes) -> int:
    """Write `data` at `offset` with a fresh writer and acknowledge its segment; the new size."""
    writer = store.open_upload(upload.id, offset)
    writer.write(data)
    size = writer.close()
    upload.segments.append(writer.segment)
    return size


def pattern(size: int) -> bytes:
    """Bytes that differ from chunk to chunk, so a misplaced chunk cannot compare equal."""
    block = hashlib.sha256(str(size).encode()).digest() * 2048  # 64 KiB
    counted = b"".join(
        i.to_bytes(4, "big") + block[: 64 * 1024 - 4] for i in range(size // 65536 + 1)
    )
    return counted[:size]
