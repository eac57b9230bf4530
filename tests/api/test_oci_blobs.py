"""Blob uploads (monolithic, chunked, cancelled), cross-repository mounts, and blob reads."""

from __future__ import annotations

import hashlib

import pytest

from .oci_client import (
    DATA,
    NAME,
    OTHER,
    OciClient,
    assert_error,
    sha256,
    with_query,
)

MiB = 1024 * 1024


# -- push: uploads -----------------------------------------------------------------------------------


def test_monolithic_post_with_digest(registry: OciClient, client) -> None:
    digest = sha256(DATA)
    response = client.post(with_query(f"/v2/{NAME}/blobs/uploads/", digest=digest), content=DATA)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert registry.blob(NAME, digest).content == DATA


def test_post_then_put_with_the_body(registry: OciClient, client) -> None:
    response = client.post(f"/v2/{NAME}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith(f"/v2/{NAME}/blobs/uploads/")
    assert response.headers["Docker-Upload-UUID"] in location
    done = registry.complete(location, sha256(DATA), DATA)
    assert done.status_code == 201
    assert done.headers["Location"] == f"/v2/{NAME}/blobs/{sha256(DATA)}"
    assert done.headers["Docker-Content-Digest"] == sha256(DATA)
    assert registry.blob(NAME, sha256(DATA)).content == DATA


def test_chunked_upload_with_content_range(registry: OciClient, client) -> None:
    location = registry.start_upload(NAME)
    first = registry.patch(location, DATA[:5], start=0)
    assert (first.status_code, first.headers["Range"]) == (202, "0-4")
    assert first.headers["Location"].startswith(f"/v2/{NAME}/blobs/uploads/")
    second = registry.patch(first.headers["Location"], DATA[5:], start=5)
    assert (second.status_code, second.headers["Range"]) == (202, "0-9")
    status = client.get(second.headers["Location"])
    assert (status.status_code, status.headers["Range"]) == (204, "0-9")
    assert status.headers["Docker-Upload-UUID"] in second.headers["Location"]
    done = registry.complete(second.headers["Location"], sha256(DATA))
    assert (done.status_code, done.headers["Docker-Content-Digest"]) == (201, sha256(DATA))
    assert registry.blob(NAME, sha256(DATA)).content == DATA


def test_streamed_chunks_without_content_range(registry: OciClient) -> None:
    location = registry.start_upload(NAME)
    assert registry.patch(location, DATA[:3]).headers["Range"] == "0-2"
    assert registry.patch(location, DATA[3:]).headers["Range"] == "0-9"
    assert registry.complete(location, sha256(DATA)).status_code == 201


def test_large_chunked_upload_spanning_batches(registry: OciClient) -> None:
    data = b"".join(hashlib.sha256(bytes([i % 256])).digest() * 32768 for i in range(9))  # 9 MiB
    location = registry.start_upload(NAME)
    for start in range(0, len(data), 3 * MiB):
        response = registry.patch(location, data[start : start + 3 * MiB], start=start)
        assert response.headers["Range"] == f"0-{min(start + 3 * MiB, len(data)) - 1}"
    assert registry.complete(location, sha256(data)).status_code == 201
    assert registry.blob(NAME, sha256(data)).content == data


def test_sha512_digests_are_verified_too(registry: OciClient, client) -> None:
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:4], start=0)
    registry.patch(location, DATA[4:], start=4)
    done = registry.complete(location, digest)
    assert (done.status_code, done.headers["Docker-Content-Digest"]) == (201, digest)
    head = client.head(f"/v2/{NAME}/blobs/{digest}")
    assert (head.status_code, head.headers["Content-Length"]) == (200, "10")


def test_empty_blob(registry: OciClient, client) -> None:
    digest = registry.push_blob(NAME, b"")
    head = client.head(f"/v2/{NAME}/blobs/{digest}")
    assert (head.status_code, head.headers["Content-Length"]) == (200, "0")


@pytest.mark.parametrize("wrong_start", [7, 0, 4, 6])
def test_out_of_order_chunk_is_416_with_the_current_range(
    registry: OciClient, client, wrong_start: int
) -> None:
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:5], start=0)
    response = registry.patch(location, DATA[5:], start=wrong_start)
    assert_error(response, 416, "BLOB_UPLOAD_INVALID")
    assert response.headers["Range"] == "0-4"
    assert client.get(location).headers["Range"] == "0-4"  # the refused chunk left no trace
    assert registry.patch(location, DATA[5:], start=5).headers["Range"] == "0-9"
    assert registry.complete(location, sha256(DATA)).status_code == 201
    assert registry.blob(NAME, sha256(DATA)).content == DATA


@pytest.mark.parametrize("header", ["abc", "5-3", "-4", "bytes 0-"])
def test_malformed_content_range_is_refused(registry: OciClient, client, header: str) -> None:
    location = registry.start_upload(NAME)
    response = client.patch(location, content=DATA, headers={"Content-Range": header})
    assert_error(response, 400, "BLOB_UPLOAD_INVALID")
    assert client.get(location).headers["Range"] == "0-0"


def test_cancelled_upload_is_unknown_afterwards(registry: OciClient, client, seeded) -> None:
    with registry.unchanged(NAME):
        location = registry.start_upload(NAME)
        registry.patch(location, DATA, start=0)
        response = client.delete(location)
        assert response.status_code == 204
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.patch(location, DATA), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.complete(location, sha256(DATA)), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_upload_ids(registry: OciClient, client, method: str) -> None:
    registry.start_upload(NAME)
    url = with_query(
        f"/v2/{NAME}/blobs/uploads/0b8e6a4e-0000-4000-8000-000000000000", digest=sha256(DATA)
    )
    assert_error(client.request(method, url), 404, "BLOB_UPLOAD_UNKNOWN")


def test_an_upload_belongs_to_its_repository(registry: OciClient, client) -> None:
    registry.start_upload(OTHER)
    location = registry.start_upload(NAME)
    elsewhere = location.replace(f"/v2/{NAME}/", f"/v2/{OTHER}/")
    assert_error(client.get(elsewhere), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.complete(elsewhere, sha256(b""), b""), 404, "BLOB_UPLOAD_UNKNOWN")


# -- push: cross-repository mounts -------------------------------------------------------------------


def test_mount_from_a_repository_that_has_the_blob(registry: OciClient, client) -> None:
    digest = registry.push_blob(OTHER, DATA)
    response = client.post(
        with_query(f"/v2/{NAME}/blobs/uploads/", mount=digest, **{"from": OTHER})
    )
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    head = client.head(f"/v2/{NAME}/blobs/{digest}")
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(DATA)))


@pytest.mark.parametrize("source", [OTHER, "team/missing", "NOT-VALID"])
def test_mount_falls_back_to_a_new_upload(registry: OciClient, client, source: str) -> None:
    registry.push_blob(OTHER, b"something else")
    digest = registry.push_blob("team/holder", DATA)  # exists, but not in `source`
    response = client.post(
        with_query(f"/v2/{NAME}/blobs/uploads/", mount=digest, **{"from": source})
    )
    assert response.status_code == 202
    assert response.headers["Location"].startswith(f"/v2/{NAME}/blobs/uploads/")
    assert client.head(f"/v2/{NAME}/blobs/{digest}").status_code == 404
    assert registry.complete(response.headers["Location"], digest, DATA).status_code == 201


# -- pull: blobs -------------------------------------------------------------------------------------


def test_blob_head_and_get(registry: OciClient, client) -> None:
    digest = registry.push_blob(NAME, DATA)
    head = client.head(f"/v2/{NAME}/blobs/{digest}")
    get = client.get(f"/v2/{NAME}/blobs/{digest}")
    for response in (head, get):
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == digest
        assert response.headers["Content-Length"] == "10"
    assert head.content == b""
    assert get.content == DATA


@pytest.mark.parametrize(
    ("header", "body", "content_range"),
    [
        ("bytes=1-3", b"123", "bytes 1-3/10"),
        ("bytes=5-", b"56789", "bytes 5-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ],
)
def test_range_get(
    registry: OciClient, client, header: str, body: bytes, content_range: str
) -> None:
    digest = registry.push_blob(NAME, DATA)
    response = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == body
    assert response.headers["Content-Range"] == content_range
    assert response.headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=20-30", "bytes=5-2", "bytes=0-1,4-5"])
def test_unsatisfiable_range_is_416_with_the_size(registry: OciClient, client, header: str) -> None:
    digest = registry.push_blob(NAME, DATA)
    response = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})
    assert_error(response, 416, "SIZE_INVALID")
    assert response.headers["Content-Range"] == "bytes */10"


def test_range_in_an_unknown_unit_is_ignored(registry: OciClient, client) -> None:
    digest = registry.push_blob(NAME, DATA)
    response = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "items=0-1"})
    assert (response.status_code, response.content) == (200, DATA)
    assert "Content-Range" not in response.headers


def test_blob_delete(registry: OciClient, client) -> None:
    digest = registry.push_blob(NAME, DATA)
    assert client.delete(f"/v2/{NAME}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{NAME}/blobs/{digest}").status_code == 404
    assert_error(client.get(f"/v2/{NAME}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(client.delete(f"/v2/{NAME}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_blobs_are_visible_only_in_their_repositories(registry: OciClient, client) -> None:
    digest = registry.push_blob(NAME, DATA)
    registry.push_blob(OTHER, b"other")
    assert_error(client.get(f"/v2/{OTHER}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{OTHER}/blobs/{digest}").status_code == 404
