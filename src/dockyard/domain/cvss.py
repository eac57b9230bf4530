"""CVSS base scores from vector strings, as OSV records carry them (`severity[].score`).

    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" ──score()──► Cvss("3.1", 9.8, vector)
    "AV:N/AC:L/Au:N/C:P/I:P/A:P"                  ──score()──► Cvss("2.0", 7.5, vector)

CVSS 3.x and 2.0 base scores are computed here from the FIRST specifications (a few lines each;
this avoids an LGPL dependency). CVSS 4.0 scoring needs the specification's large macro-vector
table, so a 4.0 vector is scored only when the optional `cvss` package is installed; otherwise
it is kept without a score and the severity policy falls through to the next source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Cvss", "rating", "score"]


@dataclass(frozen=True)
class Cvss:
    """One scored vector: version is "2.0", "3.0", "3.1" or "4.0"; base_score None if unscored."""

    version: str
    base_score: float | None
    vector: str


def score(vector: str) -> Cvss | None:
    """The base score of a CVSS vector string, or None if the vector is malformed."""
    if not isinstance(vector, str) or len(vector) > 512:
        return None
    return _score(vector)


@lru_cache(maxsize=65_536)  # a database repeats the same few thousand vectors
def _score(vector: str) -> Cvss | None:
    try:
        if vector.startswith("CVSS:3."):
            return Cvss(vector[5:8], _v3(_metrics(vector.split("/", 1)[1])), vector)
        if vector.startswith("CVSS:4."):
            return Cvss("4.0", _v4(vector), vector)
        return Cvss("2.0", _v2(_metrics(vector.removeprefix("(").removesuffix(")"))), vector)
    except (KeyError, ValueError, IndexError):
        return None


def rating(base_score: float, version: str) -> str:
    """ECR's severity name for a base score: CVSS 3/4 qualitative bands, or NVD's v2 bands."""
    if version == "2.0":
        return "LOW" if base_score < 4.0 else ("MEDIUM" if base_score < 7.0 else "HIGH")
    if base_score == 0.0:
        return "INFORMATIONAL"
    for limit, name in ((4.0, "LOW"), (7.0, "MEDIUM"), (9.0, "HIGH")):
        if base_score < limit:
            return name
    return "CRITICAL"


def _metrics(text: str) -> dict[str, str]:
    pairs = dict(part.split(":", 1) for part in text.split("/"))
    if any(not k or not v for k, v in pairs.items()):
        raise ValueError(text)
    return pairs


_V3_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_V3_AC = {"L": 0.77, "H": 0.44}
_V3_PR = {"N": (0.85, 0.85), "L": (0.62, 0.68), "H": (0.27, 0.5)}  # (scope unchanged, changed)
_V3_UI = {"N": 0.85, "R": 0.62}
_V3_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def _v3(m: dict[str, str]) -> float:
    changed = {"U": False, "C": True}[m["S"]]
    iss = 1 - math.prod(1 - _V3_CIA[m[k]] for k in ("C", "I", "A"))
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    exploitability = (
        8.22 * _V3_AV[m["AV"]] * _V3_AC[m["AC"]] * _V3_PR[m["PR"]][changed] * _V3_UI[m["UI"]]
    )
    if impact <= 0:
        return 0.0
    total = (impact + exploitability) * (1.08 if changed else 1.0)
    return _roundup(min(total, 10.0))


def _roundup(value: float) -> float:
    # CVSS 3.1 Appendix A: round up to one decimal without floating-point surprises.
    integer = round(value * 100_000)
    return integer / 100_000.0 if integer % 10_000 == 0 else (integer // 10_000 + 1) / 10.0


_V2_AV = {"L": 0.395, "A": 0.646, "N": 1.0}
_V2_AC = {"H": 0.35, "M": 0.61, "L": 0.71}
_V2_AU = {"M": 0.45, "S": 0.56, "N": 0.704}
_V2_CIA = {"N": 0.0, "P": 0.275, "C": 0.660}


def _v2(m: dict[str, str]) -> float:
    impact = 10.41 * (1 - math.prod(1 - _V2_CIA[m[k]] for k in ("C", "I", "A")))
    exploitability = 20 * _V2_AV[m["AV"]] * _V2_AC[m["AC"]] * _V2_AU[m["Au"]]
    factor = 0.0 if impact == 0 else 1.176
    return round((0.6 * impact + 0.4 * exploitability - 1.5) * factor + 1e-9, 1)


def _v4(vector: str) -> float | None:
    try:
        from cvss import CVSS4  # optional; see the module docstring
    except ImportError:
        return None
    try:
        return float(CVSS4(vector).base_score)
    except Exception:  # noqa: BLE001 - any parse failure means "unscored", never a crash
        return None
