"""The fuzzed registries and the checks every answer must pass.

Two targets, both seeded with `world.seed`:

* `inprocess` (module scope): the ASGI app in this process through Starlette's TestClient, with
  server exceptions turned into 500 answers and every ERROR log record collected. Fast, so it
  takes most examples.
* `subprocess_server` (module scope): a real `dockyard serve` (uvicorn, httptools) whose
  log file must hold no traceback when the module is done. Fewer examples, real HTTP parsing.

Budget: `examples(n)` is each test's example count, `n` by default, the same examples on every
run (`derandomize=True`, no example database) so CI cannot flake. To explore, set
`DOCKYARD_FUZZ_EXAMPLES=2000` (random examples, a fresh seed each run; a failure prints the
shrunk example and a `@reproduce_failure` blob; `DOCKYARD_FUZZ_SEED=<n>` fixes the seed).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, seed, settings
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.fuzz import world
from tests.fuzz.oci_requests import OciRequest, url_of
from tests.support import ociapi
from tests.support.ecr import (
    SIGV4_ERRORS,
    AccessKey,
    response_problems,
    signed_request,
    small_image,
    write_auth_file,
)
from tests.support.server import DockyardServer

KEY = AccessKey(world.ACCOUNT, "AKIAFUZZACCOUNTROOT1", "fuzz-secret-0123456789abcdefghijklmnopqrs")
REGION = "us-east-1"
ENV_EXAMPLES, ENV_SEED = "DOCKYARD_FUZZ_EXAMPLES", "DOCKYARD_FUZZ_SEED"


def examples(default: int) -> int:
    return int(os.environ.get(ENV_EXAMPLES) or default)


def fuzz_settings(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Hypothesis settings of one fuzz test: bounded, and deterministic unless exploring."""
    exploring = bool(os.environ.get(ENV_EXAMPLES))
    configured = settings(
        max_examples=examples(default),
        derandomize=not exploring,
        database=None,
        deadline=None,
        print_blob=exploring,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )
    if exploring and os.environ.get(ENV_SEED):
        return lambda test: seed(int(os.environ[ENV_SEED]))(configured(test))
    return configured


class ErrorRecords(logging.Handler):
    """Every ERROR (or worse) record the app logs: a logged exception is a bug found."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(self.format(record))


@dataclass
class Target:
    """One fuzzed registry: an HTTP client that carries a registry token, and its base URL."""

    http: httpx.Client
    base_url: str
    log_problems: Callable[[], list[str]]
    pushed: list[str] = field(default_factory=list)

    def oci(self, request: OciRequest) -> httpx.Response:
        response = self.http.request(
            request.method, url_of(request), headers=request.headers, content=request.body
        )
        assert_oci_answer(request, response)
        return response

    def ecr(self, operation: str, body: bytes) -> httpx.Response:
        request = signed_request(self.base_url, KEY, operation, body)
        response = self.http.send(request)
        assert_ecr_answer(operation, body, response)
        return response

    def assert_healthy(self) -> None:
        """Still answering, still storing: health, a listing, and a push and pull round trip."""
        assert self.http.get("/healthz").status_code == 200
        assert self.ecr("DescribeRepositories", b"{}").status_code == 200
        image = small_image(f"health-{len(self.pushed)}")
        self.pushed.append(image.digest)
        ociapi.push(self.http, "fuzz/health", image, "check")
        pulled = self.http.get(f"/v2/fuzz/health/manifests/{image.digest}")
        assert (pulled.status_code, pulled.content) == (200, image.manifest.data)
        got = self.ecr(
            "BatchGetImage",
            json.dumps(
                {"repositoryName": "fuzz/health", "imageIds": [{"imageDigest": image.digest}]}
            ).encode(),
        )
        assert got.json()["images"][0]["imageManifest"] == image.manifest.data.decode()
        assert self.log_problems() == []


def assert_oci_answer(request: OciRequest, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{request!r} -> {response.status_code} {response.text}"
    if response.status_code < 400 or request.method == "HEAD" or response.status_code == 401:
        return  # 401 is the Basic challenge (text), e.g. for a bad download signature
    codes = [e.get("code") for e in response.json()["errors"]]
    assert codes and all(isinstance(c, str) for c in codes), f"{request!r} -> {response.text}"


def assert_ecr_answer(operation: str, body: bytes, response: httpx.Response) -> None:
    problems = response_problems(
        operation, response.status_code, response.headers, response.content
    )
    if _not_json(body):  # AWS JSON services answer SerializationException to unreadable bodies
        problems = [p for p in problems if not p.startswith("SerializationException is not")]
    assert problems == [], f"{operation} {body[:500]!r}: {problems}\n{response.text[:500]}"


def _not_json(body: bytes) -> bool:
    try:
        json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return True
    return False


assert "SerializationException" not in SIGV4_ERRORS  # else the allowance above is moot


# -- the targets -----------------------------------------------------------------------------


def _token(http: httpx.Client, base_url: str) -> str:
    answer = http.send(signed_request(base_url, KEY, "GetAuthorizationToken", b"{}"))
    return answer.json()["authorizationData"][0]["authorizationToken"]


@pytest.fixture(scope="module")
def inprocess(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("fuzz-inprocess")
    auth_file = write_auth_file(root / "auth.toml", [KEY])
    app = create_app(
        Settings(data_dir=root / "data", auth_file=auth_file, create_on_push=True, region=REGION)
    )
    records = ErrorRecords()
    logging.getLogger().addHandler(records)
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            base_url = str(http.base_url).rstrip("/")
            http.headers["Authorization"] = f"Basic {_token(http, base_url)}"
            world.seed(http)
            yield Target(http, base_url, lambda: list(records.found))
    finally:
        logging.getLogger().removeHandler(records)


# What a server log must never hold; access log lines of 4xx answers are fine.
_LOG_PROBLEM = re.compile(r"Traceback|Exception in ASGI application|\bERROR\b|\bCRITICAL\b")


def log_problems(path: Path) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [line for line in text.splitlines() if _LOG_PROBLEM.search(line)]


@pytest.fixture(scope="module")
def subprocess_server() -> Iterator[Target]:
    server = DockyardServer()
    auth_file = write_auth_file(server.tmp_dir / "auth.toml", [KEY])
    server.extra_args = ["--auth-file", str(auth_file), "--create-on-push", "--region", REGION]
    with server, httpx.Client(base_url=server.url, timeout=60.0) as http:
        http.headers["Authorization"] = f"Basic {_token(http, server.url)}"
        world.seed(http)
        yield Target(http, server.url, lambda: log_problems(server.log_path))
