"""Pulls through the cache: a pull of `<prefix>/<upstream repository>` the cache cannot answer
fetches from the rule's upstream. (Reference: ecr-wave2.md §2.2-2.3.)

    manifest GET / BatchGetImage
      local(...)        the cached image, or None: go upstream (a miss under a rule, or a tag
                        last checked upstream more than --pull-through-refresh ago)
      fetch(...)        under a database lease per (repository, reference), so concurrent first
                        pulls in any process fetch once: create the repository (PULL_THROUGH_CACHE
                        template), fetch the manifest (an index's children first), verify its
                        digest, store it. A stale tag is compared by HEAD first; an unreachable
                        upstream serves the cached image.
    blob GET
      blob(...)         a blob a cached image lists but the store lacks: one request (lease per
                        digest) streams it from the upstream to its client while writing it and
                        hashing it; it is published (pinned against GC, like an upload) only when
                        the digest matches. Others wait for it, then read it locally.

A manifest is stored before its blobs (the client does not wait for the whole image), so a
cached image may lack blobs until they are first pulled; `complete(...)` then fetches the rest
in the background a little later so the cache holds whole images.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dockyard.domain.digests import digest_of, is_digest, parse_digest
from dockyard.domain.errors import (
    ImageNotFound,
    ManifestInvalid,
    RepositoryNotFound,
    TagImmutable,
)
from dockyard.domain.manifests import MANIFEST_TYPES, Manifest, parse_manifest
from dockyard.domain.models import Image, NewImage, Repository
from dockyard.domain.pull_through import (
    PullThroughRule,
    UpstreamError,
    rule_for,
    upstream_name,
)
from dockyard.domain.rules import tag_is_immutable
from dockyard.domain.templates import AppliedFor
from dockyard.ports import BlobStore, MetadataStore, UpstreamClient
from dockyard.services.access import AccessControl
from dockyard.services.audit import current_actor
from dockyard.services.clock import Clock
from dockyard.services.images import IMAGE_NOT_FOUND, ImageService
from dockyard.services.placement import bounded
from dockyard.services.publications import Publications
from dockyard.services.pull_through import PullThroughRules
from dockyard.services.templates import TemplateService

log = logging.getLogger("dockyard.pull_through")

ACCEPTED = sorted(MANIFEST_TYPES)
LEASE_SECONDS = 30.0
_POLL = 0.05
#: How long a waiter waits for another request's fetch before giving up on it.
WAIT_LIMIT = 600.0
#: Blobs no client asked for within this long after their manifest are fetched in the background.
COMPLETION_DELAY = 3.0


@dataclass
class BlobStream:
    """A blob arriving from the upstream: `chunks` are served to the client as they are stored."""

    size: int | None
    chunks: Iterator[bytes]


class PullThroughCache:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        rules: PullThroughRules,
        images: ImageService,
        templates: TemplateService,
        access: AccessControl,
        clock: Clock,
    ) -> None:
        self.meta, self.blobs, self.rules, self.images = meta, blobs, rules, images
        self.templates, self.access, self.clock = templates, access, clock
        self.publications = Publications(meta, clock)
        self.refresh_seconds = rules.config.refresh_seconds
        self.completion_delay = COMPLETION_DELAY
        #: Starts background work (a daemon thread here; tests may run it inline).
        self.spawn: Callable[[Callable[[], None]], None] = _daemon

    # -- manifests ------------------------------------------------------------------------------

    @bounded
    def local(
        self, account_id: str, name: str, reference: str, principal: str | None, record: bool = True
    ) -> Image | None:
        """The cached image, or None when the pull must ask the upstream first."""
        try:
            image = (
                self.images.pull(account_id, name, reference, principal)
                if record
                else self.images.find(account_id, name, reference)
            )
        except (RepositoryNotFound, ImageNotFound):
            if self._rule(account_id, name) is None:
                raise
            return None
        if is_digest(reference) or not self._stale(account_id, name, reference):
            return image
        return None

    def fetch(
        self, account_id: str, name: str, reference: str, principal: str | None, record: bool = True
    ) -> Image:
        """What `local` could not answer: fetched from (or checked with) the upstream."""
        rule = self._rule(account_id, name)
        if rule is None:
            return self.images.find(account_id, name, reference)  # raises its own error
        self._check_import(account_id, name)
        repo = self._repository(account_id, name)
        with self._lease(f"m:{account_id}/{name}:{reference}") as waited:
            if waited:  # another request fetched meanwhile: take what it stored
                found = self.local(account_id, name, reference, principal, record)
                if found is not None:
                    return found
            self._refresh(repo, rule, reference)
        return (
            self.images.pull(account_id, name, reference, principal)
            if record
            else self.images.find(account_id, name, reference)
        )

    def _refresh(self, repo: Repository, rule: PullThroughRule, reference: str) -> None:
        cached = self._cached(repo, reference)
        try:
            client = self.rules.connect(repo.account_id, rule)
            upstream = upstream_name(rule, repo.name)
            if cached is not None and self._unchanged(client, upstream, reference, cached):
                self._checked(repo, reference)
                return
            stored = self._import(repo, client, upstream, reference)
        except (UpstreamError, ManifestInvalid, TagImmutable) as exc:
            # ECR serves the last cached image when it cannot update "for any reason".
            log.info(
                "pull-through %s/%s:%s from upstream failed: %s",
                repo.account_id,
                repo.name,
                reference,
                exc,
            )
            if cached is None:
                raise ImageNotFound(IMAGE_NOT_FOUND) from None
            return
        self._checked(repo, reference)
        self.spawn(lambda: self.complete(repo, client, upstream, stored))

    def _unchanged(
        self, client: UpstreamClient, upstream: str, reference: str, cached: Image
    ) -> bool:
        return client.manifest_digest(upstream, reference, ACCEPTED) == cached.digest

    def _import(
        self, repo: Repository, client: UpstreamClient, upstream: str, reference: str
    ) -> list[Manifest]:
        """Fetch and store a manifest (an index's missing children first, by digest); the image
        manifests stored, for `complete`."""
        fetched = client.manifest(upstream, reference, ACCEPTED)
        digest = str(digest_of(fetched.body))
        if (is_digest(reference) and digest != str(parse_digest(reference))) or (
            fetched.digest and fetched.digest != digest
        ):
            raise UpstreamError(
                f"the upstream manifest of {upstream}:{reference} does not match its digest"
            )
        manifest = parse_manifest(fetched.body, fetched.media_type or None)
        if manifest.sizes_from_store:
            raise UpstreamError("schema 1 manifests are not cached (they name no blob sizes)")
        images: list[Manifest] = []
        for child in manifest.children:
            if self.meta.get_image(repo.id, str(child.digest)) is None:
                images += self._import(repo, client, upstream, str(child.digest))
        self._save(
            repo, digest, fetched.body, manifest, None if is_digest(reference) else reference
        )
        return images if manifest.is_index else [manifest]

    def _save(
        self, repo: Repository, digest: str, body: bytes, manifest: Manifest, tag: str | None
    ) -> None:
        """Store the manifest as pushed, its blobs to come (see the module doc)."""
        size = manifest.own_size
        if manifest.is_index:
            children = self.meta.images_by_digests(
                repo.id, [str(c.digest) for c in manifest.children]
            )
            size = max((c.size_bytes for c in children), default=0)
        new = NewImage(
            digest=digest,
            manifest=body,
            media_type=manifest.media_type,
            artifact_media_type=None if manifest.is_index else manifest.artifact_media_type,
            size_bytes=size,
            subject_digest=str(manifest.subject.digest) if manifest.subject else None,
            child_digests=tuple(str(c.digest) for c in manifest.children),
            blob_digests=tuple(str(d) for d in manifest.blob_digests),
        )
        may_move = tag is None or not tag_is_immutable(repo, tag)
        saved = self.meta.save_image(repo.id, new, tag, may_move, self.clock.now())
        if saved.created or tag:
            self.images.events.image_pushed(repo.account_id, repo.name, digest, tag)

    def _cached(self, repo: Repository, reference: str) -> Image | None:
        try:
            return self.images.find(repo.account_id, repo.name, reference, with_manifest=False)
        except ImageNotFound:
            return None

    def _stale(self, account_id: str, name: str, tag: str) -> bool:
        if self._rule(account_id, name) is None:
            return False
        checked = self.meta.tag_checked_at(account_id, name, tag)
        return checked is None or self.clock.now() - checked >= self.refresh_seconds

    def _checked(self, repo: Repository, reference: str) -> None:
        if not is_digest(reference):
            self.meta.record_tag_check(repo.account_id, repo.name, reference, self.clock.now())

    # -- blobs ----------------------------------------------------------------------------------

    def blob(self, account_id: str, name: str, digest: str) -> BlobStream | None:
        """A cached image's blob the store lacks, streamed from the upstream while stored; None
        when the blob is now local (another request fetched it) or is not the cache's to fetch."""
        rule = self._rule(account_id, name)
        repo = self.meta.get_repository(account_id, name)
        if rule is None or repo is None or not self.meta.blob_referenced(repo.id, digest):
            return None
        lease = _lease_name(f"b:{digest}")
        holder = uuid.uuid4().hex
        while not self.meta.claim_lease(lease, holder, self.clock.now(), LEASE_SECONDS):
            if self._wait_for_blob(lease, digest):
                self._link(repo, digest)
                return None
        if self._link(repo, digest):  # fetched by another request between our looks
            self.meta.release_lease(lease, holder)
            return None
        try:
            client = self.rules.connect(account_id, rule)
            opened = client.blob(upstream_name(rule, name), digest)
            stream = opened.__enter__()
        except BaseException:
            self.meta.release_lease(lease, holder)
            raise
        return BlobStream(None, self._tee(repo, digest, opened, stream, lease, holder))

    def _wait_for_blob(self, lease: str, digest: str) -> bool:
        """Wait while another request fetches `digest`: True once stored, False when its lease
        ends without it (that fetch failed: this request may fetch)."""
        deadline = time.monotonic() + WAIT_LIMIT
        while time.monotonic() < deadline:
            if self.blobs.stat(digest) is not None:
                return True
            if not self._lease_held(lease):
                return self.blobs.stat(digest) is not None
            time.sleep(_POLL)
        raise UpstreamError(f"gave up waiting for another fetch of {digest}")

    def _lease_held(self, lease: str) -> bool:
        probe = uuid.uuid4().hex
        if self.meta.claim_lease(lease, probe, self.clock.now(), 0.0):
            self.meta.release_lease(lease, probe)
            return False
        return True

    def _link(self, repo: Repository, digest: str) -> bool:
        size = self.blobs.stat(digest)
        if size is None:
            return False
        token = self.publications.pin(digest, size)
        with self.meta.atomic():
            self.publications.release(token, digest)
            self.meta.link_blob(repo.id, digest, size, self.clock.now())
        return True

    def _tee(
        self,
        repo: Repository,
        digest: str,
        opened: object,
        stream: Iterator[bytes],
        lease: str,
        holder: str,
    ) -> Iterator[bytes]:
        """Yield the upstream's chunks while writing and hashing them; publish on a match."""
        upload_id = f"ptc-{uuid.uuid4().hex}"
        self.blobs.start_upload(upload_id)
        writer = self.blobs.open_upload(upload_id, 0)
        expected = parse_digest(digest)
        hasher = hashlib.new(expected.algorithm)
        renewed = time.monotonic()
        closed = False
        try:
            for chunk in stream:
                hasher.update(chunk)
                writer.write(chunk)
                if time.monotonic() - renewed > LEASE_SECONDS / 3:
                    self.meta.claim_lease(lease, holder, self.clock.now(), LEASE_SECONDS)
                    renewed = time.monotonic()
                yield chunk
            size, closed = writer.close(), True
            if hasher.hexdigest() != expected.encoded:
                raise UpstreamError(f"the upstream's bytes for {digest} do not match it")
            self._publish(repo, upload_id, writer.segment, digest, size)
        finally:
            opened.__exit__(None, None, None)  # type: ignore[attr-defined]
            if not closed:
                writer.abort()
            self.blobs.abort_upload(upload_id)  # the staging, published or not
            self.meta.release_lease(lease, holder)

    def _publish(
        self, repo: Repository, upload_id: str, segment: str, digest: str, size: int
    ) -> None:
        token = self.publications.pin(digest, size)
        try:
            self.blobs.publish_upload(upload_id, [segment], digest, size)
            with self.meta.atomic():
                self.publications.release(token, digest)
                self.meta.link_blob(repo.id, digest, size, self.clock.now())
        except BaseException:
            self.publications.abandon(token, digest)
            raise

    def complete(
        self, repo: Repository, client: UpstreamClient, upstream: str, manifests: list[Manifest]
    ) -> None:
        """Fetch the blobs of freshly cached manifests that no client pulled meanwhile."""
        time.sleep(self.completion_delay)
        for manifest in manifests:
            for digest in dict.fromkeys(str(d) for d in manifest.blob_digests):
                try:
                    self._complete_blob(repo, digest)
                except Exception as exc:  # noqa: BLE001 (background: the next pull fetches what this could not)
                    log.info(
                        "pull-through: could not complete %s in %s: %s", digest, repo.name, exc
                    )

    def _complete_blob(self, repo: Repository, digest: str) -> None:
        if self.meta.linked_blob_size(repo.id, digest) is not None:
            return
        stream = self.blob(repo.account_id, repo.name, digest)
        if stream is not None:
            for _ in stream.chunks:
                pass

    # -- shared ---------------------------------------------------------------------------------

    def _rule(self, account_id: str, name: str) -> PullThroughRule | None:
        return rule_for(self.meta.list_pull_through_rules(account_id), name)

    def _check_import(self, account_id: str, name: str) -> None:
        """ECR: without ecr:BatchImportUpstreamImage the pull finds no image."""
        actor = current_actor()
        if actor is not None and not self.access.registry_allows(
            account_id, actor.principal, "ecr:BatchImportUpstreamImage", name
        ):
            raise ImageNotFound(IMAGE_NOT_FOUND)

    def _repository(self, account_id: str, name: str) -> Repository:
        repo = self.meta.get_repository(account_id, name)
        if repo is None:
            repo = self.templates.create_repository_for(
                account_id, name, AppliedFor.PULL_THROUGH_CACHE
            )
        if repo is None:
            raise RepositoryNotFound(
                f"The repository with name '{name}' does not exist in the "
                f"registry with id '{account_id}'"
            )
        return repo

    @contextmanager
    def _lease(self, key: str) -> Iterator[bool]:
        """Hold the lease `key` for the block; yields whether another holder had it first."""
        name, holder = _lease_name(key), uuid.uuid4().hex
        waited = False
        deadline = time.monotonic() + WAIT_LIMIT
        while not self.meta.claim_lease(name, holder, self.clock.now(), LEASE_SECONDS):
            waited = True
            if time.monotonic() > deadline:
                raise UpstreamError(f"gave up waiting for another fetch of {key}")
            time.sleep(_POLL)
        try:
            yield waited
        finally:
            self.meta.release_lease(name, holder)


def _lease_name(key: str) -> str:
    return "ptc:" + hashlib.sha256(key.encode()).hexdigest()[:56]


def _daemon(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="pull-through-complete", daemon=True).start()
