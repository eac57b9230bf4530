"""A repository's lifecycle policy: show, save, delete, and preview before saving.

    GET  .../lifecycle           the stored policy (or none) in an editor
    POST .../lifecycle           save: PutLifecyclePolicy's input validation, then the same
                                 LifecycleService.put_policy (AWS's grammar and messages)
    POST .../lifecycle/preview   StartLifecyclePolicyPreview's validation, then the same
                                 plan() a preview and a run use, evaluated now in this request
                                 and not stored: which images would expire or be archived, and
                                 by which rule
    POST .../lifecycle/delete    LifecycleService.delete_policy

An invalid policy comes back in the editor with the API's message (status 400), so the text is
not lost; every other service error is the console's error page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.console.web import action, page, redirect, render, services, url_path
from dockyard.api.ecr.validation import validate_input
from dockyard.domain import errors
from dockyard.domain.models import ConsoleSession, Repository
from dockyard.services.lifecycle_preview import PreviewEntry


def _stored(
    request: Request, session: ConsoleSession
) -> tuple[Repository, str | None, float | None]:
    name = request.path_params["name"]
    try:
        repo, record = services(request).lifecycle.get_policy(session.account_id, name)
    except errors.LifecyclePolicyNotFound:
        return services(request).repositories.get(session.account_id, name), None, None
    return repo, record.text, record.last_evaluated_at


def _editor(
    request: Request,
    session: ConsoleSession,
    *,
    text: str | None = None,
    error: str = "",
    results: list[PreviewEntry] | None = None,
    status: int = 200,
) -> Response:
    repo, stored, evaluated = _stored(request, session)
    return render(
        request,
        "lifecycle.html",
        status,
        session=session,
        repo=repo,
        stored=stored,
        evaluated=evaluated,
        error=error,
        results=results,
        text=(stored or "") if text is None else text,
        done=request.query_params.get("done", ""),
    )


@page
def lifecycle(request: Request, session: ConsoleSession) -> Response:
    return _editor(request, session)


@action
def save(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name, text = request.path_params["name"], form.get("policy", "")
    try:
        validate_input("PutLifecyclePolicy", {"repositoryName": name, "lifecyclePolicyText": text})
        services(request).lifecycle.put_policy(session.account_id, name, text)
    except errors.InvalidInput as exc:
        return _editor(request, session, text=text, error=exc.message, status=400)
    return redirect(f"/repositories/{url_path(name)}/-/lifecycle", done="saved")


@action
def preview(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name, text = request.path_params["name"], form.get("policy", "")
    try:
        validate_input(
            "StartLifecyclePolicyPreview", {"repositoryName": name, "lifecyclePolicyText": text}
        )
        _, results = services(request).previews.evaluate_now(session.account_id, name, text)
    except errors.InvalidInput as exc:
        return _editor(request, session, text=text, error=exc.message, status=400)
    return _editor(request, session, text=text, results=results)


@action
def delete(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name = request.path_params["name"]
    services(request).lifecycle.delete_policy(session.account_id, name)
    return redirect(f"/repositories/{url_path(name)}/-/lifecycle", done="deleted")
