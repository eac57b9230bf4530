"""Property: no ECR request body, shaped by botocore's model or not, gets a 5xx or an error the
operation does not declare, for every operation Dockyard serves (in process)."""

from __future__ import annotations

import pytest
from hypothesis import given

from dockyard.api.ecr.operations import OPERATIONS
from tests.fuzz.conftest import Target, fuzz_settings
from tests.fuzz.ecr_bodies import body_for

# Operations that change or remove what other examples aim at run last, so the seeded world
# serves the others first (DeleteRepository with force empties a seeded repository).
DESTRUCTIVE = ("BatchDeleteImage", "DeleteRepository")
ORDER = sorted(OPERATIONS, key=lambda name: (name in DESTRUCTIVE, name))


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
