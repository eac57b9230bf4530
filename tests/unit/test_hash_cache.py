"""The upload service's cache of running hashes: bounded, keyed by generation, copies out."""

from __future__ import annotations

import hashlib

from dockyard.services.hash_cache import HashCache


def test_a_hasher_is_found_only_at_its_generation() -> None:
    cache = HashCache()
    cache.put("u", 3, hashlib.sha256(b"abc"))
    assert cache.take_copy("u", 2) is None
    assert cache.take_copy("u", 4) is None
    found = cache.take_copy("u", 3)
    assert found is not None and found.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_copies_handed_out_never_change_the_cached_hasher() -> None:
    cache = HashCache()
    cache.put("u", 1, hashlib.sha256(b"abc"))
    first, second = cache.take_copy("u", 1), cache.take_copy("u", 1)
    assert first is not None and second is not None
    first.update(b"one request's chunk")
    second.update(b"another's")
    again = cache.take_copy("u", 1)
    assert again is not None and again.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_the_least_recently_used_entries_go_beyond_the_capacity() -> None:
    cache = HashCache(capacity=3)
    for i in range(3):
        cache.put(f"u{i}", 0, hashlib.sha256())
    assert cache.take_copy("u0", 0) is not None  # u0 is now the most recently used
    cache.put("u3", 0, hashlib.sha256())
    assert len(cache) == 3
    assert cache.take_copy("u1", 0) is None
    assert all(cache.take_copy(f"u{i}", 0) is not None for i in (0, 2, 3))


def test_forget_drops_one_generation() -> None:
    cache = HashCache()
    cache.put("u", 1, hashlib.sha256())
    cache.put("u", 2, hashlib.sha256())
    cache.forget("u", 1)
    assert cache.take_copy("u", 1) is None and cache.take_copy("u", 2) is not None
