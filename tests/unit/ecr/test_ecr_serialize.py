"""Model-driven output serialization, checked against botocore's own response parser."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone

import botocore.parsers
import botocore.session
import pytest

from dockyard.api.ecr.serialize import OutputShapeError, serialize_output, serialize_shape

DIGEST = "sha256:" + "ab" * 32
PUSHED = datetime(2019, 8, 6, 21, 51, 15, 123456, tzinfo=UTC)


class ScanStatus(enum.Enum):
    COMPLETE = "COMPLETE"


def botocore_parse(operation: str, body: dict) -> dict:
    """What boto3 hands its user for this wire body."""
    service = botocore.session.get_session().get_service_model("ecr")
    response = {"body": json.dumps(body).encode(), "headers": {}, "status_code": 200}
    shape = service.operation_model(operation).output_shape
    return botocore.parsers.create_parser("json").parse(response, shape)


def image_detail(**overrides: object) -> dict:
    detail = {
        "registryId": "012345678910",
        "repositoryName": "team/app",
        "imageDigest": DIGEST,
        "imageTags": ["v1", "latest"],
        "imageSizeInBytes": 48318255,
        "imagePushedAt": PUSHED,
        "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
        "lastRecordedPullTime": None,
    }
    detail.update(overrides)
    return detail


def test_describe_images_nested_list_of_structures() -> None:
    result = {
        "imageDetails": [
            image_detail(),
            image_detail(imageTags=[], imagePushedAt=1565128275.1234567),
        ],
        "nextToken": None,
    }
    body = serialize_output("DescribeImages", result)
    assert body == {
        "imageDetails": [
            {
                "registryId": "012345678910",
                "repositoryName": "team/app",
                "imageDigest": DIGEST,
                "imageTags": ["v1", "latest"],
                "imageSizeInBytes": 48318255,
                "imagePushedAt": 1565128275.123,
                "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
            },
            {
                "registryId": "012345678910",
                "repositoryName": "team/app",
                "imageDigest": DIGEST,
                "imageSizeInBytes": 48318255,
                "imagePushedAt": 1565128275.123,
                "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
            },
        ]
    }
    parsed = botocore_parse("DescribeImages", body)
    assert parsed["imageDetails"][0]["imagePushedAt"] == PUSHED.replace(microsecond=123000)
    assert "imageTags" not in parsed["imageDetails"][1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 1, 1, 12, tzinfo=UTC), 1767268800.0),
        (datetime(2026, 1, 1, 12), 1767268800.0),  # naive means UTC
        (datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))), 1767268800.0),
        (1767268800, 1767268800.0),
        (1767268800.0004, 1767268800.0),
        (1767268800.2496, 1767268800.25),
    ],
)
def test_timestamps_are_epoch_seconds_to_the_millisecond(value: object, expected: float) -> None:
    body = serialize_output("DescribeImages", {"imageDetails": [{"imagePushedAt": value}]})
    pushed = body["imageDetails"][0]["imagePushedAt"]
    assert pushed == expected and isinstance(pushed, float)


def test_none_members_are_omitted() -> None:
    assert serialize_output("DescribeImages", {"imageDetails": [], "nextToken": None}) == {
        "imageDetails": []
    }
    assert serialize_output(
        "ListImages", {"imageIds": [{"imageTag": None, "imageDigest": DIGEST}]}
    )["imageIds"] == [{"imageDigest": DIGEST}]


def test_empty_failures_list_is_kept() -> None:
    body = serialize_output("BatchGetImage", {"images": [], "failures": []})
    assert body == {"images": [], "failures": []}
    assert json.dumps(body) == '{"images": [], "failures": []}'


def test_scan_summary_map_and_enum_values() -> None:
    detail = {
        "imageScanStatus": {"status": ScanStatus.COMPLETE, "description": "done"},
        "imageScanFindingsSummary": {
            "imageScanCompletedAt": PUSHED,
            "findingSeverityCounts": {"HIGH": 2, "LOW": 7},
        },
    }
    body = serialize_output("DescribeImages", {"imageDetails": [detail]})
    out = body["imageDetails"][0]
    assert out["imageScanStatus"] == {"status": "COMPLETE", "description": "done"}
    assert out["imageScanFindingsSummary"]["findingSeverityCounts"] == {"HIGH": 2, "LOW": 7}
    parsed = botocore_parse("DescribeImages", body)
    assert parsed["imageDetails"][0]["imageScanStatus"]["status"] == "COMPLETE"


def test_empty_output_shape() -> None:
    assert serialize_output("TagResource", {}) == {}
    assert serialize_output("TagResource", None) == {}


def test_blob_is_base64() -> None:
    assert serialize_shape("LayerPartBlob", b"hello") == "aGVsbG8="


# -- programming errors are loud ----------------------------------------------------------


def test_undeclared_top_level_member_raises() -> None:
    with pytest.raises(OutputShapeError, match="bogus"):
        serialize_output("DescribeImages", {"imageDetails": [], "bogus": 1})


def test_undeclared_nested_member_raises_with_its_location() -> None:
    with pytest.raises(OutputShapeError, match=r"imageDetails\[1\].*sizeBytes"):
        serialize_output("DescribeImages", {"imageDetails": [{}, {"sizeBytes": 1}]})


def test_undeclared_member_raises_even_when_none() -> None:
    with pytest.raises(OutputShapeError):
        serialize_output("DescribeImages", {"imageDetails": [], "nextTokn": None})


@pytest.mark.parametrize(
    "detail",
    [
        {"imageSizeInBytes": "12"},
        {"imageSizeInBytes": True},
        {"imageTags": "latest"},
        {"imageTags": ["ok", None]},
        {"imagePushedAt": "2026-01-01"},
        {"imageScanStatus": {"status": "DONE"}},
        {"imageScanStatus": "COMPLETE"},
        {"imageScanFindingsSummary": {"findingSeverityCounts": {"SEVERE": 1}}},
    ],
)
def test_wrong_types_and_enum_values_raise(detail: dict) -> None:
    with pytest.raises(OutputShapeError):
        serialize_output("DescribeImages", {"imageDetails": [detail]})


def test_output_shape_error_is_a_value_error() -> None:
    assert issubclass(OutputShapeError, ValueError)


def test_unknown_operation_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        serialize_output("NoSuchOperation", {})
