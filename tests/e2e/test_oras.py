"""oras-py against a real server: artifacts, subjects and the OCI 1.1 referrers API.

Pushes and pulls go through oras (``tests.support.oras_client`` only adds ``artifactType``,
which oras-py 0.2's ``push`` cannot set). oras-py has no referrers call, so discovery uses
httpx on ``GET /v2/<name>/referrers/<digest>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import oras.oci
import pytest

from tests.support import ociapi
from tests.support.images import MediaTypes, digest_of, pseudo_random_bytes, write_layout
from tests.support.oras_client import StrictOras, push_artifact, wire_bytes
from tests.support.server import ServerProcess
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"
CONFIG_TYPE = "application/vnd.example.config.v1+json"


@pytest.fixture
def client() -> StrictOras:
    return StrictOras(insecure=True)


@pytest.fixture
def target(module_server: ServerProcess, repo: str) -> str:
    """``host:port/repo`` for oras references."""
    return f"{module_server.address}/{repo}"


def write_files(directory: Path, files: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return [directory / name for name in files]


def referrers(http: httpx.Client, repo: str, digest: str, **params: str) -> httpx.Response:
    """GET the referrers index; checks what every answer must satisfy (200, an OCI index)."""
    response = http.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert response.status_code == 200, ociapi.describe(response)
    assert response.headers["Content-Type"].split(";")[0] == MediaTypes.OCI_INDEX, ociapi.describe(
        response
    )
    body = response.json()
    assert body["schemaVersion"] == 2 and body["mediaType"] == MediaTypes.OCI_INDEX, body
    return response


def descriptor_of(manifest: bytes, artifact_type: str) -> dict:
    """The descriptor the referrers API must list for a manifest (spec: artifactType, annotations)."""
    document = json.loads(manifest)
    expected = {
        "mediaType": document["mediaType"],
        "digest": digest_of(manifest),
        "size": len(manifest),
        "artifactType": artifact_type,
    }
    if document.get("annotations"):
        expected["annotations"] = document["annotations"]
    return expected


def listed(response: httpx.Response) -> list[dict]:
    """Referrer descriptors, sorted for order-insensitive comparison, optional fields kept."""
    return sorted(response.json()["manifests"], key=lambda d: d["digest"])


def push_subject_image(
    skopeo: Skopeo, server: ServerProcess, repo: str, image, workdir: Path
) -> None:
    layout = write_layout(workdir / "subject", {"v1": image})
    skopeo.copy(f"oci:{layout}:v1", f"docker://{server.address}/{repo}:v1")


def test_push_and_pull_artifact(client, target, http, repo, workdir):
    files = write_files(
        workdir / "in",
        {"readme.txt": b"hello oras\n", "model.bin": pseudo_random_bytes(300_000, "m")},
    )
    config = write_files(workdir / "cfg", {"config.json": b'{"purpose":"e2e"}'})[0]

    response = client.push(
        f"{target}:v1",
        files=[f"{files[0]}:text/plain", str(files[1])],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        manifest_annotations={"org.example.purpose": "e2e"},
        disable_path_validation=True,
        quiet=True,
    )
    pulled = client.pull(f"{target}:v1", outdir=str(workdir / "out"))

    assert response.status_code == 201, ociapi.describe(response)
    assert sorted(Path(p).name for p in pulled) == ["model.bin", "readme.txt"]
    for path in files:
        assert (workdir / "out" / path.name).read_bytes() == path.read_bytes()
    manifest = ociapi.fetch_manifest(http, repo, "v1")
    assert manifest.headers["Docker-Content-Digest"] == response.headers["Docker-Content-Digest"]
    assert manifest.json() == client.get_manifest(f"{target}:v1")
    assert manifest.json()["config"]["mediaType"] == CONFIG_TYPE
    assert client.get_tags(target) == ["v1"]


def test_artifact_type_and_subject_are_kept_verbatim(client, target, http, repo, workdir):
    """The manifest oras sent is stored byte for byte and served under its digest."""
    files = write_files(workdir / "in", {"sig.bin": b"signature"})
    subject = oras.oci.Subject(MediaTypes.OCI_MANIFEST, digest_of(b"no such manifest yet"), 19)

    response, sent = push_artifact(
        client, target, files, artifact_type=SIGNATURE_TYPE, subject=subject
    )

    assert response.status_code == 201, ociapi.describe(response)
    assert response.headers["Docker-Content-Digest"] == digest_of(sent)
    served = ociapi.fetch_manifest(http, repo, digest_of(sent))
    assert served.content == sent
    assert served.json()["artifactType"] == SIGNATURE_TYPE


def test_referrers_of_an_image_pushed_with_skopeo(
    client, target, module_server, http, skopeo, oci_image, repo, workdir
):
    push_subject_image(skopeo, module_server, repo, oci_image, workdir)
    subject = oras.oci.Subject(
        oci_image.manifest.media_type, oci_image.digest, oci_image.manifest.size
    )
    sbom_file = write_files(workdir / "sbom", {"sbom.spdx.json": b'{"spdxVersion":"SPDX-2.3"}'})
    sbom_config = write_files(workdir / "cfg", {"config.json": b"{}"})[0]

    # oras's own push: no artifactType, so the referrers API must report config.mediaType.
    sbom = client.push(
        f"{target}:sbom", files=[str(sbom_file[0])], subject=subject, quiet=True,
        manifest_config=f"{sbom_config}:{SBOM_TYPE}", disable_path_validation=True,
        manifest_annotations={"org.opencontainers.image.created": "2000-01-01T00:00:00Z"},
    )  # fmt: skip
    signature, signature_bytes = push_artifact(
        client, target, write_files(workdir / "sig", {"sig.bin": b"sig"}),
        artifact_type=SIGNATURE_TYPE, subject=subject, annotations={"org.example.signer": "e2e"},
    )  # fmt: skip

    for response in (sbom, signature):
        assert response.status_code == 201, ociapi.describe(response)
        assert response.headers.get("OCI-Subject") == oci_image.digest, ociapi.describe(response)
    sbom_bytes = ociapi.fetch_manifest(http, repo, "sbom").content
    expected = [
        descriptor_of(sbom_bytes, SBOM_TYPE),
        descriptor_of(signature_bytes, SIGNATURE_TYPE),
    ]
    assert listed(referrers(http, repo, oci_image.digest)) == sorted(
        expected, key=lambda d: d["digest"]
    )


def test_referrers_artifact_type_filter(client, target, http, repo, workdir):
    subject = oras.oci.Subject(MediaTypes.OCI_MANIFEST, digest_of(b"filter-subject"), 14)
    pushed = {}
    for kind in (SBOM_TYPE, SIGNATURE_TYPE):
        files = write_files(workdir / kind.split(".")[-2], {"f.bin": kind.encode()})
        response, sent = push_artifact(client, target, files, artifact_type=kind, subject=subject)
        assert response.status_code == 201, ociapi.describe(response)
        pushed[kind] = sent

    only_signatures = referrers(http, repo, subject.digest, artifactType=SIGNATURE_TYPE)
    nothing = referrers(http, repo, subject.digest, artifactType="application/vnd.example.none")
    unfiltered = referrers(http, repo, subject.digest)

    assert listed(only_signatures) == [descriptor_of(pushed[SIGNATURE_TYPE], SIGNATURE_TYPE)]
    assert only_signatures.headers.get("OCI-Filters-Applied") == "artifactType", ociapi.describe(
        only_signatures
    )
    assert listed(nothing) == []
    assert nothing.headers.get("OCI-Filters-Applied") == "artifactType", ociapi.describe(nothing)
    assert len(listed(unfiltered)) == 2
    assert "OCI-Filters-Applied" not in unfiltered.headers


def test_referrer_chain_between_artifacts_and_pull_back(client, target, http, repo, workdir):
    """Artifact B's subject is artifact A; A's referrers list B, and oras pulls B's files back."""
    first, first_bytes = push_artifact(
        client, f"{target}:first", write_files(workdir / "a", {"a.txt": b"first"}),
        artifact_type=SBOM_TYPE, by_digest=False,
    )  # fmt: skip
    assert first.status_code == 201, ociapi.describe(first)
    subject = oras.oci.Subject(MediaTypes.OCI_MANIFEST, digest_of(first_bytes), len(first_bytes))
    payload = {
        "attestation.json": b'{"predicateType":"e2e"}',
        "blob.bin": pseudo_random_bytes(50_000, "b"),
    }
    second, second_bytes = push_artifact(
        client,
        target,
        write_files(workdir / "b", payload),
        artifact_type=SIGNATURE_TYPE,
        subject=subject,
    )
    assert second.status_code == 201, ociapi.describe(second)
    assert second.headers.get("OCI-Subject") == subject.digest, ociapi.describe(second)

    pulled = client.pull(f"{target}@{digest_of(second_bytes)}", outdir=str(workdir / "out"))

    assert listed(referrers(http, repo, subject.digest)) == [
        descriptor_of(second_bytes, SIGNATURE_TYPE)
    ]
    assert listed(referrers(http, repo, digest_of(second_bytes))) == []
    assert sorted(Path(p).name for p in pulled) == sorted(payload)
    for name, data in payload.items():
        assert (workdir / "out" / name).read_bytes() == data


def test_referrers_of_unknown_subject_is_an_empty_index(http, repo):
    """The spec requires 200 with an empty index, even for a subject the registry never saw."""
    ociapi.push_blob(http, repo, b"make the repository exist")

    assert listed(referrers(http, repo, digest_of(b"never pushed"))) == []


def test_deleted_referrer_disappears(client, target, http, repo, workdir):
    subject = oras.oci.Subject(MediaTypes.OCI_MANIFEST, digest_of(b"delete-subject"), 14)
    files = write_files(workdir / "in", {"s.bin": b"x"})
    response, sent = push_artifact(
        client, target, files, artifact_type=SIGNATURE_TYPE, subject=subject
    )
    assert response.status_code == 201, ociapi.describe(response)
    assert len(listed(referrers(http, repo, subject.digest))) == 1

    deleted = http.delete(ociapi.manifest_url(repo, digest_of(sent)))

    assert deleted.status_code == 202, ociapi.describe(deleted)
    assert listed(referrers(http, repo, subject.digest)) == []


def test_oras_wire_bytes_match_requests():
    """Guard for ``wire_bytes``: requests serialises ``json=`` exactly like this."""
    import requests

    manifest = {"schemaVersion": 2, "annotations": {"k": "v é"}}
    prepared = requests.Request("PUT", "http://x/", json=manifest).prepare()
    assert prepared.body == wire_bytes(manifest)
