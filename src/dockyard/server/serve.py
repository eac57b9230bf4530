"""Running `dockyard serve`: the listening socket, TLS, the metrics listener and shutdown.

    check_tls(cert, key)      both or neither; loadable, else one ConfigurationError line
    bind(host, port)          the socket, bound and listening before "serving on" is printed
                              (a port in use is an error line, not a success then a failure)
    prepare_metrics(...)      multiprocess collection for --workers N; --metrics-address
    run(target, sock, ...)    uvicorn on that socket, one process or N workers

Shutdown on SIGTERM (or Ctrl-C) is uvicorn's: stop accepting, let in-flight requests finish
for up to --shutdown-timeout, run the app's lifespan shutdown (which flushes pull times), and
then exit 0 (uvicorn would re-raise the signal and die of it; `_Server` does not).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from dockyard.backends.configuration import ConfigurationError
from dockyard.server.connection_guard import GuardedProtocol
from dockyard.server.connection_limits import ConnectionLimits

BACKLOG = 2048  # uvicorn's default


def check_tls(cert: Path | None, key: Path | None) -> None:
    if cert is None and key is None:
        return
    if cert is None or key is None:
        raise ConfigurationError("--tls-cert and --tls-key go together: give both or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError is an OSError
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ConfigurationError(
            f"cannot use --tls-cert {cert} with --tls-key {key}: {reason}"
        ) from None


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on --host {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)  # the worker processes of --workers N serve it too
    return sock


def bound_url(sock: socket.socket, tls: bool) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def prepare_metrics(enabled: bool, address: str | None, workers: int) -> Callable[[], None]:
    """Before any app is built (prometheus_client reads its mode at import): workers share
    a fresh multiprocess directory, and --metrics-address starts its own listener here.
    Returns what undoes both at exit."""
    cleanups: list[Callable[[], None]] = []
    if enabled and workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = tempfile.mkdtemp(prefix="dockyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # inherited by the workers
        cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    if enabled and address is not None:
        cleanups.append(_metrics_listener(address))

    def cleanup() -> None:
        for step in reversed(cleanups):
            step()

    return cleanup


def _metrics_listener(address: str) -> Callable[[], None]:
    from prometheus_client import start_http_server

    from dockyard import metrics

    host, _, port = address.rpartition(":")
    try:
        server, _thread = start_http_server(
            int(port), host.strip("[]"), registry=metrics.registry()
        )
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on --metrics-address {address}: {exc.strerror}"
        ) from None
    return server.shutdown


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # A graceful stop is a success: exit 0 instead of re-raising the signal afterwards.
        self._captured_signals.clear()


def run(
    target: Any,
    sock: socket.socket,
    *,
    workers: int,
    log_level: str,
    shutdown_timeout: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    limits: ConnectionLimits,
) -> None:
    config = uvicorn.Config(
        target,
        log_level=log_level,
        http=GuardedProtocol,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(shutdown_timeout),
        workers=workers,
        factory=workers > 1,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        timeout_keep_alive=limits.keepalive_timeout,  # type: ignore[arg-type]
        log_config=_log_config(log_level),
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        _Server(config).run(sockets=[sock])


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Dockyard's own loggers (`dockyard.*`) on its console handler at
    the --log-level: without a handler, their info lines (a client gone mid-body) were lost."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["dockyard"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
