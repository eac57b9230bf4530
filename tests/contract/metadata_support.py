"""Helpers shared by the metadata contract cases: fresh names, realistic images, thread races."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from dockyard.domain.models import NewImage

NOW = 1_700_000_000.0
THREADS = 8

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

T = TypeVar("T")
K = TypeVar("K")


def fresh_account() -> str:
    """A random 12-digit account id, so a test never sees another test's repositories."""
    return f"{secrets.randbelow(10**12):012d}"


def fresh_name(prefix: str = "repo") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def sha(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def make_image(
    label: str,
    *,
    children: Sequence[str] = (),
    subject: str | None = None,
    artifact_type: str | None = None,
) -> NewImage:
    """A manifest (or an index, when `children` is given) whose digest is its real sha256."""
    blobs = () if children else (sha(f"config {label}"), sha(f"layer {label}"))
    document: dict[str, object] = {"schemaVersion": 2, "annotations": {"label": label}}
    if children:
        document["manifests"] = [{"digest": d} for d in children]
    else:
        document["layers"] = [{"digest": d} for d in blobs]
    if subject:
        document["subject"] = {"digest": subject}
    manifest = json.dumps(document, sort_keys=True).encode()
    return NewImage(
        digest=sha(manifest),
        manifest=manifest,
        media_type=OCI_INDEX if children else OCI_MANIFEST,
        artifact_media_type=artifact_type,
        size_bytes=len(label) * 1000,
        subject_digest=subject,
        child_digests=tuple(children),
        blob_digests=blobs,
    )


def run_together(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(i)` on `count` threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start, i) for i in range(count)]
        return [f.exception() or f.result() for f in futures]


def walk(fetch: Callable[[K | None], list[T]], key: Callable[[T], K]) -> list[T]:
    """Follow keyset cursors (`key` of a page's last item) until the first empty page."""
    seen: list[T] = []
    while page := fetch(key(seen[-1]) if seen else None):
        seen += page
        assert len(seen) < 10_000, "the listing never ends (does the cursor move forward?)"
    return seen


@dataclass
class AccountRows:
    """Account-level rows a test created that no port method deletes; removed after the test."""

    settings_of: list[str] = field(default_factory=list)  # account ids
    secrets: list[str] = field(default_factory=list)  # secret names

    def account(self) -> str:
        """A fresh account whose settings are removed after the test."""
        self.settings_of.append(fresh_account())
        return self.settings_of[-1]

    def secret(self) -> str:
        """A fresh secret name, its secret removed after the test."""
        self.secrets.append(fresh_name("secret"))
        return self.secrets[-1]
