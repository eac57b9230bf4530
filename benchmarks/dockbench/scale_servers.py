"""The processes of scale_bench.py: a private PostgreSQL, moto S3, and Dockyard on given stores.

- ``BenchPostgres``: the test suite's throw-away cluster (tests/support/postgres.py: initdb into a
  temp dir, a child postmaster on loopback, databases copied from a migrated template), but with
  ``fsync=on`` and ``full_page_writes=on``: the tests turn durability off, which would flatter
  PostgreSQL. ``synchronous_commit=off`` stays, the counterpart of Dockyard's SQLite setting
  (``synchronous=NORMAL`` in WAL): a commit survives the server process dying, not an OS crash.
- ``bench_moto``: moto in server mode (tests/support/s3.py), a bucket per configuration.
- ``DockyardOn``: ``python -m dockyard serve`` on a chosen data dir, database URL and storage URL,
  with extra options (``--workers N``, ``--accept-any-credentials``...), from the source snapshot.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from dockbench.ecr_servers import DockyardECR
from dockbench.servers import REPO_ROOT

BENCH_PG_SETTINGS = [
    *("-c", "fsync=on", "-c", "synchronous_commit=off", "-c", "full_page_writes=on"),
    *("-c", "max_connections=300", "-c", "shared_buffers=256MB"),
]


def _tests_importable() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.append(str(REPO_ROOT))  # after the source snapshot: tests import dockyard


def start_postgres():
    """A started PostgresCluster with the benchmark's settings (the caller stops it)."""
    _tests_importable()
    from tests.support import postgres

    postgres._SETTINGS = BENCH_PG_SETTINGS  # read when the postmaster is spawned
    return postgres.PostgresCluster().start()


def start_moto():
    _tests_importable()
    from tests.support.s3 import MotoS3

    return MotoS3().start()


def s3_environment() -> dict[str, str]:
    _tests_importable()
    from tests.support.s3 import CREDENTIALS

    return dict(CREDENTIALS)


class DockyardOn(DockyardECR):
    """Dockyard on a fixed data dir with extra ``serve`` options and environment.

    Authentication stays on unless ``extra`` says otherwise: the client signs with the key the
    server writes into the data dir on first start (``DockyardECR.client``).
    """

    def __init__(self, data_dir: Path, src: Path, extra: list[str],
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(data_dir, src)
        self.extra, self.env = list(extra), dict(env or {})

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        pythonpath = os.pathsep.join(p for p in (str(self.src), os.environ.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "dockyard", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra]  # fmt: skip
        self.last_command = shlex.join(cmd)
        return cmd, {"PYTHONPATH": pythonpath, **self.env}
