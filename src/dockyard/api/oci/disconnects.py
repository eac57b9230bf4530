"""A client that goes away in the middle of a request body (Starlette's `ClientDisconnect`).

Nothing is left to answer, and nothing is wrong with the server: the services already undid
what the request had started (an upload writer is aborted, back to the last acknowledged byte;
a one-request push is discarded), so this is an info line, not a traceback.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("dockyard.oci")


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    log.info(
        "%s %s abandoned: the client went away while sending its request",
        request.method,
        request.url.path,
    )
    # Never sent: the connection is gone (the server drops anything written to it).
    return Response(status_code=400)
