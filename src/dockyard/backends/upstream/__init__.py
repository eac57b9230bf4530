"""Clients of other OCI registries (the pull-through cache's upstreams): see client.py."""
