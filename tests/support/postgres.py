"""A throw-away PostgreSQL server for tests, and a fresh database per test in milliseconds.

Lifecycle (one cluster per pytest session, started on first use)::

    PostgresCluster.start()  initdb into a temp dir (trust auth, no fsync), then `postgres` as a
                             child process on 127.0.0.1:<free port>, unix socket in the temp dir,
                             set to die with us; then a template database migrated to head once
    new_database()           CREATE DATABASE <fresh name> TEMPLATE <template>: a file copy, so
                             a server or test module gets a schema at head without migrating
    empty_database(url)      DELETE every row: how a module's database is reused for each test
    new_empty_database()     CREATE DATABASE from template0: no tables at all (migration tests)
    stop()                   SIGQUIT (immediate shutdown), remove the temp dir

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user
(created if missing) and owns the temp dir. No system service or existing cluster is used. When no
PostgreSQL binaries are found the fixtures FAIL (pytest.fail) with what to install: a silent skip
would let a PostgreSQL regression pass CI unnoticed.

As a pytest plugin (tests/conftest.py loads it) this module provides the session fixture
`postgres` and the `--e2e-database` option: `--e2e-database=postgres` (or
`DOCKYARD_E2E_DATABASE=postgres`) makes every DockyardServer of tests/e2e and tests/ecr run with
`--database-url` on a fresh database of this cluster.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.server import DockyardServer, free_port

E2E_DATABASE_ENV = "DOCKYARD_E2E_DATABASE"
_USER = "dockyard"  # the cluster's superuser (initdb -U)
_TEMPLATE = "dockyard_template"
# Durability is worthless for a throw-away cluster; speed is not.
_SETTINGS = [
    *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
    *("-c", "max_connections=300", "-c", "shared_buffers=64MB"),
]


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path:
    """The directory holding initdb and postgres: PATH first, then Debian's versioned dirs."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # past symlinks, to find its siblings
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if versions:
        return Path(versions[-1]).parent
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, postgres) not found: install them with "
        "`apt-get install postgresql` (scripts/test.sh does) to run the PostgreSQL tests"
    )


class PostgresCluster:
    """One private PostgreSQL server process; see the module docstring for its lifecycle."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
        self.data_dir = self.tmp_dir / "data"
        self.port = free_port()
        self._run_as = _server_user()
        self._names = itertools.count()
        self._admin: sa.Engine | None = None
        self._server: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle

    def start(self) -> PostgresCluster:
        if self._run_as is not None:
            os.chown(self.tmp_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        self._pg("initdb", "-D", self.data_dir, "-U", _USER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        self._spawn()
        self._admin = sa.create_engine(
            _psycopg(self.url("postgres")), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        self._wait_ready()
        self._create_template()
        return self

    def stop(self) -> None:
        try:
            if self._server is not None and self._server.poll() is None:
                self._server.send_signal(signal.SIGQUIT)  # immediate shutdown: nothing to keep
                self._server.wait(30)
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    # -- databases

    def new_database(self) -> str:
        """A fresh database whose schema is at head; returns its URL."""
        # FILE_COPY copies the template's files and checkpoints, cheap with fsync off; the
        # default WAL_LOG writes every block to the WAL and was three times slower here.
        return self._create(f"TEMPLATE {_TEMPLATE} STRATEGY FILE_COPY")

    def new_empty_database(self) -> str:
        """A fresh database without any table; returns its URL."""
        return self._create("TEMPLATE template0")

    def empty_database(self, url: str) -> None:
        """Delete every row of a database at head: far cheaper than a new one per test."""
        from dockyard.backends.metadata.schema import metadata

        engine = sa.create_engine(_psycopg(url), poolclass=sa.NullPool)
        try:
            with engine.begin() as conn:
                for table in reversed(metadata.sorted_tables):  # children before parents
                    conn.execute(table.delete())
        finally:
            engine.dispose()

    def drop_database(self, url: str) -> None:
        name = sa.make_url(url).database
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return (self.tmp_dir / "server.log").read_text(errors="replace")[-max_chars:]
        except OSError:
            return "(no server log)"

    # -- internals

    def _create(self, template: str) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._sql(f'CREATE DATABASE "{name}" {template}')
        return self.url(name)

    def _create_template(self) -> None:
        from dockyard.backends.metadata import dialects, migrate

        self._sql(f'CREATE DATABASE "{_TEMPLATE}" TEMPLATE template0')
        engine = dialects.create_engine(self.url(_TEMPLATE))
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it without connections

    def _sql(self, statement: str) -> None:
        assert self._admin is not None, "the cluster is not started"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(statement)

    def _spawn(self) -> None:
        """Run the postmaster as our child (not daemonised by pg_ctl), so it dies with us."""
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1",
                   "-p", str(self.port), "-k", str(self.tmp_dir), *_SETTINGS]  # fmt: skip
        with (self.tmp_dir / "server.log").open("ab") as log:
            self._server = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.tmp_dir,
                user=self._run_as.pw_name if self._run_as else None,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (only a preloaded C call)
            )  # fmt: skip

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sql("SELECT 1")
                return
            except sa.exc.OperationalError:
                if self._server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def _pg(self, program: str, *args: object) -> None:
        command = [str(self.bin_dir / program), *map(str, args)]
        user = self._run_as.pw_name if self._run_as else None
        result = subprocess.run(command, check=False, capture_output=True, text=True, user=user,
                                cwd=self.tmp_dir, timeout=120)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )


def _psycopg(url: str) -> sa.URL:
    # The URLs handed out say postgresql:// (dialects.create_engine maps that to psycopg 3);
    # the bare scheme would mean psycopg2 to SQLAlchemy itself.
    return sa.make_url(url).set(drivername="postgresql+psycopg")


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: the forked child only calls it
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child after it switched user (which would have cleared this): if pytest dies,
    # even by SIGKILL, the kernel sends the postmaster SIGQUIT and no cluster is left running.
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGQUIT)


def _server_user() -> pwd.struct_passwd | None:
    """None to run the server as ourselves; the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
        return pwd.getpwnam("postgres")


# -- pytest plugin ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e-database",
        choices=("sqlite", "postgres"),
        default=os.environ.get(E2E_DATABASE_ENV, "sqlite"),
        help="metadata database of the servers in tests/e2e and tests/ecr "
        f"(default sqlite; also ${E2E_DATABASE_ENV})",
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster; a missing PostgreSQL fails the test, never skips it."""
    try:
        cluster = PostgresCluster()
    except PostgresNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session", autouse=True)
def _e2e_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """With --e2e-database=postgres, give each DockyardServer its own fresh database."""
    if request.config.getoption("--e2e-database") != "postgres":
        yield
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    previous = DockyardServer.database_url_factory
    DockyardServer.database_url_factory = cluster.new_database
    try:
        yield
    finally:
        DockyardServer.database_url_factory = previous
