"""Webhook configuration, filters, signatures and backoff; the events' EventBridge shape."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dockyard.domain.events import ActionType, DetailType, image_action, image_scan
from dockyard.domain.webhooks import WebhookConfigError, backoff, parse_webhooks, signature

NOW = 1_700_000_000.0
DIGEST = "sha256:" + "a" * 64


def test_a_minimal_webhook_takes_every_event() -> None:
    [hook] = parse_webhooks([{"url": "http://127.0.0.1:9/h", "secret": "s"}])
    assert (hook.name, hook.max_attempts, hook.events, hook.repository_prefix) == (
        "http://127.0.0.1:9/h",
        10,
        frozenset(),
        "",
    )
    assert hook.wants(image_scan("1" * 12, "r", NOW, "any/repo", DIGEST, (), "COMPLETE", {}))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"secret": "s"}, "'url' is required"),
        ({"url": "ftp://host/x", "secret": "s"}, "must be http:// or https://"),
        ({"url": "http://h/x"}, "'secret' is required"),
        ({"url": "http://h/x", "secret": "s", "events": ["ECR Nothing"]}, "unknown event"),
        ({"url": "http://h/x", "secret": "s", "events": "ECR Image Action"}, "list of strings"),
        ({"url": "http://h/x", "secret": "s", "max_attempts": 0}, "positive int"),
        ({"url": "http://h/x", "secret": "s", "max_attempts": 2.5}, "positive int"),
        ({"url": "http://h/x", "secret": "s", "timeout": True}, "positive float"),
        ({"url": "http://h/x", "secret": "s", "secrett": "x"}, "unknown key 'secrett'"),
    ],
)
def test_bad_tables_are_refused_with_what_to_fix(table: dict, message: str) -> None:
    with pytest.raises(WebhookConfigError, match=message) as raised:
        parse_webhooks([{"url": "http://ok/1", "secret": "s"}, table])
    assert str(raised.value).startswith("[[webhooks]] #2:")


def test_two_webhooks_of_one_name_are_refused() -> None:
    with pytest.raises(WebhookConfigError, match="name 'a' is used twice"):
        parse_webhooks(
            [
                {"url": "http://h/1", "secret": "s", "name": "a"},
                {"url": "http://h/2", "secret": "s", "name": "a"},
            ]
        )


def test_filters_by_detail_type_action_and_repository_prefix() -> None:
    [hook] = parse_webhooks(
        [
            {
                "url": "http://h/x",
                "secret": "s",
                "events": ["ECR Image Action"],
                "actions": ["DELETE"],
                "repository_prefix": "team-a/",
            }
        ]
    )
    delete = image_action(ActionType.DELETE, "1" * 12, "r", NOW, "team-a/app", DIGEST, "v1")
    assert hook.wants(delete)
    assert not hook.wants(
        image_action(ActionType.PUSH, "1" * 12, "r", NOW, "team-a/app", DIGEST, "v1")
    )
    assert not hook.wants(
        image_action(ActionType.DELETE, "1" * 12, "r", NOW, "team-b/app", DIGEST, "v1")
    )
    assert not hook.wants(image_scan("1" * 12, "r", NOW, "team-a/app", DIGEST, (), "COMPLETE", {}))


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"x"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature("key", body) == f"sha256={expected}"
    assert signature("other", body) != signature("key", body)


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff(n, 0.5) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(1000) == 600.0


def test_image_action_has_eventbridge_shape() -> None:
    event = image_action(ActionType.PUSH, "123456789012", "eu-west-1", NOW, "app", DIGEST, None)
    envelope = json.loads(event.to_json())
    assert envelope == {
        "version": "0",
        "id": event.id,
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2023-11-14T22:13:20Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": "app",
            "image-digest": DIGEST,
            "action-type": "PUSH",
            "image-tag": "",
        },
    }


def test_image_scan_names_the_repository_and_only_nonzero_severities() -> None:
    event = image_scan(
        "123456789012", "us-east-1", NOW, "app", DIGEST, ("v1",), "COMPLETE", {"HIGH": 2, "LOW": 0}
    )
    assert event.detail_type == DetailType.IMAGE_SCAN
    assert event.resources == ("arn:aws:ecr:us-east-1:123456789012:repository/app",)
    assert event.detail["finding-severity-counts"] == {"HIGH": 2}
    assert event.detail["image-tags"] == ["v1"]


def test_every_event_has_its_own_id() -> None:
    made = {
        image_action(ActionType.PUSH, "1" * 12, "r", NOW, "a", DIGEST, "t").id for _ in range(50)
    }
    assert len(made) == 50
