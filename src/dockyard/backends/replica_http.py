"""Another Dockyard as a replication destination (the ReplicaTarget port), over its OCI API.

    token        GetAuthorizationToken(registryIds=[destination account]) on the destination's
                 ECR API, signed with the region's access key (botocore), renewed before expiry
    has_blob     HEAD /v2/<name>/blobs/<digest>                 200 yes, 404 no
    put_blob     POST /v2/<name>/blobs/uploads/ then PUT <location>?digest=... with the stream
    put_manifest PUT /v2/<name>/manifests/<digest or tag>

Every request carries `X-Dockyard-Replication-Source`: the destination then creates missing
repositories through its REPLICATION templates and does not replicate the image further.
Answers map to the domain's two failures: no answer or a 5xx is DestinationUnavailable (the
copy is retried); 401/403, an unknown repository and other 4xx are DestinationRefused (a tag
an immutable repository refuses with its own code, so the caller can drop just the tag).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from dockyard.domain.replication import (
    REPLICATION_HEADER,
    DestinationRefused,
    DestinationUnavailable,
    FailureCode,
)

RENEW_BEFORE = 300.0  # seconds before a token's expiry that a new one is fetched


@dataclass(frozen=True)
class RegionConfig:
    """One `[[regions]]` table of the --config file: another Dockyard and a key there."""

    name: str
    url: str
    access_key_id: str
    secret_access_key: str
    timeout: float = 60.0
    ca_bundle: str | None = None  # a PEM file to verify an HTTPS destination with


class HttpReplicaTarget:
    def __init__(self, region: RegionConfig, registry_id: str, origin: str) -> None:
        """`origin` names the replicating server (its region) in the replication header."""
        self.region, self.registry_id = region, registry_id
        self.client = httpx.Client(
            base_url=region.url.rstrip("/"),
            timeout=region.timeout,
            verify=region.ca_bundle or True,
            headers={REPLICATION_HEADER: origin},
        )
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._ecr_client: Any = None  # made on first use (loading the model takes a while)

    def close(self) -> None:
        self.client.close()

    # -- the port ------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code == 404:
            return False
        _check(response)
        return True

    def put_blob(self, repository: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        started = self._send("POST", f"/v2/{repository}/blobs/uploads/")
        _check(started)
        location = urljoin(f"{self.region.url.rstrip('/')}/", started.headers["location"])
        joiner = "&" if "?" in location else "?"
        done = self._send(
            "PUT",
            f"{location}{joiner}digest={digest}",
            content=_stream(chunks),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        _check(done)

    def put_manifest(self, repository: str, reference: str, media_type: str, body: bytes) -> None:
        _check(
            self._send(
                "PUT",
                f"/v2/{repository}/manifests/{reference}",
                content=body,
                headers={"Content-Type": media_type},
            )
        )

    # -- HTTP ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        headers["Authorization"] = f"Basic {self._registry_token()}"
        try:
            return self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise DestinationUnavailable(f"{self.region.url}: {type(exc).__name__}: {exc}") from exc

    def _registry_token(self) -> str:
        with self._lock:
            if self._token is None or self._token[1] - RENEW_BEFORE < time.time():
                self._token = self._fetch_token()
            return self._token[0]

    def _fetch_token(self) -> tuple[str, float]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self._ecr().get_authorization_token(registryIds=[self.registry_id])
        except ClientError as exc:
            raise DestinationRefused(
                FailureCode.DESTINATION_PERMISSION_DENIED, f"{self.region.url}: {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise DestinationUnavailable(f"{self.region.url}: {exc}") from exc
        (first,) = data["authorizationData"]
        return first["authorizationToken"], first["expiresAt"].timestamp()

    def _ecr(self) -> Any:
        if self._ecr_client is None:
            self._ecr_client = self._new_ecr_client()
        return self._ecr_client

    def _new_ecr_client(self) -> Any:
        import botocore.session
        from botocore.config import Config

        session = botocore.session.get_session()
        return session.create_client(
            "ecr",
            region_name=self.region.name,
            endpoint_url=self.region.url,
            aws_access_key_id=self.region.access_key_id,
            aws_secret_access_key=self.region.secret_access_key,
            verify=self.region.ca_bundle or True,
            # One try per attempt: the replication queue does the retrying, with its backoff.
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=self.region.timeout,
                read_timeout=self.region.timeout,
            ),
        )


def _stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield from chunks


def _check(response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    what = f"{response.request.method} {response.request.url.path}: HTTP {status} {response.text[:300]}"
    if status >= 500 or status == 429:
        raise DestinationUnavailable(what)
    if status in (401, 403):
        raise DestinationRefused(FailureCode.DESTINATION_PERMISSION_DENIED, what)
    if status == 404 and "NAME_UNKNOWN" in response.text:
        raise DestinationRefused(FailureCode.DESTINATION_REPOSITORY_MISSING, what)
    if status == 400 and "TAG_INVALID" in response.text and "/manifests/" in what:
        raise DestinationRefused(FailureCode.DESTINATION_TAG_IMMUTABLE, what)
    raise DestinationRefused(FailureCode.DESTINATION_REFUSED, what)
