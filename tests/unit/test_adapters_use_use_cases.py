"""Adapters call use cases: none reaches past the services into a store or the clock
(services/composition.py keeps `meta`, `blob_store` and `clock` for the composition root,
the CLI tools and tests)."""

from __future__ import annotations

import re
from pathlib import Path

import dockyard.api

API = Path(dockyard.api.__file__).parent
PAST_THE_SERVICES = re.compile(r"\b(?:services|svc|services\(request\))\.(meta|blob_store|clock)\b")


def test_no_adapter_uses_the_stores_or_the_clock_of_the_services() -> None:
    found = [
        f"{path.relative_to(API)}:{number}: {line.strip()}"
        for path in sorted(API.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PAST_THE_SERVICES.search(line)
    ]
    assert found == []


def test_the_pattern_finds_what_it_is_for() -> None:
    assert PAST_THE_SERVICES.search("now = call.services.clock.now()")
    assert PAST_THE_SERVICES.search("svc.blob_store.read(digest)")
    assert not PAST_THE_SERVICES.search("svc.blobs.chunks(read)")
