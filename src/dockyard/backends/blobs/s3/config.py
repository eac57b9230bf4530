"""The S3 store's settings, from its storage URL, and the checks run before serving.

    s3://BUCKET[/PREFIX][?OPTION=VALUE&...]

    endpoint_url     an S3-compatible endpoint (MinIO, Ceph RGW, moto); default: AWS
    region           the bucket's region; default: AWS_REGION / AWS_DEFAULT_REGION / profile
    profile          a named profile from ~/.aws/config and ~/.aws/credentials
    addressing       path | virtual | auto; default: path with endpoint_url, auto on AWS
    redirect         1 to let clients download blobs from presigned S3 URLs (with the server's
                     --redirect-blobs); default 0
    redirect_expiry  seconds a presigned URL stays valid; default 1200 (20 minutes)
    conditional_writes  0 for stores that refuse PutObject with If-None-Match (AWS S3, MinIO
                     and moto take it): publishing a small blob then costs a HEAD before the
                     PUT; default 1

Credentials come from the usual AWS places (environment, config files, instance roles), never
from the URL, so it can be logged. So do botocore's other settings: a store that rejects the
CRC32 checksums sent with uploads by default wants AWS_REQUEST_CHECKSUM_CALCULATION=when_required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from dockyard.backends.configuration import ConfigurationError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_ADDRESSING = {"path", "virtual", "auto"}
# Enough connections for the server's worker threads plus the copy and part-upload threads.
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class S3Options:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing: str | None = None
    redirect: bool = False
    redirect_expiry: int = 1200
    conditional_writes: bool = True

    @classmethod
    def from_url(cls, url: str) -> S3Options:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigurationError(f"bad S3 storage URL {url!r}; use s3://bucket[/prefix]")
        options = dict(parse_qsl(parsed.query, keep_blank_values=True))
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise ConfigurationError(
                f"unknown option {unknown[0]!r} in {url!r}; known: {', '.join(sorted(_OPTION_NAMES))}"
            )
        return cls(bucket=parsed.netloc, prefix=parsed.path.strip("/"), **_typed(options, url))

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    def session(self) -> Any:
        return boto3.session.Session(profile_name=self.profile)

    def client(self, session: Any, attempts: int = 5) -> Any:
        """A boto3 S3 client; clients are thread-safe, so one serves every thread."""
        addressing = self.addressing or ("path" if self.endpoint_url else "auto")
        config = Config(
            signature_version="s3v4",  # presigned URLs too: SigV2 is gone from AWS
            s3={"addressing_style": addressing},
            max_pool_connections=MAX_CONNECTIONS,
            # Uploads still carry CRC32s that S3 verifies. Downloads are not checked against
            # stored checksums: objects composed by server-side copies get composite or
            # recomputed ones that S3 implementations report inconsistently, and blob bytes
            # are verified against their digest anyway (by clients; by the service on re-hash).
            response_checksum_validation="when_required",
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=10,
            read_timeout=120,
        )
        return session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
        )


_OPTION_NAMES = {
    "endpoint_url", "region", "profile", "addressing", "redirect", "redirect_expiry",
    "conditional_writes",
}  # fmt: skip


def _typed(options: dict[str, str], url: str) -> dict[str, Any]:
    typed: dict[str, Any] = {k: v for k, v in options.items() if v}
    if "addressing" in typed and typed["addressing"] not in _ADDRESSING:
        raise ConfigurationError(f"addressing must be one of path, virtual, auto in {url!r}")
    for flag in ("redirect", "conditional_writes"):
        if flag in typed:
            typed[flag] = _flag(flag, typed[flag], url)
    if "redirect_expiry" in typed:
        if (
            not typed["redirect_expiry"].isdigit()
            or not 1 <= int(typed["redirect_expiry"]) <= 604800
        ):
            raise ConfigurationError(f"redirect_expiry must be 1..604800 seconds in {url!r}")
        typed["redirect_expiry"] = int(typed["redirect_expiry"])
    return typed


def _flag(name: str, value: str, url: str) -> bool:
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(f"{name} must be 1 or 0 in {url!r}")


def probe(options: S3Options, session: Any) -> None:
    """Check the bucket answers; raise ConfigurationError saying what to fix otherwise."""
    try:
        # One attempt: a wrong endpoint should fail start-up in seconds, not after retries.
        options.client(session, attempts=1).head_bucket(Bucket=options.bucket)
    except NoCredentialsError:
        raise ConfigurationError(
            f"no AWS credentials for {options.where}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or ?profile=NAME on --storage-url"
        ) from None
    except ClientError as exc:
        raise ConfigurationError(_client_error_message(options, exc)) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"cannot reach {options.where}: {exc}; check ?endpoint_url= and the network"
        ) from None


def _client_error_message(options: S3Options, exc: ClientError) -> str:
    response: dict[str, Any] = exc.response
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    region = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if region and region != options.region and status in (301, 400):
        return (
            f"bucket {options.bucket} is in region {region}: add ?region={region} to --storage-url"
        )
    if status == 404:
        return f"bucket {options.bucket} does not exist ({options.where}); create it first"
    if status == 403:
        return (
            f"access to bucket {options.bucket} denied ({options.where}); check the "
            "credentials and the bucket policy (s3:ListBucket, s3:GetObject, s3:PutObject, "
            "s3:DeleteObject, s3:AbortMultipartUpload)"
        )
    return f"cannot use bucket {options.bucket} ({options.where}): {exc}"
