"""SigV4 verification against requests that botocore itself signed."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from dockyard.api.ecr.sigv4 import SignatureError, check_authorization, check_body_signature, verify

KEY_ID = "AKIDEXAMPLE0000000001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {KEY_ID: SECRET}
SIGNED_AT = dt.datetime(2026, 1, 1, 12, 0, 0)
NOW = float(calendar.timegm(SIGNED_AT.timetuple()))
HOST = "api.ecr.us-east-1.amazonaws.com"
BODY = b'{"repositoryName": "team/app", "maxResults": 50}'
TARGET = "AmazonEC2ContainerRegistry_V20150921.DescribeImages"

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@pytest.fixture(autouse=True)
def fixed_signing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT)


def sign(
    body: bytes = BODY,
    url: str = f"https://{HOST}/",
    headers: dict[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "ecr",
    key_id: str = KEY_ID,
    secret: str = SECRET,
) -> AWSRequest:
    base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    request = AWSRequest(method="POST", url=url, data=body, headers={**base, **(headers or {})})
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    return request


def wire_headers(request: AWSRequest) -> list[tuple[str, str]]:
    """The header lines as they arrive: the HTTP client adds Host, which botocore signed."""
    return [("Host", urlsplit(request.url).netloc), *request.headers.items()]


def check(request: AWSRequest, now: float = NOW, **overrides: object) -> str:
    parts = urlsplit(request.url)
    args: dict = {
        "method": request.method,
        "path": parts.path,
        "query": parts.query,
        "headers": wire_headers(request),
        "body": request.body,
        "lookup_secret": SECRETS.get,
        "now": now,
    }
    args.update(overrides)
    return verify(**args)


def failure(request: AWSRequest, **overrides: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        check(request, **overrides)
    return caught.value


# -- accepted -----------------------------------------------------------------------------


def test_valid_request_returns_the_access_key() -> None:
    assert check(sign()) == KEY_ID


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "cn-north-1", "local"])
def test_any_region(region: str) -> None:
    assert check(sign(region=region)) == KEY_ID


def test_header_names_in_any_case_and_as_a_dict() -> None:
    request = sign()
    headers = {name.upper(): value for name, value in wire_headers(request)}
    assert check(request, headers=headers) == KEY_ID


def test_asgi_style_bytes() -> None:
    request = sign()
    raw = [(k.lower().encode(), v.encode()) for k, v in wire_headers(request)]
    assert check(request, path=b"/", query=b"", headers=raw) == KEY_ID


def test_header_whitespace_is_canonicalised() -> None:
    request = sign(headers={"X-Custom": "  a   b \t c  "})
    assert check(request) == KEY_ID


def test_repeated_headers_are_joined() -> None:
    request = AWSRequest(
        method="POST", url=f"https://{HOST}/", data=BODY, headers={"X-Amz-Target": TARGET}
    )
    request.headers["X-Custom"] = "one"
    request.headers["X-Custom"] = "two"  # HTTPMessage appends: two header lines
    SigV4Auth(Credentials(KEY_ID, SECRET), "ecr", "us-east-1").add_auth(request)
    assert check(request) == KEY_ID


def test_encoded_path_and_query() -> None:
    request = sign(url=f"https://{HOST}/a%20b/./c/../d?b=2&a=x%2Fy&a=1&empty=")
    assert check(request) == KEY_ID


def test_date_header_fallback() -> None:
    request = sign(headers={"Date": "Thu, 01 Jan 2026 11:00:00 GMT"})
    assert "X-Amz-Date" not in request.headers
    assert check(request) == KEY_ID


def test_session_token_header_is_just_signed() -> None:
    request = AWSRequest(
        method="POST", url=f"https://{HOST}/", data=BODY, headers={"X-Amz-Target": TARGET}
    )
    SigV4Auth(Credentials(KEY_ID, SECRET, "token"), "ecr", "us-east-1").add_auth(request)
    assert check(request) == KEY_ID


def test_clock_skew_up_to_fifteen_minutes_is_accepted() -> None:
    assert check(sign(), now=NOW + 900) == KEY_ID
    assert check(sign(), now=NOW - 900) == KEY_ID


def test_real_boto3_client_request() -> None:
    captured = list(boto3_request("eu-central-1"))
    request = captured[0]
    parts = urlsplit(request.url)
    headers = [("Host", parts.netloc), *request.headers.items()]
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    assert json.loads(body) == {"repositoryName": "team/app", "maxResults": 5}
    key = verify("POST", parts.path or "/", parts.query, headers, body, SECRETS.get, NOW)
    assert key == KEY_ID


def boto3_request(region: str) -> Iterator[object]:
    """Run DescribeImages through a real client and capture what it would send."""
    sent: list[object] = []

    def capture(request: object, **_: object) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _Raw(b'{"imageDetails": []}'))

    client = boto3.client(
        "ecr",
        region_name=region,
        endpoint_url="http://localhost:5000",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.meta.events.register("before-send.ecr", capture)
    client.describe_images(repositoryName="team/app", maxResults=5)
    return iter(sent)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.body


# -- refused ------------------------------------------------------------------------------


def test_tampered_body() -> None:
    error = failure(sign(), body=BODY.replace(b"50", b"51"))
    assert (error.type_name, error.message) == ("InvalidSignatureException", MISMATCH)


def test_tampered_signed_header() -> None:
    request = sign()
    headers = [
        (k, "AmazonEC2ContainerRegistry_V20150921.DeleteRepository" if k == "X-Amz-Target" else v)
        for k, v in wire_headers(request)
    ]
    error = failure(request, headers=headers)
    assert (error.type_name, error.message) == ("InvalidSignatureException", MISMATCH)


def test_tampered_path_or_method() -> None:
    assert failure(sign(), path="/other").type_name == "InvalidSignatureException"
    assert failure(sign(), method="PUT").type_name == "InvalidSignatureException"


def test_missing_signed_header() -> None:
    request = sign()
    headers = [(k, v) for k, v in wire_headers(request) if k != "X-Amz-Target"]
    assert failure(request, headers=headers).message == MISMATCH


def test_wrong_secret() -> None:
    error = failure(sign(secret="not-the-secret"))
    assert (error.type_name, error.message) == ("InvalidSignatureException", MISMATCH)


def test_unknown_access_key() -> None:
    error = failure(sign(key_id="AKIDUNKNOWN"))
    assert error.type_name == "UnrecognizedClientException"
    assert error.message == "The security token included in the request is invalid."


def test_expired_request() -> None:
    error = failure(sign(), now=NOW + 901)
    assert error.type_name == "InvalidSignatureException"
    assert error.message == (
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z "
        "(20260101T121501Z - 15 min.)"
    )


def test_request_from_the_future() -> None:
    error = failure(sign(), now=NOW - 901)
    assert error.type_name == "InvalidSignatureException"
    assert error.message.startswith("Signature not yet current: 20260101T120000Z is still later")


def test_wrong_service_scope() -> None:
    error = failure(sign(service="ecr-public"))
    assert error.type_name == "InvalidSignatureException"
    assert error.message == "Credential should be scoped to correct service: 'ecr'. "


def test_other_service_name_can_be_verified() -> None:
    assert check(sign(service="ecr-public"), service="ecr-public") == KEY_ID


def test_missing_authorization() -> None:
    request = sign()
    headers = [(k, v) for k, v in wire_headers(request) if k != "Authorization"]
    error = failure(request, headers=headers)
    assert error.type_name == "MissingAuthenticationTokenException"
    assert error.message == "Missing Authentication Token"
    assert error.status == 403


def with_authorization(request: AWSRequest, value: str) -> list[tuple[str, str]]:
    return [(k, value if k == "Authorization" else v) for k, v in wire_headers(request)]


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (
            f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/ecr/aws4_request",
            (
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. Authorization="
            ),
        ),
        (
            f"AWS {KEY_ID}:c2lnbmF0dXJl",
            (
                "Authorization header requires 'Credential' parameter. "
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS "
            ),
        ),
        (
            (
                f"AWS4-HMAC-SHA256 Credential={KEY_ID} /20260101/us-east-1/ecr/aws4_request, "
                "SignedHeaders=host, Signature=00"
            ),
            (
                "'/20260101/us-east-1/ecr/aws4_request' not a valid key=value pair "
                "(missing equal-sign) in Authorization header"
            ),
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/ecr, SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements",
        ),
    ],
)
def test_malformed_authorization(authorization: str, expected: str) -> None:
    request = sign()
    error = failure(request, headers=with_authorization(request, authorization))
    assert error.type_name == "IncompleteSignatureException"
    assert error.message.startswith(expected)


def test_wrong_terminator() -> None:
    request = sign()
    value = request.headers["Authorization"].replace("aws4_request", "aws5_request")
    error = failure(request, headers=with_authorization(request, value))
    assert error.type_name == "InvalidSignatureException"
    assert "valid terminator: 'aws4_request', not 'aws5_request'" in error.message


def test_no_date_header() -> None:
    request = sign()
    headers = [(k, v) for k, v in wire_headers(request) if k != "X-Amz-Date"]
    error = failure(request, headers=headers)
    assert error.type_name == "IncompleteSignatureException"
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message


def test_unparseable_date() -> None:
    request = sign()
    headers = [
        (k, "2026-01-01T12:00:00Z" if k == "X-Amz-Date" else v) for k, v in wire_headers(request)
    ]
    error = failure(request, headers=headers)
    assert error.type_name == "IncompleteSignatureException"
    assert "ISO-8601 'basic format'" in error.message


def test_credential_date_must_match_request_date() -> None:
    request = sign()
    headers = [
        (k, "20260102T000500Z" if k == "X-Amz-Date" else v) for k, v in wire_headers(request)
    ]
    error = failure(request, headers=headers, now=NOW + 12 * 3600)
    assert error.type_name == "InvalidSignatureException"
    assert error.message.startswith("Date in Credential scope does not match YYYYMMDD")


def test_content_sha256_header_must_match_body() -> None:
    request = sign(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert failure(request).message == MISMATCH


# -- headers that must be signed, and the check in two halves ----------------------------------


class _SignOnly(SigV4Auth):
    """botocore's signer, told to sign only the headers named (as a hand-rolled client might)."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(Credentials(KEY_ID, SECRET), "ecr", "us-east-1")
        self.names = names

    def headers_to_sign(self, request: AWSRequest):  # type: ignore[no-untyped-def]
        signed = super().headers_to_sign(request)
        for name in list(signed.keys()):
            if name not in self.names:
                del signed[name]
        return signed


def sign_only(names: set[str], headers: dict[str, str] | None = None) -> AWSRequest:
    base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    request = AWSRequest(
        method="POST", url=f"https://{HOST}/", data=BODY, headers={**base, **(headers or {})}
    )
    _SignOnly(names).add_auth(request)
    return request


def test_a_request_signed_over_all_required_headers_is_accepted() -> None:
    request = sign_only({"host", "x-amz-date", "x-amz-target"})
    assert "SignedHeaders=host;x-amz-date;x-amz-target," in request.headers["Authorization"]
    assert check(request) == KEY_ID


def test_the_target_must_be_signed() -> None:
    request = sign_only({"host", "x-amz-date"})
    assert "SignedHeaders=host;x-amz-date," in request.headers["Authorization"]
    switched = [
        (k, "AmazonEC2ContainerRegistry_V20150921.DeleteRepository" if k == "X-Amz-Target" else v)
        for k, v in wire_headers(request)
    ]
    for headers in (wire_headers(request), switched):
        error = failure(request, headers=headers)
        assert error.type_name == "InvalidSignatureException"
        assert error.message == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."


def test_the_request_time_must_be_signed() -> None:
    error = failure(sign_only({"host", "x-amz-target"}))
    assert error.message == "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
    dated = sign_only({"host", "x-amz-target"}, {"Date": "Thu, 01 Jan 2026 11:00:00 GMT"})
    assert "X-Amz-Date" not in dated.headers
    assert failure(dated).message == ("'Date' must be a 'SignedHeader' in the AWS Authorization.")


def test_host_must_be_signed() -> None:
    error = failure(sign_only({"x-amz-date", "x-amz-target"}))
    assert error.message.startswith("'Host' or ':authority' must be a 'SignedHeader'")


def test_the_header_half_needs_no_body_and_refuses_unknown_keys() -> None:
    request = sign(key_id="AKIDUNKNOWN000000000")
    with pytest.raises(SignatureError) as caught:
        check_authorization(wire_headers(request), SECRETS.get, NOW)
    assert caught.value.type_name == "UnrecognizedClientException"


def test_the_body_half_checks_the_signature() -> None:
    request = sign()
    presented = check_authorization(wire_headers(request), SECRETS.get, NOW)
    assert check_body_signature(presented, "POST", "/", "", request.body) == KEY_ID
    with pytest.raises(SignatureError) as caught:
        check_body_signature(presented, "POST", "/", "", request.body + b" ")
    assert (caught.value.type_name, caught.value.message) == ("InvalidSignatureException", MISMATCH)
