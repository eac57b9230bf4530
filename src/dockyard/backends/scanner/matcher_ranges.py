"""Is this version affected? The OSV evaluation algorithm for one `affected[]` entry.

    affected = version in versions[]  or  any(in_range(version, r) for r in ECOSYSTEM/SEMVER ranges)

A range's events are sorted by version (`introduced: "0"` first, `limit: "*"` last) and walked in
order (osv-schema `docs/schema.md`, "Evaluation"): `introduced` <= v makes v vulnerable, `fixed`
<= v or `last_affected` < v clears it; when `limit` events exist, v must be below one of them.
The reported fix is the first `fixed` event above v in the range that matched ("" if none).
GIT ranges never reach here (the importer drops them). Any version the ecosystem's comparator
cannot parse makes that range undecidable: it yields no finding rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dockyard.backends.scanner.versions import parse

__all__ = ["Verdict", "evaluate"]

_MIN, _VALUE, _MAX = 0, 1, 2


@dataclass(frozen=True)
class Verdict:
    """affected: True/False, or None when undecidable; fixed: first fixed version or ""."""

    affected: bool | None
    fixed: str = ""


def evaluate(
    versions: frozenset[str], ranges: tuple[dict[str, Any], ...], version: str, fam: str
) -> Verdict:
    """Evaluate one affected entry (its `versions` and `ranges`) for `version`."""
    undecided = False
    listed = version in versions
    for rng in ranges:
        verdict = _in_range(rng.get("events", ()), version, fam)
        if verdict.affected:
            return verdict
        undecided = undecided or verdict.affected is None
    if listed:
        return Verdict(True, "")
    return Verdict(None if undecided else False)


def _in_range(events: Any, version: str, fam: str) -> Verdict:
    v = parse(fam, version)
    keyed = _keyed(_pairs(events), fam)
    if v is None or keyed is None:
        return Verdict(None)
    limits = [key for key, kind, _ in keyed if kind == "limit"]
    if limits and not any(_lt((_VALUE, v), key) for key in limits):
        return Verdict(False)
    vulnerable = False
    for key, kind, _ in keyed:
        if kind == "introduced" and not _lt((_VALUE, v), key):
            vulnerable = True
        elif (
            kind == "fixed"
            and not _lt((_VALUE, v), key)
            or kind == "last_affected"
            and _lt(key, (_VALUE, v))
        ):
            vulnerable = False
    return Verdict(True, _next_fix(keyed, v)) if vulnerable else Verdict(False)


def _pairs(events: Any) -> tuple[tuple[str, str], ...]:
    """Events as hashable (kind, value) pairs; the index already stores them that way."""
    if isinstance(events, tuple):
        return events
    return tuple(next(iter(e.items())) for e in events)


@lru_cache(maxsize=200_000)  # the same ranges are evaluated for many package versions
def _keyed(
    events: tuple[tuple[str, str], ...], fam: str
) -> list[tuple[tuple[int, Any], str, str]] | None:
    """Events as (sort key, kind, raw value), sorted; None if a version cannot be parsed."""
    keyed = []
    for kind, raw in events:
        if kind == "introduced" and raw == "0":
            key: tuple[int, Any] = (_MIN, None)
        elif kind == "limit" and raw == "*":
            key = (_MAX, None)
        else:
            parsed = parse(fam, raw)
            if parsed is None:
                return None
            key = (_VALUE, parsed)
        keyed.append((key, kind, raw))
    keyed.sort(key=_SortKey)
    return keyed


def _next_fix(keyed: list[tuple[tuple[int, Any], str, str]], v: Any) -> str:
    for key, kind, raw in keyed:
        if _lt((_VALUE, v), key):
            return raw if kind == "fixed" else ""
    return ""


def _lt(a: tuple[int, Any], b: tuple[int, Any]) -> bool:
    if a[0] != b[0]:
        return a[0] < b[0]
    return a[0] == _VALUE and a[1] < b[1]


class _SortKey:
    """Orders (key, kind, raw) triples by key alone; equal keys keep the record's order."""

    __slots__ = ("key",)

    def __init__(self, item: tuple[tuple[int, Any], str, str]) -> None:
        self.key = item[0]

    def __lt__(self, other: _SortKey) -> bool:
        return _lt(self.key, other.key)
