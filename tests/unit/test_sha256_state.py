"""The resumable SHA-256: the same digests as hashlib, and a state that carries on elsewhere."""

from __future__ import annotations

import hashlib
import mmap
import os

import pytest

from dockyard.ingest import sha256_state
from dockyard.ingest.sha256_state import ResumableSha256, new_sha256, resume, state_of

needs_libcrypto = pytest.mark.skipif(
    sha256_state._LIB is None, reason="libcrypto's SHA256_* are not available here"
)


@needs_libcrypto
@pytest.mark.parametrize("sizes", [[0], [1], [55, 1, 8], [64, 64], [4096, 1_000_003], [3] * 50])
def test_pieces_of_any_size_hash_like_hashlib(sizes: list[int]) -> None:
    data = os.urandom(sum(sizes))
    hasher, at = ResumableSha256.new(), 0
    for size in sizes:
        hasher.update(data[at : at + size])
        at += size
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert hasher.hashed == len(data)


@needs_libcrypto
def test_writable_buffers_read_only_views_and_bytearrays() -> None:
    data = os.urandom(100_000)
    batch = mmap.mmap(-1, len(data))
    batch[:] = data
    hasher = ResumableSha256.new()
    hasher.update(memoryview(batch)[:40_000])  # as the upload batches arrive
    hasher.update(memoryview(data)[40_000:70_000])  # read-only, not bytes
    hasher.update(bytearray(data[70_000:]))
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


@needs_libcrypto
def test_a_saved_state_goes_on_in_another_hasher() -> None:
    first, second = os.urandom(1_000_001), os.urandom(77)
    hasher = ResumableSha256.new()
    hasher.update(first)
    assert hasher.hexdigest() == hashlib.sha256(first).hexdigest()  # and it goes on after that
    state = state_of(hasher)
    assert state is not None and len(state) == sha256_state.STATE_SIZE
    resumed = resume(state, len(first))
    assert resumed is not None
    resumed.update(second)
    assert resumed.hexdigest() == hashlib.sha256(first + second).hexdigest()
    hasher.update(second)  # the original is untouched by the copy's progress
    assert hasher.hexdigest() == resumed.hexdigest()


@needs_libcrypto
def test_a_state_for_another_size_or_malformed_is_not_resumed() -> None:
    hasher = ResumableSha256.new()
    hasher.update(b"x" * 1000)
    state = hasher.state()
    assert resume(state, 999) is None  # the upload's size says otherwise: hash it again
    assert resume(state[:-1], 1000) is None
    assert resume(None, 1000) is None


def test_without_libcrypto_hashes_still_work_but_keep_no_state(monkeypatch) -> None:
    monkeypatch.setattr(sha256_state, "_LIB", None)
    hasher = new_sha256()
    hasher.update(b"abc")
    assert hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert state_of(hasher) is None
    assert resume(b"\0" * sha256_state.STATE_SIZE, 0) is None
