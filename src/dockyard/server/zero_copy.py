"""Zero-copy response bodies: the kernel moves a file's bytes to the socket (`os.sendfile`).

The app stays pure ASGI: where the server offers the `http.response.zerocopysend` extension
(scope["extensions"]), it sends, after `http.response.start`,

    {"type": "http.response.zerocopysend", "file": <fd>, "offset": <int>, "count": <int>}

and the protocol (server/protocol.py) calls `send_file` below. Offered on plain TCP only: under
TLS the bytes must pass through the TLS layer, so the app streams them as before.

uvloop has no `loop.sendfile` for its transports (NotImplementedError), so this does the
system call itself on a duplicate of the transport's socket descriptor, once the transport's
own buffer is empty (the headers went first), waiting for writability on the duplicate when
the socket buffer is full.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

EXTENSION = "http.response.zerocopysend"


class Counters:
    """How many bodies went out through sendfile (tests check the path is taken)."""

    sends = 0


async def send_file(transport: Any, fd: int, offset: int, count: int) -> int:
    """Send `count` bytes of `fd` from `offset`; the number sent (less if the peer left or the
    file is shorter than promised)."""
    await _drained(transport)
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        return 0
    Counters.sends += 1
    out = os.dup(sock.fileno())
    sent = 0
    try:
        while sent < count:
            try:
                n = os.sendfile(out, fd, offset + sent, count - sent)
            except BlockingIOError:
                await _writable(out)
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if n == 0:  # the file ended early
                break
            sent += n
    finally:
        os.close(out)
    return sent


async def _drained(transport: Any) -> None:
    # The status line and headers were written through the transport; they must leave first.
    while transport.get_write_buffer_size() and not transport.is_closing():
        await asyncio.sleep(0.001)


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)
