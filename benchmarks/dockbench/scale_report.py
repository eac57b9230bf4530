"""Markdown for scale_bench.py: latency at size per backend, push throughput per layout, targets."""

from __future__ import annotations

PAGE_TARGET_MS = 20.0  # page median at the largest size, every position (issue 5)
FLAT_TARGET = 1.5  # slowest-position median at the largest size / at 1,000
PUSH_TARGET = 1.6  # 2 processes / 1 process, PostgreSQL + S3


def render(r: dict) -> str:
    env, load = r["env"], r["load"]
    lines = [
        "## Scale-out benchmark: PostgreSQL at size, pushes over several processes",
        "",
        f"{env['date']}, commit {env['commit']}, {env['cpus']} CPUs; run took {r['seconds']:.0f} s."
        f" Load average (1/5/15 min): " + ", ".join(f"{k} {v}" for k, v in load.items()) + ".",
        f"`{env['command']}`",
        "",
    ]
    if r.get("failed"):
        lines += [f"**Run failed:** {r['failed']} (figures below are what was measured before).",
                  ""]  # fmt: skip
    if r["latency"]:
        lines += _latency(r)
    if r["push"]:
        lines += _push(r)
    lines += _targets(r)
    return "\n".join(lines) + "\n"


def _cell(pos: dict) -> str:
    return f"{pos['median_ms']:.1f} / {pos['p95_ms']:.1f}"


def _cpu(positions: dict) -> str:
    """Server CPU per page (Dockyard, + PostgreSQL), the slowest position: steadier than time."""
    worst = max(("start", "middle", "end"), key=lambda w: positions[w]["server_cpu_ms"] or 0)
    pos = positions[worst]
    db = f" + {pos['db_cpu_ms']:.1f}" if "db_cpu_ms" in pos else ""
    return f"{pos['server_cpu_ms']:.1f}{db}"


def _latency(r: dict) -> list[str]:
    lines = [
        "### DescribeImages page latency and PutImage, one repository (boto3, client-side)",
        "",
        (
            "| Backend | Images | Page at start, median / p95 ms | middle | end | "
            "CPU ms per page: Dockyard + PostgreSQL | PutImage, images/s (median ms) | "
            "Offline fill to this size |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for backend, sizes in r["latency"].items():
        for size, res in sorted(sizes.items(), key=lambda kv: int(kv[0])):
            pos, put = res["positions"], res["put"]
            fill = res.get("fill")
            how = "PutImage" if fill is None else _fill_text(backend, fill)
            walked = "" if pos.get("walked", True) else " (minted tokens)"
            lines.append(
                f"| {_backend(backend)} | {int(size):,}{walked} | {_cell(pos['start'])} | "
                f"{_cell(pos['middle'])} | {_cell(pos['end'])} | {_cpu(pos)} | "
                f"{put['rate']:.0f} ({put['median_ms']:.1f}) | {how} |"
            )
    a = r["args"]
    lines += [
        "",
        (
            f"Pages: {a['calls']} default DescribeImages calls (100 images) per position. Up to "
            f"{a['walk_max']:,} images the whole listing is first walked by 1,000 (every image must "
            "be listed exactly once); middle and end tokens are minted with the server's key and code "
            "(dockbench/scale_tokens.py), checked equal to the ones the walk got. CPU per page: the "
            "slowest position's Dockyard process tree, plus PostgreSQL's postmaster tree (SQLite runs "
            f"inside Dockyard). PutImage: at 1,000 the 1,000 that filled the repository, at larger "
            f"sizes {a['puts']:,} more, in sequence, each a new manifest (half tagged), timed "
            "client-side; the rows they add are checked."
        ),
        "",
    ]
    return lines


def _backend(name: str) -> str:
    return {"postgres": "PostgreSQL", "sqlite": "SQLite"}.get(name, name)


def _fill_text(backend: str, fill: dict) -> str:
    how = "COPY" if backend == "postgres" else "executemany"
    text = f"{fill['fill_s']:.0f} s (1,000 save_image + {fill['bulk']:,} {how})"
    if fill.get("settle_s"):
        text += f", VACUUM ANALYZE {fill['settle_s']:.0f} s"
    return text


COMPONENTS = ("dockyard", "postgres", "moto", "client")


def _push(r: dict) -> list[str]:
    a = r["args"]
    cores = r["env"]["cpus"]
    lines = [
        f"### Aggregate push throughput: {a['push_images']} small images at once",
        "",
        (
            "| Configuration | images/s | vs 1 process, same stores | CPU ms per image: Dockyard / "
            f"PostgreSQL / moto / client = total | at most, on {cores} cores (images/s) |"
        ),
        "|---|---:|---:|---|---:|",
    ]
    for res in r["push"]:
        base = _single(r, res["storage"])
        several = res["processes"] * res["workers"] > 1
        ratio = f"{res['rate'] / base:.2f}x" if base and several else ""
        per = res["cpu_ms_per_image"]
        total = sum(per.values())
        parts = " / ".join(f"{per[c]:.0f}" if c in per else "-" for c in COMPONENTS)
        lines.append(f"| {res['label']} | {res['rate']:.1f} | {ratio} | {parts} = {total:.0f} | "
                     f"{1000 * cores / total:.0f} |")  # fmt: skip
    lines += [
        "",
        (
            f"Median of {a['rounds']} round(s) of fresh images (one client thread and connection each, "
            f"released together; image i goes to process i mod P; {a['repos']} repositories; per blob "
            "HEAD, POST, PUT, then the manifest PUT by tag). CPU: each component's process tree from "
            '/proc over the round (the client: the benchmark\'s own threads). "At most": the '
            "machine's cores divided by the CPU one image costs all components together, the rate "
            "no spreading of the work over processes can exceed here."
        ),
        "",
    ]
    return lines


def _single(r: dict, storage: str) -> float | None:
    for res in r["push"]:
        if res["storage"] == storage and res["processes"] == 1 and res["workers"] == 1:
            return res["rate"]
    return None


def _targets(r: dict) -> list[str]:
    rows = []
    pg = r["latency"].get("postgres")
    if pg:
        sizes = sorted(pg, key=int)
        largest, first = pg[sizes[-1]]["positions"], pg[sizes[0]]["positions"]
        slowest = max(largest[w]["median_ms"] for w in ("start", "middle", "end"))
        at_first = max(first[w]["median_ms"] for w in ("start", "middle", "end"))
        rows.append(((f"PostgreSQL page median below {PAGE_TARGET_MS:.0f} ms at "
                     f"{int(sizes[-1]):,} (every position)"), f"{slowest:.1f} ms",
                     slowest < PAGE_TARGET_MS))  # fmt: skip
        rows.append(((f"PostgreSQL flat: slowest page at {int(sizes[-1]):,} within "
                     f"{FLAT_TARGET}x of at {int(sizes[0]):,}"), f"{slowest / at_first:.2f}x",
                     slowest / at_first <= FLAT_TARGET))  # fmt: skip
    two = [p for p in r["push"] if p["storage"] == "s3" and p["processes"] == 2]
    base = _single(r, "s3")
    if two and base:
        ratio = two[0]["rate"] / base
        rows.append((f"PostgreSQL + S3: 2 processes >= {PUSH_TARGET}x one", f"{ratio:.2f}x",
                     ratio >= PUSH_TARGET))  # fmt: skip
    if not rows:
        return []
    lines = ["### Targets", "", "| Target | Measured | Met |", "|---|---:|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    return [*lines, ""]
