"""Upstream registries for the pull-through cache tests: Debian's `docker-registry` (CNCF
distribution 2.8) with htpasswd Basic auth, or with token auth against a small token service.

    BasicUpstream        distribution + htpasswd (bcrypt, made by apache2-utils' htpasswd)
    TokenUpstream        distribution + `auth.token`: a 401 names the realm of a TokenService
    TokenService         a real HTTP server on loopback issuing RS256 JWTs for Basic
                         credentials, signed by a self-signed certificate the registry trusts
    blob_fetches(log)    how many GETs of each blob the upstream's access log shows

Both log every request (distribution's access log), so a test can count upstream fetches.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.server import DistributionServer, free_port

USER, PASSWORD = "alice", "s3cret-upstream"
# A fetch is a GET answered 200: a client's first request may get 401 and a challenge, which
# it answers by retrying with credentials (each server process learns the scheme once).
_BLOB_GET = re.compile(
    r'"GET /v2/(?P<repo>[^ ]+)/blobs/(?P<digest>sha256:[0-9a-f]{64}) HTTP/[0-9.]+" 200 '
)


def htpasswd_file(path: Path) -> Path:
    line = subprocess.run(
        ["htpasswd", "-nbB", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    path.write_text(line + "\n")
    return path


class BasicUpstream(DistributionServer):
    """distribution with htpasswd auth and its access log on."""

    name = "upstream-basic"
    ready_path = "/"  # /v2/ answers 401 without credentials

    def auth_config(self) -> dict[str, Any]:
        return {
            "htpasswd": {"realm": "upstream", "path": str(htpasswd_file(self.tmp_dir / "htpasswd"))}
        }

    def _write_config(self) -> Path:
        config = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.data_dir)},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.address, "secret": "dockyard-e2e-secret", "draintimeout": "1s"},
            "auth": self.auth_config(),
        }
        path = self.tmp_dir / "config.yml"
        path.write_text(json.dumps(config))
        return path

    def blob_fetches(self) -> Counter[str]:
        return blob_fetches(self.log_path.read_text(errors="replace"))


def blob_fetches(log: str) -> Counter[str]:
    return Counter(m["digest"] for m in _BLOB_GET.finditer(log))


class TokenService:
    """Issues distribution's JWT bearer tokens for USER/PASSWORD (Basic on the realm)."""

    def __init__(self, tmp_dir: Path, service: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.service, self.issues = service, 0
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-test-token-issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = tmp_dir / "token-issuer.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.port = free_port("127.0.0.1")
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        if scope.startswith("repository:"):
            _, repo, actions = scope.split(":", 2)
            access = [{"type": "repository", "name": repo, "actions": actions.split(",")}]
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self._x5c]}
        claims = {
            "iss": "dockyard-test-token-issuer",
            "sub": USER,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if p)
                from urllib.parse import unquote

                service.issues += 1
                body = json.dumps(
                    {"token": service.token(unquote(query.get("scope", ""))), "expires_in": 300}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenUpstream(BasicUpstream):
    """distribution with token auth: clients get a Bearer token from `tokens` first."""

    name = "upstream-token"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens = TokenService(self.tmp_dir, "upstream-registry")

    def auth_config(self) -> dict[str, Any]:
        return {
            "token": {
                "realm": self.tokens.realm,
                "service": self.tokens.service,
                "issuer": "dockyard-test-token-issuer",
                "rootcertbundle": str(self.tokens.cert_path),
            }
        }

    def close(self) -> None:
        super().close()
        self.tokens.close()


class PushAuth:
    """httpx auth pushing into either upstream: Basic, or a Bearer token for pull,push."""

    def __new__(cls, upstream: BasicUpstream) -> Any:
        import httpx

        if not isinstance(upstream, TokenUpstream):
            return httpx.BasicAuth(USER, PASSWORD)

        class _Bearer(httpx.Auth):
            def auth_flow(self, request: httpx.Request) -> Any:
                response = yield request
                if response.status_code != 401:
                    return
                repo = request.url.path.split("/v2/", 1)[1].rsplit("/", 2)[0]
                if "/blobs/uploads" in request.url.path:
                    repo = request.url.path.split("/v2/", 1)[1].split("/blobs/uploads")[0]
                token = upstream.tokens.token(f"repository:{repo}:pull,push")
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

        return _Bearer()
