"""ConnectionLimits: fitted to the open-file limit, and handed to worker processes intact."""

from __future__ import annotations

import resource

import pytest

from dockyard.server.connection_limits import (
    ENVIRONMENT_VARIABLE,
    RESERVED_DESCRIPTORS,
    ConnectionLimits,
    raise_open_file_limit,
)


def test_limits_that_fit_are_kept() -> None:
    limits = ConnectionLimits(5.0, 7.0, 100)
    assert limits.fitted_to(100 + RESERVED_DESCRIPTORS) is limits


def test_max_connections_is_lowered_to_fit_the_open_file_limit() -> None:
    fitted = ConnectionLimits(5.0, 7.0, 10_000).fitted_to(1024)
    assert fitted == ConnectionLimits(5.0, 7.0, 1024 - RESERVED_DESCRIPTORS)


def test_limits_travel_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = ConnectionLimits(2.5, 9.0, 77)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, limits.to_environment())
    assert ConnectionLimits.from_environment() == limits
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert ConnectionLimits.from_environment() == ConnectionLimits()


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        now = raise_open_file_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now
        assert now == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
