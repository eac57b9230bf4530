"""The console's plumbing: templates, sessions on requests, CSRF, errors, security headers.

    request ─► SecurityHeaders (CSP, frame denial, nosniff, no-store) ─► route
        GET page:  @page    session from the cookie or a redirect to sign-in; runs in a thread
        POST form: @action  session + CSRF token from the form (403 without it); the service
                            call runs in a thread
        DockyardError from a service ─► the same page shell with the error's message and a status
                                         by error family (404 not found, 409 conflict ...)

Templates autoescape everything (Jinja2 `select_autoescape` with .html always on): tags, names,
labels, environment, findings are attacker-controlled and are only ever rendered as text.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.domain import errors
from dockyard.domain.actions import CONSOLE_ACTIONS
from dockyard.domain.models import ConsoleSession
from dockyard.services.auth import Caller
from dockyard.services.composition import Services
from dockyard.services.console_sessions import csrf_matches

PREFIX = "/ui"
SESSION_COOKIE = "dockyard_console"
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HERE = Path(__file__).parent

# Statuses by error family; the messages are the services' own, as the APIs show them.
_STATUS: tuple[tuple[type[errors.DockyardError], int], ...] = (
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.NotAuthorized, 403),
    (errors.AccessDenied, 403),
    (errors.LimitExceeded, 429),
    (errors.InvalidInput, 400),
    (errors.Unsupported, 400),
)


def _size(value: int | None) -> str:
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}" if hex_part else digest


def url_path(name: str) -> str:
    """A repository name as a URL path (its slashes stay, anything else odd is quoted)."""
    return quote(name, safe="/")


templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(size=_size, when=_when, short=_short, urlpath=url_path)
templates.globals["prefix"] = PREFIX


def services(request: Request) -> Services:
    return request.app.state.services


def render(
    request: Request,
    template: str,
    status: int = 200,
    session: ConsoleSession | None = None,
    **context: Any,
) -> HTMLResponse:
    html = templates.get_template(template).render(session=session, request=request, **context)
    return HTMLResponse(html, status)


def error_page(
    request: Request, exc: errors.DockyardError, session: ConsoleSession | None
) -> HTMLResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
    return render(request, "error.html", status, session, message=exc.message, code=status)


def current_session(request: Request) -> ConsoleSession | None:
    return services(request).console_sessions.session(request.cookies.get(SESSION_COOKIE))


def to_sign_in(request: Request) -> RedirectResponse:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(wanted, safe='')}", 303)


Page = Callable[..., Response]


def page(handler: Page) -> Callable[[Request], Response]:
    """A signed-in GET page: `handler(request, session)`, run in a worker thread by Starlette."""

    @functools.wraps(handler)
    def endpoint(request: Request) -> Response:
        session = current_session(request)
        if session is None:
            return to_sign_in(request)
        try:
            return handler(request, session)
        except errors.DockyardError as exc:
            return error_page(request, exc, session)

    return endpoint


MAX_FORM = 1024 * 1024  # a repository policy is at most 10 KiB; room for the rest


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the only kind the console's forms send),
    parsed without a multipart library; an oversized or undecodable body reads as empty."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


Action = Callable[[Request, ConsoleSession, dict[str, str]], Response]


def action(handler: Action) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in form POST: `handler(request, session, form)` after the CSRF check, in a thread."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        form = await read_form(request)
        session = await run_in_threadpool(current_session, request)
        if session is None:
            return to_sign_in(request)
        if not csrf_matches(session, form.get("csrf_token")):
            return render(
                request,
                "error.html",
                403,
                session,
                code=403,
                message="This form has expired or did not come from this console. "
                "Go back, reload the page and try again.",
            )
        try:
            await run_in_threadpool(_authorize, request, session)
            return await run_in_threadpool(handler, request, session, form)
        except errors.DockyardError as exc:
            return error_page(request, exc, session)

    return endpoint


def _authorize(request: Request, session: ConsoleSession) -> None:
    """The access check of a console change (services/access.py), as the APIs make it."""
    name = request.path_params.get("name")
    if name is None:
        return
    key = request.path_params.get("action") or request.url.path.split("/-/", 1)[-1]
    wanted = CONSOLE_ACTIONS.get(key)
    if wanted is not None:
        services(request).access.authorize(
            Caller(session.account_id, session.principal), session.account_id, name, wanted
        )


def redirect(path: str, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())
    return RedirectResponse(f"{PREFIX}{path}" + (f"?{suffix}" if suffix else ""), 303)


class SecurityHeaders:
    """Every `/ui` answer: a strict CSP, no framing, no sniffing, not cached (pages show secrets
    of the account: digests, policies), and the session cookie's pages never leave the origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith(f"{PREFIX}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"max-age=3600" if static else b"no-store"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
