"""ECR's image commands on top of the shared image service: PutImage, BatchDeleteImage,
UpdateImageStorageClass and ListImageReferrers, with ECR's per-item failure semantics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.domain.digests import digest_of
from dockyard.domain.errors import (
    ImageAlreadyExists,
    ImageDigestMismatch,
    ImageNotFound,
    ImageReferencedByManifestList,
    ParameterInvalid,
)
from dockyard.domain.manifests import declared_media_type, parse_manifest
from dockyard.domain.models import Image, Repository
from dockyard.domain.page_tokens import Pager
from dockyard.domain.rules import tag_is_immutable
from dockyard.ports import MetadataStore
from dockyard.services.archive import ArchiveService
from dockyard.services.audit import AuditAction
from dockyard.services.clock import Clock
from dockyard.services.image_queries import (
    Failure,
    ImageId,
    ImageQueries,
    image_not_found,
)
from dockyard.services.images import (
    ImageService,
    PushedManifest,
    Reference,
    referrer_descriptor,
)


@dataclass(frozen=True)
class Deletion:
    deleted: list[ImageId]
    failures: list[tuple[ImageId, Failure]]


class ImageCommands:
    def __init__(
        self,
        meta: MetadataStore,
        images: ImageService,
        queries: ImageQueries,
        clock: Clock,
        archive: ArchiveService,
    ) -> None:
        self.meta, self.images, self.queries, self.clock = meta, images, queries, clock
        self.archive = archive

    def put_image(
        self,
        account_id: str,
        name: str,
        manifest: bytes,
        media_type: str | None,
        tag: str | None,
        digest: str | None,
    ) -> PushedManifest:
        if media_type is None and declared_media_type(manifest) is None:
            raise ParameterInvalid("image manifest mediatype not provided in manifest or parameter")
        parsed = parse_manifest(manifest, media_type)
        actual = str(digest_of(parsed.digest_source(manifest)))
        if digest and digest != actual:
            raise ImageDigestMismatch(
                f"Manifest digest {actual} does not match the provided digest {digest}"
            )
        # One transaction from the repository lookup to the scan queued on push: the checks see
        # what the save writes on, and a push costs one BEGIN and one COMMIT. Audited after it.
        with (
            self.images.audit.recording(
                AuditAction.PUSH_IMAGE,
                account=account_id,
                repository=name,
                digest=actual,
                tags=[tag] if tag else [],
            ),
            self.meta.atomic(),
        ):
            repo = self.images.repos.get(account_id, name)
            if not (tag and tag_is_immutable(repo, tag)):  # immutable tags fail in store_push()
                self._refuse_duplicate(repo, actual, tag)
            return self.images.store_push(repo, Reference.parse(tag or actual), parsed, manifest)

    def _refuse_duplicate(self, repo: Repository, digest: str, tag: str | None) -> None:
        existing = self.meta.get_image(repo.id, digest)
        if existing is None or (tag and tag not in existing.tags):
            return
        if tag is None and existing.tags:
            return
        raise ImageAlreadyExists(
            f"Image with digest '{digest}' and tag '{tag or 'null'}' already exists in the "
            f"repository with name '{repo.name}' in registry with id '{repo.account_id}'"
        )

    def batch_delete(self, account_id: str, name: str, ids: list[ImageId]) -> Deletion:
        repo = self.images.repos.get(account_id, name)
        deleted, failures = [], []
        for image_id, found in self.queries.resolve_each(repo, ids):
            outcome = (
                found if isinstance(found, Failure) else self._delete_one(repo, image_id, found)
            )
            if isinstance(outcome, Failure):
                failures.append((image_id, outcome))
            else:
                deleted.append(outcome)
        return Deletion(deleted, failures)

    def _delete_one(self, repo: Repository, image_id: ImageId, image: Image) -> ImageId | Failure:
        try:
            if image_id.tag and not image_id.digest and len(image.tags) > 1:
                self.images.delete_tag(repo, image_id.tag)
            else:
                # Removing an image's last tag removes the image, as on ECR.
                self.images.delete_image(repo, image.digest)
        except ImageReferencedByManifestList as exc:
            return Failure(
                "ImageReferencedByManifestList",
                f"Requested image referenced by manifest list: {exc.detail['parents']}",
            )
        except ImageNotFound:
            return Failure("ImageNotFound", "Requested image not found")
        return ImageId(image.digest, image_id.tag)

    def update_storage_class(
        self, account_id: str, name: str, image_id: ImageId, target: str
    ) -> tuple[Repository, Image]:
        """ARCHIVE makes an image unpullable but describable; STANDARD restores it (through
        ACTIVATING, see services/archive.py)."""
        repo, [image] = self.queries.lookup(account_id, name, [image_id])
        with (
            self.images.audit.recording(
                AuditAction.UPDATE_STORAGE_CLASS,
                account=account_id,
                repository=name,
                digest=image.digest,
                tags=image.tags,
                details={"target": target},
            ),
            self.meta.atomic(),
        ):
            if target == "ARCHIVE":
                updated = self.archive.archive(repo, image.digest)
            else:
                updated = self.archive.restore(repo, image.digest)
            if updated is None:
                raise image_not_found(image_id, repo)
            self.images.events.storage_class_changed(account_id, name, updated)
        return repo, updated

    def referrers(
        self,
        account_id: str,
        name: str,
        subject: str,
        artifact_types: list[str],
        artifact_status: str,
        token: str | None,
        limit: int,
    ) -> tuple[list[dict[str, object]], str | None]:
        """A page of the subject's referrers, keyset-paged by (pushed_at, id)."""
        repo = self.images.repos.get(account_id, name)
        scope = {
            "op": "ListImageReferrers",
            "repo": repo.id,
            "subject": subject,
            "types": sorted(artifact_types),
            "status": artifact_status,
        }
        pager = Pager(self.queries.token_key, scope)
        after = pager.position(token)
        found = [
            (image, descriptor)
            for image in self.meta.referrers(repo.id, subject)
            if _after(image, after)
            and _wanted(
                descriptor := referrer_descriptor(image), image, artifact_types, artifact_status
            )
        ]
        page, following = pager.page(
            found, limit, lambda last: {"pushed_at": last[0].pushed_at, "id": last[0].id}
        )
        return [d for _, d in page], following


def _after(image: Image, position: dict[str, Any] | None) -> bool:
    if position is None:
        return True
    return (image.pushed_at, image.id) > (position["pushed_at"], position["id"])


def _wanted(descriptor: dict[str, object], image: Image, types: list[str], status: str) -> bool:
    descriptor["artifactStatus"] = image.status
    if types and descriptor.get("artifactType") not in types:
        return False
    return status == "ANY" or image.status == status
