"""Garbage collection against real server processes: `dockyard gc` and `dockyard storage` run
beside a live server, and a push storm runs under continuous collection on two workers.

- delete-repository --force (boto3) drops the metadata at once; `dockyard gc --now <+grace>`
  then frees the bytes (a dry run first frees nothing), while the server keeps serving;
- a storm of pushes and deletes from several threads against `serve --workers 2 --gc-interval
  0.5 --gc-grace 1s`, on the embedded default and on PostgreSQL + S3 (moto): every image whose
  push succeeded is pulled back afterwards and digest-checked, and the deleted images' own
  blobs leave the store. A push the collector beat is refused with MANIFEST_BLOB_UNKNOWN and
  the client uploads again, as real clients do.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dockyard.backends.factory import open_blob_store
from tests.support import ociapi
from tests.support.ecr import (
    AccessKey,
    ecr_client,
    push_v2,
    registry_token,
    small_image,
    v2_client,
    wait_for,
    write_auth_file,
)
from tests.support.images import Image
from tests.support.postgres import PostgresCluster
from tests.support.s3 import MotoS3
from tests.support.scaleout import SharedStores, start_server
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

KEY = AccessKey("222222222222", "AKIAGARBAGECOLLECT01", "garbage-collection-secret-0123456789abc")


def dockyard(server: DockyardServer, *args: str) -> str:
    env = {**server.environment()}
    command = [sys.executable, "-m", "dockyard", *args, *server.store_args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored(server: DockyardServer) -> set[str]:
    url = server.storage_url or f"file://{(server.data_dir / 'blobs').resolve()}"
    with _environment(server.storage_environment):
        return set(open_blob_store(url).list())


class _environment:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def __enter__(self) -> None:
        import os

        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        import os

        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def blob_digests(image: Image) -> set[str]:
    return {blob.digest for blob in image.blobs}


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[DockyardServer]:
    """A server that never collects by itself: only `dockyard gc` does, beside it."""
    auth = write_auth_file(tmp_path / "auth.toml", [KEY])
    server = DockyardServer(extra_args=["--auth-file", str(auth), "--create-on-push",
                                        "--gc-interval", "0"])  # fmt: skip
    server.start()
    yield server
    server.close()


def test_delete_repository_then_gc_frees_the_bytes(quiet_server: DockyardServer) -> None:
    ecr = ecr_client(quiet_server.url, KEY)
    doomed, kept = small_image("doomed", layer_bytes=50_000), small_image("kept")
    with v2_client(quiet_server.url, registry_token(ecr)) as http:
        push_v2(http, "gc/doomed", doomed, "v1")
        push_v2(http, "gc/kept", kept, "v1")
        ecr.delete_repository(repositoryName="gc/doomed", force=True)
        assert http.get(ociapi.manifest_url("gc/doomed", "v1")).status_code == 404  # at once
        after_grace = (datetime.now(UTC) + timedelta(hours=25)).isoformat()
        assert "freed 0 blobs" in dockyard(quiet_server, "gc")  # inside the 24 h grace
        dry = dockyard(quiet_server, "gc", "--dry-run", "--now", after_grace)
        assert "would free 2 blobs" in dry
        assert blob_digests(doomed) <= stored(quiet_server)
        summary = dockyard(quiet_server, "gc", "--now", after_grace)
        assert f"freed 2 blobs, {doomed.config.size + doomed.layers[0].size} bytes" in summary
        assert stored(quiet_server) == blob_digests(kept)
        ociapi.fetch_manifest(http, "gc/kept", "v1")
        for blob in kept.blobs:
            ociapi.fetch_blob(http, "gc/kept", blob.digest)
    usage = dockyard(quiet_server, "storage")
    kept_bytes = kept.config.size + kept.layers[0].size
    row = next(line.split() for line in usage.splitlines() if "gc/kept" in line)
    assert row == [KEY.account_id, "gc/kept", "2", str(kept_bytes), str(kept_bytes), "0"], usage
    assert "gc/doomed" not in usage


# --------------------------------------------------------------------------- the storm

THREADS, IMAGES_EACH = 4, 8
STORM_ARGS = ["--workers", "2", "--gc-interval", "0.5", "--gc-grace", "1s"]


@pytest.fixture(scope="module")
def stores(postgres: PostgresCluster, moto: MotoS3, tmp_path_factory) -> SharedStores:
    bucket = moto.bucket()
    auth = write_auth_file(tmp_path_factory.mktemp("auth") / "auth.toml", [KEY])
    return SharedStores(postgres.new_database(), bucket, moto.url(bucket, "registry"), auth)


@pytest.mark.parametrize("stores_kind", ["default", "postgres-s3"])
def test_a_push_storm_under_continuous_gc_loses_nothing(
    stores_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if stores_kind == "default":
        auth = write_auth_file(tmp_path / "auth.toml", [KEY])
        server = DockyardServer(extra_args=["--auth-file", str(auth), "--create-on-push",
                                            *STORM_ARGS])  # fmt: skip
        server.start()
    else:
        server = start_server(request.getfixturevalue("stores"), *STORM_ARGS)
    try:
        token = registry_token(ecr_client(server.url, KEY))
        kept, deleted, refusals = storm(server.url, token, stores_kind)
        with v2_client(server.url, token) as http:
            for repo, image in kept:
                assert (
                    ociapi.fetch_manifest(http, repo, image.digest).content == image.manifest.data
                )
                for blob in image.blobs:
                    ociapi.fetch_blob(http, repo, blob.digest)  # checks the digest too
        own = set().union(*(blob_digests(i) for _, i in deleted)) - set().union(
            *(blob_digests(i) for _, i in kept)
        )
        assert wait_for(lambda: not own & stored(server), timeout=30), "garbage stayed"
        assert "dockyard: garbage collection freed" in server.log_tail(200_000)
        assert "dockyard: storage: account" in server.log_tail(200_000)
        print(
            f"storm on {stores_kind}: {len(kept)} kept, {len(deleted)} deleted, "
            f"{refusals} pushes refused and retried"
        )
    finally:
        server.close()


def storm(
    url: str, token: str, seed: str
) -> tuple[list[tuple[str, Image]], list[tuple[str, Image]], int]:
    """THREADS clients released together push IMAGES_EACH images each (sharing one base layer
    across threads), deleting every other one right after: garbage appears all the time."""
    barrier = threading.Barrier(THREADS)
    kept: list[tuple[str, Image]] = []
    deleted: list[tuple[str, Image]] = []
    refusals = [0]
    lock = threading.Lock()

    def client(t: int) -> None:
        repo = f"storm/{seed}-{t % 2}"
        with v2_client(url, token) as http:
            barrier.wait(timeout=60)
            for i in range(IMAGES_EACH):
                image = small_image(f"{seed}-{t}-{i}", layers=2, layer_bytes=2000)
                refused = push_retrying(http, repo, image)
                with lock:
                    refusals[0] += refused
                if i % 2:
                    response = http.delete(ociapi.manifest_url(repo, image.digest))
                    assert response.status_code == 202, ociapi.describe(response)
                    with lock:
                        deleted.append((repo, image))
                else:
                    with lock:
                        kept.append((repo, image))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(kept) + len(deleted) == THREADS * IMAGES_EACH, "a client thread failed"
    return kept, deleted, refusals[0]


def push_retrying(http: httpx.Client, repo: str, image: Image, attempts: int = 30) -> int:
    """Push blobs then manifest; on MANIFEST_BLOB_UNKNOWN upload again. How many refusals."""
    for attempt in range(attempts):
        for blob in image.blobs:
            ociapi.push_blob(http, repo, blob.data)
        response = http.put(
            ociapi.manifest_url(repo, image.digest),
            content=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        )
        if response.status_code == 201:
            return attempt
        assert response.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in response.text, (
            ociapi.describe(response)
        )
        time.sleep(0.05)
    raise AssertionError(f"{repo}@{image.digest} refused {attempts} times")
