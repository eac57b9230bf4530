"""An upload continued by another process (two apps on one data directory) goes on hashing from
the state saved with the last chunk, instead of reading the upload back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dockyard.app import create_app
from dockyard.ingest import sha256_state
from dockyard.settings import Settings

from .conftest import CheckedClient, registry_token

MiB = 1024 * 1024
NAME = "hash/state"


def _client(data_dir: Path) -> CheckedClient:
    settings = Settings(data_dir=data_dir, create_on_push=True, accept_any_credentials=True)
    app = create_app(settings)
    client = CheckedClient(app)
    client.headers["Authorization"] = f"Basic {registry_token(app)}"
    return client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[CheckedClient]:
    """Process A (the suite's autouse fixtures watch it for 5xx answers)."""
    with _client(tmp_path / "data") as first:
        yield first


@pytest.fixture
def other(tmp_path: Path, client: CheckedClient) -> Iterator[CheckedClient]:
    """Process B, on the same SQLite database and files."""
    with _client(tmp_path / "data") as second:
        yield second
        assert second.server_errors == []


def _reads_back(client: CheckedClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    store, calls = client.app.state.services.blob_store, []
    real = store.read_upload
    monkeypatch.setattr(
        store,
        "read_upload",
        lambda upload_id, segments, size: (
            calls.append(upload_id) or real(upload_id, segments, size)
        ),
    )
    return calls


def _patch(client: CheckedClient, location: str, start: int, chunk: bytes) -> str:
    answer = client.patch(
        location,
        content=chunk,
        headers={
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.headers["Location"]


def _data() -> bytes:
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(100_000))[
        : 5 * MiB + 123
    ]


@pytest.mark.skipif(sha256_state._LIB is None, reason="no saveable SHA-256 state here")
def test_the_other_process_goes_on_from_the_saved_state(client, other, monkeypatch) -> None:
    data, cut = _data(), 3 * MiB + 7
    location = client.post(f"/v2/{NAME}/blobs/uploads/").headers["Location"]
    location = _patch(client, location, 0, data[:cut])
    read_back = _reads_back(other, monkeypatch)
    location = _patch(other, location, cut, data[cut:])  # B resumes A's hash...
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = other.put(location, params={"digest": digest})
    assert done.status_code == 201, done.text
    assert read_back == []  # ...and never reads the upload back
    assert client.get(f"/v2/{NAME}/blobs/{digest}").content == data


def test_without_a_saved_state_the_upload_is_hashed_again(client, other, monkeypatch) -> None:
    data, cut = _data(), 2 * MiB
    location = client.post(f"/v2/{NAME}/blobs/uploads/").headers["Location"]
    location = _patch(client, location, 0, data[:cut])
    meta = client.app.state.services.meta
    with meta.engine.begin() as conn:  # as a session saved by an older release
        conn.execute(sa.text("UPDATE uploads SET hash_state = NULL"))
    read_back = _reads_back(other, monkeypatch)
    location = _patch(other, location, cut, data[cut:])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert other.put(location, params={"digest": digest}).status_code == 201
    assert len(read_back) == 1
    assert other.get(f"/v2/{NAME}/blobs/{digest}").content == data


def test_a_wrong_digest_is_still_refused_after_a_resumed_hash(client, other) -> None:
    data = _data()
    location = client.post(f"/v2/{NAME}/blobs/uploads/").headers["Location"]
    location = _patch(client, location, 0, data[: 4 * MiB])
    wrong = "sha256:" + hashlib.sha256(data[:-1]).hexdigest()
    answer = other.put(location, params={"digest": wrong}, content=data[4 * MiB :])
    assert answer.status_code == 400 and "DIGEST_INVALID" in answer.text
