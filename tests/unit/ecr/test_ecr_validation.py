"""Server-side input validation against botocore's ECR model, with ECR's message texts."""

from __future__ import annotations

import base64
import re
import warnings

import pytest

from dockyard.api.ecr import model, validation
from dockyard.api.ecr.validation import (
    compiled_pattern,
    model_patterns,
    translate_pattern,
    validate_input,
)
from dockyard.domain.errors import ParameterInvalid

REPO_PATTERN = model.shape("RepositoryName")["pattern"]
DIGEST = "sha256:" + "ab" * 32


def message_for(operation: str, params: object) -> str:
    with pytest.raises(ParameterInvalid) as caught:
        validate_input(operation, params)
    return caught.value.message


def constraint(name: str, text: str) -> str:
    return f"Invalid parameter at '{name}' failed to satisfy constraint: '{text}'"


# -- DescribeImages: the constraints botocore does not check --------------------------------


@pytest.mark.parametrize(
    ("max_results", "text"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (1001, "Member must have value less than or equal to 1000"),
    ],
)
def test_max_results_out_of_range(max_results: int, text: str) -> None:
    body = {"repositoryName": "team/app", "maxResults": max_results}
    assert message_for("DescribeImages", body) == constraint("maxResults", text)


def test_max_results_bounds_are_inclusive() -> None:
    for value in (1, 1000):
        validate_input("DescribeImages", {"repositoryName": "team/app", "maxResults": value})


def test_too_many_image_ids() -> None:
    body = {"repositoryName": "team/app", "imageIds": [{"imageTag": "t"}] * 101}
    assert message_for("DescribeImages", body) == constraint(
        "imageIds", "Member must have length less than or equal to 100"
    )


def test_empty_image_ids() -> None:
    body = {"repositoryName": "team/app", "imageIds": []}
    assert message_for("DescribeImages", body) == constraint(
        "imageIds", "Member must have length greater than or equal to 1"
    )


def test_tag_status_outside_enum_is_reported_by_member_name() -> None:
    body = {"repositoryName": "team/app", "filter": {"tagStatus": "FOO"}}
    assert message_for("DescribeImages", body) == constraint(
        "tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]"
    )


@pytest.mark.parametrize("name", ["Team/App", "team//app", "team/app/", "-team", "a..b"])
def test_repository_name_pattern(name: str) -> None:
    assert message_for("DescribeImages", {"repositoryName": name}) == constraint(
        "repositoryName", f"must satisfy regular expression '{REPO_PATTERN}'"
    )


def test_repository_name_too_short() -> None:
    assert message_for("DescribeImages", {"repositoryName": "a"}) == constraint(
        "repositoryName", "Member must have length greater than or equal to 2"
    )


def test_repository_name_too_long() -> None:
    assert message_for("DescribeImages", {"repositoryName": "a" * 257}) == constraint(
        "repositoryName", "Member must have length less than or equal to 256"
    )


@pytest.mark.parametrize("registry_id", ["12345", "1234567890123", "12345678901a", " 123456789012"])
def test_registry_id_pattern(registry_id: str) -> None:
    body = {"repositoryName": "team/app", "registryId": registry_id}
    assert message_for("DescribeImages", body) == constraint(
        "registryId", "must satisfy regular expression '[0-9]{12}'"
    )


def test_missing_required_member() -> None:
    assert message_for("DescribeImages", {"maxResults": 5}) == constraint(
        "repositoryName", "Member must not be null"
    )


def test_null_required_member_is_missing() -> None:
    assert message_for("DescribeImages", {"repositoryName": None}) == constraint(
        "repositoryName", "Member must not be null"
    )


def test_nested_member_reported_by_its_own_name() -> None:
    # Real ECR: "Invalid parameter at 'imageTag' ..." for a tag inside imageIds.
    body = {"repositoryName": "team/app", "imageIds": [{"imageTag": "x" * 301}]}
    assert message_for("DescribeImages", body) == constraint(
        "imageTag", "Member must have length less than or equal to 300"
    )


def test_layer_digest_pattern() -> None:
    pattern = model.shape("LayerDigest")["pattern"]
    body = {"repositoryName": "team/app", "layerDigest": "sha256:xyz"}
    assert message_for("GetDownloadUrlForLayer", body) == constraint(
        "layerDigest", f"must satisfy regular expression '{pattern}'"
    )


# -- wrong JSON types: a 400 with a clear message, never a crash ----------------------------


@pytest.mark.parametrize(
    ("body", "name", "text"),
    [
        ({"repositoryName": 5}, "repositoryName", "Member must be of type string"),
        ({"repositoryName": ["a"]}, "repositoryName", "Member must be of type string"),
        ({"maxResults": "10"}, "maxResults", "Member must be of type integer"),
        ({"maxResults": True}, "maxResults", "Member must be of type integer"),
        ({"maxResults": 10.5}, "maxResults", "Member must be of type integer"),
        ({"imageIds": {"imageTag": "x"}}, "imageIds", "Member must be of type list"),
        ({"filter": "TAGGED"}, "filter", "Member must be of type structure"),
        ({"imageIds": ["latest"]}, "imageIds", "Member must be of type structure"),
        (
            {"imageIds": [None]},
            "imageIds",
            "Member must satisfy constraint: [Member must not be null]",
        ),
    ],
)
def test_wrong_json_types(body: dict, name: str, text: str) -> None:
    assert message_for("DescribeImages", {"repositoryName": "team/app", **body}) == constraint(
        name, text
    )


def test_body_must_be_an_object() -> None:
    for body in ([], "x", 3, None):
        with pytest.raises(ParameterInvalid):
            validate_input("DescribeImages", body)


def test_boolean_type() -> None:
    body = {"repositoryName": "team/app", "force": "yes"}
    assert message_for("DeleteRepository", body) == constraint(
        "force", "Member must be of type boolean"
    )


def test_error_carries_the_parameter_name() -> None:
    with pytest.raises(ParameterInvalid) as caught:
        validate_input("DescribeImages", {"repositoryName": "team/app", "maxResults": 0})
    assert caught.value.detail == {"parameter": "maxResults"}


# -- lists of scalars: the collection's name and ECR's wrapped text --------------------------


def test_registry_ids_element_pattern_matches_real_ecr_text() -> None:
    message = message_for("GetAuthorizationToken", {"registryIds": ["0123"]})
    assert message == (
        "Invalid parameter at 'registryIds' failed to satisfy constraint: "
        "'Member must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[0-9]{12}]'"
    )


def test_repository_names_element_length() -> None:
    message = message_for("DescribeRepositories", {"repositoryNames": ["ok-name", "a"]})
    assert message == constraint(
        "repositoryNames",
        "Member must satisfy constraint: [Member must have length greater than or equal to 2]",
    )


def test_element_of_wrong_type() -> None:
    message = message_for("DescribeRepositories", {"repositoryNames": [7]})
    assert message == constraint(
        "repositoryNames", "Member must satisfy constraint: [Member must be of type string]"
    )


def test_map_keys_and_values_are_checked() -> None:
    # No ECR input has a map today; exercise the walk on an output map shape directly.
    shape = model.shape("FindingSeverityCounts")
    assert validation._member("counts", shape, {"HIGH": 2}) == {"HIGH": 2}
    with pytest.raises(ParameterInvalid) as caught:
        validation._member("counts", shape, {"SEVERE": 1})
    assert "Member must satisfy constraint: [Member must satisfy enum value set:" in str(
        caught.value
    )
    with pytest.raises(ParameterInvalid, match="greater than or equal to 0"):
        validation._member("counts", shape, {"HIGH": -1})


# -- valid requests and the cleaned result -------------------------------------------------


def test_fully_valid_request_passes_and_is_cleaned() -> None:
    body = {
        "registryId": "012345678910",
        "repositoryName": "team/app__x.y-z",
        "imageIds": [{"imageTag": "v1.2.3"}, {"imageDigest": DIGEST}],
        "maxResults": 50.0,
        "nextToken": None,
        "filter": {"tagStatus": "TAGGED", "imageStatus": "ANY"},
        "unknownMember": {"anything": [1, 2]},
    }
    assert validate_input("DescribeImages", body) == {
        "registryId": "012345678910",
        "repositoryName": "team/app__x.y-z",
        "imageIds": [{"imageTag": "v1.2.3"}, {"imageDigest": DIGEST}],
        "maxResults": 50,
        "filter": {"tagStatus": "TAGGED", "imageStatus": "ANY"},
    }


def test_operation_without_members_accepts_empty_body() -> None:
    assert validate_input("DescribeRegistry", {}) == {}


def test_blob_is_decoded() -> None:
    body = {
        "repositoryName": "team/app",
        "uploadId": "0b5c0a57-7e4f-4c1e-9d4c-8d5b2f9e1a11",
        "partFirstByte": 0,
        "partLastByte": 4,
        "layerPartBlob": base64.b64encode(b"hello").decode(),
    }
    assert validate_input("UploadLayerPart", body)["layerPartBlob"] == b"hello"


def test_bad_base64_blob() -> None:
    body = {
        "repositoryName": "team/app",
        "uploadId": "0b5c0a57-7e4f-4c1e-9d4c-8d5b2f9e1a11",
        "partFirstByte": 0,
        "partLastByte": 4,
        "layerPartBlob": "not base64!",
    }
    assert message_for("UploadLayerPart", body) == constraint(
        "layerPartBlob", "Member must be a base64-encoded string"
    )


def test_unknown_operation_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        validate_input("NoSuchOperation", {})


# -- patterns: every model pattern compiles, with ECMAScript meaning ------------------------


def test_every_model_pattern_compiles_without_warnings() -> None:
    patterns = model_patterns()
    assert len(patterns) >= 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in patterns:
            re.compile(translate_pattern(pattern), re.ASCII)
            assert compiled_pattern(pattern).pattern == translate_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        ("[0-9]{12}", "012345678910", "0123456789101"),
        (r"\d+", "123", "\u0663"),  # ECMAScript \d is ASCII only
        (r"^\S+$", "abc", "a\u00a0b"),  # ECMAScript \s includes NBSP
        (r"\w+", "a_1", "\u00e9"),
        (r"[\w-]+", "a-b", "a b"),
        ("[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+", "sha-256_x+y.z:ab", "sha256:xyz"),
        ("(?<v>a)b", "ab", "b"),
        ("a[^]b", "a\nb", "ab"),
        ("a[]b|c", "c", "ab"),
        ("[[a]+", "[a[", "b"),
        (r"[a\/]+", "a/a", "b"),
    ],
)
def test_ecmascript_semantics(pattern: str, good: str, bad: str) -> None:
    compiled = compiled_pattern(pattern)
    assert compiled.fullmatch(good)
    assert not compiled.fullmatch(bad)


def test_patterns_match_whole_values() -> None:
    # Smithy patterns are written unanchored; AWS applies them to the whole value.
    assert not compiled_pattern("[0-9]{12}").fullmatch("x012345678910")
    assert not compiled_pattern(REPO_PATTERN).fullmatch("ok\n")


@pytest.mark.parametrize(
    ("shape_name", "good", "bad"),
    [
        ("RepositoryName", "a/b__c.d---e", "a/_b"),
        ("LayerDigest", DIGEST, "sha256"),
        ("UploadId", "0b5c0a57-7e4f-4c1e-9d4c-8d5b2f9e1a11", "0b5c0a57"),
        ("KmsKeyForRepositoryCreationTemplate", "", "arn:aws:kms:x"),
        (
            "PrincipalArn",
            "arn:aws:iam::012345678910:role/ci/pusher+1",
            "arn:aws:iam::012345678910:role/\u00e9",
        ),
        ("PullThroughCacheRuleRepositoryPrefix", "ROOT", "Root"),
        ("ScanningRepositoryFilterValue", "prod-*", "-prod"),
        ("Base64", "abc=", "ab c"),
    ],
)
def test_real_model_patterns(shape_name: str, good: str, bad: str) -> None:
    compiled = compiled_pattern(model.shape(shape_name)["pattern"])
    assert compiled.fullmatch(good)
    assert not compiled.fullmatch(bad)
