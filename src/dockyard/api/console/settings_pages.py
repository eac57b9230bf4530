"""Repository settings: tag mutability, scanning, repository policy (lifecycle: lifecycle_pages).

Each form goes through ECR's input validation for the operation it stands for (so an unknown
mutability or a malformed filter gets PutImageTagMutability's message) and then the same
RepositoryAdmin call the ECR handler makes (so its rules, e.g. exclusions only with the
*_WITH_EXCLUSION modes, or a policy that must be a JSON object, apply unchanged).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.console.web import action, page, redirect, render, services, url_path
from dockyard.api.ecr.validation import validate_input
from dockyard.domain.models import ConsoleSession, RepositoryChanges

MUTABILITIES = ("MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")


def _back(name: str, done: str) -> Response:
    return redirect(f"/repositories/{url_path(name)}/-/settings", done=done)


@page
def settings(request: Request, session: ConsoleSession) -> Response:
    repo = services(request).repositories.get(session.account_id, request.path_params["name"])
    return render(
        request,
        "settings.html",
        session=session,
        repo=repo,
        mutabilities=MUTABILITIES,
        done=request.query_params.get("done", ""),
    )


@action
def put_mutability(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name = request.path_params["name"]
    filters = [line.strip() for line in form.get("exclusions", "").splitlines() if line.strip()]
    params = {"repositoryName": name, "imageTagMutability": form.get("mutability", "")}
    if filters:
        params["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in filters
        ]
    checked = validate_input("PutImageTagMutability", params)
    services(request).admin.update(
        session.account_id,
        name,
        RepositoryChanges(
            tag_mutability=checked["imageTagMutability"], mutability_exclusions=tuple(filters)
        ),
    )
    return _back(name, "mutability")


@action
def put_scanning(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name = request.path_params["name"]
    services(request).admin.update(
        session.account_id, name, RepositoryChanges(scan_on_push=form.get("scan_on_push") == "on")
    )
    return _back(name, "scanning")


@action
def set_policy(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name, text = request.path_params["name"], form.get("policy", "")
    validate_input("SetRepositoryPolicy", {"repositoryName": name, "policyText": text})
    services(request).admin.set_policy(session.account_id, name, text)
    return _back(name, "policy")


@action
def delete_policy(request: Request, session: ConsoleSession, form: dict[str, str]) -> Response:
    name = request.path_params["name"]
    services(request).admin.delete_policy(session.account_id, name)
    return _back(name, "policy-deleted")
