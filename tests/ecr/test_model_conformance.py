"""Model conformance: what the server serves exists in botocore's ECR model, and its errors are
the operation's declared errors.

Every boto3 client of this suite runs `check_after_call` on every response; the tests here add
the operation table, a sweep of every served operation with an empty (mostly invalid) request,
and a self-test showing the checker does fail on bad responses.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from tests.ecr.conftest import KEY_A
from tests.support.ecr import response_problems, send_raw, signed_request
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

MODEL = botocore.session.get_session().get_service_model("ecr")

# Spec section 3, tier CORE-P0, plus every operation this suite exercises.
REQUIRED_OPERATIONS = {
    "BatchCheckLayerAvailability", "BatchDeleteImage", "BatchGetImage", "CompleteLayerUpload",
    "CreateRepository", "DeleteRepository", "DescribeImages", "DescribeRepositories",
    "GetAuthorizationToken", "GetDownloadUrlForLayer", "InitiateLayerUpload", "ListImages",
    "PutImage", "UploadLayerPart",
    "PutImageTagMutability", "PutImageScanningConfiguration", "TagResource", "UntagResource",
    "ListTagsForResource", "SetRepositoryPolicy", "GetRepositoryPolicy", "DeleteRepositoryPolicy",
    "DescribeRegistry", "GetAccountSetting", "PutAccountSetting", "ListImageReferrers",
    "UpdateImageStorageClass", "RegisterPullTimeUpdateExclusion",
    "DeregisterPullTimeUpdateExclusion", "ListPullTimeUpdateExclusions",
}  # fmt: skip


def served_operations() -> dict[str, Any]:
    from dockyard.api.ecr.operations import OPERATIONS

    return OPERATIONS


def test_every_served_operation_is_in_the_model() -> None:
    operations = served_operations()
    unknown = sorted(set(operations) - set(MODEL.operation_names))
    assert unknown == [], f"served but not in botocore's ECR model: {unknown}"
    assert all(callable(handler) for handler in operations.values())


def test_required_operations_are_served() -> None:
    missing = sorted(REQUIRED_OPERATIONS - set(served_operations()))
    assert missing == [], f"not served: {missing}"


def test_every_operation_answers_an_empty_request_within_its_contract(
    ecr_server: DockyardServer,
) -> None:
    """`{}` is invalid for most operations: the answer is a declared 4xx, never a 500."""
    failures = {}
    for operation in sorted(served_operations()):
        response = send_raw(signed_request(ecr_server.url, KEY_A, operation, b"{}"))
        problems = response_problems(
            operation, response.status_code, response.headers, response.content
        )
        required = MODEL.operation_model(operation).input_shape
        if required is not None and required.required_members and response.status_code == 200:
            problems.append(
                f"accepted {{}} though {sorted(required.required_members)} are required"
            )
        if problems:
            failures[operation] = (response.status_code, response.text[:300], problems)
    assert failures == {}


def test_wrong_types_are_invalid_parameters(ecr_server: DockyardServer) -> None:
    for operation, body in [
        ("DescribeImages", b'{"repositoryName": 5}'),
        ("DescribeImages", b'{"repositoryName": "ecr-e2e/x", "maxResults": "ten"}'),
        ("ListImages", b'{"repositoryName": "ecr-e2e/x", "filter": "TAGGED"}'),
        ("BatchGetImage", b'{"repositoryName": "ecr-e2e/x", "imageIds": {"imageTag": "a"}}'),
        ("CreateRepository", b'{"repositoryName": "ecr-e2e/x", "tags": [{"Key": 1}]}'),
    ]:
        response = send_raw(signed_request(ecr_server.url, KEY_A, operation, body), operation)
        assert response.status_code == 400, (operation, body, response.text)
        assert response.json()["__type"].split("#")[-1] == "InvalidParameterException", (
            operation,
            body,
            response.text,
        )


# --------------------------------------------------------------------------- checker self-test


@pytest.mark.parametrize(
    "status, headers, body, expected",
    [
        (
            400,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"RepositoryNotFoundException","message":"m"}',
            [],
        ),
        (
            400,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"com.amazonaws.ecr#ImageNotFoundException","message":"m"}',
            [],
        ),
        (
            400,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"InvalidSignatureException","message":"m"}',
            [],
        ),
        (200, {"x-amzn-RequestId": "r"}, b'{"imageDetails":[]}', []),
        (
            400,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"LayersNotFoundException","message":"m"}',
            ["not an error of"],
        ),
        (
            500,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"ServerException","message":"m"}',
            ["never fail"],
        ),
        (
            500,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"RepositoryNotFoundException","message":"m"}',
            ["never fail", "expected 400"],
        ),
        (400, {}, b'{"__type":"RepositoryNotFoundException","message":"m"}', ["RequestId"]),
        (
            400,
            {"x-amzn-RequestId": "r"},
            b'{"__type":"RepositoryNotFoundException"}',
            ["no message"],
        ),
        (400, {"x-amzn-RequestId": "r"}, b"<html>oops</html>", ["not JSON"]),
        (200, {"x-amzn-RequestId": "r"}, b"[]", ["not a JSON object"]),
    ],
)
def test_checker_flags_bad_responses(
    status: int, headers: dict[str, str], body: bytes, expected: list[str]
) -> None:
    problems = response_problems("DescribeImages", status, headers, body)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem, problems
