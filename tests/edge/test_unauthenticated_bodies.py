"""`POST /` refuses a request that cannot be authentic before reading its body.

Forty raw connections each declare a 31 MiB body under an Authorization header that is missing,
malformed, for an unknown key, too old, or that leaves the target unsigned; each sends 64 KiB,
waits for its answer (which must come before the rest of the body: a 4xx in AWS's JSON
format), then tries to push the rest. The server's resident memory, read from
/proc/<pid>/status, must stay within 100 MB of where it started (before the fix it grew past
1.2 GB). A signed call with a body above the operation's limit is refused from its declared
length alone, and a normal boto3 client still works.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.edge.conftest import ecr_head, rss_bytes
from tests.support.ecr import REGION, AccessKey, ecr_client, signed_request, write_auth_file
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

KEY = AccessKey("210987654321", "AKIAEDGEKNOWNKEY0001", "edge-known-secret-0123456789abcdef")
STRANGER = AccessKey("210987654321", "AKIAEDGEUNKNOWNKEY01", "not-a-key-the-server-knows")
DECLARED = 31 * 1024 * 1024
FIRST = 64 * 1024
PIECE = 1024 * 1024
CONNECTIONS = 40


@pytest.fixture(scope="module")
def server() -> Iterator[DockyardServer]:
    server = DockyardServer()
    auth_file = write_auth_file(server.tmp_dir / "auth.toml", [KEY])
    server.extra_args = ["--auth-file", str(auth_file), "--region", REGION]
    with server:
        yield server


def heads(server: DockyardServer) -> list[tuple[str, bytes]]:
    """One head per way of not being authentic, with the `__type` each must be answered with."""
    stale = ecr_head_at(server, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    unsigned_target = ecr_head(server, "DescribeRepositories", DECLARED, KEY).replace(
        b"SignedHeaders=content-type;host;x-amz-date;x-amz-target",
        b"SignedHeaders=content-type;host;x-amz-date",
    )
    return [
        ("MissingAuthenticationTokenException",
         ecr_head(server, "DescribeRepositories", DECLARED, authorization="")),
        ("IncompleteSignatureException",
         ecr_head(server, "DescribeRepositories", DECLARED, authorization="AWS4-HMAC-SHA256 x")),
        ("UnrecognizedClientException",
         ecr_head(server, "DescribeRepositories", DECLARED, STRANGER)),
        ("InvalidSignatureException", stale),
        ("InvalidSignatureException", unsigned_target),
    ]  # fmt: skip


def ecr_head_at(server: DockyardServer, when: dt.datetime) -> bytes:
    signed = signed_request(server.url, KEY, "DescribeRepositories", b"", when=when)
    headers = {k.lower(): v for k, v in signed.headers.items()}
    headers["content-length"] = str(DECLARED)
    lines = ["POST / HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def send_unauthenticated(server: DockyardServer, head: bytes, answers: list[Any]) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head + b"{" * FIRST)
        answers.append(read_answer(sock))
        sent = FIRST
        try:
            while sent < DECLARED:  # the rest, if the server still takes it
                sock.sendall(b" " * PIECE)
                sent += PIECE
        except (BrokenPipeError, ConnectionResetError):
            pass


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, JSON body and raw head of one answer (read by its Content-Length)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before answering: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-answer: {received!r}"
        body += chunk
    return int(head.split()[1]), json.loads(body), head


def test_unauthenticated_bodies_are_refused_early(server: DockyardServer) -> None:
    pid = server.process.pid
    baseline = rss_bytes(pid)
    kinds = heads(server)
    answers: list[Any] = []
    threads = [
        threading.Thread(
            target=send_unauthenticated, args=(server, kinds[i % len(kinds)][1], answers)
        )
        for i in range(CONNECTIONS)
    ]
    peak = baseline
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_bytes(pid))
        for thread in threads:
            thread.join(0.02)
    peak = max(peak, rss_bytes(pid))
    assert len(answers) == CONNECTIONS
    assert peak - baseline < 100 * 1024 * 1024, (baseline, peak)
    for status, body, head in answers:
        assert 400 <= status < 500, (status, body)
        assert b"connection: close" in head.lower(), head
    expected = {name for name, _ in kinds}
    assert {body["__type"] for _, body, _ in answers} == expected, answers[:5]


def test_a_signed_call_over_the_size_limit_is_refused_from_its_length(
    server: DockyardServer,
) -> None:
    head = ecr_head(server, "DescribeRepositories", 17 * 1024 * 1024, KEY)
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head)
        status, body, _ = read_answer(sock)
    assert status == 413, body
    assert body["__type"] == "SerializationException"
    assert "DescribeRepositories takes at most 16777216 bytes" in body["message"]


def test_a_normal_client_still_works(server: DockyardServer) -> None:
    client = ecr_client(server.url, KEY)
    client.create_repository(repositoryName="edge/after-the-flood")
    names = [r["repositoryName"] for r in client.describe_repositories()["repositories"]]
    assert "edge/after-the-flood" in names
    assert "Traceback" not in server.log_tail(10**6)
