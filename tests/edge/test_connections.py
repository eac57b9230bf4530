"""Connection hygiene: a stalled request head is closed after --header-timeout, an idle
keep-alive connection after --keepalive-timeout, and connections beyond --max-connections are
closed as soon as they are accepted; through all of it, normal requests are answered.

Timeouts are set short here so the tests are quick; nothing asserts how long anything took,
only that it happened within a generous bound.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.edge.conftest import closed_by_peer, ecr_head, edge_server, read_until_closed
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

HALF_A_REQUEST_LINE = b"GET /v2/_catalog HT"


def connect(server: DockyardServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=30)


def answered(server: DockyardServer, within: float = 60.0) -> httpx.Response:
    """`GET /v2/` on a fresh connection, retried while connections are refused (the bound is
    generous; the server frees slots as it closes stalled connections)."""
    deadline = time.monotonic() + within
    while True:  # with within=0: one try
        try:
            return httpx.get(server.url + "/v2/", timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[DockyardServer]:
    with edge_server("--header-timeout", "1", "--keepalive-timeout", "1",
                     "--max-connections", "64") as started:  # fmt: skip
        yield started


def test_half_a_request_line_is_closed(server: DockyardServer) -> None:
    with connect(server) as sock:
        sock.sendall(HALF_A_REQUEST_LINE)
        assert read_until_closed(sock) == b""


def test_a_connection_that_sends_nothing_is_closed(server: DockyardServer) -> None:
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


def test_headers_sent_one_byte_at_a_time_forever_are_closed(server: DockyardServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 60
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"X")  # a header that never ends: the timer is not reset by bytes
                time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed or closed_by_peer(sock, wait=5)


def test_an_idle_keepalive_connection_is_closed(server: DockyardServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"ok"):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert closed_by_peer(sock)


def test_a_slow_request_still_completes_in_time(server: DockyardServer) -> None:
    """A request head that arrives in pieces, but whole within the timeout, is answered."""
    with connect(server) as sock:
        for piece in (b"GET /healthz HT", b"TP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.05)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer


def test_many_stalled_connections_do_not_stop_normal_requests(server: DockyardServer) -> None:
    """Four times --max-connections send half a request line and stall: those over the limit
    are closed at once, the rest after the header timeout, and a normal request gets through."""
    stalled = []
    try:
        for _ in range(256):
            sock = connect(server)
            stalled.append(sock)
            try:
                sock.sendall(HALF_A_REQUEST_LINE)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed at once: over the limit
        response = answered(server)
        assert response.status_code == 200, response.text
        assert all(read_until_closed(sock) == b"" for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()
    assert answered(server).status_code == 200
    assert "Traceback" not in server.log_tail(10**6)


@pytest.fixture(scope="module")
def small_server() -> Iterator[DockyardServer]:
    """Room for 8 connections, and a header timeout long enough never to fire here."""
    with edge_server("--header-timeout", "600", "--max-connections", "8") as started:
        yield started


def test_when_full_the_connection_idle_longest_makes_room(small_server: DockyardServer) -> None:
    idle = [connect(small_server) for _ in range(8)]
    try:
        time.sleep(0.5)  # let the server accept all eight (nothing asserts on time)
        assert answered(small_server, within=0).status_code == 200
        assert read_until_closed(idle[0]) == b""  # the first to connect went first
        assert all(read_until_closed(sock, wait=0.2) is None for sock in idle[2:])
    finally:
        for sock in idle:
            sock.close()
    assert "closing the connections idle longest" in small_server.log_tail()


def test_when_every_connection_serves_a_request_a_new_one_is_closed(
    small_server: DockyardServer,
) -> None:
    """Eight ECR calls whose bodies are still coming hold every slot: a ninth connection is
    closed as soon as it is accepted, unanswered; when one call goes away, requests flow."""
    head = ecr_head(small_server, "DescribeRepositories", declared_length=1000)
    busy = [connect(small_server) for _ in range(8)]
    try:
        for sock in busy:
            sock.sendall(head + b"{")
        time.sleep(0.5)  # let the server read all eight heads (nothing asserts on time)
        with connect(small_server) as extra:
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert read_until_closed(extra) == b""  # closed, and nothing answered
        busy.pop().close()
        assert answered(small_server).status_code == 200
    finally:
        for sock in busy:
            sock.close()
    assert "refusing new connections" in small_server.log_tail()
