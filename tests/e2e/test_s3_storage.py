"""`dockyard serve --storage-url s3://...` against moto in server mode, with real clients.

Checks that skopeo round trips are byte-identical when blobs live in S3, that blob downloads
may redirect to presigned S3 URLs, and that an upload's chunks may reach different server
processes (two servers sharing one data directory for metadata and one bucket for blobs).
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import OPEN_REGISTRY, three_layer_files
from tests.support import ociapi
from tests.support.images import Image, build_image, build_layer, pseudo_random_bytes, write_layout
from tests.support.s3 import CREDENTIALS, MotoS3
from tests.support.server import DockyardServer, free_port
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PREFIX = "registry"


class S3DockyardServer(DockyardServer):
    """A Dockyard server whose AWS credentials come from the environment, as in production."""

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            **CREDENTIALS,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }


def serve(
    moto: MotoS3,
    bucket: str,
    *extra: str,
    data_dir: Path | None = None,
    port: int | None = None,
    **options: str,
) -> S3DockyardServer:
    storage = moto.url(bucket, PREFIX, **options)
    args = [*OPEN_REGISTRY, "--storage-url", storage, *extra]
    return S3DockyardServer(data_dir, extra_args=args, port=port)


def keys(moto: MotoS3, bucket: str) -> list[str]:
    listed = moto.client().list_objects_v2(Bucket=bucket).get("Contents", ())
    return sorted(item["Key"] for item in listed)


def stored_blob_keys(image: Image) -> list[str]:
    return sorted(f"{PREFIX}/blobs/sha256/{b.digest[7:9]}/{b.digest[7:]}" for b in image.blobs)


@pytest.fixture(scope="module")
def big_image() -> Image:
    """Three small layers plus one of 12 MiB that cannot compress: a multipart upload."""
    big = build_layer({"data/big.bin": pseudo_random_bytes(12 * MiB, "s3")})
    layers = [*(build_layer(files) for files in three_layer_files("s3")), big]
    return build_image(layers, config={"Cmd": ["/app/main.py"]})


def test_skopeo_round_trip_through_s3(moto, bucket, skopeo: Skopeo, big_image, workdir):
    with serve(moto, bucket) as server:
        ref = f"docker://{server.address}/e2e/s3:v1"
        layout = write_layout(workdir / "src", {"v1": big_image})
        assert skopeo.copy(f"oci:{layout}:v1", ref, digestfile=workdir / "d") == big_image.digest
        skopeo.copy(ref, f"dir:{workdir / 'out'}")
        assert_dir_matches(workdir / "out", big_image)
        # Only published blobs remain: no upload objects, no incomplete multipart uploads.
        assert keys(moto, bucket) == stored_blob_keys(big_image)
        assert moto.leftovers(bucket) == stored_blob_keys(big_image)


def test_blob_downloads_redirect_to_presigned_urls(moto, bucket, skopeo, big_image, workdir):
    with serve(moto, bucket, "--redirect-blobs", redirect="1") as server:
        ref = f"docker://{server.address}/e2e/s3-redirect:v1"
        layout = write_layout(workdir / "src", {"v1": big_image})
        skopeo.copy(f"oci:{layout}:v1", ref)
        layer = big_image.blobs[-1]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            response = http.get(ociapi.blob_url("e2e/s3-redirect", layer.digest))
            assert response.status_code == 307, ociapi.describe(response)
            assert response.headers["Location"].startswith(f"{moto.endpoint}/{bucket}/{PREFIX}/")
            assert httpx.get(response.headers["Location"]).content == layer.data
            ranged = http.get(
                ociapi.blob_url("e2e/s3-redirect", layer.digest), headers={"Range": "bytes=5-9"}
            )
            assert ranged.status_code == 206 and ranged.content == layer.data[5:10]
        skopeo.copy(ref, f"dir:{workdir / 'out'}")  # skopeo follows the redirects
        assert_dir_matches(workdir / "out", big_image)


def test_an_upload_continues_on_another_server_process(moto, bucket, tmp_path):
    data = pseudo_random_bytes(14 * MiB + 5, "two processes")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    cuts = [0, 7, 6 * MiB, 6 * MiB + 1, 13 * MiB, len(data)]
    shared = tmp_path / "shared"
    with (
        serve(moto, bucket, data_dir=shared, port=free_port()) as first,
        serve(moto, bucket, data_dir=shared, port=free_port()) as second,
        httpx.Client(base_url=first.url, timeout=60) as a,
        httpx.Client(base_url=second.url, timeout=60) as b,
    ):
        location = ociapi.start_upload(a, "e2e/scale-out")
        for i, (start, end) in enumerate(itertools.pairwise(cuts)):
            http = (a, b)[i % 2]  # alternate processes chunk by chunk
            response = ociapi.patch_chunk(http, location, data[start:end], start)
            assert response.status_code == 202, ociapi.describe(response)
            location = response.headers["Location"]
        done = a.put(ociapi.with_params(location, digest=digest))
        assert done.status_code == 201, ociapi.describe(done)
        assert ociapi.fetch_blob(b, "e2e/scale-out", digest) == data
    assert [k for k in keys(moto, bucket) if "/uploads/" in k] == []


def test_serve_refuses_a_missing_bucket(moto, tmp_path):
    server = serve(moto, "no-such-bucket-anywhere", data_dir=tmp_path / "data")
    with pytest.raises(Exception, match="bucket no-such-bucket-anywhere does not exist"):
        server.start()
    server.close()


def assert_dir_matches(path: Path, image: Image) -> None:
    assert (path / "manifest.json").read_bytes() == image.manifest.data
    for blob in image.blobs:
        assert (path / blob.digest.split(":")[1]).read_bytes() == blob.data, blob.digest
