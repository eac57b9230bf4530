"""Pytest plugin: a failed test's report carries the logs of the servers still running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import live_servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the logs of running servers to a failed test's report (temp dirs are removed)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for server in live_servers():
            report.sections.append((f"{server.name} log {server.address}", server.log_tail()))
