"""A SigV4 signature must cover the target and the request time, as every AWS SDK signs them.

botocore's own signer is told to sign only `host;x-amz-date` (as a careless hand-written client
might): such a request, with its target switched from DescribeRepositories to
DeleteRepository, would carry a valid signature over everything it signed. It must be refused
(`InvalidSignatureException`, 4xx) and the repository must survive; a normal boto3 client, and
a request signed over the required headers only, still work.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.ecr.conftest import KEY_A
from tests.support.ecr import JSON_TYPE, REGION, TARGET_PREFIX
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e


class SignOnly(SigV4Auth):
    """botocore's SigV4 signer, signing only the headers named."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(Credentials(KEY_A.access_key_id, KEY_A.secret_access_key), "ecr", REGION)
        self.names = names

    def headers_to_sign(self, request: AWSRequest) -> Any:
        signed = super().headers_to_sign(request)
        for name in list(signed.keys()):
            if name not in self.names:
                del signed[name]
        return signed


def signed_over(server: DockyardServer, names: set[str], operation: str, body: dict) -> dict:
    """Headers of a `POST /` for ``operation`` signed over ``names`` only."""
    request = AWSRequest(
        method="POST", url=server.url + "/", data=json.dumps(body).encode(),
        headers={"Content-Type": JSON_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"},
    )  # fmt: skip
    SignOnly(names).add_auth(request)
    return dict(request.headers.items())


def post(server: DockyardServer, headers: dict, body: dict) -> httpx.Response:
    return httpx.post(server.url + "/", headers=headers, content=json.dumps(body).encode())


def test_switching_an_unsigned_target_is_refused(ecr_a: Any, ecr_server: DockyardServer) -> None:
    ecr_a.create_repository(repositoryName="signed/keep-me")
    body = {"repositoryName": "signed/keep-me", "force": True}
    headers = signed_over(ecr_server, {"host", "x-amz-date"}, "DescribeRepositories", body)
    assert "SignedHeaders=host;x-amz-date," in headers["Authorization"]
    for target in ("DescribeRepositories", "DeleteRepository"):
        headers["X-Amz-Target"] = f"{TARGET_PREFIX}.{target}"
        response = post(ecr_server, headers, body)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["__type"] == "InvalidSignatureException", response.text
        assert "'X-Amz-Target' must be a 'SignedHeader'" in response.json()["message"]
    described = ecr_a.describe_repositories(repositoryNames=["signed/keep-me"])
    assert [r["repositoryName"] for r in described["repositories"]] == ["signed/keep-me"]


def test_the_request_time_must_be_signed(ecr_server: DockyardServer) -> None:
    headers = signed_over(ecr_server, {"host", "x-amz-target"}, "DescribeRepositories", {})
    response = post(ecr_server, headers, {})
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "InvalidSignatureException"
    assert "'X-Amz-Date' must be a 'SignedHeader'" in response.json()["message"]


def test_a_request_signed_over_the_required_headers_is_served(
    ecr_server: DockyardServer,
) -> None:
    names = {"host", "x-amz-date", "x-amz-target"}
    headers = signed_over(ecr_server, names, "DescribeRepositories", {})
    assert "SignedHeaders=host;x-amz-date;x-amz-target," in headers["Authorization"]
    response = post(ecr_server, headers, {})
    assert response.status_code == 200, response.text
    assert "repositories" in response.json()


def test_a_normal_boto3_client_works(ecr_a: Any) -> None:
    ecr_a.create_repository(repositoryName="signed/boto3")
    described = ecr_a.describe_repositories(repositoryNames=["signed/boto3"])["repositories"]
    assert [r["repositoryName"] for r in described] == ["signed/boto3"]
    ecr_a.delete_repository(repositoryName="signed/boto3")
