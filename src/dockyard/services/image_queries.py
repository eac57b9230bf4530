"""DescribeImages, ListImages and BatchGetImage: read-only views of a repository's images.

Listings are keyset-paged: the token holds the last (pushed_at, id) seen, signed and bound to
the account, repository and filter, so pushes and deletes between pages never duplicate or skip
an image that existed for the whole listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.domain.digests import parse_digest
from dockyard.domain.errors import DigestInvalid, ImageNotFound, ParameterInvalid, TagInvalid
from dockyard.domain.models import Image, ImageEntry, ImageEntryKey, ImageKey, Repository
from dockyard.domain.names import validate_tag
from dockyard.domain.page_tokens import Pager
from dockyard.ports import MetadataStore
from dockyard.services.repositories import RepositoryService

DEFAULT_PAGE = 100


@dataclass(frozen=True)
class ImageId:
    digest: str | None = None
    tag: str | None = None

    def describe(self) -> str:
        return f"{{imageDigest:'{self.digest or 'null'}', imageTag:'{self.tag or 'null'}'}}"


@dataclass(frozen=True)
class Failure:
    """Why one id of a batch call names no image, in ECR's failure codes."""

    code: str
    reason: str


@dataclass(frozen=True)
class Page:
    items: list[Any]  # Image or ImageEntry, as the query says
    next_token: str | None


@dataclass(frozen=True)
class Listing:
    """What a listing call asks for: which images, from where, how many."""

    tag_status: str = "ANY"
    image_status: str = "ACTIVE"
    token: str | None = None
    max_results: int | None = None


def image_not_found(image_id: ImageId, repo: Repository) -> ImageNotFound:
    return ImageNotFound(
        f"The image with imageId {image_id.describe()} does not exist within the repository "
        f"with name '{repo.name}' in the registry with id '{repo.account_id}'"
    )


class ImageQueries:
    def __init__(self, meta: MetadataStore, repos: RepositoryService, token_key: bytes) -> None:
        self.meta, self.repos, self.token_key = meta, repos, token_key

    def describe(self, account_id: str, name: str, listing: Listing) -> tuple[Repository, Page]:
        repo = self.repos.get(account_id, name)
        pager = Pager(self.token_key, _scope("DescribeImages", repo, listing))
        after = pager.position(listing.token)
        limit = listing.max_results or DEFAULT_PAGE
        found = self.meta.list_images(
            repo.id,
            ImageKey(**after) if after else None,
            limit + 1,
            listing.tag_status,
            listing.image_status,
        )
        return repo, Page(
            *pager.page(found, limit, lambda i: {"pushed_at": i.pushed_at, "id": i.id})
        )

    def list_ids(self, account_id: str, name: str, listing: Listing) -> Page:
        repo = self.repos.get(account_id, name)
        pager = Pager(self.token_key, _scope("ListImages", repo, listing))
        after = pager.position(listing.token)
        limit = listing.max_results or DEFAULT_PAGE
        found = self.meta.list_image_entries(
            repo.id,
            ImageEntryKey(**after) if after else None,
            limit + 1,
            listing.tag_status,
            listing.image_status,
        )
        return Page(*pager.page(found, limit, _entry_position))

    def lookup(
        self, account_id: str, name: str, ids: list[ImageId], tag_status: str = "ANY"
    ) -> tuple[Repository, list[Image]]:
        """DescribeImages with imageIds: every id must resolve, or the whole call fails."""
        repo = self.repos.get(account_id, name)
        for image_id in ids:
            _check_id(image_id)
        resolved = self.resolve(repo, ids)
        missing = next((image_id for image_id, image in resolved if image is None), None)
        if missing is not None:
            raise image_not_found(missing, repo)
        unique = {image.id: image for _, image in resolved if image is not None}
        images = sorted(unique.values(), key=lambda i: (i.pushed_at, i.id))
        return repo, [i for i in images if _tag_status_matches(i, tag_status)]

    def resolve(self, repo: Repository, ids: list[ImageId]) -> list[tuple[ImageId, Image | None]]:
        """Each id with the image it names (None when it names none), in two queries."""
        return [(i, r if isinstance(r, Image) else None) for i, r in self.resolve_each(repo, ids)]

    def resolve_each(
        self, repo: Repository, ids: list[ImageId], with_manifest: bool = False
    ) -> list[tuple[ImageId, Image | Failure]]:
        """Each id with its image or the reason it has none, as ECR's batch calls report it."""
        tags = {i.tag for i in ids if i.tag and well_formed_tag(i.tag)}
        by_tag = self.meta.images_by_tags(repo.id, sorted(tags))
        digests = {i.digest for i in ids if i.digest and well_formed_digest(i.digest)}
        digests |= {image.digest for image in by_tag.values()} if with_manifest else set()
        found = self.meta.images_by_digests(repo.id, sorted(digests), with_manifest=with_manifest)
        by_digest = {image.digest: image for image in found}
        if with_manifest:
            by_tag = {tag: by_digest.get(image.digest, image) for tag, image in by_tag.items()}
        return [(i, _match(i, by_tag, by_digest)) for i in ids]


def _scope(operation: str, repo: Repository, listing: Listing) -> dict[str, object]:
    return {
        "op": operation,
        "repo": repo.id,
        "account": repo.account_id,
        "tag": listing.tag_status,
        "status": listing.image_status,
    }


def _entry_position(entry: ImageEntry) -> dict[str, object]:
    key = entry.key
    return {"pushed_at": key.pushed_at, "id": key.id, "tag": key.tag}


def _check_id(image_id: ImageId) -> None:
    if not image_id.digest and not image_id.tag:
        raise ParameterInvalid(
            "Invalid parameter at 'imageIds' failed to satisfy constraint: "
            "'Member must contain an imageDigest or an imageTag'"
        )


def _match(
    image_id: ImageId, by_tag: dict[str, Image], by_digest: dict[str, Image]
) -> Image | Failure:
    if not image_id.digest and not image_id.tag:
        return Failure(
            "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
        )
    if image_id.digest and not well_formed_digest(image_id.digest):
        return Failure("InvalidImageDigest", "Invalid image digest")
    if image_id.tag and not well_formed_tag(image_id.tag):
        return Failure("InvalidImageTag", "Invalid image tag")
    image = by_tag.get(image_id.tag) if image_id.tag else by_digest.get(image_id.digest or "")
    if image is not None and image_id.digest and image.digest != image_id.digest:
        return Failure(
            "ImageTagDoesNotMatchDigest",
            "Invalid request parameters: image tag does not match digest",
        )
    if image is None:
        return Failure("ImageNotFound", "Requested image not found")
    return image


def well_formed_digest(digest: str) -> bool:
    try:
        parse_digest(digest)
    except DigestInvalid:
        return False
    return True


def well_formed_tag(tag: str) -> bool:
    """Whether a tag could exist: a malformed one is never looked up (PostgreSQL refuses NUL)."""
    try:
        validate_tag(tag)
    except TagInvalid:
        return False
    return True


def _tag_status_matches(image: Image, tag_status: str) -> bool:
    if tag_status == "TAGGED":
        return bool(image.tags)
    if tag_status == "UNTAGGED":
        return not image.tags
    return True
