"""Registry tokens and download-URL signatures are different credentials, and malformed ones
are refused like forgeries: `401` with the Basic challenge, never a 500.

A registry token's password (GetAuthorizationToken) and an `X-Dockyard-Signature`
(GetDownloadUrlForLayer) are both signed statements of the server; each is tried here where the
other belongs, and both are sent with characters outside ASCII, in the header and in the query
(raw bytes on a socket, which no HTTP client library sends).
"""

from __future__ import annotations

import base64
import socket
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.support import ociapi
from tests.support.ecr import push_ecr, small_image
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e


def basic(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return "Basic " + base64.b64encode(raw).decode()


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, ociapi.describe(response)
    assert response.headers["www-authenticate"].startswith("Basic realm="), response.headers


@pytest.fixture(scope="module")
def download(ecr_a: Any, ecr_server: DockyardServer) -> tuple[str, str, bytes]:
    """A layer's path, the signature of its download URL and the layer's bytes."""
    ecr_a.create_repository(repositoryName="kinds/layer")
    image = small_image("credential-kinds")
    push_ecr(ecr_a, "kinds/layer", image, "v1")
    layer = image.blobs[-1]
    url = ecr_a.get_download_url_for_layer(repositoryName="kinds/layer", layerDigest=layer.digest)
    parts = urlsplit(url["downloadUrl"])
    (signature,) = parse_qs(parts.query)["X-Dockyard-Signature"]
    return parts.path, signature, layer.data


def password_of(token: str) -> str:
    user, _, password = base64.b64decode(token).decode().partition(":")
    assert user == "AWS"
    return password


def test_each_credential_works_where_it_belongs(
    ecr_server: DockyardServer, download: tuple[str, str, bytes], token_a: str
) -> None:
    path, signature, data = download
    signed = httpx.get(f"{ecr_server.url}{path}", params={"X-Dockyard-Signature": signature})
    assert signed.status_code == 200, ociapi.describe(signed)
    assert signed.content == data
    tokened = httpx.get(f"{ecr_server.url}{path}", headers={"Authorization": f"Basic {token_a}"})
    assert tokened.status_code == 200, ociapi.describe(tokened)


def test_a_download_signature_is_not_a_registry_token(
    ecr_server: DockyardServer, download: tuple[str, str, bytes]
) -> None:
    path, signature, _ = download
    for where in ("/v2/", path, "/v2/kinds/layer/tags/list"):
        response = httpx.get(
            ecr_server.url + where, headers={"Authorization": basic(f"AWS:{signature}")}
        )
        assert_refused(response)


def test_a_registry_token_is_not_a_download_signature(
    ecr_server: DockyardServer, download: tuple[str, str, bytes], token_a: str
) -> None:
    path, _, _ = download
    response = httpx.get(
        ecr_server.url + path, params={"X-Dockyard-Signature": password_of(token_a)}
    )
    assert_refused(response)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic \u00e9t\u00e9==".encode("latin-1"),  # non-ASCII where base64 belongs
        basic("AWS:\u00e9t\u00e9.\u00e9t\u00e9"),  # non-ASCII inside the password
        basic(b"AWS:\xff\xfe.\x80"),  # not even UTF-8
        basic("AWS:e30.\u00e9"),  # a valid body, non-ASCII where the MAC belongs
    ],
    ids=["base64", "password", "bytes", "mac"],
)
def test_non_ascii_basic_credentials(ecr_server: DockyardServer, authorization: Any) -> None:
    headers = [
        (
            b"Authorization",
            authorization if isinstance(authorization, bytes) else authorization.encode(),
        )
    ]
    response = httpx.get(ecr_server.url + "/v2/", headers=headers)
    assert_refused(response)


def test_non_ascii_download_signatures(
    ecr_server: DockyardServer, download: tuple[str, str, bytes]
) -> None:
    path, signature, _ = download
    body, _, mac = signature.partition(".")
    for forged in (f"{body}.{mac[:-1]}\u00e9", "\u00e9", f"\u00e9{body}.{mac}"):
        response = httpx.get(f"{ecr_server.url}{path}?X-Dockyard-Signature={quote(forged)}")
        assert_refused(response)
    # Raw bytes above 0x7f in a request target: the HTTP parser itself refuses them (400);
    # whichever layer answers, it is a 4xx.
    raw = raw_get(
        ecr_server,
        path.encode()
        + b"?X-Dockyard-Signature="
        + body.encode()
        + b"."
        + mac.encode()[:-1]
        + b"\xe9",
    )
    assert raw.startswith((b"HTTP/1.1 401 ", b"HTTP/1.1 400 ")), raw[:200]


def test_nothing_above_left_a_traceback(ecr_server: DockyardServer) -> None:
    log = ecr_server.log_tail(10**7)
    assert "Traceback" not in log, log[-4000:]


def raw_get(server: DockyardServer, target: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
