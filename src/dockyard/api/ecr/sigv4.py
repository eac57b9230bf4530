"""Server-side verification of AWS Signature Version 4 on AWS JSON 1.1 requests.

What a signed request carries, and what `verify` recomputes from it::

    Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/ecr/aws4_request,
                   SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=<hex>
    X-Amz-Date: 20260101T120000Z          (or, failing that, an RFC 7231 `Date` header)

    canonical request = METHOD \\n canonical URI \\n canonical query \\n
                        name:value \\n ... (each signed header) \\n signed-header list \\n sha256(body)
    string to sign    = AWS4-HMAC-SHA256 \\n <X-Amz-Date> \\n <date>/<region>/<service>/aws4_request
                        \\n sha256(canonical request)
    signing key       = HMAC chain "AWS4"+secret -> date -> region -> service -> aws4_request

Failures raise `SignatureError(type_name, message)`, carrying the `__type` AWS JSON services
send: `MissingAuthenticationTokenException` (no Authorization header),
`IncompleteSignatureException` (a malformed one), `UnrecognizedClientException` (unknown key),
`InvalidSignatureException` (wrong scope, clock skew beyond 15 minutes, a required header left
unsigned, or signature mismatch). Host, X-Amz-Target and the header carrying the request time
must be signed: a signature over `host;x-amz-date` alone would let anyone who saw one request
switch its target.

The check comes in two halves so a server can refuse before reading a body:
`check_authorization` (headers only: form, scope, time, signed headers, known key) and
`check_body_signature` (the signature itself, which covers the body's hash); `verify` is both.
Messages follow the texts AWS is seen to return.

Inputs are taken as they arrive on the wire: `path` is the raw, still percent-encoded path
(ASGI `raw_path`), `query` the raw query string, `headers` a mapping (or pairs) whose `items()`
yields every header line, duplicates included (Starlette's `Headers` does). Query-string
(presigned) SigV4 is not supported, and `X-Amz-Security-Token` is only a signed header here.
An `X-Amz-Content-SHA256` header must equal the body's hash (so `UNSIGNED-PAYLOAD` is refused).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import NoReturn
from urllib.parse import quote, unquote

__all__ = [
    "DEFAULT_MUST_SIGN",
    "MAX_CLOCK_SKEW",
    "Presented",
    "SignatureError",
    "canonical_request",
    "check_authorization",
    "check_body_signature",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_CLOCK_SKEW = 15 * 60  # seconds, AWS's limit between the request time and the server clock
_BASIC_FORMAT = "%Y%m%dT%H%M%SZ"
_BASIC_DATE = re.compile(r"\d{8}T\d{6}Z")
#: Headers an AWS JSON 1.1 request must sign besides the one carrying its time: unsigned, the
#: target could be switched (DescribeRepositories -> DeleteRepository) under a valid signature.
#: Every AWS SDK signs them.
DEFAULT_MUST_SIGN = ("host", "x-amz-target")

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


class SignatureError(Exception):
    """An authentication failure with the AWS error `__type` and HTTP status to answer with."""

    def __init__(self, type_name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.status = status


@dataclass(frozen=True)
class _Authorization:
    header: str
    access_key: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: str
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True)
class Presented:
    """An Authorization header that passed `check_authorization`: what it claims, the request
    time, the header table, and the key's secret (None when signatures are not checked)."""

    auth: _Authorization
    amz_date: str
    headers: dict[str, list[str]]
    secret: str | None


# -- public API ----------------------------------------------------------------------------


def verify(
    method: str,
    path: str | bytes,
    query: str | bytes,
    headers: Headers,
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    now: float,
    service: str = "ecr",
    check_signature: bool = True,
    must_sign: Iterable[str] = DEFAULT_MUST_SIGN,
) -> str:
    """Check the request's SigV4 signature; return the access key id that signed it.

    `lookup_secret` maps an access key id to its secret (None when unknown); `now` is the
    server clock in epoch seconds. Raises `SignatureError` on any failure. With
    `check_signature=False` (the server's throw-away "accept any credentials" mode) only the
    form of the Authorization header, its scope and its time are checked.
    """
    presented = check_authorization(
        headers, lookup_secret, now, service, check_signature, must_sign
    )
    return check_body_signature(presented, method, path, query, body)


def check_authorization(
    headers: Headers,
    lookup_secret: Callable[[str], str | None],
    now: float,
    service: str = "ecr",
    check_signature: bool = True,
    must_sign: Iterable[str] = DEFAULT_MUST_SIGN,
) -> Presented:
    """Everything that can be checked before the body is read: the Authorization header's
    form, its scope and time, the headers it signs, and that its access key is known.

    A server calls this first, so a request that cannot be authentic is refused without
    buffering its body; `check_body_signature` then finishes the check.
    """
    table = _header_table(headers)
    if "authorization" not in table:
        raise SignatureError(
            "MissingAuthenticationTokenException", "Missing Authentication Token", status=403
        )
    auth = _parse_authorization(",".join(table["authorization"]), table)
    amz_date = _request_time(table)
    _check_scope(auth, service, amz_date)
    _check_signed_headers(auth, table, must_sign)
    _check_clock(amz_date, now)
    if not check_signature:
        return Presented(auth, amz_date, table, None)
    secret = lookup_secret(auth.access_key)
    if secret is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    return Presented(auth, amz_date, table, secret)


def check_body_signature(
    presented: Presented, method: str, path: str | bytes, query: str | bytes, body: bytes
) -> str:
    """Finish `check_authorization`'s check with the body; return the access key id."""
    auth = presented.auth
    if presented.secret is None:
        return auth.access_key
    payload_hash = _payload_hash(presented.headers, body)
    canonical = canonical_request(
        method, path, query, presented.headers, auth.signed_headers, payload_hash
    )
    expected = _signature(presented.secret, auth, presented.amz_date, canonical)
    if not hmac.compare_digest(expected.encode(), auth.signature.lower().encode()):
        raise SignatureError("InvalidSignatureException", _MISMATCH)
    return auth.access_key


def canonical_request(
    method: str,
    path: str | bytes,
    query: str | bytes,
    headers: Mapping[str, list[str]],
    signed_headers: str,
    payload_hash: str,
) -> str:
    """The SigV4 canonical request; `headers` maps lower-cased names to every value sent."""
    lines = [
        method.upper(),
        _canonical_uri(_text(path)),
        _canonical_query(_text(query)),
        _canonical_headers(headers, signed_headers),
        signed_headers,
        payload_hash,
    ]
    return "\n".join(lines)


# -- parsing the Authorization header ------------------------------------------------------


def _parse_authorization(header: str, table: Mapping[str, list[str]]) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    params = _auth_params(header, rest) if algorithm == ALGORITHM else {}
    _require_params(header, params, table)
    parts = params["Credential"].split("/")
    if len(parts) != 5:
        raise SignatureError(
            "IncompleteSignatureException",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{params['Credential']}'",
        )
    access_key, date, region, service, terminator = parts
    return _Authorization(
        header,
        access_key,
        date,
        region,
        service,
        terminator,
        params["SignedHeaders"],
        params["Signature"],
    )


def _auth_params(header: str, rest: str) -> dict[str, str]:
    # AWS splits on commas and whitespace alike: a stray space inside the credential (a
    # pasted key) yields its "not a valid key=value pair" error.
    params: dict[str, str] = {}
    for part in re.split(r"[,\s]+", rest.strip()):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise SignatureError(
                "IncompleteSignatureException",
                f"'{part}' not a valid key=value pair (missing equal-sign) "
                f"in Authorization header: '{header}'.",
            )
        params[key.strip()] = value.strip()
    return params


def _require_params(header: str, params: Mapping[str, str], table: Mapping[str, list]) -> None:
    # AWS lists every missing piece at once, then echoes the header.
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if "x-amz-date" not in table and "date" not in table:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise SignatureError(
            "IncompleteSignatureException", " ".join(problems) + f" Authorization={header}"
        )


# -- scope and clock -----------------------------------------------------------------------


def _request_time(table: Mapping[str, list[str]]) -> str:
    """The request time in ISO-8601 basic format, from X-Amz-Date or else from Date."""
    if "x-amz-date" in table:
        value = table["x-amz-date"][0].strip()
        try:
            _epoch(value)
        except ValueError:
            raise _bad_date(value) from None
        return value
    value = table["date"][0].strip()
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise _bad_date(value) from None
    return time.strftime(_BASIC_FORMAT, time.gmtime(parsed.timestamp()))


def _bad_date(value: str) -> SignatureError:
    return SignatureError(
        "IncompleteSignatureException",
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def _check_scope(auth: _Authorization, service: str, amz_date: str) -> None:
    if auth.terminator != TERMINATOR:
        _invalid(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{auth.terminator}'. "
        )
    if auth.service != service:
        _invalid(f"Credential should be scoped to correct service: '{service}'. ")
    if not auth.region:
        _invalid(f"Credential should be scoped to a valid region, not '{auth.region}'. ")
    if auth.date != amz_date[:8]:
        _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )


def _check_signed_headers(
    auth: _Authorization, table: Mapping[str, list[str]], must_sign: Iterable[str]
) -> None:
    """The request time, and `must_sign`, must be covered by the signature."""
    signed = auth.signed_headers.split(";")
    if "host" in must_sign and "host" not in signed:
        _invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    time_header = "x-amz-date" if "x-amz-date" in table else "date"
    for name in (*must_sign, time_header):
        if name not in signed:
            _invalid(f"'{_display(name)}' must be a 'SignedHeader' in the AWS Authorization.")


def _display(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _check_clock(amz_date: str, now: float) -> None:
    signed_at = _epoch(amz_date)
    if signed_at < now - MAX_CLOCK_SKEW:
        _invalid(
            f"Signature expired: {amz_date} is now earlier than "
            f"{_basic(now - MAX_CLOCK_SKEW)} ({_basic(now)} - 15 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        _invalid(
            f"Signature not yet current: {amz_date} is still later than "
            f"{_basic(now + MAX_CLOCK_SKEW)} ({_basic(now)} + 15 min.)"
        )


def _invalid(message: str) -> NoReturn:
    raise SignatureError("InvalidSignatureException", message)


@functools.lru_cache(maxsize=64)
def _epoch(basic: str) -> float:
    """Epoch seconds of an ISO-8601 basic timestamp; `ValueError` if it is not one.

    Cached: `time.strptime` is a third of a signature check, and requests of the same second
    carry the same timestamp (a failed parse raises, and is not cached).
    """
    if not _BASIC_DATE.fullmatch(basic):
        raise ValueError(basic)
    return float(calendar.timegm(time.strptime(basic, _BASIC_FORMAT)))


def _basic(epoch: float) -> str:
    return time.strftime(_BASIC_FORMAT, time.gmtime(epoch))


# -- canonical request pieces --------------------------------------------------------------


def _canonical_uri(path: str) -> str:
    # Non-S3 services encode the (already percent-encoded) path once more, after removing dot
    # segments and empty segments, exactly as botocore's signer does.
    return quote(_remove_dot_segments(path or "/"), safe="/~")


def _remove_dot_segments(path: str) -> str:
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    trailing = "/" if path.endswith("/") and kept else ""
    return "/" + "/".join(kept) + trailing


def _canonical_query(query: str) -> str:
    pairs = []
    for piece in query.split("&"):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((_uri_encode(key), _uri_encode(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _uri_encode(component: str) -> str:
    # Decode then re-encode so any client spelling of the same bytes gives one canonical form.
    return quote(unquote(component), safe="-_.~")


def _canonical_headers(headers: Mapping[str, list[str]], signed_headers: str) -> str:
    lines = []
    for name in signed_headers.split(";"):
        if name not in headers:
            # A signed header that did not arrive cannot match what the client signed.
            raise SignatureError("InvalidSignatureException", _MISMATCH)
        value = ",".join(" ".join(v.split()) for v in headers[name])
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def _payload_hash(table: Mapping[str, list[str]], body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    claimed = table.get("x-amz-content-sha256")
    if claimed is not None and claimed[0].strip().lower() != digest:
        raise SignatureError("InvalidSignatureException", _MISMATCH)
    return digest


def _signature(secret: str, auth: _Authorization, amz_date: str, canonical: str) -> str:
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (auth.date, auth.region, auth.service, auth.terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# -- header plumbing -----------------------------------------------------------------------


def _header_table(headers: Headers) -> dict[str, list[str]]:
    """Lower-cased name -> every value sent under that name, in arrival order."""
    # Anything with items() (dict, Starlette Headers, http.client messages) or bare pairs.
    items = headers.items() if hasattr(headers, "items") else headers
    table: dict[str, list[str]] = {}
    for name, value in items:
        table.setdefault(_text(name).lower().strip(), []).append(_text(value))
    return table


def _text(value: str | bytes) -> str:
    # HTTP header and path bytes are Latin-1 by definition (ASGI hands them over as bytes).
    return value.decode("latin-1") if isinstance(value, bytes) else value
