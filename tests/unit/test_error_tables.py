"""Errors are raised once and rendered twice: every concrete domain error is in both tables."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from dockyard.api.oci.errors import OCI_ERRORS
from dockyard.domain import errors as e
from dockyard.domain.errors import concrete_errors

# Error codes of the OCI distribution spec (spec.md, "Error Codes"), plus TAG_INVALID, which
# the Docker registry API (distribution's errcode table) defines and clients still understand.
OCI_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
    "TAG_INVALID",
}
ABSTRACT = {e.DockyardError, e.InvalidInput, e.NotFound, e.Conflict}


def _ecr_adapter_missing() -> bool:
    try:
        return importlib.util.find_spec("dockyard.api.ecr.errors") is None
    except ModuleNotFoundError:
        return True


def test_concrete_errors_are_the_leaves_of_the_tree() -> None:
    leaves = set(concrete_errors())
    assert leaves.isdisjoint(ABSTRACT)
    assert {
        e.NameInvalid,
        e.DigestMismatch,
        e.UploadNotFound,
        e.TagImmutable,
        e.Unsupported,
    } <= leaves
    assert all(issubclass(cls, e.DockyardError) and not cls.__subclasses__() for cls in leaves)


@pytest.mark.parametrize("error", concrete_errors(), ids=lambda cls: cls.__name__)
def test_every_concrete_error_has_an_oci_code(error: type[e.DockyardError]) -> None:
    assert error in OCI_ERRORS


def test_oci_table_maps_only_concrete_errors_to_spec_codes() -> None:
    assert set(OCI_ERRORS) == set(concrete_errors())
    for error, (status, code) in OCI_ERRORS.items():
        assert 400 <= status < 500, error
        assert code in OCI_CODES, error


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (e.NameInvalid, 400, "NAME_INVALID"),
        (e.DigestMismatch, 400, "DIGEST_INVALID"),
        (e.RepositoryNotFound, 404, "NAME_UNKNOWN"),
        (e.ImageNotFound, 404, "MANIFEST_UNKNOWN"),
        (e.BlobNotFound, 404, "BLOB_UNKNOWN"),
        (e.UploadNotFound, 404, "BLOB_UPLOAD_UNKNOWN"),
        (e.LayersNotFound, 400, "MANIFEST_BLOB_UNKNOWN"),
        (e.UploadOutOfOrder, 416, "BLOB_UPLOAD_INVALID"),
        (e.RangeInvalid, 416, "SIZE_INVALID"),
        (e.ManifestTooLarge, 413, "SIZE_INVALID"),
        (e.ImageReferencedByManifestList, 409, "DENIED"),
    ],
)
def test_oci_answers_the_spec_names(error: type[e.DockyardError], status: int, code: str) -> None:
    assert OCI_ERRORS[error] == (status, code)


@pytest.mark.xfail(
    _ecr_adapter_missing(), reason="ECR adapter not wired yet", strict=True, raises=ImportError
)
def test_every_concrete_error_has_an_ecr_type() -> None:
    ecr_errors = importlib.import_module("dockyard.api.ecr.errors").ECR_ERRORS
    assert [cls.__name__ for cls in concrete_errors() if cls not in ecr_errors] == []
