"""`dockyard gc` (collect garbage now) and `dockyard storage` (stored bytes per repository and
account), plus the garbage collection options of `dockyard serve`.

Both commands take the data location options of `serve` and are safe while servers run on the
same data: the collector claims a lease in the database and every step is a compare-and-set
(services/gc.py). `--now` judges grace periods and upload expiry as if it were that time; what
has no metadata row at all (stray bytes, staging of crashed one-request uploads) is always
aged by the real clock (services/gc_strays.py), and `dockyard gc` always looks for it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from dockyard.config import add_store_options
from dockyard.domain.durations import parse_duration


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-24T10:00:00Z, not {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("garbage collection")
    _add_gc_durations(group)
    group.add_argument("--gc-interval", type=_duration, default="1h",
                       help="run garbage collection this often (one process at a time "
                            "collects; 0 turns it off; default 1h)")


def serve_settings(args: argparse.Namespace) -> dict[str, float]:
    return {"gc_interval": args.gc_interval, "gc_grace": args.gc_grace,
            "upload_ttl": args.upload_ttl}


def _add_gc_durations(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--gc-grace", type=_duration, default="24h",
                        help="keep unreferenced blobs this long after a client last saw them "
                             "(default 24h)")
    parser.add_argument("--upload-ttl", type=_duration, default="7d",
                        help="expire upload sessions started this long ago (default 7d)")


def _add_location(parser: argparse.ArgumentParser) -> None:
    add_store_options(parser)


def add_parser(sub: argparse._SubParsersAction) -> None:
    gc = sub.add_parser("gc", help="delete blobs no image uses and expired uploads, now")
    _add_location(gc)
    _add_gc_durations(gc)
    gc.add_argument("--dry-run", action="store_true", help="report what would go; delete nothing")
    gc.add_argument("--now", type=_instant, help="judge grace and expiry as if it were this time")
    gc.add_argument("--audit-log", metavar="PATH",
                    help="append the collection's audit line to PATH ('-' = stderr), as serve")
    storage = sub.add_parser("storage", help="print stored bytes per repository and account")
    _add_location(storage)


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from dockyard import startup
    from dockyard.backends.factory import open_blob_store, open_metadata_store
    from dockyard.settings import Settings

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url,
                        storage_url=args.storage_url)
    startup.require_existing(settings)  # a wrong --data-dir creates nothing
    blobs = open_blob_store(settings.resolved_storage_url)
    meta = open_metadata_store(settings.resolved_database_url,
                               migrate=settings.database_url is None)
    meta.probe()
    return meta, blobs


def run_gc(args: argparse.Namespace) -> int:
    from dockyard import metrics
    from dockyard.backends.factory import ConfigurationError
    from dockyard.events_setup import audit_sink
    from dockyard.progress import Progress
    from dockyard.services.audit import AuditLog
    from dockyard.services.clock import SystemClock
    from dockyard.services.gc import GarbageCollector, GcConfig
    from dockyard.services.storage import StorageService

    try:
        sink = audit_sink(args.audit_log)
        meta, blobs = _open(args)
    except ConfigurationError as exc:
        print(f"dockyard gc: {exc}", file=sys.stderr)
        return 2
    config = GcConfig(grace=args.gc_grace, upload_ttl=args.upload_ttl)
    clock = SystemClock()
    collector = GarbageCollector(meta, blobs, clock, config, AuditLog(sink, clock), metrics)
    with Progress() as bar:
        report = collector.run(args.dry_run, args.now, bar.fraction, strays=True)
    print(report.summary())
    if not args.dry_run and not report.skipped:
        logging.basicConfig(level=logging.INFO, format="dockyard: %(message)s")
        StorageService(meta, meta, clock).after_collection(report)
    meta.close()
    return 1 if report.skipped else 0


def run_storage(args: argparse.Namespace) -> int:
    from dockyard.backends.factory import ConfigurationError
    from dockyard.services.clock import SystemClock
    from dockyard.services.storage import StorageService, table

    try:
        meta, _ = _open(args)
    except ConfigurationError as exc:
        print(f"dockyard storage: {exc}", file=sys.stderr)
        return 2
    print(table(StorageService(meta, meta, SystemClock()).usage()))
    meta.close()
    return 0

