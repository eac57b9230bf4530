"""Plugins for the whole suite: the throw-away PostgreSQL cluster and ``--e2e-database``;
moto S3 for ``--e2e-storage`` and the ``moto``/``bucket`` fixtures."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.e2e_storage",
    "tests.support.server_logs",
    "tests.support.s3",
]
