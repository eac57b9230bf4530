"""Whether the changes of this block are replication's own writes (one hop, no chains).

Replication writes images into a destination through the same push services as any client. A
push made inside `replicating(source)` does not queue replication in turn (ECR copies an image
one hop: A -> B -> C sends a push to A only to B), and a repository it creates is shaped by the
REPLICATION creation templates instead of CREATE_ON_PUSH ones. A remote Dockyard learns it from
the `X-Dockyard-Replication-Source` header the replicating server sends (api/oci/auth.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from dockyard.domain.replication import REPLICATION_HEADER

__all__ = ["REPLICATION_HEADER", "replicating", "replication_origin"]

_ORIGIN: ContextVar[str | None] = ContextVar("dockyard_replication_origin", default=None)


@contextlib.contextmanager
def replicating(source_account: str) -> Iterator[None]:
    token = _ORIGIN.set(source_account)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def replication_origin() -> str | None:
    """The source account whose image is being replicated here, None for any other write."""
    return _ORIGIN.get()
