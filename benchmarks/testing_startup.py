"""How long `dockyard.testing.registry()` takes to start and to stop (medians of N runs).

PYTHONPATH=src python benchmarks/testing_startup.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

from dockyard.testing import Registry


def main(runs: int) -> None:
    starts, stops = [], []
    for _ in range(runs):
        reg = Registry()
        began = time.perf_counter()
        reg.start()
        started = time.perf_counter()
        reg.stop()
        starts.append(started - began)
        stops.append(time.perf_counter() - started)
    print(
        f"start: median {statistics.median(starts):.2f}s (min {min(starts):.2f}s), "
        f"stop: median {statistics.median(stops):.2f}s, runs {runs}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
