"""An S3 endpoint for tests: moto in server mode on loopback, a fresh bucket per test.

``MotoS3`` runs ``moto_server`` as a subprocess (so a server under test, itself a subprocess,
reaches it over HTTP like a real S3, and moto's memory is not the test's). ``bucket()`` creates
a uniquely named bucket and ``empty_bucket_report`` says what a test left behind in one,
counting incomplete multipart uploads too (they cost money on S3 and are invisible otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support.server import free_port

__all__ = ["CREDENTIALS", "MotoS3"]

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dockyard-test",
    "AWS_SECRET_ACCESS_KEY": "dockyard-test-secret",
    "AWS_DEFAULT_REGION": REGION,
}


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="moto-s3-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    def start(self) -> Self:
        binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        log = (self.tmp_dir / "moto.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **CREDENTIALS},
        )  # fmt: skip
        self._wait_ready()
        return self

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def client(self) -> Any:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip

    def bucket(self) -> str:
        name = f"dockyard-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def url(self, bucket: str, prefix: str = "", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"endpoint_url": self.endpoint, **options}.items())
        return f"s3://{bucket}/{prefix}?{query}"

    def leftovers(self, bucket: str) -> list[str]:
        """Keys and incomplete multipart uploads in `bucket` (empty when a test cleaned up)."""
        client = self.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", ())]
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", ())
        return keys + [f"multipart upload of {u['Key']}" for u in uploads]

    def delete_bucket(self, bucket: str) -> None:
        client = self.client()
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", ()):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("moto_server exited: " + (self.tmp_dir / "moto.log").read_text())
            try:
                httpx.get(self.endpoint + "/moto-api/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start within 30 s")


# -- fixtures (registered as a plugin in tests/conftest.py) ------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """One moto S3 server per test module."""
    with MotoS3() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3) -> Iterator[str]:
    """A fresh bucket, deleted after the test (suites that check leftovers override this)."""
    name = moto.bucket()
    yield name
    moto.delete_bucket(name)
