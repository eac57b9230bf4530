"""Property: no ECR request body, shaped by botocore's model or not, gets a 5xx or an error the
operation does not declare, for every operation Dockyard serves (in process)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.api.ecr.operations import OPERATIONS
from tests.fuzz import world
from tests.fuzz.conftest import Target, fuzz_settings
from tests.fuzz.ecr_bodies import body_for
from tests.fuzz.oci_requests import DIGESTS
from tests.fuzz.values import INTEGERS

# Operations that change or remove what other examples aim at run last, so the seeded world
# serves the others first (DeleteRepository with force empties a seeded repository).
DESTRUCTIVE = ("BatchDeleteImage", "DeleteRepository")
ORDER = sorted(OPERATIONS, key=lambda name: (name in DESTRUCTIVE, name))
PART_BYTES = st.one_of(st.integers(0, 64), INTEGERS)


def test_random_layer_uploads(inprocess: Target) -> None:
    """InitiateLayerUpload for real, then parts and a completion with random members, so the
    calls reach the upload state machine rather than stop at an unknown upload id."""

    @fuzz_settings(40)
    @given(
        parts=st.lists(st.tuples(PART_BYTES, PART_BYTES, st.binary(max_size=32)), max_size=3),
        digests=st.lists(DIGESTS | st.sampled_from(world.BLOB_DIGESTS), max_size=2),
    )
    def one(parts: list[tuple[int, int, bytes]], digests: list[str]) -> None:
        repo = {"repositoryName": world.REPOSITORIES[0]}
        started = inprocess.ecr("InitiateLayerUpload", json.dumps(repo).encode()).json()
        upload = {**repo, "uploadId": started["uploadId"]}
        for first, last, data in parts:
            part = {
                **upload,
                "partFirstByte": first,
                "partLastByte": last,
                "layerPartBlob": base64.b64encode(data).decode(),
            }
            inprocess.ecr("UploadLayerPart", json.dumps(part).encode())
        completion = {**upload, "layerDigests": digests}
        inprocess.ecr("CompleteLayerUpload", json.dumps(completion).encode())

    one()
    inprocess.assert_healthy()


@pytest.mark.parametrize("shaped", [True, False], ids=["shaped", "unshaped"])
@pytest.mark.parametrize("operation", ORDER)
def test_random_ecr_bodies(inprocess: Target, operation: str, shaped: bool) -> None:
    @fuzz_settings(10)
    @given(body=body_for(operation, shaped))
    def one(body: bytes) -> None:
        inprocess.ecr(operation, body)

    one()


def test_still_healthy_after_the_ecr_fuzzing(inprocess: Target) -> None:
    inprocess.assert_healthy()


def test_every_served_operation_is_fuzzed() -> None:
    assert set(ORDER) == set(OPERATIONS) and len(OPERATIONS) >= 30
