"""Manifests and tags: push, pull, delete, list, referrers. One implementation for both protocols."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from dockyard.domain.digests import Digest, digest_of, is_digest, parse_digest
from dockyard.domain.errors import (
    DigestInvalid,
    ImageNotFound,
    ImageReferencedByManifestList,
    LayersNotFound,
    ReferencedImagesNotFound,
    TagImmutable,
    TagInvalid,
)
from dockyard.domain.manifest_conversion import Unconvertible, negotiate
from dockyard.domain.manifests import Manifest, check_blob_sizes, parse_manifest
from dockyard.domain.models import Image, NewImage, Repository, SavedImage
from dockyard.domain.names import validate_tag
from dockyard.domain.rules import tag_is_immutable
from dockyard.ports import MetadataStore
from dockyard.services.audit import AuditAction, AuditLog
from dockyard.services.clock import Clock
from dockyard.services.events import EventPublisher
from dockyard.services.placement import bounded
from dockyard.services.pulls import PullRecorder
from dockyard.services.repositories import RepositoryService

IMAGE_NOT_FOUND = "Requested image not found"


@dataclass(frozen=True)
class Reference:
    """A manifest reference from a URL: a tag or a digest, never both."""

    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if is_digest(text):
            return cls(None, parse_digest(text))
        return cls(validate_tag(text), None)


@dataclass(frozen=True)
class PushedManifest:
    repo: Repository
    saved: SavedImage
    manifest: Manifest


#: Told (repository, image) inside a push's transaction (see ImageService.__init__).
PushListener = Callable[[Repository, Image], None]


class ImageService:
    def __init__(
        self,
        meta: MetadataStore,
        repos: RepositoryService,
        pulls: PullRecorder,
        clock: Clock,
        events: EventPublisher | None = None,
        audit: AuditLog | None = None,
        on_pushed: Sequence[PushListener] = (),
        on_repushed: Sequence[PushListener] = (),
    ) -> None:
        self.meta, self.repos, self.pulls, self.clock = meta, repos, pulls, clock
        self.events = events or EventPublisher(meta, (), clock, "")
        self.audit = audit or AuditLog(None, clock)
        # Called with (repository, image) when a push stores a new image (e.g. scan on push),
        # inside the push's transaction: what they write commits with the image or not at all,
        # and what they read is current. Scan on push reads the registry scanning configuration
        # there rather than from a cache: one indexed lookup in a transaction the push holds
        # anyway, and a configuration just written through any server process applies to the
        # very next push everywhere (a per-process cache could not promise that).
        self.on_pushed = tuple(on_pushed)
        # Called, in the same transaction, when a push names an image that already exists
        # (e.g. pushing an archived image again restores it).
        self.on_repushed = tuple(on_repushed)

    # -- push -------------------------------------------------------------------------------

    @bounded
    def put_manifest(
        self, account_id: str, name: str, reference: str, body: bytes, content_type: str | None
    ) -> PushedManifest:
        ref = Reference.parse(reference)
        manifest = parse_manifest(body, content_type)
        existing = self.repos.find_for_push(account_id, name)
        if existing is None:
            _refuse_into_empty_repository(manifest)
        repo = existing or self.repos.for_push(account_id, name)
        return self.push(repo, ref, manifest, body)

    def push(
        self, repo: Repository, ref: Reference, manifest: Manifest, body: bytes
    ) -> PushedManifest:
        """Store a parsed manifest in a repository that exists, in one transaction, audited."""
        with self.audit.recording(
            AuditAction.PUSH_IMAGE,
            account=repo.account_id,
            repository=repo.name,
            tags=[ref.tag] if ref.tag else [],
        ) as entry:
            entry.digest = _digest_of(manifest.digest_source(body), ref.digest)
            return self.store_push(repo, ref, manifest, body)

    def store_push(
        self, repo: Repository, ref: Reference, manifest: Manifest, body: bytes
    ) -> PushedManifest:
        """`push` without its audit line, for a caller whose transaction encloses this one: it
        audits once its own transaction has committed (PutImage)."""
        digest = _digest_of(manifest.digest_source(body), ref.digest)
        with self.meta.atomic():
            new = self._new_image(repo, digest, body, manifest)
            may_move = ref.tag is None or not tag_is_immutable(repo, ref.tag)
            if not may_move:
                self._refuse_existing_tag(repo, str(ref.tag))
            saved = self.meta.save_image(repo.id, new, ref.tag, may_move, self.clock.now())
            listeners = self.on_pushed if saved.created else self.on_repushed
            for listener in listeners:
                listener(repo, saved.image)
            if saved.created or ref.tag:  # a new image, or a tag (re)pointed at one
                self.events.image_pushed(repo.account_id, repo.name, digest, ref.tag)
        return PushedManifest(repo, saved, manifest)

    def _refuse_existing_tag(self, repo: Repository, tag: str) -> None:
        """An immutable tag cannot be pushed again, even with the same digest (as on ECR)."""
        if self.meta.get_image_by_tag(repo.id, tag) is not None:
            raise TagImmutable(
                f"The image tag '{tag}' already exists in the '{repo.name}' repository and cannot "
                "be overwritten because the repository is immutable."
            )

    def _new_image(
        self, repo: Repository, digest: str, body: bytes, manifest: Manifest
    ) -> NewImage:
        stored = self._require_blobs(repo, manifest)
        return NewImage(
            digest=digest,
            manifest=body,
            media_type=manifest.media_type,
            artifact_media_type=None if manifest.is_index else manifest.artifact_media_type,
            size_bytes=self._size_of(repo, manifest, stored),
            subject_digest=str(manifest.subject.digest) if manifest.subject else None,
            child_digests=tuple(str(c.digest) for c in manifest.children),
            blob_digests=tuple(str(d) for d in manifest.blob_digests),
        )

    def _require_blobs(self, repo: Repository, manifest: Manifest) -> dict[str, int]:
        """Every blob is linked to the repository and is the size its descriptor says; the
        stored sizes by digest."""
        wanted = list(dict.fromkeys(str(d) for d in manifest.blob_digests))
        stored = self.meta.linked_blob_sizes(repo.id, wanted)
        missing = [digest for digest in wanted if digest not in stored]
        if not missing:
            # Locks the blobs until the push commits and revives garbage candidates; a blob
            # being deleted counts as missing, so the client uploads it again (services/gc.py).
            missing = self.meta.hold_blobs(wanted, self.clock.now())
        if missing:
            raise LayersNotFound(f"blob unknown to registry: {missing[0]}", digests=missing)
        check_blob_sizes(manifest, stored)
        return dict(stored)

    def _size_of(self, repo: Repository, manifest: Manifest, stored: dict[str, int]) -> int:
        """ECR's imageSizeInBytes; for an index, the largest of its children; for schema 1,
        which names no sizes, the sum of its distinct blobs as stored."""
        if manifest.sizes_from_store:
            return sum(stored[str(d)] for d in dict.fromkeys(manifest.blob_digests))
        if not manifest.is_index:
            return manifest.own_size
        wanted = list(dict.fromkeys(str(c.digest) for c in manifest.children))
        found = {image.digest: image for image in self.meta.images_by_digests(repo.id, wanted)}
        missing = [d for d in wanted if d not in found]
        if missing:
            raise ReferencedImagesNotFound(
                f"manifest unknown to registry: {missing[0]}", digests=missing
            )
        return max((image.size_bytes for image in found.values()), default=0)

    # -- pull -------------------------------------------------------------------------------

    @bounded
    def find(self, account_id: str, name: str, reference: str, with_manifest: bool = True) -> Image:
        repo = self.repos.get(account_id, name)
        try:
            ref = Reference.parse(reference)
        except (TagInvalid, DigestInvalid):
            # No manifest can have a malformed reference: for a fetch that is "unknown", as
            # the distribution-spec conformance suite expects (a push still says why: 400).
            raise ImageNotFound(IMAGE_NOT_FOUND) from None
        if ref.tag is not None:
            image = self.meta.get_image_by_tag(repo.id, ref.tag, with_manifest)
        else:
            image = self.meta.get_image(repo.id, str(ref.digest), with_manifest)
        if image is None or image.status != "ACTIVE":
            # An archived image stays describable but cannot be pulled until restored.
            raise ImageNotFound(IMAGE_NOT_FOUND)
        return image

    @bounded
    def pull(
        self, account_id: str, name: str, reference: str, principal: str | None = None
    ) -> Image:
        """A manifest fetch that counts as a pull (recorded write-behind)."""
        image = self.find(account_id, name, reference)
        self.record_pull(account_id, principal, image)
        return image

    def record_pull(self, account_id: str, principal: str | None, image: Image) -> None:
        """Count a pull of `image` now (BatchGetImage resolves its images itself)."""
        self.pulls.record(account_id, principal, image.id, self.clock.now())

    def as_accepted(self, image: Image, by_digest: bool, accepted: Collection[str]) -> Image:
        """The image as a client accepting `accepted` manifest types gets it (ECR's rule).

        By tag, a stored type the client does not accept is converted between Docker schema 2
        and OCI when it can be (the served digest is that of the converted bytes), else the
        image is not found. By digest, the stored bytes are served as they are.
        """
        if by_digest:
            return image
        assert image.manifest is not None
        try:
            converted = negotiate(image.manifest, image.media_type, accepted)
        except Unconvertible as exc:
            raise ImageNotFound(f"{IMAGE_NOT_FOUND}: {exc}") from None
        if converted is None:
            return image
        return replace(
            image,
            manifest=converted.body,
            media_type=converted.media_type,
            digest=str(digest_of(converted.body, "sha256")),
        )

    # -- delete -----------------------------------------------------------------------------

    @bounded
    def delete(self, account_id: str, name: str, reference: str) -> None:
        ref = Reference.parse(reference)
        repo = self.repos.get(account_id, name)
        if ref.tag is not None:
            self.delete_tag(repo, ref.tag)
            return
        self.delete_image(repo, str(ref.digest))

    def delete_tag(self, repo: Repository, tag: str) -> None:
        """Remove a tag (its image stays); an ECR Image Action DELETE for the tag."""
        with (
            self.audit.recording(
                AuditAction.DELETE_TAG, account=repo.account_id, repository=repo.name, tags=[tag]
            ) as entry,
            self.meta.atomic(),
        ):
            image = self.meta.get_image_by_tag(repo.id, tag)
            if image is None or not self.meta.delete_tag(repo.id, tag):
                raise ImageNotFound(IMAGE_NOT_FOUND)
            entry.digest = image.digest
            self.events.image_deleted(repo.account_id, repo.name, image.digest, [tag])

    def delete_image(self, repo: Repository, digest: str) -> None:
        with (
            self.audit.recording(
                AuditAction.DELETE_IMAGE,
                account=repo.account_id,
                repository=repo.name,
                digest=digest,
            ) as entry,
            self.meta.atomic(),
        ):
            parents = self.meta.parents_of(repo.id, digest)
            if parents:
                raise ImageReferencedByManifestList(
                    f"Image {digest} is referenced by the manifest list {parents[0]}",
                    parents=parents,
                )
            image = self.meta.get_image(repo.id, digest)
            if image is None or not self.meta.delete_image(repo.id, digest):
                raise ImageNotFound(IMAGE_NOT_FOUND)
            entry.tags = image.tags
            self.events.image_deleted(repo.account_id, repo.name, digest, image.tags)

    # -- listing ----------------------------------------------------------------------------

    def list_tags(
        self, account_id: str, name: str, last: str | None, n: int | None
    ) -> tuple[list[str], bool]:
        repo = self.repos.get(account_id, name)
        tags = self.meta.list_tags(repo.id, last, None if n is None else n + 1)
        if n is None:
            return tags, False
        return tags[:n], len(tags) > n

    def referrers(
        self, account_id: str, name: str, digest: str, artifact_type: str | None
    ) -> list[dict[str, object]]:
        """Descriptors of the manifests whose subject is `digest`, optionally of one type."""
        parse_digest(digest)
        repo = self.repos.get(account_id, name)
        found = [referrer_descriptor(image) for image in self.meta.referrers(repo.id, digest)]
        if artifact_type:
            found = [d for d in found if d.get("artifactType") == artifact_type]
        return found


def _refuse_into_empty_repository(manifest: Manifest) -> None:
    """A repository about to be created holds nothing a manifest could reference.

    Checking this first means a refused first push does not leave an empty repository behind.
    """
    if manifest.blob_digests:
        missing = [str(d) for d in manifest.blob_digests]
        raise LayersNotFound(f"blob unknown to registry: {missing[0]}", digests=missing)
    if manifest.children:
        missing = [str(c.digest) for c in manifest.children]
        raise ReferencedImagesNotFound(
            f"manifest unknown to registry: {missing[0]}", digests=missing
        )


def referrer_descriptor(image: Image) -> dict[str, object]:
    assert image.manifest is not None
    manifest = parse_manifest(image.manifest, image.media_type)
    descriptor: dict[str, object] = {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": len(image.manifest),
    }
    artifact_type = manifest.artifact_type or (
        manifest.config.media_type if manifest.config else None
    )
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if manifest.annotations:
        descriptor["annotations"] = manifest.annotations
    return descriptor


def _digest_of(body: bytes, claimed: Digest | None) -> str:
    """The manifest's digest; when pushed by digest, it must be the digest of these bytes."""
    actual = digest_of(body, claimed.algorithm if claimed else "sha256")
    if claimed is not None and actual != claimed:
        raise DigestInvalid(f"manifest digest {actual} does not match {claimed}")
    return str(actual)
