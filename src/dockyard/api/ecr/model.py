"""botocore's ECR service model, loaded once, with the few look-ups the adapter needs.

The model (`botocore/data/ecr/2015-09-21/service-2.json`) is the precise contract of the ECR API:
every operation names an input shape, an output shape and the error shapes it may return, and
every shape is one of::

    structure  {members: {name: {shape}}, required: [...]}
    list       {member: {shape}, min?, max?}
    map        {key: {shape}, value: {shape}}
    string     {min?, max?, pattern?, enum?}
    integer | long | double  {min?, max?}
    boolean | blob | timestamp

Validation (`validation.py`) and serialization (`serialize.py`) walk these dictionaries, so the
server follows whatever botocore version is installed. The raw dictionaries are returned as they
are: callers must treat them as read-only.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = [
    "error_shape_names",
    "has_operation",
    "input_shape_name",
    "operation",
    "operation_names",
    "output_shape_name",
    "service_model",
    "shape",
    "shape_names",
    "signing_name",
    "target_prefix",
]

Shape = dict[str, Any]


@functools.cache
def service_model() -> dict[str, Any]:
    """The whole `service-2` document, loaded from the installed botocore on first use."""
    import botocore.loaders  # here: importing botocore costs a server's start a few tenths

    return botocore.loaders.Loader().load_service_model("ecr", "service-2")


@functools.cache
def operation_names() -> frozenset[str]:
    """Every operation the installed botocore knows, e.g. `DescribeImages`."""
    return frozenset(service_model()["operations"])


def has_operation(name: str) -> bool:
    return name in operation_names()


def operation(name: str) -> dict[str, Any]:
    """The operation's model entry; `KeyError` for a name botocore does not know."""
    return service_model()["operations"][name]


def input_shape_name(op_name: str) -> str | None:
    ref = operation(op_name).get("input")
    return ref["shape"] if ref else None


def output_shape_name(op_name: str) -> str | None:
    ref = operation(op_name).get("output")
    return ref["shape"] if ref else None


@functools.cache
def error_shape_names(op_name: str) -> frozenset[str]:
    """The `__type` names this operation may return, e.g. `RepositoryNotFoundException`."""
    return frozenset(ref["shape"] for ref in operation(op_name).get("errors", ()))


def shape(name: str) -> Shape:
    """One shape by name; `KeyError` if the model has no such shape."""
    return service_model()["shapes"][name]


def shape_names() -> frozenset[str]:
    return frozenset(service_model()["shapes"])


def target_prefix() -> str:
    """`AmazonEC2ContainerRegistry_V20150921`: `X-Amz-Target` is this plus `.` plus the op."""
    return service_model()["metadata"]["targetPrefix"]


def signing_name() -> str:
    """The SigV4 service name in credential scopes: `ecr`."""
    return service_model()["metadata"]["signingName"]
