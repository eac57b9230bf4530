"""What the S3 blob store holds, for the collector's stray pass (services/gc_strays.py).

    stored_blobs   one paginated listing of <prefix>blobs/ (keys come back in digest order):
                   digest, size and LastModified, streamed page by page
    idle_uploads   the newest write under each <prefix>uploads/<id>/: every object's
                   LastModified, and for incomplete multipart uploads (a writer mid-segment)
                   their start and their parts' LastModified; ids whose newest write is older
                   than the cut-off

S3 cannot show that a writer is still connected, so a request that stalls for longer than the
upload TTL (7 days by default) could lose its staging; its publish then fails with an error and
no blob appears (a missing segment is FileNotFoundError), never a blob with missing bytes. The
listing of uploads/ is held as one newest time per upload id (uploads in staging, not blobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dockyard.backends.blobs.s3.paths import KeySpace
from dockyard.ports import StoredBlob


def stored_blobs(client: Any, bucket: str, keys: KeySpace) -> Iterator[StoredBlob]:
    for item in _objects(client, bucket, keys.blobs):
        digest = keys.digest_of(item["Key"])
        if digest is not None:
            yield StoredBlob(digest, item["Size"], _seconds(item["LastModified"]))


def idle_uploads(client: Any, bucket: str, keys: KeySpace, idle_since: float) -> Iterator[str]:
    root = f"{keys.prefix}uploads/"
    newest: dict[str, float] = {}
    for item in _objects(client, bucket, root):
        _note(newest, item["Key"][len(root) :], _seconds(item["LastModified"]))
    paginator = client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=root):
        for upload in page.get("Uploads", ()):
            last = _seconds(upload["Initiated"])
            if last < idle_since:  # parts uploaded since the start count as writes too
                last = max([last, *_part_times(client, bucket, upload)])
            _note(newest, upload["Key"][len(root) :], last)
    yield from sorted(upload_id for upload_id, last in newest.items() if last < idle_since)


def _note(newest: dict[str, float], tail: str, when: float) -> None:
    upload_id = tail.split("/", 1)[0]
    if upload_id:
        newest[upload_id] = max(when, newest.get(upload_id, when))


def _part_times(client: Any, bucket: str, upload: dict[str, Any]) -> list[float]:
    paginator = client.get_paginator("list_parts")
    pages = paginator.paginate(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return [_seconds(part["LastModified"]) for page in pages for part in page.get("Parts", ())]


def _objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", ())


def _seconds(when: datetime) -> float:
    return when.timestamp()
