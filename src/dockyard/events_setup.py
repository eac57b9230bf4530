"""Composition of events, the audit log and the test clock (app.py calls these four).

load_webhooks(config file)  -> [[webhooks]] tables -> domain.webhooks.parse_webhooks
audit_sink(--audit-log)     -> a function appending one line to the file (or stderr)
registry_clock(--test-clock)-> the system clock, or it plus the offset in the file
event_tasks(services)       -> the dispatcher task of the lifespan, when webhooks exist
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from dockyard.backends.configuration import ConfigurationError
from dockyard.backends.webhook_http import UrllibWebhookSender
from dockyard.domain.webhooks import Webhook, WebhookConfigError, parse_webhooks
from dockyard.services.clock import Clock, OffsetClock
from dockyard.services.composition import Services
from dockyard.services.event_dispatch import WebhookDispatcher
from dockyard.settings import Settings

log = logging.getLogger("dockyard.events")


def load_webhooks(config_file: str | None) -> list[Webhook]:
    """The `[[webhooks]]` of the --config TOML file.

    A minimal loader of its own, to be replaced by the full configuration loader at merge:
    only `webhooks` is read; the rest of the file is that loader's business.
    """
    if config_file is None:
        return []
    try:
        with open(config_file, "rb") as handle:
            tables = tomllib.load(handle).get("webhooks", [])
        if not isinstance(tables, list):
            raise WebhookConfigError("webhooks must be an array of tables: [[webhooks]]")
        return parse_webhooks(tables)
    except (OSError, tomllib.TOMLDecodeError, WebhookConfigError) as exc:
        raise ConfigurationError(f"cannot use --config {config_file}: {exc}") from exc


def audit_sink(target: str | None) -> Callable[[str], None] | None:
    """Appends each line with one write: O_APPEND keeps several processes' lines whole."""
    if target is None:
        return None
    if target == "-":
        return lambda line: _write_all(sys.stderr.fileno(), line.encode())
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    except OSError as exc:
        raise ConfigurationError(f"cannot open --audit-log {target}: {exc.strerror}") from exc
    return lambda line: _write_all(fd, line.encode())


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def registry_clock(settings: Settings, wall: Clock) -> Clock:
    if settings.test_clock is None:
        return wall
    print(
        f"dockyard: WARNING: --test-clock is on: the registry's time is the system time plus "
        f"the seconds in {settings.test_clock}. Use only in tests.",
        file=sys.stderr,
        flush=True,
    )
    return OffsetClock(wall, Path(settings.test_clock))


def event_tasks(svc: Services, settings: Settings) -> list[asyncio.Task[None]]:
    if not svc.events.webhooks:
        return []
    dispatcher = WebhookDispatcher(svc.meta, svc.events.webhooks, UrllibWebhookSender(), svc.clock)
    return [asyncio.create_task(_dispatch(dispatcher, settings.webhook_poll_seconds))]


async def _dispatch(dispatcher: WebhookDispatcher, every: float) -> None:
    """Deliver due events in a worker thread until none is due, then wait a little."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        try:
            while await asyncio.to_thread(dispatcher.deliver_once, name):
                pass
        except Exception:  # the dispatcher outlives any one failure (a database hiccup)
            log.exception("webhook dispatcher error")
        await asyncio.sleep(every)
