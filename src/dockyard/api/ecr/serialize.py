"""Render operation results as AWS JSON 1.1 bodies by walking the model's output shape.

Handlers return plain dictionaries keyed by the model's member names; `serialize_output` turns
one into the JSON-ready body botocore expects:

* `None` members are dropped (AWS omits absent members; `nextToken` is omitted on the last page);
* timestamps (`datetime`, naive means UTC, or epoch seconds) become epoch seconds as a float
  rounded to milliseconds, e.g. `1565128275.0`;
* blobs (`bytes`) become base64 strings; `Enum` members become their `.value`;
* empty lists are kept (`"failures": []` as AWS sends it), except `imageTags`, which ECR omits
  for untagged images.

Anything the output shape does not allow is a programming error and raises `OutputShapeError`:
a member the shape does not declare, a wrong Python type, or a string outside the shape's
`enum`. That turns "every member we emit exists in the output shape" into a check every test
run makes for free.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dockyard.api.ecr import model

__all__ = ["OutputShapeError", "serialize_output", "serialize_shape"]

Shape = dict[str, Any]

# Members AWS leaves out entirely when they are empty, rather than sending `[]`.
_OMIT_WHEN_EMPTY = frozenset({"imageTags"})


class OutputShapeError(ValueError):
    """A result does not fit the model's output shape: a bug in the handler, not the client."""


def serialize_output(operation_name: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON-ready response body of `operation_name` for the handler's `result`."""
    shape_name = model.output_shape_name(operation_name)
    if shape_name is None:
        if result:
            raise OutputShapeError(f"{operation_name} has no output, got {sorted(result)}")
        return {}
    return serialize_shape(shape_name, result or {})


def serialize_shape(shape_name: str, value: Any) -> Any:
    """Serialize `value` as the named shape (also useful for error shapes' extra members)."""
    return _value(model.shape(shape_name), value, shape_name)


def _value(shape: Shape, value: Any, where: str) -> Any:
    return _WRITERS[shape["type"]](shape, value, where)


def _structure(shape: Shape, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise OutputShapeError(f"{where}: expected a mapping, got {type(value).__name__}")
    members = shape.get("members", {})
    undeclared = sorted(set(value) - set(members))
    if undeclared:
        raise OutputShapeError(f"{where}: members not in the output shape: {undeclared}")
    body: dict[str, Any] = {}
    for name, item in value.items():
        if item is None or (name in _OMIT_WHEN_EMPTY and not item):
            continue
        body[name] = _value(model.shape(members[name]["shape"]), item, f"{where}.{name}")
    return body


def _list(shape: Shape, value: Any, where: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise OutputShapeError(f"{where}: expected a list, got {type(value).__name__}")
    element = model.shape(shape["member"]["shape"])
    return [_element(element, item, f"{where}[{i}]") for i, item in enumerate(value)]


def _map(shape: Shape, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise OutputShapeError(f"{where}: expected a mapping, got {type(value).__name__}")
    key_shape = model.shape(shape["key"]["shape"])
    value_shape = model.shape(shape["value"]["shape"])
    return {
        _element(key_shape, key, f"{where} key"): _element(value_shape, item, f"{where}[{key!r}]")
        for key, item in value.items()
    }


def _element(shape: Shape, value: Any, where: str) -> Any:
    # Inside a collection there is no member to omit, so a None is a bug, not an absence.
    if value is None:
        raise OutputShapeError(f"{where}: None inside a collection")
    return _value(shape, value, where)


def _string(shape: Shape, value: Any, where: str) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str):
        raise OutputShapeError(f"{where}: expected a string, got {type(value).__name__}")
    allowed = shape.get("enum")
    if allowed is not None and value not in allowed:
        raise OutputShapeError(f"{where}: {value!r} is not one of {allowed}")
    return value


def _integer(shape: Shape, value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutputShapeError(f"{where}: expected an int, got {type(value).__name__}")
    return value


def _double(shape: Shape, value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise OutputShapeError(f"{where}: expected a number, got {type(value).__name__}")
    return float(value)


def _boolean(shape: Shape, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise OutputShapeError(f"{where}: expected a bool, got {type(value).__name__}")
    return value


def _blob(shape: Shape, value: Any, where: str) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise OutputShapeError(f"{where}: expected bytes, got {type(value).__name__}")
    return base64.b64encode(bytes(value)).decode("ascii")


def _timestamp(shape: Shape, value: Any, where: str) -> float:
    """Epoch seconds with millisecond precision, the JSON 1.1 `unixtimestamp` format."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp(), 3)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), 3)
    raise OutputShapeError(f"{where}: expected a datetime or epoch seconds, got {value!r}")


_WRITERS: dict[str, Callable[[Shape, Any, str], Any]] = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "float": _double,
    "boolean": _boolean,
    "blob": _blob,
    "timestamp": _timestamp,
}
