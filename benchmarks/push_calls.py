#!/usr/bin/env python3
"""Work per small-image push, counted in Python calls: a figure the machine's load cannot move.

    PYTHONPATH=<tree>/src python benchmarks/push_calls.py [--images 40] [--top 40]

Pushes small images (a 2 KiB layer, a config, a manifest: HEAD, POST and PUT per blob, then the
manifest) through the ASGI app in this process (no uvicorn, no sockets), with a profile hook in
every thread counting calls. Prints the calls per image and, per Dockyard/Starlette function,
the calls made inside it (inclusive) per image, heaviest first. Run it against two trees to see
where extra work went: CPU time on a shared 2-core machine stretches with the load, call counts
do not (background loops add a little in proportion to wall time). Used to profile issue 13's
small-push regression (README "The small-push regression, profiled and cut").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dockbench import data

WARM_UP = 5


class CallCounter:
    """Inclusive call counts of the functions of interest, per thread (a coroutine counts each
    time it resumes, which is what ran on its behalf)."""

    def __init__(self, interesting: tuple[str, ...] = ("dockyard", "starlette")) -> None:
        self.interesting, self.enabled, self.total = interesting, False, 0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self._threads: dict[
            int, tuple[list[int], list[tuple[Any, str, int]], collections.Counter[str]]
        ] = {}

    def install(self) -> None:
        threading.setprofile(self._hook)
        sys.setprofile(self._hook)

    def uninstall(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)

    def _hook(self, frame: Any, event: str, _arg: object) -> None:
        if not self.enabled:
            return
        count, stack, depth = self._threads.setdefault(
            threading.get_ident(), ([0], [], collections.Counter())
        )
        if event in ("call", "c_call"):
            count[0] += 1
            self.total += 1
            code = frame.f_code
            if event == "call" and any(word in code.co_filename for word in self.interesting):
                name = self._name(code)
                stack.append((frame, name, count[0]))
                depth[name] += 1
        elif event == "return" and stack and stack[-1][0] is frame:
            _, name, started = stack.pop()
            depth[name] -= 1
            if not depth[name]:  # recursion: count the outermost activation only
                self.inclusive[name] += count[0] - started

    @staticmethod
    def _name(code: Any) -> str:
        path = code.co_filename.split("site-packages/")[-1].split("src/")[-1]
        return f"{path}:{code.co_qualname}"


async def _call(
    app: Any,
    method: str,
    target: str,
    body: bytes = b"",
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[int, dict[bytes, bytes]]:
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000), "extensions": {},
        "headers": [(b"host", b"127.0.0.1:5000"),
                    (b"content-length", str(len(body)).encode()), *headers],
    }  # fmt: skip
    sent, answer = False, {}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the body was all sent: the app never asks again
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.update(status=message["status"], headers=dict(message["headers"]))

    await app(scope, receive, send)
    return answer["status"], answer["headers"]


async def _push(app: Any, repo: str, tag: str, image: data.SmallImage) -> None:
    for digest, blob in image.blobs:
        status, _ = await _call(app, "HEAD", f"/v2/{repo}/blobs/{digest}")
        if status == 200:
            continue
        status, headers = await _call(app, "POST", f"/v2/{repo}/blobs/uploads/")
        location = headers[b"location"].decode().split("://", 1)[-1]
        location = location[location.index("/") :]
        separator = "&" if "?" in location else "?"
        status, _ = await _call(
            app,
            "PUT",
            f"{location}{separator}digest={digest}",
            blob,
            ((b"content-type", b"application/octet-stream"),),
        )
        if status != 201:
            raise SystemExit(f"blob PUT answered {status}")
    status, _ = await _call(
        app,
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        image.manifest,
        ((b"content-type", image.manifest_type.encode()),),
    )
    if status != 201:
        raise SystemExit(f"manifest PUT answered {status}")


async def _run(images: int, counter: CallCounter) -> float:
    from dockyard.app import create_app
    from dockyard.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="push-calls-")) / "data"
    app = create_app(Settings(data_dir=data_dir, create_on_push=True, accept_any_credentials=True))
    pushes = data.small_images(images + WARM_UP)
    async with app.router.lifespan_context(app):
        for i in range(WARM_UP):  # imports, the first repository, statement caches
            await _push(app, "warm/up", f"w{i}", pushes[i])
        started = time.process_time()
        counter.enabled = True
        for i in range(images):
            await _push(app, f"bench/r{i % 4}", f"t{i}", pushes[WARM_UP + i])
        counter.enabled = False
    return (time.process_time() - started) / images


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    counter = CallCounter()
    counter.install()  # before the app starts its worker threads
    try:
        cpu = asyncio.run(_run(args.images, counter))
    finally:
        counter.uninstall()
    print(
        f"{args.images} small images: {counter.total / args.images:.0f} Python calls per "
        f"image ({1000 * cpu:.1f} ms CPU per image while counting, inflated by the hook)"
    )
    for name, calls in counter.inclusive.most_common(args.top):
        print(f"{calls / args.images:9.0f}  {name}")


if __name__ == "__main__":
    main()
