"""Events reach webhooks from the durable outbox, whatever happens to the receiver or the server.

One real `dockyard serve` with two webhooks in its --config file and an audit log; a receiver
(a tiny threaded http.server in this process) on a fixed port that is first down (connections
refused), then answers 500, then 200. Changes are made through both protocols while it is down,
the server is killed (a crash, nothing flushed) and started again; in the end every event
arrives, every signature verifies, and duplicates (at-least-once) carry the same id and body.
The second webhook always fails and ends DEAD after its attempts, with one log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.ecr import (
    AccessKey,
    ecr_client,
    push_ecr,
    registry_token,
    small_image,
    v2_client,
    wait_for,
    write_auth_file,
)
from tests.support.server import DockyardServer, ServerStartError, free_port

KEY = AccessKey("333333333333", "AKIAWEBHOOKTESTROOT1", "webhook-test-secret-0123456789abcdefghij")
SECRET = "webhook-signing-secret"
REPO = "hooks/app"


class Receiver:
    """A webhook endpoint on a fixed port: down until `start`, then answering `status`."""

    def __init__(self, port: int) -> None:
        self.port, self.status = port, 500
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self, status: int) -> None:
        receiver, self.status = self, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.status if self.path == "/hook" else 500
                with receiver._lock:
                    if status == 200:
                        receiver.accepted.append((dict(self.headers), body))
                    else:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class TestClock:
    """The file of the server's --test-clock: seconds added to its time."""

    __test__ = False  # not a test class

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0.0
        path.write_text("0")

    def hurry(self) -> bool:
        self.offset += 3600
        staged = self.path.with_suffix(".new")
        staged.write_text(str(self.offset))
        os.replace(staged, self.path)
        return True


def _config(path: Path, port: int) -> Path:
    path.write_text(f'''
[[webhooks]]
name = "main"
url = "http://127.0.0.1:{port}/hook"
secret = "{SECRET}"
backoff = 0.2
max_attempts = 60

[[webhooks]]
name = "doomed"
url = "http://127.0.0.1:{port}/always-fails"
secret = "other"
events = ["ECR Image Action"]
actions = ["DELETE"]
backoff = 0.1
max_attempts = 2
''')
    return path


def _make_changes(server: DockyardServer) -> dict[str, str]:
    """Pushes, a tag move, deletes through both protocols and a scan; the digests by name."""
    ecr = ecr_client(server.url, KEY)
    ecr.create_repository(repositoryName=REPO)
    a, b = small_image("hook-a"), small_image("hook-b")
    push_ecr(ecr, REPO, a, "v1")
    push_ecr(ecr, REPO, b, "v2")
    ecr.put_image(
        repositoryName=REPO,
        imageManifest=b.manifest.data.decode(),
        imageManifestMediaType=b.manifest.media_type,
        imageTag="v1",
    )  # v1 moves to b
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v2"}])  # b keeps v1
    with v2_client(server.url, registry_token(ecr)) as v2:  # a, now untagged, through /v2/
        assert v2.delete(f"/v2/{REPO}/manifests/{a.digest}").status_code == 202
    ecr.start_image_scan(repositoryName=REPO, imageId={"imageDigest": b.digest})
    return {"a": a.digest, "b": b.digest}


def _signed(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Dockyard-Signature-256"], expected)


def _summary(event: dict) -> tuple[str, ...]:
    detail = event["detail"]
    if event["detail-type"] == "ECR Image Scan":
        return ("SCAN", detail["scan-status"], detail["image-digest"], *detail["image-tags"])
    return (detail["action-type"], detail["image-tag"], detail["image-digest"])


def test_every_event_arrives_signed_through_outage_and_crash(tmp_path: Path) -> None:
    receiver = Receiver(free_port())
    audit, clock = tmp_path / "audit.jsonl", TestClock(tmp_path / "clock")
    args = [
        "--config",
        str(_config(tmp_path / "dockyard.toml", receiver.port)),
        "--auth-file",
        str(write_auth_file(tmp_path / "auth.toml", [KEY])),
        "--audit-log",
        str(audit),
        "--test-clock",
        str(clock.path),
    ]
    server = DockyardServer(tmp_path / "data", extra_args=args)
    try:
        server.start()
        digests = _make_changes(server)
        server.kill()  # a crash while the receiver is down: the events are in the outbox
        server.start()
        receiver.start(500)
        # However long the backoff has grown meanwhile (a slow machine), the next retries are
        # made due at once by moving the server's clock on an hour at each poll.
        assert wait_for(lambda: clock.hurry() and receiver.refused >= 3, timeout=30)
        receiver.status = 200
        a, b = digests["a"], digests["b"]
        expected = {
            ("PUSH", "v1", a),
            ("PUSH", "v2", b),
            ("PUSH", "v1", b),
            ("DELETE", "v2", b),
            ("DELETE", "", a),
            ("SCAN", "FAILED", b, "v1"),
        }
        arrived = wait_for(
            lambda: (
                clock.hurry()
                and {_summary(json.loads(body)) for _, body in receiver.accepted} >= expected
            ),
            timeout=60,
        )
        assert arrived, ([body for _, body in receiver.accepted], server.log_tail())
        # Both of the doomed webhook's DELETE events are given up on (each logs a line).
        assert wait_for(
            lambda: clock.hurry() and server.log_tail().count("webhook doomed: gave up") >= 2,
            timeout=30,
        )
        log = server.log_tail()
    finally:
        receiver.stop()
        server.close()
    by_id: dict[str, bytes] = {}
    for headers, body in receiver.accepted:
        event = json.loads(body)
        assert _signed(headers, body)
        assert headers["X-Dockyard-Event-Id"] == event["id"]
        assert by_id.setdefault(event["id"], body) == body  # a repeat is the same event
        assert (event["source"], event["account"], event["region"]) == (
            "aws.ecr",
            KEY.account_id,
            "us-east-1",
        )
    assert sorted(_summary(json.loads(body)) for body in by_id.values()) == sorted(expected)
    assert log.count("gave up on event") == 2  # the doomed webhook's two DELETE events
    _check_audit(audit, digests)


def _check_audit(audit: Path, digests: dict[str, str]) -> None:
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    seen = [(line["action"], line["result"], line["digest"], tuple(line["tags"])) for line in lines]
    a, b = digests["a"], digests["b"]
    assert seen == [
        ("CreateRepository", "SUCCESS", None, ()),
        ("PushImage", "SUCCESS", a, ("v1",)),
        ("PushImage", "SUCCESS", b, ("v2",)),
        ("PushImage", "SUCCESS", b, ("v1",)),
        ("DeleteTag", "SUCCESS", b, ("v2",)),
        ("DeleteImage", "SUCCESS", a, ()),
    ]
    root = f"arn:aws:iam::{KEY.account_id}:root"
    assert {(line["account"], line["principal"]) for line in lines} == {(KEY.account_id, root)}
    assert all(line["repository"] == REPO for line in lines)


def test_a_bad_webhook_table_stops_the_server_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[webhooks]]\nurl = "http://127.0.0.1:1/h"\n')
    server = DockyardServer(tmp_path / "data", extra_args=["--config", str(config)])
    try:
        with pytest.raises(ServerStartError, match="'secret' is required"):
            server.start()
        assert "Traceback" not in server.log_tail()
    finally:
        server.close()


def test_failed_changes_are_audited_as_failed(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    args = [
        "--auth-file",
        str(write_auth_file(tmp_path / "auth.toml", [KEY])),
        "--audit-log",
        str(audit),
    ]
    with DockyardServer(tmp_path / "data", extra_args=args) as server:
        ecr = ecr_client(server.url, KEY)
        ecr.create_repository(repositoryName=REPO, imageTagMutability="IMMUTABLE")
        image = small_image("immutable")
        push_ecr(ecr, REPO, image, "v1")
        with v2_client(server.url, registry_token(ecr)) as v2:
            refused = v2.put(
                f"/v2/{REPO}/manifests/v1",
                content=image.manifest.data,
                headers={"Content-Type": image.manifest.media_type},
            )
        assert refused.status_code == 400
    last = json.loads(audit.read_text().splitlines()[-1])
    assert (last["action"], last["result"], last["error"], last["tags"]) == (
        "PushImage",
        "FAILED",
        "TagImmutable",
        ["v1"],
    )
