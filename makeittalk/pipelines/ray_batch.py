"""Batch rendering on a Ray cluster: `makeittalk render --batch MANIFEST --engine ray`.

Each worker is a Ray actor that loads one TalkingHead per weight set and renders many rows,
one at a time, through the same `run_batch` as a local batch (so skipping, atomic outputs and
error capture are the same code). The driver hands the next row to whichever worker is free;
when a worker dies (its node lost, the process killed) its row goes back to the front of the
queue, up to `max_retries` times, and a new worker takes its place. A row that fails inside a
living worker (bad input) is reported as failed, as locally. Progress events travel back
through a Ray queue and are fed to the same per-job progress consumers as a local batch.

Inputs are read in place and outputs written to the manifest's paths, so every node must see
the same filesystem (a shared mount). Without `address` a local Ray instance is started and
stopped again; Ray's usage statistics stay off and its dashboard is not started.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.batch import BatchJob, JobResult, result_collector, run_batch, settled_without_rendering
from makeittalk.pipelines.progress import ProgressEvent

RAY_EXTRA_HINT = "install it with: pip install 'makeittalk[ray]'"


def import_ray():
    """The ray module, or a one-line MakeItTalkError naming the extra to install."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: never report usage
    try:
        import ray
    except ImportError as exc:
        raise MakeItTalkError(f"--engine ray needs Ray, which is not installed ({exc}); {RAY_EXTRA_HINT}") from None
    return ray


class _Worker:
    """A Ray actor's state: the TalkingHeads it loaded, reused for every row it renders."""

    def __init__(self, device: str | None, threads: int | None, queue: Any) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.device = device
        self.queue = queue
        self.heads: dict[str, Any] = {}

    def pid(self) -> int:
        return os.getpid()

    def _head(self, weights: str):
        if weights not in self.heads:
            from makeittalk.pipelines.talking_head import TalkingHead

            self.heads[weights] = TalkingHead.from_pretrained(weights, device=self.device)
        return self.heads[weights]

    def render(self, job: BatchJob, defaults: dict[str, Any], overwrite: bool) -> JobResult:
        def progress_for(_job):
            return lambda event: self.queue.put_nowait((job.index, asdict(event)))

        return run_batch([job], head_for=self._head, defaults=defaults, overwrite=overwrite,
                         progress_for=progress_for)[0]


def run_batch_ray(
    jobs: Iterable[BatchJob],
    *,
    defaults: dict[str, Any] | None = None,
    overwrite: bool = False,
    address: str | None = None,
    workers: int = 2,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    threads_per_worker: int | None = None,
    device: str | None = None,
    max_retries: int = 2,
    progress_for: Callable[[BatchJob], Any] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    on_start: Callable[[BatchJob, int], None] | None = None,
) -> list[JobResult]:
    """Run `jobs` on `workers` Ray actors; the results come in completion order.

    `on_start(job, worker_pid)` is called as each row is handed to a worker. Torch in a worker
    uses `threads_per_worker` threads (default: Ray's share, cpus_per_worker).
    """
    if workers < 1:
        raise MakeItTalkError("--workers must be at least 1")
    ray = import_ray()
    from ray.exceptions import RayActorError, WorkerCrashedError
    from ray.util.queue import Queue

    defaults = dict(defaults or {})
    results, record = result_collector(on_result)

    pending: deque[BatchJob] = deque()
    for job in jobs:
        settled = settled_without_rendering(job, overwrite)
        if settled is not None:
            record(settled)
        else:
            pending.append(job)
    if not pending:
        return results

    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=max(1, round(workers * cpus_per_worker)), num_gpus=(workers * gpus_per_worker) or None,
                     **options)
    actor_class = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)(_Worker)
    threads = threads_per_worker or max(1, int(cpus_per_worker))
    queue = Queue()
    consumers: dict[int, Any] = {}
    attempts: dict[int, int] = {}

    def new_actor():
        actor = actor_class.remote(device, threads, queue)
        return actor, ray.get(actor.pid.remote())

    idle = [new_actor() for _ in range(workers)]
    running: dict[Any, tuple[Any, int, BatchJob, float]] = {}

    def drain_progress() -> None:
        while not queue.empty():
            index, event = queue.get_nowait()
            consumer = consumers.get(index)
            if consumer is not None:
                consumer(ProgressEvent(**event))

    try:
        while pending or running:
            while pending and idle:
                job = pending.popleft()
                actor, pid = idle.pop()
                if job.index not in consumers and progress_for is not None:
                    consumers[job.index] = progress_for(job)
                if on_start is not None:
                    on_start(job, pid)
                ref = actor.render.remote(job, defaults, overwrite)
                running[ref] = (actor, pid, job, time.perf_counter())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            drain_progress()
            for ref in ready:
                actor, pid, job, started = running.pop(ref)
                try:
                    result = ray.get(ref)
                except (RayActorError, WorkerCrashedError) as exc:
                    attempts[job.index] = attempts.get(job.index, 0) + 1
                    if attempts[job.index] <= max_retries:
                        pending.appendleft(job)  # another worker takes it
                    else:
                        record(JobResult(job, "failed", time.perf_counter() - started,
                                         f"the worker died {attempts[job.index]} times on this row ({type(exc).__name__})"))
                    idle.append(new_actor())
                    continue
                _close(consumers.pop(job.index, None))
                record(result)
                idle.append((actor, pid))
        drain_progress()
    finally:
        for consumer in consumers.values():
            _close(consumer)
        for actor, *_ in list(running.values()) + idle:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
    return results


def _close(consumer: Any) -> None:
    close = getattr(consumer, "close", None)
    if close is not None:
        close()
