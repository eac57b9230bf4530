"""Property: no `/v2/` request, however malformed, gets a 5xx or logs an error, and the
registry still stores and serves afterwards (in process; see test_fuzz_server.py for a real
server).

`test_random_oci_requests` draws any request; the others aim at one parser each (manifests,
Range, Content-Range, page sizes), where random requests seldom reach deep enough.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import world
from tests.fuzz.conftest import Target, fuzz_settings
from tests.fuzz.oci_requests import (
    CONTENT_RANGES,
    MANIFEST_TYPES,
    NUMBERS,
    RANGES,
    REAL_DIGESTS,
    REFERENCES,
    TEXT,
    OciRequest,
    latin1,
    manifests,
    oci_requests,
)

REPO = world.REPOSITORIES[0]


def test_random_oci_requests(inprocess: Target) -> None:
    @fuzz_settings(200)
    @given(request=oci_requests())
    def one(request: OciRequest) -> None:
        inprocess.oci(request)

    one()
    inprocess.assert_healthy()


def test_random_oci_request_sequences(inprocess: Target) -> None:
    """A few requests in a row: an upload started by one may be patched or finished by the next."""

    @fuzz_settings(30)
    @given(requests=st.lists(oci_requests(), min_size=2, max_size=5))
    def several(requests: list[OciRequest]) -> None:
        location = None
        for request in requests:
            if location and "/blobs/uploads/" in request.path and request.method != "POST":
                request.path = location.split("?")[0]
            response = inprocess.oci(request)
            location = response.headers.get("Location") or location

    several()
    inprocess.assert_healthy()


def test_random_manifest_pushes(inprocess: Target) -> None:
    @fuzz_settings(150)
    @given(
        body=manifests(), reference=REFERENCES, content_type=st.sampled_from(MANIFEST_TYPES) | TEXT
    )
    def one(body: bytes, reference: str, content_type: str) -> None:
        headers = {"Content-Type": latin1(content_type)}
        pushed = inprocess.oci(
            OciRequest("PUT", f"/v2/{REPO}/manifests/{reference}", [], headers, body)
        )
        if pushed.status_code == 201:
            assert_size_is_true(inprocess, pushed.headers["Docker-Content-Digest"], body)

    one()
    inprocess.assert_healthy()


def test_random_blob_ranges(inprocess: Target) -> None:
    @fuzz_settings(100)
    @given(digest=REAL_DIGESTS, header=RANGES, method=st.sampled_from(["GET", "HEAD"]))
    def one(digest: str, header: str, method: str) -> None:
        request = OciRequest(method, f"/v2/{REPO}/blobs/{digest}", [], {"Range": latin1(header)})
        inprocess.oci(request)

    one()


def test_random_chunk_ranges(inprocess: Target) -> None:
    @fuzz_settings(60)
    @given(header=CONTENT_RANGES, length=NUMBERS, body=st.binary(max_size=16))
    def one(header: str, length: str, body: bytes) -> None:
        started = inprocess.oci(OciRequest("POST", f"/v2/{REPO}/blobs/uploads/"))
        location = started.headers["Location"]
        headers = {"Content-Range": latin1(header)}
        inprocess.oci(OciRequest("PATCH", location, [], headers, body))
        inprocess.oci(OciRequest("DELETE", location))

    one()


def test_random_page_parameters(inprocess: Target) -> None:
    @fuzz_settings(80)
    @given(
        path=st.sampled_from(["/v2/_catalog", f"/v2/{REPO}/tags/list"]),
        query=st.lists(st.tuples(st.sampled_from(["n", "last"]), NUMBERS | TEXT), max_size=3),
    )
    def one(path: str, query: list[tuple[str, str]]) -> None:
        inprocess.oci(OciRequest("GET", path, query))

    one()


def assert_size_is_true(target: Target, digest: str, body: bytes) -> None:
    """An accepted image's imageSizeInBytes is the sum of its blobs as stored."""
    document = json.loads(body)
    if "manifests" in document or any(layer.get("urls") for layer in document["layers"]):
        return  # an index's size is its largest child's; foreign layers are not stored here
    stored = 0
    for descriptor in [document["config"], *document["layers"]]:
        head = target.http.head(f"/v2/{REPO}/blobs/{descriptor['digest']}")
        stored += int(head.headers["Content-Length"])
    described = target.ecr(
        "DescribeImages",
        json.dumps({"repositoryName": REPO, "imageIds": [{"imageDigest": digest}]}).encode(),
    )
    assert described.json()["imageDetails"][0]["imageSizeInBytes"] == stored, body
