"""What the web console shows, read through the same services and ports as the two APIs.

    repositories(account, search, token)  a keyset page of RepositorySummary by name
    images(account, name, ImageFilter)    a keyset page of images with their scan summaries:
                                          oldest first is DescribeImages itself (ImageQueries),
                                          newest first the same range scan walked backwards
    image(account, name, digest)          one image: parsed manifest, config, referrers, scan,
                                          uncompressed layer sizes where cheaply known
    storage(account)                      stored bytes of the account and of a page of repositories

Changes (tags, delete, archive, scan, settings) are not here: the console calls the very service
functions the ECR handlers call (ImageCommands, ScanService, RepositoryAdmin ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.domain.errors import DockyardError
from dockyard.domain.manifests import Manifest, parse_manifest
from dockyard.domain.models import AccountStorage, Image, ImageKey, Repository, ScanRecord
from dockyard.domain.page_tokens import Pager
from dockyard.ports import BlobStore, RepositoryOverview
from dockyard.services.image_commands import ImageCommands
from dockyard.services.image_queries import ImageId, ImageQueries, Listing, Page, image_not_found
from dockyard.services.scanning import ScanService

PAGE = 50
MAX_CONFIG_BYTES = 4 * 1024 * 1024
REFERRERS_SHOWN = 50
TAG_STATUSES = ("ANY", "TAGGED", "UNTAGGED")
IMAGE_STATUSES = ("ACTIVE", "ARCHIVED", "ANY")
ORDERS = ("newest", "oldest")
# Layer media types whose uncompressed size is cheap to know: the size itself, or gzip's trailer.
_PLAIN_TAR = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
)


@dataclass(frozen=True)
class ImageFilter:
    tag_status: str = "ANY"
    image_status: str = "ACTIVE"
    order: str = "newest"
    token: str | None = None

    def checked(self) -> ImageFilter:
        """The filter with anything unknown replaced by its default (a hand-edited URL)."""
        return ImageFilter(
            self.tag_status if self.tag_status in TAG_STATUSES else "ANY",
            self.image_status if self.image_status in IMAGE_STATUSES else "ACTIVE",
            self.order if self.order in ORDERS else "newest",
            self.token or None,
        )


@dataclass(frozen=True)
class ImagesPage:
    repo: Repository
    images: list[Image]
    scans: dict[int, ScanRecord]
    next_token: str | None


@dataclass(frozen=True)
class ImageView:
    repo: Repository
    image: Image
    manifest: Manifest
    config: dict[str, Any] | None
    scan: ScanRecord | None
    referrers: list[dict[str, object]]
    uncompressed: dict[str, int | None] = field(default_factory=dict)  # layer digest -> size
    platforms: dict[str, str] = field(default_factory=dict)  # child digest -> "linux/arm64/v8"

    @property
    def uncompressed_total(self) -> int | None:
        sizes = list(self.uncompressed.values())
        return sum(s for s in sizes if s is not None) if sizes and None not in sizes else None


class ConsoleViews:
    def __init__(
        self,
        overview: RepositoryOverview,
        queries: ImageQueries,
        commands: ImageCommands,
        scans: ScanService,
        blobs: BlobStore,
    ) -> None:
        self.overview, self.queries, self.commands = overview, queries, commands
        self.scans, self.blobs = scans, blobs

    def repositories(self, account_id: str, search: str, token: str | None) -> Page:
        pager = Pager(
            self.queries.token_key,
            {"op": "console-repositories", "account": account_id, "search": search},
        )
        after = pager.position(token)
        found = self.overview.repository_summaries(
            account_id, search, after["name"] if after else None, PAGE + 1
        )
        return Page(*pager.page(found, PAGE, lambda last: {"name": last.repository.name}))

    def images(self, account_id: str, name: str, wanted: ImageFilter) -> ImagesPage:
        wanted = wanted.checked()
        listing = Listing(wanted.tag_status, wanted.image_status, wanted.token, PAGE)
        if wanted.order == "oldest":
            repo, page = self.queries.describe(account_id, name, listing)
        else:
            repo, page = self._newest_first(account_id, name, listing)
        scans = self.scans.summaries([image.id for image in page.items])
        return ImagesPage(repo, page.items, scans, page.next_token)

    def _newest_first(
        self, account_id: str, name: str, listing: Listing
    ) -> tuple[Repository, Page]:
        repo = self.queries.repos.get(account_id, name)
        pager = Pager(
            self.queries.token_key,
            {
                "op": "console-images-newest",
                "repo": repo.id,
                "account": repo.account_id,
                "tag": listing.tag_status,
                "status": listing.image_status,
            },
        )
        before = pager.position(listing.token)
        found = self.overview.images_newest_first(
            repo.id,
            ImageKey(**before) if before else None,
            PAGE + 1,
            listing.tag_status,
            listing.image_status,
        )
        return repo, Page(
            *pager.page(found, PAGE, lambda last: {"pushed_at": last.pushed_at, "id": last.id})
        )

    def image(self, account_id: str, name: str, digest: str) -> ImageView:
        repo = self.queries.repos.get(account_id, name)
        image_id = ImageId(digest=digest)
        [(_, found)] = self.queries.resolve_each(repo, [image_id], with_manifest=True)
        if not isinstance(found, Image) or found.manifest is None:
            raise image_not_found(image_id, repo)
        manifest = parse_manifest(found.manifest, found.media_type)
        referrers, _ = self.commands.referrers(
            account_id, name, found.digest, [], "ANY", None, REFERRERS_SHOWN
        )
        return ImageView(
            repo,
            found,
            manifest,
            self._config(manifest),
            self.scans.summaries([found.id]).get(found.id),
            referrers,
            {
                str(layer.digest): self._uncompressed(
                    layer.media_type, str(layer.digest), layer.size
                )
                for layer in manifest.layers
            },
            platforms_of(found.manifest) if manifest.is_index else {},
        )

    def _config(self, manifest: Manifest) -> dict[str, Any] | None:
        """The image config as JSON, when it is one (artifacts may carry anything)."""
        config = manifest.config
        if config is None or config.size > MAX_CONFIG_BYTES or "json" not in config.media_type:
            return None
        try:
            document = json.loads(b"".join(self.blobs.read(str(config.digest))))
        except (OSError, ValueError, DockyardError):  # gone or unreadable: shown as absent
            return None
        return document if isinstance(document, dict) else None

    def _uncompressed(self, media_type: str, digest: str, size: int) -> int | None:
        """A layer's uncompressed size: its size for a plain tar; for gzip, the trailer's ISIZE
        (the size modulo 4 GiB, read as 4 bytes: exact below 4 GiB, which is stated where shown);
        None (n/a) for anything else, zstd included (its frame header may omit the size)."""
        if media_type in _PLAIN_TAR:
            return size
        if not media_type.endswith("gzip") or size < 18:
            return None
        try:
            trailer = b"".join(self.blobs.read(digest, size - 4, 4))
        except (OSError, DockyardError):
            return None
        return int.from_bytes(trailer, "little") if len(trailer) == 4 else None

    def storage(self, account_id: str, token: str | None) -> tuple[AccountStorage, Page]:
        return self.overview.account_storage(account_id), self.repositories(account_id, "", token)


def platforms_of(index: bytes) -> dict[str, str]:
    """Child digest -> "os/architecture[/variant]" from an index's `platform` members (the
    parsed Manifest keeps descriptors only)."""
    try:
        children = json.loads(index).get("manifests") or []
    except (ValueError, AttributeError):
        return {}
    found = {}
    for child in children:
        platform = child.get("platform") if isinstance(child, dict) else None
        if isinstance(platform, dict) and isinstance(child.get("digest"), str):
            parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
            found[child["digest"]] = "/".join(str(p) for p in parts if p)
    return found
