"""Which deployments run bounded metadata calls on the event loop (app.inline_calls)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard.app import create_app, inline_calls
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.settings import Settings


def _services(database: bool, blobs: bool) -> SimpleNamespace:
    return SimpleNamespace(meta=SimpleNamespace(calls_are_local=database),
                           blob_store=SimpleNamespace(reads_are_local=blobs))


@pytest.mark.parametrize(("database", "blobs", "single", "expected"), [
    (True, True, True, True),      # the embedded default, one process
    (True, True, False, False),    # serve --workers N: processes share the SQLite lock
    (False, True, True, False),    # PostgreSQL: a round trip would stall the loop
    (True, False, True, False),    # S3 blobs
])
def test_only_the_embedded_default_in_one_process_runs_calls_inline(database, blobs, single,
                                                                     expected) -> None:
    assert inline_calls(_services(database, blobs), single) is expected  # type: ignore[arg-type]


def test_sqlite_calls_are_local(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        assert store.calls_are_local is True
    finally:
        store.close()


def test_the_default_app_runs_calls_inline_and_a_worker_app_does_not(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings)
    assert app.state.services.calls.inline is True
    app.state.services.meta.close()
    worker = create_app(settings, single_process=False)
    assert worker.state.services.calls.inline is False
    worker.state.services.meta.close()
