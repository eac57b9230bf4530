"""Access log, request ids, /metrics and /readyz on the ASGI app (dockyard.api.observe, health)."""

from __future__ import annotations

import io
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings

from .conftest import CheckedClient, registry_token
from .oci_client import NAME, OciClient, image


class Captured(io.StringIO):
    """The access log's stream; lines are written in batches, so reading waits for them."""

    def lines(self, until=lambda lines: bool(lines), timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.getvalue().splitlines()
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.01)


@pytest.fixture
def access_log() -> Iterator[Captured]:
    """sys.stderr, where the access log writes, replaced for the test. Set in the test's own
    phase: pytest's capture sets sys.stderr again between a fixture's setup and the test."""
    captured, real = Captured(), sys.stderr
    yield captured
    if sys.stderr is captured:
        sys.stderr = real


def capturing(captured: Captured) -> None:
    sys.stderr = captured


def json_app(tmp_path: Path, **settings: object) -> TestClient:
    """A registry logging JSON lines; the access log is built at the first request, so it
    writes to the sys.stderr of that moment (the `access_log` fixture's)."""
    app = create_app(Settings(data_dir=tmp_path / "json", log_format="json", **settings))
    client = TestClient(app)
    client.headers["Authorization"] = f"Basic {registry_token(app)}"
    return client


def test_every_answer_carries_a_request_id(client: CheckedClient) -> None:
    first, second = client.get("/v2/"), client.get("/v2/")

    assert len(first.headers["x-request-id"]) >= 16
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_a_well_formed_incoming_request_id_is_kept_and_a_bad_one_replaced(client) -> None:
    kept = client.get("/v2/", headers={"X-Request-Id": "edge-7f3a.1"})
    replaced = client.get("/v2/", headers={"X-Request-Id": "two words\x7f"})

    assert kept.headers["x-request-id"] == "edge-7f3a.1"
    assert replaced.headers["x-request-id"] not in ("two words\x7f", "")


def test_the_access_log_line_has_every_field(tmp_path: Path, access_log: Captured) -> None:
    capturing(access_log)
    with json_app(tmp_path, create_on_push=True) as http:
        pushed = OciClient(http).push(NAME, image("logged"), "v1")
        fetched = http.get(f"/v2/{NAME}/manifests/v1", headers={"X-Request-Id": "req-42"})
        access_lines = access_log.lines(until=lambda found: any("req-42" in t for t in found))
    account = http.app.state.services.default_account

    line = next(json.loads(text) for text in access_lines if '"req-42"' in text)
    assert pushed.status_code == 201
    assert line["request_id"] == "req-42" and line["status"] == 200
    assert line["protocol"] == "oci" and line["repository"] == NAME
    assert line["operation"] == "GET /v2/{name:path}/manifests/{reference}"
    assert line["account"] == account and line["principal"] == f"arn:aws:iam::{account}:root"
    assert line["bytes_out"] == len(fetched.content) and line["bytes_in"] == 0
    assert line["remote"] and line["time"].endswith("Z") and line["duration_ms"] >= 0
    put = next(json.loads(t) for t in access_lines if '"PUT /v2/{name:path}/manifests' in t)
    assert put["bytes_in"] > 0 and put["status"] == 201


def test_a_refused_credential_is_logged_with_its_reason_and_no_secret(
    tmp_path: Path, access_log: Captured
) -> None:
    capturing(access_log)
    with json_app(tmp_path) as http:
        http.get("/v2/", headers={"Authorization": "Basic QVdTOnNlY3JldC10b2tlbg=="})
        access_lines = access_log.lines(until=lambda found: any("auth_error" in t for t in found))

    line = json.loads(access_lines[-1])
    assert line["status"] == 401 and line["operation"] == "unauthenticated"
    assert line["auth_error"] == "forged or malformed credentials"
    assert "secret-token" not in access_lines[-1] and "QVdT" not in access_lines[-1]


def test_access_log_off_writes_nothing(tmp_path: Path, access_log: Captured) -> None:
    capturing(access_log)
    with json_app(tmp_path, access_log=False) as http:
        assert http.get("/v2/").status_code == 200
        time.sleep(0.2)  # longer than a batch waits

    assert "request_id" not in access_log.getvalue()


def test_metrics_name_routes_and_never_repositories(registry: OciClient, client) -> None:
    registry.push("secret-team/secret-repo", image("m"), "v1")
    client.get("/v2/secret-team/secret-repo/manifests/v1")

    text = client.get("/metrics").text

    assert "secret-team" not in text and "sha256:" not in text
    assert (
        'dockyard_http_requests_total{operation="GET /v2/{name:path}/manifests/{reference}",'
        'protocol="oci",status="200"}'
    ) in text
    assert "dockyard_http_request_duration_seconds_bucket" in text
    assert "dockyard_http_received_bytes_total" in text
    assert "dockyard_uploads_in_progress" in text and "dockyard_scan_queue_depth" in text


def test_metrics_can_be_left_off_the_registry_port(tmp_path: Path) -> None:
    with json_app(tmp_path, metrics_route=False) as http:
        assert http.get("/metrics").status_code == 404


def test_readyz_names_the_part_that_fails(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    with json_app(tmp_path, storage_url=f"file://{blobs}") as http:
        ready = http.get("/readyz")
        shutil.rmtree(blobs)
        blobs.write_text("not a directory any more")
        failing = http.get("/readyz")

    assert ready.status_code == 200 and ready.json() == {"database": "ok", "blob_store": "ok"}
    assert failing.status_code == 503
    assert failing.json()["database"] == "ok" and failing.json()["blob_store"] != "ok"
    assert http.get("/healthz").status_code == 200
