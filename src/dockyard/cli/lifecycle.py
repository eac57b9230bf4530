"""`dockyard lifecycle run [--now ISO8601]`: evaluate every lifecycle policy now.

Takes the same --data-dir / --database-url / --storage-url as `serve` and is safe while servers
run on the same data: each repository's evaluation is claimed through the database, so a
repository a server is evaluating at that moment is left to it. `--now` evaluates as if the
time were the one given (day counts, the 90-day archive minimum, restores from archive that
are due), so an operator can see what a policy does in 15 days without waiting.

Also holds `duration`, the parser of `serve --lifecycle-interval` ("86400", "90s", "30m", "24h",
"7d").
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from dockyard.arguments import instant
from dockyard.config import add_store_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    lifecycle = sub.add_parser("lifecycle", help="lifecycle policies")
    actions = lifecycle.add_subparsers(dest="lifecycle_command", required=True)
    run = actions.add_parser("run", help="evaluate every lifecycle policy now and apply it")
    run.add_argument(
        "--now",
        type=instant,
        help="evaluate as if this were the time (ISO 8601; default: the clock)",
    )
    add_store_options(run)


def run(args: argparse.Namespace) -> int:
    from dockyard.app import create_services
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    settings = Settings(
        data_dir=args.data_dir, database_url=args.database_url, storage_url=args.storage_url
    )
    try:
        svc = create_services(settings, create=False)
    except ConfigurationError as exc:
        print(f"dockyard lifecycle: {exc}", file=sys.stderr)
        return 2
    try:
        worker = f"{socket.gethostname()}:{os.getpid()}:lifecycle-cli"
        report = svc.lifecycle.run_all(worker, args.now)
    finally:
        svc.meta.close()
    print(
        f"dockyard lifecycle: evaluated {report.repositories} repositories: "
        f"{report.expired} images expired, {report.transitioned} archived"
    )
    for name in report.failed:
        print(
            f"dockyard lifecycle: evaluation of {name} failed (see the log above)", file=sys.stderr
        )
    return 1 if report.failed else 0
