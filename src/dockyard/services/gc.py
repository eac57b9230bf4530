"""Garbage collection while serving: reclaim the bytes of blobs no image uses, and expire uploads.

Deleting an image or a repository drops metadata at once (pulls fail immediately); this module
reclaims the bytes later, online, on SQLite or PostgreSQL, from one process or several.

Roots: every image of every repository and account (untagged and archived included; index
children and referrers are images too, so their blobs are reachable while they exist) and every
blob pinned by an upload that is publishing it. A blob is garbage when no image lists it (config
or layer) and nobody observed it within the grace period. Each blob row moves through:

                 mark: unreferenced, unpinned,
                 untouched since now - grace
        ┌──────┐ ─────────────────────────────> ┌───────────┐  sweep: compare-and-set
    ──> │ live │                                │ candidate │  candidate -> deleting that
        └──────┘ <───────────────────────────── └───────────┘  re-checks all of the above
         ^    │    revive: a push naming it,          │
         │    │    HEAD / BatchCheckLayerAvailability,│
  create │    │    GET, mount, an upload publishing it v
  (upload│    │                                 ┌──────────┐  bytes deleted through BlobStore
   pin)  │    └ touch (touched_at = now) ─┐     │ deleting │  .delete, then the row and its
         │                                │     └──────────┘  repository links are forgotten
         └────────────────────────────────┘           │
                                                      └──> (no row)   a new upload starts over

`deleting` is terminal: a push naming such a blob is refused (LayersNotFound: the client
uploads it again), a HEAD answers 404, a mount is declined, and an upload of the same bytes waits
until the row is gone and publishes them anew. Every transition is a transaction on the blob's
row (backends/metadata/_garbage.py says how it stays atomic on both engines), so each race ends
one of two ways, never with a manifest naming missing bytes:

- HEAD then PUT manifest: the HEAD touched the blob (revived it if a candidate), so the grace
  period protects it; if the sweep won anyway, the PUT meets `deleting` and is refused.
- an upload just completed, no manifest yet: the blob was pinned while publishing and touched on
  completion; after that it is protected by the grace period only, like any observed blob.
- a mount during a sweep: the mount takes the row lock and declines a deleting blob.
- a push validated while the sweep runs: the push locks the rows it names and revives
  candidates in its own transaction; the sweep's compare-and-set then fails (the state moved,
  or image_refs now name the blob) or came first (the push is refused).

Every state change bumps the row's `gen` (a revived and re-marked blob is a new candidate). The
compare-and-set is on the state, in the statement that also re-checks references, pins and the
last touch on locked rows, so a blob that went candidate -> live -> candidate meanwhile is judged
on the facts at claim time (the gen check of §8.4 adds nothing to that re-check).

The pass: claim the `garbage-collector` lease (one collector at a time across processes), finish
blobs a stopped run left deleting, mark in windows of `batch` digests (SQL set operations:
nothing proportional to the registry is held in Python), then sweep the candidates in batches
(claim -> delete bytes -> forget rows), expire upload sessions older than the upload TTL (row,
staging files and S3 multipart uploads) and pins past their lease, and now and then look for
what the store holds with no metadata row at all (gc_strays.py). `between_mark_and_sweep` is a
hook tests use to interleave pushes deterministically. A dry run writes nothing and reports what
a run would free.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockyard.ports import BlobClaim, BlobStore, GarbageStore, NoRunMetrics, RunMetrics
from dockyard.services import gc_strays
from dockyard.services.audit import AuditAction, AuditLog
from dockyard.services.clock import Clock
from dockyard.services.placement import Placement

log = logging.getLogger("dockyard.gc")

LEASE_NAME = "garbage-collector"
PRINCIPAL = "dockyard:gc"
LEASE_SECONDS = 600.0  # a collector that died frees it after this
#: Renewed between batches once this much (real, monotonic) time passed since the last renewal:
#: a renewal per batch was two write transactions per 5,000 blobs (450 commits for 1M blobs).
RENEW_AFTER = LEASE_SECONDS / 6
#: Observations within this many seconds of the last touch do not write again (a HEAD storm
#: stays read-only); the grace period should be well above it.
TOUCH_FRESH = 60.0
#: How long a publication pin protects a blob; unpin refuses the upload if it ran out.
PIN_LEASE = 6 * 3600.0

Progress = Callable[[str, float, int], None]  # phase, fraction done (0..1), items so far


@dataclass(frozen=True)
class GcConfig:
    #: 24 h (ECR-wave2 §8.4): an image's layers may be pushed hours before its manifest on a
    #: slow link; an untouched blob costs only its bytes for a day. Old garbage (blobs not seen
    #: for a day) goes on the very next run, whatever the grace.
    grace: float = 24 * 3600.0
    upload_ttl: float = 7 * 24 * 3600.0  # distribution's upload purging age (168 h)
    interval: float = 3600.0  # `serve` runs a pass this often; 0 turns it off
    batch: int = 5000
    #: A server's passes walk the whole blob store for strays (gc_strays.py) at most this
    #: often; `dockyard gc` always does.
    stray_interval: float = 24 * 3600.0


@dataclass
class GcReport:
    dry_run: bool
    blobs_freed: int = 0
    bytes_freed: int = 0
    uploads_expired: int = 0
    skipped: bool = False  # another process holds the lease
    #: Of the above, those with no metadata row (gc_strays.py); None when not looked for.
    stray_blobs: int | None = None
    stray_uploads: int | None = None

    def summary(self) -> str:
        if self.skipped:
            return "garbage collection skipped: another process is collecting"
        verb = "would free" if self.dry_run else "freed"
        text = (
            f"garbage collection {verb} {self.blobs_freed} blobs, {self.bytes_freed} bytes; "
            f"{self.uploads_expired} uploads {'would expire' if self.dry_run else 'expired'}"
        )
        if self.stray_blobs is None:
            return text
        return (
            f"{text} (of which {self.stray_blobs} blobs and {self.stray_uploads} uploads "
            "had no metadata)"
        )


class LeaseLost(RuntimeError):
    pass


class GarbageCollector:
    def __init__(
        self,
        store: GarbageStore,
        blobs: BlobStore,
        clock: Clock,
        config: GcConfig | None = None,
        audit: AuditLog | None = None,
        metrics: RunMetrics | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.store, self.blobs, self.clock = store, blobs, clock
        self.placement = placement or Placement()  # deletes: in parallel unless local files
        self.config = config or GcConfig()
        self.audit = audit or AuditLog(None, clock)
        self.metrics = metrics or NoRunMetrics()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._renewed_at = float("-inf")
        #: Called after marking, before sweeping (tests pause here to interleave a push).
        self.between_mark_and_sweep: Callable[[], None] | None = None

    def run(
        self,
        dry_run: bool = False,
        now: float | None = None,
        progress: Progress | None = None,
        strays: bool | None = None,
    ) -> GcReport:
        """One pass. `now` (default: the clock) judges grace periods and upload expiry; leases,
        publication pins and strays always follow the real clock, so a `--now` in the future
        cannot break an upload in progress. `strays`: look for bytes and staging with no
        metadata (True), not (False), or when `stray_interval` has passed (None, servers)."""
        now = self.clock.now() if now is None else now
        report = GcReport(dry_run)
        if not dry_run and not self._renew():
            report.skipped = True
            return report
        try:
            self._pass(report, now, progress or _silent, strays)
        except Exception as exc:
            self._reported(report, type(exc).__name__)
            raise
        finally:
            if not dry_run:
                self.store.release_lease(LEASE_NAME, self.holder)
        self._reported(report, None)
        return report

    def _reported(self, report: GcReport, error: str | None) -> None:
        """Metrics for every pass that ran; an audit line for every pass that could delete
        (a dry run changes nothing). A failed pass reports what it freed before failing."""
        outcome = "failed" if error else "dry_run" if report.dry_run else "ok"
        freed = (0, 0) if report.dry_run else (report.blobs_freed, report.bytes_freed)
        self.metrics.gc_finished(outcome, *freed)
        if report.dry_run:
            return
        self.audit.record(
            AuditAction.GC_SWEEP,
            principal=PRINCIPAL,
            result="FAILED" if error else "SUCCESS",
            error=error,
            details={
                "blobs": report.blobs_freed,
                "bytes": report.bytes_freed,
                "uploads_expired": report.uploads_expired,
                "stray_blobs": report.stray_blobs,
                "stray_uploads": report.stray_uploads,
            },
        )

    def _pass(self, report: GcReport, now: float, progress: Progress, strays: bool | None) -> None:
        cutoff = now - self.config.grace
        if not report.dry_run:
            self._finish_deleting(report)
        marked = self._mark(cutoff, report.dry_run, progress)
        if report.dry_run:
            report.blobs_freed, report.bytes_freed = marked
        else:
            if self.between_mark_and_sweep is not None:
                self.between_mark_and_sweep()
            self._sweep(cutoff, report, progress)
            self.store.drop_expired_pins(self.clock.now())
        self._expire_uploads(now - self.config.upload_ttl, report, progress)
        if self._strays_due(strays, report.dry_run):
            self._collect_strays(report, progress)

    # -- mark and sweep ------------------------------------------------------------------------

    def _mark(self, cutoff: float, dry_run: bool, progress: Progress) -> tuple[int, int]:
        after: str | None = ""
        count = size = 0
        while after is not None:
            if not dry_run:
                self._keep_lease()
            after, marked, marked_size = self.store.mark_candidates(
                after, self.config.batch, cutoff, self.clock.now(), dry_run
            )
            count, size = count + marked, size + marked_size
            progress("mark", _position(after), count)
        return count, size

    def _sweep(self, cutoff: float, report: GcReport, progress: Progress) -> None:
        after: str | None = ""
        while after is not None:
            self._keep_lease()
            after, claims = self.store.claim_for_deletion(
                after, self.config.batch, cutoff, self.clock.now()
            )
            self._delete(claims, report)
            progress("sweep", _position(after), report.blobs_freed)

    def _finish_deleting(self, report: GcReport) -> None:
        """Blobs a stopped run claimed but did not forget: deleting is terminal, finish them."""
        while claims := self.store.deleting(self.config.batch):
            self._keep_lease()
            self._delete(claims, report)

    def _delete(self, claims: Sequence[BlobClaim], report: GcReport) -> None:
        if not claims:
            return
        self.placement.each(self.blobs.delete, [c.digest for c in claims])
        self.store.forget_blobs([c.digest for c in claims])
        report.blobs_freed += len(claims)
        report.bytes_freed += sum(c.size for c in claims)
        log.debug("deleted %d blobs", len(claims))

    # -- uploads -------------------------------------------------------------------------------

    def _expire_uploads(self, before: float, report: GcReport, progress: Progress) -> None:
        after = ""
        while ids := self.store.expired_uploads(before, after, self.config.batch):
            after = ids[-1]
            if not report.dry_run:
                self._keep_lease()
                for upload_id in ids:
                    # Staging first: if that fails, the row stays and the next run retries.
                    self.blobs.abort_upload(upload_id)
                    self.store.drop_upload(upload_id)
            report.uploads_expired += len(ids)
            progress("uploads", 0.0, report.uploads_expired)

    # -- strays (gc_strays.py) ------------------------------------------------------------------

    def _strays_due(self, asked: bool | None, dry_run: bool) -> bool:
        if asked is False or (asked is None and dry_run):
            return False
        if dry_run:
            return True
        # A lease nobody renews: taking it succeeds once the last one (any process's) ran out.
        once = f"{self.holder}:{os.urandom(6).hex()}"  # never the holder of the running lease
        due = self.store.claim_lease(
            gc_strays.STRAY_LEASE, once, self.clock.now(), self.config.stray_interval
        )
        return due or asked is True

    def _collect_strays(self, report: GcReport, progress: Progress) -> None:
        real_now = self.clock.now()
        keep_lease = (lambda: None) if report.dry_run else self._keep_lease
        staged = gc_strays.reclaim_staging(
            self.store, self.blobs, real_now - self.config.upload_ttl, report.dry_run, keep_lease
        )
        report.stray_uploads, report.stray_blobs = staged, 0
        report.uploads_expired += staged
        for strays in gc_strays.stray_blobs(
            self.store, self.blobs, real_now - self.config.grace, self.config.batch
        ):
            if report.dry_run:
                claims = strays
                report.blobs_freed += len(claims)
                report.bytes_freed += sum(claim.size for claim in claims)
            else:
                self._keep_lease()
                claims = self.store.claim_strays(strays, real_now)
                self._delete(claims, report)
            report.stray_blobs += len(claims)
            progress("strays", 0.0, report.stray_blobs)

    # -- lease ---------------------------------------------------------------------------------

    def _renew(self) -> bool:
        renewed = self.store.claim_lease(LEASE_NAME, self.holder, self.clock.now(), LEASE_SECONDS)
        self._renewed_at = time.monotonic()
        return renewed

    def _keep_lease(self) -> None:
        if time.monotonic() - self._renewed_at < RENEW_AFTER:
            return  # renewed recently: still ours for most of LEASE_SECONDS
        if not self._renew():
            raise LeaseLost(
                "another process took over garbage collection (this pass stalled "
                f"for more than {LEASE_SECONDS:.0f} s)"
            )


def _silent(phase: str, fraction: float, count: int) -> None:
    pass


def _position(digest: str | None) -> float:
    """How far through the digest space a keyset position is (hex digests are uniform)."""
    if digest is None:
        return 1.0
    try:
        return int(digest.partition(":")[2][:8], 16) / 0x1_0000_0000
    except ValueError:
        return 0.0
