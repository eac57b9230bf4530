"""The pull-through cache, side by side in one run (issue 14, "Speed"):

    python benchmarks/pull_through_bench.py [--size-mib 1024] [--clients 10] [--tmpdir DIR]

One upstream (Debian's `docker-registry`, htpasswd Basic auth, on loopback) holds a single-layer
image of `--size-mib` MiB (incompressible bytes). `skopeo copy` pulls it, each into a fresh OCI
layout:

    direct        from the upstream itself
    first         through Dockyard's cache, nothing cached yet (target: >= 0.8x direct)
    cached        through the cache again (target: >= any other pull from Dockyard)
    pushed        an image of the same size pushed to Dockyard (the "other pull" to compare)
    concurrent    `--clients` skopeo processes at once pulling another uncached image through
                  the cache: the upstream's access log must show one GET of its layer

Prints a Markdown table and one JSON line. The machine is shared: say how loaded it was.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent)]

from tests.support.ecr import AccessKey, ecr_client, registry_token, write_auth_file
from tests.support.server import DockyardServer
from tests.support.upstreams import PASSWORD, USER, BasicUpstream

ACCOUNT = "555555555555"
KEY = AccessKey(ACCOUNT, "AKIABENCHPULLTHRU001", "bench-pull-through-secret-0123456789abcd")
SECRET = "ecr-pullthroughcache/bench"
MiB = 1024 * 1024


def write_layout(root: Path, size: int, seed: str) -> str:
    """An OCI layout with one image of one `size`-byte layer; returns the manifest digest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    hasher, staging = hashlib.sha256(), blobs / "staging"
    noise = random.Random(seed)
    with staging.open("wb") as out:
        for _ in range(size // MiB):
            chunk = noise.randbytes(MiB)  # incompressible, as real layers are
            hasher.update(chunk)
            out.write(chunk)
    layer = hasher.hexdigest()
    staging.rename(blobs / layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer}"]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _blob(blobs, "application/vnd.oci.image.config.v1+json", config),
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{layer}",
                    "size": size,
                }
            ],
        }
    ).encode()
    descriptor = _blob(blobs, "application/vnd.oci.image.manifest.v1+json", manifest)
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return descriptor["digest"]


def _blob(blobs: Path, media_type: str, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def skopeo(*args: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *args,
        ],
        check=True,
        capture_output=True,
    )


def timed_pull(source: str, creds: str, into: Path) -> float:
    shutil.rmtree(into, ignore_errors=True)
    started = time.perf_counter()
    skopeo("--src-creds", creds, source, f"oci:{into}:x")
    elapsed = time.perf_counter() - started
    shutil.rmtree(into, ignore_errors=True)
    return elapsed


def concurrent_pulls(source: str, creds: str, clients: int, tmp: Path) -> float:
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                creds,
                source,
                f"oci:{tmp / f'client-{i}'}:x",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(clients)
    ]
    failures = [p.stderr.read().decode() for p in processes if p.wait() != 0]  # type: ignore[union-attr]
    if failures:
        raise RuntimeError(f"{len(failures)} concurrent pulls failed: {failures[0]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--tmpdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="ptc-bench-", dir=args.tmpdir))
    upstream = BasicUpstream().started()
    auth = write_auth_file(work / "auth.toml", [KEY])
    with auth.open("a") as handle:
        handle.write(
            f'[[accounts.secrets]]\nname = "{SECRET}"\nusername = "{USER}"\n'
            f'accessToken = "{PASSWORD}"\n'
        )
    dockyard = DockyardServer(
        extra_args=["--auth-file", str(auth), "--insecure-upstream", upstream.address]
    )
    try:
        dockyard.start()
        ecr = ecr_client(dockyard.url, KEY)
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="cache",
            upstreamRegistryUrl=upstream.address,
            credentialArn=f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{SECRET}",
        )
        ecr.create_repository(repositoryName="plain/big")
        creds = base64.b64decode(registry_token(ecr)).decode()
        up_creds = f"{USER}:{PASSWORD}"
        for name, seed, bytes_ in (("big", "big", size), ("shared", "shared", size // 4)):
            layout = work / f"layout-{name}"
            write_layout(layout, bytes_, seed)
            skopeo(
                "--preserve-digests",
                "--dest-creds",
                up_creds,
                f"oci:{layout}:1",
                f"docker://{upstream.address}/bench/{name}:1",
            )
        skopeo(
            "--preserve-digests",
            "--dest-creds",
            creds,
            f"oci:{work / 'layout-big'}:1",
            f"docker://{dockyard.address}/plain/big:1",
        )
        out = work / "out"
        results = {
            "direct": timed_pull(f"docker://{upstream.address}/bench/big:1", up_creds, out),
            "first": timed_pull(f"docker://{dockyard.address}/cache/bench/big:1", creds, out),
            "cached": timed_pull(f"docker://{dockyard.address}/cache/bench/big:1", creds, out),
            "pushed": timed_pull(f"docker://{dockyard.address}/plain/big:1", creds, out),
        }
        before = upstream.blob_fetches()
        results["concurrent"] = concurrent_pulls(
            f"docker://{dockyard.address}/cache/bench/shared:1", creds, args.clients, work
        )
        fetches = sum((upstream.blob_fetches() - before).values())
    finally:
        dockyard.close()
        upstream.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results, size, args.clients, fetches)
    return 0


def report(results: dict[str, float], size: int, clients: int, fetches: int) -> None:
    rate = {k: size / v / 1e6 for k, v in results.items() if k != "concurrent"}
    print(f"| pull of a {size // MiB} MiB single-layer image | seconds | MB/s | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| direct from the upstream | {results['direct']:.2f} | {rate['direct']:.0f} | 1.00 | |")
    print(
        f"| first pull through the cache | {results['first']:.2f} | {rate['first']:.0f} | "
        f"{results['direct'] / results['first']:.2f} x direct | >= 0.8 |"
    )
    print(
        f"| cached pull | {results['cached']:.2f} | {rate['cached']:.0f} | "
        f"{results['pushed'] / results['cached']:.2f} x pushed | >= 1.0 |"
    )
    print(
        f"| pull of the same image pushed to Dockyard | {results['pushed']:.2f} | "
        f"{rate['pushed']:.0f} | | |"
    )
    print(
        f"| {clients} clients at once, uncached {size // 4 // MiB} MiB image | "
        f"{results['concurrent']:.2f} | | {fetches} upstream blob GETs (2 blobs) | 2 |"
    )
    load = os.getloadavg()[0]
    print(json.dumps({"seconds": results, "upstream_blob_gets": fetches, "load1": load}))


if __name__ == "__main__":
    raise SystemExit(main())
