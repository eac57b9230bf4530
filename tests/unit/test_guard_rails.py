"""The layering contracts stay declared: scripts/test.sh runs `lint-imports` on them, and a
contract that silently lost its modules would pass forever."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]


def _import_name(requirement: str) -> str:
    return re.split(r"[\[<>=;! ]", requirement, maxsplit=1)[0].replace("-", "_").lower()


def test_every_layer_of_the_design_has_a_contract() -> None:
    covered = {m for c in CONTRACTS for m in c.get("source_modules", []) + c.get("modules", [])}
    assert {
        "dockyard.domain",
        "dockyard.ports",
        "dockyard.services",
        "dockyard.backends",
        "dockyard.api.oci",
        "dockyard.api.ecr",
    } <= covered


def test_domain_forbids_every_dependency_the_project_declares() -> None:
    domain = next(c for c in CONTRACTS if c.get("source_modules") == ["dockyard.domain"])
    declared = {_import_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert declared - set(domain["forbidden_modules"]) == set()
