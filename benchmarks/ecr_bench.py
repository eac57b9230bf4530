#!/usr/bin/env python3
"""ECR API benchmark: Dockyard vs moto (server mode), with boto3, on the same images.

    python benchmarks/ecr_bench.py [--quick] [--profile]

1. Starts Dockyard (SQLite + files, authenticated with the key it generates) and moto, then fills
   one repository on each with N distinct OCI manifests by PutImage (half tagged), interleaving the
   two servers block by block, and records PutImage throughput per block.
2. Measures on both, at N: one default DescribeImages page, a full listing with boto3's paginator,
   a TAGGED listing, a 10-digest imageIds lookup.
3. Stops moto; grows Dockyard's repository offline (server stopped, rows written through the
   metadata store's code, see dockbench/ecr_fill.py) to each larger size, restarts it and measures
   a default page at the start, middle and end of the listing and PutImage of 1,000 more images.

Full: N = 10,000, then 100,000 and 1,000,000. --quick: N = 1,000, then 5,000. Writes the Markdown
report to stdout and benchmarks/results/ecr-latest.md, every sample to ecr-latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import boto3
from dockbench import ecr_fill, ecr_ops
from dockbench.ecr_ops import repeat
from dockbench.ecr_profile import GilSpy
from dockbench.ecr_report import render
from dockbench.ecr_servers import Canned, DockyardECR, Moto, moto_version
from dockbench.meta import load_average as load
from dockbench.meta import revision
from dockbench.procstat import cpu_seconds
from dockbench.servers import REPO_ROOT

HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(f"[ecr-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="N=1,000 then 5,000; no 1M (smoke test)")
    p.add_argument("--images", type=int, help="N, images pushed to both (default 10,000)")
    p.add_argument(
        "--sizes",
        help="comma-separated larger sizes for Dockyard alone "
        "(default 100000,1000000; quick 5000; '' for none)",
    )
    p.add_argument("--calls", type=int, default=50, help="calls per latency figure (default 50)")
    p.add_argument(
        "--moto-budget",
        type=float,
        default=30.0,
        help="seconds one moto latency figure may take; at least 5 calls (default 30)",
    )
    p.add_argument(
        "--fill",
        choices=("bulk", "store"),
        default="bulk",
        help="offline fill: 'bulk' (first 1,000 through save_image, the rest as "
        "executemany of the same rows; checked) or 'store' (all through save_image)",
    )
    p.add_argument("--tmpdir", help="where the servers' data goes (default: $TMPDIR)")
    p.add_argument("--results", type=Path, default=HERE / "results", help="output directory")
    p.add_argument("--keep", action="store_true", help="keep the data directories")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy (--gil) Dockyard during the PutImage fill (perturbs that phase), and "
        "after measuring the largest size, 400 more pages and 500 more PutImages; into "
        "results/ecr-profile-*.txt (raw), *.top.txt, *.ecr.txt (breakdown by component)",
    )
    args = p.parse_args(argv)
    args.n = args.images or (1000 if args.quick else 10_000)
    sizes = args.sizes if args.sizes is not None else ("5000" if args.quick else "100000,1000000")
    args.scale = [int(s) for s in sizes.split(",") if s.strip()]
    if args.n % 10 or any(s <= args.n for s in args.scale) or args.scale != sorted(args.scale):
        p.error("--images must be a multiple of 10 and --sizes increasing and above it")
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.dockyard = DockyardECR(work / "dockyard-data", work / "src")
        self.moto = Moto()
        self.starts = 0
        self.r: dict = {"n": args.n, "scale": {}, "notes": [], "load": {"start": load()}}

    # -- servers ----------------------------------------------------------------------------

    def start_dockyard(self):
        self.starts += 1
        server = self.dockyard.start(self.work / f"dockyard-run{self.starts}", timeout=120)
        return server, self.dockyard.client()

    def profiler(self, name: str, wanted: bool = True):
        if not (self.args.profile and wanted):
            return contextlib.nullcontext()
        self.args.results.mkdir(parents=True, exist_ok=True)
        return GilSpy(self.dserver.pid, self.args.results / f"ecr-profile-{name}.txt")

    # -- phases -----------------------------------------------------------------------------

    def run(self) -> None:
        self.dserver, self.dc = self.start_dockyard()
        self.mserver, self.mc = self.moto.start(self.work / "moto"), self.moto.client()
        try:
            self.images = ecr_ops.setup_dockyard(self.dc)
            self.r["moto_layers"] = ecr_ops.setup_moto(self.mc)
            self.r["account"] = self.dockyard.credentials()[0]
            self.fill_both()
            self.measure_both()
        finally:
            self.mserver.stop()
        self.r["load"]["after_moto"] = load()
        next_seq = self.args.n
        for size in self.args.scale:
            next_seq = self.grow(next_seq, size)
        self.dserver.stop()
        self.r["load"]["end"] = load()

    def fill_both(self) -> None:
        """PutImage N images on each server in blocks of N/10, alternating who goes first."""
        n, block = self.args.n, self.args.n // 10
        fill = {"block": block, "dockyard": [], "moto": []}
        servers = [("dockyard", self.dc, self.dserver.pid), ("moto", self.mc, self.mserver.pid)]
        with self.profiler("putimage-fill"):
            for b, lo in enumerate(range(0, n, block)):
                for name, client, pid in servers if b % 2 == 0 else servers[::-1]:
                    cpu0 = cpu_seconds(pid)
                    samples = ecr_ops.put_images(client, self.images, lo, lo + block)
                    cpu = cpu_seconds(pid) - cpu0
                    fill[name].append(
                        {
                            "rate": ecr_ops.rate(samples),
                            "median_ms": 1000 * sorted(samples)[len(samples) // 2],
                            "server_cpu_ms": 1000 * cpu / block,
                        }
                    )
                log(
                    f"PutImage block {b + 1}/10: dockyard {fill['dockyard'][-1]['rate']:.0f}/s, "
                    f"moto {fill['moto'][-1]['rate']:.0f}/s (load {load()})"
                )
        self.r["fill"] = fill

    def measure_both(self) -> None:
        a, n = self.args, self.args.n
        digests = [self.images.digest(self.images.manifest(i)) for i in range(0, n, n // 10)]
        out: dict = {"dockyard": {}, "moto": {}}
        for name, client, budget, pid in (
            ("dockyard", self.dc, 1e9, self.dserver.pid),
            ("moto", self.mc, a.moto_budget, self.mserver.pid),
        ):
            m = out[name]
            page = repeat(ecr_ops.describe_page(client), a.calls, budget, pid=pid)
            m["page"] = page.summary() | {"images": page.results[0]}
            log(f"{name}: default page median {page.median_ms:.1f} ms ({page.results[0]} images)")
            m["listing"] = self.listings(client, None, budget)
            m["listing_1000"] = self.listings(client, None, budget, page_size=1000)
            m["tagged"] = self.listings(client, "TAGGED", budget)
            ids = repeat(ecr_ops.describe_ids(client, digests), a.calls, budget, pid=pid)
            m["ids"] = ids.summary() | {"images": ids.results[0]}
            log(
                f"{name}: listing {m['listing']['median_s']:.2f} s, TAGGED "
                f"{m['tagged']['median_s']:.2f} s ({m['tagged']['count']}), ids "
                f"{ids.median_ms:.1f} ms"
            )
            if name == "dockyard":  # before moto's multi-second calls heat the machine
                self.r["at_n"] = out
                m["positions"] = self.positions(n)
        out["canned"] = self.canned_floor()
        self.r["load"]["after_n"] = load()

    def listings(
        self,
        client,
        tag_status: str | None,
        budget: float,
        runs: int = 3,
        page_size: int | None = None,
    ) -> dict:
        done, start = [], time.perf_counter()
        while len(done) < runs and (not done or time.perf_counter() - start < budget):
            done.append(ecr_ops.full_listing(client, tag_status, page_size))
        first = done[0]
        times = [d.seconds for d in done]
        return {
            "runs": len(done),
            "median_s": sorted(times)[len(times) // 2],
            "seconds": times,
            "pages": first.pages,
            "count": first.count,
            "distinct": first.distinct,
            "tagged": first.tagged,
        }

    def positions(self, size: int) -> dict:
        """Page through by 1,000 (by size/10 when smaller; timed), then time default pages at
        the start, middle and end of the listing."""
        walk = ecr_ops.full_listing(self.dc, page_size=min(1000, size // 10))
        if walk.count != size or walk.distinct != size:
            raise RuntimeError(
                f"listing by 1,000 found {walk.count} ({walk.distinct} distinct), expected {size}"
            )
        res = {"walk_s": walk.seconds, "walk_pages": walk.pages, "walk_page": min(1000, size // 10)}
        for where, (before, token) in ecr_ops.position_tokens(walk).items():
            timed = repeat(
                ecr_ops.describe_page(self.dc, token), self.args.calls, 1e9, pid=self.dserver.pid
            )
            if set(timed.results) != {100}:
                raise RuntimeError(f"page at {where} returned {set(timed.results)} images")
            res[where] = timed.summary() | {"offset": before}
            if where == "middle":
                res["middle_token"] = token
            log(
                f"dockyard at {size:,}: page at {where} (offset {before:,}) median "
                f"{timed.median_ms:.1f} ms p95 {timed.p95_ms:.1f} ms"
            )
        return res

    def canned_floor(self) -> dict:
        """boto3 against a server that replays a canned answer: the client's own share of a
        default DescribeImages page (Dockyard's, captured) and of a PutImage (its answer)."""
        body = self.work / "page.json"
        body.write_bytes(ecr_ops.page_body(self.dc))
        with _canned(body, self.work / "canned-page") as client:
            page = repeat(ecr_ops.describe_page(client), self.args.calls, 1e9)
        put_body = self.work / "put.json"
        put_body.write_bytes(ecr_ops.put_image_answer(self.images, self.r["account"], 0))
        with _canned(put_body, self.work / "canned-put") as client:
            put = ecr_ops.put_images_canned(client, self.images, 200)
        log(
            f"boto3 floor: 100-image page {page.median_ms:.1f} ms, PutImage "
            f"{1000 * sorted(put)[len(put) // 2]:.2f} ms ({ecr_ops.rate(put):.0f}/s)"
        )
        return page.summary() | {
            "images": page.results[0],
            "body_bytes": len(body.read_bytes()),
            "put_median_ms": 1000 * sorted(put)[len(put) // 2],
            "put_rate": ecr_ops.rate(put),
        }

    def grow(self, have: int, size: int) -> int:
        """Dockyard offline from `have` images to `size`, restart, measure, push 1,000 more."""
        self.dserver.stop()
        res = self.fill_offline(have, size)
        self.dserver, self.dc = self.start_dockyard()
        largest = size == self.args.scale[-1]
        res["positions"] = self.positions(size)
        before = ecr_fill.table_counts(self.dockyard.db_file)
        cpu0 = cpu_seconds(self.dserver.pid)
        samples = ecr_ops.put_images(self.dc, self.images, size, size + 1000)
        res["put"] = {
            "rate": ecr_ops.rate(samples),
            # CPU seconds over 1,000 images == CPU ms per image
            "server_cpu_ms": cpu_seconds(self.dserver.pid) - cpu0,
            "blocks": [ecr_ops.rate(samples[i : i + 100]) for i in range(0, 1000, 100)],
            "median_ms": 1000 * sorted(samples)[500],
        }
        ecr_fill.check_growth(
            before,
            ecr_fill.table_counts(self.dockyard.db_file),
            self.images,
            size,
            size + 1000,
            "PutImage",
        )
        log(f"dockyard at {size:,}: PutImage 1,000 more at {res['put']['rate']:.0f}/s")
        res["load"] = load()
        self.r["scale"][size] = res
        if self.args.profile and largest:
            return self.profile_at(size + 1000, res["positions"])
        return size + 1000

    def profile_at(self, next_seq: int, positions: dict) -> int:
        """--profile: py-spy extra default pages and PutImages, after (not during) measuring."""
        walk_token = positions["middle_token"]
        with self.profiler(f"pages-{next_seq - 1000}"):
            repeat(ecr_ops.describe_page(self.dc, walk_token), 400, 1e9)
        with self.profiler(f"putimage-{next_seq - 1000}"):
            ecr_ops.put_images(self.dc, self.images, next_seq, next_seq + 500)
        log(f"profiles written to {self.args.results}/ecr-profile-*")
        return next_seq + 500

    def fill_offline(self, have: int, size: int) -> dict:
        """Images have..size-1 with the server stopped: the first 1,000 through save_image, the
        rest in bulk (or all through save_image with --fill store); checked, see ecr_fill."""
        url, db = self.dockyard.db_url, self.dockyard.db_file
        rid = ecr_fill.repo_id(url, self.r["account"], ecr_ops.REPO)
        before = ecr_fill.table_counts(db)
        t0 = time.perf_counter()
        by_store = size if self.args.fill == "store" else min(size, have + 1000)
        ecr_fill.fill_with_store(url, rid, self.images, have, by_store)
        t_store = time.perf_counter() - t0
        ecr_fill.fill_bulk(url, rid, self.images, by_store, size)
        seconds = time.perf_counter() - t0
        for ref in (0, 1):  # an image PutImage wrote vs one save_image wrote and one bulk wrote
            ecr_fill.check_same_rows(url, rid, self.images, ref, have + 2 + ref)
            if by_store + 2 < size:
                ecr_fill.check_same_rows(url, rid, self.images, ref, by_store + 2 + ref)
        ecr_fill.check_growth(
            before, ecr_fill.table_counts(db), self.images, have, size, "the offline fill"
        )
        os.sync()  # untimed: the fill's dirty pages must not be written back during measuring
        log(
            f"filled offline {have:,} -> {size:,} in {seconds:.1f} s "
            f"({by_store - have:,} through save_image in {t_store:.1f} s, rest bulk)"
        )
        return {
            "fill_s": seconds,
            "by_store": by_store - have,
            "store_s": t_store,
            "bulk": size - by_store,
            "db_mib": self._db_mib(),
        }

    def _db_mib(self) -> float:
        d = self.dockyard.data_dir
        return sum(p.stat().st_size for p in d.glob("dockyard.db*")) / (1 << 20)


@contextlib.contextmanager
def _canned(body: Path, workdir: Path):
    canned = Canned(body)
    server = canned.start(workdir)
    try:
        yield canned.client()
    finally:
        server.stop()


def environment(work: Path) -> dict:
    tree = hashlib.sha256()
    for path in sorted((work / "src").rglob("*.py")):
        tree.update(str(path.relative_to(work)).encode() + b"\0" + path.read_bytes())
    return {
        "source_sha256": tree.hexdigest()[:12],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": revision(" (+ uncommitted src changes)"),
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "moto": moto_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "command": "python benchmarks/ecr_bench.py " + " ".join(sys.argv[1:]),
    }


def snapshot_source(work: Path) -> None:
    """Run server and offline fills from a copy of src/ taken now: one run measures one version
    of the code even while someone edits the tree (the server is restarted between sizes)."""
    shutil.copytree(
        REPO_ROOT / "src" / "dockyard",
        work / "src" / "dockyard",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    sys.path.insert(0, str(work / "src"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dockyard-ecrbench-", dir=args.tmpdir))
    snapshot_source(work)
    bench = Bench(args, work)
    bench.r["env"] = environment(work)
    log(f"N={args.n:,}, then Dockyard at {args.scale}; data under {work} (load {load()})")
    t0 = time.perf_counter()
    failed = None
    try:
        bench.run()
    except Exception as exc:  # noqa: BLE001 - reported with what was measured so far
        failed = f"{type(exc).__name__}: {exc}"
        log(f"FAILED: {failed}")
        for server in ("dserver", "mserver"):
            if hasattr(bench, server) and getattr(bench, server).proc.poll() is None:
                log(f"{server} log tail:\n{getattr(bench, server).log_tail()}")
                getattr(bench, server).stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    bench.r["seconds"] = time.perf_counter() - t0
    bench.r["failed"] = failed
    bench.r["env"]["dockyard_cmd"] = bench.dockyard.last_command
    bench.r["env"]["moto_cmd"] = bench.moto.last_command
    md = render(bench.r)
    print(md)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "ecr-latest.md").write_text(md)
    (args.results / "ecr-latest.json").write_text(json.dumps(bench.r, indent=1, default=str))
    log(f"done in {bench.r['seconds']:.0f} s; wrote {args.results / 'ecr-latest.md'} and .json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
