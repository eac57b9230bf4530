"""The two ECR API servers of ecr_bench.py and boto3 clients for them.

- ``DockyardECR``: ``python -m dockyard serve --host 127.0.0.1 --port P --data-dir D`` (from
  ``src``: ecr_bench.py passes a snapshot of the tree taken when it starts) with
  authentication on (no ``--accept-any-credentials``): it writes ``D/credentials.toml`` on first
  start, and the client signs with that key. The data directory is fixed, so the server can be
  stopped (to fill the database offline) and started again on the same data.
- ``Moto``: ``python -m moto.server -H 127.0.0.1 -p P`` (moto's own Werkzeug server, as
  ``moto_server`` runs it); any credentials are accepted.

Both reuse ``servers.Registry``/``Server`` (readiness probe, process group, SIGTERM then SIGKILL).
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from pathlib import Path

import boto3
from botocore.config import Config

from dockbench.servers import REPO_ROOT, Dockyard, Registry

REGION = "us-east-1"


def client_config() -> Config:
    """No retries (a failure is a failure), generous read timeout (moto lists slowly)."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=600,
        max_pool_connections=4,
    )


def ecr_client(endpoint: str, key_id: str, secret: str):
    session = boto3.session.Session()
    return session.client(
        "ecr",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=client_config(),
    )


class DockyardECR(Dockyard):
    """Dockyard on a fixed data directory, authenticated with the key it generates."""

    def __init__(self, data_dir: Path, src: Path = REPO_ROOT / "src") -> None:
        super().__init__("dockyard", "Dockyard")
        self.data_dir, self.src = data_dir, src

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        env = {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(self.src), os.environ.get("PYTHONPATH")) if p
            )
        }
        template = os.environ.get("DOCKYARD_BENCH_CMD") or (
            "{python} -m dockyard serve --host {host} --port {port} --data-dir {data_dir}"
        )
        cmd = template.format(
            python=sys.executable, host="127.0.0.1", port=self.port, data_dir=self.data_dir
        )
        return shlex.split(cmd), env

    @property
    def db_file(self) -> Path:
        return self.data_dir / "dockyard.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_file}"

    def credentials(self) -> tuple[str, str, str]:
        """(account id, access key id, secret) from the credentials file the server wrote."""
        doc = tomllib.loads((self.data_dir / "credentials.toml").read_text())
        account = doc["accounts"][0]
        key = account["keys"][0]
        return account["id"], key["access_key_id"], key["secret_access_key"]

    def client(self):
        _, key_id, secret = self.credentials()
        return ecr_client(f"http://127.0.0.1:{self.port}", key_id, secret)


class Moto(Registry):
    """moto 5 in server mode; its ECR backend keeps everything in memory."""

    ready_path = "/moto-api/"

    def __init__(self) -> None:
        super().__init__("moto", "moto")

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        return cmd, {}

    def client(self):
        return ecr_client(f"http://127.0.0.1:{self.port}", "AKIAMOTOBENCH", "moto-any-secret")


def moto_version() -> str:
    try:
        from importlib.metadata import version

        return version("moto")
    except Exception:  # noqa: BLE001 - only for the report
        return "?"


class Canned(Registry):
    """dockbench.ecr_canned: one canned answer to every call (the boto3 floor)."""

    ready_path = "/"

    def __init__(self, body_file: Path) -> None:
        super().__init__("canned", "canned answer")
        self.body_file = body_file

    def command(self, workdir: Path) -> tuple[list[str], dict[str, str]]:
        here = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
        return [
            sys.executable,
            "-m",
            "dockbench.ecr_canned",
            str(self.port),
            str(self.body_file),
        ], env

    def client(self):
        return ecr_client(f"http://127.0.0.1:{self.port}", "AKIACANNEDBENCH", "canned-secret")
