"""Server settings, resolved once at start-up from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'blobs').resolve()}"
