"""The lifecycle page: the stored policy, save and delete through the service the ECR
operations use (AWS's messages), and a preview of what the policy would do before it is saved."""

from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from dockyard.domain.errors import LifecyclePolicyInvalid
from dockyard.domain.lifecycle_policy import parse_policy
from tests.console.conftest import ACCOUNT_A, REPO, push
from tests.console.test_actions import BASE, post

PAGE = f"{BASE}/lifecycle"
KEEP_TWO = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep the two newest releases",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["v"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 2,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 7,
                "description": "untagged images go after a day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
        ]
    }
)
#: Valid JSON and long enough for the model, but `any` must be the last rule: AWS refuses it.
ANY_FIRST = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 5,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
        ]
    }
)


def stored_policy(app) -> str | None:
    svc = app.state.services
    record = svc.meta.get_lifecycle_policy(svc.repositories.get(ACCOUNT_A, REPO).id)
    return None if record is None else record.text


def aws_message(text: str) -> str:
    with pytest.raises(LifecyclePolicyInvalid) as refused:
        parse_policy(text)
    return refused.value.message


def test_save_shows_and_deletes_the_policy(browser, registry, app):
    push(registry, "v1")
    assert "has no lifecycle policy" in browser.get(PAGE).text
    saved = post(browser, PAGE, policy=KEEP_TWO)
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
    assert stored_policy(app) == KEEP_TWO
    page = browser.get(saved.headers["location"]).text
    assert "Lifecycle policy saved." in page and str(escape(KEEP_TWO)) in page
    assert post(browser, f"{PAGE}/delete").status_code == 303
    assert stored_policy(app) is None
    assert "has no lifecycle policy" in browser.get(PAGE).text


def test_an_invalid_policy_is_refused_with_aws_s_message_and_kept_in_the_editor(
    browser, registry, app
):
    push(registry, "v1")
    answer = post(browser, PAGE, policy=ANY_FIRST)
    assert answer.status_code == 400
    assert str(escape(aws_message(ANY_FIRST))) in answer.text
    assert str(escape(ANY_FIRST)) in answer.text  # the text is not lost
    assert stored_policy(app) is None
    # The model's own rule (a policy text is at least 100 characters) as PutLifecyclePolicy says it.
    short = post(browser, PAGE, policy='{"rules": []}')
    assert short.status_code == 400 and "lifecyclePolicyText" in short.text
    assert stored_policy(app) is None
    preview = post(browser, f"{PAGE}/preview", policy=ANY_FIRST)
    assert preview.status_code == 400 and str(escape(aws_message(ANY_FIRST))) in preview.text


def test_preview_lists_the_images_that_would_expire_and_their_rule(browser, registry, app):
    images = [push(registry, tag) for tag in ("v1", "v2", "v3", "v4")]
    keeper = push(registry, "latest")
    answer = post(browser, f"{PAGE}/preview", policy=KEEP_TWO)
    assert answer.status_code == 200
    rows = re.findall(
        r'<tr class="preview-row"><td><code>([^<]+)</code></td><td>([^<]*)</td>'
        r"<td>[^<]*</td><td>(\w+)</td><td>(\d+)</td>",
        answer.text,
    )
    assert sorted(rows) == sorted(
        [(images[0].digest, "v1", "EXPIRE", "1"), (images[1].digest, "v2", "EXPIRE", "1")]
    )
    assert keeper.digest not in answer.text
    assert "2 image(s) would expire, 0 would be archived." in answer.text
    assert str(escape(KEEP_TWO)) in answer.text  # the previewed text stays in the editor
    assert stored_policy(app) is None  # nothing saved ...
    svc = app.state.services
    repo = svc.repositories.get(ACCOUNT_A, REPO)
    assert len(svc.meta.lifecycle_facts(repo.id)) == 5  # ... and nothing expired


def test_lifecycle_forms_need_the_csrf_token(browser, registry, app):
    push(registry, "v1")
    for url in (PAGE, f"{PAGE}/preview", f"{PAGE}/delete"):
        for token in ({}, {"csrf_token": "forged"}):
            answer = browser.post(url, data={"policy": KEEP_TWO, **token}, follow_redirects=False)
            assert answer.status_code == 403, url
    assert stored_policy(app) is None
    app.state.services.lifecycle.put_policy(ACCOUNT_A, REPO, KEEP_TWO)
    assert browser.post(f"{PAGE}/delete", data={}, follow_redirects=False).status_code == 403
    assert stored_policy(app) == KEEP_TWO


def test_another_account_gets_404_for_the_lifecycle_page(intruder, registry, app):
    push(registry, "v1")
    app.state.services.lifecycle.put_policy(ACCOUNT_A, REPO, KEEP_TWO)
    assert intruder.get(PAGE).status_code == 404
    for url in (f"{PAGE}/preview", f"{PAGE}/delete"):
        answer = post(intruder, url, policy=KEEP_TWO)
        assert answer.status_code == 404 and "222222222222" in answer.text, url
    assert post(intruder, PAGE, policy=KEEP_TWO).status_code == 404
    assert stored_policy(app) == KEEP_TWO
