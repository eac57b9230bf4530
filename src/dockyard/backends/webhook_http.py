"""The WebhookSender port over the standard library's HTTP client (one connection a request).

Deliveries are few and run in the dispatcher's worker thread, so a blocking client with a
timeout is all it takes. Any response is a status; only no response at all is an OSError.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping


class UrllibWebhookSender:
    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:  # a non-2xx answer is an answer
            exc.close()
            return exc.code
        except urllib.error.URLError as exc:  # refused, unreachable, bad TLS
            raise OSError(str(exc.reason)) from exc
