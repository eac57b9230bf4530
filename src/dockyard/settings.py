"""Server settings, resolved once at start-up from the command line."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

#: How `dockyard serve --workers N` hands its settings to the worker processes uvicorn spawns.
ENVIRONMENT_VARIABLE = "DOCKYARD_SETTINGS"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./dockyard-data")
    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str | None = None
    storage_url: str | None = None
    auth_file: Path | None = None
    create_on_push: bool = False
    accept_any_credentials: bool = False
    region: str = "us-east-1"
    redirect_blobs: bool = False
    pull_flush_seconds: float = 1.0
    scan_poll_seconds: float = 0.5
    # Events, audit and tests (see app.py's "events, audit and test clock" section).
    config_file: str | None = None  # TOML; only its [[webhooks]] are read here
    audit_log: str | None = None  # a path, or "-" for stderr; None: no audit log
    test_clock: str | None = None  # a file holding seconds to add to the clock; tests only
    webhook_poll_seconds: float = 0.5
    # lifecycle (services/lifecycle.py, services/archive.py)
    lifecycle_interval: float = 86400.0  # evaluate each policy this often (ECR: within 24 h)
    lifecycle_poll_seconds: float = 1.0  # restores due, orphaned previews
    restore_delay: float = 0.0  # how long a restore from archive stays ACTIVATING
    # pull-through cache (services/pull_through.py)
    insecure_upstreams: tuple[str, ...] = ()  # host[:port] reached over plain HTTP
    pull_through_refresh: float = 86400.0  # re-check a cached tag upstream after this long
    access_log: bool = True
    log_format: str = "text"
    record_metrics: bool = True  # --metrics on (served here or on --metrics-address)
    metrics_route: bool = True  # GET /metrics on the registry's port (not moved, not off)
    stats_seconds: float = 5.0  # how often gauges sampled from the database are refreshed
    # Garbage collection (services/gc.py GcConfig has the defaults and why).
    gc_interval: float = 3600.0
    gc_grace: float = 24 * 3600.0
    upload_ttl: float = 7 * 24 * 3600.0

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'blobs').resolve()}"


def to_environment(settings: Settings) -> str:
    """`settings` as the JSON value of ENVIRONMENT_VARIABLE (paths as strings)."""
    fields = asdict(settings)
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in fields.items()})


def from_environment() -> Settings:
    """The settings `to_environment` wrote; a missing variable is a programming error."""
    try:
        fields = json.loads(os.environ[ENVIRONMENT_VARIABLE])
    except KeyError:
        raise RuntimeError(
            f"{ENVIRONMENT_VARIABLE} is not set: start workers with `dockyard serve --workers N`"
        ) from None
    fields["data_dir"] = Path(fields["data_dir"])
    fields["insecure_upstreams"] = tuple(fields.get("insecure_upstreams", ()))
    if fields["auth_file"] is not None:
        fields["auth_file"] = Path(fields["auth_file"])
    return Settings(**fields)
