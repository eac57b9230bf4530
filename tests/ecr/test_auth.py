"""Authentication and isolation: SigV4 on the ECR API, Basic tokens on `/v2/`, two accounts.

Raw requests are signed with botocore's own SigV4 signer at a time of the test's choosing, so
clock-skew and body-tampering cases use exactly the signature a real client would send.

Token expiry: the server has no way to move its clock, so a second server process is started on
the same data directory with `time.time` shifted back (it shares the token key kept in the
database). A token it issues "13 hours ago" has expired an hour ago for the real server; one
issued "11 hours ago" is still valid, which shows the first is refused for its age alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.ecr.conftest import ACCOUNT_A, ACCOUNT_B, KEY_A
from tests.support import ociapi
from tests.support.ecr import (
    REGION,
    AccessKey,
    ecr_client,
    ecr_error,
    push_v2,
    send_raw,
    signed_request,
    small_image,
    v2_client,
)
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


def error_of(response: httpx.Response) -> tuple[str, str]:
    body = response.json()
    return body["__type"].split("#")[-1], body.get("message") or body.get("Message")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- SigV4


def test_signed_request_by_hand_is_accepted(ecr_server: DockyardServer) -> None:
    """The control for every raw test below: the hand-signed request itself is fine."""
    response = send_raw(
        signed_request(ecr_server.url, KEY_A, "DescribeRegistry"), "DescribeRegistry"
    )
    assert response.status_code == 200, ociapi.describe(response)
    assert response.json()["registryId"] == ACCOUNT_A
    assert response.headers["Content-Type"].startswith("application/x-amz-json-1.1")


def test_unsigned_request(ecr_server: DockyardServer) -> None:
    request = httpx.Request(
        "POST", ecr_server.url + "/", content=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"},
    )  # fmt: skip
    response = send_raw(request, "DescribeRepositories")
    assert response.status_code == 403, ociapi.describe(response)
    assert error_of(response) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


def test_wrong_secret(ecr_server: DockyardServer) -> None:
    client = ecr_client(ecr_server.url, AccessKey(ACCOUNT_A, KEY_A.access_key_id, "not-the-secret"))
    with ecr_error("InvalidSignatureException", MISMATCH):
        client.describe_repositories()


def test_unknown_access_key(ecr_server: DockyardServer) -> None:
    client = ecr_client(ecr_server.url, AccessKey(ACCOUNT_A, "AKIAUNKNOWNKEY000000", "whatever"))
    with ecr_error(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    ):
        client.describe_repositories()


@pytest.mark.parametrize("minutes, accepted", [(-20, False), (20, False), (-10, True), (10, True)])
def test_request_time_must_be_within_15_minutes(
    ecr_server: DockyardServer, minutes: int, accepted: bool
) -> None:
    when = utc_now() + dt.timedelta(minutes=minutes)
    response = send_raw(
        signed_request(ecr_server.url, KEY_A, "DescribeRegistry", when=when), "DescribeRegistry"
    )
    if accepted:
        assert response.status_code == 200, ociapi.describe(response)
        return
    assert response.status_code == 400, ociapi.describe(response)
    code, message = error_of(response)
    assert code == "InvalidSignatureException"
    expected = "Signature expired" if minutes < 0 else "Signature not yet current"
    assert message.startswith(expected), message


def test_replay_with_altered_body(ecr_server: DockyardServer, new_repo: Any) -> None:
    name = new_repo()
    original = signed_request(
        ecr_server.url, KEY_A, "DescribeRepositories", {"repositoryNames": [name]}
    )
    # Replaying the exact request works (AWS has no replay cache within the 15 minutes).
    for _ in range(2):
        again = httpx.Request(
            "POST", original.url, headers=original.headers, content=original.content
        )
        response = send_raw(again, "DescribeRepositories")
        assert response.status_code == 200, ociapi.describe(response)

    altered_body = json.dumps({"repositoryNames": ["ecr-e2e/someone-elses"]}).encode()
    headers = dict(original.headers)
    headers["content-length"] = str(len(altered_body))
    altered = httpx.Request("POST", original.url, headers=headers, content=altered_body)
    response = send_raw(altered, "DescribeRepositories")
    assert response.status_code == 400, ociapi.describe(response)
    assert error_of(response) == ("InvalidSignatureException", MISMATCH)

    # Another target with the same signature is refused too.
    headers = dict(original.headers)
    headers["x-amz-target"] = "AmazonEC2ContainerRegistry_V20150921.DeleteRepository"
    retargeted = httpx.Request("POST", original.url, headers=headers, content=original.content)
    response = send_raw(retargeted, "DeleteRepository")
    assert error_of(response)[0] == "InvalidSignatureException"


def test_credential_scope_must_name_ecr(ecr_server: DockyardServer) -> None:
    request = signed_request(ecr_server.url, KEY_A, "DescribeRegistry", region=REGION, service="s3")
    response = send_raw(request, "DescribeRegistry")
    assert response.status_code == 400, ociapi.describe(response)
    assert error_of(response)[0] == "InvalidSignatureException"


def test_any_region_is_accepted(ecr_server: DockyardServer) -> None:
    """One Dockyard serves every region an SDK is configured for (the issue asks for any)."""
    request = signed_request(ecr_server.url, KEY_A, "DescribeRegistry", region="eu-west-1")
    response = send_raw(request, "DescribeRegistry")
    assert response.status_code == 200, ociapi.describe(response)


def test_unknown_operation(ecr_server: DockyardServer) -> None:
    response = send_raw(signed_request(ecr_server.url, KEY_A, "LaunchRockets"))
    assert response.status_code == 400, ociapi.describe(response)
    assert error_of(response)[0] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"text"', b"\xff\xfe"])
def test_malformed_json_body(ecr_server: DockyardServer, body: bytes) -> None:
    """AWS answers SerializationException; InvalidParameterException is declared, so also fine."""
    response = send_raw(signed_request(ecr_server.url, KEY_A, "DescribeRepositories", body))
    assert response.status_code == 400, ociapi.describe(response)
    assert error_of(response)[0] in {"SerializationException", "InvalidParameterException"}


# --------------------------------------------------------------------------- registry tokens


def decode_token(token: str) -> tuple[str, str]:
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def test_get_authorization_token(ecr_a: Any, ecr_server: DockyardServer) -> None:
    before = time.time()
    (data,) = ecr_a.get_authorization_token()["authorizationData"]
    user, password = decode_token(data["authorizationToken"])
    assert user == "AWS" and password
    assert before + 12 * 3600 - 5 <= data["expiresAt"].timestamp() <= time.time() + 12 * 3600 + 5
    assert data["proxyEndpoint"] in {
        f"https://{ACCOUNT_A}.dkr.ecr.{REGION}.amazonaws.com",
        ecr_server.url,
    }, data["proxyEndpoint"]
    with v2_client(ecr_server.url, data["authorizationToken"]) as client:
        response = client.get("/v2/")
    assert response.status_code == 200, ociapi.describe(response)


def assert_challenged(response: httpx.Response) -> None:
    assert response.status_code == 401, ociapi.describe(response)
    challenge = response.headers.get("Www-Authenticate", "")
    assert challenge.startswith("Basic realm="), ociapi.describe(response)


@pytest.mark.parametrize(
    "path", ["/v2/", "/v2/ecr-e2e/any/manifests/latest", "/v2/ecr-e2e/any/tags/list"]
)
def test_v2_without_credentials(ecr_server: DockyardServer, path: str) -> None:
    assert_challenged(httpx.get(ecr_server.url + path))


def test_forged_tokens(ecr_server: DockyardServer, token_a: str) -> None:
    _, password = decode_token(token_a)
    body, _, mac = password.partition(".")

    def basic(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    forged = [
        basic("AWS:garbage"),
        basic(f"AWS:{password[:-2]}{'AA' if password[-2:] != 'AA' else 'BB'}"),
        basic(f"nobody:{password}"),
        "not base64 !!",
    ]
    if mac:  # the same claims with account B swapped in, under A's signature
        claims = body + "=" * (-len(body) % 4)
        try:
            document = json.loads(base64.urlsafe_b64decode(claims))
            document = {k: (ACCOUNT_B if v == ACCOUNT_A else v) for k, v in document.items()}
            swapped = base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode())
            forged.append(basic(f"AWS:{swapped.decode().rstrip('=')}.{mac}"))
        except ValueError:
            pass
    for token in forged:
        response = httpx.get(ecr_server.url + "/v2/", headers={"Authorization": f"Basic {token}"})
        assert_challenged(response)
    bearer = httpx.get(ecr_server.url + "/v2/", headers={"Authorization": f"Bearer {token_a}"})
    assert_challenged(bearer)


class ShiftedDockyard(DockyardServer):
    """A second Dockyard on the same data dir whose `time.time` runs ``shift`` seconds off."""

    name = "dockyard-shifted"

    def __init__(self, shift: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shift = shift

    def command(self) -> list[str]:
        serve = super().command()[3:]  # drop `python -m dockyard`
        code = (
            "import sys, time; _real = time.time; "
            f"time.time = lambda: _real() + ({self.shift}); "
            "from dockyard.cli.main import main; sys.exit(main(sys.argv[1:]))"
        )
        return [sys.executable, "-c", code, *serve]


@pytest.fixture
def shifted_token(ecr_server: DockyardServer) -> Iterator[Any]:
    started: list[ShiftedDockyard] = []

    def issue(hours: float) -> str:
        server = ShiftedDockyard(
            -hours * 3600, data_dir=ecr_server.data_dir, extra_args=ecr_server.extra_args
        )
        started.append(server)
        server.start()
        when = utc_now() - dt.timedelta(hours=hours)
        response = send_raw(
            signed_request(server.url, KEY_A, "GetAuthorizationToken", when=when),
            "GetAuthorizationToken",
        )
        assert response.status_code == 200, ociapi.describe(response)
        (data,) = response.json()["authorizationData"]
        assert abs(data["expiresAt"] - (time.time() - hours * 3600 + 12 * 3600)) < 60, data
        return data["authorizationToken"]

    try:
        yield issue
    finally:
        for server in started:
            server.close()


def test_expired_token_is_refused(ecr_server: DockyardServer, shifted_token: Any) -> None:
    still_valid = shifted_token(11)
    ok = httpx.get(ecr_server.url + "/v2/", headers={"Authorization": f"Basic {still_valid}"})
    assert ok.status_code == 200, ociapi.describe(ok)
    expired = shifted_token(13)
    assert_challenged(
        httpx.get(ecr_server.url + "/v2/", headers={"Authorization": f"Basic {expired}"})
    )


# --------------------------------------------------------------------------- isolation


@pytest.fixture
def a_side(ecr_a: Any, v2_a: httpx.Client, new_repo: Any) -> tuple[str, Any]:
    """A repository of account A holding one image tagged v1."""
    name = new_repo()
    image = small_image(f"isolation-{name}", layers=2)
    push_v2(v2_a, name, image, "v1")
    return name, image


def test_account_b_cannot_see_account_a(ecr_a: Any, ecr_b: Any, a_side: tuple[str, Any]) -> None:
    name, image = a_side
    mine = f"The repository with name '{name}' does not exist in the registry with id '{ACCOUNT_B}'"
    with ecr_error("RepositoryNotFoundException", mine):
        ecr_b.describe_images(repositoryName=name)
    with ecr_error("RepositoryNotFoundException", mine):
        ecr_b.list_images(repositoryName=name)
    for call, kwargs in [
        ("describe_images", {}),
        ("list_images", {}),
        ("batch_get_image", {"imageIds": [{"imageTag": "v1"}]}),
        ("batch_delete_image", {"imageIds": [{"imageTag": "v1"}]}),
        ("describe_repositories", {"repositoryNames": [name]}),
        ("delete_repository", {"force": True}),
    ]:
        kwargs = dict(kwargs)
        if call == "describe_repositories":
            kwargs["registryId"] = ACCOUNT_A
        else:
            kwargs.update(registryId=ACCOUNT_A, repositoryName=name)
        # As on ECR: another account's registry is addressed, and refused without a policy.
        with ecr_error("AccessDeniedException") as info:
            getattr(ecr_b, call)(**kwargs)
        assert "because no resource-based policy allows" in str(info.value)
    assert all(r["repositoryName"] != name for r in ecr_b.describe_repositories()["repositories"])
    with pytest.raises(ClientError) as info:
        ecr_b.list_tags_for_resource(
            resourceArn=f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/{name}"
        )
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    # Nothing of A's was touched.
    (detail,) = ecr_a.describe_images(repositoryName=name)["imageDetails"]
    assert (detail["imageDigest"], detail["imageTags"]) == (image.digest, ["v1"])


def test_account_b_cannot_pull_account_a_through_v2(
    v2_a: httpx.Client, v2_b: httpx.Client, a_side: tuple[str, Any]
) -> None:
    name, image = a_side
    for method, path in [
        ("GET", ociapi.manifest_url(name, "v1")),
        ("HEAD", ociapi.manifest_url(name, "v1")),
        ("GET", ociapi.manifest_url(name, image.digest)),
        ("GET", ociapi.blob_url(name, image.layers[0].digest)),
        ("HEAD", ociapi.blob_url(name, image.config.digest)),
        ("GET", f"/v2/{name}/tags/list"),
    ]:
        response = v2_b.request(method, path, headers={"Accept": ociapi.MANIFEST_ACCEPT})
        assert response.status_code == 404, ociapi.describe(response)
        own = v2_a.request(method, path, headers={"Accept": ociapi.MANIFEST_ACCEPT})
        assert own.status_code == 200, ociapi.describe(own)
    push = v2_b.put(
        ociapi.manifest_url(name, "v2"), content=image.manifest.data,
        headers={"Content-Type": image.manifest.media_type},
    )  # fmt: skip
    assert push.status_code == 404, ociapi.describe(push)


def test_cross_account_mount_becomes_an_upload(
    ecr_a: Any,
    ecr_b: Any,
    v2_a: httpx.Client,
    v2_b: httpx.Client,
    a_side: tuple[str, Any],
    new_repo: Any,
) -> None:
    name, image = a_side
    layer = image.layers[0].digest
    for client in (ecr_a, ecr_b):
        client.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    try:
        # Within account A the mount works (the control).
        sibling = new_repo(suffix="-sibling")
        own = v2_a.post(ociapi.upload_url(sibling), params={"mount": layer, "from": name})
        assert own.status_code == 201, ociapi.describe(own)

        theirs = new_repo(client=ecr_b, suffix="-b")
        response = v2_b.post(ociapi.upload_url(theirs), params={"mount": layer, "from": name})
        assert response.status_code == 202, ociapi.describe(response)
        assert response.headers.get("Location"), ociapi.describe(response)
        head = v2_b.head(ociapi.blob_url(theirs, layer))
        assert head.status_code == 404, ociapi.describe(head)
        check = ecr_b.batch_check_layer_availability(repositoryName=theirs, layerDigests=[layer])
        assert check["layers"][0]["layerAvailability"] == "UNAVAILABLE"
    finally:
        for client in (ecr_a, ecr_b):
            client.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")


def test_same_repository_name_in_two_accounts(
    ecr_a: Any, ecr_b: Any, v2_a: httpx.Client, v2_b: httpx.Client
) -> None:
    name = f"ecr-e2e/shared-name-{time.time_ns()}"
    ecr_a.create_repository(repositoryName=name)
    ecr_b.create_repository(repositoryName=name)
    in_a, in_b = small_image("twin-a"), small_image("twin-b")
    push_v2(v2_a, name, in_a, "latest")
    push_v2(v2_b, name, in_b, "latest")
    (a,) = ecr_a.describe_images(repositoryName=name)["imageDetails"]
    (b,) = ecr_b.describe_images(repositoryName=name)["imageDetails"]
    assert (a["registryId"], a["imageDigest"]) == (ACCOUNT_A, in_a.digest)
    assert (b["registryId"], b["imageDigest"]) == (ACCOUNT_B, in_b.digest)
    assert ociapi.fetch_manifest(v2_a, name, "latest").content == in_a.manifest.data
    assert ociapi.fetch_manifest(v2_b, name, "latest").content == in_b.manifest.data
    ecr_b.delete_repository(repositoryName=name, force=True)
    assert (
        ecr_a.describe_images(repositoryName=name)["imageDetails"][0]["imageDigest"] == in_a.digest
    )
