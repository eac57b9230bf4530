"""OSV records as the index keeps them: validated, trimmed, names normalised.

    raw JSON value ──clean_record()──► {id, withdrawn, modified, published, summary, details,
                                        aliases, upstream, severity, references,
                                        database_specific, affected: [{ecosystem, name, ranges,
                                        versions, ecosystem_specific, severity}]}

Operator-supplied dumps are untrusted input: anything not shaped like OSV raises BadRecord (the
importer counts and skips it), strings are capped, GIT ranges are dropped (they need the
repository to evaluate), and PyPI names are PEP 503-normalised so lookups need no guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BadRecord", "Limits", "clean_record", "normalize_name"]


@dataclass(frozen=True)
class Limits:
    """Caps for operator-supplied (so untrusted) input."""

    record_bytes: int = 16 * 1024 * 1024  # the largest real OSV records are a few MB
    records: int = 5_000_000  # per import; all of OSV is under 1M today
    members: int = 10_000_000  # zip entries looked at
    text_chars: int = 64 * 1024  # summary/details kept per record


class BadRecord(ValueError):
    """A record that is not usable OSV; counted and skipped."""


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$")  # x_… local ids included


def clean_record(record: Any, limits: Limits | None = None) -> dict[str, Any]:
    """The parts of an OSV record the index keeps; raises BadRecord for unusable input."""
    limits = limits or Limits()
    if not isinstance(record, dict):
        raise BadRecord("not a JSON object")
    vid = record.get("id")
    if not isinstance(vid, str) or not _ID.match(vid):
        raise BadRecord(f"bad id {str(vid)[:60]!r}")
    affected = record.get("affected") or []
    if not isinstance(affected, list):
        raise BadRecord(f"{vid}: affected is not a list")
    return {
        "id": vid,
        "withdrawn": bool(record.get("withdrawn")),
        "modified": _text(record.get("modified"), 64),
        "published": _text(record.get("published"), 64),
        "summary": _text(record.get("summary"), 1024),
        "details": _text(record.get("details"), limits.text_chars),
        "aliases": _strings(record.get("aliases")),
        "upstream": _strings(record.get("upstream")),
        "severity": _severity(record.get("severity")),
        "references": _references(record.get("references")),
        "database_specific": _object(record.get("database_specific")),
        "affected": [a for a in (_affected(item) for item in affected) if a is not None],
    }


def _affected(item: Any) -> dict[str, Any] | None:
    package = item.get("package") if isinstance(item, dict) else None
    if not isinstance(package, dict):
        return None
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not (isinstance(ecosystem, str) and isinstance(name, str) and ecosystem and name):
        return None
    ranges = [_range(r) for r in item.get("ranges") or [] if isinstance(r, dict)]
    return {
        "ecosystem": ecosystem[:128],
        "name": normalize_name(ecosystem, name)[:512],
        "ranges": [r for r in ranges if r is not None],
        "versions": _strings(item.get("versions")),
        "ecosystem_specific": _object(item.get("ecosystem_specific")),
        "severity": _severity(item.get("severity")),
    }


def _range(item: dict[str, Any]) -> dict[str, Any] | None:
    # GIT ranges need the repository to evaluate; OSV records also list the versions they cover.
    if item.get("type") not in ("ECOSYSTEM", "SEMVER"):
        return None
    events = [e for e in item.get("events") or [] if _is_event(e)]
    return {"type": item["type"], "events": events} if events else None


def _is_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and len(event) == 1
        and next(iter(event)) in ("introduced", "fixed", "last_affected", "limit")
        and isinstance(next(iter(event.values())), str)
    )


def normalize_name(ecosystem: str, name: str) -> str:
    """PyPI names per PEP 503 (`Foo_Bar` -> `foo-bar`); other ecosystems keep theirs."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [v[:256] for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _severity(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        {"type": s["type"], "score": s["score"][:512]}
        for s in value
        if isinstance(s, dict)
        and isinstance(s.get("type"), str)
        and isinstance(s.get("score"), str)
    ]


def _references(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        {"type": str(r.get("type", "")), "url": r["url"][:2048]}
        for r in value
        if isinstance(r, dict) and isinstance(r.get("url"), str)
    ][:200]
