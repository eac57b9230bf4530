"""Real registry server processes for end-to-end tests.

``DockyardServer`` runs ``python -m dockyard serve`` from this checkout; ``DistributionServer``
runs CNCF distribution 2.8 (Debian's ``docker-registry``), the reference peer, with the same
interface so every e2e test can run against either (see ``server_class``).

Lifecycle of one helper::

    __init__  -> temp dir (data/, server.log), free port chosen once
    start()   -> spawn, wait for the ready URL (ServerStartError with the log tail on failure)
    stop()    -> terminate() (SIGTERM) + wait(); a server that ignores it is killed and
                 ServerStopError raised
    kill()    -> SIGKILL, wait (a crash; nothing gets to clean up)
    restart() -> stop() if running, then start() on the same data dir and port
    close()   -> stop (or kill) and remove the temp dir; a context manager calls it

The port stays fixed across restarts because clients (upload ``Location`` URLs, skopeo refs)
hold absolute addresses. The temp dir is removed on close; the log is read before that when a
test fails (``log_tail``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, Self

import httpx

__all__ = [
    "DistributionServer",
    "DockyardServer",
    "ServerError",
    "ServerProcess",
    "ServerStartError",
    "ServerStopError",
    "free_port",
    "live_servers",
    "server_class",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_ENV = "DOCKYARD_E2E_TARGET"

_LIVE: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


class ServerError(RuntimeError):
    """A server process did not behave as a process should (start, stop)."""


class ServerStartError(ServerError):
    """The server exited or never became ready; the message carries its log."""


class ServerStopError(ServerError):
    """The server did not exit within the timeout after SIGTERM."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just reported free (a tiny race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def live_servers() -> list[ServerProcess]:
    """Servers currently running, so a failing test's report can include their logs."""
    return [server for server in list(_LIVE) if server.running]


class ServerProcess:
    """One server subprocess with a private temp dir; subclasses say how to launch it."""

    name: ClassVar[str] = "server"
    ready_path: ClassVar[str] = "/healthz"

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 120.0,  # a loaded CI machine starting several workers
        stop_timeout: float = 15.0,
    ) -> None:
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-e2e-"))
        self.data_dir = Path(data_dir) if data_dir else self.tmp_dir / "data"
        self.log_path = self.tmp_dir / "server.log"
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        #: A CA bundle (PEM path) for a server that serves HTTPS: `url` is then https://.
        self.ca_bundle: Path | None = None
        self.last_command: list[str] = []
        self.returncode: int | None = None

    # -- addresses

    @property
    def address(self) -> str:
        """``host:port``, as image references and oras's ``hostname`` want it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_bundle else 'http'}://{self.address}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- launching (subclass hooks)

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    # -- lifecycle

    def start(self) -> Self:
        """Spawn the server and block until its ready URL answers 200."""
        if self.running:
            raise ServerError(f"{self.name} is already running (pid {self.process.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.last_command = self.command()
        with self.log_path.open("ab") as log:
            log.write(f"--- start: {' '.join(self.last_command)}\n".encode())
            log.flush()
            # Own session: a Ctrl-C in the terminal reaches pytest, whose teardown stops us.
            self.process = subprocess.Popen(
                self.last_command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.environment(),
                cwd=self.tmp_dir,
                start_new_session=True,
            )
        _LIVE.add(self)
        self._wait_ready()
        return self

    def started(self) -> Self:
        """``start``, closing the server (temp dir included) if it fails: for a caller that
        keeps the server beyond a ``with`` block and closes it later."""
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code. Not exiting in time is an error."""
        self.terminate()
        return self.wait()

    def terminate(self) -> None:
        """Send SIGTERM without waiting (to observe a shutdown in progress); see ``wait``."""
        process = self._require_process()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        """Wait for the process to exit after ``terminate``; kill it and raise if it does not.

        A graceful exit may be 0 or death by the SIGTERM it re-raised after cleaning up
        (uvicorn does that since 0.29, like most Unix daemons), so the code is returned as is.
        """
        process = self._require_process()
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerStopError(
                f"{self.name} did not exit within {self.stop_timeout}s of SIGTERM\n"
                + self.log_tail()
            ) from None
        self.returncode = process.returncode
        return process.returncode

    def kill(self) -> None:
        """SIGKILL and reap: a crash, with no chance to flush or clean up."""
        process = self._require_process()
        if process.poll() is None:
            process.kill()
        process.wait()
        self.returncode = process.returncode

    def restart(self) -> Self:
        """Stop gracefully if running, then start again on the same data dir and port."""
        if self.running:
            self.stop()
        return self.start()

    def close(self) -> None:
        """Stop (kill if stopping fails) and remove the temp dir; safe to call twice."""
        try:
            if self.running:
                self.stop()
        except ServerStopError:
            pass  # already killed by stop(); the caller's test reports the real failure
        finally:
            if self.process is not None and self.process.poll() is None:
                self.kill()
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- diagnostics

    def log_tail(self, max_chars: int = 6000) -> str:
        """The end of the server's stdout+stderr log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        return text[-max_chars:]

    # -- internals

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise ServerError(f"{self.name} was never started")
        return self.process

    def _wait_ready(self) -> None:
        """Poll the ready URL; fail fast (with the log) if the process dies meanwhile."""
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail_start(f"exited with code {self.process.returncode} before ready")
            try:
                response = httpx.get(self.url + self.ready_path, timeout=2.0, verify=self._verify())
                if response.status_code == 200:
                    return
                last_error = f"{self.ready_path} answered {response.status_code}"
            except httpx.TransportError as exc:
                last_error = repr(exc)
            time.sleep(0.05)
        self.kill()
        self._fail_start(f"not ready within {self.startup_timeout}s (last: {last_error})")

    def _verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True

    def _fail_start(self, reason: str) -> None:
        raise ServerStartError(
            f"{self.name} {reason}\ncommand: {' '.join(self.last_command)}\n"
            f"--- log ({self.log_path}) ---\n{self.log_tail()}"
        )


class DockyardServer(ServerProcess):
    """``python -m dockyard serve`` from this checkout's ``src`` (no install needed)."""

    name = "dockyard"
    ready_path = "/healthz"
    #: Set for a whole test session (tests/support/postgres.py, ``--e2e-database=postgres``):
    #: makes a fresh database URL, migrated to head, for each server's ``--database-url``.
    database_url_factory: ClassVar[Callable[[], str] | None] = None
    #: Likewise for blobs (tests/support/e2e_storage.py, ``--e2e-storage=s3``): a fresh bucket's
    #: ``--storage-url`` per data dir, and the environment (credentials) the store needs.
    storage_url_factory: ClassVar[Callable[[], str] | None] = None
    storage_environment: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: object, extra_args: Sequence[str] = (), **kwargs: object) -> None:
        """``extra_args`` are appended to ``serve`` (e.g. ``--auth-file F --region us-east-1``).

        They come last, so a test's own ``--database-url`` or ``--storage-url`` wins over the
        session-wide ones above (argparse keeps the last occurrence).
        """
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.extra_args = list(extra_args)
        self.database_url = _database_for(self.data_dir)
        self.storage_url = _storage_for(self.data_dir)

    @property
    def store_args(self) -> list[str]:
        """``--data-dir`` plus the session's store URLs: what another command (``dockyard scan``)
        needs to see this server's data, whichever ``--e2e-database`` and ``--e2e-storage``."""
        database = ["--database-url", self.database_url] if self.database_url else []
        storage = ["--storage-url", self.storage_url] if self.storage_url else []
        return ["--data-dir", str(self.data_dir), *database, *storage]

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "dockyard", "serve", "--host", self.host, "--port", str(self.port),
            *self.store_args, *self.extra_args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        # Put this checkout first, so an installed older dockyard never answers for it.
        env = {**os.environ, **self.storage_environment}
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        return env


#: Database URL per data dir: servers sharing a data dir (two processes, a restart) share one
#: database, as they would share the SQLite file inside it.
_DATABASES: dict[Path, str] = {}


def _database_for(data_dir: Path) -> str | None:
    factory = DockyardServer.database_url_factory
    if factory is None:
        return None
    key = data_dir.resolve()
    if key not in _DATABASES:
        _DATABASES[key] = factory()
    return _DATABASES[key]


#: Storage URL per data dir, for the same reason: servers sharing a data dir share its blobs.
_STORAGES: dict[Path, str] = {}


def _storage_for(data_dir: Path) -> str | None:
    factory = DockyardServer.storage_url_factory
    if factory is None:
        return None
    key = data_dir.resolve()
    if key not in _STORAGES:
        _STORAGES[key] = factory()
    return _STORAGES[key]


class DistributionServer(ServerProcess):
    """CNCF distribution 2.8 (``docker-registry``), to check the tests against a reference."""

    name = "distribution"
    ready_path = "/v2/"
    binary = "/usr/bin/docker-registry"

    def command(self) -> list[str]:
        if not Path(self.binary).exists():
            raise ServerStartError(f"{self.binary} missing: apt-get install docker-registry")
        return [self.binary, "serve", str(self._write_config())]

    def _write_config(self) -> Path:
        # JSON is YAML. A fixed http.secret lets upload state tokens survive a restart (the
        # default is random per process); deletes are off unless enabled; without a drain
        # timeout distribution dies of SIGTERM (exit -15) instead of shutting down.
        config = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.data_dir)},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.address, "secret": "dockyard-e2e-secret", "draintimeout": "5s"},
        }
        path = self.tmp_dir / "config.yml"
        path.write_text(json.dumps(config))
        return path


def server_class() -> type[ServerProcess]:
    """The server the e2e suite targets: ``DOCKYARD_E2E_TARGET=dockyard|distribution``."""
    target = os.environ.get(TARGET_ENV, "dockyard")
    classes = {"dockyard": DockyardServer, "distribution": DistributionServer}
    if target not in classes:
        raise ValueError(f"{TARGET_ENV}={target!r}: expected one of {sorted(classes)}")
    return classes[target]
