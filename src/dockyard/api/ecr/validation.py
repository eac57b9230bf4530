"""Server-side validation of ECR request bodies against botocore's model.

botocore clients check only `required`, `min` and JSON types before sending; `max`, `enum` and
`pattern` are the server's job. `validate_input` walks the operation's input shape and raises
`ParameterInvalid` (rendered as `InvalidParameterException`) at the first failure, with ECR's
message template::

    Invalid parameter at '<name>' failed to satisfy constraint: '<text>'

Naming, as real ECR answers show it:

* `<name>` is the *member's own name*, never a dotted path: a bad `imageTag` inside `imageIds`
  is reported at `'imageTag'` (observed for DescribeImages), `filter.tagStatus` at `'tagStatus'`.
* A failing element of a list of scalars (or a map key/value) has no name of its own, so the
  collection's name is used and the text is wrapped, as ECR does for `registryIds`::

      Invalid parameter at 'registryIds' failed to satisfy constraint:
      'Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]'

Texts: `Member must have length less than or equal to N` (strings, lists, maps, decoded blobs),
`Member must have value greater than or equal to N` (numbers), `Member must satisfy enum value
set: [A, B]`, `must satisfy regular expression '<model pattern>'`, `Member must not be null`
(missing required member) and `Member must be of type <type>` (wrong JSON type).

The result is a cleaned copy of the body: `null` members and members the model does not declare
are dropped (unknown members are otherwise ignored), blobs are decoded to `bytes`, and integral
JSON floats given for integers (`5.0`) become `int`.

Model patterns are ECMAScript regular expressions (Smithy's `@pattern`); `translate_pattern`
rewrites the constructs whose meaning differs in Python's `re`, and values must match the whole
pattern (`re.fullmatch`), the way AWS's Java validators apply them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Any, NoReturn

from dockyard.api.ecr import model
from dockyard.domain.errors import ParameterInvalid

__all__ = ["compiled_pattern", "model_patterns", "translate_pattern", "validate_input"]

Shape = dict[str, Any]

# ECMAScript's \s (WhiteSpace and LineTerminator), which is not Python's Unicode \s.
_JS_SPACE = (
    "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
_CLASS_BODIES = {"d": "0-9", "w": "A-Za-z0-9_", "s": _JS_SPACE}
_OUTSIDE_CLASS = {
    **{k: f"[{v}]" for k, v in _CLASS_BODIES.items()},
    **{k.upper(): f"[^{v}]" for k, v in _CLASS_BODIES.items()},
}
# Characters that are literal in an ECMAScript class but start nested sets or set operations
# (with a FutureWarning today) in Python's.
_CLASS_LITERALS = {"[": "\\[", "&": "\\&", "~": "\\~", "|": "\\|"}


class _Problem(Exception):
    """One value broke one constraint; the caller knows which member name to report."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# -- public API ----------------------------------------------------------------------------


def validate_input(operation_name: str, params: Any) -> dict[str, Any]:
    """Check `params` (the decoded JSON body) against the operation's input shape.

    Returns the cleaned parameters; raises `ParameterInvalid` at the first violation. The
    operation must exist in the model (check `model.has_operation` first): `KeyError` otherwise.
    """
    if not isinstance(params, dict):
        raise ParameterInvalid("The request body must be a JSON object.")
    shape_name = model.input_shape_name(operation_name)
    if shape_name is None:
        return {}
    return _structure(model.shape(shape_name), params)


def translate_pattern(pattern: str) -> str:
    """Rewrite an ECMAScript pattern into Python `re` syntax with the same meaning.

    Handled: `\\d \\w \\s` and their negations (ASCII/ECMAScript sets, not Unicode ones),
    `(?<name>` groups, ECMAScript's empty `[]` and match-anything `[^]`, and class characters
    that Python would read as set syntax. Compile the result with `re.ASCII` (as
    `compiled_pattern` does) so `\\b` and negated escapes inside classes stay ASCII-based.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        piece, i, in_class = _translate_at(pattern, i, in_class)
        out.append(piece)
    return "".join(out)


@functools.cache
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    """The model pattern translated and compiled once."""
    return re.compile(translate_pattern(pattern), re.ASCII)


def model_patterns() -> frozenset[str]:
    """Every `pattern` in the installed ECR model (a test compiles them all)."""
    shapes = model.service_model()["shapes"].values()
    return frozenset(s["pattern"] for s in shapes if "pattern" in s)


# -- pattern translation -------------------------------------------------------------------


def _translate_at(pattern: str, i: int, in_class: bool) -> tuple[str, int, bool]:
    """Translate the token at `i`; returns (python text, next index, inside a class)."""
    ch = pattern[i]
    if ch == "\\" and i + 1 < len(pattern):
        return _translate_escape(pattern[i + 1], in_class), i + 2, in_class
    if in_class:
        if ch == "]":
            return "]", i + 1, False
        return _CLASS_LITERALS.get(ch, ch), i + 1, True
    if ch == "[":
        return _open_class(pattern, i)
    if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
        return "(?P<", i + 3, False
    return ch, i + 1, False


def _open_class(pattern: str, i: int) -> tuple[str, int, bool]:
    # In ECMAScript a `]` right after `[` or `[^` closes the class; in Python it is a literal.
    if pattern.startswith("[]", i):
        return "(?!)", i + 2, False
    if pattern.startswith("[^]", i):
        return "[\\s\\S]", i + 3, False
    if pattern.startswith("[^", i):
        return "[^", i + 2, True
    return "[", i + 1, True


def _translate_escape(letter: str, in_class: bool) -> str:
    if not in_class:
        return _OUTSIDE_CLASS.get(letter, "\\" + letter)
    # A positive set can be inlined in the enclosing class; a negated one cannot, and stays
    # as Python's escape, which re.ASCII makes ASCII-based like ECMAScript's.
    return _CLASS_BODIES.get(letter, "\\" + letter)


# -- the walk ------------------------------------------------------------------------------


def _fail(name: str, text: str) -> NoReturn:
    message = f"Invalid parameter at '{name}' failed to satisfy constraint: '{text}'"
    raise ParameterInvalid(message, parameter=name)


def _structure(shape: Shape, value: dict[str, Any]) -> dict[str, Any]:
    for name in shape.get("required", ()):
        if value.get(name) is None:
            _fail(name, "Member must not be null")
    cleaned: dict[str, Any] = {}
    for name, ref in shape.get("members", {}).items():
        item = value.get(name)
        if item is not None:
            cleaned[name] = _member(name, model.shape(ref["shape"]), item)
    return cleaned


def _member(name: str, shape: Shape, value: Any) -> Any:
    """Validate one named member; its failures are reported under its own name."""
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            _fail(name, _type_text(kind))
        return _structure(shape, value)
    if kind == "list":
        return _list(name, shape, value)
    if kind == "map":
        return _map(name, shape, value)
    try:
        return _scalar(shape, value, element=False)
    except _Problem as problem:
        _fail(name, problem.text)


def _list(name: str, shape: Shape, value: Any) -> list[Any]:
    if not isinstance(value, list):
        _fail(name, _type_text("list"))
    _check_collection_size(name, shape, len(value))
    element = model.shape(shape["member"]["shape"])
    return [_element(name, element, item) for item in value]


def _map(name: str, shape: Shape, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(name, _type_text("map"))
    _check_collection_size(name, shape, len(value))
    key_shape = model.shape(shape["key"]["shape"])
    value_shape = model.shape(shape["value"]["shape"])
    return {
        _element(name, key_shape, key): _element(name, value_shape, item)
        for key, item in value.items()
    }


def _element(name: str, shape: Shape, value: Any) -> Any:
    """A list element, map key or map value: it has no name, so the collection's is reported."""
    if shape["type"] in ("structure", "list", "map") and value is not None:
        return _member(name, shape, value)
    try:
        if value is None:
            raise _Problem("Member must not be null")
        return _scalar(shape, value, element=True)
    except _Problem as problem:
        _fail(name, f"Member must satisfy constraint: [{problem.text}]")


def _check_collection_size(name: str, shape: Shape, size: int) -> None:
    try:
        _check_bounds(shape, size, "length")
    except _Problem as problem:
        _fail(name, problem.text)


# -- scalars (raise _Problem; the caller adds the name) -------------------------------------


def _scalar(shape: Shape, value: Any, element: bool) -> Any:
    return _SCALARS[shape["type"]](shape, value, element)


def _string(shape: Shape, value: Any, element: bool) -> str:
    if not isinstance(value, str):
        raise _Problem(_type_text("string"))
    _check_bounds(shape, len(value), "length")
    enum = shape.get("enum")
    if enum is not None and value not in enum:
        raise _Problem(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    pattern = shape.get("pattern")
    if pattern is not None and not compiled_pattern(pattern).fullmatch(value):
        raise _Problem(_pattern_text(pattern, element))
    return value


def _integer(shape: Shape, value: Any, element: bool) -> int:
    # JSON has one number type; an integral float such as 5.0 is accepted as 5.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Problem(_type_text(shape["type"]))
    _check_bounds(shape, value, "value")
    return value


def _double(shape: Shape, value: Any, element: bool) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Problem(_type_text("double"))
    _check_bounds(shape, value, "value")
    return float(value)


def _boolean(shape: Shape, value: Any, element: bool) -> bool:
    if not isinstance(value, bool):
        raise _Problem(_type_text("boolean"))
    return value


def _blob(shape: Shape, value: Any, element: bool) -> bytes:
    if not isinstance(value, str):
        raise _Problem("Member must be a base64-encoded string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Problem("Member must be a base64-encoded string") from None
    _check_bounds(shape, len(data), "length")
    return data


def _timestamp(shape: Shape, value: Any, element: bool) -> float:
    # AWS JSON 1.1 sends timestamps as epoch seconds; ECR inputs have none today.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Problem(_type_text("timestamp"))
    return float(value)


_SCALARS: dict[str, Callable[[Shape, Any, bool], Any]] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "float": _double,
    "boolean": _boolean,
    "blob": _blob,
    "timestamp": _timestamp,
}


def _check_bounds(shape: Shape, measure: float, what: str) -> None:
    """`what` is `length` (strings, lists, maps, blobs) or `value` (numbers)."""
    low, high = shape.get("min"), shape.get("max")
    if low is not None and measure < low:
        raise _Problem(f"Member must have {what} greater than or equal to {low}")
    if high is not None and measure > high:
        raise _Problem(f"Member must have {what} less than or equal to {high}")


def _pattern_text(pattern: str, element: bool) -> str:
    # Both wordings are ECR's own: the first for a member, the second inside the wrapper
    # used for list elements (see the module docstring).
    if element:
        return f"Member must satisfy regular expression pattern: {pattern}"
    return f"must satisfy regular expression '{pattern}'"


def _type_text(kind: str) -> str:
    return f"Member must be of type {kind}"
