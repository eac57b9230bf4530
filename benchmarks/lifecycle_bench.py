#!/usr/bin/env python3
"""Lifecycle benchmark: evaluate (preview) and apply a policy on a 100,000-image repository.

    python benchmarks/lifecycle_bench.py [--images 100000] [--database-url URL] [--skip-run]

Fills one repository directly through the metadata store (dockbench/ecr_fill.py's bulk rows:
the rows save_image writes; half the images tagged `img-<i>`, half untagged), stores the policy
below, then times, in this process, on the embedded SQLite store unless --database-url names
another (an empty PostgreSQL database, migrated here):

1. facts: `lifecycle_facts`, the three queries that load what the evaluator needs;
2. evaluate: `domain.lifecycle.evaluate` over them (pure Python);
3. preview: StartLifecyclePolicyPreview's whole work (`LifecyclePreviews.start`, run in the
   calling thread): load, evaluate, encode and store the results;
4. run: `dockyard lifecycle run --now` (`LifecycleService.run_all`): load, evaluate and apply
   every action in one transaction (expire = delete the image and its tags; transition =
   archive), logging each action (the log goes to a null handler here).

The policy (evaluated 30 days after the fill): keep the 20,000 newest `img-` images; expire
untagged images older than 14 days; archive anything else older than 20 days. That expires
30,000 tagged and 50,000 untagged images and archives nothing (everything left is tagged and
kept by rule 1's shield).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dockbench.ecr_fill import ImageSet, _Clock, bulk_rows

POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep the newest builds",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["img-"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 20_000,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "untagged leftovers",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 3,
                "description": "archive the rest",
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 20,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
        ]
    }
)
DAY = 86400.0


def fill(svc, count: int) -> int:
    import sqlalchemy as sa

    from dockyard.backends.metadata.schema import image_refs, images, tags

    repo = svc.meta.create_repository(svc.default_account, "bench/lifecycle", time.time())
    image_set = ImageSet("sha256:" + "c" * 64, 100, "sha256:" + "1" * 64, 1000)
    clock = _Clock()
    for start in range(0, count, 50_000):
        chunk = range(start, min(start + 50_000, count))
        image_rows, ref_rows, tag_rows = bulk_rows(repo.id, image_set, chunk, start + 1, clock)
        with svc.meta._write() as conn:
            conn.execute(sa.insert(images), image_rows)
            conn.execute(sa.insert(image_refs), ref_rows)
            conn.execute(sa.insert(tags), tag_rows)
    return repo.id


def timed(label: str, results: dict[str, float], work):
    """Wall seconds, and this process's CPU seconds (on SQLite that includes the database's
    work; on a loaded machine it is the steadier figure)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = work()
    results[label] = time.perf_counter() - started
    print(
        f"{label:>10}: {results[label]:7.2f} s wall, {time.process_time() - cpu:7.2f} s CPU",
        flush=True,
    )
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--skip-run", action="store_true", help="preview only, apply nothing")
    args = parser.parse_args()

    from dockyard.app import create_services
    from dockyard.domain.lifecycle import evaluate
    from dockyard.domain.lifecycle_policy import parse_policy
    from dockyard.settings import Settings

    logging.getLogger("dockyard.lifecycle").addHandler(logging.NullHandler())
    logging.getLogger("dockyard.lifecycle").propagate = False
    if args.database_url:  # servers never migrate a named database by themselves
        from dockyard.backends.metadata.sql import SqlMetadataStore

        SqlMetadataStore(args.database_url).close()  # migrates to head
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as tmp:
        svc = create_services(Settings(data_dir=Path(tmp), database_url=args.database_url))
        svc.previews.in_background = False
        results: dict[str, float] = {}
        repo_id = timed("fill", results, lambda: fill(svc, args.images))
        svc.meta.put_lifecycle_policy(repo_id, POLICY, time.time())
        later = time.time() + 30 * DAY
        facts = timed("facts", results, lambda: svc.meta.lifecycle_facts(repo_id))
        actions = timed("evaluate", results, lambda: evaluate(parse_policy(POLICY), facts, later))
        svc.previews.clock = _Later(later)  # the preview evaluates "30 days later"
        timed(
            "preview",
            results,
            lambda: svc.previews.start(svc.default_account, "bench/lifecycle", None),
        )
        print(f"{len(facts):,} images, {len(actions):,} actions", flush=True)
        if not args.skip_run:
            report = timed("run", results, lambda: svc.lifecycle.run_all("bench", later))
            print(f"run: {report.expired:,} expired, {report.transitioned:,} archived")
        svc.meta.close()
    return 0


class _Later:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


if __name__ == "__main__":
    sys.exit(main())
