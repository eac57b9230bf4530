"""The metadata contract on a real PostgreSQL server (tests/support/postgres.py starts one), plus
PostgreSQL-only guarantees: psycopg 3 behind a plain postgresql:// URL, code-point ordering through
the "C" collation, and one-line refusals of unusable databases at start-up.

Each test gets an empty database at head: the module's database (copied from a template migrated
once per session), with every row deleted before the test. Without
PostgreSQL installed these tests fail (with what to install); they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.backends.factory import ConfigurationError, open_metadata_store
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.domain.models import Repository
from tests.support import postgres as postgres_support
from tests.support.postgres import PostgresCluster
from tests.support.server import free_port

from .metadata_support import NOW, make_image
from .sql_metadata import SqlMetadataContract


@pytest.fixture(scope="module")
def module_database(postgres: PostgresCluster) -> Iterator[str]:
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def database(postgres: PostgresCluster, module_database: str) -> str:
    """The URL of an empty database at head: the module's, emptied (a new one costs ~0.2 s)."""
    postgres.empty_database(module_database)
    return module_database


class TestPostgresMetadataStore(SqlMetadataContract):
    @pytest.fixture
    def store(self, database: str) -> Iterator[SqlMetadataStore]:
        store = SqlMetadataStore(database, create=False)
        yield store
        store.close()

    def test_plain_postgresql_url_uses_psycopg_3(self, store: SqlMetadataStore) -> None:
        assert store.engine.dialect.driver == "psycopg"

    def test_writes_are_not_tracked(self, store: SqlMetadataStore) -> None:
        # A round trip: calls stay in worker threads (app.call_placement), so nothing asks.
        with store.atomic():
            assert store.writing is False

    def test_tags_sort_by_code_point_not_by_locale(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        # A locale collation ignores punctuation and case first ('a-b' after 'ab', 'B' after 'a').
        names = ["ab", "a-b", "B", "a_b", "a.b", "Ab"]
        for name in names:
            store.save_image(repo.id, make_image(name), name, False, NOW)
        assert store.list_tags(repo.id, None, None) == sorted(names)


def test_start_up_refuses_a_database_below_head(postgres: PostgresCluster) -> None:
    url = postgres.new_empty_database()
    try:
        with pytest.raises(ConfigurationError) as caught:
            open_metadata_store(url)
        assert "schema revision none" in str(caught.value)
        assert "run `dockyard db upgrade --database-url postgresql" in str(caught.value)
    finally:
        postgres.drop_database(url)


def test_start_up_reports_an_unreachable_server_in_one_line() -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/dockyard"
    with pytest.raises(ConfigurationError) as caught:
        open_metadata_store(url)
    message = str(caught.value)
    assert message.startswith("cannot use metadata database postgresql")
    assert "refused" in message and "\n" not in message
    assert "hunter2" not in message  # never print a password


def test_start_up_reports_a_missing_database(postgres: PostgresCluster) -> None:
    url = postgres.url("no_such_database")
    with pytest.raises(ConfigurationError, match='database "no_such_database" does not exist'):
        open_metadata_store(url)


def test_missing_postgresql_is_an_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The `postgres` fixture turns this into pytest.fail: never a skip that hides a regression."""
    monkeypatch.setattr(postgres_support.shutil, "which", lambda _name: None)
    monkeypatch.setattr(postgres_support.glob, "glob", lambda _pattern: [])
    with pytest.raises(postgres_support.PostgresNotFound, match="apt-get install postgresql"):
        postgres_support.find_bin_dir()
