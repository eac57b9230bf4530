"""The web console on a large repository: how fast the images page answers, and what it weighs.

    fill (server stopped)   one repository of N images (default 100,000; half tagged) written
                            with the ECR benchmark's bulk fill (dockbench/ecr_fill.py: the rows
                            PutImage writes), and an auth file with one access key
    serve                   `python -m dockyard serve` on that data directory
    sign in                 through the console's form, as a browser does (httpx, cookies)
    measure                 GET of the images page: first page newest first, oldest first,
                            untagged only, and page 20 (following "Next page"); each timed
                            --runs times over one keep-alive loopback connection (so it is the
                            server's time plus a loopback round trip); and the page's weight:
                            HTML + the stylesheet + the script it links (no other resources)

    python benchmarks/console_bench.py                   # 100,000 images, 30 runs each
    python benchmarks/console_bench.py --images 20000 --runs 10

Targets (issue 15): under 100 ms on the server, under 150 KB for the whole page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from dockbench.ecr_fill import ImageSet, fill_bulk

ACCOUNT, KEY_ID, SECRET = "123456789012", "AKIACONSOLEBENCH0001", "console-bench-secret"
REPO = "bench/console"
PAGE_MS_TARGET, WEIGHT_KB_TARGET = 100.0, 150.0


def fill(data_dir: Path, count: int) -> Path:
    from dockyard.backends.metadata.sql import SqlMetadataStore

    data_dir.mkdir(parents=True)
    url = f"sqlite:///{data_dir / 'dockyard.db'}"
    store = SqlMetadataStore(url)  # creates the schema
    repo = store.create_repository(ACCOUNT, REPO, time.time())
    store.close()
    images = ImageSet("sha256:" + "c" * 64, 1_234, "sha256:" + "d" * 64, 2_345_678)
    started = time.perf_counter()
    fill_bulk(url, repo.id, images, 0, count)
    print(f"filled {count:,} images in {time.perf_counter() - started:.1f} s")
    auth = data_dir.parent / "auth.toml"
    auth.write_text(
        f'[[accounts]]\nid = "{ACCOUNT}"\n[[accounts.keys]]\n'
        f'access_key_id = "{KEY_ID}"\nsecret_access_key = "{SECRET}"\n'
    )
    return auth


def serve(data_dir: Path, auth: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "dockyard",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--auth-file",
        str(auth),
    ]
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def sign_in(client: httpx.Client) -> None:
    page = client.get("/ui/sign-in")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/ui/sign-in",
        data={
            "login_token": token,
            "access_key_id": KEY_ID,
            "secret": SECRET,
            "next": "/ui/repositories",
        },
    )
    answer.raise_for_status()
    assert answer.url.path == "/ui/repositories", answer.url


def timed(client: httpx.Client, url: str, runs: int) -> tuple[list[float], httpx.Response]:
    samples, response = [], None
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return samples, response


def deep_url(client: httpx.Client, base: str, pages: int) -> str:
    url = base
    for _ in range(pages - 1):
        found = re.search(r'rel="next" href="([^"]+)"', client.get(url).text)
        url = base + found.group(1).replace("&amp;", "&")
    return url


def weight(client: httpx.Client, html: httpx.Response) -> int:
    linked = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', html.text)
    return len(html.content) + sum(len(client.get(path).content) for path in set(linked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--port", type=int, default=18731)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        auth = fill(Path(tmp) / "data", args.images)
        server = serve(Path(tmp) / "data", auth, args.port)
        try:
            measure(args)
        finally:
            server.terminate()
            server.wait(15)


def measure(args: argparse.Namespace) -> None:
    base = f"/ui/repositories/{REPO}/-/images"
    with httpx.Client(
        base_url=f"http://127.0.0.1:{args.port}", follow_redirects=True, timeout=30
    ) as client:
        sign_in(client)
        cases = {
            "first page, newest first": base,
            "oldest first": base + "?order=oldest",
            "untagged only": base + "?tag_status=UNTAGGED",
            "page 20 (keyset)": deep_url(client, base, 20),
        }
        print(
            f"| images page ({args.images:,} images, {args.runs} runs) | median ms | p95 ms "
            f"| max ms | HTML+CSS+JS KB |"
        )
        print("|---|---|---|---|---|")
        for label, url in cases.items():
            client.get(url)  # warm: first use of a statement, page cache
            samples, response = timed(client, url, args.runs)
            p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]
            kb = weight(client, response) / 1000
            print(
                f"| {label} | {statistics.median(samples):.1f} | {p95:.1f} | "
                f"{max(samples):.1f} | {kb:.1f} |"
            )
        print(f"targets: under {PAGE_MS_TARGET:.0f} ms, under {WEIGHT_KB_TARGET:.0f} KB")


if __name__ == "__main__":
    main()
