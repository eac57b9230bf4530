"""Synthetic but realistic OSV records and cached inventories for the rescan benchmark.

    Universe (scan_names) ──osv_records(n)──► OSV JSON records ──write_zips──► <dir>/<eco>/all.zip
                          ──inventories(n)──► Inventory objects (what a scan caches per image)

Records follow the shapes of the real dumps (tests/fixtures/osv): DEBIAN-CVE-* with one affected
entry per release (Debian:11/12/13, urgency in ecosystem_specific, 12% unfixed), DSA-* naming
several CVEs with `versions` lists, ALPINE-CVE-* for v3.17-v3.20, PYSEC-*/GHSA-* for PyPI
(ECOSYSTEM ranges plus `versions`), GHSA-* for npm (SEMVER ranges, CVSS vectors, GitHub
severity). Package names are Zipf-weighted (a few packages carry hundreds of advisories) over
real and generated names; fixed versions come from each package's history, so some images are
affected and some are not.

Inventories: 60% Debian 12 (one of 4 base-image snapshots + apt extras), 40% Alpine 3.19 (one
of 3 snapshots + apk extras), about half with PyPI and a third with npm packages, 100-300
packages each. Images built from one snapshot share their base packages exactly, as real fleets
do.
"""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

from dockbench.scan_names import (
    ALPINE_319_BASE,
    ALPINE_319_EXTRA,
    DEBIAN_12_BASE,
    DEBIAN_12_EXTRA,
    HEAVY,
    NPM_REAL,
    PYPI_REAL,
    Universe,
)
from dockyard.domain.scanning import Distro, Inventory, Package

# --------------------------------------------------------------------------- OSV records

SHARES = (("Debian", 0.40), ("Alpine", 0.25), ("PyPI", 0.15), ("npm", 0.20))
_FAM = {"Debian": "deb", "Alpine": "apk", "PyPI": "pep440", "npm": "semver"}
_URGENCY = ["unimportant", "low", "low", "medium", "medium", "high", "not yet assigned"]
_WORDS = ["buffer", "overflow", "in", "the", "parser", "allows", "remote", "attackers", "to", "cause", "a", "denial", "of", "service", "via", "a", "crafted", "file", "heap", "use", "after", "free", "when", "handling", "malformed", "input", "may", "lead", "to", "arbitrary", "code", "execution", "integer", "overflow", "out", "of", "bounds", "read", "in", "function", "request", "smuggling", "path", "traversal", "improper", "certificate", "validation", "prototype", "pollution", "regular", "expression", "denial", "of", "service"]  # fmt: skip


class Records:
    """Deterministic OSV records: `take(n)` the first n; `update(n)` new + re-issued ones."""

    def __init__(self, universe: Universe, seed: int = 11) -> None:
        self.u, self.seed = universe, seed
        self._weights: dict[str, list[float]] = {
            fam: list(itertools.accumulate(1 / (r + 1) ** 0.85 for r in range(len(p.ranked))))
            for fam, p in universe.pools.items()
        }

    def take(self, n: int) -> list[tuple[str, dict]]:
        return list(itertools.islice(self._stream(0, self.seed), n))

    def update(
        self, n: int, existing: list[tuple[str, dict]], day: int = 1
    ) -> list[tuple[str, dict]]:
        """About n records, as OSV's delta of `day`: half new ones, half existing ids re-issued
        (a fix became available or moved, `modified` bumped)."""
        start = 10_000_000 * day + len(existing)
        fresh = list(itertools.islice(self._stream(start, self.seed + 10 * day), n // 2))
        rng = random.Random(self.seed + 10 * day + 1)
        reissued = []
        for i in sorted(rng.sample(range(len(existing)), min(n - len(fresh), len(existing)))):
            eco, record = existing[i]
            record = json.loads(json.dumps(record))
            record["modified"] = f"2026-01-{day:02d}T03:04:05.000000Z"
            for entry in record["affected"]:
                events = entry["ranges"][0]["events"]
                history = self.u.pools[_FAM[eco]].histories.get(entry["package"]["name"], [])
                if history:
                    entry["ranges"][0]["events"] = _events(
                        events[0]["introduced"], rng.choice(history)
                    )
            reissued.append((eco, record))
        return fresh + reissued

    def _stream(self, start: int, seed: int) -> Iterator[tuple[str, dict]]:
        for i in itertools.count(start):
            yield from self._one(i, random.Random(f"{seed}-{i}"))

    def _one(self, i: int, rng: random.Random) -> list[tuple[str, dict]]:
        eco = rng.choices([e for e, _ in SHARES], [w for _, w in SHARES])[0]
        fam = _FAM[eco]
        pool = self.u.pools[fam]
        name = rng.choices(pool.ranked, cum_weights=self._weights[fam])[0]
        history = pool.histories[name]
        cve = f"CVE-{2015 + i % 10}-{100000 + i}"
        base = _common(rng, i)
        if eco == "Debian":
            return _debian(rng, i, name, history, cve, base)
        if eco == "Alpine":
            return [("Alpine", _alpine(rng, name, history, cve, base))]
        if eco == "PyPI":
            return [("PyPI", _pypi(rng, i, name, history, cve, base))]
        return [("npm", _npm(rng, i, name, history, cve, base))]


def _common(rng: random.Random, i: int) -> dict:
    year = 2015 + i % 10
    words = " ".join(rng.choices(_WORDS, k=rng.randint(15, 90)))
    return {
        "schema_version": "1.6.0",
        "published": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00Z",
        "modified": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:07.{rng.randint(0, 999999):06d}Z",
        "details": words[:1].upper() + words[1:] + ".",
    }


def _fixed(rng: random.Random, history: list[str], p_unfixed: float) -> str | None:
    return None if rng.random() < p_unfixed else _old(rng, history)


def _old(rng: random.Random, history: list[str]) -> str:
    """A version of the history, older ones likelier: most advisories were fixed long ago."""
    return history[min(len(history) - 1, 1 + int(rng.random() ** 4 * (len(history) - 1)))]


def _events(introduced: str, fixed: str | None, last: str | None = None) -> list[dict]:
    events = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    elif last:
        events.append({"last_affected": last})
    return events


def _cvss(rng: random.Random) -> list[dict]:
    m = [
        rng.choice(v)
        for v in (
            ("N", "A", "L"),
            ("L", "H"),
            ("N", "L", "H"),
            ("N", "R"),
            ("U", "C"),
            ("N", "L", "H"),
            ("N", "L", "H"),
            ("N", "L", "H"),
        )
    ]
    vector = "CVSS:3.1/AV:{}/AC:{}/PR:{}/UI:{}/S:{}/C:{}/I:{}/A:{}".format(*m)
    return [{"type": "CVSS_V3", "score": vector}]  # fmt: skip


def _debian(rng, i, name, history, cve, base) -> list[tuple[str, dict]]:
    purl = f"pkg:deb/debian/{name}?arch=source"
    releases = ["Debian:11", "Debian:12"] + (["Debian:13"] if rng.random() < 0.5 else [])
    affected = [{
        "package": {"name": name, "ecosystem": rel, "purl": purl},
        "ranges": [{"type": "ECOSYSTEM", "events": _events("0", _fixed(rng, history, 0.12))}],
        "ecosystem_specific": {"urgency": rng.choice(_URGENCY)},
        "database_specific": {"source": f"https://storage.googleapis.com/debian-osv/{cve}.json"},
    } for rel in releases]  # fmt: skip
    record = base | {"id": f"DEBIAN-{cve}", "upstream": [cve], "affected": affected}
    out = [("Debian", record)]
    if rng.random() < 0.08:  # a DSA for the same package, covering this CVE and others
        cves = [cve] + [
            f"CVE-{2015 + i % 10}-{900000 + i * 4 + k}" for k in range(rng.randint(0, 3))
        ]
        fixed = _old(rng, history)
        dsa = base | {
            "id": f"DSA-{5000 + i}-1", "summary": f"{name} - security update",
            "upstream": cves + [f"DEBIAN-{c}" for c in cves],
            "affected": [{
                "package": {"name": name, "ecosystem": "Debian:12", "purl": purl},
                "ranges": [{"type": "ECOSYSTEM", "events": _events("0", fixed)}],
                "versions": history[: history.index(fixed)],
            }],
        }  # fmt: skip
        out.append(("Debian", dsa))
    return out


def _alpine(rng, name, history, cve, base) -> dict:
    releases = rng.sample(["v3.17", "v3.18", "v3.19", "v3.20"], rng.randint(2, 4))
    affected = []
    for rel in sorted(releases):
        intro = "0" if rng.random() < 0.8 else rng.choice(history[:-1] or history)
        affected.append({
            "package": {"name": name, "ecosystem": f"Alpine:{rel}",
                        "purl": f"pkg:apk/alpine/{name}?arch=source"},
            "ranges": [{"type": "ECOSYSTEM", "events": _events(intro, _fixed(rng, history, 0.03))}],
        })  # fmt: skip
    return base | {"id": f"ALPINE-{cve}", "upstream": [cve], "affected": affected}


def _ghsa(rng: random.Random) -> str:
    alphabet = "23456789cfghjmpqrvwx"
    return "GHSA-" + "-".join("".join(rng.choices(alphabet, k=4)) for _ in range(3))


def _pypi(rng, i, name, history, cve, base) -> dict:
    k = history.index(_old(rng, history))
    intro = "0" if rng.random() < 0.5 else history[rng.randrange(k + 1)]
    fixed = history[k] if rng.random() < 0.9 else None
    start = 0 if intro == "0" else history.index(intro)
    stop = history.index(fixed) if fixed else len(history)
    affected = [{
        "package": {"name": name, "ecosystem": "PyPI", "purl": f"pkg:pypi/{name}"},
        "ranges": [{"type": "ECOSYSTEM", "events": _events(intro, fixed)}],
        "versions": history[start:stop],
    }]  # fmt: skip
    if rng.random() < 0.6:
        return base | {"id": f"PYSEC-{2015 + i % 10}-{i}", "aliases": [cve, _ghsa(rng)],
                       "affected": affected}  # fmt: skip
    return base | {"id": _ghsa(rng), "aliases": [cve], "affected": affected,
                   "severity": _cvss(rng), "summary": f"{name} vulnerable to " + rng.choice(_WORDS),
                   "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH",
                                                                 "CRITICAL"])}}  # fmt: skip


def _npm(rng, i, name, history, cve, base) -> dict:
    k = history.index(_old(rng, history))
    intro = "0" if rng.random() < 0.6 else history[rng.randrange(k + 1)]
    roll = rng.random()
    fixed, last = (history[k], None) if roll < 0.85 else (None, history[k] if roll < 0.95 else None)
    record = base | {
        "id": _ghsa(rng),
        "aliases": [cve] if rng.random() < 0.8 else [],
        "summary": f"{name} vulnerable to " + rng.choice(_WORDS),
        "affected": [{"package": {"name": name, "ecosystem": "npm", "purl": f"pkg:npm/{name}"},
                      "ranges": [{"type": "SEMVER", "events": _events(intro, fixed, last)}]}],
        "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]),
                              "github_reviewed": True, "cwe_ids": ["CWE-400"]},
    }  # fmt: skip
    if rng.random() < 0.85:
        record["severity"] = _cvss(rng)
    return record


def write_zips(records: list[tuple[str, dict]], dest: Path) -> list[Path]:
    """`<dest>/<Ecosystem>/all.zip` of `<ID>.json` members, as OSV publishes them."""
    by_eco: dict[str, list[dict]] = {}
    for eco, record in records:
        by_eco.setdefault(eco, []).append(record)
    paths = []
    for eco, items in sorted(by_eco.items()):
        path = dest / eco / "all.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for record in items:
                archive.writestr(f"{record['id']}.json", json.dumps(record))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- inventories

DEBIAN_12 = Distro("debian", "12", "Debian:12", "Debian GNU/Linux 12 (bookworm)")
ALPINE_319 = Distro("alpine", "3.19.1", "Alpine:v3.19", "Alpine Linux v3.19")


class Inventories:
    """Deterministic cached inventories over the same Universe as the records."""

    def __init__(self, universe: Universe, seed: int = 5) -> None:
        self.u, self.rng = universe, random.Random(seed)
        self._common: dict[str, list[str]] = {}
        self._real_deb = sorted({s.split(" ", 1)[0] if s else b for b, _, s in DEBIAN_12_EXTRA})
        self._real_apk = sorted({o or n for n, _, o in ALPINE_319_EXTRA})
        self.deb_bases = [self._deb_base(k) for k in range(4)]
        self.apk_bases = [self._apk_base(k) for k in range(3)]

    def take(self, n: int) -> list[Inventory]:
        return [self._one(i) for i in range(n)]

    def _version(self, fam: str, name: str, age: int) -> str:
        """The pinned version moved `age` steps back (older snapshots), or a recent one."""
        history = self.u.pools[fam].histories[name]
        pinned = self.u.pools[fam].pinned.get(name)
        at = history.index(pinned) if pinned in history else len(history) - 1
        return history[max(0, at - age)]

    def _deb_base(self, k: int) -> list[Package]:
        """Snapshot k of the base image: 40% of its source packages k updates behind."""
        ages: dict[str, int] = {}
        out = []
        for binary, _, source in DEBIAN_12_BASE:
            src = source.split(" ", 1)[0] if source else binary
            age = ages.setdefault(src, k if self.rng.random() < 0.4 else 0)
            out.append(self._deb(binary, src, self._version("deb", src, age)))
        return out

    def _apk_base(self, k: int) -> list[Package]:
        ages: dict[str, int] = {}
        out = []
        for name, _, origin in ALPINE_319_BASE:
            age = ages.setdefault(origin or name, k if self.rng.random() < 0.4 else 0)
            out.append(self._apk(name, origin or name, self._version("apk", origin or name, age)))
        return out

    @staticmethod
    def _deb(binary: str, source: str, version: str) -> Package:
        return Package("Debian:12", binary, version, source, version, "amd64", "dpkg",
                       "var/lib/dpkg/status", "sha256:" + "1" * 64)  # fmt: skip

    @staticmethod
    def _apk(name: str, origin: str, version: str) -> Package:
        return Package("Alpine:v3.19", name, version, origin, version, "x86_64", "apk",
                       "lib/apk/db/installed", "sha256:" + "2" * 64)  # fmt: skip

    def _pick(
        self,
        fam: str,
        real: list[str],
        count: int,
        p_real: float,
        have: frozenset[str] = frozenset(),
    ) -> list[tuple[str, str]]:
        """`count` distinct (name, version): real names with probability p_real, else one of
        800 generated names (spread over the advisory ranking); versions among the 4 newest of the history."""
        rng, chosen = self.rng, {}
        common = self._common.get(fam)
        if common is None:
            known = set(real)
            known |= set(HEAVY[fam])
            others = sorted(n for n in self.u.pools[fam].ranked if n not in known)
            common = random.Random(fam).sample(others, 800)
            self._common[fam] = common
        # Packages with hundreds of advisories (kernel headers, media libraries) are in few images.
        real = [n for n in real if n not in have and (n not in HEAVY[fam] or rng.random() < 0.15)]
        while len(chosen) < count:
            name = rng.choice(real) if rng.random() < p_real else rng.choice(common)
            if name in have:  # the base image already has this source package
                continue
            chosen.setdefault(name, self._version(fam, name, rng.choice((0, 0, 1, 2, 3))))
        return list(chosen.items())

    def _one(self, i: int) -> Inventory:
        """Language packages first (a Python app, a Node app, both or neither), then OS
        packages up to the image's size: base snapshot plus extras."""
        rng = self.rng
        target = rng.randint(100, 300)
        language = []
        if rng.random() < 0.5:
            pypi = [n for n, _ in PYPI_REAL]
            language += [_lang("PyPI", n, v) for n, v in
                         self._pick("pep440", pypi, rng.randint(10, 60), 0.6)]  # fmt: skip
        if rng.random() < 0.35:
            npm = [n for n, _ in NPM_REAL]
            language += [_lang("npm", n, v) for n, v in
                         self._pick("semver", npm, rng.randint(20, 150), 0.5)]  # fmt: skip
        language = language[: target - 40]
        if rng.random() < 0.6:
            distro, packages = DEBIAN_12, list(rng.choice(self.deb_bases))
            want = max(10, target - len(packages) - len(language))
            have = frozenset(p.source_name for p in packages)
            extra = self._pick("deb", self._real_deb, want, 0.5, have)
            packages += [self._deb(f"lib{n}" if rng.random() < 0.3 else n, n, v) for n, v in extra]
        else:
            distro, packages = ALPINE_319, list(rng.choice(self.apk_bases))
            want = max(10, target - len(packages) - len(language))
            have = frozenset(p.source_name for p in packages)
            extra = self._pick("apk", self._real_apk, want, 0.5, have)
            packages += [self._apk(n, n, v) for n, v in extra]
        return Inventory(distro, tuple(packages + language), "amd64")


def _lang(ecosystem: str, name: str, version: str) -> Package:
    if ecosystem == "PyPI":
        path = f"usr/local/lib/python3.11/site-packages/{name}-{version}.dist-info/METADATA"
        return Package("PyPI", name, version, package_manager="python", file_path=path,
                       layer_digest="sha256:" + "3" * 64)  # fmt: skip
    return Package("npm", name, version, package_manager="npm",
                   file_path=f"app/node_modules/{name}/package.json",
                   layer_digest="sha256:" + "4" * 64)  # fmt: skip
