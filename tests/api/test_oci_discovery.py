"""Content discovery: tags/list and _catalog (ordering, `n`, `last`, Link), and referrers."""

from __future__ import annotations

import pytest

from .oci_client import (
    NAME,
    OCI_INDEX,
    Manifest,
    OciClient,
    artifact,
    assert_error,
    image,
    sha256,
)

SBOM = "application/vnd.example.sbom.v1+json"
SIGNATURE = "application/vnd.example.signature.v1"

# -- content discovery: tags and catalog -------------------------------------------------------------

TAGS = ["c", "a", "b", "B", "a-1", "10", "9"]
SORTED_TAGS = ["10", "9", "B", "a", "a-1", "b", "c"]  # lexical (byte) order


@pytest.fixture
def tagged(registry: OciClient) -> list[str]:
    manifest = image("tagged")
    registry.push(NAME, manifest, TAGS[0])
    for tag in TAGS[1:]:
        assert registry.put_manifest(NAME, tag, manifest).status_code == 201
    return SORTED_TAGS


def test_tags_are_listed_in_lexical_order(client, tagged: list[str]) -> None:
    response = client.get(f"/v2/{NAME}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": tagged}
    assert "Link" not in response.headers


def test_tags_page_with_n_and_a_next_link(client, tagged: list[str]) -> None:
    response = client.get(f"/v2/{NAME}/tags/list?n=2")
    assert response.json()["tags"] == ["10", "9"]
    assert response.headers["Link"] == f'</v2/{NAME}/tags/list?n=2&last=9>; rel="next"'


def test_tags_pages_cover_everything_once(registry: OciClient, tagged: list[str]) -> None:
    items, links = registry.follow_pages(f"/v2/{NAME}/tags/list?n=2", "tags")
    assert items == tagged
    assert len(links) == 4 and links[-1] is None


@pytest.mark.parametrize(
    ("query", "expected", "link"),
    [
        ("n=2&last=a", ["a-1", "b"], "n=2&last=b"),
        ("n=2&last=b", ["c"], None),
        ("last=B", ["a", "a-1", "b", "c"], None),
        ("n=7", SORTED_TAGS, None),  # exactly the last page: no link
        ("n=1000", SORTED_TAGS, None),
        ("n=2&last=zzz", [], None),
    ],
)
def test_tags_last_and_n(client, tagged, query: str, expected: list[str], link: str | None) -> None:
    response = client.get(f"/v2/{NAME}/tags/list?{query}")
    assert response.status_code == 200
    assert response.json()["tags"] == expected
    expected_link = f'</v2/{NAME}/tags/list?{link}>; rel="next"' if link else None
    assert response.headers.get("Link") == expected_link


@pytest.mark.parametrize("n", ["1001", "-1", "abc", "1.5"])
def test_bad_page_sizes_are_refused(client, seeded, n: str) -> None:
    assert_error(client.get(f"/v2/{NAME}/tags/list?n={n}"), 400, "UNSUPPORTED")
    assert_error(client.get(f"/v2/_catalog?n={n}"), 400, "UNSUPPORTED")


REPOSITORIES = ["cc/x", "bb", "aa/b", "cc", "aa"]


@pytest.fixture
def repositories(registry: OciClient) -> list[str]:
    for name in REPOSITORIES:
        registry.push_blob(name, name.encode())
    return sorted(REPOSITORIES)


def test_catalog_lists_repositories_in_order(client, repositories: list[str]) -> None:
    response = client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": ["aa", "aa/b", "bb", "cc", "cc/x"]}
    assert "Link" not in response.headers


def test_catalog_pages(registry: OciClient, client, repositories: list[str]) -> None:
    response = client.get("/v2/_catalog?n=3")
    assert response.json() == {"repositories": ["aa", "aa/b", "bb"]}
    assert response.headers["Link"] == '</v2/_catalog?n=3&last=bb>; rel="next"'
    following = client.get("/v2/_catalog?n=3&last=bb")
    assert following.json() == {"repositories": ["cc", "cc/x"]}
    assert "Link" not in following.headers
    items, links = registry.follow_pages("/v2/_catalog?n=2", "repositories")
    assert items == repositories
    assert links[0] == '</v2/_catalog?n=2&last=aa%2Fb>; rel="next"'


# -- content discovery: referrers --------------------------------------------------------------------


def referrer(manifest: Manifest) -> dict[str, object]:
    """The descriptor the referrers API must list for `manifest`."""
    document = manifest.document
    entry = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.body),
    }
    entry["artifactType"] = document.get("artifactType") or document["config"]["mediaType"]
    if document.get("annotations"):
        entry["annotations"] = document["annotations"]
    return entry


@pytest.fixture
def subject() -> Manifest:
    """An image that is never pushed: referrers may arrive before (or without) their subject."""
    return image("subject")


def test_artifact_with_an_absent_subject_is_accepted(registry: OciClient, subject) -> None:
    sbom = artifact("sbom", SBOM, subject, {"org.example.kind": "sbom"})
    for blob in sbom.blobs:
        registry.push_blob(NAME, blob.data)
    response = registry.put_manifest(NAME, sbom.digest, sbom)
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == subject.digest
    assert response.headers["Docker-Content-Digest"] == sbom.digest


def test_referrers_lists_artifacts_of_a_subject(registry: OciClient, client, subject) -> None:
    sbom = artifact("sbom", SBOM, subject, {"org.example.kind": "sbom"})
    signature = artifact("signature", SIGNATURE, subject)
    unrelated = artifact("unrelated", SBOM, image("another subject"))
    for manifest in (sbom, signature, unrelated):
        registry.push(NAME, manifest)
    response = client.get(f"/v2/{NAME}/referrers/{subject.digest}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in response.headers
    body = response.json()
    assert (body["schemaVersion"], body["mediaType"]) == (2, OCI_INDEX)
    by_digest = sorted(body["manifests"], key=lambda d: d["digest"])
    assert by_digest == sorted([referrer(sbom), referrer(signature)], key=lambda d: d["digest"])


def test_referrers_filter_by_artifact_type(registry: OciClient, client, subject) -> None:
    sbom, signature = artifact("sbom", SBOM, subject), artifact("signature", SIGNATURE, subject)
    registry.push(NAME, sbom)
    registry.push(NAME, signature)
    response = client.get(f"/v2/{NAME}/referrers/{subject.digest}", params={"artifactType": SBOM})
    assert response.status_code == 200
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    assert response.json()["manifests"] == [referrer(sbom)]


def test_referrer_artifact_type_defaults_to_the_config_media_type(
    registry: OciClient, client, subject
) -> None:
    helm = artifact("chart", None, subject, config_type="application/vnd.cncf.helm.config.v1+json")
    registry.push(NAME, helm, "chart")
    manifests = client.get(f"/v2/{NAME}/referrers/{subject.digest}").json()["manifests"]
    assert manifests == [referrer(helm)]
    assert manifests[0]["artifactType"] == "application/vnd.cncf.helm.config.v1+json"


def test_referrers_of_an_unknown_subject_is_an_empty_index(client, seeded) -> None:
    response = client.get(f"/v2/{NAME}/referrers/{sha256(b'nobody points here')}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_referrers_survive_pushing_the_subject_later(registry: OciClient, client, subject) -> None:
    sbom = artifact("sbom", SBOM, subject)
    registry.push(NAME, sbom)
    registry.push(NAME, subject, "v1")
    response = client.get(f"/v2/{NAME}/referrers/{subject.digest}")
    assert response.json()["manifests"] == [referrer(sbom)]


def test_referrers_errors(client, seeded) -> None:
    assert_error(client.get(f"/v2/{NAME}/referrers/sha256:abc"), 400, "DIGEST_INVALID")
    assert_error(client.get(f"/v2/team/missing/referrers/{seeded.digest}"), 404, "NAME_UNKNOWN")
