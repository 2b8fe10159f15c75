"""Benchmark MAML on sine regression: the vectorised meta-step against the per-task-loop reference.

    python benchmarks/bench_maml.py [--tasks 20] [--iters 200] [--eval-tasks 10000] [--eval-steps 5]

Runs on one torch thread (the project's default: parallelism comes from processes across seeds). Both
implementations start from the same weights and see the same meta-batches, one after the other in the same
process; the script prints meta-iterations per second of each, their ratio, the largest difference between the
two models' parameters at the end (a consistency check, not a timing: float rounding differences are amplified by
training, so it grows with ``--iters``), and the time of ``MAML.evaluate`` on the test protocol (10 support and 32
query points per task, 0..5 inner steps). It also times the generic vectorised path that any model gets
(``vmap`` over ``functional_call``), by hiding :meth:`SineMLP.task_batched_forward`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from roml.algos.maml import MAML, MAMLConfig, SineMLP

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from maml_reference import loop_meta_step  # noqa: E402  (the tests' per-task reference)
from roml.envs.sine import SINE_HIGH, SINE_LOW, sample_sine_data


class GenericSineMLP(SineMLP):
    """The same network without its task-batched forward: MAML vmaps ``functional_call`` over tasks instead."""

    task_batched_forward = None


def draw_tasks(rng: np.random.Generator, n: int) -> np.ndarray:
    low, high = np.array(SINE_LOW), np.array(SINE_HIGH)
    return low + (high - low) * rng.random((n, len(low)))


def time_meta_steps(maml: MAML, batches, step) -> float:
    """Meta-iterations per second of ``step`` (a bound method of ``maml``) over ``batches``."""
    step(batches[0])  # warm-up (torch.func traces and caches on first use)
    start = time.perf_counter()
    for data in batches[1:]:
        step(data)
    return (len(batches) - 1) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20, help="tasks per meta-batch")
    parser.add_argument("--iters", type=int, default=200, help="timed meta-iterations per implementation")
    parser.add_argument("--eval-tasks", type=int, default=10_000, help="tasks for the evaluate() timing")
    parser.add_argument("--eval-steps", type=int, default=5, help="inner steps in evaluate()")
    parser.add_argument("--chunk", type=int, default=1000, help="evaluate() chunk size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    config = MAMLConfig(tasks_per_batch=args.tasks)
    rng = np.random.default_rng(args.seed)
    batches = [
        sample_sine_data(draw_tasks(rng, args.tasks), config.n_support, config.n_query, rng)
        for _ in range(args.iters + 1)
    ]

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{args.tasks} tasks/batch, {args.iters} timed iterations, second order"
    )
    vectorised = MAML.for_sine(args.seed, config)
    loop = MAML.for_sine(args.seed, config)
    fast = time_meta_steps(vectorised, batches, vectorised.meta_step)
    slow = time_meta_steps(loop, batches, lambda data: loop_meta_step(loop, data))
    generic = MAML(GenericSineMLP(args.seed), config)
    middle = time_meta_steps(generic, batches, generic.meta_step)
    drift = max((p - q).abs().max().item() for p, q in zip(vectorised.model.parameters(), loop.model.parameters()))
    print(f"vectorised meta_step (task-batched forward): {fast:8.1f} it/s")
    print(f"vectorised meta_step (generic vmap forward): {middle:8.1f} it/s")
    print(f"per-task loop reference:                     {slow:8.1f} it/s")
    print(
        f"speed-up: {fast / slow:.2f}x (generic: {middle / slow:.2f}x)   "
        f"max |param difference| after {args.iters + 1} steps: {drift:.2e}"
    )

    test = sample_sine_data(draw_tasks(rng, args.eval_tasks), 10, 32, rng)
    vectorised.evaluate(test.subset(slice(0, 10)), max_steps=args.eval_steps)  # warm-up
    start = time.perf_counter()
    table = vectorised.evaluate(test, max_steps=args.eval_steps, chunk=args.chunk)
    elapsed = time.perf_counter() - start
    print(
        f"evaluate: {args.eval_tasks} tasks x {args.eval_steps} steps (10 support, 32 query, chunk {args.chunk}) "
        f"in {elapsed:.2f} s; mean loss by step: {np.round(table.mean(axis=0), 3).tolist()}"
    )


if __name__ == "__main__":
    main()
