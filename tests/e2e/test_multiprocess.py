"""Several `dockyard serve` processes on one PostgreSQL database and one S3 bucket (moto).

No proxy: clients pick a process by its port, and alternate on purpose. Two processes (A and
B, each with its own data dir) serve the module; a third is started to be killed. The claims
that matter in a scale-out deployment are checked from the outside:

- an upload's chunks may land on any process, and one killed mid-chunk loses only that chunk;
- pushes, tag moves, deletes, pulls and DescribeImages agree whichever process is asked;
- concurrent pushes of one tag end with one winner and every image accounted for;
- each background scan runs exactly once (PostgreSQL triggers count claims and results);
- `--workers 2` serves pushes and pulls, on the SQLite default as on PostgreSQL + S3.

PostgreSQL (tests/support/postgres.py), moto and skopeo missing make these tests fail, not skip.
"""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import three_layer_files
from tests.support import fixture_images as fx
from tests.support import ociapi
from tests.support.ecr import (
    AccessKey,
    ecr_client,
    ecr_error,
    push_v2,
    registry_token,
    v2_client,
    variants,
    wait_for,
    write_auth_file,
)
from tests.support.images import build_image, pseudo_random_bytes, write_layout
from tests.support.postgres import PostgresCluster
from tests.support.s3 import MotoS3
from tests.support.scaleout import ClaimAudit, SharedStores, race_tag, scan_writes, start_server
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo
from tests.unit.scanner.osv_fixtures import zip_fixtures

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
KEY = AccessKey("111111111111", "AKIAMULTIPROCESS0001", "multiprocess-secret-0123456789abcdefghij")
_repos = itertools.count()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stores(postgres: PostgresCluster, moto: MotoS3, tmp_path_factory) -> SharedStores:
    bucket = moto.bucket()
    auth = write_auth_file(tmp_path_factory.mktemp("auth") / "auth.toml", [KEY])
    return SharedStores(postgres.new_database(), bucket, moto.url(bucket, "registry"), auth)


@pytest.fixture(scope="module")
def osv_debian(tmp_path_factory) -> Path:
    zips = {path.parent.name: path for path in zip_fixtures(tmp_path_factory.mktemp("osv"))}
    return zips["Debian"]


@pytest.fixture(scope="module")
def fleet(stores, osv_debian, tmp_path_factory) -> Iterator[tuple[DockyardServer, ...]]:
    """Processes A and B, each with its own data dir holding the vulnerability data."""
    servers: list[DockyardServer] = []
    try:
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"server-{name}")
            vulndb_import(data_dir, osv_debian)
            servers.append(start_server(stores, data_dir=data_dir))
        yield tuple(servers)
    finally:
        for server in servers:
            server.close()


@pytest.fixture(scope="module")
def ecr_a(fleet) -> Any:
    return ecr_client(fleet[0].url, KEY)


@pytest.fixture(scope="module")
def ecr_b(fleet) -> Any:
    return ecr_client(fleet[1].url, KEY)


@pytest.fixture(scope="module")
def token(ecr_a) -> str:
    """A registry token from A; B accepts it too (the signing key is in the database)."""
    return registry_token(ecr_a)


@pytest.fixture
def v2a(fleet, token) -> Iterator[httpx.Client]:
    with v2_client(fleet[0].url, token) as client:
        yield client


@pytest.fixture
def v2b(fleet, token) -> Iterator[httpx.Client]:
    with v2_client(fleet[1].url, token) as client:
        yield client


@pytest.fixture
def repo(request) -> str:
    return f"multi/{request.node.name.lower().replace('_', '-')[:50]}-{next(_repos)}"


def vulndb_import(data_dir: Path, *paths: Path) -> None:
    command = [sys.executable, "-m", "dockyard", "vulndb", "import", *map(str, paths),
               "--data-dir", str(data_dir)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def skopeo_creds(token: str) -> str:
    """`AWS:<password>` for skopeo's --src-creds/--dest-creds, from a registry token."""
    return base64.b64decode(token).decode()


def describe_all(ecr: Any, repo: str) -> list[dict[str, Any]]:
    """Every image of ``repo`` as DescribeImages reports it, ordered by digest."""
    pages = ecr.get_paginator("describe_images").paginate(repositoryName=repo)
    details = [detail for page in pages for detail in page["imageDetails"]]
    return sorted(details, key=lambda d: d["imageDigest"])


def same_view(ecr_a: Any, ecr_b: Any, repo: str) -> list[dict[str, Any]]:
    """DescribeImages from A and B, which must be identical; returns it."""
    seen_a, seen_b = describe_all(ecr_a, repo), describe_all(ecr_b, repo)
    assert seen_a == seen_b, f"A and B disagree:\nA: {seen_a}\nB: {seen_b}"
    return seen_a


def tags_by_digest(details: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {d["imageDigest"]: sorted(d.get("imageTags", [])) for d in details}


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("order", ["ABAB", "ABBA"])
def test_chunks_of_one_upload_alternate_between_processes(order, fleet, v2a, v2b, repo):
    """POST, PATCH, PATCH, PUT on the processes ``order`` names. "ABBA" ends on the process
    that started the upload, whose running hash from the POST is stale by then."""
    http = [{"A": v2a, "B": v2b}[name] for name in order]
    data = pseudo_random_bytes(9 * MiB + 3, f"alternate-{order}")
    digest = ociapi.sha256_digest(data)
    cut1, cut2 = 7, 8 * MiB + 100  # a tiny chunk, then one spanning a whole S3 part

    location = ociapi.start_upload(http[0], repo)
    response = ociapi.patch_chunk(http[1], location, data[:cut1], 0)
    assert response.status_code == 202, ociapi.describe(response)
    status = http[0].get(response.headers["Location"])  # the other process sees the chunk
    assert status.status_code == 204 and status.headers["Range"] == f"0-{cut1 - 1}"
    response = ociapi.patch_chunk(http[2], status.headers["Location"], data[cut1:cut2], cut1)
    assert response.status_code == 202, ociapi.describe(response)
    done = http[3].put(
        ociapi.with_params(response.headers["Location"], digest=digest), content=data[cut2:]
    )  # the last bytes come with the PUT
    assert done.status_code == 201, ociapi.describe(done)

    for client in (v2a, v2b):
        assert ociapi.fetch_blob(client, repo, digest) == data
        head = client.head(ociapi.blob_url(repo, digest))
        assert head.headers["Content-Length"] == str(len(data))
        ranged = client.get(ociapi.blob_url(repo, digest), headers={"Range": "bytes=6-9"})
        assert ranged.status_code == 206 and ranged.content == data[6:10]


def test_an_upload_killed_mid_chunk_is_finished_on_another_process(
    stores, moto, fleet, token, v2a, repo
):
    data = pseudo_random_bytes(20 * MiB + 11, "killed")
    digest = ociapi.sha256_digest(data)
    victim = start_server(stores)
    try:
        with v2_client(victim.url, token) as http:
            location = ociapi.start_upload(http, repo)
            response = ociapi.patch_chunk(http, location, data[:MiB], 0)
            assert response.status_code == 202, ociapi.describe(response)
            interrupted = _kill_during_patch(
                victim, token, moto, stores.bucket, location, data[MiB:]
            )
        assert interrupted, "the PATCH the server was killed in must not succeed"

        # The acknowledged first chunk survives; the interrupted one is simply not there.
        status = v2a.get(location)
        assert status.status_code == 204, ociapi.describe(status)
        assert status.headers["Range"] == f"0-{MiB - 1}"
        response = ociapi.patch_chunk(v2a, location, data[MiB:], MiB)
        assert response.status_code == 202, ociapi.describe(response)
        done = v2a.put(ociapi.with_params(response.headers["Location"], digest=digest))
        assert done.status_code == 201, ociapi.describe(done)
        assert ociapi.fetch_blob(v2a, repo, digest) == data

        # Publishing cleaned up after the dead process too: no segment, no multipart upload.
        assert [k for k in moto.leftovers(stores.bucket) if "uploads/" in k] == []
        victim.start()  # same port and data dir: it serves what others finished
        with v2_client(victim.url, token) as http:
            assert ociapi.fetch_blob(http, repo, digest) == data
    finally:
        victim.close()


def _kill_during_patch(
    victim: DockyardServer, token: str, moto: MotoS3, bucket: str, location: str, rest: bytes
) -> bool:
    """Stream ``rest`` as one PATCH and SIGKILL the server once it is writing an S3 part.

    Returns True when the PATCH failed, as it must when its server dies.
    """
    release = threading.Event()
    outcome: dict[str, object] = {}

    def body() -> Iterator[bytes]:
        # Enough for the server to start an 8 MiB part while receiving more, then stall.
        for i in range(0, 17 * MiB, MiB):
            yield rest[i : i + MiB]
        release.wait(30)
        yield rest[17 * MiB :]

    def patch() -> None:
        try:
            with v2_client(victim.url, token) as http:
                outcome["response"] = http.patch(location, content=body())
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=patch)
    thread.start()
    started = wait_for(lambda: moto.client().list_multipart_uploads(Bucket=bucket)
                       .get("Uploads"), timeout=20)  # fmt: skip
    victim.kill()
    release.set()
    thread.join(30)
    assert started, f"the server never started writing the chunk to S3: {outcome}"
    return "error" in outcome


# --------------------------------------------------------------------------- consistency


def test_pushes_pulls_tag_moves_and_deletes_agree_across_processes(
    fleet, ecr_a, ecr_b, token, skopeo: Skopeo, workdir, repo
):
    a, b = fleet
    one, two = (build_image(three_layer_files(seed)) for seed in ("one", "two"))
    layout = write_layout(workdir / "src", {"one": one, "two": two})
    creds = skopeo_creds(token)
    skopeo.copy(f"oci:{layout}:one", f"docker://{a.address}/{repo}:v1", "--dest-creds", creds)
    skopeo.copy(f"oci:{layout}:two", f"docker://{b.address}/{repo}:v2", "--dest-creds", creds)
    view = same_view(ecr_a, ecr_b, repo)
    assert tags_by_digest(view) == {one.digest: ["v1"], two.digest: ["v2"]}
    assert all("lastRecordedPullTime" not in d for d in view)

    # A pull on B is a pull time seen from A (after B's write-behind flush).
    skopeo.copy(f"docker://{b.address}/{repo}:v1", f"dir:{workdir / 'out'}", "--src-creds", creds)
    assert (workdir / "out" / "manifest.json").read_bytes() == one.manifest.data
    pulled = wait_for(lambda: [d["imageDigest"] for d in describe_all(ecr_a, repo)
                               if "lastRecordedPullTime" in d], timeout=10)  # fmt: skip
    assert pulled == [one.digest]
    same_view(ecr_a, ecr_b, repo)

    # A tag moved on A (ECR retag: PutImage of an existing manifest) has moved on B.
    ecr_a.put_image(repositoryName=repo, imageTag="v1", imageManifest=two.manifest.data.decode(),
                    imageManifestMediaType=two.manifest.media_type)  # fmt: skip
    assert tags_by_digest(same_view(ecr_a, ecr_b, repo)) == {
        one.digest: [],
        two.digest: ["v1", "v2"],
    }
    raw = skopeo.run(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        creds,
        f"docker://{b.address}/{repo}:v1",
    )
    assert raw == two.manifest.data

    # Deletes on one process are deletes on the other.
    ecr_b.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": one.digest}])
    assert tags_by_digest(same_view(ecr_a, ecr_b, repo)) == {two.digest: ["v1", "v2"]}
    with httpx.Client(base_url=a.url, headers={"Authorization": f"Basic {token}"}) as http:
        assert http.get(ociapi.manifest_url(repo, one.digest)).status_code == 404
    skopeo.run("delete", "--tls-verify=false", "--creds", creds, f"docker://{a.address}/{repo}:v1")
    assert same_view(ecr_a, ecr_b, repo) == []
    with ecr_error("ImageNotFoundException"):
        ecr_b.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v2"}])


def test_concurrent_pushes_of_one_tag_end_with_one_winner(fleet, ecr_a, ecr_b, token, v2a, repo):
    images = variants("race", 10)
    for blob in {blob.digest: blob for image in images for blob in image.blobs}.values():
        ociapi.push_blob(v2a, repo, blob.data)
    errors = race_tag(fleet, KEY, token, repo, "latest", images)
    assert errors == [""] * len(images)

    view = same_view(ecr_a, ecr_b, repo)
    assert {d["imageDigest"] for d in view} == {image.digest for image in images}
    tagged = [d for d in view if d.get("imageTags")]
    assert len(tagged) == 1 and tagged[0]["imageTags"] == ["latest"], view
    untagged = ecr_b.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert len(untagged["imageIds"]) == len(images) - 1
    for server in fleet:
        with v2_client(server.url, token) as http:
            served = ociapi.fetch_manifest(http, repo, "latest")
            assert served.headers["Docker-Content-Digest"] == tagged[0]["imageDigest"]


# --------------------------------------------------------------------------- background work


def test_each_scan_on_push_runs_exactly_once(fleet, stores, ecr_a, ecr_b, v2a, v2b, repo):
    audit = ClaimAudit(stores.database_url).install()
    try:
        ecr_a.create_repository(
            repositoryName=repo, imageScanningConfiguration={"scanOnPush": True}
        )
        images = [fx.image_of(fx.debian12_files(), {f"srv/{i}.txt": f"image {i}\n".encode()})
                  for i in range(12)]  # fmt: skip
        for i, image in enumerate(images):
            push_v2((v2a, v2b)[i % 2], repo, image, f"v{i}")
        done = wait_for(lambda: _all_complete(ecr_b, repo, len(images)), timeout=60)
        assert done, describe_all(ecr_b, repo)

        ids = audit.image_ids(repo)
        assert sorted(ids) == sorted(image.digest for image in images)
        writes = scan_writes(audit.results(), list(ids.values()))
        assert all(statuses == ["IN_PROGRESS", "COMPLETE"] for statuses in writes.values()), writes
        claims = [claim for claim in audit.claims() if claim[2] in set(ids.values())]
        assert sorted(claim[2] for claim in claims) == sorted(ids.values()), claims
        assert audit.queued_jobs() == 0
        workers = {claim[1].rsplit(":", 1)[1] for claim in claims}
        assert workers <= {str(server.process.pid) for server in fleet}, workers
        assert len(workers) == 2, f"only {workers} claimed jobs; both processes should have"
    finally:
        audit.close()
    for detail in same_view(ecr_a, ecr_b, repo):
        assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == {"UNDEFINED": 2}


def _all_complete(ecr: Any, repo: str, count: int) -> bool:
    details = describe_all(ecr, repo)
    statuses = [d.get("imageScanStatus", {}).get("status") for d in details]
    return len(details) == count and statuses == ["COMPLETE"] * count


# --------------------------------------------------------------------------- --workers


@pytest.mark.parametrize("stores_kind", ["default", "postgres-s3"])
def test_a_two_worker_server_serves_pushes_and_pulls(
    stores_kind, request, skopeo: Skopeo, workdir, tmp_path
):
    auth = write_auth_file(tmp_path / "auth.toml", [KEY])
    if stores_kind == "default":  # SQLite and files in one data dir, shared by both workers
        server = DockyardServer(extra_args=["--auth-file", str(auth), "--create-on-push",
                                            "--workers", "2"])  # fmt: skip
        server.start()
    else:
        server = start_server(request.getfixturevalue("stores"), "--workers", "2")
    try:
        assert len(_worker_pids(server)) == 2
        ecr = ecr_client(server.url, KEY)
        token = registry_token(ecr)
        image = build_image(three_layer_files(f"workers-{stores_kind}"))
        layout = write_layout(workdir / "src", {"v1": image})
        creds = skopeo_creds(token)
        ref = f"docker://{server.address}/multi/workers:v1"
        assert skopeo.copy(f"oci:{layout}:v1", ref, "--dest-creds", creds,
                           digestfile=workdir / "d") == image.digest  # fmt: skip
        skopeo.copy(ref, f"dir:{workdir / 'out'}", "--src-creds", creds)
        assert (workdir / "out" / "manifest.json").read_bytes() == image.manifest.data
        for blob in image.blobs:
            assert (workdir / "out" / blob.digest[7:]).read_bytes() == blob.data

        # The workers race for one tag: their writes serialise on the shared database.
        race = variants(f"workers-{stores_kind}", 10)
        with v2_client(server.url, token) as http:
            ociapi.push_blob(http, "multi/race", race[0].config.data)
            ociapi.push_blob(http, "multi/race", race[0].layers[0].data)
        assert race_tag([server], KEY, token, "multi/race", "latest", race) == [""] * 10
        details = describe_all(ecr_client(server.url, KEY), "multi/race")
        assert len(details) == 10
        assert sum(1 for d in details if d.get("imageTags")) == 1
    finally:
        server.close()


def _worker_pids(server: DockyardServer) -> list[int]:
    """The uvicorn worker processes under the server (not multiprocessing's resource tracker)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]  # fmt: skip
