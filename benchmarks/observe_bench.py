#!/usr/bin/env python3
"""What the access log and the metrics cost per request, measured in-process (CPU time).

    python benchmarks/observe_bench.py [--requests 3000] [--rounds 5]

Builds the real app (SQLite + files in a temp dir) four ways (access log and metrics each on
or off; the log goes to a file, as a server's stderr would) and drives the same requests
straight through its ASGI interface, without a socket: a manifest GET and a blob HEAD on
`/v2/`, and a PutImage of a new tag through the ECR endpoint. Rounds alternate the modes; the
figure is the median CPU time per request. No uvicorn in the loop, so the overhead is a larger
share here than of a real request (which also pays for HTTP parsing and the socket).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "both on": (True, True),
    "log off": (False, True),
    "metrics off": (True, False),
    "both off": (False, False),
}


def blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


async def call(app, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> int:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
        "client": ("127.0.0.1", 40000),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent = False
    status = 0

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def build(work: Path, access_log: bool, metrics_on: bool):
    from dockyard.app import create_app
    from dockyard.settings import Settings

    return create_app(
        Settings(
            data_dir=work,
            create_on_push=True,
            access_log=access_log,
            record_metrics=metrics_on,
            metrics_route=metrics_on,
        )
    )


async def seed(app, auth: dict[str, str]) -> tuple[str, str]:
    config_digest, config = blob(b'{"architecture":"amd64","os":"linux"}')
    layer_digest, layer = blob(os.urandom(2048))
    for digest, data in ((config_digest, config), (layer_digest, layer)):
        start = await _post_upload(app, auth)
        await call(app, "PUT", f"{start}?digest={digest}", auth, data)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    headers = {**auth, "content-type": "application/vnd.oci.image.manifest.v1+json"}
    assert await call(app, "PUT", "/v2/bench/app/manifests/v1", headers, manifest) == 201
    return layer_digest, manifest.decode()


async def _post_upload(app, auth: dict[str, str]) -> str:
    location = ""

    async def capture(message):
        nonlocal location
        if message["type"] == "http.response.start":
            location = dict(message["headers"])[b"location"].decode()

    scope_headers = [(k.lower().encode(), v.encode()) for k, v in auth.items()]
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/v2/bench/app/blobs/uploads/",
        "raw_path": b"",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "headers": scope_headers,
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(scope, receive, capture)
    return location.split("?")[0]


async def measure(app, auth: dict[str, str], layer: str, requests: int) -> float:
    begin = time.process_time()
    for n in range(requests // 2):
        await call(app, "GET", "/v2/bench/app/manifests/v1", auth)
        await call(app, "HEAD", f"/v2/bench/app/blobs/{layer}", auth)
    return (time.process_time() - begin) / (requests // 2 * 2) * 1e6


async def main_async(args: argparse.Namespace) -> None:
    from dockyard.app import create_app  # noqa: F401 (import cost outside the figures)

    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="observe-bench-") as tmp:
        apps = {}
        for mode, (log_on, metrics_on) in MODES.items():
            app = build(Path(tmp) / mode.replace(" ", "-"), log_on, metrics_on)
            services = app.state.services
            token, _ = services.auth.issue_registry_token(
                services.default_account, f"arn:aws:iam::{services.default_account}:root"
            )
            auth = {"authorization": f"Basic {token}", "host": "127.0.0.1:5000"}
            layer, _ = await seed(app, auth)
            apps[mode] = (app, auth, layer)
        for round_number in range(args.rounds):
            order = list(MODES) if round_number % 2 == 0 else list(MODES)[::-1]
            for mode in order:
                app, auth, layer = apps[mode]
                results[mode].append(await measure(app, auth, layer, args.requests))
    await middleware_alone(args.requests * 5)
    base = statistics.median(results["both off"])
    for mode, samples in results.items():
        median = statistics.median(samples)
        print(
            f"{mode:12} {median:7.1f} µs CPU/request  ({median / base - 1:+.1%} vs both off)"
            f"  samples {[round(s) for s in samples]}"
        )


async def middleware_alone(requests: int) -> None:
    """The middleware's own cost around an app that does nothing: µs per request, by mode."""
    from starlette.routing import Route

    from dockyard.api.observe import Observe

    async def nothing(scope, receive, send):
        scope["route"] = ROUTE
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    ROUTE = Route("/v2/{name:path}/manifests/{reference}", nothing)
    headers = {"host": "127.0.0.1:5000"}
    for mode, (log_on, metrics_on) in MODES.items():
        app = (
            Observe(nothing, access_log=log_on, record_metrics=metrics_on)
            if (log_on or metrics_on)
            else nothing
        )
        begin = time.process_time()
        for _ in range(requests):
            await call(app, "GET", "/v2/bench/app/manifests/v1", headers)
        cost = (time.process_time() - begin) / requests * 1e6
        sys.__stdout__.write(f"middleware alone, {mode:12} {cost:6.1f} µs/request\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    # The access log's stderr: a file, as a server's log usually is.
    log = tempfile.NamedTemporaryFile("w", prefix="observe-bench-", suffix=".log")  # noqa: SIM115
    sys.stderr = log
    try:
        asyncio.run(main_async(args))
    finally:
        sys.stderr = sys.__stderr__
        log.close()


if __name__ == "__main__":
    main()
