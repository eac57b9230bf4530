"""Medians over runs, ratios Dockyard/distribution against the targets, Markdown and JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

A, B = "dockyard", "distribution"


@dataclass(frozen=True)
class Row:
    metric: str
    label: str
    unit: str
    higher_is_better: bool
    target: float | None = None  # on the ratio Dockyard/distribution
    seconds: str | None = None  # metric shown next to the value, in seconds

    def met(self, ratio: float) -> bool:
        assert self.target is not None
        return ratio >= self.target if self.higher_is_better else ratio <= self.target


def rows(size: str, small: int) -> list[Row]:
    def skopeo(n: int, way: str) -> Row:
        noun = "layer" if n == 1 else "layers"
        return Row(
            f"skopeo{n}_{way}_mbps",
            f"skopeo {way}, {size} image, {n} {noun}",
            "MB/s",
            True,
            1.0,
            f"skopeo{n}_{way}_s",
        )

    def podman(n: int) -> Row:
        noun = "layer" if n == 1 else "layers"
        return Row(
            f"podman{n}_pull_mbps",
            f"podman pull, {size} image, {n} {noun}",
            "MB/s",
            True,
            1.0,
            f"podman{n}_pull_s",
        )

    def pull_cpu(metric: str, what: str) -> Row:
        return Row(metric, f"Server CPU per GiB, {what}", "s/GiB", False, 0.5)

    return [
        Row(
            "upload_mono_mbps",
            f"Upload {size} blob, monolithic (POST + one PUT)",
            "MB/s",
            True,
            2.0,
        ),
        Row(
            "upload_chunked_mbps",
            f"Upload {size} blob, chunked (10 MiB PATCHes)",
            "MB/s",
            True,
            1.0,
        ),
        Row(
            "download_first_mbps",
            f"Download {size} blob, first GET after the upload",
            "MB/s",
            True,
            1.0,
        ),
        Row("download_mbps", f"Download {size} blob, second GET", "MB/s", True, 1.0),
        Row(
            "download_cold_mbps",
            f"Download {size} blob, cold (page cache dropped)",
            "MB/s",
            True,
            1.0,
        ),
        Row(
            "concurrent_same_mbps",
            f"16 clients GET the same {size} blob, aggregate",
            "MB/s",
            True,
            1.0,
        ),
        Row(
            "concurrent_distinct_mbps",
            f"16 clients GET 16 blobs of {size}/16, aggregate",
            "MB/s",
            True,
            1.0,
        ),
        skopeo(1, "push"),
        skopeo(1, "pull"),
        podman(1),
        skopeo(20, "push"),
        skopeo(20, "pull"),
        podman(20),
        Row(
            "small_images_per_s", f"{small} small images, 4 parallel clients", "images/s", True, 1.0
        ),
        Row(
            "upload_mono_cpu_s_per_gib",
            "Server CPU per GiB, monolithic upload",
            "s/GiB",
            False,
            0.5,
        ),
        Row(
            "upload_chunked_cpu_s_per_gib",
            "Server CPU per GiB, chunked upload",
            "s/GiB",
            False,
            0.5,
        ),
        Row(
            "skopeo1_push_cpu_s_per_gib",
            "Server CPU per GiB, skopeo push (1 layer)",
            "s/GiB",
            False,
            0.5,
        ),
        pull_cpu("download_first_cpu_s_per_gib", "first download"),
        pull_cpu("download_cpu_s_per_gib", "second download"),
        pull_cpu("download_cold_cpu_s_per_gib", "cold download"),
        pull_cpu("concurrent_same_cpu_s_per_gib", "16 clients, same blob"),
        pull_cpu("concurrent_distinct_cpu_s_per_gib", "16 clients, distinct blobs"),
        pull_cpu("skopeo1_pull_cpu_s_per_gib", "skopeo pull (1 layer)"),
        pull_cpu("podman1_pull_cpu_s_per_gib", "podman pull (1 layer)"),
        pull_cpu("podman20_pull_cpu_s_per_gib", "podman pull (20 layers)"),
        Row("small_cpu_ms_per_image", "Server CPU per small image pushed", "ms", False),
        Row("peak_rss_mib", "Peak server RSS (process tree)", "MiB", False),
    ]


def summarize(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict]]:
    """{registry: {metric: {median, min, max, values}}}."""
    out: dict[str, dict[str, dict]] = {}
    for registry, metrics in samples.items():
        out[registry] = {
            m: {"median": statistics.median(v), "min": min(v), "max": max(v), "values": v}
            for m, v in metrics.items()
            if v
        }
    return out


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(summary: dict, registry: str, row: Row) -> str:
    stats = summary.get(registry, {}).get(row.metric)
    if stats is None:
        return "n/a"
    text = _fmt(stats["median"])
    secs = summary[registry].get(row.seconds) if row.seconds else None
    return f"{text} ({secs['median']:.2f} s)" if secs else text


def _ratio(summary: dict, row: Row) -> tuple[str, str]:
    a = summary.get(A, {}).get(row.metric)
    b = summary.get(B, {}).get(row.metric)
    target = ""
    if row.target is not None:
        target = f"{'>=' if row.higher_is_better else '<='} {row.target:g}x"
    if not a or not b or not b["median"]:
        return "n/a", target
    ratio = a["median"] / b["median"]
    if row.target is None:
        return f"{ratio:.2f}x", ""
    return f"{ratio:.2f}x", f"{target}: {'yes' if row.met(ratio) else '**no**'}"


def markdown(summary: dict, meta: dict, errors: list[dict]) -> str:
    lines = [
        f"# Dockyard vs distribution, {meta['date']}",
        "",
        (
            f"Mode: **{meta['mode']}** (blob and image size {meta['size_label']}), median of "
            f"{meta['runs']} run(s) per figure; {meta['cores']} cores; load average "
            f"{meta['load_before']} before, {meta['load_after']} after; "
            f"{meta['elapsed_s']:.0f} s total."
        ),
        f"Versions: {meta['versions']}.",
        *[f"{name} command: `{cmd}`" + "  " for name, cmd in meta.get("commands", {}).items()],
        *(
            ["", "**Profiled with py-spy: Dockyard's figures are perturbed.**"]
            if meta.get("profiled")
            else []
        ),
        "",
        "| Measure | Unit | Dockyard | distribution 2.8 | Dockyard/distribution | Target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows(meta["size_label"], meta["small_count"]):
        if not any(row.metric in summary.get(r, {}) for r in (A, B)):
            continue
        ratio, target = _ratio(summary, row)
        arrow = "higher is better" if row.higher_is_better else "lower is better"
        lines.append(
            f"| {row.label} | {row.unit} ({arrow}) | {_cell(summary, A, row)} | "
            f"{_cell(summary, B, row)} | {ratio} | {target} |"
        )
    lines += ["", "MB = 10^6 bytes. Spread over runs (min-max):", ""]
    lines += _spread(summary, meta)
    if errors:
        lines += ["", "Errors:", ""]
        lines += [
            f"- {e['registry']} / {e['scenario']} / run {e['run']}: `{_one_line(e['error'])}`"
            for e in errors
        ]
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= limit else "..." + flat[-limit:]


def _spread(summary: dict, meta: dict) -> list[str]:
    out = ["| Measure | Dockyard | distribution |", "|---|---:|---:|"]
    for row in rows(meta["size_label"], meta["small_count"]):
        cells = []
        for registry in (A, B):
            s = summary.get(registry, {}).get(row.metric)
            cells.append(f"{_fmt(s['min'])} - {_fmt(s['max'])}" if s else "n/a")
        if cells != ["n/a", "n/a"]:
            out.append(f"| {row.label} | {cells[0]} | {cells[1]} |")
    return out
