"""An OCI Distribution client of one upstream registry, over httpx (the UpstreamClient port).

    request ──► 401 + WWW-Authenticate: Bearer realm,service,scope ──► GET realm (Basic with
                the credentials, if any) ──► token (kept per scope until it expires) ──► retry
            └─► 401 + WWW-Authenticate: Basic ──► retry with the credentials

Every failure leaves as UpstreamError (UpstreamNotFound for a 404): the pull-through service
decides what a client sees. Bytes are never trusted here: callers verify digests.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import httpx

from dockyard.domain.pull_through import UpstreamError, UpstreamNotFound

MAX_MANIFEST = 4 * 1024 * 1024
CHUNK = 1024 * 1024
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class FetchedManifest:
    body: bytes
    media_type: str
    digest: str  # as the upstream named it (Docker-Content-Digest), "" when it did not


class HttpUpstreamClient:
    def __init__(
        self, http: httpx.Client, base_url: str, username: str | None, secret: str | None
    ) -> None:
        self.http, self.base_url = http, base_url.rstrip("/")
        self.basic = (username, secret) if username is not None and secret is not None else None
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (Authorization, expiry)
        self._challenge: str | None = None  # the scheme the upstream asked for last
        self._lock = threading.Lock()

    # -- the port ---------------------------------------------------------------------------

    def manifest(self, repository: str, reference: str, accepted: Sequence[str]) -> FetchedManifest:
        response = self._send(
            "GET",
            f"/v2/{repository}/manifests/{quote(reference)}",
            repository,
            {"Accept": ", ".join(accepted)},
        )
        body = response.content
        if len(body) > MAX_MANIFEST:
            raise UpstreamError(f"the upstream manifest is over {MAX_MANIFEST} bytes")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return FetchedManifest(body, media_type, response.headers.get("docker-content-digest", ""))

    def manifest_digest(self, repository: str, reference: str, accepted: Sequence[str]) -> str:
        response = self._send(
            "HEAD",
            f"/v2/{repository}/manifests/{quote(reference)}",
            repository,
            {"Accept": ", ".join(accepted)},
        )
        digest = response.headers.get("docker-content-digest", "")
        if not digest:
            raise UpstreamError("the upstream named no Docker-Content-Digest")
        return digest

    @contextmanager
    def blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        # Plain http.client, not httpx: it reads a body straight from the socket into 1 MiB
        # buffers, many times faster than httpx's stream (benchmarks/README.md, pull-through).
        url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        connection, response = self._raw_get(url, self._authorization(repository))
        try:
            challenge = response.getheader("www-authenticate", "")
            if response.status == 401 and self._learn(challenge, repository):
                connection.close()
                connection, response = self._raw_get(url, self._authorization(repository))
            for _ in range(5):  # a registry on S3 redirects to presigned URLs
                if response.status not in (301, 302, 303, 307, 308):
                    break
                location = urljoin(url, response.getheader("location", ""))
                connection.close()
                connection, response = self._raw_get(location, {})  # no credentials elsewhere
            _raise_status(response.status, url)
            yield _read(response)
        finally:
            connection.close()

    def _raw_get(
        self, url: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.netloc, timeout=_TIMEOUT.read)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers=headers)
            return connection, connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise UpstreamError(f"upstream {parts.netloc}: {exc}") from exc

    def check(self, repository: str) -> None:
        self._send("GET", "/v2/", repository, {})

    # -- requests and authentication --------------------------------------------------------

    def _send(
        self, method: str, path: str, repository: str, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                headers={**headers, **self._authorization(repository)},
                follow_redirects=True,
            )
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code == 401 and self._learn(challenge, repository):
                response = self.http.request(
                    method,
                    self.base_url + path,
                    headers={**headers, **self._authorization(repository)},
                    follow_redirects=True,
                )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.base_url}: {exc}") from exc
        _raise_for(response, path)
        return response

    def _authorization(self, repository: str) -> dict[str, str]:
        with self._lock:
            if self._challenge == "basic" and self.basic:
                return {"Authorization": httpx.BasicAuth(*self.basic)._auth_header}
            held = self._tokens.get(_scope(repository))
            if held and held[1] > time.monotonic():
                return {"Authorization": held[0]}
        return {}

    def _learn(self, challenge: str, repository: str) -> bool:
        """Act on a 401's challenge; True when a retry may now succeed."""
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self.basic and self._challenge != "basic":
            with self._lock:
                self._challenge = "basic"
            return True
        if scheme != "bearer":
            return False
        params = dict(_PARAM.findall(challenge))
        token, lifetime = self._fetch_token(params, repository)
        with self._lock:
            self._challenge = "bearer"
            self._tokens[_scope(repository)] = (f"Bearer {token}", time.monotonic() + lifetime)
        return True

    def _fetch_token(self, params: dict[str, str], repository: str) -> tuple[str, float]:
        realm = params.get("realm")
        if not realm:
            raise UpstreamError("the upstream's Bearer challenge names no realm")
        query = {"scope": _scope(repository)}
        if params.get("service"):
            query["service"] = params["service"]
        auth = httpx.BasicAuth(*self.basic) if self.basic else None
        response = self.http.get(realm, params=query, auth=auth)
        if response.status_code != 200:
            raise UpstreamError(f"the upstream's token service answered {response.status_code}")
        try:
            document = response.json()
            token = document.get("token") or document["access_token"]
        except (ValueError, KeyError, AttributeError) as exc:
            raise UpstreamError("the upstream's token service sent no token") from exc
        # Renew a little early; distribution's default lifetime is 60 s.
        return str(token), max(float(document.get("expires_in") or 60) - 10, 5)


def _scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _raise_for(response: httpx.Response, path: str) -> None:
    _raise_status(response.status_code, path)


def _raise_status(status: int, path: str) -> None:
    if status in (200, 206):
        return
    if status == 404:
        raise UpstreamNotFound(f"the upstream has no {path}")
    raise UpstreamError(f"the upstream answered {status} to {path}")


def _read(response: http.client.HTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := response.read(CHUNK):
            yield chunk
    except (OSError, http.client.HTTPException) as exc:
        raise UpstreamError(f"the upstream stream broke: {exc}") from exc
    if response.length:  # a body cut short (http.client may return fewer bytes quietly)
        raise UpstreamError("the upstream closed the blob stream early")


class HttpUpstreamConnector:
    """One httpx connection pool for every upstream; a client per (URL, credentials)."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=_TIMEOUT, limits=httpx.Limits(max_connections=64))
        self._clients: dict[tuple[str, str | None, str | None], HttpUpstreamClient] = {}
        self._lock = threading.Lock()

    def client(self, base_url: str, username: str | None, secret: str | None) -> HttpUpstreamClient:
        key = (base_url, username, secret)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = HttpUpstreamClient(self.http, base_url, username, secret)
            return self._clients[key]
