"""Random `/v2/` requests: every route, any method, names and references valid or not,
headers (Range, Content-Range, Content-Type, Accept), query parameters and bodies, including
manifests built from the seeded blobs and then broken in one way or another."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz import world
from tests.fuzz.values import DEEP_JSON, INTEGERS, TEXT, dumps, json_values, latin1

MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
]


@dataclass
class OciRequest:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""

    def __repr__(self) -> str:  # Hypothesis prints this for a failing example
        body = self.body if len(self.body) < 300 else self.body[:300] + b"..."
        return (
            f"OciRequest({self.method} {self.path[:300]} q={self.query!r:.300} "
            f"h={self.headers!r:.600} body={body!r})"
        )


def _segment(text: str) -> str:
    # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, which a client may send.
    return quote(text, safe="", errors="surrogatepass")


def url_of(request: OciRequest) -> str:
    """The request target: the path, then the query percent-encoded by hand (as sent)."""
    if not request.query:
        return request.path
    pairs = [f"{_segment(key)}={_segment(value)}" for key, value in request.query]
    return request.path + "?" + "&".join(pairs)


REAL_NAMES = st.sampled_from([*world.REPOSITORIES, "fuzz/new", "fuzz/app/deeper"])
NAMES = st.one_of(
    REAL_NAMES,
    REAL_NAMES,
    REAL_NAMES,  # weights: most requests aim at repositories that exist
    st.sampled_from(["UPPER/case", "a", "-lead", "a..b", "a//b", "x" * 300, "_catalog", "v2"]),
    st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}", fullmatch=True),
    TEXT.filter(bool).map(_segment),
)
REAL_DIGESTS = st.sampled_from([*world.MANIFEST_DIGESTS, *world.BLOB_DIGESTS, world.UNKNOWN_DIGEST])
DIGESTS = st.one_of(
    REAL_DIGESTS,
    REAL_DIGESTS,
    st.sampled_from(["sha256:abc", "sha512:" + "a" * 128, "md5:" + "a" * 32, "sha256:" + "G" * 64]),
    TEXT.filter(bool).map(_segment),
)
REFERENCES = st.one_of(
    st.sampled_from([*world.TAGS, ".INVALID_MANIFEST_NAME", "a" * 129, "-x"]),
    DIGESTS,
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True),
)
UPLOAD_IDS = st.one_of(st.uuids().map(str), TEXT.filter(bool).map(_segment))


ROUTES = {  # kind -> (path template, the methods it serves, query keys it reads)
    "base": ("/v2/", ["GET", "HEAD"], []),
    "catalog": ("/v2/_catalog", ["GET"], ["n", "last"]),
    "tags": ("/v2/{name}/tags/list", ["GET"], ["n", "last"]),
    "manifest": ("/v2/{name}/manifests/{ref}", ["GET", "HEAD", "PUT", "DELETE"], []),
    "blob": ("/v2/{name}/blobs/{digest}", ["GET", "HEAD", "DELETE"], []),
    "start": ("/v2/{name}/blobs/uploads/", ["POST"], ["digest", "mount", "from"]),
    "upload": ("/v2/{name}/blobs/uploads/{upload}", ["GET", "PATCH", "PUT", "DELETE"], ["digest"]),
    "referrers": ("/v2/{name}/referrers/{digest}", ["GET"], ["artifactType"]),
    "junk": ("/v2/{junk}", ["GET"], []),
}
# Routes by how much parsing they do: manifests, blobs and uploads come up more often.
KINDS = [kind for kind in ROUTES for _ in range(3 if kind in ("manifest", "blob", "upload") else 1)]
# Numbers as query parameters and headers carry them, half of them ones that broke parsers.
EDGE_NUMBERS = st.sampled_from(["0", "0001", "²", "9" * 5000, "-1", " 1", str(2**63), ""])
NUMBERS = st.one_of(EDGE_NUMBERS, INTEGERS.map(str))
RANGES = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", NUMBERS, NUMBERS),
    st.builds(lambda a: f"bytes={a}-", NUMBERS),
    st.builds(lambda b: f"bytes=-{b}", NUMBERS),
    st.sampled_from(["bytes=0-0,2-3", "items=0-1", "bytes=", "bytes=-0", "bytes 0-1/2"]),
    TEXT,
)
CONTENT_RANGES = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", NUMBERS, NUMBERS),
    st.builds(lambda a, b, c: f"bytes {a}-{b}/{c}", NUMBERS, NUMBERS, NUMBERS | st.just("*")),
    TEXT,
)
QUERY_VALUES = {
    "n": NUMBERS,
    "last": st.one_of(st.sampled_from(world.TAGS), NAMES, TEXT),
    "digest": DIGESTS,
    "mount": DIGESTS,
    "from": NAMES,
    "artifactType": TEXT,
}
# Not `X-Dockyard-Signature`: non-ASCII signatures are issue 10's "edge" part (another helper's);
# valid and invalid signatures have their own tests.
ANY_QUERY_KEY = st.sampled_from(sorted(QUERY_VALUES))
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Range": RANGES.map(latin1),
        "Content-Range": CONTENT_RANGES.map(latin1),
        "Content-Type": (st.sampled_from(MANIFEST_TYPES) | TEXT).map(latin1),
        "Accept": (
            st.lists(st.sampled_from([*MANIFEST_TYPES, "*/*"]) | TEXT, max_size=3)
            .map(", ".join)
            .map(latin1)
        ),
    },
)


def _image_document(index: int) -> dict[str, Any]:
    return json.loads(world.IMAGES[index % len(world.IMAGES)].manifest.data)


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """A seeded image's manifest with at most a few fields replaced, or anything at all."""
    kind = draw(
        st.sampled_from(
            ["mutated", "mutated", "resized", "resized", "index", "json", "deep", "bytes", "utf16"]
        )
    )
    if kind == "json":
        return dumps(draw(json_values()))
    if kind == "deep":
        return b'{"schemaVersion":2,"config":' + draw(DEEP_JSON) + b"}"
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    document = _image_document(draw(st.integers(0, 5)))
    if kind == "index":
        children = [image.manifest.descriptor() for image in world.IMAGES]
        document = {"schemaVersion": 2, "mediaType": MANIFEST_TYPES[1], "manifests": children}
    if kind == "resized":  # a size that lies about a stored blob, by a little or a lot
        target = draw(st.sampled_from([document["config"], *document["layers"]]))
        target["size"] += draw(st.sampled_from([1, -1, 10**12, 2**63]) | st.integers(-10, 10**9))
    for _ in range(draw(st.integers(0, 3))):
        _mutate(draw, document)
    body = dumps(document)
    return body.decode().encode("utf-16") if kind == "utf16" else body


def _mutate(draw: st.DrawFn, document: dict[str, Any]) -> None:
    lists = [document.get(key) for key in ("layers", "manifests")]
    descriptors = [
        document.get("config"),
        *(d for found in lists if isinstance(found, list) for d in found),
    ]
    target = draw(st.sampled_from([d for d in descriptors if isinstance(d, dict)] or [document]))
    key = draw(
        st.sampled_from(
            [
                "size",
                "digest",
                "mediaType",
                "urls",
                "annotations",
                "schemaVersion",
                "subject",
                "artifactType",
                "layers",
            ]
        )
    )
    value = draw(st.one_of(INTEGERS, DIGESTS, st.sampled_from(MANIFEST_TYPES), json_values(6)))
    holder = document if key in ("schemaVersion", "subject", "artifactType", "layers") else target
    holder[key] = value


BODIES = st.one_of(st.just(b""), st.binary(max_size=64), manifests())


@st.composite
def oci_requests(draw: st.DrawFn) -> OciRequest:
    """Mostly a route's own methods, query keys and headers (so requests get past routing and
    reach the code that parses them), sometimes anything."""
    kind = draw(st.sampled_from(KINDS))
    template, methods, keys = ROUTES[kind]
    method = draw(st.sampled_from(methods * 4 + ["POST", "PATCH", "OPTIONS"]))
    path = template.format(
        name=draw(NAMES),
        ref=draw(REFERENCES),
        digest=draw(DIGESTS),
        upload=draw(UPLOAD_IDS),
        junk=_segment(draw(TEXT)),
    )
    chosen = draw(
        st.lists(st.sampled_from(keys) | ANY_QUERY_KEY if keys else ANY_QUERY_KEY, max_size=3)
    )
    query = [(key, draw(QUERY_VALUES[key])) for key in chosen]
    headers = draw(HEADERS)
    if kind == "blob" and draw(st.booleans()):
        headers["Range"] = latin1(draw(RANGES))
    if method == "PATCH" and draw(st.booleans()):
        headers["Content-Range"] = latin1(draw(CONTENT_RANGES))
    if kind == "manifest" and method == "PUT":
        body = draw(manifests())
        headers.setdefault("Content-Type", latin1(draw(st.sampled_from(MANIFEST_TYPES) | TEXT)))
    else:
        body = draw(BODIES) if method in ("PUT", "POST", "PATCH") else b""
    return OciRequest(method, path, query, headers, body)
