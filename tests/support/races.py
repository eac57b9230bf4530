"""Releasing racers together, and reading what a race left in the metadata database.

`together(n, work)` runs `work(i)` on n threads held at a `threading.Barrier`, each with its own
HTTP connection (made inside `work`), so that against `serve --workers 2` the kernel hands the
racing connections to either process. Results or exceptions come back in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")


def together(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    barrier = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("racer never finished")] * count

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - the test asserts on every outcome
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def orphan_rows(database_url: str) -> dict[str, int]:
    """Rows that point at a repository that no longer exists (what a lost FK race leaves)."""
    engine = sa.create_engine(database_url)
    counts = {}
    try:
        with engine.connect() as conn:
            for table in ("uploads", "repo_blobs", "images", "tags"):
                counts[table] = conn.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE repo_id NOT IN "
                    "(SELECT id FROM repositories)"
                )).scalar_one()  # fmt: skip
    finally:
        engine.dispose()
    return {table: n for table, n in counts.items() if n}
