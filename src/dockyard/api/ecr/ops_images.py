"""ECR image operations: DescribeImages, ListImages, BatchGetImage, PutImage, BatchDeleteImage,
ListImageReferrers, UpdateImageStorageClass."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr import shapes
from dockyard.api.ecr.context import Call
from dockyard.domain.errors import ImageNotFound, ParameterInvalid, RepositoryNotFound
from dockyard.domain.models import Image, Repository
from dockyard.services.image_queries import Failure, ImageId, Listing
from dockyard.services.placement import bounded

Params = dict[str, Any]
REFERRERS_PAGE = 20


def _listing(p: Params) -> Listing:
    flt = p.get("filter") or {}
    return Listing(
        flt.get("tagStatus", "ANY"),
        flt.get("imageStatus", "ACTIVE"),
        p.get("nextToken"),
        p.get("maxResults"),
    )


def describe_images(call: Call, p: Params) -> Params:
    account, name = call.account(p), p["repositoryName"]
    if "imageIds" in p:
        for member in ("nextToken", "maxResults"):
            if member in p:
                raise ParameterInvalid(
                    f"Invalid parameter at '{member}' failed to satisfy "
                    "constraint: 'Cannot be specified with imageIds'"
                )
        tag_status = (p.get("filter") or {}).get("tagStatus", "ANY")
        repo, found = call.services.queries.lookup(
            account, name, shapes.image_ids_in(p), tag_status
        )
        return {"imageDetails": _details(call, repo, found)}
    repo, page = call.services.queries.describe(account, name, _listing(p))
    return {"imageDetails": _details(call, repo, page.items), "nextToken": page.next_token}


def _details(call: Call, repo: Repository, images: list[Image]) -> list[Params]:
    scans = call.services.scans.summaries([image.id for image in images])
    return [shapes.image_detail(repo, image, scans.get(image.id)) for image in images]


def list_images(call: Call, p: Params) -> Params:
    page = call.services.queries.list_ids(call.account(p), p["repositoryName"], _listing(p))
    ids = [shapes.image_id(e.image.digest, e.tag) for e in page.items]
    return {"imageIds": ids, "nextToken": page.next_token}


# Not @bounded: under a pull-through cache rule an uncached image is fetched from its upstream.
def batch_get_image(call: Call, p: Params) -> Params:
    svc, account = call.services, call.account(p)
    _pull_through(call, account, p["repositoryName"], shapes.image_ids_in(p))
    repo = svc.repositories.get(account, p["repositoryName"])
    accepted = p.get("acceptedMediaTypes")
    images, failures = [], []
    for image_id, resolved in svc.queries.resolve_each(repo, shapes.image_ids_in(p), True):
        if isinstance(resolved, Failure):
            failures.append(_failure(image_id, resolved))
            continue
        found, failure = _as_accepted(call, resolved, image_id, accepted)
        if failure:
            failures.append(_failure(image_id, failure))
            continue
        assert not isinstance(found, Failure)  # for mypy: `failure` was falsy, so an Image
        svc.images.record_pull(account, call.principal, found)
        images.append(shapes.image(repo, found, image_id.tag))
    return {"images": images, "failures": failures}


def _pull_through(call: Call, account: str, name: str, ids: list[ImageId]) -> None:
    """Images a pull-through cache rule serves are fetched first when not (freshly) cached;
    what cannot be fetched is left for the batch to report as a failure."""
    cache = call.services.pull_through
    for image_id in ids:
        reference = image_id.digest or image_id.tag
        if not reference:
            continue
        try:
            if cache.local(account, name, reference, call.principal, False) is None:
                cache.fetch(account, name, reference, call.principal, False)
        except (RepositoryNotFound, ImageNotFound):
            pass


def _unservable(found: Image) -> Failure | None:
    if found.status != "ACTIVE":
        return Failure("ImageInaccessible", "The image is archived; restore it first")
    return None


def _as_accepted(
    call: Call, found: Image, image_id: ImageId, accepted: list[str] | None
) -> tuple[Image, Failure | None]:
    """The image converted for `acceptedMediaTypes` by the images service's one rule."""
    unservable = _unservable(found)
    if unservable:
        return found, unservable
    try:
        return call.services.images.as_accepted(
            found, image_id.digest is not None, accepted or []
        ), None
    except ImageNotFound as exc:
        return found, Failure("ImageNotFound", exc.message)


def _failure(image_id: ImageId, failure: Failure) -> Params:
    return {
        "imageId": shapes.image_id(image_id.digest, image_id.tag),
        "failureCode": failure.code,
        "failureReason": failure.reason,
    }


@bounded
def put_image(call: Call, p: Params) -> Params:
    account, name = call.account(p), p["repositoryName"]
    pushed = call.services.commands.put_image(
        account,
        name,
        p["imageManifest"].encode("utf-8"),
        p.get("imageManifestMediaType"),
        p.get("imageTag"),
        p.get("imageDigest"),
    )
    image, repo, manifest = pushed.saved.image, pushed.repo, p["imageManifest"]
    return {
        "image": {
            "registryId": repo.account_id,
            "repositoryName": repo.name,
            "imageId": shapes.image_id(image.digest, p.get("imageTag")),
            "imageManifest": manifest,
            "imageManifestMediaType": image.media_type,
        }
    }


def batch_delete_image(call: Call, p: Params) -> Params:
    result = call.services.commands.batch_delete(
        call.account(p), p["repositoryName"], shapes.image_ids_in(p)
    )
    return {
        "imageIds": [shapes.image_id(i.digest, i.tag) for i in result.deleted],
        "failures": [_failure(image_id, failure) for image_id, failure in result.failures],
    }


def list_image_referrers(call: Call, p: Params) -> Params:
    flt = p.get("filter") or {}
    found, token = call.services.commands.referrers(
        call.account(p),
        p["repositoryName"],
        p["subjectId"]["imageDigest"],
        flt.get("artifactTypes") or [],
        flt.get("artifactStatus", "ACTIVE"),
        p.get("nextToken"),
        p.get("maxResults") or REFERRERS_PAGE,
    )
    return {"referrers": found, "nextToken": token}


def update_image_storage_class(call: Call, p: Params) -> Params:
    ids = shapes.image_ids_in({"imageIds": [p["imageId"]]})
    repo, image = call.services.commands.update_storage_class(
        call.account(p), p["repositoryName"], ids[0], p["targetStorageClass"]
    )
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageId": shapes.image_id(image.digest, p["imageId"].get("imageTag")),
        "imageStatus": image.status,
    }
