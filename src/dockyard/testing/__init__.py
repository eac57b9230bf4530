"""A real Dockyard registry for other projects' tests: `registry()` and the pytest plugin.

    with dockyard.testing.registry() as reg:       # a `dockyard serve` on a free loopback port
        ecr = reg.client("ecr")                    # boto3, with the registry's account and key
        reg.login("skopeo")                        # skopeo/podman auth file for reg.registry_host
        reg.advance(13 * 3600)                     # the registry's clock, 13 hours later

In pytest, the plugin (entry point `pytest11`, module dockyard.testing.pytest_plugin) gives
the fixtures `dockyard_registry` (one per session) and `dockyard_registry_per_test`.
"""

from dockyard.testing.registry import Registry, RegistryStartError, registry

__all__ = ["Registry", "RegistryStartError", "registry"]
