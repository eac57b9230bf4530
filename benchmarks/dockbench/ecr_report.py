"""Markdown for ecr_bench.py: Dockyard vs moto at N, PutImage per block, Dockyard as the
repository grows, and the targets with whether each was met."""

from __future__ import annotations

PAGE_MS_TARGET = 15.0
PAGE_GROWTH_TARGET = 1.5
LISTING_TARGET = 10.0
PUT_TARGET = 300.0
POSITIONS = ("start", "middle", "end")


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _ms(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _s(x: float) -> str:
    return f"{x:,.2f}" if x < 10 else f"{x:,.1f}"


def _x(a: float, b: float) -> str:
    return "n/a" if not a or not b else f"{a / b:,.1f}x"


def _table(head: str, align: str, rows: list[tuple]) -> list[str]:
    return [head, align, *["| " + " | ".join(str(c) for c in row) + " |" for row in rows]]


def render(r: dict) -> str:
    env, load = r.get("env", {}), r["load"]
    intro = (
        f"{env.get('date')}, commit {env.get('commit')} (source snapshot sha256 "
        f"{env.get('source_sha256')}), Python {env.get('python')}, boto3 {env.get('boto3')}, "
        f"SQLite {env.get('sqlite')}, {env.get('cpus')} CPUs. Load average (1/5/15 min): start "
        f"{load.get('start')}, after the N phase {load.get('after_n', '?')}, end "
        f"{load.get('end', '?')}."
    )
    servers = (
        f"`{env.get('command')}`; servers: `{env.get('dockyard_cmd')}`, `{env.get('moto_cmd')}`."
        " Times are client-side (boto3, retries off)."
    )
    out = [
        f"## ECR API benchmark: Dockyard vs moto {env.get('moto', '')}",
        "",
        intro,
        "",
        servers,
        "",
    ]
    if _have_n(r):
        out += [*_versus(r), "", *_blocks(r), ""]
    if r.get("scale") or _base(r):
        out += [*_scale(r), ""]
    out += [*_targets(r), ""]
    if r.get("failed"):
        out += [f"**Run failed:** `{r['failed']}` (figures above are what was measured).", ""]
    return "\n".join(out)


def _have_n(r: dict) -> bool:
    return "at_n" in r and "ids" in r["at_n"]["moto"]


def _base(r: dict) -> dict | None:
    return r.get("at_n", {}).get("dockyard", {}).get("positions")


def _versus(r: dict) -> list[str]:
    d, m = r["at_n"]["dockyard"], r["at_n"]["moto"]
    fd, fm = r["fill"]["dockyard"], r["fill"]["moto"]
    wd, wm = _whole(fd, r["fill"]["block"]), _whole(fm, r["fill"]["block"])

    def rate(label: str, a: float, b: float) -> tuple:
        return (label, _n(a), _n(b), _x(a, b))

    def time(label: str, a: float, b: float, fmt=_ms) -> tuple:
        return (label, fmt(a), fmt(b), _x(b, a))

    lst, l1k, tag, ids = d["listing"], d["listing_1000"], d["tagged"], d["ids"]
    rows = [
        rate("PutImage, whole fill (images/s)", wd, wm),
        rate("PutImage, first block (images/s)", fd[0]["rate"], fm[0]["rate"]),
        rate("PutImage, last block (images/s)", fd[-1]["rate"], fm[-1]["rate"]),
        time(
            f"DescribeImages default page, median ms (images returned: {d['page']['images']} "
            f"/ {m['page']['images']})",
            d["page"]["median_ms"],
            m["page"]["median_ms"],
        ),
        time("DescribeImages default page, p95 ms", d["page"]["p95_ms"], m["page"]["p95_ms"]),
        time(
            f"Full listing with the paginator, s (pages {lst['pages']} / "
            f"{m['listing']['pages']}; images {lst['count']:,} / {m['listing']['count']:,})",
            lst["median_s"],
            m["listing"]["median_s"],
            _s,
        ),
        time(
            f"Full listing with maxResults=1000, s (pages {l1k['pages']} / "
            f"{m['listing_1000']['pages']})",
            l1k["median_s"],
            m["listing_1000"]["median_s"],
            _s,
        ),
        time(
            f"TAGGED listing, s (images {tag['count']:,} / {m['tagged']['count']:,}; of them "
            f"tagged {tag['tagged']:,} / {m['tagged']['tagged']:,})",
            tag["median_s"],
            m["tagged"]["median_s"],
            _s,
        ),
        time(
            f"DescribeImages of 10 digests, median ms (images {ids['images']} / "
            f"{m['ids']['images']})",
            ids["median_ms"],
            m["ids"]["median_ms"],
        ),
        time(
            "Server CPU per PutImage, ms (median of blocks)",
            _mid(fd, "server_cpu_ms"),
            _mid(fm, "server_cpu_ms"),
        ),
        time(
            "Server CPU per default page, ms",
            d["page"]["server_cpu_ms"],
            m["page"]["server_cpu_ms"],
        ),
    ]
    canned = r["at_n"].get("canned")
    if canned:
        rows += [
            (
                "boto3 floor: the same 100-image page replayed by a do-nothing server, median ms",
                _ms(canned["median_ms"]),
                "",
                "",
            ),
            (
                "boto3 floor: PutImage against a do-nothing server, median ms (images/s)",
                f"{canned['put_median_ms']:.2f} ({_n(canned['put_rate'])})",
                "",
                "",
            ),
        ]
    note = (
        "Advantage: moto time / Dockyard time, or Dockyard rate / moto rate (above 1x: Dockyard "
        f"is faster). Calls per latency figure: Dockyard {d['page']['calls']}, moto "
        f"{m['page']['calls']} (page) and {m['ids']['calls']} (ids); listings: median of "
        f"{lst['runs']} / {m['listing']['runs']} runs. moto: {r.get('moto_layers', '')}."
    )
    return [
        f"### {r['n']:,} images in one repository, both servers",
        "",
        *_table("| Figure | Dockyard | moto | Dockyard advantage |", "|---|---:|---:|---:|", rows),
        "",
        note,
    ]


def _mid(blocks: list[dict], key: str) -> float:
    values = sorted(b[key] for b in blocks)
    return values[len(values) // 2]


def _whole(blocks: list[dict], size: int) -> float:
    return len(blocks) * size / sum(size / b["rate"] for b in blocks)


def _blocks(r: dict) -> list[str]:
    size, fd, fm = r["fill"]["block"], r["fill"]["dockyard"], r["fill"]["moto"]

    def cell(b: dict) -> str:
        return f"{_n(b['rate'])} ({_ms(b['median_ms'])} / {_ms(b['server_cpu_ms'])})"

    rows = [
        (f"{i * size:,}-{(i + 1) * size:,}", cell(a), cell(b), _x(a["rate"], b["rate"]))
        for i, (a, b) in enumerate(zip(fd, fm, strict=True))
    ]
    return [
        (
            f"PutImage per block of {size:,} as the repository grows: images/s (median call ms "
            "/ server CPU ms per call):"
        ),
        "",
        *_table(
            "| Images in the repository | Dockyard | moto | Dockyard advantage |",
            "|---|---:|---:|---:|",
            rows,
        ),
    ]


def _scale(r: dict) -> list[str]:
    base = _base(r)
    sizes = [(r["n"], base, None)] if base else []
    sizes += [
        (int(k), s["positions"], s) for k, s in sorted(r["scale"].items(), key=lambda t: int(t[0]))
    ]
    rows = []
    for size, pos, s in sizes:
        pages = [
            f"{_ms(pos[w]['median_ms'])} / {_ms(pos[w]['p95_ms'])} / {_ms(pos[w]['server_cpu_ms'])}"
            for w in POSITIONS
        ]
        if s is None:
            last = r["fill"]["dockyard"][-1]
            fill = "PutImage (above)"
            put = f"{_n(last['rate'])} (last block above; {_ms(last['server_cpu_ms'])} ms CPU)"
        else:
            blocks = s["put"]["blocks"]
            fill = f"{_s(s['fill_s'])} s ({s['by_store']:,} save_image + {s['bulk']:,} bulk)"
            put = (
                f"{_n(s['put']['rate'])} (blocks of 100: {_n(min(blocks))}-"
                f"{_n(max(blocks))}; {_ms(s['put']['server_cpu_ms'])} ms CPU)"
            )
        walk = f"{_s(pos['walk_s'])} (by {pos['walk_page']:,})"
        rows.append((f"{size:,}", fill, *pages, walk, put))
    note = (
        "Pages are default DescribeImages pages (100 images) at the listing's start (no token), "
        "middle and end (tokens from paging through with maxResults=1,000, or size/10 when "
        'smaller; "end" is the last full page). Server CPU is per call.'
    )
    head = (
        "| Images | Offline fill | Page at start: median / p95 / server CPU, ms | middle | "
        "end | Listing all, s (maxResults) | PutImage 1,000 more, images/s |"
    )
    return [
        "### Dockyard alone as the repository grows (SQLite)",
        "",
        *_table(head, "|---:|---|---:|---:|---:|---:|---|", rows),
        "",
        note,
    ]


def _targets(r: dict) -> list[str]:
    rows = _targets_n(r) if _have_n(r) else []
    if r.get("scale") and _base(r):
        rows += _targets_scale(r)
    return [
        "### Targets",
        "",
        *_table(
            "| Target | Measured | Met |",
            "|---|---:|---|",
            [(a, b, "yes" if ok else "**no**") for a, b, ok in rows],
        ),
    ]


def _targets_n(r: dict) -> list[tuple]:
    d, m, fd = r["at_n"]["dockyard"], r["at_n"]["moto"], r["fill"]["dockyard"]
    ratio = m["listing"]["median_s"] / d["listing"]["median_s"]
    rates = [b["rate"] for b in fd]
    cpu = [b["server_cpu_ms"] for b in fd]
    mcpu = [b["server_cpu_ms"] for b in r["fill"]["moto"]]
    return [
        (
            f"full listing of {r['n']:,} at least {LISTING_TARGET:.0f}x faster than moto",
            f"{ratio:.1f}x",
            ratio >= LISTING_TARGET,
        ),
        (
            f"PutImage >= {PUT_TARGET:.0f} images/s in every block",
            f"{min(rates):.0f}-{max(rates):.0f}/s",
            min(rates) >= PUT_TARGET,
        ),
        (
            "PutImage flat as the repository grows (last block >= 0.8x first)",
            f"{rates[-1] / rates[0]:.2f}x",
            rates[-1] >= 0.8 * rates[0],
        ),
        (
            (
                "... the same in server CPU per PutImage (last block <= 1.25x first; moto: "
                f"{mcpu[0]:.1f} -> {mcpu[-1]:.1f} ms, {mcpu[-1] / mcpu[0]:.2f}x)"
            ),
            f"{cpu[0]:.1f} -> {cpu[-1]:.1f} ms, {cpu[-1] / cpu[0]:.2f}x",
            cpu[-1] <= 1.25 * cpu[0],
        ),
    ]


def _targets_scale(r: dict) -> list[tuple]:
    base, top = _base(r), max(r["scale"], key=int)
    pos = r["scale"][top]["positions"]
    worst = max(pos[w]["median_ms"] for w in POSITIONS)
    ref = max(base[w]["median_ms"] for w in POSITIONS)
    cpu_top = max(pos[w]["server_cpu_ms"] for w in POSITIONS)
    cpu_ref = max(base[w]["server_cpu_ms"] for w in POSITIONS)
    puts = [s["put"]["rate"] for s in r["scale"].values()]
    return [
        (
            (
                f"page at {int(top):,} within {PAGE_GROWTH_TARGET}x of at {r['n']:,} (slowest "
                "position, medians)"
            ),
            f"{worst / ref:.2f}x",
            worst <= PAGE_GROWTH_TARGET * ref,
        ),
        (
            "... the same in server CPU per page (slowest position)",
            f"{cpu_ref:.1f} -> {cpu_top:.1f} ms, {cpu_top / cpu_ref:.2f}x",
            cpu_top <= PAGE_GROWTH_TARGET * cpu_ref,
        ),
        (
            f"page median at {int(top):,} below {PAGE_MS_TARGET:.0f} ms (every position)",
            f"{worst:.1f} ms",
            worst < PAGE_MS_TARGET,
        ),
        (
            f"PutImage >= {PUT_TARGET:.0f} images/s at every larger size",
            f"{min(puts):.0f}/s",
            min(puts) >= PUT_TARGET,
        ),
    ]
