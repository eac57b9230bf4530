"""The S3 store's pure parts: composition plans, segment chains and the key space."""

from __future__ import annotations

import pytest

from dockyard.backends.blobs.s3.compose import COPY_PART, GATHER_PART, MIN_PART, Piece, plan
from dockyard.backends.blobs.s3.paths import KeySpace
from dockyard.backends.blobs.s3.segments import UploadListing

MiB = 1024 * 1024


def piece(name: str, length: int, start: int = 0) -> Piece:
    return Piece(name, start, length, start + length)


def check(parts, pieces) -> None:
    """S3's rules hold and the parts reproduce the pieces' bytes in order."""
    assert all(p.length >= MIN_PART for p in parts[:-1])
    assert all(p.copy is None or p.copy.length <= 5 * 1024 * MiB for p in parts)
    assert all(p.copy is not None or p.length <= GATHER_PART for p in parts)
    flat = [p.copy for p in parts if p.copy] + [g for p in parts for g in p.gather]
    covered = sorted((f.key, f.start, f.start + f.length) for f in flat)
    merged: dict[str, list[tuple[int, int]]] = {}
    for key, start, end in covered:
        spans = merged.setdefault(key, [])
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    assert merged == {p.key: [(p.start, p.start + p.length)] for p in pieces if p.length}


@pytest.mark.parametrize(
    "lengths",
    [
        [],
        [0],
        [10],
        [MIN_PART],
        [MIN_PART - 1, 1],
        [1000, 20 * MiB, 10, 1, 9 * MiB],
        [3] * 5000,
        [GATHER_PART] * 3,
        [GATHER_PART + 1, MIN_PART - 1, MIN_PART - 1, MIN_PART - 1],
        [2 * COPY_PART + 7, 1],
    ],
)
def test_plans_follow_s3_rules(lengths) -> None:
    pieces = [piece(f"k{i}", n) for i, n in enumerate(lengths)]
    parts = plan(pieces)
    check(parts, pieces)
    assert sum(p.length for p in parts) == sum(lengths)


def test_large_pieces_are_copied_not_downloaded() -> None:
    parts = plan([piece("big", 3 * COPY_PART)])
    assert [p.copy.length for p in parts] == [COPY_PART] * 3


def test_a_small_piece_before_a_large_one_borrows_its_head() -> None:
    parts = plan([piece("small", 10), piece("big", 20 * MiB)])
    assert [p.length for p in parts] == [GATHER_PART, 20 * MiB + 10 - GATHER_PART]
    assert parts[0].gather[1] == Piece("big", 0, GATHER_PART - 10, 20 * MiB)
    assert parts[1].copy == Piece("big", GATHER_PART - 10, 20 * MiB + 10 - GATHER_PART, 20 * MiB)


def test_a_chain_is_the_named_segments_in_order_and_nothing_else() -> None:
    sizes = {"a": 10, "b": 4, "lost": 7, "c": 5}
    listing = UploadListing(sizes, tuple(sizes), lambda name: f"k/{name}")
    chain = ["a", "b", "c"]  # "lost" was written by a writer that was never acknowledged
    assert [(p.key, p.length) for p in listing.pieces(chain, 19)] == [
        ("k/a", 10), ("k/b", 4), ("k/c", 5),
    ]  # fmt: skip
    assert [(p.key, p.length) for p in listing.pieces(chain, 12)] == [("k/a", 10), ("k/b", 2)]
    with pytest.raises(OSError, match="holds 19 bytes, not 20"):
        listing.pieces(chain, 20)
    assert sum(p.length for p in listing.pieces(chain, 20, exact=False)) == 19
    with pytest.raises(OSError, match="missing"):
        listing.pieces(["a", "gone"], 12)


def test_key_space() -> None:
    keys = KeySpace.under("/registry/")
    digest = "sha256:" + "ab" * 32
    assert keys.blob(digest) == f"registry/blobs/sha256/ab/{'ab' * 32}"
    assert keys.digest_of(keys.blob(digest)) == digest
    assert keys.digest_of("registry/blobs/sha256/cd/" + "ab" * 32) is None
    name = f"{4096:020d}-{'0f' * 8}"
    assert keys.segment("u-1", name) == f"registry/uploads/u-1/segments/{name}"
    assert keys.segment_name("u-1", keys.segment("u-1", name)) == name
    # Keys of older versions (a marker, a segment without a writer's token) are not segments.
    assert keys.segment_name("u-1", keys.upload("u-1") + "started") is None
    assert keys.segment_name("u-1", keys.segments("u-1") + f"{4096:020d}") is None
    with pytest.raises(ValueError):
        keys.segment("u-1", "../../blobs/x")
    assert KeySpace.under("").blob(digest).startswith("blobs/")
    for bad in ("../x", "a/b", ""):
        with pytest.raises(ValueError):
            keys.upload(bad)
    with pytest.raises(ValueError):
        keys.blob("sha256:../../x")
