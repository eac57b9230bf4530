"""Where calls run (services/placement.py), and which deployments run bounded calls on the loop
(app.call_placement)."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from dockyard.app import call_placement, create_app
from dockyard.services.placement import Placement, bounded, is_bounded
from dockyard.settings import Settings


@bounded
def _bounded_thread() -> int:
    return threading.get_ident()


def _any_thread() -> int:
    return threading.get_ident()


def _where(placement: Placement, fn: object) -> str:
    async def main() -> int:
        return await placement.run(fn)  # type: ignore[arg-type]

    return "loop" if anyio.run(main) == threading.get_ident() else "thread"


def test_only_bounded_calls_run_inline_and_only_when_allowed_and_idle() -> None:
    busy = threading.Event()
    inline = Placement(inline=True, busy=busy.is_set)
    assert _where(inline, _bounded_thread) == "loop"
    assert _where(inline, _any_thread) == "thread"  # unmarked: a thread, whatever the stores
    busy.set()  # a write of this process is open: a bounded call would wait for it
    assert _where(inline, _bounded_thread) == "thread"
    assert _where(Placement(inline=False), _bounded_thread) == "thread"


def test_a_call_can_be_placed_like_the_use_case_it_serves() -> None:
    placement = Placement(inline=True)

    async def main() -> tuple[int, int]:
        return (
            await placement.run_like(_bounded_thread, _any_thread),
            await placement.run_like(_any_thread, _any_thread),
        )

    inline, threaded = anyio.run(main)
    assert inline == threading.get_ident() and threaded != threading.get_ident()


def test_bounded_marks_methods_too() -> None:
    class Service:
        @bounded
        def quick(self) -> None: ...

        def slow(self) -> None: ...

    assert is_bounded(Service().quick) and not is_bounded(Service().slow)


@pytest.mark.parametrize("local", [True, False])
def test_streams_and_batches_give_every_item_in_order(local: bool) -> None:
    placement = Placement(local_blobs=local)

    async def main() -> list[bytes]:
        return [chunk async for chunk in placement.stream(iter([b"a", b"", b"c"]))]

    assert anyio.run(main) == [b"a", b"", b"c"]
    seen: list[int] = []
    lock = threading.Lock()

    def take(item: int) -> None:
        with lock:
            seen.append(item)

    placement.each(take, range(50))
    assert sorted(seen) == list(range(50))
    if local:
        assert seen == list(range(50))  # one after the other


@pytest.mark.parametrize(
    ("database", "storage", "single", "inline", "local_blobs"),
    [
        (None, None, True, True, True),  # the embedded default, one process
        (None, None, False, False, True),  # serve --workers N: one SQLite lock
        ("postgresql://h/db", None, True, False, True),  # a round trip would stall the loop
        (None, "s3://bucket/prefix", True, False, False),  # S3 blobs
        (None, "memory://", True, True, True),
    ],
)
def test_only_the_embedded_default_in_one_process_runs_calls_inline(
    tmp_path: Path,
    database: str | None,
    storage: str | None,
    single: bool,
    inline: bool,
    local_blobs: bool,
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database, storage_url=storage)
    placement = call_placement(settings, single, busy=lambda: False)
    assert (placement.inline, placement.local_blobs) == (inline, local_blobs)


def test_the_default_app_runs_calls_inline_and_a_worker_app_does_not(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings)
    assert app.state.services.placement.inline is True
    app.state.services.meta.close()
    worker = create_app(settings, single_process=False)
    assert worker.state.services.placement.inline is False
    worker.state.services.meta.close()
