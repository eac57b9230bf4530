"""Requests racing on one upload, released together by a barrier, on a real server.

Two deployments: the embedded default (SQLite + files, one process) and PostgreSQL + S3
(moto) with `serve --workers 2`, where every racer opens its own connection so the racers land
on either process. Each test repeats its race for a number of rounds and reports every round
that went wrong (the code before the fix failed these in most rounds: see the note in
benchmarks/README.md, "Upload races").

What must hold (issue 10):
- two PATCHes at one offset: one 202, one 416 whose Range is the upload's current end; the
  upload then holds exactly the winner's bytes;
- two completions: one 201, the other 404 BLOB_UPLOAD_UNKNOWN or 400 BLOB_UPLOAD_INVALID; a
  blob's bytes always hash to its digest, so bytes planted by racing completions in account
  A never reach account B pushing the same digest later;
- the same for the ECR layer calls (InvalidLayerPartException with lastValidByteReceived,
  UploadNotFoundException);
- an upload finishing while DeleteRepository --force runs: success or NAME_UNKNOWN
  (RepositoryNotFoundException), no row left behind;
- never a 500, and no traceback in the server log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support import ociapi
from tests.support.ecr import AccessKey, ecr_client, registry_token, v2_client, write_auth_file
from tests.support.images import pseudo_random_bytes
from tests.support.races import orphan_rows, together
from tests.support.s3 import CREDENTIALS
from tests.support.scaleout import SharedStores
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

KiB, MiB = 1024, 1024 * 1024
ROUNDS = 10
SIZE = 256 * KiB
PLANTER = AccessKey(
    "222222222222", "AKIARACESPLANTER0001", "races-planter-secret-0123456789abcdefgh"
)
VICTIM = AccessKey(
    "333333333333", "AKIARACESVICTIM00001", "races-victim-secret-0123456789abcdefghi"
)


class Deployment:
    def __init__(self, server: DockyardServer, database_url: str) -> None:
        self.server, self.database_url = server, database_url
        self.tokens = {
            key: registry_token(ecr_client(server.url, key)) for key in (PLANTER, VICTIM)
        }

    def v2(self, key: AccessKey = PLANTER) -> httpx.Client:
        """A client with a connection of its own."""
        return v2_client(self.server.url, self.tokens[key])

    def ecr(self, key: AccessKey = PLANTER) -> Any:
        """A boto3 client that opens a new connection for every call (`Connection: close`),
        so that its calls, too, land on either worker process."""
        client = ecr_client(self.server.url, key)
        client.meta.events.register("before-send.ecr.*", _close_connection)
        return client


def _close_connection(request: Any, **_: Any) -> None:
    request.headers["Connection"] = "close"


@pytest.fixture(scope="module", params=["default", "postgres-s3-2-workers"])
def deployment(request, tmp_path_factory) -> Iterator[Deployment]:
    session_on_postgres = DockyardServer.database_url_factory is not None
    if request.param != "default" and session_on_postgres:
        # The run with --e2e-database=postgres: "default" is PostgreSQL already, and this case
        # ran, identically, in the run on the embedded default.
        pytest.skip("PostgreSQL + S3 with --workers 2 ran in the embedded-default run")
    auth = write_auth_file(tmp_path_factory.mktemp("auth") / "auth.toml", [PLANTER, VICTIM])
    if request.param == "default":
        server = DockyardServer(extra_args=["--auth-file", str(auth), "--create-on-push"])
        server.start()
        database = server.database_url or f"sqlite:///{server.data_dir / 'dockyard.db'}"
    else:
        postgres, moto = request.getfixturevalue("postgres"), request.getfixturevalue("moto")
        bucket = moto.bucket()
        database = postgres.new_database()
        stores = SharedStores(database, bucket, moto.url(bucket, "registry"), auth)
        # Two workers migrating and warming up on a busy machine can take a while.
        server = DockyardServer(
            extra_args=[*stores.serve_args(), "--workers", "2"], startup_timeout=120
        )
        server.storage_environment = dict(CREDENTIALS)
        server.start()
    try:
        yield Deployment(server, database)
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, server.log_tail()
    finally:
        server.close()


def rounds(check: Callable[[int], str | None]) -> None:
    """Run `check(round)` ROUNDS times; fail listing every round that returned a problem."""
    problems = [f"round {i}: {p}" for i in range(ROUNDS) if (p := check(i))]
    assert not problems, f"{len(problems)} of {ROUNDS} rounds went wrong:\n" + "\n".join(problems)


def describe(outcome: object) -> str:
    if isinstance(outcome, httpx.Response):
        return ociapi.describe(outcome)
    if isinstance(outcome, ClientError):
        return f"{outcome.response['Error']['Code']}: {outcome.response['Error'].get('Message')}"
    return repr(outcome)


def v2_code(response: httpx.Response) -> str | None:
    try:
        return response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError):
        return None


def ecr_code(outcome: object) -> str | None:
    return outcome.response["Error"]["Code"] if isinstance(outcome, ClientError) else None


def blob_problem(http: httpx.Client, repo: str, digest: str, expected: bytes) -> str | None:
    response = http.get(ociapi.blob_url(repo, digest))
    if response.status_code != 200:
        return f"GET {digest}: {ociapi.describe(response)}"
    if response.content != expected:
        actual = ociapi.sha256_digest(response.content)
        return f"{digest} serves other bytes (which hash to {actual})"
    return None


# --------------------------------------------------------------------------- /v2/


def test_two_patches_of_one_upload(deployment: Deployment) -> None:
    repo = "races/patches"

    def race(i: int) -> str | None:
        size = MiB
        bodies = [pseudo_random_bytes(size, f"patch-{i}-{n}") for n in (0, 1)]
        with deployment.v2() as http:
            location = ociapi.start_upload(http, repo)

            def patch(n: int) -> httpx.Response:
                with deployment.v2() as own:
                    return ociapi.patch_chunk(own, location, bodies[n], 0)

            answers = together(2, patch)
            if not all(isinstance(a, httpx.Response) for a in answers):
                return f"a PATCH failed: {[describe(a) for a in answers]}"
            statuses = sorted(a.status_code for a in answers)
            if statuses != [202, 416]:
                return f"PATCH answers {statuses}, not one 202 and one 416"
            winner = next(n for n, a in enumerate(answers) if a.status_code == 202)
            loser = answers[1 - winner]
            if loser.headers.get("Range") != f"0-{size - 1}" or v2_code(loser) != (
                "BLOB_UPLOAD_INVALID"
            ):
                return f"the 416 does not say where the upload ends: {describe(loser)}"
            digest = ociapi.sha256_digest(bodies[winner])
            done = http.put(ociapi.with_params(answers[winner].headers["Location"], digest=digest))
            if done.status_code != 201:
                return f"completing the winner's bytes: {describe(done)}"
            return blob_problem(http, repo, digest, bodies[winner])

    rounds(race)


def test_two_completions_cannot_plant_bytes_for_another_account(
    deployment: Deployment,
) -> None:
    # Account A completes one upload twice at once: with public bytes under their true digest
    # (a well-known base layer, say) and with junk under the junk's digest. Account B then
    # pushes the public layer: the registry already has the digest and keeps what it stored.
    # Even rounds complete an empty upload with a small body (the one-step path of small
    # blobs), odd ones an upload holding a first chunk with a body of more than a batch (the
    # staged path: the bodies go to segments; the race window of the old code was widest here).
    def race(i: int) -> str | None:
        head = pseudo_random_bytes(1000 * (i % 2), f"head-{i}")
        size = 5 * MiB if i % 2 else SIZE
        public = head + pseudo_random_bytes(size, f"public-{i}")
        junk = head + pseudo_random_bytes(size, f"junk-{i}")
        with deployment.v2(PLANTER) as planter:
            location = ociapi.start_upload(planter, "races/planter")
            if head:
                location = ociapi.patch_chunk(planter, location, head, 0).headers["Location"]

            def complete(n: int) -> httpx.Response:
                whole = (public, junk)[n]
                with deployment.v2(PLANTER) as own:
                    return own.put(
                        ociapi.with_params(location, digest=ociapi.sha256_digest(whole)),
                        content=whole[len(head) :],
                        headers={"Content-Type": "application/octet-stream"},
                    )  # fmt: skip

            answers = together(2, complete)
            if not all(isinstance(a, httpx.Response) for a in answers):
                return f"a PUT failed: {[describe(a) for a in answers]}"
            problem = _one_completion(answers)
            if problem:
                return problem
            for body, answer in zip((public, junk), answers, strict=True):
                if answer.status_code == 201:
                    digest = ociapi.sha256_digest(body)
                    problem = blob_problem(planter, "races/planter", digest, body)
                    if problem:
                        return f"planter's own blob: {problem}"
        with deployment.v2(VICTIM) as victim:
            ociapi.push_blob(victim, "races/victim", public)
            problem = blob_problem(victim, "races/victim", ociapi.sha256_digest(public), public)
        return f"the victim's pull: {problem}" if problem else None

    rounds(race)


def _one_completion(answers: list[httpx.Response]) -> str | None:
    statuses = sorted(a.status_code for a in answers)
    if statuses.count(201) != 1:
        return f"completion answers {[describe(a) for a in answers]}: not exactly one 201"
    loser = next(a for a in answers if a.status_code != 201)
    if (loser.status_code, v2_code(loser)) not in (
        (404, "BLOB_UPLOAD_UNKNOWN"), (400, "BLOB_UPLOAD_INVALID"),
    ):  # fmt: skip
        return f"the losing completion: {describe(loser)}"
    return None


# --------------------------------------------------------------------------- ECR


def test_two_upload_layer_parts_at_one_offset(deployment: Deployment) -> None:
    repo, ecr = "races/ecr-parts", deployment.ecr()
    racers = [deployment.ecr(), deployment.ecr()]
    ecr.create_repository(repositoryName=repo)

    def race(i: int) -> str | None:
        parts = [pseudo_random_bytes(SIZE, f"part-{i}-{n}") for n in (0, 1)]
        upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]

        def upload_part(n: int) -> dict[str, Any]:
            return racers[n].upload_layer_part(
                repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                partLastByte=len(parts[n]) - 1, layerPartBlob=parts[n],
            )  # fmt: skip

        outcomes = together(2, upload_part)
        won = [n for n, o in enumerate(outcomes) if isinstance(o, dict)]
        if len(won) != 1:
            return f"UploadLayerPart outcomes {[describe(o) for o in outcomes]}: not one success"
        loser = outcomes[1 - won[0]]
        if ecr_code(loser) != "InvalidLayerPartException":
            return f"the losing part: {describe(loser)}"
        if loser.response.get("lastValidByteReceived") != len(parts[0]) - 1:
            return f"lastValidByteReceived is not the upload's end: {loser.response}"
        digest = ociapi.sha256_digest(parts[won[0]])
        ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[digest])
        with deployment.v2() as http:
            return blob_problem(http, repo, digest, parts[won[0]])

    rounds(race)


def test_two_complete_layer_uploads(deployment: Deployment) -> None:
    repo, ecr = "races/ecr-complete", deployment.ecr()
    racers = [deployment.ecr(), deployment.ecr()]
    ecr.create_repository(repositoryName=repo)

    def race(i: int) -> str | None:
        data = pseudo_random_bytes(SIZE + i, f"complete-{i}")
        digest = ociapi.sha256_digest(data)
        upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                              partLastByte=len(data) - 1, layerPartBlob=data)  # fmt: skip

        def complete(n: int) -> dict[str, Any]:
            return racers[n].complete_layer_upload(
                repositoryName=repo, uploadId=upload_id, layerDigests=[digest]
            )

        outcomes = together(2, complete)
        won = [o for o in outcomes if isinstance(o, dict)]
        lost = [o for o in outcomes if not isinstance(o, dict)]
        if len(won) != 1 or ecr_code(lost[0]) != "UploadNotFoundException":
            return f"CompleteLayerUpload outcomes {[describe(o) for o in outcomes]}"
        with deployment.v2() as http:
            return blob_problem(http, repo, digest, data)

    rounds(race)


# --------------------------------------------------------------------------- DeleteRepository


def test_an_upload_finishing_while_its_repository_is_force_deleted(
    deployment: Deployment,
) -> None:
    ecr, racers = deployment.ecr(), [deployment.ecr(), deployment.ecr()]

    def race(i: int) -> str | None:
        repo = f"races/doomed-{i}"
        ecr.create_repository(repositoryName=repo)
        data = pseudo_random_bytes(SIZE + i, f"doomed-{i}")
        digest = ociapi.sha256_digest(data)
        with deployment.v2() as http:
            location = ociapi.start_upload(http, repo)
            patched = ociapi.patch_chunk(http, location, data, 0)
            location = patched.headers["Location"]
        upload_id = location.rsplit("/", 1)[1].split("?")[0]
        via_ecr = i % 2 == 1  # CompleteLayerUpload in odd rounds, PUT ?digest= in even ones

        def work(n: int) -> object:
            if n == 1:
                return racers[1].delete_repository(repositoryName=repo, force=True)
            if via_ecr:
                return racers[0].complete_layer_upload(
                    repositoryName=repo, uploadId=upload_id, layerDigests=[digest]
                )
            with deployment.v2() as own:
                return own.put(ociapi.with_params(location, digest=digest))

        finished, deleted = together(2, work)
        if not isinstance(deleted, dict):
            return f"DeleteRepository: {describe(deleted)}"
        if not _finished_or_repository_gone(finished):
            return f"the completion: {describe(finished)}"
        left = orphan_rows(deployment.database_url)
        return f"rows left behind: {left}" if left else None

    rounds(race)


def _finished_or_repository_gone(outcome: object) -> bool:
    if isinstance(outcome, dict):
        return True
    if isinstance(outcome, httpx.Response):
        return outcome.status_code == 201 or (
            outcome.status_code == 404 and v2_code(outcome) == "NAME_UNKNOWN"
        )
    return ecr_code(outcome) == "RepositoryNotFoundException"
