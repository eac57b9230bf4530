"""The audit log: one JSON object per line for every change, to its own file or stream.

    {"time": "2026-12-07T01:02:03.456Z", "account": "111111111111",
     "principal": "arn:aws:iam::111111111111:root", "action": "PushImage",
     "repository": "team/app", "digest": "sha256:...", "tags": ["v1"], "result": "SUCCESS"}

`result` is SUCCESS, or FAILED with `error` (the error's name) for a change refused or broken.
Who acts comes from `acting_as`, which the protocol adapters enter once they know the caller;
background work (lifecycle, GC, scans) names itself with `principal="dockyard:<engine>"`.

Services call `audit.record(...)`, or wrap a change in `with audit.recording(...) as entry:`
(SUCCESS when the block ends, FAILED when it raises; `entry` takes what the block learns, such
as the digest). Lines are written after the change, one `write` each, so with several
processes appending to one file (O_APPEND) lines never interleave.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from dockyard.services.clock import Clock

F = TypeVar("F", bound=Callable[..., Any])


class AuditAction(StrEnum):
    PUSH_IMAGE = "PushImage"  # a new image, or a tag pointed at an image (a tag move)
    DELETE_IMAGE = "DeleteImage"
    DELETE_TAG = "DeleteTag"
    UPDATE_STORAGE_CLASS = "UpdateImageStorageClass"
    CREATE_REPOSITORY = "CreateRepository"
    DELETE_REPOSITORY = "DeleteRepository"
    UPDATE_REPOSITORY = "UpdateRepository"  # mutability, scan on push
    SET_REPOSITORY_POLICY = "SetRepositoryPolicy"
    DELETE_REPOSITORY_POLICY = "DeleteRepositoryPolicy"
    TAG_RESOURCE = "TagResource"
    UNTAG_RESOURCE = "UntagResource"
    PUT_ACCOUNT_SETTING = "PutAccountSetting"
    PUT_SCANNING_CONFIGURATION = "PutRegistryScanningConfiguration"
    PUT_REGISTRY_POLICY = "PutRegistryPolicy"
    DELETE_REGISTRY_POLICY = "DeleteRegistryPolicy"
    PUT_CREATION_TEMPLATE = "PutRepositoryCreationTemplate"  # created or updated
    DELETE_CREATION_TEMPLATE = "DeleteRepositoryCreationTemplate"
    LIFECYCLE_ACTION = "LifecycleAction"
    PUT_REPLICATION_CONFIGURATION = "PutReplicationConfiguration"
    REPLICATE_IMAGE = "ReplicateImage"  # a copy that reached its destination, or failed
    GC_SWEEP = "GarbageCollection"


@dataclass(frozen=True)
class Actor:
    account: str
    principal: str


_ACTOR: ContextVar[Actor | None] = ContextVar("dockyard_actor", default=None)


@contextlib.contextmanager
def acting_as(account: str, principal: str) -> Iterator[None]:
    """Name the caller of the changes made in this block (and the threads it hands work to)."""
    token = _ACTOR.set(Actor(account, principal))
    try:
        yield
    finally:
        _ACTOR.reset(token)


def current_actor() -> Actor | None:
    """Who the adapters said is acting (None in background work that did not say)."""
    return _ACTOR.get()


@dataclass
class Entry:
    """What one audited change is about; a `recording` block may fill it in as it learns."""

    action: str
    account: str | None = None
    repository: str | None = None
    digest: str | None = None
    tags: Sequence[str] = ()
    details: dict[str, object] | None = None


class AuditLog:
    """`sink` takes one line (with its newline); None switches the log off."""

    def __init__(self, sink: Callable[[str], None] | None, clock: Clock) -> None:
        self.sink, self.clock = sink, clock

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    def record(
        self,
        action: str,
        *,
        account: str | None = None,
        repository: str | None = None,
        digest: str | None = None,
        tags: Sequence[str] = (),
        result: str = "SUCCESS",
        error: str | None = None,
        principal: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        """One line for one change (see the module doc); a no-op when the log is off."""
        if self.sink is None:
            return
        actor = _ACTOR.get()
        line: dict[str, object] = {
            "time": _iso(self.clock.now()), "account": account or (actor and actor.account),
            "principal": principal or (actor and actor.principal), "action": str(action),
            "repository": repository, "digest": digest, "tags": list(tags), "result": result,
        }  # fmt: skip
        if error:
            line["error"] = error
        if details:
            line["details"] = details
        self.sink(json.dumps(line, separators=(",", ":"), default=str) + "\n")

    @contextlib.contextmanager
    def recording(self, action: str, **fields: object) -> Iterator[Entry]:
        entry = Entry(action, **fields)  # type: ignore[arg-type]
        try:
            yield entry
        except Exception as exc:
            self._write(entry, "FAILED", type(exc).__name__)
            raise
        self._write(entry, "SUCCESS", None)

    def _write(self, entry: Entry, result: str, error: str | None) -> None:
        self.record(
            entry.action,
            account=entry.account,
            repository=entry.repository,
            digest=entry.digest,
            tags=entry.tags,
            result=result,
            error=error,
            details=entry.details,
        )


def _iso(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def audited(action: str, names_repository: bool = True) -> Callable[[F], F]:
    """Audit a service method `(self, account_id, name_or_value, ...)` through `self.audit`:
    the second argument is the repository when `names_repository`, else left out."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, account_id: str, *args: Any, **kwargs: Any) -> Any:
            repository = args[0] if names_repository and args else None
            with self.audit.recording(action, account=account_id, repository=repository):
                return method(self, account_id, *args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
