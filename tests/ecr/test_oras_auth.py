"""oras-py with authentication, as the README documents it: the `basic` auth backend, user
`AWS` and the password of GetAuthorizationToken (or `ORAS_USER`/`ORAS_PASS`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.support.oras_client import StrictOras
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e


def ecr_password(ecr: Any) -> str:
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    return password


def test_oras_pushes_and_pulls_with_a_registry_token(
    ecr_server: DockyardServer, ecr_a: Any, repo: str, tmp_path: Path
) -> None:
    client = StrictOras(hostname=ecr_server.address, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth("AWS", ecr_password(ecr_a))
    artifact = tmp_path / "notes.txt"
    artifact.write_bytes(b"pushed by oras with credentials\n")

    pushed = client.push(
        f"{ecr_server.address}/{repo}:notes",
        files=[str(artifact)],
        disable_path_validation=True,
        quiet=True,
    )
    pulled = client.pull(f"{ecr_server.address}/{repo}:notes", outdir=str(tmp_path / "out"))

    assert pushed.status_code == 201
    assert [Path(p).read_bytes() for p in pulled] == [artifact.read_bytes()]
    described = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert [d["imageTags"] for d in described] == [["notes"]]


def test_oras_from_the_environment_variables(
    ecr_server: DockyardServer,
    ecr_a: Any,
    repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORAS_USER", "AWS")
    monkeypatch.setenv("ORAS_PASS", ecr_password(ecr_a))
    client = StrictOras(hostname=ecr_server.address, insecure=True, auth_backend="basic")
    (tmp_path / "a.txt").write_bytes(b"a")

    response = client.push(
        f"{ecr_server.address}/{repo}:env",
        files=[str(tmp_path / "a.txt")],
        disable_path_validation=True,
        quiet=True,
    )

    assert response.status_code == 201


def test_oras_with_a_wrong_password_is_refused(ecr_server: DockyardServer, repo: str) -> None:
    client = StrictOras(hostname=ecr_server.address, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth("AWS", "not-a-registry-token")

    response = client.do_request(f"http://{ecr_server.address}/v2/{repo}/tags/list", "GET")

    assert response.status_code == 401
