"""dockyard.testing (the context manager and the pytest plugin), used as another project would.

Outside tests/e2e: the registry it starts has its own SQLite, so the PostgreSQL re-run of the
e2e suite would only repeat these tests.
"""
