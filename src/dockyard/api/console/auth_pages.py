"""Sign in and sign out.

Signing in checks an access key id and secret against the key ring the ECR API uses
(AuthService.caller_for_secret) and stores a session (services/console_sessions.py). The sign-in
form has no session yet, so its CSRF token is a double-submit: a random value in a short-lived
`SameSite=Strict` cookie that the form must repeat. The secret is never rendered back: a failed
sign-in shows the key id only.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.api.console.web import (
    PREFIX,
    SESSION_COOKIE,
    action,
    current_session,
    read_form,
    render,
    services,
)
from dockyard.domain.errors import NotAuthorized
from dockyard.domain.models import ConsoleSession
from dockyard.services.console_sessions import SESSION_LIFETIME

LOGIN_COOKIE = "dockyard_console_login"
HOME = f"{PREFIX}/repositories"


def _safe_next(target: str | None) -> str:
    """Only a console path: never another site (an open redirect) nor `//host`."""
    if (
        target
        and target.startswith(f"{PREFIX}/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return HOME


def _cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, path: str = PREFIX
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def home(request: Request) -> Response:
    return RedirectResponse(HOME, 303)


def sign_in_form(
    request: Request, status: int = 200, key_id: str = "", message: str = ""
) -> Response:
    if status == 200 and current_session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status,
        login_token=token,
        key_id=key_id,
        next=_safe_next(request.query_params.get("next")),
        message=message,
    )
    _cookie(request, response, LOGIN_COOKIE, token, 3600, f"{PREFIX}/sign-in")
    return response


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    key_id, secret = str(form.get("access_key_id", "")).strip(), str(form.get("secret", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, str(form.get("login_token", ""))):
        return await run_in_threadpool(
            sign_in_form,
            request,
            403,
            key_id,
            "The sign-in form expired or came from elsewhere. Please try again.",
        )
    try:
        cookie, _ = await run_in_threadpool(
            services(request).console_sessions.sign_in, key_id, secret
        )
    except NotAuthorized:
        return await run_in_threadpool(
            sign_in_form,
            request,
            401,
            key_id,
            "The access key id or secret access key is not valid.",
        )
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), 303)
    _cookie(request, response, SESSION_COOKIE, cookie, SESSION_LIFETIME)
    response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/sign-in")
    return response


@action
def sign_out(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    services(request).console_sessions.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{PREFIX}/sign-in", 303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response
