"""The server survives what processes suffer: restarts, SIGTERM, and SIGKILL in mid-push.

The promises checked (DESIGN.md, "Blobs and uploads"):

* an upload session lives in the metadata store, so it resumes after a restart or a crash with
  the acknowledged bytes intact;
* what was acknowledged (201) before a crash is there afterwards and hashes to its digest;
* what was not completed is invisible (a blob appears only after its digest is verified);
* tags only ever point at complete manifests, and the registry takes pushes again afterwards.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import ociapi
from tests.support.images import Image, build_image, build_layer, pseudo_random_bytes, write_layout
from tests.support.server import ServerProcess
from tests.support.skopeo import Skopeo, SkopeoError

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def client_for(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30.0)


def patch_ok(http: httpx.Client, location: str, data: bytes, offset: int) -> str:
    """PATCH a chunk, check 202 and the reported Range; return the next Location."""
    response = ociapi.patch_chunk(http, location, data, offset)
    assert response.status_code == 202, ociapi.describe(response)
    assert ociapi.parse_range(response.headers["Range"]) == (0, offset + len(data) - 1), (
        ociapi.describe(response)
    )
    return response.headers["Location"]


def assert_blob_present(http: httpx.Client, repo: str, digest: str, size: int) -> None:
    """HEAD reports the blob's size and digest, and GET returns bytes that hash to it."""
    head = http.head(ociapi.blob_url(repo, digest))
    assert head.status_code == 200, ociapi.describe(head)
    assert int(head.headers["Content-Length"]) == size, ociapi.describe(head)
    assert head.headers["Docker-Content-Digest"] == digest, ociapi.describe(head)
    assert len(ociapi.fetch_blob(http, repo, digest)) == size


def assert_blob_absent(http: httpx.Client, repo: str, digest: str) -> None:
    head = http.head(ociapi.blob_url(repo, digest))
    assert head.status_code == 404, f"incomplete blob is visible: {ociapi.describe(head)}"


def assert_image_complete(http: httpx.Client, repo: str, reference: str, image: Image) -> None:
    """The manifest is served verbatim and every blob it references verifies."""
    response = ociapi.fetch_manifest(http, repo, reference)
    assert response.content == image.manifest.data, ociapi.describe(response)
    for blob in image.blobs:
        assert_blob_present(http, repo, blob.digest, blob.size)


# --------------------------------------------------------------------------- resumable uploads


@pytest.mark.parametrize("interruption", ["restart", "sigkill"])
def test_chunked_upload_resumes_after_interruption(server: ServerProcess, interruption: str):
    data = pseudo_random_bytes(4 * MiB + 321, "resume")
    digest = ociapi.sha256_digest(data)
    cut = [0, MiB, 2 * MiB + 7, 3 * MiB, len(data)]
    parts = [data[a:b] for a, b in itertools.pairwise(cut)]
    repo = "e2e/resume"

    with client_for(server) as http:
        location = ociapi.start_upload(http, repo)
        location = patch_ok(http, location, parts[0], 0)
        location = patch_ok(http, location, parts[1], cut[1])

        if interruption == "restart":
            server.restart()
        else:
            server.kill()
            server.start()

        status = http.get(location)
        assert status.status_code == 204, ociapi.describe(status)
        assert ociapi.parse_range(status.headers["Range"]) == (0, cut[2] - 1), ociapi.describe(
            status
        )
        location = patch_ok(http, status.headers.get("Location", location), parts[2], cut[2])
        # The last chunk rides on the closing PUT, which the spec allows.
        done = http.put(
            ociapi.with_params(location, digest=digest),
            content=parts[3],
            headers={"Content-Type": "application/octet-stream"},
        )

        assert done.status_code == 201, ociapi.describe(done)
        assert done.headers["Docker-Content-Digest"] == digest, ociapi.describe(done)
        assert_blob_present(http, repo, digest, len(data))
        finished = http.get(location)
        assert finished.status_code == 404, ociapi.describe(finished)
        assert finished.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN", ociapi.describe(
            finished
        )


# A graceful exit is 0, or death by the SIGTERM the server re-raised after cleaning up
# (uvicorn >= 0.29 does, as many daemons do); anything else is a crash.
CLEAN_EXIT = (0, -signal.SIGTERM)


def test_sigterm_is_a_clean_shutdown_and_data_persists(server: ServerProcess):
    image = build_image(
        [{"etc/hello": b"persist me"}, {"usr/bin/tool": pseudo_random_bytes(200_000, "t")}]
    )
    with client_for(server) as http:
        ociapi.push(http, "e2e/persist", image, "v1")

    returncode = server.stop()
    server.start()

    assert returncode in CLEAN_EXIT, f"exit code {returncode} after SIGTERM (log in the report)"
    assert "Traceback" not in server.log_tail(100_000)
    with client_for(server) as http:
        assert_image_complete(http, "e2e/persist", "v1", image)
        assert_image_complete(http, "e2e/persist", image.digest, image)


def test_sigterm_lets_an_in_flight_upload_finish(server: ServerProcess):
    """SIGTERM stops new connections but drains the request in progress before exiting."""
    data = pseudo_random_bytes(4 * MiB, "drain")
    reached, release = threading.Event(), threading.Event()
    responses: list[httpx.Response] = []

    def upload() -> None:
        with client_for(server) as http:
            location = ociapi.start_upload(http, "e2e/drain")
            responses.append(
                http.put(
                    ociapi.with_params(location, digest=ociapi.sha256_digest(data)),
                    content=held_body(data, 2 * MiB, reached, release),
                    headers={"Content-Length": str(len(data))},
                )
            )

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    try:
        assert reached.wait(30), "upload never got under way"
        server.terminate()
        wait_for(lambda: not accepts_connections(server), 10, "the listener to close")
    finally:
        release.set()
        thread.join(60)
    returncode = server.wait()

    assert returncode in CLEAN_EXIT, f"exit code {returncode} after SIGTERM (log in the report)"
    assert responses, "the in-flight upload got no response"
    assert responses[0].status_code == 201, ociapi.describe(responses[0])
    server.start()
    with client_for(server) as http:
        assert_blob_present(http, "e2e/drain", ociapi.sha256_digest(data), len(data))


def accepts_connections(server: ServerProcess) -> bool:
    try:
        httpx.get(server.url + "/v2/", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def held_body(
    data: bytes, hold_at: int, reached: threading.Event, release: threading.Event
) -> Iterator[bytes]:
    """Stream ``data``; after ``hold_at`` bytes signal ``reached`` and wait for ``release``.

    This puts a crash or a shutdown deterministically in the middle of a request body.
    """
    piece = 256 * 1024
    for offset in range(0, len(data), piece):
        if offset >= hold_at and not reached.is_set():
            reached.set()
            release.wait(60)
        yield data[offset : offset + piece]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --------------------------------------------------------------------------- crash in mid-push


@dataclass
class Ledger:
    """What each worker knows about its pushes; ``stopping`` is set just before the kill."""

    stopping: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_blobs: list[tuple[str, bytes]] = field(default_factory=list)
    unknown_blobs: list[tuple[str, bytes]] = field(default_factory=list)
    # repo, data, upload Location, bytes acknowledged by PATCH, bytes sent before the kill
    interrupted: list[tuple[str, bytes, str, int, int]] = field(default_factory=list)
    acked_images: list[tuple[str, str, Image]] = field(default_factory=list)
    unknown_images: list[tuple[str, str, Image]] = field(default_factory=list)
    skopeo_result: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, name: str, item: object) -> None:
        with self.lock:
            getattr(self, name).append(item)

    def count(self, name: str) -> int:
        with self.lock:
            return len(getattr(self, name))


def run_worker(ledger: Ledger, work: Callable[[], None]) -> threading.Thread:
    """Start ``work`` in a thread; failures before the kill are test failures, after it expected."""

    def guarded() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - any failure is recorded and judged by the test
            if not ledger.stopping.is_set():
                ledger.add("errors", traceback.format_exc())

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def interrupted_chunked_upload(server, ledger: Ledger, reached: threading.Event, seed: str) -> None:
    """One PATCH acknowledged, the second cut off by the crash halfway through its body."""
    repo, data = "e2e/crash-chunked", pseudo_random_bytes(6 * MiB, seed)
    with client_for(server) as http:
        location = patch_ok(http, ociapi.start_upload(http, repo), data[: 2 * MiB], 0)
        ledger.add("interrupted", (repo, data, location, 2 * MiB, 3 * MiB))
        rest = data[2 * MiB :]
        response = http.patch(
            location,
            content=held_body(rest, MiB, reached, ledger.killed),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{2 * MiB}-{len(data) - 1}",
                "Content-Length": str(len(rest)),
            },
        )
        ledger.add("errors", f"PATCH finished despite the kill: {ociapi.describe(response)}")


def interrupted_monolithic_put(server, ledger: Ledger, reached: threading.Event) -> None:
    """A PUT ?digest= whose body is cut off: the digest is known, the bytes never all arrive."""
    repo, data = "e2e/crash-monolithic", pseudo_random_bytes(6 * MiB, "monolithic")
    with client_for(server) as http:
        location = ociapi.start_upload(http, repo)
        ledger.add("interrupted", (repo, data, location, 0, 3 * MiB))
        response = http.put(
            ociapi.with_params(location, digest=ociapi.sha256_digest(data)),
            content=held_body(data, 3 * MiB, reached, ledger.killed),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        ledger.add("errors", f"PUT finished despite the kill: {ociapi.describe(response)}")


def steady_blobs(server, ledger: Ledger) -> None:
    """Small monolithic uploads back to back until the kill; the one in flight is unknown."""
    with client_for(server) as http:
        for i in range(10_000):
            if ledger.stopping.is_set():
                return
            data = pseudo_random_bytes(64 * 1024, f"steady-{i}")
            try:
                ociapi.push_blob(http, "e2e/crash-steady", data)
            except Exception:
                ledger.add("unknown_blobs", ("e2e/crash-steady", data))
                raise
            ledger.add("acked_blobs", ("e2e/crash-steady", data))


def steady_images(server, ledger: Ledger) -> None:
    """Small images pushed under new tags until the kill; the one in flight is unknown."""
    with client_for(server) as http:
        for i in range(10_000):
            if ledger.stopping.is_set():
                return
            image = build_image(
                [{"etc/serial": str(i).encode()}, {"data.bin": pseudo_random_bytes(32_000, i)}]
            )
            try:
                ociapi.push(http, "e2e/crash-images", image, f"t{i}")
            except Exception:
                ledger.add("unknown_images", ("e2e/crash-images", f"t{i}", image))
                raise
            ledger.add("acked_images", ("e2e/crash-images", f"t{i}", image))


def skopeo_push(skopeo: Skopeo, source: str, ref: str, ledger: Ledger) -> None:
    try:
        skopeo.copy(source, ref)
        ledger.add("skopeo_result", "ok")
    except SkopeoError as exc:
        ledger.add("skopeo_result", f"failed: {exc}")


@pytest.fixture(scope="module")
def big_image() -> Image:
    """~48 MiB of incompressible layers, so a push takes a while and crosses the crash."""
    layers = [
        build_layer({f"blob{n}.bin": pseudo_random_bytes(24 * MiB, f"big-{n}")}, level=1)
        for n in range(2)
    ]
    return build_image([*layers, {"etc/big": b"big image"}])


def test_sigkill_during_pushes(
    server: ServerProcess, skopeo: Skopeo, big_image: Image, workdir: Path
):
    ledger = Ledger()
    layout = write_layout(workdir / "big", {"v1": big_image})
    big_ref = f"docker://{server.address}/e2e/crash-big:v1"

    crash_during_pushes(server, ledger, skopeo, f"oci:{layout}:v1", big_ref)

    server.start()
    with client_for(server) as http:
        check_interrupted_invisible(http, ledger)
        check_acknowledged(http, ledger)
        check_unknown(http, ledger)
        check_tags_consistent(http, ledger)
        check_big_image(http, skopeo, ledger, big_image, big_ref)
        check_sessions_resume(http, ledger)
        check_pushes_work_again(http, skopeo, ledger, layout, big_ref, big_image)


def crash_during_pushes(
    server: ServerProcess, ledger: Ledger, skopeo: Skopeo, source: str, big_ref: str
) -> None:
    """Start every kind of push, SIGKILL the server once all are under way, reap the clients.

    The kill waits until the held uploads are mid-body and a few small pushes have been
    acknowledged, so every outcome class in the ledger is populated.
    """
    holds = [threading.Event() for _ in range(3)]
    workers: list[Callable[[], None]] = [
        lambda: interrupted_chunked_upload(server, ledger, holds[0], "chunked-a"),
        lambda: interrupted_chunked_upload(server, ledger, holds[1], "chunked-b"),
        lambda: interrupted_monolithic_put(server, ledger, holds[2]),
        lambda: steady_blobs(server, ledger),
        lambda: steady_images(server, ledger),
        lambda: skopeo_push(skopeo, source, big_ref, ledger),
    ]
    threads = [run_worker(ledger, work) for work in workers]
    try:
        wait_for(lambda: all(h.is_set() for h in holds) or bool(ledger.errors), 60, "mid-body")
        wait_for(lambda: ledger.count("acked_blobs") >= 3 or bool(ledger.errors), 60, "blob acks")
        wait_for(lambda: ledger.count("acked_images") >= 2 or bool(ledger.errors), 60, "image acks")
        assert not ledger.errors, "\n".join(ledger.errors)
        ledger.stopping.set()
        server.kill()
    finally:
        # Also on failure: release the held uploads so no thread outlives the test.
        ledger.stopping.set()
        ledger.killed.set()
        for thread in threads:
            thread.join(120)
    assert not any(t.is_alive() for t in threads), "a client did not give up after the crash"
    assert not ledger.errors, "\n".join(ledger.errors)


def check_acknowledged(http: httpx.Client, ledger: Ledger) -> None:
    """Everything acknowledged with 201 before the kill survived and verifies."""
    for repo, data in ledger.acked_blobs:
        assert_blob_present(http, repo, ociapi.sha256_digest(data), len(data))
    for repo, tag, image in ledger.acked_images:
        assert_image_complete(http, repo, tag, image)


def check_unknown(http: httpx.Client, ledger: Ledger) -> None:
    """Pushes in flight at the kill may or may not have landed, but never half-landed."""
    for repo, data in ledger.unknown_blobs:
        digest = ociapi.sha256_digest(data)
        if http.head(ociapi.blob_url(repo, digest)).status_code != 404:
            assert_blob_present(http, repo, digest, len(data))
    for repo, tag, image in ledger.unknown_images:
        response = http.get(
            ociapi.manifest_url(repo, tag), headers={"Accept": ociapi.MANIFEST_ACCEPT}
        )
        if response.status_code != 404:
            assert_image_complete(http, repo, tag, image)


def check_interrupted_invisible(http: httpx.Client, ledger: Ledger) -> None:
    """Uploads cut off mid-body never became blobs, not even the one whose digest was sent."""
    assert len(ledger.interrupted) == 3, ledger.interrupted
    for repo, data, *_ in ledger.interrupted:
        assert_blob_absent(http, repo, ociapi.sha256_digest(data))


def check_sessions_resume(http: httpx.Client, ledger: Ledger) -> None:
    """A session that had a PATCH acknowledged survives the crash (sessions live in the
    metadata store) and resumes from an honest offset: at least what was acknowledged, at
    most what was sent; completing it from there gives the right digest."""
    for repo, data, location, acked, sent in ledger.interrupted:
        status = http.get(location)
        if not acked:
            # Nothing was acknowledged: the session may be gone. Its `Range: 0-0` would be
            # ambiguous (0 or 1 byte), so it is not resumed; a fresh push comes later.
            assert status.status_code in (204, 404), ociapi.describe(status)
            continue
        assert status.status_code == 204, f"session lost in the crash: {ociapi.describe(status)}"
        start, end = ociapi.parse_range(status.headers["Range"])
        assert start == 0 and acked <= end + 1 <= sent, ociapi.describe(status)
        location = patch_ok(
            http, status.headers.get("Location", location), data[end + 1 :], end + 1
        )
        digest = ociapi.sha256_digest(data)
        done = http.put(ociapi.with_params(location, digest=digest))
        assert done.status_code == 201, ociapi.describe(done)
        assert_blob_present(http, repo, digest, len(data))


def check_tags_consistent(http: httpx.Client, ledger: Ledger) -> None:
    """Every listed tag resolves to a complete manifest; acknowledged tags are all listed."""
    images = {tag: image for _, tag, image in ledger.acked_images + ledger.unknown_images}
    response = http.get("/v2/e2e/crash-images/tags/list")
    assert response.status_code == 200, ociapi.describe(response)
    listed = set(response.json()["tags"] or [])
    assert {tag for _, tag, _ in ledger.acked_images} <= listed
    assert listed <= set(images), f"tags nobody pushed: {listed - set(images)}"
    for tag in listed:
        assert_image_complete(http, "e2e/crash-images", tag, images[tag])


def check_big_image(
    http: httpx.Client, skopeo: Skopeo, ledger: Ledger, image: Image, ref: str
) -> None:
    """skopeo's push either completed (and must be intact) or left no tag behind."""
    assert len(ledger.skopeo_result) == 1, ledger.skopeo_result
    response = http.get(
        ociapi.manifest_url("e2e/crash-big", "v1"), headers={"Accept": ociapi.MANIFEST_ACCEPT}
    )
    if ledger.skopeo_result[0] == "ok":
        assert skopeo.inspect_raw(ref) == image.manifest.data
    if response.status_code != 404 or ledger.skopeo_result[0] == "ok":
        assert_image_complete(http, "e2e/crash-big", "v1", image)


def check_pushes_work_again(
    http: httpx.Client, skopeo: Skopeo, ledger: Ledger, layout: Path, ref: str, image: Image
) -> None:
    """After the crash the registry accepts the same pushes, to the same repositories."""
    assert skopeo.copy(f"oci:{layout}:v1", ref, digestfile=layout / "digest") == image.digest
    assert_image_complete(http, "e2e/crash-big", "v1", image)
    for repo, data, *_ in ledger.interrupted:
        ociapi.push_blob(http, repo, data)  # already there or not: a new upload must succeed
        assert_blob_present(http, repo, ociapi.sha256_digest(data), len(data))
    again = build_image([{"etc/after-crash": b"yes"}])
    ociapi.push(http, "e2e/crash-images", again, "t0")  # moving a tag works too
    assert_image_complete(http, "e2e/crash-images", "t0", again)
