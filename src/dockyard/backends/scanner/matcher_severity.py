"""Severity of a finding from everything the matched records say (scanning.md §6.6).

    vendor signals  Debian `urgency` (affected[].ecosystem_specific), Ubuntu `severity[].type
                    "Ubuntu"`, GHSA `database_specific.severity`
    CVSS vectors    the records' own `severity[]` (record- and package-level), else borrowed
                    from any record naming the same CVE (index table cve_severity)

Policy "ecr-native" (default): vendor negligible -> INFORMATIONAL; else CVSS v3.x band; else
CVSS v4 band; else vendor rating; else CVSS v2 band; else UNDEFINED.
Policy "clair-compat": vendor negligible -> INFORMATIONAL; vendor rating; CVSS v2; UNDEFINED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.domain.cvss import Cvss, rating, score

__all__ = ["POLICIES", "Rating", "rate", "vendor_rating"]

POLICIES = ("ecr-native", "clair-compat")

_VENDOR = {
    "unimportant": "INFORMATIONAL",
    "negligible": "INFORMATIONAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "moderate": "MEDIUM",
    "high": "HIGH",
    "important": "HIGH",
    "critical": "CRITICAL",
}


@dataclass(frozen=True)
class Rating:
    """The chosen severity, the raw vendor string, and the CVSS scores known per version."""

    severity: str
    vendor: str = ""
    v3: Cvss | None = None
    v4: Cvss | None = None
    v2: Cvss | None = None

    def attributes(self) -> dict[str, str]:
        """ECR basic attributes: CVSS3_SCORE/VECTOR and CVSS2_SCORE/VECTOR when known."""
        attrs = {}
        for label, cvss in (("CVSS3", self.v3), ("CVSS2", self.v2)):
            if cvss is not None and cvss.base_score is not None:
                attrs[f"{label}_SCORE"] = format(cvss.base_score, "g")
                attrs[f"{label}_VECTOR"] = cvss.vector
        return attrs


def vendor_rating(vendor: str) -> str | None:
    """ECR severity for a vendor's own word ("low**", "Moderate"), None if it has none."""
    return _VENDOR.get(vendor.strip(" *").lower())


def rate(
    vendor_values: Iterable[str],
    severity_lists: Iterable[Iterable[dict[str, str]]],
    policy: str = "ecr-native",
) -> Rating:
    """Apply `policy` to the vendor strings and OSV severity entries, most trusted first."""
    vendors = [v for v in vendor_values if v]
    v3 = v4 = v2 = None
    for entries in severity_lists:
        for entry in entries:
            if entry.get("type") == "Ubuntu":
                vendors.append(entry.get("score", ""))
                continue
            cvss = score(entry.get("score", ""))
            if cvss is None or cvss.base_score is None:
                continue
            if cvss.version.startswith("3") and v3 is None:
                v3 = cvss
            elif cvss.version == "4.0" and v4 is None:
                v4 = cvss
            elif cvss.version == "2.0" and v2 is None:
                v2 = cvss
    vendor = vendors[0] if vendors else ""
    return Rating(_choose(vendors, v3, v4, v2, policy), vendor, v3, v4, v2)


def _choose(
    vendors: list[str], v3: Cvss | None, v4: Cvss | None, v2: Cvss | None, policy: str
) -> str:
    mapped = [m for m in (vendor_rating(v) for v in vendors) if m]
    if "INFORMATIONAL" in mapped:
        return "INFORMATIONAL"
    order: tuple[Cvss | str | None, ...]
    if policy == "clair-compat":
        order = (mapped[0] if mapped else None, v2)
    else:
        order = (v3, v4, mapped[0] if mapped else None, v2)
    for choice in order:
        if isinstance(choice, str):
            return choice
        if choice is not None and choice.base_score is not None:
            return rating(choice.base_score, choice.version)
    return "UNDEFINED"
