"""Garbage collection through the whole app, on files and on S3 (moto): bytes really leave the
store, shared and reachable blobs stay, and each known race is replayed as a deterministic
interleaving: the collector is paused between mark and sweep (its `between_mark_and_sweep` hook)
or while it deletes a claimed blob (a blob store whose `delete` calls back first), a client acts,
then the pass goes on. The invariant checked every time: a manifest push either finds its blobs
(and they stay) or is refused with MANIFEST_BLOB_UNKNOWN; never a manifest naming missing bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.app import create_app
from dockyard.backends.blobs.fs import paths
from dockyard.services.gc import GcReport
from dockyard.settings import Settings
from tests.support.s3 import CREDENTIALS, MotoS3

from .conftest import CheckedClient, registry_token
from .oci_client import NAME, OTHER, Manifest, OciClient, artifact, assert_error, image, index

DAY = 86400.0


def later(days: float = 2) -> float:
    """A --now past the default grace period (one day) for everything pushed so far."""
    return time.time() + days * DAY


#: The cases whose outcome depends on the blob store run on S3 (moto) too; the others on files.
both_stores = pytest.mark.parametrize("client", ["files", "s3"], indirect=True)


@pytest.fixture(params=["files"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CheckedClient]:
    storage_url = None
    if request.param == "s3":
        moto: MotoS3 = request.getfixturevalue("moto")
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        storage_url = moto.url(request.getfixturevalue("bucket"), "registry")
    settings = Settings(
        data_dir=tmp_path / "data",
        storage_url=storage_url,
        create_on_push=True,
        accept_any_credentials=True,
    )
    app = create_app(settings)
    with CheckedClient(app) as client:
        client.headers["Authorization"] = f"Basic {registry_token(app)}"
        yield client


@pytest.fixture
def svc(client: CheckedClient) -> Any:
    return client.app.state.services


def stored(svc: Any) -> set[str]:
    return set(svc.blob_store.list())


def digests(manifest: Manifest) -> set[str]:
    return {blob.digest for blob in manifest.blobs}


def pushed_then_deleted(registry: OciClient, label: str, name: str = NAME) -> Manifest:
    manifest = image(label)
    registry.push(name, manifest)
    assert registry.http.delete(f"/v2/{name}/manifests/{manifest.digest}").status_code == 202
    return manifest


def assert_pullable(registry: OciClient, name: str, manifest: Manifest) -> None:
    assert registry.manifest(name, manifest.digest).content == manifest.body
    for blob in manifest.blobs:
        assert registry.blob(name, blob.digest).content == blob.data


class DeleteHook:
    """A blob store whose delete calls `before(digest)` first (the row is already deleting)."""

    def __init__(self, store: Any, before: Callable[[str], None]) -> None:
        self._store, self._before = store, before

    def delete(self, digest: str) -> None:
        self._before(digest)
        self._store.delete(digest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# -- bytes leave the store ---------------------------------------------------------------------


@both_stores
def test_deleted_images_lose_their_bytes_and_shared_layers_stay(
    registry: OciClient, svc: Any
) -> None:
    shared = image("shared")
    registry.push(NAME, shared)
    registry.push(OTHER, shared)
    gone = pushed_then_deleted(registry, "gone")
    assert registry.manifest(NAME, gone.digest).status_code == 404  # metadata goes at once
    assert registry.http.delete(f"/v2/{NAME}/manifests/{shared.digest}").status_code == 202
    report = svc.gc.run(now=later())
    assert (report.blobs_freed, report.bytes_freed) == (3, sum(len(b.data) for b in gone.blobs))
    assert stored(svc) == digests(shared)
    assert_pullable(registry, OTHER, shared)
    assert registry.blob(NAME, next(iter(digests(gone)))).status_code == 404


def test_dry_run_deletes_nothing_and_predicts_the_run(registry: OciClient, svc: Any) -> None:
    registry.push(NAME, image("kept"))
    pushed_then_deleted(registry, "a")
    pushed_then_deleted(registry, "b")
    before = stored(svc)
    predicted = svc.gc.run(dry_run=True, now=later())
    assert stored(svc) == before
    actual = svc.gc.run(now=later())
    assert (predicted.blobs_freed, predicted.bytes_freed) == (6, actual.bytes_freed)
    assert actual.blobs_freed == 6 and len(stored(svc)) == len(before) - 6


def test_blobs_seen_within_the_grace_period_stay(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "recent")
    assert svc.gc.run().blobs_freed == 0  # pushed seconds ago: inside the 24 h grace
    assert digests(manifest) <= stored(svc)
    assert svc.gc.run(now=later()).blobs_freed == 3


def test_children_referrers_and_untagged_images_keep_their_blobs(
    registry: OciClient, svc: Any
) -> None:
    child, untagged = image("child"), image("untagged")
    registry.push(NAME, child)
    registry.push(NAME, untagged)
    registry.push(NAME, index([child]), "multi")
    signature = artifact("sig", "application/vnd.example.sig", subject=child)
    registry.push(NAME, signature)
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert digests(child) | digests(untagged) | digests(signature) == stored(svc)


# -- races, replayed deterministically --------------------------------------------------------


def test_head_during_a_sweep_then_put_keeps_the_blobs(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "head-put")

    def client_looks() -> None:  # the blobs are candidates by now: the HEADs revive them
        for blob in manifest.blobs:
            assert registry.http.head(f"/v2/{NAME}/blobs/{blob.digest}").status_code == 200

    svc.gc.between_mark_and_sweep = client_looks
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert registry.put_manifest(NAME, "again", manifest).status_code == 201
    assert_pullable(registry, NAME, manifest)


def test_a_push_during_a_sweep_keeps_the_blobs(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "put")
    svc.gc.between_mark_and_sweep = lambda: registry.put_manifest(NAME, "t", manifest)
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert_pullable(registry, NAME, manifest)


@both_stores
def test_a_push_meeting_a_deleted_blob_is_refused_and_can_upload_again(
    registry: OciClient, svc: Any
) -> None:
    manifest = pushed_then_deleted(registry, "late")
    answers: list[int] = []

    def client_acts(digest: str) -> None:
        answers.append(registry.http.head(f"/v2/{NAME}/blobs/{digest}").status_code)
        assert_error(registry.put_manifest(NAME, "late", manifest), 400, "MANIFEST_BLOB_UNKNOWN")

    svc.gc.blobs = DeleteHook(svc.gc.blobs, client_acts)
    assert svc.gc.run(now=later()).blobs_freed == 3
    assert answers == [404, 404, 404]
    registry.push(NAME, manifest, "late")  # the client uploads again: now it works
    assert_pullable(registry, NAME, manifest)


def test_an_upload_completed_during_a_sweep_keeps_its_blob(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "reupload")
    svc.gc.between_mark_and_sweep = lambda: [
        registry.push_blob(NAME, b.data) for b in manifest.blobs
    ]
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert registry.put_manifest(NAME, "t", manifest).status_code == 201
    assert_pullable(registry, NAME, manifest)


@both_stores
def test_an_upload_of_a_blob_being_deleted_waits_and_publishes_anew(
    registry: OciClient, svc: Any
) -> None:
    manifest = pushed_then_deleted(registry, "waits")
    layer = manifest.blobs[1]
    uploads: list[threading.Thread] = []

    def start_upload(digest: str) -> None:
        if digest == layer.digest:
            thread = threading.Thread(target=registry.push_blob, args=(NAME, layer.data))
            thread.start()
            uploads.append(thread)

    svc.gc.blobs = DeleteHook(svc.gc.blobs, start_upload)
    assert svc.gc.run(now=later()).blobs_freed == 3
    uploads[0].join(60)
    assert layer.digest in stored(svc)
    assert registry.blob(NAME, layer.digest).content == layer.data


def test_a_mount_during_a_sweep_keeps_the_blob(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "mounted")

    def mount() -> None:
        for blob in manifest.blobs:
            url = f"/v2/{OTHER}/blobs/uploads/?mount={blob.digest}&from={NAME}"
            assert registry.http.post(url).status_code == 201

    svc.gc.between_mark_and_sweep = mount
    assert svc.gc.run(now=later()).blobs_freed == 0
    assert registry.put_manifest(OTHER, "m", manifest).status_code == 201
    assert_pullable(registry, OTHER, manifest)


def test_a_mount_of_a_blob_being_deleted_becomes_an_upload(registry: OciClient, svc: Any) -> None:
    manifest = pushed_then_deleted(registry, "unmountable")
    answers: list[int] = []

    def mount(digest: str) -> None:
        answers.append(
            registry.http.post(f"/v2/{OTHER}/blobs/uploads/?mount={digest}&from={NAME}").status_code
        )

    svc.gc.blobs = DeleteHook(svc.gc.blobs, mount)
    svc.gc.run(now=later())
    assert answers == [202, 202, 202]  # declined: the client uploads instead
    registry.push(OTHER, manifest)


# -- uploads and the lease -------------------------------------------------------------------


@both_stores
def test_abandoned_uploads_expire(registry: OciClient, svc: Any, client: CheckedClient) -> None:
    location = registry.start_upload(NAME)
    assert registry.patch(location, b"x" * 1000).status_code == 202
    upload_id = location.rsplit("/", 1)[-1].split("?")[0]
    assert svc.gc.run(now=later(6)).uploads_expired == 0
    assert _staged(svc, upload_id)
    assert svc.gc.run(now=later(8)).uploads_expired == 1
    assert client.get(location).status_code == 404
    assert not _staged(svc, upload_id)


def _staged(svc: Any, upload_id: str) -> bool:
    store = svc.blob_store
    if hasattr(store, "root"):
        return paths.upload_dir(store.root, upload_id).exists()
    found = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.keys.upload(upload_id))
    parts = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", ())
    return bool(found.get("Contents")) or bool(parts)


def test_one_collector_at_a_time(registry: OciClient, svc: Any) -> None:
    pushed_then_deleted(registry, "leased")
    inner: list[GcReport] = []
    svc.gc.between_mark_and_sweep = lambda: inner.append(
        type(svc.gc)(svc.meta, svc.blob_store, svc.clock).run(now=later())
    )
    outer = svc.gc.run(now=later())
    assert inner[0].skipped and outer.blobs_freed == 3


# -- what a pass reports -----------------------------------------------------------------------


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or None) or 0.0


def test_a_pass_is_audited_and_counted(registry: OciClient, svc: Any) -> None:
    import json

    from dockyard.services.audit import AuditLog

    assert svc.gc.audit is svc.audit  # the app's own audit log (its lines go to --audit-log)
    lines: list[str] = []
    svc.gc.audit = AuditLog(lines.append, svc.clock)
    gone = pushed_then_deleted(registry, "gone")
    runs_ok = _sample("dockyard_gc_runs_total", outcome="ok")
    dry_runs = _sample("dockyard_gc_runs_total", outcome="dry_run")
    freed = _sample("dockyard_gc_deleted_bytes_total")

    svc.gc.run(dry_run=True, now=later())
    assert lines == []  # a dry run changes nothing: no audit line, counted as dry_run only
    assert _sample("dockyard_gc_runs_total", outcome="dry_run") == dry_runs + 1
    report = svc.gc.run(now=later())

    size = sum(len(b.data) for b in gone.blobs)
    assert [json.loads(line) for line in lines] == [
        {
            "time": lines and json.loads(lines[0])["time"],
            "account": None,
            "principal": "dockyard:gc",
            "action": "GarbageCollection",
            "repository": None,
            "digest": None,
            "tags": [],
            "result": "SUCCESS",
            "details": {
                "blobs": 3,
                "bytes": size,
                "uploads_expired": report.uploads_expired,
                "stray_blobs": report.stray_blobs,
                "stray_uploads": report.stray_uploads,
            },
        }
    ]
    assert _sample("dockyard_gc_runs_total", outcome="ok") == runs_ok + 1
    assert _sample("dockyard_gc_deleted_bytes_total") == freed + size


def test_a_failed_pass_is_audited_as_failed(registry: OciClient, svc: Any) -> None:
    import json

    from dockyard.services.audit import AuditLog

    lines: list[str] = []
    svc.gc.audit = AuditLog(lines.append, svc.clock)
    pushed_then_deleted(registry, "gone")
    failed = _sample("dockyard_gc_runs_total", outcome="failed")

    def refuse(digest: str) -> None:
        raise OSError("disk on fire")

    svc.gc.blobs = DeleteHook(svc.gc.blobs, refuse)
    with pytest.raises(OSError):
        svc.gc.run(now=later())
    assert [json.loads(line)["result"] for line in lines] == ["FAILED"]
    assert json.loads(lines[0])["error"] == "OSError"
    assert _sample("dockyard_gc_runs_total", outcome="failed") == failed + 1
