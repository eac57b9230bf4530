"""Zero-copy blob bodies (server/zero_copy.py): the dockyard app under uvicorn (uvloop) with the
project's protocol, in this process so the sendfile path can be counted. Whole blobs, Ranges
and HEAD keep their HTTP semantics; a large blob exercises the wait for a full socket."""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.app import create_app
from dockyard.server import zero_copy
from dockyard.server.protocol import BodyBatchingProtocol
from dockyard.settings import Settings

NAME = "team/app"


@contextmanager
def serving(root: Path, **tls: str) -> Iterator[str]:
    """The dockyard app under uvicorn in a thread of this process; its base URL."""
    settings = Settings(data_dir=root / "data", create_on_push=True, accept_any_credentials=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings),
        http=BodyBatchingProtocol,
        loop="uvloop",
        log_level="warning",
        lifespan="on",
        **tls,
    )  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    try:
        yield f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("zc")) as url:
        yield url


def push(client: httpx.Client, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = client.post(
        f"/v2/{NAME}/blobs/uploads/?digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return digest


def test_whole_blob_range_and_head_go_through_sendfile(base_url: str) -> None:
    data = os.urandom(8 * 1024 * 1024 + 13)  # larger than a socket buffer: EAGAIN is met
    with httpx.Client(base_url=base_url, auth=("AWS", "x"), timeout=30) as client:
        digest = push(client, data)
        before = zero_copy.Counters.sends
        whole = client.get(f"/v2/{NAME}/blobs/{digest}")
        assert (whole.status_code, whole.content) == (200, data)
        assert whole.headers["Content-Length"] == str(len(data))
        assert whole.headers["Docker-Content-Digest"] == digest
        assert whole.headers["ETag"] == f'"{digest}"'
        part = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=1000-2999999"})
        assert (part.status_code, part.content) == (206, data[1000:3000000])
        assert part.headers["Content-Range"] == f"bytes 1000-2999999/{len(data)}"
        assert part.headers["Content-Length"] == str(3000000 - 1000)
        head = client.head(f"/v2/{NAME}/blobs/{digest}")
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(data)))
        again = client.get(f"/v2/{NAME}/blobs/{digest}")  # the kept-alive connection still works
        assert again.content == data
        assert zero_copy.Counters.sends == before + 3


def test_a_client_that_leaves_midway_does_not_break_the_server(base_url: str) -> None:
    data = os.urandom(16 * 1024 * 1024)
    with httpx.Client(base_url=base_url, auth=("AWS", "x"), timeout=30) as client:
        digest = push(client, data)
        with client.stream("GET", f"/v2/{NAME}/blobs/{digest}") as response:
            next(response.iter_raw(65536))
        assert client.get(f"/v2/{NAME}/blobs/{digest}").content == data


def self_signed(root: Path) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (root / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"ssl_certfile": str(root / "tls.crt"), "ssl_keyfile": str(root / "tls.key")}


def test_tls_connections_keep_the_streaming_path(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 1)
    with (
        serving(tmp_path, **self_signed(tmp_path)) as url,
        httpx.Client(base_url=url, auth=("AWS", "x"), timeout=30, verify=False) as client,
    ):
        digest = push(client, data)
        before = zero_copy.Counters.sends
        assert client.get(f"/v2/{NAME}/blobs/{digest}").content == data
        part = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=5-9"})
        assert (part.status_code, part.content) == (206, data[5:10])
        assert zero_copy.Counters.sends == before
