"""The console's whole URL space, under /ui. Repository names may hold slashes, so what follows a
name comes after a `/-/` segment, which no repository name can contain (components start with
a letter or digit)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from dockyard.api.console import (
    auth_pages,
    image_pages,
    lifecycle_pages,
    list_pages,
    settings_pages,
)
from dockyard.api.console.web import PREFIX, SecurityHeaders, render

REPO = "/repositories/{name:path}/-"
IMAGE = REPO + "/images/{digest}"

ROUTES: list[BaseRoute] = [
    Route("/", auth_pages.home),
    Route("/sign-in", auth_pages.sign_in_form, methods=["GET"]),
    Route("/sign-in", auth_pages.sign_in, methods=["POST"]),
    Route("/sign-out", auth_pages.sign_out, methods=["POST"]),
    Route("/repositories", list_pages.repositories),
    Route("/storage", list_pages.storage),
    Route(REPO + "/images", list_pages.images),
    Route(IMAGE, image_pages.image),
    Route(IMAGE + "/findings", image_pages.findings),
    Route(IMAGE + "/confirm", image_pages.confirm),
    Route(IMAGE + "/{action}", image_pages.perform, methods=["POST"]),
    Route(REPO + "/settings", settings_pages.settings),
    Route(REPO + "/settings/mutability", settings_pages.put_mutability, methods=["POST"]),
    Route(REPO + "/settings/scanning", settings_pages.put_scanning, methods=["POST"]),
    Route(REPO + "/settings/policy", settings_pages.set_policy, methods=["POST"]),
    Route(REPO + "/settings/policy/delete", settings_pages.delete_policy, methods=["POST"]),
    Route(REPO + "/lifecycle", lifecycle_pages.lifecycle),
    Route(REPO + "/lifecycle", lifecycle_pages.save, methods=["POST"]),
    Route(REPO + "/lifecycle/preview", lifecycle_pages.preview, methods=["POST"]),
    Route(REPO + "/lifecycle/delete", lifecycle_pages.delete, methods=["POST"]),
    Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
]


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """A console page for any other /ui path (the registry's own 404 is an OCI error)."""
    page = render(
        Request(scope, receive),
        "error.html",
        404,
        code=404,
        message="There is no such page in the console.",
    )
    await page(scope, receive, send)


def console() -> Mount:
    """The console mounted at /ui, every answer with the security headers."""
    return Mount(PREFIX, app=SecurityHeaders(Router(routes=ROUTES, default=not_found)))
