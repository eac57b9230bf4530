"""The same properties against a real `dockyard serve`: fewer examples, but real HTTP parsing
(uvicorn + httptools) and a server log that must hold no traceback and no ERROR line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dockyard.api.ecr.operations import OPERATIONS
from tests.fuzz.conftest import Target, fuzz_settings
from tests.fuzz.ecr_bodies import body_for
from tests.fuzz.oci_requests import OciRequest, oci_requests


def test_random_oci_requests_on_a_real_server(subprocess_server: Target) -> None:
    @fuzz_settings(100)
    @given(request=oci_requests())
    def one(request: OciRequest) -> None:
        subprocess_server.oci(request)

    one()
    subprocess_server.assert_healthy()


@st.composite
def _ecr_calls(draw: st.DrawFn) -> tuple[str, bytes]:
    operation = draw(st.sampled_from(sorted(set(OPERATIONS) - {"DeleteRepository"})))
    return operation, draw(body_for(operation, draw(st.booleans())))


def test_random_ecr_bodies_on_a_real_server(subprocess_server: Target) -> None:
    @fuzz_settings(100)
    @given(call=_ecr_calls())
    def one(call: tuple[str, bytes]) -> None:
        subprocess_server.ecr(*call)

    one()
    subprocess_server.assert_healthy()
