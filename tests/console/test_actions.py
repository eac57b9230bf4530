"""Image actions and repository settings through the console: confirmation pages, the same
rules and messages as the ECR API, and nothing reachable from another account."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.console.conftest import REPO, push

BASE = f"/ui/repositories/{REPO}/-"


def post(client: TestClient, url: str, **data: str):
    return client.post(
        url,
        data={"csrf_token": client.csrf, **data},  # type: ignore[attr-defined]
        follow_redirects=False,
    )


def tags_of(app, digest: str) -> tuple[str, ...]:
    services = app.state.services
    repo = services.repositories.get("111111111111", REPO)
    image = services.meta.get_image(repo.id, digest)
    return () if image is None else image.tags


def test_confirmation_page_carries_the_csrf_token_and_changes_nothing(browser, registry, app):
    image = push(registry, "v1")
    page = browser.get(f"{BASE}/images/{image.digest}/confirm?action=delete")
    assert page.status_code == 200 and "cannot be undone" in page.text
    assert f'value="{browser.csrf}"' in page.text
    assert tags_of(app, image.digest) == ("v1",)


def test_add_and_remove_a_tag(browser, registry, app):
    image = push(registry, "v1")
    answer = post(browser, f"{BASE}/images/{image.digest}/add-tag", tag="stable")
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=add-tag")
    assert tags_of(app, image.digest) == ("stable", "v1")
    again = post(browser, f"{BASE}/images/{image.digest}/add-tag", tag="stable")
    assert again.status_code == 409 and "already exists" in again.text  # PutImage's rule
    missing = post(browser, f"{BASE}/images/sha256:{'0' * 64}/add-tag", tag="x")
    assert missing.status_code == 404
    post(browser, f"{BASE}/images/{image.digest}/remove-tag", tag="v1")
    assert tags_of(app, image.digest) == ("stable",)
    other = push(registry, "other")
    moved = post(browser, f"{BASE}/images/{image.digest}/remove-tag", tag="other")
    assert moved.status_code == 409 and "ImageTagDoesNotMatchDigest" in moved.text
    assert tags_of(app, other.digest) == ("other",)
    # The last tag takes the image with it, as BatchDeleteImage does on ECR.
    answer = post(browser, f"{BASE}/images/{image.digest}/remove-tag", tag="stable")
    assert answer.headers["location"] == f"/ui/repositories/{REPO}/-/images?done=remove-tag"
    assert tags_of(app, image.digest) == ()


def test_a_bad_tag_gets_putimage_s_message(browser, registry):
    image = push(registry, "v1")
    answer = post(browser, f"{BASE}/images/{image.digest}/add-tag", tag="no spaces allowed")
    assert answer.status_code == 400
    assert "invalid tag: &#39;no spaces allowed&#39;" in answer.text  # the service's TagInvalid
    too_long = post(browser, f"{BASE}/images/{image.digest}/add-tag", tag="x" * 301)
    assert too_long.status_code == 400  # PutImage's model: imageTag at most 300 characters
    assert "Member must have length less than or equal to 300" in too_long.text


def test_immutable_tags_refuse_a_move_with_the_service_s_message(browser, registry):
    first, second = push(registry, "v1"), push(registry, "v2")
    assert post(browser, f"{BASE}/settings/mutability", mutability="IMMUTABLE").status_code == 303
    answer = post(browser, f"{BASE}/images/{second.digest}/add-tag", tag="v1")
    assert answer.status_code == 409 and "immutable" in answer.text.lower()
    assert tags_of(browser.app, first.digest) == ("v1",)


def test_delete_archive_restore_and_scan(browser, registry, app):
    keep, gone = push(registry, "keep"), push(registry, "gone")
    assert post(browser, f"{BASE}/images/{gone.digest}/delete").status_code == 303
    assert (
        app.state.services.meta.get_image(
            app.state.services.repositories.get("111111111111", REPO).id, gone.digest
        )
        is None
    )
    post(browser, f"{BASE}/images/{keep.digest}/archive")
    assert "archived" in browser.get(f"{BASE}/images/{keep.digest}").text
    refused = post(browser, f"{BASE}/images/{keep.digest}/scan")
    assert refused.status_code == 409 and "restore it first" in refused.text
    post(browser, f"{BASE}/images/{keep.digest}/restore")
    # A restore goes through ACTIVATING; the server's background tick finishes it.
    assert post(browser, f"{BASE}/images/{keep.digest}/scan").status_code == 409
    app.state.services.archive.finish_restores()
    assert post(browser, f"{BASE}/images/{keep.digest}/scan").status_code == 303
    again = post(browser, f"{BASE}/images/{keep.digest}/scan")
    assert again.status_code == 429 and "quota" in again.text


def test_settings_use_the_api_s_rules(browser, registry, app):
    push(registry, "v1")
    refused = post(
        browser, f"{BASE}/settings/mutability", mutability="IMMUTABLE", exclusions="latest"
    )
    assert refused.status_code == 400 and "Member must be null for IMMUTABLE" in refused.text
    post(
        browser,
        f"{BASE}/settings/mutability",
        mutability="IMMUTABLE_WITH_EXCLUSION",
        exclusions="latest\ndev-*",
    )
    post(browser, f"{BASE}/settings/scanning", scan_on_push="on")
    repo = app.state.services.repositories.get("111111111111", REPO)
    assert (repo.tag_mutability, repo.mutability_exclusions, repo.scan_on_push) == (
        "IMMUTABLE_WITH_EXCLUSION",
        ("latest", "dev-*"),
        True,
    )
    bad = post(browser, f"{BASE}/settings/policy", policy="[1, 2")
    assert bad.status_code == 400 and "Invalid repository policy provided" in bad.text
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    post(browser, f"{BASE}/settings/policy", policy=policy)
    assert app.state.services.repositories.get("111111111111", REPO).policy == policy
    post(browser, f"{BASE}/settings/policy/delete")
    assert app.state.services.repositories.get("111111111111", REPO).policy is None


def test_another_account_cannot_see_or_change_the_repository(intruder, registry, app):
    image = push(registry, "v1")
    for url in (
        f"{BASE}/images",
        f"{BASE}/images/{image.digest}",
        f"{BASE}/settings",
        f"{BASE}/images/{image.digest}/confirm?action=delete",
        f"{BASE}/lifecycle",
        f"{BASE}/images/{image.digest}/findings",
    ):
        answer = intruder.get(url)
        assert answer.status_code == 404, url
        assert "222222222222" in answer.text  # looked up in the intruder's own registry
    assert REPO not in intruder.get("/ui/repositories").text
    for action in ("delete", "archive", "scan"):
        assert post(intruder, f"{BASE}/images/{image.digest}/{action}").status_code == 404
    assert post(intruder, f"{BASE}/images/{image.digest}/remove-tag", tag="v1").status_code == 404
    assert post(intruder, f"{BASE}/settings/policy", policy="{}").status_code == 404
    assert tags_of(app, image.digest) == ("v1",)
    assert app.state.services.repositories.get("111111111111", REPO).policy is None


def test_console_changes_obey_repository_policies(browser, registry, app):
    image = push(registry, "v1")
    root = "arn:aws:iam::111111111111:root"
    deny = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": root},
                    "Action": ["ecr:BatchDeleteImage", "ecr:PutImageTagMutability"],
                }
            ],
        }
    )
    post(browser, f"{BASE}/settings/policy", policy=deny)
    refused = post(browser, f"{BASE}/images/{image.digest}/delete")
    assert refused.status_code == 403 and "with an explicit deny" in refused.text
    assert post(browser, f"{BASE}/settings/mutability", mutability="IMMUTABLE").status_code == 403
    assert tags_of(app, image.digest) == ("v1",)
    assert post(browser, f"{BASE}/images/{image.digest}/add-tag", tag="ok").status_code == 303
    # The root may always repair its policies (services/access.py).
    assert post(browser, f"{BASE}/settings/policy/delete").status_code == 303
    assert post(browser, f"{BASE}/images/{image.digest}/delete").status_code == 303
    assert tags_of(app, image.digest) == ()
