"""The dispatcher's retry schedule, give-up and signatures, exactly, with an injected clock.

A real SQLite store (the outbox), a real HTTP receiver in this process, the real urllib sender;
only time is injected (FixedClock), so the backoff schedule is checked to the second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.backends.webhook_http import UrllibWebhookSender
from dockyard.domain.events import ActionType
from dockyard.domain.webhooks import parse_webhooks
from dockyard.services.clock import FixedClock
from dockyard.services.event_dispatch import WebhookDispatcher
from dockyard.services.events import EventPublisher

DIGEST = "sha256:" + "b" * 64


class Receiver:
    def __init__(self) -> None:
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server.socket.fileno() != -1:  # not closed yet
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    opened = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    opened.close()


def _setup(store: SqlMetadataStore, receiver: Receiver, clock: FixedClock, **options: object):
    hooks = parse_webhooks([{"url": receiver.url, "secret": "k", "name": "h", **options}])
    publisher = EventPublisher(store, hooks, clock, "us-east-1")
    return publisher, WebhookDispatcher(store, hooks, UrllibWebhookSender(), clock)


def _push(publisher: EventPublisher, store: SqlMetadataStore, tag: str) -> None:
    with store.atomic():
        publisher.image_pushed("123456789012", "app", DIGEST, tag)


def test_failures_back_off_exponentially_then_deliver(store, receiver) -> None:
    clock = FixedClock()
    publisher, dispatcher = _setup(store, receiver, clock, backoff=2.0)
    _push(publisher, store, "v1")
    receiver.statuses = [500, 503, 500]
    for expected_wait in (2.0, 4.0, 8.0):
        assert dispatcher.deliver_once("w") == 1
        clock.advance(expected_wait - 0.5)
        assert dispatcher.deliver_once("w") == 0  # not due yet
        clock.advance(0.5)
    assert dispatcher.deliver_once("w") == 1  # the fourth attempt: 200
    assert store.outbox_counts() == {"PENDING": 0, "DEAD": 0}
    bodies = {body for _, body in receiver.got}
    assert len(receiver.got) == 4 and len(bodies) == 1  # the same event, four times
    headers, body = receiver.got[-1]
    event = json.loads(body)
    assert headers["X-Dockyard-Event-Id"] == event["id"]
    mac = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert headers["X-Dockyard-Signature-256"] == f"sha256={mac}"
    assert event["detail"] == {
        "result": "SUCCESS",
        "repository-name": "app",
        "image-digest": DIGEST,
        "action-type": str(ActionType.PUSH),
        "image-tag": "v1",
    }


def test_gives_up_after_max_attempts_with_one_log_line(store, receiver, caplog) -> None:
    clock = FixedClock()
    publisher, dispatcher = _setup(store, receiver, clock, backoff=1.0, max_attempts=3)
    _push(publisher, store, "v1")
    receiver.statuses = [500] * 10
    with caplog.at_level(logging.ERROR, logger="dockyard.events"):
        for _ in range(3):
            assert dispatcher.deliver_once("w") == 1
            clock.advance(3600)
        assert dispatcher.deliver_once("w") == 0
    assert store.outbox_counts() == {"PENDING": 0, "DEAD": 1}
    assert len(receiver.got) == 3
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("webhook h: gave up on event ") and line.endswith("HTTP 500")


def test_a_refused_connection_is_a_failed_attempt(store, receiver) -> None:
    clock = FixedClock()
    publisher, dispatcher = _setup(store, receiver, clock)
    _push(publisher, store, "v1")
    receiver.close()  # nobody listens on the port any more
    assert dispatcher.deliver_once("w") == 1
    assert store.outbox_counts() == {"PENDING": 1, "DEAD": 0}
    [again] = store.claim_deliveries("x", clock.now() + 1, 60, 10)
    assert again.attempts == 1


def test_an_event_no_webhook_wants_writes_nothing(store, receiver) -> None:
    clock = FixedClock()
    publisher, _ = _setup(store, receiver, clock, repository_prefix="other/")
    _push(publisher, store, "v1")
    assert store.outbox_counts() == {"PENDING": 0, "DEAD": 0}


def test_an_entry_for_a_removed_webhook_is_buried(store, receiver) -> None:
    clock = FixedClock()
    publisher, _ = _setup(store, receiver, clock)
    _push(publisher, store, "v1")
    later = WebhookDispatcher(store, [], UrllibWebhookSender(), clock)  # config changed
    assert later.deliver_once("w") == 1
    assert store.outbox_counts() == {"PENDING": 0, "DEAD": 1}
    assert receiver.got == []
