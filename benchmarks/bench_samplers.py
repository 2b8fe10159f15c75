"""Cost of one CEM update of RoMLSampler, against UniformSampler measured in the same run.

Run it from the repository root::

    python benchmarks/bench_samplers.py            # the full table (about 5 s)
    python benchmarks/bench_samplers.py --min-time 0.1

For each batch size N in (128, 1024) and task dimension d in (1, 10), on ``BetaBox`` over the unit box, one
"update" is what a training loop pays the sampler per CEM batch: ``sampler.sample(N)`` then
``sampler.observe(batch, scores)`` with ``RoMLSampler(batch_size=N, nu=0.2)``, so every ``observe`` runs one full
CEM step (reference and internal quantiles, the weighted fit, the soft update, the history record). The scores
(``-x_0`` plus noise) are computed between the two calls and are not timed. ``UniformSampler`` runs the same
loop as the reference. Each configuration repeats the loop until at least ``--min-time`` seconds (default 0.5)
of timed work, after a few untimed warm-up updates, and reports the mean.

Columns: batch size, task dimension, milliseconds per update, microseconds per task (ms per update / N), the
same for UniformSampler, and the ratio RoML / Uniform. This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from roml.samplers import RoMLSampler, UniformSampler
from roml.tasks import BetaBox

BATCH_SIZES = (128, 1024)
DIMS = (1, 10)
WARMUP_UPDATES = 5


def seconds_per_update(make_sampler, n: int, min_time: float) -> float:
    """Mean seconds of one ``sample(n)`` + ``observe`` pair, timed until at least ``min_time`` seconds."""
    sampler = make_sampler()
    noise = np.random.default_rng(12345)

    def one_update() -> float:
        start = time.perf_counter()
        batch = sampler.sample(n)
        middle = time.perf_counter()
        scores = -batch.tasks[:, 0] + 0.01 * noise.standard_normal(n)  # not timed
        resume = time.perf_counter()
        sampler.observe(batch, scores)
        return (middle - start) + (time.perf_counter() - resume)

    for _ in range(WARMUP_UPDATES):
        one_update()
    total, count = 0.0, 0
    while total < min_time:
        total += one_update()
        count += 1
    return total / count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.5, help="timed seconds per configuration (default 0.5)")
    args = parser.parse_args(argv)

    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.processor() or platform.machine()}")
    header = (
        f"{'batch':>6} {'dims':>4} | {'RoML ms/update':>14} {'RoML us/task':>12} | "
        f"{'Uniform ms/update':>17} {'Uniform us/task':>15} | {'RoML/Uniform':>12}"
    )
    print(header)
    print("-" * len(header))
    for n in BATCH_SIZES:
        for d in DIMS:
            family = BetaBox(np.zeros(d), np.ones(d))
            roml = seconds_per_update(
                lambda f=family, n=n: RoMLSampler(f, nu=0.2, batch_size=n, seed=0), n, args.min_time
            )
            uniform = seconds_per_update(lambda f=family: UniformSampler(f, seed=0), n, args.min_time)
            print(
                f"{n:>6} {d:>4} | {roml * 1e3:>14.3f} {roml * 1e6 / n:>12.2f} | "
                f"{uniform * 1e3:>17.3f} {uniform * 1e6 / n:>15.2f} | {roml / uniform:>12.1f}"
            )


if __name__ == "__main__":
    main()
