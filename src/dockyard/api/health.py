"""Operator endpoints outside both protocols: liveness, readiness and Prometheus metrics.

GET /healthz   200 "ok" while the process answers at all
GET /readyz    200 when the metadata database and the blob store answer; else 503 naming
               the failing part(s): {"database": "...", "blob_store": "ok"}
GET /metrics   the Prometheus exposition (dockyard/metrics.py), unless moved or off
"""

from __future__ import annotations

import asyncio
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from dockyard import metrics

PROBE_TIMEOUT = 5.0


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    services = request.app.state.services
    checks = services.readiness.checks()
    results = await asyncio.gather(*(_check(probe) for probe in checks.values()))
    report = dict(zip(checks, results, strict=True))
    ready = all(result == "ok" for result in report.values())
    return Response(
        json.dumps(report) + "\n", status_code=200 if ready else 503, media_type="application/json"
    )


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(run_in_threadpool(probe), PROBE_TIMEOUT)  # type: ignore[arg-type]
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:g}s"
    except Exception as exc:  # noqa: BLE001 (any failure means not ready; say which)
        return (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
    return "ok"


async def metrics_endpoint(request: Request) -> Response:
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)
