"""Random bodies for every ECR operation, generated from botocore's model of its input shape.

A *shaped* body follows the model's types (names and digests often real ones from the seeded
world, so calls reach the services); an *unshaped* one may put any JSON value at any member,
and the raw bytes may be broken JSON, non-objects, numbers past `int`'s limit, lone
surrogates or JSON nested 10,000 deep. Either way the answer must be a 200 or a modeled error.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from dockyard.api.ecr import model
from dockyard.api.ecr.validation import compiled_pattern
from tests.fuzz import world
from tests.fuzz.oci_requests import DIGESTS, manifests
from tests.fuzz.values import DEEP_JSON, EDGE_TEXT, INTEGERS, SCALARS, TEXT, dumps, json_values

MAX_DEPTH = 8
REGION = "us-east-1"


def _arn(name: str, account: str = world.ACCOUNT) -> str:
    return f"arn:aws:ecr:{REGION}:{account}:repository/{name}"


# Members worth aiming at the seeded world (a random name almost never exists).
_REAL_DIGESTS = st.sampled_from(
    [*world.MANIFEST_DIGESTS, *world.BLOB_DIGESTS, world.UNKNOWN_DIGEST]
)
_BY_MEMBER: dict[str, st.SearchStrategy[Any]] = {
    "repositoryName": st.sampled_from([*world.REPOSITORIES, "fuzz/missing"]),
    "registryId": st.sampled_from([world.ACCOUNT, world.OTHER_ACCOUNT]),
    "imageDigest": _REAL_DIGESTS,
    "layerDigest": _REAL_DIGESTS,
    "imageTag": st.sampled_from(world.TAGS),
    "resourceArn": st.sampled_from(
        [_arn(n) for n in world.REPOSITORIES] + [_arn("fuzz/app", world.OTHER_ACCOUNT)]
    ),
    "imageManifest": manifests().map(lambda b: b.decode("utf-8", "replace")),
    "policyText": st.one_of(
        json_values(8).map(lambda v: dumps(v).decode()),
        DEEP_JSON.map(lambda b: b[:10_000].decode()),
    ),
    "layerPartBlob": st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
}


def body_for(operation: str, shaped: bool) -> st.SearchStrategy[bytes]:
    """Bytes of a request body for `operation`."""
    shape_name = model.input_shape_name(operation)
    document = _structure(model.shape(shape_name), shaped, 0) if shape_name else st.just({})
    if shaped:
        return document.map(dumps)
    return st.one_of(document.map(dumps), _raw_bodies(document))


def _raw_bodies(document: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    def with_bad_number(d: dict[str, Any]) -> bytes:
        return dumps(d)[:-1] + (b', "n": ' if d else b'"n": ') + b"9" * 5000 + b"}"

    return st.one_of(
        st.binary(max_size=100),
        json_values().map(dumps),
        DEEP_JSON,
        document.map(with_bad_number),
        document.map(lambda d: dumps(d).replace(b'"', b"'", 1)),
        st.sampled_from(
            [
                b"",
                b"{}",
                b"null",
                b"[]",
                b'{"repositoryName": "\\ud800"}',
                b'{"a": NaN}',
                b"\xef\xbb\xbf{}",
                "{}".encode("utf-16"),
            ]
        ),
    )


def _structure(shape: dict[str, Any], shaped: bool, depth: int) -> st.SearchStrategy[Any]:
    members = shape.get("members", {})
    required = [name for name in shape.get("required", ()) if name in members]
    values = {name: _member(name, ref["shape"], shaped, depth + 1) for name, ref in members.items()}
    optional = {name: values[name] for name in members if name not in required}
    fixed = {name: values[name] for name in required}
    if not shaped:  # a required member may be missing too
        optional, fixed = values, {}
    return st.fixed_dictionaries(fixed, optional=optional)


def _member(name: str, shape_name: str, shaped: bool, depth: int) -> st.SearchStrategy[Any]:
    valid = _shape(model.shape(shape_name), shaped, depth)
    if name in _BY_MEMBER:
        valid = st.one_of(_BY_MEMBER[name], valid)
    return valid if shaped else st.one_of(valid, SCALARS, json_values(6))


def _shape(shape: dict[str, Any], shaped: bool, depth: int) -> st.SearchStrategy[Any]:
    if depth > MAX_DEPTH:
        return st.none()
    kind = shape["type"]
    if kind == "structure":
        return _structure(shape, shaped, depth)
    if kind == "list":
        element = _member("", shape["member"]["shape"], shaped, depth + 1)
        return st.lists(element, max_size=min(shape.get("max", 4), 4))
    if kind == "map":
        key = _shape(model.shape(shape["key"]["shape"]), shaped, depth + 1)
        value = _shape(model.shape(shape["value"]["shape"]), shaped, depth + 1)
        return st.dictionaries(key, value, max_size=3)
    return _SCALARS[kind](shape)


def _string(shape: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in shape:
        return st.one_of(st.sampled_from(shape["enum"]), TEXT)
    options = [TEXT, DIGESTS.filter(lambda d: ":" in d)]
    pattern = shape.get("pattern")
    # Hypothesis cannot draw from a pattern whose negated class holds non-ASCII (`\S` here).
    if pattern and "\\S" not in pattern and "\\s" not in pattern:
        options.append(st.from_regex(compiled_pattern(pattern), fullmatch=True))
    text = st.one_of(*options)
    if "max" in shape:
        text = st.one_of(text, st.just("x" * (shape["max"] + 1)))
    return text


def _number(shape: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = shape.get("min"), shape.get("max")
    in_range = st.integers(
        low if low is not None else -(2**63), high if high is not None else 2**63
    )
    return st.one_of(in_range, INTEGERS, st.floats(allow_nan=False, allow_infinity=False))


_SCALARS = {
    "string": _string,
    "integer": _number,
    "long": _number,
    "double": lambda shape: st.one_of(st.floats(), INTEGERS),
    "float": lambda shape: st.one_of(st.floats(), INTEGERS),
    "boolean": lambda shape: st.booleans(),
    "blob": lambda shape: st.one_of(
        st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), EDGE_TEXT
    ),
    "timestamp": lambda shape: st.one_of(st.floats(allow_nan=False), INTEGERS),
}
