#!/usr/bin/env python3
"""Scale-out benchmark: PostgreSQL at a million images, and pushes over one or two processes.

    python benchmarks/scale_bench.py [--quick] [--only latency,push] [--no-sqlite]

(a) Latency at size. For PostgreSQL (and SQLite beside it, same steps): start Dockyard, PutImage
    1,000 images, time default DescribeImages pages (boto3, client-side) at the start, middle and
    end of the listing; stop it, grow the repository offline to 100,000 and then 1,000,000 images
    (first 1,000 of each step through the store's save_image, the rest as COPY on PostgreSQL or
    executemany on SQLite of exactly the rows save_image writes; checked), restart, time pages
    again and PutImage 1,000 more. Tokens for the middle and end pages are minted like the
    server's (dockbench/scale_tokens.py) and checked against the server's own where the whole
    listing is walked (up to 100,000 images).
(b) Aggregate push throughput: 50 small images pushed at once (one client thread each) to 1
    process, to 2 processes (alternating), and to one `--workers 2` server, on PostgreSQL + S3
    (moto); then 1 vs 2 processes on PostgreSQL + one shared filesystem data dir, which takes moto
    out of the picture. CPU of Dockyard, moto and PostgreSQL is read from /proc per round.

Full: 1,000 -> 100,000 -> 1,000,000 images, 3 push rounds (~10 min on 2 cores). --quick: 1,000
-> 5,000 -> 20,000 images, 200 PutImages per size, 1 push round of 20 images (~3 min). Writes the
Markdown report to stdout and benchmarks/results/scale-latest.md, every sample to
scale-latest.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dockbench import ecr_fill, ecr_ops, scale_fill, scale_push, scale_tokens
from dockbench.ecr_ops import repeat
from dockbench.meta import load_average as load
from dockbench.meta import revision
from dockbench.procstat import cpu_seconds
from dockbench.scale_report import render
from dockbench.scale_servers import DockyardOn, s3_environment, start_moto, start_postgres
from dockbench.servers import REPO_ROOT

HERE = Path(__file__).resolve().parent
OPEN = ["--accept-any-credentials", "--create-on-push"]  # the push client sends no credentials


def log(msg: str) -> None:
    print(f"[scale-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one push round (smoke test)")
    p.add_argument("--sizes", help="sizes after the first 1,000 (default 100000,1000000; "
                                   "quick 5000,20000)")  # fmt: skip
    p.add_argument("--only", default="latency,push", help="latency, push or both (default)")
    p.add_argument("--no-sqlite", action="store_true", help="(a) on PostgreSQL only")
    p.add_argument("--calls", type=int, help="calls per page latency figure (default 50; quick 20)")
    p.add_argument("--puts", type=int, help="PutImage calls per size (default 1000; quick 200)")
    p.add_argument("--push-images", type=int, help="images per push round (default 50; quick 20)")
    p.add_argument("--rounds", type=int, help="push rounds per configuration (default 3; quick 1)")
    p.add_argument("--repos", type=int, default=10, help="repositories the pushes spread over")
    p.add_argument(
        "--walk-max",
        type=int,
        help="largest size whose whole listing is walked (default 100,000, quick "
        "5,000; a million takes minutes); above it page tokens are minted, see "
        "dockbench/scale_tokens.py",
    )
    p.add_argument("--tmpdir", help="where data goes (default: $TMPDIR)")
    p.add_argument("--results", type=Path, default=HERE / "results", help="output directory")
    args = p.parse_args(argv)
    sizes = args.sizes or ("5000,20000" if args.quick else "100000,1000000")
    args.scale = [int(s) for s in sizes.split(",") if s.strip()]
    args.calls = args.calls or (20 if args.quick else 50)
    args.walk_max = args.walk_max or (5000 if args.quick else 100_000)
    args.puts = args.puts or (200 if args.quick else 1000)
    steps = [1000 - args.puts, *args.scale]  # each size is filled from the last one + --puts
    if any(b <= a + args.puts for a, b in itertools.pairwise(steps)):
        p.error("--sizes must be increasing, each above the previous one plus --puts")
    args.push_images = args.push_images or (20 if args.quick else 50)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.only = {o.strip() for o in args.only.split(",") if o.strip()}
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work, self.starts = args, work, 0
        self.pg_pid: int | None = None  # the postmaster: its tree is PostgreSQL's CPU
        self.account = ""
        self.r: dict = {"latency": {}, "push": [], "load": {"start": load()}, "notes": []}

    def start(self, registry: DockyardOn):
        self.starts += 1
        return registry.start(self.work / f"run{self.starts}", timeout=120)

    # -- (a) latency at size ---------------------------------------------------------------

    def latency(self, backend: str, db_url: str | None) -> dict:
        """PutImage 1,000, measure; then per size: fill offline, measure, PutImage 1,000 more."""
        extra = ["--database-url", db_url] if db_url else []
        registry = DockyardOn(self.work / f"latency-{backend}", self.work / "src", extra)
        url = db_url or registry.db_url
        server = self.start(registry)
        try:
            client = registry.client()
            images = ecr_ops.setup_dockyard(client)
            put = ecr_ops.put_images(client, images, 0, 1000)  # the first size: 1,000 images
            self.account = registry.credentials()[0]
            out = {1000: {"positions": self.positions(client, url, 1000, server.pid),
                          "put": _put_summary(put)}}  # fmt: skip
            log(f"{backend} at 1,000: PutImage {out[1000]['put']['rate']:.0f}/s")
            rid = ecr_fill.repo_id(url, self.account, ecr_ops.REPO)
            have = 1000
            for size in self.args.scale:
                server.stop()
                fill = self.fill(backend, url, rid, images, have, size)
                server = self.start(registry)
                out[size] = {"fill": fill} | self.grown(registry, server, url, images, size)
                have = size + self.args.puts
        finally:
            server.stop()
        self.r["env"][f"{backend}_cmd"] = registry.last_command
        return out

    def grown(self, registry: DockyardOn, server, url: str, images, size: int) -> dict:
        """At `size` images: page latencies, then PutImage --puts more (rows checked)."""
        client, more = registry.client(), self.args.puts
        res = {"positions": self.positions(client, url, size, server.pid)}
        before = scale_fill.table_counts(url)
        put = ecr_ops.put_images(client, images, size, size + more)
        ecr_fill.check_growth(before, scale_fill.table_counts(url), images, size, size + more,
                              "PutImage")  # fmt: skip
        res["put"] = _put_summary(put)
        log(f"  at {size:,}: PutImage {more:,} more at {res['put']['rate']:.0f}/s (load {load()})")
        return res

    def fill(self, backend: str, url: str, rid: int, images, have: int, size: int) -> dict:
        """have..size-1 offline: 1,000 through save_image, the rest in bulk; checked."""
        before = scale_fill.table_counts(url)
        t0 = time.perf_counter()
        by_store = min(size, have + 1000)
        ecr_fill.fill_with_store(url, rid, images, have, by_store)
        bulk = scale_fill.fill_copy if backend == "postgres" else ecr_fill.fill_bulk
        bulk(url, rid, images, by_store, size)
        seconds = time.perf_counter() - t0
        for ref in (0, 1):  # a PutImage'd image vs one save_image wrote and one bulk wrote
            ecr_fill.check_same_rows(url, rid, images, ref, have + 2 + ref)
            ecr_fill.check_same_rows(url, rid, images, ref, by_store + 2 + ref)
        ecr_fill.check_growth(before, scale_fill.table_counts(url), images, have, size,
                              "the offline fill")  # fmt: skip
        settle = scale_fill.settle(url) if backend == "postgres" else 0.0
        os.sync()  # untimed: the fill's dirty pages must not be written back while measuring
        log(f"{backend}: filled {have:,} -> {size:,} in {seconds:.1f} s"
            + (f" (+ VACUUM ANALYZE {settle:.1f} s)" if settle else ""))  # fmt: skip
        return {"fill_s": seconds, "settle_s": settle, "bulk": size - by_store}

    def positions(self, client, url: str, size: int, pid: int) -> dict:
        """Default pages timed at the start, middle and end of the listing; up to --walk-max
        images the listing is first walked by 1,000, which checks every image is listed once
        and that the minted tokens are the server's (see dockbench/scale_tokens.py)."""
        page, offsets = scale_tokens.page_offsets(size)
        tokens = scale_tokens.mint(url, self.account, ecr_ops.REPO, offsets)
        res: dict = {"walked": size <= self.args.walk_max}
        if res["walked"]:
            res["walk_s"] = self.walk(client, size, page, offsets, tokens)
        database = self.pg_pid if url.startswith("postgresql") else None
        for where, token in {"start": None, **tokens}.items():
            db0 = cpu_seconds(database) if database else 0.0
            timed = repeat(ecr_ops.describe_page(client, token), self.args.calls, 1e9, pid=pid)
            if set(timed.results) != {100}:
                raise RuntimeError(f"page at {where} returned {set(timed.results)} images")
            res[where] = timed.summary() | {"offset": offsets.get(where, 0)}
            if database:  # SQLite runs inside the server process, PostgreSQL beside it
                db_cpu = cpu_seconds(database) - db0
                res[where]["db_cpu_ms"] = 1000 * db_cpu / len(timed.samples)
        log(
            f"  at {size:,}: page medians "
            + ", ".join(f"{w} {res[w]['median_ms']:.1f} ms" for w in ("start", "middle", "end"))
        )
        return res

    def walk(self, client, size: int, page: int, offsets: dict, tokens: dict) -> float:
        walk = ecr_ops.full_listing(client, page_size=page)
        if walk.count != size or walk.distinct != size:
            raise RuntimeError(f"listing found {walk.count} ({walk.distinct} distinct) of {size}")
        issued = dict(walk.tokens)
        for where, before in offsets.items():
            if issued.get(before) != tokens[where]:
                raise RuntimeError(f"minted token for the {where} page differs from the server's")
        return walk.seconds

    # -- (b) aggregate push throughput -------------------------------------------------------

    def push(self, pg, moto) -> None:
        s3_env = s3_environment()
        for storage, layouts in (("s3", ((1, 1), (2, 1), (1, 2))), ("file", ((1, 1), (2, 1)))):
            for processes, workers in layouts:
                self.r["push"].append(self.push_config(pg, moto, s3_env, storage, processes,
                                                       workers))  # fmt: skip

    def push_config(self, pg, moto, s3_env, storage: str, processes: int, workers: int) -> dict:
        db = pg.new_database()
        stores = ["--database-url", db, *OPEN]
        if storage == "s3":
            stores += ["--storage-url", moto.url(moto.bucket(), "registry")]
        if workers > 1:
            stores += ["--workers", str(workers)]
        shared = self.work / f"push-{self.starts}"  # "file": one data dir (and blobs) for all
        servers, pids = [], {"dockyard": [], "postgres": [self.pg_pid]}
        if storage == "s3":
            pids["moto"] = [moto.process.pid]
        try:
            for k in range(processes):
                data_dir = shared if storage == "file" else shared.with_name(f"{shared.name}-{k}")
                registry = DockyardOn(data_dir, self.work / "src", stores, s3_env)
                servers.append(self.start(registry))
                pids["dockyard"].append(servers[-1].pid)
            label = _push_label(storage, processes, workers)
            figure = scale_push.measure(
                label,
                [s.address for s in servers],
                pids,
                self.args.push_images,
                self.args.rounds,
                self.args.repos,
            )
        finally:
            for server in servers:
                server.stop()
        log(f"push: {label}: {figure.rate:.1f} images/s (load {load()})")
        return _push_result(figure, storage, processes, workers, registry.last_command)

    def run(self, pg) -> None:
        if "latency" in self.args.only:
            self.r["latency"]["postgres"] = self.latency("postgres", pg.new_database())
            self.r["load"]["after_postgres"] = load()
            if not self.args.no_sqlite:
                self.r["latency"]["sqlite"] = self.latency("sqlite", None)
                self.r["load"]["after_sqlite"] = load()
        if "push" in self.args.only:
            moto = start_moto()
            try:
                self.push(pg, moto)
            finally:
                moto.close()
        self.r["load"]["end"] = load()


def _put_summary(samples: list[float]) -> dict:
    return {"rate": ecr_ops.rate(samples), "median_ms": 1000 * sorted(samples)[len(samples) // 2],
            "p95_ms": 1000 * ecr_ops.p95(samples)}  # fmt: skip


def _push_label(storage: str, processes: int, workers: int) -> str:
    where = "PostgreSQL + S3 (moto)" if storage == "s3" else "PostgreSQL + shared data dir"
    how = f"{processes} process" + ("es" if processes > 1 else "")
    return f"{where}, {how}" + (f" (--workers {workers})" if workers > 1 else "")


def _push_result(figure, storage: str, processes: int, workers: int, command: str) -> dict:
    components = ["dockyard", "postgres", "client"] + (["moto"] if storage == "s3" else [])
    return {
        "label": figure.label, "storage": storage, "processes": processes, "workers": workers,
        "rate": figure.rate, "rounds": [vars(r) for r in figure.rounds], "command": command,
        "cpu_ms_per_image": {c: figure.cpu_ms_per_image(c) for c in components},
        "busy_cores": {c: figure.busy_cores(c) for c in components},
    }  # fmt: skip


def snapshot_source(work: Path) -> None:
    """Servers and offline fills run from a copy of src/ taken now, so one run measures one
    version of the code even while someone edits the tree (servers restart between sizes)."""
    shutil.copytree(REPO_ROOT / "src" / "dockyard", work / "src" / "dockyard",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    sys.path.insert(0, str(work / "src"))


def environment(args: argparse.Namespace) -> dict:
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": revision(" (+ uncommitted src changes)"),
        "cpus": os.cpu_count(),
        "command": "python benchmarks/scale_bench.py " + " ".join(sys.argv[1:]),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dockyard-scalebench-", dir=args.tmpdir))
    snapshot_source(work)
    bench = Bench(args, work)
    bench.r["env"] = environment(args)
    bench.r["args"] = {"scale": args.scale, "calls": args.calls, "puts": args.puts,
                       "walk_max": args.walk_max,
                       "push_images": args.push_images,
                       "rounds": args.rounds, "repos": args.repos}  # fmt: skip
    log(f"sizes 1,000 then {args.scale}; data under {work} (load {load()})")
    t0, failed = time.perf_counter(), None
    pg = start_postgres()
    try:
        bench.r["env"]["postgres"] = str(pg.bin_dir)
        bench.pg_pid = pg._server.pid  # the cluster's own child postmaster
        bench.run(pg)
    except Exception as exc:  # noqa: BLE001 - reported with what was measured so far
        failed = f"{type(exc).__name__}: {exc}"
        log(f"FAILED: {failed}")
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    bench.r["seconds"], bench.r["failed"] = time.perf_counter() - t0, failed
    md = render(bench.r)
    print(md)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scale-latest.md").write_text(md)
    (args.results / "scale-latest.json").write_text(json.dumps(bench.r, indent=1, default=str))
    log(f"done in {bench.r['seconds']:.0f} s; wrote {args.results / 'scale-latest.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
