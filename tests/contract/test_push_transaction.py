"""A push through the services is one write transaction on the SQL store (SQLite here).

The repository lookup, the duplicate and blob checks, the save and what the push listeners write
(a scan queued on push) share one BEGIN IMMEDIATE ... COMMIT: they commit together or not at all,
and the checks see the database the save writes to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.domain.errors import ImageAlreadyExists, LayersNotFound
from dockyard.domain.models import Repository, RepositorySettings
from dockyard.services.composition import Services
from dockyard.settings import Settings

from .metadata_support import NOW, OCI_MANIFEST, fresh_name, sha
from .sqlite_trace import sqlite_statements, transaction_control


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = create_services(Settings(data_dir=tmp_path / "data"))
    yield svc
    svc.meta.close()


def _repo(svc: Services, scan_on_push: bool = False) -> Repository:
    settings = RepositorySettings(scan_on_push=scan_on_push)
    return svc.meta.create_configured_repository(svc.default_account, fresh_name(), settings, NOW)


def _manifest(svc: Services, repo: Repository, label: str, link: bool = True) -> bytes:
    blobs = [
        ("application/vnd.oci.image.config.v1+json", sha(f"config {label}"), 10),
        ("application/vnd.oci.image.layer.v1.tar+gzip", sha(f"layer {label}"), 20),
    ]
    if link:
        for _, digest, size in blobs:
            svc.meta.link_blob(repo.id, digest, size, NOW)
    config, *layers = [{"mediaType": m, "digest": d, "size": s} for m, d, s in blobs]
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    return json.dumps(document).encode()


def _put(svc: Services, repo: Repository, manifest: bytes, tag: str | None) -> object:
    return svc.commands.put_image(repo.account_id, repo.name, manifest, OCI_MANIFEST, tag, None)


def test_a_put_image_is_one_transaction_with_its_scan(services: Services) -> None:
    repo = _repo(services, scan_on_push=True)
    manifest = _manifest(services, repo, "a")
    statements = sqlite_statements(services.meta, lambda: _put(services, repo, manifest, "v1"))
    assert transaction_control(statements) == ["BEGIN IMMEDIATE", "COMMIT"]
    image = services.meta.get_image_by_tag(repo.id, "v1")
    assert image is not None
    assert services.meta.scans_for([image.id])[image.id].status == "IN_PROGRESS"


def test_a_failing_push_listener_undoes_the_push(services: Services) -> None:
    repo = _repo(services)
    manifest = _manifest(services, repo, "a")

    def refuse(*_: object) -> None:
        raise RuntimeError("listener failed")

    services.images.on_pushed = (*services.images.on_pushed, refuse)
    with pytest.raises(RuntimeError, match="listener failed"):
        _put(services, repo, manifest, "v1")
    assert services.meta.get_image_by_tag(repo.id, "v1") is None
    assert services.meta.list_tags(repo.id, None, None) == []


def test_refused_pushes_roll_back_and_change_nothing(services: Services) -> None:
    repo = _repo(services)
    manifest = _manifest(services, repo, "a")
    _put(services, repo, manifest, "v1")
    before = services.meta.get_image_by_tag(repo.id, "v1")
    refused = sqlite_statements(
        services.meta,
        lambda: pytest.raises(ImageAlreadyExists, _put, services, repo, manifest, "v1"),
    )
    assert transaction_control(refused) == ["BEGIN IMMEDIATE", "ROLLBACK"]
    with pytest.raises(LayersNotFound):
        _put(services, repo, _manifest(services, repo, "b", link=False), "v2")
    assert services.meta.get_image_by_tag(repo.id, "v1") == before
    assert services.meta.list_tags(repo.id, None, None) == ["v1"]
