"""Plugins for the whole suite: the throw-away PostgreSQL cluster and ``--e2e-database``;
moto S3 for ``--e2e-storage`` and the ``moto``/``bucket`` fixtures."""

pytest_plugins = [
    # Before the plugins that import it, or pytest cannot rewrite its asserts (and warns).
    "tests.support.s3",
    "tests.support.postgres",
    "tests.support.e2e_storage",
    "tests.support.server_logs",
]
