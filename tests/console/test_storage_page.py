"""The storage page: unique and shared bytes per repository (StorageService), what the last
garbage collection freed, and stored bytes over time recorded after each collection."""

from __future__ import annotations

import re
import time

from tests.console.conftest import ACCOUNT_A, push
from tests.support import ociapi
from tests.support.images import build_image

DAY = 86400.0


def collect(app) -> None:
    """A real collection, as the server's GC task runs it (judged two days on)."""
    svc = app.state.services
    svc.storage.after_collection(svc.gc.run(now=time.time() + 2 * DAY))


def cell_bytes(html: str, repository: str) -> list[int]:
    row = re.search(rf'<tr><th scope="row">{re.escape(repository)}</th>(.*?)</tr>', html)
    assert row, f"no row for {repository}"
    return [int(n) for n in re.findall(r'data-bytes="(\d+)"', row.group(1))]


def test_storage_shows_unique_and_shared_bytes_per_repository(browser, registry, app):
    shared = build_image([{"shared.txt": b"shared layer " * 100}])
    ociapi.push(registry, "team/one", shared, "v1")
    ociapi.push(registry, "team/two", shared, "v1")
    own = push(registry, "solo", repo="team/one")
    page = browser.get("/ui/storage").text
    shared_bytes = sum(b.size for b in (shared.config, *shared.layers))
    own_bytes = sum(b.size for b in (own.config, *own.layers))
    # stored, unique, shared (manifests are not blobs of image_refs: only config and layers)
    one, two = cell_bytes(page, "team/one"), cell_bytes(page, "team/two")
    assert one == [shared_bytes + own_bytes, own_bytes, shared_bytes]
    assert two == [shared_bytes, 0, shared_bytes]
    assert "No garbage collection has run yet." in page


def test_storage_shows_the_last_collection_and_a_plot_over_time(browser, registry, app):
    gone = push(registry, "gone")
    assert "appears after two garbage collections" in browser.get("/ui/storage").text
    collect(app)  # nothing to free yet: the first sample
    deleted = registry.delete(f"/v2/team/app/manifests/{gone.digest}")
    assert deleted.status_code == 202
    collect(app)
    page = browser.get("/ui/storage").text
    freed = sum(b.size for b in (gone.config, *gone.layers))
    last = re.search(r'<p id="last-gc">(.*?)</p>', page, re.DOTALL)
    assert last and "after this one" in last.group(1) and "less)" in last.group(1)
    assert "blob(s)" not in page  # the registry-wide figures are not another account's business
    history = app.state.services.storage.history_of(ACCOUNT_A)
    assert [size for _, size in history] == [freed, 0]
    points = re.search(r'<polyline points="([^"]+)"', page)
    assert points and points.group(1).split() == ["0,0", "460,160"]  # full, then empty
    assert app.state.services.storage.last_collection().bytes_freed == freed


def test_another_account_sees_only_its_own_repositories(intruder, registry, app):
    push(registry, "v1")
    collect(app)
    page = intruder.get("/ui/storage").text
    assert "team/app" not in page
    assert "<polyline" not in page
