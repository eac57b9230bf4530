"""Lifecycle policy previews (StartLifecyclePolicyPreview / GetLifecyclePolicyPreview).

    start  -> row IN_PROGRESS, leased to this process -> background thread: plan() at that
              moment (the very function a run applies) -> COMPLETE with results, or FAILED
    get    -> status, and once COMPLETE a page of results plus the summary of all of them

A finished preview is kept: Get answers it until `PREVIEW_RESULTS_TTL` after its start, then
reports EXPIRED with no results (ECR's fourth status: the images have moved on since, so the list
no longer says what a run would do); a new Start computes a fresh one.

A Start while a preview of the repository is IN_PROGRESS under a running lease answers
LifecyclePolicyPreviewInProgressException. A preview whose process died (lease run out) is taken
over by any server's background tick (`resume_stale`). Results are stored as compact JSON rows
`[digest, tags, pushedAt, action, rulePriority, storageClass]`, oldest image first.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, replace

from dockyard.domain.errors import (
    LifecyclePreviewInProgress,
    LifecyclePreviewNotFound,
)
from dockyard.domain.lifecycle import Action
from dockyard.domain.lifecycle_policy import parse_policy
from dockyard.domain.models import LifecyclePreviewRecord, Repository
from dockyard.domain.page_tokens import Pager
from dockyard.ports import MetadataStore
from dockyard.services.clock import Clock
from dockyard.services.image_queries import ImageId
from dockyard.services.lifecycle import LifecycleService, policy_not_found
from dockyard.services.repositories import RepositoryService

log = logging.getLogger("dockyard.lifecycle")

PREVIEW_LEASE_SECONDS = 600.0
DEFAULT_PAGE = 100
#: How long a COMPLETE preview's results are answered before it reports EXPIRED. ECR does not
#: say (reference ecr-wave2 §9); a day matches its "acted on within 24 hours" for runs.
PREVIEW_RESULTS_TTL = 24 * 3600.0
EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class PreviewEntry:
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    action: str  # EXPIRE or TRANSITION
    rule_priority: int
    storage_class: str  # STANDARD or ARCHIVE: where the image is now


@dataclass(frozen=True)
class PreviewPage:
    repo: Repository
    preview: LifecyclePreviewRecord
    entries: list[PreviewEntry]
    next_token: str | None
    expiring: int = 0
    transitioning: int = 0


def encode_results(actions: list[Action]) -> str:
    rows = [
        [
            a.image.digest,
            list(a.image.tags),
            a.image.pushed_at,
            a.type.upper(),
            a.rule_priority,
            "ARCHIVE" if a.image.status == "ARCHIVED" else "STANDARD",
        ]
        for a in actions
    ]
    return json.dumps(rows, separators=(",", ":"))


def entries_of(actions: list[Action]) -> list[PreviewEntry]:
    """The preview rows of `actions`, as a stored preview decodes them."""
    return decode_results(encode_results(actions))


def decode_results(text: str | None) -> list[PreviewEntry]:
    return [PreviewEntry(d, tuple(t), p, a, r, s) for d, t, p, a, r, s in json.loads(text or "[]")]


class LifecyclePreviews:
    def __init__(
        self,
        meta: MetadataStore,
        lifecycle: LifecycleService,
        repos: RepositoryService,
        clock: Clock,
        page_key: bytes,
    ) -> None:
        self.meta, self.lifecycle, self.repos, self.clock = meta, lifecycle, repos, clock
        self.page_key = page_key
        self.worker = f"{socket.gethostname()}:{os.getpid()}:preview"
        self.in_background = True  # tests may run previews in the calling thread

    def start(self, account_id: str, name: str, text: str | None) -> tuple[Repository, str]:
        repo = self.repos.get(account_id, name)
        if text is None:
            stored = self.meta.get_lifecycle_policy(repo.id)
            if stored is None:
                raise policy_not_found(repo)
            text = stored.text
        parse_policy(text)
        if not self.meta.start_lifecycle_preview(
            repo.id, text, self.worker, self.clock.now(), PREVIEW_LEASE_SECONDS
        ):
            raise LifecyclePreviewInProgress(
                "The previous lifecycle policy preview request has not completed. Wait and try "
                "again."
            )
        if self.in_background:
            threading.Thread(
                target=self.run,
                args=(repo.id, text),
                daemon=True,
                name=f"lifecycle-preview-{repo.id}",
            ).start()
        else:
            self.run(repo.id, text)
        return repo, text

    def evaluate_now(
        self, account_id: str, name: str, text: str
    ) -> tuple[Repository, list[PreviewEntry]]:
        """What `text` would do to the repository now, computed in this thread and not stored
        (the console shows it before the policy is saved): the same plan() as a preview or a
        run, so the same images and rules."""
        repo = self.repos.get(account_id, name)
        return repo, entries_of(self.lifecycle.plan(repo.id, text, self.clock.now()))

    def run(self, repo_id: int, text: str) -> None:
        try:
            results: str | None = encode_results(
                self.lifecycle.plan(repo_id, text, self.clock.now())
            )
            status = "COMPLETE"
        except Exception:  # a preview that cannot finish says so instead of hanging
            log.exception("lifecycle preview of repository %d failed", repo_id)
            results, status = None, "FAILED"
        self.meta.finish_lifecycle_preview(repo_id, self.worker, status, results)

    def resume_stale(self) -> int:
        stale = self.meta.claim_stale_previews(self.worker, self.clock.now(), PREVIEW_LEASE_SECONDS)
        for preview in stale:
            self.run(preview.repo_id, preview.text)
        return len(stale)

    def page(
        self,
        account_id: str,
        name: str,
        image_ids: list[ImageId] | None,
        tag_status: str,
        token: str | None,
        limit: int | None,
    ) -> PreviewPage:
        repo = self.repos.get(account_id, name)
        preview = self.meta.get_lifecycle_preview(repo.id)
        if preview is None:
            raise LifecyclePreviewNotFound("There is no dry run for this repository.")
        if self._expired(preview):
            return PreviewPage(repo, replace(preview, status=EXPIRED, results=None), [], None)
        entries = decode_results(preview.results)
        expiring = sum(e.action == "EXPIRE" for e in entries)
        chosen = [e for e in entries if _wanted(e, image_ids, tag_status)]
        if image_ids is not None:
            return PreviewPage(repo, preview, chosen, None, expiring, len(entries) - expiring)
        pager = Pager(
            self.page_key,
            {
                "op": "GetLifecyclePolicyPreview",
                "repo": repo.id,
                "started": preview.started_at,
                "tag": tag_status,
            },
        )
        page, following = pager.window(chosen, token, limit or DEFAULT_PAGE)
        return PreviewPage(repo, preview, page, following, expiring, len(entries) - expiring)

    def _expired(self, preview: LifecyclePreviewRecord) -> bool:
        return (
            preview.status == "COMPLETE"
            and self.clock.now() - preview.started_at > PREVIEW_RESULTS_TTL
        )


def _wanted(entry: PreviewEntry, image_ids: list[ImageId] | None, tag_status: str) -> bool:
    if tag_status == "TAGGED" and not entry.tags:
        return False
    if tag_status == "UNTAGGED" and entry.tags:
        return False
    if image_ids is None:
        return True
    return any(
        (i.digest is None or i.digest == entry.digest) and (i.tag is None or i.tag in entry.tags)
        for i in image_ids
    )
