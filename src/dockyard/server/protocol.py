"""The HTTP/1.1 protocol `dockyard serve` runs under uvicorn: uvicorn's own (httptools), except
that a request body reaches the app in pieces of 256 KiB or more, not one per socket read.

Why: uvicorn wakes the app for every read of a request body and copies what it buffered once
more to hand it over. When skopeo streams a layer the reads are small (tens of KiB), and each
wakeup runs uvicorn's receive, Starlette's stream and the upload batcher: a large share of the
server's CPU per GiB pushed (benchmarks/README.md, run.py). Here the body is handed over when
256 KiB have gathered (or it ended, or the client went away), and without the extra copy.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from dockyard.server import zero_copy

HAND_OVER = 256 * 1024
# Reading pauses while this much waits for the app; it must be above HAND_OVER, or reading
# would stop before the app is woken to take the body.
PAUSE_ABOVE = HAND_OVER


class BodyBatchingProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:
            # The cycle is built inside uvicorn's handler; only how it holds the body changes.
            self.cycle.__class__ = _BatchedBodyCycle
            # mypy still sees the uvicorn class, which has no such attributes
            self.cycle.pieces, self.cycle.held = [], 0  # type: ignore[attr-defined]
            if self.transport.get_extra_info("sslcontext") is None:  # TLS: bytes pass through it
                self.scope.setdefault("extensions", {})[zero_copy.EXTENSION] = {}

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        if type(cycle) is not _BatchedBodyCycle:
            super().on_body(body)
            return
        cycle.pieces.append(body)
        cycle.held += len(body)
        if cycle.held > PAUSE_ABOVE:
            self.flow.pause_reading()
        if cycle.held >= HAND_OVER:
            cycle.message_event.set()


class _BatchedBodyCycle(RequestResponseCycle):
    """Holds the body as the pieces read (a piece is not copied until it is handed over, and a
    piece of 256 KiB or more, as a fast client sends, not at all)."""

    pieces: list[bytes]
    held: int

    async def send(self, message: Any) -> None:
        if message["type"] != zero_copy.EXTENSION:
            await super().send(message)
            return
        if self.disconnected or not self.response_started or self.response_complete:
            return
        count = message["count"]
        if self.scope["method"] != "HEAD":
            sent = await zero_copy.send_file(
                self.transport, message["file"], message["offset"], count
            )
            if sent != count:  # the client left, or the file shrank: the response cannot end
                self.transport.close()
                return
        # uvicorn's own bookkeeping ends the response (Content-Length met, keep-alive or close).
        self.expected_content_length -= count
        await super().send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive(self):  # type: ignore[override]
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        pieces, self.pieces, self.held = self.pieces, [], 0
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return {"type": "http.request", "body": body, "more_body": self.more_body}
