"""Garbage collection of what has no metadata row (services/gc_strays.py), on files and S3 (moto):
the staging of one-request uploads whose process died, and stored bytes with no blob row.

Both are aged by the store's own timestamps against the collector's clock, so "old" is made
here with a collector whose clock is days ahead of the store (`aged`), never by sleeping. The
races are replayed deterministically: a one-request upload held open mid-body while a pass runs
(its staging must survive and the upload complete), and an upload pinning a stray digest between
the pass's listing and its claim (the bytes must stay and serve the upload).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from dockyard.backends.blobs.fs import paths
from dockyard.services.clock import FixedClock
from dockyard.services.gc import GarbageCollector, GcConfig

from . import test_gc
from .oci_client import NAME, OciClient, sha256
from .test_gc import both_stores, later, pushed_then_deleted, stored

# test_gc's fixtures: an app on files or on S3 (moto), and its services.
client, svc = test_gc.client, test_gc.svc

DAY = 86400.0
MiB = 1024 * 1024


def aged(svc: Any, days: float, store: Any = None) -> GarbageCollector:
    """A collector whose (real) clock is `days` ahead of the store's timestamps."""
    return GarbageCollector(
        svc.meta, store or svc.blob_store, FixedClock(time.time() + days * DAY), GcConfig()
    )


def staging_exists(svc: Any, upload_id: str) -> bool:
    store = svc.blob_store
    if hasattr(store, "root"):
        directory = paths.upload_dir(store.root, upload_id)
        return directory.is_dir() and any(directory.iterdir())
    prefix = store.keys.upload(upload_id)
    found = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents")
    parts = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix)
    return bool(found) or bool(parts.get("Uploads"))


def crashed_upload(svc: Any, size: int = 1000) -> str:
    """Staging a one-request upload left when its process died: bytes, no session row."""
    upload_id = str(uuid.uuid4())
    svc.blob_store.start_upload(upload_id)
    writer = svc.blob_store.open_upload(upload_id, 0)
    writer.write(b"s" * size)
    writer.close()
    return upload_id


def stray(svc: Any, data: bytes) -> str:
    """Bytes published with no blob row (a publish whose row was lost)."""
    digest = sha256(data)
    svc.blob_store.publish_data(str(uuid.uuid4()), digest, data)
    assert svc.meta.blobs_without_rows([digest]) == [digest]
    return digest


# -- staging of one-request uploads ------------------------------------------------------------


@both_stores
def test_staging_of_a_crashed_one_request_upload_goes_once_idle_for_the_ttl(
    registry: OciClient, svc: Any
) -> None:
    crashed = crashed_upload(svc)
    assert svc.gc.run(now=later(30), strays=True).stray_uploads == 0  # --now does not age it
    session = registry.start_upload(NAME)  # a chunked upload with a row: upload expiry's
    assert registry.patch(session, b"c" * 1000).status_code == 202
    recorded = session.rsplit("/", 1)[-1].split("?")[0]
    assert aged(svc, 6).run(now=time.time(), strays=True).stray_uploads == 0
    assert staging_exists(svc, crashed)
    dry = aged(svc, 8).run(dry_run=True, now=time.time(), strays=True)
    assert (dry.stray_uploads, dry.uploads_expired) == (1, 1) and staging_exists(svc, crashed)

    report = aged(svc, 8).run(now=time.time(), strays=True)
    assert (report.stray_uploads, report.uploads_expired) == (1, 1)
    assert not staging_exists(svc, crashed)
    assert staging_exists(svc, recorded)  # aged by its row's start, not here
    assert registry.patch(session, b"d" * 10).status_code == 202


@both_stores
def test_a_one_request_upload_in_flight_keeps_its_staging(registry: OciClient, svc: Any) -> None:
    data = hashlib.sha256(b"seed").digest() * (12 * MiB // 32)
    staged, go, done = threading.Event(), threading.Event(), list[str]()

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, 9 * MiB, MiB):
            yield data[start : start + MiB]
        await asyncio.to_thread(go.wait, 60)  # the client stalls mid-body
        for start in range(9 * MiB, len(data), MiB):
            yield data[start : start + MiB]

    def upload() -> None:
        push = svc.uploads.push_monolithic(svc.default_account, NAME, sha256(data), body())
        done.append(str(asyncio.run(push)))

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        upload_id = _wait_for_staging(svc, staged)
        # --now a month ahead: staging is aged by the store's clock, and it is young.
        assert svc.gc.run(now=later(30), strays=True).stray_uploads == 0
        if hasattr(svc.blob_store, "root"):  # files: the writer's lock outlives any age
            assert aged(svc, 30).run(now=time.time(), strays=True).stray_uploads == 0
        assert staging_exists(svc, upload_id)
    finally:
        go.set()
        thread.join(60)
    assert done == [sha256(data)]
    assert registry.blob(NAME, sha256(data)).content == data


def _wait_for_staging(svc: Any, staged: threading.Event) -> str:
    """The id of the one upload in staging, once its bytes reached the store."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ids = _staging_ids(svc)
        if ids and staging_exists(svc, ids[0]):
            staged.set()
            return ids[0]
        time.sleep(0.02)
    raise AssertionError("the upload never reached the store")


def _staging_ids(svc: Any) -> list[str]:
    store = svc.blob_store
    if hasattr(store, "root"):
        return sorted(p.name for p in (store.root / "uploads").iterdir())
    listed = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.keys.prefix)
    return sorted(
        {u["Key"].split("/uploads/", 1)[1].split("/")[0] for u in listed.get("Uploads", ())}
    )


# -- bytes with no blob row --------------------------------------------------------------------


@both_stores
def test_bytes_with_no_row_go_after_the_grace_period(registry: OciClient, svc: Any) -> None:
    kept = pushed_then_deleted(registry, "kept")
    registry.push(NAME, kept, "kept")  # a live image: its blobs have rows
    digest = stray(svc, b"stray bytes")

    assert svc.gc.run(now=later(30), strays=True).stray_blobs == 0  # --now does not age it
    dry = aged(svc, 2).run(dry_run=True, now=time.time(), strays=True)
    assert dry.stray_blobs == 1 and digest in stored(svc)
    report = aged(svc, 2).run(now=time.time(), strays=True)
    assert (report.stray_blobs, report.blobs_freed, report.bytes_freed) == (1, 1, 11)
    assert digest not in stored(svc)
    assert svc.meta.blobs_without_rows([digest]) == [digest]  # the claim's row went too
    assert {b.digest for b in kept.blobs} <= stored(svc)


@both_stores
def test_an_upload_pinning_a_stray_first_keeps_the_bytes(registry: OciClient, svc: Any) -> None:
    data = b"published again"
    digest = stray(svc, data)
    # The upload pins the digest after the pass found it rowless, before the pass claims it.
    meta = ClaimHook(svc.meta, lambda: registry.push_blob(NAME, data))
    report = GarbageCollector(meta, svc.blob_store, FixedClock(time.time() + 2 * DAY)).run(
        now=time.time(), strays=True
    )
    assert meta.offered == [digest] and report.stray_blobs == 0
    assert digest in stored(svc)
    assert registry.blob(NAME, digest).content == data


@both_stores
def test_an_upload_of_a_stray_being_deleted_publishes_anew(registry: OciClient, svc: Any) -> None:
    data = b"deleted, then uploaded"
    digest = stray(svc, data)
    uploads: list[threading.Thread] = []

    def upload_during_delete(gone: str) -> None:  # the row is `deleting`: the upload waits
        thread = threading.Thread(target=registry.push_blob, args=(NAME, data))
        thread.start()
        uploads.append(thread)

    collector = aged(svc, 2, DeleteHook(svc.blob_store, upload_during_delete))
    assert collector.run(now=time.time(), strays=True).stray_blobs == 1
    uploads[0].join(60)
    assert not uploads[0].is_alive()
    assert registry.blob(NAME, digest).content == data


def test_a_server_looks_for_strays_once_per_interval(registry: OciClient, svc: Any) -> None:
    clock = FixedClock(time.time() + 2 * DAY)
    collector = GarbageCollector(svc.meta, svc.blob_store, clock, GcConfig())
    assert collector.run().stray_blobs == 0  # the first pass looks
    stray(svc, b"late stray")
    assert collector.run().stray_blobs is None  # within the interval: not looked for
    clock.advance(DAY + 1)
    assert collector.run().stray_blobs == 1  # due again
    assert collector.run().stray_blobs is None
    assert collector.run(strays=True).stray_blobs == 0  # `dockyard gc` always looks


class ClaimHook:
    """A metadata store that calls `before()` when the pass claims strays."""

    def __init__(self, store: Any, before: Callable[[], object]) -> None:
        self._store, self._before = store, before
        self.offered: list[str] = []

    def claim_strays(self, strays: Any, now: float) -> Any:
        self.offered += [claim.digest for claim in strays]
        self._before()
        return self._store.claim_strays(strays, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class DeleteHook:
    def __init__(self, store: Any, before: Callable[[str], None]) -> None:
        self._store, self._before = store, before

    def delete(self, digest: str) -> None:
        self._before(digest)
        self._store.delete(digest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# -- BatchCheckLayerAvailability during a sweep (ECR's HEAD) -------------------------------------


def test_batch_check_during_a_sweep_then_put_image_keeps_the_blobs(
    registry: OciClient, client: Any, svc: Any
) -> None:
    """The ECR twin of test_gc's HEAD-then-PUT race: a client that BatchCheckLayerAvailability
    reported AVAILABLE, between mark and sweep, then pushes the manifest: it must succeed."""
    manifest = pushed_then_deleted(registry, "batch-check")
    answers: list[list[str]] = []

    def client_checks() -> None:  # the blobs are candidates by now: the check revives them
        found = ecr(
            client,
            svc,
            "BatchCheckLayerAvailability",
            {"repositoryName": NAME, "layerDigests": [b.digest for b in manifest.blobs]},
        )
        answers.append([layer["layerAvailability"] for layer in found["layers"]])

    svc.gc.between_mark_and_sweep = client_checks
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert answers == [["AVAILABLE"] * len(manifest.blobs)]
    ecr(
        client,
        svc,
        "PutImage",
        {"repositoryName": NAME, "imageTag": "checked", "imageManifest": manifest.body.decode()},
    )
    assert registry.manifest(NAME, "checked").content == manifest.body
    for blob in manifest.blobs:
        assert registry.blob(NAME, blob.digest).content == blob.data


def ecr(client: Any, svc: Any, operation: str, body: dict[str, Any]) -> Any:
    """One ECR call through the app, signed with a key the app accepts (any, in these tests)."""
    from tests.support.ecr import AccessKey, signed_request

    key = AccessKey(svc.default_account, "AKIAGCSTRAYSTEST0001", "secret")
    response = client.send(signed_request("http://testserver", key, operation, body))
    assert response.status_code == 200, response.text
    return response.json()
