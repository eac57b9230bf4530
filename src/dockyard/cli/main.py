"""The `dockyard` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard import __version__, config
from dockyard.arguments import duration, positive_duration
from dockyard.cli import config as config_cli
from dockyard.cli import db as db_cli
from dockyard.cli import gc as gc_cli
from dockyard.cli import lifecycle as lifecycle_cli
from dockyard.cli import scan as scan_cli
from dockyard.cli import verify as verify_cli
from dockyard.cli import vulndb as vulndb_cli
from dockyard.settings import Settings

if TYPE_CHECKING:
    from dockyard.server.connection_limits import ConnectionLimits


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the registry")
    add_serve_options(serve)


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """Every option of `serve` (also what `dockyard config show` accepts and shows)."""
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port",
        type=_port,
        default=5000,
        help="port for both protocols (0: any free port, printed at start)",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./dockyard-data"),
        help="where SQLite and blobs live by default (created on first start)",
    )
    serve.add_argument("--database-url", help="metadata database (default: sqlite in --data-dir)")
    serve.add_argument(
        "--storage-url",
        help="blob storage (default: file:// in --data-dir; or "
        "s3://bucket/prefix?endpoint_url=...&region=...&redirect=1)",
    )
    serve.add_argument(
        "--redirect-blobs",
        action="store_true",
        help="answer blob GETs with a 307 to the store's presigned URL when it "
        "offers one (s3://...?redirect=1)",
    )
    serve.add_argument(
        "--auth-file",
        type=Path,
        help="TOML file of accounts and access keys (default: one account "
        "created in --data-dir on first start)",
    )
    serve.add_argument(
        "--create-on-push",
        action="store_true",
        help="create a repository when a push names one that does not exist",
    )
    serve.add_argument(
        "--accept-any-credentials",
        action="store_true",
        help="THROW-AWAY TESTING ONLY: accept any well-formed credentials and "
        "anonymous /v2/ access, all acting as the first account",
    )
    serve.add_argument("--region", default="us-east-1", help="region used in ARNs")
    serve.add_argument(
        "--log-level", default="info", type=str.lower, choices=LOG_LEVELS, help="server log level"
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes sharing the port (each with its own connections; "
        "with the embedded SQLite default they share the data directory)",
    )
    _operations_options(serve)
    _events_options(serve)
    _connection_options(serve)
    gc_cli.add_serve_options(serve)
    # lifecycle policies and archive (cli/lifecycle.py)
    serve.add_argument(
        "--lifecycle-interval",
        type=positive_duration,
        default=86400.0,
        help="evaluate each lifecycle policy this often: seconds or 30m, 24h, 7d (default 24h)",
    )
    serve.add_argument(
        "--restore-delay",
        type=duration,
        default=0.0,
        help="how long an image restored from archive stays ACTIVATING "
        "(default 0: ACTIVE within about a second)",
    )
    # pull-through cache (services/pull_through.py)
    serve.add_argument(
        "--insecure-upstream",
        action="append",
        metavar="HOST[:PORT]",
        default=None,
        help="a pull-through cache upstream reached over plain "
        "HTTP (repeatable); others must speak HTTPS",
    )
    serve.add_argument(
        "--pull-through-refresh",
        type=duration,
        default=86400.0,
        help="re-check a cached tag upstream after this long: "
        "seconds or 30m, 24h (default 24h, as ECR)",
    )


def _events_options(serve: argparse.ArgumentParser) -> None:
    """The audit log and the test clock (see events_setup.py); webhooks are [[webhooks]]
    tables of the --config file."""
    serve.add_argument(
        "--audit-log",
        metavar="PATH",
        help="append one JSON line per change to PATH ('-': stderr); default: no audit log",
    )
    serve.add_argument(
        "--test-clock",
        metavar="FILE",
        help="TESTS ONLY: add the seconds written in FILE to the registry's "
        "clock (dockyard.testing's advance()); default: off",
    )


def _connection_options(serve: argparse.ArgumentParser) -> None:
    """How long a connection may take and how many may be open (server/connection_guard.py)."""
    from dockyard.server.connection_limits import ConnectionLimits

    defaults = ConnectionLimits()
    group = serve.add_argument_group("connections (each limit is per worker process)")
    group.add_argument(
        "--header-timeout",
        type=_timeout,
        default=defaults.header_timeout,
        help="close a connection that has not sent a complete request head "
        "this many seconds after connecting or starting a request "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--keepalive-timeout",
        type=_timeout,
        default=defaults.keepalive_timeout,
        help="close an idle keep-alive connection after this many seconds (default: %(default)s)",
    )
    group.add_argument(
        "--max-connections",
        type=_positive,
        default=defaults.max_connections,
        help="open client connections at most; more are closed as soon as "
        "they are accepted (default: %(default)s, lowered to fit the "
        "open-file limit)",
    )


def _operations_options(serve: argparse.ArgumentParser) -> None:
    """TLS, configuration file, access log, metrics and shutdown (see server/serve.py)."""
    config.add_config_option(serve)
    serve.add_argument(
        "--tls-cert",
        type=Path,
        metavar="PATH",
        help="PEM certificate (chain) to serve HTTPS with; needs --tls-key",
    )
    serve.add_argument("--tls-key", type=Path, metavar="PATH", help="PEM private key of --tls-cert")
    serve.add_argument(
        "--access-log",
        choices=ON_OFF,
        type=str.lower,
        default="on",
        help="one line per request on stderr",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        type=str.lower,
        default="text",
        help="format of the access log lines",
    )
    serve.add_argument(
        "--metrics",
        choices=ON_OFF,
        type=str.lower,
        default="on",
        help="Prometheus metrics at GET /metrics",
    )
    serve.add_argument(
        "--metrics-address",
        type=_host_port,
        metavar="HOST:PORT",
        help="serve /metrics on this address instead of the registry's port",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        default=10.0,
        help="seconds in-flight requests get to finish after SIGTERM",
    )


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
ON_OFF = ("on", "off")


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return int(text)


def _host_port(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return f"{host}:{_port(port)}"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}")
    return value


def _timeout(text: str) -> float:
    value = _seconds(text)
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and below a day, not {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def serve(args: argparse.Namespace) -> int:
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.server import serve as server

    settings = _settings(args)
    if settings.accept_any_credentials:
        print(
            "dockyard: WARNING: --accept-any-credentials is on: NO AUTHENTICATION. Anyone who "
            "can reach this port can read and write everything. Use only for throw-away "
            "local testing.",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.check_tls(args.tls_cert, args.tls_key)
        sock = server.bind(args.host, args.port)
    except ConfigurationError as exc:
        return _fail(exc)
    try:
        cleanup = server.prepare_metrics(args.metrics == "on", args.metrics_address, args.workers)
        target = _target(settings, args.workers)
    except ConfigurationError as exc:
        sock.close()
        return _fail(exc)
    print(
        f"dockyard {__version__}: serving on {server.bound_url(sock, args.tls_cert is not None)}"
        f" (data in {settings.data_dir.resolve()})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run(
            target,
            sock,
            workers=args.workers,
            log_level=args.log_level,
            shutdown_timeout=args.shutdown_timeout,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            limits=_connection_limits(args),
        )
    finally:
        cleanup()
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        storage_url=args.storage_url,
        auth_file=args.auth_file,
        create_on_push=args.create_on_push,
        accept_any_credentials=args.accept_any_credentials,
        region=args.region,
        redirect_blobs=args.redirect_blobs,
        access_log=args.access_log == "on",
        log_format=args.log_format,
        record_metrics=args.metrics == "on",
        metrics_route=args.metrics == "on" and args.metrics_address is None,
        config_file=str(args.config) if args.config else None,
        audit_log=args.audit_log,
        test_clock=args.test_clock,
        lifecycle_interval=args.lifecycle_interval,
        restore_delay=args.restore_delay,
        insecure_upstreams=tuple(h.lower() for h in args.insecure_upstream or ()),
        pull_through_refresh=args.pull_through_refresh,
        **gc_cli.serve_settings(args),
    )


def _target(settings: Settings, workers: int) -> object:
    """The app (checked, migrated, credentials made), or for workers the import string."""
    from dockyard.app import create_app

    app = create_app(settings)
    return _hand_over_to_workers(app, settings) if workers > 1 else app


def _fail(exc: Exception) -> int:
    print(f"dockyard: {exc}", file=sys.stderr)
    return 2


def _connection_limits(args: argparse.Namespace) -> ConnectionLimits:
    """The connection limits asked for, fitted to the open-file limit (raised to its hard
    limit first), and handed to this process's and the workers' protocol."""
    from dockyard.server.connection_guard import GuardedProtocol
    from dockyard.server.connection_limits import ConnectionLimits, raise_open_file_limit

    asked = ConnectionLimits(args.header_timeout, args.keepalive_timeout, args.max_connections)
    limits = asked.fitted_to(raise_open_file_limit())
    if limits != asked:
        print(
            f"dockyard: --max-connections lowered to {limits.max_connections} to fit the "
            "open-file limit (RLIMIT_NOFILE)",
            file=sys.stderr,
            flush=True,
        )
    GuardedProtocol.configure(limits)
    return limits


def _hand_over_to_workers(app: object, settings: Settings) -> str:
    """The import string uvicorn's worker processes build their apps from.

    The app built here already checked the configuration, and on the embedded default migrated
    the database and created the credentials, once, before any worker races to; it is not
    served, so its connections are closed.
    """
    from dockyard.settings import ENVIRONMENT_VARIABLE, to_environment

    app.state.services.meta.close()  # type: ignore[attr-defined]
    os.environ[ENVIRONMENT_VARIABLE] = to_environment(settings)  # inherited by the workers
    return "dockyard.app:app_from_environment"


def main(argv: list[str] | None = None) -> int:
    from dockyard.config import ConfigError

    parser = build_parser()
    try:
        args = config.resolve(parser, sys.argv[1:] if argv is None else argv, _file_keys(parser))
    except ConfigError as exc:
        return _fail(exc)
    return {
        "serve": serve,
        "db": db_cli.run,
        "vulndb": vulndb_cli.run,
        "scan": scan_cli.run,
        "lifecycle": lifecycle_cli.run,
        "verify": verify_cli.run,
        "gc": gc_cli.run_gc,
        "storage": gc_cli.run_storage,
        "config": config_cli.run,
    }[args.command](args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dockyard", description="Dockyard container registry")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    db_cli.add_parser(sub)
    vulndb_cli.add_parser(sub)
    scan_cli.add_parser(sub)
    lifecycle_cli.add_parser(sub)
    verify_cli.add_parser(sub)
    gc_cli.add_parser(sub)
    config_cli.add_parser(sub, add_serve_options)
    for each in config.parsers(parser):
        each.formatter_class = _HelpFormatter
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, except the empty ones (`None`, an unset switch)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _file_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Keys a --config file may hold: the options of every command (one file serves all)."""
    return {key for each in config.parsers(parser) for key in config.configurable(each)}


if __name__ == "__main__":
    sys.exit(main())
