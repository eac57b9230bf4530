"""What ecr_bench.py measures, one function per figure, each timing boto3 calls client-side.

Every call is timed with ``time.perf_counter`` around the boto3 method, so a figure includes the
client's signing, the request, the server and botocore's parsing of the answer: what a boto3 user
waits for. Clients have retries off; any error fails the figure.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import statistics
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockbench.ecr_fill import OCI_MANIFEST, ImageSet
from dockbench.procstat import cpu_seconds

REPO = "bench/app"


# -- set-up ---------------------------------------------------------------------------------


def _layer_and_config() -> tuple[bytes, bytes]:
    """A real gzip'd tar with one small file, and an OCI config whose diff_id matches it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        body = b"hello from the ECR benchmark\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(body), 0
        tar.addfile(info, io.BytesIO(body))
    tar_bytes = raw.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()],
        },
    }
    return gzip.compress(tar_bytes, mtime=0), json.dumps(config).encode()


def _upload_blob(client, data: bytes) -> str:
    upload = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    client.upload_layer_part(
        repositoryName=REPO,
        uploadId=upload,
        partFirstByte=0,
        partLastByte=len(data) - 1,
        layerPartBlob=data,
    )
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = client.complete_layer_upload(repositoryName=REPO, uploadId=upload, layerDigests=[digest])
    assert done["layerDigest"] == digest, done
    return digest


def setup_dockyard(client) -> ImageSet:
    """CreateRepository, then the config and layer blobs through the ECR layer operations."""
    client.create_repository(repositoryName=REPO)
    layer, config = _layer_and_config()
    return ImageSet(
        _upload_blob(client, config), len(config), _upload_blob(client, layer), len(layer)
    )


def setup_moto(client) -> str:
    """CreateRepository; returns what moto said to InitiateLayerUpload (it has no blobs)."""
    client.create_repository(repositoryName=REPO)
    try:
        client.initiate_layer_upload(repositoryName=REPO)
    except Exception as exc:  # noqa: BLE001 - reported
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"InitiateLayerUpload answers HTTP {status} ({type(exc).__name__})"
    return "InitiateLayerUpload accepted"


# -- timing helpers -------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


@dataclass
class Timed:
    samples: list[float] = field(default_factory=list)  # seconds per call
    results: list = field(default_factory=list)  # what each call returned (small)
    server_cpu_s: float | None = None  # CPU the server's process tree used over all calls

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.samples)

    @property
    def p95_ms(self) -> float:
        return 1000 * p95(self.samples)

    @property
    def cpu_ms(self) -> float | None:
        """Server CPU per call, ms (steadier than latency when the machine is busy)."""
        if self.server_cpu_s is None:
            return None
        return 1000 * self.server_cpu_s / len(self.samples)

    def summary(self) -> dict:
        return {
            "calls": len(self.samples),
            "median_ms": self.median_ms,
            "p95_ms": self.p95_ms,
            "server_cpu_ms": self.cpu_ms,
            "samples_ms": [round(1000 * s, 3) for s in self.samples],
        }


def repeat(
    call: Callable[[], object],
    calls: int,
    budget_s: float,
    min_calls: int = 5,
    pid: int | None = None,
) -> Timed:
    """Up to `calls` timed calls, stopping early (after `min_calls`) once `budget_s` is spent.
    With `pid`, also the server's CPU seconds over the calls (from /proc)."""
    timed, start = Timed(), time.perf_counter()
    cpu0 = cpu_seconds(pid) if pid else None
    while len(timed.samples) < calls:
        t0 = time.perf_counter()
        result = call()
        timed.samples.append(time.perf_counter() - t0)
        timed.results.append(result)
        if len(timed.samples) >= min_calls and time.perf_counter() - start > budget_s:
            break
    if pid:
        timed.server_cpu_s = cpu_seconds(pid) - cpu0
    return timed


# -- PutImage -------------------------------------------------------------------------------


def put_images(client, images: ImageSet, start: int, stop: int) -> list[float]:
    """PutImage of images start..stop-1 (tag per ImageSet.tag); seconds per call."""
    samples = []
    for i in range(start, stop):
        manifest = images.manifest(i)
        digest = images.digest(manifest)
        tag = images.tag(i)
        extra = {"imageTag": tag} if tag else {}
        t0 = time.perf_counter()
        out = client.put_image(
            repositoryName=REPO,
            imageManifest=manifest.decode(),
            imageManifestMediaType=OCI_MANIFEST,
            imageDigest=digest,
            **extra,
        )
        samples.append(time.perf_counter() - t0)
        if out["image"]["imageId"]["imageDigest"] != digest:
            raise RuntimeError(f"PutImage {i}: digest {out['image']['imageId']} != {digest}")
    return samples


def rate(samples: list[float]) -> float:
    """Images per second over a block of PutImage calls (sum of call times)."""
    return len(samples) / sum(samples)


# -- DescribeImages -------------------------------------------------------------------------


def describe_page(client, token: str | None = None) -> Callable[[], int]:
    def call() -> int:
        kwargs = {"nextToken": token} if token else {}
        return len(client.describe_images(repositoryName=REPO, **kwargs)["imageDetails"])

    return call


def describe_ids(client, digests: list[str]) -> Callable[[], int]:
    ids = [{"imageDigest": d} for d in digests]

    def call() -> int:
        return len(client.describe_images(repositoryName=REPO, imageIds=ids)["imageDetails"])

    return call


@dataclass
class Listing:
    seconds: float
    pages: int
    count: int
    distinct: int
    tagged: int
    tokens: list[tuple[int, str]]  # (images listed before the page, token asking for it)


def full_listing(client, tag_status: str | None = None, page_size: int | None = None) -> Listing:
    """Every image through boto3's DescribeImages paginator (its default page unless page_size).
    The time covers the whole iteration, botocore's parsing included."""
    kwargs: dict = {"repositoryName": REPO}
    if tag_status:
        kwargs["filter"] = {"tagStatus": tag_status}
    if page_size:
        kwargs["PaginationConfig"] = {"PageSize": page_size}
    pages = client.get_paginator("describe_images").paginate(**kwargs)
    digests: set[str] = set()
    count = tagged = 0
    tokens: list[tuple[int, str]] = []
    t0 = time.perf_counter()
    n_pages = 0
    for page in pages:
        n_pages += 1
        details = page["imageDetails"]
        count += len(details)
        tagged += sum(1 for d in details if d.get("imageTags"))
        digests.update(d["imageDigest"] for d in details)
        if page.get("nextToken"):
            tokens.append((count, page["nextToken"]))
    seconds = time.perf_counter() - t0
    return Listing(seconds, n_pages, count, len(digests), tagged, tokens)


def position_tokens(listing: Listing) -> dict[str, tuple[int, str | None]]:
    """Tokens for a default page at the start, middle and end of a listing paged by 1,000.

    "end" is the last token whose page still holds at least 100 images (so it is a full page)."""
    total = listing.count
    middle = min(listing.tokens, key=lambda t: abs(t[0] - total // 2))
    full = [t for t in listing.tokens if total - t[0] >= 100]
    return {"start": (0, None), "middle": middle, "end": full[-1]}


def page_body(client) -> bytes:
    """The raw HTTP body of one default DescribeImages page, as the server sent it."""
    seen: dict = {}

    def keep(http_response, **_kw) -> None:
        seen["body"] = http_response.content

    client.meta.events.register("after-call.ecr.DescribeImages", keep)
    try:
        client.describe_images(repositoryName=REPO)
    finally:
        client.meta.events.unregister("after-call.ecr.DescribeImages", keep)
    return seen["body"]


def put_image_answer(images: ImageSet, account: str, i: int) -> bytes:
    """A PutImage answer shaped like Dockyard's, for the canned server."""
    manifest = images.manifest(i)
    return json.dumps(
        {
            "image": {
                "registryId": account,
                "repositoryName": REPO,
                "imageId": {"imageDigest": images.digest(manifest)},
                "imageManifest": manifest.decode(),
                "imageManifestMediaType": OCI_MANIFEST,
            }
        }
    ).encode()


def put_images_canned(client, images: ImageSet, calls: int) -> list[float]:
    """PutImage of image 0 `calls` times against the canned server (which answers image 0)."""
    return [s for _ in range(calls) for s in put_images(client, images, 0, 1)]
