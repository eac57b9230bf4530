"""What the fuzzed registry holds before the first example: a few repositories, images, tags
and blobs, fixed here so strategies can aim at real names and digests as well as at nonsense.

Everything is derived from constant seeds, so the same digests come out on every run (which
`derandomize=True` needs to replay the same examples).
"""

from __future__ import annotations

import hashlib

import httpx

from tests.support.ecr import push_v2, small_image
from tests.support.images import Image

REPOSITORIES = ("fuzz/app", "fuzz/other", "fuzz/empty")
TAGS = ("v1", "latest", "v2")
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
IMAGES: tuple[Image, ...] = (small_image("fuzz-one", layers=2), small_image("fuzz-two"))
# An artifact whose subject is the first image (for referrers).
REFERRER: Image = small_image("fuzz-referrer", subject=IMAGES[0].manifest.descriptor())

MANIFEST_DIGESTS = tuple(image.digest for image in (*IMAGES, REFERRER))
BLOB_DIGESTS = tuple(dict.fromkeys(blob.digest for image in IMAGES for blob in image.blobs))
UNKNOWN_DIGEST = "sha256:" + hashlib.sha256(b"never pushed").hexdigest()


def seed(http: httpx.Client) -> None:
    """Push the world through `/v2/` (the client must carry a registry token)."""
    push_v2(http, REPOSITORIES[0], IMAGES[0], *TAGS[:2])
    push_v2(http, REPOSITORIES[0], IMAGES[1], TAGS[2])
    push_v2(http, REPOSITORIES[0], REFERRER)
    push_v2(http, REPOSITORIES[1], IMAGES[1], TAGS[0])
