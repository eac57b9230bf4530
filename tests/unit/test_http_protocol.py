"""The HTTP protocol `dockyard serve` runs: request bodies reach the app whole and in order, in
pieces of at least HAND_OVER bytes (but the last), however the client sends them."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from dockyard.server.connection_guard import GuardedProtocol
from dockyard.server.protocol import HAND_OVER, BodyBatchingProtocol


async def _echo(scope, receive, send) -> None:
    """Answers with the sha256, length and piece sizes of the body it received."""
    if scope["type"] != "http":
        return
    digest, pieces, more = hashlib.sha256(), [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        digest.update(message["body"])
        pieces.append(len(message["body"]))
        more = message.get("more_body", False)
    body = json.dumps({"sha256": digest.hexdigest(), "pieces": pieces}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(
    scope="module", params=[BodyBatchingProtocol, GuardedProtocol], ids=["batching", "guarded"]
)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    # GuardedProtocol (connection limits and timers) must keep the batching intact.
    config = uvicorn.Config(
        _echo, host="127.0.0.1", port=0, http=request.param, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    srv.should_exit = True
    thread.join(10)


def _request(
    address: tuple[str, int],
    head: bytes,
    parts: list[bytes],
    pause: float = 0,
    wait_for_continue: bool = False,
) -> dict:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        if wait_for_continue:
            assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        for part in parts:
            sock.sendall(part)
            if pause:
                time.sleep(pause)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            more = sock.recv(65536)
            assert more, f"connection closed after {answer!r}"
            answer += more
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200"), status
    return json.loads(body)


def _chunked(data: bytes, size: int) -> list[bytes]:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
        for i in range(0, len(data), size)
    ]
    return [*parts, b"0\r\n\r\n"]


def _check(answer: dict, data: bytes) -> None:
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    assert sum(answer["pieces"]) == len(data)
    assert all(size >= HAND_OVER for size in answer["pieces"][:-1]), answer["pieces"]


def test_a_chunked_body_in_small_chunks_arrives_whole_in_large_pieces(server) -> None:
    data = os.urandom(3 * HAND_OVER + 12345)
    head = b"PATCH /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _request(server, head, _chunked(data, 32 * 1024))
    _check(answer, data)
    assert len(answer["pieces"]) <= 5  # not one per 32 KiB chunk


def test_a_slow_client_still_gets_its_body_through(server) -> None:
    data = os.urandom(100_000)  # less than HAND_OVER: handed over when the body ends
    head = b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data)
    parts = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
    answer = _request(server, head, parts, pause=0.01)
    _check(answer, data)
    assert answer["pieces"] == [len(data)]


def test_a_large_body_sent_at_once(server) -> None:
    data = os.urandom(8 * 1024 * 1024 + 1)
    head = b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data)
    _check(_request(server, head, [data]), data)


def test_expect_100_continue(server) -> None:
    data = os.urandom(HAND_OVER + 1)
    head = (
        b"PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(data)
    )
    _check(_request(server, head, [data], wait_for_continue=True), data)


def test_empty_bodies_and_keep_alive(server) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        for body in (b"", b"abc", b""):
            sock.sendall(
                b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            answer = sock.recv(65536)
            assert hashlib.sha256(body).hexdigest().encode() in answer


def test_a_client_that_goes_away_mid_body_leaves_the_server_serving(server) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        sock.sendall(os.urandom(HAND_OVER * 2))
    time.sleep(0.1)
    data = os.urandom(1000)
    head = b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data)
    _check(_request(server, head, [data]), data)
