"""A minimal OCI Distribution client for measuring servers, not itself.

Uploads send the file region with ``socket.sendfile`` (zero-copy) and the tail with ``sendall``;
downloads ``readinto`` a reused 1 MiB buffer and discard it. One keep-alive connection per client.
Every response body is read to the end so the connection can be reused.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.parse
from dataclasses import dataclass

from .data import BlobSource, MiB, SmallImage


class RegistryError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def location(self) -> str:
        return self.headers.get("Location") or ""


class Client:
    def __init__(self, address: str, timeout: float = 300.0) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _start(self, method: str, url: str, headers: dict[str, str]) -> None:
        self.conn.putrequest(method, url, skip_accept_encoding=True)
        for key, value in headers.items():
            self.conn.putheader(key, value)

    def request(self, method: str, url: str, body: bytes = b"", headers=None) -> Response:
        headers = {"Content-Length": str(len(body))} | (headers or {})
        self._start(method, url, headers)
        self.conn.endheaders(message_body=body or None)
        return self._finish()

    def _finish(self) -> Response:
        resp = self.conn.getresponse()
        body = resp.read()
        return Response(resp.status, resp.headers, body)

    def _send_region(self, src: BlobSource, offset: int, length: int) -> None:
        """Send bytes [offset, offset+length) of the blob: file part by sendfile, then the tail."""
        sock = self.conn.sock
        in_file = max(0, min(length, src.file_size - offset))
        if in_file:
            with open(src.path, "rb") as f:
                sock.sendfile(f, offset, in_file)
        if length > in_file:
            start = offset + in_file - src.file_size
            sock.sendall(src.tail[start : start + length - in_file])

    @staticmethod
    def _expect(resp: Response, *codes: int, what: str) -> Response:
        if resp.status not in codes:
            raise RegistryError(f"{what}: HTTP {resp.status} {resp.body[:300]!r}")
        return resp

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        parts = urllib.parse.urlsplit(location)
        query = parts.query + ("&" if parts.query else "") + "digest=" + digest
        return urllib.parse.urlunsplit(("", "", parts.path, query, ""))

    @staticmethod
    def _path(location: str) -> str:
        parts = urllib.parse.urlsplit(location)
        return parts.path + ("?" + parts.query if parts.query else "")

    # -- blobs --------------------------------------------------------------------------------

    def start_upload(self, repo: str) -> str:
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        return self._expect(resp, 202, what="POST upload").location()

    def put_monolithic(self, repo: str, src: BlobSource) -> None:
        """POST to open a session, then one PUT ?digest= carrying the whole body."""
        url = self._with_digest(self.start_upload(repo), src.digest)
        self._start(
            "PUT",
            url,
            {"Content-Length": str(src.size), "Content-Type": "application/octet-stream"},
        )
        self.conn.endheaders()
        self._send_region(src, 0, src.size)
        self._expect(self._finish(), 201, what="PUT monolithic")

    def put_chunked(self, repo: str, src: BlobSource, chunk: int = 10 * MiB) -> None:
        """POST, a PATCH per ``chunk`` bytes with Content-Range, then PUT ?digest= with no body."""
        location = self.start_upload(repo)
        for offset in range(0, src.size, chunk):
            length = min(chunk, src.size - offset)
            self._start(
                "PATCH",
                self._path(location),
                {
                    "Content-Length": str(length),
                    "Content-Range": f"{offset}-{offset + length - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
            self.conn.endheaders()
            self._send_region(src, offset, length)
            location = self._expect(self._finish(), 202, what="PATCH chunk").location()
        resp = self.request("PUT", self._with_digest(location, src.digest))
        self._expect(resp, 201, what="PUT close chunked")

    def get_blob(self, repo: str, digest: str, buffer_size: int = MiB) -> int:
        """Download and discard a blob; returns the byte count. Follows one redirect."""
        url = f"/v2/{repo}/blobs/{digest}"
        for _ in range(3):
            self._start("GET", url, {})
            self.conn.endheaders()
            resp = self.conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                resp.read()
                url = resp.headers["Location"]  # same-host redirects only
                continue
            if resp.status != 200:
                raise RegistryError(f"GET blob: HTTP {resp.status} {resp.read()[:300]!r}")
            buf = memoryview(bytearray(buffer_size))
            total = 0
            while n := resp.readinto(buf):
                total += n
            return total
        raise RegistryError("GET blob: too many redirects")

    def push_blob_small(self, repo: str, digest: str, data: bytes) -> None:
        """What push clients do per blob: HEAD, then POST and a monolithic PUT if missing."""
        if self.request("HEAD", f"/v2/{repo}/blobs/{digest}").status == 200:
            return
        url = self._with_digest(self.start_upload(repo), digest)
        resp = self.request("PUT", url, data, {"Content-Type": "application/octet-stream"})
        self._expect(resp, 201, what="PUT small blob")

    def push_image(self, repo: str, tag: str, image: SmallImage) -> None:
        for digest, data in image.blobs:
            self.push_blob_small(repo, digest, data)
        resp = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            image.manifest,
            {"Content-Type": image.manifest_type},
        )
        self._expect(resp, 201, what="PUT manifest")


def timed(fn, *args) -> tuple[float, float, object]:
    """(wall seconds, client CPU seconds of this process, result) of ``fn(*args)``."""
    c0, t0 = os.times(), time.perf_counter()
    result = fn(*args)
    t1, c1 = time.perf_counter(), os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return t1 - t0, cpu, result
