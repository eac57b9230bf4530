"""Schema migrations on SQLite and PostgreSQL: empty to head, back to base and up again, the drift
check that makes a schema change without a migration fail CI, the migration lock, and the
start-up rules (the embedded default migrates itself; a named database must already be at head).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dockyard.backends.factory import ConfigurationError, open_metadata_store
from dockyard.backends.metadata import dialects, migrate, revision
from dockyard.backends.metadata.schema import metadata
from dockyard.cli.main import main
from tests.support.postgres import PostgresCluster

from .metadata_support import THREADS, run_together


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database without any table, on each engine."""
    if request.param == "sqlite":
        (tmp_path / "empty.db").touch()  # a zero-byte file is an empty SQLite database
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.new_empty_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def engine(empty_url: str) -> Iterator[sa.Engine]:
    engine = dialects.create_engine(empty_url)
    yield engine
    engine.dispose()


def tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def test_empty_database_to_head(engine: sa.Engine) -> None:
    # replay: every migration runs, also on SQLite (whose empty databases otherwise take the
    # models' fast path), so the drift check below compares the migrations with the models.
    assert migrate.upgrade(engine, replay=True) == (None, migrate.head())
    assert migrate.current(engine) == migrate.head()
    assert tables(engine) == set(metadata.tables)
    assert migrate.drift(engine) == []
    assert migrate.upgrade(engine) == (migrate.head(), migrate.head())  # nothing left to do


def test_down_to_base_and_up_again(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.downgrade(engine, "base") == (migrate.head(), None)
    assert tables(engine) == set()
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert migrate.drift(engine) == []


def test_every_revision_steps_down_and_up(engine: sa.Engine) -> None:
    """Each revision's downgrade undoes its upgrade exactly, not only the whole chain's."""
    migrate.upgrade(engine)
    while (revision := migrate.current(engine)) is not None:
        before = tables(engine)
        migrate.downgrade(engine, "-1")
        migrate.upgrade(engine, "+1")
        assert (migrate.current(engine), tables(engine)) == (revision, before)
        migrate.downgrade(engine, "-1")
    migrate.upgrade(engine)
    assert migrate.drift(engine) == []


def test_concurrent_upgrades_migrate_once(empty_url: str) -> None:
    """Processes starting together: one migrates, the others wait for it and find head."""
    engines = [dialects.create_engine(empty_url) for _ in range(THREADS)]
    try:
        outcomes = run_together(THREADS, lambda i: migrate.upgrade(engines[i]))
    finally:
        for engine in engines:
            engine.dispose()
    head = migrate.head()
    assert sorted(outcomes, key=str) == sorted(
        [(None, head)] + [(head, head)] * (THREADS - 1), key=str
    )


def test_drift_reports_a_model_change_without_migration(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["images"].append_column(sa.Column("colour", sa.String(16), nullable=True))
    sa.Table("widgets", drifted, sa.Column("id", sa.Integer, primary_key=True))
    assert sorted(migrate.drift(engine, drifted)) == [
        "add_column images column images.colour",
        "add_table table widgets",
    ]


# -- dockyard db ... ---------------------------------------------------------------------------


def test_db_commands(empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = migrate.head()
    assert main(["db", "current", "--database-url", empty_url]) == 0
    assert capsys.readouterr().out == f"none (empty database) (head is {head})\n"
    assert main(["db", "check", "--database-url", empty_url]) == 1
    assert "run `dockyard db upgrade --database-url" in capsys.readouterr().err
    assert main(["db", "upgrade", "--database-url", empty_url]) == 0
    assert f"upgraded from an empty database to {head}" in capsys.readouterr().out
    assert main(["db", "current", "--database-url", empty_url]) == 0
    assert capsys.readouterr().out == f"{head} (head)\n"
    assert main(["db", "check", "--database-url", empty_url]) == 0
    assert "at head and matches the models" in capsys.readouterr().out


def test_db_check_fails_on_drift(
    engine: sa.Engine, empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:  # a change made by hand, as a migration-less model change looks
        conn.exec_driver_sql("CREATE TABLE stray (id INTEGER PRIMARY KEY)")
    assert main(["db", "check", "--database-url", empty_url]) == 1
    err = capsys.readouterr().err
    assert "models (schema.py) and the migrations disagree" in err
    assert "remove_table table stray" in err and "dockyard db revision" in err


def test_db_upgrade_of_a_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "new-data"
    assert main(["db", "check", "--data-dir", str(data_dir)]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not data_dir.exists()  # checking created nothing
    assert main(["db", "upgrade", "--data-dir", str(data_dir)]) == 0
    assert (data_dir / "dockyard.db").exists()
    assert main(["db", "check", "--data-dir", str(data_dir)]) == 0


def test_db_commands_report_an_unusable_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", "mysql://somewhere/db"]) == 2
    assert "unsupported metadata database" in capsys.readouterr().err


# -- start-up ----------------------------------------------------------------------------------


def test_embedded_database_migrates_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dockyard.db'}"
    store = open_metadata_store(url, migrate=True)
    store.close()
    engine = dialects.create_engine(url)
    assert migrate.current(engine) == migrate.head()
    engine.dispose()


def test_named_database_below_head_is_refused(
    empty_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--database-url", empty_url, "--data-dir", str(tmp_path / "data")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "schema revision none (empty)" in err
    assert "run `dockyard db upgrade --database-url" in err


def test_tables_without_a_revision_are_not_migrated(tmp_path: Path) -> None:
    """A database created some other way (create_all) is refused, not half-migrated."""
    url = f"sqlite:///{tmp_path / 'unversioned.db'}"
    engine = dialects.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    with pytest.raises(ConfigurationError, match="tables but no schema revision"):
        open_metadata_store(url, migrate=True)


# -- data migrations ---------------------------------------------------------------------------


def test_0003_moves_findings_into_shared_documents_and_back(engine: sa.Engine) -> None:
    """Stored findings survive the change of layout byte for byte, both ways."""
    from dockyard.backends.metadata import _scans
    from dockyard.backends.metadata.schema import finding_documents, images, repositories

    migrate.upgrade(engine, "0002")
    shared = {"id": "CVE-2", "package": {"name": "tar"}, "cvss": {"CVSS3_SCORE": "7.5"}}
    texts = {1: json.dumps([{"id": "CVE-1", "description": "caf\u00e9 \"x\""}, shared]),
             2: json.dumps([shared]), 3: "[]"}  # fmt: skip
    scans = sa.table("image_scans", *(sa.column(c) for c in (
        "image_id", "scan_type", "status", "description", "started_at", "completed_at",
        "severity_counts", "findings")))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            sa.insert(repositories).values(
                id=1, account_id="1", name="r", created_at=1.0, encryption="{}"
            )
        )
        for image_id, text in texts.items():
            conn.execute(sa.insert(images).values(
                id=image_id, repo_id=1, digest=f"sha256:{image_id}", manifest=b"{}",
                media_type="m", size_bytes=1, pushed_at=1.0))  # fmt: skip
            conn.execute(
                sa.insert(scans).values(
                    image_id=image_id,
                    scan_type="BASIC",
                    status="COMPLETE",
                    description="done",
                    started_at=1.0,
                    completed_at=2.0,
                    severity_counts="{}",
                    findings=text,
                )
            )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        for image_id, text in texts.items():
            assert _scans.get_scan(conn, image_id).findings_json == text
        count = sa.select(sa.func.count()).select_from(finding_documents)
        assert conn.execute(count).scalar_one() == 2  # the shared finding is stored once
    migrate.downgrade(engine, "0002")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(scans.c.image_id, scans.c.findings)).all()
    assert dict(rows) == texts


def test_0004_adds_an_empty_hash_state_to_upload_sessions(engine: sa.Engine) -> None:
    """Sessions from before 0004 keep going (with no state: hashed again at completion)."""
    from dockyard.backends.metadata.schema import repositories

    migrate.upgrade(engine, "0003")
    old = sa.table("uploads", *(sa.column(c) for c in ("id", "repo_id", "size", "created_at")))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(repositories).values(
                id=1, account_id="1", name="r", created_at=1.0, encryption="{}"
            )
        )
        conn.execute(sa.insert(old).values(id="u1", repo_id=1, size=10, created_at=2.0))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, size, hash_state FROM uploads")).all()
    assert [tuple(row) for row in rows] == [("u1", 10, None)]
    migrate.downgrade(engine, "0003")
    with engine.connect() as conn:
        assert conn.execute(sa.select(old.c.id, old.c.size)).all() == [("u1", 10)]


def schema_of(engine: sa.Engine) -> dict[str, object]:
    """Everything SQLAlchemy's inspector reports about each table, in a comparable form."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        return {
            table: {
                "columns": [
                    (
                        c["name"],
                        str(c["type"]),
                        c["nullable"],
                        c.get("default"),
                        c.get("primary_key"),
                    )
                    for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "foreign keys": sorted(
                    (
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        str(f.get("options")),
                    )
                    for f in inspector.get_foreign_keys(table)
                ),
                "checks": sorted(str(c["sqltext"]) for c in inspector.get_check_constraints(table)),
            }
            for table in sorted(inspector.get_table_names())
        }


def test_a_fresh_sqlite_database_from_the_models_equals_one_from_the_migrations(
    tmp_path: Path,
) -> None:
    """The fast path (create_all + stamp, for a brand-new embedded database) and replaying every
    migration give the same tables, columns, keys and indexes, and the same revision."""
    fast, replayed = (
        dialects.create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("fast", "replayed")
    )
    try:
        assert revision.create_fresh(fast)
        assert not revision.create_fresh(fast)  # only ever an empty database
        assert migrate.upgrade(fast) == (migrate.head(), migrate.head())  # nothing left to do
        assert migrate.upgrade(replayed, replay=True) == (None, migrate.head())
        assert migrate.current(fast) == migrate.current(replayed) == migrate.head()
        assert tables(fast) == set(metadata.tables)
        assert schema_of(fast) == schema_of(replayed)
        migrate.require_head(fast)
        assert migrate.drift(fast) == []
        assert migrate.downgrade(fast, "base") == (migrate.head(), None)  # later migrations work
        assert tables(fast) == set()
    finally:
        fast.dispose()
        replayed.dispose()


def test_a_database_with_tables_is_migrated_not_recreated(tmp_path: Path) -> None:
    """Only an empty database takes the fast path: one at an older revision is upgraded."""
    engine = dialects.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(engine, "0001")
        assert migrate.upgrade(engine) == ("0001", migrate.head())
        assert migrate.drift(engine) == []
    finally:
        engine.dispose()


def test_the_fast_head_is_alembics_head(tmp_path: Path) -> None:
    assert revision.head_revision() == migrate.head()
    engine = dialects.create_engine(f"sqlite:///{tmp_path / 'db.db'}")
    try:
        assert not revision.at_head(engine)
        assert migrate.upgrade(engine) == (None, migrate.head())  # `db upgrade` takes it too
        assert revision.at_head(engine)
    finally:
        engine.dispose()


def test_an_embedded_store_starts_without_alembic(tmp_path: Path) -> None:
    """A new embedded database, and the same one at its next start: Alembic is never imported."""
    script = (
        "import sys\n"
        "from dockyard.backends.factory import open_metadata_store\n"
        f"url = 'sqlite:///{tmp_path / 'meta.db'}'\n"
        "for _ in range(2):\n"
        "    open_metadata_store(url, migrate=True).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    engine = dialects.create_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        assert migrate.current(engine) == migrate.head() and migrate.drift(engine) == []
    finally:
        engine.dispose()
