"""Blob pushes through the whole app onto S3 (moto): what each costs in S3 requests, and that a
failed push leaves nothing in the bucket.

The small-blob path under test: a request that brings a whole blob (POST ?digest=, or PUT
?digest= with the body on a fresh upload) is verified in memory and written with one PutObject
straight to the blob's key. Larger bodies and chunked uploads are staged as before.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from dockyard.app import create_app
from dockyard.services import uploads
from dockyard.settings import Settings
from tests.support.s3 import CREDENTIALS, MotoS3

from .conftest import CheckedClient, registry_token
from .oci_client import NAME, OciClient, sha256

MiB = 1024 * 1024
PREFIX = "registry"


@pytest.fixture
def client(
    tmp_path: Path, moto: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CheckedClient]:
    """The API suite's client, on a registry whose blobs live in `bucket`."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    settings = Settings(
        data_dir=tmp_path / "data", storage_url=moto.url(bucket, PREFIX),
        create_on_push=True, accept_any_credentials=True,
    )  # fmt: skip
    app = create_app(settings)
    with CheckedClient(app) as client:
        client.headers["Authorization"] = f"Basic {registry_token(app)}"
        yield client


@pytest.fixture
def s3_calls(client: CheckedClient) -> Counter[str]:
    """S3 operations the server makes from now on, by name."""
    store = client.app.state.services.blob_store
    counted: Counter[str] = Counter()
    store.client.meta.events.register(
        "before-call.s3.*", lambda model, **_: counted.update([model.name])
    )
    return counted


def blob_key(digest: str) -> str:
    return f"{PREFIX}/blobs/sha256/{digest[7:9]}/{digest[7:]}"


def layer(size: int) -> bytes:
    """Bytes that differ from batch to batch (a misplaced batch cannot hash the same)."""
    block = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2048))
    return (block * (size // len(block) + 1))[:size]


# -- what a push costs -----------------------------------------------------------------------


def test_post_then_put_of_a_small_blob_is_one_put_object(
    registry: OciClient, client: CheckedClient, s3_calls: Counter[str], moto: MotoS3, bucket: str
) -> None:
    # What docker-style clients do per blob: HEAD (missing), POST, PUT ?digest= with the body.
    data = layer(2048)
    assert client.head(f"/v2/{NAME}/blobs/{sha256(data)}").status_code == 404
    location = registry.start_upload(NAME)
    assert registry.complete(location, sha256(data), data).status_code == 201
    assert s3_calls == Counter({"PutObject": 1})
    assert moto.leftovers(bucket) == [blob_key(sha256(data))]
    assert registry.blob(NAME, sha256(data)).content == data


def test_a_monolithic_post_is_one_put_object(
    registry: OciClient, s3_calls: Counter[str], moto: MotoS3, bucket: str
) -> None:
    data = layer(uploads.BATCH - 1)  # the largest body that takes this path
    registry.push_blob(NAME, data)
    assert s3_calls == Counter({"PutObject": 1})
    assert moto.leftovers(bucket) == [blob_key(sha256(data))]
    assert registry.blob(NAME, sha256(data)).content == data


def test_pushing_a_blob_again_writes_nothing_new(
    registry: OciClient, s3_calls: Counter[str], moto: MotoS3, bucket: str
) -> None:
    data = layer(100)
    registry.push_blob(NAME, data)
    registry.push_blob("team/other", data)  # another repository, the same bytes
    assert s3_calls == Counter({"PutObject": 2})  # the second answered 412
    assert moto.leftovers(bucket) == [blob_key(sha256(data))]


@pytest.mark.parametrize("size", [uploads.BATCH, 5 * MiB])
def test_a_blob_of_a_batch_or_more_is_staged_then_copied(
    registry: OciClient, s3_calls: Counter[str], moto: MotoS3, bucket: str, size: int
) -> None:
    data = layer(size)
    location = registry.start_upload(NAME)
    assert registry.complete(location, sha256(data), data).status_code == 201
    assert s3_calls["CopyObject"] == 1 and s3_calls["GetObject"] == 0
    assert moto.leftovers(bucket) == [blob_key(sha256(data))]
    assert registry.blob(NAME, sha256(data)).content == data


def test_a_put_after_patches_completes_the_staged_bytes(
    registry: OciClient, moto: MotoS3, bucket: str
) -> None:
    data = layer(3000)
    location = registry.patch(registry.start_upload(NAME), data[:1000], start=0)
    location = location.headers["Location"]
    assert registry.complete(location, sha256(data), data[1000:]).status_code == 201
    assert moto.leftovers(bucket) == [blob_key(sha256(data))]
    assert registry.blob(NAME, sha256(data)).content == data


# -- failures leave nothing ------------------------------------------------------------------


@pytest.mark.parametrize("size", [2048, 5 * MiB])
def test_a_wrong_digest_publishes_nothing(
    registry: OciClient, client: CheckedClient, moto: MotoS3, bucket: str, size: int
) -> None:
    data, claimed = layer(size), sha256(b"something else")
    location = registry.start_upload(NAME)
    response = registry.complete(location, claimed, data)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert moto.leftovers(bucket) == []
    assert client.head(f"/v2/{NAME}/blobs/{claimed}").status_code == 404
    assert client.get(location).status_code == 404  # the upload is gone too


async def _breaking_body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MiB):
        yield data[start : start + MiB]
    raise ConnectionResetError("the client went away")


@pytest.mark.parametrize("size", [2048, 6 * MiB])
def test_a_body_that_breaks_off_leaves_nothing(
    client: CheckedClient, moto: MotoS3, bucket: str, size: int
) -> None:
    # Small: nothing had reached S3. Large: the first batch had been handed to a segment writer.
    services, data = client.app.state.services, layer(size)
    push = services.uploads.push_monolithic(
        services.default_account, NAME, sha256(data), _breaking_body(data)
    )
    with pytest.raises(ConnectionResetError):
        asyncio.run(push)
    assert moto.leftovers(bucket) == []
    assert client.head(f"/v2/{NAME}/blobs/{sha256(data)}").status_code == 404


def test_a_put_object_that_fails_leaves_nothing_visible(
    client: CheckedClient, moto: MotoS3, bucket: str
) -> None:
    # S3 unreachable at the moment of publishing (or the process dying then): the blob is
    # neither in the bucket nor known to the metadata store, and the push can be repeated.
    services, data = client.app.state.services, layer(2048)

    def unreachable(**_: object) -> None:
        raise EndpointConnectionError(endpoint_url=moto.endpoint)

    events = services.blob_store.client.meta.events
    events.register("before-call.s3.PutObject", unreachable)
    upload = services.uploads.start(services.default_account, NAME)
    complete = services.uploads.complete(
        services.default_account, NAME, upload.id, sha256(data), _once(data)
    )
    with pytest.raises(EndpointConnectionError):
        asyncio.run(complete)
    assert moto.leftovers(bucket) == []
    assert client.head(f"/v2/{NAME}/blobs/{sha256(data)}").status_code == 404
    events.unregister("before-call.s3.PutObject", unreachable)
    again = services.uploads.complete(
        services.default_account, NAME, upload.id, sha256(data), _once(data)
    )
    assert str(asyncio.run(again)) == sha256(data)
    assert client.get(f"/v2/{NAME}/blobs/{sha256(data)}").content == data


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
