"""Everything that differs between SQLite and PostgreSQL, kept in one place.

The rest of the metadata backend is dialect-neutral SQLAlchemy Core. What lives here:

- engine set-up: SQLite pragmas (WAL, synchronous=NORMAL, busy_timeout) and transaction control;
  `postgresql://` URLs mapped to psycopg 3 (SQLAlchemy's default for the bare scheme is psycopg2);
- `migration_transaction`, the one transaction a schema migration runs in, holding a lock that
  makes a second migrating process wait and then find nothing left to do;
- `BinaryString`, a string column that sorts by code point (like Python's `sorted()`) everywhere;
- `insert_ignore` and `upsert`, the INSERT ... ON CONFLICT spellings of each engine.

PostgreSQL reads run in autocommit (`read_engine`), writes in READ COMMITTED transactions.

SQLite transactions: pysqlite's own BEGIN handling is switched off and the dialect emits BEGIN
itself (its `do_begin`, replaced on the engine's dialect; a "begin" event would do the same, but
any Connection event makes SQLAlchemy dispatch events around every statement, a quarter of what a
small transaction costs). Transactions begun with `begin_write(conn)` start with BEGIN IMMEDIATE,
so a writer takes the write lock up front and waits on busy_timeout for its turn. A deferred
BEGIN that later tries to write can fail at once with "database is locked" (SQLite cannot wait
when upgrading a read snapshot that another writer has since changed). Reads use a plain BEGIN
and, in WAL mode, never block writers nor are blocked by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine, RootTransaction, make_url
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

T = TypeVar("T")

# True while `begin_write` begins a transaction: SQLite's BEGIN is then IMMEDIATE.
_BEGINNING_WRITE: ContextVar[bool] = ContextVar("dockyard_beginning_write", default=False)

BUSY_TIMEOUT_SECONDS = 30.0

#: A PostgreSQL server that does not answer within this is reported, not waited on forever.
CONNECT_TIMEOUT_SECONDS = 10

#: pg_advisory_xact_lock key held while migrating: any constant shared by every Dockyard process.
MIGRATION_LOCK_KEY = 0x646F636B79617264  # "dockyard" in ASCII

_SQLITE_PRAGMAS = (
    # busy_timeout first: the journal_mode switch itself may have to wait for a lock.
    f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}",
    "PRAGMA journal_mode = WAL",
    # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL included) and
    # never corrupts the database; only an OS crash or power loss can lose the last commits.
    # FULL would add an fsync to every commit, capping PutImage at the disk's fsync rate.
    "PRAGMA synchronous = NORMAL",
    # Enforced so SQLite catches the ordering mistakes PostgreSQL would reject.
    "PRAGMA foreign_keys = ON",
    # 32 MiB of page cache per connection (the default is 2 MiB): PutImage's CPU per call rose
    # once the repository's index pages outgrew 2 MiB (benchmarks/README.md, ecr_bench.py).
    "PRAGMA cache_size = -32768",
)


class BinaryString(sa.types.TypeDecorator[str]):
    """A string compared and sorted by code point, matching Python's `sorted()` on every engine.

    SQLite's default BINARY collation already compares UTF-8 bytes, which orders like code points;
    PostgreSQL needs the "C" collation, or a locale would sort 'a-b' after 'ab'.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        collation = "C" if dialect.name == "postgresql" else None
        return dialect.type_descriptor(sa.String(self.length, collation=collation))


#: Surrogate keys: 64-bit on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY (its rowid).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_engine(url: str) -> Engine:
    """An engine for `url`, configured for safe concurrent use from many threads."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(parsed)
    raise ValueError(
        f"unsupported metadata database {display_url(parsed)!r}: "
        "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


def display_url(url: str | URL) -> str:
    """`url` as it may appear in messages and logs: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def read_engine(engine: Engine) -> Engine:
    """What reads connect through: the same pool; on PostgreSQL, in autocommit.

    At READ COMMITTED, PostgreSQL's default, each statement sees its own snapshot whether or not
    it runs in a transaction, so a read gains nothing from one but the BEGIN and ROLLBACK round
    trips. On SQLite the read transaction is what keeps the statements of one read (a page and
    its tags) on one snapshot, so reads there stay in BEGIN ... ROLLBACK.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def begin_write(conn: Connection) -> RootTransaction:
    """Begin the connection's transaction as a writer (BEGIN IMMEDIATE on SQLite, see above).

    The transaction commits when used as a context manager that exits normally.
    """
    token = _BEGINNING_WRITE.set(True)
    try:
        return conn.begin()
    finally:
        _BEGINNING_WRITE.reset(token)


def per_dialect(build: Callable[[Connection], T]) -> Callable[[Connection], T]:
    """A statement built on first use for each engine kind, then reused.

    For statements that differ between SQLite and PostgreSQL (`insert_ignore`, `upsert`) and run
    with bind parameters: a reused statement object keeps its memoized cache key.
    """
    built: dict[str, T] = {}

    def for_connection(conn: Connection) -> T:
        found = built.get(conn.dialect.name)
        if found is None:
            found = built[conn.dialect.name] = build(conn)
        return found

    return for_connection


def _insert_module(conn: Connection) -> Any:
    """The dialect's module with ON CONFLICT; PostgreSQL's imported only when used (it costs an
    embedded server's start a few tenths of a second)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    return sqlite


def insert_ignore(conn: Connection, table: sa.Table, key: list[str]) -> Insert:
    """INSERT that silently skips a row whose `key` columns already exist."""
    return _insert_module(conn).insert(table).on_conflict_do_nothing(index_elements=key)


def upsert(conn: Connection, table: sa.Table, key: list[str], update: list[str]) -> Insert:
    """INSERT that overwrites the `update` columns of a row whose `key` columns already exist."""
    stmt = _insert_module(conn).insert(table)
    return stmt.on_conflict_do_update(
        index_elements=key, set_={name: stmt.excluded[name] for name in update}
    )


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for a whole migration, holding the migration lock until it ends.

    PostgreSQL: a transaction-scoped advisory lock; DDL is transactional, so a second process
    waits for the first to commit and then finds the schema at head. SQLite: BEGIN IMMEDIATE takes
    the database's write lock at once (see `begin_write`); DDL is transactional there too.
    SQLite's foreign keys are switched off meanwhile, as its ALTER TABLE procedure requires: a
    batch migration rebuilds a table by copy, drop and rename, and dropping a parent table with
    enforcement on would delete through its children. The PRAGMA only works outside a transaction,
    so it is set on the raw connection first, and the result is checked before commit.
    """
    sqlite_ = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite_:
            _sqlite_foreign_keys(conn, "OFF")
        try:
            with begin_write(conn):
                if not sqlite_:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
                yield conn
                if sqlite_:
                    _check_foreign_keys(conn)
        finally:
            if sqlite_:
                _sqlite_foreign_keys(conn, "ON")


def _sqlite_foreign_keys(conn: Connection, state: str) -> None:
    # On the DBAPI connection: through SQLAlchemy the statement would autobegin a transaction.
    raw = conn.connection.dbapi_connection
    raw.execute(f"PRAGMA foreign_keys = {state}")  # type: ignore[union-attr]


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")


def _postgresql_engine(parsed: URL) -> Engine:
    if parsed.drivername == "postgresql":
        # The bare scheme means psycopg2 to SQLAlchemy; we depend on psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        parsed,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        pool_pre_ping=True,
        # As for SQLite: server threads each hold a connection briefly.
        pool_size=8,
        max_overflow=32,
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if not database or database == ":memory:" or "mode=memory" in url:
        # Each pooled connection would get its own private database: refuse rather than lose data.
        raise ValueError(f"in-memory SQLite is not supported ({url!r}): use sqlite:///PATH")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
        # Server threads each hold a connection briefly; SQLite connections are cheap.
        pool_size=8,
        max_overflow=32,
    )
    event.listen(engine, "connect", _sqlite_connect)  # a pool event: nothing per statement
    engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign]
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level None stops pysqlite from issuing BEGIN/COMMIT on its own (see docstring).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(dbapi_connection: Any) -> None:
    # The dialect's do_begin, called when SQLAlchemy begins (or autobegins) a transaction.
    dbapi_connection.execute("BEGIN IMMEDIATE" if _BEGINNING_WRITE.get() else "BEGIN")
