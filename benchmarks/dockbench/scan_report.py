"""Markdown for scan_bench.py: one table of headline figures against the issue's targets, then
the details each figure rests on (per-run samples, sizes, where the rescan's time went)."""

from __future__ import annotations


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def markdown(r: dict, meta: dict) -> str:
    lines = [
        f"# Scanner benchmark ({meta['mode']}, {meta['date']})",
        "",
        f"{meta['versions']}; {meta['cores']} cores; load average {meta['load_before']} before, "
        f"{meta['load_after']} after; {meta['elapsed_s']:.0f} s in all"
        + ("; **profiled (figures perturbed)**" if meta.get("profiled") else ""),
        "",
        "| Figure | Result | Target | |",
        "|---|---|---|---|",
        *_rows(r),
        "",
    ]
    lines += _details(r)
    return "\n".join(lines) + "\n"


def _rows(r: dict) -> list[str]:
    rows = []
    if inv := r.get("inventory"):
        rows.append(
            f"| Inventory throughput, `build_inventory` in-process, one core "
            f"({inv['compressed_mb']:.0f} MB gzip, {inv['layers']} layers) | "
            f"**{inv['mb_per_s']:.0f} MB/s** ({inv['wall_s']:.2f} s, CPU {inv['cpu_s']:.2f} s) "
            f"| >= 100 MB/s | {_status(inv['mb_per_s'] >= 100)} |"
        )
    if push := r.get("push"):
        rows.append(
            f"| skopeo push of that image ({push['compressed_mb']:.0f} MB) | "
            f"{push['push_s']:.2f} s ({push['push_mb_per_s']:.0f} MB/s) | | |"
        )
        rows.append(
            f"| Findings latency: push done -> `DescribeImageScanFindings` COMPLETE | "
            f"**{push['latency_s']:.2f} s** (scan completed {push['completed_after_s']:.2f} s "
            f"after the push by the server's clock) | | |"
        )
    if rs := r.get("rescan"):
        rows.append(
            f"| Rescan: `matcher.match` over {_n(rs['inventories'])} cached inventories, "
            f"{_n(rs['records'])} records, after an update | **{rs['match_s']:.2f} s** "
            f"(CPU {rs['match_cpu_s']:.2f} s) | < 10 s | {_status(rs['match_s'] < 10)} |"
        )
        svc = rs["service"]
        rows.append(
            f"| Rescan through `ScanService` (`rescan_enhanced` + `work_once`, SQLite) | "
            f"**{svc['wall_s']:.2f} s** (CPU {svc['cpu_s']:.2f} s), blob reads: "
            f"**{svc['blob_reads']}** | (< 10 s; 0 reads) | "
            f"{_status(svc['wall_s'] < 10 and svc['blob_reads'] == 0)} |"
        )
    return rows


def _details(r: dict) -> list[str]:
    out = []
    if inv := r.get("inventory"):
        out += _inventory(inv)
    if push := r.get("push"):
        out += _push(push)
    if rs := r.get("rescan"):
        out += _rescan(rs) + _service(rs["service"])
    return out


def _inventory(inv: dict) -> list[str]:
    runs = ", ".join(f"{s['mb_per_s']:.0f}" for s in inv["samples"])
    image = (
        f"- Image: {inv['compressed_mb']:.1f} MB gzip ({inv['uncompressed_mb']:.1f} MB of tar), "
        f"{inv['layers']} layers, {_n(inv['entries'])} tar entries; found {inv['distro']}, "
        f"packages {inv['packages']}."
    )
    samples = (
        f"- Runs (MB/s of compressed layers): {runs}; median reported. Uncompressed: "
        f"{inv['uncompressed_mb'] / inv['wall_s']:.0f} MB/s. Blobs read per run: "
        f"{inv['blob_reads_per_run']} ({inv['bytes_read_per_run'] / 1e6:.1f} MB)."
    )
    return ["## Inventory", "", image, samples, ""]


def _push(push: dict) -> list[str]:
    head = (
        "| run | MB | push s | MB/s | findings seen after s | completed after s | polls "
        "| server CPU push s | server CPU scan s | findings |"
    )
    out = ["## Push and scan on push", "", f"Server: `{push['command']}`", "", head,
           "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, run in enumerate(push["runs"], 1):
        out.append(
            f"| {k} | {run['compressed_mb']:.0f} | {run['push_s']:.2f} | "
            f"{run['push_mb_per_s']:.0f} | {run['latency_s']:.2f} | "
            f"{run['completed_after_s']:.2f} | {run['polls']} | "
            f"{run['server_cpu_push_s']:.2f} | {run['server_cpu_scan_s']:.2f} | "
            f"{', '.join(run['findings'])} |"
        )
    return [*out, ""]


def _rescan(rs: dict) -> list[str]:
    database = (
        f"- Vulnerability database: {_n(rs['records'])} records ({_n(rs['affected_rows'])} "
        f"affected rows) imported in {rs['import_s']:.1f} s; each update: "
        f"{_n(rs['update_records'])} records (half new, half re-issued), imported in "
        f"{rs['update_import_s']:.1f} s."
    )
    inventories = (
        f"- Inventories: {_n(rs['inventories'])}, {rs['packages_per_inventory']:.0f} packages "
        f"each on average, {_n(rs['distinct_packages'])} distinct (ecosystem, source, "
        f"version); findings {_n(rs['findings_total'])} in all, median "
        f"{rs['findings_median']:.0f} per image, max {_n(rs['findings_max'])}."
    )
    runs = "; ".join(
        f"{r['wall_s']:.2f} s wall / {r['cpu_s']:.2f} s CPU, again {r['warm_s']:.2f} s"
        for r in rs["match_runs"]
    )
    matching = (
        "- `matcher.match` over all inventories, each run right after its own update import "
        "(index caches and version-parse caches cold), then the same pass again (warm): "
        f"{runs}. Median {rs['match_s']:.2f} s."
    )
    return ["## Rescan", "", database, inventories, matching]


def _service(svc: dict) -> list[str]:
    summary = (
        f"- `ScanService`: {svc['queued']} queued, run by {svc['work_once']} `work_once` calls in "
        f"{svc['wall_s']:.2f} s; statuses {svc['statuses']}, not re-scanned "
        f"{svc['not_rescanned']}; blob reads {svc['blob_reads']}, stats {svc['blob_stats']}; "
        f"metadata database {svc['db_mb']:.0f} MB after; setup (untimed) {svc['setup_s']:.1f} s."
    )
    out = [summary, "- Where the service's time went (seconds inside each call, summed):", "",
           "| call | seconds | calls |", "|---|---|---|"]  # fmt: skip
    for name, seconds in sorted(svc["scanner_s"].items(), key=lambda kv: -kv[1]):
        out.append(f"| scanner.{name} | {seconds:.2f} | |")
    for name, seconds in sorted(svc["meta_s"].items(), key=lambda kv: -kv[1]):
        out.append(f"| meta.{name} | {seconds:.2f} | {svc['meta_calls'].get(name, '')} |")
    rest = svc["wall_s"] - sum(svc["scanner_s"].values()) - sum(svc["meta_s"].values())
    out += [f"| rest (JSON of inventories and findings, service code) | {rest:.2f} | |", ""]
    ser = svc["serialisation"]
    if ser["findings"]:
        per = 1e6 * ser["documents_s"] / ser["findings"]
        serialising = (
            f"- What `ScanService._scan` does with the findings before `put_scan`, timed "
            f"apart on {ser['inventories']} of the inventories ({_n(ser['findings'])} "
            f"findings, CPU time, empty document cache): `FindingDocuments.prepare` (sort "
            f"included) {per:.1f} us per finding; "
            f"{ser['json_bytes'] / ser['findings']:.0f} bytes of JSON per finding, in "
            f"{_n(ser['distinct'])} distinct documents ({ser['distinct_bytes'] / 1e6:.1f} MB) "
            "stored once each."
        )
        out += [serialising, ""]
    return out
