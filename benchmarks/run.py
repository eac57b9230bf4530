#!/usr/bin/env python3
"""Benchmark Dockyard against CNCF distribution (Debian's docker-registry) side by side.

    python benchmarks/run.py [--quick] [--runs N] [--only NAMES] [--registries NAMES]

Prints a Markdown table (medians of N runs, ratio Dockyard/distribution, targets) and writes it to
benchmarks/results/latest.md, with all samples in benchmarks/results/latest.json. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockbench import data, report
from dockbench.meta import load_average, revision
from dockbench.procstat import RssMonitor, hwm_mib
from dockbench.profile import PySpy
from dockbench.pulls import PULL_SCENARIOS
from dockbench.scenarios import SCENARIOS as PUSH_AND_GET
from dockbench.scenarios import Context, Dataset
from dockbench.servers import DISTRIBUTION_BIN, registries

HERE = Path(__file__).resolve().parent
ORDER = (
    "upload-mono",
    "upload-chunked",
    "download",
    "download-cold",
    "concurrent-same",
    "concurrent-distinct",
    "skopeo-1",
    "podman-1",
    "skopeo-20",
    "podman-20",
    "small-parallel",
)
SCENARIOS = {name: (PUSH_AND_GET | PULL_SCENARIOS)[name] for name in ORDER}
MiB = 1 << 20


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="64 MiB blobs and images (smoke test)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios or prefixes, from: "
        + ", ".join(SCENARIOS)
        + " (e.g. 'upload,download')",
    )
    p.add_argument(
        "--registries",
        default="dockyard,distribution",
        help="comma-separated, from: dockyard, distribution",
    )
    p.add_argument("--size-mib", type=int, help="blob and image size (default 1024, quick 64)")
    p.add_argument(
        "--dockyard-workers",
        type=int,
        default=1,
        help="Dockyard server processes (`serve --workers`); 2 is one per core here",
    )
    p.add_argument(
        "--dockyard-args",
        default="",
        help='more `serve` options, e.g. "--gc-interval 0.1 --gc-grace 0" to push '
        "while garbage collection runs back to back",
    )
    p.add_argument("--small", type=int, default=50, help="small images in small-parallel")
    p.add_argument("--tmpdir", help="where test data and registry storage go (default: $TMPDIR)")
    p.add_argument("--results", type=Path, default=HERE / "results", help="output directory")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Dockyard server during each scenario into results/profile-*"
        " (perturbs the figures)",
    )
    args = p.parse_args(argv)
    args.size = (args.size_mib or (64 if args.quick else 1024)) * MiB
    args.scenarios = select(args.only, p)
    args.registry_names = [r.strip() for r in args.registries.split(",") if r.strip()]
    unknown = set(args.registry_names) - set(registries())
    if unknown or args.runs < 1:
        p.error(f"unknown registries {sorted(unknown)}" if unknown else "--runs must be >= 1")
    return args


def select(only: str, parser: argparse.ArgumentParser) -> list[str]:
    if not only:
        return list(SCENARIOS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [s for s in SCENARIOS if any(s.startswith(w) for w in wanted)]
    if not chosen:
        parser.error(f"--only {only!r} matches none of {', '.join(SCENARIOS)}")
    return chosen


def size_label(size: int) -> str:
    return f"{size // (1 << 30)} GiB" if size % (1 << 30) == 0 else f"{size // MiB} MiB"


def check_tools(args: argparse.Namespace) -> None:
    missing = []
    pulls_images = any(s.startswith(("skopeo", "podman")) for s in args.scenarios)
    if pulls_images and not shutil.which("skopeo"):
        missing.append("skopeo (apt-get install skopeo)")
    if any(s.startswith("podman") for s in args.scenarios) and not shutil.which("podman"):
        missing.append("podman (apt-get install podman)")
    if "distribution" in args.registry_names and not os.access(DISTRIBUTION_BIN, os.X_OK):
        missing.append(f"{DISTRIBUTION_BIN} (apt-get install docker-registry)")
    if missing:
        sys.exit("missing: " + "; ".join(missing))


def scratch_dir(work: Path, need: int) -> Path:
    """skopeo pulls land on tmpfs when it has room, so the client's fsyncs cost nothing."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 3 * need:
        return Path(tempfile.mkdtemp(prefix="dockyard-bench-pull-", dir=shm))
    path = work / "pull"
    path.mkdir()
    return path


def build_dataset(args: argparse.Namespace, work: Path, scratch: Path) -> Dataset:
    t0 = time.perf_counter()
    blob = data.make_blob_template(work / "random.bin", args.size)
    images = {}
    for layers in (1, 20):
        if {f"skopeo-{layers}", f"podman-{layers}"} & set(args.scenarios):
            images[layers] = data.build_layout(
                work / f"image-{layers}", blob.path, args.size, layers
            )
    small = data.small_images(args.small)
    log(f"test data generated in {time.perf_counter() - t0:.1f} s under {work}")
    return Dataset(blob, images, small, scratch)


class Session:
    """Runs every selected scenario on a fresh server per registry per run; keeps the samples."""

    def __init__(self, args: argparse.Namespace, dataset: Dataset, work: Path) -> None:
        self.args, self.dataset, self.work = args, dataset, work
        self.samples: dict[str, dict[str, list[float]]] = {n: {} for n in args.registry_names}
        self.errors: list[dict] = []
        self.registries = registries()
        self.registries["dockyard"].workers = args.dockyard_workers
        self.registries["dockyard"].extra_args = shlex.split(args.dockyard_args)

    def run(self) -> None:
        for run in range(self.args.runs):
            # Alternate who goes first, so neither always runs on a cooler machine.
            names = self.args.registry_names
            for name in names if run % 2 == 0 else names[::-1]:
                self.run_registry(name, run)

    def error(self, registry: str, scenario: str, run: int, msg: str) -> None:
        self.errors.append(
            {"registry": registry, "scenario": scenario, "run": run, "error": msg[-2000:]}
        )  # a traceback's end says the most
        log(f"{registry} {scenario} run {run}: ERROR {msg[-1500:]}")

    def run_registry(self, name: str, run: int) -> None:
        server_dir = self.work / f"{name}-run{run}"
        try:
            server = self.registries[name].start(server_dir)
        except Exception as exc:  # noqa: BLE001 - recorded and reported
            self.error(name, "start", run, str(exc))
            shutil.rmtree(server_dir, ignore_errors=True)
            return
        try:
            state: dict = {}  # what earlier scenarios leave for later ones on this server
            with RssMonitor(server.pid) as monitor:
                for scenario in self.args.scenarios:
                    if not self.run_scenario(
                        server, scenario, Context(server, self.dataset, run, state)
                    ):
                        break
                hwm = hwm_mib(server.pid)
            self.samples[name].setdefault("peak_rss_mib", []).append(max(monitor.peak_mib, hwm))
        finally:
            server.stop()
            shutil.rmtree(server_dir, ignore_errors=True)

    def run_scenario(self, server, scenario: str, ctx: Context) -> bool:
        """Runs one scenario; False if the server died (skip the rest of this run)."""
        name = server.registry.name
        os.sync()
        try:
            with self.profiler(server, scenario, ctx.run):
                values = SCENARIOS[scenario](ctx)
        except Exception as exc:  # noqa: BLE001 - recorded and reported
            self.error(name, scenario, ctx.run, f"{type(exc).__name__}: {exc}")
            if server.proc.poll() is None:
                return True
            log(f"{name} died (exit {server.proc.returncode}):\n{server.log_tail()}")
            return False
        for metric, value in values.items():
            self.samples[name].setdefault(metric, []).append(value)
        shown = {k: round(v, 2) for k, v in values.items() if not k.endswith("_client_cpu_pct")}
        log(f"{name} run {ctx.run} {scenario}: {shown}")
        return True

    def profiler(self, server, scenario: str, run: int):
        if not self.args.profile or server.registry.name != "dockyard":
            return contextlib.nullcontext()
        self.args.results.mkdir(parents=True, exist_ok=True)
        return PySpy(server.pid, self.args.results / f"profile-{scenario}-run{run}.txt")


def versions() -> str:
    def out(cmd: list[str]) -> str:
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
            return proc.stdout.strip()
        except OSError:
            return "?"

    dockyard = f"dockyard {revision(' + uncommitted changes')}"
    if os.environ.get("DOCKYARD_BENCH_CMD"):
        dockyard += f" via `{os.environ['DOCKYARD_BENCH_CMD']}`"
    return "; ".join(
        [
            dockyard,
            out([DISTRIBUTION_BIN, "--version"]),
            out(["skopeo", "--version"]),
            f"Python {platform.python_version()}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_tools(args)
    start, load_before = time.perf_counter(), load_average()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.tmpdir))
    scratch = scratch_dir(work, args.size)
    session = None
    try:
        session = Session(args, build_dataset(args, work, scratch), work)
        session.run()
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "mode": "quick" if args.quick else "full",
        "runs": args.runs,
        "size_bytes": args.size,
        "size_label": size_label(args.size),
        "small_count": args.small,
        "scenarios": args.scenarios,
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_average(),
        "elapsed_s": time.perf_counter() - start,
        "versions": versions(),
        "profiled": args.profile,
    }
    if session:
        meta["commands"] = {
            n: r.last_command for n, r in session.registries.items() if r.last_command
        }
    samples = session.samples if session else {}
    errors = session.errors if session else []
    summary = report.summarize(samples)
    text = report.markdown(summary, meta, errors)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.md").write_text(text)
    payload = {"meta": meta, "results": summary, "errors": errors}
    (args.results / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    log(f"wrote {args.results / 'latest.md'} and latest.json")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
