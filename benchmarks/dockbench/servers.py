"""Start, wait for, and stop the registries under test, each on a free loopback port.

Every server gets a fresh storage directory; ``stop`` sends SIGTERM, then SIGKILL, and the caller
deletes the directory. The process started here *is* the server (no shell in between), so its pid
is the root of the tree that ``procstat`` measures.
"""

from __future__ import annotations

import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

REPO_ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION_BIN = "/usr/bin/docker-registry"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
health:
  storagedriver:
    enabled: false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    """One kind of registry; ``start`` returns a running ``Server``."""

    name: str
    label: str
    port: int = field(default_factory=free_port)

    ready_path = "/v2/"
    last_command = ""  # as last started, for the report

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, workdir: Path, timeout: float = 60.0) -> Server:
        workdir.mkdir(parents=True)
        cmd, env = self.command(workdir)
        self.last_command = shlex.join(cmd)
        log = open(workdir / "server.log", "wb")  # noqa: SIM115 - open while the server runs
        proc = subprocess.Popen(
            cmd,
            env=os.environ | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = Server(self, proc, workdir, log)
        server.wait_ready(timeout)
        return server


class Dockyard(Registry):
    """``python -m dockyard serve``, without authentication and creating repositories on push
    (like distribution here). ``DOCKYARD_BENCH_CMD`` may replace the command line (placeholders
    ``{python} {host} {port} {data_dir}``), e.g. to try another ASGI server."""

    ready_path = "/healthz"
    workers = 1  # `serve --workers`; run.py --dockyard-workers sets it
    extra_args: ClassVar[list[str]] = []  # more `serve` options; run.py --dockyard-args sets them
    # Passed when `serve --help` lists them: the benchmark compares unauthenticated registries.
    OPTIONAL_FLAGS = ("--accept-any-credentials", "--create-on-push")
    _flags: list[str] | None = None

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        env = {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")) if p
            )
        }
        template = os.environ.get("DOCKYARD_BENCH_CMD")
        if template is None:
            template = (
                "{python} -m dockyard serve --host {host} --port {port} --data-dir {data_dir}"
            )
            template += "".join(" " + f for f in self._supported_flags(env))
            if self.workers > 1:
                template += f" --workers {self.workers}"
            template += "".join(" " + shlex.quote(a) for a in self.extra_args)
        cmd = template.format(
            python=sys.executable, host="127.0.0.1", port=self.port, data_dir=workdir / "data"
        )
        return shlex.split(cmd), env

    def _supported_flags(self, env: dict[str, str]) -> list[str]:
        if self._flags is None:
            out = subprocess.run(
                [sys.executable, "-m", "dockyard", "serve", "--help"],
                env=os.environ | env,
                check=False,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self._flags = [f for f in self.OPTIONAL_FLAGS if f in out.stdout]
        return self._flags


class Distribution(Registry):
    """Debian's ``docker-registry`` (CNCF distribution 2.8), filesystem storage, no auth."""

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        config = workdir / "config.yml"
        config.write_text(DISTRIBUTION_CONFIG.format(root=workdir / "data", port=self.port))
        return [DISTRIBUTION_BIN, "serve", str(config)], {}


def registries() -> dict[str, Registry]:
    return {
        "dockyard": Dockyard("dockyard", "Dockyard"),
        "distribution": Distribution("distribution", "distribution 2.8"),
    }


@dataclass
class Server:
    registry: Registry
    proc: subprocess.Popen
    workdir: Path
    log: object

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.registry.port}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.registry.name} exited early with code "
                    f"{self.proc.returncode}:\n{self.log_tail()}"
                )
            if self._probe():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.registry.name} not ready in {timeout}s:\n{self.log_tail()}")

    def _probe(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.registry.port, timeout=2)
        try:
            conn.request("GET", self.registry.ready_path)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.workdir / "server.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's own process group (it was started as a session leader)."""
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        self._signal(signal.SIGKILL)  # stragglers left in the group, if any
        self.log.close()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
