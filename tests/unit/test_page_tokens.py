"""One pager for every listing (domain/page_tokens.py): by key, or by offset into a fixed result."""

from __future__ import annotations

import pytest

from dockyard.domain.errors import ParameterInvalid
from dockyard.domain.page_tokens import Pager


def test_a_pager_pages_by_key_and_its_tokens_serve_only_their_listing() -> None:
    names = [f"n{i:02}" for i in range(7)]
    pager = Pager(b"k" * 32, {"op": "list", "account": "1"})
    seen, token = [], None
    while True:
        after = pager.position(token)
        start = names.index(after["name"]) + 1 if after else 0
        page, token = pager.page(names[start : start + 3], 2, lambda last: {"name": last})
        seen += page
        if token is None:
            break
    assert seen == names
    _, token = pager.page(names, 2, lambda last: {"name": last})
    assert token is not None
    with pytest.raises(ParameterInvalid):
        Pager(b"k" * 32, {"op": "list", "account": "2"}).position(token)


def test_a_pager_windows_a_fixed_result_by_offset() -> None:
    pager, items, token, seen = Pager(b"k" * 32, {"op": "findings"}), list(range(5)), None, []
    while True:
        page, token = pager.window(items, token, 2, field="i")
        seen += page
        if token is None:
            break
    assert seen == items
    assert pager.window(items, None, 5) == (items, None)
