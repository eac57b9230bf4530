"""`dockyard verify`: re-hash stored blobs and find those whose bytes do not match their digest.

    targets(account, repository?, sample?) ──> digests ──> check each: stored_digest(d) == d?
                                                             │ no, and repair
                                                             └─> quarantine: moved aside, no
                                                                 longer served (GET: 404)

Blobs are content-addressed, so a blob is right exactly when its bytes hash to its name. A
quarantined blob stays linked in the metadata store: pushing the same bytes again publishes
them afresh (a push of an existing digest is a no-op only while the blob is there).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.ports import BlobStore, RepositoryBlobs
from dockyard.services.repositories import RepositoryService

SUPPORTED = ("sha256", "sha384", "sha512")


class Progress(Protocol):
    def start(self, blobs: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def blob_done(self) -> None: ...


@dataclass(frozen=True)
class Corrupt:
    digest: str
    actual: str  # what the stored bytes hash to
    moved_to: str | None = None  # where --repair put them


@dataclass
class VerifyReport:
    checked: int = 0
    bytes_read: int = 0
    corrupt: list[Corrupt] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # listed, yet gone when read
    skipped: list[str] = field(default_factory=list)  # algorithms hashlib lacks here

    @property
    def clean(self) -> bool:
        return not self.corrupt


class BlobVerifier:
    def __init__(
        self,
        meta: RepositoryBlobs,
        blobs: BlobStore,
        repos: RepositoryService,
        choose: Callable[[Sequence[str], int], list[str]] = random.sample,
    ) -> None:
        self.meta, self.blobs, self.repos, self._choose = meta, blobs, repos, choose

    def targets(self, account_id: str, repository: str | None, sample: int | None) -> list[str]:
        """The digests to check: the repository's, or every stored blob; a random `sample`."""
        if repository is not None:
            repo = self.repos.get(account_id, repository)
            digests = self.meta.linked_digests(repo.id)
        else:
            digests = list(self.blobs.list())
        if sample is not None and sample < len(digests):
            return sorted(self._choose(digests, sample))
        return digests

    def verify(self, digests: Sequence[str], repair: bool, progress: Progress) -> VerifyReport:
        report = VerifyReport()
        progress.start(len(digests))

        def advance(nbytes: int) -> None:
            report.bytes_read += nbytes
            progress.advance(nbytes)

        for digest in digests:
            self._check(digest, repair, advance, report)
            progress.blob_done()
        return report

    def _check(
        self, digest: str, repair: bool, advance: Callable[[int], None], report: VerifyReport
    ) -> None:
        algorithm, _, expected = digest.partition(":")
        if algorithm not in SUPPORTED:
            report.skipped.append(digest)
            return
        actual = self.blobs.stored_digest(digest, advance)
        report.checked += 1
        if actual is None:
            report.missing.append(digest)
        elif actual != expected:
            moved = self.blobs.quarantine(digest) if repair else None
            report.corrupt.append(Corrupt(digest, f"{algorithm}:{actual}", moved))
