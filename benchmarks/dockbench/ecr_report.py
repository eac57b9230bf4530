"""Markdown for ecr_bench.py: Dockyard vs moto at N, PutImage per block, Dockyard at scale, and
the targets with whether each was met."""

from __future__ import annotations

PAGE_MS_TARGET = 15.0
PAGE_GROWTH_TARGET = 1.5
LISTING_TARGET = 10.0
PUT_TARGET = 300.0


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _ms(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _s(x: float) -> str:
    return f"{x:,.2f}" if x < 10 else f"{x:,.1f}"


def _x(a: float, b: float) -> str:
    return "n/a" if not a or not b else f"{a / b:,.1f}x"


def render(r: dict) -> str:
    env = r.get("env", {})
    out = [f"## ECR API benchmark: Dockyard vs moto {env.get('moto', '')}", "",
           f"{env.get('date')}, commit {env.get('commit')} (source snapshot sha256 "
           f"{env.get('source_sha256')}), Python {env.get('python')}, "
           f"boto3 {env.get('boto3')}, SQLite {env.get('sqlite')}, {env.get('cpus')} CPUs. "
           f"Load average (1/5/15 min): start {r['load'].get('start')}, after the N phase "
           f"{r['load'].get('after_n', '?')}, end {r['load'].get('end', '?')}.", "",
           f"`{env.get('command')}`; servers: `{env.get('dockyard_cmd')}`, "
           f"`{env.get('moto_cmd')}`. Times are client-side (boto3, retries off).", ""]
    if "at_n" in r and "ids" in r["at_n"]["moto"]:
        out += _versus(r) + [""] + _blocks(r) + [""]
    if r.get("scale"):
        out += _scale(r) + [""]
    out += _targets(r) + [""]
    if r.get("failed"):
        out += [f"**Run failed:** `{r['failed']}` (figures above are what was measured).", ""]
    return "\n".join(out)


def _versus(r: dict) -> list[str]:
    n, d, m = r["n"], r["at_n"]["dockyard"], r["at_n"]["moto"]
    fd, fm = r["fill"]["dockyard"], r["fill"]["moto"]
    whole_d = _whole(fd, r["fill"]["block"])
    whole_m = _whole(fm, r["fill"]["block"])
    rows = [
        ("PutImage, whole fill (images/s)", _n(whole_d), _n(whole_m), _x(whole_d, whole_m)),
        ("PutImage, first block (images/s)", _n(fd[0]["rate"]), _n(fm[0]["rate"]),
         _x(fd[0]["rate"], fm[0]["rate"])),
        ("PutImage, last block (images/s)", _n(fd[-1]["rate"]), _n(fm[-1]["rate"]),
         _x(fd[-1]["rate"], fm[-1]["rate"])),
        (f"DescribeImages default page, median ms (images returned: {d['page']['images']} / "
         f"{m['page']['images']})", _ms(d["page"]["median_ms"]), _ms(m["page"]["median_ms"]),
         _x(m["page"]["median_ms"], d["page"]["median_ms"])),
        ("DescribeImages default page, p95 ms", _ms(d["page"]["p95_ms"]),
         _ms(m["page"]["p95_ms"]), _x(m["page"]["p95_ms"], d["page"]["p95_ms"])),
        (f"Full listing with the paginator, s (pages {d['listing']['pages']} / "
         f"{m['listing']['pages']}; images {d['listing']['count']:,} / "
         f"{m['listing']['count']:,})", _s(d["listing"]["median_s"]),
         _s(m["listing"]["median_s"]), _x(m["listing"]["median_s"], d["listing"]["median_s"])),
        (f"Full listing with maxResults=1000, s (pages {d['listing_1000']['pages']} / "
         f"{m['listing_1000']['pages']})", _s(d["listing_1000"]["median_s"]),
         _s(m["listing_1000"]["median_s"]),
         _x(m["listing_1000"]["median_s"], d["listing_1000"]["median_s"])),
        (f"TAGGED listing, s (images {d['tagged']['count']:,} / {m['tagged']['count']:,}; "
         f"of them tagged {d['tagged']['tagged']:,} / {m['tagged']['tagged']:,})",
         _s(d["tagged"]["median_s"]), _s(m["tagged"]["median_s"]),
         _x(m["tagged"]["median_s"], d["tagged"]["median_s"])),
        (f"DescribeImages of 10 digests, median ms (images {d['ids']['images']} / "
         f"{m['ids']['images']})", _ms(d["ids"]["median_ms"]), _ms(m["ids"]["median_ms"]),
         _x(m["ids"]["median_ms"], d["ids"]["median_ms"])),
        ("Server CPU per PutImage, ms (median of blocks)", _ms(_mid(fd, "server_cpu_ms")),
         _ms(_mid(fm, "server_cpu_ms")), _x(_mid(fm, "server_cpu_ms"), _mid(fd, "server_cpu_ms"))),
        ("Server CPU per default page, ms", _ms(d["page"]["server_cpu_ms"]),
         _ms(m["page"]["server_cpu_ms"]), _x(m["page"]["server_cpu_ms"],
                                             d["page"]["server_cpu_ms"])),
    ]
    canned = r["at_n"].get("canned")
    if canned:
        rows.append(("boto3 floor: the same 100-image page replayed by a do-nothing server, "
                     "median ms", _ms(canned["median_ms"]), "", ""))
        rows.append(("boto3 floor: PutImage against a do-nothing server, median ms (images/s)",
                     f"{canned['put_median_ms']:.2f} ({_n(canned['put_rate'])})", "", ""))
    calls = (f"Calls per latency figure: Dockyard {d['page']['calls']}, moto {m['page']['calls']} "
             f"(page) and {m['ids']['calls']} (ids); listings: median of {d['listing']['runs']} "
             f"/ {m['listing']['runs']} runs.")
    return [f"### {n:,} images in one repository, both servers", "",
            "| Figure | Dockyard | moto | Dockyard advantage |", "|---|---:|---:|---:|",
            *[f"| {a} | {b} | {c} | {x} |" for a, b, c, x in rows], "",
            "Advantage: moto time / Dockyard time, or Dockyard rate / moto rate (above 1x: "
            f"Dockyard is faster). {calls} moto: {r.get('moto_layers', '')}."]


def _mid(blocks: list[dict], key: str) -> float:
    values = sorted(b[key] for b in blocks)
    return values[len(values) // 2]


def _whole(blocks: list[dict], size: int) -> float:
    return len(blocks) * size / sum(size / b["rate"] for b in blocks)


def _blocks(r: dict) -> list[str]:
    size, fd, fm = r["fill"]["block"], r["fill"]["dockyard"], r["fill"]["moto"]
    rows = [f"| {i * size:,}-{(i + 1) * size:,} | {_n(a['rate'])} ({_ms(a['median_ms'])} / "
            f"{_ms(a['server_cpu_ms'])}) | {_n(b['rate'])} ({_ms(b['median_ms'])} / "
            f"{_ms(b['server_cpu_ms'])}) | {_x(a['rate'], b['rate'])} |"
            for i, (a, b) in enumerate(zip(fd, fm, strict=True))]
    return [f"PutImage throughput per block of {size:,} as the repository grows, images/s "
            "(median call ms / server CPU ms per call):", "",
            "| Images in the repository | Dockyard | moto | Dockyard advantage |",
            "|---|---:|---:|---:|", *rows]


def _scale(r: dict) -> list[str]:
    base = r.get("at_n", {}).get("dockyard", {}).get("positions")
    rows = []
    sizes = ([(r["n"], base, None)] if base else []) + [
        (size, s["positions"], s) for size, s in sorted(r["scale"].items(), key=lambda t: int(t[0]))
    ]
    for size, pos, s in sizes:
        pages = " | ".join(f"{_ms(pos[w]['median_ms'])} / {_ms(pos[w]['p95_ms'])} / "
                           f"{_ms(pos[w]['server_cpu_ms'])}" for w in ("start", "middle", "end"))
        if s is None:
            fill = "PutImage (above)"
            last = r["fill"]["dockyard"][-1]
            put = f"{_n(last['rate'])} (last block above; {_ms(last['server_cpu_ms'])} ms CPU)"
        else:
            fill = f"{_s(s['fill_s'])} s ({s['by_store']:,} save_image + {s['bulk']:,} bulk)"
            put = (f"{_n(s['put']['rate'])} (blocks of 100: {_n(min(s['put']['blocks']))}-"
                   f"{_n(max(s['put']['blocks']))}; {_ms(s['put']['server_cpu_ms'])} ms CPU)")
        rows.append(f"| {int(size):,} | {fill} | {pages} | {_s(pos['walk_s'])} (by {pos['walk_page']:,}) | {put} |")
    return ["### Dockyard alone as the repository grows (SQLite)", "",
            "| Images | Offline fill | Page at start: median / p95 / server CPU, ms | middle | end | "
            "Listing all, s (maxResults) | PutImage 1,000 more, images/s |",
            "|---:|---|---:|---:|---:|---:|---|", *rows, "",
            "Pages are default DescribeImages pages (100 images) at the listing's start (no "
            "token), middle and end (tokens from paging through with maxResults=1,000, or size/10 when "
            "smaller; \"end\" is the last full page)."]


def _targets(r: dict) -> list[str]:
    rows = []
    if "at_n" in r and "ids" in r["at_n"]["moto"]:
        d, m, fd = r["at_n"]["dockyard"], r["at_n"]["moto"], r["fill"]["dockyard"]
        ratio = m["listing"]["median_s"] / d["listing"]["median_s"]
        rows.append((f"full listing of {r['n']:,} at least {LISTING_TARGET:.0f}x faster than moto",
                     f"{ratio:.1f}x", ratio >= LISTING_TARGET))
        rates = [b["rate"] for b in fd]
        rows.append((f"PutImage >= {PUT_TARGET:.0f} images/s in every block",
                     f"{min(rates):.0f}-{max(rates):.0f}/s", min(rates) >= PUT_TARGET))
        rows.append(("PutImage flat as the repository grows (last block >= 0.8x first)",
                     f"{rates[-1] / rates[0]:.2f}x", rates[-1] >= 0.8 * rates[0]))
    base = r.get("at_n", {}).get("dockyard", {}).get("positions")
    if r.get("scale") and base:
        top = max(r["scale"], key=int)
        pos = r["scale"][top]["positions"]
        worst = max(pos[w]["median_ms"] for w in ("start", "middle", "end"))
        ref = max(base[w]["median_ms"] for w in ("start", "middle", "end"))
        rows.append((f"page at {int(top):,} within {PAGE_GROWTH_TARGET}x of at {r['n']:,} "
                     "(slowest position, medians)", f"{worst / ref:.2f}x",
                     worst <= PAGE_GROWTH_TARGET * ref))
        rows.append((f"page median at {int(top):,} below {PAGE_MS_TARGET:.0f} ms (every position)",
                     f"{worst:.1f} ms", worst < PAGE_MS_TARGET))
        puts = [r["scale"][k]["put"]["rate"] for k in r["scale"]]
        rows.append((f"PutImage >= {PUT_TARGET:.0f} images/s at every larger size",
                     f"{min(puts):.0f}/s", min(puts) >= PUT_TARGET))
    return ["### Targets", "", "| Target | Measured | Met |", "|---|---:|---|",
            *[f"| {a} | {b} | {'yes' if ok else '**no**'} |" for a, b, ok in rows]]
