"""Match an image's inventory against the vulnerability index: Inventory -> list[Finding].

    packages ─► keys (ecosystem, source name [+ binary name for rpm]) ─► index.affected_for()
             ─► evaluate(versions, ranges, source version, ecosystem comparator)  (memoised)
             ─► hits (record, package, fixed) ─► expanded per CVE ─► grouped ─► Finding

* Basic scans look at OS packages only (dpkg, apk, rpm), as ECR does; enhanced scans add the
  language packages (PyPI, npm, ...). Packages of ecosystems without a comparator are skipped.
* OS packages match on their source package and source version (Debian, Ubuntu and Alpine OSV
  name source packages); rpm records name either, so both names are tried.
* A record names the CVEs it covers (its id, `aliases`, `upstream`; `DEBIAN-CVE-…` counts as the
  CVE). Each covered CVE becomes one finding per source package, so a DSA fixing three CVEs gives
  three findings and the DSA, DEBIAN-CVE and CVE records of one CVE merge into one; the fix is the
  lowest fixed version among them ("" when none is fixed). A record naming no CVE keeps its id.
* Evaluation results are memoised per index generation (`index.memo`): re-matching many cached
  inventories evaluates each (package, version) once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard.backends.scanner.matcher_ranges import Verdict, evaluate
from dockyard.backends.scanner.matcher_severity import Rating, rate
from dockyard.backends.scanner.osv_index import AffectedRow, VulnIndex, VulnRow, normalize_name
from dockyard.backends.scanner.versions import compare, family
from dockyard.domain.scanning import SEVERITIES, Finding, Inventory, Package

__all__ = ["display_ids", "match", "severity_counts", "uri_for"]

_MEMO_LIMIT = 1_000_000
_CVE = re.compile(r"^(?:[A-Z]+-)?(CVE-\d{4}-\d+)$")
_DESCRIPTION_CHARS = 4096


@dataclass
class _Group:
    """Everything matched for one (CVE, source package): merged into one Finding."""

    packages: list[Package] = field(default_factory=list)
    records: dict[str, VulnRow] = field(default_factory=dict)
    rows: list[AffectedRow] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # "" (unfixed) verdicts add nothing


def match(
    inventory: Inventory,
    index: VulnIndex,
    enhanced: bool,
    policy: str = "ecr-native",
    ordered: bool = True,
) -> list[Finding]:
    """Findings for `inventory`, ordered by severity (most severe first), id and package
    (`ordered`), or in no particular order for a caller that sorts them its own way."""
    index.refresh()
    findings: list[Finding] = []
    todo: dict[_SourceKey, tuple[Package, ...]] = {}
    for source, packages in _by_source(inventory, enhanced).items():
        cached = index.memo.get(("findings", policy, packages))
        if cached is None:
            todo[source] = packages
        else:
            findings.extend(cached)
    if todo:
        findings.extend(_match_sources(todo, index, policy))
    return sorted(findings, key=_order) if ordered else findings


_SourceKey = tuple[str, str, str]  # (ecosystem, source name, source version)


def _by_source(inventory: Inventory, enhanced: bool) -> dict[_SourceKey, tuple[Package, ...]]:
    by_source: dict[_SourceKey, list[Package]] = {}
    for p in inventory.packages:
        if _eligible(p, enhanced):
            by_source.setdefault((p.ecosystem, p.match_name, p.match_version), []).append(p)
    return {
        k: tuple(v) if len(v) == 1 else tuple(sorted(v, key=_package_order))
        for k, v in by_source.items()
    }


def _package_order(p: Package) -> tuple[str, str]:
    return (p.name, p.file_path)


def _match_sources(
    todo: dict[_SourceKey, tuple[Package, ...]], index: VulnIndex, policy: str
) -> list[Finding]:
    """Match the source packages not seen before; cache their findings per package set.

    The findings of one source package depend only on the index and on its binary packages,
    so re-matching many cached inventories mostly reuses them.
    """
    packages = [p for group in todo.values() for p in group]
    rows = index.affected_for(k for p in packages for k in _keys(p))
    hits = [(p, row, verdict) for p in packages for row, verdict in _hits(p, rows, index)]
    records = _records(index, {row.vuln_id for _, row, _ in hits})
    groups = _group(hits, records)
    borrowed = _borrowed(index, [cve for cve, _, _, _ in groups if cve.startswith("CVE-")])
    per_source: dict[_SourceKey, list[Finding]] = {source: [] for source in todo}
    for key, group in groups.items():
        cve, source = key[0], key[1:]
        per_source[source].append(_finding(cve, group, borrowed.get(cve, []), policy))
    if len(index.memo) > _MEMO_LIMIT:
        index.memo.clear()
    for source, found in per_source.items():
        index.memo[("findings", policy, todo[source])] = found
    return [f for found in per_source.values() for f in found]


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """`findingSeverityCounts`: findings per severity, listing only the non-zero ones."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


def display_ids(record: VulnRow) -> list[str]:
    """The CVE ids a record covers, in its own order; its id when it names no CVE."""
    cves = []
    for candidate in (record.id, *record.aliases, *record.upstream):
        m = _CVE.match(candidate)
        if m and m.group(1) not in cves:
            cves.append(m.group(1))
    return cves or [record.id]


def uri_for(ecosystem: str, vuln_id: str, references: Iterable[dict[str, str]] = ()) -> str:
    """The finding's `uri`: the distro's tracker page, else an advisory link (scanning.md §6.4)."""
    distro = ecosystem.split(":", 1)[0]
    is_cve = vuln_id.startswith("CVE-")
    if distro == "Debian":
        return f"https://security-tracker.debian.org/tracker/{vuln_id}"
    if distro == "Ubuntu" and is_cve:
        return f"https://ubuntu.com/security/{vuln_id}"
    if distro == "Alpine" and is_cve:
        return f"https://security.alpinelinux.org/vuln/{vuln_id}"
    if distro in ("AlmaLinux", "Rocky Linux", "Red Hat") and is_cve:
        return f"https://access.redhat.com/security/cve/{vuln_id}"
    advisories = [r["url"] for r in references if r.get("type") == "ADVISORY"]
    if advisories:
        return advisories[0]
    if is_cve:
        return f"https://nvd.nist.gov/vuln/detail/{vuln_id}"
    return f"https://osv.dev/vulnerability/{vuln_id}"


def _eligible(package: Package, enhanced: bool) -> bool:
    if family(package.ecosystem) is None or not package.match_version:
        return False
    return package.is_os_package or enhanced


def _keys(package: Package) -> list[tuple[str, str]]:
    names = [package.match_name]
    if package.package_manager == "rpm" and package.name != package.match_name:
        names.append(package.name)
    return [(package.ecosystem, normalize_name(package.ecosystem, n)) for n in names]


def _hits(
    package: Package, rows: dict[tuple[str, str], list[AffectedRow]], index: VulnIndex
) -> list[tuple[AffectedRow, Verdict]]:
    found: list[tuple[AffectedRow, Verdict]] = []
    for key in _keys(package):
        memo_key = (key, package.match_version)
        cached = index.memo.get(memo_key)
        if cached is None:
            cached = _evaluate_all(rows.get(key, []), package.match_version, package.ecosystem)
            if len(index.memo) > _MEMO_LIMIT:
                index.memo.clear()
            index.memo[memo_key] = cached
        found.extend(cached)
    return found


def _evaluate_all(
    rows: list[AffectedRow], version: str, ecosystem: str
) -> list[tuple[AffectedRow, Verdict]]:
    fam = family(ecosystem) or ""
    verdicts = ((row, evaluate(row.versions, row.ranges, version, fam)) for row in rows)
    return [(row, v) for row, v in verdicts if v.affected]


def _records(index: VulnIndex, ids: set[str]) -> dict[str, VulnRow]:
    cache = index.memo.setdefault("records", {})
    # A comprehension over the few ids, not `ids - cache.keys()`, which walks the whole cache.
    missing = {i for i in ids if i not in cache}
    if missing:
        cache.update(index.vulns(missing))
    return {i: cache[i] for i in ids if i in cache}


def _borrowed(index: VulnIndex, cves: list[str]) -> dict[str, list[dict[str, str]]]:
    cache = index.memo.setdefault("cve_severity", {})
    missing = {cve for cve in cves if cve not in cache}
    if missing:
        found = index.borrowed_severity(missing)
        cache.update({cve: found.get(cve, []) for cve in missing})
    return {cve: cache[cve] for cve in cves}


def _group(
    hits: list[tuple[Package, AffectedRow, Verdict]], records: dict[str, VulnRow]
) -> dict[tuple[str, str, str, str], _Group]:
    groups: dict[tuple[str, str, str, str], _Group] = {}
    for package, row, verdict in hits:
        record = records.get(row.vuln_id)
        if record is None:
            continue
        for cve in display_ids(record):
            key = (cve, package.ecosystem, package.match_name, package.match_version)
            group = groups.setdefault(key, _Group())
            if package not in group.packages:
                group.packages.append(package)
            group.records[record.id] = record
            group.rows.append(row)
            if verdict.fixed:
                group.fixes.append(verdict.fixed)
    return groups


def _finding(cve: str, group: _Group, borrowed: list[dict[str, str]], policy: str) -> Finding:
    package = min(group.packages, key=lambda p: (p.name, p.file_path))
    records = sorted(group.records.values(), key=lambda r: _record_rank(r, cve))
    rating = _rating(group, records, borrowed, policy)
    others = {i for r in records for i in (r.id, *r.aliases, *r.upstream)} - {cve}
    references = tuple(dict.fromkeys(ref["url"] for r in records for ref in r.references))
    return Finding(
        id=cve,
        package=package,
        severity=rating.severity,
        description=_description(records),
        uri=uri_for(package.ecosystem, cve, [x for r in records for x in r.references]),
        fixed_version=_lowest_fix(group.fixes, package.ecosystem),
        aliases=tuple(sorted(others)),
        cvss=rating.attributes(),
        advisory_id=records[0].id,
        published=records[0].published,
        modified=max(r.modified for r in records),
        vendor_severity=rating.vendor,
        references=references,
    )


def _record_rank(record: VulnRow, cve: str) -> tuple[int, str]:
    # The record about the CVE itself (CVE-…, DEBIAN-CVE-…) describes it best; advisories
    # (DSA, GHSA, PYSEC) next; a record covering many CVEs last.
    m = _CVE.match(record.id)
    if m and m.group(1) == cve:
        return (0, record.id)
    return (1 if len(display_ids(record)) == 1 else 2, record.id)


def _rating(
    group: _Group, records: list[VulnRow], borrowed: list[dict[str, str]], policy: str
) -> Rating:
    vendors = [str(row.ecosystem_specific.get("urgency", "")) for row in group.rows]
    vendors += [str(r.database_specific.get("severity", "")) for r in records]
    severity_lists = [row.severity for row in group.rows] + [r.severity for r in records]
    return rate(vendors, [*severity_lists, borrowed], policy)


def _description(records: list[VulnRow]) -> str:
    for record in records:
        text = record.details.strip() or record.summary.strip()
        if text:
            return text[:_DESCRIPTION_CHARS]
    return ""


def _lowest_fix(fixes: list[str], ecosystem: str) -> str:
    fam = family(ecosystem) or ""
    best = ""
    for fix in fixes:
        if not best or compare(fam, fix, best) == -1:
            best = fix
    return best


_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def _order(finding: Finding) -> tuple[int, str, str, str]:
    package = finding.package
    return (
        _RANK[finding.severity],
        finding.id,
        package.source_name or package.name,
        package.file_path,
    )
