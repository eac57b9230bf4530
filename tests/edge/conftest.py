"""The edge suite: a real `dockyard serve` under abuse a registry meets on a network (stalled
and half-sent requests, floods of connections and unauthenticated bodies, careless umasks).

These tests exercise the server process and its HTTP layer, not the metadata and blob
backends, so they run once, on the embedded default (the PostgreSQL + S3 run covers
tests/e2e and tests/ecr).
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.ecr import AccessKey, signed_request
from tests.support.server import DockyardServer

#: With --accept-any-credentials any well-formed key passes the header half of SigV4.
ANY_KEY = AccessKey("123456789012", "AKIAEDGETESTS0000001", "edge-tests-secret")

OPEN_REGISTRY = ("--create-on-push", "--accept-any-credentials")


def edge_server(*extra: str) -> DockyardServer:
    """A Dockyard on the embedded default with ``extra`` serve options (caller starts it)."""
    return DockyardServer(extra_args=(*OPEN_REGISTRY, *extra))


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid``, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def closed_by_peer(sock: socket.socket, wait: float = 60.0) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``wait`` seconds, reading and
    dropping anything it sends first. ``wait`` is a generous bound, not a measured time."""
    return read_until_closed(sock, wait) is not None


def read_until_closed(sock: socket.socket, wait: float = 60.0) -> bytes | None:
    """All the server sends on ``sock`` until it closes it; None if still open after ``wait``."""
    sock.settimeout(wait)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def ecr_head(
    server: DockyardServer,
    operation: str,
    declared_length: int,
    key: AccessKey = ANY_KEY,
    authorization: str | None = None,
) -> bytes:
    """The head of a `POST /` for ``operation`` that declares ``declared_length`` body bytes,
    signed by ``key`` (over an empty body: only the head matters to what is tested), or with
    ``authorization`` as its Authorization header ("" for none)."""
    signed = signed_request(server.url, key, operation, b"")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    headers["content-length"] = str(declared_length)
    if authorization is not None:
        headers.pop("authorization", None)
        if authorization:
            headers["authorization"] = authorization
    lines = ["POST / HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()
