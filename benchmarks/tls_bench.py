#!/usr/bin/env python3
"""Monolithic blob upload over HTTPS vs plain HTTP on loopback (`serve --tls-cert/--tls-key`).

    python benchmarks/tls_bench.py [--size-mib 256] [--runs 5]

Starts Dockyard twice on the same kind of data directory, once plain and once with a
certificate made here (ECDSA P-256, as a modern deployment would), and uploads one random blob
with curl (POST, then one PUT of the whole body with ?digest=), alternating the servers run by
run. Prints MB/s medians and the ratio HTTPS/HTTP.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dockbench.servers import REPO_ROOT, free_port


def certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start(work: Path, name: str, tls: tuple[Path, Path] | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "dockyard",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(work / name),
        "--create-on-push",
        "--accept-any-credentials",
    ]
    if tls:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - open while the server runs
    process = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"{'https' if tls else 'http'}://localhost:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", verify=False, timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{name} server did not start; see {work / name}.log")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload(
    url: str, blob: Path, digest: str, cafile: Path | None, run: int, pid: int
) -> tuple[float, float]:
    tls = ["--cacert", str(cafile)] if cafile else []
    started = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            "-D",
            "-",
            "-o",
            "/dev/null",
            *tls,
            f"{url}/v2/bench/tls{run}/blobs/uploads/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    location = next(
        line.split(":", 1)[1].strip()
        for line in started.stdout.splitlines()
        if line.lower().startswith("location:")
    )
    target = location if location.startswith("http") else url + location
    target += ("&" if "?" in target else "?") + f"digest={digest}"
    began, cpu = time.perf_counter(), cpu_seconds(pid)
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "PUT",
            "-T",
            str(blob),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/octet-stream",
            *tls,
            target,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
    if done.stdout != "201":
        raise SystemExit(f"upload answered {done.stdout}: {done.stderr}")
    return blob.stat().st_size / seconds / 1e6, cpu / (blob.stat().st_size / 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
        work = Path(tmp)
        blob = work / "blob"
        blob.write_bytes(os.urandom(args.size_mib << 20))
        digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
        cert, key = certificate(work)
        servers = {"http": start(work, "http", None), "https": start(work, "https", (cert, key))}
        speeds: dict[str, list[float]] = {"http": [], "https": []}
        cpu: dict[str, list[float]] = {"http": [], "https": []}
        try:
            for run in range(args.runs):
                order = ("http", "https") if run % 2 == 0 else ("https", "http")
                for name in order:
                    process, url = servers[name]
                    speed, seconds_per_gb = upload(
                        url, blob, digest, cert if name == "https" else None, run, process.pid
                    )
                    speeds[name].append(speed)
                    cpu[name].append(seconds_per_gb)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(30)
    http, https = (statistics.median(speeds[n]) for n in ("http", "https"))
    print(
        f"{args.size_mib} MiB monolithic upload, median of {args.runs}: "
        f"HTTP {http:.0f} MB/s, HTTPS {https:.0f} MB/s, ratio {https / http:.2f}"
    )
    http_cpu, https_cpu = (statistics.median(cpu[n]) for n in ("http", "https"))
    print(f"server CPU per GB: HTTP {http_cpu:.2f} s, HTTPS {https_cpu:.2f} s")
    print(
        f"samples: http {[round(s) for s in speeds['http']]}, "
        f"https {[round(s) for s in speeds['https']]}"
    )


if __name__ == "__main__":
    main()
