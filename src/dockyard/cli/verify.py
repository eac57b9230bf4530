"""`dockyard verify [--repository NAME] [--sample N] [--repair]`: re-hash stored blobs.

Reads the same data directory (or --database-url / --storage-url) as `serve`. Prints one line
per blob whose bytes do not match its digest (and, with --repair, where it was moved), then a
summary. Exit status: 0 when every checked blob is intact, 1 when corruption was found, 2 on
bad usage. A progress bar is drawn on stderr when it is a terminal, nothing otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

from dockyard.config import add_store_options
from dockyard.domain.errors import DockyardError
from dockyard.progress import Progress
from dockyard.services.verify import VerifyReport

MB = 1_000_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    verify = sub.add_parser(
        "verify",
        help="re-hash stored blobs; report (and quarantine) "
        "any whose bytes do not match their digest",
    )
    add_store_options(verify)
    verify.add_argument("--repository", help="only the blobs linked to this repository")
    verify.add_argument("--account", help="registry id of --repository (default: the first)")
    verify.add_argument("--sample", type=_positive, help="check only N blobs chosen at random")
    verify.add_argument(
        "--repair",
        action="store_true",
        help="move corrupt blobs aside (they are no longer served; pushing "
        "the right bytes again restores them)",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from dockyard.app import create_services
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.services.verify import BlobVerifier
    from dockyard.settings import Settings

    settings = Settings(
        data_dir=args.data_dir, database_url=args.database_url, storage_url=args.storage_url
    )
    try:
        svc = create_services(settings, create=False)
    except ConfigurationError as exc:
        print(f"dockyard verify: {exc}", file=sys.stderr)
        return 2
    verifier = BlobVerifier(svc.meta, svc.blob_store, svc.repositories)
    started = time.monotonic()
    try:
        digests = verifier.targets(
            args.account or svc.default_account, args.repository, args.sample
        )
    except DockyardError as exc:
        print(f"dockyard verify: {exc.message}", file=sys.stderr)
        return 2
    with Progress() as bar:
        report = verifier.verify(digests, args.repair, VerifyProgress(bar))
    _print_report(report, time.monotonic() - started, args.repair)
    return 0 if report.clean else 1


def _print_report(report: VerifyReport, seconds: float, repair: bool) -> None:
    for bad in report.corrupt:
        where = f"; moved to {bad.moved_to}" if bad.moved_to else ""
        print(f"CORRUPT {bad.digest}: the stored bytes hash to {bad.actual}{where}")
    for digest in report.missing:
        print(f"MISSING {digest}: listed but gone when read")
    for digest in report.skipped:
        print(f"SKIPPED {digest}: unsupported digest algorithm")
    rate = report.bytes_read / MB / seconds if seconds > 0 else 0.0
    verdict = "all intact" if report.clean else f"{len(report.corrupt)} corrupt"
    if report.corrupt and not repair:
        verdict += " (run again with --repair to quarantine them)"
    elif report.corrupt:
        verdict += " (quarantined)"
    print(
        f"verified {report.checked} blobs, {report.bytes_read / MB:,.1f} MB in {seconds:.1f} s "
        f"({rate:,.0f} MB/s): {verdict}"
    )


class VerifyProgress:
    """The verifier's progress calls, shown as blobs done and megabytes read."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._total = self._done = self._bytes = 0

    def start(self, blobs: int) -> None:
        self._total = blobs

    def advance(self, nbytes: int) -> None:
        self._bytes += nbytes
        self._show()

    def blob_done(self) -> None:
        self._done += 1
        self._show()

    def _show(self) -> None:
        self._bar("verify", self._done, self._total, f" blobs, {self._bytes / MB:,.0f} MB")
