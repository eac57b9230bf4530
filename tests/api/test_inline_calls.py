"""On the embedded default, bounded metadata calls run on the event loop, except while a write of
this process is in progress: then they go to a thread and the loop keeps serving."""

from __future__ import annotations

import threading
import time

from .conftest import CheckedClient
from .oci_client import NAME, OciClient, image


def test_a_push_waiting_for_a_long_write_does_not_stall_the_server(
    client: CheckedClient, registry: OciClient
) -> None:
    meta = client.app.state.services.meta
    assert (
        client.app.state.services.placement.inline
    )  # (the scan worker may be writing: not asserted idle)
    manifest = image("wait")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    holding, release = threading.Event(), threading.Event()

    def long_write() -> None:  # as a DeleteRepository with force of a large repository would
        with meta.atomic():
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    holding.wait(10)
    assert meta.writing
    pushed: dict[str, int] = {}
    push = threading.Thread(
        target=lambda: pushed.update(status=registry.put_manifest(NAME, "v1", manifest).status_code)
    )
    push.start()
    time.sleep(0.3)  # the push is now waiting for the write lock
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200  # the loop is free
    assert time.monotonic() - started < 2
    assert pushed == {}  # the push is still waiting its turn
    release.set()
    writer.join(10)
    push.join(10)
    assert pushed == {"status": 201}
    assert registry.manifest(NAME, "v1").status_code == 200
