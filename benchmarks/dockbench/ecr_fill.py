"""The images of the ECR benchmark, and two ways to store many of them fast with the server stopped.

Image number ``i`` is an OCI manifest that references one config blob and one layer blob (the same
two for every image, uploaded once with the ECR layer operations) and carries the annotation
``org.example.seq = i``, so every manifest, and so every digest, is distinct. Even-numbered images
are pushed with the tag ``img-<i>``, odd-numbered ones untagged: half the repository is tagged.

Offline fills (Dockyard only; the server must be stopped):

- ``fill_with_store``: the metadata store's own ``save_image`` code (``_images.save_image``, the
  function ``SqlMetadataStore.save_image`` runs), called once per image, many images per
  transaction. Same statements and rows as a PutImage, minus a commit (and its fsync) per image.
- ``fill_bulk``: executemany INSERTs of exactly the rows ``save_image`` writes: the images row from
  the store's own ``_rows.new_image_row``, one ``image_refs`` row per distinct blob (kind
  ``blob``), one ``tags`` row for a tagged image. ``check_same_rows`` compares an image written
  this way with one written by ``save_image`` and fails the run if they differ in any column but
  the ones that must differ (id, digest, manifest, push time).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_SEQ = "@@SEQ@@"


@dataclass(frozen=True)
class ImageSet:
    """Manifest ``i`` (bytes), its digest and its tag, for the two uploaded blobs."""

    config_digest: str
    config_size: int
    layer_digest: str
    layer_size: int

    def __post_init__(self) -> None:
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.config_digest,
                "size": self.config_size,
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": self.layer_digest, "size": self.layer_size}
            ],
            "annotations": {"org.example.seq": _SEQ},
        }
        head, _, tail = json.dumps(document, separators=(",", ":")).partition(_SEQ)
        object.__setattr__(self, "_head", head.encode())
        object.__setattr__(self, "_tail", tail.encode())

    def manifest(self, i: int) -> bytes:
        return self._head + str(i).encode() + self._tail  # == json.dumps with seq str(i)

    @staticmethod
    def digest(manifest: bytes) -> str:
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    @staticmethod
    def tag(i: int) -> str | None:
        return f"img-{i}" if i % 2 == 0 else None

    @property
    def size_bytes(self) -> int:
        return self.config_size + self.layer_size


# -- offline fills (import dockyard lazily: the online part of the benchmark does not need it) --


def _store(db_url: str):
    from dockyard.backends.metadata.sql import SqlMetadataStore

    return SqlMetadataStore(db_url, create=False)


def _new_image(images: ImageSet, i: int, template):
    """A NewImage for image i, from the fields Dockyard derived for image 0 (same for all)."""
    from dataclasses import replace

    manifest = images.manifest(i)
    return replace(template, digest=images.digest(manifest), manifest=manifest)


def new_image_template(images: ImageSet):
    """NewImage of image 0 exactly as ImageService._new_image derives it from the manifest."""
    from dockyard.domain.manifests import parse_manifest
    from dockyard.domain.models import NewImage

    body = images.manifest(0)
    manifest = parse_manifest(body, OCI_MANIFEST)
    return NewImage(
        digest=images.digest(body),
        manifest=body,
        media_type=manifest.media_type,
        artifact_media_type=None if manifest.is_index else manifest.artifact_media_type,
        size_bytes=manifest.own_size,
        subject_digest=str(manifest.subject.digest) if manifest.subject else None,
        child_digests=tuple(str(c.digest) for c in manifest.children),
        blob_digests=tuple(str(d) for d in manifest.blob_digests),
    )


def _batches(start: int, stop: int, size: int) -> Iterator[range]:
    for lo in range(start, stop, size):
        yield range(lo, min(lo + size, stop))


class _Clock:
    """Strictly increasing wall-clock push times, as a server's clock would give in sequence."""

    def __init__(self) -> None:
        self.last = 0.0

    def now(self) -> float:
        self.last = max(time.time(), self.last + 1e-6)
        return self.last


def repo_id(db_url: str, account_id: str, name: str) -> int:
    store = _store(db_url)
    try:
        repo = store.get_repository(account_id, name)
        if repo is None:
            raise RuntimeError(f"repository {name!r} of account {account_id} not found")
        return repo.id
    finally:
        store.close()


def fill_with_store(
    db_url: str, rid: int, images: ImageSet, start: int, stop: int, batch: int = 2000
) -> None:
    """Images start..stop-1 through the store's save_image code, `batch` per transaction."""
    from dockyard.backends.metadata import _images

    store, clock, template = _store(db_url), _Clock(), new_image_template(images)
    try:
        for chunk in _batches(start, stop, batch):
            with store._write() as conn:
                for i in chunk:
                    new = _new_image(images, i, template)
                    _images.save_image(conn, rid, new, images.tag(i), True, clock.now())
    finally:
        store.close()


def fill_bulk(
    db_url: str, rid: int, images: ImageSet, start: int, stop: int, batch: int = 50_000
) -> None:
    """Images start..stop-1 as executemany INSERTs of the rows save_image would write."""
    from dockyard.backends.metadata.schema import image_refs, tags
    from dockyard.backends.metadata.schema import images as images_t

    store, clock = _store(db_url), _Clock()
    try:
        with store._read() as conn:
            next_id = (conn.execute(sa.select(sa.func.max(images_t.c.id))).scalar() or 0) + 1
        for chunk in _batches(start, stop, batch):
            image_rows, ref_rows, tag_rows = bulk_rows(rid, images, chunk, next_id, clock)
            next_id += len(chunk)
            with store._write() as conn:
                conn.execute(sa.insert(images_t), image_rows)
                conn.execute(sa.insert(image_refs), ref_rows)
                if tag_rows:
                    conn.execute(sa.insert(tags), tag_rows)
    finally:
        store.close()


def bulk_rows(
    rid: int, images: ImageSet, chunk: range, first_id: int, clock: _Clock
) -> tuple[list[dict], list[dict], list[dict]]:
    """The images, image_refs and tags rows save_image would write for images `chunk`, with
    explicit ids from `first_id` on: what the bulk fills insert (executemany or COPY)."""
    from dockyard.backends.metadata import _rows
    from dockyard.backends.metadata.schema import REF_BLOB

    template = new_image_template(images)
    blobs = list(dict.fromkeys(template.blob_digests))
    assert not template.child_digests
    image_rows, ref_rows, tag_rows = [], [], []
    for image_id, i in enumerate(chunk, first_id):
        now = clock.now()
        row = _rows.new_image_row(rid, _new_image(images, i, template), now)
        row["id"] = image_id
        image_rows.append(row)
        ref_rows += [{"image_id": image_id, "digest": d, "kind": REF_BLOB} for d in blobs]
        tag = images.tag(i)
        if tag is not None:
            tag_rows.append({"repo_id": rid, "name": tag, "image_id": image_id, "updated_at": now})
    return image_rows, ref_rows, tag_rows


def image_rows(db_url: str, rid: int, digest: str) -> dict:
    """Everything stored about one image: its row, its refs, its tags."""
    from dockyard.backends.metadata.schema import image_refs, images, tags

    store = _store(db_url)
    try:
        with store._read() as conn:
            row = dict(
                conn.execute(
                    sa.select(images).where(images.c.repo_id == rid, images.c.digest == digest)
                )
                .mappings()
                .one()
            )
            refs = sorted(
                tuple(r)
                for r in conn.execute(
                    sa.select(image_refs.c.digest, image_refs.c.kind).where(
                        image_refs.c.image_id == row["id"]
                    )
                )
            )
            tag_rows = [
                dict(r)
                for r in conn.execute(
                    sa.select(tags).where(tags.c.image_id == row["id"])
                ).mappings()
            ]
    finally:
        store.close()
    return {"image": row, "refs": refs, "tags": tag_rows}


def check_same_rows(db_url: str, rid: int, images: ImageSet, reference: int, bulk: int) -> None:
    """Image `bulk` (written by fill_bulk) is stored like image `reference` (by save_image or a
    PutImage): same columns and values but id, digest, manifest and times; same refs and tags
    but the tag name. Both numbers must be even (tagged) or both odd."""
    a = image_rows(db_url, rid, images.digest(images.manifest(reference)))
    b = image_rows(db_url, rid, images.digest(images.manifest(bulk)))
    varying = {"id", "digest", "manifest", "pushed_at"}
    diff = {
        k: (a["image"][k], b["image"][k])
        for k in a["image"]
        if k not in varying and a["image"][k] != b["image"][k]
    }
    strip = [
        ({k: v for k, v in t.items() if k not in ("name", "image_id", "updated_at")})
        for t in (a["tags"] + b["tags"])
    ]
    if (
        diff
        or a["refs"] != b["refs"]
        or len(a["tags"]) != len(b["tags"])
        or (strip and any(s != strip[0] for s in strip))
    ):
        raise RuntimeError(
            f"bulk rows differ from save_image rows: {diff} {a['refs']} "
            f"{b['refs']} {a['tags']} {b['tags']}"
        )


def table_counts(db_file: Path) -> dict[str, int]:
    """Rows per table, read-only (safe beside a running server in WAL mode)."""
    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        names = [
            n
            for (n,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def check_growth(
    before: dict[str, int], after: dict[str, int], images: ImageSet, start: int, stop: int, how: str
) -> None:
    """Storing images start..stop-1 added one images row, one image_refs row per blob and one
    tags row per tagged image, and touched no other table: so PutImage, save_image and the bulk
    fill write the same tables."""
    tagged = sum(1 for i in range(start, stop) if images.tag(i))
    want = {"images": stop - start, "image_refs": 2 * (stop - start), "tags": tagged}
    got = {t: after.get(t, 0) - before.get(t, 0) for t in set(before) | set(after)}
    wrong = {t: d for t, d in got.items() if d != want.get(t, 0)}
    if wrong:
        raise RuntimeError(
            f"{how} of images {start}..{stop - 1} changed tables {wrong}, expected {want}"
        )
