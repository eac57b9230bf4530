"""The `dockyard` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dockyard import __version__, db_cli, gc_cli, scan_cli, vulndb_cli
from dockyard.settings import Settings


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the registry")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--data-dir", type=Path, default=Path("./dockyard-data"),
                       help="where SQLite and blobs live by default (created on first start)")
    serve.add_argument("--database-url", help="metadata database (default: sqlite in --data-dir)")
    serve.add_argument("--storage-url",
                       help="blob storage (default: file:// in --data-dir; or "
                            "s3://bucket/prefix?endpoint_url=...&region=...&redirect=1)")
    serve.add_argument("--redirect-blobs", action="store_true",
                       help="answer blob GETs with a 307 to the store's presigned URL when it "
                            "offers one (s3://...?redirect=1)")
    serve.add_argument("--auth-file", type=Path,
                       help="TOML file of accounts and access keys (default: one account "
                            "created in --data-dir on first start)")
    serve.add_argument("--create-on-push", action="store_true",
                       help="create a repository when a push names one that does not exist")
    serve.add_argument("--accept-any-credentials", action="store_true",
                       help="THROW-AWAY TESTING ONLY: accept any well-formed credentials and "
                            "anonymous /v2/ access, all acting as the first account")
    serve.add_argument("--region", default="us-east-1", help="region used in ARNs")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="worker processes sharing the port (each with its own connections; "
                            "with the embedded SQLite default they share the data directory)")
    gc_cli.add_serve_options(serve)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dockyard.api.http_protocol import BodyBatchingProtocol
    from dockyard.app import create_app
    from dockyard.backends.factory import ConfigurationError

    settings = Settings(data_dir=args.data_dir, host=args.host, port=args.port,
                        database_url=args.database_url, storage_url=args.storage_url,
                        auth_file=args.auth_file, create_on_push=args.create_on_push,
                        accept_any_credentials=args.accept_any_credentials, region=args.region,
                        redirect_blobs=args.redirect_blobs, **gc_cli.serve_settings(args))
    if settings.accept_any_credentials:
        print("dockyard: WARNING: --accept-any-credentials is on: NO AUTHENTICATION. Anyone who "
              "can reach this port can read and write everything. Use only for throw-away "
              "local testing.", file=sys.stderr, flush=True)
    try:
        app = create_app(settings)
    except ConfigurationError as exc:
        print(f"dockyard: {exc}", file=sys.stderr)
        return 2
    print(f"dockyard {__version__}: serving on http://{args.host}:{args.port} "
          f"(data in {settings.data_dir.resolve()})", file=sys.stderr, flush=True)
    target: object = app
    if args.workers > 1:
        target = _hand_over_to_workers(app, settings)
    uvicorn.run(target, host=args.host, port=args.port, log_level=args.log_level,
                http=BodyBatchingProtocol, access_log=False, timeout_graceful_shutdown=10, workers=args.workers,
                factory=args.workers > 1)
    return 0


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
    parser = argparse.ArgumentParser(prog="dockyard", description="Dockyard container registry")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    db_cli.add_parser(sub)
    vulndb_cli.add_parser(sub)
    scan_cli.add_parser(sub)
    gc_cli.add_parser(sub)
    args = parser.parse_args(argv)
    return {"serve": serve, "db": db_cli.run, "vulndb": vulndb_cli.run,
            "scan": scan_cli.run, "gc": gc_cli.run_gc,
            "storage": gc_cli.run_storage}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
