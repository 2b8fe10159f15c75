"""Run experiments: one run in this process (``roml train``), or methods x seeds in parallel (``roml reproduce``).

Parallelism comes from processes, one run per process with one torch thread each (``--workers`` defaults to the
number of cores), or from Ray tasks (``backend="ray"``, extra ``roml-rl[ray]``) on ``ray.init(address=...)``;
with Ray on several machines the output folder must be on a file system they share.

Every run folder is checked before any work starts: finished runs are skipped, unfinished ones resume from their
checkpoint, and a folder holding a run of another configuration stops the whole command before anything is
written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir, RunFailure

__all__ = ["RunFailure", "reproduce", "train"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class _Job:
    experiment: str
    config: dict[str, Any]
    out: str

    @property
    def name(self) -> str:
        return f"{self.experiment}/{self.config['method']}/seed{self.config['seed']}"


class _ThrottledReporter:
    """Send ``(run name, done, total)`` to ``sink`` at most every ``interval`` seconds, and always at the end."""

    def __init__(self, name: str, sink, interval: float = 0.25):
        self.name, self.sink, self.interval = name, sink, interval
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= self.interval:
            self._last = now
            self.sink((self.name, done, total))


def _execute(job: _Job, sink=None) -> dict[str, Any]:
    """Run one job in the current process (also the body of every worker process and Ray task)."""
    import torch

    torch.set_num_threads(1)
    experiment = get_experiment(job.experiment)
    config = experiment.config_from_dict(job.config)
    run_dir = RunDir(job.out, job.experiment, config.method, config.seed)
    if run_dir.is_finished():
        return run_dir.read_summary()
    run_dir.prepare(config.to_dict(), _reader(experiment))
    reporter = _ThrottledReporter(job.name, sink.put if hasattr(sink, "put") else (sink or (lambda _: None)))
    return experiment.run(config, run_dir, reporter)


def _reader(experiment):
    """How a run folder's ``config.json`` reads as today's configuration dict (an older, flat one converted)."""
    return lambda saved: experiment.config_from_dict(saved).to_dict()


def _make_jobs(experiment_name, methods, seeds, scale, out: Path, overrides=None) -> list[_Job]:
    """The jobs of ``methods`` x ``seeds``: every configuration is built (and so validated) and every existing run
    folder checked before the first folder is written, so a bad setting or a folder of another configuration
    stops the command with nothing written."""
    experiment = get_experiment(experiment_name)
    methods = tuple(methods) if methods else experiment.methods
    configs = [experiment.config(method, seed, scale, overrides) for method in methods for seed in seeds]
    runs = [(RunDir(out, experiment.name, c.method, c.seed), c.to_dict()) for c in configs]

    convert = _reader(experiment)
    for run_dir, config in runs:
        run_dir.check_config(config, convert)
    for run_dir, config in runs:
        run_dir.prepare(config, convert)
    return [_Job(experiment.name, config, str(out)) for _, config in runs]


def train(
    experiment: str,
    method: str,
    seed: int,
    scale: str,
    out: str | Path,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Train, evaluate and write one run in this process (resuming it if it was interrupted).

    ``overrides`` replaces settings of the scale's preset, by dotted or bare name (e.g. ``{"loop.iterations":
    500}`` or ``{"iterations": 500}``).
    """
    (job,) = _make_jobs(experiment, [method], [seed], scale, Path(out), overrides)
    with _Bars(progress) as bars:
        return _execute(job, bars.update)


def reproduce(
    experiment: str,
    seeds: int | Sequence[int],
    scale: str,
    out: str | Path,
    methods: Iterable[str] | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict]:
    """Train every method on every seed (``seeds``: a count, meaning seeds 0..n-1, or explicit seeds).

    Returns the summaries by run name. Finished runs are skipped, unfinished ones resumed. If a run fails, the
    others still finish and a :class:`RunFailure` lists the failures at the end. ``overrides`` replaces fields
    of the scale's preset for every run.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seed_list):
        raise ValueError(f"seeds must be a positive count or non-negative integers, got {seeds!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    jobs = _make_jobs(experiment, methods, seed_list, scale, Path(out), overrides)
    with _Bars(progress, n_runs=len(jobs)) as bars:
        if backend == "ray":
            results, failures = _run_ray(jobs, bars, address)
        elif workers == 1 or len(jobs) == 1:
            results, failures = _run_inline(jobs, bars)
        else:
            results, failures = _run_processes(jobs, bars, workers)
    if failures:
        lines = "\n".join(f"  {name}: {error}" for name, error in failures.items())
        raise RunFailure(f"{len(failures)} of {len(jobs)} runs failed (the others are kept):\n{lines}")
    return results


def _run_inline(jobs, bars):
    results, failures = {}, {}
    for job in jobs:
        try:
            results[job.name] = _execute(job, bars.update)
        except Exception as error:
            failures[job.name] = f"{type(error).__name__}: {error}"
        bars.run_done(job.name)
    return results, failures


def _run_processes(jobs, bars, workers):
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
    results, failures = {}, {}
    with context.Manager() as manager, ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        queue = manager.Queue()
        pending = {pool.submit(_execute, job, queue): job for job in jobs}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            bars.drain(queue)
            for future in done:
                job = pending.pop(future)
                try:
                    results[job.name] = future.result()
                except Exception as error:
                    failures[job.name] = f"{type(error).__name__}: {error}"
                bars.run_done(job.name)
        bars.drain(queue)
    return results, failures


def _run_ray(jobs, bars, address):
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError:
        raise ValueError("the ray backend needs the extra: pip install 'roml-rl[ray]'") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    queue = Queue()
    remote = ray.remote(num_cpus=1, max_retries=0)(_execute)
    pending = {remote.remote(job, queue): job for job in jobs}
    results, failures = {}, {}
    while pending:
        done, _ = ray.wait(list(pending), timeout=0.2)
        bars.drain(queue)
        for ref in done:
            job = pending.pop(ref)
            try:
                results[job.name] = ray.get(ref)
            except Exception as error:
                cause = getattr(error, "cause", None) or error
                failures[job.name] = f"{type(cause).__name__}: {cause}"
            bars.run_done(job.name)
    bars.drain(queue)
    return results, failures


class _Bars:
    """tqdm bars: one per active run (iterations, with steps/s) and, for several runs, an overall one (runs)."""

    def __init__(self, enabled: bool, n_runs: int = 1):
        self.enabled = enabled
        self.overall = tqdm(total=n_runs, desc="runs", unit="run", position=0) if enabled and n_runs > 1 else None
        self.bars: dict[str, tqdm] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for bar in self.bars.values():
            bar.close()
        if self.overall is not None:
            self.overall.close()

    def update(self, message) -> None:
        if not self.enabled:
            return
        name, done, total = message
        bar = self.bars.get(name)
        if bar is None:
            bar = self.bars[name] = tqdm(total=total, desc=name, unit="it", leave=self.overall is None)
        bar.total = total
        bar.update(done - bar.n)

    def drain(self, queue) -> None:
        while not queue.empty():
            self.update(queue.get())

    def run_done(self, name: str) -> None:
        bar = self.bars.pop(name, None)
        if bar is not None:
            bar.close()
        if self.overall is not None:
            self.overall.update(1)
