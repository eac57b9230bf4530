"""The OSV fixture advisories (tests/fixtures/osv/<ecosystem>/*.json) as OSV-style zips."""

from __future__ import annotations

import zipfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "osv"


def zip_fixtures(dest: Path) -> list[Path]:
    """One `<dest>/<ecosystem>/all.zip` of `<ID>.json` members per fixture ecosystem."""
    zips = []
    for directory in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        target = dest / directory.name / "all.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for record in sorted(directory.glob("*.json")):
                archive.write(record, record.name)
        zips.append(target)
    return zips
