"""What an operator relies on, against real server processes: graceful shutdown, metrics with
several workers or on their own address, and the access log of both protocols."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ociapi
from tests.support.ecr import AccessKey, ecr_client, write_auth_file
from tests.support.server import DockyardServer, free_port

pytestmark = pytest.mark.e2e

OPEN = ("--create-on-push", "--accept-any-credentials")
KEY = AccessKey("123456789012", "AKIAOPERATIONS000001", "operations-secret-0123456789abcdef")


def refused(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_sigterm_lets_an_in_flight_upload_finish_and_exits_0(oci_image, tmp_path: Path) -> None:
    server = DockyardServer(extra_args=[*OPEN, "--shutdown-timeout", "60"]).started()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            ociapi.push(http, "ops/shutdown", oci_image, "v1")
            http.get(ociapi.manifest_url("ops/shutdown", "v1"))  # a pull, flushed at shutdown
            location = ociapi.start_upload(http, "ops/shutdown")
        pieces = [bytes([n]) * 300_000 for n in range(4)]
        first_sent, go_on, answers = threading.Event(), threading.Event(), []

        def body() -> Iterator[bytes]:
            yield pieces[0]
            first_sent.set()
            go_on.wait(60)
            yield from pieces[1:]

        def upload() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as slow:
                answers.append(
                    slow.patch(
                        location,
                        content=body(),
                        headers={"Content-Type": "application/octet-stream"},
                    )
                )

        uploader = threading.Thread(target=upload)
        uploader.start()
        assert first_sent.wait(30)
        server.terminate()
        wait_until(lambda: refused(server.url), "the server to stop accepting connections")
        go_on.set()
        uploader.join(60)
        exit_code = server.wait()

        assert answers and answers[0].status_code == 202, answers
        total = sum(map(len, pieces))
        assert answers[0].headers["Range"] == f"0-{total - 1}"
        assert exit_code == 0, server.log_tail()
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            status = http.get(location)
        assert status.headers["Range"] == f"0-{total - 1}", ociapi.describe(status)
        described = ecr_client(server.url, KEY).describe_images(repositoryName="ops/shutdown")
        assert "lastRecordedPullTime" in described["imageDetails"][0]
    finally:
        server.close()


def total_requests(text: str, operation: str) -> float:
    pattern = re.compile(
        r'^dockyard_http_requests_total\{operation="'
        + re.escape(operation)
        + r'",protocol="[a-z]+",status="200"\} ([0-9.e+]+)$',
        re.MULTILINE,
    )
    return sum(float(value) for value in pattern.findall(text))


def test_metrics_count_every_worker_s_requests() -> None:
    with DockyardServer(extra_args=[*OPEN, "--workers", "2"]) as server:
        for _ in range(40):
            assert httpx.get(server.url + "/v2/", timeout=10).status_code == 200  # new connections
        scrapes = [httpx.get(server.url + "/metrics", timeout=10).text for _ in range(6)]

    assert [total_requests(text, "GET /v2/") for text in scrapes] == [40.0] * 6


def test_metrics_on_their_own_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    with DockyardServer(extra_args=[*OPEN, "--metrics-address", address]) as server:
        assert httpx.get(server.url + "/v2/", timeout=10).status_code == 200
        separate = httpx.get(f"http://{address}/metrics", timeout=10)
        on_registry_port = httpx.get(server.url + "/metrics", timeout=10)

    assert separate.status_code == 200 and total_requests(separate.text, "GET /v2/") >= 1
    assert on_registry_port.status_code == 404


def test_metrics_off() -> None:
    with DockyardServer(extra_args=[*OPEN, "--metrics", "off"]) as server:
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 404


def access_lines(server: DockyardServer) -> list[dict]:
    found = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith('{"time"'):
            found.append(json.loads(line))
    return found


def test_the_access_log_of_the_ecr_api() -> None:
    server = DockyardServer(extra_args=["--log-format", "json"])
    auth = write_auth_file(server.tmp_dir / "auth.toml", [KEY])
    server.extra_args += ["--auth-file", str(auth)]
    with server:
        ecr_client(server.url, KEY).create_repository(repositoryName="ops/logged")
        wrong = AccessKey(KEY.account_id, KEY.access_key_id, "not-the-secret-at-all-000000")
        with pytest.raises(Exception, match="signature"):
            ecr_client(server.url, wrong).describe_repositories()
        assert server.stop() == 0  # the log is written in batches; all of it by exit
        lines = access_lines(server)
        log = server.log_path.read_text()

    created = next(line for line in lines if line["operation"] == "CreateRepository")
    assert created["protocol"] == "ecr" and created["repository"] == "ops/logged"
    assert created["account"] == KEY.account_id and created["status"] == 200
    assert created["principal"] == f"arn:aws:iam::{KEY.account_id}:root"
    refused_call = next(line for line in lines if line["operation"] == "DescribeRepositories")
    assert refused_call["status"] == 400 and "signature" in refused_call["auth_error"]
    assert KEY.secret_access_key not in log and "not-the-secret" not in log
