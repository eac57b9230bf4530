"""The OCI distribution API end to end against the ASGI app (no server process)."""
