"""Grow one repository to a million images on PostgreSQL fast, writing what PutImage writes.

``fill_copy`` is the PostgreSQL twin of ``ecr_fill.fill_bulk`` (executemany, used for SQLite):
the same rows, from the same code (``_rows.new_image_row`` for the images row, one ``image_refs``
row per distinct blob of kind ``blob``, one ``tags`` row per tagged image), loaded with COPY,
which is what a DBA would use and is several times faster than INSERT on PostgreSQL. Explicit ids
bypass the images id sequence, so it is moved past them afterwards (or the next PutImage would
collide). ``ecr_fill.check_same_rows`` then compares a COPY'd image with a PutImage'd one.

After a bulk load PostgreSQL's planner statistics and visibility map are stale until autovacuum
gets to the table; ``settle`` runs the VACUUM ANALYZE autovacuum would (untimed, and reported).
``table_counts`` is ``ecr_fill.table_counts`` for any SQL URL, through SQLAlchemy.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from dockbench.ecr_fill import ImageSet, _batches, _Clock, bulk_rows

IMAGE_COLUMNS = ("id", "repo_id", "digest", "manifest", "media_type", "artifact_media_type",
                 "size_bytes", "pushed_at", "subject_digest", "status")  # fmt: skip
REF_COLUMNS = ("image_id", "digest", "kind")
TAG_COLUMNS = ("repo_id", "name", "image_id", "updated_at")


def _engine(db_url: str) -> sa.Engine:
    from dockyard.backends.metadata.dialects import create_engine

    return create_engine(db_url)


def fill_copy(
    db_url: str, rid: int, images: ImageSet, start: int, stop: int, batch: int = 100_000
) -> None:
    """Images start..stop-1 by COPY of the rows save_image would write, `batch` per commit."""
    engine, clock = _engine(db_url), _Clock()
    try:
        with engine.connect() as conn:
            next_id = (conn.exec_driver_sql("SELECT max(id) FROM images").scalar() or 0) + 1
        for chunk in _batches(start, stop, batch):
            image_rows, ref_rows, tag_rows = bulk_rows(rid, images, chunk, next_id, clock)
            next_id += len(chunk)
            for row in image_rows:
                if set(row) != set(IMAGE_COLUMNS):
                    raise RuntimeError(f"images row has changed: {sorted(row)}")
            _copy_batch(
                engine,
                [[row[c] for c in IMAGE_COLUMNS] for row in image_rows],
                [[row[c] for c in REF_COLUMNS] for row in ref_rows],
                [[row[c] for c in TAG_COLUMNS] for row in tag_rows],
            )
        _advance_sequence(engine)
    finally:
        engine.dispose()


def _copy_batch(engine: sa.Engine, image_rows: list, ref_rows: list, tag_rows: list) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            _copy(cur, "images", IMAGE_COLUMNS, image_rows)
            _copy(cur, "image_refs", REF_COLUMNS, ref_rows)
            _copy(cur, "tags", TAG_COLUMNS, tag_rows)
        raw.commit()
    finally:
        raw.close()


def _copy(cur, table: str, columns: tuple[str, ...], rows: list) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _advance_sequence(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('images', 'id'), (SELECT max(id) FROM images))"
        )


def settle(db_url: str) -> float:
    """VACUUM ANALYZE, as autovacuum would after a bulk load; returns the seconds it took."""
    engine = _engine(db_url)
    t0 = time.perf_counter()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def table_counts(db_url: str) -> dict[str, int]:
    """Rows per Dockyard table (safe beside a running server)."""
    from dockyard.backends.metadata.schema import metadata

    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()
