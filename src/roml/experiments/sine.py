"""Sine regression with MAML: the supervised experiment of Section 6.3 and Appendix E.

Methods, all with MAML's hyper-parameters unchanged (the paper insists on it):

=========  ==========================================================================================
maml       the risk-neutral baseline: tasks from the original distribution, every task trained on
cvar-ml    CVaR-ML (Algorithm 1), alpha = 0.05: only the worst task of each batch of 20 is trained on
roml       RoML (Algorithm 2), alpha = 0.05, BetaBox over (A, b, omega), beta 0.2, nu 0, soft update 0.5
naive      the fixed-pool sampler of App. D.4 (the 5 hardest of the first 100 tasks)
=========  ==========================================================================================

A task's score is minus its post-adaptation query loss. Test: 10 000 tasks drawn once from the original
distribution (seed ``test_seed``, the same for every method and training seed), 10 support and 32 query points,
losses after 0..5 inner steps; per run the mean and CVaR_0.05 (mean of the worst 5%) of the test loss.
The final model is tested (the authors additionally kept the best of periodic validations; we do not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from roml.envs.sine import SINE_HIGH, SINE_LOW, SINE_NAMES, sample_sine_data
from roml.algos.maml_config import MAMLConfig
from roml.experiments.base import Experiment, Metric, RunConfig
from roml.experiments.config import AT_LEAST_ONE, NON_NEGATIVE, Part
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig, history_frame, make_sampler
from roml.risk import upper_cvar
from roml.tasks import BetaBox

TEST_STEPS = 5


@dataclass(frozen=True)
class SineLoop(Part):
    """The sine experiment's training loop (the ``loop`` part)."""

    iterations: int = 10_000
    """Meta-iterations (meta-batches) of training."""
    checkpoint_every: int = 500
    """Meta-iterations between checkpoints."""

    limits = dict.fromkeys(("iterations", "checkpoint_every"), AT_LEAST_ONE)


@dataclass(frozen=True)
class SineEval(Part):
    """The sine experiment's test (the ``eval`` part)."""

    n_test_tasks: int = 10_000
    """Fixed test tasks, drawn once from the original distribution."""
    test_support: int = 10
    """Support points per test task."""
    test_query: int = 32
    """Query points per test task."""
    test_seed: int = 2
    """Seed of the test set (independent of the training seed)."""

    limits = {**dict.fromkeys(("n_test_tasks", "test_support", "test_query"), AT_LEAST_ONE), "test_seed": NON_NEGATIVE}


@dataclass(frozen=True)
class SineConfig(RunConfig):
    """One sine-regression run; the defaults are the paper's settings (App. E; docs/authors-code.md, section 7):
    MAML's (:class:`~roml.algos.maml_config.MAMLConfig`: 20 tasks per meta-batch of 10 support and 10 query points,
    one second-order inner step) and the sampler's, with a CEM update every 200 tasks (10 meta-batches, as the
    authors)."""

    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(cem_batch_size=200))
    maml: MAMLConfig = field(default_factory=MAMLConfig)
    loop: SineLoop = field(default_factory=SineLoop)
    eval: SineEval = field(default_factory=SineEval)


def sine_family() -> BetaBox:
    """The task family over (amplitude, phase, frequency): uniform on the box of App. E, as Beta(2 phi, 2 - 2 phi)."""
    return BetaBox(SINE_LOW, SINE_HIGH, SINE_NAMES)


def test_set(config: SineConfig):
    """The fixed test tasks and their data: identical for every method and training seed."""
    test = config.eval
    rng = np.random.default_rng(test.test_seed)
    family = sine_family()
    tasks = family.sample(family.phi0, test.n_test_tasks, rng)
    return tasks, sample_sine_data(tasks, test.test_support, test.test_query, rng)


class SineExperiment(Experiment):
    name = "sine"
    description = "Sine regression with MAML (Section 6.3, App. E)"
    methods = ("maml", "cvar-ml", "roml", "naive")
    config_class = SineConfig
    presets = {
        "smoke": {
            "loop": dict(iterations=60, checkpoint_every=20),
            "eval": dict(n_test_tasks=300),
            "sampler": dict(cem_batch_size=40, pool_size=40),
        },
        "quick": {"loop": dict(iterations=3000)},
        "paper": {},
    }
    table_metrics = (
        Metric("mean_loss@1", "Mean loss (1 step)", higher_is_better=False),
        Metric("cvar_loss@1", "CVaR_0.05 loss (1 step)", higher_is_better=False),
    )
    curve_xlabel = "inner gradient steps at test time"
    phi0_line = 0.5
    score_label = "score (minus the query loss)"

    def run(self, config: SineConfig, run_dir: RunDir, progress) -> dict:
        import torch

        from roml.algos.maml import MAML

        sampler_seed, data_seed, model_seed = np.random.SeedSequence(config.seed).spawn(3)
        family = sine_family()
        sampler = make_sampler(config, family, sampler_seed, baseline="maml")
        data_rng = np.random.default_rng(data_seed)
        generator = torch.Generator().manual_seed(int(model_seed.generate_state(1)[0]))
        maml = MAML.for_sine(generator, config.maml)
        loop, alpha, tasks_per_batch = config.loop, config.sampler.alpha, config.maml.tasks_per_batch
        rows: list[dict] = []
        start, elapsed = 0, 0.0
        state = run_dir.load_checkpoint()
        if state is not None:
            maml.load_state_dict(state["maml"])
            sampler.load_state_dict(state["sampler"])
            data_rng.bit_generator.state = state["data_rng"]
            rows, start, elapsed = state["progress"], state["iteration"], state["elapsed"]

        def checkpoint(iteration: int, elapsed: float) -> None:
            run_dir.save_progress(
                rows,
                history_frame(sampler.history, family.names),
                {
                    "iteration": iteration,
                    "elapsed": elapsed,
                    "maml": maml.state_dict(),
                    "sampler": sampler.state_dict(),
                    "data_rng": data_rng.bit_generator.state,
                    "progress": rows,
                },
            )

        clock = time.perf_counter()
        progress(start, loop.iterations)
        for iteration in range(start, loop.iterations):
            batch = sampler.sample(tasks_per_batch)
            data = sample_sine_data(batch.tasks, config.maml.n_support, config.maml.n_query, data_rng)
            # the sampler scores its batch (score = -loss) inside MAML's forward pass and returns the weights
            values = maml.meta_step(data, lambda losses, batch=batch: sampler.observe(batch, -losses))
            now = time.perf_counter()
            rows.append(
                {
                    "iteration": iteration + 1,
                    "tasks": (iteration + 1) * tasks_per_batch,
                    "wall_time": elapsed + now - clock,
                    "steps_per_s": (iteration + 1 - start) / max(now - clock, 1e-9),
                    "train_mean_loss": float(values.mean()),
                    "train_cvar_loss": upper_cvar(values, alpha),
                }
            )
            progress(iteration + 1, loop.iterations)
            if (iteration + 1) % loop.checkpoint_every == 0 or iteration + 1 == loop.iterations:
                checkpoint(iteration + 1, elapsed + now - clock)

        return self._test(config, maml, run_dir)

    def _test(self, config: SineConfig, maml, run_dir: RunDir) -> dict:
        import pandas as pd

        tasks, data = test_set(config)
        losses = maml.evaluate(data, max_steps=TEST_STEPS)
        table = pd.DataFrame(tasks, columns=list(SINE_NAMES))
        for step in range(TEST_STEPS + 1):
            table[f"loss@{step}"] = losses[:, step]
        run_dir.write_csv(run_dir.test_file, table)
        metrics = {}
        for step in range(TEST_STEPS + 1):
            metrics[f"mean_loss@{step}"] = float(losses[:, step].mean())
            metrics[f"cvar_loss@{step}"] = upper_cvar(losses[:, step], config.sampler.alpha)
        return run_dir.write_summary(config, config.eval.n_test_tasks, metrics)
