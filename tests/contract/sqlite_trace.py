"""What SQLite itself executes, BEGIN and COMMIT included (SQLAlchemy's statement events do not
see the transaction control the SQLite dialect sends straight to the driver)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from dockyard.backends.metadata.sql import SqlMetadataStore


def sqlite_statements(store: SqlMetadataStore, action: Callable[[], object]) -> list[str]:
    """The SQL text of every statement SQLite runs for `action`, on any pooled connection."""
    seen: list[str] = []

    def trace(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    def untrace(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    event.listen(store.engine, "checkout", trace)
    event.listen(store.engine, "checkin", untrace)
    try:
        action()
    finally:
        event.remove(store.engine, "checkout", trace)
        event.remove(store.engine, "checkin", untrace)
    return seen


def transaction_control(statements: list[str]) -> list[str]:
    """The BEGIN / COMMIT / ROLLBACK statements among `statements`, in order."""
    return [s for s in statements if s.split(" ", 1)[0] in ("BEGIN", "COMMIT", "ROLLBACK")]
