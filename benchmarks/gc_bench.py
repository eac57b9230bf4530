"""Garbage collection at scale: one mark-and-sweep pass over N blobs and M images.

    python benchmarks/gc_bench.py [--db sqlite|postgres] [--blobs 1000000] [--images 1000000]
                                  [--garbage 0.1] [--real 2000]

The metadata is filled directly in SQL (generate_series / a recursive CTE), as
dockbench/ecr_fill.py does for images: `--blobs` blob rows linked to 100 repositories, `--images`
image rows, each naming one blob of the live part plus one config blob all images share, so
2 x images image_refs rows. The last `--garbage` fraction of the blobs is named by no image and
untouched for two days: the pass must free exactly those. `--real` of the garbage blobs are real
files in a filesystem blob store (so deletes really unlink); the others are metadata only, and
their delete is an unlink of a missing file (the same system call).

The pass runs in a child process (`python gc_bench.py pass ...`), so its peak RSS is its own;
run with 100k and 1M to see that memory stays flat (no whole set in Python). Prints one JSON line:
wall and CPU seconds of the pass (`cpu_s`: this process, which on SQLite includes the database
engine; `postgres_cpu_s`: the PostgreSQL cluster's processes), and the load average at the end
(the machine may be shared). `--profile` adds the SQL statements that took longest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path[:0] = [str(REPO_ROOT / "src"), str(REPO_ROOT)]

DAY = 86400.0
REPOS = 100


def digest_sql(dialect: str, expr: str) -> str:
    if dialect == "sqlite":
        return f"'sha256:' || printf('%064x', {expr})"
    return f"'sha256:' || lpad(to_hex({expr}), 64, '0')"


def series(dialect: str, count: int) -> str:
    if dialect == "sqlite":
        return (
            f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) "
            "SELECT i FROM s"
        )
    return f"SELECT i FROM generate_series(1, {count}) AS g(i)"


def fill(url: str, blobs: int, images: int, garbage: float) -> None:
    import sqlalchemy as sa

    from dockyard.backends.metadata.sql import SqlMetadataStore

    store = SqlMetadataStore(url)  # migrates to head
    engine, dialect = store.engine, store.engine.dialect.name
    live = int(blobs * (1 - garbage))
    old = time.time() - 2 * DAY
    statements = [
        *(
            f"INSERT INTO repositories (id, account_id, name, created_at, encryption) VALUES "
            f"({r}, '000000000001', 'bench/r{r}', {old}, '{{}}')"
            for r in range(1, REPOS + 1)
        ),
        (
            f"INSERT INTO blobs (digest, size, created_at) SELECT {digest_sql(dialect, 'i')}, 1000, "
            f"{old} FROM ({series(dialect, blobs)}) AS n"
        ),
        (
            f"INSERT INTO repo_blobs (repo_id, digest) SELECT (i % {REPOS}) + 1, "
            f"{digest_sql(dialect, 'i')} FROM ({series(dialect, blobs)}) AS n"
        ),
        (
            f"INSERT INTO images (id, repo_id, digest, manifest, media_type, size_bytes, pushed_at) "
            f"SELECT i, (i % {REPOS}) + 1, {digest_sql(dialect, 'i + 1000000000')}, "
            f"{_bytes(dialect)}, 'application/vnd.oci.image.manifest.v1+json', 2000, {old} "
            f"FROM ({series(dialect, images)}) AS n"
        ),
        # Image i names live blob 2 + (i - 1) mod (live - 1), and blob 1 (the shared config).
        (
            f"INSERT INTO image_refs (image_id, digest, kind) SELECT i, "
            f"{digest_sql(dialect, f'((i - 1) % {live - 1}) + 2')}, 'blob' "
            f"FROM ({series(dialect, images)}) AS n"
        ),
        (
            f"INSERT INTO image_refs (image_id, digest, kind) SELECT i, {digest_sql(dialect, '1')}, "
            f"'blob' FROM ({series(dialect, images)}) AS n"
        ),
    ]
    with engine.begin() as conn:
        # Bulk rows we know to be consistent: skip the per-row foreign key checks.
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        else:
            conn.exec_driver_sql("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(sa.text(statement))
    if dialect == "postgresql":  # as autovacuum would after a bulk load
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    store.close()


def _bytes(dialect: str) -> str:
    return "X'7B7D'" if dialect == "sqlite" else "'\\x7b7d'::bytea"


def write_real_blobs(root: Path, blobs: int, garbage: float, count: int) -> None:
    from dockyard.backends.blobs.fs import paths

    first_garbage = int(blobs * (1 - garbage)) + 1
    for i in range(first_garbage, min(first_garbage + count, blobs + 1)):
        path = paths.blob_path(root, f"sha256:{i:064x}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)


def statement_timer(engine: object) -> dict[str, list[float]]:
    """Wall seconds and calls per SQL statement (first 90 characters), from engine events."""
    import sqlalchemy as sa

    spent: dict[str, list[float]] = {}

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        conn.info["bench_t0"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _end(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        entry = spent.setdefault(" ".join(statement.split())[:90], [0.0, 0])
        entry[0] += time.perf_counter() - conn.info.pop("bench_t0")
        entry[1] += 1

    return spent


def postgres_cpu(data_dir: str | None) -> float:
    """CPU seconds the PostgreSQL cluster in `data_dir` has used: the postmaster with its reaped
    children, plus every live child (the pass's backends are alive while it runs)."""
    if not data_dir:
        return 0.0
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        elif ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_pass(url: str, store_url: str, profile: bool = False) -> dict[str, object]:
    """One GC pass in this process; timings and this process's peak RSS. `profile`: the SQL
    statements that took the most time (wall, as the client waited for them)."""
    from dockyard.backends.factory import blobs_are_local, open_blob_store, open_metadata_store
    from dockyard.services.clock import SystemClock
    from dockyard.services.gc import GarbageCollector, GcConfig
    from dockyard.services.placement import Placement

    meta = open_metadata_store(url, migrate=False)
    spent = statement_timer(meta.engine) if profile else {}  # type: ignore[attr-defined]
    collector = GarbageCollector(
        meta,
        open_blob_store(store_url),
        SystemClock(),
        GcConfig(grace=DAY),
        placement=Placement(local_blobs=blobs_are_local(store_url)),
    )
    phases: dict[str, float] = {}

    def progress(phase: str, fraction: float, count: int) -> None:
        phases[phase] = time.perf_counter()  # the last report of a phase ends it

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pg_dir = os.environ.get("GC_BENCH_PGDATA")
    start, cpu_start, db_start = time.perf_counter(), time.process_time(), postgres_cpu(pg_dir)
    report = collector.run(progress=progress)
    end, cpu = time.perf_counter(), time.process_time() - cpu_start
    db_cpu = postgres_cpu(pg_dir) - db_start
    sweep_start = phases.get("mark", start)
    top = sorted(spent.items(), key=lambda item: -item[1][0])[:6]
    return {
        **({"sql": [[text, round(t, 2), n] for text, (t, n) in top]} if profile else {}),
        "mark_s": round(sweep_start - start, 2),
        "sweep_s": round(end - sweep_start, 2),
        "total_s": round(end - start, 2),
        "cpu_s": round(cpu, 2),
        **({"postgres_cpu_s": round(db_cpu, 2)} if pg_dir else {}),
        "loadavg": round(os.getloadavg()[0], 1),
        "freed": report.blobs_freed,
        "rss_before_pass_mib": round(rss_before, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command")
    one = sub.add_parser("pass")
    one.add_argument("url")
    one.add_argument("store_url")
    one.add_argument("--profile", action="store_true")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--blobs", type=int, default=1_000_000)
    p.add_argument("--images", type=int, default=1_000_000)
    p.add_argument("--garbage", type=float, default=0.1)
    p.add_argument("--real", type=int, default=2000)
    p.add_argument(
        "--profile", action="store_true", help="list the SQL statements that took longest"
    )
    args = p.parse_args(argv)
    if args.command == "pass":
        print(json.dumps(run_pass(args.url, args.store_url, args.profile)))
        return 0
    return bench(args)


def bench(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="dockyard-gc-bench-"))
    cluster = None
    if args.db == "postgres":
        from dockbench.scale_servers import start_postgres

        sys.path.insert(0, str(HERE))
        cluster = start_postgres()
        url = cluster.new_empty_database()
    else:
        url = f"sqlite:///{work / 'dockyard.db'}"
    try:
        t0 = time.perf_counter()
        fill(url, args.blobs, args.images, args.garbage)
        write_real_blobs(work / "blobs", args.blobs, args.garbage, args.real)
        filled = time.perf_counter() - t0
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
        }
        if cluster is not None:
            env["GC_BENCH_PGDATA"] = str(cluster.data_dir)
        command = [sys.executable, __file__, "pass", url, f"file://{work / 'blobs'}"]
        out = subprocess.run(
            command + ["--profile"] * args.profile,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        result = {
            "db": args.db,
            "blobs": args.blobs,
            "images": args.images,
            "garbage": int(args.blobs * args.garbage),
            "fill_s": round(filled, 1),
            **json.loads(out.strip().splitlines()[-1]),
        }
        left = sum(1 for _ in (work / "blobs").rglob("*") if _.is_file())
        result["real_files_left"] = left
        print(json.dumps(result))
        return 0 if result["freed"] == result["garbage"] else 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
