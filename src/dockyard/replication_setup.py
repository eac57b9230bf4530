"""Composition of replication (app.py calls these): destinations on other servers, the worker.

The --config TOML file declares the other Dockyards a replication rule may name as a region,
with an access key of an account there (kept with the server's other settings: the key is the
replicating server's own credential, as a webhook's secret is):

    [[regions]]
    name = "eu-west-1"                  # what a destination's `region` names
    url = "https://dockyard.eu.example:5000"
    access_key_id = "AKIA..."           # a key of the destination registry's account (or one
    secret_access_key = "..."           #   its registry policy lets push there)
    # timeout = 60                      # seconds per request
    # ca_bundle = "/etc/ssl/eu-ca.pem"  # to verify an HTTPS destination

    [replication]                       # optional: retries of copies that cannot get through
    retry_base_seconds = 5              # first delay, doubled each time ...
    retry_max_seconds = 300             # ... up to this
    max_attempts = 30                   # then the copy is FAILED
    poll_seconds = 1.0                  # how often the queue is looked at when idle

    load_regions(config file)       -> [RegionConfig]
    load_retry(config file)         -> (RetryPolicy, poll seconds)
    replication_tasks(services, settings) -> the worker task of the lifespan
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tomllib
from collections.abc import Callable
from typing import Any

from dockyard.backends.factory import ConfigurationError
from dockyard.backends.replica_http import HttpReplicaTarget, RegionConfig
from dockyard.domain.replication import Destination
from dockyard.ports import ReplicaTarget
from dockyard.services.composition import Services
from dockyard.services.replication_copy import ReplicationWorker, RetryPolicy
from dockyard.settings import Settings

log = logging.getLogger("dockyard.replication")

_REGION_KEYS = {"name", "url", "access_key_id", "secret_access_key", "timeout", "ca_bundle"}
_RETRY_KEYS = {"retry_base_seconds", "retry_max_seconds", "max_attempts", "poll_seconds"}


def _tables(config_file: str | None) -> dict[str, Any]:
    if config_file is None:
        return {}
    try:
        with open(config_file, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot use --config {config_file}: {exc}") from exc


def load_regions(config_file: str | None) -> list[RegionConfig]:
    """The `[[regions]]` of the --config file; a mistake names the table and the key."""
    tables = _tables(config_file).get("regions", [])
    if not isinstance(tables, list):
        raise ConfigurationError(f"--config {config_file}: regions must be [[regions]] tables")
    regions = [_region(table, number, config_file) for number, table in enumerate(tables, 1)]
    names = [region.name for region in regions]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"--config {config_file}: a region name appears twice")
    return regions


def _region(table: object, number: int, config_file: str | None) -> RegionConfig:
    where = f"--config {config_file}: [[regions]] #{number}"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} is not a table")
    unknown = set(table) - _REGION_KEYS
    missing = {"name", "url", "access_key_id", "secret_access_key"} - set(table)
    if unknown or missing:
        raise ConfigurationError(
            f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        )
    if not str(table["url"]).startswith(("http://", "https://")):
        raise ConfigurationError(f"{where}: url must start with http:// or https://")
    return RegionConfig(
        str(table["name"]),
        str(table["url"]),
        str(table["access_key_id"]),
        str(table["secret_access_key"]),
        float(table.get("timeout", 60.0)),
        table.get("ca_bundle"),
    )


def load_retry(config_file: str | None) -> tuple[RetryPolicy, float]:
    table = _tables(config_file).get("replication", {})
    if not isinstance(table, dict) or set(table) - _RETRY_KEYS:
        raise ConfigurationError(
            f"--config {config_file}: [replication] takes only {sorted(_RETRY_KEYS)}"
        )
    default = RetryPolicy()
    try:
        policy = RetryPolicy(
            float(table.get("retry_base_seconds", default.base_seconds)),
            float(table.get("retry_max_seconds", default.max_seconds)),
            int(table.get("max_attempts", default.max_attempts)),
        )
        return policy, float(table.get("poll_seconds", 1.0))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"--config {config_file}: [replication]: {exc}") from exc


def target_factory(
    regions: list[RegionConfig], origin: str
) -> Callable[[Destination], ReplicaTarget | None]:
    """Destination -> a client of its region's server (one per destination, kept)."""
    by_name = {region.name: region for region in regions}
    clients: dict[Destination, HttpReplicaTarget] = {}

    def target(destination: Destination) -> ReplicaTarget | None:
        region = by_name.get(destination.region)
        if region is None:
            return None
        if destination not in clients:
            clients[destination] = HttpReplicaTarget(region, destination.registry_id, origin)
        return clients[destination]

    return target


def replication_tasks(svc: Services, settings: Settings) -> list[asyncio.Task[None]]:
    retry, poll = load_retry(settings.config_file)
    worker = ReplicationWorker(
        svc.meta,
        svc.blob_store,
        svc.images,
        svc.templates,
        svc.access,
        svc.clock,
        settings.region,
        target_factory(load_regions(settings.config_file), settings.region),
        retry,
        svc.audit,
    )
    return [asyncio.create_task(_work(worker, poll))]


async def _work(worker: ReplicationWorker, every: float) -> None:
    """Copy due images in a worker thread until none is due, then wait a little."""
    name = f"{socket.gethostname()}:{os.getpid()}:replication"
    while True:
        try:
            while await asyncio.to_thread(worker.work_once, name):
                pass
        except Exception:  # the worker outlives any one failure (a database hiccup)
            log.exception("replication worker error")
        await asyncio.sleep(every)
