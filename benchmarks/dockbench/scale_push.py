"""Aggregate push throughput of many small images at once, over one or several server processes.

One round: ``count`` fresh small images (dockbench.data.small_images: a ~2 KiB gzip layer, a
config, an OCI manifest), one client thread per image, all released together by a barrier. Thread
``i`` pushes to process ``i % P`` on its own keep-alive connection, as push clients do (per blob
HEAD, POST, PUT ?digest=; then PUT the manifest by tag), into one of ``repos`` repositories. The
figure is images per second of wall time from the barrier to the last manifest's 201.

CPU seconds are read from /proc for each process tree involved (the Dockyard processes, moto, the
PostgreSQL postmaster and its backends) and for the client threads over the round. Their sum per
image says how many images per second the machine's cores could carry at best, however the work
were spread: a second Dockyard process cannot help once the first one's round already uses them.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from dockbench.client import Client
from dockbench.data import SmallImage, small_images
from dockbench.procstat import cpu_seconds


@dataclass
class Round:
    seconds: float
    images: int
    cpu: dict[str, float]  # CPU seconds per component over the round

    @property
    def rate(self) -> float:
        return self.images / self.seconds


@dataclass
class PushFigure:
    label: str
    processes: int
    rounds: list[Round] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds)

    def cpu_ms_per_image(self, component: str) -> float:
        return statistics.median(1000 * r.cpu.get(component, 0.0) / r.images for r in self.rounds)

    def busy_cores(self, component: str) -> float:
        """Median CPU seconds per wall second: 1.0 is one core flat out."""
        return statistics.median(r.cpu.get(component, 0.0) / r.seconds for r in self.rounds)


def push_round(
    addresses: Sequence[str], images: Sequence[SmallImage], tag: str, repos: int,
    pids: dict[str, list[int]],
) -> Round:  # fmt: skip
    """Push every image at once, image i to addresses[i % len]; CPU of each component in pids."""
    barrier = threading.Barrier(len(images) + 1)
    errors: list[BaseException] = []

    def push(i: int) -> None:
        client = Client(addresses[i % len(addresses)])
        try:
            barrier.wait(60)
            client.push_image(f"scale/push-{i % repos}", f"{tag}-{i}", images[i])
        except BaseException as exc:  # noqa: BLE001 - re-raised after the round
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    before = _cpu(pids)
    barrier.wait(60)
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t0
    time.sleep(0.25)  # let servers finish work deferred past their answers before reading CPU
    after = _cpu(pids)
    if errors:
        raise errors[0]
    return Round(seconds, len(images), {k: after[k] - before[k] for k in after})


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    own = os.times()  # this process only (its threads are the clients), not the servers it started
    found = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    return found | {"client": own.user + own.system}


def measure(
    label: str, addresses: Sequence[str], pids: dict[str, list[int]], count: int, rounds: int,
    repos: int,
) -> PushFigure:  # fmt: skip
    """``rounds`` rounds of ``count`` fresh images (new digests each round: nothing is skipped)."""
    figure = PushFigure(label, len(addresses))
    push_round(addresses, small_images(8), "warm", repos, pids)  # connections, caches, repos
    for r in range(rounds):
        figure.rounds.append(push_round(addresses, small_images(count), f"r{r}", repos, pids))
    return figure
