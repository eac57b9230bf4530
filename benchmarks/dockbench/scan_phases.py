"""The three measurements of scan_bench.py; each returns a dict of figures (seconds, MB/s, counts).

inventory_throughput   build_inventory in-process over a FilesystemBlobStore (one core)
push_latency           dockyard serve + skopeo push + boto3 polling for the scan result
rescan                 50,000 OSV records, 1,000 cached inventories: matcher.match alone,
                       then ScanService.rescan_enhanced + work_once on a SQLite store
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from dockbench import scan_image
from dockbench.ecr_servers import ecr_client
from dockbench.procstat import cpu_seconds
from dockbench.scan_corpus import Inventories, Records, write_zips
from dockbench.scan_names import Universe
from dockbench.servers import REPO_ROOT, Dockyard
from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.backends.scanner import matcher_ranges, versions
from dockyard.backends.scanner.inventory import Limits, build_inventory
from dockyard.backends.scanner.matcher import match
from dockyard.backends.scanner.osv_index import import_sources, open_index

Log = Callable[[str], None]
Profiler = Callable[[str], contextlib.AbstractContextManager]


class CountingBlobs:
    """A blob store that counts what is read through it (a rescan must read nothing)."""

    def __init__(self, inner: FilesystemBlobStore) -> None:
        self.inner, self.reads, self.read_bytes, self.stats = inner, 0, 0, 0

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        self.reads += 1
        for chunk in self.inner.read(digest, offset, length):
            self.read_bytes += len(chunk)
            yield chunk

    def stat(self, digest: str) -> int | None:
        self.stats += 1
        return self.inner.stat(digest)

    def __getattr__(self, name: str):  # every other BlobStore method, uncounted
        return getattr(self.inner, name)


def _timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def cold_caches() -> None:
    """Forget the process-wide version-parse and range caches (lru_caches in versions.py and
    matcher_ranges.py): a rescan after an update is measured as a fresh process would see it."""
    versions._parse.cache_clear()
    matcher_ranges._keyed.cache_clear()


# --------------------------------------------------------------------------- 1. inventory


def store_image(store: FilesystemBlobStore, built: scan_image.BuiltImage) -> None:
    """Every blob through the store's upload API (write, fsync, verify-free publish)."""
    for blob in built.image.blobs:
        upload = uuid.uuid4().hex
        store.start_upload(upload)
        writer = store.open_upload(upload, 0)
        writer.write(blob.data)
        writer.close()
        store.publish_upload(upload, [writer.segment], blob.digest, blob.size)


def inventory_throughput(built: scan_image.BuiltImage, work: Path, runs: int,
                         profile: Profiler, log: Log) -> dict:  # fmt: skip
    store = FilesystemBlobStore(work / "blobs")
    store.probe()
    store_image(store, built)
    blobs = CountingBlobs(store)
    manifest = built.image.manifest
    samples = []
    for run in range(runs):
        with profile("inventory") if run == 0 else contextlib.nullcontext():
            inventory, wall, cpu = _timed(
                lambda: build_inventory(manifest.data, manifest.media_type, blobs.read, Limits())
            )
        samples.append({"wall_s": wall, "cpu_s": cpu, "mb_per_s": built.compressed / 1e6 / wall})
        log(f"inventory run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
            f"{built.compressed / 1e6 / wall:.0f} MB/s")  # fmt: skip
    ecosystems: dict[str, int] = {}
    for package in inventory.packages:  # type: ignore[attr-defined]
        ecosystems[package.ecosystem] = ecosystems.get(package.ecosystem, 0) + 1
    return {
        "compressed_mb": built.compressed / 1e6,
        "uncompressed_mb": built.uncompressed / 1e6,
        "layers": len(built.image.layers),
        "entries": built.entries,
        "packages": ecosystems,
        "distro": inventory.distro.ecosystem if inventory.distro else None,  # type: ignore[attr-defined]
        "blob_reads_per_run": blobs.reads // runs,
        "bytes_read_per_run": blobs.read_bytes // runs,
        "samples": samples,
        "mb_per_s": statistics.median(s["mb_per_s"] for s in samples),
        "wall_s": statistics.median(s["wall_s"] for s in samples),
        "cpu_s": statistics.median(s["cpu_s"] for s in samples),
    }


# --------------------------------------------------------------------------- 2. push latency


def vulndb_import(data_dir: Path, paths: list[Path]) -> None:
    command = [sys.executable, "-m", "dockyard", "vulndb", "import", *map(str, paths),
               "--data-dir", str(data_dir)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def skopeo_push(layout: Path, ref: str, digestfile: Path) -> float:
    command = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
               "--preserve-digests", "--digestfile", str(digestfile), f"oci:{layout}:v1",
               f"docker://{ref}"]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    if result.returncode:
        raise RuntimeError(f"skopeo failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def wait_for_scan(ecr, repo: str, every: float, timeout: float = 600) -> tuple[dict, int]:
    """Poll DescribeImageScanFindings every `every` s until the scan is over: (answer, polls)."""
    polls, deadline, tick = 0, time.monotonic() + timeout, time.monotonic()
    while True:
        polls += 1
        answer = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
        if answer["imageScanStatus"]["status"] in ("COMPLETE", "FAILED"):
            return answer, polls
        if time.monotonic() > deadline:
            raise TimeoutError(f"scan of {repo} not finished after {timeout} s")
        tick += every
        time.sleep(max(0.0, tick - time.monotonic()))


def push_latency(images: list[Callable[[], scan_image.BuiltImage]], work: Path, poll: float,
                 profile: Profiler, log: Log) -> dict:  # fmt: skip
    sys.path.insert(0, str(REPO_ROOT))
    from tests.unit.scanner.osv_fixtures import zip_fixtures

    registry = Dockyard("dockyard", "Dockyard")
    server = registry.start(work / "server", timeout=120)
    runs = []
    try:
        vulndb_import(server.workdir / "data", zip_fixtures(work / "osv-fixtures"))
        ecr = ecr_client(f"http://{server.address}", "AKIDEXAMPLE", "secret")
        for k, make in enumerate(images, 1):
            built = make()
            runs.append(_push_once(ecr, server, built, k, work, poll, profile, log))
    finally:
        server.stop()
    return {
        "command": registry.last_command,
        "runs": runs,
        "push_s": statistics.median(r["push_s"] for r in runs),
        "push_mb_per_s": statistics.median(r["push_mb_per_s"] for r in runs),
        "latency_s": statistics.median(r["latency_s"] for r in runs),
        "completed_after_s": statistics.median(r["completed_after_s"] for r in runs),
        "compressed_mb": statistics.median(r["compressed_mb"] for r in runs),
    }


def _push_once(ecr, server, built, k: int, work: Path, poll: float, profile: Profiler,
               log: Log) -> dict:  # fmt: skip
    repo = f"bench/scan-{k}"
    ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    layout = scan_image.write_layout(built, work / f"layout-{k}")
    digestfile = work / f"digest-{k}"
    with profile("push-and-scan", server.pid) if k == 1 else contextlib.nullcontext():
        cpu0 = cpu_seconds(server.pid)
        push = skopeo_push(layout, f"{server.address}/{repo}:v1", digestfile)
        pushed, pushed_epoch, cpu1 = time.perf_counter(), time.time(), cpu_seconds(server.pid)
        answer, polls = wait_for_scan(ecr, repo, poll)
        latency, cpu2 = time.perf_counter() - pushed, cpu_seconds(server.pid)
    if digestfile.read_text().strip() != built.image.digest:
        raise RuntimeError("skopeo changed the manifest digest")
    status = answer["imageScanStatus"]
    if status["status"] != "COMPLETE":
        raise RuntimeError(f"scan of {repo} ended {status}")
    names = sorted({f["name"] for f in answer["imageScanFindings"].get("findings", [])})
    # The server's own completion time (same clock, same machine): latency without polling.
    completed = answer["imageScanFindings"]["imageScanCompletedAt"].timestamp() - pushed_epoch
    log(f"push {k}: {push:.2f} s ({built.compressed / 1e6 / push:.0f} MB/s), findings after "
        f"{latency:.2f} s ({polls} polls): {names}")  # fmt: skip
    return {
        "compressed_mb": built.compressed / 1e6,
        "push_s": push,
        "push_mb_per_s": built.compressed / 1e6 / push,
        "latency_s": latency,
        "completed_after_s": completed,
        "polls": polls,
        "server_cpu_push_s": cpu1 - cpu0,
        "server_cpu_scan_s": cpu2 - cpu1,
        "findings": names,
    }


# --------------------------------------------------------------------------- 3. rescan


def rescan(n_records: int, n_inventories: int, match_runs: int, work: Path, profile: Profiler,
           log: Log) -> dict:  # fmt: skip
    out: dict = {"records": n_records, "inventories": n_inventories}
    universe, vdir = Universe(), work / "vulndb"
    records = Records(universe)
    corpus, gen_s, _ = _timed(lambda: records.take(n_records))
    zips = write_zips(corpus, work / "osv-full")  # type: ignore[arg-type]
    _, out["import_s"], _ = _timed(lambda: import_sources(zips, vdir))
    out["affected_rows"] = _affected_rows(vdir)
    inventories = Inventories(universe).take(n_inventories)
    out["packages_per_inventory"] = statistics.mean(len(i.packages) for i in inventories)
    out["distinct_packages"] = len({(p.ecosystem, p.match_name, p.match_version)
                                    for i in inventories for p in i.packages})  # fmt: skip
    log(f"{n_records} records generated in {gen_s:.1f} s, imported in {out['import_s']:.1f} s "
        f"({out['affected_rows']} affected rows); {n_inventories} inventories")  # fmt: skip

    delta = max(50, n_records // 100)
    out["update_records"] = delta
    index, runs = open_index(vdir), []
    for day in range(1, match_runs + 1):  # each run after its own update: caches start cold
        imported = _update(records, corpus, delta, day, work, vdir)
        cold_caches()
        with profile("rescan-match") if day == 1 else contextlib.nullcontext():
            counts, wall, cpu = _timed(lambda: [len(match(i, index, True)) for i in inventories])
        _, warm, _ = _timed(lambda: [match(inv, index, True) for inv in inventories])
        runs.append({"update_import_s": imported, "wall_s": wall, "cpu_s": cpu, "warm_s": warm,
                     "findings": counts})  # fmt: skip
        log(f"match after update {day}: {wall:.2f} s ({cpu:.2f} s CPU), {warm:.2f} s again; "
            f"{sum(counts)} findings")  # type: ignore[arg-type]  # fmt: skip
    counts = runs[0].pop("findings")
    for run in runs[1:]:
        run.pop("findings")
    out["match_runs"] = runs
    out["match_s"] = statistics.median(r["wall_s"] for r in runs)
    out["match_cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
    out["match_warm_s"] = statistics.median(r["warm_s"] for r in runs)
    out["update_import_s"] = statistics.median(r["update_import_s"] for r in runs)
    out["findings_total"] = sum(counts)
    out["findings_median"] = statistics.median(counts)
    out["findings_max"] = max(counts)

    out["service"] = _service_rescan(records, corpus, inventories, work, vdir, delta,
                                     match_runs + 1, profile, log)  # fmt: skip
    return out


def _update(records: Records, corpus, n: int, day: int, work: Path, vdir: Path) -> float:
    """Import OSV's delta of `day` (n records); the index's generation changes."""
    zips = write_zips(records.update(n, corpus, day), work / f"osv-update-{day}")
    _, seconds, _ = _timed(lambda: import_sources(zips, vdir))
    return seconds


def _affected_rows(vdir: Path) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{vdir / 'vulndb.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM affected").fetchone()[0]
    finally:
        con.close()


def _service_rescan(records, corpus, inventories, work: Path, vdir: Path, delta: int, day: int,
                    profile: Profiler, log: Log) -> dict:  # fmt: skip
    from dockbench.scan_store import ScanFixture

    fixture, setup_s, _ = _timed(lambda: ScanFixture.create(work / "meta", inventories, vdir))
    log(f"metadata store: {len(inventories)} images with cached inventories in {setup_s:.1f} s")
    out = {"setup_s": setup_s}
    out["update_import_s"] = _update(records, corpus, delta, day, work, vdir)
    cold_caches()
    service = fixture.service()
    t0 = fixture.clock.now()
    with profile("rescan-service"):
        (queued, jobs), out["wall_s"], out["cpu_s"] = _timed(lambda: fixture.rescan(service))
    out |= {"queued": queued, "work_once": jobs, "blob_reads": fixture.blobs.reads,
            "blob_stats": fixture.blobs.stats} | fixture.check(t0)  # fmt: skip
    log(f"ScanService rescan: {queued} jobs ({jobs} work_once calls) in {out['wall_s']:.2f} s ({out['cpu_s']:.2f} s CPU), "
        f"blob reads {fixture.blobs.reads}, statuses {out['statuses']}")  # fmt: skip
    fixture.close()
    out["serialisation"] = serialisation(inventories[::4], open_index(vdir))
    return out


def serialisation(inventories, index) -> dict:
    """What ScanService._scan does with a match's findings before storing them
    (`FindingDocuments.prepare`: the JSON and sort key of each distinct Finding object once, the
    keys in ECR's order, the JSON only the first time), timed on a sample, from an empty
    document cache as after an update."""
    from dockyard.services.scanning import FindingDocuments

    documents = FindingDocuments()
    out = {"inventories": len(inventories), "findings": 0, "json_bytes": 0,
           "documents_s": 0.0}  # fmt: skip
    distinct: dict[str, int] = {}
    for inventory in inventories:
        found = match(inventory, index, True)  # memo warm: the service just matched them
        t1 = time.process_time()
        keys, texts = documents.prepare(found, 0.0)
        t2 = time.process_time()
        documents.stored(texts, 0.0)
        out["findings"] += len(found)
        distinct.update((key, len(text)) for key, text in texts.items())
        out["json_bytes"] += sum(distinct[key] for key in keys)
        out["documents_s"] += t2 - t1
    out["distinct"], out["distinct_bytes"] = len(distinct), sum(distinct.values())
    return out


def dumps(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)
