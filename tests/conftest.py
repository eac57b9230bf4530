"""Plugins for the whole suite: the throw-away PostgreSQL cluster and ``--e2e-database``."""

pytest_plugins = ["tests.support.postgres"]
