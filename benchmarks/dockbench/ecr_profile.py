"""``ecr_bench.py --profile``: py-spy on the Dockyard server, GIL-holding samples only, with a
breakdown of where an ECR call's CPU goes.

Reuses ``profile.PySpy`` (record, raw collapsed stacks, the generic summary) with ``--gil``, so
threads parked in ``Condition.wait`` or the event loop's ``epoll`` are not counted as busy. The
extra ``*.ecr.txt`` file attributes every sample to the first matching part of the request path
below (most specific first), so the shares add up to 100% of the server's Python CPU.
"""

from __future__ import annotations

import collections
from pathlib import Path

from dockbench.profile import PySpy, summarize

# (label, substrings of a frame in the stack); the first label whose substring appears wins.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("SQLite commit (fsync of the WAL)", ("do_commit",)),
    ("store: save_image (insert image, refs, tag; reload)", ("SqlMetadataStore.save_image",)),
    ("store: get_repository", ("SqlMetadataStore.get_repository",)),
    ("store: get_image", ("SqlMetadataStore.get_image ",)),
    ("store: unlinked_blobs", ("SqlMetadataStore.unlinked_blobs",)),
    ("store: scan settings read on push (get_account_setting)", ("get_account_setting",)),
    ("store: scan summaries of a page (scans_for)", ("scans_for",)),
    ("store: scan job polling (claim_job)", ("claim_job",)),
    ("store: list_images (page + tags)", ("SqlMetadataStore.list_images",)),
    ("store: images_by_digests / images_by_tags", ("images_by_digests", "images_by_tags")),
    ("store: other", ("dockyard/backends/metadata",)),
    ("ECR output serialization (model walk)", ("serialize_output",)),
    ("SigV4 verification", ("_authenticate (dockyard/api/ecr/endpoint.py",)),
    ("ECR input validation", ("validate_input",)),
    ("page token encode/decode", ("page_tokens",)),
    ("handlers and services (other)", ("dockyard/api/ecr/ops_", "dockyard/services")),
    ("JSON encode/decode", ("_json (dockyard", "_params (dockyard", "json/")),
    ("ECR endpoint (other)", ("dockyard/api/ecr/endpoint.py",)),
    (
        "uvicorn/starlette/anyio: HTTP, socket writes, thread hand-offs",
        ("uvicorn", "starlette", "anyio", "asyncio", "concurrent/futures", "threading"),
    ),
]


class GilSpy(PySpy):
    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        super().__init__(pid, out, rate)
        self.cmd.append("--gil")

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.out.exists():
            self.out.with_suffix(".ecr.txt").write_text(breakdown(self.out))


def breakdown(raw: Path) -> str:
    parts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        label = next((name for name, keys in PARTS if any(k in stack for k in keys)), None)
        parts[label or "other: " + stack.split(";")[-1][:80]] += int(count)
    if not total:
        return "no samples\n"
    lines = [f"{total} GIL-holding samples; share of the server's Python CPU:", ""]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in parts.most_common(25)]
    return "\n".join([*lines, "", summarize(raw)])
