"""The connection limits of `dockyard serve` (enforced by server/connection_guard.py), and the
open-file limit they must fit in. Kept apart from the protocol so the CLI can read the defaults
without importing uvicorn."""

from __future__ import annotations

import json
import os
import resource
from dataclasses import asdict, dataclass

ENVIRONMENT_VARIABLE = "DOCKYARD_CONNECTION_LIMITS"
#: File descriptors kept for everything but client connections (database, blobs, scanner).
RESERVED_DESCRIPTORS = 256


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 20.0  # seconds from connection (or first byte) to a complete head
    keepalive_timeout: float = 15.0  # seconds an idle keep-alive connection stays open
    max_connections: int = 4096  # open client connections per server process

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> ConnectionLimits:
        text = os.environ.get(ENVIRONMENT_VARIABLE)
        return cls(**json.loads(text)) if text else cls()

    def fitted_to(self, open_files: int) -> ConnectionLimits:
        """These limits with max_connections lowered to what `open_files` descriptors allow."""
        room = max(open_files - RESERVED_DESCRIPTORS, 1)
        if self.max_connections <= room:
            return self
        return ConnectionLimits(self.header_timeout, self.keepalive_timeout, room)


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # some sandboxes refuse; keep what we have
            pass
    return soft
