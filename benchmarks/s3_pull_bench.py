#!/usr/bin/env python3
"""A blob GET proxied by Dockyard from S3 (no `--redirect-blobs`) against reading it straight
from the same store, with the server's memory while it streams.

    python benchmarks/s3_pull_bench.py [--size-mib 256] [--runs 3]

One moto S3 server (as the tests run it), one Dockyard on it. One blob is pushed, then each run
reads it three ways, in an order that rotates from run to run:

    getobject   boto3 `get_object` from moto, body read in 1 MiB chunks (what the issue names)
    presigned   a presigned GET URL fetched with the same raw HTTP client as the proxy case
    proxied     `GET /v2/<repo>/blobs/<digest>` from Dockyard, which reads it from moto

The server's peak RSS during the proxied GETs is its kernel high-water mark (VmHWM), reset
just before each GET (`/proc/<pid>/clear_refs` = 5), minus its RSS before the GET: how much the
stream itself holds. Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3
from botocore.config import Config
from dockbench import data
from dockbench.client import Client
from dockbench.procstat import cpu_seconds
from dockbench.scale_servers import s3_environment, start_moto
from dockbench.servers import registries

MiB = 1 << 20
CHUNK = MiB


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mib", type=int, default=256, help="blob size")
    p.add_argument("--runs", type=int, default=3, help="runs per way; medians reported")
    return p.parse_args()


def read_getobject(s3, bucket: str, key: str) -> int:
    body, total = s3.get_object(Bucket=bucket, Key=key)["Body"], 0
    for chunk in body.iter_chunks(CHUNK):
        total += len(chunk)
    return total


def read_url(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"GET {parts.path}: HTTP {resp.status}")
        buf, total = memoryview(bytearray(CHUNK)), 0
        while n := resp.readinto(buf):
            total += n
        return total
    finally:
        conn.close()


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, moto, bucket: str, server, repo: str, src) -> None:
        self.moto, self.bucket, self.server, self.repo, self.src = moto, bucket, server, repo, src
        # As Dockyard's own client (s3/config.py): objects it composed by server-side copies
        # carry composite checksums that a whole-object check would refuse.
        self.s3 = boto3.client(
            "s3",
            endpoint_url=moto.endpoint,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"}, response_checksum_validation="when_required"
            ),
        )
        self.key = self._blob_key()
        self.samples: dict[str, list[float]] = {}

    def _blob_key(self) -> str:
        hexdigest = self.src.digest.split(":", 1)[1]
        listed = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", ())
        return next(o["Key"] for o in listed if o["Key"].endswith(hexdigest))

    def way(self, name: str) -> None:
        fetch = {
            "getobject": lambda: read_getobject(self.s3, self.bucket, self.key),
            "presigned": lambda: read_url(
                self.s3.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": self.key}
                )
            ),
            "proxied": self._proxied,
        }[name]
        cpu0, t0 = cpu_seconds(self.server.pid), time.perf_counter()
        got = fetch()
        wall = time.perf_counter() - t0
        if got != self.src.size:
            raise RuntimeError(f"{name}: {got} bytes, expected {self.src.size}")
        self.add(f"{name}_mbps", self.src.size / 1e6 / wall)
        if name == "proxied":
            self.add(
                "proxied_cpu_s_per_gib",
                (cpu_seconds(self.server.pid) - cpu0) / (self.src.size / (1 << 30)),
            )

    def _proxied(self) -> int:
        pid = self.server.pid
        before = status_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5\n")  # reset VmHWM to the current RSS
        client = Client(self.server.address)
        try:
            got = client.get_blob(self.repo, self.src.digest)
        finally:
            client.close()
        self.add("proxied_rss_growth_mib", (status_kib(pid, "VmHWM") - before) / 1024)
        return got

    def add(self, metric: str, value: float) -> None:
        self.samples.setdefault(metric, []).append(value)


def report(bench: Bench, args: argparse.Namespace) -> str:
    med = {k: statistics.median(v) for k, v in bench.samples.items()}
    spread = {k: f"{min(v):.0f}-{max(v):.0f}" for k, v in bench.samples.items()}
    rows = [
        ("boto3 GetObject from moto, MB/s", "getobject_mbps"),
        ("presigned URL GET from moto (raw HTTP client), MB/s", "presigned_mbps"),
        ("Dockyard proxied GET (no redirect), MB/s", "proxied_mbps"),
        ("Dockyard server CPU per GiB proxied, s", "proxied_cpu_s_per_gib"),
        ("Dockyard peak RSS growth during the GET, MiB", "proxied_rss_growth_mib"),
    ]
    lines = [
        (
            f"{args.size_mib} MiB blob, median of {args.runs} runs; load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        ),
        "",
        "| Measure | median | min-max |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {med[m]:.2f} | {spread[m]} |" for label, m in rows if m in med]
    lines += [
        "",
        (
            f"proxied / GetObject: {med['proxied_mbps'] / med['getobject_mbps']:.2f}x; "
            f"proxied / presigned: {med['proxied_mbps'] / med['presigned_mbps']:.2f}x"
        ),
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    os.environ.update(s3_environment())
    work = Path(tempfile.mkdtemp(prefix="dockyard-s3-pull-"))
    moto = start_moto()
    server = None
    try:
        bucket = moto.bucket()
        dockyard = registries()["dockyard"]
        dockyard.extra_args = ["--storage-url", moto.url(bucket, "bench")]
        server = dockyard.start(work / "dockyard")
        src = data.make_blob_template(work / "blob.bin", args.size_mib * MiB).variant()
        client = Client(server.address)
        client.put_monolithic("bench/s3", src)
        client.close()
        bench = Bench(moto, bucket, server, "bench/s3", src)
        ways = ["getobject", "presigned", "proxied"]
        for run in range(args.runs):
            for way in ways[run % 3 :] + ways[: run % 3]:
                bench.way(way)
        print(report(bench, args))
    finally:
        if server is not None:
            server.stop()
        moto.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
