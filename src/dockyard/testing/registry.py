"""`Registry`: one `dockyard serve` child process with a private temporary directory.

    start()  temp dir: data/, auth.toml (a fresh account and key), clock (offset "0"),
             server.log; spawn on a free 127.0.0.1 port with --test-clock; wait for /healthz
    advance(seconds)  rewrite the clock file (atomically): the server's time moves at once
    stop()   SIGTERM (SIGKILL after a timeout), then remove the temp dir: nothing is left

The server runs with the same Python as the caller, from the same `dockyard` package (its
directory goes first on PYTHONPATH, so a source checkout works without installing).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import dockyard

PACKAGE_ROOT = Path(dockyard.__file__).resolve().parents[1]


class RegistryStartError(RuntimeError):
    """The server exited or did not answer in time; the message carries its log."""


class Registry:
    """A running registry; see the module doc. Attributes are set by `start`."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        create_on_push: bool = True,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self.region, self.create_on_push = region, create_on_push
        self.extra_args, self.startup_timeout = list(extra_args), startup_timeout
        self.account_id = "".join(secrets.choice("0123456789") for _ in range(12))
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.port = 0
        self.offset = 0.0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # -- addresses and clients ----------------------------------------------------------------

    @property
    def registry_host(self) -> str:
        """`host:port`, as image references want it (`{registry_host}/repo:tag`)."""
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.registry_host}"

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    def client(self, service: str = "ecr", **kwargs: Any) -> Any:
        """A boto3 client for this registry's account (keyword arguments go to boto3)."""
        import boto3  # type: ignore[import-untyped]

        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.endpoint_url, **kwargs)

    def authorization_token(self) -> str:
        """GetAuthorizationToken's password (the `/v2/` password for user `AWS`)."""
        data = self.client().get_authorization_token()["authorizationData"][0]
        return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]

    def auth_file(self, path: Path | None = None) -> Path:
        """A containers-auth.json (skopeo/podman `--authfile`, `REGISTRY_AUTH_FILE`)."""
        path = path or self._dir() / "containers-auth.json"
        auth = base64.b64encode(f"AWS:{self.authorization_token()}".encode()).decode()
        path.write_text(json.dumps({"auths": {self.registry_host: {"auth": auth}}}))
        return path

    def login(self, tool: str = "skopeo", authfile: Path | None = None) -> Path:
        """Run `<tool> login` (skopeo or podman) for this registry; returns the auth file."""
        path = authfile or self._dir() / "containers-auth.json"
        subprocess.run(
            [tool, "login", "--tls-verify=false", "--authfile", str(path), "--username", "AWS",
             "--password-stdin", self.registry_host],
            input=self.authorization_token().encode(), check=True, capture_output=True,
            timeout=60)  # fmt: skip
        return path

    # -- the clock ---------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the registry's clock forward (token expiry, lifecycle rules): no waiting."""
        self.offset += seconds
        clock = self._dir() / "clock"
        staged = clock.with_suffix(".new")
        staged.write_text(repr(self.offset))
        os.replace(staged, clock)  # a reader sees the old or the new offset, never half

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self.directory = Path(tempfile.mkdtemp(prefix="dockyard-test-"))
        try:
            self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove everything it wrote; safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return (self._dir() / "server.log").read_text(errors="replace")[-max_chars:]
        except (OSError, RuntimeError):
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.directory is None:
            raise RuntimeError("the registry is not running: call start() or use `with`")
        return self.directory

    def _spawn(self) -> None:
        root = self._dir()
        (root / "auth.toml").write_text(
            f'[[accounts]]\nid = "{self.account_id}"\n\n[[accounts.keys]]\n'
            f'access_key_id = "{self.access_key_id}"\n'
            f'secret_access_key = "{self.secret_access_key}"\n'
        )
        (root / "clock").write_text("0")
        self.port = _free_port()
        command = [
            sys.executable, "-m", "dockyard", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(root / "data"),
            "--auth-file", str(root / "auth.toml"), "--test-clock", str(root / "clock"),
            "--region", self.region, "--log-level", "warning",
            *(["--create-on-push"] if self.create_on_push else []), *self.extra_args,
        ]  # fmt: skip
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p
        )
        with open(root / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=root,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RegistryStartError(
                    f"dockyard exited with {self.process.returncode}:\n" + self.log_tail()
                )
            if _answers(self.endpoint_url + "/healthz"):
                return
            time.sleep(0.02)
        raise RegistryStartError(
            f"dockyard did not answer within {self.startup_timeout}s:\n" + self.log_tail()
        )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def registry(**options: Any) -> Iterator[Registry]:
    """A running Registry for the block (options: region, create_on_push, extra_args)."""
    with Registry(**options) as running:
        yield running
