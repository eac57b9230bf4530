"""Mapping between table rows and the domain records of dockyard.domain.models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from dockyard.backends.metadata.schema import images
from dockyard.domain.models import (
    Image,
    NewImage,
    Repository,
    RepositoryChanges,
    RepositorySettings,
    Upload,
)

# Every image column but the manifest, which can be megabytes and is loaded only on request.
_IMAGE_COLUMNS = [c for c in images.c if c.name != "manifest"]


def image_columns(with_manifest: bool) -> list[sa.ColumnElement[Any]]:
    return [*_IMAGE_COLUMNS, images.c.manifest] if with_manifest else list(_IMAGE_COLUMNS)


def new_repository_row(
    account_id: str, name: str, now: float, settings: RepositorySettings
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "name": name,
        "created_at": now,
        "tag_mutability": settings.tag_mutability,
        "mutability_exclusions": json.dumps(list(settings.mutability_exclusions)),
        "scan_on_push": settings.scan_on_push,
        "encryption": json.dumps(settings.encryption),
        "policy": None,
    }


def repository_changes(changes: RepositoryChanges) -> dict[str, Any]:
    """Column values for update_repository's `changes` (a value of the wrong type: TypeError)."""
    return {name: _CHANGE_COLUMNS[name](value) for name, value in changes.changed().items()}


def _exclusions(value: object) -> str:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"mutability_exclusions must be a list of strings, not {value!r}")
    return json.dumps([str(item) for item in value])


def _policy(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"policy must be a string or None, not {value!r}")
    return value


_CHANGE_COLUMNS: dict[str, Any] = {
    "tag_mutability": str,
    "mutability_exclusions": _exclusions,
    "scan_on_push": bool,
    "policy": _policy,
}


def to_repository(row: Mapping[Any, Any]) -> Repository:
    return Repository(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        created_at=row["created_at"],
        tag_mutability=row["tag_mutability"],
        mutability_exclusions=tuple(json.loads(row["mutability_exclusions"])),
        scan_on_push=bool(row["scan_on_push"]),
        encryption=json.loads(row["encryption"]),
        policy=row["policy"],
    )


def new_image_row(repo_id: int, image: NewImage, now: float) -> dict[str, Any]:
    return {
        "repo_id": repo_id,
        "digest": image.digest,
        "manifest": image.manifest,
        "media_type": image.media_type,
        "artifact_media_type": image.artifact_media_type,
        "size_bytes": image.size_bytes,
        "pushed_at": now,
        "subject_digest": image.subject_digest,
        "status": "ACTIVE",
    }


def to_image(row: Mapping[Any, Any], tags: tuple[str, ...] = ()) -> Image:
    # Not row.get(): on a SQLAlchemy row mapping a missing key costs an exception, every row.
    manifest = row["manifest"] if "manifest" in row else None  # noqa: SIM401
    return Image(
        id=row["id"],
        repo_id=row["repo_id"],
        digest=row["digest"],
        media_type=row["media_type"],
        artifact_media_type=row["artifact_media_type"],
        size_bytes=row["size_bytes"],
        pushed_at=row["pushed_at"],
        last_pulled_at=row["last_pulled_at"],
        subject_digest=row["subject_digest"],
        status=row["status"],
        archived_at=row["archived_at"],
        activated_at=row["activated_at"],
        # Some drivers hand back memoryview for binary columns.
        manifest=None if manifest is None else bytes(manifest),
        tags=tags,
    )


def to_upload(row: Mapping[Any, Any]) -> Upload:
    return Upload(
        id=row["id"],
        repo_id=row["repo_id"],
        size=row["size"],
        created_at=row["created_at"],
        hash_state=None if row["hash_state"] is None else bytes(row["hash_state"]),
        generation=row["generation"],
        segments=tuple((row["segments"] or "").split()),
    )
