#!/usr/bin/env python3
"""Scanner benchmark: inventory throughput, findings latency after a push, rescan without layer I/O.

    python benchmarks/scan_bench.py [--quick] [--profile] [--only inventory,push,rescan]

1. Inventory: builds a ~200 MB Debian 12 application image (5 gzip layers, mostly random file
   content, dpkg status, Python and npm packages; dockbench/scan_image.py), stores its blobs in a
   FilesystemBlobStore through the upload API and runs `build_inventory` in this process, 3
   times: MB/s of compressed layers (median) and CPU seconds (one core).
2. Push: starts `dockyard serve --create-on-push --accept-any-credentials`, imports the OSV test
   fixtures with `dockyard vulndb import`, creates a scanOnPush repository with boto3, pushes the
   image with `skopeo copy --preserve-digests` and polls DescribeImageScanFindings every 0.1 s
   until COMPLETE: push seconds and seconds from push completion to findings. 3 runs, each a
   fresh image (no shared blob, so no inventory cache hit); medians.
3. Rescan: 50,000 synthetic OSV records over real and generated Debian/Alpine/PyPI/npm names
   (dockbench/scan_corpus.py) imported with `import_sources`, 1,000 cached inventories; after an
   update import (1% of the records), times `matcher.match` over all inventories; then, after
   another update, the real path: `ScanService.rescan_enhanced` + `work_once` until the queue is
   empty, on a SQLite metadata store holding the 1,000 images, counting blob store reads (0).

--quick: 20 MB, 100 inventories, 5,000 records. Prints a Markdown table and writes it to
benchmarks/results/scan-latest.md (every figure also in scan-latest.json).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockbench import scan_image, scan_phases
from dockbench.meta import load_average as load
from dockbench.meta import revision
from dockbench.profile import PySpy
from dockbench.scan_report import markdown

HERE = Path(__file__).resolve().parent
PHASES = ("inventory", "push", "rescan")


def log(msg: str) -> None:
    print(f"[scan-bench {time.strftime('%H:%M:%S')} load {load()}] {msg}", file=sys.stderr,
          flush=True)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20 MB, 100 inventories, 5,000 records")
    p.add_argument("--image-mb", type=float, help="compressed image size (default 200; quick 20)")
    p.add_argument("--inventories", type=int, help="cached inventories (default 1,000; quick 100)")
    p.add_argument("--records", type=int, help="OSV records (default 50,000; quick 5,000)")
    p.add_argument("--runs", type=int, default=3, help="inventory runs and pushes (default 3)")
    p.add_argument("--poll", type=float, default=0.1, help="findings poll interval, s (0.1)")
    p.add_argument("--only", default=",".join(PHASES), help="comma-separated phases to run")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each phase into results/scan-profile-*.txt (perturbs figures)",
    )
    p.add_argument("--tmpdir", help="where images, blobs and databases go (default $TMPDIR)")
    p.add_argument("--results", type=Path, default=HERE / "results", help="output directory")
    args = p.parse_args(argv)
    args.image_mb = args.image_mb or (20 if args.quick else 200)
    args.inventories = args.inventories or (100 if args.quick else 1000)
    args.records = args.records or (5000 if args.quick else 50_000)
    args.phases = [x.strip() for x in args.only.split(",") if x.strip()]
    if unknown := set(args.phases) - set(PHASES):
        p.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    return args


def versions() -> str:
    try:
        skopeo = subprocess.run(["skopeo", "--version"], check=False, capture_output=True,
                                text=True, timeout=10).stdout.strip()  # fmt: skip
    except OSError:
        skopeo = "?"
    return "; ".join([f"dockyard {revision(' + uncommitted changes')}", skopeo,
                      f"Python {platform.python_version()}"])  # fmt: skip


def run(args: argparse.Namespace, work: Path) -> dict:
    results: dict = {}

    def profile(name: str, pid: int | None = None):
        """py-spy on this process (or on `pid`, the server) while the block runs."""
        if not args.profile:
            return contextlib.nullcontext()
        args.results.mkdir(parents=True, exist_ok=True)
        return PySpy(pid or os.getpid(), args.results / f"scan-profile-{name}.txt")

    first = None
    if "inventory" in args.phases or "push" in args.phases:
        log(f"building a {args.image_mb:g} MB image (seed 0)")
        first, seconds, _ = scan_phases._timed(lambda: scan_image.build(args.image_mb, 0))
        log(f"built: {first.compressed / 1e6:.1f} MB gzip, {first.entries} entries, "
            f"{seconds:.1f} s")  # fmt: skip
    if "inventory" in args.phases:
        results["inventory"] = scan_phases.inventory_throughput(
            first, work / "inventory", args.runs, profile, log
        )
        shutil.rmtree(work / "inventory", ignore_errors=True)
    if "push" in args.phases:
        makers = [lambda: first] + [
            (lambda seed=seed: scan_image.build(args.image_mb, seed))
            for seed in range(1, args.runs)
        ]
        results["push"] = scan_phases.push_latency(makers, work / "push", args.poll, profile, log)
        shutil.rmtree(work / "push", ignore_errors=True)
    first = None
    if "rescan" in args.phases:
        results["rescan"] = scan_phases.rescan(
            args.records, args.inventories, args.runs, work / "rescan", profile, log
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "push" in args.phases and not shutil.which("skopeo"):
        sys.exit("the push phase needs skopeo (apt-get install skopeo)")
    start, load_before = time.perf_counter(), load()
    work = Path(tempfile.mkdtemp(prefix="dockyard-scan-bench-", dir=args.tmpdir))
    try:
        results = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "mode": "quick" if args.quick else "full",
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load(),
        "elapsed_s": time.perf_counter() - start,
        "versions": versions(),
        "profiled": args.profile,
        "args": {k: v for k, v in vars(args).items() if k != "results"},
    }
    text = markdown(results, meta)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scan-latest.md").write_text(text)
    payload = scan_phases.dumps({"meta": meta, "results": results})
    (args.results / "scan-latest.json").write_text(payload + "\n")
    log(f"wrote {args.results / 'scan-latest.md'} and scan-latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
