"""A client that goes away in the middle of a request body costs an info line in the log and
nothing else: no "Exception in ASGI application" traceback, no blob, no half-written bytes.

For each request that carries an upload body (a monolithic push, a PATCH chunk, the PUT that
completes an upload, and ECR's UploadLayerPart), a raw socket sends the head and part of the
declared body, then closes. Afterwards the upload continues from where it was acknowledged and
completes with exactly the right bytes, and (on the filesystem store) no staging file holds more
than was acknowledged.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ociapi
from tests.support.ecr import AccessKey, ecr_client, signed_request
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

DATA = hashlib.sha256(b"disconnect").digest() * (6 * 1024 * 1024 // 32)  # 6 MiB
DIGEST = ociapi.sha256_digest(DATA)
SENT = 2 * 1024 * 1024  # of DATA, before the client goes away
ANY_KEY = AccessKey("123456789012", "AKIADISCONNECTS00001", "disconnect-tests-secret")


@pytest.fixture(scope="module")
def server() -> Iterator[DockyardServer]:
    with DockyardServer(extra_args=("--create-on-push", "--accept-any-credentials")) as started:
        yield started


@pytest.fixture
def http(server: DockyardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def send_part_and_leave(
    server: DockyardServer, method: str, target: str, headers: dict[str, str], body: bytes
) -> None:
    """Send the head (declaring ``len(body)`` bytes) and SENT bytes of ``body``, then close."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {server.address}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode() + body[:SENT])
        time.sleep(0.2)  # let the server start on the body (nothing asserts on time)


def wait_for_log(server: DockyardServer, text: str, count: int = 1) -> str:
    deadline = time.monotonic() + 30
    while (log := server.log_tail(10**7)).count(text) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return log


def assert_quiet_log(server: DockyardServer, count: int) -> None:
    log = wait_for_log(server, "the client went away", count)
    assert log.count("the client went away") >= count, log[-3000:]
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-6000:]


def staged_bytes(server: DockyardServer) -> dict[str, int]:
    """Size of every staging file of the filesystem store ({} when blobs live elsewhere)."""
    uploads = Path(server.data_dir, "blobs", "uploads")
    if not uploads.is_dir():
        return {}
    # An upload is a directory of segments, one per acknowledged chunk (backends/blobs/fs/paths.py).
    return {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in uploads.iterdir()}


def assert_nothing_staged_beyond(server: DockyardServer, acknowledged: dict[str, int]) -> None:
    deadline = time.monotonic() + 30
    while (staged := staged_bytes(server)) != acknowledged and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {k: v for k, v in staged.items() if acknowledged.get(k, 0) != v} == {}, staged


def upload_id(location: str) -> str:
    return location.rstrip("/").split("?")[0].rsplit("/", 1)[-1]


def test_monolithic_push(server: DockyardServer, http: httpx.Client) -> None:
    before = staged_bytes(server)
    target = f"/v2/gone/monolithic/blobs/uploads/?digest={DIGEST}"
    send_part_and_leave(server, "POST", target, {"Content-Type": "application/octet-stream"}, DATA)
    assert_quiet_log(server, 1)
    assert_nothing_staged_beyond(server, before)
    assert http.head(ociapi.blob_url("gone/monolithic", DIGEST)).status_code == 404
    ociapi.push_blob(http, "gone/monolithic", DATA)
    assert ociapi.fetch_blob(http, "gone/monolithic", DIGEST) == DATA


def test_patch_chunk(server: DockyardServer, http: httpx.Client) -> None:
    location = ociapi.start_upload(http, "gone/patch")
    first = ociapi.patch_chunk(http, location, DATA[:1000], 0)
    assert first.status_code == 202, ociapi.describe(first)
    location = first.headers["Location"]
    headers = {"Content-Type": "application/octet-stream", "Content-Range": f"1000-{len(DATA) - 1}"}
    send_part_and_leave(server, "PATCH", location, headers, DATA[1000:])
    assert_quiet_log(server, 2)
    assert_nothing_staged_beyond(
        server, {upload_id(location): 1000} if staged_bytes(server) else {}
    )
    status = http.get(location)
    assert status.headers["Range"] == "0-999", ociapi.describe(status)
    rest = ociapi.patch_chunk(http, location, DATA[1000:], 1000)
    assert rest.status_code == 202, ociapi.describe(rest)
    done = http.put(ociapi.with_params(rest.headers["Location"], digest=DIGEST))
    assert done.status_code == 201, ociapi.describe(done)
    assert ociapi.fetch_blob(http, "gone/patch", DIGEST) == DATA


def test_completing_put(server: DockyardServer, http: httpx.Client) -> None:
    location = ociapi.start_upload(http, "gone/put")
    target = ociapi.with_params(location, digest=DIGEST)
    send_part_and_leave(server, "PUT", target, {"Content-Type": "application/octet-stream"}, DATA)
    assert_quiet_log(server, 3)
    assert http.head(ociapi.blob_url("gone/put", DIGEST)).status_code == 404
    done = http.put(target, content=DATA)
    assert done.status_code == 201, ociapi.describe(done)
    assert ociapi.fetch_blob(http, "gone/put", DIGEST) == DATA


def test_ecr_upload_layer_part(server: DockyardServer) -> None:
    ecr: Any = ecr_client(server.url, ANY_KEY)
    ecr.create_repository(repositoryName="gone/ecr")
    upload = ecr.initiate_layer_upload(repositoryName="gone/ecr")["uploadId"]
    signed = signed_request(server.url, ANY_KEY, "UploadLayerPart", b"")
    headers = {k: v for k, v in signed.headers.items() if k.lower() != "content-length"}
    send_part_and_leave(server, "POST", "/", headers, b'{"layerPartBlob": "' + b"A" * len(DATA))
    assert_quiet_log(server, 4)
    part = ecr.upload_layer_part(repositoryName="gone/ecr", uploadId=upload, partFirstByte=0,
                                 partLastByte=len(DATA) - 1, layerPartBlob=DATA)  # fmt: skip
    assert part["lastByteReceived"] == len(DATA) - 1
    done = ecr.complete_layer_upload(repositoryName="gone/ecr", uploadId=upload,
                                     layerDigests=[DIGEST])  # fmt: skip
    assert done["layerDigest"] == DIGEST
