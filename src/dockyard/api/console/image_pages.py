"""One image: its page, its findings, and its actions (each confirmed on a page of its own).

GET  .../-/images/{digest}              manifest, config, referrers, scan, action forms
GET  .../-/images/{digest}/findings     findings filtered by severity and package, chart
GET  .../-/images/{digest}/confirm      "are you sure" for ?action=..., a POST form (CSRF)
POST .../-/images/{digest}/{action}     runs it through the service the ECR call uses:

    add-tag     ImageCommands.put_image (PutImage with the image's own manifest and a tag)
    remove-tag  ImageCommands.batch_delete of the tag (BatchDeleteImage: the last tag takes
                the image with it, as on ECR)
    delete      ImageCommands.batch_delete of the digest
    archive     ImageCommands.update_storage_class ARCHIVE (UpdateImageStorageClass)
    restore     ImageCommands.update_storage_class STANDARD
    scan        ScanService.start (StartImageScan)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.console.charts import severity_bars
from dockyard.api.console.list_pages import registry_host
from dockyard.api.console.web import (
    action,
    error_page,
    page,
    redirect,
    render,
    services,
    url_path,
)
from dockyard.api.ecr.validation import validate_input
from dockyard.domain.errors import Conflict, NotFound, ParameterInvalid
from dockyard.domain.models import ConsoleSession, Image
from dockyard.domain.scanning import SEVERITIES
from dockyard.services.composition import Services
from dockyard.services.image_queries import Failure, ImageId

FINDINGS_SHOWN = 10_000


@dataclass(frozen=True)
class ImageAction:
    label: str
    question: str  # shown on the confirmation page
    needs_tag: bool
    run: Callable[[Services, ConsoleSession, str, str, str], str]  # -> where to go after


def _add_tag(svc: Services, session: ConsoleSession, name: str, digest: str, tag: str) -> str:
    repo = svc.repositories.get(session.account_id, name)
    image = _found(svc.queries.resolve_each(repo, [ImageId(digest=digest)], True)[0][1])
    manifest = (image.manifest or b"").decode("utf-8")
    # PutImage's own input rules (tag length ...), with its messages; then PutImage itself.
    validate_input(
        "PutImage",
        {"repositoryName": name, "imageManifest": manifest, "imageTag": tag, "imageDigest": digest},
    )
    svc.commands.put_image(
        session.account_id, name, manifest.encode("utf-8"), image.media_type, tag, digest
    )
    return "image"


def _found(found: Image | Failure) -> Image:
    """The image, or the batch calls' failure as an error (404 when missing, else 409)."""
    if isinstance(found, Failure):
        error = NotFound if found.code == "ImageNotFound" else Conflict
        raise error(f"{found.code}: {found.reason}")
    return found


def _delete(svc: Services, session: ConsoleSession, name: str, ids: list[ImageId]) -> None:
    result = svc.commands.batch_delete(session.account_id, name, ids)
    if result.failures:
        _found(result.failures[0][1])


def _remove_tag(svc: Services, session: ConsoleSession, name: str, digest: str, tag: str) -> str:
    # The tag must still name this image (it may have moved since the page was drawn): the
    # batch calls' own check (ImageTagDoesNotMatchDigest), with nothing deleted on a mismatch.
    repo = svc.repositories.get(session.account_id, name)
    _found(svc.queries.resolve_each(repo, [ImageId(digest=digest, tag=tag)])[0][1])
    _delete(svc, session, name, [ImageId(tag=tag)])
    still_there = svc.queries.resolve(
        svc.repositories.get(session.account_id, name), [ImageId(digest=digest)]
    )[0][1]
    return "image" if still_there else "images"


def _delete_image(svc: Services, session: ConsoleSession, name: str, digest: str, _: str) -> str:
    _delete(svc, session, name, [ImageId(digest=digest)])
    return "images"


def _storage_class(target: str) -> Callable[[Services, ConsoleSession, str, str, str], str]:
    def run(svc: Services, session: ConsoleSession, name: str, digest: str, _: str) -> str:
        svc.commands.update_storage_class(session.account_id, name, ImageId(digest=digest), target)
        return "image"

    return run


def _scan(svc: Services, session: ConsoleSession, name: str, digest: str, _: str) -> str:
    svc.scans.start(session.account_id, name, ImageId(digest=digest))
    return "image"


ACTIONS: dict[str, ImageAction] = {
    "add-tag": ImageAction(
        "Add tag",
        "Point the tag at this image? If the tag is on another "
        "image it moves here (unless tags are immutable).",
        True,
        _add_tag,
    ),
    "remove-tag": ImageAction(
        "Remove tag",
        "Remove the tag? If it is the image's last tag, the image is deleted too, as on ECR.",
        True,
        _remove_tag,
    ),
    "delete": ImageAction(
        "Delete image",
        "Delete this image and all its tags? This cannot be undone.",
        False,
        _delete_image,
    ),
    "archive": ImageAction(
        "Archive",
        "Archive this image? It stays listed but cannot be pulled until it is restored.",
        False,
        _storage_class("ARCHIVE"),
    ),
    "restore": ImageAction(
        "Restore",
        "Restore this image so it can be pulled again?",
        False,
        _storage_class("STANDARD"),
    ),
    "scan": ImageAction(
        "Start scan",
        "Start a basic vulnerability scan of this image (at most one a day)?",
        False,
        _scan,
    ),
}


@page
def image(request: Request, session: ConsoleSession) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    view = services(request).console.image(session.account_id, name, digest)
    return render(
        request,
        "image.html",
        session=session,
        view=view,
        actions=ACTIONS,
        host=registry_host(request),
        done=request.query_params.get("done", ""),
    )


@page
def findings(request: Request, session: ConsoleSession) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    severity = request.query_params.get("severity", "")
    severity = severity if severity in SEVERITIES else ""
    package = request.query_params.get("package", "").strip()[:200]
    found = services(request).scans.findings(
        session.account_id, name, ImageId(digest=digest), None, FINDINGS_SHOWN
    )
    shown = [
        f
        for f in found.findings
        if (not severity or f.severity == severity) and package.lower() in f.package.name.lower()
    ]
    return render(
        request,
        "findings.html",
        session=session,
        found=found,
        shown=shown,
        severity=severity,
        package=package,
        severities=SEVERITIES,
        bars=severity_bars(found.scan.severity_counts),
    )


@page
def confirm(request: Request, session: ConsoleSession) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    chosen = ACTIONS.get(request.query_params.get("action", ""))
    if chosen is None:
        return render(request, "error.html", 404, session, code=404, message="No such action.")
    view = services(request).console.image(session.account_id, name, digest)
    return render(
        request,
        "confirm.html",
        session=session,
        view=view,
        chosen=chosen,
        action_name=request.query_params["action"],
        tag=request.query_params.get("tag", "").strip(),
    )


@action
def perform(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    chosen = ACTIONS.get(request.path_params["action"])
    if chosen is None:
        return render(request, "error.html", 404, session, code=404, message="No such action.")
    tag = form.get("tag", "").strip()
    if chosen.needs_tag and not tag:
        return error_page(request, _tag_required(), session)
    where = chosen.run(services(request), session, name, digest, tag)
    base = f"/repositories/{url_path(name)}/-/images"
    done = request.path_params["action"]
    return redirect(f"{base}/{digest}" if where == "image" else base, done=done)


def _tag_required() -> ParameterInvalid:
    return ParameterInvalid(
        "Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must not be null'"
    )
