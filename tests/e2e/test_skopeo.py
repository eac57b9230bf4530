"""skopeo against a real server: push, pull, inspect, list tags, delete.

A round trip must be byte-identical: the manifest skopeo pushed is the manifest it pulls back
(same digest), and every blob comes back unchanged. Images are built offline with
``tests.support.images``; skopeo reads OCI media types from ``oci:`` layouts and Docker schema 2
from ``dir:`` (skopeo 1.9 ignores Docker media types in an OCI layout's index).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import three_layer_files
from tests.support import ociapi
from tests.support.images import (
    Image,
    Index,
    MediaTypes,
    Platform,
    build_image,
    build_index,
    build_layer,
    layout_blob,
    layout_manifest,
    write_dir,
    write_layout,
)
from tests.support.server import ServerProcess
from tests.support.skopeo import Skopeo, SkopeoError

pytestmark = pytest.mark.e2e

PLATFORMS = [Platform("amd64"), Platform("arm64", variant="v8"), Platform("arm", variant="v7")]


def docker_ref(server: ServerProcess, repo: str, reference: str = "") -> str:
    """``docker://host:port/repo[:tag|@digest]`` for skopeo."""
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"docker://{server.address}/{repo}" + (separator + reference if reference else "")


def assert_dir_matches(path: Path, image: Image) -> None:
    """A ``dir:`` pull holds the manifest verbatim and every blob byte-identical."""
    assert (path / "manifest.json").read_bytes() == image.manifest.data
    for blob in image.blobs:
        assert (path / blob.digest.split(":")[1]).read_bytes() == blob.data, blob.digest


def assert_served(
    http: httpx.Client, repo: str, reference: str, manifest: bytes, media_type: str
) -> None:
    """GET and HEAD of a manifest give its exact bytes, media type, digest and length."""
    response = ociapi.fetch_manifest(http, repo, reference)
    assert response.content == manifest, ociapi.describe(response)
    assert response.headers["Content-Type"] == media_type, ociapi.describe(response)
    head = http.head(
        ociapi.manifest_url(repo, reference), headers={"Accept": ociapi.MANIFEST_ACCEPT}
    )
    assert head.status_code == 200, ociapi.describe(head)
    assert head.headers["Docker-Content-Digest"] == ociapi.sha256_digest(manifest)
    assert int(head.headers["Content-Length"]) == len(manifest)


def test_oci_image_round_trip(module_server, http, skopeo: Skopeo, oci_image: Image, repo, workdir):
    source = write_layout(workdir / "src", {"v1": oci_image})
    ref = docker_ref(module_server, repo, "v1")

    pushed = skopeo.copy(f"oci:{source}:v1", ref, digestfile=workdir / "digest")

    assert pushed == oci_image.digest
    assert skopeo.inspect_raw(ref) == oci_image.manifest.data
    assert skopeo.inspect(ref)["Digest"] == oci_image.digest
    assert skopeo.inspect_config(ref) == oci_image.config.data
    assert_served(http, repo, "v1", oci_image.manifest.data, MediaTypes.OCI_MANIFEST)
    assert_served(http, repo, oci_image.digest, oci_image.manifest.data, MediaTypes.OCI_MANIFEST)


def test_oci_image_pulls_back_identical(module_server, skopeo, oci_image: Image, repo, workdir):
    source = write_layout(workdir / "src", {"v1": oci_image})
    skopeo.copy(f"oci:{source}:v1", docker_ref(module_server, repo, "v1"))

    skopeo.copy(docker_ref(module_server, repo, "v1"), f"oci:{workdir / 'out'}:pulled")
    skopeo.copy(docker_ref(module_server, repo, oci_image.digest), f"dir:{workdir / 'dir'}")

    assert layout_manifest(workdir / "out", "pulled") == oci_image.manifest.data
    for blob in oci_image.blobs:
        assert layout_blob(workdir / "out", blob.digest) == blob.data, blob.digest
    assert_dir_matches(workdir / "dir", oci_image)


def test_docker_v2s2_round_trip(module_server, http, skopeo, docker_image: Image, repo, workdir):
    ref = docker_ref(module_server, repo, "v1")

    pushed = skopeo.copy(
        f"dir:{write_dir(workdir / 'src', docker_image)}", ref, digestfile=workdir / "d"
    )
    skopeo.copy(ref, f"dir:{workdir / 'out'}")

    assert pushed == docker_image.digest
    assert skopeo.inspect_raw(ref) == docker_image.manifest.data
    assert skopeo.inspect(ref)["Digest"] == docker_image.digest
    assert_dir_matches(workdir / "out", docker_image)
    assert_served(http, repo, "v1", docker_image.manifest.data, MediaTypes.DOCKER_MANIFEST)


@pytest.mark.parametrize(
    ("source_flavor", "target_format", "expected_type"),
    [("oci", "v2s2", MediaTypes.DOCKER_MANIFEST), ("docker", "oci", MediaTypes.OCI_MANIFEST)],
    ids=["oci-to-v2s2", "docker-to-oci"],
)
def test_format_conversion_on_push(
    module_server,
    http,
    skopeo,
    oci_image,
    docker_image,
    repo,
    workdir,
    source_flavor,
    target_format,
    expected_type,
):
    """skopeo rewrites the manifest on ``--format``; the registry stores what it was sent."""
    image = oci_image if source_flavor == "oci" else docker_image
    source = (
        f"oci:{write_layout(workdir / 'src', {'v1': image})}:v1"
        if source_flavor == "oci"
        else f"dir:{write_dir(workdir / 'src', image)}"
    )
    ref = docker_ref(module_server, repo, "converted")

    pushed = skopeo.copy(source, ref, "--format", target_format, digestfile=workdir / "digest")

    raw = skopeo.inspect_raw(ref)
    assert pushed != image.digest
    assert ociapi.sha256_digest(raw) == pushed
    assert json.loads(raw)["mediaType"] == expected_type
    assert [layer["digest"] for layer in json.loads(raw)["layers"]] == [
        b.digest for b in image.layers
    ]
    assert_served(http, repo, pushed, raw, expected_type)


def test_mixed_compression_layers_round_trip(module_server, http, skopeo, repo, workdir):
    """gzip, zstd and uncompressed layers in one image, pushed raw, pulled by skopeo verbatim."""
    files = three_layer_files("mixed")
    layers = [
        build_layer(files[0], "gzip"),
        build_layer(files[1], "zstd"),
        build_layer(files[2], "none"),
    ]
    image = build_image(layers)
    ociapi.push(http, repo, image, "mixed")

    skopeo.copy(docker_ref(module_server, repo, "mixed"), f"dir:{workdir / 'out'}")

    assert_dir_matches(workdir / "out", image)
    assert skopeo.inspect(docker_ref(module_server, repo, "mixed"))["Layers"] == [
        b.digest for b in image.layers
    ]


def multi_platform(flavor: str) -> Index:
    """A 3-platform index (OCI) or manifest list (Docker), one small image per platform."""
    images = [
        build_image(
            [{"etc/platform": f"{p.architecture}/{p.variant}".encode()}], platform=p, flavor=flavor
        )
        for p in PLATFORMS
    ]
    return build_index(images, flavor=flavor)


def test_multi_platform_oci_index_round_trip(module_server, http, skopeo, repo, workdir):
    index = multi_platform("oci")
    ref = docker_ref(module_server, repo, "multi")

    pushed = skopeo.copy(f"oci:{write_layout(workdir / 'src', {'multi': index})}:multi", ref, "--all",
                         digestfile=workdir / "digest")  # fmt: skip
    skopeo.copy(ref, f"oci:{workdir / 'out'}:multi", "--all")

    assert pushed == index.digest
    assert skopeo.inspect_raw(ref) == index.manifest.data
    assert layout_manifest(workdir / "out", "multi") == index.manifest.data
    for image in index.images:
        assert (
            skopeo.inspect_raw(docker_ref(module_server, repo, image.digest)) == image.manifest.data
        )
        assert layout_blob(workdir / "out", image.digest) == image.manifest.data
        for blob in image.blobs:
            assert layout_blob(workdir / "out", blob.digest) == blob.data
    assert_served(http, repo, "multi", index.manifest.data, MediaTypes.OCI_INDEX)


def test_multi_platform_docker_list_round_trip(module_server, http, skopeo, repo, workdir):
    manifest_list = multi_platform("docker")
    ref = docker_ref(module_server, repo, "multi")

    pushed = skopeo.copy(f"dir:{write_dir(workdir / 'src', manifest_list)}", ref, "--all",
                         digestfile=workdir / "digest")  # fmt: skip
    skopeo.copy(ref, f"dir:{workdir / 'out'}", "--all")

    assert pushed == manifest_list.digest
    assert (workdir / "out" / "manifest.json").read_bytes() == manifest_list.manifest.data
    for image in manifest_list.images:
        hex_digest = image.digest.split(":")[1]
        assert (workdir / "out" / f"{hex_digest}.manifest.json").read_bytes() == image.manifest.data
    assert_served(http, repo, "multi", manifest_list.manifest.data, MediaTypes.DOCKER_LIST)


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: f"{p.architecture}{p.variant or ''}")
def test_platform_selection_from_index(module_server, skopeo, repo, workdir, platform):
    """skopeo resolves an index to the requested platform's image through the registry."""
    index = multi_platform("oci")
    ref = docker_ref(module_server, repo, "multi")
    skopeo.copy(f"oci:{write_layout(workdir / 'src', {'multi': index})}:multi", ref, "--all")
    expected = next(image for image in index.images if image.platform == platform)

    flags = ["--override-arch", platform.architecture, "--override-os", platform.os]
    flags += ["--override-variant", platform.variant] if platform.variant else []
    info = json.loads(skopeo.run(*flags, "inspect", "--tls-verify=false", ref))

    assert info["Architecture"] == platform.architecture
    assert info["Layers"] == [blob.digest for blob in expected.layers]


def test_list_tags(module_server, skopeo, oci_image, repo, workdir):
    source = f"oci:{write_layout(workdir / 'src', {'v1': oci_image})}:v1"
    tags = ["v1", "v1.0.0", "latest", "stable-2000.01"]
    for tag in tags:
        skopeo.copy(source, docker_ref(module_server, repo, tag))

    assert sorted(skopeo.list_tags(docker_ref(module_server, repo))) == sorted(tags)
    for tag in tags:
        assert skopeo.inspect(docker_ref(module_server, repo, tag))["Digest"] == oci_image.digest


def test_delete_image(module_server, http, skopeo, oci_image, repo, workdir):
    """Deleting a manifest (skopeo resolves the tag, deletes by digest) removes all its tags."""
    other = build_image(three_layer_files("survivor"))
    layout = write_layout(workdir / "src", {"v1": oci_image, "other": other})
    for tag in ("a", "b"):
        skopeo.copy(f"oci:{layout}:v1", docker_ref(module_server, repo, tag))
    skopeo.copy(f"oci:{layout}:other", docker_ref(module_server, repo, "other"))

    skopeo.delete(docker_ref(module_server, repo, "a"))

    for reference in ("a", "b", oci_image.digest):
        response = http.get(
            ociapi.manifest_url(repo, reference), headers={"Accept": ociapi.MANIFEST_ACCEPT}
        )
        assert response.status_code == 404, ociapi.describe(response)
        assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", ociapi.describe(response)
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(docker_ref(module_server, repo, "b"))
    assert skopeo.list_tags(docker_ref(module_server, repo)) == ["other"]
    assert skopeo.inspect_raw(docker_ref(module_server, repo, "other")) == other.manifest.data


def test_push_again_after_delete(module_server, skopeo, oci_image, repo, workdir):
    source = f"oci:{write_layout(workdir / 'src', {'v1': oci_image})}:v1"
    skopeo.copy(source, docker_ref(module_server, repo, "v1"))
    skopeo.delete(docker_ref(module_server, repo, "v1"))

    pushed = skopeo.copy(
        source, docker_ref(module_server, repo, "v1"), digestfile=workdir / "digest"
    )

    assert pushed == oci_image.digest
    assert skopeo.inspect_raw(docker_ref(module_server, repo, "v1")) == oci_image.manifest.data
