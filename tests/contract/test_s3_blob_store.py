"""The S3 blob store against moto in server mode: the whole contract, then what only S3 has.

Each test gets a fresh bucket and must leave it empty, incomplete multipart uploads included.
A second `S3BlobStore` on the same bucket stands for another server process: it shares nothing
with the first but the bucket.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from dockyard.backends.blobs.s3 import compose as s3_compose
from dockyard.backends.blobs.s3 import writer as s3_writer
from dockyard.backends.blobs.s3.store import S3BlobStore
from dockyard.backends.factory import ConfigurationError, open_blob_store
from tests.support.s3 import CREDENTIALS, MotoS3

from .blob_contract import BlobStoreContract, MiB, Staging, joined, pattern, sha256, write


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials from the environment, as in production; nothing from the host's ~/.aws."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def bucket(moto: MotoS3) -> Iterator[str]:
    name = moto.bucket()
    yield name
    left = moto.leftovers(name)
    moto.delete_bucket(name)
    assert left == [], "the test left objects or multipart uploads in the bucket"


@pytest.fixture
def url(moto: MotoS3, bucket: str) -> str:
    return moto.url(bucket, "registry/blobs", redirect="1")


@pytest.fixture
def store(url: str) -> S3BlobStore:
    store = open_blob_store(url)
    store.probe()
    return store


@pytest.fixture
def other(url: str) -> S3BlobStore:
    """Another process's view of the same bucket."""
    return S3BlobStore.from_url(url)


class TestS3BlobStore(BlobStoreContract):
    def upload_exists(self, store: S3BlobStore, upload_id: str) -> bool:
        """An S3 upload is its keys: segments, or multipart uploads of unfinished writers."""
        return bool(upload_keys(store, upload_id))

    def drop_quarantined(self, store: S3BlobStore, where: str) -> None:
        bucket, key = where.removeprefix("s3://").split("/", 1)
        store.client.delete_object(Bucket=bucket, Key=key)


def upload_keys(store: S3BlobStore, upload_id: str) -> list[str]:
    """Objects and incomplete multipart uploads under the upload's prefix."""
    prefix = store.keys.upload(upload_id)
    client, bucket = store.client, store.bucket
    objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", ())
    multipart = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", ())
    return [o["Key"] for o in objects] + [f"multipart upload of {u['Key']}" for u in multipart]


def calls(store: S3BlobStore) -> Counter[str]:
    """S3 operations the store's client makes from now on, counted by name."""
    counted: Counter[str] = Counter()
    store.client.meta.events.register(
        "before-call.s3.*", lambda model, **_: counted.update([model.name])
    )
    return counted


def new_upload(store: S3BlobStore) -> Staging:
    upload = Staging(str(uuid.uuid4()))
    store.start_upload(upload.id)
    return upload


def publish(store: S3BlobStore, upload: Staging, digest: str, size: int) -> bool:
    created = store.publish_upload(upload.id, upload.segments, digest, size)
    store.abort_upload(upload.id)
    return created


# -- another process continues -----------------------------------------------------------------


def test_a_second_process_continues_after_tiny_and_large_chunks(store, other) -> None:
    data = pattern(23 * MiB + 17)
    cuts = [0, 3, 5, 9 * MiB + 5, 9 * MiB + 6, 20 * MiB, len(data)]
    upload = new_upload(store)
    for i, (start, end) in enumerate(itertools.pairwise(cuts)):
        writer_store = store if i < 3 else other  # chunks 4.. reach the other process
        assert write(writer_store, upload, start, data[start:end]) == end
    assert joined(other.read_upload(upload.id, upload.segments, len(data))) == data
    head = joined(store.read_upload(upload.id, upload.segments, 9 * MiB + 6))
    assert head == data[: 9 * MiB + 6]
    publish(other, upload, sha256(data), len(data))
    assert store.stat(sha256(data)) == len(data)
    assert joined(store.read(sha256(data))) == data
    store.delete(sha256(data))


def test_a_crashed_writer_leaves_nothing_visible_and_the_upload_resumes(store, other) -> None:
    head, tail = pattern(6 * MiB), b"the rest" * 1000
    upload = new_upload(store)
    assert write(store, upload, 0, head) == len(head)
    doomed = store.open_upload(upload.id, len(head))
    doomed.write(pattern(11 * MiB))  # parts uploaded, multipart never completed
    doomed.write(b"unacknowledged")
    del doomed  # the process died: neither close nor abort

    assert list(other.list()) == []
    assert joined(other.read_upload(upload.id, upload.segments, 1 << 40)) == head
    assert write(other, upload, len(head), tail) == len(head) + len(tail)
    digest = sha256(head + tail)
    publish(other, upload, digest, len(head) + len(tail))
    assert joined(store.read(digest)) == head + tail
    store.delete(digest)


def test_opening_a_writer_costs_no_request_whatever_the_upload_holds(store, other) -> None:
    # No listing, no cut: a writer's segment is a key of its own, so whatever an earlier
    # unacknowledged write left stays out of the chain untouched.
    upload = new_upload(store)
    write(store, upload, 0, pattern(9 * MiB))
    lost = store.open_upload(upload.id, 9 * MiB)
    lost.write(b"never acknowledged")
    lost.close()
    counted = calls(other)
    writer = other.open_upload(upload.id, 9 * MiB)
    assert counted == Counter()
    writer.write(b"!")
    assert writer.close() == 9 * MiB + 1
    upload.segments.append(writer.segment)
    assert joined(store.read_upload(upload.id, upload.segments, 1 << 40)) == pattern(9 * MiB) + b"!"
    store.abort_upload(upload.id)


def test_abort_removes_incomplete_multipart_uploads_of_failed_writers(store, other) -> None:
    upload = new_upload(store)
    writer = store.open_upload(upload.id, 0)
    writer.write(pattern(9 * MiB))
    other.abort_upload(upload.id)  # the bucket fixture checks no multipart upload is left
    assert not TestS3BlobStore().upload_exists(store, upload.id)


# -- requests per blob -------------------------------------------------------------------------


def test_a_blob_published_from_memory_costs_one_put_object(store, moto, bucket) -> None:
    # The one-request push of a small blob: POST (start_upload), PUT ?digest= with the body.
    data, counted = b"a small layer" * 100, calls(store)
    store.publish_data(new_upload(store).id, sha256(data), data)
    assert counted == Counter({"PutObject": 1})
    assert moto.leftovers(bucket) == [store.keys.blob(sha256(data))]
    assert joined(store.read(sha256(data))) == data
    store.delete(sha256(data))


def test_publishing_from_memory_onto_an_existing_blob_is_one_refused_put(store) -> None:
    digest = sha256(b"original")
    store.publish_data(new_upload(store).id, digest, b"original")
    headers: list[dict[str, str]] = []
    store.client.meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: headers.append(params["headers"])
    )
    counted = calls(store)
    store.publish_data(new_upload(store).id, digest, b"impostor")
    assert counted == Counter({"PutObject": 1})  # answered 412: nothing written
    assert headers[0].get("If-None-Match") == "*"
    assert joined(store.read(digest)) == b"original"
    store.delete(digest)


def test_without_conditional_writes_a_head_comes_first(moto, bucket) -> None:
    store = S3BlobStore.from_url(moto.url(bucket, conditional_writes="0"))
    digest, counted = sha256(b"layer"), calls(store)
    store.publish_data(new_upload(store).id, digest, b"layer")
    assert counted == Counter({"HeadObject": 1, "PutObject": 1})
    store.publish_data(new_upload(store).id, digest, b"layer")
    assert counted == Counter({"HeadObject": 2, "PutObject": 1})
    assert joined(store.read(digest)) == b"layer"
    store.delete(digest)


class _Answer:
    """What a before-call handler returns in place of S3's answer (botocore's short circuit)."""

    def __init__(self, status: int, code: str) -> None:
        self.status_code, self.headers, self.content = status, {}, b""
        self.parsed = {"Error": {"Code": code, "Message": code},
                       "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip

    def __call__(self, **_: object) -> tuple[_Answer, dict]:
        return self, self.parsed


def test_a_store_refusing_conditional_writes_is_told_what_to_set(store) -> None:
    store.client.meta.events.register("before-call.s3.PutObject", _Answer(501, "NotImplemented"))
    with pytest.raises(OSError, match=r"add \?conditional_writes=0 to --storage-url"):
        store.publish_data(new_upload(store).id, sha256(b"x"), b"x")


def test_a_conflicting_conditional_write_is_retried(store) -> None:
    conflict = _Answer(409, "ConditionalRequestConflict")
    answers = iter([conflict, lambda **_: None])  # then the real answer
    store.client.meta.events.register("before-call.s3.PutObject", lambda **kw: next(answers)(**kw))
    digest, counted = sha256(b"layer"), calls(store)
    store.publish_data(new_upload(store).id, digest, b"layer")
    assert counted == Counter({"PutObject": 2})
    assert joined(store.read(digest)) == b"layer"
    store.delete(digest)


def test_a_staged_small_blob_is_published_by_a_server_side_copy(store) -> None:
    # A chunked (PATCH, then PUT) or ECR push of a small blob: one segment, copied into place.
    data, counted = b"one chunk", calls(store)
    upload = new_upload(store)
    assert write(store, upload, 0, data) == len(data)
    assert counted == Counter({"PutObject": 1})  # the first chunk lists nothing
    counted.clear()
    assert store.publish_upload(upload.id, upload.segments, sha256(data), len(data)) is True
    assert counted == Counter({"HeadObject": 1, "ListObjectsV2": 1, "CopyObject": 1})
    counted.clear()
    store.abort_upload(upload.id)
    assert counted == Counter({"ListObjectsV2": 1, "DeleteObjects": 1, "ListMultipartUploads": 1})
    assert joined(store.read(sha256(data))) == data
    store.delete(sha256(data))


# -- multipart publishing ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [5 * MiB + 1, 10 * MiB + 3 * 1024, 17 * MiB])
def test_large_uploads_go_through_multipart(store, size) -> None:
    data = pattern(size)
    counted = calls(store)
    upload = new_upload(store)
    assert write(store, upload, 0, data) == size
    if size > s3_writer.PART_SIZE:  # smaller sessions are one PutObject
        assert counted["UploadPart"] == -(-size // s3_writer.PART_SIZE)
        assert counted["CompleteMultipartUpload"] == 1
    publish(store, upload, sha256(data), size)
    assert counted["CopyObject"] == 1  # one segment: one server-side copy, no bytes moved
    assert store.stat(sha256(data)) == size
    assert joined(store.read(sha256(data))) == data
    store.delete(sha256(data))


def test_publish_gathers_tiny_segments_and_copies_large_ones(store, monkeypatch) -> None:
    monkeypatch.setattr(s3_compose, "COPY_PART", 10 * MiB)  # split copies, run in threads
    pieces = [b"a" * 1000, pattern(20 * MiB), b"b" * 10, b"c", pattern(9 * MiB + 1)]
    data = b"".join(pieces)
    upload = new_upload(store)
    offset = 0
    for piece in pieces:
        offset = write(store, upload, offset, piece)
    counted = calls(store)
    publish(store, upload, sha256(data), len(data) - 2)
    # [1000 B + 8 MiB - 1000 B of the 20 MiB] [copy 6 MiB] [copy 6 MiB] [10 B + 1 B + 8 MiB - 11 B]
    # [the last ~1 MiB]
    assert (counted["UploadPart"], counted["UploadPartCopy"]) == (3, 2)
    assert joined(store.read(sha256(data))) == data[:-2]
    assert store.stat(sha256(data)) == len(data) - 2
    store.delete(sha256(data))


def test_publish_refuses_an_upload_shorter_than_size(store) -> None:
    upload = new_upload(store)
    write(store, upload, 0, b"short")
    with pytest.raises(OSError, match="holds 5 bytes"):
        store.publish_upload(upload.id, upload.segments, sha256(b"short!"), 6)
    assert store.stat(sha256(b"short!")) is None
    store.abort_upload(upload.id)


@pytest.mark.parametrize("sizes", [[3, 4], [6 * MiB, 3]], ids=["gathered", "multipart"])
def test_a_blob_that_appears_while_composing_is_never_replaced(store, sizes) -> None:
    # Another publisher's blob lands between the HEAD and the final write: the write is
    # conditional (If-None-Match: *), so the first copy stays and publish says so.
    first, second = new_upload(store), new_upload(store)
    digest = sha256(b"contested")
    for upload, fill in ((first, b"F"), (second, b"S")):
        offset = 0
        for size in sizes:
            offset = write(store, upload, offset, fill * size)
    assert publish(store, first, digest, sum(sizes)) is True
    original_stat = store.stat
    store.stat = lambda _digest: None  # the HEAD saw nothing yet
    assert publish(store, second, digest, sum(sizes)) is False
    store.stat = original_stat
    assert joined(store.read(digest)) == b"F" * sum(sizes)
    store.delete(digest)


# -- reads -------------------------------------------------------------------------------------


def test_ranged_reads_of_a_large_blob(store) -> None:
    data = pattern(3 * MiB + 100)
    upload = new_upload(store)
    write(store, upload, 0, data)
    digest = sha256(data)
    publish(store, upload, digest, len(data))
    for offset, length in [
        (0, 1),
        (MiB - 1, 2),
        (MiB, MiB + 7),
        (len(data) - 5, None),
        (len(data) - 5, 100),
        (0, None),
        (len(data), None),
        (5, 0),
    ]:
        end = None if length is None else offset + length
        chunks = list(store.read(digest, offset, length))
        assert b"".join(chunks) == data[offset:end], (offset, length)
        assert all(len(c) <= MiB for c in chunks)
    store.delete(digest)


def test_reading_a_missing_blob_raises(store) -> None:
    with pytest.raises(FileNotFoundError):
        store.read(sha256(b"nothing"))


# -- presigned URLs ----------------------------------------------------------------------------


def test_presigned_url_serves_the_blob(store) -> None:
    data = pattern(2 * MiB + 3)
    upload = new_upload(store)
    write(store, upload, 0, data)
    publish(store, upload, sha256(data), len(data))
    url = store.redirect_url(sha256(data))
    assert url is not None and "X-Amz-Expires=1200" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == data
    store.delete(sha256(data))


def test_redirects_are_off_unless_asked_for_and_expiry_is_configurable(moto, bucket) -> None:
    assert S3BlobStore.from_url(moto.url(bucket)).redirect_url(sha256(b"x")) is None
    timed = S3BlobStore.from_url(moto.url(bucket, redirect="1", redirect_expiry="60"))
    assert "X-Amz-Expires=60" in timed.redirect_url(sha256(b"x"))


# -- configuration and probe -------------------------------------------------------------------


def test_keys_live_under_the_prefix(store, moto, bucket) -> None:
    upload = new_upload(store)
    write(store, upload, 0, b"x")
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"registry/blobs/uploads/{upload.id}/segments/{upload.segments[0]}"]
    assert upload.segments[0].startswith(f"{0:020d}-")
    store.abort_upload(upload.id)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "bad S3 storage URL"),
        ("s3://bucket?colour=blue", "unknown option 'colour'"),
        ("s3://bucket?redirect=maybe", "redirect must be 1 or 0"),
        ("s3://bucket?conditional_writes=maybe", "conditional_writes must be 1 or 0"),
        ("s3://bucket?redirect_expiry=forever", "redirect_expiry must be"),
        ("s3://bucket?addressing=sideways", "addressing must be one of"),
    ],
)
def test_bad_urls_are_refused(url, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_blob_store(url)


def test_probe_says_a_missing_bucket_does_not_exist(moto) -> None:
    store = open_blob_store(moto.url("no-such-bucket-here"))
    with pytest.raises(ConfigurationError, match="bucket no-such-bucket-here does not exist"):
        store.probe()


def test_probe_says_an_endpoint_is_unreachable() -> None:
    store = open_blob_store("s3://bucket?endpoint_url=http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="cannot reach s3://bucket at http://127.0.0.1:9"):
        store.probe()


def test_probe_asks_for_credentials(moto, bucket, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup either
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        open_blob_store(moto.url(bucket)).probe()


def test_an_unknown_profile_is_a_configuration_error(moto, bucket) -> None:
    with pytest.raises(ConfigurationError, match="cannot configure"):
        open_blob_store(moto.url(bucket, profile="nobody"))


@pytest.mark.parametrize("mode", ["when_supported", "when_required"])
def test_checksums_follow_the_aws_setting(url, monkeypatch, mode) -> None:
    # when_required is for S3-compatible stores that reject CRC32 headers on multipart uploads.
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", mode)
    store = S3BlobStore.from_url(url)
    headers: list[dict[str, str]] = []
    store.client.meta.events.register(
        "before-call.s3.CreateMultipartUpload",
        lambda params, **_: headers.append(params["headers"]),
    )
    data = pattern(9 * MiB)
    upload = new_upload(store)
    write(store, upload, 0, data)
    publish(store, upload, sha256(data), len(data))
    assert joined(store.read(sha256(data))) == data
    assert [h.get("x-amz-checksum-algorithm") for h in headers] == [
        "CRC32" if mode == "when_supported" else None
    ]
    store.delete(sha256(data))
