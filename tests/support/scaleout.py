"""Several Dockyard processes on one PostgreSQL database and one S3 bucket, for tests.

Pieces::

    SharedStores       one database, one bucket, one auth file: what every process is given
    start_server       a `dockyard serve` on those stores, with its own port and data dir
    race_tag           N threads push N manifests to one tag at once, over several servers
    ClaimAudit         PostgreSQL triggers recording every job claim and every scan result
                       write, so a test can count how often each scan really ran

Nothing here is a proxy or a fake: clients talk to each process's own port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.support import ociapi
from tests.support.ecr import AccessKey
from tests.support.images import Image
from tests.support.s3 import CREDENTIALS
from tests.support.server import DockyardServer

__all__ = ["ClaimAudit", "SharedStores", "race_tag", "scan_writes", "start_server"]


@dataclass(frozen=True)
class SharedStores:
    """What a fleet of servers shares; each server still has a data dir of its own."""

    database_url: str
    bucket: str
    storage_url: str
    auth_file: Path

    def serve_args(self) -> list[str]:
        return ["--database-url", self.database_url, "--storage-url", self.storage_url,
                "--auth-file", str(self.auth_file), "--create-on-push"]  # fmt: skip


def start_server(stores: SharedStores, *extra: str, data_dir: Path | None = None) -> DockyardServer:
    """A started server on ``stores`` (the caller closes it); ``extra`` goes after our args."""
    server = DockyardServer(data_dir, extra_args=[*stores.serve_args(), *extra])
    # The S3 store takes credentials from the environment, as in production.
    server.storage_environment = dict(CREDENTIALS)
    return server.started()


# --------------------------------------------------------------------------- racing one tag


def race_tag(
    servers: Sequence[DockyardServer],
    key: AccessKey | None,
    token: str | None,
    repo: str,
    tag: str,
    images: Sequence[Image],
) -> list[str]:
    """Push every image's manifest to ``tag`` at the same moment, thread i on servers[i % n].

    Even threads use `/v2/` PUT, odd ones ECR PutImage (when ``key`` is given), so both
    adapters race. The blobs must already be in the repository. Returns each push's error
    (an empty string when it succeeded), in image order.
    """
    barrier = threading.Barrier(len(images))
    errors = [""] * len(images)

    def push(i: int) -> None:
        server = servers[i % len(servers)]
        barrier.wait(timeout=30)
        try:
            if key is not None and i % 2:
                _put_image(server, key, repo, tag, images[i])
            else:
                _put_manifest(server, token, repo, tag, images[i])
        except Exception as exc:  # noqa: BLE001 - the test asserts on every error
            errors[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def _put_manifest(
    server: DockyardServer, token: str | None, repo: str, tag: str, image: Image
) -> None:
    headers = {"Authorization": f"Basic {token}"} if token else {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        ociapi.push_manifest(http, repo, tag, image.manifest)


def _put_image(server: DockyardServer, key: AccessKey, repo: str, tag: str, image: Image) -> None:
    from tests.support.ecr import ecr_client

    ecr_client(server.url, key).put_image(
        repositoryName=repo, imageTag=tag, imageManifest=image.manifest.data.decode(),
        imageManifestMediaType=image.manifest.media_type,
    )  # fmt: skip


# --------------------------------------------------------------------------- auditing claims

_AUDIT_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.claims
  (seq bigserial, job_id bigint, claimed_by text, payload text);
CREATE TABLE IF NOT EXISTS audit.scans (seq bigserial, image_id bigint, status text);
CREATE OR REPLACE FUNCTION audit.claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit.claims (job_id, claimed_by, payload)
    VALUES (NEW.id, NEW.claimed_by, NEW.payload);
  RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION audit.scan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit.scans (image_id, status) VALUES (NEW.image_id, NEW.status);
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS audit_claims ON jobs;
CREATE TRIGGER audit_claims AFTER UPDATE OF claimed_by ON jobs
  FOR EACH ROW EXECUTE FUNCTION audit.claim();
DROP TRIGGER IF EXISTS audit_scans ON image_scans;
CREATE TRIGGER audit_scans AFTER INSERT OR UPDATE ON image_scans
  FOR EACH ROW EXECUTE FUNCTION audit.scan();
"""


class ClaimAudit:
    """Every job claim and scan-result write in the database, recorded by triggers.

    The server deletes a job when it finishes, and a second run of a scan would overwrite the
    first's result row, so neither leaves a trace in Dockyard's own tables: triggers (in their
    own schema, out of the migrations' way) are what can show a scan running twice.
    """

    def __init__(self, database_url: str) -> None:
        url = sa.make_url(database_url).set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)

    def install(self) -> ClaimAudit:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(_AUDIT_DDL)
        return self

    def claims(self) -> list[tuple[int, str, int]]:
        """(job id, worker, image id) of every claim, in claim order."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT job_id, claimed_by, payload FROM audit.claims ORDER BY seq"
            )
            return [(job, worker, json.loads(payload)["image_id"]) for job, worker, payload in rows]

    def results(self) -> list[tuple[int, str]]:
        """(image id, status) of every write of a scan result, in write order."""
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(
                "SELECT image_id, status FROM audit.scans ORDER BY seq")]  # fmt: skip

    def image_ids(self, repo: str) -> dict[str, int]:
        """Image id by digest in repository ``repo`` (scan jobs name images by id)."""
        query = sa.text(
            "SELECT i.digest, i.id FROM images i JOIN repositories r "
            "ON r.id = i.repo_id WHERE r.name = :repo"
        )
        with self.engine.connect() as conn:
            return dict(conn.execute(query, {"repo": repo}).all())

    def queued_jobs(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one()

    def close(self) -> None:
        self.engine.dispose()


def scan_writes(
    results: Sequence[tuple[int, str]], image_ids: Sequence[int]
) -> dict[int, list[str]]:
    """Per image, the statuses written, in order (e.g. ['IN_PROGRESS', 'COMPLETE'])."""
    wanted = set(image_ids)
    found: dict[int, list[str]] = {i: [] for i in image_ids}
    for image_id, status in results:
        if image_id in wanted:
            found[image_id].append(status)
    return found
