"""skopeo `--format oci|v2s2` round trips against the registry's own conversion (ECR's pull by
tag for a narrow `Accept`): what the registry serves converted agrees with what skopeo makes of
the same manifest, and converted pulls by tag carry the converted bytes' digest. podman, which
accepts every type, gets the stored manifest unconverted."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_skopeo import docker_ref
from tests.support import ociapi
from tests.support.images import MediaTypes, layout_manifest, write_dir, write_layout

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("flavor", "out_format", "wanted"),
    [
        ("docker", "oci", MediaTypes.OCI_MANIFEST),
        ("oci", "v2s2", MediaTypes.DOCKER_MANIFEST),
    ],
    ids=["v2s2-to-oci", "oci-to-v2s2"],
)
def test_registry_conversion_agrees_with_skopeo(
    module_server, http, skopeo, oci_image, docker_image, repo, workdir, flavor, out_format, wanted
):
    image = docker_image if flavor == "docker" else oci_image
    source = (
        f"dir:{write_dir(workdir / 'src', image)}"
        if flavor == "docker"
        else f"oci:{write_layout(workdir / 'src', {'v1': image})}:v1"
    )
    skopeo.copy(source, docker_ref(module_server, repo, "v1"))

    # skopeo converts on its side (a dir: keeps what it wrote) ...
    skopeo.copy(
        docker_ref(module_server, repo, "v1"), f"dir:{workdir / 'out'}", "--format", out_format
    )
    by_skopeo = json.loads((workdir / "out" / "manifest.json").read_bytes())
    # ... the registry on its side, for a client accepting only the other format.
    served = http.get(ociapi.manifest_url(repo, "v1"), headers={"Accept": wanted})
    assert served.status_code == 200, ociapi.describe(served)
    assert served.headers["Docker-Content-Digest"] == ociapi.sha256_digest(served.content)
    assert {k: v for k, v in served.json().items() if k != "annotations"} == {
        k: v for k, v in by_skopeo.items() if k != "annotations"
    }

    # The converted manifest copies on as any other: skopeo pushes it back byte for byte.
    converted = workdir / "converted"
    (converted).mkdir()
    for name in (workdir / "out").iterdir():
        (converted / name.name).write_bytes(name.read_bytes())
    (converted / "manifest.json").write_bytes(served.content)
    pushed = skopeo.copy(
        f"dir:{converted}", docker_ref(module_server, repo, "again"), digestfile=workdir / "digest"
    )
    assert pushed == served.headers["Docker-Content-Digest"]
    assert skopeo.inspect_raw(docker_ref(module_server, repo, "again")) == served.content


def test_oci_layout_pull_by_tag_of_a_docker_image(
    module_server, skopeo, docker_image, repo, workdir
):
    """An `oci:` pull with `--format oci` of a stored schema 2 image keeps every blob."""
    skopeo.copy(
        f"dir:{write_dir(workdir / 'src', docker_image)}", docker_ref(module_server, repo, "v1")
    )
    skopeo.copy(
        docker_ref(module_server, repo, "v1"), f"oci:{workdir / 'out'}:v1", "--format", "oci"
    )
    document = json.loads(layout_manifest(workdir / "out", "v1"))
    assert document["mediaType"] == MediaTypes.OCI_MANIFEST
    assert [layer["digest"] for layer in document["layers"]] == [
        layer.digest for layer in docker_image.layers
    ]


def test_podman_pulls_either_stored_format_unconverted(
    module_server, skopeo, oci_image, docker_image, repo, workdir
):
    """podman accepts every manifest type, so it gets the stored bytes: by tag and by digest,
    its image's digest is the pushed manifest's, for schema 2 and OCI alike."""
    skopeo.copy(
        f"dir:{write_dir(workdir / 'docker', docker_image)}",
        docker_ref(module_server, repo, "docker"),
    )
    skopeo.copy(
        f"oci:{write_layout(workdir / 'oci', {'v1': oci_image})}:v1",
        docker_ref(module_server, repo, "oci"),
    )
    base = f"{module_server.address}/{repo}"
    with podman_store() as podman:
        for image, tag in ((docker_image, "docker"), (oci_image, "oci")):
            for reference in (f"{base}:{tag}", f"{base}@{image.digest}"):
                podman("pull", "--quiet", "--tls-verify=false", reference)
                assert (
                    podman("image", "inspect", "--format", "{{.Digest}}", reference).strip()
                    == image.digest
                )


@contextlib.contextmanager
def podman_store() -> Iterator[Callable[..., str]]:
    """`podman` on a private storage root; yields a runner returning stdout."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is not installed (apt-get install podman)")
    short = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))  # podman: runroot < 50 chars
    storage = [
        binary,
        "--root",
        str(short / "root"),
        "--runroot",
        str(short / "run"),
        "--storage-driver",
        "vfs",
    ]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*storage, *args], capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    try:
        yield run
    finally:
        subprocess.run(
            [*storage, "system", "reset", "--force"], capture_output=True, timeout=60, check=False
        )
        shutil.rmtree(short, ignore_errors=True)
