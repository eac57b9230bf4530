"""`dockyard config show`: the effective configuration of `serve`, and where each value came from.

    dockyard config show [--config PATH] [any serve option...]

Prints a TOML file (usable as a --config file) whose lines end in `# flag`, `# env`, `# file`
or `# default`; passwords in URLs and secret-named values are masked.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dockyard import config


def add_parser(
    sub: argparse._SubParsersAction, add_serve_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    parent = sub.add_parser("config", help="inspect the configuration")
    commands = parent.add_subparsers(dest="config_command", required=True)
    show = commands.add_parser(
        "show",
        help="print the effective configuration of `serve` "
        "(flag > DOCKYARD_<OPTION> > --config file > default)",
    )
    add_serve_options(show)


def run(args: argparse.Namespace) -> int:
    print(config.render(args.configuration))
    return 0
