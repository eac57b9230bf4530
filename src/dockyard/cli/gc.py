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
from typing import TYPE_CHECKING

from dockyard.arguments import duration, instant
from dockyard.config import add_store_options

if TYPE_CHECKING:
    from dockyard.backends.metadata.sql import SqlMetadataStore
    from dockyard.ports import BlobStore


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("garbage collection")
    _add_gc_durations(group)
    group.add_argument(
        "--gc-interval",
        type=duration,
        default="1h",
        help="run garbage collection this often (one process at a time "
        "collects; 0 turns it off; default 1h)",
    )


def serve_settings(args: argparse.Namespace) -> dict[str, float]:
    return {
        "gc_interval": args.gc_interval,
        "gc_grace": args.gc_grace,
        "upload_ttl": args.upload_ttl,
    }


def _add_gc_durations(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--gc-grace",
        type=duration,
        default="24h",
        help="keep unreferenced blobs this long after a client last saw them (default 24h)",
    )
    parser.add_argument(
        "--upload-ttl",
        type=duration,
        default="7d",
        help="expire upload sessions started this long ago (default 7d)",
    )


def _add_location(parser: argparse.ArgumentParser) -> None:
    add_store_options(parser)


def add_parser(sub: argparse._SubParsersAction) -> None:
    gc = sub.add_parser("gc", help="delete blobs no image uses and expired uploads, now")
    _add_location(gc)
    _add_gc_durations(gc)
    gc.add_argument("--dry-run", action="store_true", help="report what would go; delete nothing")
    gc.add_argument("--now", type=instant, help="judge grace and expiry as if it were this time")
    gc.add_argument(
        "--audit-log",
        metavar="PATH",
        help="append the collection's audit line to PATH ('-' = stderr), as serve",
    )
    storage = sub.add_parser("storage", help="print stored bytes per repository and account")
    _add_location(storage)


def _open(args: argparse.Namespace) -> tuple[SqlMetadataStore, BlobStore, str]:
    """The stores the options name, and the blob store's URL."""
    from dockyard import startup
    from dockyard.backends.factory import open_blob_store, open_metadata_store
    from dockyard.settings import Settings

    settings = Settings(
        data_dir=args.data_dir, database_url=args.database_url, storage_url=args.storage_url
    )
    startup.require_existing(settings)  # a wrong --data-dir creates nothing
    blobs = open_blob_store(settings.resolved_storage_url)
    meta = open_metadata_store(
        settings.resolved_database_url, migrate=settings.database_url is None
    )
    meta.probe()
    return meta, blobs, settings.resolved_storage_url


def run_gc(args: argparse.Namespace) -> int:
    from dockyard import metrics
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.backends.factory import blobs_are_local
    from dockyard.events_setup import audit_sink
    from dockyard.progress import Progress
    from dockyard.services.audit import AuditLog
    from dockyard.services.clock import SystemClock
    from dockyard.services.gc import GarbageCollector, GcConfig
    from dockyard.services.placement import Placement
    from dockyard.services.storage import StorageService

    try:
        sink = audit_sink(args.audit_log)
        meta, blobs, blobs_url = _open(args)
    except ConfigurationError as exc:
        print(f"dockyard gc: {exc}", file=sys.stderr)
        return 2
    config = GcConfig(grace=args.gc_grace, upload_ttl=args.upload_ttl)
    clock = SystemClock()
    placement = Placement(local_blobs=blobs_are_local(blobs_url))
    collector = GarbageCollector(
        meta, blobs, clock, config, AuditLog(sink, clock), metrics, placement
    )
    with Progress() as bar:
        report = collector.run(args.dry_run, args.now, bar.fraction, strays=True)
    print(report.summary())
    if not args.dry_run and not report.skipped:
        logging.basicConfig(level=logging.INFO, format="dockyard: %(message)s")
        StorageService(meta, meta, clock).after_collection(report)
    meta.close()
    return 1 if report.skipped else 0


def run_storage(args: argparse.Namespace) -> int:
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.services.clock import SystemClock
    from dockyard.services.storage import StorageService, table

    try:
        meta, _, _ = _open(args)
    except ConfigurationError as exc:
        print(f"dockyard storage: {exc}", file=sys.stderr)
        return 2
    print(table(StorageService(meta, meta, SystemClock()).usage()))
    meta.close()
    return 0
