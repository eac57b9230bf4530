"""dockyard.config: flag > DOCKYARD_<OPTION> > --config file > default, derived from argparse."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dockyard import config
from dockyard.cli.main import _file_keys, build_parser
from dockyard.config import ConfigError


def resolve(argv: list[str], env: dict[str, str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    return config.resolve(parser, argv, _file_keys(parser), env or {})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dockyard.toml"
    path.write_text(text)
    return path


def test_each_source_wins_over_the_ones_below(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'port = 6001\nregion = "eu-west-1"\nworkers = 3\ndatabase_url = "postgresql://u:pw@db/x"\n',
    )
    env = {"DOCKYARD_PORT": "6002", "DOCKYARD_REGION": "ap-south-1"}

    args = resolve(["serve", "--config", str(path), "--port", "6003"], env)

    values = args.configuration.values
    assert (args.port, values["port"].source) == (6003, "flag")
    assert (args.region, values["region"].source) == ("ap-south-1", "env")
    assert (args.workers, values["workers"].source) == (3, "file")
    assert (args.host, values["host"].source) == ("127.0.0.1", "default")
    assert args.database_url == "postgresql://u:pw@db/x"


def test_values_go_through_the_options_own_types_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/srv/dockyard"\ncreate_on_push = true\n')

    args = resolve(
        ["serve", "--config", str(path)],
        {"DOCKYARD_ACCEPT_ANY_CREDENTIALS": "yes", "DOCKYARD_LOG_LEVEL": "DEBUG"},
    )

    assert args.data_dir == Path("/srv/dockyard")
    assert args.create_on_push is True and args.accept_any_credentials is True
    assert args.log_level == "debug"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DOCKYARD_PORT": "99999"}, "DOCKYARD_PORT"),
        ({"DOCKYARD_WORKERS": "0"}, "DOCKYARD_WORKERS"),
        ({"DOCKYARD_LOG_FORMAT": "xml"}, "DOCKYARD_LOG_FORMAT"),
        ({"DOCKYARD_CREATE_ON_PUSH": "maybe"}, "DOCKYARD_CREATE_ON_PUSH"),
    ],
)
def test_a_bad_environment_value_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        resolve(["serve"], env)


def test_an_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "x"\ndatabse_url = "typo"\n')

    with pytest.raises(ConfigError, match="'databse_url'"):
        resolve(["serve", "--config", str(path)])


def test_tables_pass_through_to_their_owners(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'port = 7000\n[[webhooks]]\nurl = "http://a/"\n'
        '[[webhooks]]\nurl = "http://b/"\n[regions]\nhome = "eu"\n',
    )

    args = resolve(["serve", "--config", str(path)])

    assert args.configuration.tables == {
        "webhooks": [{"url": "http://a/"}, {"url": "http://b/"}],
        "regions": {"home": "eu"},
    }
    assert args.port == 7000


def test_the_file_also_configures_other_commands_with_their_own_keys(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/srv/d"\nport = 7000\nenhanced = true\n')

    scan = resolve(["scan", "repo:tag", "--config", str(path)])
    db = resolve(["db", "current"], {"DOCKYARD_CONFIG": str(path)})

    assert (scan.data_dir, scan.enhanced) == (Path("/srv/d"), True)
    assert not hasattr(scan, "port")
    assert db.data_dir == Path("/srv/d")


def test_an_option_added_to_a_parser_is_configurable_without_more_code(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    config.add_config_option(serve)
    serve.add_argument("--gc-interval", type=float, default=3600.0)
    path = write(tmp_path, "gc_interval = 60\n")

    from_file = config.resolve(parser, ["serve", "--config", str(path)], ["gc_interval"], {})
    from_env = config.resolve(parser, ["serve"], ["gc_interval"], {"DOCKYARD_GC_INTERVAL": "5"})

    assert from_file.gc_interval == 60.0 and from_env.gc_interval == 5.0


def test_a_missing_or_broken_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --config"):
        resolve(["serve", "--config", str(tmp_path / "absent.toml")])
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(["serve", "--config", str(write(tmp_path, "port = = 1"))])


def test_show_masks_secrets_and_says_where_each_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, 'storage_url = "s3://b/p?endpoint_url=http://m:9000&secret_key=S3CR"\n')

    args = resolve(
        ["config", "show", "--config", str(path), "--port", "6000"],
        {"DOCKYARD_DATABASE_URL": "postgresql://app:hunter2@db:5432/reg"},
    )
    shown = config.render(args.configuration)

    assert "hunter2" not in shown and "S3CR" not in shown
    assert 'database_url = "postgresql://app:***@db:5432/reg"  # env' in shown
    assert "secret_key=***" in shown and "endpoint_url=http://m:9000" in shown
    assert "port = 6000  # flag" in shown
    assert 'region = "us-east-1"  # default' in shown
    assert "# storage_url" not in shown and "  # file" in shown


def test_every_option_of_every_command_has_help() -> None:
    for parser in config.parsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{parser.prog} {action.option_strings[0]} has no help"


def test_a_repeatable_option_takes_a_list_from_the_file_and_commas_from_the_environment(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        'insecure_upstream = ["127.0.0.1:5000", "mirror.local"]\npull_through_refresh = "2h"\n',
    )

    args = resolve(["serve", "--config", str(path)])
    assert args.insecure_upstream == ["127.0.0.1:5000", "mirror.local"]
    assert args.pull_through_refresh == 7200.0
    from_env = resolve(["serve"], {"DOCKYARD_INSECURE_UPSTREAM": "a:1,b:2"})
    assert from_env.insecure_upstream == ["a:1", "b:2"]
    from_flags = resolve(["serve", "--config", str(path), "--insecure-upstream", "c:3"])
    assert from_flags.insecure_upstream == ["c:3"]  # the flag wins over the file's list
