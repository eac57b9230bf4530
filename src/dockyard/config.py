"""One configuration for every command, derived from its argparse parser.

    default  <  file (`--config PATH`, TOML)  <  environment (`DOCKYARD_<OPTION>`)  <  flag

argparse stays the single source of option names, types and defaults: a key of the file is an
option's long name with underscores (`--database-url` -> `database_url`), the environment
variable is that key upper-cased after `DOCKYARD_`, and each value goes through the option's
own `type` and `choices`. An option added to a parser is configurable with no code here.

    resolve(parser, argv, keys)  ->  argparse.Namespace with `.configuration` (a Config):
        values:  option key -> Value(value, source)       for `dockyard config show`
        tables:  name -> list of tables                    `[[webhooks]]` etc., for their owners

A scalar key that is no option of any configurable command is an error that names it; tables
and arrays of tables pass through to `tables` for the parts that own them.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "DOCKYARD_"
CONFIG_KEY = "config"
#: Options that are about the command line itself, never configuration.
NOT_CONFIGURABLE = frozenset({"help", "version", CONFIG_KEY})
SECRET_WORDS = ("password", "secret", "token")
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and its source."""


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "flag", "env", "file" or "default"


@dataclass
class Config:
    """The effective configuration: every option's value and source, and the file's tables
    (`[[webhooks]]`, `[[regions]]` ...) for the features that own them, unread here."""

    path: Path | None = None
    values: dict[str, Value] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """Where the data is, as `serve` takes it: the tools that work on a server's data share these
    (and the --config file)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./dockyard-data"),
        help="the data directory of the server whose data this works on",
    )
    parser.add_argument(
        "--database-url", help="metadata database (default: the SQLite file in --data-dir)"
    )
    parser.add_argument(
        "--storage-url", help="blob storage (default: the blobs directory in --data-dir)"
    )
    add_config_option(parser)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="TOML file of options (keys are the long option names with "
        "underscores); flags and DOCKYARD_<OPTION> variables override it",
    )


def configurable(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options of `parser` that the file and environment may set, by key."""
    return {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in NOT_CONFIGURABLE
    }


def parsers(parser: argparse.ArgumentParser) -> Iterable[argparse.ArgumentParser]:
    """`parser` and all its subcommands' parsers, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from parsers(child)


def command_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` came from: `dockyard db upgrade` -> `upgrade`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None):
            return command_parser(action.choices[getattr(args, action.dest)], args)
    return parser


def resolve(
    parser: argparse.ArgumentParser,
    argv: list[str],
    known_keys: Iterable[str],
    environ: Mapping[str, str] = os.environ,
) -> argparse.Namespace:
    """Parse `argv` with the root `parser`; fill what no flag gave from env, file, default.

    `known_keys` are the options of every command the file may be shared with: those keys
    are accepted (and ignored when `parser` lacks them), any other scalar key is an error.
    """
    args = parser.parse_args(argv)
    options = configurable(command_parser(parser, args))
    given = _flags_given(parser, argv)
    path = args.config if getattr(args, CONFIG_KEY, None) else _env_path(environ)
    document = _read_file(path) if path else {}
    scalars, tables = _split_document(document, set(known_keys) | set(options), path)
    configuration = Config(path, tables=tables)
    for key, action in options.items():
        configuration.values[key] = _pick(key, action, args, given, environ, scalars)
        setattr(args, key, configuration.values[key].value)
    args.configuration = configuration
    return args


def _flags_given(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The keys the command line set: parse again with every default suppressed."""
    saved = {action: action.default for each in parsers(parser) for action in each._actions}
    try:
        for action in saved:
            action.default = argparse.SUPPRESS
        explicit = parser.parse_args(argv)
    finally:
        for action, default in saved.items():
            action.default = default
    return set(vars(explicit))


def _env_path(environ: Mapping[str, str]) -> Path | None:
    text = environ.get(ENV_PREFIX + CONFIG_KEY.upper())
    return Path(text) if text else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path} is not valid TOML: {exc}") from None


def _split_document(
    document: dict[str, Any], known: set[str], path: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Option values and pass-through tables; an unknown option key is an error."""
    scalars, tables = {}, {}
    for key, value in document.items():
        if key in known:
            scalars[key] = value
        elif _is_table(value):
            tables[key] = value
        else:
            raise ConfigError(
                f"--config {path}: unknown key {key!r} (keys are the long option "
                "names with underscores, e.g. data_dir; see `dockyard serve --help`)"
            )
    return scalars, tables


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def _pick(
    key: str,
    action: argparse.Action,
    args: argparse.Namespace,
    given: set[str],
    environ: Mapping[str, str],
    scalars: dict[str, Any],
) -> Value:
    if key in given:
        return Value(getattr(args, key), "flag")
    variable = ENV_PREFIX + key.upper()
    if variable in environ:
        return Value(convert(action, environ[variable], f"environment variable {variable}"), "env")
    if key in scalars:
        return Value(convert(action, scalars[key], f"key {key!r} of the --config file"), "file")
    return Value(getattr(args, key), "default")


def convert(action: argparse.Action, raw: Any, where: str) -> Any:
    """`raw` (a string from the environment, a TOML value) as the option would parse it."""
    if action.nargs == 0:  # store_true / store_false
        return _flag_value(raw, where)
    if isinstance(action, argparse._AppendAction):  # repeatable: a TOML list, or "a,b" (env)
        items = raw if isinstance(raw, list) else [p for p in str(raw).split(",") if p.strip()]
        return [_one(action, item, where) for item in items]
    return _one(action, raw, where)


def _one(action: argparse.Action, raw: Any, where: str) -> Any:
    parse = action.type if callable(action.type) else str
    try:
        value = raw if _already_typed(parse, raw) else parse(str(raw))
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{where}: {value!r} is not one of {choices}")
    return value


def _already_typed(parse: Any, raw: Any) -> bool:
    """A TOML value of the option's own type (an int for type=int) needs no parsing; a
    float for an int option does, so that 1.5 is refused rather than kept."""
    return isinstance(parse, type) and type(raw) is parse


def _flag_value(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(f"{where}: expected true or false, not {raw!r}")


# -- showing it --------------------------------------------------------------------------------


def render(configuration: Config) -> str:
    """The effective configuration as a TOML file, each line saying where its value came from."""
    source = f" from {configuration.path}" if configuration.path else ""
    lines = [f"# effective configuration{source}; precedence: flag > env > file > default"]
    for key, found in configuration.values.items():
        shown = masked(key, found.value)
        if shown is None:
            lines.append(f"# {key} = (unset)  # {found.source}")
        else:
            lines.append(f"{key} = {_toml(shown)}  # {found.source}")
    for name in configuration.tables:
        lines.append(f"# [{name}]: passed to its owner (not shown)")
    return "\n".join(lines)


def masked(key: str, value: Any) -> Any:
    """`value` with secrets hidden: secret-named options, passwords and keys inside URLs."""
    if value is None:
        return None
    if any(word in key for word in SECRET_WORDS):
        return "***"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if colon else netloc
    query = (
        "&".join(_mask_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_query_item(item: str) -> str:
    name, equals, _ = item.partition("=")
    lowered = name.lower()
    secret = any(word in lowered for word in (*SECRET_WORDS, "key", "credential"))
    return f"{name}=***" if equals and secret else item


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
