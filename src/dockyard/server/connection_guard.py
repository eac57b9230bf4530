"""Connection hygiene for `dockyard serve`: what one connection may hold, and for how long.

    accept -> over --max-connections? make room by closing the connection that has waited
              longest without a request in progress; if every connection is serving one, close
              the new connection at once (nothing read, nothing answered)
           -> header timer (--header-timeout) armed: no complete request head in time? close
           -> head complete: timer off; the request runs (body batching: server/protocol.py)
           -> response sent: idle; uvicorn's keep-alive timer (--keepalive-timeout) until the
              next request's first byte, which arms the header timer again

Without these, a connection that sends half a request line and stalls holds a file descriptor
forever, and ~20,000 of them leave the server unable to accept anyone. With them, stalled and
idle connections are the first to go when the server is full, so a flood of them delays a real
client by no more than the time it takes to send its request head. The limits are per server
process (`--workers N` serves up to N times as many connections).

Why not uvicorn's `limit_concurrency`: it still accepts and reads every connection, counts
running requests as well as connections, and answers `503` only once a request head has
arrived, so it never bounds connections that send no complete head. Here a connection that
finds the server full of requests in progress is closed as soon as it is accepted, before it
costs any memory; its client sees the connection closed and may retry.

The limits (server/connection_limits.py) reach uvicorn's worker processes (`--workers N`, which
import this module afresh) through an environment variable, as the settings do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import ClassVar

from dockyard.server.connection_limits import ENVIRONMENT_VARIABLE, ConnectionLimits
from dockyard.server.protocol import BodyBatchingProtocol

log = logging.getLogger("dockyard.connections")
#: At most one "over the limit" warning per this many seconds (a flood must not flood the log).
WARN_EVERY = 10.0


class GuardedProtocol(BodyBatchingProtocol):
    """BodyBatchingProtocol with a connection limit and a header timeout (see the module)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits.from_environment()
    _last_warning: ClassVar[dict[str, float]] = {}  # per action
    #: Connections of this process without a request in progress, longest waiting first (a
    #: dict keeps insertion order): the ones to close when the server is full.
    _without_request: ClassVar[dict[GuardedProtocol, None]] = {}
    header_timer: asyncio.TimerHandle | None

    @classmethod
    def configure(cls, limits: ConnectionLimits) -> None:
        """Use `limits` in this process and in worker processes started from it."""
        cls.limits = limits
        os.environ[ENVIRONMENT_VARIABLE] = limits.to_environment()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        self.header_timer = None
        if len(self.connections) > self.limits.max_connections and not self._make_room():
            self._warn_over_limit("refusing new connections")
            transport.close()
            return
        self._arm_header_timer()
        self._without_request[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._without_request.pop(self, None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._without_request.pop(self, None)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        idle = not self.pipeline
        super().on_response_complete()
        if idle and not self.transport.is_closing():
            self._without_request[self] = None  # to the back of the line

    def _make_room(self) -> bool:
        """Close the connection that has waited longest without a request; False if none."""
        for victim in self._without_request:
            if victim is not self:
                self._without_request.pop(victim)
                self._warn_over_limit("closing the connections idle longest")
                victim.transport.close()
                return True
        return False

    def _arm_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(
                self.limits.header_timeout, self._header_timeout_expired
            )

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout_expired(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is late while a response is still going out: let that response
            # finish, then close rather than wait for the rest of the head.
            self.cycle.keep_alive = False
            return
        log.debug(
            "closing a connection from %s: no complete request head within %ss",
            _peer(self.client),
            self.limits.header_timeout,
        )
        self.transport.close()

    def _warn_over_limit(self, action: str) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(action, -WARN_EVERY) >= WARN_EVERY:
            self._last_warning[action] = now
            log.warning(
                "connection limit reached (%d open, --max-connections %d): %s",
                len(self.connections) - 1,
                self.limits.max_connections,
                action,
            )


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"
