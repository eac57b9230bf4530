"""The GarbageStore port: blob states moved by compare-and-set, marked and swept in SQL.

services/gc.py draws the state machine; this module keeps its transitions atomic on both engines:

- Every transition that must not race takes the blob rows' locks first, in digest order
  (`_lock`: SELECT ... ORDER BY digest FOR UPDATE on PostgreSQL; SQLite writers already hold
  the database lock from BEGIN IMMEDIATE). Sorted locking keeps two pushes sharing layers free
  of deadlocks.
- The collector's own statements lock with SKIP LOCKED: it never waits for a push, so a push
  never waits in a cycle with it. A row a push holds is simply left for the next run.
- A push revives a candidate by UPDATE (new row version): a sweep that read the row as a
  candidate before the push committed re-checks the new version (PostgreSQL's READ COMMITTED
  re-evaluates the WHERE of a locked, updated row) and leaves it.
- Reachability is never loaded into Python: mark and sweep each move the matching rows of a
  window of at most `limit` digests in one statement (`_move`: UPDATE ... RETURNING; on
  PostgreSQL from a CTE that locks them FOR UPDATE SKIP LOCKED), with NOT EXISTS against image_refs (every image of every repository and
  account, archived and untagged included: children and referrers are images too) and against
  live publication pins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _storage_use, _strays, dialects
from dockyard.backends.metadata.schema import (
    REF_BLOB,
    blob_pins,
    blobs,
    image_refs,
    leases,
    repo_blobs,
    uploads,
)
from dockyard.ports import BlobClaim, StorageUse

LIVE, CANDIDATE, DELETING = "live", "candidate", "deleting"
CHUNK = 500  # digests per IN (...), well below every engine's bound-parameter limit


def _untouched_since(cutoff: float) -> sa.ColumnElement[bool]:
    return sa.func.coalesce(blobs.c.touched_at, blobs.c.created_at) < cutoff


def _unreferenced() -> sa.ColumnElement[bool]:
    refs = sa.exists().where(image_refs.c.digest == blobs.c.digest, image_refs.c.kind == REF_BLOB)
    return ~refs


def _unpinned(now: float) -> sa.ColumnElement[bool]:
    pins = sa.exists().where(blob_pins.c.digest == blobs.c.digest, blob_pins.c.expires_at > now)
    return ~pins


# The statements of every push (pin, release, hold) are built once: a reused statement keeps
# its memoized cache key, where one built per call costs more Python than the query itself.
_DIGESTS: sa.BindParameter[str] = sa.bindparam("digests", expanding=True)
_LOCK = (
    sa.select(blobs.c.digest, blobs.c.state).where(blobs.c.digest.in_(_DIGESTS))
    .order_by(blobs.c.digest).with_for_update()
)  # fmt: skip
_MAKE_LIVE = (
    sa.update(blobs).where(blobs.c.digest.in_(_DIGESTS), blobs.c.state != DELETING)
    .values(state=LIVE, touched_at=sa.bindparam("now"),
            gen=sa.case((blobs.c.state == CANDIDATE, blobs.c.gen + 1), else_=blobs.c.gen))
)  # fmt: skip
_NEW_BLOB = dialects.per_dialect(lambda conn: dialects.insert_ignore(conn, blobs, ["digest"]))
_PIN = sa.insert(blob_pins)
_UNPIN = sa.delete(blob_pins).where(blob_pins.c.token == sa.bindparam("b_token"))


def _lock(conn: Connection, digests: Sequence[str]) -> dict[str, str]:
    """State of each existing blob among `digests`, rows locked in digest order."""
    return dict(conn.execute(_LOCK, {"digests": sorted(set(digests))}).all())


def _make_live(conn: Connection, digests: Sequence[str], now: float) -> None:
    """Revive candidates and touch live blobs (never a deleting one)."""
    if digests:
        conn.execute(_MAKE_LIVE, {"digests": list(digests), "now": now})


def touch_blobs(conn: Connection, digests: Sequence[str], now: float, fresh_for: float) -> set[str]:
    states = _lock(conn, digests)
    gone = {d for d in digests if states.get(d, DELETING) == DELETING}
    stale = sa.select(blobs.c.digest).where(
        blobs.c.digest.in_(list(states)),
        (blobs.c.state == CANDIDATE) | _untouched_since(now - fresh_for),
    )
    _make_live(conn, [d for d in conn.execute(stale).scalars() if d not in gone], now)
    return gone


def hold_blobs(conn: Connection, digests: Sequence[str], now: float) -> list[str]:
    states = _lock(conn, digests)
    _make_live(conn, [d for d, state in states.items() if state == CANDIDATE], now)
    return [d for d in digests if states.get(d, DELETING) == DELETING]


def pin_blob(
    conn: Connection, token: str, digest: str, size: int, now: float, lease: float
) -> bool:
    row = {"digest": digest, "size": size, "created_at": now, "touched_at": now}
    conn.execute(_NEW_BLOB(conn), row)
    # Missing again: a deleting row that was forgotten since the insert (PostgreSQL); retry.
    if _lock(conn, [digest]).get(digest, DELETING) == DELETING:
        return False
    _make_live(conn, [digest], now)
    conn.execute(_PIN, {"token": token, "digest": digest, "expires_at": now + lease})
    return True


def unpin_blob(conn: Connection, token: str, digest: str, now: float) -> bool:
    state = _lock(conn, [digest]).get(digest, DELETING)
    dropped = conn.execute(_UNPIN, {"b_token": token}).rowcount
    if state == DELETING or not dropped:
        return False
    _make_live(conn, [digest], now)
    return True


def adopt_blob(conn: Connection, source: int, target: int, digest: str, now: float) -> bool:
    linked = sa.select(repo_blobs.c.digest).where(
        repo_blobs.c.repo_id == source, repo_blobs.c.digest == digest
    )
    if _lock(conn, [digest]).get(digest, DELETING) == DELETING or not conn.execute(linked).first():
        return False
    _make_live(conn, [digest], now)
    link = {"repo_id": target, "digest": digest}
    conn.execute(dialects.insert_ignore(conn, repo_blobs, ["repo_id", "digest"]).values(link))
    return True


# -- the collector ---------------------------------------------------------------------------


def _window_end(conn: Connection, after: str, limit: int) -> str | None:
    window = (
        sa.select(blobs.c.digest)
        .where(blobs.c.digest > after)
        .order_by(blobs.c.digest)
        .limit(limit)
        .subquery()
    )
    return conn.execute(sa.select(sa.func.max(window.c.digest))).scalar()


def mark_candidates(
    conn: Connection, after: str, limit: int, cutoff: float, now: float, dry_run: bool
) -> tuple[str | None, int, int]:
    last = _window_end(conn, after, limit)
    if last is None:
        return None, 0, 0
    garbage = (
        (blobs.c.digest > after)
        & (blobs.c.digest <= last)
        & _untouched_since(cutoff)
        & _unreferenced()
        & _unpinned(now)
    )
    if dry_run:
        stmt = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(blobs.c.size), 0))
        count, size = conn.execute(stmt.where(garbage, blobs.c.state != DELETING)).one()
        return last, int(count), int(size)
    found = _move(conn, garbage, LIVE, CANDIDATE)
    return last, len(found), sum(size for _, size in found)


def _move(
    conn: Connection, where: sa.ColumnElement[bool], old: str, new: str
) -> list[tuple[str, int]]:
    """Move the rows in state `old` matching `where` to `new` in one statement (gen bumped);
    their digests and sizes. The statement is the compare-and-set: the conditions are
    evaluated on the rows it changes.

    SQLite: a plain UPDATE ... RETURNING (writers are serialized: nothing can change a row
    between its check and its update). PostgreSQL: the rows are chosen and locked with SKIP
    LOCKED in a MATERIALIZED CTE (the collector never waits for a push; see the module
    docstring) and updated by key from it. Materialized, the CTE runs once; planned as an
    ordinary `IN (subquery)` on stale statistics it was re-run for every candidate row."""
    changed = {"state": new, "gen": blobs.c.gen + 1}
    if conn.dialect.name != "postgresql":
        stmt = sa.update(blobs).where(where, blobs.c.state == old).values(changed)
        return [tuple(row) for row in conn.execute(stmt.returning(blobs.c.digest, blobs.c.size))]
    chosen = (
        sa.select(blobs.c.digest)
        .where(where, blobs.c.state == old)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    stmt = sa.update(blobs).where(blobs.c.digest == chosen.c.digest).values(changed)
    return [tuple(row) for row in conn.execute(stmt.returning(blobs.c.digest, blobs.c.size))]


def claim_for_deletion(
    conn: Connection, after: str, limit: int, cutoff: float, now: float
) -> tuple[str | None, list[BlobClaim]]:
    """The compare-and-set candidate -> deleting over the next `limit` candidates: one statement
    (`_move`) re-checks every reason to keep a blob on the rows it moves."""
    window = (
        sa.select(blobs.c.digest)
        .where(blobs.c.state == CANDIDATE, blobs.c.digest > after)
        .order_by(blobs.c.digest)
        .limit(limit)
        .subquery()
    )
    last = conn.execute(sa.select(sa.func.max(window.c.digest))).scalar()
    if last is None:
        return None, []
    still = (
        (blobs.c.digest > after)
        & (blobs.c.digest <= last)
        & _untouched_since(cutoff)
        & _unreferenced()
        & _unpinned(now)
    )
    moved = _move(conn, still, CANDIDATE, DELETING)
    return last, [BlobClaim(d, size) for d, size in sorted(moved)]


def deleting(conn: Connection, limit: int) -> list[BlobClaim]:
    stmt = (
        sa.select(blobs.c.digest, blobs.c.size)
        .where(blobs.c.state == DELETING)
        .order_by(blobs.c.digest)
        .limit(limit)
    )
    return [BlobClaim(d, s) for d, s in conn.execute(stmt)]


def forget_blobs(conn: Connection, digests: Sequence[str]) -> None:
    """Two range DELETEs (no IN list to render): every deleting row between the smallest and
    the largest digest given goes, with its links. One collector runs at a time and forgets
    what it claimed (or found deleting) in digest order, so those rows are exactly `digests`.
    Links go only with a deleting row: nothing links such a blob again (adopt and pin refuse)."""
    if not digests:
        return
    doomed = (blobs.c.state == DELETING) & blobs.c.digest.between(min(digests), max(digests))
    conn.execute(
        sa.delete(repo_blobs).where(
            repo_blobs.c.digest.in_(sa.select(blobs.c.digest).where(doomed))
        )
    )
    conn.execute(sa.delete(blobs).where(doomed))


def claim_lease(conn: Connection, name: str, holder: str, now: float, seconds: float) -> bool:
    row = {"name": name, "holder": None, "expires_at": 0.0}
    conn.execute(dialects.insert_ignore(conn, leases, ["name"]).values(row))
    free = leases.c.holder.is_(None) | (leases.c.holder == holder) | (leases.c.expires_at < now)
    taken = conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, free)
        .values(holder=holder, expires_at=now + seconds)
    )
    return taken.rowcount == 1


def release_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(
        sa.update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(holder=None, expires_at=0.0)
    )


def expired_uploads(conn: Connection, before: float, after: str, limit: int) -> list[str]:
    stmt = (
        sa.select(uploads.c.id)
        .where(uploads.c.created_at < before, uploads.c.id > after)
        .order_by(uploads.c.id)
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


def _chunks(items: Sequence[str]) -> list[list[str]]:
    return [list(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]


class GarbageMethods:
    """The GarbageStore port (see ports.py), mixed into SqlMetadataStore."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def touch_blobs(self, digests: Sequence[str], now: float, fresh_for: float) -> set[str]:
        if not digests:
            return set()
        with self._read() as conn:  # most observations find a fresh live blob: no write
            fresh = conn.execute(
                sa.select(sa.func.count()).where(
                    blobs.c.digest.in_(list(digests)),
                    blobs.c.state == LIVE,
                    ~_untouched_since(now - fresh_for),
                )
            ).scalar_one()
        if fresh == len(set(digests)):
            return set()
        with self._write() as conn:
            return touch_blobs(conn, digests, now, fresh_for)

    def hold_blobs(self, digests: Sequence[str], now: float) -> list[str]:
        if not digests:
            return []
        with self._write() as conn:
            return hold_blobs(conn, digests, now)

    def pin_blob(self, token: str, digest: str, size: int, now: float, lease: float) -> bool:
        with self._write() as conn:
            return pin_blob(conn, token, digest, size, now, lease)

    def unpin_blob(self, token: str, digest: str, now: float) -> bool:
        with self._write() as conn:
            return unpin_blob(conn, token, digest, now)

    def adopt_blob(self, source_repo_id: int, target_repo_id: int, digest: str, now: float) -> bool:
        with self._write() as conn:
            return adopt_blob(conn, source_repo_id, target_repo_id, digest, now)

    def claim_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        with self._write() as conn:
            return claim_lease(conn, name, holder, now, seconds)

    def release_lease(self, name: str, holder: str) -> None:
        with self._write() as conn:
            release_lease(conn, name, holder)

    def mark_candidates(
        self, after: str, limit: int, cutoff: float, now: float, dry_run: bool = False
    ) -> tuple[str | None, int, int]:
        if dry_run:
            with self._read() as conn:
                return mark_candidates(conn, after, limit, cutoff, now, True)
        with self._write() as conn:
            return mark_candidates(conn, after, limit, cutoff, now, False)

    def claim_for_deletion(
        self, after: str, limit: int, cutoff: float, now: float
    ) -> tuple[str | None, list[BlobClaim]]:
        with self._write() as conn:
            return claim_for_deletion(conn, after, limit, cutoff, now)

    def deleting(self, limit: int) -> list[BlobClaim]:
        with self._read() as conn:
            return deleting(conn, limit)

    def forget_blobs(self, digests: Sequence[str]) -> None:
        with self._write() as conn:
            forget_blobs(conn, digests)

    def expired_uploads(self, before: float, after: str, limit: int) -> list[str]:
        with self._read() as conn:
            return expired_uploads(conn, before, after, limit)

    def drop_upload(self, upload_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(sa.delete(uploads).where(uploads.c.id == upload_id)).rowcount > 0

    def drop_expired_pins(self, now: float) -> int:
        with self._write() as conn:
            return conn.execute(sa.delete(blob_pins).where(blob_pins.c.expires_at < now)).rowcount

    def blobs_without_rows(self, digests: Sequence[str]) -> list[str]:
        with self._read() as conn:
            return _strays.blobs_without_rows(conn, digests)

    def claim_strays(self, strays: Sequence[BlobClaim], now: float) -> list[BlobClaim]:
        with self._write() as conn:
            return _strays.claim_strays(conn, strays, now)

    def uploads_without_rows(self, upload_ids: Sequence[str]) -> list[str]:
        with self._read() as conn:
            return _strays.uploads_without_rows(conn, upload_ids)

    def storage_use(self) -> list[StorageUse]:
        with self._read() as conn:
            return _storage_use.storage_use(conn)
