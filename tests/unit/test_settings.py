"""Settings handed to `dockyard serve --workers N` worker processes through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.settings import ENVIRONMENT_VARIABLE, Settings, from_environment, to_environment


def test_settings_survive_the_trip_through_the_environment(monkeypatch):
    settings = Settings(
        data_dir=Path("/srv/dockyard"), host="0.0.0.0", port=5001,
        database_url="postgresql://u@db/dockyard", storage_url="s3://bucket/prefix?region=eu",
        auth_file=Path("/etc/dockyard/auth.toml"), create_on_push=True,
        accept_any_credentials=True, region="eu-west-1", redirect_blobs=True,
        pull_flush_seconds=2.5, scan_poll_seconds=0.25,
    )  # fmt: skip
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, to_environment(settings))
    assert from_environment() == settings


def test_defaults_survive_too(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, to_environment(Settings()))
    assert from_environment() == Settings()


def test_a_worker_without_settings_says_how_to_start_it(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    with pytest.raises(RuntimeError, match="dockyard serve --workers N"):
        from_environment()


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_serve_refuses_a_worker_count_below_one(workers, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", workers])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err
