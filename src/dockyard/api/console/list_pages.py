"""The listing pages: repositories, the images of a repository, storage.

Each is one keyset page (services/console.py): the page token in the URL is the service's signed
token, so a hand-edited one is refused like a forged nextToken, with the service's message.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.console.charts import storage_line
from dockyard.api.console.web import page, render, services
from dockyard.domain.models import ConsoleSession
from dockyard.services.console import IMAGE_STATUSES, ORDERS, TAG_STATUSES, ImageFilter


def registry_host(request: Request) -> str:
    """Where `docker pull` reaches this server: the host the browser used."""
    return request.headers.get("host", request.url.netloc)


@page
def repositories(request: Request, session: ConsoleSession) -> Response:
    search = request.query_params.get("q", "").strip()[:256]
    found = services(request).console.repositories(
        session.account_id, search, request.query_params.get("page")
    )
    return render(
        request,
        "repositories.html",
        session=session,
        page=found,
        search=search,
        host=registry_host(request),
    )


@page
def images(request: Request, session: ConsoleSession) -> Response:
    name = request.path_params["name"]
    q = request.query_params
    wanted = ImageFilter(
        q.get("tag_status", "ANY"),
        q.get("image_status", "ACTIVE"),
        q.get("order", "newest"),
        q.get("page"),
    ).checked()
    found = services(request).console.images(session.account_id, name, wanted)
    return render(
        request,
        "images.html",
        session=session,
        found=found,
        wanted=wanted,
        tag_statuses=TAG_STATUSES,
        image_statuses=IMAGE_STATUSES,
        orders=ORDERS,
        host=registry_host(request),
        done=q.get("done", ""),
    )


@page
def storage(request: Request, session: ConsoleSession) -> Response:
    svc = services(request)
    account, found = svc.console.storage(session.account_id, request.query_params.get("page"))
    total, repositories = svc.storage.account_usage(session.account_id)
    history = svc.storage.history_of(session.account_id)
    # A collection is registry-wide; what the page tells of it is this account's share only
    # (its stored bytes at the collection before and at the last one), as the API scopes all.
    change = tuple(size for _, size in history[-2:]) if history else ()
    return render(
        request,
        "storage.html",
        session=session,
        account=account,
        page=found,
        total=total,
        usage=repositories,
        last_gc=svc.storage.last_collection(),
        change=change,
        chart=storage_line(history),
    )
